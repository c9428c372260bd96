#include "cache/bundle_tc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache/bundle.h"
#include "cache/snapshot.h"
#include "cache/usage.h"
#include "common/mkdirs.h"
#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "index/distpath.h"

#define MANIFEST_MAX	(64u << 20)

/* The manifests a check may look in, with the mirror each belongs to. */
struct known {
	char			 name[65];
	char			 date[11];	/* loaded from the data dir */
	struct dist_manifest	*m;		/* NULL: none there */
};

struct check {
	const char		*file, *staging, *data_dir;
	struct bundle_tc_item	*items;
	size_t			 n;
	struct known		*known;
	size_t			 nknown;
	char			*err;
};

bool
bundle_tc_path(const char *rest, bool *snapshot)
{
	struct dist_path	 dp;
	const char		*why;
	size_t			 n = strlen(rest);

	*snapshot = strncmp(rest, "snapshots/", 10) == 0;
	if (*snapshot)
		return dist_path_parse(rest + 10, &dp, &why) == 0 &&
		    (dp.kind == DIST_CHANNEL || dp.kind == DIST_RELEASE) &&
		    !dp.sha256;
	if (dist_path_parse(rest, &dp, &why) != 0)
		return false;
	if (dp.kind == DIST_TARBALL || dp.kind == DIST_DATED_MANIFEST ||
	    dp.kind == DIST_RUSTUP_INIT)
		return true;
	return dp.kind == DIST_OTHER && strncmp(rest, "rustup/archive/", 15) ==
	    0 && ((n > 19 && strcmp(rest + n - 19, "/rustup-init.sha256") ==
	    0) || (n > 23 && strcmp(rest + n - 23, "/rustup-init.exe.sha256")
	    == 0));
}

static int
read_file(const char *path, char **buf, size_t *len, size_t max)
{
	int		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat	st;
	size_t		got = 0;

	if (fd == -1)
		return -errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		close(fd);
		return -EINVAL;
	}
	*buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t	n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n <= 0) {
			close(fd);
			free(*buf);
			return n == 0 ? -EIO : -errno;
		}
		got += (size_t)n;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

static struct bundle_tc_item *
item(struct check *c, const char *name, const char *rel)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].name, name) == 0 &&
		    strcmp(c->items[i].rel, rel) == 0)
			return &c->items[i];
	return NULL;
}

static void
add_known(struct check *c, const char *name, const char *date,
    struct dist_manifest *m)
{
	c->known = xreallocarray(c->known, c->nknown + 1, sizeof *c->known);
	snprintf(c->known[c->nknown].name, 65, "%s", name);
	snprintf(c->known[c->nknown].date, 11, "%s", date);
	c->known[c->nknown++].m = m;
}

/* The file rel of mirror name: in the bundle's staging, else the data
 * directory's. 0 with *buf, or -errno. */
static int
read_either(struct check *c, const char *name, const char *rel, char **buf,
    size_t *len, size_t max)
{
	char	*p;
	int	 r;

	p = xasprintf("%s/%s/%s", item(c, name, rel) ? c->staging :
	    c->data_dir, name, rel);
	r = read_file(p, buf, len, max);
	free(p);
	return r;
}

/* A snapshot in the bundle: header, parts, pair; its manifest known. */
static int
check_snapshot(struct check *c, struct bundle_tc_item *it)
{
	struct snapshot_info	 info;
	struct dist_manifest	*m;
	char			*p = xasprintf("%s/%s", c->staging, it->path);
	char			*why = NULL, *buf;
	int			 fd = open(p, O_RDONLY | O_CLOEXEC), r = -1;
	size_t			 n;

	free(p);
	if (fd == -1 || snapshot_read(fd, &info, &why) != 0 ||
	    snapshot_verify(fd, &info, &why) != 0)
		goto done;
	if (strcmp(info.parts[info.nparts - 1].path, it->rel + 10) != 0) {
		why = xasprintf("it holds %s", info.parts[info.nparts -
		    1].path);
		goto done;
	}
	/* A channel manifest's is its .sha256 and itself (served by those
	 * names), a release file's itself alone. */
	n = strlen(it->rel + 10);
	if (strncmp(it->rel + 10, "dist/", 5) == 0 ? info.nparts != 2 ||
	    strncmp(info.parts[0].path, it->rel + 10, n) != 0 ||
	    strcmp(info.parts[0].path + n, ".sha256") != 0 :
	    info.nparts != 1) {
		why = xasprintf("its parts are not the file%s", info.nparts ==
		    2 ? " and its .sha256" : "");
		goto done;
	}
	r = 0;
	if (info.nparts != 2)
		goto done;
	buf = xmalloc(info.parts[1].len + 1);
	if (pread(fd, buf, info.parts[1].len, (off_t)info.parts[1].off) ==
	    (ssize_t)info.parts[1].len && dist_manifest_parse(buf,
	    info.parts[1].len, &m, &why) == 0)
		add_known(c, it->name, "", m);
	free(buf);
	free(why);
	why = NULL;
done:
	if (fd != -1)
		close(fd);
	if (r != 0)
		c->err = xasprintf("%s: %s: %s (the bundle is damaged)",
		    c->file, it->path, why ? why : "unreadable");
	free(why);
	return r;
}

