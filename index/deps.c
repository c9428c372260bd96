/* Which dependencies a resolver will look up next (see deps.h). */
#include "index/deps.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/semver.h"

static bool
featreq_has(const struct featreq *f, const char *name, size_t len)
{
	for (size_t i = 0; i < f->n; i++)
		if (strlen(f->names[i]) == len &&
		    memcmp(f->names[i], name, len) == 0)
			return true;
	return false;
}

void
featreq_add(struct featreq *f, const char *name, size_t len)
{
	char	*s;

	if (len == 0 || featreq_has(f, name, len))
		return;
	s = xmalloc(len + 1);
	memcpy(s, name, len);
	s[len] = '\0';
	f->names = xreallocarray(f->names, f->n + 1, sizeof *f->names);
	f->names[f->n++] = s;
}

void
featreq_add_req(struct featreq *f, const char *req)
{
	for (size_t i = 0; i < f->nreqs; i++)
		if (strcmp(f->reqs[i], req) == 0)
			return;
	if (f->nreqs >= REQS_MAX)
		return;
	f->reqs = xreallocarray(f->reqs, f->nreqs + 1, sizeof *f->reqs);
	f->reqs[f->nreqs++] = xstrdup(req);
}

bool
featreq_merge(struct featreq *f, const struct featreq *add)
{
	size_t	before = f->n + f->nreqs;
	bool	grew = add->defaults && !f->defaults;

	f->defaults |= add->defaults;
	for (size_t i = 0; i < add->n; i++)
		featreq_add(f, add->names[i], strlen(add->names[i]));
	for (size_t i = 0; i < add->nreqs; i++)
		featreq_add_req(f, add->reqs[i]);
	return grew || f->n + f->nreqs > before;
}

void
featreq_free(struct featreq *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	for (size_t i = 0; i < f->nreqs; i++)
		free(f->reqs[i]);
	free(f->reqs);
	memset(f, 0, sizeof *f);
}

void
wants_free(struct wants *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].name);
		featreq_free(&w->v[i].feat);
	}
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

/* Choosing the versions. */

struct cand {
	const struct index_line_ref	*ref;
	struct semver			 sv;
};

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand	*x = a, *y = b;

	return semver_cmp(&y->sv, &x->sv);	/* newest first */
}

/* Same compatibility range in cargo's sense of "^": same major, or for
 * 0.x the same minor, or for 0.0.x the same patch. */
static bool
same_range(const struct semver *a, const struct semver *b)
{
	if (a->major != b->major)
		return false;
	if (a->major > 0)
		return true;
	if (a->minor != b->minor)
		return false;
	return a->minor > 0 || a->patch == b->patch;
}

#define PICKS_MAX	(REQS_MAX > ROOT_RANGES ? REQS_MAX : ROOT_RANGES)

static bool
picked(const struct index_line_ref **out, size_t k,
    const struct index_line_ref *r)
{
	for (size_t i = 0; i < k; i++)
		if (out[i] == r)
			return true;
	return false;
}

/* The lines to read into out (at most PICKS_MAX). The versions' strings
 * must outlive the parse: semver borrows them. */
static size_t
choose(const struct index_line_refs *refs, const struct featreq *req,
    const struct index_line_ref **out)
{
	struct cand	*c = xcalloc(refs->n + 1, sizeof *c);
	size_t		 n = 0, stable = 0, k = 0, ranges = 0;

	for (size_t i = 0; i < refs->n; i++) {
		if (refs->v[i].yanked || semver_parse(refs->v[i].vers,
		    &c[n].sv, NULL) != 0)
			continue;
		c[n].ref = &refs->v[i];
		stable += c[n].sv.pre_len == 0;
		n++;
	}
	qsort(c, n, sizeof *c, cand_cmp);
	for (size_t r = 0; r < req->nreqs; r++)
		for (size_t i = 0; i < n; i++) {
			int	a = semver_req_allows(req->reqs[r], &c[i].sv);

			if (a == 0 || (a < 0 && stable > 0 &&
			    c[i].sv.pre_len > 0))
				continue;
			if (!picked(out, k, c[i].ref))
				out[k++] = c[i].ref;
			break;
		}
	for (size_t i = 0, last = 0; req->nreqs == 0 && i < n &&
	    ranges < ROOT_RANGES; i++) {
		if (stable > 0 && c[i].sv.pre_len > 0)
			continue;
		if (ranges > 0 && same_range(&c[i].sv, &c[last].sv))
			continue;
		out[k++] = c[i].ref;
		last = i;
		ranges++;
	}
	free(c);
	return k;
}

/* Reading one version. */

struct dep {
	const char	*name;		/* as the crate refers to it */
	const char	*package;	/* the crate's real name */
	const char	*req;		/* its version requirement */
	json_t		*features;
	bool		 optional, defaults, on;
	struct featreq	 extra;		/* features turned on from here */
};

struct version {
	json_t		*features, *features2;
	struct dep	*deps;
	size_t		 ndeps;
	struct featreq	 seen;		/* features visited */
};

static json_t *
feature(const struct version *v, const char *name)
{
	json_t	*f = json_object_get(v->features, name);

	return f != NULL ? f : json_object_get(v->features2, name);
}

/* Turns on the dependencies called name (a crate can list one name
 * several times, for different targets); adds feature sub (len sublen)
 * to them. False if none is called so. */
