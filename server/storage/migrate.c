/*
 * A hosted registry copied between a data directory and the object store
 * (server/storage/migrate.h): checked first, then copied create-only,
 * crates before the index files naming them, WINDOW requests at once on
 * the caller's event loop.
 */
#include "server/storage/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/name.h"
#include "server/storage/objstore.h"

#define WINDOW		8		/* requests at once */
#define CRATE_MAX	(1u << 30)	/* as a mirror's */
#define INDEX_MAX	(64u << 20)
#define META_MAX	(1u << 20)

enum kind {
	K_CRATE,
	K_INDEX,
	K_OTHER,	/* meta/, names/ */
};

/* One object to copy. */
struct job {
	enum kind	 kind;
	char		*rel;		/* local path in the registry */
	char		*key;		/* the store's key */
	char		*data;		/* push: the body when no file */
	size_t		 dlen;
	char		 sum[65];	/* crates: the index line's SHA-256 */
};

/* A .crate an index line names. */
struct want {
	char	*rel;
	char	 sum[65];
	bool	 seen;
};

struct run {
	const struct migrate_spec *spec;
	struct migrate_stats	*st;
	struct store		*store;
	bool			 verify;	/* pull: write nothing */
	char			*error;		/* the first failure */
	struct job		*jobs;
	size_t			 njobs, cap, next, done, inflight;
	const char		*what;		/* the progress line's */
	bool			 exiting;	/* the loop is told to end */
	void			(*start)(struct run *, struct job *);
	struct want		*wants;
	size_t			 nwants, wcap;
	/* pull: the index files, held until the crates are in */
	struct job		*held;
	size_t			 nheld, hcap;
	char			**listed;	/* pull: crates/ keys seen */
	size_t			 nlisted, lcap;
};

static void
fail(struct run *r, char *why)
{
	if (r->error == NULL)
		r->error = why;
	else
		free(why);
}

static struct job *
add_job(struct job **v, size_t *n, size_t *cap, enum kind kind,
    const char *rel, char *key)
{
	struct job	*j;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xreallocarray(*v, *cap, sizeof **v);
	}
	j = &(*v)[(*n)++];
	memset(j, 0, sizeof *j);
	j->kind = kind;
	j->rel = rel != NULL ? xstrdup(rel) : NULL;
	j->key = key;
	return j;
}

static void
free_jobs(struct job *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].rel);
		free(v[i].key);
		free(v[i].data);
	}
	free(v);
}

static int
want_cmp(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->rel,
	    ((const struct want *)b)->rel);
}

static struct want *
want_find(struct run *r, const char *rel)
{
	struct want	k = { .rel = (char *)(uintptr_t)rel };

	return bsearch(&k, r->wants, r->nwants, sizeof *r->wants, want_cmp);
}

/* Records the .crate of every line of an index file; a crate file path
 * two lines share (versions equal but for +build cannot both exist, but
 * the file is untrusted) is recorded once. */
static int
want_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct run	*r = arg;
	char		 rel[STORE_PATH_MAX];

	if (e == NULL)
		return 0;
	store_crate_rel(e->name, e->vers, rel);
	if (r->nwants == r->wcap) {
		r->wcap = r->wcap ? r->wcap * 2 : 256;
		r->wants = xreallocarray(r->wants, r->wcap, sizeof *r->wants);
	}
	r->wants[r->nwants].rel = xstrdup(rel);
	memcpy(r->wants[r->nwants].sum, e->cksum, sizeof e->cksum);
	r->wants[r->nwants].seen = false;
	r->nwants++;
	return 0;
}

static void
sort_wants(struct run *r)
{
	size_t	o = 0;

	qsort(r->wants, r->nwants, sizeof *r->wants, want_cmp);
	for (size_t i = 0; i < r->nwants; i++) {
		if (o > 0 && strcmp(r->wants[o - 1].rel, r->wants[i].rel) == 0) {
			free(r->wants[i].rel);
			continue;
		}
		r->wants[o++] = r->wants[i];
	}
	r->nwants = o;
}

