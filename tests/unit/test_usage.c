/* cache/usage.c: a mirror's cache accounting: the first walk, the
 * journal replayed across restarts (a damaged one rescanned), pins, which
 * crates eviction takes, and compaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/usage.h"
#include "tests/tap.h"

static char	root[] = "/tmp/crated-usage.XXXXXX";

static void
put_file(const char *rel, size_t size)
{
	char	path[512], dir[512], *slash;
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(dir, sizeof dir, "%s", path);
	for (slash = strchr(dir + strlen(root) + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		abort();
	for (size_t i = 0; i < size; i++)
		fputc('x', f);
	fclose(f);
}

static size_t
journal_lines(void)
{
	char	path[512];
	FILE	*f;
	size_t	n = 0;
	int	c;

	snprintf(path, sizeof path, "%s/usage.log", root);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static struct usage *
reopen(struct usage *u)
{
	char	*cause = NULL;

	usage_close(u);
	u = NULL;
	if (usage_open(root, &u, &cause) != 0) {
		printf("# usage_open: %s\n", cause);
		abort();
	}
	return u;
}

#define A	"crates/a/a-1.0.0.crate"
#define B	"crates/b/b-1.0.0.crate"
#define C	"crates/c/c-1.0.0.crate"

int
main(void)
{
	struct usage	*u = NULL;
	char		*cause = NULL, **rels, path[512], cmd[600];
	size_t		 n;
	time_t		 t0 = time(NULL);
	FILE		*f;

	if (mkdtemp(root) == NULL)
		abort();

	/* No tmp/ for the journal's first write: a clear error. */
	ok(usage_open(root, &u, &cause) == -1 && cause != NULL &&
	    strstr(cause, "usage.log: cannot start it (through tmp/)") != NULL,
	    "no tmp/: refused (%s)", cause ? cause : "no cause");
	free(cause);

	snprintf(path, sizeof path, "%s/tmp", root);
	mkdir(path, 0755);
	put_file(A, 100);
	put_file(B, 200);
	ok(usage_open(root, &u, &cause) == 0, "opened a store with no journal");
	ok(usage_files(u) == 2 && usage_bytes(u) == 300,
	    "its crates found by a walk: %zu files, %llu bytes",
	    usage_files(u), (unsigned long long)usage_bytes(u));
	ok(journal_lines() == 2, "and a journal started, a line a crate");

	usage_added(u, C, 300, false);
	usage_added(u, C, 300, false);
	ok(usage_files(u) == 3 && usage_bytes(u) == 600, "c added once");
	/* Later than the adds: the journal only ever moves a last use
	 * forward. */
	usage_used(u, A, t0 + 1000);
	usage_used(u, B, t0 + 3000);
	usage_used(u, C, t0 + 2000);
	usage_pin(u, B);
	usage_added(u, "crates/d/d-1.0.0.crate", 50, false);
	usage_removed(u, "crates/d/d-1.0.0.crate");
	usage_removed(u, "crates/none/none-1.0.0.crate");
	ok(usage_files(u) == 3 && usage_bytes(u) == 600,
	    "d added and removed; removing an unknown crate changes nothing");

	u = reopen(u);
	ok(usage_files(u) == 3 && usage_bytes(u) == 600,
	    "the journal replays after a restart");
	ok(usage_victims(u, 600, &rels) == 0, "nothing to evict at the"
	    " limit");
	free(rels);

	n = usage_victims(u, 250, &rels);
	ok(n == 2 && strcmp(rels[0], A) == 0 && strcmp(rels[1], C) == 0,
	    "eviction takes the least recently used first (a, then c),"
	    " never the pinned b");
	ok(usage_files(u) == 1 && usage_bytes(u) == 200,
	    "and takes them out of the accounting");
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", root, rels[i]);
		unlink(path);	/* as the server does */
		free(rels[i]);
	}
	free(rels);
	ok(usage_damage(u) == NULL, "a sound journal is not rescanned");
	usage_flush(u);		/* writes the pins file */

	/* Lines that do not parse (a torn write, garbage) make it rescan
	 * crates/: a crate the lost lines named is counted again. */
	put_file("crates/e/e-1.0.0.crate", 70);
	snprintf(path, sizeof path, "%s/usage.log", root);
	if ((f = fopen(path, "a")) == NULL)
		abort();
	fputs("zzz\na notanumber\nu\np\na 5 5 0\nu 9 crates/nothing\n"
	    "a 70 5 0 crates/e/e-1.0", f);
	fclose(f);
	u = reopen(u);
	ok(usage_damage(u) != NULL && strstr(usage_damage(u),
	    "6 lines did not parse (the first: line") != NULL,
	    "damaged lines noticed: %s", usage_damage(u) ? usage_damage(u) :
	    "(nothing)");
	ok(usage_files(u) == 2 && usage_bytes(u) == 270,
	    "the rescan counts b and the torn line's e: %zu files, %llu bytes",
	    usage_files(u), (unsigned long long)usage_bytes(u));
	n = usage_victims(u, 0, &rels);
	ok(n == 1 && strcmp(rels[0], "crates/e/e-1.0.0.crate") == 0,
	    "e can be evicted, the pinned b still cannot");
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/%s", root, rels[i]);
		unlink(path);
		free(rels[i]);
	}
	free(rels);
	u = reopen(u);
	ok(usage_damage(u) == NULL && usage_files(u) == 1,
	    "the rewritten journal is sound");

	/* The whole journal overwritten: the pins come back from the pins
	 * file. */
	usage_close(u);
	u = NULL;
	snprintf(path, sizeof path, "%s/usage.log", root);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("\x01\x02garbage\xff\n\n", f);
	fclose(f);
	u = reopen(u);
	ok(usage_damage(u) != NULL && usage_files(u) == 1 &&
	    usage_bytes(u) == 200, "garbage journal rescanned");
	ok(usage_victims(u, 0, &rels) == 0, "and b's pin restored from the"
	    " pins file");
	free(rels);

	/* Compaction: last-use lines pile up until a flush rewrites the
	 * journal as one line per crate. */
	for (long t = 1; t <= 1100; t++) {
		usage_used(u, B, t0 + 5000 + t);
		usage_flush(u);
	}
	ok(journal_lines() >= 1 && journal_lines() < 200, "compacted on the way:"
	    " %zu lines after 1,100 flushes of a last use", journal_lines());
	u = reopen(u);
	ok(usage_files(u) == 1 && usage_bytes(u) == 200,
	    "the compacted journal replays");
	usage_close(u);

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", root);
	return done_testing();
}
