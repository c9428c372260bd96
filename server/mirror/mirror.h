/* Mirror registries: a pull-through cache of an upstream sparse registry.
 * Index files are fetched on demand, stored with the upstream's
 * validators, served within index_ttl, revalidated after it, and served
 * stale (X-Crated-Stale) when the upstream fails. Concurrent requests for
 * one path share one upstream request. Crates are fetched once, streamed
 * to the first client while being hashed and written, and kept only when
 * their SHA-256 matches the index. */
#ifndef SERVER_MIRROR_MIRROR_H
#define SERVER_MIRROR_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct registry;
struct http_request;
struct route;
struct mirror;
struct fetch;

/* 0, or -1 with *cause (new). */
int	mirror_open(struct registry *, char **cause);
void	mirror_close(struct mirror *);
/* Shutting down: dependency warming not yet started is dropped, none
 * begins. */
void	mirror_stop_warming(struct mirror *);
void	mirror_index(struct registry *, struct http_request *,
	    const struct route *);
/* A download whose .crate is not cached yet. */
void	mirror_download(struct registry *, struct http_request *,
	    const struct route *);

/* After SIGHUP gave the registry a new configuration: credentials are
 * read again. */
void		 mirror_reconfigured(struct mirror *);
/* A cached .crate was served (pin: crated prefetch asked for it). */
void		 mirror_served_crate(struct mirror *, const char *rel,
		     bool pin);
/* The Authorization value crated sends upstream, or NULL (for the
 * upstream probes, server/mirror/probe.c). */
const char	*mirror_credential(struct mirror *);
/* The upstream answered f (a probe's): what it shows of the connections
 * (kept alive, multiplexed) sets how many requests may go at first. */
void		 mirror_upstream_answered(struct mirror *, struct fetch *);
/* Whether the .crate rel is cached; when, its last use and pin (for the
 * pages). */
#include <time.h>
bool		 mirror_crate_used(struct mirror *, const char *rel,
		     time_t *used, bool *pinned);
/* A copy of every cached .crate's rel and last use (usage_copy), taken
 * on the loop for the pages' worker. */
struct usage_use;
size_t		 mirror_crates_used(struct mirror *, struct usage_use **);
/* Changes to what mirror_crates_used gives so far (usage_generation). */
uint64_t	 mirror_crates_generation(struct mirror *);
/* Bytes of .crate files cached (the usage journal's count). */
unsigned long long mirror_cache_bytes(struct mirror *);
/* For /-/metrics and /-/ready. */
typedef struct json_t json_t;
void		 mirror_collect(struct mirror *);
void		 mirror_state(struct mirror *, json_t *obj);

/* What the relay (server/handlers/relay.c) needs of a mirror. */
struct fetch_opts;
typedef void (*mirror_config_cb)(struct mirror *, const char *error,
    void *arg);
/* Makes sure the upstream's config.json is known, then cb(error or NULL). */
void		 mirror_get_config(struct mirror *, mirror_config_cb, void *);
/* The upstream's web API base from its config.json, or NULL. */
const char	*mirror_api(const struct mirror *);
/* Starts an upstream request under the mirror's adaptive limit (a "once"
 * request, a relayed write, at once: the relay caps those).
 * authorization NULL: the mirror's credential; "": none. */
void		 mirror_request(struct mirror *, const struct fetch_opts *);
/* After a write upstream: forgets what is cached of name's index file
 * (negative entries too) and, when vers is given, asks the upstream on
 * every request for it until vers shows or 120 s pass. */
void		 mirror_watch(struct mirror *, const char *name,
		     const char *vers);
/* Keeps a .crate the client just uploaded (cksum already computed). */
void		 mirror_keep_crate(struct mirror *, const char *name,
		     const char *vers, const void *crate, size_t len);

#endif
