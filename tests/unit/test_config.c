/* crated.toml: the key table, defaults, and FILE:LINE errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config.h"
#include "tests/tap.h"

static int
parse(const char *text, struct config **c, char **cause)
{
	*c = NULL;
	*cause = NULL;
	return config_parse(text, strlen(text), "crated.toml", c, cause);
}

/* Parses text and checks it fails with a message starting with want. */
static void
bad(const char *text, const char *want)
{
	struct config	*c;
	char		*cause;
	int		 r = parse(text, &c, &cause);

	ok(r != 0 && cause != NULL && strncmp(cause, want, strlen(want)) == 0,
	    "refused: %s", want);
	if (r == 0 || cause == NULL || strncmp(cause, want, strlen(want)) != 0)
		printf("#   got: %s\n", cause ? cause : "(accepted)");
	free(cause);
	config_free(c);
}

int
main(void)
{
	struct config			*c;
	const struct registry_config	*r;
	char				*cause = NULL;
	FILE				*f;
	char				*help = NULL;
	size_t				 helplen = 0;

	ok(config_parse(NULL, 0, NULL, &c, &cause) == 0, "defaults");
	ok(c->nlisten == 1 && strcmp(c->listen[0], "127.0.0.1:8080") == 0,
	    "default listen");
	is_str(c->data_dir, "./crated-data", "default data_dir");
	ok(c->nregs == 2 && strcmp(c->regs[0].name, "local") == 0 &&
	    c->regs[0].upstream == NULL, "default hosted registry local");
	ok(strcmp(c->regs[1].name, "crates-io") == 0 &&
	    strcmp(c->regs[1].upstream, "https://index.crates.io/") == 0 &&
	    c->regs[1].index_ttl == 300, "default mirror of crates.io");
	ok(c->max_body_bytes == 52428800, "default max_body_bytes");
	ok(c->memory_cache_bytes == 8388608, "default memory_cache_bytes");
	ok(c->open_file_cache == 10000, "default open_file_cache");
	ok(config_check(c, &cause) == 0, "defaults pass the check");
	config_free(c);

	ok(parse("listen = [\"127.0.0.1:0\", \"[::1]:0\"]\n"
	    "data_dir = \"/tmp/d\"\nlog_level = \"debug\"\n"
	    "log_format = \"json\"\nmax_body_bytes = 65536\n"
	    "public_url = \"https://crated.example/\"\n"
	    "[registries.local]\nauth_required = false\n"
	    "[registries.corp-2]\nindex_ttl = 10\nnegative_ttl = 0\n",
	    &c, &cause) == 0, "a full config parses");
	ok(c->nlisten == 2 && strcmp(c->listen[1], "[::1]:0") == 0, "listen");
	is_str(c->log_format, "json", "log_format");
	ok(c->max_body_bytes == 65536, "max_body_bytes");
	r = config_registry(c, "corp-2");
	ok(r != NULL && r->index_ttl == 10 && r->negative_ttl == 0 &&
	    r->line == 9, "registry keys and line");
	r = config_registry(c, "local");
	ok(r != NULL && r->index_ttl == 300 && r->negative_ttl == 60,
	    "registry defaults");
	ok(config_registry(c, "nope") == NULL, "unknown registry");
	ok(config_check(c, &cause) == 0, "check passes");
	config_free(c);

	bad("lisen = [\"127.0.0.1:0\"]\n[registries.a]\n",
	    "crated.toml:1: unknown key \"lisen\"");
	bad("open_file_cache = -1\n[registries.a]\n",
	    "crated.toml:1: open_file_cache: must be between 0 and 1000000");
	bad("[registries.a]\nindex_ttl = \"x\"\n",
	    "crated.toml:2: registries.a.index_ttl must be an integer, not"
	    " string");
	bad("listen = 5\n[registries.a]\n",
	    "crated.toml:1: listen must be an array of strings, not integer");
	bad("listen = [5]\n[registries.a]\n",
	    "crated.toml:1: listen must be an array of strings");
	bad("listen = [\"localhost:80\"]\n[registries.a]\n",
	    "crated.toml:1: listen: must be numeric");
	bad("[registries.a]\nfrobnicate = true\n",
	    "crated.toml:2: unknown key \"frobnicate\" in [registries.a]");
	bad("[registries.a]\nupstrem = \"https://x/\"\n",
	    "crated.toml:2: unknown key \"upstrem\" in [registries.a]; did"
	    " you mean \"upstream\"?");
	bad("lisen = []\n[registries.a]\n",
	    "crated.toml:1: unknown key \"lisen\"; did you mean \"listen\"?");
	bad("index_ttl = 3\n[registries.a]\n",
	    "crated.toml:1: unknown key \"index_ttl\"; index_ttl belongs in a"
	    " [registries.NAME] section");
	bad("ops_access = \"closed\"\n[registries.a]\n",
	    "crated.toml:1: ops_access: must be \"auto\", \"open\" or"
	    " \"token\"");
	bad("[registries.A]\n", "crated.toml:1: registry name \"A\"");
	bad("[registries.a]\nindex_ttl = -1\n",
	    "crated.toml:2: registries.a.index_ttl: must be between");
	bad("[registries.a]\nupstream = \"ftp://x/\"\n",
	    "crated.toml:2: registries.a.upstream: must be a sparse index URL");
	bad("[registries.a]\nupstream = \"https://x\"\n",
	    "crated.toml:2: registries.a.upstream: must end with '/'");
	bad("log_level = \"loud\"\n[registries.a]\n",
	    "crated.toml:1: log_level: must be debug");
	bad("max_body_bytes = 10\n[registries.a]\n",
	    "crated.toml:1: max_body_bytes: must be between");
	bad("data_dir = \"\"\n[registries.a]\n",
	    "crated.toml:1: data_dir: must not be empty");
	bad("public_url = \"crated.example\"\n[registries.a]\n",
	    "crated.toml:1: public_url: must start with http");
	bad("listen = [\"127.0.0.1:0\"]\n", "crated.toml: no [registries.NAME]");
	bad("[registries]\na = 1\n", "crated.toml:2: registries.a must be a"
	    " table");
	bad("x = \n", "crated.toml:1:");
	bad("[registries.a]\nrelay_writes = \"yes\"\n",
	    "crated.toml:2: registries.a.relay_writes must be true or false");

	ok(parse("listen = [\"0.0.0.0:8080\"]\n[registries.a]\n", &c,
	    &cause) == 0, "wildcard parses");
	ok(config_check(c, &cause) != 0 && strstr(cause, "public_url"),
	    "wildcard without public_url refused by the check");
	free(cause);
	config_free(c);

	/* listen = [] is a TLS-only server: refused without listen_tls. */
	ok(parse("listen = []\n[registries.a]\n", &c, &cause) == 0,
	    "listen = [] parses");
	ok(config_check(c, &cause) != 0 && strstr(cause, "no listener"),
	    "no listener at all refused by the check");
	free(cause);
	config_free(c);
	ok(parse("listen = []\nlisten_tls = [\"127.0.0.1:0\"]\ntls_cert ="
	    " \"c\"\ntls_key = \"k\"\n[registries.a]\n", &c, &cause) == 0 &&
	    config_check(c, &cause) == 0 && c->nlisten == 0,
	    "listen = [] beside listen_tls accepted");
	config_free(c);

	/* Keys read only at start are named when they change. */
	{
		struct config	*a, *b;
		char		*key;

		ok(parse("data_dir = \"/a\"\n[registries.m]\nindex_ttl = 1\n"
		    "upstream = \"https://x/\"\n", &a, &cause) == 0 &&
		    parse("data_dir = \"/a\"\nlog_level = \"warn\"\n"
		    "[registries.m]\nupstream = \"https://x/\"\nindex_ttl ="
		    " 9\n", &b, &cause) == 0, "two configurations parse");
		ok(config_restart_change(a, b) == NULL,
		    "applicable changes only: no restart");
		config_set_string(&b->data_dir, "/b");
		key = config_restart_change(a, b);
		ok(key != NULL && strcmp(key, "data_dir") == 0,
		    "data_dir change named");
		free(key);
		config_set_string(&b->data_dir, "/a");
		config_set_string(&b->regs[0].upstream, "https://y/");
		key = config_restart_change(a, b);
		ok(key != NULL && strcmp(key, "registries.m.upstream") == 0,
		    "upstream change named");
		free(key);
		config_set_string(&b->regs[0].upstream, "https://x/");
		b->http2 = !a->http2;
		key = config_restart_change(a, b);
		ok(key != NULL && strcmp(key, "http2") == 0,
		    "http2 change named");
		free(key);
		config_free(a);
		config_free(b);
	}

	f = open_memstream(&help, &helplen);
	config_help(f);
	fclose(f);
	ok(strstr(help, "listen") && strstr(help, "upstream_token_command") &&
	    strstr(help, "auth_required") && strstr(help, "(default: 300)"),
	    "--help lists the keys with defaults");
	ok(strstr(help, "[restart to change]") != NULL,
	    "--help marks the keys read only at start");
	free(help);
	/* Object storage (issue 26). */
	ok(parse("data_dir = \"/tmp/x\"\nstorage = \"s3://bucket/p\"\n"
	    "storage_endpoint = \"http://127.0.0.1:9000\"\n[registries.a]\n"
	    "[registries.b]\n\nstorage = \"azblob://acct/crates\"\n", &c,
	    &cause) == 0 && config_check(c, &cause) == 0, "storage keys");
	ok(c != NULL && strcmp(c->storage, "s3://bucket/p") == 0 &&
	    c->storage_line == 2 && c->storage_max_stale == 1 &&
	    c->regs[0].storage == NULL && c->regs[1].storage != NULL &&
	    c->regs[1].storage_line == 7, "URLs, their lines, max_stale's"
	    " default");
	config_free(c);
	bad("storage = \"s3://b\"\n[registries.a]\n", "crated.toml:1:"
	    " storage: bucket \"b\": use 3 to 63");
	bad("[registries.a]\nstorage = \"gs://bucket\"\n", "crated.toml:2:"
	    " registries.a.storage: must be s3://BUCKET[/PREFIX] or azblob://");
	bad("storage_max_stale = -1\n[registries.a]\n", "crated.toml:1:"
	    " storage_max_stale: must be between 0 and");
	bad("storage_endpoint = \"ftp://x\"\n[registries.a]\n",
	    "crated.toml:1: storage_endpoint: must start with http://");
	/* Toolchain mirrors (issue 29). */
	ok(parse("[registries.a]\n[toolchains.rust]\n[toolchains.rust2]\n"
	    "upstream = \"http://127.0.0.1:9/root/\"\nmanifest_ttl = 5\n"
	    "offline = true\nmax_cache_bytes = 1000\nupstream_timeout = 7\n",
	    &c, &cause) == 0 && config_check(c, &cause) == 0,
	    "toolchain mirrors parse");
	ok(c != NULL && c->ntcs == 2 && strcmp(c->tcs[0].upstream,
	    "https://static.rust-lang.org") == 0 && c->tcs[0].manifest_ttl ==
	    600 && !c->tcs[0].offline && c->tcs[0].upstream_concurrency == 16
	    && c->tcs[0].upstream_timeout == 30 && c->tcs[0].line == 2,
	    "toolchain defaults: the official root, a 600 s manifest_ttl");
	ok(c != NULL && strcmp(c->tcs[1].upstream, "http://127.0.0.1:9/root")
	    == 0 && c->tcs[1].manifest_ttl == 5 && c->tcs[1].offline &&
	    c->tcs[1].max_cache_bytes == 1000 && c->tcs[1].upstream_timeout ==
	    7, "toolchain keys; the upstream's trailing '/' dropped");
	ok(c != NULL && config_toolchain(c, "rust2") == &c->tcs[1] &&
	    config_toolchain(c, "a") == NULL, "config_toolchain");
	config_free(c);
	ok(parse("[toolchains.rust]\n", &c, &cause) == 0 && c->nregs == 0,
	    "a toolchain mirror alone is a configuration");
	config_free(c);
	bad("[registries.rust]\n[toolchains.rust]\n", "crated.toml:2:"
	    " toolchains.rust: a registry has that name (line 1)");
	bad("[toolchains.Rust]\n", "crated.toml:1: toolchain mirror name"
	    " \"Rust\"");
	bad("[toolchains.rust]\nindex_ttl = 3\n", "crated.toml:2: unknown key"
	    " \"index_ttl\" in [toolchains.rust]; index_ttl belongs in a"
	    " [registries.NAME] section");
	bad("[registries.a]\nmanifest_ttl = 3\n", "crated.toml:2: unknown"
	    " key \"manifest_ttl\" in [registries.a]; manifest_ttl belongs in"
	    " a [toolchains.NAME] section");
	bad("[toolchains.rust]\nupstream = \"ftp://x\"\n", "crated.toml:2:"
	    " toolchains.rust.upstream: must start with http");
	bad("[toolchains.rust]\nupstream = \"https://x/?a\"\n",
	    "crated.toml:2: toolchains.rust.upstream: must be a plain URL");
	bad("[toolchains.rust]\nupstream_timeout = 0\n", "crated.toml:2:"
	    " toolchains.rust.upstream_timeout: must be between 1 and 3600");
	bad("[toolchains]\nrust = 1\n", "crated.toml:2: toolchains.rust must"
	    " be a table");
	{
		struct config	*a = NULL, *b = NULL;
		char		*key;

		parse("[toolchains.rust]\nmanifest_ttl = 1\n", &a, &cause);
		parse("[toolchains.rust]\nmanifest_ttl = 2\n", &b, &cause);
		ok(config_restart_change(a, b) == NULL, "manifest_ttl changes"
		    " in place");
		config_free(b);
		parse("[toolchains.rust]\nupstream = \"http://x\"\n", &b,
		    &cause);
		key = config_restart_change(a, b);
		is_str(key, "toolchains.rust.upstream", "a toolchain upstream"
		    " needs a restart");
		free(key);
		config_free(b);
		parse("[toolchains.rust]\n[toolchains.beta]\n", &b, &cause);
		key = config_restart_change(a, b);
		ok(key != NULL && strstr(key, "toolchain mirrors") != NULL,
		    "so does the set of toolchain mirrors: %s", key);
		free(key);
		config_free(b);
		config_free(a);
	}
	return done_testing();
}
