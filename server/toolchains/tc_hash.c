/*
 * The SHA-256 a tarball must have before it is kept: the one a manifest
 * of its date gives it. The manifests parsed lately are kept in memory
 * (at most KEEP_MAX of them, KEEP_BYTES in all, the least recently used
 * go): the snapshots' as they are fetched, the dated manifests'. A
 * tarball no kept manifest names makes its date's manifests be read:
 * first those on disk (the snapshots of that date, the dated manifests
 * stored), parsed on a worker; then, online, the dated manifests
 * dist/DATE/channel-rust-{stable,beta,nightly}.toml fetched (the one its
 * name suggests first: "-nightly-", "-beta-", else stable), each with its
 * .sha256, checked, stored for good and parsed. All the tarballs of one
 * date wait for one such lookup.
 */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/usage.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"

#define KEEP_MAX	64
#define KEEP_BYTES	(64u << 20)
#define LOAD_MAX	8		/* manifests of one date on disk */

static const char *const channels[] = { "stable", "beta", "nightly" };

struct mcache {
	struct lru_node		 node;
	char			*key;
	struct dist_manifest	*m;
	size_t			 size;
};

#define MCACHE(n)	lru_entry(n, struct mcache, node)

struct look_wait {
	char			 rel[DIST_PATH_MAX];
	tc_hash_cb		 cb;
	void			*arg;
	struct look_wait	*next;
};

struct tc_lookup {
	struct toolchain	*tc;
	char			 date[11];
	int			 order[3];	/* channels, in the order asked */
	int			 next;		/* of order */
	char			*why;		/* a fetch that failed */
	struct look_wait	*waiters;
	struct tc_lookup	*next_lookup;
};

/* Manifests of a date on disk, parsed on a worker. */
struct loadjob {
	struct tc_lookup	*lk;
	size_t			 n;
	struct {
		char			 key[DIST_PATH_MAX + 32];
		char			 path[SNAPSHOT_REL_MAX];
		bool			 snapshot;
		struct dist_manifest	*m;
	}			 items[LOAD_MAX];
};

struct dated_wait {
	tc_dated_cb		 cb;
	void			*arg;
	struct dated_wait	*next;
};

struct tc_dated {
	struct toolchain	*tc;
	char			 toml[DIST_PATH_MAX];
	char			 side[DIST_PATH_MAX + 8];
	struct dated_wait	*waiters;
	char			*sha, *body;
	size_t			 sha_len, body_len;
	struct dist_manifest	*m;
	int			 res;
	struct tc_dated		*next;
};

static void	fetch_next(struct tc_lookup *);

static void
mcache_drop(struct toolchain *tc, struct mcache *c)
{
	lru_remove(&tc->manifests, &c->node);
	tc->manifest_bytes -= c->size;
	dist_manifest_free(c->m);
	free(c->key);
	free(c);
}

void
tc_hash_keep(struct toolchain *tc, const char *key, struct dist_manifest *m)
{
	struct lru_node	*n = lru_find(&tc->manifests, key, lru_hash(key));
	struct mcache	*c;

	if (n != NULL)
		mcache_drop(tc, MCACHE(n));
	c = xcalloc(1, sizeof *c);
	c->key = xstrdup(key);
	c->m = m;
	c->size = dist_manifest_size(m);
	lru_add(&tc->manifests, &c->node, c->key, lru_hash(c->key));
	tc->manifest_bytes += c->size;
	while (tc->manifests.n > 1 && (tc->manifests.n > KEEP_MAX ||
	    tc->manifest_bytes > KEEP_BYTES))
		mcache_drop(tc, MCACHE(tc->manifests.oldest));
}

static bool
kept(struct toolchain *tc, const char *key)
{
	return lru_find(&tc->manifests, key, lru_hash(key)) != NULL;
}

/* The SHA-256 a kept manifest gives rel, or NULL. */
static const char *
kept_hash(struct toolchain *tc, const char *rel)
{
	const char	*h;

	for (struct lru_node *n = tc->manifests.newest; n != NULL;
	    n = n->older)
		if ((h = dist_manifest_hash(MCACHE(n)->m, rel)) != NULL) {
			lru_touch(&tc->manifests, n);
			return h;
		}
	return NULL;
}

/* Answers the waiters a kept manifest names; the rest stay (all of them
 * when last, with status and why). */
static void
answer(struct tc_lookup *lk, bool last, int status, const char *why)
{
	struct look_wait	*w, **pp = &lk->waiters;
	const char		*h;

	while ((w = *pp) != NULL) {
		if ((h = kept_hash(lk->tc, w->rel)) == NULL && !last) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->cb(lk->tc, h, h ? 200 : status, h ? NULL : why, w->arg);
		free(w);
	}
}

