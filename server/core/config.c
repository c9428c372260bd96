#include "server/core/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "common/xmalloc.h"
#include "index/toml.h"
#include "server/core/addr.h"
#include "policy/policy.h"
#include "server/core/log.h"
#include "server/storage/objstore.h"

enum key_type {
	K_STRING,
	K_INT,
	K_BOOL,
	K_STRINGS,
	K_CHOICE,	/* a string of choices[], stored as its index (int) */
};

enum key_scope {
	GLOBAL,
	REGISTRY,
	TOOLCHAIN,
};

/* A check returns NULL when v is acceptable, else why not (static). */
typedef const char *(*key_check)(const struct toml_value *v);

struct key {
	const char	*name;
	enum key_scope	 scope;
	enum key_type	 type;
	size_t		 offset;
	const char	*def;		/* as TOML text; NULL: unset */
	key_check	 check;
	const char	*help;
};

/* The accepted values of each K_CHOICE key, in the order of its enum
 * (config.h). */
static const struct {
	const char		*key;
	const char *const	*names;		/* NULL-terminated */
} choices[] = {
	{ "relay_auth", (const char *const[]){ "server", "client", NULL } },
	{ "ops_access", (const char *const[]){ "auto", "open", "token",
	    NULL } },
	/* VERDICT_FLAG + index (policy/policy.h). */
	{ "advisory_action", (const char *const[]){ "flag", "hold", "deny",
	    NULL } },
};

static const char	*check_listen(const struct toml_value *);
static const char	*check_url(const struct toml_value *);
static const char	*check_upstream(const struct toml_value *);
static const char	*check_nonempty(const struct toml_value *);
static const char	*check_level(const struct toml_value *);
static const char	*check_format(const struct toml_value *);
static const char	*check_body(const struct toml_value *);
static const char	*check_seconds(const struct toml_value *);
static const char	*check_concurrency(const struct toml_value *);
static const char	*check_memory(const struct toml_value *);
static const char	*check_open_files(const struct toml_value *);
static const char	*check_per_client(const struct toml_value *);
static const char	*check_cache_bytes(const struct toml_value *);
static const char	*check_peers(const struct toml_value *);
static const char	*check_storage(const struct toml_value *);
static const char	*check_age(const struct toml_value *);
static const char	*check_globs(const struct toml_value *);
static const char	*check_deny(const struct toml_value *);
static const char	*check_dist_url(const struct toml_value *);
static const char	*check_timeout(const struct toml_value *);

/* A K_CHOICE field is written as an int. */
_Static_assert(sizeof(enum relay_auth) == sizeof(int), "enum is an int");
_Static_assert(sizeof(enum ops_access) == sizeof(int), "enum is an int");

#define G(f)	offsetof(struct config, f)
#define R(f)	offsetof(struct registry_config, f)
/* A policy key: at the top level the default of every registry, in a
 * [registries.NAME] section that registry's own (policy_keys). */
#define POLICY_KEY(name, type, field, def, check, help)			\
	{ name, GLOBAL, type, G(policy.field), def, check, help		\
	  " (a registry's own value, else the top-level one)" },	\
	{ name, REGISTRY, type, R(policy.field), def, check, help }
#define T(f)	offsetof(struct toolchain_config, f)

