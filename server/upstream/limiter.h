/* How many requests a mirror keeps in flight to its upstream: an adaptive
 * limit, as TCP's congestion window. Pure: no event loop, no curl; the
 * caller gives it the clock and what each request's answer was like.
 *
 * The limit starts small (a small upstream may have a listen backlog of
 * 5, a proxy or a rate limit per client), or wide (limiter_widen: the
 * caller knows the upstream keeps its connections), and grows by one per
 * answer that came at the usual latency while the limit was what held
 * requests back (slow start: it doubles every round trip), then by one
 * per round trip once it has shrunk, or past 8 when every request needs a
 * connection of its own: a small server's listen backlog drops a burst of
 * SYNs. It shrinks by half on a drop (a connect timeout, a reset, a 429 or
 * 503) and by a tenth when answers take more than twice the usual time,
 * at most once per round trip: answers to requests sent before the last
 * cut say nothing about the new limit. After 10 s without answers (an
 * outage) the next answer starts slow start again. The ceiling is
 * upstream_concurrency.
 *
 * It also says how long a connect may take: a dropped SYN is only
 * retransmitted after a second, so a short connect timeout and a new
 * connection are cheaper than waiting for it. */
#ifndef SERVER_UPSTREAM_LIMITER_H
#define SERVER_UPSTREAM_LIMITER_H

#include <stdbool.h>

enum limiter_outcome {
	LIMITER_OK,	/* an answer: latency counts */
	LIMITER_DROP,	/* connect timeout, reset, 429/503: halve */
	LIMITER_NONE,	/* says nothing about load (a 500, a bad URL) */
};

struct limiter;

/* New; start is clamped to [1, ceiling]. */
struct limiter	*limiter_create(int start, int ceiling);
void		 limiter_destroy(struct limiter *);
void		 limiter_set_ceiling(struct limiter *, int ceiling);
/* In slow start, raises the limit to at least n (within the ceiling). */
void		 limiter_widen(struct limiter *, int n);
/* Requests that may be in flight now (>= 1). */
int		 limiter_limit(const struct limiter *);
/* One request's result. sent: when it was sent; now: when it ended (both
 * in seconds of one monotonic clock); latency: from sending to the first
 * byte of the answer, connecting excluded; inflight: requests in flight
 * when it ended, itself included; fresh: it needed a new connection.
 * True when the limit changed. */
bool		 limiter_sample(struct limiter *, enum limiter_outcome,
		    double sent, double now, double latency, int inflight,
		    bool fresh);
/* The usual latency (0 before the first answer). */
double		 limiter_latency(const struct limiter *);

/* A connect that took seconds (TCP and TLS). */
void		 limiter_connected(struct limiter *, double seconds);
/* Milliseconds a first connect attempt may take (4x the usual; at least
 * 50 ms, 250 with a TLS handshake). */
long		 limiter_connect_timeout_ms(const struct limiter *, bool tls);

#endif