/* A dated manifest (either half) against the other half, wherever that
 * is; the .toml's manifest known. */
static int
check_dated(struct check *c, struct bundle_tc_item *it)
{
	struct dist_path	 dp;
	struct dist_manifest	*m;
	struct bundle_tc_item	*toml;
	const char		*why;
	char			 side[DIST_PATH_MAX + 8], hex[65], named[65];
	char			*buf, *cause = NULL;
	size_t			 len;

	dist_path_parse(it->rel, &dp, &why);
	snprintf(side, sizeof side, "%s.sha256", dp.toml);
	if (read_either(c, it->name, side, &buf, &len, 4096) != 0) {
		c->err = xasprintf("%s: %s/%s has no .sha256 in the bundle or"
		    " the data directory", c->file, it->name, dp.toml);
		return -1;
	}
	if (dist_sha256_parse(buf, len, named) != 0)
		snprintf(named, sizeof named, "no SHA-256");
	free(buf);
	if ((toml = item(c, it->name, dp.toml)) != NULL)
		memcpy(hex, toml->hex, 65);
	else if (read_either(c, it->name, dp.toml, &buf, &len, MANIFEST_MAX) ==
	    0) {
		sha256_hex(buf, len, hex);
		free(buf);
	} else {
		c->err = xasprintf("%s: %s has no %s in the bundle or the data"
		    " directory", c->file, it->path, dp.toml);
		return -1;
	}
	if (strcmp(hex, named) != 0) {
		c->err = xasprintf("%s: %s/%s does not match its .sha256 (%s;"
		    " the file's SHA-256 is %s)", c->file, it->name, dp.toml,
		    named, hex);
		return -1;
	}
	if (dp.sha256 || read_either(c, it->name, dp.toml, &buf, &len,
	    MANIFEST_MAX) != 0)
		return 0;
	if (dist_manifest_parse(buf, len, &m, &cause) == 0)
		add_known(c, it->name, "", m);
	free(cause);
	free(buf);
	return 0;
}

/* A snapshot file of the data directory's mirror name, when its date is
 * date: its manifest known. */
static void
load_snapshot(struct check *c, const char *name, const char *path,
    const char *date)
{
	struct snapshot_info	 info;
	struct dist_manifest	*m;
	char			*why = NULL, *buf;
	int			 fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd != -1 && snapshot_read(fd, &info, &why) == 0 &&
	    info.nparts == 2 && strcmp(info.date, date) == 0) {
		buf = xmalloc(info.parts[1].len + 1);
		if (pread(fd, buf, info.parts[1].len, (off_t)info.parts[1].off)
		    == (ssize_t)info.parts[1].len && dist_manifest_parse(buf,
		    info.parts[1].len, &m, &why) == 0)
			add_known(c, name, "", m);
		free(buf);
	}
	free(why);
	if (fd != -1)
		close(fd);
}

