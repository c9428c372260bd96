/* crated gc: evicts crates over max_cache_bytes and removes the negative
 * entries older versions left, with the data directory locked. */
#include "server/cmd/cmd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/config.h"

int
cmd_gc(int argc, char **argv)
{
	static const char	 usage[] = "crated gc [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]";
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
		char				*root, **victims;
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
		if (n > 0)
			free(victims);
		printf("gc: %s: %zu crates evicted, %.1f MB -> %.1f MB (limit"
		    " %s), %zu negative entries removed\n", rc->name, n,
		    (double)before / 1e6, (double)usage_bytes(u) / 1e6,
		    rc->max_cache_bytes ? "set" : "none", negs);
		usage_close(u);
		free(root);
	}
	close(lock);
	config_free(a.cfg);
	return r;
}
