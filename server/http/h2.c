/* HTTP/2 for the HTTP layer, with nghttp2: the h2c upgrade cargo offers on
 * every plain-http request, the client preface of a cleartext client with
 * prior knowledge (h2load, nghttp, nghttpx's backends), and ALPN "h2" on
 * TLS. Over HTTP/1.1 cargo keeps
 * at most two requests in flight; over HTTP/2 it sends dozens at once.
 *
 * Each stream is an http_request like any other: its head is rebuilt as
 * HTTP/1.1 text and goes through the same strict parser, the same handler
 * and the same reply functions, which put the body in r->out for the data
 * provider below. A request lives until both its reply is done and its
 * stream is closed; one that no handler holds (never complete, refused,
 * answered) goes when its stream or its connection does.
 *
 * A request with a body is parsed on its HEADERS and admitted before any
 * DATA is kept (h2_ops.admit: the server's authorization, the body budget),
 * and at most BODY_STREAMS streams of a connection receive bodies at
 * once. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/http/http_conn.h"

#define MAX_STREAMS	128
/* Streams of one connection receiving a body at once; more are refused
 * with REFUSED_STREAM, which clients retry. */
#define BODY_STREAMS	4
/* Flow control: what a client may send one stream, and the connection,
 * ahead of crated's acknowledgement. */
#define STREAM_WINDOW	(1 << 20)
#define CONN_WINDOW	(BODY_STREAMS * STREAM_WINDOW)

/* nghttp2 wants non-const pointers for names and values it only reads. */
#define NV(n, v, nl, vl)	((nghttp2_nv){ (uint8_t *)(uintptr_t)(n),	\
			    (uint8_t *)(uintptr_t)(v), (nl), (vl),		\
			    NGHTTP2_NV_FLAG_NONE })

struct h2 {
	nghttp2_session		*session;
	struct http_request	*streams;	/* open, linked by h2_next */
	bool			 sending;	/* inside flush() */
	bool			 holding;	/* in h2_read or h2_expire:
						 * flush() waits, so nothing
						 * can end c under them */
	bool			 preface;	/* after a 101: flush() waits
						 * for the client's first
						 * bytes (below) */
};

static void	flush(struct conn *);

static void
unlink_stream(struct conn *c, struct http_request *r)
{
	struct http_request	**pp;

	for (pp = &c->h2->streams; *pp != NULL; pp = &(*pp)->h2_next)
		if (*pp == r) {
			*pp = r->h2_next;
			r->h2_next = NULL;
			return;
		}
}

static struct http_request *
new_stream(struct conn *c, int32_t id)
{
	struct http_request	*r = xcalloc(1, sizeof *r);

	r->conn = c;
	r->srv = c->srv;
	r->stream_id = id;
	r->keepalive = true;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	memcpy(r->peer, c->peer, sizeof r->peer);
	r->h2_next = c->h2->streams;
	c->h2->streams = r;
	return r;
}

static void
text_add(struct http_request *r, const char *s, size_t n)
{
	if (r->h2_len + n + 1 > r->h2_cap) {
		r->h2_cap = (r->h2_len + n + 1) * 2;
		r->h2_text = xrealloc(r->h2_text, r->h2_cap);
	}
	memcpy(r->h2_text + r->h2_len, s, n);
	r->h2_len += n;
	r->h2_text[r->h2_len] = '\0';
}

static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *arg)
{
	struct conn		*c = arg;
	struct http_request	*r;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	r = new_stream(c, frame->hd.stream_id);
	nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, r);
	return 0;
}

/* Headers are kept as HTTP/1.1 text, so that http_parse_head() checks them
 * as it checks HTTP/1.1 requests. */
