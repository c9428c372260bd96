/* server/core/log.c: log_every, the once-per-interval logger for lines a
 * client can make crated repeat (accept errors, failed TLS handshakes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/core/log.h"
#include "tests/tap.h"

static char	path[] = "/tmp/crated-log.XXXXXX";

/* What went to stderr since the last call, as a new string. */
static char *
taken(void)
{
	static long	 done;
	FILE		*f;
	long		 end;
	char		*buf;

	fflush(stderr);
	if ((f = fopen(path, "r")) == NULL || fseek(f, 0, SEEK_END) != 0)
		abort();
	end = ftell(f);
	buf = calloc(1, (size_t)(end - done) + 1);
	fseek(f, done, SEEK_SET);
	if (buf == NULL || fread(buf, 1, (size_t)(end - done), f) !=
	    (size_t)(end - done))
		abort();
	fclose(f);
	done = end;
	return buf;
}

static int
lines(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

int
main(void)
{
	struct log_every	 e = { 0 }, other = { 0 };
	char			*out;
	int			 fd;

	if ((fd = mkstemp(path)) == -1 || freopen(path, "w", stderr) == NULL)
		abort();
	close(fd);
	log_setup(LOG_INFO, LOG_TEXT);

	log_every(&e, 10, LOG_WARN, "accept: %s", "Too many open files");
	out = taken();
	ok(lines(out) == 1 && strstr(out, "warn: accept: Too many open files\n")
	    != NULL, "the first line goes out whole: %s", out);
	free(out);

	for (int i = 0; i < 1000; i++)
		log_every(&e, 10, LOG_WARN, "accept: %d", i);
	out = taken();
	ok(lines(out) == 0, "1000 more within the interval: none logged");
	free(out);

	log_every(&other, 10, LOG_INFO, "another kind");
	out = taken();
	ok(lines(out) == 1, "another struct log_every has its own interval");
	free(out);

	e.last.tv_sec -= 11;		/* the interval has passed */
	log_every(&e, 10, LOG_WARN, "accept: %s", "again");
	out = taken();
	ok(lines(out) == 1 && strstr(out, "accept: again (1000 more like this"
	    " in 11 s not logged)\n") != NULL, "then one, with the count: %s",
	    out);
	free(out);

	log_every(&e, 10, LOG_WARN, "accept: %s", "dropped");
	e.last.tv_sec -= 10;
	log_every(&e, 10, LOG_WARN, "accept: %s", "counted");
	out = taken();
	ok(lines(out) == 1 && strstr(out, "accept: counted (1 more like this"
	    " in 10 s not logged)\n") != NULL, "the count starts again: %s",
	    out);
	free(out);

	log_setup(LOG_ERROR, LOG_TEXT);
	e.last.tv_sec -= 60;
	log_every(&e, 10, LOG_WARN, "below the level");
	out = taken();
	ok(lines(out) == 0, "a level below log_level is not logged");
	free(out);

	unlink(path);
	return done_testing();
}
