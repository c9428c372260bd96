/* server/upstream/limiter.c: the adaptive limit on upstream requests in flight. */
#include <stdio.h>

#include "server/upstream/limiter.h"
#include "tests/tap.h"

/* Answers n requests at latency lat, each sent at t and answered at
 * t + lat with the limit full; returns the new time. */
static double
answers(struct limiter *l, int n, double t, double lat)
{
	for (int i = 0; i < n; i++)
		limiter_sample(l, LIMITER_OK, t, t + lat, lat,
		    limiter_limit(l), false);
	return t + lat;
}

int
main(void)
{
	struct limiter	*l;
	double		 t = 100;
	int		 before;

	l = limiter_create(4, 64);
	ok(limiter_limit(l) == 4, "starts at 4");
	ok(limiter_connect_timeout_ms(l, false) == 750,
	    "connect timeout before any connect: 750 ms");

	/* Slow start: every answer at the usual latency while the limit is
	 * full adds one, so the limit doubles per round trip. */
	t = answers(l, 4, t, 0.05);
	ok(limiter_limit(l) == 8, "slow start: 4 answers, 4 -> 8 (%d)",
	    limiter_limit(l));
	t = answers(l, 8, t, 0.05);
	ok(limiter_limit(l) == 16, "8 -> 16 (%d)", limiter_limit(l));
	t = answers(l, 100, t, 0.05);
	ok(limiter_limit(l) == 64, "capped at the ceiling (%d)",
	    limiter_limit(l));

	/* Not limited: answers with few in flight do not grow it. */
	limiter_set_ceiling(l, 100);
	before = limiter_limit(l);
	limiter_sample(l, LIMITER_OK, t, t + 0.05, 0.05, 3, false);
	ok(limiter_limit(l) == before, "3 in flight of 64: no growth");

	/* A drop halves it, once per round trip: answers to requests sent
	 * before the cut do not cut again. */
	ok(limiter_sample(l, LIMITER_DROP, t, t + 0.1, 0, 64, false),
	    "a drop changes the limit");
	ok(limiter_limit(l) == 32, "a drop halves: 64 -> 32 (%d)",
	    limiter_limit(l));
	limiter_sample(l, LIMITER_DROP, t, t + 0.11, 0, 64, false);
	limiter_sample(l, LIMITER_DROP, t + 0.01, t + 0.12, 0, 64, false);
	ok(limiter_limit(l) == 32, "drops of the same round: still 32 (%d)",
	    limiter_limit(l));
	t += 0.2;
	limiter_sample(l, LIMITER_DROP, t, t + 0.1, 0, 32, false);
	ok(limiter_limit(l) == 16, "a drop of a later round: 16 (%d)",
	    limiter_limit(l));
	t += 0.2;

	/* After a cut it grows by one per round trip, not per answer. */
	before = limiter_limit(l);
	t = answers(l, before, t, 0.05);
	ok(limiter_limit(l) == before + 1,
	    "congestion avoidance: one round, +1 (%d -> %d)", before,
	    limiter_limit(l));

	/* One slow answer is noise; a run of them is a rise: over twice
	 * the usual, a tenth off, once. */
	before = limiter_limit(l);
	limiter_sample(l, LIMITER_OK, t, t + 0.2, 0.2, before, false);
	ok(limiter_limit(l) == before, "one answer at 4x the usual: no cut");
	for (int i = 0; i < 5; i++)
		limiter_sample(l, LIMITER_OK, t, t + 0.2, 0.2, before, false);
	ok(limiter_limit(l) < before && limiter_limit(l) >= before * 8 / 10,
	    "a run at 4x the usual: %d -> %d", before, limiter_limit(l));
	t += 0.3;

	/* An outage: drops took it to 1; after 10 s without answers, the
	 * upstream that is back is met with slow start again. */
	{
		struct limiter	*k = limiter_create(16, 64);
		double		 u = 1;

		for (int i = 0; i < 5; i++, u += 1)
			limiter_sample(k, LIMITER_OK, u, u + 0.01, 0.01, 1,
			    false);
		for (int i = 0; i < 6; i++, u += 1)
			limiter_sample(k, LIMITER_DROP, u, u + 0.5, 0, 1,
			    false);
		ok(limiter_limit(k) == 1, "outage: 1 (%d)", limiter_limit(k));
		u += 20;
		answers(k, 1, u, 0.01);
		answers(k, 2, u + 0.02, 0.01);
		answers(k, 4, u + 0.04, 0.01);
		ok(limiter_limit(k) == 8, "back after 20 s: 1 -> 8 in three"
		    " rounds (%d)", limiter_limit(k));
		limiter_destroy(k);
	}

	/* Widened in slow start only, within the ceiling. */
	{
		struct limiter	*k = limiter_create(4, 10);

		limiter_widen(k, 16);
		ok(limiter_limit(k) == 10, "widened to the ceiling (%d)",
		    limiter_limit(k));
		limiter_sample(k, LIMITER_DROP, 1, 2, 0, 10, false);
		limiter_widen(k, 16);
		ok(limiter_limit(k) == 5, "not after a cut (%d)",
		    limiter_limit(k));
		limiter_destroy(k);
	}

	/* Without keep-alive, slow start ends at 8: one per round after. */
	{
		struct limiter	*k = limiter_create(4, 64);
		double		 u = 1;

		for (int i = 0; i < 4; i++)
			limiter_sample(k, LIMITER_OK, u, u + 0.01, 0.01,
			    limiter_limit(k), true);
		ok(limiter_limit(k) == 8, "new connections: 4 -> 8 (%d)",
		    limiter_limit(k));
		for (int i = 0; i < 8; i++, u += 0.05)
			limiter_sample(k, LIMITER_OK, u, u + 0.01, 0.01,
			    limiter_limit(k), true);
		ok(limiter_limit(k) == 9, "past 8: one per round (%d)",
		    limiter_limit(k));
		for (int i = 0; i < 90; i++)
			limiter_sample(k, LIMITER_OK, u, u + 0.001, 0.001,
			    limiter_limit(k), true);
		ok(limiter_limit(k) == 9,
		    "10 rounds of 1 ms within 100 ms: still 9 (%d)",
		    limiter_limit(k));
		limiter_destroy(k);
	}

	/* Never below one, whatever happens. */
	for (int i = 0; i < 40; i++, t += 1)
		limiter_sample(l, LIMITER_DROP, t, t + 0.5, 0, 1, false);
	ok(limiter_limit(l) == 1, "40 rounds of drops: 1 (%d)",
	    limiter_limit(l));
	/* An answer that says nothing of the load changes nothing. */
	ok(!limiter_sample(l, LIMITER_NONE, t, t + 1, 0, 1, false) &&
	    limiter_limit(l) == 1, "a 500 changes nothing");

	/* The usual latency follows a lasting change within two windows. */
	for (int i = 0; i < 30; i++, t += 1)
		limiter_sample(l, LIMITER_OK, t, t + 0.5, 0.5, 1, false);
	ok(limiter_latency(l) > 0.4, "usual latency moved to 0.5 s (%.3f)",
	    limiter_latency(l));

	/* A lower ceiling (SIGHUP) takes effect at once. */
	limiter_set_ceiling(l, 2);
	t = answers(l, 50, t, 0.5);
	ok(limiter_limit(l) == 2, "ceiling 2 holds (%d)", limiter_limit(l));
	limiter_destroy(l);

	/* Connect timeouts follow the connects seen. */
	l = limiter_create(0, 0);
	ok(limiter_limit(l) == 1, "start and ceiling clamped to 1");
	limiter_connected(l, 0.0001);
	ok(limiter_connect_timeout_ms(l, false) == 50,
	    "fast connects: 50 ms floor");
	ok(limiter_connect_timeout_ms(l, true) == 250,
	    "fast TLS connects: 250 ms floor");
	for (int i = 0; i < 50; i++)
		limiter_connected(l, 0.4);
	ok(limiter_connect_timeout_ms(l, false) >= 1500 &&
	    limiter_connect_timeout_ms(l, false) <= 1700,
	    "0.4 s connects (TLS far away): %ld ms",
	    limiter_connect_timeout_ms(l, false));
	for (int i = 0; i < 50; i++)
		limiter_connected(l, 9);
	ok(limiter_connect_timeout_ms(l, false) == 10000, "capped at 10 s");
	limiter_destroy(l);
	limiter_destroy(NULL);
	return done_testing();
}
