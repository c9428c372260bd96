/* Checking a .crate file (a gzip'd tar) against the name and version it
 * is published as, before anything is stored. Pure: zlib and libarchive. */
#ifndef INDEX_CRATE_ARCHIVE_H
#define INDEX_CRATE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

/* crates.io's limit on the unpacked size of a crate (max_unpack_size). */
#define CRATE_UNPACK_MAX	((uint64_t)512 << 20)

/* Reads the whole archive in buf. 0 when: buf is one complete gzip stream
 * and nothing after it; what it holds is a tar archive whose entries are
 * all regular files or directories named NAME-VERSION or NAME-VERSION/...
 * (name and vers exactly as given, build metadata included, as `cargo
 * package` writes them) with no "." or ".." component; the regular file
 * NAME-VERSION/Cargo.toml is there; and the tar stream is at most
 * max_unpacked bytes. Otherwise -EINVAL and *cause (new), a sentence
 * naming the entry or the problem. cause may be NULL. */
int	crate_archive_check(const unsigned char *buf, size_t len,
	    const char *name, const char *vers, uint64_t max_unpacked,
	    char **cause);

/* The NAME-VERSION/Cargo.toml of the .crate read from fd (from where
 * it stands), for what a page shows of a crate: new, NUL-terminated, *len
 * bytes, at most max_toml of them; NULL when there is none, or the file
 * is no gzip'd tar, or more than max_unpacked bytes would be inflated
 * before it. NAME-VERSION is matched without regard to case (a mirror's
 * files are named in lower case, the archive's root as the crate is).
 * No other check: for a file that was checked or came from a registry. */
char	*crate_archive_manifest(int fd, const char *name, const char *vers,
	    uint64_t max_unpacked, size_t max_toml, size_t *len);

#endif
