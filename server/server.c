#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/workers.h"
#include "server/files/files.h"
#include "server/files/hot.h"
#include "server/files/openfiles.h"
#include "server/files/policed.h"
#include "server/handlers/auth.h"
#include "server/handlers/hosted.h"
#include "server/handlers/ops.h"
#include "server/handlers/registry.h"
#include "server/handlers/relay.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/http/tls.h"
#include "server/mirror/mirror.h"
#include "server/mirror/probe.h"
#include "server/policy/polserve.h"
#include "server/storage/objstore.h"
#include "server/storage/catalogue.h"
#include "server/storage/replica.h"
#include "server/storage/tokensync.h"
#include "server/toolchains/toolchain.h"
#include "server/upstream/upstream.h"
#include "server/web/web.h"

#define DRAIN_SECONDS		10
#define TOKENS_WAIT		5
#define STORAGE_WATCH_SECONDS	15	/* a store asked when idle this long */

static const char crate_cache_control[] =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "X-Crated-Cache: hit\r\n";

/* A .crate: from the store (files_crate, kept open), else a mirror
 * fetches it. */
static void
serve_download(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	char	rel[STORE_PATH_MAX];
	bool	pin = http_header(r, "X-Crated-Pin") != NULL;

	/* A denied version is refused before anything is read or asked. */
	if (polserve_refuse_download(reg, r, rt->name, rt->vers))
		return;
	if (reg->kind == REGISTRY_HOSTED && hosted_unindexed(reg->hosted,
	    rt->name, rt->vers)) {
		/* Being published: not a version until its index line is. */
		http_reply_error(r, 404, "crate `%s` version %s is not in"
		    " registry `%s`", rt->name, rt->vers, reg->name);
		return;
	}
	store_crate_rel(rt->name, rt->vers, rel);
	if (files_crate(reg, r, rel, crate_cache_control) == 0) {
		if (reg->mirror != NULL)
			mirror_served_crate(reg->mirror, rel, pin);
		return;
	}
	if (reg->kind == REGISTRY_MIRROR) {
		mirror_download(reg, r, rt);
		return;
	}
	if (files_crate_from_store(reg, r, rt->name, rt->vers,
	    crate_cache_control))
		return;
	http_reply_error(r, 404, "crate `%s` version %s is not in registry"
	    " `%s`", rt->name, rt->vers, reg->name);
}

static bool
method_ok(struct http_request *r, enum http_method a, enum http_method b)
{
	enum http_method	m = http_method(r);

	if (m == a || m == b)
		return true;
	http_reply_error(r, 405, "method %s is not allowed here",
	    http_method_name(r));
	return false;
}

static bool
read_method(struct http_request *r)
{
	return method_ok(r, HTTP_GET, HTTP_HEAD);
}

static const char *
route_name(enum route_kind k)
{
	static const char	*names[] = {
		[ROUTE_NONE] = "none", [ROUTE_HEALTH] = "health",
		[ROUTE_READY] = "ready", [ROUTE_METRICS] = "metrics",
		[ROUTE_REGISTRIES] = "registries", [ROUTE_PURGE] = "purge",
		[ROUTE_CONFIG] = "config",
		[ROUTE_INDEX] = "index", [ROUTE_DOWNLOAD] = "download",
		[ROUTE_PUBLISH] = "publish", [ROUTE_YANK] = "yank",
		[ROUTE_UNYANK] = "unyank", [ROUTE_OWNERS] = "owners",
		[ROUTE_SEARCH] = "search", [ROUTE_ME] = "me",
		[ROUTE_WEB_HOME] = "web-home", [ROUTE_WEB_OPS] = "web-ops",
		[ROUTE_WEB_SIGNIN] = "web-signin",
		[ROUTE_WEB_SIGNOUT] = "web-signout",
		[ROUTE_WEB_STATIC] = "web-static",
		[ROUTE_WEB_REDIRECT] = "web-redirect",
		[ROUTE_WEB_REGISTRY] = "web-registry",
		[ROUTE_WEB_CRATE] = "web-crate",
		[ROUTE_DIST] = "dist",
	};

	return names[k];
}

