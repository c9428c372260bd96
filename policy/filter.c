/*
 * An index file as served under the policy (policy.h): each line's
 * verdict, and "yanked":true written into the lines held or denied with
 * every other byte as it was (the value of an existing "yanked" replaced
 * in place, or the member added before the closing brace). The file is
 * copied only from the first line that changes on. Pure.
 */
#include "policy/policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "index/jsonscan.h"

#define YANKED_ADD	",\"yanked\":true"	/* what a line may grow by */
#define SCAN_MAX	64			/* members json_scan reports */

/* What a line says, found without building it. */
struct line {
	const char	*vers, *pubtime, *yanked;	/* values' texts */
	size_t		 verslen, publen, yankedlen;
	const char	*close;		/* the object's closing brace */
	size_t		 members;
};

static const char *
ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' ||
	    *p == '\r'))
		p++;
	return p;
}

/* Past the JSON value at p (valid JSON: checked before). */
static const char *
skip_value(const char *p, const char *end)
{
	int	depth = 0, str = 0;

	for (; p < end; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"') {
				str = 0;
				if (depth == 0)
					return p + 1;
			}
		} else if (*p == '"')
			str = 1;
		else if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']') {
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
		} else if (depth == 0 && (*p == ',' || *p == ' ' ||
		    *p == '\t' || *p == '\r' || *p == '\n'))
			return p;
	}
	return p;
}

/* 1 when the key k (n bytes with its quotes) is word; an escaped key is
 * decoded by jansson. */
static int
key_is(const char *k, size_t n, const char *word)
{
	json_t	*j;
	int	 eq;

	if (memchr(k, '\\', n) == NULL)
		return n == strlen(word) + 2 && memcmp(k + 1, word, n - 2) == 0;
	j = json_loadb(k, n, JSON_DECODE_ANY, NULL);
	eq = j != NULL && json_is_string(j) &&
	    strcmp(json_string_value(j), word) == 0;
	json_decref(j);
	return eq;
}

/* The top-level members of a valid object into l. */
static void
members(const char *p, const char *end, struct line *l)
{
	const char	*k, *v;
	size_t		 kn;

	memset(l, 0, sizeof *l);
	p = ws(p, end) + 1;
	for (;;) {
		p = ws(p, end);
		if (p >= end || *p == '}')
			break;
		k = p;
		p = skip_value(k, end);
		kn = (size_t)(p - k);
		v = ws(ws(p, end) + 1, end);		/* past the ':' */
		p = skip_value(v, end);
		l->members++;
		if (key_is(k, kn, "vers")) {
			l->vers = v;
			l->verslen = (size_t)(p - v);
		} else if (key_is(k, kn, "pubtime")) {
			l->pubtime = v;
			l->publen = (size_t)(p - v);
		} else if (key_is(k, kn, "yanked")) {
			l->yanked = v;
			l->yankedlen = (size_t)(p - v);
		}
		p = ws(p, end);
		if (p < end && *p == ',')
			p++;
	}
	l->close = p;
}

/* A JSON string value's text into out (size bytes): 0, or -1 when it is
 * no string or too long. */
