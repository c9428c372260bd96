/* The cargo configuration for one registry of crated at base (no
 * trailing '/'): what `crated cargo-config` prints for it, and what the
 * home page shows. Calls nothing of the server. */
#ifndef SERVER_CORE_CARGOCONF_H
#define SERVER_CORE_CARGOCONF_H

struct registry_config;

/* New string: [registries]/[source] tables for rc, ending in '\n'. */
char	*cargoconf_registry(const struct registry_config *rc,
	    const char *base);

#endif
