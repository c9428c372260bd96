#include "server/mirror.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "index/deps.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/regconfig.h"
#include "index/semver.h"
#include "index/validators.h"
#include "index/xmalloc.h"
#include "server/credential.h"
#include "server/hot.h"
#include "server/http.h"
#include "server/limiter.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/route.h"
#include "server/server.h"
#include "server/upstream.h"
#include "server/workers.h"

#define INDEX_MAX	(64u << 20)
#define CRATE_MAX	(1u << 30)
#define META_MAX	4096
#define STREAM_HIGH	(1u << 20)	/* pause the upstream past this */
#define BACKOFF_MAX	60		/* seconds */
#define INDEX_TIMEOUT	25		/* seconds: cargo waits 30 */
#define UPSTREAM_START	4		/* requests in flight at first */
#define UPSTREAM_RETRIES 2		/* new connections for a failed GET */
#define SLOW_ANSWER	3.0		/* seconds: an upstream answer logged */
#define OVERDUE		8		/* x the usual latency: stuck */
#define OVERDUE_MIN	0.25		/* seconds: a failing upstream's retries
					   take about 1 s; stale copies wait */
#define PREFETCH_QUEUE	4096		/* prefetches waiting, at most */
#define ASKED_MAX	8192		/* files whose reading is remembered */
#define NEG_MAX		65536		/* upstream 404s remembered, at most */
#define LOG_EVERY	10		/* seconds between repeated log lines */
#define HEAD_MAX	4096		/* a crate's first bytes, judged */
#define NEG_PRUNED	"negatives-pruned"	/* old negative files gone */

/* What a fill of an index file came to, as its waiters see it. */
struct outcome {
	int			 status;	/* 200, 404, or an error */
	struct hot_entry	*e;		/* 200: borrowed */
	const char		*stale;		/* 200 from a stale copy: why */
	const char		*error;		/* errors: what happened */
	const char		*retry_after;	/* errors: seconds, or NULL */
};

typedef void (*index_cb)(struct mirror *, const struct outcome *, void *);

struct waiter {
	index_cb	 cb;
	void		*arg;
	struct waiter	*next;
};

/* An upstream fetch of one index file and everyone waiting for it. */
struct fill {
	struct mirror		*m;
	char			 path[INDEX_PATH_MAX];
	char			 name[CRATE_NAME_MAX + 1];
	struct hot_entry	*old;		/* what we have, or NULL */
	struct waiter		*waiters;
	bool			 prefetch;	/* nobody asked yet */
	struct featreq		 feat;		/* features wanted of it */
	struct fill		*next;
};

typedef mirror_config_cb config_cb;

struct config_waiter {
	config_cb		 cb;
	void			*arg;
	struct config_waiter	*next;
};

/* A fetch waiting for room under upstream_concurrency. */
struct queued {
	struct fetch_opts	 opts;
	char			*url, *inm, *ims;
	struct queued		*next;
};

/* A .crate being fetched: written to a temp file and hashed as it comes,
 * streamed to the first client, everyone else served from the file. */
struct crate_fill {
	struct mirror		*m;
	char			 rel[STORE_PATH_MAX];
	char			 tmprel[STORE_PATH_MAX];
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	char			 cksum[65];
	char			 origin[128];	/* the dl URL's scheme://host */
	int			 fd;		/* -1 once nodisk */
	EVP_MD_CTX		*sha;
	struct fetch		*fetch;
	struct http_request	*streamer;	/* receives the bytes live */
	long long		 length;	/* Content-Length, -1 unknown */
	long long		 got;
	/* The first bytes, held until the status, the Content-Type and
	 * the gzip magic say it is a .crate (judged); for what is not, the
	 * start of the body, for the upstream's message (refused). */
	unsigned char		 head[HEAD_MAX];
	size_t			 headlen;
	bool			 judged;
	bool			 refused;
	bool			 nodisk;	/* not stored: passed through */
	unsigned char		 last;		/* the last byte received */
	bool			 streaming;
	bool			 paused;
	int			 res;		/* commit result */
	bool			 pinned;	/* asked for by crated prefetch */
	struct evict		*evict;		/* crates to remove first */
	struct dl		*waiters;	/* served from the file */
	struct crate_fill	*next;
};

/* A download request on its way through index, config and crate. */
struct dl {
	struct mirror		*m;
	struct http_request	*req;
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	char			 path[INDEX_PATH_MAX];
	char			 cksum[65];
	bool			 refreshed;
	bool			 pin;
	struct dl		*next;
};

/* An index path sent straight upstream until a published version shows. */
struct watch {
	char		 path[INDEX_PATH_MAX];
	char		 vers[VERSION_MAX + 1];
	time_t		 since, until;
	struct watch	*next;
};

struct mirror {
	struct registry		*reg;
	struct server		*srv;
	char			*base;		/* upstream URL, ends in '/' */
	struct regconfig	 rc;		/* the upstream's config.json */
	time_t			 rc_fetched;
	bool			 rc_fetching;
	struct config_waiter	*rc_waiters;
	struct fill		*fills;
	struct lru		 writing;	/* persists under way, by key */
	struct lru		 asked;		/* struct asked, by key */
	struct crate_fill	*crate_fills;
	char			*token;		/* Authorization value */
	time_t			 token_time;
	bool			 token_refreshing;
	int			 active;	/* fetches in flight */
	struct limiter		*limiter;	/* how many may be */
	struct wrap		*inflight;
	struct event		*overdue_timer;	/* a place frees itself */
	bool			 multiplexed;	/* the upstream took h2c */
	bool			 answered;	/* the upstream ever answered */
	struct queued		*queue, **queue_tail;
	struct queued		*low, **low_tail; /* prefetches */
	size_t			 nlow;
	time_t			 backoff_until;
	struct watch		*watches;
	char			 labels[96];	/* registry="NAME" */
	struct usage		*usage;		/* cached crates */
	struct event		*gc_timer;
	struct event		*evict_ev;	/* evict_soon */
	time_t			 last_ok, last_fail;
	char			*last_error;
	struct lru		 negs;		/* struct neg, by index path */
	uint64_t		 committing;	/* bytes being stored */
	struct ratelog {
		time_t		 last;
		size_t		 quiet;		/* held back since */
	}			 offline_log, nospace_log;
};

static const char index_hdrs[] =
    "Cache-Control: public, max-age=0, must-revalidate\r\n";
static const char crate_hdrs[] =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "X-Crated-Cache: miss\r\n";

/* Credentials. */

struct token_job {
	struct mirror	*m;
	char		*cmd;
	char		*token;
};

static void
token_work(void *arg)
{
	struct token_job	*j = arg;

	j->token = credential_clean(credential_command(j->cmd));
}

static void
token_done(void *arg)
{
	struct token_job	*j = arg;
	struct mirror		*m = j->m;

	m->token_refreshing = false;
	if (j->token != NULL) {
		free(m->token);
		m->token = j->token;
		m->token_time = time(NULL);
		log_info("registry %s: upstream token refreshed by"
		    " upstream_token_command", m->reg->name);
	} else
		log_error("registry %s: upstream_token_command failed or"
		    " printed nothing; keeping the previous token",
		    m->reg->name);
	free(j->cmd);
	free(j);
}

/* Re-runs the token command in the background (after a 401, or when the
 * token is older than token_refresh); a file is simply read again. */
