/* Snapshots of a toolchain mirror's mutable files: a channel manifest and
 * its .sha256 (or rustup's release-stable.toml alone), kept in ONE file so
 * that the pair is replaced by one rename and a client never sees the
 * .sha256 of one and the .toml of another. The file is a header line of
 * JSON, then the parts' bytes:
 *
 *   {"snapshot":1,"date":"2026-04-16","version":"1.95.0 (…)",
 *    "fetched":1760000000,"parts":[{"path":"dist/channel-rust-stable.
 *    toml.sha256","length":97,"sha256":"…"},{"path":"dist/channel-rust-
 *    stable.toml","length":975427,"sha256":"…"}]}\n
 *   <the .sha256's bytes><the .toml's bytes>
 *
 * A snapshot of rel lives at snapshots/<rel> in the mirror's store. Its
 * mtime is when the upstream last confirmed it. Pure. */
#ifndef CACHE_SNAPSHOT_H
#define CACHE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "index/distpath.h"

struct store;

#define SNAPSHOT_PARTS_MAX	2
#define SNAPSHOT_HEAD_MAX	4096
#define SNAPSHOT_PART_MAX	(64u << 20)

struct snapshot_part {
	char		path[DIST_PATH_MAX];	/* as served */
	uint64_t	off;			/* in the file */
	uint64_t	len;
	char		sha256[65];
};

struct snapshot_info {
	char			date[11];	/* the manifest's, or "" */
	char			version[80];	/* pkg.rust's, or "" */
	long long		fetched;	/* Unix seconds */
	size_t			nparts;
	struct snapshot_part	parts[SNAPSHOT_PARTS_MAX];
	uint64_t		size;		/* of the whole file */
};

/* "snapshots/" rel into out (DIST_PATH_MAX + 16 bytes). */
#define SNAPSHOT_REL_MAX	(DIST_PATH_MAX + 16)
void	snapshot_rel(const char *rel, char *out);

/* Writes the snapshot of rel (info's date, version, fetched, nparts and
 * each part's path are given; lengths, hashes and offsets are filled in
 * from bodies) through a temp file, fsynced, renamed. 0 or -errno. */
int	snapshot_write(struct store *, const char *rel,
	    struct snapshot_info *, const void *const *bodies,
	    const size_t *lens);

/* Reads and checks the header of the snapshot file fd: its JSON, every
 * part's path and length, and that the file's size is the header's
 * plus the parts'. 0, or -1 with *cause (new). */
int	snapshot_read(int fd, struct snapshot_info *, char **cause);

/* Hashes every part against its recorded SHA-256 and, for a pair, checks
 * that the .sha256 part names the SHA-256 of the other. 0, or -1 with
 * *cause (new). */
int	snapshot_verify(int fd, const struct snapshot_info *, char **cause);

/* The part of info served at path, or NULL. */
const struct snapshot_part *snapshot_part(const struct snapshot_info *,
	    const char *path);

#endif
