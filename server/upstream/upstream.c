#include "server/upstream/upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/xmalloc.h"
#include "server/core/log.h"

#define CONNECT_TIMEOUT		10	/* seconds */
#define LOW_SPEED_TIME		20	/* seconds under 1 byte/s: give up */
#define MAX_HEADERS		64
#define RETRY_DELAY_MS		100	/* before the first retry; x4 after */
#define RETRY_MIN_LEFT		1.0	/* seconds a retry must still have */

struct upstream_client {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	size_t			 active;
	struct fetch		*fetches;	/* under way */
};

/* curl's state for one of its sockets. */
struct sock {
	struct upstream_client	*uc;
	curl_socket_t		 fd;
	struct event		*ev;
};

struct fetch {
	struct upstream_client	*uc;
	CURL			*easy;
	struct curl_slist	*req_headers;
	struct fetch_opts	 opts;
	char			*url, *auth, *inm, *ims, *proxy, *ca;
	char			*req_body, *method;
	char			*body;
	size_t			 len, cap;
	size_t			 sent;		/* of opts.body, once */
	char			*headers[MAX_HEADERS];	/* "name: value" */
	int			 nheaders;
	long			 status;
	CURLcode		 result;
	bool			 too_big;
	bool			 aborted;
	bool			 passed_on;	/* on_data has had bytes */
	int			 attempt;	/* retries made so far */
	bool			 dropped;	/* an attempt met a drop */
	long			 connect_ms;	/* this attempt's timeout */
	long			 connects;	/* new connections, all attempts */
	struct timespec		 started;
	struct event		*retry_timer;	/* set while waiting to retry */
	char			 errbuf[CURL_ERROR_SIZE];
	struct fetch		*prev, *next;
};

static bool	retry(struct upstream_client *, struct fetch *);

/* Takes f off the multi handle, tells its owner, and frees it. */
static void
end(struct upstream_client *uc, struct fetch *f)
{
	curl_multi_remove_handle(uc->multi, f->easy);
	if (retry(uc, f))
		return;
	if (f->retry_timer != NULL)
		event_free(f->retry_timer);
	uc->active--;
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		uc->fetches = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	f->opts.done(f, f->opts.arg);
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->req_headers);
	for (int i = 0; i < f->nheaders; i++)
		free(f->headers[i]);
	free(f->url);
	free(f->auth);
	free(f->inm);
	free(f->ims);
	free(f->proxy);
	free(f->ca);
	free(f->req_body);
	free(f->method);
	free(f->body);
	free(f);
}

static long
info_long(CURL *easy, CURLINFO what)
{
	long	v = 0;

	curl_easy_getinfo(easy, what, &v);
	return v;
}

static double
info_seconds(CURL *easy, CURLINFO what)
{
	curl_off_t	us = 0;

	curl_easy_getinfo(easy, what, &us);
	return us / 1e6;
}

