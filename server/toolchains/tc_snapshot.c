/*
 * Snapshots of the mutable files: a channel manifest with its .sha256
 * (a pair), or a release file. A snapshot is fetched whole (tc_pair.c:
 * both, checked against each other), written as one file
 * (cache/snapshot.h) and swapped in as one: a client is always served
 * the two halves of one snapshot.
 *
 * Freshness: within manifest_ttl a snapshot is served as it is; past it,
 * the request that needs it revalidates it (one upstream request for all
 * those waiting: the .sha256 alone when it still names the manifest we
 * have) and then gets the result. When the upstream fails (no answer,
 * 5xx), the last snapshot is served (X-Crated-Stale) for as long as it
 * fails: never a 5xx while a copy exists. A 404 passes through (rustup's
 * fallbacks depend on it); the snapshot stays on disk.
 *
 * rustup asks for the .sha256, then the .toml. Only the .sha256 (or a
 * release file) revalidates; the .toml is served from the generation of
 * the .sha256 its client (by address) was last given, when it came
 * within PEER_SECONDS and that generation is still held (the current or
 * the one before), so a swap between a client's two requests does not
 * give it a .toml its .sha256 does not name. A .toml asked for by a
 * client that did not ask for its .sha256 revalidates as a .sha256 does.
 */
#include "server/toolchains/tc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"

#define PEER_SECONDS	120
#define PEER_MAX	4096

/* The generation of a snapshot whose .sha256 a client was last given. */
struct peer {
	struct lru_node	 node;
	char		*key;		/* "ADDRESS REL" */
	unsigned	 gen;
	time_t		 at;
};

#define PEER(n)	lru_entry(n, struct peer, node)

struct snap_wait {
	struct http_request	*req;
	char			 rel[DIST_PATH_MAX];
	struct snap_wait	*next;
};

/* A fetched snapshot being written and reopened, on a worker. */
struct snapjob {
	struct snap		*s;
	char			*sha, *toml;
	size_t			 sha_len, toml_len;
	struct dist_manifest	*m;
	struct snapshot_info	 info;
	int			 fd;
	int			 res;
	char			*why;
};

static void
gen_drop(void *arg)
{
	struct snapgen	*g = arg;

	if (g != NULL && --g->refs == 0) {
		close(g->fd);
		free(g);
	}
}

static struct snapgen *
gen_new(struct toolchain *tc, int fd, const struct snapshot_info *info)
{
	struct snapgen	*g = xcalloc(1, sizeof *g);

	g->fd = fd;
	g->info = *info;
	g->gen = ++tc->gens;
	g->refs = 1;
	return g;
}

static struct snap *
snap_find(struct toolchain *tc, const char *rel)
{
	for (struct snap *s = tc->snaps; s != NULL; s = s->next)
		if (strcmp(s->rel, rel) == 0)
			return s;
	return NULL;
}

static struct snap *
snap_get(struct toolchain *tc, const char *rel, bool pair)
{
	struct snap	*s = snap_find(tc, rel);

	if (s != NULL)
		return s;
	s = xcalloc(1, sizeof *s);
	s->tc = tc;
	snprintf(s->rel, sizeof s->rel, "%s", rel);
	s->pair = pair;
	s->next = tc->snaps;
	tc->snaps = s;
	return s;
}

