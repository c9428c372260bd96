#include "server/core/history.h"

#include <string.h>

static struct history_bucket	ring[HISTORY_MINUTES];

void
history_add(enum history_kind kind, uint64_t n, time_t now)
{
	int64_t			 minute = (int64_t)now / 60;
	struct history_bucket	*b = &ring[minute % HISTORY_MINUTES];

	if (b->minute != minute) {
		memset(b, 0, sizeof *b);
		b->minute = minute;
	}
	b->n[kind] += n;
}

void
history_get(struct history_bucket out[HISTORY_MINUTES], time_t now)
{
	int64_t	last = (int64_t)now / 60;

	for (int i = 0; i < HISTORY_MINUTES; i++) {
		int64_t			 minute = last - HISTORY_MINUTES + 1 + i;
		const struct history_bucket *b =
					    &ring[minute % HISTORY_MINUTES];

		if (b->minute == minute)
			out[i] = *b;
		else {
			memset(&out[i], 0, sizeof out[i]);
			out[i].minute = minute;
		}
	}
}

void
history_reset(void)
{
	memset(ring, 0, sizeof ring);
}