static const struct key keys[] = {
	{ "listen", GLOBAL, K_STRINGS, G(listen), "127.0.0.1:8080",
	  check_listen, "addresses to listen on, \"IP:PORT\" or \"[IPv6]:PORT\";"
	  " port 0 picks a free port; [] with listen_tls: TLS only" },
	{ "public_url", GLOBAL, K_STRING, G(public_url), NULL, check_url,
	  "base URL clients reach crated at, e.g. \"https://crated.example\";"
	  " required when listening on 0.0.0.0 or [::]; unset, URLs follow"
	  " each request's scheme and Host" },
	{ "data_dir", GLOBAL, K_STRING, G(data_dir), "./crated-data",
	  check_nonempty, "directory holding every registry's files" },
	{ "log_level", GLOBAL, K_STRING, G(log_level), "info", check_level,
	  "debug, info, warn or error" },
	{ "log_format", GLOBAL, K_STRING, G(log_format), "text", check_format,
	  "text or json" },
	{ "access_log", GLOBAL, K_STRING, G(access_log), "stderr",
	  check_nonempty, "where access lines go: \"stderr\" (with the error"
	  " lines), \"off\", or a file (reopened on SIGHUP)" },
	{ "max_body_bytes", GLOBAL, K_INT, G(max_body_bytes), "52428800",
	  check_body, "largest request body (a publish) accepted, in bytes" },
	{ "listen_tls", GLOBAL, K_STRINGS, G(listen_tls), NULL, check_listen,
	  "addresses to listen on with TLS (needs tls_cert and tls_key)" },
	{ "tls_cert", GLOBAL, K_STRING, G(tls_cert), NULL, check_nonempty,
	  "PEM certificate chain for listen_tls; reloaded on SIGHUP (one"
	  " outside its validity period is refused)" },
	{ "tls_key", GLOBAL, K_STRING, G(tls_key), NULL, check_nonempty,
	  "PEM private key for listen_tls; reloaded on SIGHUP" },
	{ "max_connections_per_client", GLOBAL, K_INT,
	  G(max_connections_per_client), "256", check_per_client,
	  "connections one client address may hold open (0: no limit)" },

	{ "memory_cache_bytes", GLOBAL, K_INT, G(memory_cache_bytes),
	  "8388608", check_memory, "bytes of hot index files (and their gzip"
	  " form) kept in memory, ready to send" },
	{ "open_file_cache", GLOBAL, K_INT, G(open_file_cache), "10000",
	  check_open_files, ".crate files and hosted index files beyond the"
	  " memory cache kept open (at most half the open-file limit)" },

	{ "http2", GLOBAL, K_BOOL, G(http2), "true", NULL,
	  "accept HTTP/2: the h2c upgrade cargo offers on plain http, a"
	  " client preface with prior knowledge, and ALPN h2 on TLS" },
	{ "peers", GLOBAL, K_STRINGS, G(peers), NULL, check_peers,
	  "base URLs of the other replicas behind the same load balancer;"
	  " a relayed write purges the crate there before it is answered" },
	{ "peer_token_env", GLOBAL, K_STRING, G(peer_token_env), NULL,
	  check_nonempty, "environment variable holding the secret replicas"
	  " use to authenticate purges to each other" },
	{ "ops_access", GLOBAL, K_CHOICE, G(ops_access), "auto",
	  NULL, "who may read /-/metrics and /-/registries, and"
	  " the upstreams in /-/ready: \"open\", \"token\" (an admin token or"
	  " ops_token_env's secret) or \"auto\" (token when a registry has"
	  " auth_required)" },
	{ "ops_token_env", GLOBAL, K_STRING, G(ops_token_env), NULL,
	  check_nonempty, "environment variable holding a secret that also"
	  " opens the ops endpoints (for a metrics scraper)" },

	{ "storage", GLOBAL, K_STRING, G(storage), NULL, check_storage,
	  "object store shared by replicas: \"s3://BUCKET[/PREFIX]\" or"
	  " \"azblob://ACCOUNT/CONTAINER[/PREFIX]\"; each registry R under"
	  " R/ (unset: local disk only)" },
	{ "storage_endpoint", GLOBAL, K_STRING, G(storage_endpoint), NULL,
	  check_url, "the store's base URL for an S3-compatible service or"
	  " Azurite (path-style requests); unset: AWS or Azure itself" },
	{ "storage_region", GLOBAL, K_STRING, G(storage_region), NULL,
	  check_nonempty, "S3 region (unset: AWS_REGION, else us-east-1)" },
	{ "storage_credentials_file", GLOBAL, K_STRING,
	  G(storage_credentials_file), NULL, check_nonempty, "file of"
	  " KEY=VALUE lines (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,"
	  " AWS_SESSION_TOKEN; AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)"
	  " read instead of the environment" },
	{ "storage_max_stale", GLOBAL, K_INT, G(storage_max_stale), "1",
	  check_seconds, "seconds a replica may serve a hosted index file from"
	  " its local copy before asking the store again" },
	{ "storage_catalogue_interval", GLOBAL, K_INT,
	  G(storage_catalogue_interval), "30", check_seconds, "seconds between"
	  " a replica's listings of a store-backed hosted registry (new crates"
	  " for search and the name rule, removed ones); 0: never" },

	{ "upstream", REGISTRY, K_STRING, R(upstream), NULL, check_upstream,
	  "index URL of the registry to mirror (sparse+https://.../);"
	  " absent: a hosted registry" },
	{ "index_ttl", REGISTRY, K_INT, R(index_ttl), "300", check_seconds,
	  "seconds a cached index file is served before revalidation" },
	{ "negative_ttl", REGISTRY, K_INT, R(negative_ttl), "60",
	  check_seconds, "seconds an upstream 404 is remembered" },
	{ "upstream_token_env", REGISTRY, K_STRING, R(upstream_token_env),
	  NULL, check_nonempty, "environment variable holding the upstream"
	  " Authorization value" },
	{ "upstream_token_file", REGISTRY, K_STRING, R(upstream_token_file),
	  NULL, check_nonempty, "file holding the upstream Authorization"
	  " value" },
	{ "upstream_token_command", REGISTRY, K_STRING,
	  R(upstream_token_command), NULL, check_nonempty, "command printing"
	  " the upstream Authorization value" },
	{ "relay_writes", REGISTRY, K_BOOL, R(relay_writes), "false", NULL,
	  "forward publish, yank and owner calls to the upstream" },
	{ "offline", REGISTRY, K_BOOL, R(offline), "false", NULL,
	  "never contact the upstream; serve only what is cached" },
	{ "auth_required", REGISTRY, K_BOOL, R(auth_required), "false", NULL,
	  "every request must carry a valid crated token" },
	{ "allow_anonymous", REGISTRY, K_BOOL, R(allow_anonymous), "false",
	  NULL, "let anyone who reaches a non-loopback listener use a mirror"
	  " that holds an upstream credential" },
	{ "upstream_proxy", REGISTRY, K_STRING, R(upstream_proxy), NULL,
	  check_nonempty, "proxy for upstream requests (default: the"
	  " https_proxy / no_proxy environment)" },
	{ "upstream_ca_file", REGISTRY, K_STRING, R(upstream_ca_file), NULL,
	  check_nonempty, "PEM bundle of CAs trusted for the upstream, besides"
	  " the system's" },
	{ "upstream_concurrency", REGISTRY, K_INT, R(upstream_concurrency),
	  "64", check_concurrency, "most requests this mirror registry keeps"
	  " in flight to its upstream: the ceiling of the adaptive limit" },
	{ "relay_auth", REGISTRY, K_CHOICE, R(relay_auth), "server", NULL,
	  "relayed writes carry crated's upstream credential (\"server\") or"
	  " the client's own Authorization (\"client\")" },
	{ "relay_max_writes", REGISTRY, K_INT, R(relay_max_writes), "16",
	  check_concurrency, "relayed writes (publish, yank, owner changes)"
	  " in flight, each holding its body until the upstream answers;"
	  " past it 503 with Retry-After" },
	{ "relay_max_writes_per_client", REGISTRY, K_INT,
	  R(relay_max_writes_per_client), "4", check_concurrency,
	  "relayed writes in flight from one client address; past it 429"
	  " with Retry-After" },
	{ "relay_api_other_origin", REGISTRY, K_BOOL,
	  R(relay_api_other_origin), "false", NULL, "relay to (and send the"
	  " upstream credential to) a config.json api on another origin than"
	  " the index" },
	{ "max_cache_bytes", REGISTRY, K_INT, R(max_cache_bytes), "0",
	  check_cache_bytes, "mirrors: cached .crate bytes kept; past it the"
	  " least recently used go (0: no limit)" },
	{ "prefetch_dependencies", REGISTRY, K_BOOL,
	  R(prefetch_dependencies), "true", NULL, "mirrors: when an index"
	  " file is fetched, fetch its dependencies' index files too, before"
	  " cargo asks" },
	{ "token_refresh", REGISTRY, K_INT, R(token_refresh), "2700",
	  check_seconds, "seconds after which upstream_token_command is run"
	  " again (Entra tokens live about an hour)" },

	{ "upstream_pat_env", REGISTRY, K_STRING, R(upstream_pat_env), NULL,
	  check_nonempty, "environment variable holding a bare Azure DevOps"
	  " PAT; crated sends Basic base64(PAT:<pat>)" },
	{ "upstream_pat_file", REGISTRY, K_STRING, R(upstream_pat_file), NULL,
	  check_nonempty, "file holding a bare Azure DevOps PAT; crated"
	  " sends Basic base64(PAT:<pat>)" },
	{ "probe_interval", REGISTRY, K_INT, R(probe_interval), "300",
	  check_seconds, "mirrors: seconds between checks of the upstream's"
	  " config.json with the credential (also at start and on SIGHUP;"
	  " 0: only then)" },
	{ "replace_crates_io", REGISTRY, K_BOOL, R(replace_crates_io),
	  "false", NULL, "mirrors: this upstream stands in for crates.io"
	  " (an internal crates.io mirror); cargo-config replaces crates-io"
	  " with it and prefetch sends crates.io packages to it" },
	{ "storage", REGISTRY, K_STRING, R(storage), NULL, check_storage,
	  "this registry's own object store (keys directly under its"
	  " prefix), instead of the top-level storage" },

	POLICY_KEY("min_publish_age", K_STRING, min_publish_age, "0",
	  check_age, "versions published more recently are served yanked"
	  " (held) until they are this old, in cargo's syntax: \"7 days\","
	  " \"48 hours\" (second, minute, hour, day, week, month); \"0\":"
	  " off. The age is taken from the line's pubtime, else from when"
	  " crated first saw the version"),
	POLICY_KEY("min_publish_age_exempt", K_STRINGS,
	  min_publish_age_exempt, NULL, check_globs, "crate names"
	  " (globs: \"mycorp-*\") min_publish_age never holds"),
	POLICY_KEY("deny", K_STRINGS, deny, NULL, check_deny, "versions"
	  " served yanked whose download is refused (403): \"name\" (every"
	  " version) or \"name@REQ\" in cargo's requirement syntax"
	  " (\"name@<1.2.4\", \"name@=0.3.1\")"),
	POLICY_KEY("advisory_db", K_STRING, advisory_db, NULL,
	  check_nonempty, "RustSec advisory database snapshot: a directory"
	  " or a .tar.gz, of the OSV export (crates/RUSTSEC-*.json) or the"
	  " main layout (crates/NAME/RUSTSEC-*.md); read at start and on"
	  " SIGHUP. A snapshot installed by `crated advisories import` is"
	  " used instead"),
	POLICY_KEY("advisory_action", K_CHOICE, advisory_action, "flag",
	  NULL, "what an advisory that is not \"malicious\" does to the"
	  " versions it affects: \"flag\" (served, reported), \"hold\""
	  " (served yanked) or \"deny\" (yanked, download refused);"
	  " malicious ones always deny"),
	POLICY_KEY("advisory_include_informational", K_BOOL,
	  advisory_include_informational, "false", NULL, "informational"
	  " advisories (unmaintained, unsound, notice) count too, under"
	  " advisory_action"),
	POLICY_KEY("advisory_include_withdrawn", K_BOOL,
	  advisory_include_withdrawn, "false", NULL, "withdrawn advisories"
	  " count too"),
	POLICY_KEY("policy_hide", K_BOOL, policy_hide, "false", NULL,
	  "denied versions are dropped from index files instead of served"
	  " yanked (a Cargo.lock that pins one then fails to resolve, with"
	  " cargo's less helpful message)"),

	{ "upstream", TOOLCHAIN, K_STRING, T(upstream),
	  "https://static.rust-lang.org", check_dist_url, "root of the rustup"
	  " distribution server to mirror (its dist/ and rustup/ are served"
	  " under /NAME/)" },
	{ "manifest_ttl", TOOLCHAIN, K_INT, T(manifest_ttl), "600",
	  check_seconds, "seconds a channel manifest (with its .sha256) and"
	  " rustup/release-stable.toml are served before the upstream is"
	  " asked again" },
	{ "offline", TOOLCHAIN, K_BOOL, T(offline), "false", NULL,
	  "never contact the upstream; serve only what is cached" },
	{ "max_cache_bytes", TOOLCHAIN, K_INT, T(max_cache_bytes), "0",
	  check_cache_bytes, "bytes of toolchain files kept; past it the least"
	  " recently used go, but never a prefetched one nor one of a date a"
	  " cached channel manifest names (0: no limit)" },
	{ "upstream_proxy", TOOLCHAIN, K_STRING, T(upstream_proxy), NULL,
	  check_nonempty, "proxy for upstream requests (default: the"
	  " https_proxy / no_proxy environment)" },
	{ "upstream_ca_file", TOOLCHAIN, K_STRING, T(upstream_ca_file), NULL,
	  check_nonempty, "PEM bundle of CAs trusted for the upstream, besides"
	  " the system's" },
	{ "upstream_concurrency", TOOLCHAIN, K_INT, T(upstream_concurrency),
	  "16", check_concurrency, "most requests this toolchain mirror keeps in"
	  " flight to its upstream (each file is fetched once however many"
	  " clients want it)" },
	{ "upstream_timeout", TOOLCHAIN, K_INT, T(upstream_timeout), "30",
	  check_timeout, "seconds an upstream transfer may go without a byte"
	  " before it is given up (a download cut short is resumed)" },
};