static int
on_header(nghttp2_session *s, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct http_request	*r;
	struct conn		*c = arg;

	r = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (r == NULL || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (r->h2_len + namelen + valuelen > c->srv->lim.max_head)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		free(r->h2_method);
		r->h2_method = xstrndup((const char *)value, valuelen);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		free(r->h2_path);
		r->h2_path = xstrndup((const char *)value, valuelen);
	} else if (namelen == 10 && memcmp(name, ":authority", 10) == 0) {
		text_add(r, "host: ", 6);
		text_add(r, (const char *)value, valuelen);
		text_add(r, "\r\n", 2);
	} else if (namelen > 0 && name[0] != ':') {
		text_add(r, (const char *)name, namelen);
		text_add(r, ": ", 2);
		text_add(r, (const char *)value, valuelen);
		text_add(r, "\r\n", 2);
	}
	return 0;
}

static long
now_secs(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec;
}

/* Answers a stream no handler has (a bad head, a body refused), as any
 * request; if its client is still sending, on_sent() resets the stream
 * once the answer is out. */
static void
refuse(struct http_request *r, int status, const char *hdrs, const char *why)
{
	r->receiving = false;
	r->handled = true;
	r->srv->pending++;
	r->srv->h2_ops->reply_error(r, status, hdrs, why);
}

/* A stream's request is complete: hand it over with its body. */
static void
dispatch(struct http_request *r)
{
	size_t	n;

	r->receiving = false;
	r->handled = true;
	r->srv->pending++;
	if (r->h2_body != NULL) {	/* of a length not announced */
		n = evbuffer_get_length(r->h2_body);
		r->body = xmalloc(n + 1);
		evbuffer_remove(r->h2_body, r->body, n);
		evbuffer_free(r->h2_body);
		r->h2_body = NULL;
		r->body_len = n;
	}
	if (r->body != NULL)
		r->body[r->body_len] = '\0';
	r->srv->fn(r, r->srv->arg);
}

/* Streams of c receiving a body. */
static size_t
bodies(struct conn *c)
{
	size_t	n = 0;

	for (struct http_request *r = c->h2->streams; r != NULL;
	    r = r->h2_next)
		n += r->receiving;
	return n;
}

/*
 * A stream's head is complete (HEADERS and any CONTINUATION): it is parsed
 * as HTTP/1.1 text by the same parser. A request without a body goes to
 * the handler; one with a body is admitted first (at most BODY_STREAMS per
 * connection, a length within max_body, the server's authorization and
 * the body budget) and goes to the handler with its last DATA. Until then
 * no DATA is kept.
 */
static void
stream_head(struct conn *c, struct http_request *r, bool end)
{
	const char	*why = NULL;
	char		 detail[128];
	int		 status;

	r->method_name = r->h2_method ? r->h2_method : "-";
	r->path = r->h2_path ? r->h2_path : "-";
	if (r->h2_method == NULL || r->h2_path == NULL) {
		refuse(r, 400, NULL, "a request needs :method and :path");
		return;
	}
	r->head = xasprintf("%s %s HTTP/1.1\r\n%s\r\n", r->h2_method,
	    r->h2_path, r->h2_text ? r->h2_text : "");
	status = http_parse_head(r, &r->srv->lim, &why);
	r->keepalive = true;
	if (status != 0) {
		refuse(r, status, NULL, why);
		return;
	}
	if (end) {
		dispatch(r);
		return;
	}
	r->clen_known = http_header(r, "Content-Length") != NULL;
	if (r->clen > c->srv->lim.max_body) {
		snprintf(detail, sizeof detail, "request body of %llu bytes"
		    " is over the limit of %llu (max_body_bytes)",
		    (unsigned long long)r->clen,
		    (unsigned long long)c->srv->lim.max_body);
		refuse(r, 413, NULL, detail);
		return;
	}
	if (bodies(c) >= BODY_STREAMS) {
		nghttp2_submit_rst_stream(c->h2->session, NGHTTP2_FLAG_NONE,
		    r->stream_id, NGHTTP2_REFUSED_STREAM);
		return;
	}
	if (!r->srv->h2_ops->admit(r))
		return;
	r->receiving = true;
	r->data_at = now_secs();
	if (r->clen_known)
		r->body = xmalloc(r->clen + 1);
}