/* The data directory's manifests of name and date, once. */
static void
load_data(struct check *c, const char *name, const char *date)
{
	static const char *const	 chans[] = { "stable", "beta",
					    "nightly" };
	static const char *const	 dirs[] = { "dist", "rustup" };
	struct dist_manifest		*m;
	char				*p, *buf, *why = NULL;
	size_t				 len;
	DIR				*d;
	struct dirent			*de;

	for (size_t i = 0; i < c->nknown; i++)
		if (strcmp(c->known[i].name, name) == 0 &&
		    strcmp(c->known[i].date, date) == 0)
			return;
	add_known(c, name, date, NULL);
	for (size_t k = 0; k < 3; k++) {
		p = xasprintf("%s/%s/dist/%s/channel-rust-%s.toml", c->data_dir,
		    name, date, chans[k]);
		if (read_file(p, &buf, &len, MANIFEST_MAX) == 0) {
			if (dist_manifest_parse(buf, len, &m, &why) == 0)
				add_known(c, name, "", m);
			free(why);
			why = NULL;
			free(buf);
		}
		free(p);
	}
	for (size_t k = 0; k < 2; k++) {
		char	*dir = xasprintf("%s/%s/snapshots/%s", c->data_dir, name,
			    dirs[k]);

		if ((d = opendir(dir)) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.')
					continue;
				p = xasprintf("%s/%s", dir, de->d_name);
				load_snapshot(c, name, p, date);
				free(p);
			}
			closedir(d);
		}
		free(dir);
	}
}

/* The SHA-256 the known manifests of name give rel, or NULL. */
static const char *
known_hash(struct check *c, const char *name, const char *rel)
{
	const char	*h;

	for (size_t i = 0; i < c->nknown; i++)
		if (c->known[i].m != NULL && strcmp(c->known[i].name, name) ==
		    0 && (h = dist_manifest_hash(c->known[i].m, rel)) != NULL)
			return h;
	return NULL;
}

static int
check_tarball(struct check *c, struct bundle_tc_item *it)
{
	struct dist_path	 dp;
	const char		*why, *h;

	if ((h = known_hash(c, it->name, it->rel)) == NULL) {
		dist_path_parse(it->rel, &dp, &why);
		load_data(c, it->name, dp.date);
		h = known_hash(c, it->name, it->rel);
	}
	if (h == NULL) {
		c->err = xasprintf("%s: %s: no channel manifest in the bundle or"
		    " the data directory names it, so it cannot be checked",
		    c->file, it->path);
		return -1;
	}
	if (strcmp(h, it->hex) != 0) {
		c->err = xasprintf("%s: %s does not match the SHA-256 its"
		    " manifest gives (%s; the file's is %s)", c->file, it->path,
		    h, it->hex);
		return -1;
	}
	return 0;
}

/* An archived rustup-init against its .sha256 (a lone .sha256 must hold
 * one). */
static int
check_rustup(struct check *c, struct bundle_tc_item *it)
{
	size_t	 n = strlen(it->rel), len;
	bool	 side = n > 7 && strcmp(it->rel + n - 7, ".sha256") == 0;
	char	*rel = side ? xstrdup(it->rel) : xasprintf("%s.sha256",
		    it->rel);
	char	*buf = NULL, named[65];
	int	 r;

	r = read_either(c, it->name, rel, &buf, &len, 4096);
	if (r != 0 || dist_sha256_parse(buf, len, named) != 0)
		c->err = xasprintf("%s: %s: %s", c->file, it->path, r != 0 ?
		    "no .sha256 beside it in the bundle or the data directory" :
		    "its .sha256 holds no SHA-256");
	else if (!side && strcmp(named, it->hex) != 0)
		c->err = xasprintf("%s: %s does not match its .sha256 (%s; the"
		    " file's SHA-256 is %s)", c->file, it->path, named,
		    it->hex);
	free(buf);
	free(rel);
	return c->err != NULL ? -1 : 0;
}

int
bundle_tc_verify(const char *file, const char *staging, const char *data_dir,
    struct bundle_tc_item *items, size_t n, char **err)
{
	struct check	 c = { file, staging, data_dir, items, n, NULL, 0,
			    NULL };
	int		 r = 0;

	for (int pass = 0; pass < 3 && r == 0; pass++)
		for (size_t i = 0; i < n && r == 0; i++) {
			struct dist_path	 dp;
			const char		*why;

			if (items[i].snapshot) {
				if (pass == 0)
					r = check_snapshot(&c, &items[i]);
				continue;
			}
			dist_path_parse(items[i].rel, &dp, &why);
			if (dp.kind == DIST_DATED_MANIFEST && pass == 1)
				r = check_dated(&c, &items[i]);
			else if (dp.kind == DIST_TARBALL && pass == 2)
				r = check_tarball(&c, &items[i]);
			else if (dp.kind != DIST_DATED_MANIFEST && dp.kind !=
			    DIST_TARBALL && pass == 2)
				r = check_rustup(&c, &items[i]);
		}
	for (size_t i = 0; i < c.nknown; i++)
		dist_manifest_free(c.known[i].m);
	free(c.known);
	*err = c.err;
	return r;
}

