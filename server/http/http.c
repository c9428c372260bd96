#include "server/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/xmalloc.h"
#include "index/validators.h"
#include "server/core/addr.h"
#include "server/core/log.h"
#include "server/http/http_conn.h"

static void	process(struct conn *);
static void	conn_free(struct conn *);
static void	accepting(struct http_server *, bool);
static void	close_when_sent(struct conn *);

/* The Date header value, recomputed at most once a second. */
static const char *
date_now(void)
{
	static char	buf[30];
	static time_t	last;
	time_t		now = time(NULL);

	if (now != last) {
		http_date_format(now, buf);
		last = now;
	}
	return buf;
}

static long
usec_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000000L +
	    (now.tv_nsec - t->tv_nsec) / 1000;
}

/*
 * Authorization and the body budget, on the head: an unauthenticated
 * client never gets a byte of its body stored, and all the bodies being
 * received or handled together hold at most http_request_budget() bytes.
 * r->clen is 0 when the length is not known yet (HTTP/2). False once r
 * has been answered (the hook's 401/403, or 503), then r may already be
 * gone. h2.c calls it through struct h2_ops.
 */
static bool
body_admit(struct http_request *r)
{
	struct http_server	*srv = r->srv;

	/* Answered here, r goes through finish() as any request. */
	srv->pending++;
	r->handled = true;
	if (srv->head_fn != NULL && !srv->head_fn(r, srv->head_arg))
		return false;
	if (!http_request_reserve(r, r->clen)) {
		log_warn("%s: refusing a body of %llu bytes: %llu of the %llu"
		    " bytes request bodies may hold are taken", r->peer,
		    (unsigned long long)r->clen,
		    (unsigned long long)srv->body_bytes,
		    (unsigned long long)http_request_budget(srv));
		http_reply_error_hdrs(r, 503, "Retry-After: 5\r\n", "crated is"
		    " receiving too many request bodies at once (%llu MiB);"
		    " try again in a few seconds",
		    (unsigned long long)(http_request_budget(srv) >> 20));
		return false;
	}
	srv->pending--;
	r->handled = false;
	return true;
}

static void
unlink_conn(struct conn *c)
{
	struct http_server	*srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nconns--;
}

static void
conn_free(struct conn *c)
{
	struct http_request	*r = c->req;
	bool			 handled = c->state == CONN_HANDLER;

	if (c->h2 != NULL)
		h2_conn_free(c);
	unlink_conn(c);
	if (c->rd != NULL)
		event_free(c->rd);
	if (c->retry != NULL)
		event_free(c->retry);
	if (c->handshake != NULL)
		event_free(c->handshake);
	bufferevent_free(c->bev);
	if (c->pend != NULL)
		evbuffer_free(c->pend);
	/* A descriptor is free again: accept() may work now. */
	if (c->srv->accept_paused && !c->srv->draining)
		accepting(c->srv, true);
	free(c);
	if (r == NULL)
		return;
	if (!handled)
		http_request_free(r);
	else
		http_request_orphan(r);
}

/* Replaces what is not UTF-8 (or is a control byte) with '?', so any text
 * can go into a JSON string; input may quote a client's bytes. */
