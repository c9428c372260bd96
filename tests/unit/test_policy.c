/* policy/policy.c: cargo's min-publish-age and pubtime syntaxes, deny
 * rules, and policy_decide's order and sources, one line per case. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "policy/policy.h"
#include "tests/tap.h"

#define DAY	86400
#define MONTH	2629746

static const struct {
	const char	*in;
	int		 ok;
	long long	 secs;
} ages[] = {
	{ "0", 1, 0 },
	{ "1 second", 1, 1 },
	{ "23 seconds", 1, 23 },
	{ "1second", 1, 1 },
	{ "5 minute", 1, 300 },
	{ "5 minutes", 1, 300 },
	{ "1 hour", 1, 3600 },
	{ "2 hours", 1, 7200 },
	{ "1 day", 1, DAY },
	{ "7 days", 1, 7 * DAY },
	{ "7days", 1, 7 * DAY },
	{ "1 week", 1, 7 * DAY },
	{ "2 weeks", 1, 14 * DAY },
	{ "1 month", 1, MONTH },
	{ "6 months", 1, 6LL * MONTH },
	{ "0 days", 1, 0 },
	{ "007 days", 1, 7 * DAY },
	{ "9223372036854775807 seconds", 1, 9223372036854775807LL },
	{ "106751991167300 days", 1, 106751991167300LL * DAY },
	/* refused, as cargo's time_span.rs refuses them */
	{ "", 0, 0 },
	{ "1", 0, 0 },
	{ "7", 0, 0 },
	{ "day", 0, 0 },
	{ "second", 0, 0 },
	{ "+2 seconds", 0, 0 },
	{ "-1 days", 0, 0 },
	{ "1.5 days", 0, 0 },
	{ "1 dayz", 0, 0 },
	{ "1 Day", 0, 0 },
	{ "1 d", 0, 0 },
	{ "1 fortnight", 0, 0 },
	{ "1 day ", 0, 0 },
	{ " 1 day", 0, 0 },
	{ "1  second", 0, 0 },
	{ "1\tday", 0, 0 },
	{ "always", 0, 0 },
	{ "never", 0, 0 },
	{ "00", 0, 0 },
	{ "7 days\n", 0, 0 },
	/* overflow: the number, then the product */
	{ "9223372036854775808 seconds", 0, 0 },
	{ "99999999999999999999999 seconds", 0, 0 },
	{ "106751991167301 days", 0, 0 },
	{ "3507324295524 months", 0, 0 },
	{ "3507324295523 months", 1, 3507324295523LL * MONTH },
};

/* s with control bytes as \xNN, for test names (one TAP line each). */
static const char *
vis(const char *s)
{
	static char	buf[4][200];
	static int	k;
	char		*b = buf[k++ % 4];
	size_t		 o = 0;

	for (; *s != '\0' && o + 5 < sizeof buf[0]; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			o += (size_t)snprintf(b + o, 5, "\\x%02x",
			    (unsigned char)*s);
		else
			b[o++] = *s;
	}
	b[o] = '\0';
	return b;
}

static void
test_age(void)
{
	int64_t	 secs;
	char	*cause;
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof ages / sizeof ages[0]; i++) {
		secs = -1;
		cause = NULL;
		rc = policy_age_parse(ages[i].in, &secs, &cause);
		if (ages[i].ok)
			ok(rc == 0 && secs == ages[i].secs && cause == NULL,
			    "age \"%s\" is %lld s", vis(ages[i].in),
			    ages[i].secs);
		else
			ok(rc == -EINVAL && cause != NULL, "age \"%s\" "
			    "refused: %s", vis(ages[i].in), cause ? cause : "-");
		free(cause);
	}
	rc = policy_age_parse("1 dayz", &secs, &cause);
	is_str(cause, "min_publish_age \"1 dayz\": expected a whole number, "
	    "an optional space and a unit (second, minute, hour, day, week "
	    "or month, singular or plural), as in \"7 days\", or \"0\" to "
	    "turn it off", "age cause names the value and the syntax");
	free(cause);
	rc = policy_age_parse("106751991167301 days", &secs, &cause);
	is_str(cause, "min_publish_age \"106751991167301 days\" is too long "
	    "(at most 9223372036854775807 seconds)", "overflow cause");
	free(cause);
	ok(policy_age_parse("x\x1b[31m", &secs, &cause) == -EINVAL &&
	    strstr(cause, "\\x1b") != NULL, "control bytes quoted: %s", cause);
	free(cause);
	ok(policy_age_parse("x", &secs, NULL) == -EINVAL, "cause may be NULL");
}

