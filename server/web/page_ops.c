/* GET /-/ops: requests and cache hits over the last hour as an SVG chart
 * made here, each registry's upstream state and adaptive limit, cache
 * bytes against max_cache_bytes, the stores, the latest relayed writes,
 * the data directory. Behind the ops gate (ops_access) or an admin
 * session. */
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/history.h"
#include "server/core/state.h"
#include "server/handlers/ops.h"
#include "server/handlers/relay.h"
#include "server/http/http.h"
#include "server/mirror/mirror.h"
#include "server/web/web_int.h"

#define CHART_W		600
#define CHART_H		160
#define CHART_PAD	30

/* Bars per minute: requests behind, hits and misses in front. */
static void
chart(struct html *h)
{
	struct history_bucket	b[HISTORY_MINUTES];
	uint64_t		max = 1, req = 0, hits = 0, misses = 0;
	double			bw = (double)(CHART_W - CHART_PAD) /
				    HISTORY_MINUTES;

	history_get(b, time(NULL));
	for (int i = 0; i < HISTORY_MINUTES; i++) {
		for (int k = 0; k < HISTORY_KINDS; k++)
			max = b[i].n[k] > max ? b[i].n[k] : max;
		req += b[i].n[HISTORY_REQUESTS];
		hits += b[i].n[HISTORY_HITS];
		misses += b[i].n[HISTORY_MISSES];
	}
	html_put(h, "<h2>Last hour</h2>\n<p id=\"requests\">%L requests.</p>\n",
	    (long long)req);
	if (hits + misses > 0) {
		char	*ratio = xasprintf("<p id=\"hit-ratio\">Cache hit ratio:"
			    " %.1f%% (%llu hits, %llu misses; index files of"
			    " mirrors)</p>\n", 100.0 * (double)hits /
			    (double)(hits + misses), (unsigned long long)hits,
			    (unsigned long long)misses);

		html_raw(h, ratio);
		free(ratio);
	} else
		html_raw(h, "<p id=\"hit-ratio\">No cache lookups in the last"
		    " hour.</p>\n");
	html_put(h, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\""
	    " aria-labelledby=\"chart-title\"><title id=\"chart-title\">"
	    "Requests, cache hits and misses per minute over the last hour"
	    "</title>\n", CHART_W, CHART_H + 20);
	for (int i = 0; i < HISTORY_MINUTES; i++) {
		static const char	*cls[] = { "req", "hit", "miss" };
		double			 x = CHART_PAD + i * bw;

		for (int k = 0; k < HISTORY_KINDS; k++) {
			double	bh = (double)b[i].n[k] * CHART_H / (double)max;
			double	w = k == 0 ? bw - 1 : (bw - 1) / 2;
			double	dx = k == 2 ? w : 0;
			char	*r;

			if (b[i].n[k] == 0)
				continue;
			r = xasprintf("<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\""
			    " width=\"%.1f\" height=\"%.1f\"><title>%llu</title>"
			    "</rect>", cls[k], x + dx, CHART_H - bh, w, bh,
			    (unsigned long long)b[i].n[k]);
			html_raw(h, r);
			free(r);
		}
	}
	html_put(h, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\""
	    " y2=\"%d\"/><text x=\"0\" y=\"12\">%L</text><text x=\"0\""
	    " y=\"%d\">0</text><text x=\"%d\" y=\"%d\">60 min ago</text>"
	    "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text></svg>\n"
	    "<p class=\"legend\"><span class=\"req\">requests</span><span"
	    " class=\"hit\">cache hits</span><span class=\"miss\">cache"
	    " misses</span></p>\n", CHART_PAD, CHART_H, CHART_W, CHART_H,
	    (long long)max, CHART_H, CHART_PAD, CHART_H + 15, CHART_W,
	    CHART_H + 15);
}

