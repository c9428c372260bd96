#include "server/upstream/limiter.h"

#include <stdlib.h>

#include "common/xmalloc.h"

#define WINDOW		10.0	/* seconds a latency minimum stands for */
#define SLACK		0.050	/* seconds of jitter never called a rise */
#define RISE		2.0	/* latency over RISE x usual: shrink */
#define SLOW_START_CONNECTS 8	/* slow start on new connections up to */
#define MIN_ROUND	0.1	/* seconds: growth after a cut, at most */
#define CONNECT_FIRST	750	/* ms, before any connect was seen */
#define CONNECT_MIN	50	/* ms: a TCP connect */
#define CONNECT_MIN_TLS	250	/* ms: a TLS handshake on a busy host */
#define CONNECT_MAX	10000	/* ms */

struct limiter {
	double	limit;
	int	ceiling;
	bool	slow_start;
	int	acked;		/* answers towards the next +1 */
	double	grown_at;	/* when the limit last grew */
	double	cut_at;		/* when the limit was last cut */
	/* The lowest latency of this window and of the one before: the
	 * usual latency, which follows a lasting change within two. */
	double	min_now, min_before, window_start;
	double	recent;		/* smoothed latency of the last answers */
	double	connect;	/* smoothed connect time, seconds; 0 none */
	double	answered_at;	/* the last answer, 0 none */
};

struct limiter *
limiter_create(int start, int ceiling)
{
	struct limiter	*l = xcalloc(1, sizeof *l);

	l->ceiling = ceiling < 1 ? 1 : ceiling;
	l->limit = start < 1 ? 1 : start > l->ceiling ? l->ceiling : start;
	l->slow_start = true;
	l->cut_at = -1;
	return l;
}

void
limiter_destroy(struct limiter *l)
{
	free(l);
}

void
limiter_set_ceiling(struct limiter *l, int ceiling)
{
	l->ceiling = ceiling < 1 ? 1 : ceiling;
	if (l->limit > l->ceiling)
		l->limit = l->ceiling;
}

void
limiter_widen(struct limiter *l, int n)
{
	if (l->slow_start && l->limit < n)
		l->limit = n > l->ceiling ? l->ceiling : n;
}

int
limiter_limit(const struct limiter *l)
{
	return (int)l->limit;
}

double
limiter_latency(const struct limiter *l)
{
	if (l->min_before == 0)
		return l->min_now;
	if (l->min_now == 0)
		return l->min_before;
	return l->min_now < l->min_before ? l->min_now : l->min_before;
}

static void
observe(struct limiter *l, double now, double latency)
{
	if (now - l->window_start >= WINDOW) {
		/* A whole window without answers forgets both. */
		l->min_before = now - l->window_start >= 2 * WINDOW ? 0 :
		    l->min_now;
		l->min_now = 0;
		l->window_start = now;
	}
	if (l->min_now == 0 || latency < l->min_now)
		l->min_now = latency;
}

static bool
cut(struct limiter *l, double sent, double now, double factor)
{
	int	old = (int)l->limit;

	/* Requests sent before the last cut were sent under the old limit:
	 * what they met is already answered for. */
	if (sent <= l->cut_at)
		return false;
	l->cut_at = now;
	l->slow_start = false;
	l->limit *= factor;
	if (l->limit < 1)
		l->limit = 1;
	return (int)l->limit != old;
}

bool
limiter_sample(struct limiter *l, enum limiter_outcome o, double sent,
    double now, double latency, int inflight, bool fresh)
{
	int	old = (int)l->limit;
	double	usual;

	switch (o) {
	case LIMITER_NONE:
		return false;
	case LIMITER_DROP:
		return cut(l, sent, now, 0.5);
	case LIMITER_OK:
		break;
	}
	/* After a spell without answers (an outage) the cuts it made say
	 * nothing of the upstream that is back: slow start again. */
	if (l->answered_at != 0 && now - l->answered_at >= WINDOW)
		l->slow_start = true;
	l->answered_at = now;
	usual = limiter_latency(l);
	observe(l, now, latency);
	/* One slow answer is noise (a busy thread, a big file); a run of
	 * them is the upstream queueing. */
	l->recent = l->recent == 0 ? latency : 0.75 * l->recent +
	    0.25 * latency;
	if (usual > 0 && l->recent > RISE * usual + SLACK)
		return cut(l, sent, now, 0.9);
	/* Grow only while the limit is what holds requests back (a
	 * prefetch leaves one place free: nearly full counts). */
	if (inflight < old - 1)
		return false;
	/* An upstream that wants a new connection for every request (no
	 * keep-alive) meets a burst of connects at once when the limit
	 * doubles: past SLOW_START_CONNECTS it grows one per round trip. */
	if (l->slow_start && !(fresh && old >= SLOW_START_CONNECTS)) {
		l->limit += 1;
		l->grown_at = now;
	} else if (++l->acked >= old && now - l->grown_at >= MIN_ROUND) {
		/* One per round trip, and a round trip on loopback or a
		 * LAN is far shorter than a server takes to fall behind. */
		l->limit += 1;
		l->acked = 0;
		l->grown_at = now;
	}
	if (l->limit > l->ceiling)
		l->limit = l->ceiling;
	return (int)l->limit != old;
}

void
limiter_connected(struct limiter *l, double seconds)
{
	if (seconds <= 0)
		return;
	l->connect = l->connect == 0 ? seconds : 0.75 * l->connect +
	    0.25 * seconds;
}

long
limiter_connect_timeout_ms(const struct limiter *l, bool tls)
{
	long	ms, floor = tls ? CONNECT_MIN_TLS : CONNECT_MIN;

	if (l->connect == 0)
		return CONNECT_FIRST;
	ms = (long)(4000 * l->connect);
	return ms < floor ? floor : ms > CONNECT_MAX ?
	    CONNECT_MAX : ms;
}
