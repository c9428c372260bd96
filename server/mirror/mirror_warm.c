/* Dependency warming: the index files a fetched one's dependencies will
 * ask for, fetched before cargo asks (the reasons are above warm()). It
 * hears of each fill read through m->fill_read. */
#include "server/mirror/mirror_int.h"

#include <stdlib.h>

#include "common/xmalloc.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/hot.h"

#define ASKED_MAX	8192		/* files whose reading is remembered */

static void	warm(struct mirror *, const struct wants *);

/*
 * What warming read each fetched index file with: the features and
 * requirements its dependents had asked for (index/deps.h). A file is
 * often cached before its last dependent arrives: clap 3, read as a root,
 * asks for indexmap ^1, and h2 asks for indexmap ^2 later. Without a
 * second reading the dependencies only indexmap 2 has (equivalent) would
 * wait for cargo to ask. Bounded: the least recently used go first, and a
 * file read before this process started is not read again.
 */
struct asked {
	struct lru_node	 node;
	char		*key;
	struct featreq	 feat;
};

static void
asked_remove(struct mirror *m, struct lru_node *n)
{
	struct asked	*a = lru_entry(n, struct asked, node);

	lru_remove(&m->asked, n);
	featreq_free(&a->feat);
	free(a->key);
	free(a);
}

static struct asked *
asked_find(struct mirror *m, const char *key)
{
	struct lru_node	*n = lru_find(&m->asked, key, lru_hash(key));

	if (n == NULL)
		return NULL;
	lru_touch(&m->asked, n);
	return lru_entry(n, struct asked, node);
}

/* Records that the file under key was read with feat. */
static void
asked_set(struct mirror *m, const char *key, const struct featreq *feat)
{
	struct asked	*a = asked_find(m, key);

	if (a == NULL) {
		if (m->asked.n >= ASKED_MAX)
			asked_remove(m, m->asked.oldest);
		a = xcalloc(1, sizeof *a);
		a->key = xstrdup(key);
		lru_add(&m->asked, &a->node, a->key, lru_hash(a->key));
	}
	featreq_merge(&a->feat, feat);
}

/* A second reading of a cached file, off the loop. */
struct reread {
	struct mirror		*m;
	struct hot_entry	*e;		/* a reference */
	struct featreq		 feat;
	struct wants		 wants;
};

static void
reread_work(void *arg)
{
	struct reread	*r = arg;

	index_file_wants(r->e->plain.body, r->e->plain.len, NULL, &r->feat,
	    &r->wants);
}

static void
reread_done(void *arg)
{
	struct reread	*r = arg;

	warm(r->m, &r->wants);
	wants_free(&r->wants);
	featreq_free(&r->feat);
	hot_unref(r->e);
	free(r);
}

/* A dependent wants feat of the cached file e: when that is more than
 * the file was read with, reads it again and warms what it adds. Ends:
 * what a file is read with only grows, and is bounded (REQS_MAX). */
static void
reread(struct mirror *m, struct hot_entry *e, const struct featreq *feat)
{
	struct asked	*a;
	struct reread	*r;

	if (e->negative || (a = asked_find(m, hot_entry_key(e))) == NULL ||
	    !featreq_merge(&a->feat, feat))
		return;
	r = xcalloc(1, sizeof *r);
	r->m = m;
	hot_ref(e);
	r->e = e;
	featreq_merge(&r->feat, &a->feat);
	workers_submit(m->srv->cpu, reread_work, reread_done, r);
}

/*
 * Dependency warming. Over HTTP/1.1 cargo keeps at most two
 * requests in flight, and even over HTTP/2 it learns what to ask next
 * only when an answer arrives, so a cold resolution is a chain of round
 * trips to the upstream as long as the dependency graph is deep. When an
 * index file arrives, the files of the dependencies cargo will look up
 * next (index/deps.h: the newest versions, the features dependents turn
 * on) are fetched at once in the background, so cargo finds them cached
 * or on their way; they in turn warm theirs. Only missing files, only
 * from this registry, behind every request someone waits for.
 */
static void
warm(struct mirror *m, const struct wants *w)
{
	size_t	started = 0, dropped = 0;

	/* With one slot there is none to spare: queued warming fetches
	 * would only pile up until someone asked. */
	if (mirror_backing_off(m) || m->srv->stopping ||
	    m->reg->cfg->upstream_concurrency < 2)
		return;
	for (size_t i = 0; i < w->n; i++) {
		const char		*name = w->v[i].name;
		char			 path[INDEX_PATH_MAX];
		struct hot_entry	*have;
		struct fill		*fl;

		if (crate_name_check(name, NULL) != 0)
			continue;
		crate_index_path(name, path);
		if ((fl = mirror_index_fill(m, path)) != NULL) {
			/* On its way: read it with these features too. */
			featreq_merge(&fl->feat, &w->v[i].feat);
			continue;
		}
		if ((have = mirror_index_lookup(m, path)) != NULL &&
		    mirror_index_fresh(m, have)) {
			reread(m, have, &w->v[i].feat);
			hot_unref(have);
			continue;
		}
		if (mirror_index_warm(m, name, path, have, &w->v[i].feat))
			started++;
		else {
			hot_unref(have);
			dropped++;
		}
	}
	if (started > 0)
		mirror_count(m, METRIC_PREFETCHED_INDEX_FILES_TOTAL, NULL,
		    (double)started);
	if (dropped > 0)
		mirror_count(m, METRIC_PREFETCH_DROPPED_TOTAL, NULL,
		    (double)dropped);
}

/* A fill was read (m->fill_read): remembers what with, and warms the
 * dependencies it wants. key NULL: its dependencies were not looked for. */
static void
fill_read(struct mirror *m, const char *key, const struct featreq *feat,
    const struct wants *wants)
{
	if (key != NULL)
		asked_set(m, key, feat);
	warm(m, wants);
}

void
mirror_stop_warming(struct mirror *m)
{
	if (m != NULL)
		mirror_admit_drop_warm(m, mirror_index_forget);
}

void
mirror_warm_open(struct mirror *m)
{
	m->fill_read = fill_read;
}

void
mirror_warm_close(struct mirror *m)
{
	while (m->asked.oldest != NULL)
		asked_remove(m, m->asked.oldest);
	lru_fini(&m->asked);
}
