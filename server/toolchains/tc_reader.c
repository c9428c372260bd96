/*
 * A client reading a file that may still be filling: the file is the
 * buffer. Each reader has its own position and queues the file's bytes
 * on its connection while that holds less than QUEUE_HIGH unsent bytes:
 * as file segments sent with sendfile on plain HTTP/1.1 (no copy), else
 * copied CHUNK bytes at a time (TLS, HTTP/2); past QUEUE_HIGH it waits
 * for the connection to drain (HTTP/2: it looks again every POLL_MS, as
 * the stream buffers what flow control holds back). So a slow client
 * holds at most QUEUE_HIGH + CHUNK bytes of memory and never holds up the
 * upstream download or the other readers: the bytes it has not taken stay
 * on disk. A reader that catches up with the file waits for
 * tc_source_notify, and for NOTIFY_MIN new bytes (or the end).
 *
 * The head goes out once the length is known (the upstream's
 * Content-Length, or the whole file): 200, or 206 with Content-Range for
 * a Range (dist_range), or 416.
 */
#include "server/toolchains/tc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/http/http.h"

#define CHUNK		(64 * 1024)	/* copied, when sendfile cannot be */
#define SEGMENT_MAX	(4 << 20)	/* a file segment (sendfile) */
#define NOTIFY_MIN	(128 * 1024)	/* new bytes that wake a reader */
#define QUEUE_HIGH	(256 * 1024)	/* the connection's OUTPUT_HIGH */
#define TURN_CHUNKS	16		/* then the loop serves others */
#define POLL_MS		10

struct tc_reader {
	struct tc_source	*src;
	struct http_request	*req;
	struct event		*cont;
	uint64_t		 pos, end;	/* of the body; end exclusive */
	bool			 started;
	bool			 draining;	/* waiting for the connection */
	bool			 in_call;	/* inside http_stream_on_drain */
	struct tc_reader	*next;		/* of its source */
	struct tc_reader	*all_prev, *all_next;	/* of the mirror */
};

static void	pump(struct tc_reader *);

void
tc_source_hold(struct tc_source *src)
{
	src->refs++;
}

void
tc_source_drop(struct tc_source *src)
{
	if (--src->refs == 0 && src->release != NULL)
		src->release(src);
}

/* Takes rd off its source's and its mirror's lists and frees it (its
 * request is left alone). */
static void
unlink_free(struct tc_reader *rd)
{
	struct tc_source	 *src = rd->src;
	struct toolchain	 *tc = src->tc;
	struct tc_reader	**pp;

	for (pp = &src->readers; *pp != rd; pp = &(*pp)->next)
		;
	*pp = rd->next;
	if (rd->all_prev != NULL)
		rd->all_prev->all_next = rd->all_next;
	else
		tc->readers = rd->all_next;
	if (rd->all_next != NULL)
		rd->all_next->all_prev = rd->all_prev;
	event_free(rd->cont);
	free(rd);
	tc_source_drop(src);
}

/* Ends rd: its reply complete (ok) or cut short, then forgotten. */
static void
finish(struct tc_reader *rd, bool ok)
{
	if (ok)
		http_stream_end(rd->req);
	else
		http_stream_abort(rd->req);
	unlink_free(rd);
}

static void
later(struct tc_reader *rd, int ms)
{
	struct timeval	tv = { 0, ms * 1000 };

	evtimer_add(rd->cont, &tv);
}

static void
cont_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tc_reader	*rd = arg;

	rd->draining = false;
	pump(rd);
}

/* The connection drained below its low mark, or the client left. */
static void
drained(void *arg)
{
	struct tc_reader	*rd = arg;

	/* Called at once (HTTP/2, a client gone): look again soon rather
	 * than now, so that nothing recurses and HTTP/2 is polled. */
	later(rd, rd->in_call && !http_gone(rd->req) ? POLL_MS : 0);
}

static void
wait_drain(struct tc_reader *rd)
{
	rd->draining = true;
	rd->in_call = true;
	http_stream_on_drain(rd->req, drained, rd);
	rd->in_call = false;
}

