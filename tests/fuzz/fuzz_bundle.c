/* libFuzzer: the bundle importer, on a scratch data directory. Whatever the
 * input, nothing may be written outside that directory. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "cache/bundle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	dir[64], file[96];

static int
rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct bundle_stats	 st;
	char			*cause = NULL;
	FILE			*f;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof dir, "/tmp/crated-fuzz-bundle-%ld",
		    (long)getpid());
		snprintf(file, sizeof file, "%s.tar.gz", dir);
	}
	mkdir(dir, 0755);
	if ((f = fopen(file, "wb")) == NULL)
		return 0;
	fwrite(data, 1, len, f);
	fclose(f);
	if (bundle_import(dir, file, NULL, NULL, &st, &cause) != 0)
		free(cause);
	nftw(dir, rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