/* The policy keys, in the order of the bits of policy_config.set. */
static const char *const policy_keys[] = {
	"min_publish_age", "min_publish_age_exempt", "deny", "advisory_db",
	"advisory_action", "advisory_include_informational",
	"advisory_include_withdrawn", "policy_hide",
};

/* Keys whose line is kept, for errors found after parsing (a store's
 * missing credentials). */
static const struct {
	const char	*key;
	enum key_scope	 scope;
	size_t		 offset;	/* of an int */
} lines[] = {
	{ "storage", GLOBAL, G(storage_line) },
	{ "storage", REGISTRY, R(storage_line) },
};

/* Keys read only at start: a SIGHUP that changes one is refused (the
 * others are applied in place). */
static const char *const start_only[] = {
	"listen", "listen_tls", "public_url", "data_dir",
	"max_connections_per_client", "memory_cache_bytes", "open_file_cache",
	"http2", "upstream", "storage", "storage_endpoint", "storage_region",
	"storage_credentials_file",
};

static bool
restart(const struct key *k)
{
	for (size_t i = 0; i < sizeof start_only / sizeof start_only[0]; i++)
		if (strcmp(k->name, start_only[i]) == 0)
			return true;
	return false;
}

static const char *
check_listen(const struct toml_value *v)
{
	for (size_t i = 0; i < v->n; i++) {
		struct sockaddr_storage	ss;
		int			len = sizeof ss;

		if (addr_parse(v->items[i]->s, &ss, &len) != 0)
			return "must be numeric \"IP:PORT\" or \"[IPv6]:PORT\""
			    " addresses";
	}
	return NULL;
}

static const char *
check_url(const struct toml_value *v)
{
	if (strncmp(v->s, "http://", 7) != 0 &&
	    strncmp(v->s, "https://", 8) != 0)
		return "must start with http:// or https://";
	if (strpbrk(v->s, " \t\r\n\"") != NULL)
		return "must not contain spaces or quotes";
	return NULL;
}

static const char *
check_upstream(const struct toml_value *v)
{
	const char	*s = v->s;

	if (strncmp(s, "sparse+", 7) == 0)
		s += 7;
	if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
		return "must be a sparse index URL (sparse+https://HOST/PATH/)";
	if (s[strlen(s) - 1] != '/')
		return "must end with '/', as cargo requires of sparse URLs";
	return NULL;
}

static const char *
check_nonempty(const struct toml_value *v)
{
	return v->s[0] == '\0' ? "must not be empty" : NULL;
}

static const char *
check_level(const struct toml_value *v)
{
	enum log_level	l;

	return log_level_parse(v->s, &l) ? "must be debug, info, warn or error"
	    : NULL;
}

