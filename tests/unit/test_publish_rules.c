/*
 * The rules of issue 22 (index/publish.c, index/semver.c,
 * index/crate_archive.c): tables of values cargo and crates.io accept and
 * refuse; every requirement in real index files parses; .crate fixtures
 * (tests/data/crates, made by make.py there) against their metadata.
 * CRATED_INDEX_SAMPLE, when set, names one more directory of index files
 * (an unpacked crates.io index sample) whose every requirement must parse.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "index/causequote.h"
#include "index/crate_archive.h"
#include "index/publish.h"
#include "index/semver.h"
#include "tests/tap.h"

static const char *const reqs_ok[] = {
	"1", "1.2", "1.2.3", "^1.2.3", "~1.2", "=1.2.3", ">1", ">=1.2", "<2",
	"<=2.0.0", "*", "x", "X", " * ", "1.*", "1.2.*", "1.*.*", "1.x", "=1.*",
	">=1.0, <2", ">= 1.0 , < 2.0", "^0.1.0-alpha.1", "=1.0.0-rc.1+build.5",
	"1.0.0+b", "0.0.0", "~ 1", "^ 0.3", ">=1.0,<2", "1,2,3", "18446744073709551615",
	"1.0.0-0", "1.0.0-a-b.c", "^1.2.3-x.7.z.92",
	"1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
};
static const char *const reqs_bad[] = {
	"", " ", "\n\"x", ">=1.0 <2", "1.0.0.0", "^01.2", "~>1", "=*", "1.*.3",
	"1.0,", ",1", "* , 1", "1, *", ">= 1.0\t", "1.0.0-", "1.0.0+", "latest",
	"v1", "1.0-beta", "1.2.3-01", "1.2.3-a..b", "18446744073709551616",
	"1.2.3 4", "==1", ">=>1", "1 - 2", "1 || 2", "^1.2.3+", "1.x.3", "*.1",
	"1.0.0-\xc3\xa9",
	"1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1",
};

static const struct {
	int		(*fn)(const char *, char **);
	const char	*what;
	const char	*ok[12], *bad[16];
} fields[] = {
	{ publish_rust_version_check, "rust_version",
	  { "1", "1.70", "1.70.0", "0.0.1", "10.200.3000" },
	  { "", "\"}", "1.70.0-beta", "^1.70", "1.70.0.1", "01.70", "1.", ".1",
	    "v1.70", "1.70 ", "1..2", "1.70.0+x", "1.070" } },
	{ publish_links_check, "links",
	  { "z", "git2", "openssl", "ring_core_0_17_8_", "gtk-3", "sqlite3",
	    "c++", "a.b" },
	  { "", "\n", "a b", "z\"}", "lib/z", "\xc3\xa9", "a\\b" } },
	{ publish_registry_check, "registry",
	  { "https://github.com/rust-lang/crates.io-index",
	    "sparse+https://example.com/index/", "http://127.0.0.1:8080/x",
	    "file:///srv/index", "ssh://git@example.com/i.git",
	    "https://example.com/a%20b?q=1#f" },
	  { "", "not a url", "example.com/index", "https:///no-host",
	    "sparse+https://", "https://a b/", "https://example.com/\n\"x\"",
	    "https:", "1http://x", "https://x/{y}", ":x" } },
	{ publish_target_check, "target",
	  { "x86_64-unknown-linux-gnu", "thumbv7em-none-eabihf",
	    "cfg(unix)", "cfg(all(unix, not(target_os = \"macos\")))",
	    "cfg(any())", "cfg(all(a,))", "cfg(target_feature = \"+sse2\")",
	    "cfg(r#true)", "cfg(  windows  )", "cfg(a = \"x\ny\")",
	    "cfg(not(any(unix, windows)))", "cfg(true)" },
	  { "", "cfg(unix", "cfg(target_os = \"linux\" extra)", "x86_64 linux",
	    "not(any(cfg(windows)))", "cfg()", "cfg(all(unix,,))",
	    "cfg(target_os = linux)", "cfg(a = \"unterminated)", "cfg(not())",
	    "cfg(not(a, b))", "cfg(1abc)", "cfg(a)b", "cfg(all)",
	    "cfg(a=\"x\"=\"y\")", "x86_64\n" } },
	{ publish_feature_name_check, "feature name",
	  { "std", "default", "v1.2+x", "_u", "9", "serde-derive", "a.b",
	    "X_Y" },
	  { "", "dep:x", "a\nb", "a\xe2\x80\xae" "b", "a/b", "-a", "+a", ".a",
	    "caf\xc3\xa9", "a b", "a:b", "a?" } },
};

static void
test_reqs(void)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < sizeof reqs_ok / sizeof reqs_ok[0]; i++) {
		cause = NULL;
		ok(semver_req_check(reqs_ok[i], &cause) == 0, "req \"%s\"%s%s",
		    cause_quote(reqs_ok[i]), cause ? ": " : "", cause ? cause : "");
		free(cause);
	}
	for (i = 0; i < sizeof reqs_bad / sizeof reqs_bad[0]; i++) {
		cause = NULL;
		ok(semver_req_check(reqs_bad[i], &cause) == -EINVAL &&
		    cause != NULL && strstr(cause, "invalid version "
		    "requirement") != NULL, "refuse req \"%s\": %s",
		    cause_quote(reqs_bad[i]), cause ? cause : "(no cause)");
		free(cause);
	}
	ok(semver_req_check("nope", NULL) == -EINVAL, "no cause wanted");
}

static void
test_fields(void)
{
	char	*cause;
	size_t	 i, j;

	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		for (j = 0; j < 12 && fields[i].ok[j] != NULL; j++) {
			cause = NULL;
			ok(fields[i].fn(fields[i].ok[j], &cause) == 0,
			    "%s \"%s\"%s%s", fields[i].what,
			    cause_quote(fields[i].ok[j]),
			    cause ? ": " : "", cause ? cause : "");
			free(cause);
		}
		for (j = 0; j < 16 && fields[i].bad[j] != NULL; j++) {
			cause = NULL;
			ok(fields[i].fn(fields[i].bad[j], &cause) == -EINVAL &&
			    cause != NULL && strstr(cause, fields[i].what) !=
			    NULL, "refuse %s \"%s\": %s", fields[i].what,
			    cause_quote(fields[i].bad[j]), cause ? cause : "(no cause)");
			free(cause);
			ok(fields[i].fn(fields[i].bad[j], NULL) == -EINVAL,
			    "refuse %s without a cause", fields[i].what);
		}
	}
}

/* Every deps[].req of every line of every file under a directory. */
static size_t	nreqs, nlines, nbad;