/* Checks an index file: every line parses and names the crate of its
 * path. Its crates become wanted. -1 with a failure recorded. */
static int
check_index(struct run *r, const char *where, const char *path,
    const char *buf, size_t len)
{
	char	 name[CRATE_NAME_MAX + 1], *cause = NULL;

	if (crate_name_from_index_path(path, name) != 0) {
		fail(r, xasprintf("%s: not the index path of a crate name",
		    where));
		return -1;
	}
	if (index_file_check(buf, len, name, &cause) != 0) {
		fail(r, xasprintf("%s: %s", where, cause));
		free(cause);
		return -1;
	}
	index_file_foreach(buf, len, want_line, r);
	return 0;
}

static void
progress_of(struct run *r, size_t done, size_t total)
{
	const struct bundle_progress	*p = r->spec->progress;

	if (p != NULL && p->fn != NULL)
		p->fn(r->what, done, total, r->st->bytes, p->arg);
}

static void
progress(struct run *r)
{
	progress_of(r, r->done, r->njobs);
}

/* Starts jobs while there is room; ends the loop when all are done or
 * one failed and the rest came back. */
static void
pump(struct run *r)
{
	while (r->error == NULL && r->inflight < WINDOW && r->next < r->njobs) {
		r->inflight++;
		r->start(r, &r->jobs[r->next++]);
	}
	/* Once per phase: a second exit would end the next phase's loop. */
	if (r->inflight == 0 && (r->error != NULL || r->next == r->njobs) &&
	    !r->exiting) {
		r->exiting = true;
		event_base_loopexit(r->spec->base, NULL);
	}
}

static void
job_done(struct run *r)
{
	r->inflight--;
	r->done++;
	progress(r);
	pump(r);
}

/* Runs the jobs of the run with start, to the end or the first failure.
 * The jobs are freed. */
static int
run_jobs(struct run *r, const char *what, void (*start)(struct run *,
    struct job *))
{
	r->what = what;
	r->start = start;
	r->next = r->done = 0;
	r->exiting = false;
	if (r->njobs > 0 && r->error == NULL) {
		pump(r);
		event_base_dispatch(r->spec->base);
	}
	free_jobs(r->jobs, r->njobs);
	r->jobs = NULL;
	r->njobs = r->cap = 0;
	return r->error != NULL ? -1 : 0;
}

/* A push: the object goes up create-only; a conflict is read back and
 * compared. */
struct op {
	struct run	*r;
	struct job	*j;
	char		*buf;
	size_t		 len;
};

static void
op_free(struct op *o)
{
	free(o->buf);
	free(o);
}

static void
count_copied(struct run *r, const struct job *j, size_t len)
{
	if (j->kind == K_CRATE)
		r->st->crates++;
	else if (j->kind == K_INDEX)
		r->st->index_files++;
	else
		r->st->other++;
	r->st->bytes += len;
}

static void
push_compared(const struct obj_result *res, void *arg)
{
	struct op	*o = arg;
	struct run	*r = o->r;

	if (res->status == OBJ_OK && res->len == o->len && memcmp(res->body,
	    o->buf, o->len) == 0)
		r->st->present++;
	else if (res->status == OBJ_OK || res->status == OBJ_NOT_FOUND ||
	    res->status == OBJ_ERROR)
		fail(r, xasprintf("the store already has a different %s: not"
		    " overwritten (remove it from the store, or compare it with"
		    " the local %s, then run again)", o->j->key, o->j->rel ?
		    o->j->rel : "one"));
	else
		fail(r, xasprintf("reading back %s: %s", o->j->key,
		    res->error ? res->error : "failed"));
	op_free(o);
	job_done(r);
}

