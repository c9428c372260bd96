/* crated: a cargo sparse registry, pull-through mirror and upload relay. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/crash.h"
#include "index/xmalloc.h"
#include "server/config.h"
#include "server/datacmd.h"
#include "server/log.h"
#include "server/prefetch.h"
#include "server/probe.h"
#include "server/server.h"

static void
token_usage(FILE *f)
{
	fprintf(f,
	    "usage: crated token create [--config FILE] [--data-dir DIR]"
	    " --registry NAME\n"
	    "                    --scope read|publish|yank|admin"
	    " [--crates GLOB] [--expires DAYS]\n"
	    "                    --name LABEL\n"
	    "       crated token list [--config FILE] [--data-dir DIR]\n"
	    "       crated token revoke [--config FILE] [--data-dir DIR]"
	    " ID|NAME\n"
	    "Tokens live in DATA_DIR/tokens.json: --config names the file whose"
	    " data_dir\n(and registries) are meant, --data-dir overrides it.\n");
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crated serve [--config FILE] [--listen ADDR]..."
	    " [--data-dir DIR]\n"
	    "                    [--log-level LEVEL] [--offline]\n"
	    "       crated prefetch [--config FILE] [--data-dir DIR]"
	    " [--server URL]\n"
	    "                       [--registry NAME] [--jobs N]"
	    " LOCKFILE|DIR...\n"
	    "       crated export [--config FILE] [--data-dir DIR]"
	    " [--registry NAME]\n"
	    "                     [--since BUNDLE|TIME] FILE.tar.gz\n"
	    "       crated import [--config FILE] [--data-dir DIR]"
	    " [--allow-hosted]\n"
	    "                     [--allow-other-upstream] FILE.tar.gz\n"
	    "       crated status [--config FILE] [--data-dir DIR]"
	    " [--registry NAME]\n"
	    "       crated gc [--config FILE] [--data-dir DIR]"
	    " [--registry NAME]\n"
	    "       crated token create [--config FILE] [--data-dir DIR]"
	    " --registry NAME\n"
	    "                    --scope read|publish|yank|admin"
	    " [--crates GLOB]\n"
	    "                    [--expires DAYS] --name LABEL"
	    " [--same-owner]\n"
	    "       crated token list | revoke ID|NAME [--config FILE]"
	    " [--data-dir DIR]\n"
	    "       crated cargo-config [--config FILE] [--url PUBLIC_URL]\n"
	    "       crated check [--config FILE]\n"
	    "       crated crash-points\n"
	    "       crated --help | --version\n"
	    "\n"
	    "crated serves cargo's sparse registry protocol, each registry"
	    " under /NAME/\n(index URL sparse+http://HOST:PORT/NAME/): hosted"
	    " registries that cargo\npublishes to, and pull-through mirrors of"
	    " an upstream registry.\nWithout --config it serves a hosted"
	    " registry \"local\" and a mirror of\nindex.crates.io,"
	    " \"crates-io\", from ./crated-data on 127.0.0.1:8080.\n"
	    "`crated cargo-config` prints the matching cargo configuration;"
	    "\n`crated check` checks the configuration and every upstream"
	    " (its URL and\ncredential) and exits 1 on any failure.\n\n");
	config_help(f);
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "offline", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL, *data_dir = NULL, *level = NULL;
	const char	**listen = NULL;
	size_t		 nlisten = 0;
	bool		 offline = false;
	struct config	*cfg = NULL;
	struct server	 srv;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*cause = NULL;
	int		 ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:l:d:v:oh", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			listen = xreallocarray(listen, nlisten + 1,
			    sizeof *listen);
			listen[nlisten++] = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'v':
			level = optarg;
			break;
		case 'o':
			offline = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (path == NULL)
		path = getenv("CRATED_CONFIG");
	r = config_load(path, &cfg, &cause);
	if (r != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		free(listen);
		return 1;
	}
	if (nlisten > 0)
		config_set_listen(cfg, listen, nlisten);
	free(listen);
	if (data_dir != NULL)
		config_set_string(&cfg->data_dir, data_dir);
	if (level != NULL)
		config_set_string(&cfg->log_level, level);
	for (size_t i = 0; offline && i < cfg->nregs; i++)
		if (cfg->regs[i].upstream != NULL)
			cfg->regs[i].offline = true;
	if (log_level_parse(cfg->log_level, &lvl) != 0) {
		fprintf(stderr, "crated: --log-level: use debug, info, warn or"
		    " error\n");
		config_free(cfg);
		return 1;
	}
	log_format_parse(cfg->log_format, &fmt);
	log_setup(lvl, fmt);
	if (log_access_to(cfg->access_log) != 0) {
		fprintf(stderr, "crated: access_log %s: %s\n", cfg->access_log,
		    strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (config_check(cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	crash_setup();
	memset(&srv, 0, sizeof srv);
	srv.force_offline = offline;
	srv.force_log_level = level;
	srv.force_listen = nlisten > 0;
	srv.force_data_dir = data_dir;
	if (server_start(&srv, cfg, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		server_finish(&srv);
		config_free(cfg);
		return 1;
	}
	server_run(&srv);
	cfg = srv.cfg;		/* SIGHUP may have replaced it */
	server_finish(&srv);
	config_free(cfg);
	log_info("stopped");
	return 0;
}

