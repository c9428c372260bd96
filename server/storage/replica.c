#include "server/storage/replica.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cache/lru.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/workers.h"
#include "server/storage/objstore.h"

#include <jansson.h>

#define INDEX_FILE_MAX		(64u << 20)
/* Files remembered (ETag, when checked); past that the least recently
 * asked for are forgotten, and their next check is a plain GET whose
 * bytes are compared with the copy's. */
#define RFILES_MAX		65536
/* Requests waiting on one file's GET; more are answered from the local
 * copy as it is (or 503). */
#define WAITERS_MAX		4096
/* .crate files being fetched at once (each held whole in memory, twice,
 * up to max_body_bytes); more wait their turn, at most CRATES_QUEUED. */
#define CRATE_FETCHES_MAX	16
#define CRATES_QUEUED		4096
/* A store failure is logged once a minute per file. */
#define LOG_EVERY		60
/* Seconds a request waits for the store's answer about an index file
 * this replica has a copy of; then it gets the copy (stale), and the GET
 * goes on for the next ones. A store that hangs costs each request this,
 * not the client's timeouts (objstore.c gives up after 20 s). */
#define PATIENCE		3
/* A download of a version the copy lacks asks the store again, within
 * max_stale too, at most once per RECHECK_GAP seconds per file (so
 * unknown versions cannot make every request a GET). */
#define RECHECK_GAP		0.2

struct waiter {
	replica_cb	 cb;
	void		*arg;
	struct waiter	*next;
};

enum rfile_kind {
	RF_INDEX,
	RF_CRATE,
	RF_META,	/* a crate's meta/ file (catalogue.c keeps it) */
};

struct rfile {
	struct lru_node	 node;
	struct replica	*rp;
	enum rfile_kind	 kind;
	char		*lkey;			/* the table's key */
	char		 rel[STORE_PATH_MAX];	/* index/... or crates/... */
	char		*path;			/* index: as routed */
	char		*key;			/* objprefix + rel */
	char		*etag;		/* the store's, of the local copy */
	double		 checked;	/* monotonic; 0: never */
	double		 failed;	/* last store failure; 0: none */
	double		 rechecked;	/* last asked within max_stale */
	time_t		 logged;	/* last failure logged */
	bool		 busy;		/* a GET or disk job under way */
	bool		 impatient;	/* the GET took PATIENCE seconds */
	struct event	*patience;	/* A write of this machine replaced the copy while busy: what the
	 * GET under way says may be older than it. */
	bool		 superseded;
	double		 started;
	struct waiter	*waiters;
	size_t		 nwaiters;
	/* A GET's answer, for the worker. */
	char		*body;
	size_t		 len;
	char		*newetag;
	int		 res;		/* the disk job's */
	char		*cause;		/* why the store's file is bad */
	bool		 wrote;
	/* .crate */
	char		*name, *vers;
	char		 cksum[65];
	bool		 bad;
	bool		 fetching;	/* counted in crates_active */
	bool		 retried;	/* its index file asked for again */
	struct rfile	*qnext;		/* waiting for a turn */
};

struct replica {
	struct replica_params	 p;
	char			*registry, *objprefix;
	struct lru		 files;
	char			 labels[160];
	size_t			 crates_active, crates_queued;
	struct rfile		*queue, **queue_tail;
};

