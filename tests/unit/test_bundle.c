/* Bundles: what import refuses (and leaves unchanged), checked against a
 * bundle made by export. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "tests/tap.h"

#define UP	"sparse+https://up.example/index/"

static char	 root[] = "/tmp/crated-test-bundle-XXXXXX";
static int	 warnings;

static void
on_warn(const char *msg, void *arg)
{
	printf("# warning: %s\n", msg);
	warnings++;
}

static void
hex_of(const void *buf, size_t len, char *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	n;

	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A store reg under data with crate evt 1.0.0 (bytes crate) and an index
 * file whose line says name (and cksum, NULL: the crate's). */
static void
fill(const char *data, const char *reg, const char *name, const char *cksum,
    bool with_crate)
{
	static const char	 crate[] = "not really a crate";
	struct store		*s;
	char			*cause = NULL, hex[65], line[512];

	if (store_open(data, reg, &s, &cause) != 0)
		exit(1);
	hex_of(crate, sizeof crate - 1, hex);
	snprintf(line, sizeof line, "{\"name\":\"%s\",\"vers\":\"1.0.0\","
	    "\"deps\":[],\"cksum\":\"%s\",\"features\":{},\"yanked\":false}\n",
	    name, cksum ? cksum : hex);
	store_write(s, "index/3/e/evt", line, strlen(line), NULL, NULL);
	if (with_crate)
		store_write(s, "crates/evt/evt-1.0.0.crate", crate,
		    sizeof crate - 1, NULL, NULL);
	store_close(s);
}

static struct bundle_stats	 exported;

/* Exports a fresh data dir holding what fill makes (and a first-seen
 * record seen, unless NULL) under policy (may be NULL); the bundle's
 * path. */
static char *
make_with(const char *tag, const char *reg, const char *name,
    const char *cksum, bool with_crate, const char *upstream,
    const struct bundle_policy *policy, const char *seen)
{
	struct bundle_registry	 known = { reg, upstream, false };
	struct store		*s;
	char			*data, *file, *cause = NULL;

	if (asprintf(&data, "%s/src-%s", root, tag) < 0 || asprintf(&file,
	    "%s/%s.tar.gz", root, tag) < 0)
		exit(1);
	fill(data, reg, name, cksum, with_crate);
	if (seen != NULL) {
		if (store_open(data, reg, &s, &cause) != 0)
			exit(1);
		store_write(s, "seen/3/e/evt", seen, strlen(seen), NULL, NULL);
		store_close(s);
	}
	if (bundle_export(data, NULL, 0, 0, file, &known, 1, policy, NULL,
	    &exported, &cause) != 0) {
		printf("# export %s: %s\n", tag, cause);
		exit(1);
	}
	free(data);
	return file;
}

static char *
make(const char *tag, const char *reg, const char *name, const char *cksum,
    bool with_crate, const char *upstream)
{
	return make_with(tag, reg, name, cksum, with_crate, upstream, NULL,
	    NULL);
}

/* A policy that denies evt 1.0.0 (and says so of every registry). */
static void
pol_registry(const char *reg, struct bundle_policy_info *info, void *arg)
{
	info->describe = "Denied: evt.";
	info->advisory_id = "2026-08-21/2/abcdef01";
	info->advisory_date = "2026-08-21";
	info->advisory_count = 2;
}

static bool
pol_judge(const char *reg, const char *name, const char *line, size_t len,
    struct bundle_verdict *out, void *arg)
{
	(*(int *)arg)++;
	if (strcmp(name, "evt") != 0 || memmem(line, len, "\"1.0.0\"", 7) ==
	    NULL)
		return false;
	out->verdict = "deny";
	out->source = "deny";
	out->rule = "evt";
	out->reason = "blocked by policy: evt";
	out->deny = true;
	return true;
}

static char	*summary;

static void
on_policy(const char *s, void *arg)
{
	free(summary);
	summary = strdup(s);
}

