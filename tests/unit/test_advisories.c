/* policy/advisories.c: snapshots of both layouts written here (in a
 * directory and as .tar.gz), what each advisory affects, and malformed
 * snapshots (a cause naming the file, nothing returned). The real
 * snapshots are table-tested by tests/integration/test_policy_ranges.py. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/xmalloc.h"
#include "policy/policy.h"
#include "tests/tap.h"

struct file {
	const char	*path, *text;
};

static char	tmp[] = "/tmp/test_advisories.XXXXXX";

/* Writes files under dir (made first). 0 or -1. */
static int
mkfiles(const char *dir, const struct file *f, size_t n)
{
	char	*path, *cmd;
	FILE	*fp;
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		path = xasprintf("%s/%s", dir, f[i].path);
		*strrchr(path, '/') = '\0';
		cmd = xasprintf("mkdir -p '%s'", path);
		rc = system(cmd) == 0 ? 0 : -1;
		free(cmd);
		free(path);
		path = xasprintf("%s/%s", dir, f[i].path);
		if (rc == 0 && (fp = fopen(path, "w")) != NULL) {
			fputs(f[i].text, fp);
			fclose(fp);
		} else
			rc = -1;
		free(path);
	}
	return rc;
}

/* Writes files as a .tar.gz at path, entry names as given. */
static int
mktar(const char *path, const struct file *f, size_t n)
{
	struct archive		*a = archive_write_new();
	struct archive_entry	*e;
	size_t			 i;
	int			 rc = 0;

	archive_write_add_filter_gzip(a);
	archive_write_set_format_pax_restricted(a);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK)
		rc = -1;
	for (i = 0; i < n && rc == 0; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, f[i].path);
		archive_entry_set_size(e, (la_int64_t)strlen(f[i].text));
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		if (archive_write_header(a, e) != ARCHIVE_OK ||
		    archive_write_data(a, f[i].text, strlen(f[i].text)) < 0)
			rc = -1;
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
	return rc;
}

static void
rmtree(const char *dir)
{
	char	*cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	free(cmd);
}

/* Loads files written as a directory named name: the db, or NULL with
 * *cause. */
static struct advisory_db *
load_dir(const char *name, const struct file *f, size_t n, char **cause)
{
	struct advisory_db	*db = NULL;
	char			*dir = xasprintf("%s/%s", tmp, name);

	*cause = NULL;
	if (mkfiles(dir, f, n) != 0)
		*cause = xstrdup("could not write the files");
	else if (advisory_db_load(dir, &db, cause) != 0 && db != NULL)
		*cause = xstrdup("db set on failure");
	free(dir);
	return db;
}

static struct advisory_db *
load_tar(const char *name, const struct file *f, size_t n, char **cause)
{
	struct advisory_db	*db = NULL;
	char			*path = xasprintf("%s/%s", tmp, name);

	*cause = NULL;
	if (mktar(path, f, n) != 0)
		*cause = xstrdup("could not write the tarball");
	else if (advisory_db_load(path, &db, cause) != 0 && db != NULL)
		*cause = xstrdup("db set on failure");
	free(path);
	return db;
}

/* "ID ID" of the advisories of name affecting vers, or "!" for a version
 * that does not parse. */
static const char *
affected(const struct advisory_db *db, const char *name, const char *vers)
{
	static char		 out[512];
	const struct advisory	*m[16];
	struct semver		 v;
	size_t			 n, i, o = 0;

	out[0] = '\0';
	if (semver_parse(vers, &v, NULL) != 0)
		return "!";
	n = advisory_db_match(db, name, &v, m, 16);
	for (i = 0; i < n && o + 80 < sizeof out; i++)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s%s",
		    i > 0 ? " " : "", m[i]->id);
	return out;
}

#define OSV(id, name, ranges) "{\"id\":\"" id "\",\"modified\":" \
	"\"2026-01-02T00:00:00Z\",\"published\":\"2025-06-01T12:00:00Z\"," \
	"\"summary\":\"" id " summary\",\"affected\":[{\"package\":" \
	"{\"ecosystem\":\"crates.io\",\"name\":\"" name "\"},\"ranges\":[" \
	ranges "],\"database_specific\":{\"categories\":[]," \
	"\"informational\":null}}]}"
#define SEMVER(ev) "{\"type\":\"SEMVER\",\"events\":[" ev "]}"

