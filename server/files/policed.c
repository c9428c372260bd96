#include "server/files/policed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/lru.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "index/validators.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/hot.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/policy/polserve.h"
#include "server/policy/regpolicy.h"

#define KEY_MAX		(REGISTRY_NAME_MAX + INDEX_PATH_MAX + 32)
#define PENDING_MAX	4096	/* views being made at once */
#define SAMES_MIN	4096	/* files left as they are, remembered */

/* What a filtered view was made of (its hot entry's aux). */
struct made {
	uint64_t		 epoch;
	time_t			 until;		/* next_change; 0: none */
	char			 of[ETAG_LEN];	/* the source's ETag */
	struct regpolicy_tally	 tally;
};

/*
 * A file the policy leaves as it is (no line rewritten: at most flags),
 * remembered apart from the memory cache, without bytes, so that a
 * working set larger than memory_cache_bytes keeps its marks and is
 * served from disk as without a policy (files.c); at most
 * memory_cache_bytes / 512 of them (SAMES_MIN at least), the least
 * recently used going first. Nothing in it changes with time: a file
 * with a hold to end is a view.
 */
struct same {
	struct lru_node	 node;
	char		*key;
	uint64_t	 epoch;
	char		 of[ETAG_LEN];
	unsigned	 flagged;	/* lines flagged by advisories */
};

struct waiter {
	struct http_request	*r;
	char			*path;
	char			*extra;
	bool			 keep;
	policed_answer		 answer;
	struct waiter		*next;
};

/* A view being made on the CPU workers. */
struct job {
	struct lru_node		 node;		/* in pending, by key */
	char			 key[KEY_MAX];
	struct registry		*reg;
	struct regpolicy_view	*v;
	struct hot_entry	*src;
	char			 name[CRATE_NAME_MAX + 1];
	time_t			 now;
	struct waiter		*waiters;
	bool			 listed;	/* in pending */
	/* results */
	struct hot_entry	*view;		/* NULL: the file as it is */
	struct made		*made;
};

static struct lru	pending, sames;
static bool		tables_init;

static void
init_tables(void)
{
	if (tables_init)
		return;
	lru_init(&pending);
	lru_init(&sames);
	tables_init = true;
}

static void
made_free(void *arg)
{
	struct made	*m = arg;

	regpolicy_tally_clear(&m->tally);
	free(m);
}

#define SAME(n)	lru_entry(n, struct same, node)

static void
same_drop(struct same *sm)
{
	lru_remove(&sames, &sm->node);
	free(sm->key);
	free(sm);
}

/* The mark of key for epoch, or NULL (a stale one is dropped). */
static struct same *
same_find(const char *key, uint64_t epoch)
{
	struct lru_node	*n;

	if ((n = lru_find(&sames, key, lru_hash(key))) == NULL)
		return NULL;
	if (SAME(n)->epoch != epoch) {
		same_drop(SAME(n));
		return NULL;
	}
	lru_touch(&sames, n);
	return SAME(n);
}

static void
same_put(struct server *srv, const char *key, const struct made *m)
{
	struct lru_node	*n;
	struct same	*sm;
	size_t		 max = (size_t)srv->cfg->memory_cache_bytes / 512;
	uint64_t	 hv = lru_hash(key);

	if (max < SAMES_MIN)
		max = SAMES_MIN;
	if ((n = lru_find(&sames, key, hv)) != NULL)
		same_drop(SAME(n));
	while (sames.n >= max && sames.oldest != NULL)
		same_drop(SAME(sames.oldest));
	sm = xcalloc(1, sizeof *sm);
	sm->key = xstrdup(key);
	sm->epoch = m->epoch;
	memcpy(sm->of, m->of, ETAG_LEN);
	sm->flagged = m->tally.n[VERDICT_FLAG][SOURCE_ADVISORY];
	lru_add(&sames, &sm->node, sm->key, hv);
}

/* The view of e under v at now, if the memory cache holds a current one
 * (borrowed). */
