#include "server/http/route.h"

#include <string.h>

#include "index/semver.h"

/* Copies the next '/'-separated segment of *p into out (size bytes) and
 * advances *p past it and its '/'. -1 when the segment is empty or too
 * long. */
static int
segment(const char **p, char *out, size_t size)
{
	size_t	len = strcspn(*p, "/");

	if (len == 0 || len >= size)
		return -1;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	if (**p == '/')
		(*p)++;
	return 0;
}

static int
none(struct route *rt, const char *why)
{
	rt->kind = ROUTE_NONE;
	rt->why = why;
	return 0;
}

static int
api(const char *p, struct route *rt)
{
	struct semver	v;
	char		seg[VERSION_MAX + 1];

	if (*p == '\0') {
		rt->kind = ROUTE_SEARCH;
		return 0;
	}
	if (strcmp(p, "new") == 0) {
		rt->kind = ROUTE_PUBLISH;
		return 0;
	}
	if (segment(&p, rt->name, sizeof rt->name) != 0 ||
	    crate_name_check(rt->name, NULL) != 0)
		return none(rt, "invalid crate name");
	if (strcmp(p, "owners") == 0) {
		rt->kind = ROUTE_OWNERS;
		return 0;
	}
	if (segment(&p, rt->vers, sizeof rt->vers) != 0)
		return none(rt, "unknown API path");
	if (semver_parse(rt->vers, &v, NULL) != 0)
		return none(rt, "invalid version");
	if (segment(&p, seg, sizeof seg) != 0 || *p != '\0')
		return none(rt, "unknown API path");
	if (strcmp(seg, "download") == 0)
		rt->kind = ROUTE_DOWNLOAD;
	else if (strcmp(seg, "yank") == 0)
		rt->kind = ROUTE_YANK;
	else if (strcmp(seg, "unyank") == 0)
		rt->kind = ROUTE_UNYANK;
	else
		return none(rt, "unknown API path");
	return 0;
}

/* /-/static/FILE: letters, digits, '.', '-' and '_', no "..". */
static void
static_file(const char *file, struct route *rt)
{
	size_t	n = strspn(file, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");

	if (n == 0 || file[n] != '\0' || n >= sizeof rt->path ||
	    strstr(file, "..") != NULL)
		return;
	memcpy(rt->path, file, n + 1);
	rt->kind = ROUTE_WEB_STATIC;
}

void
route_parse(const char *path, struct route *rt)
{
	const char	*p = path;

	rt->kind = ROUTE_NONE;
	rt->registry[0] = rt->name[0] = rt->vers[0] = rt->path[0] = '\0';
	rt->dist[0] = '\0';
	rt->why = "not found";
	if (*p++ != '/')
		return;
	if (*p == '\0') {
		rt->kind = ROUTE_WEB_HOME;
		return;
	}
	if (p[0] == '-' && p[1] == '/') {	/* crated's own */
		static const struct {
			const char	*name;
			enum route_kind	 kind;
		} own[] = {
			{ "health", ROUTE_HEALTH }, { "ready", ROUTE_READY },
			{ "metrics", ROUTE_METRICS },
			{ "registries", ROUTE_REGISTRIES },
			{ "purge", ROUTE_PURGE }, { "ops", ROUTE_WEB_OPS },
			{ "signin", ROUTE_WEB_SIGNIN },
			{ "signout", ROUTE_WEB_SIGNOUT },
		};

		for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
			if (strcmp(p + 2, own[i].name) == 0) {
				rt->kind = own[i].kind;
				return;
			}
		if (strncmp(p + 2, "static/", 7) == 0) {
			static_file(p + 9, rt);
			return;
		}
	}
	if (segment(&p, rt->registry, sizeof rt->registry) != 0) {
		rt->registry[0] = '\0';
		return;
	}
	if (p[-1] != '/') {
		rt->kind = ROUTE_WEB_REDIRECT;
		return;
	}
	if (*p == '\0')
		rt->kind = ROUTE_WEB_REGISTRY;
	else if (strncmp(p, "crates/", 7) == 0) {
		if (crate_name_check(p + 7, NULL) != 0 ||
		    strlen(p + 7) > CRATE_NAME_MAX) {
			none(rt, "invalid crate name");
			return;
		}
		strcpy(rt->name, p + 7);
		rt->kind = ROUTE_WEB_CRATE;
	} else if (strncmp(p, "dist/", 5) == 0 || strncmp(p, "rustup/", 7) ==
	    0) {
		/* A toolchain mirror's; the path is checked there. */
		if (strlen(p) >= sizeof rt->dist) {
			none(rt, "path too long");
			return;
		}
		strcpy(rt->dist, p);
		rt->kind = ROUTE_DIST;
	} else if (strcmp(p, "config.json") == 0)
		rt->kind = ROUTE_CONFIG;
	else if (strcmp(p, "me") == 0)
		rt->kind = ROUTE_ME;
	else if (strncmp(p, "api/v1/crates", 13) == 0 && (p[13] == '\0' ||
	    p[13] == '/'))
		api(p[13] == '/' ? p + 14 : p + 13, rt);
	else if (crate_name_from_index_path(p, rt->name) == 0) {
		rt->kind = ROUTE_INDEX;
		strcpy(rt->path, p);
	} else
		rt->why = "no such index file";
}

int
route_is_api(enum route_kind kind)
{
	return kind == ROUTE_PUBLISH || kind == ROUTE_YANK ||
	    kind == ROUTE_UNYANK || kind == ROUTE_OWNERS ||
	    kind == ROUTE_SEARCH || kind == ROUTE_DOWNLOAD;
}

int
route_is_web(enum route_kind kind)
{
	return kind >= ROUTE_WEB_HOME && kind <= ROUTE_WEB_CRATE;
}