static int
on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
    size_t len, void *arg)
{
	struct http_request	*r;
	struct conn		*c = arg;

	r = nghttp2_session_get_stream_user_data(s, id);
	if (r == NULL || !r->receiving)
		return 0;	/* not admitted, or answered: dropped */
	r->data_at = now_secs();
	if (r->clen_known) {
		if (len > r->clen - r->body_len) {	/* nghttp2 checks */
			refuse(r, 400, NULL, "more DATA than content-length");
			return 0;
		}
		memcpy(r->body + r->body_len, data, len);
		r->body_len += len;
		return 0;
	}
	if (r->body_len + len > c->srv->lim.max_body) {
		refuse(r, 413, NULL, "request body over the limit"
		    " (max_body_bytes)");
		return 0;
	}
	if (!http_request_reserve(r, len)) {
		refuse(r, 503, "Retry-After: 5\r\n", "crated is receiving too"
		    " many request bodies at once; try again in a few"
		    " seconds");
		return 0;
	}
	if (r->h2_body == NULL)
		r->h2_body = evbuffer_new();
	evbuffer_add(r->h2_body, data, len);
	r->body_len += len;
	return 0;
}

static int
on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *arg)
{
	struct conn		*c = arg;
	struct http_request	*r;
	bool			 end;

	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type !=
	    NGHTTP2_DATA)
		return 0;
	end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
	r = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
	if (r == NULL || r->finished)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS &&
	    frame->headers.cat == NGHTTP2_HCAT_REQUEST)
		stream_head(c, r, end);
	else if (end && r->receiving)
		dispatch(r);
	return 0;
}

/* A stream answered while its client still sends (on its head, or a body
 * refused half-way): once the answer is out, RFC 9113 8.1 lets the server
 * end the stream with NO_ERROR, so the rest is not sent for nothing. */
static int
on_sent(nghttp2_session *s, const nghttp2_frame *frame, void *arg)
{
	if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type ==
	    NGHTTP2_DATA) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
	    nghttp2_session_get_stream_remote_close(s,
	    frame->hd.stream_id) == 0)
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
		    frame->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

/* The stream of r is gone (reset, or its connection closing). A request
 * a handler holds stays until its reply; any other goes now. */
static void
stream_gone(struct http_request *r)
{
	r->stream_closed = true;
	r->receiving = false;
	if (r->finished || !r->handled)
		http_request_free(r);
	else
		http_request_orphan(r);
}

static int
on_close(nghttp2_session *s, int32_t id, uint32_t error, void *arg)
{
	struct conn		*c = arg;
	struct http_request	*r;

	r = nghttp2_session_get_stream_user_data(s, id);
	if (r == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(s, id, NULL);
	unlink_stream(c, r);
	stream_gone(r);
	return 0;
}

static nghttp2_session *
session_new(struct conn *c)
{
	nghttp2_session_callbacks	*cb;
	nghttp2_session			*s;
	nghttp2_option			*opt;

	/* nghttp2's constructors fail only when out of memory. */
	if (nghttp2_session_callbacks_new(&cb) != 0)
		xoom("nghttp2_session_callbacks_new");
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_sent);
	if (nghttp2_option_new(&opt) != 0)
		xoom("nghttp2_option_new");
	nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
	if (nghttp2_session_server_new2(&s, cb, c, opt) != 0)
		xoom("nghttp2_session_server_new2");
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	return s;
}