static const struct file osv_files[] = {
	/* events out of order: OSV sorts them */
	{ "crates/RUSTSEC-2025-0101.json", OSV("RUSTSEC-2025-0101", "alpha",
	    SEMVER("{\"fixed\":\"1.2.0\"},{\"introduced\":\"0.0.0-0\"},"
	    "{\"fixed\":\"2.1.0\"},{\"introduced\":\"2.0.0\"}")) },
	/* "0", last_affected, a second range */
	{ "crates/RUSTSEC-2025-0102.json", OSV("RUSTSEC-2025-0102", "Beta_X",
	    SEMVER("{\"introduced\":\"0\"},{\"last_affected\":\"0.3.1\"}") ","
	    SEMVER("{\"introduced\":\"1.0.0-rc.1\"},{\"fixed\":\"1.0.1\"}")) },
	/* limits, ECOSYSTEM, GIT (left out), versions named one by one */
	{ "crates/RUSTSEC-2025-0103.json", "{\"id\":\"RUSTSEC-2025-0103\","
	    "\"withdrawn\":\"2025-07-01T00:00:00Z\",\"affected\":[{\"package\":"
	    "{\"ecosystem\":\"crates.io\",\"name\":\"gamma\"},\"ranges\":["
	    "{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"1.0.0\"},"
	    "{\"limit\":\"1.5.0\"}]},{\"type\":\"GIT\",\"repo\":\"x\","
	    "\"events\":[{\"introduced\":\"abc\"}]}],\"versions\":"
	    "[\"3.0.0\"],\"database_specific\":{\"categories\":[\"malicious\","
	    "\"code-execution\"]}},{\"package\":{\"ecosystem\":\"PyPI\","
	    "\"name\":\"gamma\"},\"ranges\":[]}]}" },
	/* two packages in one advisory */
	{ "crates/RUSTSEC-2025-0104.json", "{\"id\":\"RUSTSEC-2025-0104\","
	    "\"affected\":[{\"package\":{\"ecosystem\":\"crates.io\",\"name\":"
	    "\"delta\"},\"ranges\":[" SEMVER("{\"introduced\":\"0.0.0-0\"}")
	    "],\"database_specific\":{\"informational\":\"unsound\"}},"
	    "{\"package\":{\"ecosystem\":\"crates.io\",\"name\":\"epsilon\"},"
	    "\"ranges\":[" SEMVER("{\"introduced\":\"0.5.0\"}") "]}]}" },
	{ "crates/README.md", "not an advisory" },
	{ "crates/other.json", "{}" },
	{ "README.md", "# advisory-db" },
	{ ".git/config", "x" },
};

static const struct {
	const char	*name, *vers, *want;
} osv_cases[] = {
	{ "alpha", "0.0.0", "RUSTSEC-2025-0101" },
	{ "alpha", "0.0.0-alpha", "RUSTSEC-2025-0101" },
	{ "alpha", "1.1.9", "RUSTSEC-2025-0101" },
	{ "alpha", "1.2.0-rc.1", "RUSTSEC-2025-0101" },
	{ "alpha", "1.2.0", "" },
	{ "alpha", "1.9.9", "" },
	{ "alpha", "2.0.0-rc.1", "" },
	{ "alpha", "2.0.0", "RUSTSEC-2025-0101" },
	{ "alpha", "2.0.9+build", "RUSTSEC-2025-0101" },
	{ "alpha", "2.1.0", "" },
	{ "ALPHA", "1.0.0", "RUSTSEC-2025-0101" },
	{ "beta-x", "0.3.1", "RUSTSEC-2025-0102" },
	{ "beta_x", "0.3.2-pre", "" },
	{ "Beta-X", "0.3.2", "" },
	{ "beta-x", "0.0.0-0", "RUSTSEC-2025-0102" },
	{ "beta-x", "1.0.0-beta", "" },
	{ "beta-x", "1.0.0-rc.1", "RUSTSEC-2025-0102" },
	{ "beta-x", "1.0.0", "RUSTSEC-2025-0102" },
	{ "beta-x", "1.0.1", "" },
	{ "gamma", "0.9.0", "" },
	{ "gamma", "1.0.0", "RUSTSEC-2025-0103" },
	{ "gamma", "1.4.9", "RUSTSEC-2025-0103" },
	{ "gamma", "1.5.0", "" },
	{ "gamma", "3.0.0", "RUSTSEC-2025-0103" },
	{ "gamma", "3.0.1", "" },
	{ "delta", "0.0.0", "RUSTSEC-2025-0104" },
	{ "epsilon", "0.4.0", "" },
	{ "epsilon", "99.0.0", "RUSTSEC-2025-0104" },
	{ "zeta", "1.0.0", "" },
	{ "alpha", "1.0", "!" },
};