static const char *
check_format(const struct toml_value *v)
{
	enum log_format	f;

	return log_format_parse(v->s, &f) ? "must be \"text\" or \"json\"" :
	    NULL;
}

static const char *
check_body(const struct toml_value *v)
{
	return v->i < 1024 || v->i > 4294967295LL ?
	    "must be between 1024 and 4294967295" : NULL;
}

static const char *
check_seconds(const struct toml_value *v)
{
	return v->i < 0 || v->i > 365LL * 86400 ?
	    "must be between 0 and 31536000 seconds" : NULL;
}

static const char *
check_concurrency(const struct toml_value *v)
{
	return v->i < 1 || v->i > 1024 ? "must be between 1 and 1024" : NULL;
}

static const char *
check_peers(const struct toml_value *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (strncmp(v->items[i]->s, "http://", 7) != 0 &&
		    strncmp(v->items[i]->s, "https://", 8) != 0)
			return "must be http:// or https:// URLs";
	return NULL;
}

static const char *
check_storage(const struct toml_value *v)
{
	static char		 why[256];
	struct objstore_config	 c;
	char			*cause = NULL;

	if (objstore_parse_url(v->s, &c, &cause) == 0) {
		objstore_config_free(&c);
		return NULL;
	}
	snprintf(why, sizeof why, "%s", cause);
	free(cause);
	return why;
}

static const char *
check_age(const struct toml_value *v)
{
	static char	 why[256];
	char		*cause = NULL;
	int64_t		 secs;

	if (policy_age_parse(v->s, &secs, &cause) == 0)
		return NULL;
	snprintf(why, sizeof why, "\"%s\": %s", v->s, cause ? cause :
	    "not a duration");
	free(cause);
	return why;
}

/* Globs of crate names: the name's characters, '*', '?' and [...]. */
static const char *
check_globs(const struct toml_value *v)
{
	static char	why[256];

	for (size_t i = 0; i < v->n; i++) {
		const char	*g = v->items[i]->s;

		if (g[0] == '\0' || strspn(g, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*?[]!") !=
		    strlen(g)) {
			snprintf(why, sizeof why, "\"%.64s\" is no glob of"
			    " crate names (letters, digits, '-', '_', '*', '?',"
			    " [...])", g);
			return why;
		}
	}
	return NULL;
}

static const char *
check_deny(const struct toml_value *v)
{
	static char		 why[512];
	struct policy_rule	 r;
	char			*cause = NULL;

	for (size_t i = 0; i < v->n; i++) {
		if (policy_rule_parse(v->items[i]->s, &r, &cause) == 0) {
			policy_rule_clear(&r);
			continue;
		}
		snprintf(why, sizeof why, "\"%.100s\": %s", v->items[i]->s,
		    cause ? cause : "not \"name\" or \"name@REQ\"");
		free(cause);
		return why;
	}
	return NULL;
}

static const char *
check_dist_url(const struct toml_value *v)
{
	const char	*why = check_url(v);

	if (why != NULL)
		return why;
	if (strchr(v->s, '?') != NULL || strchr(v->s, '#') != NULL)
		return "must be a plain URL (no query, no fragment)";
	return NULL;
}

static const char *
check_timeout(const struct toml_value *v)
{
	return v->i < 1 || v->i > 3600 ? "must be between 1 and 3600 seconds"
	    : NULL;
}

static const char *
check_cache_bytes(const struct toml_value *v)
{
	return v->i < 0 ? "must not be negative" : NULL;
}

static const char *
check_per_client(const struct toml_value *v)
{
	return v->i < 0 || v->i > 1000000 ? "must be between 0 and 1000000" :
	    NULL;
}

static const char *
check_memory(const struct toml_value *v)
{
	return v->i < 0 || v->i > (1LL << 40) ? "must be between 0 and"
	    " 1099511627776" : NULL;
}

static const char *
check_open_files(const struct toml_value *v)
{
	return v->i < 0 || v->i > 1000000 ? "must be between 0 and 1000000" :
	    NULL;
}

static enum toml_type
toml_type_of(enum key_type t)
{
	switch (t) {
	case K_STRING:
	case K_CHOICE:
		return TOML_STRING;
	case K_INT:
		return TOML_INTEGER;
	case K_BOOL:
		return TOML_BOOLEAN;
	case K_STRINGS:
		return TOML_ARRAY;
	}
	return TOML_STRING;
}

static const char *
type_words(enum key_type t)
{
	switch (t) {
	case K_STRING:
	case K_CHOICE:
		return "a string";
	case K_INT:
		return "an integer";
	case K_BOOL:
		return "true or false";
	case K_STRINGS:
		return "an array of strings";
	}
	return "?";
}

/* The accepted values of K_CHOICE key k. */
static const char *const *
choice_names(const struct key *k)
{
	for (size_t i = 0; i < sizeof choices / sizeof choices[0]; i++)
		if (strcmp(choices[i].key, k->name) == 0)
			return choices[i].names;
	log_fatal("config key %s has no choices", k->name);
}

/* The index of s in k's choices, or -1. */
static int
choice(const struct key *k, const char *s)
{
	const char *const	*names = choice_names(k);

	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* "FILE:LINE: KEY: must be "a", "b" or "c"" (new string). */
static char *
choice_error(const struct key *k, const char *file, int line,
    const char *where)
{
	const char *const	*names = choice_names(k);
	char			*list = xstrdup(""), *more;

	for (int i = 0; names[i] != NULL; i++) {
		more = xasprintf("%s%s\"%s\"", list, i == 0 ? "" :
		    names[i + 1] == NULL ? " or " : ", ", names[i]);
		free(list);
		list = more;
	}
	more = xasprintf("%s:%d: %s%s: must be %s", file, line, where, k->name,
	    list);
	free(list);
	return more;
}

/* Stores v into the field of base that k describes. */
static void
store_value(const struct key *k, void *base, const struct toml_value *v)
{
	char	*field = (char *)base + k->offset;

	switch (k->type) {
	case K_STRING:
		config_set_string((char **)(void *)field, v->s);
		break;
	case K_INT:
		*(long long *)(void *)field = v->i;
		break;
	case K_BOOL:
		*(bool *)(void *)field = v->b;
		break;
	case K_CHOICE:
		*(int *)(void *)field = choice(k, v->s);
		break;
	case K_STRINGS: {
		char	***list = (char ***)(void *)field;
		size_t	  *n = (size_t *)(void *)(field + sizeof(char **));

		for (size_t i = 0; i < *n; i++)
			free((*list)[i]);
		free(*list);
		*list = xcalloc(v->n, sizeof **list);
		for (size_t i = 0; i < v->n; i++)
			(*list)[i] = xstrdup(v->items[i]->s);
		*n = v->n;
		break;
	}
	}
}

/* Checks v against k and stores it; else *cause "FILE:LINE: why". */
static int
apply(const struct key *k, void *base, const struct toml_value *v,
    const char *file, const char *where, char **cause)
{
	const char	*why;

	if (v->type != toml_type_of(k->type))
		goto type;
	for (size_t i = 0; k->type == K_STRINGS && i < v->n; i++)
		if (v->items[i]->type != TOML_STRING)
			goto type;
	if (k->type == K_CHOICE && choice(k, v->s) < 0) {
		*cause = choice_error(k, file, v->line, where);
		return -EINVAL;
	}
	if (k->check != NULL && (why = k->check(v)) != NULL) {
		*cause = xasprintf("%s:%d: %s%s: %s", file, v->line, where,
		    k->name, why);
		return -EINVAL;
	}
	store_value(k, base, v);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		if (lines[i].scope == k->scope && strcmp(lines[i].key,
		    k->name) == 0)
			*(int *)(void *)((char *)base + lines[i].offset) =
			    v->line;
	return 0;
type:
	*cause = xasprintf("%s:%d: %s%s must be %s, not %s", file, v->line,
	    where, k->name, type_words(k->type), toml_type_name(v->type));
	return -EINVAL;
}

/* Sets every key of scope to its default. */
static void
defaults(enum key_scope scope, void *base)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key	*k = &keys[i];
		struct toml_value	*root;
		char			*text, *cause = NULL;

		if (k->scope != scope || k->def == NULL)
			continue;
		if (k->type == K_STRING || k->type == K_CHOICE ||
		    k->type == K_STRINGS)
			text = xasprintf("v = %s\"%s\"%s", k->type == K_STRINGS
			    ? "[" : "", k->def, k->type == K_STRINGS ? "]" :
			    "");
		else
			text = xasprintf("v = %s", k->def);
		root = toml_parse(text, strlen(text), &cause);
		if (root == NULL)
			log_fatal("built-in default of %s: %s", k->name, cause);
		store_value(k, base, toml_get(root, "v"));
		toml_free(root);
		free(text);
	}
}