static void
settings(struct conn *c)
{
	nghttp2_settings_entry	iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		/* RFC 9218 scheduling: a stream that is not incremental
		 * (the default) is sent to its end before the next of its
		 * urgency starts. Under RFC 7540's tree, which cargo's curl
		 * leaves flat, every ready stream got one 16 KB DATA frame
		 * in turn, so each of the dozens of index files cargo asks
		 * for at once was whole only near the end of the batch, and
		 * cargo, which reads a file once it is whole, waited. */
		{ NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 },
	};

	nghttp2_submit_settings(c->h2->session, NGHTTP2_FLAG_NONE, iv,
	    sizeof iv / sizeof iv[0]);
	/* Enough for the streams that may carry bodies at once. */
	nghttp2_session_set_local_window_size(c->h2->session,
	    NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
}

/* Sends what nghttp2 has queued, and closes the connection once neither
 * side wants more. */
static void
flush(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const uint8_t	*data;
	ssize_t		 n;

	if (c->h2->sending || c->h2->holding || c->h2->preface)
		return;
	c->h2->sending = true;
	while (evbuffer_get_length(out) < OUTPUT_HIGH &&
	    (n = nghttp2_session_mem_send(c->h2->session, &data)) > 0)
		evbuffer_add(out, data, (size_t)n);
	c->h2->sending = false;
	if (!nghttp2_session_want_read(c->h2->session) &&
	    !nghttp2_session_want_write(c->h2->session) &&
	    evbuffer_get_length(out) == 0) {
		c->state = CONN_CLOSING;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		bufferevent_enable(c->bev, EV_WRITE);
		bufferevent_trigger(c->bev, EV_WRITE, 0);
	}
}

/* Base64url without padding, as HTTP2-Settings carries it; -1 if bad. */
static int
decode_settings(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	size_t	 n = strlen(s), padded = (n + 3) / 4 * 4;
	char	*b = xmalloc(padded + 1);
	int	 m;

	if (padded / 4 * 3 > cap) {
		free(b);
		return -1;
	}
	for (size_t i = 0; i < padded; i++)
		b[i] = i >= n ? '=' : s[i] == '-' ? '+' : s[i] == '_' ? '/' :
		    s[i];
	b[padded] = '\0';
	m = EVP_DecodeBlock(out, (unsigned char *)b, (int)padded);
	free(b);
	if (m < 0)
		return -1;
	*len = (size_t)m - (n % 4 == 2 ? 2 : n % 4 == 3 ? 1 : 0);
	return 0;
}

