/* The body of PUT /api/v1/crates/new and the index line built from it
 * (protocol doc §9). Pure; jansson and OpenSSL's SHA-256. */
#ifndef INDEX_PUBLISH_H
#define INDEX_PUBLISH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

struct publish {
	json_t			*meta;		/* new: the metadata object */
	const char		*name;		/* borrowed from meta */
	const char		*vers;		/* borrowed from meta */
	const unsigned char	*crate;		/* borrowed from the body */
	size_t			 crate_len;
	char			 cksum[65];	/* SHA-256 of the crate bytes */
};

/* Parses body: u32le J, J bytes of JSON, u32le C, C bytes of .crate, and
 * nothing after. Checks: lengths add up exactly; metadata is a JSON object
 * with a valid crate name, a SemVer vers, deps an array of objects each
 * with a valid name, a non-empty string version_req, kind null or
 * "normal"/"build"/"dev", optional/default_features booleans (or absent),
 * features an array of strings, target null or string, registry and
 * explicit_name_in_toml absent/null or string (the latter a valid name);
 * features an object of string arrays (or absent); links and rust_version
 * null or string; the .crate starts with the gzip magic 1f 8b; and the
 * rules below: the name not reserved (crate_name_reserved), each
 * version_req a cargo requirement (semver_req_check), target, registry,
 * links, rust_version, feature names and values valid, each value naming
 * a feature, an optional dependency (dep:NAME, or NAME when the dependency
 * has an implicit feature) or a dependency's feature (NAME/F, NAME?/F with
 * NAME optional), NAME being the dependency's name in Cargo.toml (its
 * explicit_name_in_toml when renamed); no optional dev-dependency; every
 * optional dependency enabled by some feature, as cargo requires. The
 * .crate itself is checked by publish_check_crate.
 * 0, or -EINVAL with *cause (new), a sentence a person can act on. */
int	publish_parse(const unsigned char *body, size_t len, struct publish *p,
	    char **cause);
void	publish_finish(struct publish *p);

/* A new body in the frame publish_parse reads: u32le J, J bytes of json
 * (not checked: any bytes), u32le C, C bytes of crate; *len is its length
 * and the crate starts at *len - crate_len. NULL when a length does not
 * fit in 32 bits (cargo's frame cannot say it). */
unsigned char	*publish_encode(const char *json, size_t json_len,
		    const unsigned char *crate, size_t crate_len, size_t *len);

/* The whole-archive check of p's .crate (crate_archive_check against
 * p->name and p->vers, CRATE_UNPACK_MAX): CPU work to run off the event
 * loop. 0, or -EINVAL with *cause (new) naming the crate. */
int	publish_check_crate(const struct publish *p, char **cause);

/* The rules publish_parse applies to single fields, each 0 or -EINVAL
 * with *cause (new) saying why (cause may be NULL):
 * a feature name as cargo and crates.io accept it (ASCII only here: a
 * first character [A-Za-z0-9_], then [A-Za-z0-9_+.-], never "dep:...");
 * a target: a platform name [A-Za-z0-9_.-]+ or "cfg(EXPR)" with cargo's
 * cfg grammar (identifiers, key = "string", all(), any(), not());
 * a dependency's registry: an absolute URL (a scheme, ':', then printable
 * ASCII without spaces, quotes or <>\^`{|}; "//host" for http(s));
 * links: [A-Za-z0-9_.+-]+, a native library's name;
 * rust_version: N, N.N or N.N.N, numbers without leading zeros. */
int	publish_feature_name_check(const char *s, char **cause);
int	publish_target_check(const char *s, char **cause);
int	publish_registry_check(const char *s, char **cause);
int	publish_links_check(const char *s, char **cause);
int	publish_rust_version_check(const char *s, char **cause);

/* New string: the index line for p (no trailing newline), keys in the
 * order name, vers, deps, cksum, features, yanked, links, v, and then
 * rust_version (when set) and pubtime ("YYYY-MM-DDTHH:MM:SSZ", UTC).
 * Each dep: name (explicit_name_in_toml if set, else name), req, features,
 * optional, default_features, target, kind ("normal" when null), registry,
 * package (the real name when renamed, else null). features2 is not used;
 * v is 1. */
char	*publish_index_line(const struct publish *p, time_t pubtime);

#endif
