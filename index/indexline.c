/* Index file lines (protocol doc §5). */
#include "index/indexline.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "index/semver.h"
#include "index/xmalloc.h"

/* Longest part of a bad line or name quoted in a cause. */
#define QUOTE_MAX	70

/* How many bytes of s (len bytes) a cause quotes: at most QUOTE_MAX, and
 * never half of a UTF-8 sequence. */
static int
cut(const char *s, size_t len)
{
	size_t	n = len > QUOTE_MAX ? QUOTE_MAX : len;

	while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

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

int
index_line_parse(const char *line, size_t len, struct index_entry *e,
    char **cause)
{
	json_t	*o;
	char	*why = NULL;

	memset(e, 0, sizeof *e);
	if ((o = load(line, len, &why)) != NULL) {
		why = fields(o, e);
		json_decref(o);
	}
	if (why == NULL)
		return 0;
	if (cause != NULL)
		*cause = xasprintf("index line \"%.*s%s\": %s",
		    cut(line, len), line,
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
	const char	*buf;
	const char	*name;
	size_t		 lines;
	char		*cause;
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
		    cut(e->name, strlen(e->name)), e->name, c->name);
		return -EINVAL;
	}
	return 0;
}

int
index_file_check(const char *buf, size_t len, const char *name,
    char **cause)
{
	struct check	 c = { .buf = buf, .name = name };
	int		 rc;

	rc = index_file_foreach(buf, len, checkline, &c);
	if (rc == 0 && c.lines == 0) {
		c.cause = xstrdup("it is empty");
		rc = -EINVAL;
	}
	if (rc == 0)
		return 0;
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
