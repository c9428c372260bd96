/* A strict TOML reader for the subset described in toml.h (TOML 1.0,
 * https://toml.io/en/v1.0.0). A UTF-8 byte order mark at the start is
 * skipped. Columns count characters, not bytes; a tab is one. Input is
 * capped at 64 MiB and NODES_MAX values, so memory stays bounded. */
#include "index/toml.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/hex.h"

#define INPUT_MAX	(64 * 1024 * 1024)
#define DEPTH_MAX	32	/* arrays inside arrays */
#define HEADER_KEYS_MAX	32	/* keys in one [a.b.c] header */
#define NODES_MAX	(1 << 21) /* values and tables, ~120 bytes each */
#define HASH_MIN	16	/* tables with this many keys get a hash */
#define QUOTE_MAX	100	/* buffer for a key or header in a message */

enum {
	F_IMPLICIT = 1,		/* table: only named inside longer headers */
	F_AOT = 2,		/* array: made by [[...]] headers */
	F_INLINE = 4,		/* table: written { ... }, closed for good */
};

/* A value and what the parser needs to know about it. The value comes
 * first, so a struct toml_value pointer is also a struct node pointer. */
struct node {
	struct toml_value	 v;
	int			 flags;
	size_t			 cap;		/* of keys and items */
	size_t			*slots;		/* table: index + 1, or 0 */
	size_t			 nslots;	/* a power of two, or 0 */
};

struct parser {
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	size_t		 nodes;		/* made so far */
	int		 flags;		/* TOML_INLINE_TABLES */
	int		 line;
	int		 col;
	char		*cause;
	char		 desc[32];		/* found() */
	char		 name[QUOTE_MAX];	/* qkey() */
	char		 path[QUOTE_MAX];	/* path() */
};

struct buf {
	char	*s;
	size_t	 n;
	size_t	 cap;
};

static int	value(struct parser *, int, struct node **);

static struct node *
N(struct toml_value *v)
{
	return (struct node *)v;
}

static const struct node *
CN(const struct toml_value *v)
{
	return (const struct node *)v;
}

static int
peekat(const struct parser *p, size_t off)
{
	if (p->len - p->pos <= off)
		return -1;
	return (unsigned char)p->buf[p->pos + off];
}

static int
peek(const struct parser *p)
{
	return peekat(p, 0);
}

/* Steps over n bytes that are on the current line. */
static void
skip(struct parser *p, size_t n)
{
	while (n-- > 0) {
		if ((p->buf[p->pos] & 0xc0) != 0x80)
			p->col++;
		p->pos++;
	}
}

/* Steps over "\n" or "\r\n" at pos. */
static void
newline(struct parser *p)
{
	p->pos += p->buf[p->pos] == '\r' ? 2 : 1;
	p->line++;
	p->col = 1;
}

static int
iscrlf(const struct parser *p)
{
	return peek(p) == '\r' && peekat(p, 1) == '\n';
}

static int
match(const struct parser *p, const char *word)
{
	size_t	n = strlen(word);

	return p->len - p->pos >= n && memcmp(p->buf + p->pos, word, n) == 0;
}

static int
isdigitc(int c)
{
	return c >= '0' && c <= '9';
}

static int
isbare(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    isdigitc(c) || c == '-' || c == '_';
}

