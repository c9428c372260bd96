/* SemVer 2.0.0 versions, as crates carry them (https://semver.org). Pure. */
#ifndef INDEX_SEMVER_H
#define INDEX_SEMVER_H

#include <stdint.h>
#include <stddef.h>

/* The longest version string crated stores (paths hold it). */
#define VERSION_MAX	128

struct semver {
	uint64_t	 major, minor, patch;
	const char	*pre;		/* borrowed from the parsed string */
	size_t		 pre_len;	/* 0: no pre-release */
	const char	*build;		/* borrowed; after '+' */
	size_t		 build_len;	/* 0: no build metadata */
};

/* Parses s strictly (no leading zeros in numeric parts, no empty
 * identifiers, no "v" prefix, no spaces). 0, or -EINVAL with *cause (new)
 * naming the version. cause may be NULL. */
int	semver_parse(const char *s, struct semver *v, char **cause);

/* Precedence per SemVer 2.0 §11: <0, 0, >0. Build metadata is ignored, so
 * "1.0.7" and "1.0.7+x" compare equal. */
int	semver_cmp(const struct semver *a, const struct semver *b);

/* semver_parse on both and semver_cmp; unparsable strings compare by
 * strcmp after every valid version. */
int	semver_cmp_str(const char *a, const char *b);

/* 1 when a and b are the same version but for build metadata. */
int	semver_same_ignoring_build(const char *a, const char *b);

/* 1 when cargo's version requirement req ("^1.2", "~0.3.1", "=1.0.0",
 * ">=1.0, <2", "1.*", "*", several comparators separated by commas)
 * allows v, 0 when not, -1 when req does not parse. Pre-releases are
 * allowed only where a comparator names one of the same version. */
int	semver_req_allows(const char *req, const struct semver *v);

/* semver_req_allows without cargo's pre-release opt-in: each comparator
 * by precedence alone, so "<1.2.4" covers 1.2.4-rc.1 and 1.0.0-alpha too
 * and "^1.2" covers 1.3.0-beta ("=1.0.0" still not 1.0.0-rc.1). For deny
 * rules, which a pre-release must not slip past. 1, 0, or -1. */
int	semver_req_covers(const char *req, const struct semver *v);

/* 0 when req parses as cargo parses a dependency's version requirement
 * (the semver crate's VersionReq): "*" (or "x", "X") alone, or 1..32
 * comparators separated by commas, each an optional operator ("=", ">",
 * ">=", "<", "<=", "~", "^"), MAJOR[.MINOR[.PATCH[-PRE][+BUILD]]] without
 * leading zeros, MINOR or PATCH possibly a wildcard, spaces around the
 * operator and the commas. -EINVAL otherwise, *cause (new) saying where
 * it fails. cause may be NULL. */
int	semver_req_check(const char *req, char **cause);

#endif