static int
string_value(const char *v, size_t n, char *out, size_t size)
{
	json_t	*j;
	size_t	 len;
	int	 rc = -1;

	if (n < 2 || v[0] != '"')
		return -1;
	if (memchr(v, '\\', n) == NULL) {
		if (n - 2 >= size)
			return -1;
		memcpy(out, v + 1, n - 2);
		out[n - 2] = '\0';
		return 0;
	}
	j = json_loadb(v, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (j != NULL && json_is_string(j) && (len = json_string_length(j)) <
	    size && strlen(json_string_value(j)) == len) {
		memcpy(out, json_string_value(j), len + 1);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* 1 when line is one JSON object (the fast scanner, else jansson). */
static int
valid(const char *line, size_t len)
{
	struct json_member	m[1];
	json_t			*j;
	size_t			 n;

	if (json_scan_object(line, len, m, 0, &n) == 1)
		return 1;
	j = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	n = j != NULL && json_is_object(j);
	json_decref(j);
	return (int)n;
}

struct filter {
	const struct policy_settings	*s;
	const struct policy_rule	*blocks;
	size_t				 nblocks;
	const struct advisory_db	*db;
	const char			*name;
	policy_first_seen_cb		 first_seen;
	void				*arg;
	time_t				 now;
};

/* The verdict of one line: -1 when it does not parse (left as it is),
 * else 0 with *v and *l. */
static int
line_verdict(const struct filter *f, const char *p, size_t len,
    struct verdict_info *v, struct line *l)
{
	struct policy_times	t = { 0, 0 };
	char			vers[VERSION_MAX + 1], pub[32];

	if (!valid(p, len))
		return -1;
	members(p, p + len, l);
	if (l->vers == NULL || string_value(l->vers, l->verslen, vers,
	    sizeof vers) != 0)
		return -1;
	if (l->pubtime != NULL && (string_value(l->pubtime, l->publen, pub,
	    sizeof pub) != 0 || policy_pubtime_parse(pub, strlen(pub),
	    &t.pubtime) != 0))
		t.pubtime = 0;
	if (t.pubtime == 0 && f->first_seen != NULL &&
	    f->s->min_publish_age > 0 && !f->s->hosted)
		t.first_seen = f->first_seen(f->name, vers, f->arg);
	policy_decide(f->s, f->blocks, f->nblocks, f->db, f->name, vers, &t,
	    f->now, v);
	return 0;
}

static void
put(struct policy_filtered *out, const char *p, size_t n)
{
	memcpy(out->body + out->len, p, n);
	out->len += n;
}

/* From the first line that changes (at off) on, the file is copied:
 * room for every line to grow by YANKED_ADD. */
static void
start_copy(struct policy_filtered *out, const char *buf, size_t len,
    size_t off)
{
	const char	*p = buf + off, *end = buf + len;
	size_t		 lines = 1;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		lines++;
		p++;
	}
	out->body = xmalloc(len + lines * (sizeof YANKED_ADD - 1) + 1);
	out->len = 0;
	put(out, buf, off);
}

/* Writes line p (n bytes, its newline not included) as served. */
static void
rewrite(struct policy_filtered *out, const char *p, size_t n,
    const struct line *l)
{
	size_t	at;

	if (l->yanked != NULL) {
		at = (size_t)(l->yanked - p);
		put(out, p, at);
		put(out, "true", 4);
		put(out, l->yanked + l->yankedlen, n - at - l->yankedlen);
		return;
	}
	at = (size_t)(l->close - p);
	put(out, p, at);
	if (l->members > 0)
		put(out, YANKED_ADD, sizeof YANKED_ADD - 1);
	else
		put(out, YANKED_ADD + 1, sizeof YANKED_ADD - 2);
	put(out, l->close, n - at);
}

int
policy_filter_index(const struct policy_settings *s,
    const struct policy_rule *blocks, size_t nblocks,
    const struct advisory_db *db, const char *name, const char *buf,
    size_t len, policy_first_seen_cb first_seen, void *arg, time_t now,
    struct policy_filtered *out)
{
	const struct filter	 f = { s, blocks, nblocks, db, name,
				    first_seen, arg, now };
	const char		*p = buf, *end = buf + len, *nl;
	struct verdict_info	 v;
	struct line		 l;
	size_t			 n, whole;
	int			 yanked, change, drop;

	memset(out, 0, sizeof *out);
	for (; p < end; p = nl != NULL ? nl + 1 : end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		whole = n + (nl != NULL);
		change = drop = 0;
		if (line_verdict(&f, p, n, &v, &l) == 0) {
			yanked = l.yanked != NULL && l.yankedlen == 4 &&
			    memcmp(l.yanked, "true", 4) == 0;
			out->held += v.verdict == VERDICT_HOLD;
			out->denied += v.verdict == VERDICT_DENY;
			out->flagged += v.verdict == VERDICT_FLAG;
			drop = v.verdict == VERDICT_DENY && s->hide;
			change = !drop && !yanked &&
			    (v.verdict == VERDICT_HOLD ||
			    v.verdict == VERDICT_DENY);
			if (!yanked && v.verdict == VERDICT_HOLD &&
			    v.until != 0 && (out->next_change == 0 ||
			    v.until < out->next_change))
				out->next_change = v.until;
		}
		if ((change || drop) && out->body == NULL)
			start_copy(out, buf, len, (size_t)(p - buf));
		if (out->body == NULL || drop)
			continue;
		if (change) {
			rewrite(out, p, n, &l);
			put(out, p + n, whole - n);
		} else
			put(out, p, whole);
	}
	return 0;
}

void
policy_filtered_clear(struct policy_filtered *f)
{
	free(f->body);
	memset(f, 0, sizeof *f);
}
