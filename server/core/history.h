/* The last hour per minute: requests, cache hits and cache misses, for
 * the operations page's chart. A ring of 60 buckets keyed by the minute
 * (time / 60); a bucket of an older minute is reset when its slot comes
 * round again. Touched only from the event loop. */
#ifndef SERVER_CORE_HISTORY_H
#define SERVER_CORE_HISTORY_H

#include <stdint.h>
#include <time.h>

#define HISTORY_MINUTES	60

enum history_kind {
	HISTORY_REQUESTS,
	HISTORY_HITS,
	HISTORY_MISSES,
	HISTORY_KINDS
};

struct history_bucket {
	int64_t		minute;		/* time / 60; 0: never used */
	uint64_t	n[HISTORY_KINDS];
};

/* Counts n events of kind at now. */
void	history_add(enum history_kind, uint64_t n, time_t now);
/* The last HISTORY_MINUTES minutes ending with now's, oldest first;
 * minutes without events are zero. */
void	history_get(struct history_bucket out[HISTORY_MINUTES], time_t now);
/* Forgets everything (for tests). */
void	history_reset(void);

#endif
