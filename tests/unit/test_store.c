/* The on-disk store: atomic writes, reads, path building, tmp cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/store.h"
#include "index/validators.h"
#include "tests/tap.h"

static int
count(const char *path, const struct stat *st, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* store_file_etag of rel: 0 and the ETag in etag; *read: whether the file
 * had to be read. */
static int
file_etag(struct store *s, const char *rel, char *etag, int *read)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 fd, r;

	if ((fd = store_open_file(s, rel, &st)) < 0)
		return fd;
	r = store_file_etag(fd, &st, 1 << 20, etag, &buf, &len);
	*read = buf != NULL;
	free(buf);
	close(fd);
	return r;
}

static void
test_etag(struct store *s)
{
	char	 etag[ETAG_LEN], want[ETAG_LEN], val[256];
	int	 read, fd, xattrs;

	ok(store_write(s, "index/2/ab", "one\n", 4, NULL, NULL) == 0,
	    "etag: write");
	etag_of("one\n", 4, want);
	ok(file_etag(s, "index/2/ab", etag, &read) == 0 && read &&
	    strcmp(etag, want) == 0, "etag: computed from the bytes");
	fd = store_open_file(s, "index/2/ab", NULL);
	xattrs = fgetxattr(fd, "user.crated.etag", val, sizeof val) > 0;
	if (!xattrs)
		printf("# no user xattrs here (%s): every call reads\n",
		    strerror(errno));
	close(fd);
	ok(file_etag(s, "index/2/ab", etag, &read) == 0 && read == !xattrs &&
	    strcmp(etag, want) == 0, "etag: remembered, not read again");
	ok(store_write(s, "index/2/ab", "two!\n", 5, NULL, NULL) == 0,
	    "etag: replace");
	etag_of("two!\n", 5, want);
	ok(file_etag(s, "index/2/ab", etag, &read) == 0 && read &&
	    strcmp(etag, want) == 0, "etag: a replaced file is read anew");
	if (xattrs) {
		/* A remembered value for another inode is not believed. */
		fd = store_open_file(s, "index/2/ab", NULL);
		snprintf(val, sizeof val, "v1 1 2.000000003 5 %s", "\"0123456"
		    "789abcdef0123456789abcdef\"");
		ok(fsetxattr(fd, "user.crated.etag", val, strlen(val), 0) == 0,
		    "etag: plant a value for another file");
		close(fd);
		ok(file_etag(s, "index/2/ab", etag, &read) == 0 && read &&
		    strcmp(etag, want) == 0, "etag: a foreign value is ignored");
	}
	ok(file_etag(s, "index/2/none", etag, &read) == -ENOENT,
	    "etag: missing file");
	ok(store_unlink(s, "index/2/ab") == 0, "etag: clean up");
}

/* store_read_tagged: the bytes and their ETag, hashed or remembered. */
static void
test_read_tagged(struct store *s)
{
	char		 etag[ETAG_LEN], want[ETAG_LEN], *buf = NULL;
	size_t		 len = 0;
	struct stat	 st;

	ok(store_write(s, "index/2/cd", "three\n", 6, NULL, NULL) == 0,
	    "tagged: write");
	etag_of("three\n", 6, want);
	for (int i = 0; i < 2; i++) {
		ok(store_read_tagged(s, "index/2/cd", &buf, &len, &st, 100,
		    etag) == 0 && len == 6 && memcmp(buf, "three\n", 6) == 0 &&
		    st.st_size == 6 && strcmp(etag, want) == 0, i == 0 ?
		    "tagged: bytes and ETag, hashed" :
		    "tagged: bytes and ETag, remembered");
		free(buf);
		buf = NULL;
	}
	ok(store_write(s, "index/2/cd", "four!!\n", 7, NULL, NULL) == 0,
	    "tagged: replace");
	etag_of("four!!\n", 7, want);
	ok(store_read_tagged(s, "index/2/cd", &buf, &len, NULL, 100,
	    etag) == 0 && len == 7 && memcmp(buf, "four!!\n", 7) == 0 &&
	    strcmp(etag, want) == 0, "tagged: a replaced file, its new ETag");
	free(buf);
	buf = NULL;
	ok(store_read_tagged(s, "index/2/cd", &buf, &len, NULL, 3, etag) ==
	    -EFBIG && buf == NULL, "tagged: over max");
	ok(store_read_tagged(s, "index/2/none", &buf, &len, NULL, 100,
	    etag) == -ENOENT && buf == NULL, "tagged: missing file");
	ok(store_unlink(s, "index/2/cd") == 0, "tagged: clean up");
}

static void
free_rels(char **rels, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rels[i]);
	free(rels);
}

/* store_generation and store_changes: what was written or removed, in
 * order, since a generation; lost past STORE_CHANGES. */
