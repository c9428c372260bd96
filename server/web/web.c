#include "server/web/web.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/handlers/auth.h"
#include "server/handlers/registry.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/web/assets.h"
#include "server/web/web_int.h"

#define SIGNIN_BODY_MAX	4096
struct web *
web_create(struct server *srv)
{
	struct web	*w = xcalloc(1, sizeof *w);

	w->srv = srv;
	w->pool = workers_create(srv->base, 1);
	w->sessions = sessions_create();
	return w;
}

void
web_start(struct web *w)
{
	summary_start(w);
}

void
web_free(struct web *w)
{
	if (w == NULL)
		return;
	summary_stop(w);
	workers_destroy(w->pool);
	free(w->seen);
	free(w->uses_gen);
	summaries_free(w->sums);
	sessions_free(w->sessions);
	for (size_t i = 0; i < DOC_CACHE; i++) {
		free(w->docs[i].key);
		readme_doc_free(&w->docs[i].doc);
	}
	for (size_t i = 0; i < LIC_SLOTS; i++) {
		free(w->lic[i].key);
		free(w->lic[i].license);
	}
	free(w);
}

size_t
web_pending(const struct web *w)
{
	return w == NULL ? 0 : w->pending;
}

static void
static_file(struct http_request *r, const char *file)
{
	const struct asset_file	*a;
	const char		*ctype;
	int			 immutable;
	char			*hdrs;

	if ((a = assets_find(file, &ctype, &immutable)) == NULL) {
		http_reply(r, 404, "text/plain; charset=utf-8",
		    "X-Content-Type-Options: nosniff\r\n", "not found\n", 10);
		return;
	}
	hdrs = xasprintf("X-Content-Type-Options: nosniff\r\nCache-Control: %s"
	    "\r\n", immutable ? "public, max-age=31536000, immutable" :
	    "public, max-age=300");
	http_reply(r, 200, ctype, hdrs, a->data, a->len);
	free(hdrs);
}

static bool
method(struct web *w, struct http_request *r, const struct viewer *v,
    bool post)
{
	enum http_method	m = http_method(r);

	if (post ? m == HTTP_POST : m == HTTP_GET || m == HTTP_HEAD)
		return true;
	page_error(w, r, v, 405, post ? "This address takes POST only." :
	    "This page takes GET only: pages never change anything.");
	return false;
}

/* A registry's pages: the registry, then whether v may read it. */
static struct registry *
registry_for(struct web *w, struct http_request *r, struct viewer *v,
    const struct route *rt, const char **glob)
{
	struct registry	*reg = registry_find(w->srv, rt->registry);

	if (reg == NULL) {
		page_error(w, r, v, 404, "There is no registry of that name.");
		return NULL;
	}
	http_set_registry(r, reg->name);
	if (!viewer_may_read(w, v, reg, glob)) {
		page_error(w, r, v, v->token == NULL ? 401 : 403, v->token ==
		    NULL ? "This registry needs a crated token: sign in." :
		    "Your token cannot read this registry.");
		return NULL;
	}
	return reg;
}

static void
redirect(struct http_request *r, const char *to)
{
	char	*hdrs = xasprintf("Location: %s\r\n%s", to, page_security_headers);

	http_reply(r, 301, "text/plain; charset=utf-8", hdrs, "", 0);
	free(hdrs);
}

void
web_handle(struct web *w, struct http_request *r, const struct route *rt)
{
	struct viewer	 v;
	struct registry	*reg;
	const char	*glob;
	char		*to;

	if (rt->kind == ROUTE_WEB_STATIC) {
		if (http_method(r) == HTTP_GET || http_method(r) == HTTP_HEAD)
			static_file(r, rt->path);
		else
			http_reply_error(r, 405, "method %s is not allowed"
			    " here", http_method_name(r));
		return;
	}
	viewer_get(w, r, &v);
	switch (rt->kind) {
	case ROUTE_WEB_HOME:
		if (method(w, r, &v, false))
			page_home(w, r, &v);
		break;
	case ROUTE_WEB_OPS:
		if (method(w, r, &v, false))
			page_ops(w, r, &v);
		break;
	case ROUTE_WEB_SIGNIN:
		if (http_method(r) == HTTP_POST)
			page_signin_post(w, r, &v);
		else if (method(w, r, &v, false))
			page_signin(w, r, &v);
		break;
	case ROUTE_WEB_SIGNOUT:
		if (method(w, r, &v, true))
			page_signout(w, r, &v);
		break;
	case ROUTE_WEB_REDIRECT:
		if (registry_find(w->srv, rt->registry) == NULL) {
			page_error(w, r, &v, 404, "There is no registry of"
			    " that name.");
			break;
		}
		to = xasprintf("/%s/", rt->registry);
		redirect(r, to);
		free(to);
		break;
	case ROUTE_WEB_REGISTRY:
		if (method(w, r, &v, false) && (reg = registry_for(w, r, &v,
		    rt, &glob)) != NULL)
			page_registry(w, r, &v, reg, glob);
		break;
	case ROUTE_WEB_CRATE:
		if (method(w, r, &v, false) && (reg = registry_for(w, r, &v,
		    rt, &glob)) != NULL)
			page_crate(w, r, &v, reg, glob, rt->name);
		break;
	default:
		page_error(w, r, &v, 404, "Nothing lives here.");
		break;
	}
	viewer_finish(&v);
}

bool
web_head(struct web *w, struct http_request *r)
{
	const char	*cl = http_header(r, "Content-Length");

	if (http_method(r) != HTTP_POST) {
		http_reply_error(r, 405, "%s %s takes no request body",
		    http_method_name(r), http_path(r));
		return false;
	}
	if (cl == NULL || strtoull(cl, NULL, 10) > SIGNIN_BODY_MAX) {
		http_reply_error(r, 413, "a sign-in form is at most %d bytes",
		    SIGNIN_BODY_MAX);
		return false;
	}
	return true;
}