static void
check_done(struct upstream_client *uc)
{
	CURLMsg	*msg;
	int	 left;

	while ((msg = curl_multi_info_read(uc->multi, &left)) != NULL) {
		struct fetch	*f;
		CURL		*easy = msg->easy_handle;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
		f->result = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
		f->connects += info_long(easy, CURLINFO_NUM_CONNECTS);
		end(uc, f);
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_client	*uc = arg;
	int			 running;

	curl_multi_socket_action(uc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(uc);
}

static int
timer_cb(CURLM *multi, long ms, void *arg)
{
	struct upstream_client	*uc = arg;
	struct timeval		 tv;

	if (ms < 0) {
		evtimer_del(uc->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(uc->timer, &tv);
	return 0;
}

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct sock		*s = arg;
	struct upstream_client	*uc = s->uc;	/* s may go in the call */
	int			 running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(uc->multi, fd, flags, &running);
	check_done(uc);
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct upstream_client	*uc = arg;
	struct sock		*s = sockp;
	short			 events = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
		}
		curl_multi_assign(uc->multi, fd, NULL);
		return 0;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->uc = uc;
		s->fd = fd;
		curl_multi_assign(uc->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	s->ev = event_new(uc->base, fd, events, on_socket, s);
	event_add(s->ev, NULL);
	return 0;
}

struct upstream_client *
upstream_client_create(struct event_base *base)
{
	struct upstream_client	*uc = xcalloc(1, sizeof *uc);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	uc->base = base;
	uc->multi = curl_multi_init();
	uc->timer = evtimer_new(base, on_timer, uc);
	curl_multi_setopt(uc->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(uc->multi, CURLMOPT_SOCKETDATA, uc);
	curl_multi_setopt(uc->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(uc->multi, CURLMOPT_TIMERDATA, uc);
	curl_multi_setopt(uc->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	return uc;
}

void
upstream_client_destroy(struct upstream_client *uc)
{
	if (uc == NULL)
		return;
	/* Shutting down with transfers under way (the drain ran out): their
	 * owners hear of it, so nothing they hold is lost. */
	while (uc->fetches != NULL) {
		uc->fetches->attempt = uc->fetches->opts.retries;
		uc->fetches->result = CURLE_ABORTED_BY_CALLBACK;
		snprintf(uc->fetches->errbuf, sizeof uc->fetches->errbuf,
		    "crated is shutting down");
		end(uc, uc->fetches);
	}
	curl_multi_cleanup(uc->multi);
	event_free(uc->timer);
	free(uc);
	curl_global_cleanup();
}

struct event_base *
upstream_client_base(const struct upstream_client *uc)
{
	return uc->base;
}

size_t
upstream_client_active(const struct upstream_client *uc)
{
	return uc->active;
}

static size_t
header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 len = size * n, l = len;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or a 100): forget the
		 * previous one's headers. */
		for (int i = 0; i < f->nheaders; i++)
			free(f->headers[i]);
		f->nheaders = 0;
		return len;
	}
	while (l > 0 && (buf[l - 1] == '\r' || buf[l - 1] == '\n'))
		l--;
	if (l > 0 && f->nheaders < MAX_HEADERS && memchr(buf, ':', l))
		f->headers[f->nheaders++] = xstrndup(buf, l);
	return len;
}

static size_t
write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 len = size * n;
	long		 status = 0;

	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	f->status = status;	/* fetch_status() for on_data too */
	if (f->opts.on_data != NULL && status >= 200 && status < 300) {
		f->passed_on = true;
		if (!f->opts.on_data(f, buf, len, f->opts.arg)) {
			f->aborted = true;
			return 0;
		}
		return len;
	}
	if (f->len + len > f->opts.max_body) {
		f->too_big = true;
		return 0;
	}
	if (f->len + len + 1 > f->cap) {
		f->cap = (f->len + len + 1) * 2;
		f->body = xrealloc(f->body, f->cap);
	}
	memcpy(f->body + f->len, buf, len);
	f->len += len;
	f->body[f->len] = '\0';
	return len;
}

/* The body of a "once" request, from the caller's buffer. */
static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fetch	*f = arg;
	size_t		 len = f->opts.body_len - f->sent;

	if (len > size * n)
		len = size * n;
	if (len == 0)
		return 0;
	memcpy(buf, (const char *)f->opts.body + f->sent, len);
	f->sent += len;
	return len;
}

/* Adds the operator's CA bundle to OpenSSL's store, beside the system's. */
static CURLcode
ssl_ctx_cb(CURL *easy, void *ctx, void *arg)
{
	struct fetch	*f = arg;

	if (X509_STORE_load_file(SSL_CTX_get_cert_store(ctx), f->ca) != 1) {
		log_error("upstream_ca_file %s: cannot load it", f->ca);
		return CURLE_SSL_CACERT_BADFILE;
	}
	return CURLE_OK;
}

/* Why an attempt failed in a way a new connection may mend. */
enum retry_why {
	RETRY_NONE,
	RETRY_REFUSED,		/* connection refused */
	RETRY_CONNECT,		/* connect timeout: a dropped SYN */
	RETRY_STALLED,
	RETRY_LOST,		/* reset, closed, HTTP/2 stream error */
};

static const char *const retry_names[] = {
	[RETRY_NONE] = "none", [RETRY_REFUSED] = "connection refused",
	[RETRY_CONNECT] = "connect timeout", [RETRY_STALLED] = "stalled",
	[RETRY_LOST] = "connection lost",
};

/* A transfer that passed bytes on, was refused by its owner or was too
 * big is never retried. */
static enum retry_why
retry_reason(const struct fetch *f)
{
	if (f->passed_on || f->aborted || f->too_big)
		return RETRY_NONE;
	switch (f->result) {
	case CURLE_COULDNT_CONNECT:
		return RETRY_REFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		if (info_seconds(f->easy, CURLINFO_CONNECT_TIME_T) == 0)
			return RETRY_CONNECT;
		if (strncmp(f->errbuf, "Operation too slow", 18) == 0)
			return RETRY_STALLED;
		return RETRY_NONE;	/* the whole transfer's time is up */
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return RETRY_LOST;
	default:
		return RETRY_NONE;
	}
}

static double
seconds_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) + (now.tv_nsec - t->tv_nsec) / 1e9;
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch	*f = arg;

	event_free(f->retry_timer);
	f->retry_timer = NULL;
	curl_multi_add_handle(f->uc->multi, f->easy);
}