/* True when the comma-separated header value has token. */
static bool
has_token(const char *value, const char *token)
{
	size_t	n = strlen(token);

	for (const char *p = value; p != NULL && *p != '\0';) {
		size_t	len;

		p += strspn(p, " \t,");
		len = strcspn(p, ", \t");
		if (len == n && strncasecmp(p, token, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

bool
h2_upgrade_offered(const struct http_request *r)
{
	const char	*conn = http_header(r, "Connection");

	return r->srv->lim.http2 && r->minor == 1 && r->clen == 0 &&
	    !r->expect_continue && conn != NULL &&
	    has_token(conn, "Upgrade") && has_token(conn, "HTTP2-Settings") &&
	    has_token(http_header(r, "Upgrade"), "h2c") &&
	    http_header(r, "HTTP2-Settings") != NULL;
}

int
h2_upgrade(struct conn *c, struct http_request *r)
{
	unsigned char	payload[512];
	size_t		len;

	if (decode_settings(http_header(r, "HTTP2-Settings"), payload,
	    sizeof payload, &len) != 0)
		return -1;
	c->h2 = xcalloc(1, sizeof *c->h2);
	c->h2->session = session_new(c);
	if (nghttp2_session_upgrade2(c->h2->session, payload, len,
	    r->method == HTTP_HEAD, r) != 0) {
		nghttp2_session_del(c->h2->session);
		free(c->h2);
		c->h2 = NULL;
		return -1;
	}
	bufferevent_write(c->bev, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 71);
	c->state = CONN_H2;
	c->req = NULL;
	/* Nothing follows the 101 until the client, switched, sends its
	 * preface: a client may keep only what fits a small upgrade buffer
	 * (curl 7.88: 32 KiB, and the first answer may fill the client's
	 * 64 KiB window at once). */
	c->h2->preface = true;
	r->stream_id = 1;
	r->h2_next = c->h2->streams;
	c->h2->streams = r;
	settings(c);
	r->handled = true;
	r->srv->pending++;
	r->srv->fn(r, r->srv->arg);
	if (c->h2 != NULL)
		flush(c);
	return 0;
}

void
h2_start(struct conn *c)
{
	c->h2 = xcalloc(1, sizeof *c->h2);
	c->h2->session = session_new(c);
	c->state = CONN_H2;
	settings(c);
	flush(c);
}

void
h2_refusal(struct evbuffer *out, const char *why)
{
	nghttp2_session_callbacks	*cb;
	nghttp2_session			*s;
	const uint8_t			*data;
	ssize_t				 n;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		xoom("nghttp2_session_callbacks_new");
	if (nghttp2_session_server_new(&s, cb, NULL) != 0)
		xoom("nghttp2_session_server_new");
	nghttp2_session_callbacks_del(cb);
	if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0) != 0 ||
	    nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0,
	    NGHTTP2_HTTP_1_1_REQUIRED, (const uint8_t *)why, strlen(why)) != 0)
		xoom("nghttp2_submit_goaway");
	while ((n = nghttp2_session_mem_send(s, &data)) > 0)
		evbuffer_add(out, data, (size_t)n);
	nghttp2_session_del(s);
}

void
h2_read(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 n = evbuffer_get_length(in);
	ssize_t		 used;

	if (n > 0) {
		c->h2->holding = true;
		c->h2->preface = false;
		used = nghttp2_session_mem_recv(c->h2->session,
		    evbuffer_pullup(in, (ev_ssize_t)n), n);
		if (used < 0) {
			log_debug("%s: HTTP/2: %s", c->peer,
			    nghttp2_strerror((int)used));
			evbuffer_drain(in, n);
			nghttp2_session_terminate_session(c->h2->session,
			    NGHTTP2_PROTOCOL_ERROR);
		} else
			evbuffer_drain(in, (size_t)used);
	}
	h2_expire(c);		/* and flush(): c may be gone */
}

/* Bodies must keep coming as HTTP/1.1 ones must: silence of head_timeout,
 * or less than 16 KiB/s on average after 30 s, ends the stream with 408.
 * Then sends what is queued, which may end c. */
void
h2_expire(struct conn *c)
{
	const struct http_limits	*lim = &c->srv->lim;
	struct http_request		*r;
	long				 now = now_secs();

	c->h2->holding = true;
	for (;;) {	/* each turn ends one */
		for (r = c->h2->streams; r != NULL; r = r->h2_next)
			if (r->receiving && (now - r->data_at >
			    lim->head_timeout || now - (long)r->start.tv_sec >
			    30 + (long)(r->body_len / 16384)))
				break;
		if (r == NULL)
			break;
		refuse(r, 408, NULL, "request body arrived too slowly");
	}
	c->h2->holding = false;
	flush(c);
}

void
h2_write(struct conn *c)
{
	flush(c);
}

static ssize_t
read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct http_request	*r = src->ptr;
	size_t			 have = evbuffer_get_length(r->out);
	int			 n;

	if (have == 0 && !r->out_eof)
		return NGHTTP2_ERR_DEFERRED;
	n = evbuffer_remove(r->out, buf, len < have ? len : have);
	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	if (r->out_eof && evbuffer_get_length(r->out) == 0)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return n;
}

/* Header lines "Name: value\r\n..." as HTTP/2 fields (lowercase names;
 * connection-specific ones dropped). */