static const struct {
	const char	*in;
	long long	 t;		/* -1: refused */
} pubtimes[] = {
	{ "2025-11-12T19:30:12Z", 1762975812 },
	{ "2025-01-02T09:03:02Z", 1735808582 },
	{ "1970-01-01T00:00:01Z", 1 },
	{ "2000-02-29T12:00:00Z", 951825600 },		/* leap (400) */
	{ "2024-02-29T00:00:00Z", 1709164800 },		/* leap */
	{ "2023-02-28T23:59:59Z", 1677628799 },
	{ "2016-12-31T23:59:60Z", 1483228799 },		/* leap second: 59 */
	{ "2026-12-31T23:59:59Z", 1798761599 },
	{ "9999-12-31T23:59:59Z", 253402300799LL },
	{ "2023-02-29T00:00:00Z", -1 },			/* not a leap year */
	{ "1900-02-29T00:00:00Z", -1 },			/* 100, not 400 */
	{ "2025-04-31T00:00:00Z", -1 },
	{ "2025-13-01T00:00:00Z", -1 },
	{ "2025-00-01T00:00:00Z", -1 },
	{ "2025-01-00T00:00:00Z", -1 },
	{ "2025-01-32T00:00:00Z", -1 },
	{ "2025-11-12T24:00:00Z", -1 },
	{ "2025-11-12T19:60:00Z", -1 },
	{ "2025-11-12T19:30:61Z", -1 },
	{ "2025-11-12T19:30:12", -1 },			/* no Z */
	{ "2025-11-12T19:30:12z", -1 },
	{ "2025-11-12t19:30:12Z", -1 },			/* lowercase t */
	{ "2025-11-12 19:30:12Z", -1 },
	{ "2025-11-12T19:30:12ZZ", -1 },		/* extra */
	{ "2025-11-12T19:30:12Z ", -1 },
	{ " 2025-11-12T19:30:12Z", -1 },
	{ "2025-11-12T19:30:12.5Z", -1 },
	{ "2025-11-12T19:30:12+00:00", -1 },
	{ "2025-11-12T19:30:12-04", -1 },
	{ "2025-1-12T19:30:12Z", -1 },
	{ "2025-11-2T19:30:12Z", -1 },
	{ "2025-11-12T9:30:12Z", -1 },
	{ "2025-11-12T19:30: 2Z", -1 },	/* jiff would take this one */
	{ "+025-11-12T19:30:12Z", -1 },	/* and this one */
	{ "2025-11-12", -1 },
	{ "", -1 },
};

static void
test_pubtime(void)
{
	time_t	t;
	size_t	i;
	int	rc;

	for (i = 0; i < sizeof pubtimes / sizeof pubtimes[0]; i++) {
		t = 0;
		rc = policy_pubtime_parse(pubtimes[i].in,
		    strlen(pubtimes[i].in), &t);
		if (pubtimes[i].t >= 0)
			ok(rc == 0 && (long long)t == pubtimes[i].t,
			    "pubtime \"%s\" is %lld (got %lld)",
			    pubtimes[i].in, pubtimes[i].t, (long long)t);
		else
			ok(rc == -EINVAL, "pubtime \"%s\" refused",
			    pubtimes[i].in);
	}
	ok(policy_pubtime_parse("2025-11-12T19:30:12Zjunk", 20, &t) == 0 &&
	    t == 1762975812, "pubtime reads len bytes, no NUL needed");
	ok(policy_pubtime_parse("2025-11-12T19:30:12Z", 19, &t) == -EINVAL,
	    "pubtime of 19 bytes refused");
}

