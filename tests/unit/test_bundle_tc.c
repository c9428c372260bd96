/* A toolchain mirror's files through bundle_export and bundle_import: a
 * good bundle lands whole (files before the snapshot naming them); a
 * tarball that is not its manifest's, one no manifest names, a dated
 * manifest that does not match its .sha256 and a damaged snapshot are
 * each refused, naming the file, with the data directory unchanged. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache/bundle.h"
#include "cache/snapshot.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "tests/tap.h"

#define DATE	"2026-04-16"
#define TAR	"dist/" DATE "/rustc-1.95.0-x86_64-unknown-linux-gnu.tar.xz"
#define UP	"https://static.rust-lang.org"

static const char *const dirs[] = { "dist", "rustup", "snapshots" };
/* The path the snapshots made record for their .sha256 part. */
static const char *side_path = "dist/channel-rust-1.95.0.toml.sha256";

static void
hex_of(const char *s, size_t len, char *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	n;

	EVP_Digest(s, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *
manifest(const char *tarhash)
{
	return xasprintf("manifest-version = \"2\"\ndate = \"%s\"\n"
	    "[pkg.rust]\nversion = \"1.95.0\"\n"
	    "[pkg.rustc.target.x86_64-unknown-linux-gnu]\navailable = true\n"
	    "url = \"%s/%s\"\nhash = \"%s\"\n", DATE, UP, TAR, tarhash);
}

/* A data directory with toolchain mirror rust: the tarball (bytes tar)
 * and, as named, a snapshot of channel 1.95.0 or a dated manifest, whose
 * manifest gives the tarball the SHA-256 of want. */
static char *
make(const char *tag, const char *tar, const char *want, bool snapshot,
    bool dated, bool bad_side)
{
	char			 tmpl[] = "/tmp/crated-btc-XXXXXX", th[65], mh[65];
	char			*dir = xstrdup(mkdtemp(tmpl)), *m, *side;
	char			*cause = NULL;
	struct store		*s = NULL;
	struct snapshot_info	 info = { .date = DATE, .nparts = 2 };
	const void		*bodies[2];
	size_t			 lens[2];

	if (store_open_with(dir, "rust", dirs, 3, &s, &cause) != 0) {
		fprintf(stderr, "%s: %s\n", tag, cause);
		exit(1);
	}
	hex_of(want, strlen(want), th);
	m = manifest(th);
	hex_of(m, strlen(m), mh);
	if (bad_side)
		mh[0] = mh[0] == '0' ? '1' : '0';
	side = xasprintf("%s  channel-rust-1.95.0.toml\n", mh);
	store_write(s, TAR, tar, strlen(tar), NULL, NULL);
	if (snapshot) {
		snprintf(info.parts[0].path, DIST_PATH_MAX, "%s", side_path);
		snprintf(info.parts[1].path, DIST_PATH_MAX,
		    "dist/channel-rust-1.95.0.toml");
		bodies[0] = side;
		bodies[1] = m;
		lens[0] = strlen(side);
		lens[1] = strlen(m);
		snapshot_write(s, "dist/channel-rust-1.95.0.toml", &info, bodies,
		    lens);
	}
	if (dated) {
		store_write(s, "dist/" DATE "/channel-rust-stable.toml", m,
		    strlen(m), NULL, NULL);
		store_write(s, "dist/" DATE "/channel-rust-stable.toml.sha256",
		    side, strlen(side), NULL, NULL);
	}
	store_close(s);
	free(m);
	free(side);
	return dir;
}

/* Exports dir's mirror into dir/b.tar.gz; the bundle's path. */
static char *
export(const char *dir)
{
	struct bundle_registry	 known = { "rust", UP, true };
	struct bundle_stats	 st;
	char			*file = xasprintf("%s/b.tar.gz", dir);
	char			*cause = NULL;

	if (bundle_export(dir, NULL, 0, 0, file, &known, 1, NULL, NULL, &st,
	    &cause) != 0) {
		fprintf(stderr, "export: %s\n", cause);
		exit(1);
	}
	return file;
}

static int
import(const char *file, char **cause, struct bundle_stats *st)
{
	char			 tmpl[] = "/tmp/crated-btc-in-XXXXXX";
	char			*dir = xstrdup(mkdtemp(tmpl)), *cmd;
	struct bundle_registry	 known = { "rust", UP, true };
	struct bundle_import_opts o = { .regs = &known, .nregs = 1 };
	struct stat		 sb;
	char			*p;
	int			 r;

	*cause = NULL;
	r = bundle_import(dir, file, &o, NULL, st, cause);
	p = xasprintf("%s/rust/" TAR, dir);
	if (r != 0 && stat(p, &sb) == 0)
		r = 99;		/* refused, but something landed */
	free(p);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(dir);
	return r;
}

static void
refused(const char *what, char *dir, const char *want)
{
	char			*file = export(dir), *cause, *cmd;
	struct bundle_stats	 st;
	int			 r = import(file, &cause, &st);

	ok(r == -1 && cause != NULL && strstr(cause, want) != NULL,
	    "%s: refused (%s)", what, cause ? cause : "accepted");
	free(cause);
	free(file);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(dir);
}

static void
accepted(const char *what, char *dir, size_t files)
{
	char			*file = export(dir), *cause, *cmd;
	struct bundle_stats	 st;
	int			 r = import(file, &cause, &st);

	ok(r == 0 && st.toolchain_files == files, "%s: imported, %zu files"
	    " (%s)", what, st.toolchain_files, cause ? cause : "ok");
	free(cause);
	free(file);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
	free(dir);
}

int
main(void)
{
	accepted("a snapshot naming the tarball", make("a", "TARBALL",
	    "TARBALL", true, false, false), 2);
	accepted("a dated manifest naming the tarball", make("b", "TARBALL",
	    "TARBALL", false, true, false), 3);
	refused("a tarball its manifest does not give", make("c", "ALTERED",
	    "TARBALL", true, false, false), "does not match the SHA-256 its"
	    " manifest gives");
	refused("a tarball no manifest names", make("d", "TARBALL", "TARBALL",
	    false, false, false), "no channel manifest in the bundle or the"
	    " data directory names it");
	refused("a dated manifest not matching its .sha256", make("e",
	    "TARBALL", "TARBALL", false, true, true), "does not match its"
	    " .sha256");
	refused("a snapshot whose .sha256 does not name its .toml", make("f",
	    "TARBALL", "TARBALL", true, false, true), "does not name the"
	    " SHA-256");
	side_path = "dist/channel-rust-beta.toml.sha256";
	refused("a snapshot whose .sha256 part is another file's", make("g",
	    "TARBALL", "TARBALL", true, false, false), "its parts are not");
	return done_testing();
}
