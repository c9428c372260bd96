/* A lean HTTP/1.1 server on libevent's evconnlistener and bufferevent:
 * a strict request parser with limits, keep-alive, pipelined requests
 * answered in order, Content-Length bodies, Expect: 100-continue, HEAD,
 * and responses sent as one buffer chain (headers and body in one writev,
 * or sendfile for files) on TCP_NODELAY sockets; HTTP/2 (h2c upgrade,
 * ALPN h2) in h2.c. Request bodies are authorized on their head (the head
 * hook) and held within a budget before a byte of them is read.
 *
 * Every request gets exactly one reply (http_reply*), synchronously from
 * the handler or later from the event loop. A request whose client went
 * away stays valid until then; the reply is dropped. */
#ifndef SERVER_HTTP_HTTP_H
#define SERVER_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http_parse.h"

struct event_base;
struct http_server;
struct http_request;

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_PUT,
	HTTP_DELETE,
	HTTP_POST,
	HTTP_OTHER,
};

struct http_limits {
	size_t		max_line;	/* request line, bytes */
	size_t		max_head;	/* request line + headers, bytes */
	size_t		max_headers;	/* header fields */
	uint64_t	max_body;	/* Content-Length */
	int		idle_timeout;	/* seconds without bytes on an idle or
					   reading connection */
	int		head_timeout;	/* seconds to receive a whole head */
	size_t		max_per_client;	/* connections from one address;
					   0: no limit */
	bool		http2;		/* h2c upgrade, prior knowledge,
					   ALPN h2 */
};

typedef void (*http_handler)(struct http_request *, void *);

struct http_server	*http_server_create(struct event_base *,
			    const struct http_limits *, http_handler, void *);
/* Binds addr ("IP:PORT", "[IPv6]:PORT"); bound gets the real address
 * ("127.0.0.1:41234"), len bytes. 0, or -1 with *cause (new). */
int			 http_server_listen(struct http_server *,
			    const char *addr, bool tls, char *bound,
			    size_t len, char **cause);
/* The certificate for TLS listeners; steals ctx (the previous one goes
 * when its last connection does). */
typedef struct ssl_ctx_st SSL_CTX;
void			 http_server_set_tls(struct http_server *,
			    SSL_CTX *ctx);
void			 http_server_set_max_body(struct http_server *,
			    uint64_t);
/* Stops accepting and closes idle connections; busy ones close after
 * their reply, and those still sending one once it is sent. */
void			 http_server_drain(struct http_server *);
/* Connections open (idle ones included), and requests awaiting a reply. */
size_t			 http_server_connections(const struct http_server *);
size_t			 http_server_pending(const struct http_server *);
/* Requests in flight: those awaiting a reply, and HTTP/1.1 replies still
 * being sent (a download goes on after its handler is done). */
size_t			 http_server_in_flight(const struct http_server *);
void			 http_server_free(struct http_server *);

enum http_method	 http_method(const struct http_request *);
const char		*http_method_name(const struct http_request *);
/* The path with any run of leading slashes collapsed to one; no query. */
const char		*http_path(const struct http_request *);
/* The query string after '?', or NULL. */
const char		*http_query(const struct http_request *);
/* The value of the first header named name (case-insensitive), or NULL
 * (server/http/http_parse.c). */
const char		*http_header(const struct http_request *,
			    const char *name);
const unsigned char	*http_body(const struct http_request *, size_t *);
/* The body, now the caller's to free (NUL-terminated; NULL when empty):
 * a handler that keeps it needs no copy. http_body is empty afterwards,
 * and the body no longer counts against the budget of bodies being
 * received: the caller bounds what it keeps. */
unsigned char		*http_body_take(struct http_request *, size_t *);
const char		*http_peer(const struct http_request *);
/* True when r came in on a TLS listener (HTTP/1.1 or HTTP/2), while its
 * client is connected. The Host it named is http_header(r, "Host"). */
bool			 http_is_tls(const struct http_request *);
/* The local port r's connection came in on (the listener's), or 0. */
int			 http_local_port(const struct http_request *);
/* True once the client has disconnected. */
bool			 http_gone(const struct http_request *);
/* Names the registry in the access log line; s must outlive the request. */
void			 http_set_registry(struct http_request *,
			    const char *);
bool			 http_accepts_gzip(const struct http_request *);
/* True when a body of that many bytes goes out faster from a file
 * (sendfile) than from memory on the request's connection: plain TCP, not
 * HTTP/2, and more than a small file, which is read into the reply. */
