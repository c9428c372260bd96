/* SemVer 2.0.0 parsing and precedence (index/semver.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/semver.h"
#include "tests/tap.h"

/* Valid versions and their parts; pre and build "" when absent. */
static const struct {
	const char	*s;
	uint64_t	 major, minor, patch;
	const char	*pre, *build;
} good[] = {
	{ "0.0.0",		0, 0, 0, "", "" },
	{ "1.2.3",		1, 2, 3, "", "" },
	{ "10.20.30",		10, 20, 30, "", "" },
	{ "1.0.0-alpha",	1, 0, 0, "alpha", "" },
	{ "1.0.0-alpha.1",	1, 0, 0, "alpha.1", "" },
	{ "1.0.0-0.3.7",	1, 0, 0, "0.3.7", "" },
	{ "1.0.0-x.7.z.92",	1, 0, 0, "x.7.z.92", "" },
	{ "1.0.0-x-y-z.--",	1, 0, 0, "x-y-z.--", "" },
	{ "1.0.0-0a",		1, 0, 0, "0a", "" },
	{ "1.0.0-00a",		1, 0, 0, "00a", "" },
	{ "1.0.0-alpha+001",	1, 0, 0, "alpha", "001" },
	{ "1.0.0+20130313144700", 1, 0, 0, "", "20130313144700" },
	{ "1.0.0-beta+exp.sha.5114f85", 1, 0, 0, "beta", "exp.sha.5114f85" },
	{ "1.0.0+21AF26D3----117B344092BD", 1, 0, 0, "",
	    "21AF26D3----117B344092BD" },
	{ "1.0.0+0.build.1-rc.10000aaa-kk-0.1", 1, 0, 0, "",
	    "0.build.1-rc.10000aaa-kk-0.1" },
	{ "0.2.0-beta.1+build.5", 0, 2, 0, "beta.1", "build.5" },
	{ "1.0.0-99999999999999999999999", 1, 0, 0,
	    "99999999999999999999999", "" },
	{ "18446744073709551615.0.0", UINT64_MAX, 0, 0, "", "" },
	{ "0.18446744073709551615.1", 0, UINT64_MAX, 1, "", "" },
};

/* Invalid versions and the reason given after the quoted version. */
static const struct {
	const char	*s, *why;
} bad[] = {
	{ "",			"expected a number" },
	{ "1",			"expected MAJOR.MINOR.PATCH" },
	{ "1.2",		"expected MAJOR.MINOR.PATCH" },
	{ "1.2.",		"expected a number" },
	{ "1..3",		"expected a number" },
	{ "1.2.3.4",		"unexpected text after MAJOR.MINOR.PATCH" },
	{ "v1.2.3",		"expected a number" },
	{ " 1.2.3",		"expected a number" },
	{ "1.2.3 ",		"unexpected text after MAJOR.MINOR.PATCH" },
	{ "1.2.3\t",		"unexpected text after MAJOR.MINOR.PATCH" },
	{ "01.2.3",		"a number has a leading zero" },
	{ "1.02.3",		"a number has a leading zero" },
	{ "1.2.03",		"a number has a leading zero" },
	{ "00.0.0",		"a number has a leading zero" },
	{ "-1.2.3",		"expected a number" },
	{ "1.-2.3",		"expected a number" },
	{ "+1.2.3",		"expected a number" },
	{ "1.2.3-",		"an identifier is empty" },
	{ "1.2.3+",		"an identifier is empty" },
	{ "1.2.3-+b",		"an identifier is empty" },
	{ "1.2.3-a..b",		"an identifier is empty" },
	{ "1.2.3-a.",		"an identifier is empty" },
	{ "1.2.3-.a",		"an identifier is empty" },
	{ "1.2.3+a..b",		"an identifier is empty" },
	{ "1.2.3-01",		"a numeric identifier has a leading zero" },
	{ "1.2.3-a.00",		"a numeric identifier has a leading zero" },
	{ "1.2.3-a_b",		"an identifier has a character other than "
				"[0-9A-Za-z-]" },
	{ "1.2.3-\xc3\xa9",	"an identifier has a character other than "
				"[0-9A-Za-z-]" },
	{ "1.2.3+a+b",		"an identifier has a character other than "
				"[0-9A-Za-z-]" },
	{ "1.2.3+a b",		"an identifier has a character other than "
				"[0-9A-Za-z-]" },
	{ "1.2.3-a b",		"an identifier has a character other than "
				"[0-9A-Za-z-]" },
	{ "18446744073709551616.0.0", "a number is too large" },
	{ "0.0.99999999999999999999", "a number is too large" },
	{ "1.x.3",		"expected a number" },
	{ "latest",		"expected a number" },
	{ "^1.2.3",		"expected a number" },
};