static void
push_done(const struct obj_result *res, void *arg)
{
	struct op	*o = arg;
	struct run	*r = o->r;

	if (res->status == OBJ_OK)
		count_copied(r, o->j, o->len);
	else if (res->status == OBJ_CONFLICT) {
		objstore_get(r->spec->os, o->j->key, NULL, o->len, push_compared,
		    o);
		return;
	} else
		fail(r, xasprintf("storing %s: %s (what was copied before is"
		    " complete; run again to resume)", o->j->key, res->error ?
		    res->error : "failed"));
	op_free(o);
	job_done(r);
}

static void
push_start(struct run *r, struct job *j)
{
	struct op	*o = xcalloc(1, sizeof *o);
	struct obj_put	 p = { 0 };
	char		 sum[65];
	int		 e;

	o->r = r;
	o->j = j;
	if (j->rel == NULL) {
		o->buf = xmalloc(j->dlen + 1);
		memcpy(o->buf, j->data, j->dlen);
		o->len = j->dlen;
	} else if ((e = store_read(r->store, j->rel, &o->buf, &o->len, NULL,
	    CRATE_MAX)) != 0) {
		fail(r, xasprintf("%s/%s/%s: %s", r->spec->data_dir,
		    r->spec->name, j->rel, strerror(-e)));
		goto out;
	}
	/* Checked before the copy began; checked again as it goes up. */
	if (j->kind == K_CRATE && (sha256_hex(o->buf, o->len, sum),
	    strcmp(sum, j->sum) != 0)) {
		fail(r, xasprintf("%s/%s/%s changed while it was copied", r->spec
		    ->data_dir, r->spec->name, j->rel));
		goto out;
	}
	p.key = j->key;
	p.body = o->buf;
	p.len = o->len;
	p.content_type = j->kind == K_CRATE ? "application/gzip" :
	    j->kind == K_INDEX ? "text/plain; charset=utf-8" :
	    "application/json";
	p.cond = OBJ_PUT_CREATE;
	p.sha256 = j->kind == K_CRATE ? j->sum : NULL;
	objstore_put(r->spec->os, &p, push_done, o);
	return;
out:
	op_free(o);
	job_done(r);
}

static int
walk_index(const char *path, const struct stat *sb, void *arg)
{
	struct run	*r = arg;
	char		 rel[STORE_PATH_MAX], *buf, where[STORE_PATH_MAX + 64];
	size_t		 len;
	int		 e;

	snprintf(rel, sizeof rel, "index/%s", path);
	snprintf(where, sizeof where, "%s/%s", r->spec->name, rel);
	if ((e = store_read(r->store, rel, &buf, &len, NULL, INDEX_MAX)) !=
	    0) {
		fail(r, xasprintf("%s: %s", where, strerror(-e)));
		return -1;
	}
	if (check_index(r, where, path, buf, len) != 0) {
		free(buf);
		return -1;
	}
	free(buf);
	add_job(&r->held, &r->nheld, &r->hcap, K_INDEX, rel,
	    xasprintf("%s%s", r->spec->prefix, rel));
	return 0;
}

/* Every wanted .crate is there locally with its index line's SHA-256. */
static int
check_local_crates(struct run *r)
{
	char	*buf, sum[65];
	size_t	 len;
	int	 e;

	r->what = "check";
	for (size_t i = 0; i < r->nwants; i++) {
		struct want	*w = &r->wants[i];

		if ((e = store_read(r->store, w->rel, &buf, &len, NULL,
		    CRATE_MAX)) != 0) {
			fail(r, xasprintf("%s/%s/%s: %s (an index line names"
			    " it); nothing was copied", r->spec->data_dir,
			    r->spec->name, w->rel, strerror(-e)));
			return -1;
		}
		sha256_hex(buf, len, sum);
		free(buf);
		if (strcmp(sum, w->sum) != 0) {
			fail(r, xasprintf("%s/%s/%s: its SHA-256 is %s, its index"
			    " line says %s: the local copy is damaged; nothing"
			    " was copied (restore it, e.g. from a backup or"
			    " `crated export`, and run again)",
			    r->spec->data_dir, r->spec->name, w->rel, sum,
			    w->sum));
			return -1;
		}
		progress_of(r, i + 1, r->nwants);
	}
	return 0;
}

