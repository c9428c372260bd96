/* libFuzzer: index lines and files, as an upstream could send them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/indexline.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
each(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	char	*cause = NULL, *y;

	if (e != NULL && (y = index_line_set_yanked(line, len, !e->yanked,
	    &cause)) != NULL)
		free(y);
	free(cause);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*text = (const char *)data;
	char		*cause = NULL, *merged;
	size_t		 mlen;

	if (index_file_check(text, len, "serde", &cause) != 0)
		free(cause);
	index_file_foreach(text, len, each, NULL);
	merged = index_file_merge(text, len / 2, text + len / 2,
	    len - len / 2, len & 1, &mlen);
	free(merged);
	return 0;
}
