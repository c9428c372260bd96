/* Bundles: a registry's cache (index files, crates, metadata) as one gzip
 * tar, for air-gapped machines and backups; toolchain mirrors' too (their
 * dist/, rustup/ and snapshots/, cache/bundle_tc.h). Written and read with
 * libarchive; a bundle ends with crated-bundle.json, the manifest that
 * lists every file with its size, SHA-256 and modification time.
 *
 * Import never trusts the bundle: entries must be regular files at paths
 * of the store layout (no "..", no absolute paths, no links or devices);
 * everything is unpacked into a staging folder inside the data directory
 * and checked (manifest hashes, and every .crate against an index cksum)
 * before anything becomes visible; then crates go in first and index files
 * are merged, so an index line never names a missing crate. A bad bundle
 * is refused whole and the cache is unchanged. Pure: no event loop. */
#ifndef CACHE_BUNDLE_H
#define CACHE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct bundle_progress {
	void	(*fn)(const char *what, size_t done, size_t total,
		    unsigned long long bytes, void *arg);
	void	*arg;
};

struct bundle_stats {
	size_t			 files;		/* written or imported */
	size_t			 crates;
	size_t			 index_files;
	size_t			 skipped;	/* already present */
	size_t			 toolchain_files; /* toolchain mirrors' */
	unsigned long long	 bytes;
};

/* A registry, or a toolchain mirror, as the configuration knows it. */
struct bundle_registry {
	const char	*name;
	const char	*upstream;	/* as configured; NULL: hosted */
	bool		 toolchain;	/* a [toolchains.NAME] mirror */
};

/* Writes the registries named (NULL: every registry directory) of
 * data_dir to file, atomically (a temp name, then rename). since > 0
 * keeps only files modified at or after it. The manifest records what
 * known says of each registry exported (hosted, or the upstream it
 * mirrors). 0, or -1 with *cause. */
int	bundle_export(const char *data_dir, const char *const *registries,
	    size_t nregistries, time_t since, const char *file,
	    const struct bundle_registry *known, size_t nknown,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

/* What import checks a bundle's registries against. */
struct bundle_import_opts {
	const struct bundle_registry	*regs;	/* the configured ones */
	size_t				 nregs;
	/* Files for a hosted registry are refused unless allow_hosted (a
	 * restore); then every index line's .crate must be in the bundle or
	 * the data directory, matching its cksum. */
	bool				 allow_hosted;
	/* A mirror's files from a bundle that mirrored another upstream are
	 * refused unless allow_other_upstream (then a warning). */
	bool				 allow_other_upstream;
	void				(*warn)(const char *msg, void *arg);
	void				*arg;
};

/* The "created" time in a bundle's manifest (for --since BUNDLE), or -1
 * with *cause. */
time_t	bundle_created(const char *file, char **cause);

/* Imports file into data_dir (whose lock the caller holds). The file
 * must be exactly one gzip stream; every index line is checked as a
 * mirror's fill is (JSON, the name of its path, a cksum). opts may be
 * NULL (no registry known: nothing refused for its kind). 0, or -1 with
 * *cause and nothing changed. */
int	bundle_import(const char *data_dir, const char *file,
	    const struct bundle_import_opts *opts,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

#endif