static const struct {
	const char	*text, *name, *req;	/* name NULL: refused */
} rules[] = {
	{ "foo", "foo", NULL },
	{ "foo@<1.2.4", "foo", "<1.2.4" },
	{ "foo@=0.3.1", "foo", "=0.3.1" },
	{ "Foo_Bar@>=1, <2", "Foo_Bar", ">=1, <2" },
	{ "foo@1.2", "foo", "1.2" },
	{ "foo@*", "foo", "*" },
	{ "foo@", NULL, NULL },
	{ "@1.0", NULL, NULL },
	{ "", NULL, NULL },
	{ "1foo", NULL, NULL },
	{ "foo bar", NULL, NULL },
	{ "foo@<1.2.4@x", NULL, NULL },
	{ "foo@bad", NULL, NULL },
	{ "foo@<01.2", NULL, NULL },
	{ "foo@1.2.3.4", NULL, NULL },
	{ "foo@>= 1.0,", NULL, NULL },
	{ "a-very-long-name-that-goes-on-and-on-and-on-past-sixty-four-bytes",
	  NULL, NULL },
};

static void
test_rule_parse(void)
{
	struct policy_rule	r;
	char			*cause;
	size_t			 i;
	int			 rc;

	for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		cause = NULL;
		rc = policy_rule_parse(rules[i].text, &r, &cause);
		if (rules[i].name != NULL) {
			ok(rc == 0 && strcmp(r.name, rules[i].name) == 0 &&
			    (rules[i].req == NULL ? r.req == NULL :
			    r.req != NULL && strcmp(r.req, rules[i].req) == 0)
			    && strcmp(r.text, rules[i].text) == 0 &&
			    r.reason == NULL, "rule \"%s\"", rules[i].text);
			policy_rule_clear(&r);
		} else
			ok(rc == -EINVAL && cause != NULL && r.name == NULL &&
			    r.req == NULL && r.text == NULL, "rule \"%s\" "
			    "refused: %s", rules[i].text, cause ? cause : "-");
		free(cause);
	}
	policy_rule_parse("foo@", &r, &cause);
	is_str(cause, "rule \"foo@\": nothing follows '@' (write NAME for "
	    "every version, or NAME@REQ as in foo@<1.2.4)", "empty req cause");
	free(cause);
	policy_rule_parse("foo@bad", &r, &cause);
	ok(strncmp(cause, "rule \"foo@bad\": invalid version requirement "
	    "\"bad\"", 45) == 0, "bad req cause: %s", cause);
	free(cause);
	policy_rule_parse("1foo", &r, &cause);
	ok(strncmp(cause, "rule \"1foo\": ", 13) == 0 && strstr(cause,
	    "letter") != NULL, "bad name cause: %s", cause);
	free(cause);
	ok(policy_rule_parse("foo@", &r, NULL) == -EINVAL, "cause NULL");
	policy_rule_clear(&r);
}

/* The verdict of name@vers with only rules (no age, no advisories). */
static const char *
ruled(const char *rule, const char *name, const char *vers, int block)
{
	static char			 out[600];
	struct policy_settings		 s;
	struct policy_rule		 r;
	struct policy_times		 t = { 0, 0 };
	struct verdict_info		 v;

	memset(&s, 0, sizeof s);
	if (policy_rule_parse(rule, &r, NULL) != 0)
		return "(bad rule)";
	if (!block) {
		s.deny = &r;
		s.ndeny = 1;
	}
	policy_decide(&s, block ? &r : NULL, block ? 1 : 0, NULL, name, vers,
	    &t, 1000, &v);
	snprintf(out, sizeof out, "%s/%s %s", verdict_name(v.verdict),
	    verdict_source_name(v.source), v.rule);
	policy_rule_clear(&r);
	return out;
}