static const struct key *
find_key(enum key_scope scope, const char *name)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].scope == scope && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Edit distance between a and b (short strings: key names). */
static size_t
distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	if (la >= 64 || lb >= 64)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

/* Why name is not a key of scope, as "FILE:LINE: ..." (new): the closest
 * key when one is near, or where a key of the other scope belongs. */
static char *
unknown_key(enum key_scope scope, const char *name, const char *file,
    int line, const char *section)
{
	const struct key	*best = NULL;
	size_t			 bestd = 3, d;
	char			*hint, *s;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if (keys[i].scope != scope)
			continue;
		if ((d = distance(name, keys[i].name)) < bestd) {
			bestd = d;
			best = &keys[i];
		}
	}
	if (best != NULL && bestd <= strlen(name) / 3 + 1)
		hint = xasprintf("; did you mean \"%s\"?", best->name);
	else if (scope != GLOBAL && find_key(GLOBAL, name) != NULL)
		hint = xasprintf("; %s belongs at the top of the file, before"
		    " any [registries.NAME] or [toolchains.NAME]", name);
	else if (scope != REGISTRY && find_key(REGISTRY, name) != NULL)
		hint = xasprintf("; %s belongs in a [registries.NAME] section",
		    name);
	else if (scope != TOOLCHAIN && find_key(TOOLCHAIN, name) != NULL)
		hint = xasprintf("; %s belongs in a [toolchains.NAME] section",
		    name);
	else
		hint = xstrdup(" (crated --help lists the keys)");
	s = xasprintf("%s:%d: unknown key \"%s\"%s%s", file, line, name,
	    section, hint);
	free(hint);
	return s;
}

static bool
valid_registry_name(const char *s)
{
	size_t	n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '-' || s[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static struct registry_config *
add_registry(struct config *c, const char *name, int line)
{
	struct registry_config	*r;

	c->regs = xreallocarray(c->regs, c->nregs + 1, sizeof *c->regs);
	r = &c->regs[c->nregs++];
	memset(r, 0, sizeof *r);
	r->name = xstrdup(name);
	r->line = line;
	defaults(REGISTRY, r);
	return r;
}

/* The bit of a policy key in policy_config.set, or 0. */
static unsigned
policy_bit(const char *name)
{
	for (size_t i = 0; i < sizeof policy_keys / sizeof policy_keys[0];
	    i++)
		if (strcmp(policy_keys[i], name) == 0)
			return 1u << i;
	return 0;
}

static void
strings_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* Copies a field of type t from src to dst. */
static void
copy_field(enum key_type t, char *dst, const char *src)
{
	switch (t) {
	case K_STRING:
		config_set_string((char **)(void *)dst,
		    *(char *const *)(const void *)src);
		break;
	case K_INT:
		memcpy(dst, src, sizeof(long long));
		break;
	case K_BOOL:
		memcpy(dst, src, sizeof(bool));
		break;
	case K_CHOICE:
		memcpy(dst, src, sizeof(int));
		break;
	case K_STRINGS: {
		char	***list = (char ***)(void *)dst;
		size_t	  *n = (size_t *)(void *)(dst + sizeof(char **));
		char *const *from = *(char **const *)(const void *)src;
		size_t	   nfrom = *(const size_t *)(const void *)(src +
			       sizeof(char **));

		strings_free(*list, *n);
		*list = xcalloc(nfrom, sizeof **list);
		for (size_t i = 0; i < nfrom; i++)
			(*list)[i] = xstrdup(from[i]);
		*n = nfrom;
		break;
	}
	}
}

/* Each registry takes the top-level value of every policy key its own
 * section does not give. */
static void
inherit_policy(struct config *c)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key	*k = &keys[i];
		unsigned		 bit = policy_bit(k->name);
		size_t			 off = k->offset - G(policy);

		if (k->scope != GLOBAL || bit == 0)
			continue;
		for (size_t j = 0; j < c->nregs; j++)
			if (!(c->regs[j].policy.set & bit))
				copy_field(k->type, (char *)&c->regs[j].policy +
				    off, (const char *)&c->policy + off);
	}
}

static void
policy_config_free(struct policy_config *p)
{
	free(p->min_publish_age);
	strings_free(p->min_publish_age_exempt, p->nmin_publish_age_exempt);
	strings_free(p->deny, p->ndeny);
	free(p->advisory_db);
}