/* The first-seen record of evt that an import left in data dir n. */
static char *
seen_after(int n)
{
	char	 p[600], *buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	snprintf(p, sizeof p, "%s/dst-%d/mirror/seen/3/e/evt", root, n);
	if ((f = fopen(p, "r")) == NULL)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int	 ndst;	/* the next import's data dir */

/* Imports file into a fresh data dir (holding a first-seen record of
 * evt when pre_seen is not NULL); 0 or -1, the cause printed. */
static int
import_into(const char *file, const struct bundle_import_opts *o,
    const char *pre_seen, char **cause)
{
	struct bundle_stats	 st;
	struct store		*s;
	char			 data[512], evt[600];
	int			 r;

	snprintf(data, sizeof data, "%s/dst-%d", root, ndst++);
	mkdir(data, 0755);
	if (pre_seen != NULL) {
		if (store_open(data, "mirror", &s, cause) != 0)
			exit(1);
		store_write(s, "seen/3/e/evt", pre_seen, strlen(pre_seen), NULL,
		    NULL);
		store_close(s);
	}
	*cause = NULL;
	r = bundle_import(data, file, o, NULL, &st, cause);
	if (r != 0)
		printf("# refused: %s\n", *cause);
	/* Refused: nothing of it in the data directory. */
	snprintf(evt, sizeof evt, "%s/mirror/index/3/e/evt", data);
	if (r != 0 && access(evt, F_OK) == 0)
		return -2;
	snprintf(evt, sizeof evt, "%s/local/index/3/e/evt", data);
	if (r != 0 && access(evt, F_OK) == 0)
		return -2;
	return r;
}

static int
import(const char *file, const struct bundle_import_opts *o, char **cause)
{
	return import_into(file, o, NULL, cause);
}

static bool
has(char *cause, const char *what)
{
	bool	yes = cause != NULL && strstr(cause, what) != NULL;

	free(cause);
	return yes;
}

/* The policy an export applies, and first-seen records (issue 28). */
static void
policy_cases(const struct bundle_registry *mirror,
    const struct bundle_registry *hosted)
{
	int			 judged = 0;
	struct bundle_policy	 pol = { pol_registry, pol_judge, &judged };
	struct bundle_import_opts o = { .regs = mirror, .nregs = 1,
				    .warn = on_warn, .policy = on_policy };
	char			*file, *cause = NULL, *got, seen[128];
	char			 crate[600];
	long long		 now = (long long)time(NULL);
	int			 n;

	file = make_with("pol", "mirror", "evt", NULL, true, UP, &pol, NULL);
	ok(judged == 1 && exported.left_out == 1 && exported.crates == 0,
	    "a mirror's denied crate is left out");
	n = ndst;
	ok(import(file, &o, &cause) == 0, "... and the bundle imports");
	free(cause);
	snprintf(crate, sizeof crate, "%s/dst-%d/mirror/crates/evt/"
	    "evt-1.0.0.crate", root, n);
	ok(access(crate, F_OK) != 0, "... without it");
	ok(summary != NULL && strstr(summary, "2026-08-21/2/abcdef01 (2"
	    " advisories)") != NULL && strstr(summary, "`mirror`: Denied:"
	    " evt.; 1 denied, 0 held, 0 flagged; 1 denied crates left out") !=
	    NULL, "... saying what the export applied");
	printf("# %s\n", summary ? summary : "(no summary)");
	free(file);
	file = make_with("polhosted", "local", "evt", NULL, true, NULL, &pol,
	    NULL);
	ok(exported.left_out == 0 && exported.crates == 1,
	    "a hosted registry's denied crate is kept (its backup)");
	o.regs = hosted;
	o.allow_hosted = true;
	ok(import(file, &o, &cause) == 0, "... and it restores");
	free(cause);
	free(file);

	/* First-seen records travel; the earlier time of each version is
	 * kept. */
	o.regs = mirror;
	o.allow_hosted = false;
	snprintf(seen, sizeof seen, "{\"versions\":{\"1.0.0\":%lld}}",
	    now - 100);
	file = make_with("seen", "mirror", "evt", NULL, true, UP, NULL, seen);
	n = ndst;
	ok(import(file, &o, &cause) == 0 && (got = seen_after(n)) != NULL,
	    "a first-seen record imported");
	free(cause);
	ok(got != NULL && strcmp(got, seen) == 0, "... as it was");
	free(got);
	snprintf(seen, sizeof seen, "{\"versions\":{\"0.9.0\":%lld,"
	    "\"1.0.0\":%lld}}", now - 10, now - 50);
	n = ndst;
	ok(import_into(file, &o, seen, &cause) == 0 && (got = seen_after(n))
	    != NULL, "merged with the data directory's");
	free(cause);
	snprintf(seen, sizeof seen, "{\"versions\":{\"0.9.0\":%lld,"
	    "\"1.0.0\":%lld}}", now - 10, now - 100);
	ok(got != NULL && strcmp(got, seen) == 0, "... the earlier of each");
	printf("# %s\n", got ? got : "(none)");
	free(got);
	free(file);
	for (size_t i = 0; i < 5; i++) {
		static const char	*bad[] = {
			"{\"versions\":{\"x\":1700000000}}",
			"{\"versions\":{\"1.0.0\":5}}",
			"{\"versions\":{\"1.0.0\":99999999999}}",
			"{\"versions\":[],\"more\":1}",
			"not json",
		};
		char	 tag[32];

		snprintf(tag, sizeof tag, "badseen%zu", i);
		file = make_with(tag, "mirror", "evt", NULL, true, UP, NULL,
		    bad[i]);
		ok(import(file, &o, &cause) == -1 && has(cause, "seen/3/e/evt"),
		    "a bad first-seen record refuses the bundle: %s", bad[i]);
		free(file);
	}
	free(summary);
	summary = NULL;
}


/* file without its gzip layer, at out. */
static void
gunzip(const char *file, const char *out)
{
	gzFile	 gz = gzopen(file, "rb");
	FILE	*f = fopen(out, "wb");
	char	 buf[4096];
	int	 n;

	while ((n = gzread(gz, buf, sizeof buf)) > 0)
		fwrite(buf, 1, (size_t)n, f);
	gzclose(gz);
	fclose(f);
}

static void
copy(const char *from, const char *to)
{
	FILE	*in = fopen(from, "rb"), *out = fopen(to, "wb");
	char	 buf[4096];
	size_t	 n;

	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

int
main(void)
{
	struct bundle_registry		 mirror = { "mirror", UP, false };
	struct bundle_registry		 other = { "mirror",
					    "https://elsewhere.example/", false };
	struct bundle_registry		 hosted = { "local", NULL, false };
	struct bundle_import_opts	 o = { .regs = &mirror, .nregs = 1,
					    .warn = on_warn };
	char				*good, *file, *cause, cmd[600];
	FILE				*f;

	if (mkdtemp(root) == NULL)
		return 1;
	good = make("good", "mirror", "evt", NULL, true, UP);
	ok(import(good, &o, &cause) == 0 && warnings == 0, "a good bundle");
	free(cause);
	ok(import(good, NULL, &cause) == 0, "no registries known: imported");
	free(cause);

	/* Index lines are checked as a mirror's fill is. */
	file = make("name", "mirror", "serde", NULL, true, UP);
	ok(import(file, &o, &cause) == -1 && has(cause, "serde"),
	    "a line naming another crate than its path");
	free(file);
	file = make("cksum", "mirror", "evt", "XYZ", false, UP);
	ok(import(file, &o, &cause) == -1 && has(cause, "cksum"),
	    "a malformed cksum");
	free(file);

	/* The file is one gzip stream, nothing else. */
	snprintf(cmd, sizeof cmd, "%s/trailing.tar.gz", root);
	copy(good, cmd);
	if ((f = fopen(cmd, "ab")) == NULL)
		return 1;
	fputs("junk", f);
	fclose(f);
	ok(import(cmd, &o, &cause) == -1 && has(cause, "4 bytes after"),
	    "bytes after the gzip stream");
	snprintf(cmd, sizeof cmd, "%s/plain.tar.gz", root);
	gunzip(good, cmd);
	ok(import(cmd, &o, &cause) == -1 && has(cause, "not gzip"),
	    "a plain tar named .tar.gz");

	/* Another upstream: refused, or a warning when allowed. */
	o.regs = &other;
	ok(import(good, &o, &cause) == -1 && has(cause, "up.example"),
	    "a mirror of another upstream refused");
	o.allow_other_upstream = true;
	ok(import(good, &o, &cause) == 0 && warnings == 1,
	    "... imported with a warning when allowed");
	free(cause);
	o.allow_other_upstream = false;

	/* Hosted registries: only with allow_hosted, and the crates there. */
	o.regs = &hosted;
	file = make("hosted", "local", "evt", NULL, true, NULL);
	ok(import(file, &o, &cause) == -1 && has(cause, "--allow-hosted"),
	    "a hosted registry's files refused");
	o.allow_hosted = true;
	ok(import(file, &o, &cause) == 0, "... restored with allow_hosted");
	free(cause);
	free(file);
	file = make("nocrate", "local", "evt", NULL, false, NULL);
	ok(import(file, &o, &cause) == -1 && has(cause, "neither in the"),
	    "... but not an index line without its .crate");
	free(file);
	file = make("badcrate", "local", "evt", "0000000000000000000000000000"
	    "000000000000000000000000000000000000", true, NULL);
	ok(import(file, &o, &cause) == -1,
	    "... nor one whose .crate does not match");
	free(cause);
	free(file);
	free(good);
	policy_cases(&mirror, &hosted);
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
