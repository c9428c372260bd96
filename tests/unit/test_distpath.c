/* dist_path_parse, dist_toolchain_manifest, dist_range and
 * dist_tarball_name: one line per case, input beside expected output. */
#include <stdio.h>
#include <string.h>

#include "index/distpath.h"
#include "tests/tap.h"

#define BAD	-1

static const struct {
	const char	*rel;
	int		 kind;		/* enum dist_kind, or BAD */
	int		 sha256;
	const char	*toml;
	const char	*date;
	const char	*channel;
} paths[] = {
	{ "dist/channel-rust-stable.toml", DIST_CHANNEL, 0,
	  "dist/channel-rust-stable.toml", "", "stable" },
	{ "dist/channel-rust-stable.toml.sha256", DIST_CHANNEL, 1,
	  "dist/channel-rust-stable.toml", "", "stable" },
	{ "dist/channel-rust-1.95.0.toml.sha256", DIST_CHANNEL, 1,
	  "dist/channel-rust-1.95.0.toml", "", "1.95.0" },
	{ "dist/channel-rust-1.95.toml", DIST_CHANNEL, 0,
	  "dist/channel-rust-1.95.toml", "", "1.95" },
	{ "dist/channel-rust-stable.sha256", DIST_OTHER, 0, "", "", "" },
	{ "dist/channel-rust-.toml", DIST_OTHER, 0, "", "", "" },
	{ "dist/channel-rust-Stable.toml", DIST_OTHER, 0, "", "", "" },
	{ "dist/2026-04-16/channel-rust-stable.toml", DIST_DATED_MANIFEST, 0,
	  "dist/2026-04-16/channel-rust-stable.toml", "2026-04-16",
	  "stable" },
	{ "dist/2026-04-16/channel-rust-nightly.toml.sha256",
	  DIST_DATED_MANIFEST, 1, "dist/2026-04-16/channel-rust-nightly.toml",
	  "2026-04-16", "nightly" },
	{ "dist/2026-04-16/rustc-1.95.0-x86_64-unknown-linux-gnu.tar.xz",
	  DIST_TARBALL, 0, "", "2026-04-16", "" },
	{ "dist/2026-04-16/rust-src-1.95.0.tar.gz", DIST_TARBALL, 0, "",
	  "2026-04-16", "" },
	{ "dist/2026-04-16/rustc-1.95.0-x86_64-unknown-linux-gnu.tar.xz.sha256",
	  DIST_OTHER, 0, "", "2026-04-16", "" },
	{ "dist/2026-04-16/x/rustc.tar.xz", DIST_OTHER, 0, "", "2026-04-16",
	  "" },
	{ "dist/2026-4-16/rustc.tar.xz", DIST_OTHER, 0, "", "", "" },
	{ "dist/rustc-1.0.0-src.tar.gz", DIST_OTHER, 0, "", "", "" },
	{ "rustup/release-stable.toml", DIST_RELEASE, 0,
	  "rustup/release-stable.toml", "", "stable" },
	{ "rustup/archive/1.29.0/x86_64-unknown-linux-gnu/rustup-init",
	  DIST_RUSTUP_INIT, 0, "", "", "" },
	{ "rustup/archive/1.29.0/x86_64-pc-windows-msvc/rustup-init.exe",
	  DIST_RUSTUP_INIT, 0, "", "", "" },
	{ "rustup/archive/1.29.0/x86_64-unknown-linux-gnu/rustup-init.sha256",
	  DIST_OTHER, 0, "", "", "" },
	{ "rustup/archive/1.29.0/rustup-init", DIST_OTHER, 0, "", "", "" },
	{ "rustup/dist/x86_64-unknown-linux-gnu/rustup-init", DIST_OTHER, 0,
	  "", "", "" },
	{ "dist/../lock", BAD, 0, NULL, NULL, NULL },
	{ "dist/./x", BAD, 0, NULL, NULL, NULL },
	{ "dist//x", BAD, 0, NULL, NULL, NULL },
	{ "dist/", BAD, 0, NULL, NULL, NULL },
	{ "dist/a b", BAD, 0, NULL, NULL, NULL },
	{ "dist/a%2e", BAD, 0, NULL, NULL, NULL },
	{ "dist/a\\b", BAD, 0, NULL, NULL, NULL },
	{ "snapshots/dist/channel-rust-stable.toml", BAD, 0, NULL, NULL,
	  NULL },
	{ "tmp/x", BAD, 0, NULL, NULL, NULL },
	{ "dist/a/b/c/d/e/f/g/h", BAD, 0, NULL, NULL, NULL },
	{ "dist/a/b/c/d/e/f/g", DIST_OTHER, 0, "", "", "" },
};

static const struct {
	const char	*toolchain;
	const char	*manifest;	/* NULL: refused */
} toolchains[] = {
	{ "stable", "dist/channel-rust-stable.toml" },
	{ "nightly", "dist/channel-rust-nightly.toml" },
	{ "1.95.0", "dist/channel-rust-1.95.0.toml" },
	{ "1.95", "dist/channel-rust-1.95.toml" },
	{ "nightly-2026-04-16", "dist/2026-04-16/channel-rust-nightly.toml" },
	{ "stable-2026-04-16", "dist/2026-04-16/channel-rust-stable.toml" },
	{ "1.95.0-2026-04-16", NULL },
	{ "", NULL },
	{ "../x", NULL },
	{ "Stable", NULL },
};

