/* A toolchain mirror's metrics (labelled toolchain="NAME"), the log lines
 * it holds back, and its upstream's last answer for /-/ready. */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/log.h"

void
tc_count(struct toolchain *tc, enum metric_id id, const char *extra,
    double v)
{
	char	labels[192];

	if (extra == NULL) {
		metrics_add(id, tc->labels, v);
		return;
	}
	snprintf(labels, sizeof labels, "%s,%s", tc->labels, extra);
	metrics_add(id, labels, v);
}

void
tc_note_answer(struct toolchain *tc, const char *error)
{
	if (error == NULL) {
		tc->last_ok = time(NULL);
		return;
	}
	tc->last_fail = time(NULL);
	free(tc->last_error);
	tc->last_error = xstrdup(error);
}

/* rustup shows only its own message for a 404: the miss is logged, once
 * per TC_LOG_EVERY seconds. */
void
tc_offline_miss(struct toolchain *tc, const char *rel)
{
	log_every(&tc->offline_log, TC_LOG_EVERY, LOG_INFO, "toolchains %s:"
	    " offline miss: %s is not cached (fill it with `crated prefetch"
	    " --toolchain` or `crated import`)", tc->name, rel);
}

static bool
ends(const char *s, const char *suffix)
{
	size_t	n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

const char *
tc_ctype(const char *rel)
{
	if (ends(rel, ".toml") || ends(rel, ".sha256") || ends(rel, ".asc"))
		return "text/plain; charset=utf-8";
	if (ends(rel, ".tar.xz"))
		return "application/x-xz";
	if (ends(rel, ".tar.gz"))
		return "application/gzip";
	return "application/octet-stream";
}
