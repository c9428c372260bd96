/*
 * Index files of a mirror: from memory (server/files/hot.c), from disk, or
 * through one upstream fill that every concurrent request for the path
 * waits on; stored with the upstream's validators, revalidated after
 * index_ttl, served stale when the upstream fails; watched after a
 * publish until the new version shows. A fill read tells the warming
 * through m->fill_read.
 */
#include "server/mirror/mirror_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/semver.h"
#include "index/validators.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/files.h"
#include "server/files/hot.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/policy/seen.h"
#include "server/storage/mirror_l2.h"
#include "server/upstream/upstream.h"

#define INDEX_MAX	(64u << 20)
#define META_MAX	4096
/* Fills are written to disk once the mirror has no fill under way
 * (checked every PERSIST_QUIET seconds), PERSIST_HOLD seconds after the
 * first one held at the latest, or at PERSIST_HELD of them. */
#define PERSIST_QUIET	0.05
#define PERSIST_HOLD	2.0
#define PERSIST_HELD	1024

/* An index path sent straight upstream until a published version shows. */
struct watch {
	char		 path[INDEX_PATH_MAX];
	char		 vers[VERSION_MAX + 1];
	time_t		 since, until;
	struct watch	*next;
};

static const char index_hdrs[] =
    "Cache-Control: public, max-age=0, must-revalidate\r\n";

static void	watch_check(struct mirror *, const char *,
		    const struct hot_entry *);

static void	fill_free(struct fill *);

static void
key_of(struct mirror *m, const char *path, char *key)
{
	files_key(key, REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2,
	    m->reg->name, path);
}

/* The index path of an entry made under key_of. */
static const char *
path_of(struct mirror *m, const struct hot_entry *e)
{
	return hot_entry_key(e) + strlen(m->reg->name) + 1;
}

/* An index file on its way to disk (persist). */
struct persist {
	struct mirror		*m;
	char			 path[INDEX_PATH_MAX];
	struct hot_entry	*e;		/* what to write (a reference) */
	struct lru_node		 node;		/* in m->writing, by e's key */
	bool			 listed;	/* still there (no newer one) */
	bool			 body;		/* write the index file too */
	char			*meta;
	int			 res;
	struct persist		*next;		/* in m->held */
};

/* Loads an index file and its metadata from disk into the hot cache.
 * New reference, or NULL when nothing is stored. */
static struct hot_entry *
load(struct mirror *m, const char *path)
{
	char		 rel[STORE_PATH_MAX], key[REGISTRY_NAME_MAX +
			     INDEX_PATH_MAX + 2], *buf = NULL, *mbuf;
	char		 etag[ETAG_LEN];
	size_t		 len = 0, mlen;
	struct stat	 st;
	json_t		*meta = NULL;
	const char	*pe;
	struct hot_entry *e;

	snprintf(rel, sizeof rel, "meta/%s", path);
	if (store_read(m->reg->store, rel, &mbuf, &mlen, NULL, META_MAX) ==
	    0) {
		meta = json_loadb(mbuf, mlen, 0, NULL);
		free(mbuf);
		/* Negative metadata, as older versions wrote (negatives are
		 * kept in memory now): it says nothing of an index file. */
		if (json_is_true(json_object_get(meta, "negative"))) {
			json_decref(meta);
			meta = NULL;
		}
	}
	snprintf(rel, sizeof rel, "index/%s", path);
	/* The ETag from the file's xattr: a miss beyond the memory cache
	 * hashed the whole file every time (a third of crated's CPU on gzip
	 * misses over 3,000 files). */
	if (store_read_tagged(m->reg->store, rel, &buf, &len, &st, INDEX_MAX,
	    etag) != 0) {
		json_decref(meta);
		return NULL;
	}
	/* The three files of a fill are written without syncing their
	 * renames (persist), so after a crash the metadata may be another
	 * version's: it names the file it describes. Without that name
	 * (written before it was kept) only its fetch time is used. */
	pe = json_string_value(json_object_get(meta, "plain_etag"));
	if (pe != NULL && strcmp(pe, etag) != 0) {
		log_debug("registry %s: %s: metadata is not the cached"
		    " file's; it will be fetched again", m->reg->name, path);
		json_decref(meta);
		meta = NULL;
		pe = NULL;
	}
	key_of(m, path, key);
	e = hot_entry_new_tagged(key, buf, len, st.st_mtime, index_hdrs,
	    etag);
	files_load_gzip(m->reg, path, e);
	e = hot_insert(m->srv->hot, e);
	if (meta != NULL) {
		const char	*et = pe ? json_string_value(json_object_get(meta,
				    "etag")) : NULL;
		const char	*lm = pe ? json_string_value(json_object_get(meta,
				    "last_modified")) : NULL;

		e->fetched = (time_t)json_integer_value(json_object_get(meta,
		    "fetched"));
		e->up_etag = et ? xstrdup(et) : NULL;
		e->up_lastmod = lm ? xstrdup(lm) : NULL;
	}
	json_decref(meta);
	return e;
}

/* A negative entry as the index code sees one: an empty file the
 * upstream answered 404 for at fetched. New reference, not cached. */