static void
test_changes(struct store *s)
{
	uint64_t	 g0 = store_generation(s), since = g0, g;
	char		**rels, rel[64];
	size_t		 n;
	int		 fd;

	ok(store_changes(s, &since, &rels, &n) && n == 0 && rels == NULL &&
	    since == g0, "changes: none since now");
	ok(store_write(s, "index/3/x/xyz", "a\n", 2, NULL, NULL) == 0 &&
	    store_write_cache(s, "gz/3/x/xyz", "b", 1, NULL, NULL) == 0 &&
	    store_unlink(s, "index/3/x/xyz") == 0 &&
	    store_unlink(s, "index/3/x/none") == 0, "changes: write, remove");
	fd = store_tmp_create(s, rel);
	ok(fd >= 0 && store_tmp_commit(s, fd, rel, "crates/x/x-1.0.0.crate",
	    NULL, NULL) == 0, "changes: a committed temp file");
	g = store_generation(s);
	ok(g == g0 + 4, "changes: four generations (nothing removed: none)");
	ok(store_changes(s, &since, &rels, &n) && n == 4 && since == g,
	    "changes: four paths");
	if (n == 4) {
		is_str(rels[0], "index/3/x/xyz", "changes: first the write");
		is_str(rels[1], "gz/3/x/xyz", "changes: a cache write");
		is_str(rels[2], "index/3/x/xyz", "changes: the removal");
		is_str(rels[3], "crates/x/x-1.0.0.crate", "changes: the commit");
	}
	free_rels(rels, n);
	ok(store_changes(s, &since, &rels, &n) && n == 0, "changes: read once");
	ok(store_write(s, "../x", "x", 1, NULL, NULL) == -EINVAL &&
	    store_generation(s) == g, "changes: a refused write is none");
	for (int i = 0; i < STORE_CHANGES + 1; i++)
		store_write_cache(s, "meta/1/q", "x", 1, NULL, NULL);
	ok(!store_changes(s, &since, &rels, &n) && n == 0 && rels == NULL &&
	    since == g + STORE_CHANGES + 1, "changes: lost past %d",
	    STORE_CHANGES);
	since = g + STORE_CHANGES + 1;
	store_write_cache(s, "meta/1/r", "x", 1, NULL, NULL);
	ok(store_changes(s, &since, &rels, &n) && n == 1 &&
	    strcmp(rels[0], "meta/1/r") == 0, "changes: kept again after");
	free_rels(rels, n);
	since = store_generation(s) + 5;
	ok(!store_changes(s, &since, &rels, &n) && since ==
	    store_generation(s), "changes: a generation from elsewhere");
	store_unlink(s, "meta/1/q");
	store_unlink(s, "meta/1/r");
	store_unlink(s, "gz/3/x/xyz");
	store_unlink(s, "crates/x/x-1.0.0.crate");
}

int
main(void)
{
	char		 dir[] = "/tmp/crated-test-store-XXXXXX", path[512];
	char		 rel[STORE_PATH_MAX], *buf = NULL, *cause = NULL;
	struct store	*s;
	struct stat	 st;
	size_t		 len;
	int		 n = 0, fd;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/data", dir);
	ok(store_open(path, "local", &s, &cause) == 0, "open creates");
	snprintf(path, sizeof path, "%s/data/local/index", dir);
	ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "index/ made");
	snprintf(path, sizeof path, "%s/data/local/tmp/leftover", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	close(fd);
	store_close(s);
	snprintf(path, sizeof path, "%s/data", dir);
	ok(store_open(path, "local", &s, &cause) == 0, "reopen");
	snprintf(path, sizeof path, "%s/data/local/tmp/leftover", dir);
	ok(access(path, F_OK) == -1, "tmp/ emptied at open");

	store_index_rel("Serde_Json", rel);
	is_str(rel, "index/se/rd/serde_json", "index path, lowercase");
	store_meta_rel("abc", rel);
	is_str(rel, "meta/3/a/abc", "meta path");
	store_crate_rel("Serde_Json", "1.0.0+build.5", rel);
	is_str(rel, "crates/serde_json/serde_json-1.0.0+build.5.crate",
	    "crate path keeps '+'");

	ok(store_read(s, "index/1/a", &buf, &len, NULL, 100) == -ENOENT,
	    "missing file is -ENOENT");
	ok(store_write(s, "index/1/a", "line\n", 5, NULL, NULL) == 0,
	    "write with new parents");
	ok(store_read(s, "index/1/a", &buf, &len, &st, 100) == 0 && len == 5 &&
	    memcmp(buf, "line\n", 5) == 0, "read back");
	free(buf);
	ok(store_read(s, "index/1/a", &buf, &len, NULL, 4) == -EFBIG,
	    "size cap");
	ok(store_write(s, "index/1/a", "two\n", 4, NULL, NULL) == 0,
	    "replace");
	ok(store_read(s, "index/1/a", &buf, &len, NULL, 100) == 0 && len == 4,
	    "replaced");
	free(buf);
	ok(store_exists(s, "index/1/a") && !store_exists(s, "index/1/b"),
	    "exists");
	ok(store_write(s, "../escape", "x", 1, NULL, NULL) == -EINVAL,
	    "'..' refused");
	ok(store_write(s, "/etc/x", "x", 1, NULL, NULL) == -EINVAL,
	    "absolute path refused");
	snprintf(path, sizeof path, "%s/data/escape", dir);
	ok(access(path, F_OK) == -1, "nothing written outside");
	store_walk(s, "tmp", count, &n);
	ok(n == 0, "no temp file left after writes");
	n = 0;
	store_walk(s, "index", count, &n);
	ok(n == 1, "walk finds the index file");
	fd = store_open_file(s, "index/1/a", &st);
	ok(fd >= 0 && st.st_size == 4, "open_file");
	if (fd >= 0)
		close(fd);
	test_etag(s);
	test_read_tagged(s);
	test_changes(s);
	ok(store_unlink(s, "index/1/a") == 0 && !store_exists(s, "index/1/a"),
	    "unlink");
	store_close(s);
	store_close(NULL);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