/*
 * A GET that could not connect, lost its connection or stalled before
 * anything was passed on goes again on a new connection, after 100 ms,
 * then 400 ms (up to twice that, at random; at once after a connect
 * timeout, which was the wait; a refused connection only once), with
 * twice the connect timeout each time, within the transfer's own time
 * limit. True when f was sent again later.
 */
static bool
retry(struct upstream_client *uc, struct fetch *f)
{
	enum retry_why	 why;
	long		 delay = RETRY_DELAY_MS;
	double		 left = 0;
	struct timeval	 tv;

	if ((why = retry_reason(f)) == RETRY_NONE)
		return false;
	/* A refused connection says the upstream is down, not loaded. */
	if (why != RETRY_REFUSED)
		f->dropped = true;
	if (f->attempt >= f->opts.retries || f->opts.once || f->opts.upload)
		return false;
	/* Refused once more: the upstream is down (or restarting); a stale
	 * copy served now beats a second wait. */
	if (why == RETRY_REFUSED && f->attempt >= 1)
		return false;
	if (f->opts.timeout > 0) {
		left = f->opts.timeout - seconds_since(&f->started);
		if (left < RETRY_MIN_LEFT)
			return false;
	}
	for (int i = 0; i < f->attempt; i++)
		delay *= 4;
	delay += random() % (delay + 1);	/* spread: no burst of SYNs */
	if (why == RETRY_CONNECT)	/* the timeout was the wait */
		delay = random() % 20;
	f->attempt++;
	log_info("upstream GET %.*s: %s (%s); retry %d of %d in %ld ms on a new"
	    " connection", (int)(f->opts.secret_query ? strcspn(f->url, "?") :
	    strlen(f->url)), f->url, retry_names[why], f->errbuf[0] ? f->errbuf :
	    curl_easy_strerror(f->result), f->attempt, f->opts.retries, delay);
	for (int i = 0; i < f->nheaders; i++)
		free(f->headers[i]);
	f->nheaders = 0;
	f->len = 0;
	f->status = 0;
	f->result = CURLE_OK;
	f->errbuf[0] = '\0';
	f->connect_ms *= 2;
	curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, f->connect_ms);
	curl_easy_setopt(f->easy, CURLOPT_FRESH_CONNECT, 1L);
	if (f->opts.timeout > 0)
		curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)(left *
		    1000));
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	f->retry_timer = evtimer_new(uc->base, retry_cb, f);
	evtimer_add(f->retry_timer, &tv);
	return true;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* The request's headers: cargo's protocol version, Accept, what the
 * caller asked for and the conditional GET's validator. */
static void
request_headers(struct fetch *f, const struct fetch_opts *opts)
{
	char	*h;

	if (!opts->bare) {
		f->req_headers = curl_slist_append(NULL,
		    "cargo-protocol: version=1");
		h = xasprintf("Accept: %s", opts->accept ? opts->accept :
		    "text/plain, application/json;q=0.9, */*;q=0.8");
		f->req_headers = curl_slist_append(f->req_headers, h);
		free(h);
	}
	if (opts->content_type != NULL) {
		h = xasprintf("Content-Type: %s", opts->content_type);
		f->req_headers = curl_slist_append(f->req_headers, h);
		free(h);
	}
	if (opts->extra_header != NULL)
		f->req_headers = curl_slist_append(f->req_headers,
		    opts->extra_header);
	for (size_t i = 0; i < opts->nheaders; i++)
		f->req_headers = curl_slist_append(f->req_headers,
		    opts->headers[i]);
	if ((opts->body != NULL || opts->upload) && opts->aws_sigv4 == NULL) {
		/* No "Expect: 100-continue" round trip for our uploads. But
		 * curl 7.88 signs every custom header, this empty one too,
		 * that it then never sends: a signature S3 would refuse. */
		f->req_headers = curl_slist_append(f->req_headers, "Expect:");
	}
	if (!opts->bare)
		f->req_headers = curl_slist_append(f->req_headers,
		    "X-TFS-FedAuthRedirect: Suppress");
	if (f->auth != NULL) {
		h = xasprintf("Authorization: %s", f->auth);
		f->req_headers = curl_slist_append(f->req_headers, h);
		free(h);
	}
	if (f->inm != NULL) {
		h = xasprintf("If-None-Match: %s", f->inm);
		f->req_headers = curl_slist_append(f->req_headers, h);
		free(h);
	} else if (f->ims != NULL) {
		h = xasprintf("If-Modified-Since: %s", f->ims);
		f->req_headers = curl_slist_append(f->req_headers, h);
		free(h);
	}
}