static struct hot_entry *
negative_entry(struct mirror *m, const char *path, time_t fetched)
{
	char			 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	struct hot_entry	*e;

	key_of(m, path, key);
	e = hot_entry_new(key, xstrdup(""), 0, 0, index_hdrs);
	e->negative = true;
	e->fetched = fetched;
	return e;
}

struct hot_entry *
mirror_index_lookup(struct mirror *m, const char *path)
{
	char			 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	struct hot_entry	*e;
	struct lru_node		*n;
	struct neg		*ng;
	uint64_t		 hv;

	key_of(m, path, key);
	if ((e = hot_get(m->srv->hot, key)) != NULL) {
		hot_ref(e);
		return e;
	}
	/* Fetched, but neither kept in memory (too big, or pushed out) nor
	 * on disk yet: without this, cargo's request for a file the
	 * warming just brought went upstream again. */
	hv = lru_hash(key);
	if ((n = lru_find(&m->writing, key, hv)) != NULL) {
		e = lru_entry(n, struct persist, node)->e;
		hot_ref(e);
		return e;
	}
	if ((ng = mirror_neg_find(m, path)) != NULL)
		return negative_entry(m, path, ng->fetched);
	return load(m, path);
}

bool
mirror_index_fresh(struct mirror *m, const struct hot_entry *e)
{
	long long	ttl = e->negative ? m->reg->cfg->negative_ttl :
			    m->reg->cfg->index_ttl;

	return m->reg->cfg->offline || time(NULL) - e->fetched < ttl;
}

static void
persist_work(void *arg)
{
	struct persist	*p = arg;
	struct store	*st = p->m->reg->store;
	char		 rel[STORE_PATH_MAX];

	snprintf(rel, sizeof rel, "index/%s", p->path);
	if (p->e->negative)
		p->res = store_unlink(st, rel);
	else if (p->body)
		p->res = store_write_cache(st, rel, p->e->plain.body,
		    p->e->plain.len, "mirror-index:after-tmp",
		    "mirror-index:after-rename");
	if (p->res != 0)
		return;
	/* Its gzip form (cache/gzfile.h), made when the fill was read. */
	snprintf(rel, sizeof rel, "gz/%s", p->path);
	if (p->e->negative)
		p->res = store_unlink(st, rel);
	else if (p->body && hot_entry_has_gzip(p->e))
		p->res = store_write_cache(st, rel, p->e->gzip.body,
		    p->e->gzip.len, NULL, NULL);
	if (p->res != 0)
		return;
	snprintf(rel, sizeof rel, "meta/%s", p->path);
	if (p->e->negative)
		p->res = store_unlink(st, rel);
	else
		p->res = store_write_cache(st, rel, p->meta, strlen(p->meta),
		    NULL, NULL);
}

static void
persist_done(void *arg)
{
	struct persist	*p = arg;

	if (p->res != 0)
		log_error("registry %s: caching %s: %s", p->m->reg->name,
		    p->path, strerror(-p->res));
	if (p->listed)
		lru_remove(&p->m->writing, &p->node);
	hot_unref(p->e);
	free(p->meta);
	free(p);
}

/* The metadata of e, as meta/<path> holds it (new string); the shared
 * cache's sidecar is the same (server/storage/mirror_l2.h). */
static char *
meta_of(const struct hot_entry *e)
{
	json_t	*meta;
	char	*s;

	meta = json_pack("{s:I}", "fetched", (json_int_t)e->fetched);
	/* What the validators belong to: the three files are written
	 * without syncing their renames (store_write_cache), so after a
	 * crash this metadata may sit beside an older or newer index file. */
	json_object_set_new(meta, "plain_etag", json_string(e->plain.etag));
	if (e->up_etag != NULL)
		json_object_set_new(meta, "etag", json_string(e->up_etag));
	if (e->up_lastmod != NULL)
		json_object_set_new(meta, "last_modified",
		    json_string(e->up_lastmod));
	s = json_dumps(meta, JSON_COMPACT);
	json_decref(meta);
	return s;
}

/* Hands every held persist to the workers, in the order they came. */
static void
held_flush(struct mirror *m)
{
	struct persist	*p;

	while ((p = m->held) != NULL) {
		if ((m->held = p->next) == NULL)
			m->held_tail = &m->held;
		workers_submit(m->srv->workers, persist_work, persist_done, p);
	}
	m->nheld = 0;
}

/* Takes p out of the held persists; false when it is not there (its
 * write was handed to the workers). */
static bool
held_drop(struct mirror *m, struct persist *p)
{
	struct persist	**pp;

	for (pp = &m->held; *pp != NULL && *pp != p; pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return false;
	if ((*pp = p->next) == NULL)
		m->held_tail = pp;
	m->nheld--;
	return true;
}

static double
held_age(const struct mirror *m)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - m->held_since.tv_sec) +
	    (now.tv_nsec - m->held_since.tv_nsec) / 1e9;
}

static void
held_arm(struct mirror *m)
{
	struct timeval	tv = { 0, (suseconds_t)(PERSIST_QUIET * 1e6) };

	evtimer_add(m->held_timer, &tv);
}

