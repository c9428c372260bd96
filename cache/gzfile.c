#include "cache/gzfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common/xmalloc.h"

#define GZ_FCOMMENT	0x10

/* The header comment: "crated " and the plain bytes' ETag. */
static void
comment_of(const char *plain_etag, char *out, size_t size)
{
	snprintf(out, size, "crated %s", plain_etag);
}

int
gzfile_make(const void *plain, size_t len, const char *plain_etag,
    char **out, size_t *outlen)
{
	z_stream	 z;
	gz_header	 head;
	char		 comment[GZFILE_HEADER_MAX];
	unsigned char	*buf;
	size_t		 cap;
	int		 r;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, GZFILE_LEVEL, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	/* No name, no time: the same bytes make the same file. */
	memset(&head, 0, sizeof head);
	comment_of(plain_etag, comment, sizeof comment);
	head.comment = (Bytef *)comment;
	head.os = 3;		/* Unix */
	if (deflateSetHeader(&z, &head) != Z_OK) {
		deflateEnd(&z);
		return -1;
	}
	cap = deflateBound(&z, len) + GZFILE_HEADER_MAX;
	buf = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)plain;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	r = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	if (z.total_out >= len) {
		free(buf);
		return 1;
	}
	*out = (char *)buf;
	*outlen = z.total_out;
	return 0;
}

bool
gzfile_made_from(const void *gz, size_t len, const char *plain_etag)
{
	const unsigned char	*p = gz;
	char			 want[GZFILE_HEADER_MAX];
	size_t			 n;

	comment_of(plain_etag, want, sizeof want);
	n = strlen(want) + 1;
	/* ID1 ID2 CM FLG MTIME(4) XFL OS, then the comment alone. */
	if (len < 10 + n || p[0] != 0x1f || p[1] != 0x8b || p[2] != 8 ||
	    p[3] != GZ_FCOMMENT)
		return false;
	return memcmp(p + 10, want, n) == 0;
}

bool
gzfile_fd_made_from(int fd, const char *plain_etag)
{
	unsigned char	buf[GZFILE_HEADER_MAX];
	ssize_t		n;

	do
		n = pread(fd, buf, sizeof buf, 0);
	while (n == -1 && errno == EINTR);
	return n > 0 && gzfile_made_from(buf, (size_t)n, plain_etag);
}

void
gzfile_etag(const char *plain_etag, char *out)
{
	char	buf[ETAG_LEN + sizeof " gzip"];
	int	n = snprintf(buf, sizeof buf, "%s gzip", plain_etag);

	etag_of(buf, (size_t)n, out);
}
