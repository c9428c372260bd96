/* The object stores' listings (S3 ListObjectsV2, Azure List Blobs): what
 * a store answers is parsed with expat and never trusted. The first byte
 * picks the cloud; every entry must come out with a key under the prefix
 * and a normalised ETag. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/storage/objstore_int.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct obj_entry	*e = NULL;
	size_t			 n = 0;
	char			*next = NULL, *cause = NULL;
	int			 r;

	if (len < 1)
		return 0;
	r = (data[0] & 1) ? az_parse_list((const char *)data + 1, len - 1,
	    "p/", &e, &n, &next, &cause) : s3_parse_list((const char *)data +
	    1, len - 1, "p/", &e, &n, &next, &cause);
	if (r != 0) {
		if (cause == NULL || e != NULL || next != NULL)
			abort();
		free(cause);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t	l = e[i].etag ? strlen(e[i].etag) : 0;

		if (e[i].key == NULL || (e[i].etag != NULL && (l < 3 ||
		    e[i].etag[0] != '"' || e[i].etag[l - 1] != '"')))
			abort();
	}
	obj_entries_free(e, n);
	free(next);
	return 0;
}
