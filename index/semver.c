/* SemVer 2.0.0 (https://semver.org): parsing and precedence. */
#include "index/semver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/causequote.h"
#include "index/quote.h"

static int
isdigit_(char c)
{
	return c >= '0' && c <= '9';
}

static int
isidchar(char c)
{
	return isdigit_(c) || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c == '-';
}

/* Reads a numeric part at *sp into *out; NULL or why it is bad. */
static const char *
number(const char **sp, uint64_t *out)
{
	const char	*s = *sp;
	uint64_t	 n = 0;

	if (!isdigit_(*s))
		return "expected a number";
	if (s[0] == '0' && isdigit_(s[1]))
		return "a number has a leading zero";
	for (; isdigit_(*s); s++) {
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return "a number is too large";
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*sp = s;
	*out = n;
	return NULL;
}

/*
 * Checks the dot-separated identifiers in s[0..len); numeric ones may not
 * have leading zeros when strict (pre-release). NULL or why they are bad.
 */
static const char *
idents(const char *s, size_t len, int strict)
{
	size_t	i, start = 0;
	int	numeric = 1;

	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start)
				return "an identifier is empty";
			if (strict && numeric && s[start] == '0' &&
			    i - start > 1)
				return "a numeric identifier has a leading "
				    "zero";
			start = i + 1;
			numeric = 1;
			continue;
		}
		if (!isidchar(s[i]))
			return "an identifier has a character other than "
			    "[0-9A-Za-z-]";
		if (!isdigit_(s[i]))
			numeric = 0;
	}
	return NULL;
}

/* Why s is not a version, or NULL after filling *v. */
static const char *
parse(const char *s, struct semver *v)
{
	const char	*w, *end;

	memset(v, 0, sizeof *v);
	if ((w = number(&s, &v->major)) != NULL)
		return w;
	if (*s++ != '.')
		return "expected MAJOR.MINOR.PATCH";
	if ((w = number(&s, &v->minor)) != NULL)
		return w;
	if (*s++ != '.')
		return "expected MAJOR.MINOR.PATCH";
	if ((w = number(&s, &v->patch)) != NULL)
		return w;
	if (*s == '-') {
		s++;
		end = s + strcspn(s, "+");
		if ((w = idents(s, (size_t)(end - s), 1)) != NULL)
			return w;
		v->pre = s;
		v->pre_len = (size_t)(end - s);
		s = end;
	}
	if (*s == '+') {
		s++;
		end = s + strlen(s);
		if ((w = idents(s, (size_t)(end - s), 0)) != NULL)
			return w;
		v->build = s;
		v->build_len = (size_t)(end - s);
		s = end;
	}
	if (*s != '\0')
		return "unexpected text after MAJOR.MINOR.PATCH";
	return NULL;
}

int
semver_parse(const char *s, struct semver *v, char **cause)
{
	const char	*w;
	size_t		 len;

	if ((w = parse(s, v)) == NULL)
		return 0;
	if (cause != NULL) {
		len = strlen(s);
		*cause = xasprintf("invalid version \"%.*s%s\": %s",
		    quote_len(s, len), s,
		    len > QUOTE_MAX ? "..." : "", w);
	}
	return -EINVAL;
}

static int
cmpu64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

