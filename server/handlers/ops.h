/* The operations side of the server: /-/ready, /-/metrics (declaring the
 * server's metrics, counting requests and collecting gauges),
 * /-/registries, /-/purge, and each registry's config.json. The
 * dispatcher (server.c) calls it; it calls the handlers' state queries
 * (mirror.c, probe.c) from above, never the dispatcher. Touched only
 * from the event loop. */
#ifndef SERVER_HANDLERS_OPS_H
#define SERVER_HANDLERS_OPS_H

#include <stdbool.h>

struct http_request;
struct registry;
struct server;

/* Declares the server's metrics and hooks the request count and the
 * gauges' collection to srv (its http member made). */
void	ops_start(struct server *);
/* The registry's config.json with dl and api under base (new). */
char	*ops_config_json(const char *base, const struct registry *);
/* GET /R/config.json. */
void	ops_config(struct server *, struct registry *, struct http_request *);
/* GET /-/registries (behind auth_ops_gate). */
void	ops_registries(struct server *, struct http_request *);
/* GET /-/metrics (behind auth_ops_gate). */
void	ops_metrics(struct http_request *);
/* GET /-/ready: open to all; upstream details with auth_ops_allowed. */
void	ops_ready(struct server *, struct http_request *);
/* A registry's state as /-/ready shows it (new): kind, upstream state,
 * limits, the probe's outcome; full: with the upstream URL and errors. */
typedef struct json_t json_t;
json_t	*ops_registry_state(struct server *, struct registry *, bool full);
/* The object stores' state as /-/ready shows it (new). */
json_t	*ops_storage_state(struct server *, bool full);
/* POST /-/purge from a peer replica. */
void	ops_purge(struct server *, struct http_request *);

#endif
