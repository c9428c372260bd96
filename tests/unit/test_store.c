/* The on-disk store: atomic writes, reads, path building, tmp cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/store.h"
#include "tests/tap.h"

static int
count(const char *path, const struct stat *st, void *arg)
{
	(*(int *)arg)++;
	return 0;
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
	ok(store_open(dir, "data/local", &s, &cause) != 0 || 1,
	    "a nested name is the caller's business");
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
	ok(store_unlink(s, "index/1/a") == 0 && !store_exists(s, "index/1/a"),
	    "unlink");
	store_close(s);
	store_close(NULL);
	snprintf(path, sizeof path, "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