static void
clean_text(char *s)
{
	unsigned char	*p = (unsigned char *)s;

	while (*p != '\0') {
		int	n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
			    (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 :
			    -1;
		int	i;

		if (n == 0) {
			if (*p < 0x20 || *p == 0x7f)
				*p = '?';
			p++;
			continue;
		}
		for (i = 1; n > 0 && i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		if (n < 0 || i <= n) {
			*p++ = '?';
			continue;
		}
		p += n + 1;
	}
}

/* {"errors":[{"detail":...}]}, new string. */
static char *
errors_body(const char *detail)
{
	char	*d = xstrdup(detail), *body;
	json_t	*j;

	clean_text(d);
	j = json_pack("{s:[{s:s}]}", "errors", "detail", d);
	body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	free(d);
	return body ? body : xstrdup("{\"errors\":[{\"detail\":\"error\"}]}");
}

/*
 * Reading. Connections read with an event of their own: bufferevent's
 * reader asks the kernel how many bytes wait (FIONREAD) before every read,
 * a system call per request that nginx does not make. TLS connections do
 * too once their handshake is done (the bufferevent does the handshake):
 * bufferevent_openssl reserved 4 KiB in the input for each SSL_read and
 * read again until OpenSSL said it would block, one more read(2) per
 * request. The bytes still land in the bufferevent's input buffer, so the
 * rest of the code does not know. They are read into one buffer the loop
 * shares and copied in: reserving READ_CHUNK in the input for each read
 * made every request malloc and free 16 KiB, and with 50 connections glibc
 * grew and trimmed the heap with brk several times a second.
 */
#define READ_CHUNK	16384	/* and a TLS record's most (RFC 8446 5.1) */

static void	read_cb(struct bufferevent *, void *);
static void	event_cb(struct bufferevent *, short, void *);

/* One SSL_read into buf: as recv(2) does, bytes, 0 at the end, or -1 with
 * errno EAGAIN (nothing yet) or EIO. */
static ssize_t
tls_recv(struct conn *c, char *buf, size_t len)
{
	int	n;

	ERR_clear_error();
	if ((n = SSL_read(c->ssl, buf, (int)len)) > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:	/* close_notify */
		return 0;
	default:
		ERR_clear_error();
		errno = EIO;
		return -1;
	}
}

static void
conn_readable(evutil_socket_t fd, short what, void *arg)
{
	static char		 chunk[READ_CHUNK];	/* the loop's thread only */
	struct conn		*c = arg;
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	ssize_t			 n;
	int			 added = 0;

	if (what & EV_TIMEOUT) {
		event_cb(c->bev, BEV_EVENT_TIMEOUT | BEV_EVENT_READING, c);
		return;
	}
	if (c->ssl != NULL)
		n = tls_recv(c, chunk, sizeof chunk);
	else
		n = recv(fd, chunk, sizeof chunk, 0);
	if (n > 0) {
		/* The bufferevent keeps its input's end frozen but while it
		 * reads. */
		evbuffer_unfreeze(in, 0);
		added = evbuffer_add(in, chunk, (size_t)n);
		evbuffer_freeze(in, 0);
	}
	if (added != 0)
		event_cb(c->bev, BEV_EVENT_ERROR | BEV_EVENT_READING, c);
	else if (n > 0) {
		/* Plaintext OpenSSL holds makes no socket readable: come
		 * back for it (event_del, when reading stops or c ends
		 * meanwhile, cancels that). */
		if (c->ssl != NULL && SSL_has_pending(c->ssl))
			event_active(c->rd, EV_READ, 1);
		read_cb(c->bev, c);
	}
	else if (n == 0)
		event_cb(c->bev, BEV_EVENT_EOF | BEV_EVENT_READING, c);
	else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		event_cb(c->bev, BEV_EVENT_ERROR | BEV_EVENT_READING, c);
}

static void
read_on(struct conn *c)
{
	struct timeval	tv = { c->read_secs, 0 };

	if (c->rd == NULL)
		bufferevent_enable(c->bev, EV_READ);
	else if (!c->reading) {
		event_add(c->rd, &tv);
		c->reading = true;
	}
}

/* How long reading and writing may stall, in seconds, counted from now. */
static void
arm_timeouts(struct conn *c, long read_secs, long write_secs)
{
	struct timeval	rd = { read_secs, 0 }, wr = { write_secs, 0 };

	bufferevent_set_timeouts(c->bev, &rd, &wr);
	c->read_secs = read_secs;
	c->write_secs = write_secs;
	if (c->rd != NULL && c->reading)
		event_add(c->rd, &rd);
}

/*
 * arm_timeouts, unless the timeouts are those already: every read and
 * write restarts its own timer, so a request that came whole in one read
 * and was answered at once changes nothing. Skipping the two calls per
 * request (four event_add calls, a timer heap update each) took about
 * 1,400 of the 11,000 instructions of a warm 304 (callgrind).
 */
static void
set_timeouts(struct conn *c, long read_secs, long write_secs)
{
	if (c->read_secs != read_secs || c->write_secs != write_secs)
		arm_timeouts(c, read_secs, write_secs);
}

static void
read_off(struct conn *c)
{
	if (c->rd == NULL)
		bufferevent_disable(c->bev, EV_READ);
	else if (c->reading) {
		event_del(c->rd);
		c->reading = false;
	}
}

/* Sends a complete response for a request that never reached a handler
 * (a malformed or refused head) and closes the connection after it. */
static void
reject(struct conn *c, int status, const char *detail)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		*body = errors_body(detail);

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, http_status_text(status),
	    date_now(), strlen(body), body);
	log_access(&(struct log_access){ c->peer, c->req &&
	    c->req->method_name ? c->req->method_name : "-", c->req &&
	    c->req->path ? c->req->path : "-", NULL, NULL, status, strlen(body),
	    c->head_started ? usec_since(&c->head_start) : 0 });
	free(body);
	http_request_free(c->req);
	c->req = NULL;
	c->state = CONN_CLOSING;
	read_off(c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* Hands the complete request to the handler. */
static void
dispatch(struct conn *c)
{
	struct http_request	*r = c->req;

	c->state = CONN_HANDLER;
	c->head_started = false;
	set_timeouts(c, c->srv->lim.idle_timeout, c->srv->lim.idle_timeout);
	c->srv->pending++;
	c->srv->fn(r, c->srv->arg);
}

/* Moves the body into r->body (its size, reserved on the head) as it
 * comes, and hands the request over once it is whole. */
static void
read_body(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct http_request	*r = c->req;
	size_t			 n = evbuffer_get_length(in);

	if (n > r->clen - r->body_len)
		n = (size_t)(r->clen - r->body_len);
	if (n > 0) {
		evbuffer_remove(in, r->body + r->body_len, n);
		r->body_len += n;
	}
	if (r->body_len < r->clen) {
		/* Still coming: silence ends the connection after
		 * head_timeout, as within a head. */
		set_timeouts(c, c->srv->lim.head_timeout,
		    c->srv->lim.idle_timeout);
		/* After 30 s, a body must average 16 KiB/s. */
		if (usec_since(&c->head_start) / 1000000 > 30 +
		    (long)(r->body_len / 16384))
			reject(c, 408, "request body arrived too slowly");
		return;
	}
	r->body[r->clen] = '\0';
	dispatch(c);
}

/* Drops the body of a request answered on its head, as it comes, at the
 * pace a body must keep; then the connection reads its next request, or
 * closes. */
static void
discard_body(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 n = evbuffer_get_length(in);

	if (n > c->discard)
		n = (size_t)c->discard;
	evbuffer_drain(in, n);
	c->discard -= n;
	c->discarded += n;
	if (c->discard > 0) {
		set_timeouts(c, c->srv->lim.head_timeout,
		    c->srv->lim.idle_timeout);
		if (usec_since(&c->head_start) / 1000000 > 30 +
		    (long)(c->discarded / 16384))
			close_when_sent(c);
		return;
	}
	c->head_started = false;
	if (c->close_after)
		close_when_sent(c);
	else
		c->state = CONN_DRAIN;
}

/* A request with a body, before any of it is read: authorized and within
 * the budget, or answered at once. Answered, its body is dropped as it
 * comes (finish() turns to CONN_DISCARD); with Expect: 100-continue the
 * client waits for a word to send it, so none is said and the connection
 * closes after the answer. */
static bool
admit(struct conn *c)
{
	struct http_request	*r = c->req;
	bool			 keepalive = r->keepalive;

	c->state = CONN_HANDLER;
	c->discard = r->expect_continue ? 0 : r->clen;
	c->discarded = 0;
	if (r->expect_continue)
		r->keepalive = false;
	if (!body_admit(r))
		return false;
	c->discard = 0;
	r->keepalive = keepalive;
	r->body = xmalloc(r->clen + 1);
	c->state = CONN_BODY;
	return true;
}

/*
 * A cleartext connection's first bytes may be the HTTP/2 client preface
 * (prior knowledge). With http2 on, c speaks HTTP/2 from there: the
 * preface stays in the input for nghttp2, which expects it, and every
 * limit is HTTP/2's as after an upgrade or ALPN. With http2 off, the
 * client is told so in HTTP/2, the only language it reads (nginx 1.22
 * closes without a word; a 505 in HTTP/1.1 would reach h2load and nghttp
 * as a framing error): a GOAWAY with HTTP_1_1_REQUIRED, which RFC 9113 §7
 * defines for this, and the reason as its debug data, which nghttp prints.
 * Returns true when c no longer reads HTTP/1.1 heads, or waits for the
 * rest of a preface begun (as for a head: head_timeout from its first
 * byte); false when the bytes are not a preface, which is then never
 * looked for on c again.
 */
static bool
prior_knowledge(struct conn *c, struct evbuffer *in)
{
	static struct log_every	 refused;
	const struct http_limits *lim = &c->srv->lim;
	size_t			 n = evbuffer_get_length(in);
	const unsigned char	*p;
	int			 k;

	if (n > HTTP_PREFACE_LEN)
		n = HTTP_PREFACE_LEN;
	if (n == 0 || (p = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL ||
	    (k = http_preface(p, n)) < 0) {
		c->no_preface = n > 0;
		return false;
	}
	if (!c->head_started) {
		clock_gettime(CLOCK_MONOTONIC, &c->head_start);
		c->head_started = true;
	}
	if (k == 0) {
		set_timeouts(c, lim->head_timeout, lim->idle_timeout);
		if (usec_since(&c->head_start) > lim->head_timeout * 1000000L)
			reject(c, 408, "HTTP/2 connection preface took too"
			    " long");
		return true;
	}
	c->no_preface = true;
	c->head_started = false;
	if (!lim->http2) {
		log_every(&refused, 10, LOG_INFO, "%s: refusing an HTTP/2"
		    " connection (prior knowledge): http2 = false", c->peer);
		h2_refusal(bufferevent_get_output(c->bev), "HTTP/2 is turned"
		    " off on this server (http2 = false): use HTTP/1.1");
		close_when_sent(c);
		return true;
	}
	set_timeouts(c, lim->idle_timeout, lim->idle_timeout);
	h2_start(c);
	return true;
}

/* The detail of a 505 for an HTTP/2 preface that is not one: later in a
 * connection (after a request, or an empty line), or over TLS without
 * ALPN h2; why, for any other request. */
static const char *
preface_misplaced(const struct conn *c, const struct http_request *r,
    const char *why)
{
	if (r->method_name == NULL || strcmp(r->method_name, "PRI") != 0)
		return why;
	if (!c->srv->lim.http2)
		return "HTTP/2 is turned off on this server (http2 = false):"
		    " use HTTP/1.1";
	if (c->tls)
		return "HTTP/2 over TLS is negotiated with ALPN h2";
	return "an HTTP/2 connection preface (prior knowledge) must be the"
	    " first bytes of a connection";
}

/* Tries to read one request head; returns true when one was taken. */
static bool
read_head(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	const struct http_limits *lim = &c->srv->lim;
	const unsigned char	*p;
	struct http_request	*r;
	const char		*why = NULL;
	size_t			 len, scan;
	ssize_t			 hlen;
	int			 status;

	if (!c->no_preface && !c->tls && prior_knowledge(c, in))
		return false;
	/* RFC 9112 §2.2: ignore empty lines before a request line. */
	for (;;) {
		unsigned char	*two = evbuffer_pullup(in, 2);

		if (two == NULL || two[0] != '\r' || two[1] != '\n')
			break;
		evbuffer_drain(in, 2);
	}
	if ((len = evbuffer_get_length(in)) == 0)
		return false;
	if (!c->head_started) {
		clock_gettime(CLOCK_MONOTONIC, &c->head_start);
		c->head_started = true;
	}
	/* A head longer than max_head is refused, so only that much is
	 * looked at, once contiguous. */
	scan = len < lim->max_head ? len : lim->max_head;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)scan)) == NULL) {
		reject(c, 500, "out of memory");
		return false;
	}
	if ((hlen = http_head_length(p, scan)) == HTTP_HEAD_BARE_LF) {
		reject(c, 400, "malformed request: each line of a request head"
		    " must end with CRLF, not a bare LF");
		return false;
	}
	if (hlen < 0) {
		reject(c, 400, "malformed request (is this TLS on a plain"
		    " HTTP port?)");
		return false;
	}
	if (hlen == 0) {
		/* A started head (and its body) must keep coming: silence
		 * now ends the connection after head_timeout, not the idle
		 * timeout. */
		set_timeouts(c, lim->head_timeout, lim->idle_timeout);
		if (memmem(p, scan, "\r\n", 2) == NULL && len > lim->max_line)
			reject(c, 414, "request line too long");
		else if (len > lim->max_head)
			reject(c, 431, "request head too large");
		else if (usec_since(&c->head_start) >
		    lim->head_timeout * 1000000L)
			reject(c, 408, "request head took too long");
		return false;
	}
	len = (size_t)hlen;
	r = xcalloc(1, sizeof *r);
	r->conn = c;
	r->srv = c->srv;
	r->start = c->head_start;
	memcpy(r->peer, c->peer, sizeof r->peer);
	r->head = xmalloc(len + 1);
	memcpy(r->head, p, len);
	r->head[len] = '\0';
	evbuffer_drain(in, len);
	c->req = r;
	if ((status = http_parse_head(r, lim, &why)) != 0) {
		reject(c, status, status == 505 ? preface_misplaced(c, r, why) :
		    why);
		return false;
	}
	if (r->clen > lim->max_body) {
		char	detail[128];

		snprintf(detail, sizeof detail, "request body of %llu bytes"
		    " is over the limit of %llu (max_body_bytes)",
		    (unsigned long long)r->clen,
		    (unsigned long long)lim->max_body);
		reject(c, 413, detail);
		return false;
	}
	if (h2_upgrade_offered(r) && h2_upgrade(c, r) == 0)
		return true;
	if (r->clen == 0) {
		dispatch(c);
		return true;
	}
	if (!admit(c))
		return true;
	if (r->expect_continue && evbuffer_get_length(in) == 0)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	read_body(c);
	return true;
}

