/* A mirror registry's life: opened at start-up, reconfigured on SIGHUP,
 * its state for /-/ready and /-/metrics, housekeeping every few seconds,
 * closed at stop. What it does is in the mirror_*.c files
 * (server/mirror/mirror_int.h lists them). */
#include "server/mirror/mirror_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/storage/mirror_l2.h"
#include "server/upstream/credential.h"
#include "server/upstream/limiter.h"

#define NEG_PRUNED	"negatives-pruned"	/* old negative files gone */
static void	gc_tick(evutil_socket_t, short, void *);

struct prune {
	struct mirror	*m;
	size_t		 n;
	int		 res;
};

static void
prune_work(void *arg)
{
	struct prune	*p = arg;
	struct store	*st = p->m->reg->store;

	p->res = store_negatives(store_root(st), true, &p->n);
	if (p->res == 0)
		p->res = store_write(st, NEG_PRUNED, "", 0, NULL, NULL);
}

static void
prune_done(void *arg)
{
	struct prune	*p = arg;

	if (p->res != 0)
		log_warn("registry %s: removing the negative entries older"
		    " versions left in meta/: %s", p->m->reg->name,
		    strerror(-p->res));
	else if (p->n > 0)
		log_info("registry %s: removed %zu negative entries older"
		    " versions left in meta/ (they are kept in memory now)",
		    p->m->reg->name, p->n);
	free(p);
}

/* Once per store, in the background: the negative entries older versions
 * wrote, a file per upstream 404, never removed. */
static void
prune_negatives(struct mirror *m)
{
	struct prune	*p;

	if (store_exists(m->reg->store, NEG_PRUNED))
		return;
	p = xcalloc(1, sizeof *p);
	p->m = m;
	workers_submit(m->srv->background, prune_work, prune_done, p);
}

int
mirror_open(struct registry *reg, char **cause)
{
	const struct registry_config	*c = reg->cfg;
	struct mirror			*m = xcalloc(1, sizeof *m);
	char				*buf, *why = NULL;
	size_t				 len;

	reg->mirror = m;
	m->reg = reg;
	m->srv = reg->srv;
	snprintf(m->labels, sizeof m->labels, "registry=\"%s\"", reg->name);
	mirror_admit_open(m);
	lru_init(&m->writing);
	m->held_tail = &m->held;
	lru_init(&m->asked);
	mirror_warm_open(m);
	lru_init(&m->negs);
	m->base = xstrdup(strncmp(c->upstream, "sparse+", 7) == 0 ?
	    c->upstream + 7 : c->upstream);
	if (store_read(reg->store, "upstream-config.json", &buf, &len, NULL,
	    1 << 20) == 0) {
		if (regconfig_parse(buf, len, &m->rc, &why) != 0) {
			log_warn("registry %s: saved upstream config.json: %s",
			    reg->name, why);
			free(why);
		}
		free(buf);
	}
	/* At start-up, before the loop runs: blocking is fine. */
	if (credential_read(c, &m->token, &why) != 0) {
		*cause = xasprintf("registry %s: %s", reg->name, why);
		free(why);
		return -1;
	}
	if (c->upstream_token_command != NULL)
		m->token_time = time(NULL);
	if (usage_open(store_root(reg->store), &m->usage, cause) != 0)
		return -1;
	if (usage_damage(m->usage) != NULL)
		log_warn("registry %s: %s", reg->name, usage_damage(m->usage));
	metrics_show(METRICS_MIRROR);
	m->l2 = mirror_l2_open(reg);
	prune_negatives(m);
	mirror_evict_open(m);
	m->gc_timer = event_new(m->srv->base, -1, EV_PERSIST, gc_tick, m);
	event_add(m->gc_timer, &(struct timeval){ 5, 0 });
	gc_tick(-1, 0, m);
	log_info("registry %s: mirror of %s%s%s", reg->name, m->base,
	    m->token ? " (with a credential)" : "", c->offline ?
	    ", offline" : "");
	return 0;
}

