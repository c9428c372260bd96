/*
 * Copies between a data directory's hosted registry and the object store,
 * for `crated storage migrate`, `export` and `import` of a store-backed
 * registry. Everything is checked before it is copied, both ways: every
 * index line parses and names its file's crate, every .crate's SHA-256 is
 * its index line's; a .crate no index line names is left behind (it was
 * never served: a publish that did not finish). Writes are create-only:
 * an object (or local file) that exists with the same bytes counts as
 * present, so a run that stopped can be run again; one that differs is
 * never overwritten and stops the run. Crates are copied before the index
 * files naming them, so no index line is ever copied before its .crate.
 *
 * These run the event loop they are given until done: for commands, never
 * inside `crated serve`.
 */
#ifndef SERVER_STORAGE_MIGRATE_H
#define SERVER_STORAGE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

struct bundle_progress;
struct event_base;
struct objstore;

struct migrate_stats {
	size_t			 crates;	/* copied */
	size_t			 index_files;
	size_t			 other;		/* meta/, names/, tokens */
	size_t			 present;	/* already there, identical */
	size_t			 orphans;	/* .crates no line names: left */
	unsigned long long	 bytes;		/* copied */
};

/* What a run copies: registry name's files between data_dir/name/ and
 * the store's keys under prefix (its objprefix, "" or "R/"). */
struct migrate_spec {
	struct event_base	*base;
	struct objstore		*os;
	const char		*data_dir;
	const char		*name;
	const char		*prefix;
	const struct bundle_progress *progress;	/* or NULL */
};

/* Data directory to store: checks every local file first (nothing is
 * copied when one is bad), then copies. 0, or -1 with *cause (new); the
 * stats count what was copied before a failure. */
int	migrate_push(const struct migrate_spec *, struct migrate_stats *,
	    char **cause);
/* Store to data directory (verify: check only, write nothing). 0, or -1
 * with *cause. */
int	migrate_pull(const struct migrate_spec *, bool verify,
	    struct migrate_stats *, char **cause);
/* Counts the objects under prefix: index/ files, crates/ files, the
 * others (meta/, names/, audit/...), and all their bytes. */
int	migrate_count(struct event_base *, struct objstore *,
	    const char *prefix, struct migrate_stats *, char **cause);
/* One object, create-only, from a file outside any registry (tokens.json
 * at the store's top): 0 copied, 1 present, -1 with *cause. */
int	migrate_push_file(struct event_base *, struct objstore *,
	    const char *path, const char *key, char **cause);
/* The reverse: the object key into path, create-only (absent: 1). */
int	migrate_pull_file(struct event_base *, struct objstore *,
	    const char *key, const char *path, char **cause);

#endif