/* Runs the connection's state machine as far as the buffered input
 * allows. Never re-entered for one connection. */
static void
process(struct conn *c)
{
	if (c->processing)
		return;
	c->processing = true;
	for (;;) {
		enum conn_state	before = c->state;

		switch (c->state) {
		case CONN_HEAD:
			read_head(c);
			break;
		case CONN_BODY:
			read_body(c);
			break;
		case CONN_DISCARD:
			discard_body(c);
			break;
		case CONN_DRAIN:
			if (evbuffer_get_length(bufferevent_get_output(c->bev))
			    < OUTPUT_HIGH)
				c->state = CONN_HEAD;
			break;
		case CONN_H2:
			h2_read(c);
			break;
		case CONN_HANDLER:
		case CONN_CLOSING:
			break;
		}
		if (c->state == before)
			break;
	}
	c->processing = false;
	if (c->doomed)
		conn_free(c);
}

/*
 * c ends cleanly, all sent: over TLS, it says so (close_notify), as nginx
 * does. A TLS 1.3 client that meets the end of the connection without it
 * takes it for an error (OpenSSL: "unexpected eof while reading") and
 * drops the session, so its next connection was a full handshake, not a
 * resumed one (openssl s_time -reuse: as dear as -new). One try: a socket
 * that takes nothing now gets no alert.
 */
static void
close_notify(struct conn *c)
{
	if (c->ssl == NULL)
		return;
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	ERR_clear_error();
}

/* Stops reading and closes c once what is queued is sent: now, if that is
 * already so (a reply written straight to the socket), or when process()
 * is done with it. */
static void
close_when_sent(struct conn *c)
{
	c->state = CONN_CLOSING;
	read_off(c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	close_notify(c);
	if (c->processing)
		c->doomed = true;
	else
		conn_free(c);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	struct evbuffer	*in = bufferevent_get_input(bev);

	if (c->state == CONN_CLOSING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	/* A client pipelining while its request is handled: hold off once
	 * a head's worth is buffered; finish() reads again. */
	if ((c->state == CONN_HANDLER || c->state == CONN_DRAIN) &&
	    evbuffer_get_length(in) > c->srv->lim.max_head)
		read_off(c);
	if (c->state == CONN_H2) {
		h2_read(c);
		return;
	}
	process(c);
}

static void
cork(struct conn *c, bool on)
{
	int	v = on;

	if (c->corked == on)
		return;
	setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_CORK, &v,
	    sizeof v);
	c->corked = on;
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->corked && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		cork(c, false);

	if (c->state == CONN_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			close_notify(c);
			conn_free(c);
		}
		return;
	}
	if (c->state == CONN_H2)
		h2_write(c);
	else if (c->state == CONN_DRAIN)
		process(c);
	else if (c->state == CONN_HANDLER && c->req != NULL &&
	    c->req->drain_cb != NULL) {
		void	(*cb)(void *) = c->req->drain_cb;

		c->req->drain_cb = NULL;
		cb(c->req->drain_arg);
	}
}

/* How long a socket that polls writable may take none of a file before its
 * connection ends: WRITE_RETRIES tries, WRITE_RETRY_MS apart (5 s). */
#define WRITE_RETRY_MS	20
#define WRITE_RETRIES	250

static void
write_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	bufferevent_enable(c->bev, EV_WRITE);
}

