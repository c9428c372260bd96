/* First-seen records (seen/<index path> of a registry's store) and the
 * verdicts that read them (regpolicy.h). */
#include "server/policy/regpolicy.h"
#include "server/policy/seen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/jsonscan.h"
#include "index/name.h"

#define INDEX_MAX	((size_t)64 << 20)
#define SEEN_FILE_MAX	((size_t)4 << 20)
#define MEMBERS		32

struct seen_one {
	char	*vers;
	time_t	 at;
};

struct regpolicy_seen {
	struct seen_one	*v;	/* sorted by vers */
	size_t		 n;
};

static int
by_vers(const void *a, const void *b)
{
	return strcmp(((const struct seen_one *)a)->vers,
	    ((const struct seen_one *)b)->vers);
}

void
regpolicy_seen_free(struct regpolicy_seen *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].vers);
	free(s->v);
	free(s);
}

/* Parses a seen file: {"versions": {"1.2.3": 1760000000, ...}}. NULL when
 * it is not one (as if there were none: every version old). */
static struct regpolicy_seen *
seen_parse(const char *buf, size_t len)
{
	struct regpolicy_seen	*s;
	json_t			*root, *vs;
	const char		*k;
	json_t			*val;

	if ((root = json_loadb(buf, len, 0, NULL)) == NULL)
		return NULL;
	if (!json_is_object(vs = json_object_get(root, "versions"))) {
		json_decref(root);
		return NULL;
	}
	s = xcalloc(1, sizeof *s);
	s->v = xcalloc(json_object_size(vs) + 1, sizeof *s->v);
	json_object_foreach(vs, k, val) {
		if (!json_is_integer(val) || json_integer_value(val) <= 0)
			continue;
		s->v[s->n].vers = xstrdup(k);
		s->v[s->n++].at = (time_t)json_integer_value(val);
	}
	json_decref(root);
	qsort(s->v, s->n, sizeof *s->v, by_vers);
	return s;
}

/* Reads root/rel whole (new, NUL-terminated): 0, or -errno. */
static int
read_rel(const char *root, const char *rel, size_t max, char **buf,
    size_t *len)
{
	char		*path = xasprintf("%s/%s", root, rel);
	struct stat	 st;
	ssize_t		 n;
	int		 fd, r = 0;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1 || (size_t)st.st_size > max) {
		r = (size_t)st.st_size > max ? -EFBIG : -errno;
		goto done;
	}
	*buf = xmalloc((size_t)st.st_size + 1);
	if ((n = read(fd, *buf, (size_t)st.st_size)) != st.st_size) {
		r = n < 0 ? -errno : -EIO;
		free(*buf);
		*buf = NULL;
		goto done;
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
done:
	close(fd);
	return r;
}

struct regpolicy_seen *
regpolicy_seen_read(const char *root, const char *name)
{
	char			 rel[STORE_PATH_MAX], path[INDEX_PATH_MAX];
	char			*buf;
	size_t			 len;
	struct regpolicy_seen	*s;

	if (crate_name_check(name, NULL) != 0)
		return NULL;
	crate_index_path(name, path);
	snprintf(rel, sizeof rel, "seen/%s", path);
	if (read_rel(root, rel, SEEN_FILE_MAX, &buf, &len) != 0)
		return NULL;
	s = seen_parse(buf, len);
	free(buf);
	return s;
}

time_t
regpolicy_seen_get(const struct regpolicy_seen *s, const char *vers)
{
	struct seen_one	 key = { .vers = (char *)(uintptr_t)vers }, *hit;

	if (s == NULL || s->n == 0)
		return 0;
	hit = bsearch(&key, s->v, s->n, sizeof *s->v, by_vers);
	return hit != NULL ? hit->at : 0;
}

/* ---- a line's version and pubtime ---- */

/* The string member key of line (len bytes) into out (size bytes): 1, or
 * 0 when absent or not a plain string. The fast scanner first, jansson
 * when it is not sure. */
static int
line_string(const char *line, size_t len, const char *key, char *out,
    size_t size)
{
	struct json_member	 m[MEMBERS];
	size_t			 n, klen = strlen(key);
	json_t			*j, *v;
	int			 r = 0;

	if (json_scan_object(line, len, m, MEMBERS, &n) == 1 && n <
	    MEMBERS) {
		for (size_t i = 0; i < n; i++) {
			if (m[i].klen != klen || memcmp(m[i].key, key, klen) !=
			    0)
				continue;
			if (m[i].type != '"' || m[i].vlen < 2 || m[i].vlen - 2
			    >= size || memchr(m[i].val, '\\', m[i].vlen))
				break;	/* escapes: jansson's job */
			memcpy(out, m[i].val + 1, m[i].vlen - 2);
			out[m[i].vlen - 2] = '\0';
			return 1;
		}
		if (n < MEMBERS)
			return 0;
	}
	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return 0;
	if (json_is_string(v = json_object_get(j, key)) &&
	    strlen(json_string_value(v)) < size) {
		strcpy(out, json_string_value(v));
		r = 1;
	}
	json_decref(j);
	return r;
}