static void
lookup_end(struct tc_lookup *lk)
{
	struct tc_lookup	**pp;

	answer(lk, true, lk->why ? 502 : 404, lk->why ? lk->why :
	    "no manifest of its date names it");
	for (pp = &lk->tc->lookups; *pp != lk; pp = &(*pp)->next_lookup)
		;
	*pp = lk->next_lookup;
	free(lk->why);
	free(lk);
}

static void
load_work(void *arg)
{
	struct loadjob	*j = arg;
	struct store	*s = j->lk->tc->store;

	for (size_t i = 0; i < j->n; i++) {
		struct snapshot_info	 info;
		char			*buf = NULL, *why = NULL;
		size_t			 len = 0;
		int			 fd;

		if (j->items[i].snapshot) {
			if ((fd = store_open_file(s, j->items[i].path, NULL)) <
			    0)
				continue;
			if (snapshot_read(fd, &info, &why) == 0 &&
			    info.nparts == 2) {
				len = info.parts[1].len;
				buf = xmalloc(len + 1);
				if (pread(fd, buf, len, (off_t)info.parts[1].off)
				    != (ssize_t)len)
					len = 0;
			}
			close(fd);
		} else if (store_read(s, j->items[i].path, &buf, &len, NULL,
		    SNAPSHOT_PART_MAX) != 0)
			buf = NULL;
		if (buf != NULL && len > 0 && dist_manifest_parse(buf, len,
		    &j->items[i].m, &why) != 0)
			j->items[i].m = NULL;
		free(why);
		free(buf);
	}
}

static void
load_done(void *arg)
{
	struct loadjob		*j = arg;
	struct tc_lookup	*lk = j->lk;

	for (size_t i = 0; i < j->n; i++)
		if (j->items[i].m != NULL)
			tc_hash_keep(lk->tc, j->items[i].key, j->items[i].m);
	free(j);
	answer(lk, false, 0, NULL);
	if (lk->waiters == NULL)
		lookup_end(lk);
	else
		fetch_next(lk);
}

/* The manifests of lk's date on disk that are not kept: into a job. */
static void
load_disk(struct tc_lookup *lk)
{
	struct toolchain	*tc = lk->tc;
	struct loadjob		*j = xcalloc(1, sizeof *j);

	for (struct snap *s = tc->snaps; s != NULL && j->n < LOAD_MAX;
	    s = s->next) {
		if (s->cur == NULL || !s->pair || strcmp(s->cur->info.date,
		    lk->date) != 0)
			continue;
		snprintf(j->items[j->n].key, sizeof j->items[0].key,
		    "snap:%s:%s", s->rel, lk->date);
		if (kept(tc, j->items[j->n].key))
			continue;
		snapshot_rel(s->rel, j->items[j->n].path);
		j->items[j->n++].snapshot = true;
	}
	for (size_t c = 0; c < 3 && j->n < LOAD_MAX; c++) {
		char	path[DIST_PATH_MAX];

		snprintf(path, sizeof path, "dist/%s/channel-rust-%s.toml",
		    lk->date, channels[c]);
		snprintf(j->items[j->n].path, sizeof j->items[0].path, "%s",
		    path);
		snprintf(j->items[j->n].key, sizeof j->items[0].key,
		    "dated:%s", path);
		if (!kept(tc, j->items[j->n].key) && store_exists(tc->store,
		    j->items[j->n].path))
			j->n++;
	}
	if (j->n == 0) {
		free(j);
		fetch_next(lk);
		return;
	}
	j->lk = lk;
	workers_submit(tc->srv->cpu, load_work, load_done, j);
}

static void
dated_done(struct toolchain *tc, int status, const char *why, void *arg)
{
	struct tc_lookup	*lk = arg;

	if (status != 200 && status != 404 && lk->why == NULL)
		lk->why = xstrdup(why);
	answer(lk, false, 0, NULL);
	if (lk->waiters == NULL)
		lookup_end(lk);
	else
		fetch_next(lk);
}

/* The next dated manifest of lk's date from the upstream. */
static void
fetch_next(struct tc_lookup *lk)
{
	char	toml[DIST_PATH_MAX];

	if (lk->next >= 3 || lk->tc->cfg->offline || lk->tc->stopping) {
		lookup_end(lk);
		return;
	}
	snprintf(toml, sizeof toml, "dist/%s/channel-rust-%s.toml", lk->date,
	    channels[lk->order[lk->next++]]);
	tc_dated_get(lk->tc, toml, dated_done, lk);
}

/* The channels in the order a tarball's name suggests. */
static void
guess_order(const char *rel, int *order)
{
	char	pkg[DIST_CHANNEL_MAX], ver[DIST_CHANNEL_MAX];
	char	triple[DIST_PATH_MAX];
	int	first = 0;

	if (dist_tarball_name(strrchr(rel, '/') + 1, pkg, ver, triple) == 0)
		first = strcmp(ver, "nightly") == 0 ? 2 : strcmp(ver, "beta") ==
		    0 ? 1 : 0;
	order[0] = first;
	order[1] = first == 0 ? 1 : 0;
	order[2] = first == 2 ? 1 : 2;
}