/*
 * libevent's bufferevent takes a sendfile that would block (0 for EAGAIN)
 * for the end of the connection, and so would cut every file larger than
 * what the socket takes at once. True when the connection is kept and the
 * write waited for again: for room, when the socket is full (poll); else,
 * when it polls writable and still took nothing (the kernel short of TCP
 * memory, or a file that ends short of its size), after WRITE_RETRY_MS,
 * for at most WRITE_RETRIES such tries with nothing sent in between.
 */
static bool
write_stalled(struct conn *c)
{
	struct pollfd	 p = { bufferevent_getfd(c->bev), POLLOUT, 0 };
	struct timeval	 tv = { 0, WRITE_RETRY_MS * 1000 };
	size_t		 left;
	int		 n;

	if (c->tls || c->state == CONN_H2 ||
	    (left = evbuffer_get_length(bufferevent_get_output(c->bev))) == 0)
		return false;
	if (left != c->stall_left) {		/* bytes went out since */
		c->stall_left = left;
		c->stalls = 0;
	}
	if ((n = poll(&p, 1, 0)) == 0) {
		bufferevent_enable(c->bev, EV_WRITE);
		return true;
	}
	if (n < 0 || (p.revents & (POLLERR | POLLHUP)) ||
	    ++c->stalls > WRITE_RETRIES)
		return false;
	if (c->retry == NULL)
		c->retry = evtimer_new(c->srv->base, write_retry_cb, c);
	evtimer_add(c->retry, &tv);
	return true;
}

/* Clients can fail TLS handshakes as fast as they connect: at most one
 * line per 10 s (with a count of the others) for all of them. */
static struct log_every	tls_failures;

/*
 * Logs why c's TLS handshake failed: OpenSSL's reason, which names the
 * alert a client sent ("tlsv1 alert unknown ca") or what it did wrong
 * ("no shared cipher", "http request"). A client that closes without a
 * word (a port probe) is only logged at debug level.
 */
static void
handshake_failed(struct conn *c, short what)
{
	unsigned long	 err, e;
	const char	*reason = NULL;
	char		 buf[256];

	err = bufferevent_get_openssl_error(c->bev);
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		;			/* the first one is the cause */
	if (err != 0 && (reason = ERR_reason_error_string(err)) == NULL) {
		ERR_error_string_n(err, buf, sizeof buf);
		reason = buf;
	}
	if (reason != NULL)
		log_every(&tls_failures, 10, LOG_INFO, "TLS handshake with %s"
		    " failed: %s", c->peer, reason);
	else if (what & BEV_EVENT_TIMEOUT)
		log_every(&tls_failures, 10, LOG_INFO, "TLS handshake with %s"
		    " failed: the client went silent", c->peer);
	else if (what & BEV_EVENT_EOF)
		log_debug("TLS handshake with %s: the client closed the"
		    " connection", c->peer);
	else
		log_every(&tls_failures, 10, LOG_INFO, "TLS handshake with %s"
		    " failed: %s", c->peer, strerror(errno));
}

/* The TLS handshake of c was not done head_timeout after accept. The
 * deadline is absolute: a client sending a byte now and then keeps
 * resetting the read timeout, not this. */
static void
handshake_late(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	log_every(&tls_failures, 10, LOG_INFO, "TLS handshake with %s failed:"
	    " not done %d s after the connection (head timeout)", c->peer,
	    c->srv->lim.head_timeout);
	conn_free(c);
}

/*
 * The handshake is done: from now on c reads with SSL_read from an event
 * of its own (conn_readable) and writes its replies with SSL_write
 * (flush), as plain connections use read(2) and writev(2); the
 * bufferevent keeps what the socket did not take and writes it when it
 * can. Its own reading stops (else its persistent read event, still
 * added, would fire with nothing to read it).
 */
