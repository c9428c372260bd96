/* policy/filter.c: index files as served under a policy, byte for byte.
 * The files of tests/data/policy/index/ are crates.io's own (from the
 * 2025 sample: lzw, qoi with yanked versions, wax whose "yanked" is not
 * the last member); the expected output is each file with the one value
 * changed, made here by plain string surgery. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "policy/policy.h"
#include "tests/tap.h"

#define DAY	86400
#define NOW	1796644800	/* 2026-12-07T12:00:00Z */

static struct policy_settings	 set;
static struct policy_rule	 rules[4];
static size_t			 nrules;

static void
deny(const char *text)
{
	if (policy_rule_parse(text, &rules[nrules], NULL) == 0)
		nrules++;
	set.deny = rules;
	set.ndeny = nrules;
}

static void
reset(void)
{
	while (nrules > 0)
		policy_rule_clear(&rules[--nrules]);
	memset(&set, 0, sizeof set);
	set.advisory_action = VERDICT_FLAG;
}

/* first_seen: versions listed here were first seen at the time given. */
static const char	*seen_vers;
static time_t		 seen_at;
static int		 seen_calls;

static time_t
first_seen(const char *name, const char *vers, void *arg)
{
	seen_calls++;
	if (strcmp(name, (const char *)arg) != 0)
		return 1;	/* wrong name: would show as a hold */
	return seen_vers != NULL && strcmp(vers, seen_vers) == 0 ? seen_at : 0;
}

static void
filter(const char *name, const char *in, size_t len,
    struct policy_filtered *out)
{
	policy_filter_index(&set, NULL, 0, NULL, name, in, len, first_seen,
	    (void *)(uintptr_t)name, NOW, out);
}

/* s with the first occurrence of from (after the n-th line start)
 * replaced by to: the expected file. */
