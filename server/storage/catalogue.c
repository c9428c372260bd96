#include "server/storage/catalogue.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/workers.h"
#include "server/storage/objstore.h"
#include "server/storage/replica.h"

/* Objects brought up to date at once (replica GETs, each holding one
 * index file in memory while it is written). */
#define SYNCS_MAX	8
/* Index and meta objects remembered (a path and an ETag each, ~120
 * bytes): past this the round stops, logged; a registry that large
 * wants a bigger constant, not a silent partial search. */
#define TABLE_MAX	(1u << 21)
/* Local copies the store lacks, checked and removed per round; the rest
 * the next round. */
#define REMOVALS_MAX	4096

struct centry {
	char	*rel;		/* "index/..." or "meta/..." */
	char	*etag;		/* the listed one once synced; NULL: not */
};

struct table {
	struct centry	*v;
	size_t		 n, cap;
};

enum phase {
	PH_IDLE,
	PH_INDEX,
	PH_META,
	PH_WALK,
	PH_REMOVE,
};

/* One replica_sync under way. */
struct csync {
	struct catalogue	*cat;
	size_t			 idx;	/* in cur, or SIZE_MAX: a removal */
};

struct catalogue {
	struct catalogue_params	 p;
	char			*registry, *objprefix;
	struct event		*timer;
	bool			 stopped;
	enum phase		 phase;
	struct table		 old, cur;	/* the last round's, this */
	char			*after;		/* the next page's marker */
	/* The objects of this page to bring up to date (indexes in cur),
	 * or the local copies to check (gone). At most a page. */
	size_t			*todo;
	size_t			 ntodo, itodo, todocap;
	char			**gone;
	size_t			 ngone;
	size_t			 inflight;
	bool			 pumping, incomplete;
	int			 walk_res;
	struct catalogue_stats	 st;
	char			 labels[128];
};

static void	round_start(struct catalogue *);
static void	pump(struct catalogue *);

static void
table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].rel);
		free(t->v[i].etag);
	}
	free(t->v);
	memset(t, 0, sizeof *t);
}

static int
centry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct centry *)a)->rel,
	    ((const struct centry *)b)->rel);
}

static const struct centry *
table_find(const struct table *t, const char *rel)
{
	struct centry	k = { .rel = (char *)(uintptr_t)rel };

	if (t->n == 0)
		return NULL;
	return bsearch(&k, t->v, t->n, sizeof *t->v, centry_cmp);
}

/* Listings come in key order; sorted anyway should a store differ. */
static void
table_sort(struct table *t)
{
	for (size_t i = 1; i < t->n; i++)
		if (strcmp(t->v[i - 1].rel, t->v[i].rel) > 0) {
			qsort(t->v, t->n, sizeof *t->v, centry_cmp);
			return;
		}
}

static void
schedule(struct catalogue *cat)
{
	struct timeval	tv = { cat->p.interval > 0 ? cat->p.interval : 1, 0 };

	cat->phase = PH_IDLE;
	if (!cat->stopped && cat->p.interval > 0)
		evtimer_add(cat->timer, &tv);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct catalogue	*cat = arg;

	if (!cat->stopped && cat->phase == PH_IDLE)
		round_start(cat);
}

struct catalogue *
catalogue_start(const struct catalogue_params *p)
{
	struct catalogue	*cat = xcalloc(1, sizeof *cat);
	struct timeval		 now = { 0, 0 };

	cat->p = *p;
	cat->registry = xstrdup(p->registry);
	cat->objprefix = xstrdup(p->objprefix != NULL ? p->objprefix : "");
	cat->p.registry = cat->registry;
	cat->p.objprefix = cat->objprefix;
	snprintf(cat->labels, sizeof cat->labels, "registry=\"%s\"",
	    cat->registry);
	cat->timer = evtimer_new(p->base, tick, cat);
	if (p->interval > 0)	/* 0: never (until a reload says) */
		evtimer_add(cat->timer, &now);
	return cat;
}