void
mirror_close(struct mirror *m)
{
	int	r;

	if (m == NULL)
		return;
	mirror_stop_warming(m);
	mirror_index_close(m);
	if (m->gc_timer != NULL)
		event_free(m->gc_timer);
	mirror_evict_close(m);
	usage_close(m->usage);
	regconfig_finish(&m->rc);
	lru_fini(&m->writing);	/* empty: the workers have finished */
	while (m->negs.oldest != NULL)
		mirror_neg_drop(m, NEG(m->negs.oldest));
	lru_fini(&m->negs);
	/* The fills did not sync their renames (mirror_index.c, persist);
	 * at a clean stop (serve, prefetch) they become durable. */
	if ((r = store_sync(m->reg->store)) != 0)
		log_warn("registry %s: syncing the cache: %s", m->reg->name,
		    strerror(-r));
	mirror_warm_close(m);
	mirror_admit_close(m);
	mirror_l2_close(m->l2);
	free(m->base);
	free(m->token);
	free(m->last_error);
	free(m);
}

void
mirror_collect(struct mirror *m)
{
	metrics_set(METRIC_CACHE_BYTES, m->labels,
	    (double)usage_bytes(m->usage));
	metrics_set(METRIC_CACHE_FILES, m->labels,
	    (double)usage_files(m->usage));
	metrics_set(METRIC_UPSTREAM_LIMIT, m->labels,
	    (double)limiter_limit(m->limiter));
	mirror_neg_expire(m);
	metrics_set(METRIC_NEGATIVE_ENTRIES, m->labels, (double)m->negs.n);
}

/* Every few seconds: persist last-use times and pins, forget expired
 * negative entries and, past max_cache_bytes (a crate kept by a relayed
 * upload, a limit lowered by SIGHUP), evict. */
static void
gc_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mirror	*m = arg;

	usage_flush(m->usage);
	mirror_neg_expire(m);
	mirror_evict_now(m);
}

void
mirror_state(struct mirror *m, json_t *j)
{
	const char	*state = m->reg->cfg->offline ? "offline" :
			    mirror_backing_off(m) ? "backing off" :
			    m->last_fail > m->last_ok ? "failing" :
			    m->last_ok ? "ok" : "not contacted yet";

	json_object_set_new(j, "upstream", json_string(m->base));
	json_object_set_new(j, "upstream_state", json_string(state));
	mirror_neg_expire(m);
	json_object_set_new(j, "negative_entries", json_integer(
	    (json_int_t)m->negs.n));
	if (m->last_ok != 0)
		json_object_set_new(j, "last_ok", json_integer(m->last_ok));
	if (m->last_error != NULL && m->last_fail > m->last_ok)
		json_object_set_new(j, "last_error", json_string(
		    m->last_error));
	json_object_set_new(j, "upstream_limit", json_integer(
	    limiter_limit(m->limiter)));
	json_object_set_new(j, "upstream_ceiling", json_integer(
	    m->reg->cfg->upstream_concurrency));
	json_object_set_new(j, "upstream_http2", json_boolean(m->multiplexed));
	if (limiter_latency(m->limiter) > 0)
		json_object_set_new(j, "upstream_latency_ms", json_real(
		    limiter_latency(m->limiter) * 1e3));
	mirror_l2_state(m->l2, j);
}

void
mirror_reconfigured(struct mirror *m)
{
	limiter_set_ceiling(m->limiter, (int)m->reg->cfg->upstream_concurrency);
	mirror_credential_refresh(m);
}

bool
mirror_crate_used(struct mirror *m, const char *rel, time_t *used,
    bool *pinned)
{
	return usage_lookup(m->usage, rel, used, pinned);
}

size_t
mirror_crates_used(struct mirror *m, struct usage_use **out)
{
	return usage_copy(m->usage, out);
}

uint64_t
mirror_crates_generation(struct mirror *m)
{
	return usage_generation(m->usage);
}

unsigned long long
mirror_cache_bytes(struct mirror *m)
{
	return (unsigned long long)usage_bytes(m->usage);
}