static char *
replace(const char *s, int line, const char *from, const char *to)
{
	const char	*p = s, *at;

	while (line-- > 0)
		p = strchr(p, '\n') + 1;
	at = strstr(p, from);
	return xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

static int
same(const struct policy_filtered *f, const char *want)
{
	int	eq = f->body != NULL && f->len == strlen(want) &&
		    memcmp(f->body, want, f->len) == 0;

	if (!eq && f->body != NULL)
		printf("#   got  %.*s#   want %s", (int)f->len, f->body, want);
	return eq;
}

static void
test_real_files(void)
{
	struct policy_filtered	 f;
	char			*lzw, *qoi, *wax, *want, *want2;
	size_t			 lzwn, qoin, waxn;

	lzw = test_data("policy/index/lzw", &lzwn);
	qoi = test_data("policy/index/qoi", &qoin);
	wax = test_data("policy/index/wax", &waxn);
	ok(lzw != NULL && qoi != NULL && wax != NULL, "real files read");
	if (lzw == NULL || qoi == NULL || wax == NULL)
		return;

	reset();
	filter("lzw", lzw, lzwn, &f);
	ok(f.body == NULL && f.len == 0 && f.held == 0 && f.denied == 0 &&
	    f.next_change == 0, "nothing applies: no copy");
	policy_filtered_clear(&f);

	deny("lzw@=0.2.0");
	filter("lzw", lzw, lzwn, &f);
	want = replace(lzw, 1, "\"yanked\":false", "\"yanked\":true");
	ok(same(&f, want) && f.denied == 1 && f.held == 0, "lzw: a denied "
	    "line gets yanked:true, every other byte kept");
	free(want);
	policy_filtered_clear(&f);

	set.hide = true;
	filter("LZW", lzw, lzwn, &f);
	want2 = xasprintf("%.*s%s", (int)(strchr(lzw, '\n') + 1 - lzw), lzw,
	    strchr(strchr(lzw, '\n') + 1, '\n') + 1);
	ok(same(&f, want2) && f.denied == 1, "hide: the line and its "
	    "newline dropped (name compared as crates.io does)");
	free(want2);
	policy_filtered_clear(&f);

	reset();
	deny("qoi");
	filter("qoi", qoi, qoin, &f);
	want = replace(qoi, 5, "\"yanked\":false", "\"yanked\":true");
	want2 = replace(want, 6, "\"yanked\":false", "\"yanked\":true");
	ok(same(&f, want2) && f.denied == 7, "qoi: yanked lines as they "
	    "were, the two others yanked, all 7 counted");
	free(want);
	free(want2);
	policy_filtered_clear(&f);

	reset();
	set.min_publish_age = 7 * DAY;
	seen_vers = "0.6.0";
	seen_at = NOW - 3600;
	seen_calls = 0;
	filter("wax", wax, waxn, &f);
	want = replace(wax, 6, "\"yanked\":false", "\"yanked\":true");
	ok(same(&f, want) && f.held == 1 && f.next_change == NOW - 3600 +
	    7 * DAY && seen_calls == 7, "wax: a version first seen an hour "
	    "ago is held in place (yanked is not the last member); "
	    "next_change is its hold's end");
	free(want);
	policy_filtered_clear(&f);
	set.hosted = true;
	seen_calls = 0;
	filter("wax", wax, waxn, &f);
	ok(f.body == NULL && f.held == 0 && seen_calls == 0, "hosted: no "
	    "age, first_seen not asked");
	policy_filtered_clear(&f);
	free(lzw);
	free(qoi);
	free(wax);
}

/* Lines made for the cases real files lack; NAME "x". */
static const struct {
	const char	*what, *in, *want;	/* want NULL: no change */
} lines[] = {
	{ "no yanked member: added before the brace",
	  "{\"name\":\"x\",\"vers\":\"1.0.0\",\"deps\":[],\"features\":{}}\n",
	  "{\"name\":\"x\",\"vers\":\"1.0.0\",\"deps\":[],\"features\":{},"
	  "\"yanked\":true}\n" },
	{ "only vers",
	  "{\"vers\":\"1.0.0\"}", "{\"vers\":\"1.0.0\",\"yanked\":true}" },
	{ "blanks kept",
	  "{ \"vers\" : \"1.0.0\" , \"yanked\" : false }\n",
	  "{ \"vers\" : \"1.0.0\" , \"yanked\" : true }\n" },
	{ "blanks, no yanked",
	  " {\"vers\":\"1.0.0\" } \n", " {\"vers\":\"1.0.0\" ,\"yanked\":true} \n" },
	{ "CRLF", "{\"vers\":\"1.0.0\"}\r\n",
	  "{\"vers\":\"1.0.0\",\"yanked\":true}\r\n" },
	{ "yanked null", "{\"vers\":\"1.0.0\",\"yanked\":null,\"v\":2}\n",
	  "{\"vers\":\"1.0.0\",\"yanked\":true,\"v\":2}\n" },
	{ "escaped key",
	  "{\"vers\":\"1.0.0\",\"yank\\u0065d\":false}\n",
	  "{\"vers\":\"1.0.0\",\"yank\\u0065d\":true}\n" },
	{ "escaped version",
	  "{\"vers\":\"1.0.\\u0030\",\"yanked\":false}\n",
	  "{\"vers\":\"1.0.\\u0030\",\"yanked\":true}\n" },
	{ "non-ASCII elsewhere (jansson's way)",
	  "{\"vers\":\"1.0.0\",\"d\":\"caf\xc3\xa9\",\"yanked\":false}\n",
	  "{\"vers\":\"1.0.0\",\"d\":\"caf\xc3\xa9\",\"yanked\":true}\n" },
	{ "a yanked inside deps is not the line's",
	  "{\"deps\":[{\"yanked\":false}],\"vers\":\"1.0.0\"}\n",
	  "{\"deps\":[{\"yanked\":false}],\"vers\":\"1.0.0\","
	  "\"yanked\":true}\n" },
	{ "strings with braces and quotes",
	  "{\"f\":\"}\\\"{\",\"vers\":\"1.0.0\",\"yanked\":false,\"g\":[\"]\"]}\n",
	  "{\"f\":\"}\\\"{\",\"vers\":\"1.0.0\",\"yanked\":true,\"g\":[\"]\"]}\n" },
	{ "already yanked", "{\"vers\":\"1.0.0\",\"yanked\":true}\n", NULL },
	{ "not JSON", "{\"vers\":\"1.0.0\",\"yanked\":false\n", NULL },
	{ "duplicate key", "{\"vers\":\"1.0.0\",\"vers\":\"1.0.1\"}\n", NULL },
	{ "not an object", "[\"vers\",\"1.0.0\"]\n", NULL },
	{ "no vers", "{\"name\":\"x\",\"yanked\":false}\n", NULL },
	{ "vers not a string", "{\"vers\":100,\"yanked\":false}\n", NULL },
	{ "vers not SemVer", "{\"vers\":\"1.0\",\"yanked\":false}\n", NULL },
	{ "empty line", "\n", NULL },
	{ "blank line", "   \n", NULL },
};

static void
test_lines(void)
{
	struct policy_filtered	f;
	size_t			i;

	reset();
	deny("x");
	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		filter("x", lines[i].in, strlen(lines[i].in), &f);
		if (lines[i].want != NULL)
			ok(same(&f, lines[i].want) && f.denied == 1,
			    "%s", lines[i].what);
		else
			ok(f.body == NULL, "%s: left as it is", lines[i].what);
		policy_filtered_clear(&f);
	}
}