/* The upstream URL as cargo spells it in [registries] and Cargo.lock. */
static char *
cargo_url(const char *upstream)
{
	if (strcmp(upstream, "https://index.crates.io/") == 0 ||
	    strcmp(upstream, "sparse+https://index.crates.io/") == 0)
		return NULL;
	if (strncmp(upstream, "sparse+", 7) == 0)
		return xstrdup(upstream);
	return xasprintf("sparse+%s", upstream);
}

/* With auth_required cargo sends a token only when the registry has a
 * credential provider ("authenticated registries require a
 * credential-provider to be configured"). name: cargo's registry name. */
static void
print_credential(const struct registry_config *rc, const char *name)
{
	char	*env;

	if (!rc->auth_required)
		return;
	env = xasprintf("CARGO_REGISTRIES_%s_TOKEN", name);
	for (char *p = env; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	printf("# needs a crated token: cargo login --registry %s, or %s\n"
	    "credential-provider = [\"cargo:token\"]\n", name, env);
	free(env);
}

static void
print_registry(const struct registry_config *rc, const char *base)
{
	char	*up, *own;

	if (rc->upstream == NULL) {
		printf("\n# hosted registry: crates name it with registry ="
		    " \"%s\"\n[registries.%s]\nindex = \"sparse+%s/%s/\"\n",
		    rc->name, rc->name, base, rc->name);
		print_credential(rc, rc->name);
		return;
	}
	up = cargo_url(rc->upstream);
	own = xasprintf("%s-crated", rc->name);
	if (config_crates_io(rc))
		printf("\n# crates.io through crated%s%s; Cargo.lock keeps"
		    " crates.io's URL\n[source.crates-io]\nreplace-with ="
		    " \"%s\"\n", up ? ", which mirrors it from\n# " : "",
		    up ? up : "", own);
	else
		printf("\n# mirror of %s: projects name it with registry ="
		    " \"%s\" and\n# Cargo.lock keeps the upstream URL; crated"
		    " serves it.\n", up ? up : rc->upstream, rc->name);
	if (up != NULL)
		printf("# Publish through crated with --registry %s.\n", own);
	printf("[registries.%s]\nindex = \"sparse+%s/%s/\"\n", own, base,
	    rc->name);
	print_credential(rc, own);
	if (up != NULL)
		printf("[registries.%s]\nindex = \"%s\"\n[source.%s-upstream]"
		    "\nregistry = \"%s\"\nreplace-with = \"%s\"\n", rc->name,
		    up, rc->name, up, own);
	free(up);
	free(own);
}

/* Prints the cargo configuration that sends every registry through
 * crated while projects and lock files keep the upstream URLs. */
static int
cmd_cargo_config(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("CRATED_CONFIG"), *url = NULL;
	struct config	*cfg;
	char		*cause = NULL, *base;
	int		 ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:u:", opts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'u')
			url = optarg;
		else {
			fprintf(stderr, "usage: crated cargo-config [--config"
			    " FILE] [--url PUBLIC_URL]\n");
			return 2;
		}
	}
	r = config_load(path, &cfg, &cause);
	if (r != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return 1;
	}
	if (url == NULL)
		url = cfg->public_url;
	if (url != NULL)
		base = xstrdup(url);
	else if (cfg->nlisten > 0)
		base = xasprintf("http://%s", cfg->listen[0]);
	else if (cfg->nlisten_tls > 0)
		base = xasprintf("https://%s", cfg->listen_tls[0]);
	else {
		fprintf(stderr, "crated: %s names no listener: give --url\n",
		    path);
		config_free(cfg);
		return 1;
	}
	if (base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	printf("# cargo configuration for crated at %s\n# (put it in"
	    " $CARGO_HOME/config.toml or a project's .cargo/config.toml)\n",
	    base);
	for (size_t i = 0; i < cfg->nregs; i++)
		print_registry(&cfg->regs[i], base);
	free(base);
	config_free(cfg);
	return 0;
}

/* crated check: the configuration, then every upstream probed (its URL
 * and credential), one line per registry; 1 on any failure, as nginx -t. */
static int
cmd_check(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("CRATED_CONFIG");
	struct config	*cfg;
	char		*cause = NULL;
	int		 ch, failures;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: crated check [--config"
			    " FILE]\n");
			return 2;
		}
		path = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: crated check [--config FILE]\n");
		return 2;
	}
	if (config_load(path, &cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		return 1;
	}
	if (config_check(cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	log_setup(LOG_ERROR, LOG_TEXT);
	failures = probe_check_all(cfg, stdout);
	printf("crated check: configuration %s %s\n", path ? path :
	    "(built-in defaults)", failures ? "has failures" : "is ok");
	config_free(cfg);
	return failures ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("crated %s\n", CRATED_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "gc") == 0)
		return gc_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "token") == 0) {
		for (int i = 2; i < argc; i++)
			if (strcmp(argv[i], "--help") == 0 ||
			    strcmp(argv[i], "-h") == 0) {
				token_usage(stdout);
				return 0;
			}
		return token_main(argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "export") == 0)
		return export_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "import") == 0)
		return import_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return status_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "prefetch") == 0)
		return prefetch_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "cargo-config") == 0)
		return cmd_cargo_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "crash-points") == 0) {
		for (int i = 0; crash_points[i] != NULL; i++)
			printf("%s\n", crash_points[i]);
		return 0;
	}
	fprintf(stderr, "crated: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
