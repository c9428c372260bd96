/* The upstream HTTP client: libcurl's multi_socket interface driven by the
 * server's libevent loop (curl's hiperfifo pattern), so no transfer ever
 * blocks the loop and no thread is spent per request. Keep-alive and
 * HTTP/2 (over TLS) come from curl's connection cache.
 *
 * Credentials: an Authorization value given here is sent to the URL's
 * host only; curl (>= 7.58) drops custom Authorization headers when a
 * redirect leads to another host, and crated never sets
 * CURLOPT_UNRESTRICTED_AUTH. */
#ifndef SERVER_UPSTREAM_UPSTREAM_H
#define SERVER_UPSTREAM_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct upstream_client;
struct fetch;

struct fetch_opts {
	const char	*url;
	const char	*authorization;	/* header value, or NULL */
	const char	*if_none_match;
	const char	*if_modified_since;
	const char	*proxy;		/* NULL: curl's https_proxy/no_proxy */
	const char	*ca_file;	/* added to the system CAs, or NULL */
	size_t		 max_body;	/* bigger bodies fail the fetch */
	const char	*method;	/* NULL: GET */
	const void	*body;		/* request body (copied), or NULL */
	size_t		 body_len;
	/* A call that must reach the server at most once (a publish, yank,
	 * owner change): a new connection of its own, closed afterwards, so
	 * curl never re-sends it on a fresh connection when a reused one
	 * dies; the body is not copied (it must outlive the fetch) and goes
	 * out through a read callback curl cannot rewind. */
	bool		 once;
	const char	*content_type;	/* of the request body */
	const char	*accept;	/* NULL: text/plain first */
	bool		 no_redirects;	/* web API calls are not redirected */
	const char	*extra_header;	/* one more "Name: value", or NULL */
	long		 timeout;	/* seconds for the whole transfer; 0 none */
	long		 low_speed_time; /* seconds under 1 byte/s before giving
					   up; 0: the default (20) */
	long		 connect_timeout_ms; /* of the first attempt; 0: 10 s */
	int		 retries;	/* new attempts after a failed connect,
					   a lost connection or a stall, while
					   nothing was passed on; GETs only */
	bool		 h2c;		/* http://: offer Upgrade: h2c */
	bool		 multiplexed;	/* http://: the upstream took h2c */
	/* Object storage (server/storage/). More "Name: value" request
	 * headers (copied), after extra_header. */
	const char *const *headers;
	size_t		 nheaders;
	/* Only the headers asked for: none of cargo's (cargo-protocol,
	 * Accept, the Azure DevOps one), no Accept-Encoding; a signature
	 * covers what is sent and the body comes back as stored. */
	bool		 bare;
	const char	*aws_sigv4;	/* CURLOPT_AWS_SIGV4, or NULL */
	const char	*userpwd;	/* CURLOPT_USERPWD (a secret: curl
					   keeps its own copy), or NULL */
	/* Sends body (body_len bytes; NULL: none) with CURLOPT_UPLOAD, a PUT
	 * unless method says otherwise. The body is not copied: it must
	 * outlive the fetch. curl cannot rewind it, so it is never sent
	 * twice. */
	bool		 upload;
	bool		 no_body;	/* a HEAD: no response body */
	bool		 secret_query;	/* the URL's query holds a secret (an
					   Azure SAS): logged without it */
	/* Optional streaming: called with each piece of a 2xx body as it
	 * arrives; return false to abort the transfer. The body is then not
	 * kept in the fetch. */
	bool		(*on_data)(struct fetch *, const void *, size_t, void *);
	/* Called on the loop when the transfer is over, whatever happened.
	 * The fetch is freed after it returns. */
	void		(*done)(struct fetch *, void *);
	void		*arg;
};

struct upstream_client	*upstream_client_create(struct event_base *);
void			 upstream_client_destroy(struct upstream_client *);
/* The loop it runs on (for callers that answer later on it). */
struct event_base	*upstream_client_base(const struct upstream_client *);
/* Transfers under way. */
size_t			 upstream_client_active(
			    const struct upstream_client *);

/* Starts a GET. The strings of opts are copied. */
struct fetch		*fetch_start(struct upstream_client *,
			    const struct fetch_opts *);

/* Results, valid in the done callback. */
/* HTTP status of the last response (after redirects), 0 when none came;
 * also valid in on_data, as are the headers. */
long		 fetch_status(const struct fetch *);
/* 0, or the transport failure: then fetch_error() says what. */
int		 fetch_failed(const struct fetch *);
const char	*fetch_error(const struct fetch *);
bool		 fetch_timed_out(const struct fetch *);
/* The body passed max_body: fetch_failed, the answer thrown away. */
bool		 fetch_too_large(const struct fetch *);
/* The body (buffered unless streamed), NUL-terminated. */
const char	*fetch_body(const struct fetch *, size_t *len);
/* A response header of the last response, or NULL. */
const char	*fetch_header(const struct fetch *, const char *name);
/* The URL asked for. */
const char	*fetch_url(const struct fetch *);
/* Where the redirects ended, when any were followed. */
const char	*fetch_final_url(const struct fetch *);
long		 fetch_redirects(const struct fetch *);
double		 fetch_seconds(const struct fetch *);
/* Content-Length of the 2xx response when known, else -1. */
long long	 fetch_content_length(const struct fetch *);
/* True once the request head and its whole body were sent: a failure
 * after that leaves the server's outcome unknown. */
bool		 fetch_request_sent(const struct fetch *);
/* Retries made; whether any attempt met a connect timeout, a lost
 * connection or a stall (the upstream's load, for the limiter; a refused
 * connection is not load). */
int		 fetch_retries(const struct fetch *);
bool		 fetch_dropped(const struct fetch *);
/* New connections opened for it, all attempts. */
long		 fetch_connections(const struct fetch *);
/* Whether the answer came over HTTP/2. */
bool		 fetch_multiplexed(const struct fetch *);
/* Whether the connection it came on stays open for the next request
 * (HTTP/2, or HTTP/1.1 without Connection: close). */
bool		 fetch_keeps_alive(const struct fetch *);
/* Seconds from the last attempt's start to the end of each phase. */
struct fetch_times {
	double	connect, tls, pretransfer, first_byte, total;
};
void		 fetch_times(const struct fetch *, struct fetch_times *);
/* Pauses or resumes a streamed transfer (back-pressure). */
void		 fetch_pause(struct fetch *, bool pause);

#endif