static struct hot_entry *
current(struct server *srv, const char *key, const struct hot_entry *e,
    const struct regpolicy_view *v, time_t now)
{
	struct hot_entry	*pe;
	const struct made	*m;

	if ((pe = hot_get(srv->hot, key)) == NULL || (m = pe->aux) == NULL)
		return NULL;
	if (m->epoch != v->epoch || strcmp(m->of, e->plain.etag) != 0 ||
	    (m->until != 0 && now >= m->until))
		return NULL;
	return pe;
}

/* Answers one request: with src as it is (a reference stolen) when pe
 * is NULL, else with the view pe (borrowed) made of it. */
static void
answer_one(struct registry *reg, const char *name, struct hot_entry *pe,
    const struct regpolicy_tally *t, struct hot_entry *src,
    const char *path, struct http_request *r, const char *extra, bool keep,
    policed_answer answer)
{
	polserve_served(reg, name, t);
	if (pe == NULL) {
		answer(reg, path, r, src, extra, keep);
		return;
	}
	hot_unref(src);
	hot_ref(pe);
	answer(reg, path, r, pe, extra, false);
}

/* answer_one for a file the policy leaves as it is. */
static void
answer_same(struct registry *reg, const char *name, const struct same *sm,
    struct hot_entry *src, const char *path, struct http_request *r,
    const char *extra, bool keep, policed_answer answer)
{
	struct regpolicy_tally	t;

	memset(&t, 0, sizeof t);
	t.n[VERDICT_FLAG][SOURCE_ADVISORY] = sm->flagged;
	answer_one(reg, name, NULL, &t, src, path, r, extra, keep, answer);
}

/* The first-seen record, read when the filter first asks. */
struct lazy {
	const char		*root;
	const char		*name;
	bool			 read;
	struct regpolicy_seen	*seen;
};

static time_t
first_seen(const char *name, const char *vers, void *arg)
{
	struct lazy	*l = arg;

	if (!l->read) {
		l->seen = regpolicy_seen_read(l->root, l->name);
		l->read = true;
	}
	return regpolicy_seen_get(l->seen, vers);
}

static void
job_work(void *arg)
{
	struct job		*j = arg;
	const struct regpolicy_view *v = j->v;
	struct policy_filtered	 out;
	struct lazy		 lz = { store_root(j->reg->store), j->name,
				     false, NULL };

	j->made = xcalloc(1, sizeof *j->made);
	j->made->epoch = v->epoch;
	snprintf(j->made->of, sizeof j->made->of, "%s", j->src->plain.etag);
	memset(&out, 0, sizeof out);
	/* 0 always: out of memory aborts. */
	policy_filter_index(&v->settings, v->blocks, v->nblocks, v->db,
	    j->name, j->src->plain.body, j->src->plain.len, first_seen, &lz,
	    j->now, &out);
	j->made->until = out.next_change;
	if (out.held + out.denied + out.flagged > 0) {
		if (!lz.read)
			first_seen(j->name, "", &lz);
		regpolicy_tally(v, lz.seen, j->name, j->src->plain.body,
		    j->src->plain.len, j->now, &j->made->tally);
	}
	if (out.body != NULL) {
		/* Last-Modified: now, as for any view; a policy's answers
		 * are revalidated by ETag alone. */
		j->view = hot_entry_new(j->key, out.body, out.len, j->now,
		    j->src->extra);
		out.body = NULL;
		hot_entry_compress(j->view);
	}
	policy_filtered_clear(&out);
	regpolicy_seen_free(lz.seen);
}