static bool
dep_on(struct version *v, const char *name, size_t len, const char *sub,
    size_t sublen)
{
	bool	found = false;

	for (size_t i = 0; i < v->ndeps; i++) {
		struct dep	*d = &v->deps[i];

		if (strlen(d->name) != len || memcmp(d->name, name, len) != 0)
			continue;
		found = true;
		d->on = true;
		if (sub != NULL)
			featreq_add(&d->extra, sub, sublen);
	}
	return found;
}

/* Visits feature name (len bytes) and everything it turns on. Bounded:
 * every feature is visited once. */
static void
visit(struct version *v, const char *name, size_t len)
{
	json_t		*list, *item;
	size_t		 i;
	char		 key[256];

	if (len >= sizeof key || featreq_has(&v->seen, name, len))
		return;
	featreq_add(&v->seen, name, len);
	memcpy(key, name, len);
	key[len] = '\0';
	if ((list = feature(v, key)) == NULL) {
		/* An optional dependency's implicit feature. */
		dep_on(v, name, len, NULL, 0);
		return;
	}
	json_array_foreach(list, i, item) {
		const char	*s = json_string_value(item), *slash;
		size_t		 n;

		if (s == NULL)
			continue;
		n = strlen(s);
		if (strncmp(s, "dep:", 4) == 0)
			dep_on(v, s + 4, n - 4, NULL, 0);
		else if ((slash = strchr(s, '/')) != NULL) {
			/* cargo's resolver looks up x for "x?/f" as for
			 * "x/f" (the weak form only changes what gets
			 * built), and "x/f" also turns on a feature x. */
			size_t	dn = (size_t)(slash - s);

			if (dn > 0 && s[dn - 1] == '?')
				dn--;
			dep_on(v, s, dn, slash + 1, strlen(slash + 1));
			if (dn < sizeof key) {
				memcpy(key, s, dn);
				key[dn] = '\0';
				if (feature(v, key) != NULL)
					visit(v, s, dn);
			}
		} else
			visit(v, s, n);
	}
}

static void
want_add(struct wants *out, const char *name, const struct featreq *f)
{
	struct want	*w;

	for (size_t i = 0; i < out->n; i++)
		if (strcasecmp(out->v[i].name, name) == 0) {
			featreq_merge(&out->v[i].feat, f);
			return;
		}
	out->v = xreallocarray(out->v, out->n + 1, sizeof *out->v);
	w = &out->v[out->n++];
	memset(w, 0, sizeof *w);
	w->name = xstrdup(name);
	featreq_merge(&w->feat, f);
}

static void
read_version(const char *line, size_t len, const struct featreq *req,
    struct wants *out)
{
	json_t		*o = json_loadb(line, len, 0, NULL), *deps, *d;
	struct version	 v = { 0 };
	size_t		 i;

	if (o == NULL)
		return;
	v.features = json_object_get(o, "features");
	v.features2 = json_object_get(o, "features2");
	deps = json_object_get(o, "deps");
	v.deps = xcalloc(json_array_size(deps) + 1, sizeof *v.deps);
	json_array_foreach(deps, i, d) {
		struct dep	*x = &v.deps[v.ndeps];
		const char	*kind = json_string_value(json_object_get(d,
				    "kind"));
		json_t		*df = json_object_get(d, "default_features");

		x->name = json_string_value(json_object_get(d, "name"));
		x->package = json_string_value(json_object_get(d, "package"));
		if (x->name == NULL || (kind != NULL &&
		    strcmp(kind, "dev") == 0) ||
		    json_is_string(json_object_get(d, "registry")))
			continue;
		x->features = json_object_get(d, "features");
		x->req = json_string_value(json_object_get(d, "req"));
		x->optional = json_is_true(json_object_get(d, "optional"));
		x->defaults = df == NULL || json_is_true(df);
		x->on = !x->optional;
		v.ndeps++;
	}
	if (req->defaults)
		visit(&v, "default", 7);
	for (i = 0; i < req->n; i++)
		visit(&v, req->names[i], strlen(req->names[i]));
	for (i = 0; i < v.ndeps; i++) {
		struct dep	*x = &v.deps[i];
		struct featreq	 f = { .defaults = x->defaults };
		json_t		*item;
		size_t		 k;

		if (x->on) {
			json_array_foreach(x->features, k, item)
				if (json_is_string(item))
					featreq_add(&f, json_string_value(item),
					    json_string_length(item));
			featreq_merge(&f, &x->extra);
			if (x->req != NULL)
				featreq_add_req(&f, x->req);
			want_add(out, x->package != NULL ? x->package :
			    x->name, &f);
			featreq_free(&f);
		}
		featreq_free(&x->extra);
	}
	featreq_free(&v.seen);
	free(v.deps);
	json_decref(o);
}

struct own_refs {
	const char		*buf;
	struct index_line_refs	 refs;
};

static int
ref_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct own_refs	*o = arg;

	if (e != NULL)
		index_line_refs_add(&o->refs, (size_t)(line - o->buf), len, e);
	return 0;
}

void
index_file_wants(const char *buf, size_t len, const struct index_line_refs
    *refs, const struct featreq *req, struct wants *out)
{
	struct own_refs			 own = { buf, { NULL, 0 } };
	const struct index_line_ref	*pick[PICKS_MAX];
	size_t				 n;

	if (refs == NULL) {
		index_file_foreach(buf, len, ref_line, &own);
		refs = &own.refs;
	}
	n = choose(refs, req, pick);
	for (size_t i = 0; i < n; i++)
		read_version(buf + pick[i]->off, pick[i]->len, req, out);
	index_line_refs_free(&own.refs);
}
