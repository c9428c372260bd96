/* Finding a registry of the server, and the base URL crated hands out in
 * the URLs of its registries (config.json, login_url, /R/me,
 * /-/registries, relayed publishes). Below the dispatcher and the
 * handlers, which all use it; calls none of them. */
#ifndef SERVER_HANDLERS_REGISTRY_H
#define SERVER_HANDLERS_REGISTRY_H

struct http_request;
struct server;

/* The registry named name, or NULL. */
struct registry	*registry_find(struct server *, const char *name);
/* crated's base URL (new, no trailing '/') as r's client reached it, for
 * the URLs crated hands out (config.json, login_url, /R/me). */
char		*registry_base_url(const struct server *,
		    const struct http_request *);

#endif