static int
walkfile(const char *path, const struct stat *st, int type, struct FTW *f)
{
	FILE	*fp;
	char	*line = NULL, *cause;
	size_t	 cap = 0, i;
	ssize_t	 n;
	json_t	*j, *d;

	if (type != FTW_F || strstr(path, "config.json") != NULL)
		return 0;
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while ((n = getline(&line, &cap, fp)) > 0) {
		if ((j = json_loadb(line, (size_t)n, 0, NULL)) == NULL)
			continue;
		nlines++;
		json_array_foreach(json_object_get(j, "deps"), i, d) {
			const char *req = json_string_value(json_object_get(d,
			    "req"));

			if (req == NULL)
				continue;
			nreqs++;
			cause = NULL;
			if (semver_req_check(req, &cause) != 0 && nbad++ < 20)
				ok(0, "%s: %s", path, cause);
			free(cause);
		}
		json_decref(j);
	}
	free(line);
	fclose(fp);
	return 0;
}

static void
test_index_reqs(void)
{
	const char	*dir = getenv("CRATED_TEST_DATA"), *sample;
	char		 path[4096];

	snprintf(path, sizeof path, "%s/index", dir ? dir : "tests/data");
	nreqs = nlines = nbad = 0;
	ok(nftw(path, walkfile, 16, FTW_PHYS) == 0 && nreqs > 0 && nbad == 0,
	    "%zu requirements in %zu lines of %s all parse", nreqs, nlines,
	    path);
	if ((sample = getenv("CRATED_INDEX_SAMPLE")) == NULL)
		return;
	nreqs = nlines = nbad = 0;
	ok(nftw(sample, walkfile, 16, FTW_PHYS) == 0 && nreqs > 0 && nbad == 0,
	    "%zu requirements in %zu lines of %s all parse (%zu do not)",
	    nreqs, nlines, sample, nbad);
}

/* Fixtures: file, name, vers, cap (0: the real one), and NULL for a crate
 * that passes or a word its cause has. */