static void
tls_own_io(struct conn *c)
{
	bool	want = (bufferevent_get_enabled(c->bev) & EV_READ) != 0;

	c->ssl = bufferevent_openssl_get_ssl(c->bev);
	if (c->ssl == NULL || c->rd != NULL)
		return;
	bufferevent_disable(c->bev, EV_READ);
	c->rd = event_new(c->srv->base, bufferevent_getfd(c->bev),
	    EV_READ | EV_PERSIST, conn_readable, c);
	c->reading = false;
	if (want)
		read_on(c);
	if (c->reading && SSL_has_pending(c->ssl))
		event_active(c->rd, EV_READ, 1);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {	/* a TLS handshake is done */
		SSL			*ssl = bufferevent_openssl_get_ssl(bev);
		const unsigned char	*proto = NULL;
		unsigned int		 len = 0;

		if (c->handshake != NULL) {
			event_free(c->handshake);
			c->handshake = NULL;
		}
		tls_own_io(c);
		if (ssl != NULL)
			SSL_get0_alpn_selected(ssl, &proto, &len);
		if (len == 2 && memcmp(proto, "h2", 2) == 0 &&
		    c->srv->lim.http2)
			h2_start(c);
		return;
	}
	if (what == (BEV_EVENT_WRITING | BEV_EVENT_EOF) && write_stalled(c))
		return;
	if ((what & BEV_EVENT_TIMEOUT) && c->state == CONN_H2 &&
	    c->h2 != NULL && c->srv->pending > 0) {
		read_on(c);
		bufferevent_enable(bev, EV_WRITE);
		h2_expire(c);	/* last: it may end c */
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    (c->state == CONN_HEAD || c->state == CONN_BODY) &&
	    c->head_started) {
		reject(c, 408, "the request stalled");
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && c->state == CONN_HANDLER) {
		/* A slow handler is not the client's fault. */
		if (what & BEV_EVENT_READING)
			read_on(c);
		else
			bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if (c->handshake != NULL)
		handshake_failed(c, what);
	conn_free(c);
}

/* Queues the status line and headers for r on its connection. */
static struct evbuffer *
reply_out(struct conn *c)
{
	return c->pend != NULL ? c->pend : bufferevent_get_output(c->bev);
}

/*
 * flush() over TLS: the reply in records of up to READ_CHUNK (TLS's
 * largest), each one SSL_write and so one write(2), the head and a small
 * body in the same record and segment. Through the bufferevent, each
 * piece of the output (the head, the body) was an SSL_write of its own,
 * a record and a write(2) each, and only on the loop's next turn with
 * EV_WRITE armed and disarmed. When the socket is full, the record
 * OpenSSL holds (SSL_write said WANT_WRITE) is at the start of what goes
 * to the bufferevent, which retries with it first, longer or as long
 * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, which it sets, allows the move).
 */
static void
flush_tls(struct conn *c, struct evbuffer *p, struct evbuffer *out)
{
	size_t		 n;
	unsigned char	*b;
	int		 w;

	while (evbuffer_get_length(out) == 0 &&
	    (n = evbuffer_get_length(p)) > 0) {
		if (n > READ_CHUNK)
			n = READ_CHUNK;
		if ((b = evbuffer_pullup(p, (ev_ssize_t)n)) == NULL)
			break;
		ERR_clear_error();
		if ((w = SSL_write(c->ssl, b, (int)n)) <= 0) {
			/* The bufferevent meets an error again, and ends c. */
			ERR_clear_error();
			break;
		}
		evbuffer_drain(p, (size_t)w);
	}
	if (evbuffer_get_length(p) > 0)
		evbuffer_add_buffer(out, p);
}

/*
 * Sends the reply put together in c->pend: straight to the socket when
 * nothing is queued before it, so a reply costs one writev (or writev and
 * sendfile) instead of a trip through the loop with EV_WRITE armed and
 * disarmed; what the socket does not take goes to the bufferevent.
 */
static void
flush(struct conn *c)
{
	struct evbuffer	*out, *p = c->pend;

	if (p == NULL || evbuffer_get_length(p) == 0)
		return;
	out = bufferevent_get_output(c->bev);
	if (c->ssl != NULL) {
		flush_tls(c, p, out);
		return;
	}
	if (evbuffer_get_length(out) == 0) {
		evutil_socket_t	fd = bufferevent_getfd(c->bev);

		/* Each call writes up to a sendfile segment, or one. */
		for (int i = 0; i < 16 && evbuffer_get_length(p) > 0; i++)
			if (evbuffer_write(p, fd) <= 0)
				break;
	}
	if (evbuffer_get_length(p) > 0)
		evbuffer_add_buffer(out, p);
	else if (c->corked && evbuffer_get_length(out) == 0)
		cork(c, false);
}

/*
 * Sends the head put together in c->pend and then the first len bytes of
 * the file fd straight to the socket, when nothing is queued before them:
 * the head with MSG_MORE, so it waits for the file's first bytes and
 * leaves in the same segment, and the file with sendfile, whose last piece
 * pushes it all out. That is TCP_CORK around the pair without its two
 * setsockopt calls, and less CPU time per file on Linux 6.18 (d6cc8f8).
 * Returns how many of the file's bytes went out; the rest, and any of the
 * head, are the caller's to queue.
 */
static size_t
send_direct(struct conn *c, int fd, size_t len)
{
	evutil_socket_t	 s = bufferevent_getfd(c->bev);
	struct evbuffer	*p = c->pend;
	size_t		 hlen, sent = 0;
	off_t		 off = 0;
	ssize_t		 n;

	if (p == NULL || c->corked ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return 0;
	hlen = evbuffer_get_length(p);
	do
		n = send(s, evbuffer_pullup(p, -1), hlen,
		    MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		evbuffer_drain(p, (size_t)n);
	if (n != (ssize_t)hlen)
		return 0;
	/* Each call sends what the socket takes, up to the whole file. */
	for (int i = 0; i < 16 && sent < len; i++) {
		n = sendfile(s, fd, &off, len - sent);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	return sent;
}

static char *
put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LITERAL(p, s)	put(p, s, sizeof s - 1)

static char *
put_uint(char *p, uint64_t v)
{
	char	digits[20];
	int	n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

/* The head goes into the reply buffer as one piece, put together without
 * printf: it is on the path of every warm hit. */
static void
put_head(struct http_request *r, int status, const char *ctype,
    const char *hdrs, size_t len)
{
	struct evbuffer	*out = reply_out(r->conn);
	const char	*text = http_status_text(status);
	size_t		 tlen = strlen(text), clen = ctype ? strlen(ctype) : 0;
	size_t		 hlen = hdrs ? strlen(hdrs) : 0;
	char		 buf[2048], *p = buf;

	if (clen > 256) {		/* never, from our handlers */
		ctype = "application/octet-stream";
		clen = strlen(ctype);
	}
	p = PUT_LITERAL(p, "HTTP/1.1 ");
	p = put_uint(p, (uint64_t)status);
	*p++ = ' ';
	p = put(p, text, tlen);
	p = PUT_LITERAL(p, "\r\nServer: crated\r\nDate: ");
	p = put(p, date_now(), 29);
	p = PUT_LITERAL(p, "\r\n");
	if (ctype != NULL) {
		p = PUT_LITERAL(p, "Content-Type: ");
		p = put(p, ctype, clen);
		p = PUT_LITERAL(p, "\r\n");
	}
	if (status != 304 && status >= 200) {
		p = PUT_LITERAL(p, "Content-Length: ");
		p = put_uint(p, len);
		p = PUT_LITERAL(p, "\r\n");
	}
	if (hlen > (size_t)(buf + sizeof buf - p) - 32) {
		evbuffer_add(out, buf, (size_t)(p - buf));
		evbuffer_add(out, hdrs, hlen);
		p = buf;
	} else if (hlen > 0)
		p = put(p, hdrs, hlen);
	if (!r->keepalive || r->srv->draining)
		p = PUT_LITERAL(p, "Connection: close\r\n\r\n");
	else
		p = PUT_LITERAL(p, "\r\n");
	evbuffer_add(out, buf, (size_t)(p - buf));
}

/* Ends r: logs it, frees it and moves its connection on. */
static void
finish(struct http_request *r, int status, size_t bytes)
{
	struct conn	*c = r->conn;
	bool		 keepalive = r->keepalive;
	long		 usec = usec_since(&r->start);

	log_access(&(struct log_access){ r->peer, r->method_name, r->path,
	    r->registry, r->user, status, bytes, usec });
	if (r->srv->hook != NULL)
		r->srv->hook(r->registry, r->route ? r->route : "other", status,
		    bytes, usec, r->srv->hook_arg);
	r->srv->pending--;
	if (r->stream_id != 0) {
		/* HTTP/2: the stream may still be sending; it frees the
		 * request when it closes. Its body is done with. */
		r->finished = true;
		r->receiving = false;
		http_request_free_body(r);
		if (c == NULL || r->stream_closed)
			http_request_free(r);
		return;
	}
	http_request_free(r);
	if (c == NULL)
		return;
	flush(c);
	c->req = NULL;
	if (c->discard > 0) {		/* answered on its head: see admit() */
		c->close_after = !keepalive || c->srv->draining;
		c->state = CONN_DISCARD;
		read_on(c);
		if (!c->processing)
			process(c);
		return;
	}
	if (!keepalive || c->srv->draining) {
		close_when_sent(c);
		return;
	}
	c->state = CONN_DRAIN;
	read_on(c);
	if (!c->processing)
		process(c);
}

static bool
send_body(const struct http_request *r, int status)
{
	return r->method != HTTP_HEAD && status != 304 && status >= 200 &&
	    status != 204;
}

/* The HTTP/2 stream's body buffer. */
static struct evbuffer *
stream_out(struct http_request *r)
{
	if (r->out == NULL)
		r->out = evbuffer_new();
	return r->out;
}

void
http_reply(struct http_request *r, int status, const char *ctype,
    const char *hdrs, const void *body, size_t len)
{
	if (r->stream_id != 0) {
		if (r->conn != NULL && !r->stream_closed) {
			if (send_body(r, status) && len > 0)
				evbuffer_add(stream_out(r), body, len);
			h2_respond(r, status, ctype, hdrs, len, false);
		}
		finish(r, status, send_body(r, status) ? len : 0);
		return;
	}
	if (r->conn != NULL) {
		put_head(r, status, ctype, hdrs, len);
		if (send_body(r, status) && len > 0)
			evbuffer_add(reply_out(r->conn), body, len);
	}
	finish(r, status, send_body(r, status) ? len : 0);
}

struct ref {
	void	(*done)(const void *, size_t, void *);
	void	*arg;
};

static void
ref_cleanup(const void *data, size_t len, void *arg)
{
	struct ref	*ref = arg;

	ref->done(data, len, ref->arg);
	free(ref);
}

void
http_reply_ref(struct http_request *r, int status, const char *ctype,
    const char *hdrs, const void *body, size_t len,
    void (*done)(const void *, size_t, void *), void *arg)
{
	struct ref	*ref;

	if (r->conn == NULL || !send_body(r, status) || len == 0) {
		http_reply(r, status, ctype, hdrs, body, len);
		done(body, len, arg);
		return;
	}
	ref = xmalloc(sizeof *ref);
	ref->done = done;
	ref->arg = arg;
	if (r->stream_id != 0) {
		evbuffer_add_reference(stream_out(r), body, len, ref_cleanup,
		    ref);
		if (!r->stream_closed)
			h2_respond(r, status, ctype, hdrs, len, false);
		finish(r, status, len);
		return;
	}
	put_head(r, status, ctype, hdrs, len);
	evbuffer_add_reference(reply_out(r->conn), body, len, ref_cleanup,
	    ref);
	finish(r, status, len);
}

void
http_reply_file(struct http_request *r, int status, const char *ctype,
    const char *hdrs, int fd, size_t len)
{
	struct evbuffer_file_segment	*seg;
	bool				 bytes;

	if (r->conn == NULL || !send_body(r, status) || len == 0) {
		close(fd);
		http_reply(r, status, ctype, hdrs, NULL, len);
		return;
	}
	/* nghttp2 and OpenSSL must see the bytes: no sendfile. */
	bytes = r->stream_id != 0 || r->conn->tls;
	seg = evbuffer_file_segment_new(fd, 0, (ev_off_t)len,
	    EVBUF_FS_CLOSE_ON_FREE | (bytes ? EVBUF_FS_DISABLE_SENDFILE : 0));
	if (seg == NULL) {	/* neither mapped nor read */
		close(fd);
		http_reply_error(r, 503, "cannot read the file to send; try"
		    " again");
		return;
	}
	if (!bytes)		/* as a kept-open file goes */
		http_reply_segment(r, status, ctype, hdrs, seg, fd, len);
	else if (r->stream_id != 0) {
		evbuffer_add_file_segment(stream_out(r), seg, 0, (ev_off_t)len);
		if (!r->stream_closed)
			h2_respond(r, status, ctype, hdrs, len, false);
		finish(r, status, len);
	} else {
		put_head(r, status, ctype, hdrs, len);
		evbuffer_add_file_segment(reply_out(r->conn), seg, 0,
		    (ev_off_t)len);
		finish(r, status, len);
	}
	evbuffer_file_segment_free(seg);	/* closes fd once unused */
}

/*
 * A small file goes out with its head in one writev: read into the reply
 * (from the page cache) rather than corked, sent with sendfile and
 * uncorked, which costs two setsockopt calls and a sendfile more than
 * the read. 0, or -1 when it could not be read whole (nothing added).
 */
#define SMALL_FILE	(16 * 1024)

static int
read_into(struct evbuffer *out, int fd, size_t len)
{
	struct evbuffer_iovec	v;
	ssize_t			n;

	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) != 1 ||
	    v.iov_len < len)
		return -1;
	do
		n = pread(fd, v.iov_base, len, 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len)
		return -1;
	v.iov_len = len;
	return evbuffer_commit_space(out, &v, 1);
}

bool
http_sendfile_better(const struct http_request *r, size_t len)
{
	return r->conn != NULL && r->stream_id == 0 && !r->conn->tls &&
	    len > SMALL_FILE;
}

void
http_reply_segment(struct http_request *r, int status, const char *ctype,
    const char *hdrs, struct evbuffer_file_segment *seg, int fd, size_t len)
{
	size_t	sent;
	int	copy;

	if (r->conn == NULL || !send_body(r, status) || len == 0) {
		http_reply(r, status, ctype, hdrs, NULL, len);
		return;
	}
	if (r->stream_id == 0 && r->conn->ssl != NULL && len <= OUTPUT_HIGH) {
		/* TLS copies the bytes anyway: read (from the page cache)
		 * rather than mapped and unmapped for each reply. */
		put_head(r, status, ctype, hdrs, len);
		if (read_into(reply_out(r->conn), fd, len) != 0 &&
		    evbuffer_add_file_segment(reply_out(r->conn), seg, 0,
		    (ev_off_t)len) != 0) {
			log_error("%s: cannot queue %zu bytes of a file for"
			    " sending", r->path, len);
			r->keepalive = false;
		}
		finish(r, status, len);
		return;
	}
	if (r->stream_id != 0 || r->conn->tls) {
		if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
			http_reply_error(r, 503, "cannot reply: %s",
			    strerror(errno));
			return;
		}
		http_reply_file(r, status, ctype, hdrs, copy, len);
		return;
	}
	put_head(r, status, ctype, hdrs, len);
	if (len <= SMALL_FILE && read_into(reply_out(r->conn), fd, len) == 0) {
		finish(r, status, len);
		return;
	}
	if ((sent = send_direct(r->conn, fd, len)) == len) {
		finish(r, status, len);
		return;
	}
	cork(r->conn, true);
	if (evbuffer_add_file_segment(reply_out(r->conn), seg, (ev_off_t)sent,
	    (ev_off_t)(len - sent)) != 0) {
		/* The head is queued: the body cannot follow, so the
		 * connection ends after it and the client sees it cut. */
		log_error("%s: cannot queue %zu bytes of a file for sending",
		    r->path, len - sent);
		r->keepalive = false;
	}
	finish(r, status, len);
}

void
http_stream_start(struct http_request *r, int status, const char *ctype,
    const char *hdrs, size_t len)
{
	r->stream_status = status;
	if (r->stream_id != 0 && r->conn != NULL && !r->stream_closed) {
		stream_out(r);
		h2_respond(r, status, ctype, hdrs, len, true);
	} else if (r->stream_id == 0 && r->conn != NULL) {
		put_head(r, status, ctype, hdrs, len);
		flush(r->conn);
	}
}

size_t
http_stream_write(struct http_request *r, const void *buf, size_t len)
{
	struct evbuffer	*out;

	if (r->conn == NULL)
		return 0;
	if (r->stream_id != 0) {
		if (r->stream_closed || r->method == HTTP_HEAD)
			return 0;
		evbuffer_add(stream_out(r), buf, len);
		r->streamed += len;
		h2_resume(r);
		return evbuffer_get_length(r->out);
	}
	out = bufferevent_get_output(r->conn->bev);
	if (r->method != HTTP_HEAD) {
		evbuffer_add(out, buf, len);
		r->streamed += len;
	}
	return evbuffer_get_length(out);
}

bool
http_stream_can_sendfile(const struct http_request *r)
{
	return r->conn != NULL && r->stream_id == 0 && !r->conn->tls;
}

size_t
http_stream_file(struct http_request *r, int fd, uint64_t off, size_t len)
{
	struct evbuffer_file_segment	*seg;
	struct evbuffer			*out;
	int				 copy;

	if (r->conn == NULL || r->stream_id != 0 || r->conn->tls)
		return 0;
	out = bufferevent_get_output(r->conn->bev);
	if (r->method == HTTP_HEAD || len == 0)
		return evbuffer_get_length(out);
	if ((copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (seg = evbuffer_file_segment_new(copy, (ev_off_t)off, (ev_off_t)len,
	    EVBUF_FS_CLOSE_ON_FREE)) == NULL) {
		/* Out of descriptors: the body cannot follow; the connection
		 * ends short of its Content-Length. */
		if (copy != -1)
			close(copy);
		log_error("%s: cannot queue %zu bytes of a file for sending",
		    r->path, len);
		r->keepalive = false;
		return 0;
	}
	evbuffer_add_file_segment(out, seg, 0, (ev_off_t)len);
	evbuffer_file_segment_free(seg);
	r->streamed += len;
	return evbuffer_get_length(out);
}

void
http_stream_on_drain(struct http_request *r, void (*cb)(void *), void *arg)
{
	/* HTTP/2 streams buffer what flow control holds back: no wait. */
	if (r->conn == NULL || r->stream_id != 0) {
		cb(arg);
		return;
	}
	r->drain_cb = cb;
	r->drain_arg = arg;
}

void
http_stream_end(struct http_request *r)
{
	r->drain_cb = NULL;
	if (r->stream_id != 0) {
		r->out_eof = true;
		h2_resume(r);
	}
	finish(r, r->stream_status, r->streamed);
}

void
http_stream_abort(struct http_request *r)
{
	struct conn	*c = r->conn;

	r->drain_cb = NULL;
	if (r->stream_id != 0) {
		h2_reset(r);
		finish(r, r->stream_status, r->streamed);
		return;
	}
	if (c != NULL) {
		/* What was queued (the head, part of the body) still goes
		 * out; the close then leaves the body short of its
		 * Content-Length, which every client rejects. */
		c->req = NULL;
		r->conn = NULL;
		close_when_sent(c);
	}
	finish(r, r->stream_status, r->streamed);
}

static void	reply_errorv(struct http_request *, int, const char *,
		    const char *, va_list) __attribute__((format(printf, 4, 0)));

static void
reply_errorv(struct http_request *r, int status, const char *hdrs,
    const char *fmt, va_list ap)
{
	char	*detail, *body;

	detail = xvasprintf(fmt, ap);
	body = errors_body(detail);
	http_reply(r, status, "application/json", hdrs, body, strlen(body));
	free(body);
	free(detail);
}

void
http_reply_error(struct http_request *r, int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_errorv(r, status, NULL, fmt, ap);
	va_end(ap);
}

void
http_reply_error_hdrs(struct http_request *r, int status, const char *hdrs,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	reply_errorv(r, status, hdrs, fmt, ap);
	va_end(ap);
}

enum http_method
http_method(const struct http_request *r)
{
	return r->method;
}

const char *
http_method_name(const struct http_request *r)
{
	return r->method_name;
}

const char *
http_path(const struct http_request *r)
{
	return r->path;
}

const char *
http_query(const struct http_request *r)
{
	return r->query;
}

const unsigned char *
http_body(const struct http_request *r, size_t *len)
{
	*len = r->body_len;
	return r->body;
}

unsigned char *
http_body_take(struct http_request *r, size_t *len)
{
	unsigned char	*b = r->body;

	*len = r->body_len;
	r->body = NULL;
	r->body_len = 0;
	/* The taker's own caps bound what it holds from now on (the relay:
	 * writes in flight per registry and per client). */
	r->srv->body_bytes -= r->reserved;
	r->reserved = 0;
	return b;
}

const char *
http_peer(const struct http_request *r)
{
	return r->peer;
}

bool
http_is_tls(const struct http_request *r)
{
	return r->conn != NULL && r->conn->tls;
}

int
http_local_port(const struct http_request *r)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss;

	if (r->conn == NULL || getsockname(bufferevent_getfd(r->conn->bev),
	    (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ss.ss_family == AF_INET ?
	    ntohs(((struct sockaddr_in *)&ss)->sin_port) : 0;
}

bool
http_gone(const struct http_request *r)
{
	return r->conn == NULL;
}

void
http_set_registry(struct http_request *r, const char *name)
{
	r->registry = name;
}

void
http_set_route(struct http_request *r, const char *route)
{
	r->route = route;
}

void
http_server_set_hook(struct http_server *srv, http_done_hook fn, void *arg)
{
	srv->hook = fn;
	srv->hook_arg = arg;
}

void
http_server_set_head_hook(struct http_server *srv, http_head_hook fn,
    void *arg)
{
	srv->head_fn = fn;
	srv->head_arg = arg;
}

void
http_set_user(struct http_request *r, const char *label, int scope,
    const char *crates)
{
	free(r->user);
	free(r->user_crates);
	r->user = label ? xstrdup(label) : NULL;
	r->user_crates = crates ? xstrdup(crates) : NULL;
	r->user_scope = scope;
}

const char *
http_user(const struct http_request *r, int *scope, const char **crates)
{
	if (scope != NULL)
		*scope = r->user_scope;
	if (crates != NULL)
		*crates = r->user_crates;
	return r->user;
}

bool
http_accepts_gzip(const struct http_request *r)
{
	const char	*ae = http_header(r, "Accept-Encoding");

	/* "gzip;q=0" is a refusal; anything fancier than that is rare
	 * enough to be treated as the token alone. */
	if (ae == NULL)
		return false;
	for (const char *p = ae; (p = strcasestr(p, "gzip")) != NULL; p += 4) {
		const char	*q = p + 4 + strspn(p + 4, " ");

		if (strncmp(q, ";q=0", 4) == 0 && strspn(q + 4, "0.") ==
		    strcspn(q + 4, ", "))
			return false;
		return true;
	}
	return false;
}

static bool
same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)(const void *)a)
		    ->sin_addr, &((const struct sockaddr_in *)(const void *)b)
		    ->sin_addr, sizeof(struct in_addr)) == 0;
	if (b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)
		    ->sin6_addr, &((const struct sockaddr_in6 *)(const void *)b)
		    ->sin6_addr, sizeof(struct in6_addr)) == 0;
	return false;
}

