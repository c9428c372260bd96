/* A toolchain mirror's life (open, close, reload, state) and each request
 * sorted to what serves it: snapshots (channel manifests, release
 * files), dated manifests, and immutable files (cached, filling, or
 * fetched once their SHA-256 is known). */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cache/usage.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"

static const char hit_hdrs[] =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "X-Crated-Cache: hit\r\n";

/* A request waiting for what its file needs first (a SHA-256, a dated
 * manifest, a .sha256 beside it). */
struct pend {
	struct toolchain	*tc;
	struct http_request	*req;
	struct dist_path	 dp;
	char			 rel[DIST_PATH_MAX];
	bool			 pin;
	char			 want[65];
	int			 res;
};

static const char *
kind_label(enum dist_kind k)
{
	switch (k) {
	case DIST_CHANNEL:
		return "kind=\"channel\"";
	case DIST_RELEASE:
		return "kind=\"release\"";
	case DIST_DATED_MANIFEST:
		return "kind=\"dated_manifest\"";
	case DIST_TARBALL:
		return "kind=\"tarball\"";
	case DIST_RUSTUP_INIT:
		return "kind=\"rustup_init\"";
	case DIST_OTHER:
		break;
	}
	return "kind=\"other\"";
}

/* Serves rel from the store when it is there: true. */
static bool
serve_cached(struct toolchain *tc, struct http_request *r, const char *rel,
    bool pin)
{
	struct stat	st;
	int		fd;

	if ((fd = store_open_file(tc->store, rel, &st)) < 0)
		return false;
	usage_used(tc->usage, rel, time(NULL));
	if (pin)
		usage_pin(tc->usage, rel);
	tc->hits++;
	tc_count(tc, METRIC_TOOLCHAIN_HITS_TOTAL, NULL, 1);
	tc_serve_fd(tc, r, fd, (uint64_t)st.st_size, rel, hit_hdrs);
	return true;
}

static struct pend *
pend_new(struct toolchain *tc, struct http_request *r,
    const struct dist_path *dp, const char *rel, bool pin)
{
	struct pend	*p = xcalloc(1, sizeof *p);

	p->tc = tc;
	p->req = r;
	p->dp = *dp;
	snprintf(p->rel, sizeof p->rel, "%s", rel);
	p->pin = pin;
	return p;
}

/* Serves p's file once it is known what it must be: from the store or a
 * fill begun meanwhile, else fetched (want: its SHA-256, or NULL). */
static void
fill_or_join(struct pend *p, const char *want)
{
	struct tc_fill	*f;

	if (serve_cached(p->tc, p->req, p->rel, p->pin))
		return;
	if ((f = tc_fill_find(p->tc, p->rel)) != NULL)
		tc_fill_join(f, p->req, p->pin);
	else
		tc_fill_start(p->tc, p->rel, want, p->pin, p->req);
}

static void
hashed(struct toolchain *tc, const char *hash, int status, const char *why,
    void *arg)
{
	struct pend	*p = arg;

	if (status == 200)
		fill_or_join(p, hash);
	else if (status == 404 && !tc->cfg->offline) {
		log_info("toolchains %s: %s: %s; passed through, not kept",
		    tc->name, p->rel, why);
		fill_or_join(p, NULL);
	} else if (status == 404)
		http_reply_error(p->req, 404, "%s is not in the offline"
		    " toolchain mirror `%s`", p->rel, tc->name);
	else
		http_reply_error(p->req, 502, "%s: its manifest could not be"
		    " had to check it: %s", p->rel, why);
	free(p);
}

/* The .sha256 beside an archived rustup-init, stored once the binary is
 * fetched (on a disk worker). */
static void
side_work(void *arg)
{
	struct pend	*p = arg;
	char		 side[DIST_PATH_MAX + 8], line[100];

	snprintf(side, sizeof side, "%s.sha256", p->rel);
	snprintf(line, sizeof line, "%s  rustup-init\n", p->want);
	p->res = store_write(p->tc->store, side, line, strlen(line), NULL,
	    NULL);
}