/* /T/dist/... or /T/rustup/... of a toolchain mirror T: no token needed
 * (rustup sends none; toolchains are public). */
static void
serve_dist(struct server *srv, struct http_request *r,
    const struct route *rt)
{
	struct toolchain	*tc = toolchain_find(srv, rt->registry);

	if (tc == NULL) {
		http_reply_error(r, 404, "%s: no toolchain mirror `%s` here"
		    " (rustup's RUSTUP_DIST_SERVER names one: crated rustup-env"
		    " prints it)", http_path(r), rt->registry);
		return;
	}
	http_set_registry(r, toolchain_name(tc));
	toolchain_request(tc, r, rt->dist);
}

/* The HTTP layer's head hook: a request with a body is authorized on its
 * head (auth_head). */
static bool
head(struct http_request *r, void *arg)
{
	struct route	rt;

	route_parse(http_path(r), &rt);
	http_set_route(r, route_name(rt.kind));
	if (rt.kind == ROUTE_WEB_SIGNIN || rt.kind == ROUTE_WEB_SIGNOUT)
		return web_head(((struct server *)arg)->web, r);
	return auth_head(arg, r, &rt);
}

/* The one handler every request goes through. */
static void
handle(struct http_request *r, void *arg)
{
	struct server	*srv = arg;
	struct registry	*reg;
	struct route	 rt;

	route_parse(http_path(r), &rt);
	http_set_route(r, route_name(rt.kind));
	if (route_is_web(rt.kind)) {
		web_handle(srv->web, r, &rt);
		return;
	}
	switch (rt.kind) {
	case ROUTE_HEALTH:
		if (read_method(r))
			http_reply(r, 200, "text/plain", NULL, "ok\n", 3);
		return;
	case ROUTE_REGISTRIES:
		if (read_method(r) && auth_ops_gate(srv, r))
			ops_registries(srv, r);
		return;
	case ROUTE_READY:
		if (read_method(r))
			ops_ready(srv, r);
		return;
	case ROUTE_PURGE:
		if (method_ok(r, HTTP_POST, HTTP_POST))
			ops_purge(srv, r);
		return;
	case ROUTE_METRICS:
		if (read_method(r) && auth_ops_gate(srv, r))
			ops_metrics(r);
		return;
	case ROUTE_NONE:
		break;
	case ROUTE_DIST:
		serve_dist(srv, r, &rt);
		return;
	default:
		if ((reg = registry_find(srv, rt.registry)) == NULL)
			break;
		http_set_registry(r, reg->name);
		if (!auth_request(srv, reg, r, &rt))
			return;
		switch (rt.kind) {
		case ROUTE_CONFIG:
			if (read_method(r))
				ops_config(srv, reg, r);
			return;
		case ROUTE_INDEX:
			if (!read_method(r))
				return;
			if (reg->kind == REGISTRY_MIRROR)
				mirror_index(reg, r, &rt);
			else
				files_index_file(reg, r, rt.path);
			return;
		case ROUTE_DOWNLOAD:
			if (read_method(r))
				serve_download(reg, r, &rt);
			return;
		case ROUTE_ME:
			if (read_method(r))
				web_me(srv->web, reg, r);
			return;
		default:
			if (reg->kind == REGISTRY_HOSTED)
				hosted_api(reg, r, &rt);
			else
				relay_api(reg, r, &rt);
			return;
		}
	}
	if (toolchain_find(srv, rt.registry) != NULL) {
		http_reply_error(r, 404, "%s: a toolchain mirror serves only"
		    " /%s/dist/... and /%s/rustup/...", http_path(r),
		    rt.registry, rt.registry);
		return;
	}
	http_reply_error(r, 404, "%s: %s", http_path(r),
	    rt.kind == ROUTE_NONE ? rt.why : "not found");
}

/*
 * Reads the configuration file again. What can change in place does:
 * log settings, body limit, TTLs, credentials, relay, auth and ops
 * settings, offline, peers, the certificate files. A change to a key
 * read only at start (config.c marks them: listeners, data_dir,
 * public_url, the caches, http2, the set of registries and their
 * upstreams) refuses the file, naming the key, as does one that does not
 * parse; the running configuration stays.
 */