/* semver.org §11.4 example, lowest first; then other chains. */
static const char *const chains[][10] = {
	{ "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
	  "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", NULL },
	{ "1.0.0", "2.0.0", "2.1.0", "2.1.1", NULL },
	{ "0.0.9", "0.1.0", "0.9.99", "0.10.0", "1.0.0-0", "1.0.0", "1.0.1",
	  "18446744073709551615.0.0", NULL },
	{ "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-99999999999999999999",
	  "1.0.0-100000000000000000000", "1.0.0-A", "1.0.0-a", "1.0.0-a.0",
	  "1.0.0-aa", NULL },
	{ "1.0.0-a.1", "1.0.0-a.1.1", "1.0.0-a.z", "1.0.0-a-", "1.0.0-a-b",
	  NULL },
};

/* Pairs of equal precedence. */
static const char *const equal[][2] = {
	{ "1.0.7", "1.0.7+x" },
	{ "1.0.7+a", "1.0.7+b" },
	{ "1.0.0-rc.1+a", "1.0.0-rc.1" },
};

/* semver_same_ignoring_build: a, b, expected. */
static const struct {
	const char	*a, *b;
	int		 same;
} same[] = {
	{ "1.0.7",		"1.0.7+x",		1 },
	{ "1.0.7+y",		"1.0.7+x",		1 },
	{ "1.0.7",		"1.0.7",		1 },
	{ "1.0.7-rc.1+y",	"1.0.7-rc.1",		1 },
	{ "1.0.7-rc.1",		"1.0.7-rc.2",		0 },
	{ "1.0.7-rc.1",		"1.0.7",		0 },
	{ "1.0.7",		"1.0.8",		0 },
	{ "2.0.7",		"1.0.7",		0 },
	{ "1.1.7",		"1.0.7",		0 },
	{ "1.0.7-1",		"1.0.7-01",		0 },
	{ "junk",		"junk",			1 },
	{ "junk",		"1.0.0",		0 },
	{ "1.0.0",		"junk+x",		0 },
};

static int
sign(int c)
{
	return c < 0 ? -1 : c > 0;
}

static int
cmp(const char *a, const char *b)
{
	struct semver	va, vb;

	if (semver_parse(a, &va, NULL) != 0 || semver_parse(b, &vb, NULL) != 0)
		return 99;
	return sign(semver_cmp(&va, &vb));
}

/* cargo's requirement syntax (the cargo book, "Specifying
 * dependencies"): what each comparator allows. -1: does not parse. */
static const struct {
	const char	*req, *vers;
	int		 allows;
} reqs[] = {
	{ "^1.2.3", "1.2.3", 1 },	{ "^1.2.3", "1.9.0", 1 },
	{ "^1.2.3", "1.2.2", 0 },	{ "^1.2.3", "2.0.0", 0 },
	{ "1.2.3", "1.4.0", 1 },	{ "1.2", "1.2.0", 1 },
	{ "1", "1.99.0", 1 },		{ "1", "2.0.0", 0 },
	{ "^0.2.3", "0.2.9", 1 },	{ "^0.2.3", "0.3.0", 0 },
	{ "^0.0.3", "0.0.3", 1 },	{ "^0.0.3", "0.0.4", 0 },
	{ "^0.0", "0.0.7", 1 },		{ "^0.0", "0.1.0", 0 },
	{ "^0", "0.9.0", 1 },		{ "^0", "1.0.0", 0 },
	{ "~1.2.3", "1.2.9", 1 },	{ "~1.2.3", "1.3.0", 0 },
	{ "~1.2", "1.2.0", 1 },		{ "~1", "1.9.0", 1 },
	{ "~1", "2.0.0", 0 },
	{ "=1.2.3", "1.2.3", 1 },	{ "=1.2.3", "1.2.4", 0 },
	{ "=1.2", "1.2.9", 1 },		{ "=1.2", "1.3.0", 0 },
	{ ">1.2.3", "1.2.4", 1 },	{ ">1.2.3", "1.2.3", 0 },
	{ ">1.2", "1.2.5", 0 },		{ ">1.2", "1.3.0", 1 },
	{ ">1", "1.5.0", 0 },		{ ">1", "2.0.0", 1 },
	{ ">=1.2", "1.2.0", 1 },	{ ">=1.2", "1.1.9", 0 },
	{ "<2", "1.9.9", 1 },		{ "<2", "2.0.0", 0 },
	{ "<=1.2", "1.2.9", 1 },	{ "<=1.2", "1.3.0", 0 },
	{ ">=1.2, <1.5", "1.4.9", 1 },	{ ">=1.2, <1.5", "1.5.0", 0 },
	{ "*", "7.0.0", 1 },		{ "1.*", "1.7.0", 1 },
	{ "1.*", "2.0.0", 0 },		{ "1.2.*", "1.2.7", 1 },
	{ "^1.0.0", "1.1.0-rc.1", 0 },	{ "^1.1.0-rc.1", "1.1.0-rc.2", 1 },
	{ "^1.1.0-rc.1", "1.2.0-rc.1", 0 },
	{ "^1.2.3+build", "1.2.4", 1 },
	{ "^x.y", "1.0.0", -1 },	{ "1.2.3 junk", "1.2.3", -1 },
	{ "^01.2", "1.2.0", -1 },
};