void
catalogue_stop(struct catalogue *cat)
{
	if (cat == NULL)
		return;
	cat->stopped = true;
	evtimer_del(cat->timer);
}

void
catalogue_free(struct catalogue *cat)
{
	if (cat == NULL)
		return;
	event_free(cat->timer);
	table_clear(&cat->old);
	table_clear(&cat->cur);
	for (size_t i = 0; i < cat->ngone; i++)
		free(cat->gone[i]);
	free(cat->gone);
	free(cat->todo);
	free(cat->after);
	free(cat->registry);
	free(cat->objprefix);
	free(cat);
}

void
catalogue_set_interval(struct catalogue *cat, int interval)
{
	if (cat == NULL)
		return;
	cat->p.interval = interval;
	if (cat->phase == PH_IDLE && !cat->stopped) {
		evtimer_del(cat->timer);
		schedule(cat);
	}
}

void
catalogue_stats(const struct catalogue *cat, struct catalogue_stats *st)
{
	*st = cat->st;
	st->running = cat->phase != PH_IDLE;
	st->objects = cat->old.n;
}

/* A round ends without a complete listing: what is on disk stays, the
 * last round's table too. Logged once until a round completes. */
static void
round_fail(struct catalogue *cat, const char *why)
{
	if (!cat->st.failing)
		log_warn("registry %s: the catalogue of %s could not be read"
		    " (%s); the local copies stay as they are, tried again"
		    " every %d s", cat->registry,
		    objstore_name(cat->p.objstore), why != NULL ? why :
		    "the store failed", cat->p.interval);
	cat->st.failing = true;
	cat->st.failures++;
	cat->st.last_round = time(NULL);
	table_clear(&cat->cur);
	cat->ntodo = cat->itodo = 0;
	free(cat->after);
	cat->after = NULL;
	schedule(cat);
}

static void
round_end(struct catalogue *cat)
{
	time_t	now = time(NULL);

	for (size_t i = 0; i < cat->ngone; i++)
		free(cat->gone[i]);
	cat->ngone = 0;
	table_clear(&cat->old);
	cat->old = cat->cur;
	memset(&cat->cur, 0, sizeof cat->cur);
	cat->st.last_round = now;
	if (!cat->incomplete) {
		if (cat->st.failing || cat->st.last_complete == 0)
			log_info("registry %s: catalogue of %s in sync: %zu"
			    " index and meta objects", cat->registry,
			    objstore_name(cat->p.objstore), cat->old.n);
		cat->st.last_complete = now;
		cat->st.failing = false;
		metrics_set(METRIC_CATALOGUE_LAST_COMPLETE, cat->labels,
		    (double)now);
	}
	schedule(cat);
}

static const char *
phase_prefix(enum phase ph)
{
	return ph == PH_INDEX ? "index/" : "meta/";
}

static void	page_got(const struct obj_result *, const struct obj_entry *,
		    size_t, const char *, void *);

static void
list_request(struct catalogue *cat)
{
	char	*prefix = xasprintf("%s%s", cat->objprefix,
		    phase_prefix(cat->phase));

	objstore_list(cat->p.objstore, prefix, cat->after, page_got, cat);
	free(prefix);
}

static void
round_start(struct catalogue *cat)
{
	cat->phase = PH_INDEX;
	cat->incomplete = false;
	table_clear(&cat->cur);
	free(cat->after);
	cat->after = NULL;
	list_request(cat);
}

/* One listed object of R/index/ or R/meta/ (rel after the prefix): kept
 * in this round's table, queued when its ETag is not the one synced last
 * round; an index file's crate name goes to the owner. -1: the table is
 * full. */
