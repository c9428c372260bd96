#include "server/handlers/ops.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "index/name.h"
#include "server/core/history.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"
#include "server/files/hot.h"
#include "server/files/openfiles.h"
#include "server/handlers/auth.h"
#include "server/handlers/registry.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/mirror/mirror.h"
#include "server/mirror/probe.h"
#include "server/policy/polserve.h"
#include "server/storage/catalogue.h"
#include "server/storage/objstore.h"
#include "server/toolchains/toolchain.h"
#include "server/upstream/upstream.h"

/* The registry's config.json with dl and api under base (new). */
char *
ops_config_json(const char *base, const struct registry *reg)
{
	json_t	*j;
	char	*dl, *api, *s;

	dl = xasprintf("%s/%s/api/v1/crates", base, reg->name);
	api = xasprintf("%s/%s", base, reg->name);
	j = json_pack("{s:s, s:s, s:b}", "dl", dl, "api", api,
	    "auth-required", reg->cfg->auth_required);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	free(dl);
	free(api);
	return s;
}

/* GET /R/config.json: made once with public_url, else for each request
 * (its URLs follow the request's scheme and Host; never cached). */
void
ops_config(struct server *srv, struct registry *reg,
    struct http_request *r)
{
	char	*base, *body;

	if (reg->config_json != NULL) {
		http_reply(r, 200, "application/json", NULL, reg->config_json,
		    strlen(reg->config_json));
		return;
	}
	base = registry_base_url(srv, r);
	body = ops_config_json(base, reg);
	http_reply(r, 200, "application/json", "Cache-Control: no-cache\r\n"
	    "Vary: Host\r\n", body, strlen(body));
	free(body);
	free(base);
}

/* The toolchain mirrors in /-/registries: rustup's two variables. */
static json_t *
toolchains_list(struct server *srv, const char *base)
{
	json_t	*list = json_array();

	for (size_t i = 0; i < srv->ntcs; i++) {
		const struct toolchain_config	*tc = &srv->cfg->tcs[i];
		char				*dist = xasprintf("%s/%s", base,
						    tc->name);
		char				*root = xasprintf("%s/rustup",
						    dist);

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s,"
		    " s:b}", "name", tc->name, "rustup_dist_server", dist,
		    "rustup_update_root", root, "upstream", tc->upstream,
		    "offline", tc->offline));
		free(dist);
		free(root);
	}
	return list;
}

/* GET /-/registries: what this server serves, for `crated prefetch
 * --server` and operators. */
void
ops_registries(struct server *srv, struct http_request *r)
{
	json_t	*list = json_array();
	char	*body, *base = registry_base_url(srv, r);

	for (size_t i = 0; i < srv->nregs; i++) {
		const struct registry	*reg = &srv->regs[i];
		char			*index = xasprintf("sparse+%s/%s/",
					    base, reg->name);

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?,"
		    " s:b, s:b}", "name", reg->name, "kind", reg->kind ==
		    REGISTRY_HOSTED ? "hosted" : "mirror", "index", index,
		    "upstream", reg->cfg->upstream, "offline",
		    reg->cfg->offline, "crates_io", config_crates_io(reg->cfg)));
		free(index);
	}
	list = json_pack("{s:o, s:o}", "registries", list, "toolchains",
	    toolchains_list(srv, base));
	body = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(list);
	http_reply(r, 200, "application/json", NULL, body, strlen(body));
	free(body);
	free(base);
}

/* The series each request updates, found once per registry, route and
 * status: a small direct-mapped cache in front of the metrics table. */
#define REQUEST_SERIES	64

struct request_series {
	char		 registry[REGISTRY_NAME_MAX + 1];
	char		 route[24];
	int		 status;
	struct series	*total, *bytes, *duration;
};

