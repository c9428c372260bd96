/* crated export: a data directory's registries into a bundle
 * (cache/bundle.h). */
#include "server/cmd/cmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/bundle.h"
#include "common/xmalloc.h"
#include "server/cmd/storeio.h"
#include "server/core/config.h"
#include "server/storage/migrate.h"
#include "server/storage/objstore.h"

/* --since: a bundle's creation time, Unix seconds, or YYYY-MM-DD[THH:MM:SS]
 * (UTC). */
static time_t
parse_since(const char *s, char **cause)
{
	struct tm	 tm;
	char		*end;
	long long	 n;

	if (access(s, F_OK) == 0)
		return bundle_created(s, cause);
	n = strtoll(s, &end, 10);
	if (*end == '\0' && end != s && n > 0)
		return (time_t)n;
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end != NULL && *end == 'T')
		end = strptime(end + 1, "%H:%M:%S", &tm);
	if (end == NULL || (*end != '\0' && strcmp(end, "Z") != 0)) {
		*cause = xasprintf("--since %s: give a bundle file, Unix seconds"
		    " or YYYY-MM-DD[THH:MM:SS]", s);
		return -1;
	}
	return timegm(&tm);
}

/* A local registry in the staging folder: a link to its folder. */
static int
link_local(const char *data_dir, const char *stage, const char *name,
    char **cause)
{
	char		*p = xasprintf("%s/%s/index", data_dir, name), *l;
	char		 real[PATH_MAX];
	struct stat	 st;
	int		 r = 0;

	if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(p);
		p = xasprintf("%s/%s", data_dir, name);
		l = xasprintf("%s/%s", stage, name);
		if (realpath(p, real) == NULL || symlink(real, l) != 0) {
			*cause = xasprintf("%s: %s", p, strerror(errno));
			r = -1;
		}
		free(l);
	}
	free(p);
	return r;
}

/* The store-backed hosted registry rc's files, pulled into stage. */
static int
pull_one(struct storeio *io, const struct registry_config *rc,
    const char *stage, char **cause)
{
	struct migrate_spec	 spec = { storeio_base(io), NULL, stage,
				    rc->name, NULL, NULL };
	struct migrate_stats	 st;
	char			*prefix = NULL, *why = NULL;
	int			 r;

	if ((spec.os = storeio_store(io, rc, &prefix, &why)) == NULL) {
		*cause = why;
		return -1;
	}
	spec.prefix = prefix;
	r = migrate_pull(&spec, false, &st, &why);
	if (r != 0) {
		*cause = xasprintf("registry %s in %s: %s", rc->name,
		    objstore_name(spec.os), why);
		free(why);
	}
	free(prefix);
	return r;
}

/*
 * A store-backed hosted registry's files are the object store's (its
 * local folder is a cache): they are pulled into a staging folder, beside
 * links to the other registries' folders, and the bundle is made from
 * there. -1 with *cause; else *stage (new) is the folder, or NULL when no
 * registry exported is store-backed.
 */
static int
stage_stores(const struct cmd_args *a, char **stage, char **cause)
{
	const struct config	*cfg = a->cfg;
	struct storeio		*io;
	DIR			*d;
	struct dirent		*de;
	int			 r = 0;
	size_t			 n = 0;

	*stage = NULL;
	for (size_t i = 0; i < cfg->nregs; i++)
		if (storeio_backed(cfg, &cfg->regs[i]) && (a->registry == NULL ||
		    strcmp(a->registry, cfg->regs[i].name) == 0))
			n++;
	if (n == 0)
		return 0;
	if ((*stage = storeio_staging(cfg->data_dir, "export", cause)) == NULL)
		return -1;
	io = storeio_open(cfg);
	for (size_t i = 0; r == 0 && i < cfg->nregs; i++)
		if (storeio_backed(cfg, &cfg->regs[i]) && (a->registry == NULL ||
		    strcmp(a->registry, cfg->regs[i].name) == 0))
			r = pull_one(io, &cfg->regs[i], *stage, cause);
	storeio_close(io);
	if (r == 0 && a->registry == NULL && (d = opendir(cfg->data_dir)) !=
	    NULL) {
		while (r == 0 && (de = readdir(d)) != NULL) {
			const struct registry_config *rc = storeio_find(cfg,
			    de->d_name);

			if (de->d_name[0] != '.' && (rc == NULL ||
			    !storeio_backed(cfg, rc)))
				r = link_local(cfg->data_dir, *stage,
				    de->d_name, cause);
		}
		closedir(d);
	}
	return r;
}

int
cmd_export(int argc, char **argv)
{
	static const char	 usage[] = "crated export [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]"
				    " [--since BUNDLE|TIME] FILE.tar.gz";
	struct cmd_args		 a;
	struct bundle_stats	 st;
	struct cmd_tty		 t = { isatty(STDERR_FILENO) };
	struct bundle_progress	 p = { cmd_show, &t };
	struct bundle_registry	*known;
	char			*cause = NULL, *stage = NULL, tcs[48] = "";
	time_t			 since = 0;
	struct timespec		 t0, t1;
	int			 r;

	if (cmd_parse_args(argc, argv, &a, usage) != 0)
		return 2;
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s\n", usage);
		config_free(a.cfg);
		return 2;
	}
	if (a.since != NULL && (since = parse_since(a.since, &cause)) == -1) {
		fprintf(stderr, "crated export: %s\n", cause);
		free(cause);
		config_free(a.cfg);
		return 1;
	}
	known = cmd_configured(a.cfg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((r = stage_stores(&a, &stage, &cause)) == 0)
		r = bundle_export(stage ? stage : a.cfg->data_dir, a.registry ?
		    &a.registry : NULL, a.registry ? 1 : 0, since, argv[optind],
		    known, a.cfg->nregs + a.cfg->ntcs, &p, &st, &cause);
	storeio_remove(stage);
	free(stage);
	free(known);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r == 0 && st.toolchain_files > 0)
		snprintf(tcs, sizeof tcs, ", %zu toolchain files",
		    st.toolchain_files);
	if (t.on)
		fprintf(stderr, "\n");
	if (r != 0) {
		fprintf(stderr, "crated export: %s\n", cause);
		free(cause);
	} else
		printf("export: %s: %zu files (%zu crates, %zu index files%s),"
		    " %.1f MB in %.2f s%s\n", argv[optind], st.files,
		    st.crates, st.index_files, tcs, (double)st.bytes / 1e6,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec -
		    t0.tv_nsec) / 1e9, since ? " (incremental)" : "");
	config_free(a.cfg);
	return r != 0;
}
