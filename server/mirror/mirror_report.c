/* What a mirror tells its operator beside the answers: metrics under its
 * registry's label, log lines held back to one per LOG_EVERY seconds,
 * and how the upstream last answered (for /-/ready, mirror.c). */
#include "server/mirror/mirror_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"

/* Metrics: name{registry="R"} or name{registry="R",extra}. */
void
mirror_count(struct mirror *m, enum metric_id name, const char *extra, double v)
{
	char	labels[192];

	snprintf(labels, sizeof labels, "%s%s%s", m->labels, extra ? "," : "",
	    extra ? extra : "");
	metrics_add(name, labels, v);
}

void
mirror_note_answer(struct mirror *m, const char *error)
{
	if (error == NULL) {
		m->last_ok = time(NULL);
		return;
	}
	m->last_fail = time(NULL);
	free(m->last_error);
	m->last_error = xstrdup(error);
}

/* Offline, cargo shows only its own message for a missing crate, not
 * crated's hint: the miss is logged, once per LOG_EVERY seconds. vers
 * NULL: an index file. */
void
mirror_offline_miss(struct mirror *m, const char *name, const char *vers)
{
	log_every(&m->offline_log, LOG_EVERY, LOG_INFO, "registry %s: offline"
	    " miss: %s%s%s: %s (fill it with `crated prefetch` or `crated"
	    " import`)", m->reg->name, name, vers ? " " : "", vers ? vers : "",
	    vers ? "not cached" : "none of its versions is cached");
}