static const struct {
	const char	*rule, *name, *vers, *want;
} matches[] = {
	{ "foo", "foo", "1.0.0", "deny/deny foo" },
	{ "foo", "FOO", "9.9.9-rc.1", "deny/deny foo" },
	{ "foo-bar", "foo_bar", "1.0.0", "deny/deny foo-bar" },
	{ "Foo_Bar", "foo-bar", "1.0.0", "deny/deny Foo_Bar" },
	{ "foo", "foobar", "1.0.0", "allow/none " },
	{ "foo", "fo", "1.0.0", "allow/none " },
	{ "foo@<1.2.4", "foo", "1.2.3", "deny/deny foo@<1.2.4" },
	{ "foo@<1.2.4", "foo", "1.2.4", "allow/none " },
	{ "foo@<1.2.4", "foo", "1.2.4-rc.1", "deny/deny foo@<1.2.4" },
	{ "foo@<1.2.4", "foo", "0.1.0-alpha", "deny/deny foo@<1.2.4" },
	{ "foo@<1.2.4", "foo", "2.0.0", "allow/none " },
	{ "foo@=0.3.1", "foo", "0.3.1", "deny/deny foo@=0.3.1" },
	{ "foo@=0.3.1", "foo", "0.3.1+build.7", "deny/deny foo@=0.3.1" },
	{ "foo@=0.3.1", "foo", "0.3.2", "allow/none " },
	{ "foo@=0.3.1", "foo", "0.3.1-pre", "allow/none " },
	{ "foo@0.3", "foo", "0.3.9", "deny/deny foo@0.3" },
	{ "foo@0.3", "foo", "0.4.0", "allow/none " },
	{ "foo@>=1, <2", "foo", "1.9.9", "deny/deny foo@>=1, <2" },
	{ "foo", "foo", "not-a-version", "allow/none " },
	{ "foo", "-bad-name-", "1.0.0", "allow/none " },
};

static void
test_rule_match(void)
{
	size_t	i;

	for (i = 0; i < sizeof matches / sizeof matches[0]; i++)
		is_str(ruled(matches[i].rule, matches[i].name,
		    matches[i].vers, 0), matches[i].want, "deny %s: %s@%s",
		    matches[i].rule, matches[i].name, matches[i].vers);
	is_str(ruled("foo@<1.2.4", "Foo", "1.0.0", 1),
	    "deny/block foo@<1.2.4", "a block matches like a deny rule");
}

/* A snapshot in the main layout, written for these cases. */
static struct advisory_db *
tiny_db(void)
{
	static const struct {
		const char	*path, *text;
	} files[] = {
		{ "crates/evil/RUSTSEC-2025-0001.md", "```toml\n[advisory]\n"
		  "id = \"RUSTSEC-2025-0001\"\npackage = \"evil\"\n"
		  "date = \"2025-01-01\"\ncategories = [\"malicious\"]\n"
		  "[versions]\npatched = []\n```\n\n# evil steals keys\n" },
		{ "crates/vuln/RUSTSEC-2025-0002.md", "```toml\n[advisory]\n"
		  "id = \"RUSTSEC-2025-0002\"\npackage = \"vuln\"\n"
		  "date = \"2025-02-01\"\n"
		  "categories = [\"memory-corruption\"]\n[versions]\n"
		  "patched = [\">= 1.2.0\"]\n```\n" },
		{ "crates/vuln/RUSTSEC-2025-0003.md", "```toml\n[advisory]\n"
		  "id = \"RUSTSEC-2025-0003\"\npackage = \"vuln\"\n"
		  "date = \"2025-03-01\"\ninformational = \"unsound\"\n"
		  "[versions]\npatched = [\">= 1.5.0\"]\n```\n" },
		{ "crates/vuln/RUSTSEC-2025-0004.md", "```toml\n[advisory]\n"
		  "id = \"RUSTSEC-2025-0004\"\npackage = \"vuln\"\n"
		  "date = \"2025-04-01\"\nwithdrawn = \"2025-04-02\"\n"
		  "categories = [\"denial-of-service\"]\n[versions]\n"
		  "patched = [\">= 2.0.0\"]\n```\n" },
		{ "crates/gone/RUSTSEC-2025-0005.md", "```toml\n[advisory]\n"
		  "id = \"RUSTSEC-2025-0005\"\npackage = \"gone\"\n"
		  "date = \"2025-05-01\"\nwithdrawn = \"2025-05-02\"\n"
		  "categories = [\"malicious\"]\n[versions]\npatched = []\n"
		  "```\n" },
	};
	struct advisory_db	*db;
	char			 dir[] = "/tmp/test_policy.XXXXXX", path[256];
	char			*cause = NULL, *cmd;
	FILE			*f;
	size_t			 i;

	if (mkdtemp(dir) == NULL)
		return NULL;
	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i].path);
		*strrchr(path, '/') = '\0';
		cmd = xasprintf("mkdir -p '%s'", path);
		if (system(cmd) != 0)
			return NULL;
		free(cmd);
		snprintf(path, sizeof path, "%s/%s", dir, files[i].path);
		if ((f = fopen(path, "w")) == NULL)
			return NULL;
		fputs(files[i].text, f);
		fclose(f);
	}
	if (advisory_db_load(dir, &db, &cause) != 0) {
		printf("# %s\n", cause);
		free(cause);
		db = NULL;
	}
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	free(cmd);
	return db;
}

