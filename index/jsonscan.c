/* A fast, conservative check of one JSON object (see jsonscan.h). */
#include "index/jsonscan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/hex.h"

#define DEPTH_MAX	32	/* deeper: jansson decides (its limit: 2048) */
#define DIGITS_MAX	18	/* longer integers: jansson decides */

/* The keys of the objects being read, innermost last: an object's keys
 * are those pushed since it began (inner objects pop theirs). */
struct key {
	const char	*s;
	size_t		 len;
};

struct scan {
	const char	*p, *end;
	int		 depth;
	struct key	*keys;
	size_t		 nkeys, cap;
};

static int	value(struct scan *);

static void
ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* A string at s->p (its opening quote); *escaped tells whether it had a
 * backslash. */
static int
string(struct scan *s, bool *escaped)
{
	*escaped = false;
	s->p++;
	while (s->p < s->end) {
		unsigned char	c = (unsigned char)*s->p++;
		unsigned	u = 0;

		if (c == '"')
			return 1;
		if (c < 0x20 || c >= 0x80)	/* control: invalid; UTF-8: */
			return 0;		/* left to jansson */
		if (c != '\\')
			continue;
		*escaped = true;
		if (s->p >= s->end)
			return 0;
		switch (*s->p++) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			break;
		case 'u':
			if (s->end - s->p < 4)
				return 0;
			for (int i = 0; i < 4; i++) {
				int	h = hexval(s->p[i]);

				if (h < 0)
					return 0;
				u = u << 4 | (unsigned)h;
			}
			s->p += 4;
			if (u == 0 || (u >= 0xd800 && u <= 0xdfff))
				return 0;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

static int
number(struct scan *s)
{
	const char	*start;

	if (*s->p == '-')
		s->p++;
	start = s->p;
	if (s->p < s->end && *s->p == '0')
		s->p++;
	else
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	if (s->p == start || s->p - start > DIGITS_MAX)
		return 0;
	/* Fractions and exponents (and a digit after a leading 0, which
	 * is invalid): jansson's. */
	return s->p >= s->end || (*s->p != '.' && *s->p != 'e' &&
	    *s->p != 'E' && !(*s->p >= '0' && *s->p <= '9'));
}

static int
literal(struct scan *s, const char *word, size_t n)
{
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return 0;
	s->p += n;
	return 1;
}

static int
array(struct scan *s)
{
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 1;
	}
	for (;;) {
		if (!value(s))
			return 0;
		ws(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p == ']') {
			s->p++;
			return 1;
		}
		if (*s->p++ != ',')
			return 0;
		ws(s);
	}
}

static int
key_cmp(const void *a, const void *b)
{
	const struct key	*x = a, *y = b;
	size_t			 n = x->len < y->len ? x->len : y->len;
	int			 c = memcmp(x->s, y->s, n);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* True when the keys from first on are all different. */
static bool
distinct(struct scan *s, size_t first)
{
	struct key	*k = s->keys + first;
	size_t		 n = s->nkeys - first;

	if (n <= 8) {
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				if (k[i].len == k[j].len &&
				    memcmp(k[i].s, k[j].s, k[i].len) == 0)
					return false;
		return true;
	}
	qsort(k, n, sizeof *k, key_cmp);
	for (size_t i = 1; i < n; i++)
		if (key_cmp(&k[i - 1], &k[i]) == 0)
			return false;
	return true;
}

/* An object; with out, its members are reported (the top level). */
static int
object(struct scan *s, struct json_member *out, size_t max, size_t *n)
{
	size_t	first = s->nkeys;
	bool	escaped;

	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 1;
	}
	for (;;) {
		const char	*k = s->p + 1, *v;

		if (s->p >= s->end || *s->p != '"' || !string(s, &escaped) ||
		    escaped)
			return 0;
		if (s->nkeys == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 64;
			s->keys = xreallocarray(s->keys, s->cap,
			    sizeof *s->keys);
		}
		s->keys[s->nkeys].s = k;
		s->keys[s->nkeys++].len = (size_t)(s->p - 1 - k);
		ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return 0;
		ws(s);
		v = s->p;
		if (!value(s))
			return 0;
		if (out != NULL && *n < max) {
			out[*n].key = k;
			out[*n].klen = s->keys[s->nkeys - 1].len;
			out[*n].val = v;
			out[*n].vlen = (size_t)(s->p - v);
			out[*n].type = *v;
			(*n)++;
		}
		ws(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p == '}') {
			s->p++;
			break;
		}
		if (*s->p++ != ',')
			return 0;
		ws(s);
	}
	if (!distinct(s, first))
		return 0;
	s->nkeys = first;
	return 1;
}

static int
value(struct scan *s)
{
	bool	escaped;
	int	ok;

	if (s->p >= s->end)
		return 0;
	switch (*s->p) {
	case '"':
		return string(s, &escaped);
	case '{':
	case '[':
		if (++s->depth > DEPTH_MAX)
			return 0;
		ok = *s->p == '{' ? object(s, NULL, 0, NULL) : array(s);
		s->depth--;
		return ok;
	case 't':
		return literal(s, "true", 4);
	case 'f':
		return literal(s, "false", 5);
	case 'n':
		return literal(s, "null", 4);
	default:
		return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) &&
		    number(s);
	}
}

int
json_scan_object(const char *buf, size_t len, struct json_member *out,
    size_t max, size_t *n)
{
	struct scan	s = { buf, buf + len, 1, NULL, 0, 0 };
	int		ok;

	*n = 0;
	ws(&s);
	ok = s.p < s.end && *s.p == '{' && object(&s, out, max, n);
	if (ok) {
		ws(&s);
		ok = s.p == s.end;
	}
	free(s.keys);
	return ok;
}
