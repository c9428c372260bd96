/* What every page shares: who is looking (sessions and tokens), the
 * frame around a page and its headers, small formatters, the README
 * cache. The pages (page_*.c) and the dispatcher (web.c) call it. */
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cache/store.h"
#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "server/core/state.h"
#include "server/handlers/auth.h"
#include "server/http/http.h"
#include "server/http/http_parse.h"
#include "server/web/assets.h"
#include "server/web/web.h"
#include "server/web/web_int.h"

const char page_security_headers[] = WEB_SECURITY_HEADERS;

static struct lic_slot *
lic_slot(struct web *w, const char *key)
{
	uint32_t	h = 2166136261u;

	for (const char *p = key; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &w->lic[h % LIC_SLOTS];
}

bool
lic_get(struct web *w, const char *key, const char **license)
{
	struct lic_slot	*sl = lic_slot(w, key);

	if (sl->key == NULL || strcmp(sl->key, key) != 0)
		return false;
	*license = sl->license;
	return true;
}

void
lic_put(struct web *w, const char *key, const char *license)
{
	struct lic_slot	*sl = lic_slot(w, key);

	free(sl->key);
	free(sl->license);
	sl->key = xstrdup(key);
	sl->license = license ? xstrdup(license) : NULL;
}

const struct doc_entry *
doc_get(struct web *w, const char *key)
{
	for (size_t i = 0; i < DOC_CACHE; i++)
		if (w->docs[i].key != NULL && strcmp(w->docs[i].key, key) == 0)
			return &w->docs[i];
	return NULL;
}

void
doc_put(struct web *w, const char *key, struct crate_doc *doc, bool found)
{
	struct doc_entry	*e = &w->docs[w->next_doc];

	w->next_doc = (w->next_doc + 1) % DOC_CACHE;
	free(e->key);
	readme_doc_free(&e->doc);
	e->key = xstrdup(key);
	e->doc = *doc;
	e->found = found;
	memset(doc, 0, sizeof *doc);
	lic_put(w, key, e->doc.license);
}

/* web/readme/<index path>/<vers>.json; false for a version that is
 * no safe file name. */
static bool
doc_rel(const char *name, const char *vers, char *out)
{
	char	irel[STORE_PATH_MAX];
	size_t	n = strlen(vers);
	int	len;

	if (n == 0 || n > 64 || vers[0] == '.' || strspn(vers,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-")
	    != n)
		return false;
	store_index_rel(name, irel);
	len = snprintf(out, STORE_PATH_MAX, "web/readme/%s/%s.json",
	    irel + strlen("index/"), vers);
	return len > 0 && len < STORE_PATH_MAX;
}

static const char	*doc_keys[] = { "description", "license",
			    "repository", "homepage", "readme_html",
			    "readme_name" };

static char **
doc_field(struct crate_doc *doc, size_t k)
{
	char	**f[] = { &doc->description, &doc->license, &doc->repository,
		    &doc->homepage, &doc->readme_html, &doc->readme_name };

	return f[k];
}

int
doc_load(struct store *st, const char *name, const char *vers,
    struct crate_doc *doc)
{
	char		 rel[STORE_PATH_MAX], *buf;
	size_t		 len;
	json_t		*o;

	memset(doc, 0, sizeof *doc);
	if (!doc_rel(name, vers, rel) || store_read(st, rel, &buf, &len, NULL,
	    4 * README_MAX) != 0)
		return -1;
	o = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	for (size_t k = 0; k < sizeof doc_keys / sizeof doc_keys[0]; k++) {
		const char	*s = json_string_value(json_object_get(o,
				    doc_keys[k]));

		*doc_field(doc, k) = s ? xstrdup(s) : NULL;
	}
	json_decref(o);
	return 0;
}

bool
doc_kept(struct store *st, const char *name, const char *vers)
{
	char	rel[STORE_PATH_MAX];

	return doc_rel(name, vers, rel) && store_exists(st, rel) == 1;
}

void
doc_save(struct store *st, const char *name, const char *vers,
    const struct crate_doc *doc)
{
	const char	*vals[] = { doc->description, doc->license,
			    doc->repository, doc->homepage, doc->readme_html,
			    doc->readme_name };
	char		 rel[STORE_PATH_MAX], *s;
	json_t		*o;

	if (!doc_rel(name, vers, rel))
		return;

	o = json_object();
	for (size_t k = 0; k < sizeof doc_keys / sizeof doc_keys[0]; k++)
		if (vals[k] != NULL)
			json_object_set_new(o, doc_keys[k],
			    json_string(vals[k]));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL)
		(void)store_write_cache(st, rel, s, strlen(s), NULL, NULL);
	free(s);
	json_decref(o);
}

/* The token of a valid session cookie, else of an Authorization header. */
void
viewer_get(struct web *w, struct http_request *r, struct viewer *v)
{
	struct server		*srv = w->srv;
	const struct session	*s;
	const struct token	*t;
	const char		*auth = http_header(r, "Authorization");
	char			 id[SESSION_ID_LEN + 1];

	memset(v, 0, sizeof *v);
	if (session_cookie(http_header(r, "Cookie"), "crated_session", id,
	    sizeof id) && (s = sessions_find(w->sessions, id,
	    time(NULL))) != NULL) {
		v->token = xstrdup(s->token);
		v->session = true;
		memcpy(v->csrf, s->csrf, sizeof v->csrf);
	} else if (auth != NULL)
		v->token = xstrdup(auth);
	if (v->token == NULL)
		return;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	for (int pass = 0; pass < 2 && v->label == NULL; pass++) {
		/* A token made a moment ago: the file is looked at now. */
		if (pass == 1)
			tokens_refresh_now(srv->cfg->data_dir, &srv->tokens);
		for (size_t i = 0; i < srv->nregs; i++)
			if ((t = tokens_check(&srv->tokens, v->token,
			    srv->regs[i].name, time(NULL))) != NULL) {
				if (v->label == NULL)
					v->label = xstrdup(t->label);
				v->admin = v->admin || t->scope == SCOPE_ADMIN;
			}
	}
}

void
viewer_finish(struct viewer *v)
{
	free(v->token);
	free(v->label);
	memset(v, 0, sizeof *v);
}

bool
viewer_may_read(struct web *w, const struct viewer *v, struct registry *reg,
    const char **glob)
{
	const struct token	*t;

	*glob = NULL;
	if (!reg->cfg->auth_required)
		return true;
	if (v->token == NULL)
		return false;
	t = tokens_check(&w->srv->tokens, v->token, reg->name, time(NULL));
	if (t == NULL)
		return false;
	if (t->scope != SCOPE_ADMIN)
		*glob = t->crates;
	return true;
}

bool
viewer_may_ops(struct web *w, const struct viewer *v, struct http_request *r)
{
	return v->admin || auth_ops_allowed(w->srv, r);
}

bool
crate_visible(const char *glob, const char *name)
{
	return glob == NULL || fnmatch(glob, name, 0) == 0;
}

void
page_start(struct html *h, const struct viewer *v, const char *title)
{
	html_put(h, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\""
	    " content=\"width=device-width, initial-scale=1\">\n"
	    "<title>%s · crated</title>\n<link rel=\"stylesheet\""
	    " href=\"%s\">\n<link rel=\"icon\" href=\"data:,\">\n"
	    "<script src=\"%s\" defer></script>\n"
	    "</head><body>\n<a class=\"skip\" href=\"#main\">Skip to"
	    " content</a>\n<header class=\"top\"><a class=\"brand\""
	    " href=\"/\">crated</a>\n<nav aria-label=\"Main\"><ul>"
	    "<li><a href=\"/\">Registries</a></li>"
	    "<li><a href=\"/-/ops\">Operations</a></li></ul></nav>\n", title,
	    assets_url("style.css"), assets_url("app.js"));
	if (v->session)
		html_put(h, "<form method=\"post\" action=\"/-/signout\">"
		    "<span class=\"muted\">Signed in as %s</span> "
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
		    "<button type=\"submit\" class=\"secondary\">Sign out"
		    "</button></form>\n", v->label ? v->label : "?", v->csrf);
	else
		html_raw(h, "<a href=\"/-/signin\">Sign in</a>\n");
	html_raw(h, "</header>\n<main id=\"main\">\n");
}

void
page_end(struct html *h)
{
	html_raw(h, "</main>\n<footer>crated " CRATED_VERSION "</footer>\n"
	    "</body></html>\n");
}

void
page_send(struct http_request *r, int status, struct html *h,
    const char *more)
{
	char	*hdrs = xasprintf("%sCache-Control: no-cache, private\r\n"
		    "Vary: Cookie, Authorization\r\n%s", page_security_headers,
		    more ? more : "");

	http_reply(r, status, "text/html; charset=utf-8", hdrs, h->buf,
	    h->len);
	free(hdrs);
	html_finish(h);
}

void
page_error(struct web *w, struct http_request *r, const struct viewer *v,
    int status, const char *what)
{
	struct html	h;
	const char	*title = status == 401 ? "Sign in needed" :
			    status == 403 ? "Not allowed" : status == 404 ?
			    "Not found" : "Error";

	html_init(&h);
	page_start(&h, v, title);
	html_put(&h, "<h1>%s</h1>\n<p class=\"notice error\">%s</p>\n", title,
	    what);
	if (status == 401 || status == 403) {
		html_raw(&h, "<p><a href=\"/-/signin?next=");
		html_url(&h, http_path(r));
		html_put(&h, "\">%s</a></p>\n", status == 401 ? "Sign in with"
		    " a crated token" : "Sign in with another token");
	}
	page_end(&h);
	page_send(r, status, &h, NULL);
}

void
page_copy_button(struct html *h, const char *id)
{
	html_put(h, "<button type=\"button\" class=\"copy\" data-copy=\"#%s\""
	    " hidden>Copy</button>", id);
}

void
page_time(time_t t, char *out)
{
	struct tm	tm;

	out[0] = '\0';
	if (t > 0 && gmtime_r(&t, &tm) != NULL)
		strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

void
page_size(unsigned long long n, char *out)
{
	if (n < 1024)
		snprintf(out, 32, "%llu B", n);
	else if (n < 1024 * 1024)
		snprintf(out, 32, "%.1f KiB", (double)n / 1024);
	else if (n < 1024ULL * 1024 * 1024)
		snprintf(out, 32, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(out, 32, "%.2f GiB", (double)n / (1024.0 * 1024 *
		    1024));
}

bool
page_param(struct http_request *r, const char *key, char *out, size_t size)
{
	return http_query(r) != NULL && http_query_param(http_query(r), key,
	    out, size) == 0;
}