static int
reload_config(struct server *srv, char **cause)
{
	struct config	*old = srv->cfg, *nc = NULL;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*key;

	if (old->path == NULL)
		return 0;
	if (config_load(old->path, &nc, cause) != 0)
		return -1;
	/* The command line's overrides still hold. */
	if (srv->force_listen)
		config_set_listen(nc, (const char *const *)old->listen,
		    old->nlisten);
	if (srv->force_data_dir != NULL)
		config_set_string(&nc->data_dir, old->data_dir);
	if (srv->force_log_level != NULL)
		config_set_string(&nc->log_level, srv->force_log_level);
	for (size_t i = 0; srv->force_offline && i < nc->nregs; i++)
		if (nc->regs[i].upstream != NULL)
			nc->regs[i].offline = true;
	for (size_t i = 0; srv->force_offline && i < nc->ntcs; i++)
		nc->tcs[i].offline = true;
	if (config_check(nc, cause) != 0)
		goto refuse;
	if ((key = config_restart_change(old, nc)) != NULL) {
		*cause = xasprintf("%s changed: crated reads it only at start;"
		    " restart crated for that", key);
		free(key);
		goto refuse;
	}
	for (size_t i = 0; i < srv->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		reg->cfg = &nc->regs[i];
		reg->name = reg->cfg->name;
		free(reg->config_json);
		reg->config_json = nc->public_url == NULL ? NULL :
		    ops_config_json(srv->public_url, reg);
		if (reg->mirror != NULL)
			mirror_reconfigured(reg->mirror);
	}
	for (size_t i = 0; i < srv->ntcs; i++)
		toolchain_reconfigured(srv->tcs[i], &nc->tcs[i]);
	/* The stores stay (their settings are read only at start); their
	 * credentials are read again (a rotated session token). */
	for (size_t i = 0; i < srv->nobjstores; i++)
		if (objstore_reread_credentials(srv->objstores[i], &key) != 0) {
			log_error("SIGHUP: %s: keeping its credentials: %s",
			    objstore_name(srv->objstores[i]), key);
			free(key);
		}
	log_level_parse(nc->log_level, &lvl);
	log_format_parse(nc->log_format, &fmt);
	log_setup(lvl, fmt);
	if (log_access_to(nc->access_log) != 0)
		log_error("SIGHUP: access_log %s: %s; access lines"
		    " keep their old place", nc->access_log, strerror(errno));
	http_server_set_max_body(srv->http, (uint64_t)nc->max_body_bytes);
	srv->old_cfgs = xreallocarray(srv->old_cfgs, srv->nold_cfgs + 1,
	    sizeof *srv->old_cfgs);
	srv->old_cfgs[srv->nold_cfgs++] = old;
	srv->cfg = nc;
	return 0;
refuse:
	config_free(nc);
	return -1;
}

/* SIGHUP: the configuration, tokens and certificates are read again;
 * connections stay. Whatever is bad is refused with a log line and the
 * old version stays. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	char		*cause = NULL;

	if (reload_config(srv, &cause) != 0) {
		log_error("SIGHUP: keeping the running configuration: %s",
		    cause);
		free(cause);
		cause = NULL;
	} else
		log_info("SIGHUP: configuration %s reloaded", srv->cfg->path ?
		    srv->cfg->path : "(built-in defaults)");
	/* The blocks and advisory snapshots too, on the workers. */
	polserve_reload(srv);
	probes_reconfigured(srv->probes);
	tokensync_set_max_stale(srv->tokensync,
	    (double)srv->cfg->storage_max_stale);
	for (size_t i = 0; i < srv->nregs; i++)
		catalogue_set_interval(srv->regs[i].catalogue,
		    (int)srv->cfg->storage_catalogue_interval);
	srv->tokens.checked = 0;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	if (srv->cfg->nlisten_tls > 0)
		tls_reload(srv);
}