static void
side_done(void *arg)
{
	struct pend	*p = arg;
	char		 side[DIST_PATH_MAX + 8];

	snprintf(side, sizeof side, "%s.sha256", p->rel);
	if (p->res == 0)
		usage_added(p->tc->usage, side, 86, true);
	free(p);
}

static void
side_fetched(struct toolchain *tc, struct tc_pair_result *res, void *arg)
{
	struct pend	*p = arg;
	char		 hex[65];

	if (res->status == 200 && dist_sha256_parse(res->toml, res->toml_len,
	    hex) == 0) {
		memcpy(p->want, hex, 65);
		fill_or_join(p, hex);
		p->req = NULL;
		workers_submit(tc->srv->workers, side_work, side_done, p);
		return;
	}
	if (res->status == 404) {
		log_info("toolchains %s: %s has no .sha256 upstream; passed"
		    " through, not kept", tc->name, p->rel);
		fill_or_join(p, NULL);
	} else
		http_reply_error(p->req, 502, "%s: its .sha256 could not be"
		    " had to check it: %s", p->rel, res->why ? res->why :
		    "it holds no SHA-256");
	free(p);
}

/* A tarball, an archived rustup-init or another file. */
static void
serve_file(struct toolchain *tc, struct http_request *r,
    const struct dist_path *dp, const char *rel)
{
	bool		 pin = http_header(r, "X-Crated-Pin") != NULL;
	struct tc_fill	*f;
	char		 side[DIST_PATH_MAX + 8];

	if (serve_cached(tc, r, rel, pin))
		return;
	if ((f = tc_fill_find(tc, rel)) != NULL) {
		tc_fill_join(f, r, pin);
		return;
	}
	if (tc->cfg->offline) {
		tc_offline_miss(tc, rel);
		http_reply_error(r, 404, "%s is not in the offline toolchain"
		    " mirror `%s`", rel, tc->name);
		return;
	}
	if (dp->kind == DIST_TARBALL)
		tc_hash_lookup(tc, rel, dp->date, hashed, pend_new(tc, r, dp,
		    rel, pin));
	else if (dp->kind == DIST_RUSTUP_INIT) {
		snprintf(side, sizeof side, "%s.sha256", rel);
		tc_pair_fetch(tc, side, false, NULL, side_fetched, pend_new(tc,
		    r, dp, rel, pin));
	} else
		tc_fill_start(tc, rel, NULL, false, r);
}

static void
dated_ready(struct toolchain *tc, int status, const char *why, void *arg)
{
	struct pend	*p = arg;

	if (status == 200 && serve_cached(tc, p->req, p->rel, p->pin))
		;
	else if (status == 200 || status == 404)
		http_reply_error(p->req, 404, "%s: %s", p->rel, status == 200 ?
		    "not found" : why ? why : "the upstream has no such file");
	else
		http_reply_error(p->req, 502, "%s: %s", p->rel, why);
	free(p);
}

/* dist/DATE/channel-rust-C.toml or its .sha256: both stored at once. */
static void
serve_dated(struct toolchain *tc, struct http_request *r,
    const struct dist_path *dp, const char *rel)
{
	bool	pin = http_header(r, "X-Crated-Pin") != NULL;
	char	side[DIST_PATH_MAX + 8];

	snprintf(side, sizeof side, "%s.sha256", dp->toml);
	if (store_exists(tc->store, side) && serve_cached(tc, r, rel, pin))
		return;
	if (tc->cfg->offline) {
		tc_offline_miss(tc, rel);
		http_reply_error(r, 404, "%s is not in the offline toolchain"
		    " mirror `%s`", rel, tc->name);
		return;
	}
	tc->misses++;
	tc_count(tc, METRIC_TOOLCHAIN_MISSES_TOTAL, NULL, 1);
	tc_dated_get(tc, dp->toml, dated_ready, pend_new(tc, r, dp, rel, pin));
}