static int
walk_orphans(const char *path, const struct stat *sb, void *arg)
{
	struct run	*r = arg;
	char		 rel[STORE_PATH_MAX];

	snprintf(rel, sizeof rel, "crates/%s", path);
	if (want_find(r, rel) == NULL)
		r->st->orphans++;
	return 0;
}

/* The names reservations and the metadata of the index files held. */
static void
plan_others(struct run *r)
{
	char	 rel[STORE_PATH_MAX], canon[CRATE_NAME_MAX + 1];
	char	 name[CRATE_NAME_MAX + 1];
	char	*buf;
	size_t	 len;

	for (size_t i = 0; i < r->nheld; i++) {
		const char	*path = r->held[i].rel + strlen("index/");
		struct index_entry e;
		struct job	*j;

		snprintf(rel, sizeof rel, "meta/%s", path);
		if (store_exists(r->store, rel))
			add_job(&r->jobs, &r->njobs, &r->cap, K_OTHER, rel,
			    xasprintf("%s%s", r->spec->prefix, rel));
		/* names/<canonical>: the name as first published, from the
		 * file's first line. */
		if (store_read(r->store, r->held[i].rel, &buf, &len, NULL,
		    INDEX_MAX) != 0)
			continue;
		memset(&e, 0, sizeof e);
		if (crate_name_from_index_path(path, name) == 0 &&
		    index_line_parse(buf, strcspn(buf, "\n"), &e, NULL) == 0) {
			crate_name_canon(e.name, canon);
			j = add_job(&r->jobs, &r->njobs, &r->cap, K_OTHER, NULL,
			    xasprintf("%snames/%s", r->spec->prefix, canon));
			j->data = xstrdup(e.name);
			j->dlen = strlen(e.name);
			index_entry_finish(&e);
		}
		free(buf);
	}
}

static void
run_free(struct run *r)
{
	for (size_t i = 0; i < r->nwants; i++)
		free(r->wants[i].rel);
	free(r->wants);
	free_jobs(r->held, r->nheld);
	free_jobs(r->jobs, r->njobs);
	for (size_t i = 0; i < r->nlisted; i++)
		free(r->listed[i]);
	free(r->listed);
	store_close(r->store);
}

static int
run_open(struct run *r, const struct migrate_spec *spec,
    struct migrate_stats *st, char **cause)
{
	int	e;

	memset(r, 0, sizeof *r);
	memset(st, 0, sizeof *st);
	r->spec = spec;
	r->st = st;
	if ((e = store_open(spec->data_dir, spec->name, &r->store, cause)) !=
	    0)
		return -1;
	return 0;
}

static int
run_end(struct run *r, int res, char **cause)
{
	if (res != 0)
		*cause = r->error != NULL ? r->error : xstrdup("failed");
	else
		free(r->error);
	run_free(r);
	return res;
}