static void
check_drained(struct server *srv)
{
	if (http_server_pending(srv->http) == 0 &&
	    http_server_connections(srv->http) == 0 &&
	    workers_pending(srv->workers) == 0 &&
	    workers_pending(srv->cpu) == 0 &&
	    workers_pending(srv->background) == 0 &&
	    web_pending(srv->web) == 0 &&
	    upstream_client_active(srv->upstream) == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	static int	 ticks;
	size_t		 n;

	if (++ticks > DRAIN_SECONDS * 10) {
		n = http_server_in_flight(srv->http);
		log_warn("drain timeout: %zu request%s still in flight after"
		    " %d s, exiting", n, n == 1 ? "" : "s", DRAIN_SECONDS);
		event_base_loopexit(srv->base, NULL);
		return;
	}
	check_drained(srv);
}

/*
 * The first SIGTERM or SIGINT drains: no new connections, and what is in
 * flight (downloads still being sent included) gets DRAIN_SECONDS to
 * finish. A second one ends crated at once, by that signal's default
 * action, as a process without a handler dies (exit status 128 + N in a
 * shell): the operator asked twice. Nothing on disk is half-written
 * (every file goes to a temp name and is renamed), as after a crash.
 */
static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, 100000 };
	const char	*name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
	size_t		 n = http_server_in_flight(srv->http);

	if (srv->stopping) {
		log_warn("%s again: exiting now, abandoning %zu request%s in"
		    " flight", name, n, n == 1 ? "" : "s");
		signal((int)sig, SIG_DFL);
		raise((int)sig);
		_exit(128 + (int)sig);		/* not reached */
	}
	srv->stopping = true;
	log_info("%s: no longer accepting; %zu request%s in flight (given"
	    " up to %d s)", name, n, n == 1 ? "" : "s", DRAIN_SECONDS);
	http_server_drain(srv->http);
	for (size_t i = 0; i < srv->nregs; i++)
		mirror_stop_warming(srv->regs[i].mirror);
	for (size_t i = 0; i < srv->ntcs; i++)
		toolchain_stop(srv->tcs[i]);
	srv->drain_timer = event_new(srv->base, -1, EV_PERSIST, drain_tick,
	    srv);
	event_add(srv->drain_timer, &tv);
	check_drained(srv);
}

/* The store at url (the registries' own or the top-level one), opened
 * once; line is the storage key's, for the message. */
static struct objstore *
storage_for(struct server *srv, const char *url, int line, char **cause)
{
	const struct config	*cfg = srv->cfg;
	struct objstore		*s;
	char			*why = NULL;

	for (size_t i = 0; i < srv->nobjstores; i++)
		if (strcmp(objstore_config_url(srv->objstores[i]), url) == 0)
			return srv->objstores[i];
	if (objstore_open_url(url, cfg->storage_endpoint, cfg->storage_region,
	    cfg->storage_credentials_file, srv->upstream, &s, &why) != 0)
		goto err;
	srv->objstores = xreallocarray(srv->objstores, srv->nobjstores + 1,
	    sizeof *srv->objstores);
	srv->objstores[srv->nobjstores++] = s;
	metrics_show(METRICS_STORAGE);
	objstore_watch(s, STORAGE_WATCH_SECONDS);
	return s;
err:
	*cause = xasprintf("%s:%d: storage: %s", cfg->path ? cfg->path :
	    "(defaults)", line, why);
	free(why);
	return NULL;
}

/* reg's store and key prefix: "R/" under the top-level storage, "" under
 * its own. */
static int
open_storage(struct server *srv, struct registry *reg, char **cause)
{
	const struct registry_config	*rc = reg->cfg;
	const char			*url = rc->storage ? rc->storage :
					    srv->cfg->storage;

	if (url == NULL)
		return 0;
	reg->objstore = storage_for(srv, url, rc->storage ? rc->storage_line :
	    srv->cfg->storage_line, cause);
	if (reg->objstore == NULL)
		return -1;
	reg->objprefix = rc->storage ? xstrdup("") : xasprintf("%s/",
	    reg->name);
	log_info("registry %s: object store %s, keys under \"%s\"",
	    reg->name, objstore_name(reg->objstore), reg->objprefix);
	return 0;
}

