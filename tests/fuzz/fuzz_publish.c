/* libFuzzer: the body of PUT /api/v1/crates/new, the index line built from
 * it, and the whole-archive check of its .crate (seeds: real bodies in
 * tests/data/publish and tests/fuzz/seeds/publish, made by
 * tests/data/crates/make.py). The .crate is also checked against a small
 * unpacked-size cap, so the cap's path is reached without inflating
 * 512 MiB. */
#include <stdint.h>
#include <stdlib.h>

#include "index/crate_archive.h"
#include "index/publish.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct publish	 p;
	char		*cause = NULL, *line;

	if (publish_parse(data, len, &p, &cause) == 0) {
		line = publish_index_line(&p, 1700000000);
		free(line);
		if (publish_check_crate(&p, &cause) != 0) {
			free(cause);
			cause = NULL;
		}
		if (crate_archive_check(p.crate, p.crate_len, p.name, p.vers,
		    4096, &cause) != 0) {
			free(cause);
			cause = NULL;
		}
		publish_finish(&p);
	}
	free(cause);
	return 0;
}
