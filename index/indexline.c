/* Index file lines (protocol doc §5). */
#include "index/indexline.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "index/jsonscan.h"
#include "index/quote.h"
#include "index/semver.h"

static int
ishex(const char *s)
{
	size_t	i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

/* Checks the fields of o and fills e; NULL or why o is not an entry. */
static char *
fields(json_t *o, struct index_entry *e)
{
	json_t		*name, *vers, *deps, *cksum, *yanked, *v;
	const char	*s;
	char		*w;
	struct semver	 sv;
	json_int_t	 n;

	name = json_object_get(o, "name");
	vers = json_object_get(o, "vers");
	deps = json_object_get(o, "deps");
	cksum = json_object_get(o, "cksum");
	yanked = json_object_get(o, "yanked");
	v = json_object_get(o, "v");
	if (!json_is_string(name))
		return xstrdup("\"name\" is missing or not a string");
	if (!json_is_string(vers))
		return xstrdup("\"vers\" is missing or not a string");
	if (semver_parse(json_string_value(vers), &sv, &w) != 0)
		return w;
	if (!json_is_array(deps))
		return xstrdup("\"deps\" is missing or not an array");
	if (!json_is_string(cksum))
		return xstrdup("\"cksum\" is missing or not a string");
	s = json_string_value(cksum);
	if (json_string_length(cksum) != 64 || !ishex(s))
		return xstrdup("\"cksum\" is not 64 lowercase hex digits");
	if (yanked != NULL && !json_is_boolean(yanked) && !json_is_null(yanked))
		return xstrdup("\"yanked\" is not a boolean");
	n = 1;
	if (v != NULL) {
		if (!json_is_integer(v))
			return xstrdup("\"v\" is not an integer");
		n = json_integer_value(v);
		if (n < 0 || n > INT_MAX)
			return xasprintf("\"v\" is out of range: %"
			    JSON_INTEGER_FORMAT, n);
	}
	e->name = xstrdup(json_string_value(name));
	e->vers = xstrdup(json_string_value(vers));
	memcpy(e->cksum, s, sizeof e->cksum);
	e->yanked = json_is_true(yanked);
	e->v = (int)n;
	return NULL;
}

/* Parses line into a new object; NULL and a new *why if it is not one. */
static json_t *
load(const char *line, size_t len, char **why)
{
	json_t		*o;
	json_error_t	 err;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL) {
		*why = xasprintf("not valid JSON (%s at column %d)", err.text,
		    err.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		*why = xstrdup("not a JSON object");
		return NULL;
	}
	return o;
}

/* A string member's bytes when they need no unescaping; NULL otherwise. */
static char *
plain_string(const struct json_member *m)
{
	if (m == NULL || m->type != '"' || memchr(m->val, '\\', m->vlen))
		return NULL;
	return xstrndup(m->val + 1, m->vlen - 2);
}

/*
 * index_line_parse for the usual line, without jansson's tree (a mirror
 * checks every line of every file it fetches): 1 with e filled when
 * json_scan_object vouches for the JSON and every field is plainly right;
 * 0 sends the line to jansson, for the verdict and its wording.
 */
static int
fast_parse(const char *line, size_t len, struct index_entry *e)
{
	struct json_member	 m[16], *name = NULL, *vers = NULL, *deps = NULL,
				*cksum = NULL, *yanked = NULL, *v = NULL;
	size_t			 n;
	struct semver		 sv;
	long			 num = 1;

	if (!json_scan_object(line, len, m, sizeof m / sizeof m[0], &n) ||
	    n == sizeof m / sizeof m[0])
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct json_member	**slot = NULL;

#define KEY(k)	(m[i].klen == sizeof k - 1 && memcmp(m[i].key, k, \
		    sizeof k - 1) == 0)
		if (KEY("name"))
			slot = &name;
		else if (KEY("vers"))
			slot = &vers;
		else if (KEY("deps"))
			slot = &deps;
		else if (KEY("cksum"))
			slot = &cksum;
		else if (KEY("yanked"))
			slot = &yanked;
		else if (KEY("v"))
			slot = &v;
