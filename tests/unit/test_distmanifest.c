/* dist_manifest_parse, _hash, _select on a trimmed real manifest (1.95.0,
 * as rustup 1.29 keeps it) and on small inline ones; dist_sha256_parse
 * and dist_url_rel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/distmanifest.h"
#include "tests/tap.h"

#define H64(c)	c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
		c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define HA	H64("a")
#define HB	H64("b")
#define HC	H64("c")

/* The smallest manifest real rustup accepted (docs/rustup-dist.md). */
static const char small[] =
    "manifest-version = \"2\"\n"
    "date = \"2026-04-16\"\n"
    "[pkg.rust]\nversion = \"1.95.0 (abc 2026-04-14)\"\n"
    "[pkg.rust.target.x86_64-unknown-linux-gnu]\navailable = true\n"
    "url = \"https://static.rust-lang.org/dist/2026-04-16/rust-1.95.0-"
    "x86_64-unknown-linux-gnu.tar.gz\"\nhash = \"" HA "\"\n"
    "[[pkg.rust.target.x86_64-unknown-linux-gnu.components]]\n"
    "pkg = \"rustc\"\ntarget = \"x86_64-unknown-linux-gnu\"\n"
    "[[pkg.rust.target.x86_64-unknown-linux-gnu.extensions]]\n"
    "pkg = \"rust-src\"\ntarget = \"*\"\n"
    "[pkg.rustc]\nversion = \"1.95.0\"\n"
    "[pkg.rustc.target.x86_64-unknown-linux-gnu]\navailable = true\n"
    "url = \"https://static.rust-lang.org/dist/2026-04-16/rustc-1.95.0-"
    "x86_64-unknown-linux-gnu.tar.gz\"\nhash = \"" HB "\"\n"
    "xz_url = \"https://static.rust-lang.org/dist/2026-04-16/rustc-1.95.0-"
    "x86_64-unknown-linux-gnu.tar.xz\"\nxz_hash = \"" HC "\"\n"
    "[pkg.rustc.target.aarch64-apple-darwin]\navailable = false\n"
    "[pkg.rust-src.target.\"*\"]\navailable = true\n"
    "url = \"http://mirror.example/rust/dist/2026-04-16/rust-src-1.95.0"
    ".tar.gz\"\nhash = \"" HA "\"\n";

static const struct {
	const char	*text;
	const char	*cause;		/* a piece of it */
} bad[] = {
	{ "manifest-version = \"1\"\ndate = \"2026-04-16\"\n[pkg]\n",
	  "version 2" },
	{ "manifest-version = \"2\"\ndate = \"16.4.2026\"\n[pkg]\n", "date" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n", "pkg" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n"
	  "[pkg.x.target.t]\navailable = true\nurl = \"https://h/dist/"
	  "2026-04-16/x.tar.gz\"\nhash = \"abc\"\n", "hash" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n"
	  "[pkg.x.target.t]\navailable = true\nurl = \"https://h/other/"
	  "x.tar.gz\"\nhash = \"" HA "\"\n", "url" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n"
	  "[pkg.x.target.t]\navailable = true\nurl = \"https://h/dist/"
	  "../lock\"\nhash = \"" HA "\"\n", "url" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n"
	  "[pkg.x.target.t]\navailable = true\nurl = \"https://h/dist/"
	  "2026-04-16/x.tar.gz\"\n", "hash" },
	{ "not toml at all", "not TOML" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n[pkg.rust.target."
	  "h]\navailable = true\ncomponents = [\"rustc\"]\n", "components" },
	{ "manifest-version = \"2\"\ndate = \"2026-04-16\"\n[pkg.r]\n"
	  "[profiles]\nminimal = \"rustc\"\n", "profiles" },
};

static bool
has_pick(const struct dist_pick *p, size_t n, const char *rel)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(p[i].rel, rel) == 0)
			return true;
	return false;
}

static void
test_small(void)
{
	struct dist_manifest	*m = NULL;
	struct dist_pick	*p = NULL;
	size_t			 n = 0;
	char			*cause = NULL;

	ok(dist_manifest_parse(small, strlen(small), &m, &cause) == 0,
	    "the smallest manifest parses (%s)", cause ? cause : "ok");
	if (m == NULL)
		return;
	is_str(m->date, "2026-04-16", "its date");
	is_str(m->version, "1.95.0 (abc 2026-04-14)", "pkg.rust's version");
	is_str(dist_manifest_hash(m, "dist/2026-04-16/rustc-1.95.0-x86_64-"
	    "unknown-linux-gnu.tar.xz"), HC, "the xz file's hash");
	is_str(dist_manifest_hash(m, "dist/2026-04-16/rustc-1.95.0-x86_64-"
	    "unknown-linux-gnu.tar.gz"), HB, "the gz file's hash");
	is_str(dist_manifest_hash(m, "dist/2026-04-16/rust-src-1.95.0.tar.gz"),
	    HA, "a url under an upstream's prefix is found from dist/");
	ok(dist_manifest_hash(m, "dist/2026-04-16/rustc-1.95.0-aarch64-apple-"
	    "darwin.tar.gz") == NULL, "an unavailable target names no file");
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "minimal", NULL,
	    0, NULL, 0, &p, &n, &cause) == 0 && n == 1 && has_pick(p, n,
	    "dist/2026-04-16/rustc-1.95.0-x86_64-unknown-linux-gnu.tar.xz"),
	    "no [profiles]: pkg.rust's components, xz preferred (%zu)", n);
	dist_picks_free(p, n);
	p = NULL;
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "minimal", NULL,
	    0, (const char *[]){ "rust-src" }, 1, &p, &n, &cause) == 0 &&
	    n == 2 && has_pick(p, n, "dist/2026-04-16/rust-src-1.95.0.tar.gz"),
	    "a component of every target (\"*\")");
	dist_picks_free(p, n);
	p = NULL;
	ok(dist_manifest_select(m, "aarch64-apple-darwin", "minimal", NULL, 0,
	    NULL, 0, &p, &n, &cause) == -1 && strstr(cause, "host") != NULL,
	    "a host without pkg.rust: %s", cause);
	free(cause);
	cause = NULL;
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "minimal",
	    (const char *[]){ "wasm32-unknown-unknown" }, 1, NULL, 0, &p, &n,
	    &cause) == -1 && strstr(cause, "wasm32") != NULL,
	    "a target without rust-std: %s", cause);
	free(cause);
	dist_manifest_free(m);
}