static void
request_done(const char *registry, const char *route, int status,
    size_t bytes, long usec, void *arg)
{
	struct server			*srv = arg;
	struct request_series		*c;
	char				 labels[160];
	unsigned			 h = (unsigned)status;

	if (registry == NULL)
		registry = "";
	for (const char *p = route; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	for (const char *p = registry; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	if (srv->req_series == NULL)
		srv->req_series = xcalloc(REQUEST_SERIES, sizeof *c);
	c = &srv->req_series[h % REQUEST_SERIES];
	if (c->status != status || strcmp(c->route, route) != 0 ||
	    strcmp(c->registry, registry) != 0) {
		snprintf(c->registry, sizeof c->registry, "%s", registry);
		snprintf(c->route, sizeof c->route, "%s", route);
		c->status = status;
		snprintf(labels, sizeof labels, "registry=\"%s\",route=\"%s\","
		    "status=\"%d\"", registry, route, status);
		c->total = metrics_series(METRIC_REQUESTS_TOTAL, labels);
		snprintf(labels, sizeof labels, "registry=\"%s\",route=\"%s\"",
		    registry, route);
		c->bytes = metrics_series(METRIC_RESPONSE_BYTES_TOTAL,
		    labels);
		c->duration = metrics_series(METRIC_REQUEST_DURATION_SECONDS,
		    labels);
	}
	metrics_series_add(c->total, 1);
	history_add(HISTORY_REQUESTS, 1, time(NULL));
	metrics_series_add(c->bytes, (double)bytes);
	metrics_series_observe(c->duration, (double)usec / 1e6);
}

static void	ready_details(json_t *, bool);

/* A store-backed hosted registry's catalogue in /-/ready: when it last
 * completed a sync with the store (RFC 3339 too), and whether its last
 * round failed. */
static json_t *
catalogue_ready(const struct catalogue *cat)
{
	struct catalogue_stats	 st;
	json_t			*j;
	struct tm		 tm;
	char			 when[32];

	catalogue_stats(cat, &st);
	j = json_pack("{s:s, s:I, s:I, s:I, s:I}", "state", st.failing ?
	    "failing" : st.last_complete == 0 ? "starting" : "ok", "objects",
	    (json_int_t)st.objects, "listed", (json_int_t)st.listed,
	    "fetched", (json_int_t)st.fetched, "removed",
	    (json_int_t)st.removed);
	if (st.last_complete != 0) {
		gmtime_r(&st.last_complete, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(j, "last_complete", json_integer(
		    (json_int_t)st.last_complete));
		json_object_set_new(j, "last_complete_at", json_string(when));
	}
	return j;
}

/* An object store's gauges and counters, labelled by its name. */
static void
storage_collect(const struct objstore *s)
{
	struct objstore_stats	st;
	char			*l = xasprintf("store=\"%s\"", objstore_name(s));

	objstore_stats(s, &st);
	metrics_set(METRIC_STORAGE_UP, l, st.reachable ? 1 : 0);
	metrics_set(METRIC_STORAGE_LATENCY_SECONDS, l, st.latency_ewma);
	metrics_set(METRIC_STORAGE_REQUESTS_TOTAL, l, (double)st.requests);
	metrics_set(METRIC_STORAGE_FAILURES_TOTAL, l, (double)st.failures);
	metrics_set(METRIC_STORAGE_CONFLICTS_TOTAL, l, (double)st.conflicts);
	free(l);
}

/* The stores in /-/ready: state and latency; their names and last error
 * (buckets, keys) only with full, as the upstreams' URLs. */
static json_t *
storage_ready(const struct server *srv, bool full)
{
	json_t	*a = json_array(), *j;

	for (size_t i = 0; i < srv->nobjstores; i++) {
		struct objstore_stats	st;

		objstore_stats(srv->objstores[i], &st);
		j = json_pack("{s:s, s:s, s:b, s:f, s:I, s:I, s:I}", "name",
		    objstore_name(srv->objstores[i]), "state", st.requests ==
		    0 ? "unknown" : st.reachable ? "ok" : "unavailable",
		    "reachable", st.reachable, "latency_ms",
		    st.latency_ewma * 1000, "requests", (json_int_t)st.requests,
		    "failures", (json_int_t)st.failures, "conflicts",
		    (json_int_t)st.conflicts);
		if (st.last_ok != 0)
			json_object_set_new(j, "last_ok", json_integer(
			    (json_int_t)st.last_ok));
		if (st.last_error[0] != '\0')
			json_object_set_new(j, "last_error", json_string(
			    st.last_error));
		if (!full)
			json_object_del(j, "name");
		ready_details(j, full);
		json_array_append_new(a, j);
	}
	return a;
}

static void
collect(void *arg)
{
	struct server	*srv = arg;

	metrics_set(METRIC_OPEN_CONNECTIONS, "",
	    (double)http_server_connections(srv->http));
	metrics_set(METRIC_UPSTREAM_REQUESTS_IN_FLIGHT, "",
	    (double)upstream_client_active(srv->upstream));
	metrics_set(METRIC_HOT_CACHE_BYTES, "", (double)hot_bytes(srv->hot));
	metrics_set(METRIC_OPEN_INDEX_FILES, "",
	    (double)open_files_count(srv->open));
	if (srv->tls_not_after != 0)
		metrics_set(METRIC_TLS_CERTIFICATE_DAYS_LEFT, "",
		    difftime(srv->tls_not_after, time(NULL)) / 86400);
	for (size_t i = 0; i < srv->nregs; i++)
		if (srv->regs[i].mirror != NULL)
			mirror_collect(srv->regs[i].mirror);
	for (size_t i = 0; i < srv->nobjstores; i++)
		storage_collect(srv->objstores[i]);
	for (size_t i = 0; i < srv->ntcs; i++)
		toolchain_collect(srv->tcs[i]);
}

void
ops_start(struct server *srv)
{
	http_server_set_hook(srv->http, request_done, srv);
	metrics_on_collect(collect, srv);
}

void
ops_metrics(struct http_request *r)
{
	size_t	 len;
	char	*text = metrics_render(&len);

	http_reply(r, 200, "text/plain; version=0.0.4", NULL, text, len);
	free(text);
}

/* A mirror's state in /-/ready: last_ok (epoch seconds) also as
 * last_ok_at (RFC 3339, UTC); without full (auth_ops_allowed), no upstream URL
 * and no error or probe text (which may name it). */
static void
ready_details(json_t *j, bool full)
{
	json_t		*lo = json_object_get(j, "last_ok");
	time_t		 t;
	struct tm	 tm;
	char		 when[32];

	if (json_is_integer(lo)) {
		t = (time_t)json_integer_value(lo);
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(j, "last_ok_at", json_string(when));
	}
	if (!full) {
		json_object_del(j, "upstream");
		json_object_del(j, "last_error");
		json_object_del(j, "probe_detail");
	}
}

json_t *
ops_registry_state(struct server *srv, struct registry *reg, bool full)
{
	json_t	*j = json_pack("{s:s, s:s}", "name", reg->name, "kind",
		    reg->kind == REGISTRY_HOSTED ? "hosted" : "mirror");

	if (reg->mirror != NULL)
		mirror_state(reg->mirror, j);
	if (reg->catalogue != NULL)
		json_object_set_new(j, "catalogue",
		    catalogue_ready(reg->catalogue));
	if (reg->objstore != NULL && full)
		json_object_set_new(j, "storage", json_string(
		    objstore_name(reg->objstore)));
	probes_state(srv->probes, reg, j);
	polserve_state(reg, j);
	ready_details(j, full);
	return j;
}

json_t *
ops_storage_state(struct server *srv, bool full)
{
	return storage_ready(srv, full);
}

/* GET /-/ready: listening, the data directory writable, and each
 * mirror's upstream state. 503 when the data directory is not. Open to
 * all (probes carry no token). */
void
ops_ready(struct server *srv, struct http_request *r)
{
	json_t	*regs = json_array(), *tcs = json_array(), *j;
	char	*probe, *body;
	bool	 writable, full = auth_ops_allowed(srv, r);
	int	 fd;

	probe = xasprintf("%s/.ready-probe", srv->cfg->data_dir);
	fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	writable = fd != -1 && write(fd, "ok", 2) == 2;
	if (fd != -1)
		close(fd);
	unlink(probe);
	free(probe);
	for (size_t i = 0; i < srv->nregs; i++)
		json_array_append_new(regs, ops_registry_state(srv,
		    &srv->regs[i], full));
	for (size_t i = 0; i < srv->ntcs; i++) {
		json_t	*t = toolchain_state(srv->tcs[i], full);

		ready_details(t, full);
		json_array_append_new(tcs, t);
	}
	j = json_pack("{s:s, s:b, s:I, s:o, s:o, s:o}", "status", writable ?
	    "ready" : "data directory not writable", "data_dir_writable",
	    writable, "connections", (json_int_t)http_server_connections(
	    srv->http), "registries", regs, "storage", ops_storage_state(srv,
	    full), "toolchains", tcs);
	body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	http_reply(r, writable ? 200 : 503, "application/json", NULL, body,
	    strlen(body));
	free(body);
}

/* POST /-/purge from a peer replica that relayed a write:
 * {"registry":R,"crate":N,"version":V or null}, authenticated with the
 * shared peer secret ("Authorization: Crated-Peer SECRET"). */
void
ops_purge(struct server *srv, struct http_request *r)
{
	const unsigned char	*body;
	size_t			 len;
	json_t			*j;
	struct registry		*reg;
	const char		*name, *vers;

	if (!auth_peer(srv, r)) {
		http_reply_error(r, 403, "purges need the peer secret");
		return;
	}
	body = http_body(r, &len);
	j = json_loadb((const char *)body, len, 0, NULL);
	name = json_string_value(json_object_get(j, "crate"));
	vers = json_string_value(json_object_get(j, "version"));
	reg = registry_find(srv, json_string_value(json_object_get(j,
	    "registry")) ? json_string_value(json_object_get(j, "registry")) :
	    "");
	if (reg == NULL || reg->mirror == NULL || name == NULL ||
	    crate_name_check(name, NULL) != 0) {
		json_decref(j);
		http_reply_error(r, 400, "expected {\"registry\":MIRROR,"
		    "\"crate\":NAME,\"version\":VERSION or null}");
		return;
	}
	mirror_watch(reg->mirror, name, vers);
	log_info("registry %s: purged %s on a peer's word (%s)", reg->name,
	    name, http_peer(r));
	json_decref(j);
	http_reply(r, 200, "application/json", NULL, "{\"ok\":true}", 11);
}