/* The method and the body, if any. */
static void
set_body(struct fetch *f, const struct fetch_opts *opts)
{
	CURL	*e = f->easy;

	if (opts->method != NULL) {
		f->method = xstrdup(opts->method);
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, f->method);
	}
	if (opts->no_body)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (opts->upload) {
		/* No CURLOPT_SEEKFUNCTION: never sent twice. */
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)opts->body_len);
		/* curl sends "Expect: 100-continue" with every PUT (a signed
		 * one cannot drop it): the body follows at once, not after a
		 * round trip. */
		curl_easy_setopt(e, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, f);
	} else if (opts->body != NULL && opts->once) {
		/* No CURLOPT_SEEKFUNCTION: a rewind (for a re-send) fails. */
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)opts->body_len);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(e, CURLOPT_READDATA, f);
	} else if (opts->body != NULL) {
		f->req_body = xmalloc(opts->body_len + 1);
		memcpy(f->req_body, opts->body, opts->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)opts->body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->req_body);
	}
}

/* Redirects, protocols, the HTTP version and connection reuse. */
static void
set_protocol(struct fetch *f, const struct fetch_opts *opts)
{
	CURL	*e = f->easy;

	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, opts->no_redirects ? 0L :
	    1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (!opts->bare)
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	if (strncmp(f->url, "https:", 6) == 0) {
		/* ALPN tells at once: wait for a connection that may
		 * multiplex rather than open another. */
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		    CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, opts->once ? 0L : 1L);
	} else if (opts->h2c && opts->body == NULL && f->proxy == NULL &&
	    !opts->once) {
		/* Cleartext: offer Upgrade: h2c (an HTTP/1.1 server ignores
		 * it); once the upstream is known to take it, requests wait
		 * for its connection and share it. Until then waiting would
		 * queue them behind a slow one. */
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		    CURL_HTTP_VERSION_2_0);
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, opts->multiplexed ?
		    1L : 0L);
	} else
		curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
		    CURL_HTTP_VERSION_1_1);
	if (opts->once) {
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	}
}

/* Timeouts, the callbacks that take the answer, the proxy and the CA. */
static void
set_transfer(struct fetch *f, const struct fetch_opts *opts)
{
	CURL	*e = f->easy;

	f->connect_ms = opts->connect_timeout_ms > 0 ?
	    opts->connect_timeout_ms : CONNECT_TIMEOUT * 1000L;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, f->connect_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, opts->low_speed_time > 0 ?
	    opts->low_speed_time : (long)LOW_SPEED_TIME);
	if (opts->timeout > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, opts->timeout);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	if (f->proxy != NULL) {
		/* A configured proxy is used for everything, whatever
		 * no_proxy says. */
		curl_easy_setopt(e, CURLOPT_PROXY, f->proxy);
		curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	}
	if (f->ca != NULL) {
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, f);
	}
	if (opts->aws_sigv4 != NULL)
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, opts->aws_sigv4);
	if (opts->userpwd != NULL)
		curl_easy_setopt(e, CURLOPT_USERPWD, opts->userpwd);
}