static void
test_mixed(void)
{
	static const char	in[] =
	    "{\"vers\":\"1.0.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-11-01T00:00:00Z\"}\n"
	    "garbage\n"
	    "{\"vers\":\"1.1.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-12-07T10:00:00Z\"}\n"
	    "{\"vers\":\"1.2.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-12-07T09:00:00Z\"}\n"
	    "{\"vers\":\"1.3.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T08:00:00Z\"}\n"
	    "{\"vers\":\"1.4.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-12-07 11:00:00Z\"}\n"
	    "{\"vers\":\"2.0.0\",\"yanked\":false}";
	static const char	want[] =
	    "{\"vers\":\"1.0.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-11-01T00:00:00Z\"}\n"
	    "garbage\n"
	    "{\"vers\":\"1.1.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T10:00:00Z\"}\n"
	    "{\"vers\":\"1.2.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T09:00:00Z\"}\n"
	    "{\"vers\":\"1.3.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T08:00:00Z\"}\n"
	    "{\"vers\":\"1.4.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07 11:00:00Z\"}\n"
	    "{\"vers\":\"2.0.0\",\"yanked\":false}";
	static const char	hidden[] =
	    "{\"vers\":\"1.0.0\",\"yanked\":false,"
	    "\"pubtime\":\"2026-11-01T00:00:00Z\"}\n"
	    "garbage\n"
	    "{\"vers\":\"1.1.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T10:00:00Z\"}\n"
	    "{\"vers\":\"1.2.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T09:00:00Z\"}\n"
	    "{\"vers\":\"1.3.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07T08:00:00Z\"}\n"
	    "{\"vers\":\"1.4.0\",\"yanked\":true,"
	    "\"pubtime\":\"2026-12-07 11:00:00Z\"}\n";
	struct policy_filtered	f;

	reset();
	set.min_publish_age = 7 * DAY;
	seen_vers = "1.4.0";		/* its pubtime is malformed */
	seen_at = NOW - 1800;
	seen_calls = 0;
	filter("x", in, sizeof in - 1, &f);
	ok(same(&f, want), "pubtimes: the new ones held, the old one and one "
	    "without a time left, garbage kept, no newline at the end kept");
	ok(f.held == 4 && f.denied == 0, "4 held (one already yanked)");
	ok(f.next_change == NOW - 3 * 3600 + 7 * DAY, "next_change: the "
	    "earliest end of a hold that changed a line (1.2.0's, not "
	    "1.3.0's, which was yanked anyway)");
	ok(seen_calls == 2, "first_seen asked only for the lines without a "
	    "valid pubtime (1.4.0 and 2.0.0): %d", seen_calls);
	policy_filtered_clear(&f);

	deny("x@=2.0.0");
	set.hide = true;
	filter("x", in, sizeof in - 1, &f);
	ok(same(&f, hidden) && f.denied == 1, "hide: the last line (no "
	    "newline) dropped");
	policy_filtered_clear(&f);

	filter("x", "", 0, &f);
	ok(f.body == NULL && f.held == 0, "an empty file");
	policy_filtered_clear(&f);
	policy_filtered_clear(&f);
	ok(f.body == NULL, "clear twice");
}

int
main(void)
{
	test_real_files();
	test_lines();
	test_mixed();
	reset();
	return done_testing();
}