static const struct {
	const char	*header;
	unsigned	 size;
	int		 r;
	unsigned	 first, last;
} ranges[] = {
	{ NULL, 100, 0, 0, 0 },
	{ "bytes=0-", 100, 1, 0, 99 },
	{ "bytes=10-", 100, 1, 10, 99 },
	{ "bytes=10-19", 100, 1, 10, 19 },
	{ "bytes=10-1000", 100, 1, 10, 99 },
	{ "bytes=99-99", 100, 1, 99, 99 },
	{ "bytes=100-", 100, -1, 0, 0 },
	{ "bytes=-10", 100, 1, 90, 99 },
	{ "bytes=-1000", 100, 1, 0, 99 },
	{ "bytes=-0", 100, -1, 0, 0 },
	{ "bytes=0-", 0, -1, 0, 0 },
	{ "Bytes = 5-6", 100, 1, 5, 6 },
	{ "bytes=5-4", 100, 0, 0, 0 },
	{ "bytes=0-1,5-6", 100, 0, 0, 0 },
	{ "items=0-1", 100, 0, 0, 0 },
	{ "bytes=a-", 100, 0, 0, 0 },
	{ "bytes=1-2x", 100, 0, 0, 0 },
	{ "bytes=99999999999999999999999-", 100, 0, 0, 0 },
};

static const struct {
	const char	*file;
	const char	*pkg, *version, *triple;	/* NULL pkg: refused */
} tarballs[] = {
	{ "rustc-1.95.0-x86_64-unknown-linux-gnu.tar.xz", "rustc", "1.95.0",
	  "x86_64-unknown-linux-gnu" },
	{ "rust-std-1.95.0-wasm32-unknown-unknown.tar.gz", "rust-std",
	  "1.95.0", "wasm32-unknown-unknown" },
	{ "rust-src-1.95.0.tar.xz", "rust-src", "1.95.0", "" },
	{ "rustc-nightly-aarch64-apple-darwin.tar.xz", "rustc", "nightly",
	  "aarch64-apple-darwin" },
	{ "clippy-beta-x86_64-unknown-linux-gnu.tar.xz", "clippy", "beta",
	  "x86_64-unknown-linux-gnu" },
	{ "gcc-x86_64-unknown-linux-gnu-preview-1.95.0-aarch64-apple-darwin"
	  ".tar.xz", "gcc-x86_64-unknown-linux-gnu-preview", "1.95.0",
	  "aarch64-apple-darwin" },
	{ "rustc.tar.xz", NULL, NULL, NULL },
	{ "rustc-1.95.0-x.msi", NULL, NULL, NULL },
};

int
main(void)
{
	char		 out[DIST_PATH_MAX], pkg[DIST_CHANNEL_MAX];
	char		 ver[DIST_CHANNEL_MAX], triple[DIST_PATH_MAX];
	const char	*why;
	char		 longp[400];

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		struct dist_path	dp;
		int			r = dist_path_parse(paths[i].rel, &dp,
					    &why);

		if (paths[i].kind == BAD) {
			ok(r == -1, "%s refused (%s)", paths[i].rel,
			    r == -1 ? why : "accepted");
			continue;
		}
		ok(r == 0 && (int)dp.kind == paths[i].kind &&
		    dp.sha256 == paths[i].sha256 && strcmp(dp.toml,
		    paths[i].toml) == 0 && strcmp(dp.date, paths[i].date) ==
		    0 && strcmp(dp.channel, paths[i].channel) == 0,
		    "%s: kind %d sha256 %d toml '%s' date '%s' channel '%s'",
		    paths[i].rel, r == 0 ? (int)dp.kind : -1, dp.sha256,
		    dp.toml, dp.date, dp.channel);
	}
	memset(longp, 'a', sizeof longp - 1);
	memcpy(longp, "dist/", 5);
	longp[sizeof longp - 1] = '\0';
	{
		struct dist_path	dp;

		ok(dist_path_parse(longp, &dp, &why) == -1, "a 400-byte path"
		    " is refused");
	}
	for (size_t i = 0; i < sizeof toolchains / sizeof toolchains[0];
	    i++) {
		int	r = dist_toolchain_manifest(toolchains[i].toolchain,
			    out, &why);

		if (toolchains[i].manifest == NULL)
			ok(r == -1, "toolchain '%s' refused",
			    toolchains[i].toolchain);
		else
			ok(r == 0 && strcmp(out, toolchains[i].manifest) == 0,
			    "toolchain %s: %s", toolchains[i].toolchain,
			    r == 0 ? out : why);
	}
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		uint64_t	a = 0, b = 0;
		int		r = dist_range(ranges[i].header,
				    ranges[i].size, &a, &b);

		ok(r == ranges[i].r && (r != 1 || (a == ranges[i].first &&
		    b == ranges[i].last)), "Range '%s' of %u: %d %llu-%llu",
		    ranges[i].header ? ranges[i].header : "(none)",
		    ranges[i].size, r, (unsigned long long)a,
		    (unsigned long long)b);
	}
	for (size_t i = 0; i < sizeof tarballs / sizeof tarballs[0]; i++) {
		int	r = dist_tarball_name(tarballs[i].file, pkg, ver,
			    triple);

		if (tarballs[i].pkg == NULL)
			ok(r == -1, "%s is no tarball name", tarballs[i].file);
		else
			ok(r == 0 && strcmp(pkg, tarballs[i].pkg) == 0 &&
			    strcmp(ver, tarballs[i].version) == 0 &&
			    strcmp(triple, tarballs[i].triple) == 0,
			    "%s: '%s' '%s' '%s'", tarballs[i].file, pkg, ver,
			    triple);
	}
	return done_testing();
}