/* Compares one identifier pair per §11.4. */
static int
cmpident(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	i;
	int	anum = 1, bnum = 1, c;

	for (i = 0; i < alen; i++)
		anum = anum && isdigit_(a[i]);
	for (i = 0; i < blen; i++)
		bnum = bnum && isdigit_(b[i]);
	if (anum && bnum) {
		/* No leading zeros: the longer number is the larger. */
		if (alen != blen)
			return alen < blen ? -1 : 1;
		return memcmp(a, b, alen);
	}
	if (anum != bnum)
		return anum ? -1 : 1;
	c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int
cmppre(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	ai = 0, bi = 0, ae, be;
	int	c;

	if (alen == 0 || blen == 0)
		return alen == blen ? 0 : alen == 0 ? 1 : -1;
	for (;;) {
		if (ai > alen || bi > blen)
			return ai > alen ? (bi > blen ? 0 : -1) : 1;
		for (ae = ai; ae < alen && a[ae] != '.'; ae++)
			;
		for (be = bi; be < blen && b[be] != '.'; be++)
			;
		c = cmpident(a + ai, ae - ai, b + bi, be - bi);
		if (c != 0)
			return c < 0 ? -1 : 1;
		ai = ae + 1;
		bi = be + 1;
	}
}

int
semver_cmp(const struct semver *a, const struct semver *b)
{
	int	c;

	if ((c = cmpu64(a->major, b->major)) != 0 ||
	    (c = cmpu64(a->minor, b->minor)) != 0 ||
	    (c = cmpu64(a->patch, b->patch)) != 0)
		return c;
	return cmppre(a->pre, a->pre_len, b->pre, b->pre_len);
}

int
semver_cmp_str(const char *a, const char *b)
{
	struct semver	va, vb;
	int		oka, okb;

	oka = parse(a, &va) == NULL;
	okb = parse(b, &vb) == NULL;
	if (oka && okb)
		return semver_cmp(&va, &vb);
	if (oka != okb)
		return oka ? -1 : 1;
	return strcmp(a, b);
}

int
semver_same_ignoring_build(const char *a, const char *b)
{
	struct semver	va, vb;

	if (parse(a, &va) != NULL || parse(b, &vb) != NULL)
		return strcmp(a, b) == 0;
	return va.major == vb.major && va.minor == vb.minor &&
	    va.patch == vb.patch && va.pre_len == vb.pre_len &&
	    (va.pre_len == 0 || memcmp(va.pre, vb.pre, va.pre_len) == 0);
}

/* Version requirements. */

/* One comparator: an operator and a partial version ("1", "1.2",
 * "1.2.3-pre"); parts counts the numbers given. */
struct cmp {
	char		 op[3];		/* "^", "~", "=", ">", ">=", "<", "<=" */
	struct semver	 v;
	int		 parts;
};

/* Reads one comparator at *sp (up to a comma or the end). 1 for a
 * comparator, 0 for a wildcard that allows anything, -1 when it does not
 * parse. */
static int
comparator(const char **sp, struct cmp *c)
{
	const char	*s = *sp;
	uint64_t	*part[3];
	size_t		 n = 0;

	memset(c, 0, sizeof *c);
	part[0] = &c->v.major;
	part[1] = &c->v.minor;
	part[2] = &c->v.patch;
	while (*s == ' ')
		s++;
	while (n < 2 && strchr("^~=<>", *s) != NULL && *s != '\0')
		c->op[n++] = *s++;
	if (n == 0)
		c->op[0] = '^';
	while (*s == ' ')
		s++;
	for (c->parts = 0; c->parts < 3; c->parts++) {
		if (*s == '*' || *s == 'x' || *s == 'X') {
			s++;
			break;
		}
		if (number(&s, part[c->parts]) != NULL)
			return -1;
		if (*s != '.') {
			c->parts++;
			break;
		}
		s++;
	}
	if (*s == '-') {
		c->v.pre = ++s;
		while (isidchar(*s) || *s == '.')
			s++;
		c->v.pre_len = (size_t)(s - c->v.pre);
	}
	if (*s == '+')
		while (isidchar(*++s) || *s == '.')
			;
	while (*s == ' ')
		s++;
	if (*s != ',' && *s != '\0')
		return -1;
	*sp = s;
	return c->parts > 0;
}

/* cargo's rules for one comparator, missing parts taken as 0. */
static int
cmp_allows(const struct cmp *c, const struct semver *v)
{
	int	d = semver_cmp(v, &c->v);

	if (strcmp(c->op, ">") == 0)	/* ">1.2" is ">=1.3.0" */
		return c->parts == 3 ? d > 0 : v->major > c->v.major ||
		    (c->parts == 2 && v->major == c->v.major &&
		    v->minor > c->v.minor);
	if (strcmp(c->op, ">=") == 0)
		return d >= 0;
	if (strcmp(c->op, "<") == 0)
		return d < 0;
	if (strcmp(c->op, "<=") == 0)
		return d <= 0 || (c->parts < 3 && v->major == c->v.major &&
		    (c->parts < 2 || v->minor == c->v.minor));
	if (c->op[0] == '=')
		return v->major == c->v.major && (c->parts < 2 ||
		    v->minor == c->v.minor) && (c->parts < 3 || d == 0);
	if (d < 0 || v->major != c->v.major)
		return 0;
	if (c->op[0] == '~')
		return c->parts < 2 || v->minor == c->v.minor;
	/* ^ */
	if (c->v.major > 0 || c->parts == 1)
		return 1;
	if (v->minor != c->v.minor)
		return 0;
	return c->v.minor > 0 || c->parts == 2 || v->patch == c->v.patch;
}

/* semver_req_allows, with cargo's pre-release rule when prerule. */
static int
req_allows(const char *req, const struct semver *v, int prerule)
{
	const char	*s = req;
	struct cmp	 c;
	int		 rc, pre_ok = v->pre_len == 0 || !prerule;

	while (*s != '\0') {
		if ((rc = comparator(&s, &c)) < 0)
			return -1;
		if (rc == 1 && !cmp_allows(&c, v))
			return 0;
		/* A pre-release only where a comparator names one of the
		 * same major.minor.patch. */
		if (rc == 1 && c.v.pre_len > 0 && c.v.major == v->major &&
		    c.v.minor == v->minor && c.v.patch == v->patch)
			pre_ok = 1;
		if (*s == ',')
			s++;
	}
	return pre_ok;
}

int
semver_req_allows(const char *req, const struct semver *v)
{
	return req_allows(req, v, 1);
}

int
semver_req_covers(const char *req, const struct semver *v)
{
	return req_allows(req, v, 0);
}

/* Checking a requirement as cargo parses it (the semver crate's grammar,
 * which is stricter than semver_req_allows above). */

#define REQ_MAX_COMPARATORS	32

static int
iswild(char c)
{
	return c == '*' || c == 'x' || c == 'X';
}

static const char *
skipsp(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* Reads dot-separated identifiers of a pre-release (pre) or build; NULL
 * after moving *sp past them, or why they are bad. */
static const char *
reqidents(const char **sp, int pre)
{
	const char	*s = *sp, *start;
	size_t		 len;

	for (;;) {
		start = s;
		while (isidchar(*s))
			s++;
		len = (size_t)(s - start);
		if (len == 0)
			return pre ? "an empty pre-release identifier" :
			    "an empty build metadata identifier";
		if (pre && len > 1 && start[0] == '0' &&
		    strspn(start, "0123456789") == len)
			return "a numeric pre-release identifier has a leading "
			    "zero";
		if (*s != '.')
			break;
		s++;
	}
	*sp = s;
	return NULL;
}

/* One comparator at *sp up to its comma or the end; NULL or why not. */
static const char *
reqcmp(const char **sp)
{
	const char	*s = *sp, *w;
	uint64_t	 n;
	int		 patch = 0, wild = 0;

	if (*s == '>' || *s == '<')
		s += s[1] == '=' ? 2 : 1;
	else if (*s == '=' || *s == '~' || *s == '^')
		s++;
	s = skipsp(s);
	if (iswild(*s))
		return "a wildcard may stand for the minor or patch version"
		    " only, or alone for the whole requirement";
	if ((w = number(&s, &n)) != NULL)
		return w;
	if (*s == '.') {
		s++;
		if (iswild(*s)) {
			s++;
			wild = 1;
		} else if ((w = number(&s, &n)) != NULL)
			return w;
	}
	if (*s == '.') {
		s++;
		if (iswild(*s))
			s++;
		else if (wild)
			return "a number follows a wildcard";
		else if ((w = number(&s, &n)) != NULL)
			return w;
		else
			patch = 1;
	}
	if (patch && *s == '-') {
		s++;
		if ((w = reqidents(&s, 1)) != NULL)
			return w;
	}
	if (patch && *s == '+') {
		s++;
		if ((w = reqidents(&s, 0)) != NULL)
			return w;
	}
	s = skipsp(s);
	if (*s != ',' && *s != '\0')
		return "expected a comma between comparators";
	*sp = s;
	return NULL;
}

/* Why req is not a requirement, or NULL. */
static const char *
reqwhy(const char *req)
{
	const char	*s = skipsp(req), *w;
	int		 n = 0;

	if (iswild(*s)) {
		s = skipsp(s + 1);
		if (*s == '\0')
			return NULL;
		return *s == ',' ? "a wildcard must be the only comparator" :
		    "unexpected text after the wildcard";
	}
	if (*s == '\0')
		return "it is empty";
	for (;;) {
		if ((w = reqcmp(&s)) != NULL)
			return w;
		if (++n > REQ_MAX_COMPARATORS)
			return "more than 32 comparators";
		if (*s == '\0')
			return NULL;
		s = skipsp(s + 1);	/* past the comma */
	}
}

int
semver_req_check(const char *req, char **cause)
{
	const char	*w;

	if ((w = reqwhy(req)) == NULL)
		return 0;
	if (cause != NULL)
		*cause = xasprintf("invalid version requirement \"%s\": %s",
		    cause_quote(req), w);
	return -EINVAL;
}