static const struct file md_files[] = {
	{ "crates/alpha/RUSTSEC-2025-0201.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0201\"\npackage = \"alpha\"\n"
	    "date = \"2025-01-01\"\ncategories = [\"memory-corruption\"]\n"
	    "keywords = [\"x\"]\ncvss = \"CVSS:3.1/AV:N\"\n\n"
	    "[affected]\nfunctions = { \"alpha::f\" = [\"< 1.2.0\"] }\n\n"
	    "[versions]\npatched = [\">= 1.2.0, < 2.0.0\", \">= 2.1.0\"]\n"
	    "```\n\n# alpha overflows\n\nDetails.\n" },
	{ "crates/beta/RUSTSEC-2025-0202.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0202\"\npackage = \"beta\"\n"
	    "date = \"2026-03-04\"\ninformational = \"unmaintained\"\n"
	    "[versions]\npatched = []\nunaffected = [\"< 0.5\"]\n```\n" },
	{ "crates/caret/RUSTSEC-2025-0203.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0203\"\npackage = \"caret\"\n"
	    "[versions]\npatched = [\"^1.2.3\", \"0.4.5\", \"^0.0.7\", "
	    "\"~2.3\", \"=3.1.0\", \"> 4\", \"<= 0.0.3\", \"^ 0.2\"]\n"
	    "```\n" },
	{ "crates/pre/RUSTSEC-2025-0204.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0204\"\npackage = \"pre\"\n"
	    "withdrawn = \"2025-05-05\"\ncategories = [\"malicious\"]\n"
	    "[versions]\npatched = [\">= 1.0.0-beta.2\"]\n```\n" },
	{ "crates/every/RUSTSEC-2025-0205.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0205\"\npackage = \"every\"\n[versions]\n"
	    "patched = []\n```\n" },
	{ "crates/star/RUSTSEC-2025-0206.md", "```toml\n[advisory]\n"
	    "id = \"RUSTSEC-2025-0206\"\npackage = \"star\"\n[versions]\n"
	    "patched = [\"*\"]\n```\n" },
	{ "rust/std/RUSTSEC-2025-0299.md", "not read: not under crates/" },
};

static const struct {
	const char	*name, *vers, *want;
} md_cases[] = {
	{ "alpha", "1.1.9", "RUSTSEC-2025-0201" },
	{ "alpha", "1.2.0-rc.1", "RUSTSEC-2025-0201" },
	{ "alpha", "1.2.0", "" },
	{ "alpha", "1.9.9", "" },
	{ "alpha", "2.0.0-rc.1", "" },		/* below 2.0.0: patched */
	{ "alpha", "2.0.0", "RUSTSEC-2025-0201" },
	{ "alpha", "2.1.0-pre", "RUSTSEC-2025-0201" },
	{ "alpha", "2.1.0", "" },
	{ "alpha", "3.0.0-alpha", "" },		/* above 2.1.0 */
	{ "beta", "0.4.9", "" },
	{ "beta", "0.5.0-rc.1", "" },		/* below 0.5.0 */
	{ "beta", "0.5.0-0", "" },
	{ "beta", "0.5.0", "RUSTSEC-2025-0202" },
	/* ^1.2.3: [1.2.3, 2.0.0-0) */
	{ "caret", "1.2.2", "RUSTSEC-2025-0203" },
	{ "caret", "1.2.3", "" },
	{ "caret", "1.9.0-rc.1", "" },
	{ "caret", "2.0.0-0", "RUSTSEC-2025-0203" },
	/* 0.4.5: [0.4.5, 0.5.0-0) */
	{ "caret", "0.4.4", "RUSTSEC-2025-0203" },
	{ "caret", "0.4.5", "" },
	{ "caret", "0.4.99", "" },
	{ "caret", "0.5.0-0", "RUSTSEC-2025-0203" },
	{ "caret", "0.5.0", "RUSTSEC-2025-0203" },
	/* ^0.0.7: [0.0.7, 0.0.8-0) */
	{ "caret", "0.0.7", "" },
	{ "caret", "0.0.8", "RUSTSEC-2025-0203" },
	/* ~2.3: [2.3.0, 2.4.0-0) */
	{ "caret", "2.3.0", "" },
	{ "caret", "2.3.9", "" },
	{ "caret", "2.4.0", "RUSTSEC-2025-0203" },
	/* =3.1.0 */
	{ "caret", "3.1.0", "" },
	{ "caret", "3.1.1", "RUSTSEC-2025-0203" },
	/* > 4 is (4.0.0, ...) as rustsec reads it, not cargo's >=5.0.0 */
	{ "caret", "4.0.0", "RUSTSEC-2025-0203" },
	{ "caret", "4.0.1", "" },
	/* <= 0.0.3 */
	{ "caret", "0.0.0", "" },
	{ "caret", "0.0.3", "" },
	{ "caret", "0.0.4-rc.1", "RUSTSEC-2025-0203" },
	{ "caret", "0.0.4", "RUSTSEC-2025-0203" },
	{ "caret", "0.1.0", "RUSTSEC-2025-0203" },
	/* ^ 0.2: [0.2.0, 0.3.0-0) */
	{ "caret", "0.2.5", "" },
	{ "caret", "0.3.0", "RUSTSEC-2025-0203" },
	{ "pre", "1.0.0-beta.1", "RUSTSEC-2025-0204" },
	{ "pre", "1.0.0-beta.2", "" },
	{ "pre", "1.0.0-beta.10", "" },
	{ "pre", "0.9.0", "RUSTSEC-2025-0204" },
	{ "every", "0.0.0", "RUSTSEC-2025-0205" },
	{ "every", "999.0.0-x", "RUSTSEC-2025-0205" },
	{ "star", "1.0.0", "" },
};