static void
held_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mirror	*m = arg;

	if (m->fills != NULL && held_age(m) < PERSIST_HOLD &&
	    !m->srv->stopping)
		held_arm(m);
	else
		held_flush(m);
}

/*
 * Queues a persist. A cold resolution fills some 240 index files in a
 * second, and each fill's three files (index, gz, meta: ~690 directories
 * made, three fsyncs) took 0.10-0.12 s of crated's CPU in the kernel, on
 * the two cores cargo and the upstream also use: held until the fills
 * are over, that work comes after cargo's. Bounded in time and number
 * (PERSIST_*); held fills are served from m->writing meanwhile, and a
 * crash loses them as it loses a fill whose write is under way.
 */
static void
persist_queue(struct mirror *m, struct persist *p)
{
	if (m->held_timer == NULL)
		m->held_timer = evtimer_new(m->srv->base, held_tick, m);
	if (m->held == NULL) {
		clock_gettime(CLOCK_MONOTONIC, &m->held_since);
		held_arm(m);
	}
	*m->held_tail = p;
	m->held_tail = &p->next;
	if (++m->nheld >= PERSIST_HELD || m->srv->stopping)
		held_flush(m);
}

/* Writes e (and its metadata) to disk in the background; for a negative
 * e, removes what is cached of path. The bytes were already served from
 * memory; a crash before the rename loses only the cache fill. Until the
 * write is done, lookup finds e in m->writing. */
static void
persist(struct mirror *m, const char *path, struct hot_entry *e, bool body)
{
	struct persist	*p = xcalloc(1, sizeof *p);
	uint64_t	 hv = lru_hash(hot_entry_key(e));
	struct lru_node	*n;

	p->m = m;
	snprintf(p->path, sizeof p->path, "%s", path);
	hot_ref(e);
	p->e = e;
	if ((n = lru_find(&m->writing, hot_entry_key(e), hv)) != NULL) {
		struct persist	*old = lru_entry(n, struct persist, node);

		lru_remove(&m->writing, n);
		old->listed = false;
		/* Still held: this one replaces it, so that two writes of
		 * one path never run side by side on the two workers (the
		 * older one's rename could land last). A 304's refresh
		 * (body false) of the entry the held one was to write
		 * writes its index file instead. */
		if (held_drop(m, old)) {
			body = body || (old->body && old->e == e);
			persist_done(old);
		}
	}
	lru_add(&m->writing, &p->node, hot_entry_key(e), hv);
	p->listed = true;
	p->body = body;
	if (e->negative) {
		persist_queue(m, p);
		return;
	}
	p->meta = meta_of(e);
	persist_queue(m, p);
}

static void
release_entry(void *arg)
{
	hot_unref(arg);
}

/* What the upstream sent (body false: only that it is still current, a
 * 304) goes to the shared cache too, in the background. */
static void
share(struct mirror *m, const char *path, struct hot_entry *e, bool body)
{
	char	*meta;

	if (m->l2 == NULL)
		return;
	meta = meta_of(e);
	hot_ref(e);
	mirror_l2_index_put(m->l2, path, body ? e->plain.body : NULL,
	    e->plain.len, meta, release_entry, e);
	free(meta);
}

static void
finish_fill(struct fill *fl, const struct outcome *o)
{
	struct mirror	 *m = fl->m;
	struct fill	**fp;
	struct waiter	 *w, *next;

	for (fp = &m->fills; *fp != fl; fp = &(*fp)->next)
		;
	*fp = fl->next;
	for (w = fl->waiters; w != NULL; w = next) {
		next = w->next;
		w->cb(m, o, w->arg);
		free(w);
	}
	fill_free(fl);
}

static void
fill_free(struct fill *fl)
{
	hot_unref(fl->old);
	featreq_free(&fl->feat);
	free(fl);
}

/* Ends fl with verdict v: caches what came (e, for V_OK), answers the
 * waiters. o carries a failure's status and Retry-After. */
