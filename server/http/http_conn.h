/* Private to the HTTP layer: the connection and request structures that
 * server/http/http.c (HTTP/1.1) and server/http/h2.c (HTTP/2) share, with
 * server/http/http_request.c and server/http/http_parse.c below them both. */
#ifndef SERVER_HTTP_HTTP_CONN_H
#define SERVER_HTTP_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/ssl.h>

#include "server/http/http.h"

struct evbuffer;
struct evconnlistener;
struct h2;

/* Output beyond this stops reading the next pipelined request until the
 * client has taken the bytes. */
#define OUTPUT_HIGH	(256 * 1024)

/* Request bodies buffered at once, all connections together, may reserve
 * at most this much, or max_body_bytes when that is larger (so that one
 * body of the largest size allowed always fits): past it, 503. */
#ifndef BODY_BUDGET_MIN			/* tests/fuzz/fuzz_h2.c: smaller */
#define BODY_BUDGET_MIN	((uint64_t)64 << 20)
#endif

struct http_listener {
	struct http_server	*srv;
	struct evconnlistener	*l;
	bool			 tls;
	struct http_listener	*next;
};

struct http_server {
	struct event_base	*base;
	struct http_limits	 lim;
	http_handler		 fn;
	void			*arg;
	struct http_listener	*listeners;
	SSL_CTX			*tls;		/* for TLS listeners */
	http_done_hook		 hook;
	void			*hook_arg;
	http_head_hook		 head_fn;	/* authorization on the head */
	void			*head_arg;
	uint64_t		 body_bytes;	/* reserved by request bodies */
	struct conn		*conns;		/* every open connection */
	size_t			 nconns;
	size_t			 pending;	/* requests awaiting a reply */
	bool			 draining;
	bool			 accept_paused;	/* accept() failed (EMFILE...) */
	struct event		*accept_resume;	/* ends the pause */
	const struct h2_ops	*h2_ops;	/* http.c's, for h2.c */
};

/* A connection is a small state machine (memcached's conn_states). */
enum conn_state {
	CONN_HEAD,	/* waiting for a complete request head */
	CONN_BODY,	/* head parsed, reading Content-Length bytes */
	CONN_DISCARD,	/* answered on its head: dropping its body */
	CONN_HANDLER,	/* request handed to the handler, no reply yet */
	CONN_DRAIN,	/* reply queued; waiting for output to drain below
			   OUTPUT_HIGH before reading the next request */
	CONN_CLOSING,	/* last reply queued; close once it is written */
	CONN_H2,	/* speaking HTTP/2: requests are streams */
};

struct conn {
	struct http_server	*srv;
	struct bufferevent	*bev;
	enum conn_state		 state;
	struct http_request	*req;		/* being read or handled */
	struct timespec		 head_start;	/* first byte of this head */
	bool			 head_started;
	bool			 processing;	/* inside process() */
	bool			 doomed;	/* free when process() ends */
	bool			 tls;
	bool			 corked;	/* TCP_CORK until drained */
	bool			 no_preface;	/* its first bytes were not an
						 * HTTP/2 preface: none now */
	struct event		*retry;		/* write_stalled's timer */
	struct event		*handshake;	/* TLS, until its handshake is
						 * done: ends c head_timeout
						 * after accept */
	size_t			 stall_left;	/* output left at the last
						 * write_stalled */
	int			 stalls;	/* in a row, with none sent */
	struct evbuffer		*pend;		/* a reply being put together */
	SSL			*ssl;		/* TLS, once its handshake is
						 * done: flush() writes and
						 * conn_readable reads it */
	struct event		*rd;		/* plain TCP: our reader */
	bool			 reading;	/* rd is added */
	long			 read_secs;	/* rd's timeout */
	long			 write_secs;	/* the bufferevent's write timeout */
	struct sockaddr_storage	 addr;		/* the client's */
	char			 peer[64];
	struct h2		*h2;		/* CONN_H2 */
	uint64_t		 discard;	/* CONN_DISCARD: bytes left */
	uint64_t		 discarded;
	bool			 close_after;	/* ... and then close */
	struct conn		*prev, *next;
};

struct header {
	const char	*name;
	const char	*value;
	size_t		 name_len;
};

/* Header fields most requests fit in without an allocation of their own
 * (cargo sends about 8). */
#define HEADERS_INLINE	16