/* semver_req_covers: precedence alone, pre-releases included. */
static const struct {
	const char	*req, *vers;
	int		 allows;
} covers[] = {
	{ "<1.2.4", "1.2.4-rc.1", 1 },	/* semver_req_allows: 0 */
	{ "<1.2.4", "1.0.0-alpha", 1 },
	{ "<1.2.4", "1.2.4", 0 },
	{ "<1.2.4", "1.2.5-rc.1", 0 },
	{ "<=1.2.4", "1.2.4", 1 },
	{ ">=1.0.0, <2.0.0", "1.5.0-beta", 1 },
	{ ">=1.0.0, <2.0.0", "2.0.0-alpha", 1 },	/* below 2.0.0 */
	{ "^1.2", "1.3.0-beta", 1 },
	{ "^1.2", "2.0.0-alpha", 0 },
	{ "^1.2.3", "1.2.3-rc.1", 0 },			/* below 1.2.3 */
	{ "=1.0.0", "1.0.0-rc.1", 0 },
	{ "=1.0.0", "1.0.0", 1 },
	{ "=1.0.0", "1.0.0+build.5", 1 },
	{ "~0.3", "0.3.9-pre", 1 },
	{ "*", "3.0.0-rc.1", 1 },
	{ "1.2.3", "1.2.3", 1 },
	{ "abc", "1.0.0", -1 },
};

int
main(void)
{
	struct semver	 v;
	char		*cause, want[200];
	size_t		 i, j, k;
	int		 rc;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		cause = NULL;
		rc = semver_parse(good[i].s, &v, &cause);
		ok(rc == 0 && cause == NULL, "parse %s", good[i].s);
		ok(v.major == good[i].major && v.minor == good[i].minor &&
		    v.patch == good[i].patch, "numbers of %s", good[i].s);
		ok(v.pre_len == strlen(good[i].pre) && (v.pre_len == 0 ||
		    memcmp(v.pre, good[i].pre, v.pre_len) == 0),
		    "pre-release of %s", good[i].s);
		ok(v.build_len == strlen(good[i].build) && (v.build_len == 0 ||
		    memcmp(v.build, good[i].build, v.build_len) == 0),
		    "build of %s", good[i].s);
	}

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		rc = semver_parse(bad[i].s, &v, &cause);
		snprintf(want, sizeof want, "invalid version \"%s\": %s",
		    bad[i].s, bad[i].why);
		ok(rc == -EINVAL, "reject \"%s\"", bad[i].s);
		is_str(cause, want, "cause for \"%s\"", bad[i].s);
		free(cause);
	}
	ok(semver_parse("1.2", &v, NULL) == -EINVAL, "reject, no cause");

	for (i = 0; i < sizeof chains / sizeof chains[0]; i++)
		for (j = 0; chains[i][j] != NULL; j++)
			for (k = 0; chains[i][k] != NULL; k++)
				ok(cmp(chains[i][j], chains[i][k]) ==
				    (j < k ? -1 : j > k),
				    "%s vs %s", chains[i][j], chains[i][k]);
	for (i = 0; i < sizeof equal / sizeof equal[0]; i++) {
		ok(cmp(equal[i][0], equal[i][1]) == 0, "%s == %s",
		    equal[i][0], equal[i][1]);
		ok(semver_cmp_str(equal[i][0], equal[i][1]) == 0,
		    "str %s == %s", equal[i][0], equal[i][1]);
	}

	ok(sign(semver_cmp_str("1.0.0", "1.0.0-rc.1")) == 1, "str cmp >");
	ok(sign(semver_cmp_str("1.0.0-rc.1", "1.0.0")) == -1, "str cmp <");
	ok(sign(semver_cmp_str("0.10.0", "0.9.0")) == 1, "str cmp numeric");
	ok(sign(semver_cmp_str("99.0.0", "junk")) == -1, "valid before junk");
	ok(sign(semver_cmp_str("junk", "0.0.0")) == 1, "junk after valid");
	ok(sign(semver_cmp_str("a", "b")) == -1, "junk by strcmp");
	ok(sign(semver_cmp_str("01.0.0", "1.0.0")) == 1, "strict in cmp_str");

	for (i = 0; i < sizeof same / sizeof same[0]; i++)
		ok(semver_same_ignoring_build(same[i].a, same[i].b) ==
		    same[i].same, "same(%s, %s) == %d", same[i].a, same[i].b,
		    same[i].same);
	for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct semver	sv;

		if (semver_parse(reqs[i].vers, &sv, NULL) != 0) {
			ok(0, "test version %s parses", reqs[i].vers);
			continue;
		}
		ok(semver_req_allows(reqs[i].req, &sv) == reqs[i].allows,
		    "\"%s\" allows %s: %d", reqs[i].req, reqs[i].vers,
		    reqs[i].allows);
	}
	for (i = 0; i < sizeof covers / sizeof covers[0]; i++) {
		struct semver	sv;

		if (semver_parse(covers[i].vers, &sv, NULL) != 0) {
			ok(0, "test version %s parses", covers[i].vers);
			continue;
		}
		ok(semver_req_covers(covers[i].req, &sv) == covers[i].allows,
		    "\"%s\" covers %s: %d", covers[i].req, covers[i].vers,
		    covers[i].allows);
	}
	return done_testing();
}