static void
settle(struct fill *fl, enum verdict v, struct hot_entry *e, const char *why,
    struct outcome *o)
{
	struct mirror	*m = fl->m;
	char		 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];

	if (fl->old != NULL && !fl->old->negative && !fl->l2_hit &&
	    (v == V_OK || v == V_NOT_MODIFIED))
		mirror_count(m, METRIC_REVALIDATIONS_TOTAL, v == V_OK ?
		    "result=\"200\"" : "result=\"304\"", 1);
	/* A file from the store says nothing of the upstream's health. */
	if (!fl->l2_hit)
		mirror_note_answer(m, v == V_CONFIG || v == V_TRANSIENT ? why :
		    NULL);
	switch (v) {
	case V_OK:
		log_debug("registry %s: fetched %s (%zu bytes)",
		    m->reg->name, fl->path, e->plain.len);
		watch_check(m, fl->path, e);
		mirror_neg_remove(m, fl->path);
		persist(m, fl->path, e, true);
		if (!fl->l2_hit)
			share(m, fl->path, e, true);
		o->status = 200;
		o->e = e;
		break;
	case V_NOT_MODIFIED:
		if (fl->old == NULL || fl->old->negative) {
			why = "upstream answered 304 to an unconditional"
			    " request";
			o->status = 502;
			goto transient;
		}
		fl->old->fetched = time(NULL);
		/* A copy from the store is not on disk yet: its body goes
		 * too. The store has it: the sidecar alone goes there. */
		persist(m, fl->path, fl->old, fl->old_shared);
		share(m, fl->path, fl->old, !fl->old_shared);
		o->status = 200;
		o->e = fl->old;
		break;
	case V_NOT_FOUND:
		mirror_neg_add(m, fl->path);
		key_of(m, fl->path, key);
		hot_invalidate(m->srv->hot, key);
		if (fl->old != NULL && !fl->old->negative) {
			/* Gone upstream: what is cached of it goes too. */
			e = negative_entry(m, fl->path, time(NULL));
			persist(m, fl->path, e, false);
			hot_unref(e);
		}
		o->status = 404;
		break;
	case V_CONFIG:
		log_error("registry %s: %s: %s (crated is misconfigured; not"
		    " cached)", m->reg->name, fl->name, why);
		o->error = why;
		break;
	case V_TRANSIENT:
	transient:
		o->error = why;
		if (fl->old != NULL && !fl->old->negative) {
			mirror_count(m, METRIC_STALE_SERVES_TOTAL, NULL, 1);
			log_warn("registry %s: %s: %s; serving the cached copy"
			    " from %lds ago", m->reg->name, fl->name, why,
			    (long)(time(NULL) - fl->old->fetched));
			o->status = 200;
			o->e = fl->old;
			o->stale = why;
		} else if (fl->warming)	/* nobody waits: /-/ready tells */
			log_debug("registry %s: prefetching %s: %s",
			    m->reg->name, fl->name, why);
		else
			log_warn("registry %s: %s: %s; nothing cached",
			    m->reg->name, fl->name, why);
		break;
	}
	finish_fill(fl, o);
}

/*
 * A fetched index file is read off the loop, on the CPU worker: checked
 * line by line, its wanted dependencies found, its ETag and gzip form
 * computed. The fill stays in m->fills meanwhile, so later requests
 * still join it.
 */
struct digest {
	struct fill		*fl;
	char			*body;		/* until e takes it */
	size_t			 len;
	char			 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	bool			 deps;		/* find the wanted deps */
	struct featreq		 feat;		/* a copy of fl->feat */
	double			 secs;		/* the fetch's duration */
	char			*up_etag, *up_lastmod;
	bool			 l2;		/* from the shared cache */
	time_t			 l2_fetched;	/* its sidecar's */
	char			*l2_etag;	/* the file it describes */
	struct hot_entry	*old;		/* the copy it replaces (a
						   reference), or NULL */
	struct store		*store;
	bool			 seen_failed;	/* its record not written */
	/* results */
	char			*cause;		/* not an index file: why */
	struct hot_entry	*e;
	struct wants		 wants;
};

/* The copy a digest's file replaces, for its first-seen record. */
static void
digest_old(struct digest *d, struct fill *fl)
{
	d->store = fl->m->reg->store;
	if (fl->old != NULL && !fl->old->negative) {
		hot_ref(fl->old);
		d->old = fl->old;
	}
}

static void
digest_seen_done(struct digest *d)
{
	if (d->seen_failed)
		log_error("%s: cannot write when its new versions were first"
		    " seen; a minimum publish age counts them as old", d->key);
	hot_unref(d->old);
	d->old = NULL;
}

static void
digest_work(void *arg)
{
	struct digest		*d = arg;
	struct index_line_refs	 refs = { NULL, 0 };

	if (index_file_check_refs(d->body, d->len, d->fl->name, &d->cause,
	    &refs) != 0)
		return;
	if (d->deps)
		index_file_wants(d->body, d->len, &refs, &d->feat,
		    &d->wants);
	index_line_refs_free(&refs);
	/* When the versions it brings were first seen (for the policy's
	 * minimum age): durable before anyone is answered. */
	if (d->old != NULL && regpolicy_seen_note(d->store, d->fl->name,
	    d->old->plain.body, d->old->plain.len, d->body, d->len,
	    time(NULL)) < 0)
		d->seen_failed = true;
	d->e = hot_entry_new(d->key, d->body, d->len, time(NULL), index_hdrs);
	d->body = NULL;
	hot_entry_compress(d->e);
}

