#include "cache/crash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	NULL
};

static const char	*armed;

void
crash_setup(void)
{
	armed = getenv("CRATED_CRASH_AT");
	if (armed != NULL && *armed == '\0')
		armed = NULL;
}

void
crash_point(const char *step)
{
	if (armed != NULL && strcmp(armed, step) == 0) {
		fprintf(stderr, "crated: CRATED_CRASH_AT=%s reached, exiting\n",
		    step);
		_exit(CRASH_EXIT_CODE);
	}
}
