/* The upload relay: a mirror's web API calls (publish, yank, unyank,
 * owners, search) forwarded to the upstream's api with crated's credential
 * (or the client's, relay_auth = "client"), answered in the exact shapes
 * cargo parses, never retried, and followed by an index purge so the new
 * state is visible through crated at once. Writes need relay_writes; each
 * goes out once, on a connection of its own, from the one copy of its
 * body, and relay_max_writes(_per_client) cap those in flight. */
#ifndef SERVER_HANDLERS_RELAY_H
#define SERVER_HANDLERS_RELAY_H

struct registry;
struct http_request;
struct route;

void	relay_api(struct registry *, struct http_request *,
	    const struct route *);

/* The latest audit lines of relayed writes ("EPOCH registry=..."),
 * newest first: up to max borrowed strings (valid until the next write)
 * in out; how many. */
#define RELAY_RECENT	20
#include <stddef.h>
size_t	relay_recent_writes(const char **out, size_t max);
void	relay_recent_free(void);

#endif
