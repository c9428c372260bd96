#include "server/core/cargoconf.h"

#include <ctype.h>
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
print_credential(FILE *f, const struct registry_config *rc,
    const char *name)
{
	char	*env;

	if (!rc->auth_required)
		return;
	env = xasprintf("CARGO_REGISTRIES_%s_TOKEN", name);
	for (char *p = env; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	fprintf(f, "# needs a crated token: cargo login --registry %s, or %s\n"
	    "credential-provider = [\"cargo:token\"]\n", name, env);
	free(env);
}

static void
print_registry(FILE *f, const struct registry_config *rc,
    const char *base)
{
	char	*up, *own;

	if (rc->upstream == NULL) {
		fprintf(f, "\n# hosted registry: crates name it with registry ="
		    " \"%s\"\n[registries.%s]\nindex = \"sparse+%s/%s/\"\n",
		    rc->name, rc->name, base, rc->name);
		print_credential(f, rc, rc->name);
		return;
	}
	up = cargo_url(rc->upstream);
	own = xasprintf("%s-crated", rc->name);
	if (config_crates_io(rc))
		fprintf(f, "\n# crates.io through crated%s%s; Cargo.lock keeps"
		    " crates.io's URL\n[source.crates-io]\nreplace-with ="
		    " \"%s\"\n", up ? ", which mirrors it from\n# " : "",
		    up ? up : "", own);
	else
		fprintf(f, "\n# mirror of %s: projects name it with registry ="
		    " \"%s\" and\n# Cargo.lock keeps the upstream URL; crated"
		    " serves it.\n", up ? up : rc->upstream, rc->name);
	if (up != NULL)
		fprintf(f, "# Publish through crated with --registry %s.\n",
		    own);
	fprintf(f, "[registries.%s]\nindex = \"sparse+%s/%s/\"\n", own, base,
	    rc->name);
	print_credential(f, rc, own);
	if (up != NULL)
		fprintf(f, "[registries.%s]\nindex = \"%s\"\n[source.%s-upstream]"
		    "\nregistry = \"%s\"\nreplace-with = \"%s\"\n", rc->name,
		    up, rc->name, up, own);
	free(up);
	free(own);
}

char *
cargoconf_registry(const struct registry_config *rc, const char *base)
{
	char	*s = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&s, &len);

	if (f == NULL)
		xoom("open_memstream");
	print_registry(f, rc, base);
	if (fclose(f) != 0)
		xoom("open_memstream");
	/* The blank line that separates registries in the whole file. */
	if (s[0] == '\n')
		memmove(s, s + 1, len);
	return s;
}