/* The line's pubtime, 0 when it has none cargo would accept. */
static time_t
line_pubtime(const char *line, size_t len)
{
	char	s[64];
	time_t	t;

	if (!line_string(line, len, "pubtime", s, sizeof s) ||
	    policy_pubtime_parse(s, strlen(s), &t) != 0)
		return 0;
	return t;
}

int
regpolicy_line_verdict(const struct regpolicy_view *v,
    const struct regpolicy_seen *seen, const char *name, const char *line,
    size_t len, time_t now, struct verdict_info *out)
{
	struct policy_times	t = { 0, 0 };
	char			vers[256];

	if (!line_string(line, len, "vers", vers, sizeof vers))
		return -EINVAL;
	t.pubtime = line_pubtime(line, len);
	if (t.pubtime == 0)
		t.first_seen = regpolicy_seen_get(seen, vers);
	policy_decide(&v->settings, v->blocks, v->nblocks, v->db, name, vers,
	    &t, now, out);
	return 0;
}

struct find {
	const char	*vers;
	const char	*line;
	size_t		 len;
};

static int
find_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct find	*f = arg;

	if (e == NULL || strcmp(e->vers, f->vers) != 0)
		return 0;
	f->line = line;
	f->len = len;
	return 1;
}

int
regpolicy_verdict(const struct regpolicy_view *v, const char *root,
    const char *name, const char *vers, time_t now, struct verdict_info *out)
{
	struct policy_times	 t = { 0, 0 };
	struct regpolicy_seen	*seen;
	struct find		 f = { .vers = vers };
	char			 rel[STORE_PATH_MAX], path[INDEX_PATH_MAX];
	char			*buf = NULL;
	size_t			 len = 0;
	int			 r = -ENOENT;

	if (crate_name_check(name, NULL) != 0) {
		policy_decide(&v->settings, v->blocks, v->nblocks, v->db, name,
		    vers, &t, now, out);
		return -ENOENT;
	}
	crate_index_path(name, path);
	snprintf(rel, sizeof rel, "index/%s", path);
	seen = regpolicy_seen_read(root, name);
	if (read_rel(root, rel, INDEX_MAX, &buf, &len) == 0 &&
	    index_file_foreach(buf, len, find_line, &f) == 1 &&
	    regpolicy_line_verdict(v, seen, name, f.line, f.len, now, out) ==
	    0)
		r = 0;
	else {
		t.first_seen = regpolicy_seen_get(seen, vers);
		policy_decide(&v->settings, v->blocks, v->nblocks, v->db, name,
		    vers, &t, now, out);
	}
	free(buf);
	regpolicy_seen_free(seen);
	return r;
}

/* ---- noting what a fill brought ---- */

struct vset {
	char	**v;
	size_t	  n, cap;
};

static void
vset_add(struct vset *s, const char *vers)
{
	if (s->n == s->cap)
		s->v = xreallocarray(s->v, s->cap = s->cap * 2 + 16,
		    sizeof *s->v);
	s->v[s->n++] = xstrdup(vers);
}

