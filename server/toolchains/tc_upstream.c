/* A toolchain mirror's upstream requests: plain GETs of the dist tree
 * (no Accept-Encoding, so bodies come as stored and Range means bytes of
 * the file), at most upstream_concurrency at once, the rest queued in
 * order. Each file is fetched once however many clients want it (the
 * callers share), so the cap only bounds a burst of different files. */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/state.h"
#include "server/upstream/upstream.h"

#define UP_RETRIES	2	/* new attempts before any byte came */

struct tc_queued {
	struct toolchain	*tc;
	struct tc_get		 g;
	char			*rel;
	struct tc_queued	*next;
};

static void	start(struct tc_queued *);

static void
next_queued(struct toolchain *tc)
{
	struct tc_queued	*q;

	while (tc->active < tc->cfg->upstream_concurrency &&
	    (q = tc->queue) != NULL) {
		if ((tc->queue = q->next) == NULL)
			tc->queue_tail = &tc->queue;
		start(q);
	}
}

static void
up_done(struct fetch *f, void *arg)
{
	struct tc_queued	*q = arg;
	struct toolchain	*tc = q->tc;

	tc->active--;
	q->g.done(f, q->g.arg);
	free(q->rel);
	free(q);
	next_queued(tc);
}

static bool
up_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct tc_queued	*q = arg;

	q->tc->upstream_bytes += len;
	tc_count(q->tc, METRIC_TOOLCHAIN_UPSTREAM_BYTES_TOTAL, NULL,
	    (double)len);
	return q->g.on_data(f, buf, len, q->g.arg);
}

static void
start(struct tc_queued *q)
{
	struct toolchain	*tc = q->tc;
	struct fetch_opts	 o = { 0 };
	char			*url, range[48];

	url = xasprintf("%s/%s", tc->upstream, q->rel);
	o.url = url;
	o.bare = true;
	o.proxy = tc->cfg->upstream_proxy;
	o.ca_file = tc->cfg->upstream_ca_file;
	o.low_speed_time = (long)tc->cfg->upstream_timeout;
	o.retries = UP_RETRIES;
	o.max_body = q->g.max_body;
	if (q->g.from > 0) {
		snprintf(range, sizeof range, "Range: bytes=%llu-",
		    (unsigned long long)q->g.from);
		o.extra_header = range;
	}
	o.on_data = q->g.on_data != NULL ? up_data : NULL;
	o.done = up_done;
	o.arg = q;
	tc->active++;
	fetch_start(tc->srv->upstream, &o);
	free(url);
}

void
tc_upstream_get(struct toolchain *tc, const struct tc_get *g)
{
	struct tc_queued	*q = xcalloc(1, sizeof *q);

	q->tc = tc;
	q->g = *g;
	q->rel = xstrdup(g->rel);
	q->g.rel = q->rel;
	if (tc->active < tc->cfg->upstream_concurrency && tc->queue == NULL) {
		start(q);
		return;
	}
	*tc->queue_tail = q;
	tc->queue_tail = &q->next;
}

enum tc_up
tc_upstream_judge(struct toolchain *tc, struct fetch *f, char **why)
{
	long		status = fetch_status(f);
	enum tc_up	v;
	const char	*outcome;

	*why = NULL;
	if (fetch_too_large(f)) {
		*why = xasprintf("upstream %s: larger than crated takes",
		    fetch_url(f));
		v = TC_UP_REFUSED;
	} else if (fetch_failed(f)) {
		*why = xasprintf("upstream %s: %s", fetch_url(f),
		    fetch_error(f));
		v = TC_UP_FAILED;
	} else if (status >= 200 && status < 300)
		v = TC_UP_OK;
	else if (status == 404 || status == 410) {
		*why = xasprintf("upstream %s: %ld", fetch_url(f), status);
		v = TC_UP_NOT_FOUND;
	} else {
		*why = xasprintf("upstream %s: HTTP %ld", fetch_url(f), status);
		v = status >= 500 || status == 429 || status == 408 ?
		    TC_UP_FAILED : TC_UP_REFUSED;
	}
	outcome = v == TC_UP_OK ? "ok" : v == TC_UP_NOT_FOUND ? "not_found" :
	    v == TC_UP_FAILED ? "failed" : "refused";
	tc_count(tc, METRIC_TOOLCHAIN_UPSTREAM_REQUESTS_TOTAL, outcome[0] ==
	    'o' ? "outcome=\"ok\"" : outcome[0] == 'n' ?
	    "outcome=\"not_found\"" : outcome[0] == 'f' ?
	    "outcome=\"failed\"" : "outcome=\"refused\"", 1);
	tc_note_answer(tc, v == TC_UP_FAILED || v == TC_UP_REFUSED ? *why :
	    NULL);
	return v;
}

/* Shutting down: the queued requests start now, whatever the cap, so
 * that the upstream client's end (which ends every transfer, "crated is
 * shutting down") tells their owners; none is left waiting. Before
 * upstream_client_destroy. */
void
tc_upstream_close(struct toolchain *tc)
{
	struct tc_queued	*q;

	while ((q = tc->queue) != NULL) {
		if ((tc->queue = q->next) == NULL)
			tc->queue_tail = &tc->queue;
		start(q);
	}
}
