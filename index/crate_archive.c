/* Checking a .crate file against its metadata: gzip by zlib (so that the
 * stream's end and the unpacked size are known exactly), tar by
 * libarchive. */
#include "index/crate_archive.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "common/xmalloc.h"
#include "index/causequote.h"

#define OUTBUF	65536
#define INBUF	65536


struct rd {
	z_stream	 z;
	int		 fd;		/* the input, or -1: all in z */
	unsigned char	*in;		/* fd's: INBUF bytes */
	unsigned char	 out[OUTBUF];
	uint64_t	 total;		/* bytes inflated so far */
	uint64_t	 max;
	bool		 end;		/* the gzip stream ended */
	char		*why;		/* set: why reading stopped */
};

/* More input from rd->fd (none at its end): 0, or -1 with rd->why. */
static int
refill(struct rd *rd)
{
	ssize_t	n;

	while ((n = read(rd->fd, rd->in, INBUF)) == -1 && errno == EINTR)
		;
	if (n == -1) {
		rd->why = xasprintf("reading it: %s", strerror(errno));
		return -1;
	}
	rd->z.next_in = rd->in;
	rd->z.avail_in = (uInt)n;
	return 0;
}

/* Inflates the next block: its length (0 at the stream's end), or -1
 * with rd->why set. */
static ssize_t
inflate_some(struct rd *rd)
{
	int	r;

	if (rd->end)
		return 0;
	rd->z.next_out = rd->out;
	rd->z.avail_out = sizeof rd->out;
	while (rd->z.avail_out == sizeof rd->out) {
		if (rd->z.avail_in == 0 && rd->fd >= 0 && refill(rd) < 0)
			return -1;
		r = inflate(&rd->z, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			rd->end = true;
			if (rd->z.avail_in > 0) {
				rd->why = xasprintf("%u bytes follow the end of "
				    "the gzip stream", rd->z.avail_in);
				return -1;
			}
			break;
		}
		if (r == Z_BUF_ERROR && rd->z.avail_in == 0) {
			rd->why = xstrdup("the gzip stream is truncated");
			return -1;
		}
		if (r != Z_OK) {
			rd->why = xasprintf("it is not valid gzip (%s)",
			    rd->z.msg != NULL ? rd->z.msg : "zlib error");
			return -1;
		}
	}
	rd->total += sizeof rd->out - rd->z.avail_out;
	if (rd->total > rd->max) {
		rd->why = xasprintf("it unpacks to more than %llu bytes",
		    (unsigned long long)rd->max);
		return -1;
	}
	return (ssize_t)(sizeof rd->out - rd->z.avail_out);
}

static la_ssize_t
readcb(struct archive *a, void *arg, const void **buf)
{
	struct rd	*rd = arg;
	ssize_t		 n;

	*buf = rd->out;
	if ((n = inflate_some(rd)) < 0)
		archive_set_error(a, EINVAL, "%s", rd->why);
	return n;
}

/* Checks one entry's name and type; NULL or why it is bad. top is
 * "NAME-VERSION". *manifest is set when it is top/Cargo.toml. */
static char *
entry(struct archive_entry *e, const char *top, bool *manifest)
{
	const char	*p, *rest, *c;
	size_t		 tlen = strlen(top), n;
	mode_t		 type = archive_entry_filetype(e);

	/* The name as stored: pax headers hold UTF-8, which a C locale
	 * cannot convert; ustar and GNU names are bytes. */
	if ((p = archive_entry_pathname_utf8(e)) == NULL &&
	    (p = archive_entry_pathname(e)) == NULL)
		return xstrdup("an entry has no name");
	if (strncmp(p, top, tlen) != 0 || (p[tlen] != '/' && p[tlen] != '\0'))
		return xasprintf("entry \"%s\" is not under %s/ (cargo "
		    "unpacks only a crate whose files are all there)", cause_quote(p),
		    cause_quote(top));
	rest = p + tlen + (p[tlen] == '/');
	for (c = rest; *c != '\0'; c += n + (c[n] == '/')) {
		n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' &&
		    c[1] == '.'))
			return xasprintf("entry \"%s\" has a \".\" or \"..\""
			    " component", cause_quote(p));
	}
	if (archive_entry_hardlink(e) != NULL)
		return xasprintf("entry \"%s\" is a hard link (a crate holds"
		    " only regular files and directories)", cause_quote(p));
	if (type == AE_IFLNK)
		return xasprintf("entry \"%s\" is a symbolic link (a crate "
		    "holds only regular files and directories)",
		    cause_quote(p));
	if (type != AE_IFREG && type != AE_IFDIR)
		return xasprintf("entry \"%s\" is not a regular file or a "
		    "directory", cause_quote(p));
	if (type == AE_IFREG && strcmp(rest, "Cargo.toml") == 0)
		*manifest = true;
	return NULL;
}

