#include "server/handlers/registry.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/state.h"
#include "server/http/http.h"

struct registry *
registry_find(struct server *srv, const char *name)
{
	for (size_t i = 0; i < srv->nregs; i++)
		if (strcmp(srv->regs[i].name, name) == 0)
			return &srv->regs[i];
	return NULL;
}

/* True when s is a Host crated may put in the URLs it answers with: a
 * name or IPv4 address (letters, digits, '-' and '.') or a bracketed IPv6
 * address, then an optional :PORT. Nothing that could end a JSON string
 * or a header, or add a path or user to a URL, passes. */
static bool
valid_host(const char *s)
{
	size_t	n = 0;

	if (s == NULL || strlen(s) > 255)
		return false;
	if (*s == '[') {
		for (s++; *s != ']'; s++, n++)
			if (*s == '\0' || !(isxdigit((unsigned char)*s) ||
			    *s == ':' || *s == '.'))
				return false;
		s++;
	} else
		for (; *s != '\0' && *s != ':'; s++, n++)
			if (!isalnum((unsigned char)*s) && *s != '-' &&
			    *s != '.')
				return false;
	if (n == 0)
		return false;
	if (*s == '\0')
		return true;
	if (*s++ != ':' || *s == '\0' || strlen(s) > 5 || atoi(s) > 65535)
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* public_url when set; else the scheme of the listener r came in on with
 * the Host r named (when valid_host; without a port, the listener's
 * unless it is the scheme's default), or that listener's own address. So
 * a client on the TLS listener is never sent to http://. */
char *
registry_base_url(const struct server *srv, const struct http_request *r)
{
	const char	*host = http_header(r, "Host");
	bool		 tls = http_is_tls(r);
	int		 port;

	if (srv->cfg->public_url != NULL)
		return xstrdup(srv->public_url);
	if (valid_host(host)) {
		port = http_local_port(r);
		if (strchr(host, ']') != NULL ? strstr(host, "]:") != NULL :
		    strchr(host, ':') != NULL)
			port = 0;		/* named in Host */
		if (port == (tls ? 443 : 80))
			port = 0;
		if (port == 0)
			return xasprintf("%s://%s", tls ? "https" : "http",
			    host);
		return xasprintf("%s://%s:%d", tls ? "https" : "http", host,
		    port);
	}
	if (tls && srv->url_tls != NULL)
		return xstrdup(srv->url_tls);
	if (!tls && srv->url_plain != NULL)
		return xstrdup(srv->url_plain);
	return xstrdup(srv->public_url);
}