static void
digest_done(void *arg)
{
	struct digest	*d = arg;
	struct fill	*fl = d->fl;
	struct mirror	*m = fl->m;
	struct outcome	 o = { .status = 502 };
	char		*why = NULL;

	mirror_count_upstream(m, d->secs, "index", d->e != NULL ? V_OK :
	    V_TRANSIENT);
	if (d->e == NULL) {
		why = xasprintf("upstream sent an invalid index file: %s",
		    d->cause);
		settle(fl, V_TRANSIENT, NULL, why, &o);
	} else {
		struct hot_entry	*e = hot_insert(m->srv->hot, d->e);

		/* Dependents asked for more (features, requirements) while
		 * the file was read: read its wants again (rare). */
		if (d->deps && featreq_merge(&d->feat, &fl->feat)) {
			wants_free(&d->wants);
			index_file_wants(e->plain.body, e->plain.len, NULL,
			    &d->feat, &d->wants);
		}

		e->fetched = time(NULL);
		e->up_etag = d->up_etag;
		e->up_lastmod = d->up_lastmod;
		d->up_etag = d->up_lastmod = NULL;
		settle(fl, V_OK, e, NULL, &o);
		/* After the waiters have their answer. */
		if (m->fill_read != NULL)
			m->fill_read(m, d->deps ? d->key : NULL, &d->feat,
			    &d->wants);
		hot_unref(e);
	}
	free(why);
	free(d->cause);
	free(d->body);
	free(d->up_etag);
	free(d->up_lastmod);
	digest_seen_done(d);
	featreq_free(&d->feat);
	wants_free(&d->wants);
	free(d);
}

static void
fill_done(struct fetch *f, void *arg)
{
	struct fill		*fl = arg;
	struct mirror		*m = fl->m;
	struct outcome		 o = { .status = 502 };
	char			*why = NULL;
	enum verdict		 v = mirror_judge(m, f, &why);

	if (v == V_OK) {
		struct digest	*d = xcalloc(1, sizeof *d);
		const char	*body = fetch_body(f, &d->len), *h;

		d->fl = fl;
		digest_old(d, fl);
		d->body = xmalloc(d->len + 1);
		memcpy(d->body, body, d->len);
		d->body[d->len] = '\0';
		key_of(m, fl->path, d->key);
		d->deps = m->reg->cfg->prefetch_dependencies;
		featreq_merge(&d->feat, &fl->feat);
		d->secs = fetch_seconds(f);
		if ((h = fetch_header(f, "ETag")) != NULL)
			d->up_etag = xstrdup(h);
		if ((h = fetch_header(f, "Last-Modified")) != NULL)
			d->up_lastmod = xstrdup(h);
		/* Files someone waits for are read before warmed ones. */
		if (fl->waiters != NULL)
			workers_submit_first(m->srv->cpu, digest_work,
			    digest_done, d);
		else
			workers_submit(m->srv->cpu, digest_work, digest_done,
			    d);
		return;
	}
	mirror_count_upstream(m, fetch_seconds(f), "index", v);
	if (v == V_TRANSIENT && (fetch_status(f) == 429 ||
	    fetch_status(f) == 503)) {
		o.status = 503;
		o.retry_after = fetch_header(f, "Retry-After");
	}
	settle(fl, v, NULL, why, &o);
	free(why);
}

/* Answers with what we have when the upstream cannot be asked. */
static void
no_upstream(struct mirror *m, struct hot_entry *e, const char *why,
    index_cb cb, void *arg)
{
	struct outcome	o = { .status = 503, .error = why };
	char		ra[16];

	if (e != NULL && !e->negative) {
		o.status = 200;
		o.e = e;
		o.stale = why;
	} else if (e != NULL) {
		o.status = 404;
	}
	if (mirror_backing_off(m)) {
		snprintf(ra, sizeof ra, "%ld", (long)(m->backoff_until -
		    time(NULL)));
		o.retry_after = ra;
	}
	cb(m, &o, arg);
}

/* True while path is watched for a published version; drops watches
 * that ran out. */
static bool
watched(struct mirror *m, const char *path)
{
	struct watch	**wp = &m->watches, *w;
	bool		  found = false;

	while ((w = *wp) != NULL) {
		if (time(NULL) > w->until) {
			log_warn("registry %s: %s %s still not in the upstream"
			    " index after %lds; back to normal caching",
			    m->reg->name, w->path, w->vers, (long)(w->until -
			    w->since));
			*wp = w->next;
			free(w);
			continue;
		}
		if (strcmp(w->path, path) == 0)
			found = true;
		wp = &w->next;
	}
	return found;
}

static int
has_version(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	return e != NULL && strcmp(e->vers, arg) == 0;
}

/* Ends the watch on path when e shows its version. */
static void
watch_check(struct mirror *m, const char *path, const struct hot_entry *e)
{
	struct watch	**wp = &m->watches, *w;

	while ((w = *wp) != NULL) {
		if (strcmp(w->path, path) == 0 && index_file_foreach(
		    e->plain.body, e->plain.len, has_version, w->vers)) {
			log_info("registry %s: %s %s visible upstream after"
			    " %lds", m->reg->name, path, w->vers,
			    (long)(time(NULL) - w->since));
			*wp = w->next;
			free(w);
			continue;
		}
		wp = &w->next;
	}
}

