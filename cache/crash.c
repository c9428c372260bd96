#include "cache/crash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const crash_points[] = {
	"publish:after-crate-tmp",
	"publish:after-crate-rename",
	"publish:after-index-tmp",
	"publish:after-index-rename",
	"publish:after-meta-tmp",
	"publish:after-meta-rename",
	"yank:after-index-tmp",
	"yank:after-index-rename",
	"owners:after-meta-tmp",
	"owners:after-meta-rename",
	"crate:after-tmp",
	"crate:after-rename",
	"mirror-index:after-tmp",
	"mirror-index:after-rename",
	NULL
};

static const char	*armed;
static char		 paused[64];
static long		 pause_ms;

void
crash_setup(void)
{
	const char	*p = getenv("CRATED_PAUSE_AT"), *eq;

	armed = getenv("CRATED_CRASH_AT");
	if (armed != NULL && *armed == '\0')
		armed = NULL;
	if (p != NULL && (eq = strrchr(p, '=')) != NULL &&
	    (size_t)(eq - p) < sizeof paused) {
		memcpy(paused, p, (size_t)(eq - p));
		paused[eq - p] = '\0';
		pause_ms = strtol(eq + 1, NULL, 10);
	}
}

void
crash_point(const char *step)
{
	if (armed != NULL && strcmp(armed, step) == 0) {
		fprintf(stderr, "crated: CRATED_CRASH_AT=%s reached, exiting\n",
		    step);
		_exit(CRASH_EXIT_CODE);
	}
	if (pause_ms > 0 && strcmp(paused, step) == 0) {
		struct timespec	ts = { pause_ms / 1000,
				    pause_ms % 1000 * 1000000 };

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}
