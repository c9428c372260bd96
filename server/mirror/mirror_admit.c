/*
 * When a request may go to the upstream: under the adaptive limit
 * (server/upstream/limiter.c) and upstream_concurrency, a front queue for requests
 * someone waits for and a low one for warming, fetches stuck past
 * OVERDUE times the usual latency no longer holding a place, and the
 * back-off a 429 or 503 with Retry-After asks for. Every answer passes
 * here first (fetch_done_wrap) so the limit learns from it.
 */
#include "server/mirror/mirror_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "index/validators.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/upstream/limiter.h"
#include "server/upstream/upstream.h"

#define BACKOFF_MAX	60		/* seconds */
#define UPSTREAM_START	4		/* requests in flight at first */
#define UPSTREAM_RETRIES 2		/* new connections for a failed GET */
#define SLOW_ANSWER	3.0		/* seconds: an upstream answer logged */
#define OVERDUE		8		/* x the usual latency: stuck */
#define OVERDUE_MIN	0.25		/* seconds: a failing upstream's retries
					   take about 1 s; stale copies wait */
#define WARM_QUEUE	4096		/* warming fetches waiting, at most */

/* A fetch waiting for room under upstream_concurrency. */
struct queued {
	struct fetch_opts	 opts;
	char			*url, *inm, *ims;
	struct queued		*next;
};

static void	fetch_done_wrap(struct fetch *, void *);

/* Sits between curl and a fetch's owner to keep the mirror's count of
 * fetches in flight and to read back-off answers. */
struct wrap {
	struct mirror	*m;
	struct timespec	 sent;
	struct wrap	*prev, *next;	/* the mirror's fetches in flight */
	bool		(*on_data)(struct fetch *, const void *, size_t,
			    void *);
	void		(*done)(struct fetch *, void *);
	void		*arg;
};

static bool
wrap_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct wrap	*w = arg;

	return w->on_data(f, buf, len, w->arg);
}

static double
mono(const struct timespec *t)
{
	return t->tv_sec + t->tv_nsec / 1e9;
}

/* True when a and b have the same scheme, host and port. */
static bool
same_origin(const char *a, const char *b)
{
	const char	*ea = strstr(a, "://"), *eb = strstr(b, "://");
	size_t		 na, nb;

	if (ea == NULL || eb == NULL)
		return false;
	na = (size_t)(ea - a) + 3 + strcspn(ea + 3, "/?#");
	nb = (size_t)(eb - b) + 3 + strcspn(eb + 3, "/?#");
	return na == nb && strncasecmp(a, b, na) == 0;
}

static void
launch(struct mirror *m, struct fetch_opts *o)
{
	struct wrap	*w = xmalloc(sizeof *w);

	w->m = m;
	clock_gettime(CLOCK_MONOTONIC, &w->sent);
	w->prev = NULL;
	if ((w->next = m->inflight) != NULL)
		w->next->prev = w;
	m->inflight = w;
	w->on_data = o->on_data;
	w->done = o->done;
	w->arg = o->arg;
	if (o->on_data != NULL)
		o->on_data = wrap_data;
	o->done = fetch_done_wrap;
	o->arg = w;
	/* The credential belongs to the upstream: it goes to the index's
	 * origin (and to the api the upstream names when the operator lets
	 * it be elsewhere), never to a download host elsewhere (a CDN, blob
	 * storage). */
	if (o->authorization == NULL && (same_origin(o->url, m->base) ||
	    (m->rc.api != NULL && m->reg->cfg->relay_api_other_origin &&
	    same_origin(o->url, m->rc.api))))
		o->authorization = mirror_credential(m);
	else if (o->authorization != NULL && o->authorization[0] == '\0')
		o->authorization = NULL;
	o->proxy = m->reg->cfg->upstream_proxy;
	o->ca_file = m->reg->cfg->upstream_ca_file;
	/* Short connect timeouts pay only where a new attempt follows: a
	 * write is never sent twice, so it waits the whole 10 s. */
	if (o->method == NULL && o->body == NULL) {
		o->connect_timeout_ms = limiter_connect_timeout_ms(m->limiter,
		    strncmp(o->url, "https:", 6) == 0);
		o->retries = UPSTREAM_RETRIES;
	}
	o->h2c = true;
	o->multiplexed = m->multiplexed;
	m->active++;
	fetch_start(m->srv->upstream, o);
}

/*
 * Whether another fetch may start, leaving reserve places free. A fetch
 * that has waited OVERDUE times the usual latency (OVERDUE_MIN at least)
 * is presumed stuck on a path the upstream hangs on and no longer holds
 * a place under the adaptive limit, so a few hanging paths cannot hold
 * up every other request; upstream_concurrency still bounds them all.
 * *next: seconds until the next one is overdue (unchanged when none).
 */
