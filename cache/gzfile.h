/* The gzip form of an index file, made once and kept in the store beside
 * the plain one (gz/<index path>), so that cargo's requests, which always
 * accept gzip, cost a sendfile and not a compression once the file has
 * left the memory cache (nginx's gzip_static, with the .gz made by crated).
 *
 * The gzip header's comment names the ETag of the plain bytes it was made
 * from. A .gz that no longer matches its plain file (left by a crash
 * between the two writes, or by any later change of the plain file) is
 * recognised as such and never served: nothing has to keep the two in
 * step. The gzip form's own ETag is derived from the plain one, so it
 * is the same whether the bytes come from memory or from disk. */
#ifndef CACHE_GZFILE_H
#define CACHE_GZFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "index/validators.h"

/* zlib's level: on the sample's real index files (17.5 MB, 260 files)
 * level 3 compresses 11.2x at 243 MB/s, level 6 15.0x at 98 MB/s; a cold
 * resolution compresses every file it fetches, so the faster one. */
#define GZFILE_LEVEL		3
/* Where a gzip header made by gzfile_make ends, at most. */
#define GZFILE_HEADER_MAX	(10 + sizeof "crated " + ETAG_LEN)

/* Compresses plain (len bytes, ETag plain_etag) into *out (new) and *outlen.
 * 0; 1 when gzip would not be smaller (nothing is made); -1 when zlib
 * fails. */
int	gzfile_make(const void *plain, size_t len, const char *plain_etag,
	    char **out, size_t *outlen);
/* True when the len bytes at gz (a whole file, or at least its first
 * GZFILE_HEADER_MAX bytes) begin with the header gzfile_make writes for
 * plain_etag. */
bool	gzfile_made_from(const void *gz, size_t len, const char *plain_etag);
/* gzfile_made_from for an open file (read with pread; the offset is
 * left alone). */
bool	gzfile_fd_made_from(int fd, const char *plain_etag);
/* The ETag of the gzip form of the bytes whose ETag is plain_etag;
 * out holds ETAG_LEN bytes. */
void	gzfile_etag(const char *plain_etag, char *out);

#endif