static struct toolchain_config *
add_toolchain(struct config *c, const char *name, int line)
{
	struct toolchain_config	*t;

	c->tcs = xreallocarray(c->tcs, c->ntcs + 1, sizeof *c->tcs);
	t = &c->tcs[c->ntcs++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	t->line = line;
	defaults(TOOLCHAIN, t);
	return t;
}

/* The keys of one [registries.NAME] or [toolchains.NAME] table into base
 * (what: "registries" or "toolchains"). */
static int
parse_table(enum key_scope scope, void *base, const char *what,
    const char *name, const struct toml_value *rt, const char *file,
    char **cause)
{
	char	*where = xasprintf("%s.%s.", what, name);
	int	 res = 0;

	for (size_t j = 0; j < rt->n && res == 0; j++) {
		const struct key *k = find_key(scope, rt->keys[j]);

		if (k == NULL) {
			char	*sect = xasprintf(" in [%s.%s]", what, name);

			*cause = unknown_key(scope, rt->keys[j], file,
			    rt->items[j]->line, sect);
			free(sect);
			res = -EINVAL;
		} else
			res = apply(k, base, rt->items[j], file, where, cause);
		if (res == 0 && k != NULL && scope == REGISTRY)
			((struct registry_config *)base)->policy.set |=
			    policy_bit(k->name);
	}
	free(where);
	return res;
}

/* The sections of [registries] or [toolchains] (scope says which). */
static int
parse_sections(struct config *c, enum key_scope scope,
    const struct toml_value *t, const char *file, char **cause)
{
	const char	*what = scope == REGISTRY ? "registries" : "toolchains";

	if (t->type != TOML_TABLE) {
		*cause = xasprintf("%s:%d: %s must be a table of [%s.NAME]"
		    " sections", file, t->line, what, what);
		return -EINVAL;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_value	*rt = t->items[i];
		void			*base;

		if (!valid_registry_name(t->keys[i])) {
			*cause = xasprintf("%s:%d: %s name \"%s\": use 1 to"
			    " 64 of a-z, 0-9, '-' and '_', starting with a"
			    " letter or digit", file, rt->line, scope ==
			    REGISTRY ? "registry" : "toolchain mirror",
			    t->keys[i]);
			return -EINVAL;
		}
		if (rt->type != TOML_TABLE) {
			*cause = xasprintf("%s:%d: %s.%s must be a table",
			    file, rt->line, what, t->keys[i]);
			return -EINVAL;
		}
		base = scope == REGISTRY ? (void *)add_registry(c, t->keys[i],
		    rt->line) : (void *)add_toolchain(c, t->keys[i], rt->line);
		if (parse_table(scope, base, what, t->keys[i], rt, file,
		    cause) != 0)
			return -EINVAL;
	}
	return 0;
}

/* After parsing: a toolchain mirror's upstream without its trailing
 * '/', and no name both a registry's and a toolchain mirror's (each
 * owns /NAME/). */
static int
settle_toolchains(struct config *c, const char *file, char **cause)
{
	for (size_t i = 0; i < c->ntcs; i++) {
		struct toolchain_config	*t = &c->tcs[i];
		size_t			 n = strlen(t->upstream);

		while (n > 0 && t->upstream[n - 1] == '/')
			t->upstream[--n] = '\0';
		if (config_registry(c, t->name) != NULL) {
			*cause = xasprintf("%s:%d: toolchains.%s: a registry has"
			    " that name (line %d); each needs /%s/ of its own:"
			    " rename one", file, t->line, t->name,
			    config_registry(c, t->name)->line, t->name);
			return -EINVAL;
		}
	}
	return 0;
}

int
config_parse(const char *text, size_t len, const char *file,
    struct config **out, char **cause)
{
	struct config		*c;
	struct toml_value	*root = NULL;
	char			*why = NULL;
	int			 r = 0;

	c = xcalloc(1, sizeof *c);
	defaults(GLOBAL, c);
	if (text == NULL) {
		add_registry(c, "local", 0);
		add_registry(c, "crates-io", 0)->upstream =
		    xstrdup("https://index.crates.io/");
		*out = c;
		return 0;
	}
	c->path = xstrdup(file);
	if ((root = toml_parse(text, len, &why)) == NULL) {
		*cause = xasprintf("%s:%s", file, why);
		free(why);
		r = -EINVAL;
		goto done;
	}
	for (size_t i = 0; i < root->n && r == 0; i++) {
		const struct key	*k;

		if (strcmp(root->keys[i], "registries") == 0 ||
		    strcmp(root->keys[i], "toolchains") == 0) {
			r = parse_sections(c, root->keys[i][0] == 'r' ?
			    REGISTRY : TOOLCHAIN, root->items[i], file, cause);
			continue;
		}
		if ((k = find_key(GLOBAL, root->keys[i])) == NULL) {
			*cause = unknown_key(GLOBAL, root->keys[i], file,
			    root->items[i]->line, "");
			r = -EINVAL;
		} else
			r = apply(k, c, root->items[i], file, "", cause);
	}
	if (r == 0 && c->nregs == 0 && c->ntcs == 0) {
		*cause = xasprintf("%s: no [registries.NAME] or"
		    " [toolchains.NAME] section: crated would serve nothing",
		    file);
		r = -EINVAL;
	}
	if (r == 0) {
		inherit_policy(c);
		r = settle_toolchains(c, file, cause);
	}
done:
	toml_free(root);
	if (r != 0) {
		config_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int
config_load(const char *path, struct config **out, char **cause)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	int	 r;

	if (path == NULL)
		return config_parse(NULL, 0, NULL, out, cause);
	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t	n;

		if (cap - len < 4096)
			buf = xrealloc(buf, cap = cap * 2 + 4096);
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len > 1 << 20) {
			fclose(f);
			free(buf);
			*cause = xasprintf("%s: larger than 1 MiB", path);
			return -EFBIG;
		}
	}
	fclose(f);
	r = config_parse(buf, len, path, out, cause);
	free(buf);
	return r;
}

void
config_set_string(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

void
config_set_listen(struct config *c, const char *const *addrs, size_t n)
{
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	free(c->listen);
	c->listen = xcalloc(n, sizeof *c->listen);
	for (size_t i = 0; i < n; i++)
		c->listen[i] = xstrdup(addrs[i]);
	c->nlisten = n;
}

static bool
wildcard(const char *addr)
{
	return strncmp(addr, "0.0.0.0:", 8) == 0 ||
	    strncmp(addr, "[::]:", 5) == 0;
}

static bool
loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0;
}

/* The credential and crates.io keys (one credential, PATs and
 * replace_crates_io only on mirrors, one stand-in for crates.io). */
