/*
 * Eviction: past max_cache_bytes, after a file is stored, the least
 * recently used files go in the background, down to 90% of the limit:
 * never a pinned one (`crated prefetch --toolchain`), never one of a date
 * a snapshot in use names (its channel manifest still sends clients
 * there: `rustup component add` asks for a file of the installed date
 * without a manifest), never anything offline. Snapshots are not counted.
 * The usage journal's last-use times are written every FLUSH_SECONDS.
 */
#include "server/toolchains/tc_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"

#define FLUSH_SECONDS	30

struct evict {
	struct toolchain	*tc;
	char			**rels;
	size_t			  n;
	uint64_t		  before;
};

/* Whether a snapshot in use names date. */
static bool
named(struct toolchain *tc, const char *date)
{
	for (struct snap *s = tc->snaps; s != NULL; s = s->next)
		if ((s->cur != NULL && strcmp(s->cur->info.date, date) == 0) ||
		    (s->prev != NULL && strcmp(s->prev->info.date, date) == 0))
			return true;
	return false;
}

/* A file of a date a snapshot names: kept. */
static bool
referenced(const char *rel, void *arg)
{
	struct toolchain	*tc = arg;
	char			 date[11];

	if (strncmp(rel, "dist/", 5) != 0 || !dist_is_date(rel + 5,
	    strcspn(rel + 5, "/")))
		return false;
	memcpy(date, rel + 5, 10);
	date[10] = '\0';
	return named(tc, date);
}

static void
evict_work(void *arg)
{
	struct evict	*e = arg;

	for (size_t i = 0; i < e->n; i++)
		store_unlink(e->tc->store, e->rels[i]);
}

static void
evict_done(void *arg)
{
	struct evict		*e = arg;
	struct toolchain	*tc = e->tc;

	log_info("toolchains %s: evicted %zu file%s (%.1f MB over"
	    " max_cache_bytes; now %.1f MB)", tc->name, e->n, e->n == 1 ? "" :
	    "s", (double)(e->before - usage_bytes(tc->usage)) / 1e6,
	    (double)usage_bytes(tc->usage) / 1e6);
	tc_count(tc, METRIC_TOOLCHAIN_EVICTIONS_TOTAL, NULL, (double)e->n);
	for (size_t i = 0; i < e->n; i++)
		free(e->rels[i]);
	free(e->rels);
	free(e);
	tc->evicting--;
}

static void
evict_now(evutil_socket_t fd, short what, void *arg)
{
	struct toolchain	*tc = arg;
	uint64_t		 max = (uint64_t)tc->cfg->max_cache_bytes;
	struct evict		*e;

	if (max == 0 || tc->cfg->offline || usage_bytes(tc->usage) <= max)
		return;
	e = xcalloc(1, sizeof *e);
	e->tc = tc;
	e->before = usage_bytes(tc->usage);
	e->n = usage_victims_keep(tc->usage, max / 10 * 9, referenced, tc,
	    &e->rels);
	if (e->n == 0) {
		log_warn("toolchains %s: %.1f MB cached, over max_cache_bytes,"
		    " but every file is pinned or of a date a channel manifest"
		    " names", tc->name, (double)e->before / 1e6);
		free(e->rels);
		free(e);
		return;
	}
	tc->evicting++;
	workers_submit(tc->srv->background, evict_work, evict_done, e);
}

void
tc_evict_soon(struct toolchain *tc)
{
	if (tc->cfg->max_cache_bytes > 0 && usage_bytes(tc->usage) >
	    (uint64_t)tc->cfg->max_cache_bytes)
		event_active(tc->evict_ev, EV_TIMEOUT, 0);
}

static void
flush_tick(evutil_socket_t fd, short what, void *arg)
{
	struct toolchain	*tc = arg;

	usage_flush(tc->usage);
}

void
tc_evict_open(struct toolchain *tc)
{
	struct timeval	tv = { FLUSH_SECONDS, 0 };

	tc->evict_ev = event_new(tc->srv->base, -1, 0, evict_now, tc);
	tc->flush_timer = event_new(tc->srv->base, -1, EV_PERSIST, flush_tick,
	    tc);
	event_add(tc->flush_timer, &tv);
	tc_evict_soon(tc);
}

void
tc_evict_close(struct toolchain *tc)
{
	if (tc->evict_ev != NULL)
		event_free(tc->evict_ev);
	if (tc->flush_timer != NULL)
		event_free(tc->flush_timer);
}