void
toolchain_request(struct toolchain *tc, struct http_request *r,
    const char *rel)
{
	struct dist_path	 dp;
	const char		*why;

	if (http_method(r) != HTTP_GET && http_method(r) != HTTP_HEAD) {
		http_reply_error(r, 405, "method %s is not allowed here",
		    http_method_name(r));
		return;
	}
	if (dist_path_parse(rel, &dp, &why) != 0) {
		http_reply_error(r, 404, "%s: %s", rel, why);
		return;
	}
	tc_count(tc, METRIC_TOOLCHAIN_REQUESTS_TOTAL, kind_label(dp.kind), 1);
	switch (dp.kind) {
	case DIST_CHANNEL:
	case DIST_RELEASE:
		tc_snapshot_serve(tc, &dp, rel, r);
		return;
	case DIST_DATED_MANIFEST:
		serve_dated(tc, r, &dp, rel);
		return;
	case DIST_TARBALL:
	case DIST_RUSTUP_INIT:
	case DIST_OTHER:
		serve_file(tc, r, &dp, rel);
		return;
	}
}

int
toolchain_open(struct server *srv, const struct toolchain_config *cfg,
    struct toolchain **out, char **cause)
{
	static const char *const	 dirs[] = { "dist", "rustup",
					    "snapshots" };
	struct toolchain		*tc = xcalloc(1, sizeof *tc);
	size_t				 nsnaps = 0;

	tc->srv = srv;
	tc->cfg = cfg;
	tc->name = cfg->name;
	tc->upstream = xstrdup(cfg->upstream);
	tc->queue_tail = &tc->queue;
	snprintf(tc->labels, sizeof tc->labels, "toolchain=\"%s\"", cfg->name);
	lru_init(&tc->manifests);
	lru_init(&tc->peers);
	if (store_open_with(srv->cfg->data_dir, cfg->name, dirs, 3, &tc->store,
	    cause) != 0 || usage_open_under(store_root(tc->store), dirs, 2,
	    &tc->usage, cause) != 0 || tc_snapshot_open(tc, cause) != 0) {
		toolchain_close(tc);
		return -1;
	}
	if (usage_damage(tc->usage) != NULL)
		log_warn("toolchains %s: %s", tc->name, usage_damage(tc->usage));
	tc_evict_open(tc);
	metrics_show(METRICS_TOOLCHAIN);
	for (struct snap *s = tc->snaps; s != NULL; s = s->next)
		nsnaps++;
	log_info("toolchains %s: mirror of %s%s: %zu files (%.1f MB) and %zu"
	    " snapshots cached", tc->name, tc->upstream, cfg->offline ?
	    " (offline)" : "", usage_files(tc->usage),
	    (double)usage_bytes(tc->usage) / 1e6, nsnaps);
	*out = tc;
	return 0;
}

void
toolchain_stop(struct toolchain *tc)
{
	if (tc == NULL)
		return;
	tc->stopping = true;
	tc_upstream_close(tc);
}

void
toolchain_close(struct toolchain *tc)
{
	if (tc == NULL)
		return;
	tc_reader_close_all(tc);
	tc_evict_close(tc);
	tc_snapshot_close(tc);
	tc_hash_close(tc);
	usage_close(tc->usage);
	store_close(tc->store);
	free(tc->upstream);
	free(tc->last_error);
	free(tc);
}

struct toolchain *
toolchain_find(struct server *srv, const char *name)
{
	for (size_t i = 0; i < srv->ntcs; i++)
		if (strcmp(srv->tcs[i]->name, name) == 0)
			return srv->tcs[i];
	return NULL;
}

const char *
toolchain_name(const struct toolchain *tc)
{
	return tc->name;
}

void
toolchain_reconfigured(struct toolchain *tc,
    const struct toolchain_config *cfg)
{
	tc->cfg = cfg;
	tc->name = cfg->name;
}