static const struct {
	const char	*file, *name, *vers;
	uint64_t	 cap;
	const char	*cause;
} crates[] = {
	{ "real-cargo-package", "seed-crate", "0.3.1+build.2", 0, NULL },
	{ "real-cargo-package", "seed-crate", "0.3.1", 0,
	  "\"seed-crate-0.3.1+build.2/Cargo.lock\" is not under "
	  "seed-crate-0.3.1/" },
	{ "real-cargo-package", "Seed-crate", "0.3.1+build.2", 0,
	  "not under Seed-crate-0.3.1+build.2/" },
	{ "good", "bar", "1.0.1", 0, NULL },
	{ "good", "bar", "1.0.10", 0, "not under bar-1.0.10/" },
	{ "good", "ba", "r-1.0.1", 0, "not under ba-r-1.0.1/" },
	{ "dirs", "bar", "1.0.1", 0, NULL },
	{ "longpath", "bar", "1.0.1", 0, NULL },
	{ "pax", "bar", "1.0.1", 0, NULL },
	{ "longpath-out", "bar", "1.0.1", 0, "is not under bar-1.0.1/" },
	{ "wrong-top", "bar", "1.0.1", 0,
	  "entry \"other-9.9.9/Cargo.toml\" is not under bar-1.0.1/" },
	{ "dotdot", "bar", "1.0.1", 0, "\"bar-1.0.1/../evil\" has a \".\" or"
	  " \"..\" component" },
	{ "dot", "bar", "1.0.1", 0, "component" },
	{ "absolute", "bar", "1.0.1", 0, "\"/etc/evil\" is not under" },
	{ "symlink", "bar", "1.0.1", 0, "symbolic link" },
	{ "hardlink", "bar", "1.0.1", 0, "hard link" },
	{ "fifo", "bar", "1.0.1", 0, "not a regular file or a directory" },
	{ "no-manifest", "bar", "1.0.1", 0, "no bar-1.0.1/Cargo.toml" },
	{ "manifest-dir", "bar", "1.0.1", 0, "no bar-1.0.1/Cargo.toml" },
	{ "truncated", "bar", "1.0.1", 0, "truncated" },
	{ "random", "bar", "1.0.1", 0, "not valid gzip" },
	{ "trailing", "bar", "1.0.1", 0, "4 bytes follow the end of the gzip"
	  " stream" },
	{ "not-tar", "bar", "1.0.1", 0, "not a valid tar archive" },
	{ "zlib-not-gzip", "bar", "1.0.1", 0, "not valid gzip" },
	{ "bomb-2m", "bar", "1.0.1", 0, NULL },
	{ "bomb-2m", "bar", "1.0.1", 1 << 20, "unpacks to more than 1048576"
	  " bytes" },
};

static void
test_crates(void)
{
	char	 rel[256], *b, *cause;
	size_t	 i, len;
	int	 rc;

	for (i = 0; i < sizeof crates / sizeof crates[0]; i++) {
		snprintf(rel, sizeof rel, "crates/%s.crate", crates[i].file);
		if ((b = test_data(rel, &len)) == NULL) {
			ok(0, "read %s (set CRATED_TEST_DATA)", rel);
			continue;
		}
		cause = NULL;
		rc = crate_archive_check((unsigned char *)b, len, crates[i].name,
		    crates[i].vers, crates[i].cap ? crates[i].cap :
		    CRATE_UNPACK_MAX, &cause);
		if (crates[i].cause == NULL)
			ok(rc == 0, "%s as %s %s%s%s", crates[i].file,
			    crates[i].name, crates[i].vers, cause ? ": " : "",
			    cause ? cause : "");
		else
			ok(rc == -EINVAL && cause != NULL && strstr(cause,
			    crates[i].cause) != NULL, "%s as %s %s: %s",
			    crates[i].file, crates[i].name, crates[i].vers,
			    cause ? cause : "(no cause)");
		free(cause);
		/* Every prefix of a good crate is refused. */
		if (crates[i].cause == NULL && crates[i].cap == 0) {
			size_t	n, refused = 0;

			for (n = 0; n < len; n++)
				refused += crate_archive_check(
				    (unsigned char *)b, n, crates[i].name,
				    crates[i].vers, CRATE_UNPACK_MAX, NULL) ==
				    -EINVAL;
			ok(refused == len, "%s: each of its %zu prefixes is "
			    "refused (%zu were)", crates[i].file, len, refused);
		}
		free(b);
	}
}

