/* GET /-/ops: requests and cache hits over the last hour as an SVG chart
 * made here, each registry's upstream state and adaptive limit, cache
 * bytes against max_cache_bytes, the stores, the latest relayed writes,
 * the data directory. Behind the ops gate (ops_access) or an admin
 * session. */
#include <stdio.h>
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

/* The chart's viewBox: the plot, with room left for the request scale,
 * right for the hit ratio's and below for the time. style.css sizes its
 * labels in these units, larger on a phone, where it is drawn smaller:
 * up to 26, where "100%" takes about 74 and "999k" 65 (DejaVu Sans). */
#define CHART_W		600
#define CHART_H		200
#define PLOT_L		76
#define PLOT_R		(CHART_W - 84)
#define PLOT_T		12
#define PLOT_B		(CHART_H - 34)

static const char *
plural(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* The text above the chart: requests and the hour's hit ratio. */
static void
chart_summary(struct html *h, uint64_t req, uint64_t hits, uint64_t misses)
{
	char	*s;

	html_put(h, "<h2>Last hour</h2>\n<p id=\"requests\">%L %s.</p>\n",
	    (long long)req, plural(req, "request", "requests"));
	if (hits + misses == 0) {
		html_raw(h, "<p id=\"hit-ratio\">No cache lookups in the last"
		    " hour.</p>\n");
		return;
	}
	s = xasprintf("<p id=\"hit-ratio\">Cache hit ratio: %.1f%% (%llu %s,"
	    " %llu %s; index files of mirrors)</p>\n", 100.0 * (double)hits /
	    (double)(hits + misses), (unsigned long long)hits, plural(hits,
	    "hit", "hits"), (unsigned long long)misses, plural(misses, "miss",
	    "misses"));
	html_raw(h, s);
	free(s);
}

/* The hit ratio of each minute with lookups, as a line on the right-hand
 * scale (0-100 %): a polyline per run of such minutes, a dot per minute. */
static void
chart_ratio(struct html *h, const struct history_bucket *b, double bw)
{
	char	*s;
	int	 run = 0;

	for (int i = 0; i <= HISTORY_MINUTES; i++) {
		uint64_t	hm = i < HISTORY_MINUTES ? b[i].n[HISTORY_HITS] +
				    b[i].n[HISTORY_MISSES] : 0;

		if (hm > 0) {
			run++;
			continue;
		}
		if (run > 1) {
			html_raw(h, "<polyline class=\"ratio\" points=\"");
			for (int k = i - run; k < i; k++) {
				s = xasprintf("%s%.1f,%.1f", k > i - run ? " " :
				    "", PLOT_L + (k + 0.5) * bw, PLOT_B - (double)
				    b[k].n[HISTORY_HITS] * (PLOT_B - PLOT_T) /
				    (double)(b[k].n[HISTORY_HITS] +
				    b[k].n[HISTORY_MISSES]));
				html_raw(h, s);
				free(s);
			}
			html_raw(h, "\"/>");
		}
		run = 0;
	}
	for (int i = 0; i < HISTORY_MINUTES; i++) {
		uint64_t	hit = b[i].n[HISTORY_HITS];
		uint64_t	hm = hit + b[i].n[HISTORY_MISSES];

		if (hm == 0)
			continue;
		s = xasprintf("<circle class=\"ratio\" cx=\"%.1f\" cy=\"%.1f\""
		    " r=\"3.5\"><title>%d min ago: %.0f%% hits (%llu of %llu)"
		    "</title></circle>", PLOT_L + (i + 0.5) * bw, PLOT_B -
		    (double)hit * (PLOT_B - PLOT_T) / (double)hm,
		    HISTORY_MINUTES - 1 - i, 100.0 * (double)hit / (double)hm,
		    (unsigned long long)hit, (unsigned long long)hm);
		html_raw(h, s);
		free(s);
	}
}

/* n in at most four characters: 999, 1.2k, 12k, 123k, 1.2M... (out: 16
 * bytes). */
static const char *
count_short(uint64_t n, char *out)
{
	static const char	units[] = "kMGTPE";
	double			v = (double)n;
	size_t			u = 0;

	if (n < 1000) {
		snprintf(out, 16, "%llu", (unsigned long long)n);
		return out;
	}
	for (v /= 1000; v >= 999.5 && u + 1 < sizeof units - 1; u++)
		v /= 1000;
	if (v < 9.95)
		snprintf(out, 16, "%.1f%c", v, units[u]);
	else
		snprintf(out, 16, "%.0f%c", v, units[u]);
	return out;
}

/* The axes and their labels: requests on the left, the hit ratio on the
 * right, the time below. */
static void
chart_axes(struct html *h, uint64_t max)
{
	char	top[16];

	html_put(h, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\""
	    " y2=\"%d\"/><line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\""
	    " y2=\"%d\"/><line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\""
	    " y2=\"%d\"/>", PLOT_L, PLOT_B, PLOT_R, PLOT_B, PLOT_L, PLOT_T,
	    PLOT_L, PLOT_B, PLOT_R, PLOT_T, PLOT_R, PLOT_B);
	html_put(h, "<text class=\"left\" x=\"%d\" y=\"%d\">%s</text>"
	    "<text class=\"left\" x=\"%d\" y=\"%d\">0</text>", PLOT_L - 6,
	    PLOT_T + 8, count_short(max, top), PLOT_L - 6, PLOT_B);
	html_put(h, "<text class=\"right\" x=\"%d\" y=\"%d\">100%%</text>"
	    "<text class=\"right\" x=\"%d\" y=\"%d\">50%%</text>"
	    "<text class=\"right\" x=\"%d\" y=\"%d\">0%%</text>", PLOT_R + 6,
	    PLOT_T + 8, PLOT_R + 6, (PLOT_T + PLOT_B) / 2 + 4, PLOT_R + 6,
	    PLOT_B);
	html_put(h, "<text x=\"%d\" y=\"%d\">60 min ago</text><text"
	    " class=\"left\" x=\"%d\" y=\"%d\">now</text>", PLOT_L, CHART_H - 6,
	    PLOT_R, CHART_H - 6);
}

/* Requests per minute as bars (left scale), the cache hit ratio of the
 * minutes with lookups as a line over them (right scale, 0-100 %). */
static void
chart(struct html *h)
{
	struct history_bucket	b[HISTORY_MINUTES];
	uint64_t		max = 1, req = 0, hits = 0, misses = 0;
	double			bw = (double)(PLOT_R - PLOT_L) /
				    HISTORY_MINUTES;

	history_get(b, time(NULL));
	for (int i = 0; i < HISTORY_MINUTES; i++) {
		if (b[i].n[HISTORY_REQUESTS] > max)
			max = b[i].n[HISTORY_REQUESTS];
		req += b[i].n[HISTORY_REQUESTS];
		hits += b[i].n[HISTORY_HITS];
		misses += b[i].n[HISTORY_MISSES];
	}
	chart_summary(h, req, hits, misses);
	html_put(h, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" role=\"img\""
	    " aria-labelledby=\"chart-title\"><title id=\"chart-title\">"
	    "Requests per minute and cache hit ratio over the last hour"
	    "</title>\n", CHART_W, CHART_H);
	for (int i = 0; i < HISTORY_MINUTES; i++) {
		uint64_t	 n = b[i].n[HISTORY_REQUESTS];
		double		 bh = (double)n * (PLOT_B - PLOT_T) / (double)max;
		char		*r;

		if (n == 0)
			continue;
		r = xasprintf("<rect class=\"req\" x=\"%.1f\" y=\"%.1f\""
		    " width=\"%.1f\" height=\"%.1f\"><title>%d min ago: %llu"
		    " %s</title></rect>", PLOT_L + i * bw + 0.5, PLOT_B - bh,
		    bw - 1, bh, HISTORY_MINUTES - 1 - i, (unsigned long long)n,
		    plural(n, "request", "requests"));
		html_raw(h, r);
		free(r);
	}
	chart_ratio(h, b, bw);
	chart_axes(h, max);
	html_raw(h, "</svg>\n<p class=\"legend\"><span class=\"req\">requests"
	    " per minute (left scale)</span><span class=\"ratio\">cache hit"
	    " ratio (right scale)</span></p>\n");
}

/* People's names for the keys of /-/ready's registry and store entries;
 * a key not here is shown with its underscores as spaces. */
static const struct {
	const char	*key, *label, *unit;
} labels[] = {
	{ "upstream", "Upstream", NULL },
	{ "upstream_state", "Upstream state", NULL },
	{ "negative_entries", "Cached not-found answers", NULL },
	{ "upstream_limit", "Adaptive upstream limit", NULL },
	{ "upstream_ceiling", "Limit ceiling", NULL },
	{ "upstream_http2", "HTTP/2 to upstream", NULL },
	{ "upstream_latency_ms", "Upstream latency", " ms" },
	{ "latency_ms", "Latency", " ms" },
	{ "probe", "Configuration probe", NULL },
	{ "probe_detail", "Probe detail", NULL },
	{ "last_ok_at", "Last success", NULL },
	{ "last_error", "Last error", NULL },
	{ "last_complete_at", "Last complete sync", NULL },
	{ "catalogue", "Catalogue", NULL },
	{ "storage", "Object store", NULL },
	{ "storage_cache", "Object store cache", NULL },
	{ "state", "State", NULL },
	{ "name", "Name", NULL },
};

/* Epoch seconds: their *_at twins say them for people. */
static bool
skipped_key(const char *k)
{
	return strcmp(k, "last_ok") == 0 || strcmp(k, "probe_time") == 0 ||
	    strcmp(k, "last_complete") == 0 || strcmp(k, "reachable") == 0;
}

/* key's label (allocated) and unit ("" when none). */
static char *
label(const char *k, const char **unit)
{
	char	*s;

	*unit = "";
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
		if (strcmp(k, labels[i].key) == 0) {
			*unit = labels[i].unit ? labels[i].unit : "";
			return xstrdup(labels[i].label);
		}
	s = xstrdup(k);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

/* A value for people: yes/no, one decimal, an object as "label value"
 * pairs (one level: /-/ready nests no deeper). */
static char *
value_text(json_t *val, const char *unit)
{
	const char	*k, *u;
	json_t		*v;
	char		*s, *l, *t, *acc = NULL;

	if (json_is_boolean(val))
		return xstrdup(json_is_true(val) ? "yes" : "no");
	if (json_is_real(val))	/* a loopback upstream answers in 0.04 ms */
		return xasprintf(json_real_value(val) < 10 ? "%.2f%s" :
		    "%.1f%s", json_real_value(val), unit);
	if (json_is_integer(val))
		return xasprintf("%lld%s", (long long)json_integer_value(val),
		    unit);
	if (json_is_string(val))
		return xstrdup(json_string_value(val));
	if (!json_is_object(val))
		return json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
	json_object_foreach(val, k, v) {
		if (skipped_key(k) || json_is_object(v))
			continue;
		l = label(k, &u);
		s = value_text(v, u);
		t = xasprintf("%s%s%s: %s", acc ? acc : "", acc ? ", " : "", l,
		    s);
		free(acc);
		free(l);
		free(s);
		acc = t;
	}
	return acc ? acc : xstrdup("none");
}

/* obj's keys (but those in skip) as <dt>/<dd> pairs. */
static void
facts(struct html *h, json_t *obj)
{
	const char	*k, *unit;
	json_t		*val;

	json_object_foreach(obj, k, val) {
		char	*l, *s;

		if (skipped_key(k) || strcmp(k, "name") == 0 ||
		    strcmp(k, "kind") == 0)
			continue;
		l = label(k, &unit);
		s = value_text(val, unit);
		html_put(h, "<dt>%s</dt><dd>%s</dd>", l, s);
		free(l);
		free(s);
	}
}

static void
registry_row(struct html *h, struct server *srv, struct registry *reg,
    bool full)
{
	json_t		*st = ops_registry_state(srv, reg, full);

	html_put(h, "<h3>%s <span class=\"badge\">%s</span></h3>\n<dl"
	    " class=\"facts\">", reg->name, reg->kind == REGISTRY_HOSTED ?
	    "hosted" : "mirror");
	facts(h, st);
	if (reg->kind == REGISTRY_MIRROR) {
		char			 max[32], used[32];
		unsigned long long	 bytes = mirror_cache_bytes(reg->mirror);
		long long		 cap = reg->cfg->max_cache_bytes;

		page_size(bytes, used);
		page_size((unsigned long long)cap, max);
		html_put(h, "<dt>Cache</dt><dd class=\"cache-bytes\">%s of %s",
		    used, cap ? max : "no limit (max_cache_bytes)");
		if (cap > 0)
			html_put(h, " <meter min=\"0\" max=\"%L\" value=\"%L\">"
			    "%s</meter>", cap, (long long)bytes, used);
		html_raw(h, "</dd>");
	} else
		html_raw(h, "<dt>Upstream</dt><dd>none: hosted</dd>");
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

/* The object stores, each with its state, or "none". */
static void
stores(struct html *h, struct server *srv)
{
	json_t	*a = ops_storage_state(srv, true), *st;
	size_t	 i;

	html_raw(h, "<h2>Stores</h2>\n");
	if (json_array_size(a) == 0)
		html_raw(h, "<p id=\"stores\" class=\"muted\">None"
		    " configured.</p>\n");
	else {
		html_raw(h, "<div id=\"stores\">\n");
		json_array_foreach(a, i, st) {
			json_t	*name = json_object_get(st, "name");

			html_put(h, "<h3>%s</h3>\n<dl class=\"facts\">",
			    json_is_string(name) ? json_string_value(name) :
			    "store");
			facts(h, st);
			html_raw(h, "</dl>\n");
		}
		html_raw(h, "</div>\n");
	}
	json_decref(a);
}

/* What only ops_access (or an admin session) shows: the disk, the
 * stores, the audit lines, the sessions. */
static void
details(struct html *h, struct web *w)
{
	size_t	n = sessions_count(w->sessions);

	disk(h, w->srv);
	stores(h, w->srv);
	writes(h);
	html_put(h, "<h2>Sessions</h2>\n<p id=\"sessions\">%z signed-in"
	    " session%s.</p>\n", n, n == 1 ? "" : "s");
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
	page_toolchain_rows(&h, w, full);
	if (full)
		details(&h, w);
	page_end(&h);
	page_send(r, 200, &h, NULL);
}
