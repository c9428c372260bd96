/* Bundles: a registry's cache (index files, crates, metadata) as one gzip
 * tar, for air-gapped machines and backups. Written and read with
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
	unsigned long long	 bytes;
};

/* Writes the registries named (NULL: every registry directory) of
 * data_dir to file, atomically (a temp name, then rename). since > 0
 * keeps only files modified at or after it. 0, or -1 with *cause. */
int	bundle_export(const char *data_dir, const char *const *registries,
	    size_t nregistries, time_t since, const char *file,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

/* The "created" time in a bundle's manifest (for --since BUNDLE), or -1
 * with *cause. */
time_t	bundle_created(const char *file, char **cause);

/* Imports file into data_dir (whose lock the caller holds). 0, or -1 with
 * *cause and nothing changed. */
int	bundle_import(const char *data_dir, const char *file,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

#endif
