/* Crate names and the index paths cargo computes from them
 * (protocol doc §4; cargo's make_dep_path and crate_url). Pure. */
#ifndef INDEX_NAME_H
#define INDEX_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define CRATE_NAME_MAX	64
/* Longest index path: "ab/cd/" + 64-byte name + NUL. */
#define INDEX_PATH_MAX	(CRATE_NAME_MAX + 8)

/* 0 if name is a valid crate name (crates.io rules: 1..64 bytes of ASCII
 * [A-Za-z0-9_-], first byte a letter), else -EINVAL and *cause (new) says
 * why, naming the name. cause may be NULL. */
int	crate_name_check(const char *name, char **cause);

/* 0 unless name may not be published: -EPERM and *cause (new) saying why
 * when its canonical form (crate_name_canon) is a Windows device name
 * (con, prn, aux, nul, com0..com9, lpt0..lpt9: cargo on Windows cannot
 * create files so named) or a name crates.io reserves for Rust's own
 * crates (std, core, alloc, test, rustc, ...). cause may be NULL. */
int	crate_name_reserved(const char *name, char **cause);

/* Index path of a name: lowercased, "1/a", "2/ab", "3/a/abc",
 * "ca/rg/cargo". out holds INDEX_PATH_MAX bytes. The name must be valid. */
void	crate_index_path(const char *name, char *out);

/* The dl template's {prefix} (lower=false: from the name as given) or
 * {lowerprefix} (lower=true): the index path without the file name,
 * e.g. "Se/rd" or "se/rd". out holds INDEX_PATH_MAX bytes. */
void	crate_prefix(const char *name, bool lower, char *out);

/* Collision key: lowercase, '-' replaced by '_'. Two crates whose keys are
 * equal cannot both exist. out holds CRATE_NAME_MAX + 1 bytes. */
void	crate_name_canon(const char *name, char *out);

/* Reverse of crate_index_path for a request path (no leading '/'): 0 and
 * the name in out (CRATE_NAME_MAX + 1 bytes) when path is exactly the index
 * path of a valid lowercase name; -ENOENT otherwise (wrong prefix, upper
 * case, bad characters, "..", '%', extra segments). */
int	crate_name_from_index_path(const char *path, char *out);

#endif
