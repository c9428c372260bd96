/*
 * Eviction: past max_cache_bytes, the least recently used crates that
 * `crated prefetch` did not pin go, down to 90% of the limit; index files are
 * small and kept; offline mirrors never evict. A fetched crate makes its
 * room before it is stored: its victims are chosen (and leave the
 * accounting) on the loop when it is complete, and removed on a worker
 * before its rename, so a burst of fetches never has the cache more than a
 * crate over the limit. The room a crate counts on may have been made by
 * victims chosen before it, for another crate or a background eviction,
 * whose job has not run yet (two workers, each unlink fsyncs its
 * directory): so the victims wait in m->evicting, and every commit first
 * removes all of them (mirror_evict_drain), not only its own.
 */
#include "server/mirror/mirror_int.h"

#include <pthread.h>
#include <stdlib.h>

#include <event2/event.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/files.h"

struct evict {
	struct mirror	*m;
	char		**rels;
	size_t		  n;
	uint64_t	  before;
	struct evict	 *next;		/* in m->evicting */
};

struct evict *
mirror_evict_victims(struct mirror *m, uint64_t incoming)
{
	uint64_t	 max = (uint64_t)m->reg->cfg->max_cache_bytes;
	uint64_t	 more = m->committing + incoming, target = max / 10 * 9;
	struct evict	*e;

	if (max == 0 || m->reg->cfg->offline || usage_bytes(m->usage) + more <=
	    max)
		return NULL;
	e = xcalloc(1, sizeof *e);
	e->m = m;
	e->before = usage_bytes(m->usage) + more;
	e->n = usage_victims(m->usage, target > more ? target - more : 0,
	    &e->rels);
	if (e->n == 0) {
		free(e->rels);
		free(e);
		return NULL;
	}
	pthread_mutex_lock(&m->evicting_lock);
	e->next = m->evicting;
	m->evicting = e;
	pthread_mutex_unlock(&m->evicting_lock);
	return e;
}

/*
 * unlink_lock is held while unlinking: a drain that finds the list empty
 * because another drain took it waits for those unlinks to end. A struct
 * evict a drain took stays valid meanwhile: it is freed by the done of
 * its own job, which drains too, so waits for the lock. The loop takes
 * only evicting_lock, never across a disk operation.
 */
void
mirror_evict_drain(struct mirror *m)
{
	struct evict	*e;

	pthread_mutex_lock(&m->unlink_lock);
	pthread_mutex_lock(&m->evicting_lock);
	e = m->evicting;
	m->evicting = NULL;
	pthread_mutex_unlock(&m->evicting_lock);
	/* A file being sent stays readable through its open descriptor. */
	for (; e != NULL; e = e->next)
		for (size_t i = 0; i < e->n; i++)
			store_unlink(m->reg->store, e->rels[i]);
	pthread_mutex_unlock(&m->unlink_lock);
}

void
mirror_evict_remove(void *arg)
{
	struct evict	*e = arg;

	mirror_evict_drain(e->m);
}

void
mirror_evict_done(void *arg)
{
	struct evict	*e = arg;

	if (e == NULL)
		return;
	log_info("registry %s: evicted %zu crates (%.1f MB to %.1f MB, limit"
	    " %.1f MB)", e->m->reg->name, e->n, (double)e->before / 1e6,
	    (double)(usage_bytes(e->m->usage) + e->m->committing) / 1e6,
	    (double)e->m->reg->cfg->max_cache_bytes / 1e6);
	mirror_count(e->m, METRIC_EVICTIONS_TOTAL, NULL, (double)e->n);
	/* Kept open, an evicted file would keep its disk space: closed
	 * now, after the unlink, so no request can open it again between. */
	for (size_t i = 0; i < e->n; i++) {
		files_removed(e->m->reg, e->rels[i]);
		free(e->rels[i]);
	}
	free(e->rels);
	free(e);
}

void
mirror_evict_now(struct mirror *m)
{
	struct evict	*e = mirror_evict_victims(m, 0);

	if (e != NULL)
		workers_submit(m->srv->workers, mirror_evict_remove,
		    mirror_evict_done, e);
}

static void
evict_cb(evutil_socket_t fd, short what, void *arg)
{
	mirror_evict_now(arg);
}

/* From the loop's next turn: the done callbacks of the workers also run
 * while they are destroyed, when no job can be submitted. */
void
mirror_evict_soon(struct mirror *m)
{
	event_active(m->evict_ev, EV_TIMEOUT, 0);
}

void
mirror_evict_open(struct mirror *m)
{
	pthread_mutex_init(&m->evicting_lock, NULL);
	pthread_mutex_init(&m->unlink_lock, NULL);
	m->evict_ev = event_new(m->srv->base, -1, 0, evict_cb, m);
}

/* After the workers: m->evicting is empty. */
void
mirror_evict_close(struct mirror *m)
{
	if (m->evict_ev == NULL)
		return;
	event_free(m->evict_ev);
	pthread_mutex_destroy(&m->evicting_lock);
	pthread_mutex_destroy(&m->unlink_lock);
}
