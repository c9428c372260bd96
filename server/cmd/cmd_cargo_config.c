/* crated cargo-config: the cargo configuration for this crated. */
#include "server/cmd/cmd.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/config.h"

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