struct dcase {
	const char	*name, *vers;
	long long	 pubtime, first_seen;
	const char	*want;		/* "verdict/source rule | reason" */
};

/* now = 2026-12-07T12:00:00Z; min_publish_age 7 days; deny foo@<1.2.4;
 * block baz@=1.0.0 (reason "token stolen") and held@*; exempt
 * "mycorp-*"; advisory_action flag. */
#define NOW	1796644800LL
#define PUB	1796637600LL	/* 2026-12-07T10:00:00Z, 2 hours before */
static const struct dcase dcases[] = {
	{ "serde", "1.0.0", 0, 0, "allow/none  | " },
	{ "serde", "1.0.0", NOW - 8 * DAY, 0, "allow/none  | " },
	{ "serde", "1.0.0", NOW - 7 * DAY, 0, "allow/none  | " },
	{ "serde", "1.0.0", NOW - 7 * DAY + 1, 0, "hold/age min_publish_age "
	  "7 days | published 2026-11-30T12:00:01Z, 6 days ago; held until "
	  "2026-12-07T12:00:01Z (min_publish_age 7 days)" },
	{ "serde", "1.0.0", PUB, 0, "hold/age min_publish_age 7 days | "
	  "published 2026-12-07T10:00:00Z, 2 hours ago; held until "
	  "2026-12-14T10:00:00Z (min_publish_age 7 days)" },
	{ "serde", "1.0.0", NOW + 3 * 3600, 0, "hold/age min_publish_age 7 "
	  "days | published 2026-12-07T15:00:00Z, 3 hours from now, in the "
	  "future; held until 2026-12-14T15:00:00Z (min_publish_age 7 days)" },
	{ "serde", "1.0.0", 0, PUB, "hold/age min_publish_age 7 days | first "
	  "seen 2026-12-07T10:00:00Z, 2 hours ago (no pubtime); held until "
	  "2026-12-14T10:00:00Z (min_publish_age 7 days)" },
	{ "serde", "1.0.0", NOW - 30 * DAY, PUB, "allow/none  | " },
	{ "serde", "1.0.0", 0, NOW - 30 * DAY, "allow/none  | " },
	{ "mycorp-utils", "1.0.0", PUB, 0, "allow/none  | " },
	{ "MyCorp-Utils", "1.0.0", PUB, 0, "allow/none  | " },
	{ "mycorp_utils", "1.0.0", PUB, 0, "allow/none  | " },
	{ "mycorpx", "1.0.0", PUB, 0, "hold/age min_publish_age 7 days | "
	  "published 2026-12-07T10:00:00Z, 2 hours ago; held until "
	  "2026-12-14T10:00:00Z (min_publish_age 7 days)" },
	{ "foo", "1.2.3", PUB, 0, "deny/deny foo@<1.2.4 | deny rule "
	  "foo@<1.2.4 in registry config" },
	{ "foo", "1.2.4", PUB, 0, "hold/age min_publish_age 7 days | "
	  "published 2026-12-07T10:00:00Z, 2 hours ago; held until "
	  "2026-12-14T10:00:00Z (min_publish_age 7 days)" },
	{ "baz", "1.0.0", 0, 0, "deny/block baz@=1.0.0 | blocked: token "
	  "stolen (crated block baz@=1.0.0)" },
	{ "held", "3.0.0", 0, 0, "deny/block held | blocked (crated block "
	  "held)" },
	{ "evil", "0.1.0", 0, 0, "deny/advisory RUSTSEC-2025-0001 | "
	  "RUSTSEC-2025-0001 (malicious)" },
	{ "Evil", "0.1.0", PUB, 0, "deny/advisory RUSTSEC-2025-0001 | "
	  "RUSTSEC-2025-0001 (malicious)" },
	{ "vuln", "1.0.0", 0, 0, "flag/advisory RUSTSEC-2025-0002 | "
	  "RUSTSEC-2025-0002 (memory-corruption)" },
	{ "vuln", "1.0.0", PUB, 0, "hold/age min_publish_age 7 days | "
	  "published 2026-12-07T10:00:00Z, 2 hours ago; held until "
	  "2026-12-14T10:00:00Z (min_publish_age 7 days)" },
	{ "vuln", "1.2.0", 0, 0, "allow/none  | " },	/* unsound: ignored */
	{ "vuln", "1.9.0", 0, 0, "allow/none  | " },	/* withdrawn */
	{ "gone", "1.0.0", 0, 0, "allow/none  | " },	/* withdrawn */
	{ "vuln", "not.a.version", 0, 0, "allow/none  | " },
};