/* Queues up to max bytes of rd's file from rd->pos: a file segment sent
 * with sendfile where the connection allows (plain HTTP/1.1), else a
 * copy of at most CHUNK bytes. How many were queued (0: failed, said),
 * and *queued what the connection holds unsent. */
static size_t
queue(struct tc_reader *rd, uint64_t max, size_t *queued)
{
	struct tc_source	*src = rd->src;
	size_t			 n;
	ssize_t			 got;
	char			*buf;

	if (http_stream_can_sendfile(rd->req)) {
		n = max < SEGMENT_MAX ? (size_t)max : SEGMENT_MAX;
		*queued = http_stream_file(rd->req, src->fd, src->base +
		    rd->pos, n);
		return *queued == 0 ? 0 : n;	/* 0: not queued (said) */
	}
	n = max < CHUNK ? (size_t)max : CHUNK;
	buf = xmalloc(n);
	got = pread(src->fd, buf, n, (off_t)(src->base + rd->pos));
	if (got <= 0) {
		log_error("toolchains %s: reading %s: %s", src->tc->name,
		    src->path, got == 0 ? "end of file" : strerror(errno));
		free(buf);
		return 0;
	}
	*queued = http_stream_write(rd->req, buf, (size_t)got);
	free(buf);
	return (size_t)got;
}

/* Queues what rd may send now; then waits for the connection, for more
 * of the file, or for its next turn. */
static void
pump(struct tc_reader *rd)
{
	struct tc_source	*src = rd->src;
	size_t			 n, queued;

	if (!rd->started || rd->draining)
		return;
	for (int turn = 0; turn < TURN_CHUNKS; turn++) {
		uint64_t	lim = src->avail < rd->end ? src->avail :
				    rd->end;

		if (rd->pos >= rd->end || http_gone(rd->req)) {
			finish(rd, rd->pos >= rd->end);
			return;
		}
		if (rd->pos >= lim) {
			if (src->state != SRC_GROWING)
				finish(rd, false);	/* cut: failed */
			return;
		}
		if ((n = queue(rd, lim - rd->pos, &queued)) == 0) {
			finish(rd, false);
			return;
		}
		rd->pos += n;
		if (queued > QUEUE_HIGH) {
			wait_drain(rd);
			return;
		}
	}
	rd->draining = true;
	later(rd, 0);
}

/* The head of rd's reply, its length known: 200, 206 or 416. */
static void
start(struct tc_reader *rd)
{
	struct tc_source	*src = rd->src;
	uint64_t		 total = (uint64_t)src->total, first, last;
	char			*hdrs;
	int			 r;

	r = dist_range(http_header(rd->req, "Range"), total, &first, &last);
	if (r < 0) {
		hdrs = xasprintf("Content-Range: bytes */%llu\r\n%s",
		    (unsigned long long)total, src->hdrs ? src->hdrs : "");
		http_reply_error_hdrs(rd->req, 416, hdrs, "%s: the range asked"
		    " for is past its end (%llu bytes)", src->path,
		    (unsigned long long)total);
		free(hdrs);
		rd->req = NULL;
		return;
	}
	if (r == 0) {
		first = 0;
		last = total - 1;
	}
	rd->pos = first;
	rd->end = total == 0 ? 0 : last + 1;
	hdrs = xasprintf("Accept-Ranges: bytes\r\n%s", src->hdrs ?
	    src->hdrs : "");
	if (r == 1) {
		char	*more = xasprintf("%sContent-Range: bytes %llu-%llu/%llu"
			    "\r\n", hdrs, (unsigned long long)first,
			    (unsigned long long)last, (unsigned long long)total);

		free(hdrs);
		hdrs = more;
	}
	http_stream_start(rd->req, r == 1 ? 206 : 200, src->ctype, hdrs,
	    (size_t)(rd->end - rd->pos));
	free(hdrs);
	rd->started = true;
	if (http_method(rd->req) == HTTP_HEAD)
		rd->end = rd->pos;
}

