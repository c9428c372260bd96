/* crated import: a bundle into a data directory, all or nothing. Index
 * files are stored as the bundle has them: this crated's own supply-chain
 * policy decides, when it serves them, what is held or denied; the
 * policy the exporting side applied is said, for the record. */
#include "server/cmd/cmd.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/cmd/storeio.h"
#include "server/core/config.h"
#include "server/storage/migrate.h"
#include "server/storage/objstore.h"

static void
import_warning(const char *msg, void *arg)
{
	fprintf(stderr, "crated import: warning: %s\n", msg);
}

static void
import_policy(const char *summary, void *arg)
{
	printf("import: the bundle was %s\n", summary);
}

/* What a bundle unpacked in stage holds: how many registries the
 * configuration keeps in a store, how many others; their names in *names
 * (new, for messages). */
static void
classify(const struct config *cfg, const char *stage, size_t *stored,
    size_t *local, char **names)
{
	DIR		*d = opendir(stage);
	struct dirent	*de;
	char		*s;

	*stored = *local = 0;
	*names = xstrdup("");
	while (d != NULL && (de = readdir(d)) != NULL) {
		const struct registry_config *rc = storeio_find(cfg, de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (rc != NULL && storeio_backed(cfg, rc))
			(*stored)++;
		else
			(*local)++;
		s = xasprintf("%s%s%s%s", *names, **names ? ", " : "",
		    de->d_name, rc != NULL && storeio_backed(cfg, rc) ?
		    " (object store)" : " (local)");
		free(*names);
		*names = s;
	}
	if (d != NULL)
		closedir(d);
}

/* Every registry of stage into its store, create-only. */
static int
push_all(const struct config *cfg, const char *stage, struct bundle_stats *bs,
    char **cause)
{
	struct storeio		*io = storeio_open(cfg);
	struct migrate_stats	 st;
	int			 r = 0;

	for (size_t i = 0; r == 0 && i < cfg->nregs; i++) {
		const struct registry_config *rc = &cfg->regs[i];
		struct migrate_spec	 spec = { storeio_base(io), NULL, stage,
					    rc->name, NULL, NULL };
		char			*prefix = NULL, *path, *why = NULL;

		path = xasprintf("%s/%s", stage, rc->name);
		if (!storeio_backed(cfg, rc) || access(path, F_OK) != 0) {
			free(path);
			continue;
		}
		free(path);
		if ((spec.os = storeio_store(io, rc, &prefix, cause)) == NULL)
			r = -1;
		spec.prefix = prefix;
		if (r == 0 && (r = migrate_push(&spec, &st, &why)) != 0) {
			*cause = xasprintf("registry %s into %s: %s (before"
			    " that %zu crates, %zu index files and %zu other"
			    " objects were stored whole; run it again to"
			    " resume)", rc->name, objstore_name(spec.os), why,
			    st.crates, st.index_files, st.other);
			free(why);
		}
		bs->crates += st.crates;
		bs->index_files += st.index_files;
		bs->skipped += st.present;
		bs->bytes += st.bytes;
		free(prefix);
	}
	storeio_close(io);
	return r;
}

/*
 * With registries kept in an object store, the bundle is unpacked (and
 * checked) in a staging folder first: when it holds only such registries,
 * they go into their stores, create-only (0, or -2: stopped part way,
 * what was stored is whole); when it holds none, 1: it is imported as
 * usual; a bundle holding both is refused (-1, nothing changed).
 */
static int
import_stores(const struct cmd_args *a, const char *file,
    const struct bundle_import_opts *o, const struct bundle_progress *p,
    struct bundle_stats *st, char **stage, char **cause)
{
	const struct config	*cfg = a->cfg;
	size_t			 stored = 0, local = 0;
	char			*names = NULL;
	int			 r;

	*stage = NULL;
	for (size_t i = 0; i < cfg->nregs; i++)
		if (storeio_backed(cfg, &cfg->regs[i]))
			stored++;
	if (stored == 0)
		return 1;
	if ((*stage = storeio_staging(cfg->data_dir, "import", cause)) == NULL)
		return -1;
	if (bundle_import(*stage, file, o, p, st, cause) != 0)
		return -1;
	classify(cfg, *stage, &stored, &local, &names);
	if (stored == 0)
		r = 1;
	else if (local > 0) {
		*cause = xasprintf("the bundle holds registries kept in the"
		    " object store and local ones (%s): import them separately"
		    " (make one bundle per kind with `crated export --registry"
		    " NAME`)", names);
		r = -1;
	} else {
		memset(st, 0, sizeof *st);
		r = push_all(cfg, *stage, st, cause) == 0 ? 0 : -2;
	}
	free(names);
	return r;
}

int
cmd_import(int argc, char **argv)
{
	static const char	 usage[] = "crated import [--config FILE]"
				    " [--data-dir DIR] [--allow-hosted]"
				    " [--allow-other-upstream] FILE.tar.gz";
	struct bundle_import_opts o = { .warn = import_warning,
				    .policy = import_policy };
	struct bundle_registry	*known;
	struct cmd_args		 a;
	struct bundle_stats	 st;
	struct cmd_tty		 t = { isatty(STDERR_FILENO) };
	struct bundle_progress	 p = { cmd_show, &t };
	char			*cause = NULL, *stage = NULL, tcs[48] = "";
	int			 r, lock;

	if (cmd_parse_args(argc, argv, &a, usage) != 0)
		return 2;
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s\n", usage);
		config_free(a.cfg);
		return 2;
	}
	if ((lock = store_lock(a.cfg->data_dir, &cause)) == -1) {
		fprintf(stderr, "crated import: %s\n", cause);
		free(cause);
		config_free(a.cfg);
		return 1;
	}
	o.regs = known = cmd_configured(a.cfg);
	o.nregs = a.cfg->nregs + a.cfg->ntcs;
	o.allow_hosted = a.allow_hosted;
	o.allow_other_upstream = a.allow_other_upstream;
	r = import_stores(&a, argv[optind], &o, &p, &st, &stage, &cause);
	storeio_remove(stage);
	free(stage);
	if (r == 1)
		r = bundle_import(a.cfg->data_dir, argv[optind], &o, &p, &st,
		    &cause);
	free(known);
	if (t.on)
		fprintf(stderr, "\n");
	if (r == 0 && st.toolchain_files > 0)
		snprintf(tcs, sizeof tcs, " (and %zu toolchain files)",
		    st.toolchain_files);
	if (r == -2) {
		fprintf(stderr, "crated import: stopped: %s\n", cause);
		free(cause);
	} else if (r != 0) {
		fprintf(stderr, "crated import: refused, nothing changed: %s\n",
		    cause);
		free(cause);
	} else
		printf("import: %s: %zu crates and %zu index files%s added or"
		    " merged, %zu already present, %.1f MB; served under this"
		    " crated's own policy (`crated policy explain NAME VERSION`"
		    " says what it makes of a version)\n", argv[optind],
		    st.crates, st.index_files, tcs, st.skipped,
		    (double)st.bytes / 1e6);
	close(lock);
	config_free(a.cfg);
	return r != 0;
}