static int
check_upstream_keys(const struct config *c, const char *file, char **cause)
{
	const struct registry_config	*cio = NULL;

	for (size_t i = 0; i < c->nregs; i++) {
		const struct registry_config	*r = &c->regs[i];
		bool				 pat = r->upstream_pat_env ||
		    r->upstream_pat_file;

		if ((r->upstream_token_env != NULL) +
		    (r->upstream_token_file != NULL) +
		    (r->upstream_token_command != NULL) +
		    (r->upstream_pat_env != NULL) +
		    (r->upstream_pat_file != NULL) > 1) {
			*cause = xasprintf("%s:%d: registries.%s: give one"
			    " credential: upstream_token_env, _file,"
			    " _command, upstream_pat_env or"
			    " upstream_pat_file", file, r->line, r->name);
			return -EINVAL;
		}
		if (r->upstream == NULL && (pat || r->replace_crates_io)) {
			*cause = xasprintf("%s:%d: registries.%s:"
			    " upstream_pat_* and replace_crates_io need an"
			    " upstream (this registry is hosted)", file,
			    r->line, r->name);
			return -EINVAL;
		}
		if (!config_crates_io(r))
			continue;
		if (cio != NULL) {
			*cause = xasprintf("%s:%d: registries.%s and %s both"
			    " stand in for crates.io (replace_crates_io or an"
			    " index.crates.io upstream): keep one", file,
			    r->line, cio->name, r->name);
			return -EINVAL;
		}
		cio = r;
	}
	return 0;
}

/* Whether stores a and b (URLs that parse) may hold the same keys: one
 * cloud, bucket and container, one prefix equal to the other or under
 * it, segment by segment. */
static bool
storage_overlap(const char *a, const char *b)
{
	struct objstore_config	ca, cb;
	char			*why = NULL;
	size_t			 la, lb, n;
	bool			 r = false;

	if (objstore_parse_url(a, &ca, &why) != 0)
		goto done;
	if (objstore_parse_url(b, &cb, &why) != 0) {
		objstore_config_free(&ca);
		goto done;
	}
	la = strlen(ca.prefix);
	lb = strlen(cb.prefix);
	n = la < lb ? la : lb;
	r = ca.kind == cb.kind && strcmp(ca.bucket, cb.bucket) == 0 &&
	    (ca.container == NULL || strcmp(ca.container, cb.container) ==
	    0) && strncmp(ca.prefix, cb.prefix, n) == 0 && (n == 0 ||
	    la == lb || (la > lb ? ca.prefix : cb.prefix)[n] == '/');
	objstore_config_free(&ca);
	objstore_config_free(&cb);
done:
	free(why);
	return r;
}

/* A registry's own store shares no key with another store: the
 * top-level one keeps each registry under "R/", its own under "". */
static int
check_storage_overlap(const struct config *c, const char *file,
    char **cause)
{
	for (size_t i = 0; i < c->nregs; i++) {
		const struct registry_config	*r = &c->regs[i];
		const char			*other = NULL;
		char				*reg = NULL;

		if (r->storage == NULL)
			continue;
		if (c->storage != NULL && storage_overlap(r->storage,
		    c->storage))
			other = "the top-level storage";
		for (size_t j = 0; other == NULL && j < c->nregs; j++)
			if (j != i && c->regs[j].storage != NULL &&
			    storage_overlap(r->storage, c->regs[j].storage))
				other = reg = xasprintf("registries.%s.storage",
				    c->regs[j].name);
		if (other != NULL) {
			*cause = xasprintf("%s:%d: registries.%s.storage: %s"
			    " overlaps %s: their keys would mix; give it a"
			    " bucket, container or prefix of its own", file,
			    r->storage_line, r->name, r->storage, other);
			free(reg);
			return -EINVAL;
		}
	}
	return 0;
}

/* The storage_* settings need a store to apply to. */
static int
check_storage_keys(const struct config *c, const char *file, char **cause)
{
	bool	any = c->storage != NULL;

	if (check_storage_overlap(c, file, cause) != 0)
		return -EINVAL;
	for (size_t i = 0; i < c->nregs; i++)
		any |= c->regs[i].storage != NULL;
	if (!any && (c->storage_endpoint != NULL || c->storage_region !=
	    NULL || c->storage_credentials_file != NULL)) {
		*cause = xasprintf("%s: storage_endpoint, storage_region and"
		    " storage_credentials_file need a storage URL (top-level"
		    " or a registry's)", file);
		return -EINVAL;
	}
	return 0;
}

bool
config_crates_io(const struct registry_config *r)
{
	return r->upstream != NULL && (r->replace_crates_io ||
	    strcmp(r->upstream, "https://index.crates.io/") == 0 ||
	    strcmp(r->upstream, "sparse+https://index.crates.io/") == 0);
}

int
config_check(const struct config *c, char **cause)
{
	const char	*file = c->path ? c->path : "(defaults)";

	if (c->nlisten + c->nlisten_tls == 0) {
		*cause = xasprintf("%s: no listener: give listen, listen_tls"
		    " or both", file);
		return -EINVAL;
	}
	if (check_upstream_keys(c, file, cause) != 0 ||
	    check_storage_keys(c, file, cause) != 0)
		return -EINVAL;

	for (size_t i = 0; i < c->nlisten; i++) {
		struct sockaddr_storage	ss;
		int			len = sizeof ss;

		if (addr_parse(c->listen[i], &ss, &len) != 0) {
			*cause = xasprintf("listen address \"%s\": use"
			    " \"IP:PORT\" or \"[IPv6]:PORT\"", c->listen[i]);
			return -EINVAL;
		}
		if (wildcard(c->listen[i]) && c->public_url == NULL) {
			*cause = xasprintf("%s: listening on %s needs"
			    " public_url: crated cannot tell clients which"
			    " address reaches it", file, c->listen[i]);
			return -EINVAL;
		}
	}
	if (c->nlisten_tls > 0 && (c->tls_cert == NULL || c->tls_key ==
	    NULL)) {
		*cause = xasprintf("%s: listen_tls needs tls_cert and tls_key",
		    file);
		return -EINVAL;
	}
	if (c->npeers > 0 && (c->peer_token_env == NULL ||
	    getenv(c->peer_token_env) == NULL ||
	    *getenv(c->peer_token_env) == '\0')) {
		*cause = xasprintf("%s: peers need peer_token_env naming a set,"
		    " non-empty environment variable (the shared secret)",
		    file);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->nlisten_tls; i++)
		if (wildcard(c->listen_tls[i]) && c->public_url == NULL) {
			*cause = xasprintf("%s: listening on %s needs"
			    " public_url", file, c->listen_tls[i]);
			return -EINVAL;
		}
	for (size_t i = 0; i < c->nregs; i++) {
		const struct registry_config	*r = &c->regs[i];
		bool				 credential = r->upstream_token_env ||
		    r->upstream_token_file || r->upstream_token_command ||
		    r->upstream_pat_env || r->upstream_pat_file;

		if ((r->upstream_token_env != NULL) +
		    (r->upstream_token_file != NULL) +
		    (r->upstream_token_command != NULL) > 1) {
			*cause = xasprintf("%s:%d: registries.%s: give one of"
			    " upstream_token_env, upstream_token_file and"
			    " upstream_token_command", file, r->line, r->name);
			return -EINVAL;
		}
		if (r->upstream == NULL && (credential || r->relay_writes ||
		    r->offline || r->upstream_proxy || r->upstream_ca_file ||
		    r->max_cache_bytes)) {
			*cause = xasprintf("%s:%d: registries.%s: upstream_*,"
			    " relay_writes, offline and max_cache_bytes need an"
			    " upstream (this registry is hosted)", file,
			    r->line, r->name);
			return -EINVAL;
		}
		if (!credential || r->auth_required || r->allow_anonymous)
			continue;
		for (size_t j = 0; j < c->nlisten + c->nlisten_tls; j++)
			if (!loopback(j < c->nlisten ? c->listen[j] :
			    c->listen_tls[j - c->nlisten])) {
				*cause = xasprintf("%s:%d: registries.%s holds"
				    " an upstream credential and crated listens"
				    " on %s: anyone reaching it would read the"
				    " upstream with it; set auth_required = true"
				    " or allow_anonymous = true", file, r->line,
				    r->name, j < c->nlisten ? c->listen[j] :
				    c->listen_tls[j - c->nlisten]);
				return -EINVAL;
			}
	}
	return 0;
}

