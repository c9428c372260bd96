/* cache/snapshot.c: a pair written, read back and verified; damaged
 * snapshots refused; usage_open_under accounting a toolchain mirror's
 * folders and sparing what keep says. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/snapshot.h"
#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "tests/tap.h"

#define TOML	"manifest-version = \"2\"\ndate = \"2026-04-16\"\n"
/* sha256 of TOML */
#define TOML_SHA "0b781e2646c004f217328e0bfb405a9f9d1bfb460060da84d903011ba44ac154"

static char *
tempdir(void)
{
	char	tmpl[] = "/tmp/crated-snapshot-XXXXXX";

	return xstrdup(mkdtemp(tmpl));
}

static void
rmtree(const char *dir)
{
	char	*cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

static int
open_snap(struct store *s, const char *rel)
{
	char	path[SNAPSHOT_REL_MAX];

	snapshot_rel(rel, path);
	return store_open_file(s, path, NULL);
}

/* Overwrites one byte at off of the file at rel of s. */
static void
poke(struct store *s, const char *rel, off_t off, char c)
{
	char	*p = xasprintf("%s/%s", store_root(s), rel);
	int	 fd = open(p, O_WRONLY);

	if (fd >= 0 && pwrite(fd, &c, 1, off) != 1)
		fprintf(stderr, "poke failed\n");
	if (fd >= 0)
		close(fd);
	free(p);
}

static void
test_pair(struct store *s)
{
	static const char *const	 rel = "dist/channel-rust-stable.toml";
	struct snapshot_info		 w = { .fetched = 1760000000,
					    .nparts = 2 }, r;
	char				 sha[100], *cause = NULL;
	const void			*bodies[2];
	size_t				 lens[2];
	int				 fd;

	snprintf(sha, sizeof sha, "%s  channel-rust-stable.toml\n", TOML_SHA);
	memcpy(w.date, "2026-04-16", 11);
	snprintf(w.version, sizeof w.version, "1.95.0 (abc 2026-04-14)");
	snprintf(w.parts[0].path, DIST_PATH_MAX, "%s.sha256", rel);
	snprintf(w.parts[1].path, DIST_PATH_MAX, "%s", rel);
	bodies[0] = sha;
	bodies[1] = TOML;
	lens[0] = strlen(sha);
	lens[1] = strlen(TOML);
	ok(snapshot_write(s, rel, &w, bodies, lens) == 0, "a pair written");
	is_str(w.parts[1].sha256, TOML_SHA, "the .toml's SHA-256 recorded");
	fd = open_snap(s, rel);
	ok(fd >= 0 && snapshot_read(fd, &r, &cause) == 0, "read back (%s)",
	    cause ? cause : "ok");
	ok(r.nparts == 2 && r.parts[0].off == w.parts[0].off &&
	    r.parts[1].len == strlen(TOML) && r.size == w.size &&
	    strcmp(r.date, "2026-04-16") == 0 && r.fetched == 1760000000 &&
	    strcmp(r.version, w.version) == 0, "the header as written");
	ok(snapshot_part(&r, "dist/channel-rust-stable.toml.sha256") ==
	    &r.parts[0] && snapshot_part(&r, "dist/x") == NULL,
	    "parts found by path");
	ok(snapshot_verify(fd, &r, &cause) == 0, "verified (%s)",
	    cause ? cause : "ok");
	close(fd);
	poke(s, "snapshots/dist/channel-rust-stable.toml",
	    (off_t)w.parts[1].off + 3, 'X');
	fd = open_snap(s, rel);
	ok(snapshot_read(fd, &r, &cause) == 0 && snapshot_verify(fd, &r,
	    &cause) == -1 && strstr(cause, "does not match") != NULL,
	    "a changed byte is caught: %s", cause);
	free(cause);
	cause = NULL;
	close(fd);
	/* A .sha256 naming another file's hash. */
	sha[0] = sha[0] == '0' ? '1' : '0';
	ok(snapshot_write(s, rel, &w, bodies, lens) == 0, "written again");
	fd = open_snap(s, rel);
	ok(snapshot_read(fd, &r, &cause) == 0 && snapshot_verify(fd, &r,
	    &cause) == -1 && strstr(cause, "does not name") != NULL,
	    "a .sha256 naming another hash: %s", cause);
	free(cause);
	cause = NULL;
	close(fd);
	poke(s, "snapshots/dist/channel-rust-stable.toml", 2, '!');
	fd = open_snap(s, rel);
	ok(snapshot_read(fd, &r, &cause) == -1, "a damaged header: %s",
	    cause);
	free(cause);
	close(fd);
}

static void
test_truncated(struct store *s)
{
	struct snapshot_info	 w = { .nparts = 1 }, r;
	const void		*bodies[1] = { "v = 1\n" };
	size_t			 lens[1] = { 6 };
	char			*cause = NULL, *p;
	int			 fd;

	snprintf(w.parts[0].path, DIST_PATH_MAX, "rustup/release-stable.toml");
	ok(snapshot_write(s, "rustup/release-stable.toml", &w, bodies, lens) ==
	    0, "a single file written");
	p = xasprintf("%s/snapshots/rustup/release-stable.toml",
	    store_root(s));
	ok(truncate(p, (off_t)w.size - 1) == 0, "cut short");
	free(p);
	fd = open_snap(s, "rustup/release-stable.toml");
	ok(snapshot_read(fd, &r, &cause) == -1 && strstr(cause, "describes"),
	    "a short file: %s", cause);
	free(cause);
	close(fd);
}

static bool
keep_referenced(const char *rel, void *arg)
{
	return strncmp(rel, arg, strlen(arg)) == 0;
}

static void
test_usage(struct store *s)
{
	static const char *const	 tops[] = { "dist", "rustup" };
	struct usage			*u;
	char				*cause = NULL, **rels = NULL;
	char				 date[] = "dist/2026-04-16/";
	size_t				 n;

	store_write(s, "dist/2026-04-16/a.tar.xz", "aaaa", 4, NULL, NULL);
	store_write(s, "rustup/archive/1.0.0/t/rustup-init", "bb", 2, NULL,
	    NULL);
	ok(usage_open_under(store_root(s), tops, 2, &u, &cause) == 0,
	    "accounting under dist/ and rustup/ (%s)", cause ? cause : "ok");
	ok(usage_files(u) == 2 && usage_bytes(u) == 6, "the walk found both"
	    " files: %zu, %llu bytes", usage_files(u),
	    (unsigned long long)usage_bytes(u));
	usage_added(u, "dist/2026-04-17/b.tar.xz", 10, false);
	usage_close(u);
	ok(usage_open_under(store_root(s), tops, 2, &u, &cause) == 0 &&
	    usage_files(u) == 3, "the journal replayed: %zu", usage_files(u));
	n = usage_victims_keep(u, 0, keep_referenced, date, &rels);
	ok(n == 2 && usage_files(u) == 1, "every file but the kept date's"
	    " chosen: %zu", n);
	for (size_t i = 0; i < n; i++)
		free(rels[i]);
	free(rels);
	usage_close(u);
}

int
main(void)
{
	static const char *const	 dirs[] = { "dist", "rustup",
					    "snapshots" };
	char				*dir = tempdir(), *cause = NULL, *p;
	struct store			*s = NULL;
	struct stat			 st;

	ok(store_open_with(dir, "rust", dirs, 3, &s, &cause) == 0,
	    "a toolchain store opens (%s)", cause ? cause : "ok");
	p = xasprintf("%s/rust/index", dir);
	ok(stat(p, &st) == -1, "without a registry's folders");
	free(p);
	p = xasprintf("%s/rust/tmp", dir);
	ok(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "with tmp/");
	free(p);
	test_pair(s);
	test_truncated(s);
	test_usage(s);
	store_close(s);
	rmtree(dir);
	free(dir);
	return done_testing();
}