static void
test_osv(void)
{
	struct advisory_db	*db, *tdb;
	const struct advisory	*a;
	char			*cause;
	size_t			 i;

	db = load_dir("osv", osv_files, sizeof osv_files / sizeof osv_files[0],
	    &cause);
	ok(db != NULL, "OSV directory loads: %s", cause ? cause : "");
	free(cause);
	if (db == NULL)
		return;
	ok(advisory_db_count(db) == 5, "5 advisories (one names two crates)");
	for (i = 0; i < sizeof osv_cases / sizeof osv_cases[0]; i++)
		is_str(affected(db, osv_cases[i].name, osv_cases[i].vers),
		    osv_cases[i].want, "OSV: %s %s", osv_cases[i].name,
		    osv_cases[i].vers);
	a = advisory_db_get(db, 0);
	ok(a != NULL && strcmp(a->id, "RUSTSEC-2025-0101") == 0 &&
	    strcmp(a->package, "alpha") == 0 && a->summary != NULL &&
	    strcmp(a->summary, "RUSTSEC-2025-0101 summary") == 0 &&
	    a->date != NULL && strcmp(a->date, "2025-06-01") == 0 &&
	    !a->malicious && !a->informational && !a->withdrawn &&
	    strcmp(advisory_kind(a), "vulnerability") == 0, "alpha's fields");
	a = advisory_db_get(db, 2);
	ok(a != NULL && strcmp(a->package, "delta") == 0 &&
	    a->informational && strcmp(advisory_kind(a), "unsound") == 0,
	    "delta: informational unsound");
	a = advisory_db_get(db, 4);
	ok(a != NULL && strcmp(a->package, "gamma") == 0 && a->malicious &&
	    a->withdrawn && strcmp(advisory_kind(a), "malicious") == 0 &&
	    a->summary == NULL && a->date == NULL, "gamma: malicious, withdrawn");
	ok(advisory_db_get(db, 5) == NULL, "get past the end: NULL");
	is_str(advisory_db_date(db), "2026-01-02", "date: newest modified");
	ok(strncmp(advisory_db_id(db), "2026-01-02/5/", 13) == 0 &&
	    strlen(advisory_db_id(db)) == 21, "id %s", advisory_db_id(db));
	/* the same files as a tarball under a top directory */
	{
		struct file	tf[sizeof osv_files / sizeof osv_files[0]];
		char		path[sizeof osv_files / sizeof osv_files[0]][80];

		for (i = 0; i < sizeof osv_files / sizeof osv_files[0]; i++) {
			snprintf(path[i], sizeof path[i], "./osv-main/%s",
			    osv_files[i].path);
			tf[i].path = path[i];
			tf[i].text = osv_files[i].text;
		}
		tdb = load_tar("osv.tar.gz", tf, i, &cause);
		ok(tdb != NULL && strcmp(advisory_db_id(tdb),
		    advisory_db_id(db)) == 0, "tarball: same id as the "
		    "directory: %s", cause ? cause : "");
		free(cause);
		advisory_db_free(tdb);
	}
	advisory_db_free(db);
}