int
migrate_push(const struct migrate_spec *spec, struct migrate_stats *st,
    char **cause)
{
	struct run	r;
	int		e;

	if (run_open(&r, spec, st, cause) != 0)
		return -1;
	r.what = "check";
	if ((e = store_walk(r.store, "index", walk_index, &r)) != 0 &&
	    r.error == NULL)
		fail(&r, xasprintf("%s/%s/index: %s", spec->data_dir,
		    spec->name, strerror(-e)));
	if (r.error != NULL)
		return run_end(&r, -1, cause);
	sort_wants(&r);
	if (check_local_crates(&r) != 0)
		return run_end(&r, -1, cause);
	store_walk(r.store, "crates", walk_orphans, &r);
	/* Crates first, then names and metadata, then the index files: an
	 * index line is never in the store before its .crate. */
	for (size_t i = 0; i < r.nwants; i++) {
		struct job	*j = add_job(&r.jobs, &r.njobs, &r.cap, K_CRATE,
				    r.wants[i].rel, xasprintf("%s%s",
				    spec->prefix, r.wants[i].rel));

		memcpy(j->sum, r.wants[i].sum, sizeof j->sum);
	}
	if (run_jobs(&r, "crates", push_start) != 0)
		return run_end(&r, -1, cause);
	plan_others(&r);
	if (run_jobs(&r, "meta", push_start) != 0)
		return run_end(&r, -1, cause);
	r.jobs = r.held;
	r.njobs = r.nheld;
	r.held = NULL;
	r.nheld = r.hcap = 0;
	return run_end(&r, run_jobs(&r, "index", push_start), cause);
}

/*
 * Pull: list the registry's keys, fetch and check its index files (held
 * in memory), then fetch, check and write its crates one by one, then the
 * index files, then the metadata.
 */