static int
open_registries(struct server *srv, char **cause)
{
	const struct config	*cfg = srv->cfg;

	srv->regs = xcalloc(cfg->nregs, sizeof *srv->regs);
	for (size_t i = 0; i < cfg->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		reg->cfg = &cfg->regs[i];
		reg->name = reg->cfg->name;
		reg->srv = srv;
		reg->kind = reg->cfg->upstream ? REGISTRY_MIRROR :
		    REGISTRY_HOSTED;
		srv->nregs++;
		if (open_storage(srv, reg, cause) != 0)
			return -1;
		if (store_open(cfg->data_dir, reg->name, &reg->store,
		    cause) != 0)
			return -1;
		if (reg->kind == REGISTRY_HOSTED &&
		    hosted_open(reg, cause) != 0)
			return -1;
		if (reg->kind == REGISTRY_MIRROR &&
		    mirror_open(reg, cause) != 0)
			return -1;
	}
	srv->tcs = xcalloc(cfg->ntcs ? cfg->ntcs : 1, sizeof *srv->tcs);
	for (size_t i = 0; i < cfg->ntcs; i++) {
		if (toolchain_open(srv, &cfg->tcs[i], &srv->tcs[i], cause) != 0)
			return -1;
		srv->ntcs++;
	}
	return 0;
}

/*
 * How many index files may be kept open: open_file_cache, at most half
 * the open-file limit (the rest is for connections, upstream transfers
 * and the store). The soft limit is raised to the hard one first.
 */
static size_t
open_file_budget(long long want)
{
	struct rlimit	rl;
	rlim_t		half;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t	was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	half = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 30 :
	    rl.rlim_cur / 2;
	if ((rlim_t)want <= half)
		return (size_t)want;
	log_warn("open_file_cache = %lld is more than half the open-file"
	    " limit (%llu): keeping at most %llu index files open", want,
	    (unsigned long long)rl.rlim_cur, (unsigned long long)half);
	return (size_t)half;
}

static void
tokens_changed(void *arg)
{
	struct server	*srv = arg;

	tokens_refresh_now(srv->cfg->data_dir, &srv->tokens);
}