static void
test_md(void)
{
	struct advisory_db	*db;
	const struct advisory	*a;
	char			*cause;
	size_t			 i;

	db = load_tar("md.tar.gz", md_files, sizeof md_files /
	    sizeof md_files[0], &cause);
	ok(db != NULL, "main layout tarball loads: %s", cause ? cause : "");
	free(cause);
	if (db == NULL)
		return;
	ok(advisory_db_count(db) == 6, "6 advisories");
	for (i = 0; i < sizeof md_cases / sizeof md_cases[0]; i++)
		is_str(affected(db, md_cases[i].name, md_cases[i].vers),
		    md_cases[i].want, "main: %s %s", md_cases[i].name,
		    md_cases[i].vers);
	a = advisory_db_get(db, 0);
	ok(a != NULL && strcmp(a->id, "RUSTSEC-2025-0201") == 0 &&
	    a->summary != NULL && strcmp(a->summary, "alpha overflows") == 0 &&
	    strcmp(a->date, "2025-01-01") == 0 && !a->informational &&
	    strcmp(advisory_kind(a), "memory-corruption") == 0,
	    "alpha's fields");
	a = advisory_db_get(db, 1);
	ok(a != NULL && a->informational && strcmp(advisory_kind(a),
	    "unmaintained") == 0 && a->summary == NULL, "beta: unmaintained");
	a = advisory_db_get(db, 4);
	ok(a != NULL && strcmp(a->package, "pre") == 0 && a->malicious &&
	    a->withdrawn && a->date == NULL, "pre: malicious, withdrawn");
	is_str(advisory_db_date(db), "2026-03-04", "date: the newest");
	ok(strncmp(advisory_db_id(db), "2026-03-04/6/", 13) == 0, "id %s",
	    advisory_db_id(db));
	advisory_db_free(db);
}

