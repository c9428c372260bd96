/* The paths of rustup's distribution server (docs/rustup-dist.md): what
 * a toolchain mirror is asked for under /NAME/, checked and sorted into
 * what may be cached and how, and the Range header of a request for one
 * of its files. Pure. */
#ifndef INDEX_DISTPATH_H
#define INDEX_DISTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIST_PATH_MAX	256	/* bytes of a path, its NUL included */
#define DIST_CHANNEL_MAX	48

enum dist_kind {
	/* dist/channel-rust-C.toml and its .sha256: mutable, one snapshot
	 * (the pair is swapped as one). */
	DIST_CHANNEL,
	/* rustup/release-C.toml: mutable, a snapshot of one file. */
	DIST_RELEASE,
	/* dist/YYYY-MM-DD/channel-rust-C.toml and its .sha256: immutable,
	 * kept once the .toml matches the .sha256. */
	DIST_DATED_MANIFEST,
	/* dist/YYYY-MM-DD/NAME.tar.xz or .tar.gz: immutable, kept once its
	 * SHA-256 is the one a manifest of that date gives it. */
	DIST_TARBALL,
	/* rustup/archive/VERSION/TRIPLE/rustup-init[.exe]: immutable, kept
	 * once its SHA-256 is the one its .sha256 beside it gives. */
	DIST_RUSTUP_INIT,
	/* Anything else under dist/ or rustup/: passed through, never
	 * kept. */
	DIST_OTHER,
};

struct dist_path {
	enum dist_kind	kind;
	bool		sha256;		/* the .sha256 half of a pair */
	/* DIST_CHANNEL, DIST_DATED_MANIFEST: the .toml's path, the pair's
	 * name (the request's path without ".sha256"). */
	char		toml[DIST_PATH_MAX];
	char		date[11];	/* the dated kinds: YYYY-MM-DD */
	char		channel[DIST_CHANNEL_MAX]; /* "stable", "1.95.0" */
};

/* Sorts rel, a path below the mirror's root ("dist/..." or "rustup/..."),
 * into out. -1 with *why (static) when it is no path a mirror serves:
 * empty or "." or ".." segments, bytes outside [A-Za-z0-9._+-], too long
 * or too deep. */
int	dist_path_parse(const char *rel, struct dist_path *out,
	    const char **why);

/* Whether s is a date as dist/ names its directories (YYYY-MM-DD). */
bool	dist_is_date(const char *s, size_t len);

/*
 * The channel manifest of a toolchain as rustup names it: "stable",
 * "beta", "nightly", "1.95", "1.95.0" give dist/channel-rust-C.toml;
 * "C-YYYY-MM-DD" (C stable, beta or nightly) gives
 * dist/YYYY-MM-DD/channel-rust-C.toml. out holds DIST_PATH_MAX bytes. 0,
 * or -1 with *why (static).
 */
int	dist_toolchain_manifest(const char *toolchain, char *out,
	    const char **why);

/*
 * A Range header for a body of size bytes (RFC 9110 14.1.2, one range:
 * "bytes=N-", "bytes=N-M", "bytes=-S"). 1 with *first and *last (both
 * inclusive) when the range is served (206); 0 when the whole body is
 * (no header, another unit, several ranges, a header that does not
 * parse: a server may ignore them); -1 when no byte of the body is in it
 * (416).
 */
int	dist_range(const char *header, uint64_t size, uint64_t *first,
	    uint64_t *last);

/*
 * The parts of a tarball's name as dist/ names them, PKG-VERSION[-TRIPLE]
 * .tar.xz/.gz (VERSION "1.95.0", "beta", "nightly"; no triple for the
 * packages of every target, rust-src): 0, or -1 when file is not such a
 * name. Each out holds DIST_CHANNEL_MAX bytes, triple DIST_PATH_MAX.
 */
int	dist_tarball_name(const char *file, char *pkg, char *version,
	    char *triple);

#endif