/* A snapshot that holds nothing and nobody waits for goes. */
static void
snap_gc(struct snap *s)
{
	struct snap	**pp;

	if (s->cur != NULL || s->refreshing || s->waiters != NULL)
		return;
	for (pp = &s->tc->snaps; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	free(s);
}

/* The client address of r, without its port. */
static void
peer_key(struct http_request *r, const char *rel, char *out, size_t size)
{
	const char	*p = http_peer(r), *colon = strrchr(p, ':');
	size_t		 n = colon != NULL && colon != p ? (size_t)(colon - p) :
			    strlen(p);

	snprintf(out, size, "%.*s %s", (int)n, p, rel);
}

static void
peer_note(struct toolchain *tc, struct http_request *r, const char *rel,
    unsigned gen)
{
	char		 key[DIST_PATH_MAX + 80];
	struct lru_node	*n;
	struct peer	*p;

	peer_key(r, rel, key, sizeof key);
	if ((n = lru_find(&tc->peers, key, lru_hash(key))) != NULL) {
		p = PEER(n);
		lru_touch(&tc->peers, n);
	} else {
		if (tc->peers.n >= PEER_MAX) {
			p = PEER(tc->peers.oldest);
			lru_remove(&tc->peers, &p->node);
			free(p->key);
			free(p);
		}
		p = xcalloc(1, sizeof *p);
		p->key = xstrdup(key);
		lru_add(&tc->peers, &p->node, p->key, lru_hash(p->key));
	}
	p->gen = gen;
	p->at = time(NULL);
}

/* The generation of s whose .sha256 r's client was given lately, if
 * still held; else NULL. */
static struct snapgen *
peer_gen(struct snap *s, struct http_request *r)
{
	char		 key[DIST_PATH_MAX + 80];
	struct lru_node	*n;
	struct peer	*p;

	peer_key(r, s->rel, key, sizeof key);
	if ((n = lru_find(&s->tc->peers, key, lru_hash(key))) == NULL)
		return NULL;
	p = PEER(n);
	if (time(NULL) - p->at > PEER_SECONDS)
		return NULL;
	if (s->cur != NULL && s->cur->gen == p->gen)
		return s->cur;
	if (s->prev != NULL && s->prev->gen == p->gen)
		return s->prev;
	return NULL;
}

/* Header text safe in a header line: printable, at most 200 bytes. */
static void
header_safe(const char *in, char *out, size_t size)
{
	size_t	i;

	for (i = 0; in[i] != '\0' && i + 1 < size && i < 200; i++)
		out[i] = in[i] >= ' ' && in[i] < 0x7f ? in[i] : ' ';
	out[i] = '\0';
}

/* Serves rel (a part of g) to r; state: "hit", "miss", "revalidated",
 * "stale" (then why). */
static void
serve_gen(struct snap *s, struct snapgen *g, const char *rel,
    struct http_request *r, const char *state, const char *why)
{
	const struct snapshot_part	*part = snapshot_part(&g->info, rel);
	char				 hdrs[400], reason[256];

	if (part == NULL) {
		http_reply_error(r, 404, "%s: not part of the snapshot of %s",
		    rel, s->rel);
		return;
	}
	if (why != NULL)
		header_safe(why, reason, sizeof reason);
	snprintf(hdrs, sizeof hdrs, "Cache-Control: no-cache\r\n"
	    "X-Crated-Cache: %s\r\n%s%s%s", state, why ? "X-Crated-Stale: " :
	    "", why ? reason : "", why ? "\r\n" : "");
	if (s->pair && strcmp(rel, s->rel) != 0)
		peer_note(s->tc, r, s->rel, g->gen);
	g->refs++;
	tc_serve_part(s->tc, r, g->fd, part->off, part->len, rel, hdrs,
	    gen_drop, g);
}

/* Serves every waiter of s from g, or answers them status. */
static void
wake(struct snap *s, struct snapgen *g, const char *state, const char *why,
    int status)
{
	struct snap_wait	*w, *next;

	for (w = s->waiters; w != NULL; w = next) {
		next = w->next;
		if (g != NULL)
			serve_gen(s, g, w->rel, w->req, state, why);
		else if (status == 404)
			http_reply_error(w->req, 404, "%s: the upstream has no"
			    " such file", w->rel);
		else
			http_reply_error(w->req, status, "%s: not cached, and"
			    " the upstream failed: %s", w->rel, why);
		free(w);
	}
	s->waiters = NULL;
}

static void
swap_in(struct snap *s, struct snapgen *g)
{
	gen_drop(s->prev);
	s->prev = s->cur;
	s->cur = g;
	s->validated = time(NULL);
}

static void
job_work(void *arg)
{
	struct snapjob	*j = arg;
	struct snap	*s = j->s;
	const void	*bodies[2] = { j->sha, j->toml };
	size_t		 lens[2] = { j->sha_len, j->toml_len };
	char		 path[SNAPSHOT_REL_MAX];

	if (s->pair && dist_manifest_parse(j->toml, j->toml_len, &j->m,
	    &j->why) == 0) {
		memcpy(j->info.date, j->m->date, 11);
		snprintf(j->info.version, sizeof j->info.version, "%s",
		    j->m->version ? j->m->version : "");
	}
	j->info.fetched = (long long)time(NULL);
	j->info.nparts = s->pair ? 2 : 1;
	snprintf(j->info.parts[0].path, DIST_PATH_MAX, s->pair ? "%s.sha256" :
	    "%s", s->rel);
	snprintf(j->info.parts[1].path, DIST_PATH_MAX, "%s", s->rel);
	j->res = snapshot_write(s->tc->store, s->rel, &j->info, s->pair ?
	    bodies : bodies + 1, s->pair ? lens : lens + 1);
	j->fd = -1;
	snapshot_rel(s->rel, path);
	if (j->res == 0 && (j->fd = store_open_file(s->tc->store, path,
	    NULL)) < 0)
		j->res = j->fd;
}

/* A fetched snapshot could not be kept: served from memory once. */
static void
serve_unkept(struct snapjob *j)
{
	struct snap_wait	*w, *next;

	for (w = j->s->waiters; w != NULL; w = next) {
		next = w->next;
		if (j->s->pair && strcmp(w->rel, j->s->rel) != 0)
			http_reply(w->req, 200, tc_ctype(w->rel),
			    "Cache-Control: no-cache\r\nX-Crated-Cache: miss\r\n",
			    j->sha, j->sha_len);
		else
			http_reply(w->req, 200, tc_ctype(w->rel),
			    "Cache-Control: no-cache\r\nX-Crated-Cache: miss\r\n",
			    j->toml, j->toml_len);
		free(w);
	}
	j->s->waiters = NULL;
}

static void
job_done(void *arg)
{
	struct snapjob		*j = arg;
	struct snap		*s = j->s;
	struct toolchain	*tc = s->tc;
	char			 key[DIST_PATH_MAX + 32];

	if (j->why != NULL)
		log_warn("toolchains %s: %s is served as the upstream sent it,"
		    " but crated cannot read it as a manifest: %s", tc->name,
		    s->rel, j->why);
	if (j->res != 0) {
		log_error("toolchains %s: keeping the snapshot of %s: %s",
		    tc->name, s->rel, strerror(-j->res));
		serve_unkept(j);
	} else {
		swap_in(s, gen_new(tc, j->fd, &j->info));
		log_info("toolchains %s: %s updated (date %s%s%s)", tc->name,
		    s->rel, j->info.date[0] ? j->info.date : "none",
		    j->info.version[0] ? ", " : "", j->info.version);
		if (j->m != NULL) {
			snprintf(key, sizeof key, "snap:%s:%s", s->rel,
			    j->info.date);
			tc_hash_keep(tc, key, j->m);
			j->m = NULL;
		}
		wake(s, s->cur, "miss", NULL, 0);
	}
	dist_manifest_free(j->m);
	s->refreshing = false;
	free(j->sha);
	free(j->toml);
	free(j->why);
	free(j);
	snap_gc(s);
}

/* The upstream's word on s: a new snapshot, the same one, none, or a
 * failure. */
static void
refreshed(struct toolchain *tc, struct tc_pair_result *res, void *arg)
{
	struct snap	*s = arg;
	struct snapjob	*j;

	if (res->status == 200) {
		j = xcalloc(1, sizeof *j);
		j->s = s;
		j->sha = res->sha;
		j->sha_len = res->sha_len;
		j->toml = res->toml;
		j->toml_len = res->toml_len;
		res->sha = res->toml = NULL;
		workers_submit(tc->srv->workers, job_work, job_done, j);
		return;
	}
	s->refreshing = false;
	if (res->status == 304) {
		s->validated = time(NULL);
		futimens(s->cur->fd, NULL);
		wake(s, s->cur, "revalidated", NULL, 0);
	} else if (res->status == 404)
		wake(s, NULL, NULL, NULL, 404);
	else if (s->cur != NULL) {
		tc->stale++;
		tc_count(tc, METRIC_TOOLCHAIN_STALE_SERVES_TOTAL, NULL, 1);
		log_every(&tc->stale_log, TC_LOG_EVERY, LOG_WARN,
		    "toolchains %s: serving the snapshot of %s from %ld s ago:"
		    " %s", tc->name, s->rel, (long)(time(NULL) -
		    s->validated), res->why);
		wake(s, s->cur, "stale", res->why, 0);
	} else
		wake(s, NULL, NULL, res->why, 502);
	snap_gc(s);
}

/* r waits for s to be revalidated (one upstream request for all). */
static void
refresh(struct snap *s, const char *rel, struct http_request *r)
{
	struct snap_wait	*w = xcalloc(1, sizeof *w);

	snprintf(w->rel, sizeof w->rel, "%s", rel);
	w->req = r;
	w->next = s->waiters;
	s->waiters = w;
	s->tc->misses++;
	tc_count(s->tc, METRIC_TOOLCHAIN_MISSES_TOTAL, NULL, 1);
	if (s->refreshing)
		return;
	s->refreshing = true;
	tc_pair_fetch(s->tc, s->rel, s->pair, s->cur != NULL ?
	    s->cur->info.parts[s->cur->info.nparts - 1].sha256 : NULL,
	    refreshed, s);
}

void
tc_snapshot_serve(struct toolchain *tc, const struct dist_path *dp,
    const char *rel, struct http_request *r)
{
	struct snap	*s = snap_get(tc, dp->toml, dp->kind == DIST_CHANNEL);
	struct snapgen	*g;
	bool		 fresh = s->cur != NULL && time(NULL) - s->validated <
			    tc->cfg->manifest_ttl;

	if (tc->cfg->offline) {
		if (s->cur != NULL) {
			tc->hits++;
			tc_count(tc, METRIC_TOOLCHAIN_HITS_TOTAL, NULL, 1);
			serve_gen(s, s->cur, rel, r, "hit", NULL);
		} else {
			tc_offline_miss(tc, rel);
			http_reply_error(r, 404, "%s is not in the offline"
			    " toolchain mirror `%s`", rel, tc->name);
		}
		snap_gc(s);
		return;
	}
	g = s->pair && !dp->sha256 ? peer_gen(s, r) : NULL;
	if (g == NULL && fresh)
		g = s->cur;
	if (g == NULL) {
		refresh(s, rel, r);
		return;
	}
	tc->hits++;
	tc_count(tc, METRIC_TOOLCHAIN_HITS_TOTAL, NULL, 1);
	serve_gen(s, g, rel, r, "hit", NULL);
}

/* One snapshot file found at start (path under snapshots/). */
static int
load_one(const char *path, const struct stat *st, void *arg)
{
	struct toolchain	*tc = arg;
	struct snapshot_info	 info;
	struct dist_path	 dp;
	struct snap		*s;
	char			 rel[SNAPSHOT_REL_MAX], *cause = NULL;
	const char		*why;
	int			 fd;

	snprintf(rel, sizeof rel, "snapshots/%s", path);
	if (dist_path_parse(path, &dp, &why) != 0 || (dp.kind != DIST_CHANNEL &&
	    dp.kind != DIST_RELEASE) || dp.sha256)
		return 0;
	if ((fd = store_open_file(tc->store, rel, NULL)) < 0)
		return 0;
	if (snapshot_read(fd, &info, &cause) != 0 || snapshot_part(&info,
	    path) == NULL) {
		log_warn("toolchains %s: %s/%s is no snapshot (%s): removed",
		    tc->name, store_root(tc->store), rel, cause ? cause :
		    "not its file");
		free(cause);
		close(fd);
		store_unlink(tc->store, rel);
		return 0;
	}
	s = snap_get(tc, path, dp.kind == DIST_CHANNEL);
	s->cur = gen_new(tc, fd, &info);
	s->validated = st->st_mtime;
	return 0;
}

int
tc_snapshot_open(struct toolchain *tc, char **cause)
{
	store_walk(tc->store, "snapshots", load_one, tc);
	return 0;
}

void
tc_snapshot_close(struct toolchain *tc)
{
	struct snap	*s;

	while ((s = tc->snaps) != NULL) {
		tc->snaps = s->next;
		wake(s, NULL, NULL, "crated is shutting down", 503);
		gen_drop(s->cur);
		gen_drop(s->prev);
		free(s);
	}
	while (tc->peers.newest != NULL) {
		struct peer	*p = PEER(tc->peers.newest);

		lru_remove(&tc->peers, &p->node);
		free(p->key);
		free(p);
	}
	lru_fini(&tc->peers);
}