void
tc_reader_add(struct tc_source *src, struct http_request *r)
{
	struct tc_reader	*rd = xcalloc(1, sizeof *rd);

	rd->src = src;
	rd->req = r;
	rd->cont = evtimer_new(src->tc->srv->base, cont_cb, rd);
	rd->next = src->readers;
	src->readers = rd;
	rd->all_next = src->tc->readers;
	if (rd->all_next != NULL)
		rd->all_next->all_prev = rd;
	src->tc->readers = rd;
	tc_source_hold(src);
	tc_source_notify(src);
}

/* rd answered without a body (416): forgotten. */
static void
forget(struct tc_reader *rd)
{
	unlink_free(rd);
}

/* At exit, after the HTTP server is gone: readers still sending (a drain
 * that ran out of time) are freed without a word to their requests,
 * which no longer exist; their sources close with them. */
void
tc_reader_close_all(struct toolchain *tc)
{
	while (tc->readers != NULL)
		unlink_free(tc->readers);
}

void
tc_source_notify(struct tc_source *src)
{
	struct tc_reader	*rd, *next;

	tc_source_hold(src);
	for (rd = src->readers; rd != NULL; rd = next) {
		next = rd->next;
		if (!rd->started && src->total < 0 && src->state == SRC_DONE)
			src->total = (int64_t)src->avail;
		if (!rd->started && src->total >= 0) {
			start(rd);
			if (rd->req == NULL) {
				forget(rd);
				continue;
			}
		} else if (src->state == SRC_GROWING && src->avail < rd->end &&
		    src->avail - rd->pos < NOTIFY_MIN && src->avail >= rd->pos)
			continue;	/* a few more bytes: wait for more */
		pump(rd);
	}
	tc_source_drop(src);
}

void
tc_source_fail(struct tc_source *src, int status, const char *msg)
{
	struct tc_reader	*rd, *next;

	src->state = SRC_FAILED;
	tc_source_hold(src);
	for (rd = src->readers; rd != NULL; rd = next) {
		next = rd->next;
		if (rd->started) {
			pump(rd);
			continue;
		}
		http_reply_error(rd->req, status, "%s", msg);
		rd->req = NULL;
		forget(rd);
	}
	tc_source_drop(src);
}

/* A source over a file of one request (a cached file's Range, a
 * snapshot's part). */
struct once {
	struct tc_source	 src;
	void			(*drop)(void *);
	void			*owner;
	char			*path, *hdrs;
	bool			 own_fd;
};

static void
once_release(struct tc_source *src)
{
	struct once	*o = src->owner;

	if (o->own_fd)
		close(src->fd);
	if (o->drop != NULL)
		o->drop(o->owner);
	free(o->path);
	free(o->hdrs);
	free(o);
}

static struct once *
once_new(struct toolchain *tc, int fd, uint64_t off, uint64_t len,
    const char *path, const char *hdrs)
{
	struct once	*o = xcalloc(1, sizeof *o);

	o->path = xstrdup(path);
	o->hdrs = xstrdup(hdrs ? hdrs : "");
	o->src.tc = tc;
	o->src.fd = fd;
	o->src.base = off;
	o->src.avail = len;
	o->src.total = (int64_t)len;
	o->src.state = SRC_DONE;
	o->src.path = o->path;
	o->src.ctype = tc_ctype(path);
	o->src.hdrs = o->hdrs;
	o->src.release = once_release;
	o->src.owner = o;
	return o;
}

void
tc_serve_fd(struct toolchain *tc, struct http_request *r, int fd,
    uint64_t size, const char *path, const char *hdrs)
{
	struct once	*o;
	char		*h;

	if (http_header(r, "Range") == NULL) {
		h = xasprintf("Accept-Ranges: bytes\r\n%s", hdrs ? hdrs : "");
		http_reply_file(r, 200, tc_ctype(path), h, fd, (size_t)size);
		free(h);
		return;
	}
	o = once_new(tc, fd, 0, size, path, hdrs);
	o->own_fd = true;
	tc_reader_add(&o->src, r);
}

void
tc_serve_part(struct toolchain *tc, struct http_request *r, int fd,
    uint64_t off, uint64_t len, const char *path, const char *hdrs,
    void (*drop)(void *), void *owner)
{
	struct once	*o = once_new(tc, fd, off, len, path, hdrs);

	o->drop = drop;
	o->owner = owner;
	tc_reader_add(&o->src, r);
}
