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
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/hot.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/policy/polserve.h"
#include "server/policy/regpolicy.h"

#define KEY_MAX		(REGISTRY_NAME_MAX + INDEX_PATH_MAX + 32)
#define PENDING_MAX	4096	/* views being made at once */

/* What a view entry was made of (its aux). */
struct made {
	uint64_t		 epoch;
	time_t			 until;		/* next_change; 0: none */
	char			 of[ETAG_LEN];	/* the source's ETag */
	bool			 same;		/* served as it is */
	bool			 failed;	/* could not be made */
	struct regpolicy_tally	 tally;
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

static struct lru	pending;
static bool		pending_init;

static void
made_free(void *arg)
{
	struct made	*m = arg;

	regpolicy_tally_clear(&m->tally);
	free(m);
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

/* Answers one request from the view pe (borrowed) of src (a reference
 * stolen). */
static void
answer_one(struct registry *reg, const char *name, struct hot_entry *pe,
    struct hot_entry *src, const char *path, struct http_request *r,
    const char *extra, bool keep, policed_answer answer)
{
	const struct made	*m = pe->aux;

	if (m->failed) {
		hot_unref(src);
		http_reply_error_hdrs(r, 503, "Retry-After: 1\r\n", "the"
		    " policy could not be applied to this index file (out of"
		    " memory)");
		return;
	}
	polserve_served(reg, name, &m->tally);
	if (m->same) {
		answer(reg, path, r, src, extra, keep);
		return;
	}
	hot_unref(src);
	hot_ref(pe);
	answer(reg, path, r, pe, extra, false);
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
	if (policy_filter_index(&v->settings, v->blocks, v->nblocks, v->db,
	    j->name, j->src->plain.body, j->src->plain.len, first_seen, &lz,
	    j->now, &out) != 0) {
		/* Out of memory: nothing is served unfiltered. */
		log_error("policy: filtering %s: out of memory", j->key);
		j->made->failed = true;
		j->made->until = j->now + 1;
		j->view = hot_entry_new(j->key, xstrdup(""), 0, j->now, NULL);
		goto done;
	}
	j->made->until = out.next_change;
	if (out.held + out.denied + out.flagged > 0) {
		if (!lz.read)
			first_seen(j->name, "", &lz);
		regpolicy_tally(v, lz.seen, j->name, j->src->plain.body,
		    j->src->plain.len, j->now, &j->made->tally);
	}
	if (out.body == NULL) {
		j->made->same = true;
		j->view = hot_entry_new(j->key, xstrdup(""), 0, j->now, NULL);
	} else {
		/* Last-Modified: now, as for any view; a policy's answers
		 * are revalidated by ETag alone. */
		j->view = hot_entry_new(j->key, out.body, out.len, j->now,
		    j->src->extra);
		out.body = NULL;
		hot_entry_compress(j->view);
	}
done:
	policy_filtered_clear(&out);
	regpolicy_seen_free(lz.seen);
}

static void
job_done(void *arg)
{
	struct job		*j = arg;
	struct server		*srv = j->reg->srv;
	struct hot_entry	*pe;
	struct waiter		*w, *next;

	if (j->listed)
		lru_remove(&pending, &j->node);
	j->view->aux = j->made;
	j->view->aux_free = made_free;
	pe = hot_insert(srv->hot, j->view);
	for (w = j->waiters; w != NULL; w = next) {
		next = w->next;
		hot_ref(j->src);
		answer_one(j->reg, j->name, pe, j->src, w->path, w->r,
		    w->extra, w->keep, w->answer);
		free(w->path);
		free(w->extra);
		free(w);
	}
	hot_unref(pe);
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
	struct lru_node	*n;
	struct job	*j;
	char		 key[KEY_MAX], name[CRATE_NAME_MAX + 1];
	const char	*last = strrchr(path, '/');
	time_t		 now = time(NULL);
	uint64_t	 hv;

	if (!pending_init) {
		lru_init(&pending);
		pending_init = true;
	}
	snprintf(name, sizeof name, "%s", last ? last + 1 : path);
	snprintf(key, sizeof key, "%s#p", hot_entry_key(e));
	if ((pe = current(srv, key, e, v, now)) != NULL) {
		answer_one(reg, name, pe, e, path, r, extra, keep, answer);
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
	struct hot_entry	*pe;
	const struct made	*m;
	char			 vkey[KEY_MAX];
	time_t			 now = time(NULL);

	if (reg->policy == NULL)
		return false;
	snprintf(vkey, sizeof vkey, "%s#p", key);
	if ((pe = hot_get(reg->srv->hot, vkey)) == NULL || (m = pe->aux) ==
	    NULL || !m->same || m->epoch != reg->policy->epoch ||
	    (m->until != 0 && now >= m->until))
		return false;
	memcpy(etag, m->of, ETAG_LEN);
	return true;
}

void
policed_close(void)
{
	if (pending_init)
		lru_fini(&pending);
	pending_init = false;
}
