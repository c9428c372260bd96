/* crated rustup-env: the two variables that send rustup through a
 * toolchain mirror, as shell export lines. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/config.h"

static void
exports(const char *base, const char *name, bool comment)
{
	printf("%sexport RUSTUP_DIST_SERVER=%s/%s\n", comment ? "# " : "",
	    base, name);
	printf("%sexport RUSTUP_UPDATE_ROOT=%s/%s/rustup\n", comment ? "# " :
	    "", base, name);
}

/* Prints the exports for the toolchain mirror named (or the first); the
 * others as comments. */
int
cmd_rustup_env(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "toolchains", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*path = getenv("CRATED_CONFIG"), *url = NULL;
	const char		*want = NULL;
	const struct toolchain_config *pick;
	struct config		*cfg;
	char			*cause = NULL, *base;
	int			 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:u:t:", opts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else if (ch == 'u')
			url = optarg;
		else if (ch == 't')
			want = optarg;
		else {
			fprintf(stderr, "usage: crated rustup-env [--config"
			    " FILE] [--url PUBLIC_URL] [--toolchains NAME]\n");
			return 2;
		}
	}
	if (config_load(path, &cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return 1;
	}
	pick = want != NULL ? config_toolchain(cfg, want) : cfg->ntcs > 0 ?
	    &cfg->tcs[0] : NULL;
	if (pick == NULL) {
		fprintf(stderr, "crated rustup-env: %s\n", want != NULL ?
		    "no such [toolchains.NAME] in the configuration" :
		    "the configuration has no [toolchains.NAME] (a mirror of"
		    " rustup's distribution server)");
		config_free(cfg);
		return 1;
	}
	if ((base = cmd_base_url(cfg, url, path)) == NULL) {
		config_free(cfg);
		return 1;
	}
	printf("# rustup through crated at %s (toolchain mirror %s of %s)\n",
	    base, pick->name, pick->upstream);
	exports(base, pick->name, false);
	for (size_t i = 0; i < cfg->ntcs; i++)
		if (&cfg->tcs[i] != pick) {
			printf("# toolchain mirror %s of %s:\n", cfg->tcs[i].name,
			    cfg->tcs[i].upstream);
			exports(base, cfg->tcs[i].name, true);
		}
	free(base);
	config_free(cfg);
	return 0;
}