static double
now_mono(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
count(struct replica *rp, enum metric_id id, const char *extra)
{
	char	labels[256];

	snprintf(labels, sizeof labels, "%s%s%s", rp->labels,
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
	metrics_add(id, labels, 1);
}

struct replica *
replica_create(const struct replica_params *p)
{
	struct replica	*rp = xcalloc(1, sizeof *rp);

	rp->p = *p;
	rp->registry = xstrdup(p->registry);
	rp->objprefix = xstrdup(p->objprefix != NULL ? p->objprefix : "");
	rp->p.registry = rp->registry;
	rp->p.objprefix = rp->objprefix;
	lru_init(&rp->files);
	snprintf(rp->labels, sizeof rp->labels,
	    "registry=\"%s\",source=\"storage\"", rp->registry);
	return rp;
}

static void
rfile_free(struct rfile *f)
{
	if (f->patience != NULL)
		event_free(f->patience);
	free(f->lkey);
	free(f->cause);
	free(f->path);
	free(f->key);
	free(f->etag);
	free(f->body);
	free(f->newetag);
	free(f->name);
	free(f->vers);
	free(f);
}

static void
rfile_forget(struct rfile *f)
{
	lru_remove(&f->rp->files, &f->node);
	rfile_free(f);
}

void
replica_free(struct replica *rp)
{
	if (rp == NULL)
		return;
	while (rp->files.oldest != NULL)
		rfile_forget(lru_entry(rp->files.oldest, struct rfile, node));
	lru_fini(&rp->files);
	free(rp->registry);
	free(rp->objprefix);
	free(rp);
}

void
replica_set_max_stale(struct replica *rp, double max_stale)
{
	rp->p.max_stale = max_stale;
}

static struct rfile *
rfile_find(struct replica *rp, const char *rel)
{
	struct lru_node	*n = lru_find(&rp->files, rel, lru_hash(rel));

	if (n == NULL)
		return NULL;
	lru_touch(&rp->files, n);
	return lru_entry(n, struct rfile, node);
}

/* Forgets the least recently asked for idle files past RFILES_MAX. */
static void
rfiles_trim(struct replica *rp)
{
	struct lru_node	*n = rp->files.oldest;

	while (rp->files.n >= RFILES_MAX && n != NULL) {
		struct rfile	*f = lru_entry(n, struct rfile, node);

		n = n->newer;
		if (!f->busy)
			rfile_forget(f);
	}
}

/* The entry of an index file (by its path, so that the check on every
 * request builds no string) or of a .crate (by its rel: "crates/..."
 * never looks like an index path, whose first '/' is at most third). */
static struct rfile *
rfile_get(struct replica *rp, enum rfile_kind kind, const char *lkey)
{
	struct rfile	*f;

	if ((f = rfile_find(rp, lkey)) != NULL)
		return f;
	rfiles_trim(rp);
	f = xcalloc(1, sizeof *f);
	f->rp = rp;
	f->kind = kind;
	f->lkey = xstrdup(lkey);
	snprintf(f->rel, sizeof f->rel, "%s%s", kind == RF_INDEX ? "index/" :
	    "", lkey);
	if (kind == RF_INDEX) {
		const char	*base = strrchr(lkey, '/');

		f->path = xstrdup(lkey);
		f->name = xstrdup(base != NULL ? base + 1 : lkey);
	}
	f->key = xasprintf("%s%s", rp->objprefix, f->rel);
	lru_add(&rp->files, &f->node, f->lkey, lru_hash(f->lkey));
	return f;
}

static void
add_waiter(struct rfile *f, replica_cb cb, void *arg)
{
	struct waiter	*w = xcalloc(1, sizeof *w);

	w->cb = cb;
	w->arg = arg;
	w->next = f->waiters;
	f->waiters = w;
	f->nwaiters++;
}

/* Answers every request waiting on f. A callback may ask for f again
 * (a new round), so the list is taken first. */
static void
not_busy(struct rfile *f)
{
	f->busy = false;
	f->impatient = false;
	if (f->patience != NULL)
		evtimer_del(f->patience);
}

static void
finish(struct rfile *f, enum replica_outcome o, const char *why)
{
	struct waiter	*w = f->waiters, *next;

	f->waiters = NULL;
	f->nwaiters = 0;
	not_busy(f);
	free(f->body);
	f->body = NULL;
	free(f->newetag);
	f->newetag = NULL;
	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(o, why, w->arg);
		free(w);
	}
}

/* Once a minute per file: the store failed and what is on disk is
 * served (or, with nothing on disk, a 503). */
static void
note_failure(struct rfile *f, const struct obj_result *res, bool have)
{
	struct replica	*rp = f->rp;
	time_t		 now = time(NULL);

	f->failed = now_mono();
	if (now - f->logged < LOG_EVERY)
		return;
	f->logged = now;
	log_warn("registry %s: %s from %s: %s; %s", rp->registry, f->rel,
	    objstore_name(rp->p.objstore), res->error != NULL ? res->error :
	    "the store failed", have ? "serving the local copy (stale)" :
	    "no local copy to serve");
}

static void
observe(struct replica *rp, const struct obj_result *res)
{
	char	labels[256];

	snprintf(labels, sizeof labels, "%s,outcome=\"%s\"", rp->labels,
	    res->status == OBJ_OK ? "200" : res->status == OBJ_NOT_MODIFIED ?
	    "304" : res->status == OBJ_NOT_FOUND ? "404" : "failed");
	metrics_observe(METRIC_STORAGE_READ_SECONDS, labels, res->seconds);
}

/* The local copy of f changed: files.c forgets what it holds of an index
 * file (a meta/ file is read from disk each time). */
static void
notify(struct rfile *f)
{
	if (f->kind == RF_INDEX)
		f->rp->p.changed(f->path, f->rp->p.changed_arg);
}

/* ---- index files ---- */

static void	index_start(struct rfile *);

bool
replica_index_fresh(struct replica *rp, const char *path)
{
	struct lru_node	*n;
	struct rfile	*f;

	if ((n = lru_find(&rp->files, path, lru_hash(path))) == NULL)
		return false;
	f = lru_entry(n, struct rfile, node);
	return !f->busy && f->checked > 0 &&
	    now_mono() - f->checked < rp->p.max_stale;
}

/* The store failed a moment ago: answer from the disk without asking it
 * again, so that while it is down each request does not wait for a
 * timeout of its own (at most one a second per file does). */
static bool
recently_failed(const struct rfile *f)
{
	double	pause = f->rp->p.max_stale > 1 ? f->rp->p.max_stale : 1;

	return f->failed > 0 && now_mono() - f->failed < pause;
}

static void
serve_stale(struct rfile *f, replica_cb cb, void *arg)
{
	struct replica	*rp = f->rp;
	char		*why;

	if (store_exists(rp->p.store, f->rel) == 1) {
		count(rp, METRIC_STALE_SERVES_TOTAL, NULL);
		cb(REPLICA_STALE, NULL, arg);
		return;
	}
	why = xasprintf("the registry's storage (%s) cannot be reached and"
	    " this replica has no copy of the file; try again later",
	    objstore_name(rp->p.objstore));
	cb(REPLICA_UNAVAILABLE, why, arg);
	free(why);
}

/* The store gave nothing usable: every waiting request gets the copy
 * (stale), or a 503 without one. */
static void
fail_waiters(struct rfile *f)
{
	struct waiter	*w = f->waiters, *next;

	f->waiters = NULL;
	f->nwaiters = 0;
	free(f->body);
	f->body = NULL;
	free(f->newetag);
	f->newetag = NULL;
	not_busy(f);
	for (; w != NULL; w = next) {
		next = w->next;
		serve_stale(f, w->cb, w->arg);
		free(w);
	}
}

/* Asks for the index file at path; with recheck, the store is asked even
 * when the copy is within max_stale, unless a recheck asked it less than
 * RECHECK_GAP seconds ago. */
static void
index_want(struct replica *rp, const char *path, bool recheck,
    replica_cb cb, void *arg)
{
	struct rfile	*f = rfile_get(rp, RF_INDEX, path);
	double		 now = now_mono();
	bool		 fresh = f->checked > 0 &&
			    now - f->checked < rp->p.max_stale;

	if (recheck && fresh && now - f->rechecked >= RECHECK_GAP) {
		f->rechecked = now;
		fresh = false;
	}
	if (!f->busy && fresh) {
		cb(REPLICA_SERVE, NULL, arg);
		return;
	}
	/* Without a copy only the store can answer: it is asked again. */
	if (!f->busy && recently_failed(f) && store_exists(rp->p.store,
	    f->rel) == 1) {
		serve_stale(f, cb, arg);
		return;
	}
	if (f->nwaiters >= WAITERS_MAX || (f->busy && f->impatient)) {
		serve_stale(f, cb, arg);
		return;
	}
	if (f->busy)
		count(rp, METRIC_COALESCED_WAITERS_TOTAL, NULL);
	add_waiter(f, cb, arg);
	if (!f->busy)
		index_start(f);
}

void
replica_index(struct replica *rp, const char *path, replica_cb cb,
    void *arg)
{
	index_want(rp, path, false, cb, arg);
}

/* On a worker: whether f's body (a meta/ file) is a JSON object. */
static int
meta_check(struct rfile *f)
{
	json_error_t	 err;
	json_t		*j = json_loadb(f->body, f->len, 0, &err);
	bool		 ok = json_is_object(j);

	json_decref(j);
	if (!ok)
		f->cause = xasprintf("not a JSON object: %s", j == NULL ?
		    err.text : "another value");
	return ok ? 0 : -1;
}

/* On a worker: the copy becomes the store's bytes (unless it already is
 * them: after a restart nothing remembers the copy's ETag, and the plain
 * GET that follows must not rewrite every file). */
static void
index_write_work(void *arg)
{
	struct rfile	*f = arg;
	struct store	*s = f->rp->p.store;
	char		*old;
	size_t		 olen;

	f->wrote = false;
	/* What the store holds is checked as an upstream's answer is: a
	 * file cargo cannot read never replaces a copy it can (nor a meta/
	 * file that is not a JSON object one that is). */
	if (f->kind == RF_INDEX ? index_file_check(f->body, f->len, f->name,
	    &f->cause) != 0 : meta_check(f) != 0) {
		f->res = -EBADMSG;
		return;
	}
	if (store_read(s, f->rel, &old, &olen, NULL, INDEX_FILE_MAX) == 0) {
		bool	same = olen == f->len && memcmp(old, f->body,
			    olen) == 0;

		free(old);
		if (same) {
			f->res = 0;
			return;
		}
	}
	f->res = store_write(s, f->rel, f->body, f->len, NULL, NULL);
	f->wrote = f->res == 0;
}

/* A write of this machine landed while f's GET was under way: the GET
 * (and a copy it wrote) may predate it, so the store is asked again,
 * unconditionally, for the same waiters; its answer is at least as new
 * as that write. */
static bool
restarted(struct rfile *f)
{
	if (!f->superseded)
		return false;
	f->superseded = false;
	free(f->etag);
	f->etag = NULL;
	free(f->body);
	f->body = NULL;
	free(f->newetag);
	f->newetag = NULL;
	if (f->wrote)
		notify(f);
	f->wrote = false;
	index_start(f);
	return true;
}

static void
index_write_done(void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;

	if (restarted(f))
		return;
	if (f->res == -EBADMSG) {
		log_error("registry %s: %s in %s is not an index file (%s);"
		    " not used", rp->registry, f->rel,
		    objstore_name(rp->p.objstore), f->cause);
		free(f->cause);
		f->cause = NULL;
		f->failed = now_mono();
		fail_waiters(f);
		return;
	}
	if (f->res != 0) {
		log_error("registry %s: writing %s: %s", rp->registry, f->rel,
		    strerror(-f->res));
		finish(f, REPLICA_FAILED, "cannot write the local copy of the"
		    " index file");
		return;
	}
	if (f->wrote) {
		log_debug("registry %s: %s updated from %s", rp->registry,
		    f->rel, objstore_name(rp->p.objstore));
		notify(f);
	}
	free(f->etag);
	f->etag = f->newetag;
	f->newetag = NULL;
	f->checked = f->started;
	f->failed = 0;
	finish(f, REPLICA_SERVE, NULL);
}

static void
index_unlink_work(void *arg)
{
	struct rfile	*f = arg;
	char		 gz[STORE_PATH_MAX];

	f->res = store_unlink(f->rp->p.store, f->rel);
	if (f->kind != RF_INDEX)
		return;
	snprintf(gz, sizeof gz, "gz/%s", f->path);
	store_unlink(f->rp->p.store, gz);
}

static void
index_unlink_done(void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;

	f->wrote = true;	/* the copy is gone: a write undone */
	if (restarted(f))
		return;

	if (f->res != 0 && f->res != -ENOENT)
		log_error("registry %s: removing %s: %s", rp->registry,
		    f->rel, strerror(-f->res));
	notify(f);
	free(f->etag);
	f->etag = NULL;
	f->checked = f->started;
	f->failed = 0;
	finish(f, REPLICA_GONE, NULL);
}

static void
index_got(const struct obj_result *res, void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;

	observe(rp, res);
	if ((res->status == OBJ_OK || res->status == OBJ_NOT_MODIFIED ||
	    res->status == OBJ_NOT_FOUND) && restarted(f))
		return;
	switch (res->status) {
	case OBJ_NOT_MODIFIED:
		count(rp, METRIC_REVALIDATIONS_TOTAL, "result=\"304\"");
		f->checked = f->started;
		f->failed = 0;
		finish(f, REPLICA_SERVE, NULL);
		return;
	case OBJ_OK:
		count(rp, METRIC_REVALIDATIONS_TOTAL, "result=\"200\"");
		f->body = xmalloc(res->len + 1);
		memcpy(f->body, res->body, res->len);
		f->len = res->len;
		f->newetag = res->etag != NULL ? xstrdup(res->etag) : NULL;
		workers_submit(rp->p.disk, index_write_work, index_write_done,
		    f);
		return;
	case OBJ_NOT_FOUND:
		count(rp, METRIC_REVALIDATIONS_TOTAL, "result=\"404\"");
		workers_submit(rp->p.disk, index_unlink_work,
		    index_unlink_done, f);
		return;
	default:
		break;
	}
	note_failure(f, res, store_exists(rp->p.store, f->rel) == 1);
	fail_waiters(f);
}

/* The store has not answered for PATIENCE seconds: the requests waiting
 * get the copy (stale), as do the next ones until the GET ends. */
static void
impatient(evutil_socket_t fd, short what, void *arg)
{
	struct rfile		*f = arg;
	struct waiter		*w, *next;
	struct obj_result	 res = { .status = OBJ_UNAVAILABLE };
	char			*why;

	if (!f->busy || store_exists(f->rp->p.store, f->rel) != 1)
		return;		/* nothing else to serve: wait on */
	f->impatient = true;
	why = xasprintf("no answer within %d s", PATIENCE);
	res.error = why;
	note_failure(f, &res, true);
	free(why);
	f->failed = 0;		/* the GET may still succeed */
	w = f->waiters;
	f->waiters = NULL;
	f->nwaiters = 0;
	for (; w != NULL; w = next) {
		next = w->next;
		serve_stale(f, w->cb, w->arg);
		free(w);
	}
}

static void
index_start(struct rfile *f)
{
	struct timeval	tv = { PATIENCE, 0 };

	f->busy = true;
	f->impatient = false;
	f->wrote = false;
	f->started = now_mono();
	if (f->patience == NULL && f->rp->p.base != NULL)
		f->patience = evtimer_new(f->rp->p.base, impatient, f);
	if (f->patience != NULL)
		evtimer_add(f->patience, &tv);
	objstore_get(f->rp->p.objstore, f->key, f->etag, INDEX_FILE_MAX,
	    index_got, f);
}

void
replica_index_stored(struct replica *rp, const char *path,
    const char *etag)
{
	struct rfile	*f = rfile_get(rp, RF_INDEX, path);

	if (f->busy) {
		f->superseded = true;
		return;
	}
	free(f->etag);
	f->etag = etag != NULL ? xstrdup(etag) : NULL;
	f->checked = now_mono();
}

/* ---- the catalogue ---- */

void
replica_sync(struct replica *rp, const char *rel, const char *listed_etag,
    replica_cb cb, void *arg)
{
	bool		 meta = strncmp(rel, "meta/", 5) == 0;
	struct rfile	*f;

	if (!meta && strncmp(rel, "index/", 6) != 0) {
		cb(REPLICA_FAILED, "not an index or meta file", arg);
		return;
	}
	/* An index file's entry is its path, a meta/ file's its rel (its
	 * first '/' is further in than any index path's). */
	f = rfile_get(rp, meta ? RF_META : RF_INDEX, meta ? rel : rel + 6);
	if (!f->busy && listed_etag != NULL && f->etag != NULL &&
	    strcmp(f->etag, listed_etag) == 0) {
		cb(REPLICA_SERVE, NULL, arg);
		return;
	}
	if (f->nwaiters >= WAITERS_MAX) {
		cb(REPLICA_UNAVAILABLE, "too many requests wait for it", arg);
		return;
	}
	add_waiter(f, cb, arg);
	if (!f->busy)
		index_start(f);
}

/* ---- .crate files ---- */

static void	crate_index_ready(enum replica_outcome, const char *, void *);
static void	crate_fetch(struct rfile *);
static void	crate_finish(struct rfile *, enum replica_outcome,
		    const char *);

void
replica_crate(struct replica *rp, const char *name, const char *vers,
    replica_cb cb, void *arg)
{
	char		 rel[STORE_PATH_MAX], irel[STORE_PATH_MAX];
	struct rfile	*f;

	store_crate_rel(name, vers, rel);
	f = rfile_get(rp, RF_CRATE, rel);
	if (f->busy && f->nwaiters >= WAITERS_MAX) {
		cb(REPLICA_UNAVAILABLE, "too many requests wait for this"
		    " crate; try again", arg);
		return;
	}
	if (f->busy)
		count(rp, METRIC_COALESCED_WAITERS_TOTAL, NULL);
	add_waiter(f, cb, arg);
	if (f->busy)
		return;
	f->busy = true;
	free(f->name);
	free(f->vers);
	f->name = xstrdup(name);
	f->vers = xstrdup(vers);
	f->retried = false;
	store_index_rel(name, irel);
	/* The cksum comes from the index line: brought up to date first, so
	 * a version published elsewhere a moment ago is found. */
	replica_index(rp, irel + strlen("index/"), crate_index_ready, f);
}

/* Ends a .crate's round; its entry is not kept (the file is, for good). */
static void	crate_got(const struct obj_result *, void *);

/* GETs f's .crate when fewer than CRATE_FETCHES_MAX are under way, else
 * queues it (or refuses it: the queue is bounded too). */
static void
crate_fetch(struct rfile *f)
{
	struct replica	*rp = f->rp;

	if (rp->crates_active >= CRATE_FETCHES_MAX) {
		if (rp->crates_queued >= CRATES_QUEUED) {
			crate_finish(f, REPLICA_UNAVAILABLE, "too many .crate"
			    " files are being fetched from the store; try"
			    " again");
			return;
		}
		f->qnext = NULL;
		if (rp->queue == NULL)
			rp->queue_tail = &rp->queue;
		*rp->queue_tail = f;
		rp->queue_tail = &f->qnext;
		rp->crates_queued++;
		return;
	}
	rp->crates_active++;
	f->fetching = true;
	objstore_get(rp->p.objstore, f->key, NULL, rp->p.crate_max, crate_got,
	    f);
}

/* Ends a .crate's round; its entry is not kept (the file is, for good).
 * The next one queued gets its turn. */
static void
crate_finish(struct rfile *f, enum replica_outcome o, const char *why)
{
	struct replica	*rp = f->rp;
	struct rfile	*next;
	bool		 turn = f->fetching;

	if (f->fetching) {
		f->fetching = false;
		rp->crates_active--;
	}
	finish(f, o, why);
	if (!f->busy && f->waiters == NULL)
		rfile_forget(f);
	if (turn && (next = rp->queue) != NULL) {
		rp->queue = next->qnext;
		rp->crates_queued--;
		crate_fetch(next);
	}
}

static void
crate_index_ready(enum replica_outcome o, const char *why, void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;
	char		 irel[STORE_PATH_MAX], *buf, *msg;
	size_t		 len;
	int		 found = 0;

	if (o == REPLICA_SERVE || o == REPLICA_STALE) {
		store_index_rel(f->name, irel);
		if (store_read(rp->p.store, irel, &buf, &len, NULL,
		    INDEX_FILE_MAX) == 0) {
			found = index_file_cksum(buf, len, f->vers, f->cksum);
			free(buf);
		}
		if (found == 1) {
			crate_fetch(f);
			return;
		}
		/* A copy within max_stale may predate the version (published
		 * on another replica a moment ago): the store is asked once
		 * more before the answer is "not in the registry". */
		if (found == 0 && o == REPLICA_SERVE && !f->retried) {
			f->retried = true;
			index_want(rp, irel + strlen("index/"), true,
			    crate_index_ready, f);
			return;
		}
		o = REPLICA_GONE;
	}
	if (o == REPLICA_GONE) {
		msg = xasprintf("crate `%s` version %s is not in registry"
		    " `%s`", f->name, f->vers, rp->registry);
		crate_finish(f, REPLICA_GONE, msg);
		free(msg);
		return;
	}
	crate_finish(f, o, why);
}

static void
crate_check_work(void *arg)
{
	struct rfile	*f = arg;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;
	char		 hex[65];

	EVP_Digest(f->body, f->len, md, &n, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[64] = '\0';
	f->bad = n != 32 || CRYPTO_memcmp(hex, f->cksum, 64) != 0;
	if (f->bad) {
		f->res = 0;
		return;
	}
	/* Durable before it is served: a .crate is never fetched again. */
	f->res = store_write(f->rp->p.store, f->rel, f->body, f->len, NULL,
	    NULL);
}

static void
crate_check_done(void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;
	char		*msg;

	if (f->bad) {
		count(rp, METRIC_CHECKSUM_FAILURES_TOTAL, NULL);
		msg = xasprintf("the .crate of `%s` version %s in %s does not"
		    " match the checksum of its index line; not served",
		    f->name, f->vers, objstore_name(rp->p.objstore));
		log_error("registry %s: %s", rp->registry, msg);
		crate_finish(f, REPLICA_BAD, msg);
		free(msg);
		return;
	}
	if (f->res != 0) {
		log_error("registry %s: writing %s: %s", rp->registry, f->rel,
		    strerror(-f->res));
		crate_finish(f, REPLICA_FAILED, "cannot keep the .crate on"
		    " this replica's disk");
		return;
	}
	log_info("registry %s: crate %s %s fetched from %s (%zu bytes)",
	    rp->registry, f->name, f->vers, objstore_name(rp->p.objstore),
	    f->len);
	crate_finish(f, REPLICA_SERVE, NULL);
}

static void
crate_got(const struct obj_result *res, void *arg)
{
	struct rfile	*f = arg;
	struct replica	*rp = f->rp;
	char		*msg;

	observe(rp, res);
	if (res->status == OBJ_OK) {
		f->body = xmalloc(res->len + 1);
		memcpy(f->body, res->body, res->len);
		f->len = res->len;
		workers_submit(rp->p.cpu, crate_check_work, crate_check_done,
		    f);
		return;
	}
	if (res->status == OBJ_NOT_FOUND) {
		msg = xasprintf("crate `%s` version %s is indexed but %s has"
		    " no .crate for it", f->name, f->vers,
		    objstore_name(rp->p.objstore));
		log_error("registry %s: %s", rp->registry, msg);
		crate_finish(f, REPLICA_GONE, msg);
		free(msg);
		return;
	}
	note_failure(f, res, false);
	msg = xasprintf("the registry's storage (%s) cannot be reached and"
	    " this replica has no copy of crate `%s` version %s; try again"
	    " later", objstore_name(rp->p.objstore), f->name, f->vers);
	crate_finish(f, REPLICA_UNAVAILABLE, msg);
	free(msg);
}