static void
vset_free(struct vset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
vset_has(const struct vset *s, const char *vers)
{
	return s->n > 0 && bsearch(&vers, s->v, s->n, sizeof *s->v,
	    str_cmp) != NULL;
}

/* Every version of a file, by its lines' "vers". */
static int
collect(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	char	vers[256];

	if (line_string(line, len, "vers", vers, sizeof vers))
		vset_add(arg, vers);
	return 0;
}

struct fresh {
	const struct vset	*old;
	struct vset		 got;	/* new, without a pubtime */
};

static int
collect_new(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct fresh	*f = arg;
	char		 vers[256];

	if (line_string(line, len, "vers", vers, sizeof vers) &&
	    !vset_has(f->old, vers) && line_pubtime(line, len) == 0)
		vset_add(&f->got, vers);
	return 0;
}

/* The record with got added at now, kept within bounds (new JSON text). */
static char *
merged(const struct regpolicy_seen *had, const struct vset *got, time_t now)
{
	json_t		*vs = json_object(), *root;
	struct seen_one	*all;
	size_t		 n = 0, from = 0;
	char		*text;

	all = xcalloc((had ? had->n : 0) + got->n + 1, sizeof *all);
	for (size_t i = 0; had != NULL && i < had->n; i++)
		if (now - had->v[i].at < (time_t)REGPOLICY_SEEN_DAYS * 86400)
			all[n++] = had->v[i];
	for (size_t i = 0; i < got->n; i++)
		if (regpolicy_seen_get(had, got->v[i]) == 0) {
			all[n].vers = got->v[i];
			all[n++].at = now;
		}
	if (n > REGPOLICY_SEEN_MAX) {
		/* The oldest go: sorted by time, newest last. */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && all[j - 1].at > all[j].at;
			    j--) {
				struct seen_one	t = all[j];

				all[j] = all[j - 1];
				all[j - 1] = t;
			}
		from = n - REGPOLICY_SEEN_MAX;
	}
	for (size_t i = from; i < n; i++)
		json_object_set_new(vs, all[i].vers,
		    json_integer((json_int_t)all[i].at));
	root = json_pack("{s:o}", "versions", vs);
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	free(all);
	return text;
}

int
regpolicy_seen_note(struct store *st, const char *name, const char *old,
    size_t oldlen, const char *body, size_t len, time_t now)
{
	struct vset		 had = { 0 };
	struct fresh		 f = { .old = &had };
	struct regpolicy_seen	*rec;
	char			 rel[STORE_PATH_MAX], path[INDEX_PATH_MAX];
	char			*text;
	int			 r;

	if (old == NULL || crate_name_check(name, NULL) != 0)
		return 0;
	if (len >= oldlen && memcmp(body, old, oldlen) == 0 && (oldlen == 0 ||
	    old[oldlen - 1] == '\n')) {
		/* Lines appended (a publish): only they are new. */
		index_file_foreach(body + oldlen, len - oldlen, collect_new,
		    &f);
	} else {
		index_file_foreach(old, oldlen, collect, &had);
		qsort(had.v, had.n, sizeof *had.v, str_cmp);
		index_file_foreach(body, len, collect_new, &f);
		vset_free(&had);
	}
	if (f.got.n == 0)
		return 0;
	rec = regpolicy_seen_read(store_root(st), name);
	text = merged(rec, &f.got, now);
	crate_index_path(name, path);
	snprintf(rel, sizeof rel, "seen/%s", path);
	r = store_write(st, rel, text, strlen(text), NULL, NULL);
	free(text);
	regpolicy_seen_free(rec);
	r = r == 0 ? (int)f.got.n : r;
	vset_free(&f.got);
	return r;
}

/* ---- a file's verdicts, counted ---- */

#define TALLY_TEXT_MAX	1024

struct tallying {
	const struct regpolicy_view	*v;
	const struct regpolicy_seen	*seen;
	const char			*name;
	time_t				 now;
	struct regpolicy_tally		*out;
	size_t				 more;	/* left out of text */
};

static int
tally_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct tallying		*t = arg;
	struct verdict_info	 vi;
	char			 vers[256], *s;

	if (regpolicy_line_verdict(t->v, t->seen, t->name, line, len, t->now,
	    &vi) != 0)
		return 0;
	t->out->n[vi.verdict][vi.source]++;
	if (vi.verdict == VERDICT_ALLOW)
		return 0;
	if (t->out->text != NULL && strlen(t->out->text) > TALLY_TEXT_MAX) {
		t->more++;
		return 0;
	}
	line_string(line, len, "vers", vers, sizeof vers);
	s = xasprintf("%s%s%s %s: %s", t->out->text ? t->out->text : "",
	    t->out->text ? "; " : "", vers, verdict_name(vi.verdict),
	    vi.reason);
	free(t->out->text);
	t->out->text = s;
	return 0;
}

void
regpolicy_tally(const struct regpolicy_view *v,
    const struct regpolicy_seen *seen, const char *name, const char *buf,
    size_t len, time_t now, struct regpolicy_tally *out)
{
	struct tallying	t = { v, seen, name, now, out, 0 };
	char		*s;

	memset(out, 0, sizeof *out);
	index_file_foreach(buf, len, tally_line, &t);
	if (t.more > 0) {
		s = xasprintf("%s; and %zu more", out->text, t.more);
		free(out->text);
		out->text = s;
	}
}

void
regpolicy_tally_clear(struct regpolicy_tally *t)
{
	free(t->text);
	t->text = NULL;
}
