/* A registry's config.json (protocol doc §3) and the download URL its dl
 * template gives (§7). Pure. */
#ifndef INDEX_REGCONFIG_H
#define INDEX_REGCONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct regconfig {
	char	*dl;		/* new; required */
	char	*api;		/* new, or NULL */
	bool	 auth_required;
};

/* Parses config.json. 0, or -EINVAL with *cause (new) when it is not a
 * JSON object or has no string "dl". */
int	regconfig_parse(const char *json, size_t len, struct regconfig *rc,
	    char **cause);
void	regconfig_finish(struct regconfig *rc);

/* New string: the download URL of name (case kept) at vers with cksum,
 * from the dl template: {crate}, {version}, {prefix}, {lowerprefix} and
 * {sha256-checksum} are replaced; a template with none of them gets
 * "/{crate}/{version}/download" appended. */
/* A registry's index URL as one string whatever cargo's spelling:
 * "registry+https://x/" and "sparse+https://x" alike give "https://x/".
 * New. */
char	*regconfig_index_url(const char *url);
char	*regconfig_dl_url(const char *dl, const char *name, const char *vers,
	    const char *cksum);

#endif