static void
refresh_token(struct mirror *m)
{
	const struct registry_config	*c = m->reg->cfg;
	struct token_job		*j;

	if (c->upstream_pat_file != NULL || c->upstream_token_file != NULL) {
		char	*t = NULL, *cause = NULL;

		if (credential_read(c, &t, &cause) != 0) {
			log_error("registry %s: %s; keeping the previous"
			    " credential", m->reg->name, cause);
			free(cause);
		} else {
			free(m->token);
			m->token = t;
		}
		return;
	}
	if (c->upstream_token_command == NULL || m->token_refreshing)
		return;
	m->token_refreshing = true;
	j = xcalloc(1, sizeof *j);
	j->m = m;
	j->cmd = xstrdup(c->upstream_token_command);
	workers_submit(m->srv->workers, token_work, token_done, j);
}

static const char *
token(struct mirror *m)
{
	const struct registry_config	*c = m->reg->cfg;

	if (c->upstream_token_command != NULL && time(NULL) - m->token_time >
	    c->token_refresh)
		refresh_token(m);
	return m->token;
}

const char *
mirror_credential(struct mirror *m)
{
	return token(m);
}

/* Metrics: name{registry="R"} or name{registry="R",extra}. */
static void
count(struct mirror *m, enum metric_id name, const char *extra, double v)
{
	char	labels[192];

	snprintf(labels, sizeof labels, "%s%s%s", m->labels, extra ? "," : "",
	    extra ? extra : "");
	metrics_add(name, labels, v);
}

/* Remembers how the upstream last answered, for /-/ready. */
static void
upstream_state(struct mirror *m, const char *error)
{
	if (error == NULL) {
		m->last_ok = time(NULL);
		return;
	}
	m->last_fail = time(NULL);
	free(m->last_error);
	m->last_error = xstrdup(error);
}

/* Whether a line logged at most once per LOG_EVERY seconds is due; when
 * it is, *more (new) says how many were held back since the last one. */
static bool
ratelog_due(struct ratelog *rl, char **more)
{
	time_t	now = time(NULL);

	if (rl->last != 0 && now - rl->last < LOG_EVERY && now >= rl->last) {
		rl->quiet++;
		return false;
	}
	*more = rl->quiet == 0 ? xstrdup("") : xasprintf(" (%zu more since"
	    " the last message)", rl->quiet);
	rl->quiet = 0;
	rl->last = now;
	return true;
}

/* Offline, cargo shows only its own message for a missing crate, not
 * crated's hint: the miss is logged, once per LOG_EVERY seconds. vers
 * NULL: an index file. */
static void
offline_miss(struct mirror *m, const char *name, const char *vers)
{
	char	*more;

	if (!ratelog_due(&m->offline_log, &more))
		return;
	log_info("registry %s: offline miss: %s%s%s: %s (fill it with `crated"
	    " prefetch` or `crated import`)%s", m->reg->name, name, vers ?
	    " " : "", vers ? vers : "", vers ? "not cached" :
	    "none of its versions is cached", more);
	free(more);
}

/*
 * Negative entries: the index paths the upstream answered 404 for, kept
 * in memory only, for negative_ttl and at most NEG_MAX of them (the oldest
 * go first), in the order they were learnt, so the expired ones are at the
 * old end. Nothing reaches the disk: a request for a name the upstream
 * does not have costs no file. After a restart the upstream is asked
 * once more; offline, anything not cached is a 404 anyway.
 */
struct neg {
	struct lru_node	 node;
	char		*path;
	time_t		 fetched;
};

#define NEG(n)	lru_entry(n, struct neg, node)

static void
neg_drop(struct mirror *m, struct neg *ng)
{
	lru_remove(&m->negs, &ng->node);
	free(ng->path);
	free(ng);
}

static void
neg_expire(struct mirror *m)
{
	time_t	now = time(NULL);

	while (m->negs.oldest != NULL && now - NEG(m->negs.oldest)->fetched >=
	    m->reg->cfg->negative_ttl)
		neg_drop(m, NEG(m->negs.oldest));
}

static struct neg *
neg_find(struct mirror *m, const char *path)
{
	struct lru_node	*n;

	neg_expire(m);
	n = lru_find(&m->negs, path, lru_hash(path));
	return n != NULL ? NEG(n) : NULL;
}

static void
neg_add(struct mirror *m, const char *path)
{
	struct neg	*ng = neg_find(m, path);

	if (ng != NULL) {
		ng->fetched = time(NULL);
		lru_touch(&m->negs, &ng->node);
		return;
	}
	if (m->reg->cfg->negative_ttl <= 0)
		return;
	if (m->negs.n >= NEG_MAX)
		neg_drop(m, NEG(m->negs.oldest));
	ng = xcalloc(1, sizeof *ng);
	ng->path = xstrdup(path);
	ng->fetched = time(NULL);
	lru_add(&m->negs, &ng->node, ng->path, lru_hash(ng->path));
}

static void
neg_remove(struct mirror *m, const char *path)
{
	struct lru_node	*n = lru_find(&m->negs, path, lru_hash(path));

	if (n != NULL)
		neg_drop(m, NEG(n));
}

/* Upstream requests: concurrency cap and back-off. */

static void	fetch_done_wrap(struct fetch *, void *);
static void	watch_check(struct mirror *, const char *,
		    const struct hot_entry *);
static void	gc_tick(evutil_socket_t, short, void *);

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
		o->authorization = token(m);
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

	/* Prefetches alone leave a place free: ask as they do. */
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

/* Starts o now, or when a place frees up. The URL and validators are
 * copied. The on_data and done callbacks get o->arg. */
static void
upstream_get(struct mirror *m, const struct fetch_opts *o)
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

/* upstream_get for a prefetch: behind every request someone waits for,
 * and never in the last free place, which stays for cargo's next miss.
 * False when too many prefetches wait already. */
static bool
upstream_get_low(struct mirror *m, const struct fetch_opts *o)
{
	struct queued	*q;

	if (m->queue == NULL && m->low == NULL && (m->active == 0 ||
	    room(m, 1, NULL))) {
		struct fetch_opts	copy = *o;

		launch(m, &copy);
		return true;
	}
	if (m->nlow >= PREFETCH_QUEUE)
		return false;
	q = queued_new(o);
	*m->low_tail = q;
	m->low_tail = &q->next;
	m->nlow++;
	arm_overdue(m);
	return true;
}

/* Someone now waits for the prefetch whose callback argument is arg:
 * moves it to the front queue if it has not started. */
static void
promote(struct mirror *m, void *arg)
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

static void	fill_free(struct fill *);

/* Forgets the prefetches that have not started (nobody waits for them:
 * a request for one moves it to the front queue): at shutdown. */
static void
drop_prefetches(struct mirror *m)
{
	struct queued	*q;

	while ((q = m->low) != NULL) {
		struct fill	**fp, *fl = q->opts.arg;

		m->low = q->next;
		for (fp = &m->fills; *fp != NULL && *fp != fl;
		    fp = &(*fp)->next)
			;
		if (*fp == fl)
			*fp = fl->next;
		fill_free(fl);
		queued_free(q);
	}
	m->low_tail = &m->low;
	m->nlow = 0;
}

void
mirror_stop_prefetching(struct mirror *m)
{
	if (m != NULL)
		drop_prefetches(m);
}

