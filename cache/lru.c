#include "cache/lru.h"

#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

void
lru_init(struct lru *l)
{
	memset(l, 0, sizeof *l);
	l->nbuckets = 1024;
	l->buckets = xcalloc(l->nbuckets, sizeof *l->buckets);
}

void
lru_fini(struct lru *l)
{
	free(l->buckets);
	l->buckets = NULL;
}

/* FNV-1a: short path-like keys, no adversary picks them that matters
 * (every key is a crate name a registry has or a bounded request). */
uint64_t
lru_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct lru_node *
lru_find(const struct lru *l, const char *key, uint64_t hash)
{
	struct lru_node	*n;

	for (n = l->buckets[hash & (l->nbuckets - 1)]; n != NULL; n = n->chain)
		if (n->hash == hash && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

static void
grow(struct lru *l)
{
	struct lru_node	**old = l->buckets;
	size_t		  n = l->nbuckets;

	l->nbuckets *= 2;
	l->buckets = xcalloc(l->nbuckets, sizeof *l->buckets);
	for (size_t i = 0; i < n; i++) {
		struct lru_node	*e, *next;

		for (e = old[i]; e != NULL; e = next) {
			size_t	b = e->hash & (l->nbuckets - 1);

			next = e->chain;
			e->chain = l->buckets[b];
			l->buckets[b] = e;
		}
	}
	free(old);
}

static void
unlink_list(struct lru *l, struct lru_node *n)
{
	if (n->newer != NULL)
		n->newer->older = n->older;
	else
		l->newest = n->older;
	if (n->older != NULL)
		n->older->newer = n->newer;
	else
		l->oldest = n->newer;
}

static void
push_newest(struct lru *l, struct lru_node *n)
{
	n->newer = NULL;
	n->older = l->newest;
	if (l->newest != NULL)
		l->newest->newer = n;
	l->newest = n;
	if (l->oldest == NULL)
		l->oldest = n;
}

void
lru_add(struct lru *l, struct lru_node *n, const char *key, uint64_t hash)
{
	size_t	b;

	if (l->n >= l->nbuckets)
		grow(l);
	n->key = key;
	n->hash = hash;
	b = hash & (l->nbuckets - 1);
	n->chain = l->buckets[b];
	l->buckets[b] = n;
	l->n++;
	push_newest(l, n);
}

void
lru_remove(struct lru *l, struct lru_node *n)
{
	struct lru_node	**pp = &l->buckets[n->hash & (l->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->chain;
	*pp = n->chain;
	unlink_list(l, n);
	n->chain = n->newer = n->older = NULL;
	l->n--;
}

void
lru_touch(struct lru *l, struct lru_node *n)
{
	if (l->newest == n)
		return;
	unlink_list(l, n);
	push_newest(l, n);
}
