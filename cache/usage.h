/* Cache accounting of a mirror: every cached .crate with its size, last
 * use and whether `crated prefetch` pinned it. Kept in memory and
 * persisted incrementally as an append-only journal, <store>/usage.log
 * (one line per event: "a SIZE USED PINNED REL", "u USED REL", "p REL",
 * "d REL"), compacted when it grows, so start-up reads one small file and
 * never walks the cache. A store without a journal (made by an older
 * crated) is walked once to start one; so is a store whose journal has a
 * line that does not parse (a torn write, garbage), since the crates that
 * line named would otherwise never be counted nor evicted. The pins are
 * also kept in <store>/pins, rewritten atomically by a flush, for such a
 * rescan. Eviction takes the least recently used crates that are not
 * pinned. Pure: no event loop. */
#ifndef CACHE_USAGE_H
#define CACHE_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct usage;

/* Loads (or starts) the journal of the store at root. 0, or -1 with
 * *cause (new). */
int		usage_open(const char *root, struct usage **out, char **cause);
/* usage_open for the files under other folders of root than crates/ (a
 * toolchain mirror's dist/ and rustup/); the journal and pins are the
 * same files in root. */
int		usage_open_under(const char *root, const char *const *tops,
		    size_t ntops, struct usage **out, char **cause);
/* What usage_open repaired (a damaged journal rescanned), for the
 * caller's log; NULL when nothing. Borrowed, valid until usage_close. */
const char	*usage_damage(const struct usage *);
/* Writes pending last-use times and closes. NULL is fine. */
void		usage_close(struct usage *);

void		usage_added(struct usage *, const char *rel, uint64_t size,
		    bool pinned);
void		usage_used(struct usage *, const char *rel, time_t now);
void		usage_pin(struct usage *, const char *rel);
void		usage_removed(struct usage *, const char *rel);
/* Appends the last-use times gathered since the last flush, rewrites the
 * pins file when a pin changed; compacts the journal when it has grown
 * past twice the live entries. */
int		usage_flush(struct usage *);

uint64_t	usage_bytes(const struct usage *);
/* Whether rel is a cached crate; its last use and pin when it is. */
bool		usage_lookup(const struct usage *, const char *rel,
		    time_t *used, bool *pinned);
size_t		usage_files(const struct usage *);
/* A copy of every cached crate's rel and last use, for a reader on
 * another thread (the pages' worker): a new array of n, each rel new. */
struct usage_use {
	char	*rel;
	time_t	 used;
};
size_t		usage_copy(const struct usage *, struct usage_use **out);
/* Changes to what usage_copy would give (crates added, used, removed)
 * so far: a reader copies again only when it moved. */
uint64_t	usage_generation(const struct usage *);
void		usage_copy_free(struct usage_use *, size_t n);

/* The crates to evict (new array of new strings, least recently used
 * first, never pinned ones) so that the total falls to target bytes; they
 * are taken out of the accounting as if removed. */
size_t		usage_victims(struct usage *, uint64_t target, char ***rels);
/* usage_victims that also spares every file keep(rel, arg) says to keep
 * (keep NULL: none). */
size_t		usage_victims_keep(struct usage *, uint64_t target,
		    bool (*keep)(const char *rel, void *arg), void *arg,
		    char ***rels);

#endif
