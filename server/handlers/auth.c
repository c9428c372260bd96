#include "server/handlers/auth.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/handlers/registry.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/storage/tokensync.h"
#include "server/web/web.h"

/*
 * ops_access: whether r may read /-/metrics, /-/registries and the
 * upstreams in /-/ready. "open"; "auto" while no registry has
 * auth_required; otherwise an admin token (of any registry) or the secret
 * in ops_token_env, compared in constant time.
 */
bool
auth_ops_allowed(struct server *srv, struct http_request *r)
{
	enum ops_access		 mode = srv->cfg->ops_access;
	const char		*value = http_header(r, "Authorization");
	const char		*secret = NULL, *v;
	const struct token	*t;
	bool			 closed = mode == OPS_ACCESS_TOKEN;

	for (size_t i = 0; mode == OPS_ACCESS_AUTO && i < srv->nregs; i++)
		closed = closed || srv->regs[i].cfg->auth_required;
	if (!closed)
		return true;
	if (value == NULL)
		return false;
	if (srv->cfg->ops_token_env != NULL)
		secret = getenv(srv->cfg->ops_token_env);
	v = strncasecmp(value, "Bearer ", 7) == 0 ? value + 7 : value;
	if (secret != NULL && *secret != '\0' && strlen(v) == strlen(secret) &&
	    CRYPTO_memcmp(v, secret, strlen(secret)) == 0)
		return true;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	for (size_t i = 0; i < srv->nregs; i++) {
		t = tokens_check(&srv->tokens, value, srv->regs[i].name,
		    time(NULL));
		if (t != NULL && t->scope == SCOPE_ADMIN) {
			http_set_user(r, t->label, (int)t->scope, t->crates);
			return true;
		}
	}
	return false;
}

/* auth_ops_allowed, else a 401 saying what opens the endpoint. */
bool
auth_ops_gate(struct server *srv, struct http_request *r)
{
	if (auth_ops_allowed(srv, r))
		return true;
	if (http_header(r, "Authorization") != NULL)
		log_warn("%s: %s sent a token that is not an admin token or the"
		    " ops_token_env secret", http_path(r), http_peer(r));
	http_reply_error_hdrs(r, 401, "WWW-Authenticate: Bearer realm=\"crated"
	    " ops\"\r\n", "%s needs an admin token (crated token create"
	    " --scope admin) or the ops_token_env secret: ops_access is %s",
	    http_path(r), srv->cfg->ops_access == OPS_ACCESS_AUTO ? "\"auto\""
	    " and a registry has auth_required" : "\"token\"");
	return false;
}

static int
scope_needed(const struct route *rt, enum http_method m)
{
	switch (rt->kind) {
	case ROUTE_PUBLISH:
		return SCOPE_PUBLISH;
	case ROUTE_YANK:
	case ROUTE_UNYANK:
		return SCOPE_YANK;
	case ROUTE_OWNERS:
		return m == HTTP_GET ? SCOPE_READ : SCOPE_PUBLISH;
	default:
		return SCOPE_READ;
	}
}

/*
 * auth_required: every request but /R/me carries a valid crated token for
 * this registry with the scope the route needs. No token: 401 with cargo's
 * login hint. A bad token: 401 on reads (cargo then says the token was
 * rejected), 403 on the web API (registry-web-api.md). Returns false when
 * the request has been answered.
 */
bool
auth_request(struct server *srv, struct registry *reg,
    struct http_request *r, const struct route *rt)
{
	const char		*value = http_header(r, "Authorization");
	const struct token	*t;
	char			*hdr, *base;
	int			 need = scope_needed(rt, http_method(r));