static void
list_page(const struct obj_result *res, const struct obj_entry *v, size_t n,
    const char *next, void *arg)
{
	struct run	*r = arg;
	size_t		 plen = strlen(r->spec->prefix);

	if (res->status != OBJ_OK) {
		fail(r, xasprintf("listing %s: %s", r->spec->prefix,
		    res->error ? res->error : "failed"));
		event_base_loopexit(r->spec->base, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char	*rel = v[i].key + plen;
		char		 name[CRATE_NAME_MAX + 1];

		if (strncmp(v[i].key, r->spec->prefix, plen) != 0)
			continue;
		if (strncmp(rel, "index/", 6) == 0 &&
		    crate_name_from_index_path(rel + 6, name) == 0)
			add_job(&r->held, &r->nheld, &r->hcap, K_INDEX, rel,
			    xstrdup(v[i].key));
		else if (strncmp(rel, "meta/", 5) == 0 &&
		    crate_name_from_index_path(rel + 5, name) == 0)
			add_job(&r->jobs, &r->njobs, &r->cap, K_OTHER, rel,
			    xstrdup(v[i].key));
		else if (strncmp(rel, "crates/", 7) == 0) {
			if (r->nlisted == r->lcap) {
				r->lcap = r->lcap ? r->lcap * 2 : 256;
				r->listed = xreallocarray(r->listed, r->lcap,
				    sizeof *r->listed);
			}
			r->listed[r->nlisted++] = xstrdup(rel);
		}
	}
	if (next != NULL)
		objstore_list(r->spec->os, r->spec->prefix, next, list_page, r);
	else
		event_base_loopexit(r->spec->base, NULL);
}

/* Writes buf to rel unless rel holds it already (present); a different
 * file is never overwritten. */
static void
local_put(struct run *r, const struct job *j, const char *buf, size_t len)
{
	char	*old = NULL;
	size_t	 olen;
	int	 e;

	if (r->verify) {
		count_copied(r, j, len);
		return;
	}
	e = store_read(r->store, j->rel, &old, &olen, NULL, len);
	if (e == 0 && olen == len && memcmp(old, buf, len) == 0)
		r->st->present++;
	else if (e == 0 || e == -EFBIG)
		fail(r, xasprintf("%s/%s/%s exists and differs from the store's"
		    " %s: not overwritten", r->spec->data_dir, r->spec->name,
		    j->rel, j->key));
	else if (e != -ENOENT)
		fail(r, xasprintf("%s/%s/%s: %s", r->spec->data_dir,
		    r->spec->name, j->rel, strerror(-e)));
	else if ((e = store_write(r->store, j->rel, buf, len, NULL, NULL)) !=
	    0)
		fail(r, xasprintf("writing %s/%s/%s: %s", r->spec->data_dir,
		    r->spec->name, j->rel, strerror(-e)));
	else
		count_copied(r, j, len);
	free(old);
}

static void
pull_index_done(const struct obj_result *res, void *arg)
{
	struct op	*o = arg;
	struct run	*r = o->r;

	if (res->status != OBJ_OK)
		fail(r, xasprintf("reading %s: %s", o->j->key, res->error ?
		    res->error : "failed"));
	else if (check_index(r, o->j->key, o->j->rel + 6, res->body,
	    res->len) == 0) {
		o->j->data = xmalloc(res->len + 1);
		memcpy(o->j->data, res->body, res->len);
		o->j->dlen = res->len;
	}
	free(o);
	job_done(r);
}

static void
pull_index_start(struct run *r, struct job *j)
{
	struct op	*o = xcalloc(1, sizeof *o);

	o->r = r;
	o->j = j;
	objstore_get(r->spec->os, j->key, NULL, INDEX_MAX, pull_index_done, o);
}

static void
pull_crate_done(const struct obj_result *res, void *arg)
{
	struct op	*o = arg;
	struct run	*r = o->r;
	char		 sum[65];

	if (res->status != OBJ_OK)
		fail(r, xasprintf("reading %s: %s", o->j->key, res->error ?
		    res->error : "failed"));
	else if (sha256_hex(res->body, res->len, sum), strcmp(sum,
	    o->j->sum) != 0)
		fail(r, xasprintf("the store's %s has SHA-256 %s, its index line"
		    " says %s: the stored copy is damaged; not copied",
		    o->j->key, sum, o->j->sum));
	else
		local_put(r, o->j, res->body, res->len);
	free(o);
	job_done(r);
}

static void
pull_crate_start(struct run *r, struct job *j)
{
	struct op	*o = xcalloc(1, sizeof *o);

	o->r = r;
	o->j = j;
	objstore_get(r->spec->os, j->key, NULL, CRATE_MAX, pull_crate_done, o);
}

static void
pull_meta_done(const struct obj_result *res, void *arg)
{
	struct op	*o = arg;
	struct run	*r = o->r;
	json_t		*j;

	if (res->status != OBJ_OK)
		fail(r, xasprintf("reading %s: %s", o->j->key, res->error ?
		    res->error : "failed"));
	else if ((j = json_loadb(res->body, res->len, 0, NULL)) == NULL ||
	    !json_is_object(j)) {
		json_decref(j);
		fail(r, xasprintf("the store's %s is not a JSON object",
		    o->j->key));
	} else {
		json_decref(j);
		local_put(r, o->j, res->body, res->len);
	}
	free(o);
	job_done(r);
}

static void
pull_meta_start(struct run *r, struct job *j)
{
	struct op	*o = xcalloc(1, sizeof *o);

	o->r = r;
	o->j = j;
	objstore_get(r->spec->os, j->key, NULL, META_MAX, pull_meta_done, o);
}

/* The listed crates an index line names become jobs; the others are
 * orphans, left behind. Every line's crate must be listed. */
static int
plan_crates(struct run *r, struct job **meta, size_t *nmeta)
{
	struct want	*w;

	*meta = r->jobs;
	*nmeta = r->njobs;
	r->jobs = NULL;
	r->njobs = r->cap = 0;
	for (size_t i = 0; i < r->nlisted; i++) {
		struct job	*j;

		if ((w = want_find(r, r->listed[i])) == NULL) {
			r->st->orphans++;
			continue;
		}
		w->seen = true;
		j = add_job(&r->jobs, &r->njobs, &r->cap, K_CRATE,
		    r->listed[i], xasprintf("%s%s", r->spec->prefix,
		    r->listed[i]));
		memcpy(j->sum, w->sum, sizeof j->sum);
	}
	for (size_t i = 0; i < r->nwants; i++)
		if (!r->wants[i].seen) {
			fail(r, xasprintf("an index line names %s%s, which the"
			    " store does not have; nothing was copied",
			    r->spec->prefix, r->wants[i].rel));
			return -1;
		}
	return 0;
}

/* The index files held, written after their crates. */
static void
write_held(struct run *r)
{
	r->what = "index";
	for (size_t i = 0; i < r->nheld && r->error == NULL; i++) {
		local_put(r, &r->held[i], r->held[i].data, r->held[i].dlen);
		progress_of(r, i + 1, r->nheld);
	}
}

int
migrate_pull(const struct migrate_spec *spec, bool verify,
    struct migrate_stats *st, char **cause)
{
	struct run	 r;
	struct job	*meta;
	size_t		 nmeta;

	if (run_open(&r, spec, st, cause) != 0)
		return -1;
	r.verify = verify;
	objstore_list(spec->os, spec->prefix, NULL, list_page, &r);
	event_base_dispatch(spec->base);
	if (r.error != NULL)
		return run_end(&r, -1, cause);
	/* The index files first, read into memory and checked. */
	meta = r.jobs;
	nmeta = r.njobs;
	r.jobs = r.held;
	r.njobs = r.cap = r.nheld;
	r.what = "index";
	r.start = pull_index_start;
	r.exiting = false;
	if (r.njobs > 0) {
		pump(&r);
		event_base_dispatch(spec->base);
	}
	r.held = r.jobs;
	r.jobs = meta;
	r.njobs = r.cap = nmeta;
	if (r.error != NULL)
		return run_end(&r, -1, cause);
	sort_wants(&r);
	if (plan_crates(&r, &meta, &nmeta) != 0 || run_jobs(&r, "crates",
	    pull_crate_start) != 0) {
		free_jobs(meta, nmeta);
		return run_end(&r, -1, cause);
	}
	write_held(&r);
	r.jobs = meta;
	r.njobs = r.cap = nmeta;
	return run_end(&r, r.error != NULL ? -1 : run_jobs(&r, "meta",
	    pull_meta_start), cause);
}

/* One object outside the registries (tokens.json). */
struct one {
	struct event_base	*base;
	struct objstore		*os;
	const char		*key;
	const char		*path;
	char			*buf;
	size_t			 len;
	int			 res;
	char			*error;
	bool			 compare;
};

static void
one_put_done(const struct obj_result *res, void *arg)
{
	struct one	*o = arg;

	if (o->compare) {
		o->res = res->status == OBJ_OK && res->len == o->len &&
		    memcmp(res->body, o->buf, o->len) == 0 ? 1 : -1;
		if (o->res == -1)
			o->error = xasprintf("the store already has a different"
			    " %s: not overwritten", o->key);
	} else if (res->status == OBJ_CONFLICT) {
		o->compare = true;
		objstore_get(o->os, o->key, NULL, o->len, one_put_done, o);
		return;
	} else if (res->status != OBJ_OK) {
		o->res = -1;
		o->error = xasprintf("storing %s: %s", o->key, res->error ?
		    res->error : "failed");
	}
	event_base_loopexit(o->base, NULL);
}

/* The whole of a small file (new); -errno. */
static int
read_file(const char *path, char **buf, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	size_t	 cap = 4096, n;

	if (f == NULL)
		return -errno;
	*buf = xmalloc(cap);
	*len = 0;
	while ((n = fread(*buf + *len, 1, cap - *len, f)) > 0) {
		*len += n;
		if (*len == cap && cap >= META_MAX * 16) {
			fclose(f);
			free(*buf);
			return -EFBIG;
		}
		if (*len == cap)
			*buf = xrealloc(*buf, cap *= 2);
	}
	fclose(f);
	return 0;
}

int
migrate_push_file(struct event_base *base, struct objstore *os,
    const char *path, const char *key, char **cause)
{
	struct one	o = { .base = base, .os = os, .key = key };
	struct obj_put	p = { 0 };
	int		e;

	if ((e = read_file(path, &o.buf, &o.len)) != 0) {
		*cause = xasprintf("%s: %s", path, strerror(-e));
		return -1;
	}
	p.key = key;
	p.body = o.buf;
	p.len = o.len;
	p.content_type = "application/json";
	p.cond = OBJ_PUT_CREATE;
	objstore_put(os, &p, one_put_done, &o);
	event_base_dispatch(base);
	free(o.buf);
	if (o.res == -1)
		*cause = o.error;
	return o.res;
}

static void
one_get_done(const struct obj_result *res, void *arg)
{
	struct one	*o = arg;

	if (res->status == OBJ_NOT_FOUND)
		o->res = 1;
	else if (res->status != OBJ_OK) {
		o->res = -1;
		o->error = xasprintf("reading %s: %s", o->key, res->error ?
		    res->error : "failed");
	} else {
		o->buf = xmalloc(res->len + 1);
		memcpy(o->buf, res->body, res->len);
		o->len = res->len;
	}
	event_base_loopexit(o->base, NULL);
}

/* Writes o's bytes to its path, create-only (0600: tokens). */
static void
one_write(struct one *o)
{
	char	*tmp, *old;
	size_t	 olen;
	int	 fd = -1, e;

	if ((e = read_file(o->path, &old, &olen)) == 0) {
		o->res = olen == o->len && memcmp(old, o->buf, olen) == 0 ? 1 :
		    -1;
		if (o->res == -1)
			o->error = xasprintf("%s exists and differs from the"
			    " store's %s: not overwritten", o->path, o->key);
		free(old);
		return;
	}
	tmp = xasprintf("%s.migrate-tmp", o->path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1 || write(fd, o->buf, o->len) != (ssize_t)o->len ||
	    fsync(fd) != 0 || close(fd) != 0 || (fd = -1, link(tmp,
	    o->path) != 0)) {
		o->res = -1;
		o->error = xasprintf("writing %s: %s", o->path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
	}
	unlink(tmp);
	free(tmp);
}

int
migrate_pull_file(struct event_base *base, struct objstore *os,
    const char *key, const char *path, char **cause)
{
	struct one	o = { .base = base, .os = os, .key = key,
			    .path = path };

	objstore_get(os, key, NULL, META_MAX * 16, one_get_done, &o);
	event_base_dispatch(base);
	if (o.res == 0)
		one_write(&o);
	free(o.buf);
	if (o.res == -1)
		*cause = o.error;
	return o.res;
}

struct counting {
	struct event_base	*base;
	struct objstore		*os;
	const char		*prefix;
	struct migrate_stats	*st;
	char			*error;
};

static void
count_page(const struct obj_result *res, const struct obj_entry *v,
    size_t n, const char *next, void *arg)
{
	struct counting	*c = arg;
	size_t		 plen = strlen(c->prefix);

	if (res->status != OBJ_OK) {
		c->error = xasprintf("listing \"%s\" in %s: %s", c->prefix,
		    objstore_name(c->os), res->error ? res->error : "failed");
		event_base_loopexit(c->base, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char	*rel = v[i].key + plen;

		if (strncmp(rel, "index/", 6) == 0)
			c->st->index_files++;
		else if (strncmp(rel, "crates/", 7) == 0)
			c->st->crates++;
		else
			c->st->other++;
		if (v[i].size > 0)
			c->st->bytes += (unsigned long long)v[i].size;
	}
	if (next != NULL)
		objstore_list(c->os, c->prefix, next, count_page, c);
	else
		event_base_loopexit(c->base, NULL);
}

int
migrate_count(struct event_base *base, struct objstore *os,
    const char *prefix, struct migrate_stats *st, char **cause)
{
	struct counting	c = { base, os, prefix, st, NULL };

	memset(st, 0, sizeof *st);
	objstore_list(os, prefix, NULL, count_page, &c);
	event_base_dispatch(base);
	if (c.error != NULL) {
		*cause = c.error;
		return -1;
	}
	return 0;
}