static int
page_object(struct catalogue *cat, const char *rel, const char *etag)
{
	const struct centry	*was;
	struct centry		*e;
	char			 name[CRATE_NAME_MAX + 1];
	bool			 index = cat->phase == PH_INDEX;

	/* Only what a publish writes (a lowercase crate's path): anything
	 * else in the prefix is no file of this registry. */
	if (crate_name_from_index_path(rel + (index ? 6 : 5), name) != 0)
		return 0;
	if (cat->cur.n >= TABLE_MAX)
		return -1;
	if (index && cat->p.name != NULL)
		cat->p.name(name, cat->p.arg);
	if (cat->cur.n == cat->cur.cap) {
		cat->cur.cap = cat->cur.cap ? cat->cur.cap * 2 : 256;
		cat->cur.v = xreallocarray(cat->cur.v, cat->cur.cap,
		    sizeof *cat->cur.v);
	}
	e = &cat->cur.v[cat->cur.n];
	e->rel = xstrdup(rel);
	e->etag = etag != NULL ? xstrdup(etag) : NULL;
	was = table_find(&cat->old, rel);
	if (was == NULL || was->etag == NULL || etag == NULL ||
	    strcmp(was->etag, etag) != 0) {
		if (cat->ntodo == cat->todocap) {
			cat->todocap = cat->todocap ? cat->todocap * 2 : 64;
			cat->todo = xreallocarray(cat->todo, cat->todocap,
			    sizeof *cat->todo);
		}
		cat->todo[cat->ntodo++] = cat->cur.n;
	}
	cat->cur.n++;
	return 0;
}

static void
page_got(const struct obj_result *res, const struct obj_entry *ents,
    size_t n, const char *next, void *arg)
{
	struct catalogue	*cat = arg;
	size_t			 plen = strlen(cat->objprefix);
	char			*why;

	if (cat->stopped)
		return;
	if (res->status != OBJ_OK) {
		round_fail(cat, res->error);
		return;
	}
	metrics_add(METRIC_CATALOGUE_LISTED_TOTAL, cat->labels, (double)n);
	cat->st.listed += n;
	cat->ntodo = cat->itodo = 0;
	for (size_t i = 0; i < n; i++) {
		const char	*rel = ents[i].key;

		if (strncmp(rel, cat->objprefix, plen) != 0)
			continue;
		rel += plen;
		if (page_object(cat, rel, ents[i].etag) != 0) {
			why = xasprintf("more than %u index and meta objects",
			    TABLE_MAX);
			round_fail(cat, why);
			free(why);
			return;
		}
	}
	free(cat->after);
	cat->after = next != NULL ? xstrdup(next) : NULL;
	pump(cat);
}

/* ---- bringing objects up to date ---- */

static void
synced(enum replica_outcome o, const char *why, void *arg)
{
	struct csync		*cs = arg;
	struct catalogue	*cat = cs->cat;
	bool			 ok = o == REPLICA_SERVE || o == REPLICA_GONE;
	char			 labels[192];

	snprintf(labels, sizeof labels, "%s,outcome=\"%s\"", cat->labels,
	    o == REPLICA_SERVE ? "ok" : o == REPLICA_GONE ? "gone" :
	    "failed");
	metrics_add(METRIC_CATALOGUE_FETCHES_TOTAL, labels, 1);
	if (cs->idx == SIZE_MAX && o == REPLICA_GONE)
		cat->st.removed++;
	else if (cs->idx != SIZE_MAX)
		cat->st.fetched++;
	if (!ok) {
		/* Asked again next round; the replica logged why. */
		cat->incomplete = true;
		if (cs->idx != SIZE_MAX && cs->idx < cat->cur.n) {
			free(cat->cur.v[cs->idx].etag);
			cat->cur.v[cs->idx].etag = NULL;
		}
	}
	free(cs);
	cat->inflight--;
	pump(cat);
}

static void	phase_next(struct catalogue *);

/* Starts the queued syncs, SYNCS_MAX at once; when the page (or the
 * removals) is done, the next page or phase. replica_sync may answer
 * before it returns: pumping keeps that from recursing. */
