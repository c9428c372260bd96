/* Authorization: which requests a registry's tokens (cache/tokens.h) let
 * through, the ops endpoints' gate (ops_access), the peers' secret and
 * the /R/me page that says how to get a token. Called by the dispatcher
 * (server.c) and the handlers (hosted.c, relay.c) from above; answers
 * the requests it refuses itself. Touched only from the event loop. */
#ifndef SERVER_HANDLERS_AUTH_H
#define SERVER_HANDLERS_AUTH_H

#include <stdbool.h>

struct http_request;
struct registry;
struct route;
struct server;

/* auth_required: r, for route rt of reg, carries a valid token with the
 * scope rt needs (and is marked with its user). False when r has been
 * answered (401 or 403). */
bool	auth_request(struct server *, struct registry *, struct http_request *,
	    const struct route *rt);
/* The HTTP layer's head hook's work for a request with a body: true to
 * let the body come; false once r has been answered. */
bool	auth_head(struct server *, struct http_request *,
	    const struct route *rt);
/* True when r may change crate: auth is off, or its token's scope allows
 * need and its crate glob (if any) matches. Otherwise answers 403 and
 * returns false. */
bool	auth_may_write(struct http_request *, const char *crate, int need);
/* Whether r may read the ops endpoints in full (ops_access). */
bool	auth_ops_allowed(struct server *, struct http_request *);
/* auth_ops_allowed, else answers 401 and returns false. */
bool	auth_ops_gate(struct server *, struct http_request *);
/* Whether r carries the peers' secret (peer_token_env). */
bool	auth_peer(struct server *, struct http_request *);

#endif
