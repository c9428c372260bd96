/* crated export: a data directory's registries into a bundle
 * (cache/bundle.h). */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/bundle.h"
#include "common/xmalloc.h"
#include "server/core/config.h"

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
	char			*cause = NULL;
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
	r = bundle_export(a.cfg->data_dir, a.registry ? &a.registry : NULL,
	    a.registry ? 1 : 0, since, argv[optind], known, a.cfg->nregs, &p,
	    &st, &cause);
	free(known);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (t.on)
		fprintf(stderr, "\n");
	if (r != 0) {
		fprintf(stderr, "crated export: %s\n", cause);
		free(cause);
	} else
		printf("export: %s: %zu files (%zu crates, %zu index files),"
		    " %.1f MB in %.2f s%s\n", argv[optind], st.files,
		    st.crates, st.index_files, (double)st.bytes / 1e6,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec -
		    t0.tv_nsec) / 1e9, since ? " (incremental)" : "");
	config_free(a.cfg);
	return r != 0;
}