static bool
room(struct mirror *m, int reserve, double *next)
{
	struct timespec	 now;
	double		 after = OVERDUE * limiter_latency(m->limiter), age;
	int		 counted = 0, limit;

	/* Until the first answer tells whether the upstream multiplexes,
	 * one at a time: requests sent together would each open (and
	 * upgrade) a connection of their own. */
	limit = m->answered ? limiter_limit(m->limiter) : 1;
	if (m->active >= m->reg->cfg->upstream_concurrency - reserve)
		return false;
	if (m->active < limit - reserve)
		return true;
	if (after < OVERDUE_MIN)
		after = OVERDUE_MIN;
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (struct wrap *w = m->inflight; w != NULL; w = w->next) {
		if ((age = mono(&now) - mono(&w->sent)) < after) {
			counted++;
			if (next != NULL && after - age < *next)
				*next = after - age;
		}
	}
	return counted < limit - reserve;
}

static void	launch_queued(struct mirror *);

static void
overdue_cb(evutil_socket_t fd, short what, void *arg)
{
	launch_queued(arg);
}

/* While fetches wait, wakes launch_queued when the next fetch in flight
 * becomes overdue and gives up its place. */
static void
arm_overdue(struct mirror *m)
{
	double		next = 1e9;
	struct timeval	tv;

	/* Warming fetches alone leave a place free: ask as they do. */
	if ((m->queue == NULL && m->low == NULL) || m->overdue_timer == NULL ||
	    room(m, m->queue != NULL ? 0 : 1, &next) || next >= 1e9)
		return;
	tv.tv_sec = (time_t)next;
	tv.tv_usec = (suseconds_t)((next - (double)tv.tv_sec) * 1e6) + 1000;
	evtimer_add(m->overdue_timer, &tv);
}

static struct queued *
queued_new(const struct fetch_opts *o)
{
	struct queued	*q = xcalloc(1, sizeof *q);

	q->opts = *o;
	q->url = xstrdup(o->url);
	q->inm = o->if_none_match ? xstrdup(o->if_none_match) : NULL;
	q->ims = o->if_modified_since ? xstrdup(o->if_modified_since) : NULL;
	q->opts.url = q->url;
	q->opts.if_none_match = q->inm;
	q->opts.if_modified_since = q->ims;
	return q;
}

static void
queued_free(struct queued *q)
{
	free(q->url);
	free(q->inm);
	free(q->ims);
	free(q);
}

static void
queued_launch(struct mirror *m, struct queued *q)
{
	launch(m, &q->opts);
	queued_free(q);
}

void
mirror_admit(struct mirror *m, const struct fetch_opts *o)
{
	struct queued	*q;

	if (m->queue == NULL && room(m, 0, NULL)) {
		struct fetch_opts	copy = *o;

		launch(m, &copy);
		return;
	}
	q = queued_new(o);
	*m->queue_tail = q;
	m->queue_tail = &q->next;
	arm_overdue(m);
}

/* The last free place stays for cargo's next miss. */
bool
mirror_admit_warm(struct mirror *m, const struct fetch_opts *o)
{
	struct queued	*q;

	if (m->queue == NULL && m->low == NULL && (m->active == 0 ||
	    room(m, 1, NULL))) {
		struct fetch_opts	copy = *o;

		launch(m, &copy);
		return true;
	}
	if (m->nlow >= WARM_QUEUE)
		return false;
	q = queued_new(o);
	*m->low_tail = q;
	m->low_tail = &q->next;
	m->nlow++;
	arm_overdue(m);
	return true;
}

void
mirror_admit_promote(struct mirror *m, void *arg)
{
	struct queued	**qp, *q;

	for (qp = &m->low; (q = *qp) != NULL; qp = &q->next)
		if (q->opts.arg == arg)
			break;
	if (q == NULL)
		return;
	if ((*qp = q->next) == NULL)
		m->low_tail = qp;
	m->nlow--;
	q->next = NULL;
	if (m->queue == NULL && room(m, 0, NULL)) {
		queued_launch(m, q);
		return;
	}
	*m->queue_tail = q;
	m->queue_tail = &q->next;
	arm_overdue(m);
}

/* Starts queued fetches while there is room: the front queue first; a
 * warming fetch never takes the last place unless the upstream is idle. When
 * some wait, wakes up as the next fetch in flight becomes overdue. */
static void
launch_queued(struct mirror *m)
{
	struct queued	*q;

	while ((q = m->queue) != NULL && room(m, 0, NULL)) {
		if ((m->queue = q->next) == NULL)
			m->queue_tail = &m->queue;
		queued_launch(m, q);
	}
	while (m->queue == NULL && (q = m->low) != NULL &&
	    (m->active == 0 || room(m, 1, NULL))) {
		if ((m->low = q->next) == NULL)
			m->low_tail = &m->low;
		m->nlow--;
		queued_launch(m, q);
	}
	arm_overdue(m);
}

long
mirror_retry_after(const char *v)
{
	char	*end;
	long	 n;
	time_t	 t;

	if (v == NULL)
		return -1;
	n = strtol(v, &end, 10);
	if (end != v && *end == '\0')
		return n < 0 ? 0 : n;
	if ((t = http_date_parse(v)) == -1)
		return -1;
	return t > time(NULL) ? (long)(t - time(NULL)) : 0;
}

