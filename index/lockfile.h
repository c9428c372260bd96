/* Cargo.lock (versions 1 to 4) through the TOML reader. Pure. */
#ifndef INDEX_LOCKFILE_H
#define INDEX_LOCKFILE_H

#include <stddef.h>

struct lock_package {
	char	*name;		/* new */
	char	*version;	/* new */
	char	*source;	/* new, or NULL for path/workspace members */
	char	*checksum;	/* new, or NULL (git, path, or v1 metadata
				   without an entry) */
	int	 line;		/* of its [[package]] header */
};

struct lockfile {
	int			 version;	/* 'version = N'; absent: 1 with a
						   [metadata] table, else 2 */
	size_t			 n;
	struct lock_package	*pkgs;
};

/* Parses text. Each [[package]] needs string name and version; source and
 * checksum are optional strings; dependencies an optional array of strings.
 * Version-1 files carry checksums in [metadata] under keys
 * "checksum NAME VERSION (SOURCE)"; they are moved onto the packages.
 * A version above 4 is an error. 0, or -EINVAL with *cause (new) as
 * "LINE:COL: why" or "LINE: why". */
int	lockfile_parse(const char *text, size_t len, struct lockfile *lf,
	    char **cause);
void	lockfile_finish(struct lockfile *lf);

/* 1 when source is a registry source ("registry+URL" or "sparse+URL"), and
 * then *url (borrowed, inside source) is the part after "registry+" (for
 * sparse, the whole "sparse+URL" string). 0 for git, path or NULL. */
int	lockfile_source_is_registry(const char *source, const char **url);

#endif
