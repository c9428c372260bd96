/* rustup's channel manifests (manifest-version 2, docs/rustup-dist.md):
 * which files a toolchain of that date is made of and the SHA-256 of
 * each, the components of the profiles, renames; and the .sha256 files
 * beside them. Read with index/toml.c. Pure. */
#ifndef INDEX_DISTMANIFEST_H
#define INDEX_DISTMANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "index/distpath.h"

/* One [pkg.PKG.target.TARGET] table that is available. */
struct dist_target {
	char	*pkg;
	char	*target;		/* a triple, or "*" */
	char	*rel;			/* url's path from "dist/", or NULL */
	char	 hash[65];
	char	*xz_rel;		/* xz_url's, or NULL */
	char	 xz_hash[65];
};

/* A file the manifest names, with its SHA-256: the table of every rel
 * and xz_rel, sorted by rel (borrowed from the targets). */
struct dist_file {
	const char	*rel;
	const char	*hash;
};

/* A component of the toolchain of a host: [[pkg.rust.target.HOST.
 * components]] (and .extensions). */
struct dist_component {
	char	*host;
	char	*pkg;
	char	*target;
	bool	 extension;
};

struct dist_profile {
	char	 *name;
	char	**pkgs;
	size_t	  n;
};

struct dist_manifest {
	char			 date[11];
	char			*version;	/* pkg.rust's, "1.95.0 (…)" */
	struct dist_target	*targets;
	size_t			 ntargets;
	struct dist_file	*files;
	size_t			 nfiles;
	struct dist_component	*comps;
	size_t			 ncomps;
	struct dist_profile	*profiles;
	size_t			 nprofiles;
	char			**rename_from, **rename_to;
	size_t			 nrenames;
};

/* Parses a channel manifest (len bytes). 0 with *out (new), or -1 with
 * *cause (new): not TOML, no manifest-version "2", no valid date, a url
 * whose path is not under dist/, a hash that is not 64 hex digits. */
int		 dist_manifest_parse(const char *text, size_t len,
		     struct dist_manifest **out, char **cause);
void		 dist_manifest_free(struct dist_manifest *);
/* The SHA-256 (64 lowercase hex, borrowed) the manifest gives the file
 * at rel ("dist/DATE/NAME"), or NULL. */
const char	*dist_manifest_hash(const struct dist_manifest *,
		     const char *rel);
/* Bytes the manifest holds in memory, roughly (for a cache's bound). */
size_t		 dist_manifest_size(const struct dist_manifest *);

/* A file to fetch for a toolchain. */
struct dist_pick {
	char	*rel;
	char	 hash[65];
	char	*pkg;
	char	*target;
};

/*
 * What `rustup toolchain install --profile P [--target T]...
 * [--component C]...` downloads on host (xz preferred): the profile's
 * components available for host (or for every target, "*"), the
 * components named (renamed as the manifest says), and rust-std for each
 * target. Without [profiles] (an older manifest), the components of
 * pkg.rust for host. 0 with *picks (new, n of them), or -1 with *cause
 * (new) naming what is not available.
 */
int	dist_manifest_select(const struct dist_manifest *, const char *host,
	    const char *profile, const char *const *targets, size_t ntargets,
	    const char *const *components, size_t ncomponents,
	    struct dist_pick **picks, size_t *n, char **cause);
void	dist_picks_free(struct dist_pick *, size_t n);

/* The hex digest of a .sha256 file ("HEX", or "HEX  NAME" as sha256sum
 * writes it), lowercased into hex (65 bytes). 0, or -1 when it holds no
 * such line. */
int	dist_sha256_parse(const char *text, size_t len, char *hex);

/* The path from "dist/" of url's path ("https://HOST/dist/D/F" gives
 * "dist/D/F"; an upstream under a prefix, ".../PREFIX/dist/D/F", too)
 * into out (DIST_PATH_MAX bytes). 0, or -1 when it has none. */
int	dist_url_rel(const char *url, char *out);

#endif
