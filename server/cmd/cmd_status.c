/* crated status: what each registry of a data directory holds. */
#include "server/cmd/cmd.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/core/config.h"

struct tally {
	size_t			 crates, index_files;
	unsigned long long	 bytes;
	time_t			 oldest;
};

static void
tally(const char *dir, struct tally *t, bool crates, int depth)
{
	DIR		*d;
	struct dirent	*de;

	if (depth > 8 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*p;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			tally(p, t, crates, depth + 1);
		else if (S_ISREG(st.st_mode)) {
			t->bytes += (unsigned long long)st.st_size;
			if (crates)
				t->crates++;
			else
				t->index_files++;
			if (t->oldest == 0 || st.st_mtime < t->oldest)
				t->oldest = st.st_mtime;
		}
		free(p);
	}
	closedir(d);
}

/* A mirror keeps its negative entries (upstream 404s) in memory, counted
 * at /-/metrics and /-/ready; the files older versions wrote for them are
 * counted here until the next start or `crated gc` removes them. */
static void
negatives_on_disk(const struct config *cfg, const char *only)
{
	for (size_t i = 0; i < cfg->nregs; i++) {
		const struct registry_config	*r = &cfg->regs[i];
		char				*root;
		size_t				 n = 0;

		if (r->upstream == NULL || (only != NULL && strcmp(only,
		    r->name) != 0))
			continue;
		root = xasprintf("%s/%s", cfg->data_dir, r->name);
		if (store_negatives(root, false, &n) == 0 && n > 0)
			printf("%s: %zu negative entries on disk, left by an"
			    " older version (crated gc removes them)\n",
			    r->name, n);
		free(root);
	}
}

/* The toolchain mirrors: files under dist/ and rustup/, snapshots. */
static void
toolchains(const struct config *cfg, const char *only)
{
	if (cfg->ntcs == 0)
		return;
	printf("%-16s %-7s %8s %8s %10s  %s\n", "toolchains", "kind", "files",
	    "channels", "MB", "oldest file");
	for (size_t i = 0; i < cfg->ntcs; i++) {
		const struct toolchain_config	*tc = &cfg->tcs[i];
		struct tally			 f = { 0 }, sn = { 0 };
		char				*p, when[32] = "-";

		if (only != NULL && strcmp(only, tc->name) != 0)
			continue;
		p = xasprintf("%s/%s/dist", cfg->data_dir, tc->name);
		tally(p, &f, true, 0);
		free(p);
		p = xasprintf("%s/%s/rustup", cfg->data_dir, tc->name);
		tally(p, &f, true, 0);
		free(p);
		p = xasprintf("%s/%s/snapshots", cfg->data_dir, tc->name);
		tally(p, &sn, true, 0);
		free(p);
		if (f.oldest != 0)
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ",
			    gmtime(&f.oldest));
		printf("%-16s %-7s %8zu %8zu %10.1f  %s\n", tc->name,
		    tc->offline ? "offline" : "rustup", f.crates, sn.crates,
		    (double)(f.bytes + sn.bytes) / 1e6, when);
	}
}

int
cmd_status(int argc, char **argv)
{
	static const char	 usage[] = "crated status [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]";
	struct cmd_args		 a;

	if (cmd_parse_args(argc, argv, &a, usage) != 0)
		return 2;
	printf("%-16s %-7s %8s %8s %10s  %s\n", "registry", "kind", "crates",
	    "index", "MB", "oldest entry");
	for (size_t i = 0; i < a.cfg->nregs; i++) {
		const struct registry_config	*r = &a.cfg->regs[i];
		struct tally			 t = { 0 };
		char				*p, when[32] = "-";

		if (a.registry != NULL && strcmp(a.registry, r->name) != 0)
			continue;
		p = xasprintf("%s/%s/crates", a.cfg->data_dir, r->name);
		tally(p, &t, true, 0);
		free(p);
		p = xasprintf("%s/%s/index", a.cfg->data_dir, r->name);
		tally(p, &t, false, 0);
		free(p);
		if (t.oldest != 0)
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ",
			    gmtime(&t.oldest));
		printf("%-16s %-7s %8zu %8zu %10.1f  %s\n", r->name,
		    r->upstream ? (r->offline ? "offline" : "mirror") :
		    "hosted", t.crates, t.index_files, (double)t.bytes / 1e6,
		    when);
	}
	negatives_on_disk(a.cfg, a.registry);
	toolchains(a.cfg, a.registry);
	config_free(a.cfg);
	return 0;
}