/* Starts queued fetches while there is room: the front queue first; a
 * prefetch never takes the last place unless the upstream is idle. When
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

/* Seconds from a Retry-After value (delta seconds or an HTTP date). */
static long
retry_after_seconds(const char *v)
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
	count(m, METRIC_UPSTREAM_CONNECTIONS_TOTAL, NULL,
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
		long	s = retry_after_seconds(fetch_header(f,
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
		refresh_token(m);
	w->done(f, w->arg);
	free(w);
	launch_queued(m);
}

static bool
backing_off(struct mirror *m)
{
	return m->backoff_until > time(NULL);
}

/* What an upstream answer means. */

enum verdict {
	V_OK,		/* 200 with a usable body */
	V_NOT_MODIFIED,
	V_NOT_FOUND,
	V_CONFIG,	/* crated is misconfigured: never a 404, never stale */
	V_TRANSIENT,	/* serve stale if we can */
};

/* crated_upstream_requests_total{kind,outcome} and the latency. */
static void
count_upstream(struct mirror *m, double seconds, const char *kind,
    enum verdict v)
{
	static const char	*outcomes[] = { "200", "304", "404", "config",
				    "error" };
	char			 lab[64];

	snprintf(lab, sizeof lab, "kind=\"%s\",outcome=\"%s\"", kind,
	    outcomes[v]);
	count(m, METRIC_UPSTREAM_REQUESTS_TOTAL, lab, 1);
	metrics_observe(METRIC_UPSTREAM_DURATION_SECONDS, m->labels,
	    seconds);
}

/* The upstream's own message from an error body: Azure's JSON "message",
 * cargo's errors[0].detail, an HTML page's title, or the start of the
 * text. New string. */
static char *
message_of(const char *body, size_t len)
{
	json_t		*j = json_loadb(body, len, 0, NULL);
	const char	*msg = json_string_value(json_object_get(j, "message"));
	const char	*t, *te;
	char		*out;

	if (msg == NULL)
		msg = json_string_value(json_object_get(json_array_get(
		    json_object_get(j, "errors"), 0), "detail"));
	if (msg != NULL)
		out = xstrdup(msg);
	else if ((t = memmem(body, len, "<title>", 7)) != NULL &&
	    (te = memmem(t + 7, len - (size_t)(t + 7 - body), "</title>",
	    8)) != NULL && te - t - 7 <= 200)
		out = xstrndup(t + 7, (size_t)(te - t - 7));
	else
		out = xstrndup(body, len > 200 ? 200 : len);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(j);
	return out;
}

static bool
looks_html(const char *ct, const char *body, size_t len)
{
	if (ct != NULL && strcasestr(ct, "html") != NULL)
		return true;
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	return len > 0 && *body == '<';
}

/*
 * What an upstream's status, Content-Type and body (or its start) mean,
 * for index files and crates alike; *why (new) says what went wrong for
 * the verdicts that are failures.
 */
static enum verdict
verdict_of(struct fetch *f, long status, const char *body, size_t len,
    char **why)
{
	char		*msg;

	*why = NULL;
	switch (status) {
	case 200:
		if (looks_html(fetch_header(f, "Content-Type"), body, len)) {
			msg = message_of(body, len);
			*why = xasprintf("upstream answered 200 with an HTML"
			    " page%s (a sign-in page? check the upstream"
			    " credential): %s", fetch_redirects(f) ?
			    " after a redirect" : "", msg);
			free(msg);
			return V_CONFIG;
		}
		return V_OK;
	case 304:
		return V_NOT_MODIFIED;
	case 404:
	case 410:
	case 451:
		return V_NOT_FOUND;
	case 203:
	case 401:
	case 403:
		msg = message_of(body, len);
		*why = xasprintf("upstream refused crated's credential (%ld):"
		    " %s", status, msg);
		free(msg);
		return V_CONFIG;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		msg = message_of(body, len);
		*why = xasprintf("upstream %ld: %s", status, msg);
		free(msg);
		return V_TRANSIENT;
	}
	if (status >= 300 && status < 400) {
		const char	*loc = fetch_header(f, "Location");

		*why = xasprintf("upstream redirected (%ld) to %s, which"
		    " crated did not follow (a sign-in page?)", status,
		    loc ? loc : "nowhere");
		return V_CONFIG;
	}
	msg = message_of(body, len);
	*why = xasprintf("upstream answered %ld: %s", status, msg);
	free(msg);
	return status >= 500 ? V_TRANSIENT : V_CONFIG;
}

/*
 * Judges a finished fetch by its status and headers; *why (new) says what
 * went wrong for the verdicts that are failures. (An index file's lines
 * are checked afterwards, off the loop: digest_work.)
 */
static enum verdict
judge(struct mirror *m, struct fetch *f, char **why)
{
	long		 status = fetch_status(f);
	const char	*body;
	size_t		 len;

	*why = NULL;
	if (fetch_failed(f) && (status < 200 || status >= 300 ||
	    fetch_timed_out(f))) {
		*why = xasprintf("upstream %s: %s", fetch_timed_out(f) ?
		    "timed out" : "unreachable", fetch_error(f));
		return V_TRANSIENT;
	}
	if (fetch_failed(f)) {
		*why = xasprintf("upstream transfer failed: %s",
		    fetch_error(f));
		return V_TRANSIENT;
	}
	body = fetch_body(f, &len);
	return verdict_of(f, status, body, len, why);
}

/* Index files: memory, disk, upstream. */

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

/* New reference to what we have of path, or NULL. */
static struct hot_entry *
lookup(struct mirror *m, const char *path)
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
	 * prefetch just brought went upstream again. */
	hv = lru_hash(key);
	if ((n = lru_find(&m->writing, key, hv)) != NULL) {
		e = lru_entry(n, struct persist, node)->e;
		hot_ref(e);
		return e;
	}
	if ((ng = neg_find(m, path)) != NULL)
		return negative_entry(m, path, ng->fetched);
	return load(m, path);
}

static bool
fresh(struct mirror *m, const struct hot_entry *e)
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

/* Writes e (and its metadata) to disk in the background; for a negative
 * e, removes what is cached of path. The bytes were already served from
 * memory; a crash before the rename loses only the cache fill. Until the
 * write is done, lookup finds e in m->writing. */
static void
persist(struct mirror *m, const char *path, struct hot_entry *e, bool body)
{
	struct persist	*p = xcalloc(1, sizeof *p);
	json_t		*meta;
	uint64_t	 hv = lru_hash(hot_entry_key(e));
	struct lru_node	*n;

	p->m = m;
	snprintf(p->path, sizeof p->path, "%s", path);
	hot_ref(e);
	p->e = e;
	if ((n = lru_find(&m->writing, hot_entry_key(e), hv)) != NULL) {
		lru_remove(&m->writing, n);
		lru_entry(n, struct persist, node)->listed = false;
	}
	lru_add(&m->writing, &p->node, hot_entry_key(e), hv);
	p->listed = true;
	p->body = body;
	if (e->negative) {
		workers_submit(m->srv->workers, persist_work, persist_done, p);
		return;
	}
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
	p->meta = json_dumps(meta, JSON_COMPACT);
	json_decref(meta);
	workers_submit(m->srv->workers, persist_work, persist_done, p);
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

static void	warm(struct mirror *, const struct wants *);
static void	asked_set(struct mirror *, const char *,
		    const struct featreq *);
static void	asked_remove(struct mirror *, struct lru_node *);

/* Ends fl with verdict v: caches what came (e, for V_OK), answers the
 * waiters. o carries a failure's status and Retry-After. */
static void
settle(struct fill *fl, enum verdict v, struct hot_entry *e, const char *why,
    struct outcome *o)
{
	struct mirror	*m = fl->m;
	char		 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];

	if (fl->old != NULL && !fl->old->negative && (v == V_OK ||
	    v == V_NOT_MODIFIED))
		count(m, METRIC_REVALIDATIONS_TOTAL, v == V_OK ?
		    "result=\"200\"" : "result=\"304\"", 1);
	upstream_state(m, v == V_CONFIG || v == V_TRANSIENT ? why : NULL);
	switch (v) {
	case V_OK:
		log_debug("registry %s: fetched %s (%zu bytes)",
		    m->reg->name, fl->path, e->plain.len);
		watch_check(m, fl->path, e);
		neg_remove(m, fl->path);
		persist(m, fl->path, e, true);
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
		persist(m, fl->path, fl->old, false);
		o->status = 200;
		o->e = fl->old;
		break;
	case V_NOT_FOUND:
		neg_add(m, fl->path);
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
			count(m, METRIC_STALE_SERVES_TOTAL, NULL, 1);
			log_warn("registry %s: %s: %s; serving the cached copy"
			    " from %lds ago", m->reg->name, fl->name, why,
			    (long)(time(NULL) - fl->old->fetched));
			o->status = 200;
			o->e = fl->old;
			o->stale = why;
		} else if (fl->prefetch)	/* nobody waits: /-/ready tells */
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
	/* results */
	char			*cause;		/* not an index file: why */
	struct hot_entry	*e;
	struct wants		 wants;
};

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

	count_upstream(m, d->secs, "index", d->e != NULL ? V_OK :
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
		if (d->deps)
			asked_set(m, d->key, &d->feat);
		warm(m, &d->wants);
		hot_unref(e);
	}
	free(why);
	free(d->cause);
	free(d->body);
	free(d->up_etag);
	free(d->up_lastmod);
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
	enum verdict		 v = judge(m, f, &why);

	if (v == V_OK) {
		struct digest	*d = xcalloc(1, sizeof *d);
		const char	*body = fetch_body(f, &d->len), *h;

		d->fl = fl;
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
		/* Files someone waits for are read before prefetched ones. */
		if (fl->waiters != NULL)
			workers_submit_first(m->srv->cpu, digest_work,
			    digest_done, d);
		else
			workers_submit(m->srv->cpu, digest_work, digest_done,
			    d);
		return;
	}
	count_upstream(m, fetch_seconds(f), "index", v);
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
	if (backing_off(m)) {
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
	neg_remove(m, path);
	if (vers == NULL) {
		/* A yank: the next request revalidates. */
		struct hot_entry	*e = lookup(m, path);

		if (e != NULL) {
			e->fetched = 0;
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

static struct fill *
find_fill(struct mirror *m, const char *path)
{
	struct fill	*fl;

	for (fl = m->fills; fl != NULL; fl = fl->next)
		if (strcmp(fl->path, path) == 0)
			return fl;
	return NULL;
}

/* Asks the upstream for the index file at path (e: what we have, taken
 * over). With a waiter, someone waits; without, it is a prefetch, asked
 * with the features in feat. False when the prefetch queue is full. */
static bool
start_fill(struct mirror *m, const char *name, const char *path,
    struct hot_entry *e, struct waiter *w, const struct featreq *feat)
{
	struct fill		*fl = xcalloc(1, sizeof *fl);
	struct fetch_opts	 o = { 0 };
	bool			 ok = true;

	fl->m = m;
	snprintf(fl->path, sizeof fl->path, "%s", path);
	snprintf(fl->name, sizeof fl->name, "%s", name);
	fl->old = e;
	fl->waiters = w;
	fl->prefetch = w == NULL;
	if (feat != NULL)
		featreq_merge(&fl->feat, feat);
	else
		fl->feat.defaults = true;
	o.url = xasprintf("%s%s", m->base, path);
	if (e != NULL && !e->negative) {
		o.if_none_match = e->up_etag;
		o.if_modified_since = e->up_etag ? NULL : e->up_lastmod;
	}
	o.max_body = INDEX_MAX;
	o.timeout = INDEX_TIMEOUT;
	o.done = fill_done;
	o.arg = fl;
	if (w != NULL)
		upstream_get(m, &o);
	else
		ok = upstream_get_low(m, &o);
	free((char *)(uintptr_t)o.url);
	if (!ok) {
		featreq_free(&fl->feat);
		free(fl);
		return false;
	}
	fl->next = m->fills;
	m->fills = fl;
	return true;
}

/*
 * Gets the index file of name at path: from memory or disk while fresh
 * (force: never), else through one shared upstream request; cb gets the
 * outcome, maybe before this returns.
 */
static void
get_index(struct mirror *m, const char *name, const char *path, bool force,
    index_cb cb, void *arg)
{
	struct hot_entry	*e = lookup(m, path);
	struct fill		*fl;
	struct waiter		*w;

	if (watched(m, path))
		force = true;
	if (e != NULL && !force && fresh(m, e)) {
		struct outcome	out = { .status = e->negative ? 404 : 200,
		    .e = e };

		count(m, e->negative ? METRIC_NEGATIVE_HITS_TOTAL :
		    METRIC_CACHE_HITS_TOTAL, NULL, 1);
		cb(m, &out, arg);
		hot_unref(e);
		return;
	}
	if (m->reg->cfg->offline || backing_off(m)) {
		no_upstream(m, e, m->reg->cfg->offline ? "offline mode" :
		    "upstream asked crated to back off", cb, arg);
		hot_unref(e);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	if ((fl = find_fill(m, path)) != NULL) {
		w->next = fl->waiters;
		fl->waiters = w;
		if (fl->prefetch) {
			fl->prefetch = false;
			promote(m, fl);
			count(m, METRIC_PREFETCH_JOINS_TOTAL, NULL, 1);
		} else
			count(m, METRIC_COALESCED_WAITERS_TOTAL, NULL, 1);
		hot_unref(e);
		return;
	}
	if (e == NULL)
		count(m, METRIC_CACHE_MISSES_TOTAL, NULL, 1);
	start_fill(m, name, path, e, w, NULL);
}

/* Keeps a header value to one printable line. */
static void
header_safe(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = ' ';
}

static void
reply_error(struct http_request *r, const struct outcome *o)
{
	char	 hdr[64] = "";
	long	 s = retry_after_seconds(o->retry_after);

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
			files_reply_entry(m->srv, r, view, NULL);	/* not a file */
			return;
		}
		/* The index path's last part is the crate's name. */
		name = strrchr(http_path(r), '/');
		offline_miss(m, name != NULL ? name + 1 : http_path(r), NULL);
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
		reply_error(r, o);
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
	get_index(reg->mirror, rt->name, rt->path, false, index_reply, r);
}

/* The upstream's config.json. */

static void
config_finish(struct mirror *m, const char *error)
{
	struct config_waiter	*w, *next;

	w = m->rc_waiters;
	m->rc_waiters = NULL;
	m->rc_fetching = false;
	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(m, error, w->arg);
		free(w);
	}
}

struct rc_job {
	struct mirror	*m;
	char		*text;
	int		 res;
};

static void
rc_work(void *arg)
{
	struct rc_job	*j = arg;

	j->res = store_write(j->m->reg->store, "upstream-config.json",
	    j->text, strlen(j->text), NULL, NULL);
}

static void
rc_done(void *arg)
{
	struct rc_job	*j = arg;

	if (j->res != 0)
		log_warn("registry %s: saving the upstream config.json: %s",
		    j->m->reg->name, strerror(-j->res));
	free(j->text);
	free(j);
}

static void
config_done(struct fetch *f, void *arg)
{
	struct mirror		*m = arg;
	struct regconfig	 rc;
	char			*why = NULL, *cause = NULL;
	const char		*body;
	size_t			 len;
	enum verdict		 v = judge(m, f, &why);

	count_upstream(m, fetch_seconds(f), "config", v);
	if (v == V_OK) {
		body = fetch_body(f, &len);
		if (regconfig_parse(body, len, &rc, &cause) == 0) {
			struct rc_job	*j = xcalloc(1, sizeof *j);

			regconfig_finish(&m->rc);
			m->rc = rc;
			m->rc_fetched = time(NULL);
			j->m = m;
			j->text = xstrndup(body, len);
			workers_submit(m->srv->workers, rc_work, rc_done, j);
			config_finish(m, NULL);
			return;
		}
		why = xasprintf("upstream %s", cause);
		free(cause);
	} else {
		char	*w = xasprintf("upstream config.json: %s", why ? why :
		    "no answer");

		free(why);
		why = w;
	}
	if (m->rc.dl != NULL) {
		log_warn("registry %s: config.json: %s; using the copy from"
		    " %lds ago", m->reg->name, why, (long)(time(NULL) -
		    m->rc_fetched));
		config_finish(m, NULL);
	} else {
		log_error("registry %s: config.json: %s", m->reg->name, why);
		config_finish(m, why);
	}
	free(why);
}

/* Makes sure the upstream's dl template is known, then calls cb. */
static void
get_config(struct mirror *m, config_cb cb, void *arg)
{
	struct config_waiter	*w;
	struct fetch_opts	 o = { 0 };
	char			*url;

	if (m->rc.dl != NULL && (m->reg->cfg->offline || backing_off(m) ||
	    time(NULL) - m->rc_fetched < m->reg->cfg->index_ttl)) {
		cb(m, NULL, arg);
		return;
	}
	if (m->rc.dl == NULL && (m->reg->cfg->offline || backing_off(m))) {
		cb(m, "the upstream's config.json is not cached", arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	w->next = m->rc_waiters;
	m->rc_waiters = w;
	if (m->rc_fetching)
		return;
	m->rc_fetching = true;
	url = xasprintf("%sconfig.json", m->base);
	o.url = url;
	o.max_body = 1 << 20;
	o.timeout = INDEX_TIMEOUT;
	o.done = config_done;
	o.arg = m;
	upstream_get(m, &o);
	free(url);
}

/* Crates. */

/*
 * Eviction: past max_cache_bytes, the least recently used crates that
 * prefetch did not pin go, down to 90% of the limit; index files are
 * small and kept; offline mirrors never evict. A fetched crate makes its
 * room before it is stored: its victims are chosen (and leave the
 * accounting) on the loop when it is complete, and removed on the worker
 * just before its rename, so a burst of fetches never has the cache more
 * than a crate over the limit.
 */
struct evict {
	struct mirror	*m;
	char		**rels;
	size_t		  n;
	uint64_t	  before;
};

/* The crates to remove so that incoming more bytes fit (counted with the
 * crates being stored), or NULL. */
static struct evict *
victims(struct mirror *m, uint64_t incoming)
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
	return e;
}

static void
evict_work(void *arg)
{
	struct evict	*e = arg;

	/* A file being sent stays readable through its open descriptor. */
	for (size_t i = 0; i < e->n; i++)
		store_unlink(e->m->reg->store, e->rels[i]);
}

/* After evict_work, on the loop (e freed). */
static void
evict_done(void *arg)
{
	struct evict	*e = arg;

	if (e == NULL)
		return;
	log_info("registry %s: evicted %zu crates (%.1f MB to %.1f MB, limit"
	    " %.1f MB)", e->m->reg->name, e->n, (double)e->before / 1e6,
	    (double)(usage_bytes(e->m->usage) + e->m->committing) / 1e6,
	    (double)e->m->reg->cfg->max_cache_bytes / 1e6);
	count(e->m, METRIC_EVICTIONS_TOTAL, NULL, (double)e->n);
	/* Kept open, an evicted file would keep its disk space: closed
	 * now, after the unlink, so no request can open it again between. */
	for (size_t i = 0; i < e->n; i++) {
		files_removed(e->m->reg, e->rels[i]);
		free(e->rels[i]);
	}
	free(e->rels);
	free(e);
}

/* Evicts in the background when the cache is over its limit. */
static void
evict_now(struct mirror *m)
{
	struct evict	*e = victims(m, 0);

	if (e != NULL)
		workers_submit(m->srv->workers, evict_work, evict_done, e);
}

static void
evict_cb(evutil_socket_t fd, short what, void *arg)
{
	evict_now(arg);
}

/* evict_now from the loop's next turn: the done callbacks of the workers
 * also run while they are destroyed, when no job can be submitted. */
static void
evict_soon(struct mirror *m)
{
	event_active(m->evict_ev, EV_TIMEOUT, 0);
}

static void
dl_free(struct dl *d)
{
	free(d);
}

static void
serve_crate_file(struct dl *d)
{
	char	rel[STORE_PATH_MAX];

	store_crate_rel(d->name, d->vers, rel);
	if (files_crate(d->m->reg, d->req, rel, crate_hdrs) != 0)
		http_reply_error(d->req, 502, "crate `%s` %s could not be"
		    " cached", d->name, d->vers);
}

static void
crate_fill_free(struct crate_fill *cf)
{
	struct crate_fill	**pp;

	for (pp = &cf->m->crate_fills; *pp != cf; pp = &(*pp)->next)
		;
	*pp = cf->next;
	EVP_MD_CTX_free(cf->sha);
	free(cf);
}

static void
crate_fail_waiters(struct crate_fill *cf, int status, const char *why)
{
	struct dl	*d, *next;

	for (d = cf->waiters; d != NULL; d = next) {
		next = d->next;
		http_reply_error(d->req, status, "crate `%s` %s: %s", cf->name,
		    cf->vers, why);
		dl_free(d);
	}
	cf->waiters = NULL;
}

static void
crate_commit_work(void *arg)
{
	struct crate_fill	*cf = arg;

	if (cf->evict != NULL)
		evict_work(cf->evict);
	cf->res = store_tmp_commit(cf->m->reg->store, cf->fd, cf->tmprel,
	    cf->rel, "crate:after-tmp", "crate:after-rename");
	cf->fd = -1;
}

static void
crate_commit_done(void *arg)
{
	struct crate_fill	*cf = arg;
	struct mirror		*m = cf->m;
	struct dl		*d, *next;

	m->committing -= (uint64_t)cf->got;
	if (cf->res != 0) {
		log_error("registry %s: caching %s %s: %s", m->reg->name,
		    cf->name, cf->vers, strerror(-cf->res));
		crate_fail_waiters(cf, 500, "crated could not store it");
	}
	if (cf->res == 0)
		usage_added(m->usage, cf->rel, (uint64_t)cf->got, cf->pinned);
	evict_done(cf->evict);
	for (d = cf->waiters; d != NULL; d = next) {
		next = d->next;
		serve_crate_file(d);
		dl_free(d);
	}
	crate_fill_free(cf);
	evict_soon(m);
}

static void
resume(void *arg)
{
	struct crate_fill	*cf = arg;

	if (cf->paused && cf->fetch != NULL) {
		cf->paused = false;
		fetch_pause(cf->fetch, false);
	}
}

/* The cache cannot take the crate (a full disk): it goes on to the client
 * uncached, still verified; logged once per LOG_EVERY seconds. */
static void
no_room(struct crate_fill *cf, int err)
{
	struct mirror	*m = cf->m;
	char		*more;

	if (cf->fd >= 0)
		store_tmp_discard(m->reg->store, cf->fd, cf->tmprel);
	cf->fd = -1;
	cf->nodisk = true;
	if (!ratelog_due(&m->nospace_log, &more))
		return;
	log_error("registry %s: cannot cache crate %s %s: %s; crates are"
	    " passed through uncached (still verified) until there is room%s%s",
	    m->reg->name, cf->name, cf->vers, strerror(err), err == ENOSPC ?
	    " on the data directory's disk" : "", more);
	free(more);
}

/* Writes, hashes and streams a piece of a judged .crate. */
static bool
crate_take(struct crate_fill *cf, struct fetch *f, const void *buf,
    size_t len)
{
	const char	*p = buf;
	size_t		 left = len, queued;

	if (len == 0)
		return true;
	if (cf->got == 0 && !cf->streaming && cf->streamer != NULL) {
		cf->length = fetch_content_length(f);
		if (cf->length > 0) {
			http_stream_start(cf->streamer, 200,
			    "application/gzip", crate_hdrs,
			    (size_t)cf->length);
			cf->streaming = true;
		}
	}
	if (cf->got + (long long)len > CRATE_MAX)
		return false;
	while (left > 0 && !cf->nodisk) {
		ssize_t	n = write(cf->fd, p, left);

		if (n < 0) {
			no_room(cf, errno);
			/* Nobody receives it live (no length): answered
			 * 503 before any byte. */
			if (!cf->streaming)
				return false;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	EVP_DigestUpdate(cf->sha, buf, len);
	cf->last = ((const unsigned char *)buf)[len - 1];
	/* The last byte is held back until the checksum is known: a client
	 * never receives a whole body that does not match the index. */
	if (cf->streaming) {
		long long	room = cf->length - 1 - cf->got;
		size_t		n = room <= 0 ? 0 : (size_t)room < len ?
				    (size_t)room : len;

		if (cf->got + (long long)len > cf->length)
			return false;
		queued = http_stream_write(cf->streamer, buf, n);
		if (queued > STREAM_HIGH && !cf->paused) {
			cf->paused = true;
			fetch_pause(f, true);
			http_stream_on_drain(cf->streamer, resume, cf);
		}
	}
	cf->got += (long long)len;
	return true;
}

/*
 * A piece of the upstream's 2xx answer for a .crate. Nothing reaches the
 * client before the answer is judged: a 200 whose Content-Type is not
 * HTML and whose body starts with gzip's magic. Anything else (a 203 or
 * another 2xx, a sign-in page) is refused as index files are, its start
 * kept for the upstream's message, and cargo gets a 502 (crate_done).
 */
static bool
crate_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct crate_fill	*cf = arg;
	size_t			 k;

	cf->fetch = f;
	if (cf->judged)
		return crate_take(cf, f, buf, len);
	k = len < HEAD_MAX - cf->headlen ? len : HEAD_MAX - cf->headlen;
	memcpy(cf->head + cf->headlen, buf, k);
	cf->headlen += k;
	if (fetch_status(f) != 200 || looks_html(fetch_header(f,
	    "Content-Type"), NULL, 0))
		cf->refused = true;
	else if (cf->headlen < 2)
		return true;
	else if (cf->head[0] != 0x1f || cf->head[1] != 0x8b)
		cf->refused = true;
	if (cf->refused)
		return k == len && cf->headlen < HEAD_MAX;
	cf->judged = true;
	return crate_take(cf, f, cf->head, cf->headlen) &&
	    crate_take(cf, f, (const char *)buf + k, len - k);
}

/* What the upstream sent instead of a .crate (crate_data refused it, or
 * it ended before two bytes). New string. */
static char *
not_a_crate(struct fetch *f, struct crate_fill *cf)
{
	const char	*ct = fetch_header(f, "Content-Type");
	char		*why = NULL, *msg;

	if (verdict_of(f, fetch_status(f), (const char *)cf->head,
	    cf->headlen, &why) != V_OK)
		return why;
	msg = message_of((const char *)cf->head, cf->headlen);
	why = xasprintf("upstream answered 200 with something that is not a"
	    " .crate (no gzip header; Content-Type %s; it starts: %s)",
	    ct ? ct : "none", msg);
	free(msg);
	return why;
}

/* What the finished fetch of a .crate came to; *why (new) says what went
 * wrong for the failures. */
static enum verdict
crate_verdict(struct fetch *f, struct crate_fill *cf, char **why)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	char		 hex[65];
	enum verdict	 v;

	if (cf->refused || (!cf->judged && fetch_failed(f) == 0 &&
	    fetch_status(f) >= 200 && fetch_status(f) < 300)) {
		*why = not_a_crate(f, cf);
		return V_CONFIG;
	}
	v = judge(cf->m, f, why);
	if (v == V_OK && fetch_failed(f) == 0) {
		EVP_DigestFinal_ex(cf->sha, md, &mdlen);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (strcmp(hex, cf->cksum) != 0) {
			*why = xasprintf("checksum mismatch: the index says %s,"
			    " the upstream sent %s", cf->cksum, hex);
			v = V_CONFIG;
		}
	} else if (v == V_OK || v == V_NOT_MODIFIED) {
		free(*why);
		*why = xasprintf("upstream transfer failed (%ld)",
		    fetch_status(f));
		v = V_TRANSIENT;
	} else if (v == V_NOT_FOUND) {
		*why = xasprintf("the upstream has no such file (%ld) though"
		    " its index lists it", fetch_status(f));
	}
	return v;
}

/* A crate not served: logged, every client told (before any byte when
 * possible). */
static void
crate_failed(struct crate_fill *cf, const char *why)
{
	struct mirror	*m = cf->m;
	int		 status = 502;
	char		*nd = NULL;

	if (cf->nodisk && !cf->streaming && !cf->refused) {
		nd = xasprintf("crated cannot cache it (the data directory's"
		    " disk is full?) and the upstream did not send its length,"
		    " so it cannot be passed through; try again later");
		why = nd;
		status = 503;
	}
	log_error("registry %s: crate %s %s from %s: %s; not cached",
	    m->reg->name, cf->name, cf->vers, cf->origin, why);
	if (cf->fd >= 0)
		store_tmp_discard(m->reg->store, cf->fd, cf->tmprel);
	cf->fd = -1;
	if (cf->streamer != NULL) {
		if (cf->streaming)
			http_stream_abort(cf->streamer);
		else
			http_reply_error(cf->streamer, status, "crate `%s` %s:"
			    " %s", cf->name, cf->vers, why);
	}
	crate_fail_waiters(cf, status, why);
	crate_fill_free(cf);
	free(nd);
}

static void
crate_done(struct fetch *f, void *arg)
{
	struct crate_fill	*cf = arg;
	struct mirror		*m = cf->m;
	char			*why = NULL;
	enum verdict		 v = crate_verdict(f, cf, &why);

	count_upstream(m, fetch_seconds(f), "crate", v);
	cf->fetch = NULL;
	count(m, METRIC_CRATE_FETCHES_TOTAL, v == V_OK ? "outcome=\"ok\"" :
	    "outcome=\"failed\"", 1);
	if (why != NULL && strncmp(why, "checksum mismatch", 17) == 0)
		count(m, METRIC_CHECKSUM_FAILURES_TOTAL, NULL, 1);
	if (v != V_OK) {
		crate_failed(cf, why);
		free(why);
		return;
	}
	free(why);
	log_info("registry %s: %s crate %s %s (%lld bytes, %.3fs)",
	    m->reg->name, cf->nodisk ? "passed through (not cached)" :
	    "cached", cf->name, cf->vers, cf->got, fetch_seconds(f));
	if (cf->streamer != NULL && cf->streaming) {
		/* The held-back last byte. */
		http_stream_write(cf->streamer, &cf->last, 1);
		http_stream_end(cf->streamer);
	} else if (cf->streamer != NULL) {
		struct dl	*d = xcalloc(1, sizeof *d);

		d->m = m;
		d->req = cf->streamer;
		snprintf(d->name, sizeof d->name, "%s", cf->name);
		snprintf(d->vers, sizeof d->vers, "%s", cf->vers);
		d->next = cf->waiters;
		cf->waiters = d;
	}
	cf->streamer = NULL;
	if (cf->nodisk) {
		count(m, METRIC_CRATES_UNCACHED_TOTAL, NULL, 1);
		for (struct dl *d = cf->waiters, *next; d != NULL; d = next) {
			next = d->next;
			http_reply_error_hdrs(d->req, 503, "Retry-After: 1\r\n",
			    "crate `%s` %s: crated cannot cache it right now"
			    " (the data directory's disk is full?); try again",
			    cf->name, cf->vers);
			dl_free(d);
		}
		cf->waiters = NULL;
		crate_fill_free(cf);
		return;
	}
	m->committing += (uint64_t)cf->got;
	cf->evict = victims(m, 0);
	workers_submit(m->srv->workers, crate_commit_work, crate_commit_done,
	    cf);
}

/* scheme://host[:port] of url, for log lines (never a query's secret). */
static void
origin_of(const char *url, char *out, size_t size)
{
	const char	*h = strstr(url, "://");
	size_t		 n = h != NULL ? (size_t)(h - url) + 3 +
			    strcspn(h + 3, "/?#") : strcspn(url, "/?#");

	snprintf(out, size, "%.*s", (int)n, url);
}

static void
start_crate(struct dl *d)
{
	struct mirror		*m = d->m;
	struct crate_fill	*cf;
	struct fetch_opts	 o = { 0 };
	char			 rel[STORE_PATH_MAX], *url;

	store_crate_rel(d->name, d->vers, rel);
	if (store_exists(m->reg->store, rel)) {
		serve_crate_file(d);
		dl_free(d);
		return;
	}
	if (m->reg->cfg->offline) {
		offline_miss(m, d->name, d->vers);
		http_reply_error(d->req, 404, "crate `%s` %s is not in the"
		    " offline mirror `%s`", d->name, d->vers, m->reg->name);
		dl_free(d);
		return;
	}
	for (cf = m->crate_fills; cf != NULL; cf = cf->next)
		if (strcmp(cf->rel, rel) == 0) {
			cf->pinned = cf->pinned || d->pin;
			d->next = cf->waiters;
			cf->waiters = d;
			return;
		}
	cf = xcalloc(1, sizeof *cf);
	cf->m = m;
	snprintf(cf->rel, sizeof cf->rel, "%s", rel);
	snprintf(cf->name, sizeof cf->name, "%s", d->name);
	snprintf(cf->vers, sizeof cf->vers, "%s", d->vers);
	memcpy(cf->cksum, d->cksum, sizeof cf->cksum);
	if ((cf->fd = store_tmp_create(m->reg->store, cf->tmprel)) < 0)
		no_room(cf, -cf->fd);
	cf->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(cf->sha, EVP_sha256(), NULL);
	cf->streamer = d->req;
	cf->length = -1;
	cf->pinned = d->pin;
	dl_free(d);
	cf->next = m->crate_fills;
	m->crate_fills = cf;
	url = regconfig_dl_url(m->rc.dl, cf->name, cf->vers, cf->cksum);
	origin_of(url, cf->origin, sizeof cf->origin);
	o.url = url;
	o.max_body = CRATE_MAX;
	o.on_data = crate_data;
	o.done = crate_done;
	o.arg = cf;
	upstream_get(m, &o);
	free(url);
}

static void
dl_config(struct mirror *m, const char *error, void *arg)
{
	struct dl	*d = arg;

	if (error != NULL) {
		http_reply_error(d->req, 502, "crate `%s` %s: %s", d->name,
		    d->vers, error);
		dl_free(d);
		return;
	}
	start_crate(d);
}

static void
dl_index(struct mirror *m, const struct outcome *o, void *arg)
{
	struct dl	*d = arg;
	bool		 found = o->status == 200 && index_file_cksum(
			    o->e->plain.body, o->e->plain.len, d->vers,
			    d->cksum);

	if (o->status == 200 && !found && !d->refreshed && o->stale == NULL &&
	    !m->reg->cfg->offline) {
		/* Maybe published since we last looked. */
		d->refreshed = true;
		get_index(m, d->name, d->path, true, dl_index, d);
		return;
	}
	if (found) {
		get_config(m, dl_config, d);
		return;
	}
	if (m->reg->cfg->offline) {
		offline_miss(m, d->name, d->vers);
		http_reply_error(d->req, 404, "crate `%s` %s is not in the"
		    " offline mirror `%s` (fill it with `crated prefetch` or"
		    " `crated import`)", d->name, d->vers, m->reg->name);
	} else if (o->status == 200 || o->status == 404)
		http_reply_error(d->req, 404, "crate `%s` has no version %s in"
		    " the upstream of registry `%s`", d->name, d->vers,
		    m->reg->name);
	else
		reply_error(d->req, o);
	dl_free(d);
}

void
mirror_download(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	struct dl	*d = xcalloc(1, sizeof *d);

	d->m = reg->mirror;
	d->req = r;
	snprintf(d->name, sizeof d->name, "%s", rt->name);
	snprintf(d->vers, sizeof d->vers, "%s", rt->vers);
	crate_index_path(rt->name, d->path);
	d->pin = http_header(r, "X-Crated-Pin") != NULL;
	get_index(d->m, d->name, d->path, false, dl_index, d);
}

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
	m->queue_tail = &m->queue;
	m->low_tail = &m->low;
	m->limiter = limiter_create(UPSTREAM_START, (int)c->upstream_concurrency);
	m->overdue_timer = evtimer_new(m->srv->base, overdue_cb, m);
	lru_init(&m->writing);
	lru_init(&m->asked);
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
	prune_negatives(m);
	m->evict_ev = event_new(m->srv->base, -1, 0, evict_cb, m);
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
	drop_prefetches(m);
	while (m->watches != NULL) {
		struct watch	*w = m->watches;

		m->watches = w->next;
		free(w);
	}
	if (m->gc_timer != NULL)
		event_free(m->gc_timer);
	if (m->evict_ev != NULL)
		event_free(m->evict_ev);
	usage_close(m->usage);
	regconfig_finish(&m->rc);
	lru_fini(&m->writing);	/* empty: the workers have finished */
	while (m->negs.oldest != NULL)
		neg_drop(m, NEG(m->negs.oldest));
	lru_fini(&m->negs);
	/* The fills did not sync their renames (persist); at a clean stop
	 * (serve, prefetch) they become durable. */
	if ((r = store_sync(m->reg->store)) != 0)
		log_warn("registry %s: syncing the cache: %s", m->reg->name,
		    strerror(-r));
	while (m->asked.oldest != NULL)
		asked_remove(m, m->asked.oldest);
	lru_fini(&m->asked);
	limiter_destroy(m->limiter);
	if (m->overdue_timer != NULL)
		event_free(m->overdue_timer);
	free(m->base);
	free(m->token);
	free(m->last_error);
	free(m);
}

void
mirror_get_config(struct mirror *m, mirror_config_cb cb, void *arg)
{
	get_config(m, cb, arg);
}

const char *
mirror_api(const struct mirror *m)
{
	return m->rc.api;
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
	upstream_get(m, o);
}

struct keep {
	struct mirror	*m;
	char		 rel[STORE_PATH_MAX];
	char		*crate;
	size_t		 len;
	int		 res;
};

static void
keep_work(void *arg)
{
	struct keep	*k = arg;

	if (!store_exists(k->m->reg->store, k->rel))
		k->res = store_write(k->m->reg->store, k->rel, k->crate,
		    k->len, "crate:after-tmp", "crate:after-rename");
}

static void
keep_done(void *arg)
{
	struct keep	*k = arg;

	if (k->res == 0) {
		usage_added(k->m->usage, k->rel, k->len, false);
		evict_soon(k->m);
	}
	if (k->res != 0)
		log_warn("registry %s: keeping the uploaded %s: %s",
		    k->m->reg->name, k->rel, strerror(-k->res));
	free(k->crate);
	free(k);
}

void
mirror_keep_crate(struct mirror *m, const char *name, const char *vers,
    const void *crate, size_t len)
{
	struct keep	*k = xcalloc(1, sizeof *k);

	k->m = m;
	store_crate_rel(name, vers, k->rel);
	k->crate = xmalloc(len);
	memcpy(k->crate, crate, len);
	k->len = len;
	workers_submit(m->srv->workers, keep_work, keep_done, k);
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
	neg_expire(m);
	metrics_set(METRIC_NEGATIVE_ENTRIES, m->labels, (double)m->negs.n);
}

void
mirror_served_crate(struct mirror *m, const char *rel, bool pin)
{
	usage_used(m->usage, rel, time(NULL));
	if (pin)
		usage_pin(m->usage, rel);
}

/* Every few seconds: persist last-use times and pins, forget expired
 * negative entries and, past max_cache_bytes (a crate kept by a relayed
 * upload, a limit lowered by SIGHUP), evict. */
static void
gc_tick(evutil_socket_t fd, short what, void *arg)
{
	struct mirror	*m = arg;

	usage_flush(m->usage);
	neg_expire(m);
	evict_now(m);
}

void
mirror_state(struct mirror *m, json_t *j)
{
	const char	*state = m->reg->cfg->offline ? "offline" :
			    backing_off(m) ? "backing off" : m->last_fail >
			    m->last_ok ? "failing" : m->last_ok ? "ok" :
			    "not contacted yet";

	json_object_set_new(j, "upstream", json_string(m->base));
	json_object_set_new(j, "upstream_state", json_string(state));
	neg_expire(m);
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
}

void
mirror_reconfigured(struct mirror *m)
{
	limiter_set_ceiling(m->limiter, (int)m->reg->cfg->upstream_concurrency);
	refresh_token(m);
}

/*
 * What the prefetch read each fetched index file with: the features and
 * requirements its dependents had asked for (index/deps.h). A file is
 * often cached before its last dependent arrives: clap 3, read as a root,
 * asks for indexmap ^1, and h2 asks for indexmap ^2 later. Without a
 * second reading the dependencies only indexmap 2 has (equivalent) would
 * wait for cargo to ask. Bounded: the least recently used go first, and a
 * file read before this process started is not read again.
 */
struct asked {
	struct lru_node	 node;
	char		*key;
	struct featreq	 feat;
};

static void
asked_remove(struct mirror *m, struct lru_node *n)
{
	struct asked	*a = lru_entry(n, struct asked, node);

	lru_remove(&m->asked, n);
	featreq_free(&a->feat);
	free(a->key);
	free(a);
}

static struct asked *
asked_find(struct mirror *m, const char *key)
{
	struct lru_node	*n = lru_find(&m->asked, key, lru_hash(key));

	if (n == NULL)
		return NULL;
	lru_touch(&m->asked, n);
	return lru_entry(n, struct asked, node);
}

/* Records that the file under key was read with feat. */
static void
asked_set(struct mirror *m, const char *key, const struct featreq *feat)
{
	struct asked	*a = asked_find(m, key);

	if (a == NULL) {
		if (m->asked.n >= ASKED_MAX)
			asked_remove(m, m->asked.oldest);
		a = xcalloc(1, sizeof *a);
		a->key = xstrdup(key);
		lru_add(&m->asked, &a->node, a->key, lru_hash(a->key));
	}
	featreq_merge(&a->feat, feat);
}

/* A second reading of a cached file, off the loop. */
struct reread {
	struct mirror		*m;
	struct hot_entry	*e;		/* a reference */
	struct featreq		 feat;
	struct wants		 wants;
};

static void
reread_work(void *arg)
{
	struct reread	*r = arg;

	index_file_wants(r->e->plain.body, r->e->plain.len, NULL, &r->feat,
	    &r->wants);
}

static void
reread_done(void *arg)
{
	struct reread	*r = arg;

	warm(r->m, &r->wants);
	wants_free(&r->wants);
	featreq_free(&r->feat);
	hot_unref(r->e);
	free(r);
}

/* A dependent wants feat of the cached file e: when that is more than
 * the file was read with, reads it again and warms what it adds. Ends:
 * what a file is read with only grows, and is bounded (REQS_MAX). */
static void
reread(struct mirror *m, struct hot_entry *e, const struct featreq *feat)
{
	struct asked	*a;
	struct reread	*r;

	if (e->negative || (a = asked_find(m, hot_entry_key(e))) == NULL ||
	    !featreq_merge(&a->feat, feat))
		return;
	r = xcalloc(1, sizeof *r);
	r->m = m;
	hot_ref(e);
	r->e = e;
	featreq_merge(&r->feat, &a->feat);
	workers_submit(m->srv->cpu, reread_work, reread_done, r);
}

/*
 * Dependency-aware prefetch. Over HTTP/1.1 cargo keeps at most two
 * requests in flight, and even over HTTP/2 it learns what to ask next
 * only when an answer arrives, so a cold resolution is a chain of round
 * trips to the upstream as long as the dependency graph is deep. When an
 * index file arrives, the files of the dependencies cargo will look up
 * next (index/deps.h: the newest versions, the features dependents turn
 * on) are fetched at once in the background, so cargo finds them cached
 * or on their way; they in turn warm theirs. Only missing files, only
 * from this registry, behind every request someone waits for.
 */
static void
warm(struct mirror *m, const struct wants *w)
{
	size_t	started = 0, dropped = 0;

	/* With one slot there is none to spare: queued prefetches would
	 * only pile up until someone asked. */
	if (backing_off(m) || m->srv->stopping ||
	    m->reg->cfg->upstream_concurrency < 2)
		return;
	for (size_t i = 0; i < w->n; i++) {
		const char		*name = w->v[i].name;
		char			 path[INDEX_PATH_MAX];
		struct hot_entry	*have;
		struct fill		*fl;

		if (crate_name_check(name, NULL) != 0)
			continue;
		crate_index_path(name, path);
		if ((fl = find_fill(m, path)) != NULL) {
			/* On its way: read it with these features too. */
			featreq_merge(&fl->feat, &w->v[i].feat);
			continue;
		}
		if ((have = lookup(m, path)) != NULL && fresh(m, have)) {
			reread(m, have, &w->v[i].feat);
			hot_unref(have);
			continue;
		}
		if (start_fill(m, name, path, have, NULL, &w->v[i].feat))
			started++;
		else {
			hot_unref(have);
			dropped++;
		}
	}
	if (started > 0)
		count(m, METRIC_PREFETCHED_INDEX_FILES_TOTAL, NULL,
		    (double)started);
	if (dropped > 0)
		count(m, METRIC_PREFETCH_DROPPED_TOTAL, NULL,
		    (double)dropped);
}
