/* Toolchain mirrors (issue 29): a pull-through cache of rustup's
 * distribution server, [toolchains.NAME] in crated.toml, answering under
 * /NAME/dist/... and /NAME/rustup/..., so that
 *
 *   RUSTUP_DIST_SERVER=http://HOST:PORT/NAME
 *   RUSTUP_UPDATE_ROOT=http://HOST:PORT/NAME/rustup
 *
 * install toolchains through crated. Dated files and archived rustup-init
 * are immutable: fetched once (streamed to every client asking meanwhile
 * while a temp file fills), kept only when their SHA-256 is the one their
 * manifest (or .sha256) gives. Channel manifests and their .sha256 are
 * one snapshot, swapped whole, revalidated after manifest_ttl, served
 * stale when the upstream fails. Touched only from the event loop. */
#ifndef SERVER_TOOLCHAINS_TOOLCHAIN_H
#define SERVER_TOOLCHAINS_TOOLCHAIN_H

#include <stdbool.h>

struct http_request;
struct server;
struct toolchain;
struct toolchain_config;
typedef struct json_t json_t;

/* Opens the mirror of cfg in the server's data directory. 0, or -1 with
 * *cause (new). */
int		 toolchain_open(struct server *, const struct toolchain_config *,
		     struct toolchain **, char **cause);
/* NULL is fine. */
void		 toolchain_close(struct toolchain *);
/* Shutting down: no new upstream request starts. */
void		 toolchain_stop(struct toolchain *);
/* The server's toolchain mirror of that name, or NULL. */
struct toolchain *toolchain_find(struct server *, const char *name);
const char	*toolchain_name(const struct toolchain *);
/* A GET or HEAD of rel ("dist/..." or "rustup/...") below the mirror. */
void		 toolchain_request(struct toolchain *, struct http_request *,
		     const char *rel);
/* SIGHUP gave it a new configuration (TTL, offline, limits). */
void		 toolchain_reconfigured(struct toolchain *,
		     const struct toolchain_config *);
/* /-/ready: name, upstream state (full: its URL and last error), the
 * cache (new object). */
json_t		*toolchain_state(struct toolchain *, bool full);
/* The gauges of /-/metrics. */
void		 toolchain_collect(struct toolchain *);
/* What is cached, for the pages (new object): "channels", each with its
 * date and version, and "toolchains", each date and version with the
 * hosts whose rustc and the targets whose rust-std are cached. */
json_t		*toolchain_cached(struct toolchain *);

#endif