/* The fuzz seeds: each parses; the archive check as named. */
static const struct {
	const char	*file;
	int		 crate_ok;
} seeds[] = {
	{ "real", 1 }, { "good", 1 }, { "dirs", 1 }, { "wrong-top", 0 },
	{ "symlink", 0 }, { "truncated", 0 },
};

static void
test_seeds(void)
{
	struct publish	 p;
	char		 rel[256], *b, *cause;
	size_t		 i, len;
	int		 rc;

	for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		snprintf(rel, sizeof rel, "../fuzz/seeds/publish/%s.body",
		    seeds[i].file);
		if ((b = test_data(rel, &len)) == NULL) {
			ok(0, "read %s", rel);
			continue;
		}
		cause = NULL;
		rc = publish_parse((unsigned char *)b, len, &p, &cause);
		ok(rc == 0, "seed %s parses%s%s", seeds[i].file,
		    cause ? ": " : "", cause ? cause : "");
		free(cause);
		cause = NULL;
		if (rc == 0) {
			rc = publish_check_crate(&p, &cause);
			ok((rc == 0) == seeds[i].crate_ok, "seed %s: %s",
			    seeds[i].file, cause ? cause : "archive passes");
			free(cause);
			publish_finish(&p);
		}
		free(b);
	}
}

/* crate_archive_manifest of a fixture: its Cargo.toml, or NULL. */
static char *
manifest(const char *file, const char *name, const char *vers,
    uint64_t max, size_t max_toml, size_t *len)
{
	const char	*dir = getenv("CRATED_TEST_DATA");
	char		 path[4096], *out;
	int		 fd;

	snprintf(path, sizeof path, "%s/crates/%s.crate", dir ? dir :
	    "tests/data", file);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	out = crate_archive_manifest(fd, name, vers, max, max_toml, len);
	close(fd);
	return out;
}

static void
test_manifest(void)
{
	static const struct {
		const char	*file, *name, *vers;
		uint64_t	 max;
		const char	*has;	/* in the manifest; NULL: none read */
	} cases[] = {
		{ "good", "bar", "1.0.1", 1 << 20, "name = \"bar\"" },
		{ "good", "BAR", "1.0.1", 1 << 20, "version = \"1.0.1\"" },
		{ "good", "bar", "1.0.2", 1 << 20, NULL },
		{ "real-cargo-package", "seed-crate", "0.3.1+build.2", 1 << 20,
		  "seed-crate" },
		{ "pax", "bar", "1.0.1", 1 << 20, "[package]" },
		{ "manifest-late", "bar", "1.0.1", 4 << 20, "late\nmanifest" },
		{ "manifest-late", "bar", "1.0.1", 1 << 20, NULL },
		{ "no-manifest", "bar", "1.0.1", 1 << 20, NULL },
		{ "manifest-dir", "bar", "1.0.1", 1 << 20, NULL },
		/* cut in the gzip trailer, after the manifest */
		{ "truncated", "bar", "1.0.1", 1 << 20, "name = \"bar\"" },
		{ "random", "bar", "1.0.1", 1 << 20, NULL },
		{ "not-tar", "bar", "1.0.1", 1 << 20, NULL },
	};
	char	*m;
	size_t	 len = 0;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		m = manifest(cases[i].file, cases[i].name, cases[i].vers,
		    cases[i].max, 4096, &len);
		if (cases[i].has == NULL)
			ok(m == NULL, "manifest of %s as %s %s (max %llu): none",
			    cases[i].file, cases[i].name, cases[i].vers,
			    (unsigned long long)cases[i].max);
		else
			ok(m != NULL && strstr(m, cases[i].has) != NULL &&
			    strlen(m) == len, "manifest of %s as %s %s: has %s",
			    cases[i].file, cases[i].name, cases[i].vers,
			    cases[i].has);
		free(m);
	}
	m = manifest("good", "bar", "1.0.1", 1 << 20, 10, &len);
	ok(m != NULL && len == 10 && strcmp(m, "[package]\n") == 0,
	    "manifest: at most max_toml bytes");
	free(m);
}

int
main(void)
{
	test_manifest();
	test_seeds();
	test_reqs();
	test_fields();
	test_index_reqs();
	test_crates();
	return done_testing();
}