static void
decide(const struct policy_settings *s, const struct policy_rule *b,
    size_t nb, const struct advisory_db *db, const struct dcase *c,
    const char *what)
{
	struct policy_times	t = { (time_t)c->pubtime, (time_t)c->first_seen };
	struct verdict_info	v;
	char			got[1024];

	policy_decide(s, b, nb, db, c->name, c->vers, &t, (time_t)NOW, &v);
	snprintf(got, sizeof got, "%s/%s %s | %s", verdict_name(v.verdict),
	    verdict_source_name(v.source), v.rule, v.reason);
	is_str(got, c->want, "%s%s@%s pubtime %lld first_seen %lld", what,
	    c->name, c->vers, c->pubtime, c->first_seen);
}

static void
test_decide(void)
{
	struct policy_settings	 s;
	struct policy_rule	 deny, b[2];
	struct policy_times	 t = { (time_t)PUB, 0 };
	struct verdict_info	 v;
	struct advisory_db	*db = tiny_db();
	char			 glob[] = "mycorp-*", *exempt[] = { glob };
	size_t			 i;

	ok(db != NULL && advisory_db_count(db) == 5, "tiny snapshot loads");
	if (db == NULL)
		return;
	memset(&s, 0, sizeof s);
	policy_rule_parse("foo@<1.2.4", &deny, NULL);
	policy_rule_parse("baz@=1.0.0", &b[0], NULL);
	b[0].reason = xstrdup("token stolen");
	policy_rule_parse("held", &b[1], NULL);
	s.min_publish_age = 7 * DAY;
	s.age_exempt = exempt;
	s.nage_exempt = 1;
	s.deny = &deny;
	s.ndeny = 1;
	s.advisory_action = VERDICT_FLAG;
	for (i = 0; i < sizeof dcases / sizeof dcases[0]; i++)
		decide(&s, b, 2, db, &dcases[i], "");

	/* the time fields */
	policy_decide(&s, b, 2, db, "serde", "1.0.0", &t, (time_t)NOW, &v);
	ok(v.published == (time_t)PUB && !v.from_first_seen &&
	    v.until == (time_t)(PUB + 7 * DAY), "hold: published and until");
	t.pubtime = 0;
	t.first_seen = (time_t)PUB;
	policy_decide(&s, b, 2, db, "serde", "1.0.0", &t, (time_t)NOW, &v);
	ok(v.published == (time_t)PUB && v.from_first_seen, "first seen");
	policy_decide(&s, b, 2, db, "foo", "1.0.0", &t, (time_t)NOW, &v);
	ok(v.verdict == VERDICT_DENY && v.until == 0, "deny: no until");
	t.first_seen = (time_t)(NOW - 30 * DAY);
	policy_decide(&s, b, 2, db, "serde", "1.0.0", &t, (time_t)NOW, &v);
	ok(v.verdict == VERDICT_ALLOW && v.until == 0 &&
	    v.published == (time_t)(NOW - 30 * DAY), "allow: published kept");

	/* advisory_action, informational, withdrawn, hosted, no db */
	{
		static const struct dcase hold = { "vuln", "1.0.0", 0, 0,
		    "hold/advisory RUSTSEC-2025-0002 | RUSTSEC-2025-0002 "
		    "(memory-corruption)" };
		static const struct dcase holdpub = { "vuln", "1.0.0", PUB,
		    0, "hold/advisory RUSTSEC-2025-0002 | RUSTSEC-2025-0002 "
		    "(memory-corruption)" };
		static const struct dcase deny1 = { "vuln", "1.0.0", 0, 0,
		    "deny/advisory RUSTSEC-2025-0002 | RUSTSEC-2025-0002 "
		    "(memory-corruption), RUSTSEC-2025-0003 (unsound), "
		    "RUSTSEC-2025-0004 (denial-of-service)" };
		static const struct dcase inf = { "vuln", "1.2.0", 0, 0,
		    "deny/advisory RUSTSEC-2025-0003 | RUSTSEC-2025-0003 "
		    "(unsound), RUSTSEC-2025-0004 (denial-of-service)" };
		static const struct dcase gone = { "gone", "1.0.0", 0, 0,
		    "deny/advisory RUSTSEC-2025-0005 | RUSTSEC-2025-0005 "
		    "(malicious)" };
		static const struct dcase hosted = { "serde", "1.0.0", PUB, 0,
		    "allow/none  | " };
		static const struct dcase hosted_deny = { "foo", "1.0.0", PUB,
		    0, "deny/deny foo@<1.2.4 | deny rule foo@<1.2.4 in "
		    "registry config" };
		static const struct dcase nodb = { "evil", "0.1.0", 0, 0,
		    "allow/none  | " };
		static const struct dcase off = { "serde", "1.0.0", PUB, 0,
		    "allow/none  | " };

		s.advisory_action = VERDICT_HOLD;
		decide(&s, b, 2, db, &hold, "action hold: ");
		decide(&s, b, 2, db, &holdpub, "action hold over age: ");
		s.advisory_action = VERDICT_DENY;
		s.advisory_informational = true;
		s.advisory_withdrawn = true;
		decide(&s, b, 2, db, &deny1, "action deny, all counted: ");
		decide(&s, b, 2, db, &inf, "informational counted: ");
		decide(&s, b, 2, db, &gone, "withdrawn counted: ");
		s.hosted = true;
		decide(&s, b, 2, db, &hosted, "hosted: ");
		decide(&s, b, 2, db, &hosted_deny, "hosted, rule: ");
		s.hosted = false;
		decide(&s, NULL, 0, NULL, &nodb, "no snapshot: ");
		s.min_publish_age = 0;
		decide(&s, NULL, 0, NULL, &off, "age off: ");
	}
	policy_rule_clear(&deny);
	policy_rule_clear(&b[0]);
	policy_rule_clear(&b[1]);
	advisory_db_free(db);
}