void
mirror_watch(struct mirror *m, const char *name, const char *vers)
{
	struct watch	*w;
	char		 path[INDEX_PATH_MAX], key[REGISTRY_NAME_MAX +
			     INDEX_PATH_MAX + 2];

	crate_index_path(name, path);
	key_of(m, path, key);
	hot_invalidate(m->srv->hot, key);
	mirror_neg_remove(m, path);
	if (vers == NULL) {
		/* A yank: the next request revalidates. Its metadata is
		 * written again too: a write of it still held (or under way)
		 * carries the fetch time it had, and once done, a request
		 * that reads the file from disk would find it fresh. */
		struct hot_entry	*e = mirror_index_lookup(m, path);

		if (e != NULL) {
			e->fetched = 0;
			if (!e->negative)
				persist(m, path, e, false);
			hot_unref(e);
		}
		return;
	}
	w = xcalloc(1, sizeof *w);
	snprintf(w->path, sizeof w->path, "%s", path);
	snprintf(w->vers, sizeof w->vers, "%s", vers);
	w->since = time(NULL);
	w->until = w->since + 120;
	w->next = m->watches;
	m->watches = w;
}

void
mirror_index_close(struct mirror *m)
{
	struct persist	*p;

	/* The workers are gone: what is still held is written here. */
	while ((p = m->held) != NULL) {
		m->held = p->next;
		persist_work(p);
		persist_done(p);
	}
	m->held_tail = &m->held;
	m->nheld = 0;
	if (m->held_timer != NULL)
		event_free(m->held_timer);
	m->held_timer = NULL;
	while (m->watches != NULL) {
		struct watch	*w = m->watches;

		m->watches = w->next;
		free(w);
	}
}

struct fill *
mirror_index_fill(struct mirror *m, const char *path)
{
	struct fill	*fl;

	for (fl = m->fills; fl != NULL; fl = fl->next)
		if (strcmp(fl->path, path) == 0)
			return fl;
	return NULL;
}

/* Sends fl upstream: conditional on what it has. False when the warming
 * queue is full (fl not taken). */
static bool
fill_upstream(struct fill *fl)
{
	struct mirror		*m = fl->m;
	struct hot_entry	*e = fl->old;
	struct fetch_opts	 o = { 0 };
	bool			 ok = true;

	o.url = xasprintf("%s%s", m->base, fl->path);
	if (e != NULL && !e->negative) {
		o.if_none_match = e->up_etag;
		o.if_modified_since = e->up_etag ? NULL : e->up_lastmod;
	}
	o.max_body = INDEX_MAX;
	o.timeout = INDEX_TIMEOUT;
	o.done = fill_done;
	o.arg = fl;
	if (fl->waiters != NULL)
		mirror_admit(m, &o);
	else
		ok = mirror_admit_warm(m, &o);
	free((char *)(uintptr_t)o.url);
	return ok;
}

/* After the shared cache was asked: fl goes upstream; a warming fill the
 * queue cannot take ends, nobody waiting for it. Shutting down, nothing
 * new starts upstream (the client may be going: server_finish). */
static void
fill_upstream_after_l2(struct fill *fl)
{
	struct outcome	o = { .status = 503, .error = "crated is shutting"
			    " down" };

	if (fl->m->srv->stopping || !fill_upstream(fl)) {
		if (!fl->m->srv->stopping)
			o.error = "too many prefetches wait";
		finish_fill(fl, &o);
	}
}

static void
l2_digest_done(void *arg)
{
	struct digest		*d = arg;
	struct fill		*fl = d->fl;
	struct mirror		*m = fl->m;
	struct outcome		 o = { .status = 502 };
	struct hot_entry	*e;

	if (d->e == NULL) {
		log_warn("registry %s: %s: the object store's copy is not an"
		    " index file (%s); asking the upstream", m->reg->name,
		    fl->path, d->cause);
		fill_upstream_after_l2(fl);
		goto out;
	}
	e = hot_insert(m->srv->hot, d->e);
	/* The sidecar counts only when it describes this very file. */
	if (d->l2_etag != NULL && strcmp(d->l2_etag, e->plain.etag) == 0) {
		e->fetched = d->l2_fetched;
		e->up_etag = d->up_etag;
		e->up_lastmod = d->up_lastmod;
		d->up_etag = d->up_lastmod = NULL;
	} else
		e->fetched = 0;
	if (e->fetched != 0 && mirror_index_fresh(m, e)) {
		log_debug("registry %s: %s from the object store (%lds old)",
		    m->reg->name, fl->path, (long)(time(NULL) - e->fetched));
		fl->l2_hit = true;
		settle(fl, V_OK, e, NULL, &o);
		if (m->fill_read != NULL)
			m->fill_read(m, d->deps ? d->key : NULL, &d->feat,
			    &d->wants);
	} else {
		/* Too old: revalidated upstream with its validators (they
		 * replace a stale local copy's: this file is newer). */
		hot_ref(e);
		hot_unref(fl->old);
		fl->old = e;
		fl->old_shared = true;
		fill_upstream_after_l2(fl);
	}
	hot_unref(e);
out:
	free(d->cause);
	free(d->body);
	free(d->up_etag);
	free(d->up_lastmod);
	digest_seen_done(d);
	free(d->l2_etag);
	featreq_free(&d->feat);
	wants_free(&d->wants);
	free(d);
}

/* What the shared cache had of fl's file: read like an upstream's (it is
 * no more trusted), else the upstream is asked. */