static void
job_done(void *arg)
{
	struct job		*j = arg;
	struct server		*srv = j->reg->srv;
	struct hot_entry	*pe = NULL;
	struct waiter		*w, *next;

	if (j->listed)
		lru_remove(&pending, &j->node);
	if (j->view != NULL) {
		j->view->aux = j->made;
		j->view->aux_free = made_free;
		pe = hot_insert(srv->hot, j->view);
	} else
		same_put(srv, j->key, j->made);
	for (w = j->waiters; w != NULL; w = next) {
		next = w->next;
		hot_ref(j->src);
		answer_one(j->reg, j->name, pe, &j->made->tally, j->src,
		    w->path, w->r, w->extra, w->keep, w->answer);
		free(w->path);
		free(w->extra);
		free(w);
	}
	if (pe != NULL)
		hot_unref(pe);		/* the view keeps made */
	else
		made_free(j->made);
	hot_unref(j->src);
	regpolicy_unref(j->v);
	free(j);
}

static struct waiter *
waiter_new(const char *path, struct http_request *r, const char *extra,
    bool keep, policed_answer answer)
{
	struct waiter	*w = xcalloc(1, sizeof *w);

	w->r = r;
	w->keep = keep;
	w->path = xstrdup(path);
	w->extra = extra ? xstrdup(extra) : NULL;
	w->answer = answer;
	return w;
}

void
policed_reply(struct registry *reg, struct regpolicy_view *v,
    const char *path, struct http_request *r, struct hot_entry *e,
    const char *extra, bool keep, policed_answer answer)
{
	struct server	*srv = reg->srv;
	struct hot_entry *pe;
	struct same	*sm;
	struct lru_node	*n;
	struct job	*j;
	char		 key[KEY_MAX], name[CRATE_NAME_MAX + 1];
	const char	*last = strrchr(path, '/');
	time_t		 now = time(NULL);
	uint64_t	 hv;

	init_tables();
	snprintf(name, sizeof name, "%s", last ? last + 1 : path);
	snprintf(key, sizeof key, "%s#p", hot_entry_key(e));
	if ((sm = same_find(key, v->epoch)) != NULL &&
	    strcmp(sm->of, e->plain.etag) == 0) {
		answer_same(reg, name, sm, e, path, r, extra, keep, answer);
		regpolicy_unref(v);
		return;
	}
	if ((pe = current(srv, key, e, v, now)) != NULL) {
		const struct made	*m = pe->aux;

		answer_one(reg, name, pe, &m->tally, e, path, r, extra, keep,
		    answer);
		regpolicy_unref(v);
		return;
	}
	hv = lru_hash(key);
	if ((n = lru_find(&pending, key, hv)) != NULL) {
		j = lru_entry(n, struct job, node);
		if (j->v->epoch == v->epoch && strcmp(j->src->plain.etag,
		    e->plain.etag) == 0) {
			struct waiter	*w;

			w = waiter_new(path, r, extra, keep, answer);
			w->next = j->waiters;
			j->waiters = w;
			hot_unref(e);
			regpolicy_unref(v);
			return;
		}
	}
	j = xcalloc(1, sizeof *j);
	snprintf(j->key, sizeof j->key, "%s", key);
	j->reg = reg;
	j->v = v;
	j->src = e;
	snprintf(j->name, sizeof j->name, "%s", name);
	j->now = now;
	j->waiters = waiter_new(path, r, extra, keep, answer);
	/* Another source or epoch being filtered under this key (or too
	 * many at once): this one is made apart, for this request. */
	if (n == NULL && pending.n < PENDING_MAX) {
		lru_add(&pending, &j->node, j->key, hv);
		j->listed = true;
	}
	workers_submit_first(srv->cpu, job_work, job_done, j);
}

bool
policed_same(struct registry *reg, const char *key, char *etag)
{
	struct same	*sm;
	char		 vkey[KEY_MAX];

	if (reg->policy == NULL || !tables_init)
		return false;
	snprintf(vkey, sizeof vkey, "%s#p", key);
	if ((sm = same_find(vkey, reg->policy->epoch)) == NULL)
		return false;
	memcpy(etag, sm->of, ETAG_LEN);
	return true;
}

void
policed_close(void)
{
	if (!tables_init)
		return;
	while (sames.newest != NULL)
		same_drop(SAME(sames.newest));
	lru_fini(&sames);
	lru_fini(&pending);
	tables_init = false;
}