static void
test_real(void)
{
	struct dist_manifest	*m = NULL;
	struct dist_pick	*p = NULL;
	size_t			 len, n = 0;
	char			*text = test_data("dist/channel-rust-1.95.0.toml",
				    &len), *cause = NULL;
	const char		*d = "dist/2026-04-16/";
	char			 rel[DIST_PATH_MAX];

	ok(text != NULL, "tests/data/dist/channel-rust-1.95.0.toml read");
	if (text == NULL)
		return;
	ok(dist_manifest_parse(text, len, &m, &cause) == 0, "a real manifest"
	    " parses (%s)", cause ? cause : "ok");
	free(text);
	if (m == NULL)
		return;
	ok(m->nprofiles == 3 && m->nrenames == 2, "3 profiles, 2 renames");
	snprintf(rel, sizeof rel, "%srustc-1.95.0-x86_64-unknown-linux-gnu"
	    ".tar.xz", d);
	is_str(dist_manifest_hash(m, rel), "8426a3d170a5879f5682f5fbdd024a177"
	    "9b3951e7baba685af2d6dc32a6dfc15", "rustc's xz_hash");
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "minimal", NULL,
	    0, NULL, 0, &p, &n, &cause) == 0 && n == 3, "minimal on linux:"
	    " rustc, cargo, rust-std (rust-mingw skipped): %zu", n);
	dist_picks_free(p, n);
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "default",
	    (const char *[]){ "wasm32-unknown-unknown" }, 1,
	    (const char *[]){ "clippy", "rust-src" }, 2, &p, &n, &cause) == 0,
	    "default + a target + components (%s)", cause ? cause : "ok");
	snprintf(rel, sizeof rel, "%srust-std-1.95.0-wasm32-unknown-unknown"
	    ".tar.xz", d);
	ok(has_pick(p, n, rel), "rust-std of the target");
	snprintf(rel, sizeof rel, "%sclippy-1.95.0-x86_64-unknown-linux-gnu"
	    ".tar.xz", d);
	ok(has_pick(p, n, rel), "clippy renamed to clippy-preview");
	ok(n == 8, "8 files: rustc cargo rust-std rust-docs rustfmt clippy"
	    " rust-src wasm32 std (%zu)", n);
	dist_picks_free(p, n);
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "tiny", NULL, 0,
	    NULL, 0, &p, &n, &cause) == -1, "an unknown profile: %s", cause);
	free(cause);
	cause = NULL;
	ok(dist_manifest_select(m, "x86_64-unknown-linux-gnu", "minimal", NULL,
	    0, (const char *[]){ "miri" }, 1, &p, &n, &cause) == -1,
	    "an unknown component: %s", cause);
	free(cause);
	ok(dist_manifest_size(m) > 10000, "its size is counted");
	dist_manifest_free(m);
}

int
main(void)
{
	char	hex[65], rel[DIST_PATH_MAX];

	test_small();
	test_real();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dist_manifest	*m = NULL;
		char			*cause = NULL;
		int			 r = dist_manifest_parse(bad[i].text,
					    strlen(bad[i].text), &m, &cause);

		ok(r == -1 && m == NULL && cause != NULL && strstr(cause,
		    bad[i].cause) != NULL, "refused: %s", cause ? cause :
		    "accepted");
		free(cause);
		dist_manifest_free(m);
	}
	ok(dist_sha256_parse(HA "  channel-rust-stable.toml\n", 92, hex) ==
	    0 && strcmp(hex, HA) == 0, ".sha256 as sha256sum writes it");
	ok(dist_sha256_parse(H64("A"), 64, hex) == 0 && strcmp(hex, HA) == 0,
	    "bare uppercase hex, lowercased");
	ok(dist_sha256_parse(H64("g"), 64, hex) == -1, "not hex");
	ok(dist_sha256_parse(HA "x", 65, hex) == -1, "65 hex digits");
	ok(dist_sha256_parse("abc", 3, hex) == -1, "too short");
	ok(dist_url_rel("https://static.rust-lang.org/dist/2026-04-16/x.tar.xz",
	    rel) == 0 && strcmp(rel, "dist/2026-04-16/x.tar.xz") == 0,
	    "url rel: %s", rel);
	ok(dist_url_rel("https://h/p/dist/x?y", rel) == 0 &&
	    strcmp(rel, "dist/x") == 0, "url rel under a prefix, no query");
	ok(dist_url_rel("https://h/p/x", rel) == -1, "no dist/ in the url");
	ok(dist_url_rel("dist/x", rel) == -1, "not a url");
	return done_testing();
}