static void
l2_index_done(enum l2_status s, struct l2_index *x, void *arg)
{
	struct fill	*fl = arg;
	struct mirror	*m = fl->m;
	struct digest	*d;

	/* Shutting down, a miss goes no further (fill_upstream_after_l2);
	 * a hit is still served while the drain lasts. */
	if (s != L2_FOUND) {
		fill_upstream_after_l2(fl);
		return;
	}
	d = xcalloc(1, sizeof *d);
	d->fl = fl;
	digest_old(d, fl);
	d->l2 = true;
	d->body = x->body;
	d->len = x->len;
	x->body = NULL;
	key_of(m, fl->path, d->key);
	d->deps = m->reg->cfg->prefetch_dependencies;
	featreq_merge(&d->feat, &fl->feat);
	d->l2_fetched = x->fetched;
	d->l2_etag = x->plain_etag;
	d->up_etag = x->up_etag;
	d->up_lastmod = x->up_lastmod;
	x->plain_etag = x->up_etag = x->up_lastmod = NULL;
	if (fl->waiters != NULL)
		workers_submit_first(m->srv->cpu, digest_work, l2_digest_done,
		    d);
	else
		workers_submit(m->srv->cpu, digest_work, l2_digest_done, d);
}

/* What the store's sidecar says of fl's stale local copy: confirmed by
 * another replica within index_ttl, it is served as it is (its fetch time
 * taken over); a newer file confirmed within it is read from the store;
 * else the upstream revalidates the local copy, as without a store. */
static void
l2_meta_done(enum l2_status s, struct l2_index *x, void *arg)
{
	struct fill	*fl = arg;
	struct mirror	*m = fl->m;
	struct outcome	 o = { .status = 200 };

	if (s != L2_FOUND || x->fetched == 0 || time(NULL) - x->fetched >=
	    m->reg->cfg->index_ttl) {
		fill_upstream_after_l2(fl);
		return;
	}
	if (strcmp(x->plain_etag, fl->old->plain.etag) != 0) {
		if (!mirror_l2_index_get(m->l2, fl->path, l2_index_done, fl))
			fill_upstream_after_l2(fl);
		return;
	}
	log_debug("registry %s: %s confirmed %lds ago by another replica",
	    m->reg->name, fl->path, (long)(time(NULL) - x->fetched));
	if (x->fetched > fl->old->fetched)
		fl->old->fetched = x->fetched;
	persist(m, fl->path, fl->old, false);
	mirror_count(m, METRIC_CACHE_HITS_TOTAL, NULL, 1);
	o.e = fl->old;
	finish_fill(fl, &o);
}

/* Fetches the index file at path (e: what we have, taken over, stale):
 * when there is a shared cache and l2 allows it, from the store first
 * (nothing had) or after its sidecar (a stale copy), else from the
 * upstream. With a waiter, someone waits; without, it is
 * warming, asked with the features in feat. False when the warming queue
 * is full. */
static bool
start_fill(struct mirror *m, const char *name, const char *path,
    struct hot_entry *e, struct waiter *w, const struct featreq *feat,
    bool l2)
{
	struct fill	*fl = xcalloc(1, sizeof *fl);

	fl->m = m;
	snprintf(fl->path, sizeof fl->path, "%s", path);
	snprintf(fl->name, sizeof fl->name, "%s", name);
	fl->old = e;
	fl->waiters = w;
	fl->warming = w == NULL;
	if (feat != NULL)
		featreq_merge(&fl->feat, feat);
	else
		fl->feat.defaults = true;
	if (l2 && m->l2 != NULL && (e == NULL ? mirror_l2_index_get(m->l2,
	    path, l2_index_done, fl) : !e->negative && mirror_l2_meta_get(
	    m->l2, path, l2_meta_done, fl))) {
		fl->next = m->fills;
		m->fills = fl;
		return true;
	}
	if (!fill_upstream(fl)) {
		featreq_free(&fl->feat);
		free(fl);
		return false;
	}
	fl->next = m->fills;
	m->fills = fl;
	return true;
}