	if (!reg->cfg->auth_required || rt->kind == ROUTE_ME)
		return true;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	if (value == NULL) {
		base = registry_base_url(srv, r);
		hdr = xasprintf("WWW-Authenticate: Cargo login_url=\"%s/%s/me\""
		    "\r\n", base, reg->name);
		http_reply_error_hdrs(r, 401, hdr, "registry `%s` needs a"
		    " crated token; see %s/%s/me", reg->name, base, reg->name);
		free(hdr);
		free(base);
		return false;
	}
	if ((t = tokens_check(&srv->tokens, value, reg->name,
	    time(NULL))) == NULL) {
		/* `crated token create` a moment ago: look at the file now
		 * (a stat; it is read again only when it changed). */
		tokens_refresh_now(srv->cfg->data_dir, &srv->tokens);
		t = tokens_check(&srv->tokens, value, reg->name, time(NULL));
	}
	if (t == NULL) {
		bool	api = route_is_api(rt->kind) && rt->kind !=
			    ROUTE_DOWNLOAD;

		/* Tokens in the store: one made on another replica a
		 * moment ago works at the client's next try. */
		tokensync_unknown(srv->tokensync);

		log_warn("registry %s: %s sent an unknown, revoked or expired"
		    " token", reg->name, http_peer(r));
		base = registry_base_url(srv, r);
		hdr = xasprintf("WWW-Authenticate: Cargo login_url=\"%s/%s/me\""
		    "\r\n", base, reg->name);
		http_reply_error_hdrs(r, api ? 403 : 401, api ? NULL : hdr,
		    "the token is not valid for registry `%s` (unknown,"
		    " revoked or expired); see %s/%s/me", reg->name, base,
		    reg->name);
		free(hdr);
		free(base);
		return false;
	}
	http_set_user(r, t->label, (int)t->scope, t->crates);
	if (!scope_allows(t->scope, (enum scope)need)) {
		http_reply_error(r, 403, "token `%s` has the %s scope; this"
		    " needs %s", t->label, scope_name(t->scope),
		    scope_name((enum scope)need));
		return false;
	}
	return true;
}

bool
auth_may_write(struct http_request *r, const char *crate, int need)
{
	const char	*crates, *label;
	int		 scope;

	if ((label = http_user(r, &scope, &crates)) == NULL)
		return true;
	if (!scope_allows((enum scope)scope, (enum scope)need)) {
		http_reply_error(r, 403, "token `%s` has the %s scope; this"
		    " needs %s", label, scope_name((enum scope)scope),
		    scope_name((enum scope)need));
		return false;
	}
	if (crates != NULL && scope != SCOPE_ADMIN &&
	    fnmatch(crates, crate, 0) != 0) {
		http_reply_error(r, 403, "token `%s` may only change crates"
		    " matching `%s`, not `%s`", label, crates, crate);
		return false;
	}
	return true;
}

/* Whether r carries the peers' secret (peer_token_env), compared in
 * constant time. */
bool
auth_peer(struct server *srv, struct http_request *r)
{
	const char	*auth = http_header(r, "Authorization");
	const char	*secret = srv->cfg->peer_token_env ?
			    getenv(srv->cfg->peer_token_env) : NULL;

	return secret != NULL && auth != NULL && strncmp(auth,
	    "Crated-Peer ", 12) == 0 && strlen(auth + 12) == strlen(secret) &&
	    CRYPTO_memcmp(auth + 12, secret, strlen(secret)) == 0;
}

/*
 * The HTTP layer's head hook's work (rt: r's route): a request that
 * carries a body is authorized on its head, as handle() authorizes it,
 * before a byte of the body is read, so that a client without a valid
 * token cannot make crated hold its bodies. Requests outside every
 * registry go on (handle() answers them). True to let the body come;
 * false once r has been answered.
 */
bool
auth_head(struct server *srv, struct http_request *r, const struct route *rt)
{
	struct registry	*reg;

	switch (rt->kind) {
	case ROUTE_PURGE:
		if (!auth_peer(srv, r)) {
			http_reply_error(r, 403, "purges need the peer secret");
			return false;
		}
		return true;
	case ROUTE_PUBLISH:
	case ROUTE_OWNERS:
		if ((reg = registry_find(srv, rt->registry)) == NULL)
			break;
		http_set_registry(r, reg->name);
		return auth_request(srv, reg, r, rt);
	default:
		break;
	}
	/* Nothing else takes a body: answered on the head, so that no one
	 * can hold the body budget with requests that need no token. */
	http_reply_error(r, rt->kind == ROUTE_NONE || (rt->registry[0] !=
	    '\0' && registry_find(srv, rt->registry) == NULL) ? 404 : 405,
	    "%s %s takes no request body", http_method_name(r), http_path(r));
	return false;
}
