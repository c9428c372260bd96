/* crated.toml: one table of keys (name, type, default, check, help) from
 * which parsing, --help and errors come (redis static_configs[], tmux
 * options-table.c). Parsed once; read-only afterwards. */
#ifndef SERVER_CORE_CONFIG_H
#define SERVER_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* relay_auth: whose credential a relayed write carries. In the order of
 * the key's accepted values in config.c (stored as their index). */
enum relay_auth {
	RELAY_AUTH_SERVER,	/* "server": crated's upstream credential */
	RELAY_AUTH_CLIENT,	/* "client": the client's Authorization */
};

/* ops_access: who may read the ops endpoints in full. As relay_auth. */
enum ops_access {
	OPS_ACCESS_AUTO,	/* "auto": open unless a registry has
				   auth_required */
	OPS_ACCESS_OPEN,	/* "open" */
	OPS_ACCESS_TOKEN,	/* "token": an admin token or the secret */
};

struct registry_config {
	char	 *name;
	int	  line;			/* of its [registries.NAME] header */
	char	 *upstream;		/* NULL: hosted */
	long long index_ttl;
	long long negative_ttl;
	char	 *upstream_token_env;
	char	 *upstream_token_file;
	char	 *upstream_token_command;
	bool	  relay_writes;
	bool	  offline;
	bool	  auth_required;
	bool	  allow_anonymous;
	char	 *upstream_proxy;
	char	 *upstream_ca_file;
	long long upstream_concurrency;
	long long token_refresh;
	enum relay_auth relay_auth;	/* stored as an int by config.c */
	long long relay_max_writes;	/* relayed writes in flight */
	long long relay_max_writes_per_client;
	bool	  relay_api_other_origin; /* api may be on another origin */
	long long max_cache_bytes;	/* 0: no limit */
	bool	  prefetch_dependencies;
	/* Upstream probes, crates.io (server/mirror/probe.c, cmd_cargo_config.c). */
	char	 *upstream_pat_env;	/* a bare Azure DevOps PAT */
	char	 *upstream_pat_file;
	long long probe_interval;
	bool	  replace_crates_io;	/* stands in for crates.io */
	/* Object storage (server/storage/): this registry's own URL, or
	 * NULL: the top-level one's (if any). */
	char	 *storage;
	int	  storage_line;
	/* Supply-chain policy (server/policy/): the registry's own value,
	 * else the top-level one's (config.c copies it). */
	struct policy_config {
		char	 *min_publish_age;	/* cargo's syntax; "0": off */
		char	**min_publish_age_exempt; /* globs of crate names */
		size_t	  nmin_publish_age_exempt;
		char	**deny;			/* "name" or "name@REQ" */
		size_t	  ndeny;
		char	 *advisory_db;		/* dir or .tar.gz; NULL: none */
		int	  advisory_action;	/* 0 flag, 1 hold, 2 deny */
		bool	  advisory_include_informational;
		bool	  advisory_include_withdrawn;
		bool	  policy_hide;		/* denied lines dropped */
		unsigned  set;			/* keys given here (bits of
						   config.c's policy_keys) */
	}	  policy;
};

/* A [toolchains.NAME] table: a pull-through mirror of rustup's
 * distribution server (server/toolchains/). */
struct toolchain_config {
	char	 *name;
	int	  line;			/* of its [toolchains.NAME] header */
	char	 *upstream;		/* no trailing '/' */
	long long manifest_ttl;		/* seconds a snapshot is served */
	bool	  offline;
	long long max_cache_bytes;	/* 0: no limit */
	char	 *upstream_proxy;
	char	 *upstream_ca_file;
	long long upstream_concurrency;
	long long upstream_timeout;	/* seconds without a byte */
};

struct config {
	char			 *path;		/* NULL: built-in defaults */
	/* A list of strings is followed by its count (config.c relies on
	 * it). */
	char			**listen;
	size_t			  nlisten;
	char			 *public_url;	/* NULL: from the first listener */
	char			 *data_dir;
	char			 *log_level;
	char			 *log_format;
	char			 *access_log;
	long long		  max_body_bytes;
	char			**listen_tls;
	size_t			  nlisten_tls;
	char			 *tls_cert;
	char			 *tls_key;
	long long		  max_connections_per_client;
	long long		  memory_cache_bytes;
	long long		  open_file_cache;
	char			**peers;
	size_t			  npeers;
	char			 *peer_token_env;
	enum ops_access		  ops_access;	/* stored as an int */
	char			 *ops_token_env;
	bool			  http2;
	/* Object storage (server/storage/objstore.h). */
	char			 *storage;	/* s3:// or azblob://, NULL */
	int			  storage_line;
	char			 *storage_endpoint;
	char			 *storage_region;
	char			 *storage_credentials_file;
	long long		  storage_max_stale;	/* seconds */
	long long		  storage_catalogue_interval; /* seconds */
	/* The registries' policy defaults (registry_config.policy). */
	struct policy_config	  policy;
	struct registry_config	 *regs;
	size_t			  nregs;
	struct toolchain_config	 *tcs;
	size_t			  ntcs;
};

/* Parses text read from file (named in messages). NULL text: no file, the
 * defaults (one hosted registry "local"). 0, or -EINVAL with *cause (new)
 * as "FILE:LINE: why". */
int	config_parse(const char *text, size_t len, const char *file,
	    struct config **out, char **cause);
/* Reads and parses path; NULL path: the built-in defaults. */
int	config_load(const char *path, struct config **out, char **cause);
void	config_free(struct config *c);

/* Replaces the listen list with one address (the --listen option). */
void	config_set_listen(struct config *c, const char *const *addrs,
	    size_t n);
void	config_set_string(char **field, const char *value);

/* Checks what involves several keys, after command-line overrides. */
int	config_check(const struct config *c, char **cause);

/* The first key read only at start whose value differs between old and
 * nc (new: "data_dir", "registries.R.upstream", "the set of
 * registries ..."), or NULL when a reload may apply nc. */
char	*config_restart_change(const struct config *old,
	    const struct config *nc);

/* Prints every key with its type, default and help. */
void	config_help(FILE *f);

/* True when r mirrors crates.io: its upstream is index.crates.io or it
 * is declared with replace_crates_io. */
bool	config_crates_io(const struct registry_config *r);

const struct registry_config *config_registry(const struct config *c,
	    const char *name);
const struct toolchain_config *config_toolchain(const struct config *c,
	    const char *name);

#endif