void
mirror_index_get(struct mirror *m, const char *name, const char *path,
    bool force, index_cb cb, void *arg)
{
	struct hot_entry	*e = mirror_index_lookup(m, path);
	struct fill		*fl;
	struct waiter		*w;

	if (watched(m, path))
		force = true;
	if (e != NULL && !force && mirror_index_fresh(m, e)) {
		struct outcome	out = { .status = e->negative ? 404 : 200,
		    .e = e };

		mirror_count(m, e->negative ? METRIC_NEGATIVE_HITS_TOTAL :
		    METRIC_CACHE_HITS_TOTAL, NULL, 1);
		cb(m, &out, arg);
		hot_unref(e);
		return;
	}
	if (m->reg->cfg->offline || mirror_backing_off(m)) {
		no_upstream(m, e, m->reg->cfg->offline ? "offline mode" :
		    "upstream asked crated to back off", cb, arg);
		hot_unref(e);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	if ((fl = mirror_index_fill(m, path)) != NULL) {
		w->next = fl->waiters;
		fl->waiters = w;
		if (fl->warming) {
			fl->warming = false;
			mirror_admit_promote(m, fl);
			mirror_count(m, METRIC_PREFETCH_JOINS_TOTAL, NULL, 1);
		} else
			mirror_count(m, METRIC_COALESCED_WAITERS_TOTAL, NULL,
			    1);
		hot_unref(e);
		return;
	}
	if (e == NULL)
		mirror_count(m, METRIC_CACHE_MISSES_TOTAL, NULL, 1);
	start_fill(m, name, path, e, w, NULL, !force);
}

bool
mirror_index_warm(struct mirror *m, const char *name, const char *path,
    struct hot_entry *have, const struct featreq *feat)
{
	return start_fill(m, name, path, have, NULL, feat, true);
}

void
mirror_index_forget(struct mirror *m, void *arg)
{
	struct fill	**fp, *fl = arg;

	for (fp = &m->fills; *fp != NULL && *fp != fl; fp = &(*fp)->next)
		;
	if (*fp == fl)
		*fp = fl->next;
	fill_free(fl);
}

/* Keeps a header value to one printable line. */
static void
header_safe(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = ' ';
}

void
mirror_index_reply_error(struct http_request *r, const struct outcome *o)
{
	char	 hdr[64] = "";
	long	 s = mirror_retry_after(o->retry_after);

	if (s >= 0)
		snprintf(hdr, sizeof hdr, "Retry-After: %ld\r\n", s > 10 ? 10 :
		    s);
	http_reply_error_hdrs(r, o->status, hdr[0] ? hdr : NULL, "%s",
	    o->error ? o->error : "upstream failure");
}

struct filter {
	struct mirror	*m;
	char		*out;
	size_t		 len, cap;
};

static int
keep_cached(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct filter	*f = arg;
	char		 rel[STORE_PATH_MAX];

	if (e == NULL || crate_name_check(e->name, NULL) != 0 ||
	    strlen(e->vers) > VERSION_MAX)
		return 0;
	store_crate_rel(e->name, e->vers, rel);
	if (!store_exists(f->m->reg->store, rel))
		return 0;
	if (f->len + len + 2 > f->cap) {
		f->cap = (f->len + len + 2) * 2;
		f->out = xrealloc(f->out, f->cap);
	}
	memcpy(f->out + f->len, line, len);
	f->len += len;
	f->out[f->len++] = '\n';
	f->out[f->len] = '\0';
	return 0;
}

/*
 * Offline mode: the index file cut down to the versions whose .crate is
 * cached, so cargo only resolves to what it can download. A view has its
 * own ETag, and a Last-Modified of when it was made, so no validator from
 * the unfiltered file can get a 304 for it. New reference, or NULL when no
 * version is cached.
 */
static struct hot_entry *
offline_view(struct mirror *m, struct hot_entry *e)
{
	struct filter		 f = { .m = m };
	struct hot_entry	*v;
	char			*key;

	key = xasprintf("%s#offline", e->_key);
	if ((v = hot_get(m->srv->hot, key)) != NULL) {
		hot_ref(v);
		free(key);
		return v;
	}
	index_file_foreach(e->plain.body, e->plain.len, keep_cached, &f);
	if (f.len == 0) {
		free(f.out);
		free(key);
		return NULL;
	}
	v = hot_make(m->srv->hot, key, f.out, f.len, time(NULL), index_hdrs);
	free(key);
	return v;
}

static void
index_reply(struct mirror *m, const struct outcome *o, void *arg)
{
	struct http_request	*r = arg;
	char			*hdr, *reason;
	const char		*name;
	struct hot_entry	*view;

	if (m->reg->cfg->offline) {
		if (o->status == 200 && (view = offline_view(m, o->e)) !=
		    NULL) {
			/* Not the file: nothing of it is kept. */
			files_reply_entry(m->reg, path_of(m, o->e), r, view,
			    NULL);
			return;
		}
		/* The index path's last part is the crate's name. */
		name = strrchr(http_path(r), '/');
		mirror_offline_miss(m, name != NULL ? name + 1 : http_path(r),
		    NULL);
		http_reply_error(r, 404, "crate not found in the offline mirror"
		    " `%s`: none of its versions is cached (fill it with"
		    " `crated prefetch` or `crated import`)", m->reg->name);
		return;
	}
	if (o->status == 404) {
		http_reply_error(r, 404, "crate not found in the upstream of"
		    " registry `%s`", m->reg->name);
		return;
	}
	if (o->status != 200) {
		mirror_index_reply_error(r, o);
		return;
	}
	hot_ref(o->e);
	if (o->stale == NULL) {
		files_reply_file_entry(m->reg, path_of(m, o->e), r, o->e,
		    NULL);
		return;
	}
	reason = xstrndup(o->stale, 200);
	header_safe(reason);
	hdr = xasprintf("X-Crated-Stale: %s\r\n", reason);
	files_reply_file_entry(m->reg, path_of(m, o->e), r, o->e, hdr);
	free(reason);
	free(hdr);
}

void
mirror_index(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	mirror_index_get(reg->mirror, rt->name, rt->path, false, index_reply,
	    r);
}