static void
waited(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

/* The first look at the store's tokens.json, so that a replica starts
 * with the tokens of the moment; at most TOKENS_WAIT seconds (a store
 * that is down: the local copy, logged). */
static void
wait_tokens(struct server *srv)
{
	struct timeval	 tv = { TOKENS_WAIT, 0 };
	struct event	*ev;
	bool		 over = false;

	ev = evtimer_new(srv->base, waited, &over);
	evtimer_add(ev, &tv);
	while (!over && !tokensync_settled(srv->tokensync))
		if (event_base_loop(srv->base, EVLOOP_ONCE) == -1)
			break;
	event_free(ev);
	if (over)
		log_warn("tokens: no answer from the store within %d s;"
		    " starting with the local copy", TOKENS_WAIT);
}

/* With a top-level storage, tokens.json is the store's (where `crated
 * token` writes it): this replica's copy follows it. The store is opened
 * even when every registry has a storage of its own. */
static int
start_tokensync(struct server *srv, char **cause)
{
	const struct config	*cfg = srv->cfg;
	struct tokensync_params	 p;
	struct objstore		*os;

	if (cfg->storage == NULL)
		return 0;
	if ((os = storage_for(srv, cfg->storage, cfg->storage_line,
	    cause)) == NULL)
		return -1;
	memset(&p, 0, sizeof p);
	p.base = srv->base;
	p.objstore = os;
	p.data_dir = cfg->data_dir;
	p.disk = srv->workers;
	p.max_stale = (double)cfg->storage_max_stale;
	p.changed = tokens_changed;
	p.arg = srv;
	srv->tokensync = tokensync_start(&p);
	log_info("tokens: kept in %s (%s), revalidated every %gs",
	    objstore_name(os), TOKENSYNC_KEY, p.max_stale);
	wait_tokens(srv);
	return 0;
}

static void
catalogue_name(const char *name, void *arg)
{
	struct registry	*reg = arg;

	hosted_add_name(reg->hosted, name);
}

/* Each store-backed hosted registry's catalogue, first listed as the
 * loop starts: after the listeners, since a large registry's first round
 * (a GET per file) may take minutes and a replica serves every file it is
 * asked for meanwhile (read through, replica.h); only search and the
 * local name list wait for it, and the store's name reservations decide
 * collisions anyway. */
static void
start_catalogues(struct server *srv)
{
	struct catalogue_params	 p;

	for (size_t i = 0; i < srv->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		if (reg->kind != REGISTRY_HOSTED || reg->objstore == NULL)
			continue;
		memset(&p, 0, sizeof p);
		p.registry = reg->name;
		p.base = srv->base;
		p.objstore = reg->objstore;
		p.objprefix = reg->objprefix;
		p.store = reg->store;
		p.disk = srv->workers;
		p.replica = files_replica(reg);
		p.interval = (int)srv->cfg->storage_catalogue_interval;
		p.name = catalogue_name;
		p.arg = reg;
		reg->catalogue = catalogue_start(&p);
	}
}

/* Each registry's index URL and each toolchain mirror's variables, in
 * the log; config.json made once with public_url. */
static void
announce(struct server *srv)
{
	for (size_t i = 0; i < srv->nregs; i++) {
		if (srv->cfg->public_url != NULL)
			srv->regs[i].config_json = ops_config_json(
			    srv->public_url, &srv->regs[i]);
		log_info("registry %s (%s): index sparse+%s/%s/", srv->regs[i]
		    .name, srv->regs[i].kind == REGISTRY_HOSTED ? "hosted" :
		    "mirror", srv->public_url, srv->regs[i].name);
	}
	for (size_t i = 0; i < srv->ntcs; i++)
		log_info("toolchains %s: RUSTUP_DIST_SERVER=%s/%s"
		    " RUSTUP_UPDATE_ROOT=%s/%s/rustup",
		    toolchain_name(srv->tcs[i]), srv->public_url,
		    toolchain_name(srv->tcs[i]), srv->public_url,
		    toolchain_name(srv->tcs[i]));
}

int
server_start(struct server *srv, struct config *cfg, char **cause)
{
	struct http_limits	lim = {
		.max_line = 8192,
		.max_head = 32768,
		.max_headers = 100,
		.max_body = (uint64_t)cfg->max_body_bytes,
		.idle_timeout = 60,
		.head_timeout = 20,
		.max_per_client = (size_t)cfg->max_connections_per_client,
		.http2 = cfg->http2,
	};
	char			bound[128];

	srv->cfg = cfg;
	srv->lockfd = -1;
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if ((srv->base = event_base_new()) == NULL) {
		*cause = xstrdup("cannot create the event loop");
		return -1;
	}
	if ((srv->lockfd = store_lock(cfg->data_dir, cause)) == -1) {
		if (access(cfg->data_dir, W_OK) != 0) {
			free(*cause);
			*cause = xasprintf("data directory %s is not writable:"
			    " %s", cfg->data_dir, strerror(errno));
		}
		return -1;
	}
	if (tokens_load(cfg->data_dir, &srv->tokens, cause) != 0)
		return -1;
	srv->hot = hot_create((size_t)cfg->memory_cache_bytes);
	srv->open = open_files_create(open_file_budget(cfg->open_file_cache));
	srv->workers = workers_create(srv->base, 2);
	srv->cpu = workers_create(srv->base, 2);
	/* gz/ writes: never queued ahead of a publish's. */
	srv->background = workers_create(srv->base, 1);
	lru_init(&srv->keeping);
	srv->upstream = upstream_client_create(srv->base);
	/* Before the listeners: no request is answered with the tokens of
	 * another day. */
	if (start_tokensync(srv, cause) != 0)
		return -1;
	/* Signals first: a supervisor may act on "listening on" at once. */
	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_stop_signal, srv);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_stop_signal, srv);
	srv->sighup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
	event_add(srv->sigterm, NULL);
	event_add(srv->sigint, NULL);
	event_add(srv->sighup, NULL);
	srv->http = http_server_create(srv->base, &lim, handle, srv);
	ops_start(srv);
	srv->web = web_create(srv);
	http_server_set_head_hook(srv->http, head, srv);
	if (cfg->nlisten_tls > 0 && tls_start(srv, cause) != 0)
		return -1;
	for (size_t i = 0; i < cfg->nlisten + cfg->nlisten_tls; i++) {
		bool		 tls = i >= cfg->nlisten;
		const char	*addr = tls ? cfg->listen_tls[i - cfg->nlisten] :
				    cfg->listen[i];

		if (http_server_listen(srv->http, addr, tls, bound,
		    sizeof bound, cause) != 0)
			return -1;
		log_info("listening on %s%s", bound, tls ? " (TLS)" : "");
		if (tls && srv->url_tls == NULL)
			srv->url_tls = xasprintf("https://%s", bound);
		if (!tls && srv->url_plain == NULL)
			srv->url_plain = xasprintf("http://%s", bound);
		if (srv->public_url == NULL && cfg->public_url == NULL)
			srv->public_url = xasprintf("%s://%s", tls ? "https" :
			    "http", bound);
	}
	if (srv->public_url == NULL) {
		size_t	n = strlen(cfg->public_url);

		while (n > 0 && cfg->public_url[n - 1] == '/')
			n--;
		srv->public_url = xstrndup(cfg->public_url, n);
	}
	if (open_registries(srv, cause) != 0)
		return -1;
	/* Before the loop serves anything: a bad snapshot stops here. */
	if (polserve_start(srv, cause) != 0)
		return -1;
	announce(srv);
	srv->probes = probes_start(srv);
	start_catalogues(srv);
	web_start(srv->web);
	return 0;
}

