/* The toolchain mirrors on the pages: a card each on / (rustup's two
 * variables with a copy button, the upstream's state, what is cached)
 * and a section each on /-/ops (state, cache against max_cache_bytes,
 * cached toolchains and targets). Toolchains are public: shown to all. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/state.h"
#include "server/toolchains/toolchain.h"
#include "server/web/web.h"
#include "server/web/web_int.h"

/* "a, b, c" of a JSON array of strings (new), or "none". */
static char *
joined(json_t *a)
{
	char	*s = xstrdup(""), *t;
	size_t	 i;
	json_t	*v;

	json_array_foreach(a, i, v) {
		t = xasprintf("%s%s%s", s, i ? ", " : "", json_string_value(v));
		free(s);
		s = t;
	}
	if (s[0] == '\0') {
		free(s);
		s = xstrdup("none");
	}
	return s;
}

/* What the mirror has cached: its channels and toolchains. */
static void
cached(struct html *h, struct toolchain *tc)
{
	json_t	*c = toolchain_cached(tc), *v;
	size_t	 i;

	if (json_array_size(json_object_get(c, "channels")) > 0) {
		html_raw(h, "<p>Channels: ");
		json_array_foreach(json_object_get(c, "channels"), i, v)
			html_put(h, "%R<code>%s</code> (%s%s%s)", i ? ", " : "",
			    json_string_value(json_object_get(v, "path")),
			    json_string_value(json_object_get(v, "date")),
			    json_string_length(json_object_get(v, "version")) ?
			    ", " : "", json_string_value(json_object_get(v,
			    "version")));
		html_raw(h, "</p>\n");
	}
	if (json_array_size(json_object_get(c, "toolchains")) == 0) {
		html_raw(h, "<p class=\"muted\">No toolchain cached yet.</p>\n");
		json_decref(c);
		return;
	}
	html_raw(h, "<table class=\"toolchains\"><thead><tr><th>Version</th>"
	    "<th>Date</th><th>Hosts (rustc)</th><th>Targets (rust-std)</th>"
	    "</tr></thead><tbody>\n");
	json_array_foreach(json_object_get(c, "toolchains"), i, v) {
		char	*hosts = joined(json_object_get(v, "hosts"));
		char	*targets = joined(json_object_get(v, "targets"));

		html_put(h, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
		    "</tr>\n", json_string_value(json_object_get(v, "version")),
		    json_string_value(json_object_get(v, "date")), hosts,
		    targets);
		free(hosts);
		free(targets);
	}
	html_raw(h, "</tbody></table>\n");
	json_decref(c);
}

static void
card(struct html *h, struct web *w, size_t k, const char *base, bool full)
{
	struct toolchain		*tc = w->srv->tcs[k];
	const struct toolchain_config	*cfg = &w->srv->cfg->tcs[k];
	json_t				*st = toolchain_state(tc, full);
	const char			*state = json_string_value(
					    json_object_get(st,
					    "upstream_state"));
	char				*id = xasprintf("rustup-env-%s",
					    cfg->name);

	html_put(h, "<li class=\"registry-card toolchain-card\""
	    " data-toolchain=\"%s\">\n<h2>%s</h2>\n<p><span class=\"badge%s\">"
	    "%s</span> of <code>%s</code>: rustup's distribution server."
	    " Upstream: <span class=\"badge\">%s</span></p>\n"
	    "<div class=\"codebox\"><pre id=\"%s\">"
	    "export RUSTUP_DIST_SERVER=%s/%s\n"
	    "export RUSTUP_UPDATE_ROOT=%s/%s/rustup</pre>", cfg->name,
	    cfg->name, cfg->offline ? " state-warn" : "", cfg->offline ?
	    "offline toolchain mirror" : "toolchain mirror", cfg->upstream,
	    state, id, base, cfg->name, base, cfg->name);
	page_copy_button(h, id);
	html_raw(h, "</div>\n");
	cached(h, tc);
	html_raw(h, "</li>\n");
	json_decref(st);
	free(id);
}

void
page_toolchain_cards(struct html *h, struct web *w, const char *base,
    bool full)
{
	if (w->srv->ntcs == 0)
		return;
	html_raw(h, "<h2>Toolchains</h2>\n<p>Set these before <code>rustup"
	    " toolchain install</code> (<code>crated rustup-env</code> prints"
	    " them).</p>\n<ul class=\"registries\">\n");
	for (size_t i = 0; i < w->srv->ntcs; i++)
		card(h, w, i, base, full);
	html_raw(h, "</ul>\n");
}

void
page_toolchain_rows(struct html *h, struct web *w, bool full)
{
	if (w->srv->ntcs == 0)
		return;
	html_raw(h, "<h2>Toolchain mirrors</h2>\n");
	for (size_t i = 0; i < w->srv->ntcs; i++) {
		struct toolchain	*tc = w->srv->tcs[i];
		json_t			*st = toolchain_state(tc, full);
		long long		 cap = w->srv->cfg->tcs[i].max_cache_bytes;
		long long		 bytes = json_integer_value(
					    json_object_get(st, "cache_bytes"));
		char			 used[32], max[32];

		page_size((unsigned long long)bytes, used);
		page_size((unsigned long long)cap, max);
		html_put(h, "<h3>%s <span class=\"badge\">toolchains</span>"
		    "</h3>\n<dl class=\"facts\"><dt>Upstream</dt><dd>%s</dd>"
		    "<dt>Snapshots</dt><dd>%L</dd><dt>Files</dt><dd>%L</dd>"
		    "<dt>Downloads now</dt><dd>%L</dd><dt>Hits, misses</dt>"
		    "<dd>%L, %L</dd><dt>Followers</dt><dd>%L</dd><dt>Hash"
		    " failures</dt><dd>%L</dd><dt>Cache</dt><dd class=\"cache-"
		    "bytes\">%s of %s", toolchain_name(tc),
		    json_string_value(json_object_get(st, "upstream_state")),
		    json_integer_value(json_object_get(st, "snapshots")),
		    json_integer_value(json_object_get(st, "cache_files")),
		    json_integer_value(json_object_get(st, "downloads")),
		    json_integer_value(json_object_get(st, "hits")),
		    json_integer_value(json_object_get(st, "misses")),
		    json_integer_value(json_object_get(st, "followers")),
		    json_integer_value(json_object_get(st, "hash_failures")),
		    used, cap ? max : "no limit (max_cache_bytes)");
		if (cap > 0)
			html_put(h, " <meter min=\"0\" max=\"%L\" value=\"%L\">"
			    "%s</meter>", cap, bytes, used);
		html_raw(h, "</dd>");
		if (full && json_is_string(json_object_get(st, "last_error")))
			html_put(h, "<dt>Last error</dt><dd>%s</dd>",
			    json_string_value(json_object_get(st,
			    "last_error")));
		html_raw(h, "</dl>\n");
		cached(h, tc);
		json_decref(st);
	}
}
