/* Signing in and out. GET /-/signin shows a form whose CSRF field
 * matches a cookie it sets (crated_csrf: double submit, SameSite=Strict);
 * POST /-/signin checks both and the token, then sets crated_session;
 * POST /-/signout needs the session's own CSRF token. A POST whose Origin
 * names another host is refused. Nothing changes on GET. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/http/http.h"
#include "server/http/http_parse.h"
#include "server/web/web_int.h"

#define FIELD_MAX	512

/* A POST from a page of another origin: its Origin names another host
 * than the Host the browser sent. */
static bool
cross_origin(struct http_request *r)
{
	const char	*origin = http_header(r, "Origin");
	const char	*host = http_header(r, "Host");
	const char	*p;

	if (origin == NULL)
		return false;		/* SameSite cookies cover it */
	if (host == NULL || (p = strstr(origin, "://")) == NULL)
		return true;
	return strcmp(p + 3, host) != 0;
}

/* ?next= when it is a path of this site, else "/". */
static void
next_path(const char *query, char *out, size_t size)
{
	if (query == NULL || http_query_param(query, "next", out, size) != 0 ||
	    out[0] != '/' || out[1] == '/' || out[1] == '\\' ||
	    strpbrk(out, "\r\n") != NULL)
		snprintf(out, size, "/");
}

static void
form(struct web *w, struct http_request *r, struct viewer *v, int status,
    const char *msg, const char *next)
{
	struct html	 h;
	char		 csrf[SESSION_ID_LEN + 1], *cookie;

	if (!session_cookie(http_header(r, "Cookie"), "crated_csrf", csrf,
	    sizeof csrf) || strlen(csrf) != SESSION_ID_LEN)
		if (session_random(csrf) != 0) {
			page_error(w, r, v, 500, "No random numbers.");
			return;
		}
	html_init(&h);
	page_start(&h, v, "Sign in");
	html_raw(&h, "<h1>Sign in</h1>\n");
	if (msg != NULL)
		html_put(&h, "<p class=\"notice error\" role=\"alert\">%s</p>\n",
		    msg);
	html_put(&h, "<p>Registries with <code>auth_required</code> show"
	    " their pages to holders of a crated token. Paste yours (it starts"
	    " with <code>crated_</code>); it is kept in this server's memory"
	    " for the session only.</p>\n<form method=\"post\""
	    " action=\"/-/signin\">\n<input type=\"hidden\" name=\"csrf\""
	    " value=\"%s\">\n<input type=\"hidden\" name=\"next\" value=\"%s\">"
	    "\n<p><label for=\"token\">crated token</label><br>\n<input"
	    " type=\"password\" id=\"token\" name=\"token\""
	    " autocomplete=\"off\" required></p>\n<p><button type=\"submit\">"
	    "Sign in</button></p>\n</form>\n", csrf, next);
	page_end(&h);
	cookie = xasprintf("Set-Cookie: crated_csrf=%s; HttpOnly;"
	    " SameSite=Strict; Path=/-/; Max-Age=3600%s\r\n", csrf,
	    http_is_tls(r) ? "; Secure" : "");
	page_send(r, status, &h, cookie);
	free(cookie);
}

void
page_signin(struct web *w, struct http_request *r, struct viewer *v)
{
	char	next[FIELD_MAX];

	next_path(http_query(r), next, sizeof next);
	form(w, r, v, 200, NULL, next);
}

static void
see_other(struct http_request *r, const char *to, const char *cookie)
{
	char	*hdrs = xasprintf("Location: %s\r\nCache-Control: no-store\r\n"
		    "%s", to, cookie);

	http_reply(r, 303, "text/plain; charset=utf-8", hdrs, "", 0);
	free(hdrs);
}

/* The form's fields, from the body (application/x-www-form-urlencoded,
 * at most SIGNIN_BODY_MAX bytes: web_head). */
static bool
field(struct http_request *r, const char *key, char *out, size_t size)
{
	size_t		 len;
	const char	*body = (const char *)http_body(r, &len);
	char		*copy;
	bool		 ok;

	if (body == NULL)
		return false;
	copy = xstrndup(body, len);
	ok = http_query_param(copy, key, out, size) == 0;
	free(copy);
	return ok;
}

static const struct token *
token_anywhere(struct server *srv, const char *value)
{
	const struct token	*t = NULL;

	tokens_refresh_now(srv->cfg->data_dir, &srv->tokens);
	for (size_t i = 0; t == NULL && i < srv->nregs; i++)
		t = tokens_check(&srv->tokens, value, srv->regs[i].name,
		    time(NULL));
	return t;
}

void
page_signin_post(struct web *w, struct http_request *r, struct viewer *v)
{
	char			 csrf[SESSION_ID_LEN + 1], cookie_csrf[
				     SESSION_ID_LEN + 1];
	char			 token[FIELD_MAX], next[FIELD_MAX], *cookie;
	const struct session	*s;
	const struct token	*t;

	if (!field(r, "next", next, sizeof next))
		next[0] = '\0';
	if (next[0] != '/' || next[1] == '/' || next[1] == '\\')
		snprintf(next, sizeof next, "/");
	if (cross_origin(r) || !field(r, "csrf", csrf, sizeof csrf) ||
	    !session_cookie(http_header(r, "Cookie"), "crated_csrf",
	    cookie_csrf, sizeof cookie_csrf) ||
	    !session_token_equal(cookie_csrf, csrf)) {
		form(w, r, v, 403, "The form expired or came from elsewhere:"
		    " try again.", next);
		return;
	}
	if (!field(r, "token", token, sizeof token) ||
	    (t = token_anywhere(w->srv, token)) == NULL) {
		log_warn("web: %s: sign-in with an unknown, revoked or expired"
		    " token", http_peer(r));
		form(w, r, v, 401, "That token is not valid here (unknown,"
		    " revoked or expired).", next);
		return;
	}
	if ((s = sessions_new(w->sessions, token, time(NULL))) == NULL) {
		page_error(w, r, v, 500, "No random numbers.");
		return;
	}
	log_info("web: %s signed in as %s", http_peer(r), t->label);
	cookie = xasprintf("Set-Cookie: crated_session=%s; HttpOnly;"
	    " SameSite=Strict; Path=/; Max-Age=%d%s\r\n", s->id, SESSION_TTL,
	    http_is_tls(r) ? "; Secure" : "");
	see_other(r, next, cookie);
	free(cookie);
}

void
page_signout(struct web *w, struct http_request *r, struct viewer *v)
{
	char	csrf[SESSION_ID_LEN + 1], id[SESSION_ID_LEN + 1];

	if (!v->session || cross_origin(r) || !field(r, "csrf", csrf,
	    sizeof csrf) || !session_token_equal(v->csrf, csrf)) {
		page_error(w, r, v, 403, "Sign-out needs the form of a page of"
		    " this site, while signed in.");
		return;
	}
	if (session_cookie(http_header(r, "Cookie"), "crated_session", id,
	    sizeof id))
		sessions_end(w->sessions, id);
	see_other(r, "/", "Set-Cookie: crated_session=; HttpOnly;"
	    " SameSite=Strict; Path=/; Max-Age=0\r\n");
}