struct fetch *
fetch_start(struct upstream_client *uc, const struct fetch_opts *opts)
{
	struct fetch	*f = xcalloc(1, sizeof *f);
	CURL		*e;

	f->uc = uc;
	f->opts = *opts;
	f->url = xstrdup(opts->url);
	f->auth = dup_or_null(opts->authorization);
	f->inm = dup_or_null(opts->if_none_match);
	f->ims = dup_or_null(opts->if_modified_since);
	f->proxy = dup_or_null(opts->proxy);
	f->ca = dup_or_null(opts->ca_file);
	f->easy = e = curl_easy_init();
	request_headers(f, opts);
	curl_easy_setopt(e, CURLOPT_URL, f->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->req_headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "crated/" CRATED_VERSION);
	curl_easy_setopt(e, CURLOPT_PRIVATE, f);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	set_body(f, opts);
	set_protocol(f, opts);
	set_transfer(f, opts);
	clock_gettime(CLOCK_MONOTONIC, &f->started);
	uc->active++;
	f->next = uc->fetches;
	if (f->next != NULL)
		f->next->prev = f;
	uc->fetches = f;
	curl_multi_add_handle(uc->multi, e);
	return f;
}

long
fetch_status(const struct fetch *f)
{
	return f->status;
}

int
fetch_failed(const struct fetch *f)
{
	return f->result != CURLE_OK || f->too_big;
}

const char *
fetch_error(const struct fetch *f)
{
	if (f->too_big)
		return "response body too large";
	if (f->errbuf[0] != '\0')
		return f->errbuf;
	return curl_easy_strerror(f->result);
}

bool
fetch_too_large(const struct fetch *f)
{
	return f->too_big;
}

bool
fetch_timed_out(const struct fetch *f)
{
	return f->result == CURLE_OPERATION_TIMEDOUT;
}

const char *
fetch_body(const struct fetch *f, size_t *len)
{
	*len = f->len;
	return f->body != NULL ? f->body : "";
}

const char *
fetch_header(const struct fetch *f, const char *name)
{
	size_t	n = strlen(name);

	for (int i = 0; i < f->nheaders; i++) {
		const char	*h = f->headers[i];

		if (strncasecmp(h, name, n) == 0 && h[n] == ':')
			return h + n + 1 + strspn(h + n + 1, " \t");
	}
	return NULL;
}

const char *
fetch_final_url(const struct fetch *f)
{
	char	*url = NULL;

	curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &url);
	return url;
}

long
fetch_redirects(const struct fetch *f)
{
	long	n = 0;

	curl_easy_getinfo(f->easy, CURLINFO_REDIRECT_COUNT, &n);
	return n;
}

double
fetch_seconds(const struct fetch *f)
{
	double	t = 0;

	curl_easy_getinfo(f->easy, CURLINFO_TOTAL_TIME, &t);
	return t;
}

long long
fetch_content_length(const struct fetch *f)
{
	curl_off_t	n = -1;

	curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &n);
	return n;
}

bool
fetch_request_sent(const struct fetch *f)
{
	long		head = 0;
	curl_off_t	up = 0;

	curl_easy_getinfo(f->easy, CURLINFO_REQUEST_SIZE, &head);
	curl_easy_getinfo(f->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	return head > 0 && (f->opts.body == NULL || (size_t)up >=
	    f->opts.body_len);
}

void
fetch_pause(struct fetch *f, bool pause)
{
	curl_easy_pause(f->easy, pause ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}

int
fetch_retries(const struct fetch *f)
{
	return f->attempt;
}

bool
fetch_dropped(const struct fetch *f)
{
	return f->dropped;
}

long
fetch_connections(const struct fetch *f)
{
	return f->connects;
}

bool
fetch_multiplexed(const struct fetch *f)
{
	return info_long(f->easy, CURLINFO_HTTP_VERSION) >=
	    CURL_HTTP_VERSION_2_0;
}

bool
fetch_keeps_alive(const struct fetch *f)
{
	const char	*c = fetch_header(f, "Connection");

	if (fetch_multiplexed(f))
		return true;
	return info_long(f->easy, CURLINFO_HTTP_VERSION) ==
	    CURL_HTTP_VERSION_1_1 && (c == NULL || strcasecmp(c, "close") != 0);
}

void
fetch_times(const struct fetch *f, struct fetch_times *t)
{
	CURL	*e = f->easy;

	t->connect = info_seconds(e, CURLINFO_CONNECT_TIME_T);
	t->tls = info_seconds(e, CURLINFO_APPCONNECT_TIME_T);
	t->pretransfer = info_seconds(e, CURLINFO_PRETRANSFER_TIME_T);
	t->first_byte = info_seconds(e, CURLINFO_STARTTRANSFER_TIME_T);
	t->total = info_seconds(e, CURLINFO_TOTAL_TIME_T);
}

const char *
fetch_url(const struct fetch *f)
{
	return f->url;
}