/*
 * What an answer says of the upstream's load, for the limiter; a slow
 * one is logged with the phase it was slow in.
 */
static void
observe_upstream(struct mirror *m, struct fetch *f, const struct wrap *w)
{
	struct fetch_times	 t;
	struct timespec		 now;
	enum limiter_outcome	 o = LIMITER_NONE;
	long			 status = fetch_status(f);
	int			 old = limiter_limit(m->limiter);

	fetch_times(f, &t);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (fetch_dropped(f) || status == 429 || status == 503)
		o = LIMITER_DROP;
	else if (!fetch_failed(f))
		o = LIMITER_OK;
	if (fetch_connections(f) > 0 && !fetch_failed(f))
		limiter_connected(m->limiter, t.tls > 0 ? t.tls : t.connect);
	if (fetch_multiplexed(f))
		m->multiplexed = true;
	if (fetch_status(f) != 0)
		mirror_upstream_answered(m, f);
	mirror_count(m, METRIC_UPSTREAM_CONNECTIONS_TOTAL, NULL,
	    (double)fetch_connections(f));
	if (limiter_sample(m->limiter, o, mono(&w->sent), mono(&now),
	    t.first_byte - t.pretransfer, m->active + 1,
	    fetch_connections(f) > 0))
		log_debug("registry %s: upstream limit %d -> %d (%s, %.1f ms,"
		    " usual %.1f ms)", m->reg->name, old,
		    limiter_limit(m->limiter), o == LIMITER_DROP ? "drop" :
		    "answer", (t.first_byte - t.pretransfer) * 1e3,
		    limiter_latency(m->limiter) * 1e3);
	if (t.total >= SLOW_ANSWER)
		log_warn("registry %s: upstream %s took %.1f s (connect %.2f s,"
		    " TLS %.2f s, first byte %.2f s, status %ld%s%s)",
		    m->reg->name, fetch_url(f), t.total, t.connect, t.tls,
		    t.first_byte, status, fetch_failed(f) ? ": " : "",
		    fetch_failed(f) ? fetch_error(f) : "");
}

void
mirror_upstream_answered(struct mirror *m, struct fetch *f)
{
	if (m->answered)
		return;
	/* Connections that stay open are not a burst of SYNs: an upstream
	 * that keeps them starts at the ceiling (cold-resolve.sh: growing
	 * from 4 cost a tenth of a cold resolution), and only trouble
	 * (429/503, resets, timeouts, rising latency) narrows it. */
	m->answered = true;
	if (fetch_multiplexed(f))
		m->multiplexed = true;
	if (fetch_keeps_alive(f))
		limiter_widen(m->limiter,
		    (int)m->reg->cfg->upstream_concurrency);
	launch_queued(m);
}

static void
fetch_done_wrap(struct fetch *f, void *arg)
{
	struct wrap	*w = arg;
	struct mirror	*m = w->m;
	long		 status = fetch_status(f);

	m->active--;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		m->inflight = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	observe_upstream(m, f, w);
	if (!fetch_failed(f) && (status == 429 || status == 503)) {
		long	s = mirror_retry_after(fetch_header(f,
		    "Retry-After"));

		if (s > 0) {
			m->backoff_until = time(NULL) + (s > BACKOFF_MAX ?
			    BACKOFF_MAX : s);
			log_warn("registry %s: upstream answered %ld with"
			    " Retry-After %ld: backing off", m->reg->name,
			    status, s);
		}
	}
	if (!fetch_failed(f) && status == 401)
		mirror_credential_refresh(m);
	w->done(f, w->arg);
	free(w);
	launch_queued(m);
}

bool
mirror_backing_off(struct mirror *m)
{
	return m->backoff_until > time(NULL);
}

/* Forgets the warming fetches that have not started (nobody waits for
 * them: a request for one moves it to the front queue): at shutdown. */
void
mirror_admit_drop_warm(struct mirror *m,
    void (*drop)(struct mirror *, void *arg))
{
	struct queued	*q;

	while ((q = m->low) != NULL) {
		m->low = q->next;
		drop(m, q->opts.arg);
		queued_free(q);
	}
	m->low_tail = &m->low;
	m->nlow = 0;
}

void
mirror_admit_open(struct mirror *m)
{
	m->queue_tail = &m->queue;
	m->low_tail = &m->low;
	m->limiter = limiter_create(UPSTREAM_START,
	    (int)m->reg->cfg->upstream_concurrency);
	m->overdue_timer = evtimer_new(m->srv->base, overdue_cb, m);
}

void
mirror_admit_close(struct mirror *m)
{
	limiter_destroy(m->limiter);
	if (m->overdue_timer != NULL)
		event_free(m->overdue_timer);
}

void
mirror_request(struct mirror *m, const struct fetch_opts *o)
{
	struct fetch_opts	copy = *o;

	/* A write someone is waiting on goes at once (the relay caps them
	 * itself); reads wait their turn under the limit. */
	if (o->once) {
		launch(m, &copy);
		return;
	}
	mirror_admit(m, o);
}
