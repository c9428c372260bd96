/* The running server's state: configuration, event loop, listeners,
 * worker pools, the memory caches and the registries. One per process;
 * everything on it is touched only from the event loop. Start-up and
 * reload (server.c) fill it in; every layer below reads it. */
#ifndef SERVER_CORE_STATE_H
#define SERVER_CORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cache/lru.h"
#include "cache/tokens.h"
#include "server/core/config.h"

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
	/* Object storage (issue 26), NULL: local disk only. Keys of this
	 * registry are objprefix + the store.h relative path ("R/" under a
	 * top-level storage URL, "" under the registry's own). */
	struct objstore			*objstore;
	const char			*objprefix;
	/* The local disk as the store's cache (storage/replica.h); made
	 * at the first request of a hosted registry with objstore. */
	struct replica			*replica;
	/* Every index and meta file of the store (storage/catalogue.h):
	 * for search and the name rule. */
	struct catalogue		*catalogue;
	char				*config_json;	/* what we serve */
	struct hosted			*hosted;	/* REGISTRY_HOSTED */
	struct mirror			*mirror;	/* REGISTRY_MIRROR */
	struct server			*srv;
	/* Its supply-chain policy now (server/policy/regpolicy.h), NULL
	 * when none applies; replaced whole by server/policy/polserve.c. */
	struct regpolicy_view		*policy;
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
	/* Toolchain mirrors (server/toolchains/), one per
	 * [toolchains.NAME]. */
	struct toolchain	**tcs;
	size_t			 ntcs;
	/* One per distinct storage URL (registries share them). */
	struct objstore		**objstores;
	size_t			 nobjstores;
	char			*public_url;	/* no trailing '/' */
	int			 lockfd;	/* flock on the data dir */
	struct tokens		 tokens;
	/* With a top-level storage: tokens.json is the store's and
	 * data_dir/tokens.json this replica's copy (storage/tokensync.h). */
	struct tokensync	*tokensync;
	struct config		**old_cfgs;	/* replaced by SIGHUP, kept
						   until exit: requests in
						   flight may still read them */
	size_t			 nold_cfgs;
	struct event		*sigterm, *sigint, *sighup, *drain_timer;
	bool			 stopping;
	struct request_series	*req_series;	/* metrics of requests */
	struct probes		*probes;	/* of the upstreams */
	struct web		*web;		/* the pages (server/web/) */
	struct polserve		*polserve;	/* the policy's run time */
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

#endif