/* True when the field of k is the same in a and b (config or registry
 * bases). */
static bool
same_value(const struct key *k, const void *a, const void *b)
{
	const char	*fa = (const char *)a + k->offset;
	const char	*fb = (const char *)b + k->offset;

	switch (k->type) {
	case K_STRING: {
		const char	*sa = *(char *const *)(const void *)fa;
		const char	*sb = *(char *const *)(const void *)fb;

		return sa == sb || (sa != NULL && sb != NULL &&
		    strcmp(sa, sb) == 0);
	}
	case K_INT:
		return *(const long long *)(const void *)fa ==
		    *(const long long *)(const void *)fb;
	case K_BOOL:
		return *(const bool *)(const void *)fa ==
		    *(const bool *)(const void *)fb;
	case K_CHOICE:
		return *(const int *)(const void *)fa ==
		    *(const int *)(const void *)fb;
	case K_STRINGS: {
		char *const	*la = *(char **const *)(const void *)fa;
		char *const	*lb = *(char **const *)(const void *)fb;
		size_t		 na = *(const size_t *)(const void *)(fa +
				    sizeof(char **));
		size_t		 nb = *(const size_t *)(const void *)(fb +
				    sizeof(char **));

		if (na != nb)
			return false;
		for (size_t i = 0; i < na; i++)
			if (strcmp(la[i], lb[i]) != 0)
				return false;
		return true;
	}
	}
	return false;
}

char *
config_restart_change(const struct config *old, const struct config *nc)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (keys[i].scope == GLOBAL && restart(&keys[i]) &&
		    !same_value(&keys[i], old, nc))
			return xstrdup(keys[i].name);
	if (old->nregs != nc->nregs)
		return xasprintf("the set of registries (%zu, was %zu)",
		    nc->nregs, old->nregs);
	for (size_t r = 0; r < nc->nregs; r++) {
		if (strcmp(old->regs[r].name, nc->regs[r].name) != 0)
			return xasprintf("the set of registries (%s, was %s)",
			    nc->regs[r].name, old->regs[r].name);
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (keys[i].scope == REGISTRY && restart(&keys[i]) &&
			    !same_value(&keys[i], &old->regs[r],
			    &nc->regs[r]))
				return xasprintf("registries.%s.%s",
				    nc->regs[r].name, keys[i].name);
	}
	if (old->ntcs != nc->ntcs)
		return xasprintf("the set of toolchain mirrors (%zu, was %zu)",
		    nc->ntcs, old->ntcs);
	for (size_t t = 0; t < nc->ntcs; t++) {
		if (strcmp(old->tcs[t].name, nc->tcs[t].name) != 0)
			return xasprintf("the set of toolchain mirrors (%s, was"
			    " %s)", nc->tcs[t].name, old->tcs[t].name);
		for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (keys[i].scope == TOOLCHAIN && restart(&keys[i]) &&
			    !same_value(&keys[i], &old->tcs[t], &nc->tcs[t]))
				return xasprintf("toolchains.%s.%s",
				    nc->tcs[t].name, keys[i].name);
	}
	return NULL;
}

const struct toolchain_config *
config_toolchain(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->ntcs; i++)
		if (strcmp(c->tcs[i].name, name) == 0)
			return &c->tcs[i];
	return NULL;
}

const struct registry_config *
config_registry(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nregs; i++)
		if (strcmp(c->regs[i].name, name) == 0)
			return &c->regs[i];
	return NULL;
}

void
config_help(FILE *f)
{
	enum key_scope	scope = GLOBAL;

	fprintf(f, "crated.toml keys:\n");
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct key	*k = &keys[i];

		if (k->scope != scope) {
			scope = k->scope;
			fprintf(f, "\n[%s.NAME] keys:\n", scope == REGISTRY ?
			    "registries" : "toolchains");
		}
		fprintf(f, "  %-24s %-8s %s", k->name, k->type == K_STRINGS ?
		    "strings" : k->type == K_INT ? "integer" : k->type ==
		    K_BOOL ? "bool" : "string", k->help);
		if (k->def != NULL)
			fprintf(f, " (default: %s)", k->def);
		if (restart(k))
			fprintf(f, " [restart to change]");
		fprintf(f, "\n");
	}
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	free(c->listen);
	for (size_t i = 0; i < c->nlisten_tls; i++)
		free(c->listen_tls[i]);
	free(c->listen_tls);
	free(c->tls_cert);
	free(c->tls_key);
	for (size_t i = 0; i < c->npeers; i++)
		free(c->peers[i]);
	free(c->peers);
	free(c->peer_token_env);
	free(c->ops_token_env);
	free(c->path);
	free(c->public_url);
	free(c->data_dir);
	free(c->log_level);
	free(c->log_format);
	free(c->access_log);
	free(c->storage);
	free(c->storage_endpoint);
	free(c->storage_region);
	free(c->storage_credentials_file);
	for (size_t i = 0; i < c->nregs; i++) {
		struct registry_config	*r = &c->regs[i];

		free(r->name);
		free(r->upstream);
		free(r->upstream_token_env);
		free(r->upstream_token_file);
		free(r->upstream_token_command);
		free(r->upstream_proxy);
		free(r->upstream_ca_file);
		free(r->upstream_pat_env);
		free(r->upstream_pat_file);
		free(r->storage);
		policy_config_free(&r->policy);
	}
	policy_config_free(&c->policy);
	free(c->regs);
	for (size_t i = 0; i < c->ntcs; i++) {
		free(c->tcs[i].name);
		free(c->tcs[i].upstream);
		free(c->tcs[i].upstream_proxy);
		free(c->tcs[i].upstream_ca_file);
	}
	free(c->tcs);
	free(c);
}
