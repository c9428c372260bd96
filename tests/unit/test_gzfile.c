/* cache/gzfile.c: the gzip form of an index file kept on disk. It must
 * decompress to the plain bytes, name the plain ETag it was made from so
 * that a stale or foreign .gz is refused, and give the same bytes and
 * ETag every time. On a real crates.io index file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "cache/gzfile.h"
#include "common/xmalloc.h"
#include "index/validators.h"
#include "tests/tap.h"

/* gunzip of gz into a new buffer; NULL when zlib refuses it. */
static char *
gunzip(const char *gz, size_t len, size_t *outlen)
{
	z_stream	 z;
	size_t		 cap = len * 64 + 1024;
	char		*out = xmalloc(cap);
	int		 r;

	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	r = inflate(&z, Z_FINISH);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

/* A gzip stream as any other tool makes it: no comment. */
static char *
plain_gzip(const char *buf, size_t len, size_t *outlen)
{
	z_stream	 z;
	size_t		 cap = len + 1024;
	char		*out = xmalloc(cap);

	memset(&z, 0, sizeof z);
	deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	z.next_in = (Bytef *)(uintptr_t)buf;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

int
main(void)
{
	char	 etag[ETAG_LEN], other[ETAG_LEN], gzetag[ETAG_LEN];
	char	 again_etag[ETAG_LEN], path[] = "/tmp/crated-gzfile-XXXXXX";
	char	*plain, *gz, *gz2, *back, *foreign, *tiny;
	size_t	 len, gzlen, gz2len, backlen, flen;
	int	 fd;

	plain = test_data("index/se/rd/serde-value", &len);
	ok(plain != NULL && len > 1000, "a real index file to compress (%zu B)",
	    len);
	if (plain == NULL)
		return done_testing();
	etag_of(plain, len, etag);
	etag_of("something else", 14, other);

	ok(gzfile_make(plain, len, etag, &gz, &gzlen) == 0, "made");
	ok(gzlen < len / 3, "smaller: %zu of %zu B", gzlen, len);
	back = gunzip(gz, gzlen, &backlen);
	ok(back != NULL && backlen == len && memcmp(back, plain, len) == 0,
	    "decompresses to the plain bytes");
	free(back);

	ok(gzfile_made_from(gz, gzlen, etag), "names the ETag it was made from");
	ok(!gzfile_made_from(gz, gzlen, other), "and no other");
	ok(gzfile_made_from(gz, GZFILE_HEADER_MAX, etag),
	    "the first GZFILE_HEADER_MAX bytes are enough to tell");
	ok(!gzfile_made_from(gz, 12, etag), "a truncated header is refused");
	foreign = plain_gzip(plain, len, &flen);
	ok(!gzfile_made_from(foreign, flen, etag),
	    "a gzip stream crated did not make is refused");
	free(foreign);
	gz[3] |= 0x08;		/* FNAME as well: not our layout */
	ok(!gzfile_made_from(gz, gzlen, etag), "another header layout is refused");
	gz[3] &= (char)~0x08;

	ok(gzfile_make(plain, len, etag, &gz2, &gz2len) == 0 &&
	    gz2len == gzlen && memcmp(gz, gz2, gzlen) == 0,
	    "the same bytes make the same file (no time, no name)");
	free(gz2);

	gzfile_etag(etag, gzetag);
	ok(strlen(gzetag) == ETAG_LEN - 1 && gzetag[0] == '"' &&
	    strcmp(gzetag, etag) != 0, "the gzip form has an ETag of its own");
	gzfile_etag(etag, again_etag);
	is_str(again_etag, gzetag, "derived from the plain ETag alone");
	gzfile_etag(other, again_etag);
	ok(strcmp(again_etag, gzetag) != 0, "other bytes, another gzip ETag");

	fd = mkstemp(path);
	ok(fd >= 0 && write(fd, gz, gzlen) == (ssize_t)gzlen, "written out");
	ok(gzfile_fd_made_from(fd, etag), "read back from an open file");
	ok(!gzfile_fd_made_from(fd, other), "still no other ETag");
	ok(ftruncate(fd, 5) == 0 && !gzfile_fd_made_from(fd, etag),
	    "a torn file is refused");
	ok(ftruncate(fd, 0) == 0 && !gzfile_fd_made_from(fd, etag),
	    "an empty file is refused");
	close(fd);
	unlink(path);
	ok(!gzfile_fd_made_from(-1, etag), "a bad descriptor is refused");

	tiny = xstrdup("{}");
	etag_of(tiny, 2, other);
	ok(gzfile_make(tiny, 2, other, &gz2, &gz2len) == 1,
	    "nothing is made when gzip would not be smaller");
	free(tiny);
	free(gz);
	free(plain);
	return done_testing();
}