static void
registry_row(struct html *h, struct server *srv, struct registry *reg,
    bool full)
{
	json_t		*st = ops_registry_state(srv, reg, full);
	const char	*k;
	json_t		*val;

	html_put(h, "<h3>%s <span class=\"badge\">%s</span></h3>\n<dl"
	    " class=\"facts\">", reg->name, reg->kind == REGISTRY_HOSTED ?
	    "hosted" : "mirror");
	json_object_foreach(st, k, val) {
		char	*s;

		/* Epoch seconds: last_ok_at says it for people. */
		if (strcmp(k, "name") == 0 || strcmp(k, "kind") == 0 ||
		    strcmp(k, "last_ok") == 0 || strcmp(k, "probe_time") == 0)
			continue;
		if (json_is_real(val))
			s = xasprintf("%.1f", json_real_value(val));
		else
			s = json_is_string(val) ? xstrdup(json_string_value(
			    val)) : json_dumps(val, JSON_ENCODE_ANY |
			    JSON_COMPACT);
		html_put(h, "<dt>%s</dt><dd>%s</dd>", k, s);
		free(s);
	}
	if (reg->kind == REGISTRY_MIRROR) {
		char			 max[32], used[32];
		unsigned long long	 bytes = mirror_cache_bytes(reg->mirror);
		long long		 cap = reg->cfg->max_cache_bytes;

		page_size(bytes, used);
		page_size((unsigned long long)cap, max);
		html_put(h, "<dt>cache</dt><dd class=\"cache-bytes\">%s of %s",
		    used, cap ? max : "no limit (max_cache_bytes)");
		if (cap > 0)
			html_put(h, " <meter min=\"0\" max=\"%L\" value=\"%L\">"
			    "%s</meter>", cap, (long long)bytes, used);
		html_raw(h, "</dd>");
	} else
		html_raw(h, "<dt>upstream</dt><dd>none: hosted</dd>");
	html_raw(h, "</dl>\n");
	json_decref(st);
}

static void
disk(struct html *h, struct server *srv)
{
	struct statvfs	sv;
	char		fr[32], tot[32];

	html_put(h, "<h2>Disk</h2>\n<p>Data directory <code>%s</code>",
	    srv->cfg->data_dir);
	if (statvfs(srv->cfg->data_dir, &sv) == 0) {
		unsigned long long	total = (unsigned long long)sv.f_blocks *
					    sv.f_frsize;
		unsigned long long	avail = (unsigned long long)sv.f_bavail *
					    sv.f_frsize;

		page_size(avail, fr);
		page_size(total, tot);
		html_put(h, ": %s free of %s <meter min=\"0\" max=\"%L\""
		    " value=\"%L\">%s used</meter>", fr, tot, (long long)total,
		    (long long)(total - avail), tot);
	}
	html_raw(h, "</p>\n");
}

static void
writes(struct html *h)
{
	const char	*v[RELAY_RECENT];
	size_t		 n = relay_recent_writes(v, RELAY_RECENT);

	html_raw(h, "<h2>Latest relayed writes</h2>\n");
	if (n == 0) {
		html_raw(h, "<p class=\"muted\">None since start.</p>\n");
		return;
	}
	html_raw(h, "<ol class=\"audit\">\n");
	for (size_t i = 0; i < n; i++) {
		char	when[32];

		page_time((time_t)strtoll(v[i], NULL, 10), when);
		html_put(h, "<li><time>%s</time> <code>%s</code></li>\n", when,
		    strchr(v[i], ' ') + 1);
	}
	html_raw(h, "</ol>\n");
}

/* What only ops_access (or an admin session) shows: the disk, the
 * stores, the audit lines. */
static void
details(struct html *h, struct web *w)
{
	json_t	*stores;
	char	*s;

	disk(h, w->srv);
	stores = ops_storage_state(w->srv, true);
	s = json_dumps(stores, JSON_INDENT(2) | JSON_ENCODE_ANY);
	html_put(h, "<h2>Stores</h2>\n<pre id=\"stores\">%s</pre>\n", s);
	free(s);
	json_decref(stores);
	writes(h);
	html_put(h, "<p class=\"muted\">%z signed-in session%s.</p>\n",
	    sessions_count(w->sessions), sessions_count(w->sessions) == 1 ?
	    "" : "s");
}

/*
 * Open to all, as /-/ready is: the chart (counts only) and the state of
 * the registries the viewer may read. The upstream URLs and errors, the
 * disk, the stores and the audit lines need what /-/metrics needs
 * (ops_access), or an admin token's session.
 */
void
page_ops(struct web *w, struct http_request *r, struct viewer *v)
{
	struct server	*srv = w->srv;
	struct html	 h;
	const char	*glob;
	bool		 full = viewer_may_ops(w, v, r);

	html_init(&h);
	page_start(&h, v, "Operations");
	html_raw(&h, "<h1>Operations</h1>\n");
	if (!full)
		html_raw(&h, "<p class=\"notice\">Upstream details, the disk,"
		    " the stores and the audit lines need an admin token: <a"
		    " href=\"/-/signin?next=%2F-%2Fops\">sign in</a>.</p>\n");
	chart(&h);
	html_raw(&h, "<h2>Registries</h2>\n");
	for (size_t i = 0; i < srv->nregs; i++)
		if (full || viewer_may_read(w, v, &srv->regs[i], &glob))
			registry_row(&h, srv, &srv->regs[i], full);
	if (full)
		details(&h, w);
	page_end(&h);
	page_send(r, 200, &h, NULL);
}
