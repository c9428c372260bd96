/* libFuzzer: the body of PUT /api/v1/crates/new and the index line built
 * from it. */
#include <stdint.h>
#include <stdlib.h>

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
		publish_finish(&p);
	}
	free(cause);
	return 0;
}