void
server_run(struct server *srv)
{
	event_base_dispatch(srv->base);
}

void
server_finish(struct server *srv)
{
	/* Work still under way ends first, answering its requests while
	 * their connections exist; then the connections go. */
	tokensync_stop(srv->tokensync);
	for (size_t i = 0; i < srv->nregs; i++)
		catalogue_stop(srv->regs[i].catalogue);
	workers_destroy(srv->cpu);
	web_free(srv->web);
	probes_free(srv->probes);
	for (size_t i = 0; i < srv->ntcs; i++)
		toolchain_stop(srv->tcs[i]);
	upstream_client_destroy(srv->upstream);
	srv->upstream = NULL;	/* the store's writes check (mirror_l2.c) */
	workers_destroy(srv->workers);
	workers_destroy(srv->background);
	polserve_stop(srv);
	policed_close();
	lru_fini(&srv->keeping);
	tokensync_free(srv->tokensync);
	http_server_free(srv->http);
	for (size_t i = 0; i < srv->nregs; i++) {
		catalogue_free(srv->regs[i].catalogue);
		hosted_close(srv->regs[i].hosted);
		mirror_close(srv->regs[i].mirror);
		replica_free(srv->regs[i].replica);
		store_close(srv->regs[i].store);
		free(srv->regs[i].config_json);
		free((void *)(uintptr_t)srv->regs[i].objprefix);
	}
	free(srv->regs);
	for (size_t i = 0; i < srv->ntcs; i++)
		toolchain_close(srv->tcs[i]);
	free(srv->tcs);
	for (size_t i = 0; i < srv->nobjstores; i++)
		objstore_close(srv->objstores[i]);
	free(srv->objstores);
	hot_destroy(srv->hot);
	open_files_destroy(srv->open);
	if (srv->sigterm != NULL)
		event_free(srv->sigterm);
	if (srv->sigint != NULL)
		event_free(srv->sigint);
	if (srv->sighup != NULL)
		event_free(srv->sighup);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	if (srv->cert_timer != NULL)
		event_free(srv->cert_timer);
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->lockfd != -1)
		close(srv->lockfd);
	tokens_finish(&srv->tokens);
	free(srv->public_url);
	free(srv->url_plain);
	free(srv->url_tls);
	for (size_t i = 0; i < srv->nold_cfgs; i++)
		config_free(srv->old_cfgs[i]);
	free(srv->old_cfgs);
	metrics_free();
	relay_recent_free();
	free(srv->req_series);
}
