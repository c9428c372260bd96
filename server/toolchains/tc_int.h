/*
 * What the files of a toolchain mirror share; private to
 * server/toolchains/ (the public API is toolchain.h). Split by job, each
 * file calling only files below it:
 *
 *   toolchain.c     the mirror's life, a request sorted to its file
 *   tc_evict.c      files removed past max_cache_bytes; the usage flush
 *   tc_hash.c       the SHA-256 a tarball must have: manifests parsed
 *                   and kept, dated manifests fetched and stored
 *   tc_snapshot.c   channel manifests and release files: snapshots
 *                   swapped whole, revalidated, served stale
 *   tc_fill.c       immutable files fetched once, streamed to every
 *                   client while a temp file fills, kept when verified
 *   tc_pair.c       a .toml and its .sha256 fetched into memory, checked
 *   tc_reader.c     a client served from a file that may still grow
 *   tc_upstream.c   upstream requests under the mirror's cap
 *   tc_report.c     metrics under the mirror's label, log lines, the
 *                   upstream's last answer
 *
 * Layout of the mirror's store, DATA_DIR/NAME/: dist/DATE/... and
 * rustup/archive/... as upstream (immutable, verified files; accounted in
 * usage.log), snapshots/dist/channel-rust-C.toml and
 * snapshots/rustup/release-C.toml (cache/snapshot.h), tmp/.
 */
#ifndef SERVER_TOOLCHAINS_TC_INT_H
#define SERVER_TOOLCHAINS_TC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache/lru.h"
#include "cache/snapshot.h"
#include "cache/store.h"
#include "index/distpath.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/toolchains/toolchain.h"

struct dist_manifest;
struct event;
struct fetch;
struct http_request;
struct server;
struct tc_fill;
struct tc_reader;
struct tc_lookup;
struct tc_dated;
struct tc_queued;
struct toolchain_config;
struct usage;

#define TC_FILE_MAX	(8ull << 30)	/* largest file fetched */
#define TC_SIDE_MAX	4096		/* a .sha256 */
#define TC_LOG_EVERY	10		/* seconds between repeated lines */


/* One generation of a snapshot, open: what readers hold while they read
 * it (a swap leaves it to them). */
struct snapgen {
	int			fd;
	struct snapshot_info	info;
	unsigned		gen;
	int			refs;
};

/* A mutable file (pair) of the mirror: its generation in use, the one
 * before (for a client that read the .sha256 of it), the refresh under
 * way and who waits for it. */
struct snap {
	struct toolchain	*tc;
	char			 rel[DIST_PATH_MAX];	/* .toml or release */
	bool			 pair;			/* with a .sha256 */
	struct snapgen		*cur, *prev;
	time_t			 validated;	/* the upstream confirmed cur */
	bool			 refreshing;
	struct snap_wait	*waiters;
	struct snap		*next;
};

/* A file being read: a cached file, a snapshot's part, or a file still
 * filling (tc_fill.c). Readers (tc_reader.c) read [base, base + total)
 * of fd, as far as avail. */
enum tc_src_state {
	SRC_GROWING,		/* more bytes will come */
	SRC_DONE,		/* avail is all there is */
	SRC_FAILED,		/* no more bytes: readers past avail are cut */
};

struct tc_source {
	struct toolchain	*tc;
	int			 fd;
	uint64_t		 base;
	uint64_t		 avail;
	int64_t			 total;		/* -1 while unknown */
	enum tc_src_state	 state;
	int			 refs;
	struct tc_reader	*readers;
	const char		*path;		/* for messages (borrowed) */
	const char		*ctype;
	const char		*hdrs;		/* more header lines */
	/* Called when the last reference goes. */
	void			(*release)(struct tc_source *);
	void			*owner;
};

struct toolchain {
	struct server		*srv;
	const struct toolchain_config *cfg;	/* replaced on SIGHUP */
	const char		*name;		/* cfg's */
	char			*upstream;	/* no trailing '/' */
	struct store		*store;
	struct usage		*usage;
	char			 labels[96];	/* toolchain="NAME" */
	bool			 stopping;
	/* tc_snapshot.c */
	struct snap		*snaps;
	struct lru		 peers;		/* struct peer, by key */
	unsigned		 gens;		/* generations made */
	/* tc_reader.c: every client being sent a file */
	struct tc_reader	*readers;
	/* tc_fill.c */
	struct tc_fill		*fills;
	/* tc_hash.c */
	struct lru		 manifests;	/* struct mcache, by key */
	size_t			 manifest_bytes;
	struct tc_lookup	*lookups;
	struct tc_dated		*dated;
	/* tc_upstream.c */
	int			 active;
	struct tc_queued	*queue, **queue_tail;
	time_t			 last_ok, last_fail;
	char			*last_error;
	/* tc_evict.c */
	struct event		*evict_ev, *flush_timer;
	int			 evicting;	/* unlink jobs under way */
	struct log_every	 offline_log, stale_log;
	/* Counters for /-/ready (the metrics have their own). */
	unsigned long long	 hits, misses, followers, hash_failures;
	unsigned long long	 stale, upstream_bytes;
};

/* tc_report.c */
void	tc_count(struct toolchain *, enum metric_id, const char *extra,
	    double v);
/* The upstream answered (error NULL) or failed (error says how). */
void	tc_note_answer(struct toolchain *, const char *error);
/* Whether a line held to one per TC_LOG_EVERY seconds is due; *more
 * (new) then says how many were held back. */