/* One address may hold at most max_per_client connections, so a client
 * (or a slowloris) cannot take every descriptor. */
static bool
over_client_limit(const struct http_server *srv, const struct sockaddr *sa)
{
	size_t	n = 0;

	if (srv->lim.max_per_client == 0)
		return false;
	for (const struct conn *c = srv->conns; c != NULL; c = c->next)
		if (same_host(&c->addr, sa) && ++n >= srv->lim.max_per_client)
			return true;
	return false;
}

/* "ip:port" or "[ipv6]:port" of sa into buf. */
static void
format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	char	a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		evutil_inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, a, sizeof a);
		snprintf(buf, len, "[%s]:%d", a, ntohs(((const struct
		    sockaddr_in6 *)(const void *)sa)->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		evutil_inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, a, sizeof a);
		snprintf(buf, len, "%s:%d", a, ntohs(((const struct
		    sockaddr_in *)(const void *)sa)->sin_port));
	} else
		snprintf(buf, len, "-");
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	static struct log_every	 refused;
	struct http_listener	*hl = arg;
	struct http_server	*srv = hl->srv;
	struct conn		*c;
	int			 one = 1;

	if (over_client_limit(srv, sa)) {
		log_every(&refused, 10, LOG_WARN, "refusing a connection: over"
		    " max_connections_per_client (%zu) for one address",
		    srv->lim.max_per_client);
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->state = CONN_HEAD;
	c->tls = hl->tls;
	memcpy(&c->addr, sa, (size_t)salen < sizeof c->addr ? (size_t)salen :
	    sizeof c->addr);
	format_peer(sa, c->peer, sizeof c->peer);
	if (hl->tls) {
		struct timeval	tv = { srv->lim.head_timeout, 0 };
		SSL		*ssl = SSL_new(srv->tls);

		if (ssl == NULL) {
			log_every(&refused, 10, LOG_WARN, "refusing a"
			    " connection: no memory for its TLS state");
			evutil_closesocket(fd);
			free(c);
			return;
		}
		/* OpenSSL reads what the socket holds, not a record's
		 * header and then its body: one read(2) per request, not
		 * two (conn_readable comes back for what it holds). */
		SSL_set_read_ahead(ssl, 1);
		c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		c->handshake = evtimer_new(srv->base, handshake_late, c);
		evtimer_add(c->handshake, &tv);
	} else
		c->bev = bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	c->pend = evbuffer_new();
	/* Else libevent maps or reads files added to it instead of keeping
	 * them for sendfile. TLS must see the bytes. */
	if (!hl->tls)
		evbuffer_set_flags(c->pend, EVBUFFER_FLAG_DRAINS_TO_FD);
	/* libevent writes at most 16 KiB per call by default: a 50 KB index
	 * file would take four trips through the loop. */
	bufferevent_set_max_single_write(c->bev, 1 << 22);
	bufferevent_setwatermark(c->bev, EV_WRITE, OUTPUT_HIGH / 2, 0);
	arm_timeouts(c, srv->lim.idle_timeout, srv->lim.idle_timeout);
	bufferevent_enable(c->bev, EV_WRITE);
	if (!hl->tls)
		c->rd = event_new(srv->base, fd, EV_READ | EV_PERSIST,
		    conn_readable, c);
	read_on(c);
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns = c;
	srv->nconns++;
}

