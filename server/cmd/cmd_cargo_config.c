/* crated cargo-config: the cargo configuration for this crated. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/cargoconf.h"
#include "server/core/config.h"

/* Prints the cargo configuration that sends every registry through
 * crated while projects and lock files keep the upstream URLs. */
int
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
	if ((base = cmd_base_url(cfg, url, path)) == NULL) {
		config_free(cfg);
		return 1;
	}
	printf("# cargo configuration for crated at %s\n# (put it in"
	    " $CARGO_HOME/config.toml or a project's .cargo/config.toml)\n",
	    base);
	for (size_t i = 0; i < cfg->nregs; i++) {
		char	*s = cargoconf_registry(&cfg->regs[i], base);

		printf("\n%s", s);
		free(s);
	}
	for (size_t i = 0; i < cfg->ntcs; i++)
		printf("\n# toolchain mirror %s (rustup; `crated rustup-env`"
		    " prints these):\n# export RUSTUP_DIST_SERVER=%s/%s\n#"
		    " export RUSTUP_UPDATE_ROOT=%s/%s/rustup\n",
		    cfg->tcs[i].name, base, cfg->tcs[i].name, base,
		    cfg->tcs[i].name);
	free(base);
	config_free(cfg);
	return 0;
}