/* Reads every entry; NULL or why the archive is bad. */
static char *
walk(struct archive *a, struct rd *rd, const char *top)
{
	struct archive_entry	*e;
	bool			 manifest = false;
	char			*w;
	int			 r;

	/* ARCHIVE_WARN: the entry is read, but a name did not convert to
	 * the locale's charset (see entry()). */
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	    r == ARCHIVE_WARN) {
		if ((w = entry(e, top, &manifest)) != NULL)
			return w;
		if (archive_read_data_skip(a) != ARCHIVE_OK)
			break;
	}
	if (rd->why != NULL)
		return xstrdup(rd->why);
	if (r != ARCHIVE_EOF)
		return xasprintf("it is not a valid tar archive (%s)",
		    archive_error_string(a) != NULL ?
		    archive_error_string(a) : "unreadable");
	/* The tar end marker may come before the gzip stream's end. */
	while (!rd->end)
		if (inflate_some(rd) < 0)
			return xstrdup(rd->why);
	if (!manifest)
		return xasprintf("it has no %s/Cargo.toml", cause_quote(top));
	return NULL;
}

int
crate_archive_check(const unsigned char *buf, size_t len, const char *name,
    const char *vers, uint64_t max_unpacked, char **cause)
{
	struct rd	*rd;
	struct archive	*a;
	char		*top, *w;

	rd = xcalloc(1, sizeof *rd);
	rd->fd = -1;
	rd->max = max_unpacked;
	/* 16 + MAX_WBITS: gzip only, no zlib or raw deflate. */
	if (inflateInit2(&rd->z, 16 + MAX_WBITS) != Z_OK)
		xoom("inflateInit2");	/* constant arguments: memory */
	rd->z.next_in = (unsigned char *)(uintptr_t)buf;
	rd->z.avail_in = (uInt)len;
	top = xasprintf("%s-%s", name, vers);
	if (len > UINT32_MAX)
		w = xstrdup("it is larger than 4 GiB");
	else if ((a = archive_read_new()) == NULL)
		xoom("archive_read_new");
	else {
		archive_read_support_format_tar(a);
		if (archive_read_open(a, rd, NULL, readcb, NULL) != ARCHIVE_OK)
			w = rd->why != NULL ? xstrdup(rd->why) :
			    xasprintf("it is not a valid tar archive (%s)",
			    archive_error_string(a) != NULL ?
			    archive_error_string(a) : "unreadable");
		else
			w = walk(a, rd, top);
		archive_read_free(a);
	}
	inflateEnd(&rd->z);
	free(rd->why);
	free(rd);
	free(top);
	if (w == NULL)
		return 0;
	if (cause != NULL)
		*cause = w;
	else
		free(w);
	return -EINVAL;
}

/* Whether the entry's path is top/Cargo.toml, top compared without
 * regard to case. */
static bool
is_manifest(struct archive_entry *e, const char *top)
{
	const char	*p = archive_entry_pathname_utf8(e);
	size_t		 tlen = strlen(top);

	if (p == NULL && (p = archive_entry_pathname(e)) == NULL)
		return false;
	return archive_entry_filetype(e) == AE_IFREG &&
	    strncasecmp(p, top, tlen) == 0 && strcmp(p + tlen, "/Cargo.toml")
	    == 0;
}

char *
crate_archive_manifest(int fd, const char *name, const char *vers,
    uint64_t max_unpacked, size_t max_toml, size_t *len)
{
	struct archive_entry	*e;
	struct archive		*a;
	struct rd		*rd = xcalloc(1, sizeof *rd);
	char			*top = xasprintf("%s-%s", name, vers);
	char			*out = NULL;
	la_ssize_t		 n = 0;
	size_t			 got = 0;
	int			 r;

	rd->fd = fd;
	rd->in = xmalloc(INBUF);
	rd->max = max_unpacked;
	if (inflateInit2(&rd->z, 16 + MAX_WBITS) != Z_OK)
		xoom("inflateInit2");
	if ((a = archive_read_new()) == NULL)
		xoom("archive_read_new");
	archive_read_support_format_tar(a);
	if (archive_read_open(a, rd, NULL, readcb, NULL) != ARCHIVE_OK)
		goto done;
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	    r == ARCHIVE_WARN) {
		if (!is_manifest(e, top)) {
			if (archive_read_data_skip(a) != ARCHIVE_OK)
				break;
			continue;
		}
		out = xmalloc(max_toml + 1);
		while (got < max_toml && (n = archive_read_data(a, out + got,
		    max_toml - got)) > 0)
			got += (size_t)n;
		if (got < max_toml && n < 0) {
			free(out);	/* the archive ends inside it */
			out = NULL;
			break;
		}
		out[got] = '\0';
		*len = got;
		break;
	}
done:
	archive_read_free(a);
	inflateEnd(&rd->z);
	free(rd->why);
	free(rd->in);
	free(rd);
	free(top);
	return out;
}