bool			 http_sendfile_better(const struct http_request *,
			    size_t);
/* A static name for the route, for metrics ("index", "download", ...). */
void			 http_set_route(struct http_request *, const char *);
/* Called as each request ends (after its access-log line). */
typedef void (*http_done_hook)(const char *registry, const char *route,
    int status, size_t bytes, long usec, void *arg);
void			 http_server_set_hook(struct http_server *,
			    http_done_hook, void *);
/* Called once the head of a request with a body is complete (HTTP/1.1: a
 * Content-Length over 0; HTTP/2: HEADERS without END_STREAM), before a byte
 * of that body is read or buffered. Returns true to let the body come;
 * false after answering r at once (http_reply*; r must not be kept): its
 * body is then never stored, "100 Continue" is never sent, and HTTP/1.1
 * drops the body as it comes (with Expect: 100-continue, closes instead).
 * An admitted body must also fit a budget shared by every request (64 MiB,
 * or max_body when larger): past it the request gets 503 and Retry-After. */
typedef bool (*http_head_hook)(struct http_request *, void *);
void			 http_server_set_head_hook(struct http_server *,
			    http_head_hook, void *);
/* Who the request authenticated as (copied), for handlers and logs. */
void			 http_set_user(struct http_request *,
			    const char *label, int scope, const char *crates);
/* NULL when the request carried no valid token (or auth is off). */
const char		*http_user(const struct http_request *, int *scope,
			    const char **crates);

/* Replies. ctype may be NULL (no Content-Type); hdrs is NULL or more header
 * lines, each ending in "\r\n". For HEAD only the headers go out. */
void	http_reply(struct http_request *, int status, const char *ctype,
	    const char *hdrs, const void *body, size_t len);
/* As http_reply, but body is sent without a copy and done(body, arg) is
 * called once the bytes are no longer needed. */
void	http_reply_ref(struct http_request *, int status, const char *ctype,
	    const char *hdrs, const void *body, size_t len,
	    void (*done)(const void *, size_t, void *), void *arg);
/* Sends len bytes of fd (sendfile); steals fd. */
void	http_reply_file(struct http_request *, int status, const char *ctype,
	    const char *hdrs, int fd, size_t len);
/* Sends the len bytes of seg, a file segment made for sendfile whose file
 * is fd, without taking the caller's reference: one more reference keeps
 * the file open until the bytes are sent. Under TLS and HTTP/2, where
 * sendfile cannot be used, a copy of fd is read instead. */
struct evbuffer_file_segment;
void	http_reply_segment(struct http_request *, int status,
	    const char *ctype, const char *hdrs,
	    struct evbuffer_file_segment *seg, int fd, size_t len);
/* A cargo-format error: {"errors":[{"detail":"..."}]}. */
void	http_reply_error(struct http_request *, int status, const char *fmt,
	    ...) __attribute__((format(printf, 3, 4)));
/* As http_reply_error, with extra header lines. */
void	http_reply_error_hdrs(struct http_request *, int status,
	    const char *hdrs, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* Streaming replies, for bodies that arrive from elsewhere: the head
 * with its Content-Length first, then the bytes, then the end. */
void	http_stream_start(struct http_request *, int status,
	    const char *ctype, const char *hdrs, size_t len);
/* Queues bytes (dropped for HEAD or a client that left); returns how many
 * bytes wait to be sent, for back-pressure. */
size_t	http_stream_write(struct http_request *, const void *, size_t);
/* Whether http_stream_file may be used on r: plain TCP, HTTP/1.1 (TLS
 * and HTTP/2 need the bytes: http_stream_write). */
bool	http_stream_can_sendfile(const struct http_request *);
/* Queues len bytes of the file fd from off, to go out with sendfile (fd
 * is not taken: a copy is kept until they are sent; the file must hold
 * them). Dropped for HEAD or a client that left. Returns how many bytes
 * wait to be sent, as http_stream_write. */
size_t	http_stream_file(struct http_request *, int fd, uint64_t off,
	    size_t len);
/* cb(arg) is called once, when the queued bytes next fall below the low
 * mark (or at once if the client left). */
void	http_stream_on_drain(struct http_request *, void (*cb)(void *),
	    void *arg);
void	http_stream_end(struct http_request *);
/* Ends the reply short of its Content-Length and closes the connection,
 * so the client sees a truncated body and rejects it. */
void	http_stream_abort(struct http_request *);

#endif