static void
test_names(void)
{
	enum verdict	v = VERDICT_ALLOW;

	is_str(verdict_name(VERDICT_ALLOW), "allow", "allow");
	is_str(verdict_name(VERDICT_FLAG), "flag", "flag");
	is_str(verdict_name(VERDICT_HOLD), "hold", "hold");
	is_str(verdict_name(VERDICT_DENY), "deny", "deny");
	is_str(verdict_source_name(SOURCE_NONE), "none", "none");
	is_str(verdict_source_name(SOURCE_AGE), "age", "age");
	is_str(verdict_source_name(SOURCE_DENY), "deny", "deny source");
	is_str(verdict_source_name(SOURCE_BLOCK), "block", "block");
	is_str(verdict_source_name(SOURCE_ADVISORY), "advisory", "advisory");
	ok(verdict_parse("hold", &v) == 0 && v == VERDICT_HOLD, "parse hold");
	ok(verdict_parse("deny", &v) == 0 && v == VERDICT_DENY, "parse deny");
	ok(verdict_parse("flag", &v) == 0 && v == VERDICT_FLAG, "parse flag");
	ok(verdict_parse("allow", &v) == -EINVAL, "allow is no action");
	ok(verdict_parse("Deny", &v) == -EINVAL, "case matters");
}

int
main(void)
{
	test_names();
	test_age();
	test_pubtime();
	test_rule_parse();
	test_rule_match();
	test_decide();
	return done_testing();
}
