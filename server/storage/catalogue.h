/* The catalogue of a store-backed hosted registry (issue 26): a replica
 * reads through its disk only the files it is asked for (replica.h), so
 * what walks the local files (`cargo search`, the descriptions and owners
 * in meta/, the crate-name collision list) would miss crates published on
 * other replicas. The catalogue lists the store's R/index/ and R/meta/
 * (paged) at start and then every interval seconds, brings every object
 * whose ETag differs from the one last synced up to date through
 * replica_sync (its GET, checks, write and changed callback; at most 8
 * at once, one listing page at a time, so nothing queues past a page),
 * removes the local copies the store no longer has (each confirmed by a
 * 404 of its own GET, so a listing that predates a publish removes
 * nothing), and tells its owner every crate name seen in R/index/ (for
 * the collision rule's early refusal; the store's create-only name
 * reservations, R/names/, decide at each new crate's publish anyway, so
 * they are not listed: that would cost a LIST per 1,000 names per round
 * and their keys, canonical, lose the spelling that tells a new version
 * of a removed crate from a look-alike).
 *
 * A listing that fails ends the round: the local state stays as it is,
 * logged once until a round completes again. Touched only from the event
 * loop; calls up only through the name callback. */
#ifndef SERVER_STORAGE_CATALOGUE_H
#define SERVER_STORAGE_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct event_base;
struct objstore;
struct replica;
struct store;
struct workers;

/* A crate name the store has an index object for (lowercase, as in its
 * path). */
typedef void	(*catalogue_name_cb)(const char *name, void *arg);

struct catalogue_params {
	const char		*registry;	/* for logs and metrics */
	struct event_base	*base;
	struct objstore		*objstore;
	const char		*objprefix;	/* "R/" or "" */
	struct store		*store;		/* the local copies */
	struct workers		*disk;		/* the walk of the copies */
	struct replica		*replica;
	int			 interval;	/* seconds between rounds */
	catalogue_name_cb	 name;
	void			*arg;
};

struct catalogue_stats {
	time_t			 last_complete;	/* 0: never */
	time_t			 last_round;	/* 0: never ended */
	bool			 running;
	bool			 failing;	/* the last round failed */
	size_t			 objects;	/* index and meta objects */
	unsigned long long	 listed, fetched, removed, failures;
};

/* Starts the first round at once (on the loop: after this returns). */
struct catalogue	*catalogue_start(const struct catalogue_params *);
/* No new request from now on (the server is stopping). */
void			 catalogue_stop(struct catalogue *);
/* After the loop's work has ended (upstream client and workers gone).
 * NULL is fine. */
void			 catalogue_free(struct catalogue *);
void			 catalogue_set_interval(struct catalogue *, int);
void			 catalogue_stats(const struct catalogue *,
			     struct catalogue_stats *);

#endif
