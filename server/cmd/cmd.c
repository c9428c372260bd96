/* What the commands share: the options of the data commands (export,
 * import, status, gc), their progress line, the usage text. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/bundle.h"
#include "common/xmalloc.h"
#include "server/core/config.h"

static const struct option	 opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "registry", required_argument, NULL, 'r' },
	{ "since", required_argument, NULL, 's' },
	{ "allow-hosted", no_argument, NULL, 'H' },
	{ "allow-other-upstream", no_argument, NULL, 'U' },
	{ "evict-named-dates", no_argument, NULL, 'N' },
	{ NULL, 0, NULL, 0 }
};

/* Options common to the data commands; the data directory comes from the
 * config file (or the default), --data-dir overriding it. */
int
cmd_parse_args(int argc, char **argv, struct cmd_args *a, const char *usage)
{
	const char	*path = getenv("CRATED_CONFIG"), *dir = NULL;
	char		*cause = NULL;
	int		 ch;

	memset(a, 0, sizeof *a);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:d:r:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'r':
			a->registry = optarg;
			break;
		case 's':
			a->since = optarg;
			break;
		case 'H':
			a->allow_hosted = true;
			break;
		case 'U':
			a->allow_other_upstream = true;
			break;
		case 'N':
			a->evict_named_dates = true;
			break;
		default:
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	if (((a->allow_hosted || a->allow_other_upstream) && strstr(usage,
	    "--allow-hosted") == NULL) || (a->evict_named_dates &&
	    strstr(usage, "--evict-named-dates") == NULL)) {
		fprintf(stderr, "usage: %s\n", usage);
		return -1;
	}
	if (config_load(path, &a->cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return -1;
	}
	if (dir != NULL)
		config_set_string(&a->cfg->data_dir, dir);
	return 0;
}

void
cmd_show(const char *what, size_t done, size_t total,
    unsigned long long bytes, void *arg)
{
	struct cmd_tty	*t = arg;

	if (!t->on)
		return;
	if (total > 0)
		fprintf(stderr, "\r%-7s %zu/%zu files, %.1f MB   ", what, done,
		    total, (double)bytes / 1e6);
	else
		fprintf(stderr, "\r%-7s %zu files, %.1f MB   ", what, done,
		    (double)bytes / 1e6);
	fflush(stderr);
}

/* The configured registries, for the bundle's record of each (new). */
struct bundle_registry *
cmd_configured(const struct config *cfg)
{
	struct bundle_registry	*v = xcalloc(cfg->nregs + cfg->ntcs + 1,
				    sizeof *v);

	for (size_t i = 0; i < cfg->nregs; i++) {
		v[i].name = cfg->regs[i].name;
		v[i].upstream = cfg->regs[i].upstream;
	}
	for (size_t i = 0; i < cfg->ntcs; i++) {
		v[cfg->nregs + i].name = cfg->tcs[i].name;
		v[cfg->nregs + i].upstream = cfg->tcs[i].upstream;
		v[cfg->nregs + i].toolchain = true;
	}
	return v;
}

void
cmd_usage(FILE *f)
{
	fprintf(f,
	    "usage: crated serve [--config FILE] [--listen ADDR]..."
	    " [--data-dir DIR]\n"
	    "                    [--log-level LEVEL] [--offline]\n"
	    "       crated prefetch [--config FILE] [--data-dir DIR]"
	    " [--server URL]\n"
	    "                       [--registry NAME] [--jobs N]"
	    " LOCKFILE|DIR...\n"
	    "       crated prefetch [--config FILE] [--data-dir DIR]"
	    " [--server URL]\n"
	    "                       --toolchain VERSION [--host TRIPLE]"
	    " [--target TRIPLE]...\n"
	    "                       [--profile minimal|default|complete]"
	    " [--component NAME]...\n"
	    "                       [--toolchains NAME] [LOCKFILE|DIR...]\n"
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
	    "                 [--evict-named-dates]\n"
	    "       crated token create [--config FILE] [--data-dir DIR]"
	    " --registry NAME\n"
	    "                    --scope read|publish|yank|admin"
	    " [--crates GLOB]\n"
	    "                    [--expires DAYS] --name LABEL"
	    " [--same-owner]\n"
	    "       crated token list | revoke ID|NAME [--config FILE]"
	    " [--data-dir DIR]\n"
	    "       crated cargo-config [--config FILE] [--url PUBLIC_URL]\n"
	    "       crated rustup-env [--config FILE] [--url PUBLIC_URL]"
	    " [--toolchains NAME]\n"
	    "       crated check [--config FILE]\n"
	    "       crated storage migrate --to-store|--from-store"
	    " [--config FILE]\n"
	    "                    [--data-dir DIR] [--registry NAME]\n"
	    "       crated storage ls|verify [--config FILE]"
	    " [--registry NAME]\n"
	    "       crated block NAME[@REQ] --reason TEXT [--registry NAME]"
	    " [--config FILE]\n"
	    "       crated unblock NAME[@REQ] [--registry NAME]"
	    " [--config FILE]\n"
	    "       crated policy explain NAME VERSION [--registry NAME]"
	    " [--config FILE]\n"
	    "       crated advisories import FILE.tar.gz|DIR"
	    " [--config FILE]\n"
	    "       crated crash-points\n"
	    "       crated --help | --version\n"
	    "\n"
	    "crated serves cargo's sparse registry protocol, each registry"
	    " under /NAME/\n(index URL sparse+http://HOST:PORT/NAME/): hosted"
	    " registries that cargo\npublishes to, and pull-through mirrors of"
	    " an upstream registry.\nWithout --config it serves a hosted"
	    " registry \"local\" and a mirror of\nindex.crates.io,"
	    " \"crates-io\", from ./crated-data on 127.0.0.1:8080.\n"
	    "[toolchains.NAME] mirrors rustup's distribution server under"
	    " /NAME/dist and\n/NAME/rustup (`crated rustup-env` prints"
	    " RUSTUP_DIST_SERVER and\nRUSTUP_UPDATE_ROOT for it).\n"
	    "`crated cargo-config` prints the matching cargo configuration;"
	    "\n`crated check` checks the configuration and every upstream"
	    " (its URL and\ncredential) and exits 1 on any failure.\n\n");
	config_help(f);
}

char *
cmd_base_url(const struct config *cfg, const char *url, const char *path)
{
	char	*base;

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
		    path ? path : "the configuration");
		return NULL;
	}
	while (base[0] != '\0' && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	return base;
}