/* Length of the valid UTF-8 sequence at pos, or 0. */
static size_t
utf8len(const struct parser *p)
{
	const unsigned char	*s = (const unsigned char *)p->buf + p->pos;
	size_t			 left = p->len - p->pos, n, i;
	uint32_t		 c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/* What is at pos, for messages. */
static const char *
found(struct parser *p)
{
	int	c = peek(p);
	size_t	n;

	if (c == -1)
		return "end of file";
	if (c == '\n' || iscrlf(p))
		return "end of line";
	if (c == '\r')
		return "a carriage return without a newline";
	if (c == 0)
		return "a NUL byte";
	if (c == ' ' || c == '\t')
		return c == ' ' ? "a space" : "a tab";
	if (c > 0x20 && c < 0x7f)
		snprintf(p->desc, sizeof p->desc, "'%c'", c);
	else if (c >= 0x80 && (n = utf8len(p)) != 0)
		snprintf(p->desc, sizeof p->desc, "'%.*s'", (int)n,
		    p->buf + p->pos);
	else if (c >= 0x80)
		snprintf(p->desc, sizeof p->desc, "byte 0x%02x (not UTF-8)",
		    c);
	else
		snprintf(p->desc, sizeof p->desc, "control character 0x%02x",
		    c);
	return p->desc;
}

static void vfail(struct parser *, int, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static int failat(struct parser *, int, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
vfail(struct parser *p, int line, int col, const char *fmt, va_list ap)
{
	char	*why;

	if (p->cause != NULL)
		return;
	why = xvasprintf(fmt, ap);
	p->cause = xasprintf("%d:%d: %s", line, col, why);
	free(why);
}

/* Records the first error, at line:col; returns -1. */
static int
failat(struct parser *p, int line, int col, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfail(p, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

/* Records the first error, at pos; returns -1. */
static int
fail(struct parser *p, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vfail(p, p->line, p->col, fmt, ap);
	va_end(ap);
	return -1;
}

/* Appends key k to q (size QUOTE_MAX) at *o, quoted unless bare or
 * quote is 0; long keys are cut with "...". */
static void
putkey(char *q, size_t *o, const char *k, int quote)
{
	const unsigned char	*s = (const unsigned char *)k;

	if (quote == 0) {
		while (isbare(*s))
			s++;
		quote = *s != '\0' || s == (const unsigned char *)k;
		s = (const unsigned char *)k;
	}
	if (quote)
		q[(*o)++] = '"';
	for (; *s != '\0'; s++) {
		if (*o >= QUOTE_MAX - 24 && (*s & 0xc0) != 0x80)
			break;
		if (*s == '"' || *s == '\\') {
			q[(*o)++] = '\\';
			q[(*o)++] = (char)*s;
		} else if (*s < 0x20 || *s == 0x7f)
			*o += (size_t)snprintf(q + *o, 7, "\\u%04x", *s);
		else
			q[(*o)++] = (char)*s;
	}
	if (*s != '\0') {
		memcpy(q + *o, "...", 3);
		*o += 3;
	}
	if (quote)
		q[(*o)++] = '"';
	q[*o] = '\0';
}

/* Key k quoted for a message, in p->name. */
static const char *
qkey(struct parser *p, const char *k)
{
	size_t	o = 0;

	putkey(p->name, &o, k, 1);
	return p->name;
}

/* "[a.b]" or "[[a.b]]" for the first n keys, in p->path. */
static const char *
path(struct parser *p, char **keys, int n, int aot)
{
	size_t	o = aot ? 2 : 1;
	int	i;

	memcpy(p->path, "[[", 2);
	for (i = 0; i < n && o < QUOTE_MAX - 24; i++) {
		if (i > 0)
			p->path[o++] = '.';
		putkey(p->path, &o, keys[i], 0);
	}
	if (i < n) {
		memcpy(p->path + o, ".....", 4);
		o += 4;
	}
	memcpy(p->path + o, "]]", 2);
	o += aot ? 2 : 1;
	p->path[o] = '\0';
	return p->path;
}

static const char *
typed(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE:
		return "a table";
	case TOML_ARRAY:
		return "an array";
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_BOOLEAN:
		return "a boolean";
	}
	return "a value";
}

static void
ws(struct parser *p)
{
	int	c;

	while ((c = peek(p)) == ' ' || c == '\t')
		skip(p, 1);
}

/* Steps over a comment, if any, up to its end of line. */
static int
comment(struct parser *p)
{
	int	c;
	size_t	n;

	if (peek(p) != '#')
		return 0;
	skip(p, 1);
	for (;;) {
		c = peek(p);
		if (c == -1 || c == '\n' || iscrlf(p))
			return 0;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, "%s is not allowed in a comment",
			    found(p));
		if ((n = utf8len(p)) == 0)
			return fail(p, "invalid UTF-8 in a comment (byte "
			    "0x%02x)", c);
		skip(p, n);
	}
}

/* Ends a line after what: blanks, a comment, then a newline or the end. */
static int
eol(struct parser *p, const char *what)
{
	ws(p);
	if (comment(p) == -1)
		return -1;
	if (peek(p) == -1)
		return 0;
	if (peek(p) == '\n' || iscrlf(p)) {
		newline(p);
		return 0;
	}
	if (peek(p) == '\r')
		return fail(p, "a carriage return must be followed by a "
		    "newline");
	return fail(p, "expected end of line after %s, found %s", what,
	    found(p));
}

/* Steps over blanks, comments and newlines (inside arrays). */
static int
blank(struct parser *p)
{
	for (;;) {
		ws(p);
		if (comment(p) == -1)
			return -1;
		if (peek(p) != '\n' && !iscrlf(p))
			return 0;
		newline(p);
	}
}

static void
bput(struct buf *b, const char *s, size_t n)
{
	size_t	cap = b->cap != 0 ? b->cap : 16;

	while (cap < b->n + n + 1)
		cap *= 2;
	if (cap != b->cap) {
		b->s = xrealloc(b->s, cap);
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

/* Appends code point u as UTF-8. */
static void
pututf8(struct buf *b, uint32_t u)
{
	char	e[4];
	size_t	n;

	if (u < 0x80) {
		e[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		e[0] = (char)(0xc0 | u >> 6);
		e[1] = (char)(0x80 | (u & 0x3f));
		n = 2;
	} else if (u < 0x10000) {
		e[0] = (char)(0xe0 | u >> 12);
		e[1] = (char)(0x80 | (u >> 6 & 0x3f));
		e[2] = (char)(0x80 | (u & 0x3f));
		n = 3;
	} else {
		e[0] = (char)(0xf0 | u >> 18);
		e[1] = (char)(0x80 | (u >> 12 & 0x3f));
		e[2] = (char)(0x80 | (u >> 6 & 0x3f));
		e[3] = (char)(0x80 | (u & 0x3f));
		n = 4;
	}
	bput(b, e, n);
}

/* Reads the escape sequence at the backslash into b. */
static int
escape(struct parser *p, struct buf *b)
{
	static const char	 simple[] = "b\bt\tn\nf\fr\r\"\"\\\\";
	const char		*e;
	int			 line = p->line, col = p->col, c, h, i, n;
	uint32_t		 u = 0;

	c = peekat(p, 1);
	if (c == -1)
		return fail(p, "unterminated string");
	for (e = simple; *e != '\0'; e += 2) {
		if (c == *e) {
			bput(b, e + 1, 1);
			skip(p, 2);
			return 0;
		}
	}
	if (c != 'u' && c != 'U') {
		skip(p, 1);
		if (c > 0x20 && c < 0x7f)
			return failat(p, line, col, "invalid escape '\\%c' "
			    "(valid: \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX "
			    "\\UXXXXXXXX)", c);
		return failat(p, line, col, "invalid escape: backslash "
		    "followed by %s", found(p));
	}
	n = c == 'u' ? 4 : 8;
	for (i = 0; i < n; i++) {
		if ((h = hexval(peekat(p, 2 + (size_t)i))) == -1)
			return failat(p, line, col, "'\\%c' needs %d hex "
			    "digits", c, n);
		u = u << 4 | (uint32_t)h;
	}
	if (u >= 0xd800 && u <= 0xdfff)
		return failat(p, line, col, "'\\%c%.*s' is a UTF-16 "
		    "surrogate, not a character", c, n, p->buf + p->pos + 2);
	if (u > 0x10ffff)
		return failat(p, line, col, "'\\%c%.*s' is beyond U+10FFFF",
		    c, n, p->buf + p->pos + 2);
	if (u == 0)
		return failat(p, line, col, "'\\%c%.*s' would put a NUL byte "
		    "in the string", c, n, p->buf + p->pos + 2);
	pututf8(b, u);
	skip(p, 2 + (size_t)n);
	return 0;
}

/* Reads the basic or literal string at the quote; *out is new. */
static int
string(struct parser *p, char **out)
{
	struct buf	b = { NULL, 0, 0 };
	int		q = peek(p), line = p->line, col = p->col, c;
	size_t		n;

	if (peekat(p, 1) == q && peekat(p, 2) == q)
		return fail(p, "multi-line strings are not supported");
	skip(p, 1);
	bput(&b, "", 0);
	for (;;) {
		c = peek(p);
		if (c == q) {
			skip(p, 1);
			*out = b.s;
			return 0;
		}
		if (c == -1 || c == '\n' || iscrlf(p)) {
			failat(p, line, col, "unterminated string");
			break;
		}
		if (c == '\\' && q == '"') {
			if (escape(p, &b) == -1)
				break;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			fail(p, "%s is not allowed in a string%s", found(p),
			    q == '"' ? " (write it as an escape)" : "");
			break;
		}
		if ((n = utf8len(p)) == 0) {
			fail(p, "invalid UTF-8 in a string (byte 0x%02x)", c);
			break;
		}
		bput(&b, p->buf + p->pos, n);
		skip(p, n);
	}
	free(b.s);
	return -1;
}

/* Reads a bare or quoted key; *out is new. */
static int
key(struct parser *p, char **out)
{
	size_t	start = p->pos;

	if (peek(p) == '"' || peek(p) == '\'')
		return string(p, out);
	while (isbare(peek(p)))
		skip(p, 1);
	if (p->pos == start)
		return fail(p, "expected a key, found %s", found(p));
	*out = xstrndup(p->buf + start, p->pos - start);
	return 0;
}

static struct node *
newnode(struct parser *p, enum toml_type type, int line, int col)
{
	struct node	*n = xcalloc(1, sizeof *n);

	p->nodes++;
	n->v.type = type;
	n->v.line = line;
	n->v.col = col;
	return n;
}

static size_t
hash(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)h;
}

/* Puts entry i of table t into its hash. */
static void
slot(struct node *t, size_t i)
{
	size_t	h = hash(t->v.keys[i]) & (t->nslots - 1);

	while (t->slots[h] != 0)
		h = (h + 1) & (t->nslots - 1);
	t->slots[h] = i + 1;
}

static void
rehash(struct node *t)
{
	size_t	i;

	free(t->slots);
	t->nslots = 64;
	while (t->nslots < t->v.n * 4)
		t->nslots *= 2;
	t->slots = xcalloc(t->nslots, sizeof *t->slots);
	for (i = 0; i < t->v.n; i++)
		slot(t, i);
}

static struct node *
find(const struct node *t, const char *k)
{
	size_t	h, i;

	if (t->slots != NULL) {
		h = hash(k) & (t->nslots - 1);
		for (; t->slots[h] != 0; h = (h + 1) & (t->nslots - 1)) {
			i = t->slots[h] - 1;
			if (strcmp(t->v.keys[i], k) == 0)
				return N(t->v.items[i]);
		}
		return NULL;
	}
	for (i = 0; i < t->v.n; i++) {
		if (strcmp(t->v.keys[i], k) == 0)
			return N(t->v.items[i]);
	}
	return NULL;
}

/* Appends v to array a, or to table a under key k (taken). */
static void
push(struct node *a, char *k, struct node *v)
{
	if (a->v.n == a->cap) {
		a->cap = a->cap != 0 ? a->cap * 2 : 4;
		a->v.items = xreallocarray(a->v.items, a->cap,
		    sizeof *a->v.items);
		if (a->v.type == TOML_TABLE)
			a->v.keys = xreallocarray(a->v.keys, a->cap,
			    sizeof *a->v.keys);
	}
	a->v.items[a->v.n] = &v->v;
	if (a->v.type != TOML_TABLE) {
		a->v.n++;
		return;
	}
	a->v.keys[a->v.n++] = k;
	if (a->v.n < HASH_MIN)
		return;
	if (a->slots == NULL || a->v.n * 2 > a->nslots)
		rehash(a);
	else
		slot(a, a->v.n - 1);
}

/* Reads a decimal integer, or explains why the value is not one. */
static int
integer(struct parser *p, struct node **out)
{
	unsigned long long	 acc = 0, max = LLONG_MAX;
	int			 line = p->line, col = p->col, c, neg = 0;
	int			 over = 0, prev = 0;
	size_t			 start, ndig = 0, vstart = p->pos, vlen;

	c = peek(p);
	if (c == '+' || c == '-') {
		neg = c == '-';
		skip(p, 1);
	}
	if (match(p, "inf") || match(p, "nan"))
		return failat(p, line, col, "floats are not supported");
	if (!isdigitc(peek(p)))
		return fail(p, "expected digits, found %s", found(p));
	c = peekat(p, 1);
	if (peek(p) == '0' && (c == 'x' || c == 'o' || c == 'b'))
		return failat(p, line, col, "only decimal integers are "
		    "supported");
	if (neg)
		max = (unsigned long long)LLONG_MAX + 1;
	start = p->pos;
	for (;;) {
		c = peek(p);
		if (isdigitc(c)) {
			if (acc > (max - (unsigned)(c - '0')) / 10)
				over = 1;
			else
				acc = acc * 10 + (unsigned)(c - '0');
			ndig++;
			prev = 1;
		} else if (c == '_') {
			if (!prev || !isdigitc(peekat(p, 1)))
				return fail(p, "'_' in a number must be "
				    "between digits");
			prev = 0;
		} else
			break;
		skip(p, 1);
	}
	c = peek(p);
	if (c == '.' || c == 'e' || c == 'E')
		return failat(p, line, col, "floats are not supported");
	if (c == '-' || c == ':')
		return failat(p, line, col, "dates and times are not "
		    "supported");
	if (p->buf[start] == '0' && ndig > 1)
		return failat(p, line, col, "leading zeros are not allowed "
		    "in integers");
	if (over) {
		vlen = p->pos - vstart;
		return failat(p, line, col, "integer %.*s%s is out of range "
		    "(%lld to %lld)", (int)(vlen > 40 ? 40 : vlen),
		    p->buf + vstart, vlen > 40 ? "..." : "", LLONG_MIN,
		    LLONG_MAX);
	}
	*out = newnode(p, TOML_INTEGER, line, col);
	if (!neg)
		(*out)->v.i = (long long)acc;
	else if (acc > (unsigned long long)LLONG_MAX)
		(*out)->v.i = LLONG_MIN;
	else
		(*out)->v.i = -(long long)acc;
	return 0;
}

/* Reads an array at its '['; depth counts the arrays around it. */
static int
array(struct parser *p, int depth, struct node **out)
{
	struct node	*a, *v;
	int		 line = p->line, col = p->col, c;

	if (depth > DEPTH_MAX)
		return fail(p, "arrays nested more than %d deep", DEPTH_MAX);
	a = newnode(p, TOML_ARRAY, line, col);
	skip(p, 1);
	for (;;) {
		if (blank(p) == -1)
			goto bad;
		if (peek(p) == ']')
			break;
		if (value(p, depth, &v) == -1)
			goto bad;
		push(a, NULL, v);
		if (blank(p) == -1)
			goto bad;
		if ((c = peek(p)) == ']')
			break;
		if (c == ',') {
			skip(p, 1);
			continue;
		}
		if (c == -1)
			fail(p, "unterminated array (opened at %d:%d)", line,
			    col);
		else
			fail(p, "expected ',' or ']' after an array item, "
			    "found %s", found(p));
		goto bad;
	}
	skip(p, 1);
	*out = a;
	return 0;
bad:
	toml_free(&a->v);
	return -1;
}

static int	member(struct parser *, struct node *, int, int, int);

/* Reads an inline table at its '{' (TOML_INLINE_TABLES): one line, keys
 * separated by commas, no trailing comma; depth counts the arrays and
 * inline tables around it. */
static int
inline_table(struct parser *p, int depth, struct node **out)
{
	struct node	*t;
	int		 line = p->line, col = p->col, c;

	if (depth > DEPTH_MAX)
		return fail(p, "arrays and inline tables nested more than %d "
		    "deep", DEPTH_MAX);
	t = newnode(p, TOML_TABLE, line, col);
	t->flags = F_INLINE;
	skip(p, 1);
	ws(p);
	if (peek(p) == '}')
		goto done;
	for (;;) {
		ws(p);
		if (member(p, t, depth, line, col) == -1)
			goto bad;
		ws(p);
		if ((c = peek(p)) == '}')
			break;
		if (c == ',') {
			skip(p, 1);
			continue;
		}
		if (c == -1 || c == '\n' || iscrlf(p))
			fail(p, "unterminated inline table (opened at %d:%d; "
			    "an inline table stays on one line)", line, col);
		else
			fail(p, "expected ',' or '}' after a value in an "
			    "inline table, found %s", found(p));
		goto bad;
	}
done:
	skip(p, 1);
	*out = t;
	return 0;
bad:
	toml_free(&t->v);
	return -1;
}

/* Reads the value at pos; depth counts the arrays around it. */
static int
value(struct parser *p, int depth, struct node **out)
{
	int	 line = p->line, col = p->col, c = peek(p);
	char	*s;

	if (p->nodes >= NODES_MAX)
		return fail(p, "more than %d values", NODES_MAX);
	switch (c) {
	case '"':
	case '\'':
		if (string(p, &s) == -1)
			return -1;
		*out = newnode(p, TOML_STRING, line, col);
		(*out)->v.s = s;
		return 0;
	case '[':
		return array(p, depth + 1, out);
	case '{':
		if (p->flags & TOML_INLINE_TABLES)
			return inline_table(p, depth + 1, out);
		return fail(p, "inline tables are not supported; use a "
		    "[table] header");
	case 't':
	case 'f':
		if (match(p, "true") || match(p, "false")) {
			*out = newnode(p, TOML_BOOLEAN, line, col);
			(*out)->v.b = c == 't';
			skip(p, c == 't' ? 4 : 5);
			return 0;
		}
		break;
	case 'i':
	case 'n':
		if (match(p, "inf") || match(p, "nan"))
			return fail(p, "floats are not supported");
		break;
	case '+':
	case '-':
		return integer(p, out);
	default:
		if (isdigitc(c))
			return integer(p, out);
		break;
	}
	return fail(p, "expected a value (string, integer, boolean or "
	    "array), found %s", found(p));
}

/* Reads "key = value" into table t, the value at depth; an inline
 * table's member when depth > 0 (opened at line:col). */
static int
member(struct parser *p, struct node *t, int depth, int tline, int tcol)
{
	struct node	*v, *old;
	int		 line = p->line, col = p->col, c;
	char		*k;

	if (depth > 0 && (peek(p) == -1 || peek(p) == '\n' || iscrlf(p)))
		return fail(p, "unterminated inline table (opened at %d:%d; "
		    "an inline table stays on one line)", tline, tcol);
	if (key(p, &k) == -1)
		return -1;
	ws(p);
	if (peek(p) == '.') {
		failat(p, line, col, "dotted keys are not supported; use a "
		    "[table] header");
		goto bad;
	}
	if (peek(p) != '=') {
		fail(p, "expected '=' after key %s, found %s", qkey(p, k),
		    found(p));
		goto bad;
	}
	if ((old = find(t, k)) != NULL) {
		failat(p, line, col, "duplicate key %s (first defined on line "
		    "%d)", qkey(p, k), old->v.line);
		goto bad;
	}
	skip(p, 1);
	ws(p);
	c = peek(p);
	if (c == -1 || c == '\n' || iscrlf(p) || c == '#' ||
	    (depth > 0 && (c == ',' || c == '}'))) {
		fail(p, "expected a value after '=', found %s",
		    c == '#' ? "a comment" : found(p));
		goto bad;
	}
	if (value(p, depth, &v) == -1)
		goto bad;
	push(t, k, v);
	return 0;
bad:
	free(k);
	return -1;
}

/* Reads "key = value" into table t, up to the end of its line. */
static int
keyval(struct parser *p, struct node *t)
{
	if (member(p, t, 0, 0, 0) == -1)
		return -1;
	return eol(p, "a value");
}

/* Finds or makes the table named by a header's keys (which it takes). */
static int
resolve(struct parser *p, struct node *root, char **keys, int nk, int aot,
    int line, int col, struct node **cur)
{
	struct node	*t = root, *v;
	int		 i;

	for (i = 0; i < nk - 1; i++) {
		if ((v = find(t, keys[i])) == NULL) {
			v = newnode(p, TOML_TABLE, line, col);
			v->flags = F_IMPLICIT;
			push(t, keys[i], v);
			keys[i] = NULL;
		} else if (v->flags & F_AOT)
			v = N(v->v.items[v->v.n - 1]);
		else if (v->flags & F_INLINE)
			return failat(p, line, col, "cannot define %s: key "
			    "%s is an inline table (line %d), which cannot be "
			    "extended", path(p, keys, nk, aot),
			    qkey(p, keys[i]), v->v.line);
		else if (v->v.type != TOML_TABLE)
			return failat(p, line, col, "cannot define %s: key "
			    "%s is already %s (line %d), not a table",
			    path(p, keys, nk, aot), qkey(p, keys[i]),
			    typed(v->v.type), v->v.line);
		t = v;
	}
	v = find(t, keys[nk - 1]);
	if (aot && v != NULL && !(v->flags & F_AOT))
		return failat(p, line, col, "cannot make %s: it is already "
		    "%s (line %d)", path(p, keys, nk, 1), typed(v->v.type),
		    v->v.line);
	if (aot) {
		if (v == NULL) {
			v = newnode(p, TOML_ARRAY, line, col);
			v->flags = F_AOT;
			push(t, keys[nk - 1], v);
			keys[nk - 1] = NULL;
		}
		*cur = newnode(p, TOML_TABLE, line, col);
		push(v, NULL, *cur);
		return 0;
	}
	if (v == NULL) {
		v = newnode(p, TOML_TABLE, line, col);
		push(t, keys[nk - 1], v);
		keys[nk - 1] = NULL;
	} else if (v->flags & F_IMPLICIT) {
		v->flags &= ~F_IMPLICIT;
		v->v.line = line;
		v->v.col = col;
	} else if (v->v.type == TOML_TABLE)
		return failat(p, line, col, "table %s is already defined on "
		    "line %d", path(p, keys, nk, 0), v->v.line);
	else
		return failat(p, line, col, "cannot make table %s: it is "
		    "already %s%s (line %d)", path(p, keys, nk, 0),
		    (v->flags & F_AOT) ? "an array of tables" :
		    typed(v->v.type), (v->flags & F_AOT) ? "" : " value",
		    v->v.line);
	*cur = v;
	return 0;
}

/* Reads a [table] or [[array.of.tables]] header; *cur becomes its table. */
static int
header(struct parser *p, struct node *root, struct node **cur)
{
	char	*keys[HEADER_KEYS_MAX];
	int	 line = p->line, col = p->col, aot, nk = 0, rc = -1, i;

	if (p->nodes + HEADER_KEYS_MAX + 1 > NODES_MAX)
		return fail(p, "more than %d values", NODES_MAX);
	skip(p, 1);
	if ((aot = peek(p) == '['))
		skip(p, 1);
	for (;;) {
		ws(p);
		if (nk == HEADER_KEYS_MAX) {
			fail(p, "a table header may have at most %d keys",
			    HEADER_KEYS_MAX);
			goto out;
		}
		if (key(p, &keys[nk]) == -1)
			goto out;
		nk++;
		ws(p);
		if (peek(p) != '.')
			break;
		skip(p, 1);
	}
	if (peek(p) != ']') {
		fail(p, "expected %s to close the table header, found %s",
		    aot ? "']]'" : "'.' or ']'", found(p));
		goto out;
	}
	skip(p, 1);
	if (aot && peek(p) != ']') {
		fail(p, "expected ']]' to close the table header, found %s",
		    found(p));
		goto out;
	}
	if (aot)
		skip(p, 1);
	if (eol(p, "a table header") == -1)
		goto out;
	rc = resolve(p, root, keys, nk, aot, line, col, cur);
out:
	for (i = 0; i < nk; i++)
		free(keys[i]);
	return rc;
}

struct toml_value *
toml_parse(const char *text, size_t len, char **cause)
{
	return toml_parse_flags(text, len, 0, cause);
}

struct toml_value *
toml_parse_flags(const char *text, size_t len, int flags, char **cause)
{
	struct parser	 p;
	struct node	*root, *cur;
	int		 c, rc;

	memset(&p, 0, sizeof p);
	p.flags = flags;
	p.buf = text;
	p.len = len;
	p.line = 1;
	p.col = 1;
	if (len > INPUT_MAX) {
		if (cause != NULL)
			*cause = xasprintf("1:1: the file is %zu bytes; the "
			    "limit is %d MiB", len, INPUT_MAX >> 20);
		return NULL;
	}
	if (match(&p, "\xef\xbb\xbf"))
		p.pos = 3;
	root = cur = newnode(&p, TOML_TABLE, 1, 1);
	for (;;) {
		ws(&p);
		if ((c = peek(&p)) == -1)
			break;
		if (c == '[')
			rc = header(&p, root, &cur);
		else if (c == '#' || c == '\n' || c == '\r')
			rc = eol(&p, "blanks");
		else
			rc = keyval(&p, cur);
		if (rc == -1) {
			toml_free(&root->v);
			if (cause != NULL)
				*cause = p.cause;
			else
				free(p.cause);
			return NULL;
		}
	}
	return &root->v;
}

void
toml_free(struct toml_value *v)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		if (v->keys != NULL)
			free(v->keys[i]);
		toml_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->s);
	free(N(v)->slots);
	free(N(v));
}

const struct toml_value *
toml_get(const struct toml_value *t, const char *key)
{
	const struct node	*n;

	if (t == NULL || t->type != TOML_TABLE)
		return NULL;
	n = find(CN(t), key);
	return n != NULL ? &n->v : NULL;
}

const char *
toml_type_name(enum toml_type type)
{
	switch (type) {
	case TOML_TABLE:
		return "table";
	case TOML_ARRAY:
		return "array";
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_BOOLEAN:
		return "boolean";
	}
	return "unknown";
}
