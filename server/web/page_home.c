/* GET /: the registries the viewer may read, with the cargo
 * configuration for each. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "server/core/cargoconf.h"
#include "server/core/state.h"
#include "server/handlers/ops.h"
#include "server/handlers/registry.h"
#include "server/http/http.h"
#include "server/web/web.h"
#include "server/web/web_int.h"

/* "ok", "failing"...: the class that colours it. */
static const char *
state_class(const char *s)
{
	if (s == NULL)
		return "";
	if (strcmp(s, "ok") == 0)
		return "state-ok";
	if (strcmp(s, "not contacted yet") == 0 || strcmp(s, "offline") == 0
	    || strcmp(s, "pending") == 0)
		return "state-warn";
	return "state-bad";
}

static void
registry_kind(struct html *h, struct registry *reg, json_t *st)
{
	const char	*state = json_string_value(json_object_get(st,
			    "upstream_state"));
	const char	*probe = json_string_value(json_object_get(st,
			    "probe"));

	if (reg->kind == REGISTRY_HOSTED) {
		html_raw(h, "<p><span class=\"badge\">hosted</span> crates are"
		    " published to crated itself.</p>\n");
		return;
	}
	if (reg->cfg->offline) {
		html_put(h, "<p><span class=\"badge state-warn\">offline</span>"
		    " mirror of <code>%s</code>: serves only what is cached."
		    "</p>\n", reg->cfg->upstream);
		return;
	}
	html_put(h, "<p><span class=\"badge\">mirror</span> of <code>%s</code>"
	    "</p>\n<p>Upstream: <span class=\"badge %s\">%s</span>",
	    reg->cfg->upstream, state_class(state), state ? state : "unknown");
	if (probe != NULL)
		html_put(h, " · last probe: <span class=\"%s\">%s</span>",
		    state_class(probe), probe);
	html_raw(h, "</p>\n");
}

static void
registry_card(struct html *h, struct web *w, struct registry *reg,
    const char *base, bool full)
{
	json_t	*st = ops_registry_state(w->srv, reg, full);
	char	*conf = cargoconf_registry(reg->cfg, base);
	char	*id = xasprintf("cargo-config-%s", reg->name);

	html_put(h, "<li class=\"registry-card\" data-registry=\"%s\">\n"
	    "<h2><a href=\"/%s/\">%s</a></h2>\n", reg->name, reg->name,
	    reg->name);
	registry_kind(h, reg, st);
	if (reg->cfg->auth_required)
		html_raw(h, "<p>Needs a crated token to read.</p>\n");
	html_put(h, "<p><a href=\"/%s/\">Browse crates</a> · <a href=\"/%s/me\">"
	    "Tokens and cargo setup</a></p>\n<h3>Cargo configuration</h3>\n"
	    "<div class=\"codebox\"><pre id=\"%s\">%s</pre>", reg->name,
	    reg->name, id, conf);
	page_copy_button(h, id);
	html_raw(h, "</div>\n</li>\n");
	json_decref(st);
	free(conf);
	free(id);
}

void
page_home(struct web *w, struct http_request *r, struct viewer *v)
{
	struct server	*srv = w->srv;
	struct html	 h;
	char		*base = registry_base_url(srv, r);
	const char	*glob;
	bool		 full = viewer_may_ops(w, v, r);
	size_t		 shown = 0, hidden = 0;

	html_init(&h);
	page_start(&h, v, "Registries");
	html_put(&h, "<h1>Registries</h1>\n<p>Put the configuration of a"
	    " registry in <code>$CARGO_HOME/config.toml</code> or a project's"
	    " <code>.cargo/config.toml</code>.</p>\n<ul class=\"registries\">"
	    "\n");
	for (size_t i = 0; i < srv->nregs; i++) {
		if (!viewer_may_read(w, v, &srv->regs[i], &glob)) {
			hidden++;
			continue;
		}
		registry_card(&h, w, &srv->regs[i], base, full);
		shown++;
	}
	html_raw(&h, "</ul>\n");
	if (shown == 0 && srv->ntcs == 0)
		html_raw(&h, "<p class=\"notice\">No registry to show.</p>\n");
	page_toolchain_cards(&h, w, base, full);
	if (hidden > 0 && v->token == NULL)
		html_raw(&h, "<p class=\"notice\">Some registries need a"
		    " crated token: <a href=\"/-/signin\">sign in</a>.</p>\n");
	page_end(&h);
	page_send(r, 200, &h, NULL);
	free(base);
}

/* GET /R/me: how a person gets a token and sets up cargo; needs no
 * token, in the frame of the other pages. */
void
web_me(struct web *w, struct registry *reg, struct http_request *r)
{
	struct viewer	 v;
	struct html	 h;
	char		*upper = xstrdup(reg->name), *title;
	char		*base = registry_base_url(w->srv, r);

	for (char *p = upper; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 :
		    *p);
	viewer_get(w, r, &v);
	title = xasprintf("Registry %s: tokens and cargo", reg->name);
	html_init(&h);
	page_start(&h, &v, title);
	html_put(&h, "<p><a href=\"/%s/\">← %s</a></p>\n"
	    "<h1>Registry <code>%s</code></h1>\n<p>This registry %s.</p>\n"
	    "<h2>Getting a token</h2>\n<p>Ask the operator of this crated to"
	    " run</p>\n<pre>crated token create --registry %s --scope read"
	    " --name YOUR-NAME</pre>\n<p>(<code>--scope publish</code> to"
	    " publish, <code>yank</code> to yank). The token, starting with"
	    " <code>crated_</code>, is shown once.</p>\n"
	    "<h2>Configuring cargo</h2>\n<pre id=\"me-config\">"
	    "[registries.%s]\nindex = \"sparse+%s/%s/\"\n"
	    "credential-provider = [\"cargo:token\"]</pre>", reg->name,
	    reg->name, reg->name, reg->cfg->auth_required ? "needs a token for"
	    " every request" : "does not need a token to read", reg->name,
	    reg->name, base, reg->name);
	page_copy_button(&h, "me-config");
	html_put(&h, "\n<p>then <code>cargo login --registry %s</code> and"
	    " paste the token, or set <code>CARGO_REGISTRIES_%s_TOKEN</code>."
	    "</p>\n", reg->name, upper);
	page_end(&h);
	page_send(r, 200, &h, NULL);
	viewer_finish(&v);
	free(title);
	free(upper);
	free(base);
}
