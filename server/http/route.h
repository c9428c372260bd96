/* Maps a request path to what it names (protocol doc §2, design.md's URL
 * space): /-/... operations, and per registry R: /R/config.json, /R/<index
 * path>, /R/api/v1/crates/... and /R/me. Pure: names and versions are
 * validated here, so handlers only see well-formed ones. */
#ifndef SERVER_HTTP_ROUTE_H
#define SERVER_HTTP_ROUTE_H

#include "index/distpath.h"
#include "index/name.h"
#include "index/semver.h"

#define REGISTRY_NAME_MAX	64

enum route_kind {
	ROUTE_NONE,		/* nothing lives there: 404 */
	ROUTE_HEALTH,		/* /-/health */
	ROUTE_READY,		/* /-/ready */
	ROUTE_METRICS,		/* /-/metrics */
	ROUTE_REGISTRIES,	/* /-/registries */
	ROUTE_PURGE,		/* /-/purge: a peer replica's write */
	ROUTE_CONFIG,		/* /R/config.json */
	ROUTE_INDEX,		/* /R/<index path> */
	ROUTE_DOWNLOAD,		/* /R/api/v1/crates/N/V/download */
	ROUTE_PUBLISH,		/* /R/api/v1/crates/new */
	ROUTE_YANK,		/* /R/api/v1/crates/N/V/yank */
	ROUTE_UNYANK,		/* /R/api/v1/crates/N/V/unyank */
	ROUTE_OWNERS,		/* /R/api/v1/crates/N/owners */
	ROUTE_SEARCH,		/* /R/api/v1/crates */
	ROUTE_ME,		/* /R/me */
	/* The web pages (server/web/): */
	ROUTE_WEB_HOME,		/* / */
	ROUTE_WEB_OPS,		/* /-/ops */
	ROUTE_WEB_SIGNIN,	/* /-/signin */
	ROUTE_WEB_SIGNOUT,	/* /-/signout */
	ROUTE_WEB_STATIC,	/* /-/static/FILE (path: FILE) */
	ROUTE_WEB_REDIRECT,	/* /R: to /R/ */
	ROUTE_WEB_REGISTRY,	/* /R/ */
	ROUTE_WEB_CRATE,	/* /R/crates/NAME */
	/* A toolchain mirror's (server/toolchains/): */
	ROUTE_DIST,		/* /T/dist/... and /T/rustup/... (dist) */
};

struct route {
	enum route_kind	 kind;
	char		 registry[REGISTRY_NAME_MAX + 1];
	char		 name[CRATE_NAME_MAX + 1];	/* crate, as sent */
	char		 vers[VERSION_MAX + 1];
	char		 path[INDEX_PATH_MAX];		/* ROUTE_INDEX */
	char		 dist[DIST_PATH_MAX];		/* ROUTE_DIST */
	const char	*why;		/* ROUTE_NONE: a static reason */
};

/* Fills rt from path (as http_path() gives it: one leading '/', no
 * query). Never fails: unknown or malformed paths give ROUTE_NONE. */
void	route_parse(const char *path, struct route *rt);

/* True for the kinds that belong to the web API (errors in cargo's JSON
 * shape matter there). */
int	route_is_api(enum route_kind kind);
/* True for the web pages' kinds (ROUTE_WEB_*). */
int	route_is_web(enum route_kind kind);

#endif
