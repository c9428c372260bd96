/* server/files/openfiles.c: index files kept open, bounded in entries; a reply
 * in flight keeps its file open after the entry goes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/xmalloc.h"
#include "server/files/openfiles.h"
#include "tests/tap.h"

static char	dir[] = "/tmp/crated-openfiles.XXXXXX";

static int
open_one(const char *name, const char *body, struct stat *st)
{
	char	path[128];
	int	fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, body, strlen(body)) != (ssize_t)strlen(body)
	    || fstat(fd, st) != 0)
		abort();
	return fd;
}

static int
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int
main(void)
{
	struct open_files	*o;
	struct open_file	*f;
	struct evbuffer		*out;
	struct stat		 st;
	int			 a, b, c;
	char			 got[16];

	if (mkdtemp(dir) == NULL)
		abort();
	o = open_files_create(2);
	ok(open_files_get(o, "r/a") == NULL, "miss on an empty cache");

	a = open_one("a", "line a\n", &st);
	f = open_files_add(o, "r/a", a, &st, "\"ea\"", xstrdup("ETag: \"ea\"\r\n"));
	ok(f != NULL && f->fd == a && f->size == 7, "a kept with its size");
	is_str(f ? f->etag : NULL, "\"ea\"", "and its ETag");
	ok(open_files_get(o, "r/a") == f, "a found");

	/* A reply holds the segment: a stays open after its entry goes. */
	out = evbuffer_new();
	evbuffer_add_file_segment(out, f->seg, 0, (ev_off_t)f->size);
	b = open_one("b", "line b\n", &st);
	ok(open_files_add(o, "r/b", b, &st, "\"eb\"", xstrdup("x")) != NULL,
	    "b kept");
	c = open_one("c", "line c\n", &st);
	ok(open_files_get(o, "r/a") != NULL, "a touched, b now the oldest");
	ok(open_files_add(o, "r/c", c, &st, "\"ec\"", xstrdup("x")) != NULL,
	    "c kept");
	ok(open_files_count(o) == 2, "bounded at 2 entries");
	ok(open_files_get(o, "r/b") == NULL, "the least recently used (b) went");
	ok(!is_open(b), "and b's file was closed");
	ok(open_files_get(o, "r/a") != NULL && open_files_get(o, "r/c") != NULL,
	    "a and c stay");

	open_files_forget(o, "r/a");
	ok(open_files_get(o, "r/a") == NULL, "a forgotten");
	ok(is_open(a), "a still open: a reply holds it");
	ok(evbuffer_remove(out, got, sizeof got) == 7 &&
	    memcmp(got, "line a\n", 7) == 0, "the reply still reads a's bytes");
	evbuffer_free(out);
	ok(!is_open(a), "a closed once the reply is gone");

	open_files_forget(o, "r/none");
	ok(open_files_count(o) == 1, "forgetting an unknown key changes nothing");
	open_files_destroy(o);
	ok(!is_open(c), "destroy closes what it kept");

	o = open_files_create(0);
	a = open_one("a", "line a\n", &st);
	ok(open_files_add(o, "r/a", a, &st, "\"ea\"", NULL) == NULL,
	    "max 0 keeps nothing");
	ok(is_open(a), "and leaves the file to the caller");
	close(a);
	open_files_destroy(o);

	for (const char *n = "abc"; *n != '\0'; n++) {
		char	path[128];

		snprintf(path, sizeof path, "%s/%c", dir, *n);
		unlink(path);
	}
	rmdir(dir);
	return done_testing();
}