struct http_request {
	struct conn		*conn;		/* NULL once the client left */
	struct http_server	*srv;
	char			*head;		/* the raw head, parsed in place */
	enum http_method	 method;
	const char		*method_name;
	const char		*path;
	const char		*query;
	int			 minor;		/* HTTP/1.minor */
	struct header		*headers;	/* hdr_inline or allocated */
	size_t			 nheaders;
	struct header		 hdr_inline[HEADERS_INLINE];
	uint64_t		 clen;
	unsigned char		*body;
	size_t			 body_len;
	uint64_t		 reserved;	/* of srv->body_bytes */
	bool			 handled;	/* a handler (or the head
						 * hook) will answer it */
	bool			 keepalive;
	bool			 expect_continue;
	const char		*registry;
	const char		*route;
	char			*user, *user_crates;
	int			 user_scope;
	int			 stream_status;	/* streaming: the status sent */
	size_t			 streamed;
	void			(*drain_cb)(void *);
	void			*drain_arg;
	char			 peer[64];
	struct timespec		 start;
	/* HTTP/2 streams (stream_id 0: HTTP/1.1). */
	int32_t			 stream_id;
	struct evbuffer		*out;		/* response body to send */
	bool			 out_eof;	/* no more body will come */
	bool			 finished;	/* replied and logged */
	bool			 stream_closed;
	char			*h2_method, *h2_path;
	char			*h2_text;	/* other headers, as 1.1 text */
	size_t			 h2_len, h2_cap;
	struct evbuffer		*h2_body;	/* a body of unknown length */
	bool			 receiving;	/* admitted, its body coming */
	bool			 clen_known;
	long			 data_at;	/* last DATA, monotonic s */
	struct http_request	*h2_next;	/* the connection's streams */
};


/* server/http/http_request.c: request objects and the body budget, below
 * both http.c and h2.c. */
void		 http_request_free(struct http_request *);
/* r's connection or stream is gone while its handler still owns it: r
 * forgets the connection, and a stream paused for this client (drain_cb)
 * learns it can go on without it. The handler frees r as usual. */
void		 http_request_orphan(struct http_request *);
/* What request bodies being received or handled may hold together:
 * BODY_BUDGET_MIN, or max_body when larger. */
uint64_t	 http_request_budget(const struct http_server *);
/* Takes n more bytes of the body budget for r; false when they do not
 * fit. */
bool		 http_request_reserve(struct http_request *, uint64_t n);
/* Frees r's body and gives its reservation back. */
void		 http_request_free_body(struct http_request *);

/*
 * What server/http/h2.c needs of the connection code above it (server/http/http.c),
 * which hands it down in struct http_server: h2.c never calls http.c by
 * name, so the calls between them go one way.
 */
struct h2_ops {
	/* A request whose body is about to come (r->clen bytes; 0 when the
	 * length is not known yet) may have it: the server's head hook
	 * allowed it and the bytes fit the body budget. False once r has
	 * been answered (the hook's 401/403, or 503), then r may already be
	 * gone. */
	bool	(*admit)(struct http_request *r);
	/* http_reply_error_hdrs(r, status, hdrs, "%s", detail). */
	void	(*reply_error)(struct http_request *r, int status,
		    const char *hdrs, const char *detail);
};

/* server/http/h2.c */
/* True when r (HTTP/1.1, no body) offers an h2c upgrade crated accepts. */
bool		 h2_upgrade_offered(const struct http_request *);
/* Answers 101, turns c into an HTTP/2 connection and makes r its stream
 * 1. -1 when the offer was unusable (r is then served over HTTP/1.1). */
int		 h2_upgrade(struct conn *, struct http_request *);
/* TLS with ALPN "h2", or a cleartext connection that opened with the
 * client preface (prior knowledge): c speaks HTTP/2 from its first byte,
 * which h2_read() takes from its input. */
void		 h2_start(struct conn *);
/* http2 = false: what answers a client preface, for a client that reads
 * only HTTP/2: the server's SETTINGS and a GOAWAY with HTTP_1_1_REQUIRED,
 * why as its debug data, onto out. */
void		 h2_refusal(struct evbuffer *out, const char *why);
/* Feeds c's input to HTTP/2 and sends what is due. */
void		 h2_read(struct conn *);
void		 h2_write(struct conn *);
/* The HTTP/2 side of http_reply*: r->out holds the body (len bytes, or
 * more to come when streaming). */
void		 h2_respond(struct http_request *, int status,
		     const char *ctype, const char *hdrs, size_t len,
		     bool streaming);
void		 h2_resume(struct http_request *);
void		 h2_reset(struct http_request *);
/* The connection's read timeout: ends the streams whose bodies stalled. */
void		 h2_expire(struct conn *);
/* Streams answered and still sending (downloads), for the drain. */
size_t		 h2_sending(const struct conn *);
/* Shutdown: GOAWAY; c closes once its streams are done. */
void		 h2_drain(struct conn *);
/* Before c goes: its streams' requests are orphaned or freed. */
void		 h2_conn_free(struct conn *);
/* ALPN: prefer h2, then http/1.1. */
void		 h2_alpn(SSL_CTX *);

#endif
