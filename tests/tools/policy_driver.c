/* Loads an advisory snapshot (policy/policy.h) for the integration tests
 * and answers about it on stdout:
 *
 *   policy_driver SNAPSHOT          for each "NAME VERSION" line on stdin,
 *                                   "NAME VERSION ID ID ..." (the ids of
 *                                   the advisories affecting it, sorted),
 *                                   or "NAME VERSION !" when VERSION is no
 *                                   SemVer version
 *   policy_driver SNAPSHOT --list   one line per advisory: "ID PACKAGE
 *                                   KIND m|- i|- w|- DATE" (malicious,
 *                                   informational, withdrawn); stdin is
 *                                   not read
 *
 * The first line of stderr says "loaded N advisories in MS ms: ID"; a
 * snapshot that does not load prints its cause there and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

#define MAX	256

static int
idcmp(const void *x, const void *y)
{
	const struct advisory	*a = *(const struct advisory *const *)x;
	const struct advisory	*b = *(const struct advisory *const *)y;

	return strcmp(a->id, b->id);
}

static void
answer(const struct advisory_db *db, const char *name, const char *vers)
{
	const struct advisory	*out[MAX];
	struct semver		 v;
	size_t			 n, i;

	if (semver_parse(vers, &v, NULL) != 0) {
		printf("%s %s !\n", name, vers);
		return;
	}
	n = advisory_db_match(db, name, &v, out, MAX);
	qsort(out, n, sizeof *out, idcmp);
	printf("%s %s", name, vers);
	for (i = 0; i < n; i++)
		printf(" %s", out[i]->id);
	printf("\n");
}

static void
list(const struct advisory_db *db)
{
	const struct advisory	*a;
	size_t			 i;

	for (i = 0; (a = advisory_db_get(db, i)) != NULL; i++)
		printf("%s %s %s %c %c %c %s\n", a->id, a->package,
		    advisory_kind(a), a->malicious ? 'm' : '-',
		    a->informational ? 'i' : '-', a->withdrawn ? 'w' : '-',
		    a->date != NULL ? a->date : "-");
}

int
main(int argc, char **argv)
{
	struct advisory_db	*db;
	struct timespec		 t0, t1;
	char			 line[1024], name[256], vers[512], *cause;
	int			 lst;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2],
	    "--list") != 0)) {
		fprintf(stderr, "usage: policy_driver SNAPSHOT [--list]\n");
		return 2;
	}
	lst = argc == 3;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (advisory_db_load(argv[1], &db, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "loaded %zu advisories in %.1f ms: %s\n",
	    advisory_db_count(db), (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6, advisory_db_id(db));
	if (lst)
		list(db);
	while (!lst && fgets(line, sizeof line, stdin) != NULL)
		if (sscanf(line, "%255s %511s", name, vers) == 2)
			answer(db, name, vers);
	advisory_db_free(db);
	return 0;
}
