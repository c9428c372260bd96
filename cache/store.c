#include "cache/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/crash.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "index/validators.h"

/* The last STORE_CHANGES paths written or removed, by generation: the
 * change numbered g (1, 2, ...) is ring[g % STORE_CHANGES]. */
struct change_log {
	pthread_mutex_t	 lock;
	_Atomic uint64_t gen;		/* changes so far */
	char		*ring[STORE_CHANGES];
};

struct store {
	char		*root;		/* absolute */
	int		 rootfd;
	struct change_log changes;
};

static const char *const subdirs[] = { "index", "crates", "meta", "gz" };
static atomic_uint	 tmp_counter;

int
store_lock(const char *data_dir, char **cause)
{
	char	*path;
	int	 fd;

	if (mkdir(data_dir, 0755) == -1 && errno != EEXIST) {
		*cause = xasprintf("data directory %s: %s", data_dir,
		    strerror(errno));
		return -1;
	}
	path = xasprintf("%s/lock", data_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1 || flock(fd, LOCK_EX | LOCK_NB) == -1) {
		*cause = xasprintf("%s: %s", path, errno == EWOULDBLOCK ?
		    "another crated (a running server?) is using this data"
		    " directory" : strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

static int
mkdir_one(int dirfd, const char *path)
{
	if (mkdirat(dirfd, path, 0755) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Empties tmp/: whatever is there is a write that never finished. */
static int
clear_tmp(struct store *s)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	fd = openat(s->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	return 0;
}

int
store_open(const char *data_dir, const char *name, struct store **out,
    char **cause)
{
	return store_open_with(data_dir, name, subdirs,
	    sizeof subdirs / sizeof subdirs[0], out, cause);
}

int
store_open_with(const char *data_dir, const char *name,
    const char *const *dirs, size_t ndirs, struct store **out, char **cause)
{
	struct store	*s;
	char		 real[PATH_MAX];
	int		 r, dfd;

	if ((r = mkdir_one(AT_FDCWD, data_dir)) != 0 ||
	    realpath(data_dir, real) == NULL) {
		r = r ? r : -errno;
		*cause = xasprintf("data directory %s: %s", data_dir,
		    strerror(-r));
		return r;
	}
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || (r = mkdir_one(dfd, name)) != 0) {
		r = dfd == -1 ? -errno : r;
		*cause = xasprintf("%s/%s: %s", real, name, strerror(-r));
		if (dfd != -1)
			close(dfd);
		return r;
	}
	s = xcalloc(1, sizeof *s);
	pthread_mutex_init(&s->changes.lock, NULL);
	s->root = xasprintf("%s/%s", real, name);
	s->rootfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(dfd);
	if (s->rootfd == -1) {
		r = -errno;
		goto err;
	}
	for (size_t i = 0; i < ndirs; i++)
		if ((r = mkdir_one(s->rootfd, dirs[i])) != 0)
			goto err;
	if ((r = mkdir_one(s->rootfd, "tmp")) != 0)
		goto err;
	if ((r = clear_tmp(s)) != 0)
		goto err;
	*out = s;
	return 0;
err:
	*cause = xasprintf("%s: %s", s->root, strerror(-r));
	store_close(s);
	return r;
}

int
store_sync(struct store *s)
{
	return syncfs(s->rootfd) == -1 ? -errno : 0;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->rootfd != -1)
		close(s->rootfd);
	for (size_t i = 0; i < STORE_CHANGES; i++)
		free(s->changes.ring[i]);
	pthread_mutex_destroy(&s->changes.lock);
	free(s->root);
	free(s);
}

const char *
store_root(const struct store *s)
{
	return s->root;
}

int
store_open_file(struct store *s, const char *rel, struct stat *st)
{
	int	fd;

	fd = openat(s->rootfd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -errno;
	if (st != NULL && fstat(fd, st) == -1) {
		int	r = -errno;

		close(fd);
		return r;
	}
	if (st != NULL && !S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int
store_exists(struct store *s, const char *rel)
{
	struct stat	st;

	return fstatat(s->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

int
store_read_fd(int fd, const struct stat *st, char **buf, size_t *len,
    size_t max)
{
	char	*p;
	size_t	 got = 0;

	if ((size_t)st->st_size > max)
		return -EFBIG;
	p = xmalloc((size_t)st->st_size + 1);
	while (got < (size_t)st->st_size) {
		ssize_t	n = pread(fd, p + got, (size_t)st->st_size - got,
			    (off_t)got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return n == 0 ? -EIO : -errno;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
}

int
store_read(struct store *s, const char *rel, char **buf, size_t *len,
    struct stat *stp, size_t max)
{
	struct stat	 st;
	int		 fd, r;

	if ((fd = store_open_file(s, rel, &st)) < 0)
		return fd;
	r = store_read_fd(fd, &st, buf, len, max);
	close(fd);
	if (r == 0 && stp != NULL)
		*stp = st;
	return r;
}

/*
 * A file's ETag is remembered in an extended attribute, with the inode,
 * mtime and size it was computed for: crated replaces files by rename (a
 * new inode), so a value that does not match is stale and is computed
 * anew. The attribute is a cache, never the truth: where it cannot be set
 * (a file system without user xattrs, a read-only data directory) every
 * call reads and hashes the file.
 */
#define ETAG_XATTR	"user.crated.etag"

int
store_file_etag(int fd, const struct stat *st, size_t max, char *etag,
    char **buf, size_t *len)
{
	char	 id[96], val[96 + ETAG_LEN];
	int	 n, r;
	ssize_t	 got;

	*buf = NULL;
	n = snprintf(id, sizeof id, "v1 %ju %jd.%09ld %jd ",
	    (uintmax_t)st->st_ino, (intmax_t)st->st_mtim.tv_sec,
	    (long)st->st_mtim.tv_nsec, (intmax_t)st->st_size);
	got = fgetxattr(fd, ETAG_XATTR, val, sizeof val - 1);
	if (got == (ssize_t)n + ETAG_LEN - 1 && memcmp(val, id, (size_t)n) ==
	    0) {
		memcpy(etag, val + n, ETAG_LEN - 1);
		etag[ETAG_LEN - 1] = '\0';
		return 0;
	}
	if ((r = store_read_fd(fd, st, buf, len, max)) != 0)
		return r;
	etag_of(*buf, *len, etag);
	memcpy(val, id, (size_t)n);
	memcpy(val + n, etag, ETAG_LEN - 1);
	(void)fsetxattr(fd, ETAG_XATTR, val, (size_t)n + ETAG_LEN - 1, 0);
	return 0;
}

int
store_read_tagged(struct store *s, const char *rel, char **buf, size_t *len,
    struct stat *stp, size_t max, char *etag)
{
	struct stat	 st;
	int		 fd, r;

	if ((fd = store_open_file(s, rel, &st)) < 0)
		return fd;
	if ((r = store_file_etag(fd, &st, max, etag, buf, len)) == 0 &&
	    *buf == NULL)
		r = store_read_fd(fd, &st, buf, len, max);
	close(fd);
	if (r == 0 && stp != NULL)
		*stp = st;
	return r;
}

/* Creates the directories leading to rel; with durable, fsyncs each
 * parent that gained an entry so the new directory survives a crash. */
static int
make_parents(struct store *s, const char *rel, bool durable)
{
	char	path[STORE_PATH_MAX];
	size_t	len = strlen(rel);

	if (len >= sizeof path)
		return -ENAMETOOLONG;
	memcpy(path, rel, len + 1);
	for (char *p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdirat(s->rootfd, path, 0755) == -1) {
			if (errno != EEXIST)
				return -errno;
		} else if (durable) {
			char	*slash = strrchr(path, '/');
			int	 fd;

			if (slash != NULL)
				*slash = '\0';
			fd = openat(s->rootfd, slash ? path : ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd != -1) {
				fsync(fd);
				close(fd);
			}
			if (slash != NULL)
				*slash = '/';
		}
		*p = '/';
	}
	return 0;
}

static int
fsync_parent(struct store *s, const char *rel)
{
	char		 dir[STORE_PATH_MAX];
	const char	*slash = strrchr(rel, '/');
	int		 fd, r = 0;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - rel), rel);
	fd = openat(s->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	if (fsync(fd) == -1)
		r = -errno;
	close(fd);
	return r;
}

/* rel was written or removed: one generation more. */
static void
changed(struct store *s, const char *rel)
{
	struct change_log	*c = &s->changes;
	char			*copy = xstrdup(rel), *old;
	uint64_t		 g;

	pthread_mutex_lock(&c->lock);
	g = atomic_load(&c->gen) + 1;
	old = c->ring[g % STORE_CHANGES];
	c->ring[g % STORE_CHANGES] = copy;
	atomic_store(&c->gen, g);
	pthread_mutex_unlock(&c->lock);
	free(old);
}

uint64_t
store_generation(struct store *s)
{
	return atomic_load(&s->changes.gen);
}

bool
store_changes(struct store *s, uint64_t *since, char ***rels, size_t *n)
{
	struct change_log	*c = &s->changes;
	uint64_t		 g;
	bool			 kept;

	*rels = NULL;
	*n = 0;
	pthread_mutex_lock(&c->lock);
	g = atomic_load(&c->gen);
	kept = *since <= g && g - *since <= STORE_CHANGES;
	if (kept && g > *since)
		*rels = xreallocarray(NULL, (size_t)(g - *since),
		    sizeof **rels);
	for (uint64_t k = *since + 1; kept && k <= g; k++)
		(*rels)[(*n)++] = xstrdup(c->ring[k % STORE_CHANGES]);
	pthread_mutex_unlock(&c->lock);
	*since = g;
	return kept;
}

int
store_tmp_create(struct store *s, char *tmprel)
{
	int	fd;

	snprintf(tmprel, STORE_PATH_MAX, "tmp/%ld.%u", (long)getpid(),
	    atomic_fetch_add(&tmp_counter, 1));
	fd = openat(s->rootfd, tmprel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644);
	return fd == -1 ? -errno : fd;
}

void
store_tmp_discard(struct store *s, int fd, const char *tmprel)
{
	if (fd >= 0)
		close(fd);
	unlinkat(s->rootfd, tmprel, 0);
}

/* fsyncs, closes and renames the temp file to rel. With durable, the
 * directories it creates and the rename are synced as well. */
static int
commit(struct store *s, int fd, const char *tmprel, const char *rel,
    bool durable, const char *crash_tmp, const char *crash_rename)
{
	int	r;

	if (strstr(rel, "..") != NULL || rel[0] == '/') {
		store_tmp_discard(s, fd, tmprel);
		return -EINVAL;
	}
	if (fsync(fd) == -1) {
		r = -errno;
		store_tmp_discard(s, fd, tmprel);
		return r;
	}
	close(fd);
	if (crash_tmp != NULL)
		crash_point(crash_tmp);
	if ((r = make_parents(s, rel, durable)) != 0 ||
	    (renameat(s->rootfd, tmprel, s->rootfd, rel) == -1 &&
	    (r = -errno) != 0)) {
		store_tmp_discard(s, -1, tmprel);
		return r;
	}
	changed(s, rel);
	if (crash_rename != NULL)
		crash_point(crash_rename);
	return durable ? fsync_parent(s, rel) : 0;
}

int
store_tmp_commit(struct store *s, int fd, const char *tmprel, const char *rel,
    const char *crash_tmp, const char *crash_rename)
{
	return commit(s, fd, tmprel, rel, true, crash_tmp, crash_rename);
}

static int
write_file(struct store *s, const char *rel, const void *buf, size_t len,
    bool durable, const char *crash_tmp, const char *crash_rename)
{
	char		 tmp[STORE_PATH_MAX];
	const char	*p = buf;
	int		 fd;

	if (strstr(rel, "..") != NULL || rel[0] == '/')
		return -EINVAL;
	if ((fd = store_tmp_create(s, tmp)) < 0)
		return fd;
	while (len > 0) {
		ssize_t	n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int	r = -errno;

			store_tmp_discard(s, fd, tmp);
			return r;
		}
		p += n;
		len -= (size_t)n;
	}
	return commit(s, fd, tmp, rel, durable, crash_tmp, crash_rename);
}

int
store_write(struct store *s, const char *rel, const void *buf, size_t len,
    const char *crash_tmp, const char *crash_rename)
{
	return write_file(s, rel, buf, len, true, crash_tmp, crash_rename);
}

int
store_write_cache(struct store *s, const char *rel, const void *buf,
    size_t len, const char *crash_tmp, const char *crash_rename)
{
	return write_file(s, rel, buf, len, false, crash_tmp, crash_rename);
}

int
store_unlink(struct store *s, const char *rel)
{
	if (unlinkat(s->rootfd, rel, 0) == -1)
		return errno == ENOENT ? 0 : -errno;
	changed(s, rel);
	return fsync_parent(s, rel);
}

void
store_index_rel(const char *name, char *out)
{
	char	path[INDEX_PATH_MAX];

	crate_index_path(name, path);
	snprintf(out, STORE_PATH_MAX, "index/%s", path);
}

void
store_meta_rel(const char *name, char *out)
{
	char	path[INDEX_PATH_MAX];

	crate_index_path(name, path);
	snprintf(out, STORE_PATH_MAX, "meta/%s", path);
}

void
store_crate_rel(const char *name, const char *vers, char *out)
{
	char	lower[CRATE_NAME_MAX + 1];
	size_t	i;

	for (i = 0; name[i] != '\0' && i < CRATE_NAME_MAX; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	lower[i] = '\0';
	snprintf(out, STORE_PATH_MAX, "crates/%s/%s-%s.crate", lower, lower,
	    vers);
}

static int
walk(int dfd, char *path, size_t plen,
    int (*fn)(const char *, const struct stat *, void *), void *arg)
{
	DIR		*d;
	struct dirent	*de;
	int		 r = 0;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		struct stat	st;
		size_t		n;

		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		n = (size_t)snprintf(path + plen, PATH_MAX - plen, "%s%s",
		    plen ? "/" : "", de->d_name);
		if (plen + n >= PATH_MAX)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int	fd = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			if (fd != -1)
				r = walk(fd, path, plen + n, fn, arg);
		} else if (S_ISREG(st.st_mode)) {
			r = fn(path, &st, arg);
		}
		path[plen] = '\0';
	}
	closedir(d);
	return r;
}

int
store_walk(struct store *s, const char *rel,
    int (*fn)(const char *, const struct stat *, void *), void *arg)
{
	char	path[PATH_MAX];
	int	fd;

	fd = openat(s->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -errno;
	path[0] = '\0';
	return walk(fd, path, 0, fn, arg);
}

struct negatives {
	int	metafd;
	bool	remove;
	size_t	n;
};

/* One metadata file: a negative entry when it says "negative": true. */
static int
negative_one(const char *path, const struct stat *st, void *arg)
{
	struct negatives	*ng = arg;
	char			 buf[4097];
	ssize_t			 len;
	int			 fd;

	if (st->st_size > (off_t)sizeof buf - 1 || (fd = openat(ng->metafd,
	    path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	if (strstr(buf, "\"negative\":true") == NULL)
		return 0;
	if (!ng->remove || unlinkat(ng->metafd, path, 0) == 0)
		ng->n++;
	return 0;
}

int
store_negatives(const char *root, bool remove, size_t *n)
{
	char			*p = xasprintf("%s/meta", root);
	char			 path[PATH_MAX];
	struct negatives	 ng = { .remove = remove };
	int			 fd, r;

	*n = 0;
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(p);
	if (fd == -1)
		return errno == ENOENT ? 0 : -errno;
	if ((ng.metafd = dup(fd)) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	path[0] = '\0';
	r = walk(fd, path, 0, negative_one, &ng);
	close(ng.metafd);
	*n = ng.n;
	return r;
}