#undef KEY
		if (slot != NULL)
			*slot = &m[i];
	}
	if (deps == NULL || deps->type != '[' || cksum == NULL ||
	    cksum->type != '"' || cksum->vlen != 66 ||
	    (yanked != NULL && yanked->type != 't' && yanked->type != 'f' &&
	    yanked->type != 'n'))
		return 0;
	if (v != NULL) {
		if (v->type < '0' || v->type > '9' || v->vlen > 9)
			return 0;
		num = strtol(v->val, NULL, 10);
	}
	memset(e, 0, sizeof *e);
	memcpy(e->cksum, cksum->val + 1, 64);
	e->cksum[64] = '\0';
	if (!ishex(e->cksum) || (e->name = plain_string(name)) == NULL ||
	    (e->vers = plain_string(vers)) == NULL ||
	    semver_parse(e->vers, &sv, NULL) != 0) {
		index_entry_finish(e);
		return 0;
	}
	e->yanked = yanked != NULL && yanked->type == 't';
	e->v = (int)num;
	return 1;
}

int
index_line_parse(const char *line, size_t len, struct index_entry *e,
    char **cause)
{
	json_t	*o;
	char	*why = NULL;

	if (fast_parse(line, len, e))
		return 0;
	memset(e, 0, sizeof *e);
	if ((o = load(line, len, &why)) != NULL) {
		why = fields(o, e);
		json_decref(o);
	}
	if (why == NULL)
		return 0;
	if (cause != NULL)
		*cause = xasprintf("index line \"%.*s%s\": %s",
		    quote_len(line, len), line,
		    len > QUOTE_MAX ? "..." : "", why);
	free(why);
	return -EINVAL;
}

void
index_entry_finish(struct index_entry *e)
{
	if (e == NULL)
		return;
	free(e->name);
	free(e->vers);
	memset(e, 0, sizeof *e);
}

int
index_file_foreach(const char *buf, size_t len, index_line_fn fn, void *arg)
{
	struct index_entry	 e;
	size_t			 off, n;
	const char		*nl;
	int			 rc;

	for (off = 0; off < len; off += n + 1) {
		nl = memchr(buf + off, '\n', len - off);
		n = nl == NULL ? len - off : (size_t)(nl - (buf + off));
		if (n == 0)
			continue;
		if (index_line_parse(buf + off, n, &e, NULL) == 0) {
			rc = fn(buf + off, n, &e, arg);
			index_entry_finish(&e);
		} else
			rc = fn(buf + off, n, NULL, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

struct check {
	const char		*buf;
	const char		*name;
	size_t			 lines;
	char			*cause;
	struct index_line_refs	*refs;		/* or NULL */
};

/* The 1-based number of the line of buf that starts at line. */
static size_t
lineno(const char *buf, const char *line)
{
	size_t	n = 1;

	for (; buf < line; buf++)
		n += *buf == '\n';
	return n;
}

/* Checks one line of an index file (index_file_foreach callback). */
static int
checkline(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct check		*c = arg;
	struct index_entry	 bad;
	char			*why = NULL;

	if (e == NULL) {
		index_line_parse(line, len, &bad, &why);
		c->cause = xasprintf("line %zu: %s", lineno(c->buf, line),
		    why != NULL ? why : "invalid");
		free(why);
		return -EINVAL;
	}
	c->lines++;
	if (c->name != NULL && strcasecmp(e->name, c->name) != 0) {
		c->cause = xasprintf("line %zu: names crate \"%.*s\", not "
		    "\"%s\"", lineno(c->buf, line),
		    quote_len(e->name, strlen(e->name)), e->name, c->name);
		return -EINVAL;
	}
	if (c->refs != NULL)
		index_line_refs_add(c->refs, (size_t)(line - c->buf), len, e);
	return 0;
}

void
index_line_refs_add(struct index_line_refs *refs, size_t off, size_t len,
    const struct index_entry *e)
{
	struct index_line_ref	*r;

	refs->v = xreallocarray(refs->v, refs->n + 1, sizeof *refs->v);
	r = &refs->v[refs->n++];
	r->off = off;
	r->len = len;
	r->vers = xstrdup(e->vers);
	r->yanked = e->yanked;
}

void
index_line_refs_free(struct index_line_refs *refs)
{
	for (size_t i = 0; i < refs->n; i++)
		free(refs->v[i].vers);
	free(refs->v);
	refs->v = NULL;
	refs->n = 0;
}

int
index_file_check(const char *buf, size_t len, const char *name,
    char **cause)
{
	return index_file_check_refs(buf, len, name, cause, NULL);
}

int
index_file_check_refs(const char *buf, size_t len, const char *name,
    char **cause, struct index_line_refs *refs)
{
	struct check	 c = { .buf = buf, .name = name, .refs = refs };
	int		 rc;

	if (refs != NULL)
		index_line_refs_free(refs);
	rc = index_file_foreach(buf, len, checkline, &c);
	if (rc == 0 && c.lines == 0) {
		c.cause = xstrdup("it is empty");
		rc = -EINVAL;
	}
	if (rc == 0)
		return 0;
	if (refs != NULL)
		index_line_refs_free(refs);
	if (cause != NULL)
		*cause = xasprintf("index file%s%s%s: %s",
		    name != NULL ? " of \"" : "", name != NULL ? name : "",
		    name != NULL ? "\"" : "", c.cause);
	free(c.cause);
	return rc;
}

char *
index_line_set_yanked(const char *line, size_t len, bool yanked,
    char **cause)
{
	json_t	*o;
	char	*why = NULL, *s, *out;

	if ((o = load(line, len, &why)) == NULL) {
		if (cause != NULL)
			*cause = xasprintf("index line: %s", why);
		free(why);
		return NULL;
	}
	json_object_set_new(o, "yanked", json_boolean(yanked));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL) {
		if (cause != NULL)
			*cause = xstrdup("index line: cannot be written back");
		return NULL;
	}
	out = xstrdup(s);
	free(s);
	return out;
}

/* The lines of one index file with their versions (NULL: unparsable). */
struct lines {
	const char	**line;
	size_t		 *len;
	char		**vers;
	size_t		  n;
};

static int
collect_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct lines	*l = arg;

	l->line = xreallocarray(l->line, l->n + 1, sizeof *l->line);
	l->len = xreallocarray(l->len, l->n + 1, sizeof *l->len);
	l->vers = xreallocarray(l->vers, l->n + 1, sizeof *l->vers);
	l->line[l->n] = line;
	l->len[l->n] = len;
	l->vers[l->n++] = e != NULL ? xstrdup(e->vers) : NULL;
	return 0;
}

static ssize_t
lines_find(const struct lines *l, const char *vers)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->vers[i] != NULL && strcmp(l->vers[i], vers) == 0)
			return (ssize_t)i;
	return -1;
}

