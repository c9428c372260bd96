/* libFuzzer: the Cargo.lock reader. */
#include <stdint.h>
#include <stdlib.h>

#include "index/lockfile.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct lockfile	 lf;
	char		*cause = NULL;
	const char	*url;

	if (lockfile_parse((const char *)data, len, &lf, &cause) == 0) {
		for (size_t i = 0; i < lf.n; i++)
			lockfile_source_is_registry(lf.pkgs[i].source, &url);
		lockfile_finish(&lf);
	}
	free(cause);
	return 0;
}
