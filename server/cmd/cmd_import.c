/* crated import: a bundle into a data directory, all or nothing. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "server/core/config.h"

static void
import_warning(const char *msg, void *arg)
{
	fprintf(stderr, "crated import: warning: %s\n", msg);
}

int
cmd_import(int argc, char **argv)
{
	static const char	 usage[] = "crated import [--config FILE]"
				    " [--data-dir DIR] [--allow-hosted]"
				    " [--allow-other-upstream] FILE.tar.gz";
	struct bundle_import_opts o = { .warn = import_warning };
	struct bundle_registry	*known;
	struct cmd_args		 a;
	struct bundle_stats	 st;
	struct cmd_tty		 t = { isatty(STDERR_FILENO) };
	struct bundle_progress	 p = { cmd_show, &t };
	char			*cause = NULL;
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
	o.nregs = a.cfg->nregs;
	o.allow_hosted = a.allow_hosted;
	o.allow_other_upstream = a.allow_other_upstream;
	r = bundle_import(a.cfg->data_dir, argv[optind], &o, &p, &st, &cause);
	free(known);
	if (t.on)
		fprintf(stderr, "\n");
	if (r != 0) {
		fprintf(stderr, "crated import: refused, nothing changed: %s\n",
		    cause);
		free(cause);
	} else
		printf("import: %s: %zu crates and %zu index files added or"
		    " merged, %zu already present, %.1f MB\n", argv[optind],
		    st.crates, st.index_files, st.skipped,
		    (double)st.bytes / 1e6);
	close(lock);
	config_free(a.cfg);
	return r != 0;
}