void	tc_offline_miss(struct toolchain *, const char *rel);
/* Content-Type of a served file, from its name. */
const char *tc_ctype(const char *rel);

/* tc_upstream.c */
enum tc_up {
	TC_UP_OK,		/* a 2xx */
	TC_UP_NOT_FOUND,	/* 404 or 410: passed on as 404 */
	TC_UP_FAILED,		/* no answer, 5xx, 429, 408: transient */
	TC_UP_REFUSED,		/* anything else */
};
struct tc_get {
	const char	*rel;		/* below the upstream's root */
	uint64_t	 from;		/* > 0: "Range: bytes=from-" */
	size_t		 max_body;	/* of a body kept in memory */
	bool		(*on_data)(struct fetch *, const void *, size_t,
			    void *);
	void		(*done)(struct fetch *, void *);
	void		*arg;
};
/* Starts g now, or once fewer than upstream_concurrency requests are in
 * flight (strings copied). */
void		tc_upstream_get(struct toolchain *, const struct tc_get *);
/* What a finished fetch came to; *why (new) for all but TC_UP_OK. Notes
 * the answer for /-/ready. */
enum tc_up	tc_upstream_judge(struct toolchain *, struct fetch *,
		    char **why);
void		tc_upstream_close(struct toolchain *);

/* tc_reader.c */
void	tc_source_hold(struct tc_source *);
void	tc_source_drop(struct tc_source *);
/* r reads src: the whole of it (200), or what its Range header asks
 * (206, 416), once src->total is known. */
void	tc_reader_add(struct tc_source *, struct http_request *);
/* src changed (more bytes, its length known, done): readers go on. */
void	tc_source_notify(struct tc_source *);
/* src failed: readers that have not started are answered status with
 * the message; the others get what there is, then the connection
 * closes (their body cut short). */
void	tc_source_fail(struct tc_source *, int status, const char *msg);
/* Frees the readers left at exit (their requests are gone). */
void	tc_reader_close_all(struct toolchain *);
/* Serves a whole file fd (stolen) of size bytes to r: sendfile for a
 * plain GET, a reader for a Range. */
void	tc_serve_fd(struct toolchain *, struct http_request *, int fd,
	    uint64_t size, const char *path, const char *hdrs);
/* Serves [off, off + len) of fd, held through hold/drop on owner. */
void	tc_serve_part(struct toolchain *, struct http_request *, int fd,
	    uint64_t off, uint64_t len, const char *path, const char *hdrs,
	    void (*drop)(void *), void *owner);

/* tc_pair.c */
struct tc_pair_result {
	int		 status;	/* 200, 304 (the .sha256 names known),
					   404, or 502 (failed: why) */
	char		*sha, *toml;	/* bodies: the callback may take them
					   (setting them NULL) */
	size_t		 sha_len, toml_len;
	char		 hex[65];	/* the .toml's SHA-256 */
	const char	*why;
};
typedef void (*tc_pair_cb)(struct toolchain *, struct tc_pair_result *,
    void *);
/* Fetches rel (a .toml; pair: with its .sha256, both checked, refetched
 * twice when they do not match: the upstream changing under us). known:
 * the SHA-256 of the .toml we have, or NULL; when the .sha256 names it,
 * 304 without fetching the .toml. */
void	tc_pair_fetch(struct toolchain *, const char *rel, bool pair,
	    const char *known, tc_pair_cb, void *);

/* tc_fill.c */
struct tc_fill	*tc_fill_find(struct toolchain *, const char *rel);
/* Fetches rel once for r and every request after it until it is stored:
 * want is its SHA-256 (kept when it matches), or NULL (passed through,
 * never kept). pin: kept out of eviction. */
void		 tc_fill_start(struct toolchain *, const char *rel,
		     const char *want, bool pin, struct http_request *);
void		 tc_fill_join(struct tc_fill *, struct http_request *,
		     bool pin);
/* Downloads under way. */
size_t		 tc_fill_count(struct toolchain *);

/* tc_snapshot.c */
int	tc_snapshot_open(struct toolchain *, char **cause);
void	tc_snapshot_close(struct toolchain *);
/* A request for a channel manifest, its .sha256 or a release file. */
void	tc_snapshot_serve(struct toolchain *, const struct dist_path *,
	    const char *rel, struct http_request *);

/* tc_hash.c */
typedef void (*tc_hash_cb)(struct toolchain *, const char *hash,
    int status, const char *why, void *);
/* The SHA-256 a manifest of date gives rel: from the manifests kept,
 * the snapshots and dated manifests on disk, else the dated manifests
 * fetched (stable, beta, nightly). cb gets it (status 200), or NULL
 * with 404 (no manifest names it) or 502 (they could not be had: why). */
void	tc_hash_lookup(struct toolchain *, const char *rel,
	    const char *date, tc_hash_cb, void *);
/* A parsed manifest to keep (stolen), under key. */
void	tc_hash_keep(struct toolchain *, const char *key,
	    struct dist_manifest *);
typedef void (*tc_dated_cb)(struct toolchain *, int status,
    const char *why, void *);
/* Makes sure the dated manifest toml (with its .sha256) is stored:
 * status 200, 404 (the upstream has none) or 502 with why. */
void	tc_dated_get(struct toolchain *, const char *toml, tc_dated_cb,
	    void *);
void	tc_hash_close(struct toolchain *);

/* tc_evict.c */
void	tc_evict_open(struct toolchain *);
void	tc_evict_close(struct toolchain *);
/* A file was stored: evicts in the background when over the limit. */
void	tc_evict_soon(struct toolchain *);

#endif
