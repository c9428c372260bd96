/* crated gc: evicts crates (and toolchain files) over max_cache_bytes and
 * removes the negative entries older versions left, with the data
 * directory locked. */
#include "server/cmd/cmd.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/snapshot.h"
#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/config.h"

/* The dates the snapshots under root/snapshots/SUB name, appended to
 * *dates (n of them, each 11 bytes). */
static void
named_dates(const char *root, const char *sub, char (**dates)[11], size_t *n)
{
	char		*dir = xasprintf("%s/snapshots/%s", root, sub), *p;
	char		*why = NULL;
	DIR		*d = opendir(dir);
	struct dirent	*de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		struct snapshot_info	 info;
		FILE			*f;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if ((f = fopen(p, "r")) != NULL && snapshot_read(fileno(f), &info,
		    &why) == 0 && info.date[0] != '\0') {
			*dates = xreallocarray(*dates, *n + 1, sizeof **dates);
			memcpy((*dates)[(*n)++], info.date, 11);
		}
		free(why);
		why = NULL;
		if (f != NULL)
			fclose(f);
		free(p);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
}

struct named {
	char	(*dates)[11];
	size_t	  n;
};

/* A file of a date a snapshot names: spared. */
static bool
keep_named(const char *rel, void *arg)
{
	struct named	*nd = arg;

	for (size_t i = 0; i < nd->n; i++)
		if (strncmp(rel, "dist/", 5) == 0 && strncmp(rel + 5,
		    nd->dates[i], 10) == 0 && rel[15] == '/')
			return true;
	return false;
}

/* A toolchain mirror's files over its max_cache_bytes: never pinned
 * ones, nor (without --evict-named-dates) those of a date a snapshot
 * names. */
static int
gc_toolchain(const struct cmd_args *a, const struct toolchain_config *tc)
{
	static const char *const	 tops[] = { "dist", "rustup" };
	struct named			 nd = { NULL, 0 };
	struct usage			*u;
	char				*root, **victims = NULL, *cause = NULL;
	uint64_t			 before;
	size_t				 n;

	root = xasprintf("%s/%s", a->cfg->data_dir, tc->name);
	if (access(root, F_OK) != 0) {
		free(root);
		return 0;
	}
	if (usage_open_under(root, tops, 2, &u, &cause) != 0) {
		fprintf(stderr, "crated gc: %s\n", cause);
		free(cause);
		free(root);
		return 1;
	}
	named_dates(root, "dist", &nd.dates, &nd.n);
	before = usage_bytes(u);
	n = tc->max_cache_bytes == 0 || tc->offline ? 0 : usage_victims_keep(u,
	    (uint64_t)tc->max_cache_bytes / 10 * 9, a->evict_named_dates ?
	    NULL : keep_named, &nd, &victims);
	for (size_t k = 0; k < n; k++) {
		char	*p = xasprintf("%s/%s", root, victims[k]);

		unlink(p);
		free(p);
		free(victims[k]);
	}
	free(victims);
	printf("gc: %s: %zu toolchain files evicted, %.1f MB -> %.1f MB (limit"
	    " %s%s)\n", tc->name, n, (double)before / 1e6,
	    (double)usage_bytes(u) / 1e6, tc->max_cache_bytes ? "set" : "none",
	    a->evict_named_dates ? ", dates of cached channels included" : "");
	usage_close(u);
	free(nd.dates);
	free(root);
	return 0;
}

int
cmd_gc(int argc, char **argv)
{
	static const char	 usage[] = "crated gc [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]"
				    " [--evict-named-dates]";
	struct cmd_args		 a;
	char			*cause = NULL;
	int			 lock, r = 0;

	if (cmd_parse_args(argc, argv, &a, usage) != 0)
		return 2;
	if ((lock = store_lock(a.cfg->data_dir, &cause)) == -1) {
		fprintf(stderr, "crated gc: %s\n", cause);
		free(cause);
		config_free(a.cfg);
		return 1;
	}
	for (size_t i = 0; i < a.cfg->nregs; i++) {
		const struct registry_config	*rc = &a.cfg->regs[i];
		struct usage			*u;
		char				*root, **victims = NULL;
		uint64_t			 before;
		size_t				 n, negs = 0;
		int				 res;

		if (rc->upstream == NULL || (a.registry != NULL &&
		    strcmp(a.registry, rc->name) != 0))
			continue;
		root = xasprintf("%s/%s", a.cfg->data_dir, rc->name);
		if (access(root, F_OK) != 0) {
			free(root);
			continue;
		}
		if (usage_open(root, &u, &cause) != 0) {
			fprintf(stderr, "crated gc: %s\n", cause);
			free(cause);
			free(root);
			r = 1;
			continue;
		}
		if (usage_damage(u) != NULL)
			fprintf(stderr, "crated gc: %s\n", usage_damage(u));
		if ((res = store_negatives(root, true, &negs)) != 0)
			fprintf(stderr, "crated gc: %s/meta: cannot remove the"
			    " negative entries: %s\n", root, strerror(-res));
		before = usage_bytes(u);
		n = rc->max_cache_bytes == 0 || rc->offline ? 0 :
		    usage_victims(u, (uint64_t)rc->max_cache_bytes / 10 * 9,
		    &victims);
		for (size_t k = 0; k < n; k++) {
			char	*p = xasprintf("%s/%s", root, victims[k]);

			unlink(p);
			free(p);
			free(victims[k]);
		}
		free(victims);	/* also made when every crate was pinned */
		printf("gc: %s: %zu crates evicted, %.1f MB -> %.1f MB (limit"
		    " %s), %zu negative entries removed\n", rc->name, n,
		    (double)before / 1e6, (double)usage_bytes(u) / 1e6,
		    rc->max_cache_bytes ? "set" : "none", negs);
		usage_close(u);
		free(root);
	}
	for (size_t i = 0; i < a.cfg->ntcs; i++)
		if (a.registry == NULL || strcmp(a.registry,
		    a.cfg->tcs[i].name) == 0)
			r |= gc_toolchain(&a, &a.cfg->tcs[i]);
	close(lock);
	config_free(a.cfg);
	return r;
}