/* Turns accepting on or off on every listener of srv. */
static void
accepting(struct http_server *srv, bool on)
{
	for (struct http_listener *hl = srv->listeners; hl != NULL;
	    hl = hl->next) {
		if (on)
			evconnlistener_enable(hl->l);
		else
			evconnlistener_disable(hl->l);
	}
	srv->accept_paused = !on;
}

static void
accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_server	*srv = arg;

	if (srv->accept_paused && !srv->draining)
		accepting(srv, true);
}

/* How long accepting pauses after accept() fails. */
#define ACCEPT_PAUSE_MS	250

/*
 * accept() failed for a reason other than a client that went away: most
 * often EMFILE or ENFILE, out of descriptors. The connection stays in
 * the kernel's queue, so the listener polls readable again at once, and
 * left alone the loop would spin on accept() and log each failure. So
 * accepting pauses until a connection closes (its descriptor is free
 * again) or ACCEPT_PAUSE_MS pass, and one line per 10 s is logged. The
 * connections already open are served meanwhile; new ones wait in the
 * kernel's queue.
 */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	static struct log_every	 every;
	struct http_listener	*hl = arg;
	struct http_server	*srv = hl->srv;
	struct timeval		 tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	int			 err = EVUTIL_SOCKET_ERROR();

	log_every(&every, 10, LOG_WARN, "accept: %s: pausing new connections"
	    " (%zu open) until one closes or %d ms pass",
	    evutil_socket_error_to_string(err), srv->nconns, ACCEPT_PAUSE_MS);
	accepting(srv, false);
	if (srv->accept_resume == NULL)
		srv->accept_resume = evtimer_new(srv->base, accept_resume_cb,
		    srv);
	evtimer_add(srv->accept_resume, &tv);
}

