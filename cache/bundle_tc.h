/* The toolchain mirrors' part of a bundle (cache/bundle.c): the files of
 * NAME/dist/, NAME/rustup/ and NAME/snapshots/ checked before anything
 * is applied, then put in place. Private to cache/bundle*.c. Pure. */
#ifndef CACHE_BUNDLE_TC_H
#define CACHE_BUNDLE_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bundle_stats;

/* A toolchain mirror's file of a bundle, unpacked in staging. */
struct bundle_tc_item {
	const char	*path;		/* "NAME/dist/...", as in the bundle */
	char		 name[65];	/* NAME */
	const char	*rel;		/* after "NAME/" */
	bool		 snapshot;	/* under snapshots/ */
	char		 hex[65];	/* its SHA-256 */
	uint64_t	 size;
	bool		 written;	/* applied (for the accounting) */
};

/* Whether rest (a bundle path after "NAME/") is a toolchain mirror's
 * file: snapshots/<a channel or release path>, dist/DATE/ tarballs and
 * dated manifests (with their .sha256), rustup/archive/ rustup-init
 * (with its .sha256). *snapshot tells the first kind. */
bool	bundle_tc_path(const char *rest, bool *snapshot);

/*
 * Checks every item against the rest, in staging and in data_dir: each
 * snapshot's header, parts and pair (its .sha256 names its .toml); each
 * dated manifest against its .sha256 (either side in the bundle or
 * already in the data directory); each tarball against the SHA-256 a
 * manifest of its mirror gives it (one in the bundle or the data
 * directory); each rustup-init against its .sha256. 0, or -1 with *err
 * (new) naming the file.
 */
int	bundle_tc_verify(const char *file, const char *staging,
	    const char *data_dir, struct bundle_tc_item *items, size_t n,
	    char **err);

/*
 * Moves the items into data_dir: files, then dated manifests, then their
 * .sha256, then snapshots (a snapshot replaces one of the same channel
 * only when its date is later), so nothing is visible before what it
 * names; a file already there is kept. Then the mirrors' usage journals
 * learn the new files. 0, or -1 with *err.
 */
int	bundle_tc_apply(const char *staging, const char *data_dir,
	    struct bundle_tc_item *items, size_t n, struct bundle_stats *,
	    char **err);

#endif
