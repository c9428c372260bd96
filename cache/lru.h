/* A string-keyed hash table whose entries also form a list from most to
 * least recently used: the memory cache of index files (server/files/hot.c) and
 * the cache of open index files (server/files/openfiles.c) are both one. The
 * table is intrusive: an entry embeds a struct lru_node and owns its key;
 * the table allocates nothing but its buckets. Not thread-safe. */
#ifndef CACHE_LRU_H
#define CACHE_LRU_H

#include <stddef.h>
#include <stdint.h>

struct lru_node {
	const char	*key;		/* the entry's own, set by lru_add */
	uint64_t	 hash;
	struct lru_node	*chain;		/* next in its bucket */
	struct lru_node	*newer, *older;
};

struct lru {
	struct lru_node	**buckets;
	size_t		  nbuckets;	/* a power of two */
	size_t		  n;
	struct lru_node	 *newest, *oldest;
};

/* The entry of type T whose member M is node n. */
#define lru_entry(n, T, M) \
	((T *)(void *)((char *)(n) - offsetof(T, M)))

void		 lru_init(struct lru *);
/* Frees the buckets; the entries are the caller's (empty it first). */
void		 lru_fini(struct lru *);
uint64_t	 lru_hash(const char *key);
/* The node for key (hash: lru_hash(key)), or NULL; does not reorder. */
struct lru_node	*lru_find(const struct lru *, const char *key, uint64_t hash);
/* Adds n under key (which n's entry owns and keeps) as the newest. key
 * must not be in the table. */
void		 lru_add(struct lru *, struct lru_node *n, const char *key,
		     uint64_t hash);
void		 lru_remove(struct lru *, struct lru_node *n);
/* Makes n the most recently used. */
void		 lru_touch(struct lru *, struct lru_node *n);

#endif