/* For h2.c (struct h2_ops): an error answer with a ready detail. */
static void
reply_detail(struct http_request *r, int status, const char *hdrs,
    const char *detail)
{
	http_reply_error_hdrs(r, status, hdrs, "%s", detail);
}

static const struct h2_ops h2_ops = { body_admit, reply_detail };

struct http_server *
http_server_create(struct event_base *base, const struct http_limits *lim,
    http_handler fn, void *arg)
{
	struct http_server	*srv = xcalloc(1, sizeof *srv);

	srv->base = base;
	srv->lim = *lim;
	srv->fn = fn;
	srv->arg = arg;
	srv->h2_ops = &h2_ops;
	return srv;
}

int
http_server_listen(struct http_server *srv, const char *addr, bool tls,
    char *bound, size_t boundlen, char **cause)
{
	struct sockaddr_storage	 ss;
	int			 sslen = sizeof ss;
	socklen_t		 len = sizeof ss;
	struct evconnlistener	*l;
	struct http_listener	*hl;
	char			 a[INET6_ADDRSTRLEN];

	if (addr_parse(addr, &ss, &sslen) != 0) {
		*cause = xasprintf("listen address \"%s\" is not IP:PORT",
		    addr);
		return -1;
	}
	if (tls && srv->tls == NULL) {
		*cause = xasprintf("cannot listen with TLS on %s: no"
		    " certificate", addr);
		return -1;
	}
	hl = xcalloc(1, sizeof *hl);
	hl->srv = srv;
	hl->tls = tls;
	l = evconnlistener_new_bind(srv->base, accept_cb, hl,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&ss, sslen);
	if (l == NULL) {
		*cause = xasprintf("cannot listen on %s: %s", addr,
		    strerror(errno));
		free(hl);
		return -1;
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;

		evutil_inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		snprintf(bound, boundlen, "[%s]:%d", a, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;

		evutil_inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		snprintf(bound, boundlen, "%s:%d", a, ntohs(s4->sin_port));
	}
	hl->l = l;
	hl->next = srv->listeners;
	srv->listeners = hl;
	return 0;
}

void
http_server_set_max_body(struct http_server *srv, uint64_t n)
{
	srv->lim.max_body = n;
}

void
http_server_set_tls(struct http_server *srv, SSL_CTX *ctx)
{
	if (srv->tls != NULL)
		SSL_CTX_free(srv->tls);
	srv->tls = ctx;
	if (ctx != NULL && srv->lim.http2)
		h2_alpn(ctx);
}

void
http_server_drain(struct http_server *srv)
{
	struct http_listener	*hl;
	struct conn		*c, *next;

	srv->draining = true;
	while ((hl = srv->listeners) != NULL) {
		srv->listeners = hl->next;
		evconnlistener_free(hl->l);
		free(hl);
	}
	if (srv->accept_resume != NULL) {
		event_free(srv->accept_resume);
		srv->accept_resume = NULL;
	}
	/* Between requests, a connection closes now, or once the reply it
	 * is still sending (a download) is written. */
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if ((c->state == CONN_HEAD && !c->head_started) ||
		    c->state == CONN_DRAIN)
			close_when_sent(c);
		else if (c->state == CONN_H2)
			h2_drain(c);
	}
}

size_t
http_server_connections(const struct http_server *srv)
{
	return srv->nconns;
}

size_t
http_server_pending(const struct http_server *srv)
{
	return srv->pending;
}

size_t
http_server_in_flight(const struct http_server *srv)
{
	size_t	n = srv->pending;

	for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
		if (c->state == CONN_H2)
			n += h2_sending(c);
		else if (c->state != CONN_HANDLER &&
		    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			n++;
	}
	return n;
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	http_server_drain(srv);
	while (srv->conns != NULL)
		conn_free(srv->conns);
	if (srv->tls != NULL)
		SSL_CTX_free(srv->tls);
	free(srv);
}