/* Malformed snapshots: each fails whole, its cause naming the file. */
static const struct {
	const char	*what, *path, *text, *cause;
} bad[] = {
	{ "JSON syntax", "crates/RUSTSEC-2025-0001.json", "{\"id\":",
	  "crates/RUSTSEC-2025-0001.json:1:6: " },
	{ "JSON duplicate key", "crates/RUSTSEC-2025-0001.json",
	  "{\"id\":\"RUSTSEC-2025-0001\",\"id\":\"x\",\"affected\":[]}",
	  "crates/RUSTSEC-2025-0001.json:1:" },
	{ "no id", "crates/RUSTSEC-2025-0001.json", "{\"affected\":[]}",
	  "crates/RUSTSEC-2025-0001.json: not an OSV advisory" },
	{ "id not the file's", "crates/RUSTSEC-2025-0001.json",
	  "{\"id\":\"RUSTSEC-2025-0002\",\"affected\":[]}",
	  "crates/RUSTSEC-2025-0001.json: its id is \"RUSTSEC-2025-0002\"" },
	{ "bad id", "crates/RUSTSEC-2025-0001.json",
	  "{\"id\":\"RUSTSEC 1\",\"affected\":[]}",
	  "crates/RUSTSEC-2025-0001.json: id \"RUSTSEC 1\" is not" },
	{ "bad version", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "a", SEMVER("{\"introduced\":\"1.0\"}")),
	  "crates/RUSTSEC-2025-0001.json: introduced \"1.0\" is not a SemVer "
	  "version" },
	{ "two members in an event", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "a", SEMVER("{\"introduced\":\"0\","
	  "\"fixed\":\"1.0.0\"}")),
	  "crates/RUSTSEC-2025-0001.json: an event must have one member" },
	{ "unknown event", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "a", SEMVER("{\"patched\":\"1.0.0\"}")),
	  "crates/RUSTSEC-2025-0001.json: event \"patched\" is not" },
	{ "no events", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "a", SEMVER("")),
	  "crates/RUSTSEC-2025-0001.json: a range needs 1 to 1024 events" },
	{ "range type", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "a", "{\"type\":\"NPM\",\"events\":[]}"),
	  "crates/RUSTSEC-2025-0001.json: range type \"NPM\" is not" },
	{ "bad crate name", "crates/RUSTSEC-2025-0001.json",
	  OSV("RUSTSEC-2025-0001", "../x", SEMVER("{\"introduced\":\"0\"}")),
	  "crates/RUSTSEC-2025-0001.json: invalid crate name" },
	{ "summary not a string", "crates/RUSTSEC-2025-0001.json",
	  "{\"id\":\"RUSTSEC-2025-0001\",\"summary\":1,\"affected\":[]}",
	  "crates/RUSTSEC-2025-0001.json: \"summary\" is not a string" },
	{ "no fence", "crates/a/RUSTSEC-2025-0001.md", "# title\n",
	  "crates/a/RUSTSEC-2025-0001.md: no front matter" },
	{ "fence not closed", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\n",
	  "crates/a/RUSTSEC-2025-0001.md: no front matter" },
	{ "TOML syntax", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = RUSTSEC\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:3:6: expected a value" },
	{ "no package", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\n[versions]\n"
	  "patched = []\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md: package is missing, not a string" },
	{ "package not its directory", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"b\"\n"
	  "[versions]\npatched = []\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md: package \"b\" is not the name of "
	  "its directory" },
	{ "no [versions]", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "```\n",
	  "crates/a/RUSTSEC-2025-0001.md: no [versions] table with patched" },
	{ "patched not strings", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\npatched = [1]\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: patched is not an array" },
	{ "bad requirement", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\npatched = [\">= 1.0\", \"=> 2\"]\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: patched \"=> 2\": not a version "
	  "requirement" },
	{ "wildcard", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\nunaffected = [\"1.*\"]\npatched = []\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: unaffected \"1.*\": wildcards" },
	{ "two lower bounds", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\npatched = [\">= 1, > 2\"]\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: patched \">= 1, > 2\": more than "
	  "one lower bound" },
	{ "caret not alone", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\npatched = [\"^1, < 3\"]\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: patched \"^1, < 3\": '=', '^', '~' "
	  "and a bare version must be alone" },
	{ "three comparators", "crates/a/RUSTSEC-2025-0001.md",
	  "```toml\n[advisory]\nid = \"RUSTSEC-2025-0001\"\npackage = \"a\"\n"
	  "[versions]\npatched = [\">1, <3, <4\"]\n```\n",
	  "crates/a/RUSTSEC-2025-0001.md:6: patched \">1, <3, <4\": more than "
	  "two comparators" },
};

static void
test_bad(void)
{
	static const struct file good = { "crates/ok/RUSTSEC-2020-0001.md",
	    "```toml\n[advisory]\nid = \"RUSTSEC-2020-0001\"\n"
	    "package = \"ok\"\n[versions]\npatched = []\n```\n" };
	struct advisory_db	*db;
	struct file		 f[2];
	char			*cause, name[32], *want;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		f[0] = good;
		f[1].path = bad[i].path;
		f[1].text = bad[i].text;
		snprintf(name, sizeof name, "bad%zu", i);
		db = load_dir(name, f, 2, &cause);
		want = xasprintf("%s/%s: %s", tmp, name, bad[i].cause);
		ok(db == NULL && cause != NULL && strncmp(cause, want,
		    strlen(want)) == 0, "%s: %s", bad[i].what,
		    cause ? cause : "(loaded)");
		if (cause != NULL && strstr(cause, bad[i].cause) == NULL)
			printf("#   want '%s'\n", bad[i].cause);
		free(want);
		free(cause);
		advisory_db_free(db);
	}
}

/* Paths, sizes, kinds of entries, duplicates, emptiness. */
static void
test_snapshot_checks(void)
{
	static const struct file adv = { "crates/ok/RUSTSEC-2020-0001.md",
	    "```toml\n[advisory]\nid = \"RUSTSEC-2020-0001\"\n"
	    "package = \"ok\"\n[versions]\npatched = []\n```\n" };
	struct advisory_db	*db;
	struct file		 f[2];
	char			*cause, *path, *big;
	int			 rc;

	f[0] = adv;
	f[1].path = "../crates/RUSTSEC-2020-0002.json";
	f[1].text = "{}";
	db = load_tar("dotdot.tar.gz", f, 2, &cause);
	ok(db == NULL && cause != NULL && strstr(cause, "entry "
	    "\"../crates/RUSTSEC-2020-0002.json\": absolute paths, \"..\"") !=
	    NULL, "\"..\" in a tarball refused: %s", cause);
	free(cause);
	f[1].path = "/crates/RUSTSEC-2020-0002.json";
	db = load_tar("abs.tar.gz", f, 2, &cause);
	ok(db == NULL && cause != NULL && strstr(cause, "absolute paths") !=
	    NULL, "an absolute path refused: %s", cause);
	free(cause);
	f[1].path = "top/crates/../RUSTSEC-2020-0002.json";
	db = load_tar("dotdot2.tar.gz", f, 2, &cause);
	ok(db == NULL && cause != NULL, "\"..\" inside refused: %s", cause);
	free(cause);
	big = xmalloc(1024 * 1024 + 2);
	memset(big, ' ', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	f[1].path = "crates/RUSTSEC-2020-0002.json";
	f[1].text = big;
	db = load_tar("big.tar.gz", f, 2, &cause);
	ok(db == NULL && cause != NULL && strstr(cause, "crates/RUSTSEC-2020-"
	    "0002.json is 1048577 bytes; an advisory file may have at most "
	    "1048576") != NULL, "a file over 1 MiB refused: %s", cause);
	free(cause);
	big[1024 * 1024 + 1] = '\0';
	f[1].path = "crates/big.bin";	/* not an advisory: not read */
	db = load_tar("bigskip.tar.gz", f, 2, &cause);
	ok(db != NULL && advisory_db_count(db) == 1, "a big file elsewhere "
	    "is skipped unread");
	free(cause);
	advisory_db_free(db);
	free(big);
	f[1].path = "crates/ok/RUSTSEC-2020-0001.md.orig";
	f[1].text = "x";
	db = load_dir("names", f, 2, &cause);
	ok(db != NULL && advisory_db_count(db) == 1, "other names skipped");
	free(cause);
	advisory_db_free(db);
	f[1].path = "crates/RUSTSEC-2020-0001.json";
	f[1].text = "{\"id\":\"RUSTSEC-2020-0001\",\"affected\":[]}";
	f[1].text = OSV("RUSTSEC-2020-0001", "ok",
	    SEMVER("{\"introduced\":\"0\"}"));
	db = load_dir("dup", f, 2, &cause);
	ok(db == NULL && cause != NULL && strstr(cause, "advisory "
	    "RUSTSEC-2020-0001 is in both ") != NULL && strstr(cause,
	    "crates/RUSTSEC-2020-0001.json") != NULL && strstr(cause,
	    "crates/ok/RUSTSEC-2020-0001.md") != NULL, "an id in two files "
	    "refused: %s", cause);
	free(cause);
	f[1].path = "crates/README.md";
	f[1].text = "x";
	db = load_dir("empty", f + 1, 1, &cause);
	ok(db == NULL && cause != NULL && strstr(cause, "no advisories in "
	    "it") != NULL, "no advisories: %s", cause);
	free(cause);
	path = xasprintf("%s/missing", tmp);
	rc = advisory_db_load(path, &db, &cause);
	ok(rc != 0 && db == NULL && cause != NULL && strstr(cause,
	    "No such file") != NULL, "a missing path: %s", cause);
	free(cause);
	free(path);
	path = xasprintf("%s/empty/crates/README.md", tmp);
	rc = advisory_db_load(path, &db, &cause);
	ok(rc != 0 && db == NULL && cause != NULL && strncmp(cause, path,
	    strlen(path)) == 0, "not a tarball: %s", cause);
	free(cause);
	free(path);
	rc = advisory_db_load("/nonexistent", &db, NULL);
	ok(rc != 0 && db == NULL, "cause may be NULL");
	/* a symbolic link at an advisory's path */
	path = xasprintf("%s/link/crates/ok", tmp);
	f[0] = adv;
	db = load_dir("link", f, 1, &cause);
	free(cause);
	advisory_db_free(db);
	big = xasprintf("%s/RUSTSEC-2020-0009.md", path);
	rc = symlink("/etc/passwd", big);
	free(big);
	free(path);
	path = xasprintf("%s/link", tmp);
	db = NULL;
	cause = NULL;
	ok(rc == 0 && advisory_db_load(path, &db, &cause) == 0 && db != NULL &&
	    advisory_db_count(db) == 1, "a symbolic link is passed over");
	free(cause);
	advisory_db_free(db);
	free(path);
}

int
main(void)
{
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_osv();
	test_md();
	test_bad();
	test_snapshot_checks();
	rmtree(tmp);
	return done_testing();
}
