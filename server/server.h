/* The running server: configuration, event loop, listeners, worker pool,
 * the hot index cache and the registries. One per process; everything on
 * it is touched only from the event loop. */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cache/lru.h"
#include "cache/tokens.h"
#include "server/config.h"

struct event_base;
struct http_request;
struct route;

enum registry_kind {
	REGISTRY_HOSTED,
	REGISTRY_MIRROR,
};

struct registry {
	const struct registry_config	*cfg;
	const char			*name;
	enum registry_kind		 kind;
	struct store			*store;
	char				*config_json;	/* what we serve */
	struct hosted			*hosted;	/* REGISTRY_HOSTED */
	struct mirror			*mirror;	/* REGISTRY_MIRROR */
	struct server			*srv;
};

struct server {
	struct event_base	*base;
	struct config		*cfg;
	struct http_server	*http;
	struct workers		*workers;	/* disk: writes, fsyncs */
	struct workers		*cpu;		/* reading fetched files */
	struct workers		*background;	/* writes nobody waits for */
	struct upstream_client	*upstream;
	struct hot		*hot;
	struct open_files	*open;		/* .crate, hosted index files */
	struct lru		 keeping;	/* gz/ writes under way, by key */
	struct registry		*regs;
	size_t			 nregs;
	char			*public_url;	/* no trailing '/' */
	int			 lockfd;	/* flock on the data dir */
	struct tokens		 tokens;
	struct config		**old_cfgs;	/* replaced by SIGHUP, kept
						   until exit: requests in
						   flight may still read them */
	size_t			 nold_cfgs;
	struct event		*sigterm, *sigint, *sighup, *drain_timer;
	bool			 stopping;
	struct request_series	*req_series;	/* metrics of requests */
	struct probes		*probes;	/* of the upstreams */
	/* Command-line settings that outlive a SIGHUP reload. */
	bool			 force_offline;
	const char		*force_log_level;
	bool			 force_listen;		/* --listen */
	const char		*force_data_dir;	/* --data-dir */
	/* Without public_url: the first plain and TLS listeners' URLs,
	 * for requests that name no usable Host. */
	char			*url_plain, *url_tls;
	time_t			 tls_not_after;	/* of the certificate in use */
	struct event		*cert_timer;	/* daily expiry check */
};

/* Opens the data directory and registries and binds the listeners,
 * printing each bound address. 0, or -1 with *cause (new). */
int	server_start(struct server *, struct config *, char **cause);
void	server_run(struct server *);
void	server_finish(struct server *);

/* crated's base URL (new, no trailing '/') as r's client reached it, for
 * the URLs crated hands out (config.json, login_url, /R/me). */
char	*registry_base_url(const struct server *, const struct http_request *);

/* Serves an index file of reg from the hot cache or its store. */
void	files_index_file(struct registry *, struct http_request *,
	    const char *path);
/* Answers r from a hot entry (stealing a reference to it): 304 when the
 * client's validators match the variant it would get, else the bytes.
 * extra: more header lines, or NULL. */
struct hot_entry;
void	files_reply_entry(struct server *, struct http_request *,
	    struct hot_entry *, const char *extra);
/* files_reply_entry for an entry holding the bytes of reg's index file
 * at path, whose gzip form, made for the answer, is kept there (in gz/,
 * in the background); files_reply_entry keeps nothing. */
struct registry;
void	files_reply_file_entry(struct registry *, const char *path,
	    struct http_request *, struct hot_entry *, const char *extra);
/* True when r may change crate: auth is off, or its token's scope allows
 * need and its crate glob (if any) matches. Otherwise answers 403 and
 * returns false. */
bool	auth_may_write(struct http_request *, const char *crate, int need);
/* Gives e (made from the index file at path, not yet cached) the gzip
 * form kept in gz/PATH of reg's store, when that was made from these
 * bytes (cache/gzfile.h); true if so. Otherwise e is compressed at its
 * first gzip answer (files_reply_entry), and that is kept. */
bool	files_load_gzip(struct registry *, const char *path,
	    struct hot_entry *);
/* The memory and open-file caches' key of a file: "REGISTRY/PATH", cut to
 * size as snprintf would. */
void	files_key(char *out, size_t size, const char *registry,
	    const char *path);
/* Drops the hot copy of an index file after a write. */
void	files_index_changed(struct registry *, const char *path);
/* Closes a store file (rel, as "crates/...") crated removes, if kept
 * open, so its disk space is freed. */
void	files_removed(struct registry *, const char *rel);

#endif