static void
lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->vers[i]);
	free(l->line);
	free(l->len);
	free(l->vers);
}

static void
append(char **out, size_t *len, size_t *cap, const char *line, size_t n)
{
	if (*len + n + 2 > *cap) {
		*cap = (*len + n + 2) * 2;
		*out = xrealloc(*out, *cap);
	}
	memcpy(*out + *len, line, n);
	*len += n;
	(*out)[(*len)++] = '\n';
	(*out)[*len] = '\0';
}

/* Whether two lines of one version name the same .crate. */
static bool
same_crate(const char *a, size_t alen, const char *b, size_t blen,
    const char *vers)
{
	char	ca[65], cb[65];

	return index_file_cksum(a, alen, vers, ca) &&
	    index_file_cksum(b, blen, vers, cb) && strcmp(ca, cb) == 0;
}

char *
index_file_merge(const char *local, size_t llen, const char *other,
    size_t olen, bool other_newer, size_t *len)
{
	struct lines	 a = { 0 }, b = { 0 };
	size_t		 cap = 0;
	char		*out = NULL;
	ssize_t		 k;

	*len = 0;
	index_file_foreach(local, llen, collect_line, &a);
	index_file_foreach(other, olen, collect_line, &b);
	out = xstrdup("");
	cap = 1;
	for (size_t i = 0; i < a.n; i++) {
		if (other_newer && a.vers[i] != NULL &&
		    (k = lines_find(&b, a.vers[i])) >= 0 && same_crate(
		    a.line[i], a.len[i], b.line[k], b.len[k], a.vers[i]))
			append(&out, len, &cap, b.line[k], b.len[k]);
		else
			append(&out, len, &cap, a.line[i], a.len[i]);
	}
	for (size_t i = 0; i < b.n; i++)
		if (b.vers[i] != NULL && lines_find(&a, b.vers[i]) < 0)
			append(&out, len, &cap, b.line[i], b.len[i]);
	out[*len] = '\0';
	lines_free(&a);
	lines_free(&b);
	return out;
}

struct cksum_of {
	const char	*vers;
	char		*out;
};

static int
cksum_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct cksum_of	*c = arg;

	if (e == NULL || strcmp(e->vers, c->vers) != 0)
		return 0;
	memcpy(c->out, e->cksum, 65);
	return 1;
}

int
index_file_cksum(const char *buf, size_t len, const char *vers, char *out)
{
	struct cksum_of	c = { vers, out };

	return index_file_foreach(buf, len, cksum_line, &c) == 1;
}
