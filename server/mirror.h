/* Mirror registries: a pull-through cache of an upstream sparse registry.
 * Index files are fetched on demand, stored with the upstream's
 * validators, served within index_ttl, revalidated after it, and served
 * stale (X-Crated-Stale) when the upstream fails. Concurrent requests for
 * one path share one upstream request. Crates are fetched once, streamed
 * to the first client while being hashed and written, and kept only when
 * their SHA-256 matches the index. */
#ifndef SERVER_MIRROR_H
#define SERVER_MIRROR_H

struct registry;
struct http_request;
struct route;
struct mirror;

/* 0, or -1 with *cause (new). */
int	mirror_open(struct registry *, char **cause);
void	mirror_close(struct mirror *);
void	mirror_index(struct registry *, struct http_request *,
	    const struct route *);
/* A download whose .crate is not cached yet. */
void	mirror_download(struct registry *, struct http_request *,
	    const struct route *);

#endif
