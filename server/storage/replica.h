/* A hosted registry kept in object storage, read through this machine's
 * disk (issue 26): the local store (cache/store.h) is a cache of the
 * object store. An index file is served from its local copy while that
 * copy was checked against the store less than max_stale seconds ago;
 * past that a conditional GET (If-None-Match: the store's ETag of the
 * copy) decides: 304 serves the copy, 200 replaces it (temp file, fsync,
 * rename, on a worker), 404 removes it. A .crate missing locally is
 * fetched, its SHA-256 checked against the cksum of its index line, and
 * kept for good (a version is immutable). Concurrent requests for one
 * file share one GET.
 *
 * Why a check starts the clock when it is sent, not when it is answered:
 * a request that comes max_stale seconds after a publish was acknowledged
 * then always sees it (the check it waits for, or rode on, was sent after
 * the publish).
 *
 * When the store cannot be reached, answers 5xx or has not answered
 * within 3 s, the local copies are served (stale, logged once a minute
 * per file, counted), and a file this machine never had is a 503. Touched only from the event loop; calls up through the
 * changed callback (files.c drops its memory copies), never by name. */
#ifndef SERVER_STORAGE_REPLICA_H
#define SERVER_STORAGE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct objstore;
struct store;
struct workers;

enum replica_outcome {
	REPLICA_SERVE,		/* the local copy is the store's: serve it */
	REPLICA_STALE,		/* the store failed: serve the local copy */
	REPLICA_GONE,		/* the store has no such file: 404 */
	REPLICA_UNAVAILABLE,	/* the store failed, no local copy: 503 */
	REPLICA_BAD,		/* the store's .crate is not the indexed
				   one: 502, nothing kept */
	REPLICA_FAILED,		/* the local disk failed: 500 */
};

/* why: NULL, or a message for the client and the log (names the store,
 * never a credential). */
typedef void	(*replica_cb)(enum replica_outcome, const char *why,
		    void *arg);
/* The local copy of the index file path changed (written or removed). */
typedef void	(*replica_changed_cb)(const char *path, void *arg);

struct replica_params {
	const char		*registry;	/* for logs and metrics */
	struct event_base	*base;		/* timers; NULL: none */
	struct objstore		*objstore;
	const char		*objprefix;	/* "R/" or "" */
	struct store		*store;
	struct workers		*disk;		/* writes and fsyncs */
	struct workers		*cpu;		/* SHA-256 of .crate files */
	double			 max_stale;	/* seconds */
	size_t			 crate_max;	/* bytes of one .crate */
	replica_changed_cb	 changed;
	void			*changed_arg;
};

struct replica	*replica_create(const struct replica_params *);
/* Nothing may be under way (the server has drained). NULL is fine. */
void		 replica_free(struct replica *);
/* storage_max_stale, after a reload. */
void		 replica_set_max_stale(struct replica *, double);

/* True when the local copy of index file path (as routed: "se/rd/serde")
 * was checked within max_stale seconds: serve it without asking. */
bool		 replica_index_fresh(struct replica *, const char *path);
/* Brings the local copy of path up to date with the store, then calls
 * cb; at once (before returning) when nothing has to be asked. */
void		 replica_index(struct replica *, const char *path,
		     replica_cb, void *arg);
/* Fetches the .crate of name vers (valid, as routed) into the local
 * store, checked against its index line (itself brought up to date
 * first), then cb: REPLICA_SERVE when the file is there to serve. */
void		 replica_crate(struct replica *, const char *name,
		     const char *vers, replica_cb, void *arg);
/* For the catalogue (catalogue.h): brings the local copy of rel
 * ("index/<path>" or "meta/<path>") up to date with the store now,
 * whatever its freshness, unless the store's ETag of the copy is
 * listed_etag (a listing's; NULL: ask anyway); a GET under way is joined.
 * The same GET, checks, write and changed callback as replica_index: 404
 * removes the copy (REPLICA_GONE). cb may run before this returns. */
void		 replica_sync(struct replica *, const char *rel,
		     const char *listed_etag, replica_cb, void *arg);
/* A write on this machine put the index file path into the store (etag:
 * the store's answer) and the same bytes on disk: no GET needed. */
void		 replica_index_stored(struct replica *, const char *path,
		     const char *etag);

#endif