/* Apply. */

/* The order items go in: files, dated manifests, their .sha256 and
 * rustup-init's, then snapshots. */
static int
stage_of(const struct bundle_tc_item *it)
{
	struct dist_path	 dp;
	const char		*why;

	if (it->snapshot)
		return 3;
	if (dist_path_parse(it->rel, &dp, &why) != 0)
		return 2;
	if (dp.kind == DIST_TARBALL || dp.kind == DIST_RUSTUP_INIT)
		return 0;
	if (dp.kind == DIST_DATED_MANIFEST && !dp.sha256)
		return 1;
	return 2;
}

/* Whether the staged snapshot src is newer than the one at dst (its
 * manifest's date, else when it was fetched). */
static bool
newer(const char *src, const char *dst)
{
	struct snapshot_info	a, b;
	char			*why = NULL;
	int			fa = open(src, O_RDONLY | O_CLOEXEC);
	int			fb = open(dst, O_RDONLY | O_CLOEXEC);
	bool			r = true;

	if (fa != -1 && fb != -1 && snapshot_read(fa, &a, &why) == 0 &&
	    snapshot_read(fb, &b, &why) == 0) {
		int	c = strcmp(a.date, b.date);

		r = c > 0 || (c == 0 && a.fetched > b.fetched);
	}
	free(why);
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
	return r;
}

/* Moves one staged item into place: fsynced, renamed, its folder
 * fsynced. 1 when it was written, 0 when kept out, -errno. */
static int
move(const char *staging, const char *data_dir, struct bundle_tc_item *it)
{
	char	*src = xasprintf("%s/%s", staging, it->path);
	char	*dst = xasprintf("%s/%s", data_dir, it->path);
	char	*dir = NULL;
	int	 fd, r = 0;

	if (access(dst, F_OK) == 0 && (!it->snapshot || !newer(src, dst)))
		goto done;
	if ((fd = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
		r = -errno;
		goto done;
	}
	if (fsync(fd) != 0)
		r = -errno;
	else if ((r = mkdir_parents(dst)) == 0 && rename(src, dst) != 0)
		r = -errno;
	close(fd);
	if (r != 0)
		goto done;
	dir = xstrdup(dst);
	*strrchr(dir, '/') = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	r = 1;
done:
	free(dir);
	free(src);
	free(dst);
	return r;
}

/* The mirrors' usage journals learn the files written. */
static void
account(const char *data_dir, struct bundle_tc_item *items, size_t n)
{
	static const char *const	 tops[] = { "dist", "rustup" };

	for (size_t i = 0; i < n; i++) {
		struct usage	*u;
		char		*root, *tmp, *why = NULL;

		if (!items[i].written || items[i].snapshot)
			continue;
		root = xasprintf("%s/%s", data_dir, items[i].name);
		tmp = xasprintf("%s/tmp/x", root);
		mkdir_parents(tmp);
		if (usage_open_under(root, tops, 2, &u, &why) == 0) {
			for (size_t k = i; k < n; k++)
				if (items[k].written && !items[k].snapshot &&
				    strcmp(items[k].name, items[i].name) == 0) {
					usage_added(u, items[k].rel,
					    items[k].size, false);
					if (k != i)
						items[k].written = false;
				}
			usage_close(u);
		}
		free(why);
		free(tmp);
		free(root);
	}
}

int
bundle_tc_apply(const char *staging, const char *data_dir,
    struct bundle_tc_item *items, size_t n, struct bundle_stats *stats,
    char **err)
{
	int	r;

	for (int stage = 0; stage < 4; stage++)
		for (size_t i = 0; i < n; i++) {
			if (stage_of(&items[i]) != stage)
				continue;
			if ((r = move(staging, data_dir, &items[i])) < 0) {
				*err = xasprintf("writing %s: %s (the files"
				    " written so far are complete and"
				    " checked)", items[i].path, strerror(-r));
				account(data_dir, items, n);
				return -1;
			}
			items[i].written = r == 1;
			if (r == 0) {
				stats->skipped++;
				continue;
			}
			stats->files++;
			stats->toolchain_files++;
			stats->bytes += items[i].size;
		}
	account(data_dir, items, n);
	return 0;
}
