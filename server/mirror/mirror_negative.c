/* Negative entries: the upstream's 404s, remembered in memory only (the
 * reasons are beside struct neg, server/mirror/mirror_int.h). */
#include "server/mirror/mirror_int.h"

#include <stdlib.h>
#include <time.h>

#include "common/xmalloc.h"
#include "server/core/state.h"

#define NEG_MAX		65536		/* upstream 404s remembered, at most */

void
mirror_neg_drop(struct mirror *m, struct neg *ng)
{
	lru_remove(&m->negs, &ng->node);
	free(ng->path);
	free(ng);
}

void
mirror_neg_expire(struct mirror *m)
{
	time_t	now = time(NULL);

	while (m->negs.oldest != NULL && now - NEG(m->negs.oldest)->fetched >=
	    m->reg->cfg->negative_ttl)
		mirror_neg_drop(m, NEG(m->negs.oldest));
}

struct neg *
mirror_neg_find(struct mirror *m, const char *path)
{
	struct lru_node	*n;

	mirror_neg_expire(m);
	n = lru_find(&m->negs, path, lru_hash(path));
	return n != NULL ? NEG(n) : NULL;
}

void
mirror_neg_add(struct mirror *m, const char *path)
{
	struct neg	*ng = mirror_neg_find(m, path);

	if (ng != NULL) {
		ng->fetched = time(NULL);
		lru_touch(&m->negs, &ng->node);
		return;
	}
	if (m->reg->cfg->negative_ttl <= 0)
		return;
	if (m->negs.n >= NEG_MAX)
		mirror_neg_drop(m, NEG(m->negs.oldest));
	ng = xcalloc(1, sizeof *ng);
	ng->path = xstrdup(path);
	ng->fetched = time(NULL);
	lru_add(&m->negs, &ng->node, ng->path, lru_hash(ng->path));
}

void
mirror_neg_remove(struct mirror *m, const char *path)
{
	struct lru_node	*n = lru_find(&m->negs, path, lru_hash(path));

	if (n != NULL)
		mirror_neg_drop(m, NEG(n));
}
