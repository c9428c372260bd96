/* cache/lru.c: the hash table with a recency list under the memory cache
 * and the open-file cache. */
#include <stdio.h>
#include <string.h>

#include "cache/lru.h"
#include "tests/tap.h"

struct item {
	char		key[32];
	struct lru_node	node;
};

#define N	5000	/* past the first growth of the buckets (1024) */

static struct item	items[N];

static const char *
oldest_key(const struct lru *l)
{
	return l->oldest ? lru_entry(l->oldest, struct item, node)->key : NULL;
}

static const char *
newest_key(const struct lru *l)
{
	return l->newest ? lru_entry(l->newest, struct item, node)->key : NULL;
}

int
main(void)
{
	struct lru	 l;
	struct lru_node	*n;
	size_t		 found = 0, walked = 0;

	lru_init(&l);
	ok(lru_find(&l, "x", lru_hash("x")) == NULL, "empty: no x");
	ok(l.newest == NULL && l.oldest == NULL, "empty: no ends");

	for (size_t i = 0; i < N; i++) {
		snprintf(items[i].key, sizeof items[i].key, "r%zu/se/rd/k%zu",
		    i % 4, i);
		lru_add(&l, &items[i].node, items[i].key,
		    lru_hash(items[i].key));
	}
	ok(l.n == N, "%d entries", N);
	ok(l.nbuckets >= N, "buckets grew to %zu", l.nbuckets);
	for (size_t i = 0; i < N; i++) {
		n = lru_find(&l, items[i].key, lru_hash(items[i].key));
		found += n == &items[i].node;
	}
	ok(found == N, "every key found after growth (%zu)", found);
	is_str(oldest_key(&l), "r0/se/rd/k0", "first added is oldest");
	is_str(newest_key(&l), items[N - 1].key, "last added is newest");
	ok(lru_find(&l, "r0/se/rd/k5000", lru_hash("r0/se/rd/k5000")) == NULL,
	    "a key never added is not found");

	lru_touch(&l, &items[0].node);
	is_str(newest_key(&l), "r0/se/rd/k0", "touched is newest");
	is_str(oldest_key(&l), "r1/se/rd/k1", "next oldest moves up");
	lru_touch(&l, &items[0].node);
	is_str(newest_key(&l), "r0/se/rd/k0", "touching the newest keeps it");

	lru_remove(&l, &items[1].node);
	ok(l.n == N - 1, "one removed");
	ok(lru_find(&l, "r1/se/rd/k1", lru_hash("r1/se/rd/k1")) == NULL,
	    "removed key not found");
	is_str(oldest_key(&l), "r2/se/rd/k2", "removing the oldest");
	lru_remove(&l, &items[0].node);
	is_str(newest_key(&l), items[N - 1].key, "removing the newest");
	lru_remove(&l, &items[100].node);
	ok(lru_find(&l, items[101].key, lru_hash(items[101].key)) ==
	    &items[101].node, "neighbours of a removed entry stay");

	for (n = l.newest; n != NULL && walked <= N; n = n->older)
		walked++;
	ok(walked == l.n, "the list holds every entry once (%zu)", walked);
	for (n = l.oldest, walked = 0; n != NULL && walked <= N; n = n->newer)
		walked++;
	ok(walked == l.n, "and links both ways (%zu)", walked);

	lru_add(&l, &items[1].node, items[1].key, lru_hash(items[1].key));
	is_str(newest_key(&l), "r1/se/rd/k1", "added again, as newest");
	while (l.oldest != NULL)
		lru_remove(&l, l.oldest);
	ok(l.n == 0 && l.newest == NULL, "emptied from the old end");
	lru_fini(&l);
	return done_testing();
}