void
tc_hash_lookup(struct toolchain *tc, const char *rel, const char *date,
    tc_hash_cb cb, void *arg)
{
	const char		*h = kept_hash(tc, rel);
	struct tc_lookup	*lk;
	struct look_wait	*w;

	if (h != NULL) {
		cb(tc, h, 200, NULL, arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	snprintf(w->rel, sizeof w->rel, "%s", rel);
	w->cb = cb;
	w->arg = arg;
	for (lk = tc->lookups; lk != NULL; lk = lk->next_lookup)
		if (strcmp(lk->date, date) == 0) {
			w->next = lk->waiters;
			lk->waiters = w;
			return;
		}
	lk = xcalloc(1, sizeof *lk);
	lk->tc = tc;
	snprintf(lk->date, sizeof lk->date, "%s", date);
	guess_order(rel, lk->order);
	lk->waiters = w;
	lk->next_lookup = tc->lookups;
	tc->lookups = lk;
	load_disk(lk);
}

/* Dated manifests. */

static void
dated_answer(struct tc_dated *d, int status, const char *why)
{
	struct tc_dated		**pp;
	struct dated_wait	 *w, *next;

	for (pp = &d->tc->dated; *pp != d; pp = &(*pp)->next)
		;
	*pp = d->next;
	for (w = d->waiters; w != NULL; w = next) {
		next = w->next;
		w->cb(d->tc, status, why, w->arg);
		free(w);
	}
	dist_manifest_free(d->m);
	free(d->sha);
	free(d->body);
	free(d);
}

static void
store_work(void *arg)
{
	struct tc_dated	*d = arg;
	char		*why = NULL;

	if (dist_manifest_parse(d->body, d->body_len, &d->m, &why) != 0)
		d->m = NULL;
	free(why);
	/* The .toml first: a .sha256 on disk means both are there. */
	d->res = store_write(d->tc->store, d->toml, d->body, d->body_len,
	    NULL, NULL);
	if (d->res == 0)
		d->res = store_write(d->tc->store, d->side, d->sha, d->sha_len,
		    NULL, NULL);
}

static void
store_done(void *arg)
{
	struct tc_dated		*d = arg;
	struct toolchain	*tc = d->tc;
	char			 key[DIST_PATH_MAX + 32], *why;

	if (d->res != 0) {
		why = xasprintf("%s: cannot store it: %s", d->toml,
		    strerror(-d->res));
		log_error("toolchains %s: %s", tc->name, why);
		dated_answer(d, 502, why);
		free(why);
		return;
	}
	usage_added(tc->usage, d->toml, d->body_len, false);
	usage_added(tc->usage, d->side, d->sha_len, false);
	log_info("toolchains %s: cached %s and its .sha256", tc->name,
	    d->toml);
	if (d->m != NULL) {
		snprintf(key, sizeof key, "dated:%s", d->toml);
		tc_hash_keep(tc, key, d->m);
		d->m = NULL;
	}
	tc_evict_soon(tc);
	dated_answer(d, 200, NULL);
}

static void
dated_fetched(struct toolchain *tc, struct tc_pair_result *res, void *arg)
{
	struct tc_dated	*d = arg;

	if (res->status != 200) {
		dated_answer(d, res->status == 404 ? 404 : 502, res->why);
		return;
	}
	d->sha = res->sha;
	d->sha_len = res->sha_len;
	d->body = res->toml;
	d->body_len = res->toml_len;
	res->sha = res->toml = NULL;
	workers_submit(tc->srv->workers, store_work, store_done, d);
}

void
tc_dated_get(struct toolchain *tc, const char *toml, tc_dated_cb cb,
    void *arg)
{
	struct tc_dated		*d;
	struct dated_wait	*w;
	char			 side[DIST_PATH_MAX + 8];

	snprintf(side, sizeof side, "%s.sha256", toml);
	if (store_exists(tc->store, side) && store_exists(tc->store, toml)) {
		cb(tc, 200, NULL, arg);
		return;
	}
	if (tc->cfg->offline) {
		cb(tc, 404, "not cached (offline)", arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	for (d = tc->dated; d != NULL; d = d->next)
		if (strcmp(d->toml, toml) == 0) {
			w->next = d->waiters;
			d->waiters = w;
			return;
		}
	d = xcalloc(1, sizeof *d);
	d->tc = tc;
	snprintf(d->toml, sizeof d->toml, "%s", toml);
	memcpy(d->side, side, sizeof d->side);
	d->waiters = w;
	d->next = tc->dated;
	tc->dated = d;
	tc_pair_fetch(tc, toml, true, NULL, dated_fetched, d);
}

void
tc_hash_close(struct toolchain *tc)
{
	while (tc->manifests.newest != NULL)
		mcache_drop(tc, MCACHE(tc->manifests.newest));
	lru_fini(&tc->manifests);
}