static size_t
fields(const char *hdrs, nghttp2_nv *nv, size_t max, char **store)
{
	size_t	 n = 0;
	char	*copy, *line, *save = NULL;

	if (hdrs == NULL)
		return 0;
	copy = *store = xstrdup(hdrs);
	for (line = strtok_r(copy, "\r\n", &save); line != NULL && n < max;
	    line = strtok_r(NULL, "\r\n", &save)) {
		char	*colon = strchr(line, ':'), *v;

		if (colon == NULL)
			continue;
		*colon = '\0';
		for (char *p = line; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		if (strcmp(line, "connection") == 0 || strcmp(line,
		    "keep-alive") == 0 || strcmp(line, "transfer-encoding") ==
		    0 || strcmp(line, "upgrade") == 0)
			continue;
		v = colon + 1 + strspn(colon + 1, " ");
		nv[n++] = NV(line, v, strlen(line), strlen(v));
	}
	return n;
}

void
h2_respond(struct http_request *r, int status, const char *ctype,
    const char *hdrs, size_t len, bool streaming)
{
	struct conn		*c = r->conn;
	nghttp2_nv		 nv[32];
	nghttp2_data_provider	 dp;
	char			 st[4], cl[24], *store = NULL;
	size_t			 n = 0;
	bool			 body = r->method != HTTP_HEAD && status != 304 &&
				    status != 204;

	snprintf(st, sizeof st, "%d", status);
	snprintf(cl, sizeof cl, "%zu", len);
	nv[n++] = NV(":status", st, 7, strlen(st));
	nv[n++] = NV("server", "crated", 6, 6);
	if (ctype != NULL)
		nv[n++] = NV("content-type", ctype, 12, strlen(ctype));
	if (status != 304)
		nv[n++] = NV("content-length", cl, 14, strlen(cl));
	n += fields(hdrs, nv + n, sizeof nv / sizeof nv[0] - n, &store);
	if (!streaming)
		r->out_eof = true;
	if (r->out == NULL)		/* an empty body: read_body reads it */
		r->out = evbuffer_new();
	dp.source.ptr = r;
	dp.read_callback = read_body;
	nghttp2_submit_response(c->h2->session, r->stream_id, nv, n,
	    body ? &dp : NULL);
	free(store);
	flush(c);
}

void
h2_resume(struct http_request *r)
{
	if (r->conn == NULL || r->stream_closed)
		return;
	nghttp2_session_resume_data(r->conn->h2->session, r->stream_id);
	flush(r->conn);
}

void
h2_reset(struct http_request *r)
{
	if (r->conn == NULL || r->stream_closed)
		return;
	nghttp2_submit_rst_stream(r->conn->h2->session, NGHTTP2_FLAG_NONE,
	    r->stream_id, NGHTTP2_INTERNAL_ERROR);
	flush(r->conn);
}

/* Streams whose answer has started and is still being sent (a download):
 * in flight for the drain, though no handler holds them. */
size_t
h2_sending(const struct conn *c)
{
	size_t	n = 0;

	for (const struct http_request *r = c->h2->streams; r != NULL;
	    r = r->h2_next)
		n += r->finished && !r->stream_closed;
	return n;
}

/* Shutdown: GOAWAY, so the client opens no new stream here; the streams
 * under way finish, and then flush() closes the connection. */
void
h2_drain(struct conn *c)
{
	nghttp2_submit_goaway(c->h2->session, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(c->h2->session),
	    NGHTTP2_NO_ERROR, NULL, 0);
	flush(c);
}

void
h2_conn_free(struct conn *c)
{
	struct http_request	*r, *next;

	for (r = c->h2->streams; r != NULL; r = next) {
		next = r->h2_next;
		r->h2_next = NULL;
		stream_gone(r);
	}
	nghttp2_session_del(c->h2->session);
	free(c->h2);
	c->h2 = NULL;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 prefs[] = "\x02h2\x08http/1.1";
	unsigned char			*o;

	if (SSL_select_next_proto(&o, outlen, prefs, sizeof prefs - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

void
h2_alpn(SSL_CTX *ctx)
{
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
}