static void
pump(struct catalogue *cat)
{
	struct csync	*cs;
	const char	*rel, *etag;

	if (cat->pumping)
		return;
	cat->pumping = true;
	while (!cat->stopped && cat->inflight < SYNCS_MAX &&
	    cat->itodo < cat->ntodo) {
		cs = xcalloc(1, sizeof *cs);
		cs->cat = cat;
		if (cat->phase == PH_REMOVE) {
			cs->idx = SIZE_MAX;
			rel = cat->gone[cat->itodo++];
			etag = NULL;
		} else {
			cs->idx = cat->todo[cat->itodo++];
			rel = cat->cur.v[cs->idx].rel;
			etag = cat->cur.v[cs->idx].etag;
		}
		cat->inflight++;
		replica_sync(cat->p.replica, rel, etag, synced, cs);
	}
	cat->pumping = false;
	if (cat->stopped || cat->inflight > 0 || cat->itodo < cat->ntodo)
		return;
	cat->ntodo = cat->itodo = 0;
	if (cat->phase != PH_REMOVE && cat->after != NULL)
		list_request(cat);
	else
		phase_next(cat);
}

/* ---- local copies the store no longer has ---- */

struct walk {
	struct catalogue	*cat;
	const char		*dir;
	char			 rel[STORE_PATH_MAX];
};

static int
walk_file(const char *path, const struct stat *st, void *arg)
{
	struct walk		*w = arg;
	struct catalogue	*cat = w->cat;
	char			 name[CRATE_NAME_MAX + 1];

	if (crate_name_from_index_path(path, name) != 0)
		return 0;	/* a temporary file, or not ours */
	snprintf(w->rel, sizeof w->rel, "%s/%s", w->dir, path);
	if (table_find(&cat->cur, w->rel) != NULL)
		return 0;
	if (cat->ngone >= REMOVALS_MAX)
		return 1;
	cat->gone[cat->ngone++] = xstrdup(w->rel);
	return 0;
}

/* On a worker: the local index and meta files this round's listing did
 * not name (cur is not touched by the loop meanwhile). */
static void
walk_work(void *arg)
{
	struct catalogue	*cat = arg;
	struct walk		 w = { .cat = cat, .dir = "index" };
	int			 r;

	cat->ngone = 0;
	cat->gone = xreallocarray(cat->gone, REMOVALS_MAX, sizeof *cat->gone);
	r = store_walk(cat->p.store, "index", walk_file, &w);
	if (r == 0 || r == -ENOENT) {
		w.dir = "meta";
		r = store_walk(cat->p.store, "meta", walk_file, &w);
	}
	cat->walk_res = r == 1 || r == -ENOENT ? 0 : r;
}

static void
walk_done(void *arg)
{
	struct catalogue	*cat = arg;
	char			*why;

	if (cat->stopped)
		return;
	if (cat->walk_res != 0) {
		why = xasprintf("reading the local copies: %s",
		    strerror(-cat->walk_res));
		log_error("registry %s: catalogue: %s", cat->registry, why);
		free(why);
		cat->incomplete = true;
		cat->ngone = 0;
	}
	if (cat->ngone > 0)
		log_info("registry %s: %zu local files not in %s: checking"
		    " and removing them", cat->registry, cat->ngone,
		    objstore_name(cat->p.objstore));
	cat->phase = PH_REMOVE;
	cat->ntodo = cat->ngone;
	cat->itodo = 0;
	pump(cat);
}

static void
phase_next(struct catalogue *cat)
{
	switch (cat->phase) {
	case PH_INDEX:
		cat->phase = PH_META;
		free(cat->after);
		cat->after = NULL;
		list_request(cat);
		return;
	case PH_META:
		table_sort(&cat->cur);
		cat->phase = PH_WALK;
		workers_submit(cat->p.disk, walk_work, walk_done, cat);
		return;
	case PH_REMOVE:
		round_end(cat);
		return;
	default:
		return;
	}
}
