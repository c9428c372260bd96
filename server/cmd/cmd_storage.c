/* crated storage: a data directory's hosted registries copied into the
 * object store and back (migrate), the store's objects listed (ls) and
 * checked (verify). The copying is server/storage/migrate.c's. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/storage/migrate.h"
#include "server/cmd/storeio.h"
#include "server/storage/objstore.h"

static const char usage_text[] =
    "crated storage migrate --to-store|--from-store [--config FILE]"
    " [--data-dir DIR] [--registry NAME]\n"
    "       crated storage ls|verify [--config FILE] [--registry NAME]";

enum what {
	S_NONE,
	S_TO,
	S_FROM,
	S_LS,
	S_VERIFY,
};

struct storage_cmd {
	struct config		*cfg;
	const char		*registry;
	enum what		 what;
	struct storeio		*io;
	struct cmd_tty		 tty;
	struct bundle_progress	 progress;
	int			 lock;
	size_t			 stored;	/* registries with a store */
};

static int
parse(int argc, char **argv, struct storage_cmd *s)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "registry", required_argument, NULL, 'r' },
		{ "to-store", no_argument, NULL, 'T' },
		{ "from-store", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("CRATED_CONFIG"), *dir = NULL, *verb;
	char		*cause = NULL;
	int		 ch, dirn = 0;

	if (argc < 2)
		return -1;
	verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:d:r:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'r':
			s->registry = optarg;
			break;
		case 'T':
		case 'F':
			s->what = ch == 'T' ? S_TO : S_FROM;
			dirn++;
			break;
		default:
			return -1;
		}
	}
	if (optind != argc)
		return -1;
	if (strcmp(verb, "migrate") == 0) {
		if (dirn != 1)
			return -1;
	} else if (dirn != 0)
		return -1;
	else if (strcmp(verb, "ls") == 0)
		s->what = S_LS;
	else if (strcmp(verb, "verify") == 0)
		s->what = S_VERIFY;
	else
		return -1;
	if (config_load(path, &s->cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return -2;
	}
	if (dir != NULL)
		config_set_string(&s->cfg->data_dir, dir);
	return 0;
}

static double
since(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec -
	    t0->tv_nsec) / 1e9;
}

static void
summary(struct storage_cmd *s, const struct registry_config *rc,
    struct objstore *os, const char *prefix, const struct migrate_stats *st,
    double secs)
{
	if (s->what == S_VERIFY) {
		printf("verify: registry %s in %s (keys under \"%s\"): %zu"
		    " crates, %zu index files, %zu other objects sound (every"
		    " index line parses, every .crate has its line's SHA-256),"
		    " %zu .crate files no index line names; %.1f MB in %.2f s\n",
		    rc->name, objstore_name(os), prefix, st->crates,
		    st->index_files, st->other, st->orphans,
		    (double)st->bytes / 1e6, secs);
		return;
	}
	printf("migrate: registry %s: %zu crates, %zu index files, %zu other"
	    " objects copied %s %s (keys under \"%s\"), %zu already there"
	    " (identical), %zu .crate files no index line names left behind;"
	    " %.1f MB in %.2f s\n", rc->name, st->crates, st->index_files,
	    st->other, s->what == S_TO ? "into" : "from", objstore_name(os),
	    prefix, st->present, st->orphans, (double)st->bytes / 1e6, secs);
}

/* One hosted registry, one way. 0 or 1. */
static int
one_registry(struct storage_cmd *s, const struct registry_config *rc,
    struct objstore *os, const char *prefix)
{
	struct migrate_spec	 spec = { storeio_base(s->io), os,
				    s->cfg->data_dir, rc->name, prefix,
				    &s->progress };
	struct migrate_stats	 st;
	struct timespec		 t0;
	char			*cause = NULL;
	int			 r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (s->what == S_TO)
		r = migrate_push(&spec, &st, &cause);
	else
		r = migrate_pull(&spec, s->what == S_VERIFY, &st, &cause);
	if (s->tty.on)
		fprintf(stderr, "\n");
	if (r == 0) {
		summary(s, rc, os, prefix, &st, since(&t0));
		return 0;
	}
	fprintf(stderr, "crated storage %s: registry %s: %s\n", s->what ==
	    S_VERIFY ? "verify" : "migrate", rc->name, cause);
	if (s->what != S_VERIFY)
		fprintf(stderr, "crated storage migrate: stopped; before that"
		    " %zu crates, %zu index files and %zu other objects were"
		    " copied whole (%zu were already there); nothing else was."
		    " Run it again to resume: identical objects are"
		    " skipped.\n", st.crates, st.index_files, st.other,
		    st.present);
	free(cause);
	return 1;
}

/* tokens.json at the top-level store's prefix, when there is one. */
static int
tokens(struct storage_cmd *s)
{
	struct objstore	*os;
	char		*path, *prefix = NULL, *cause = NULL;
	int		 r;

	if (s->cfg->storage == NULL || s->registry != NULL || s->what ==
	    S_VERIFY || s->what == S_LS)
		return 0;
	if ((os = storeio_store(s->io, NULL, &prefix, &cause)) == NULL) {
		fprintf(stderr, "crated storage: %s\n", cause);
		free(cause);
		return 1;
	}
	free(prefix);
	path = xasprintf("%s/tokens.json", s->cfg->data_dir);
	if (s->what == S_TO && access(path, F_OK) != 0)
		r = 1;
	else if (s->what == S_TO)
		r = migrate_push_file(storeio_base(s->io), os, path,
		    "tokens.json", &cause);
	else
		r = migrate_pull_file(storeio_base(s->io), os, "tokens.json",
		    path, &cause);
	if (r == -1) {
		fprintf(stderr, "crated storage migrate: tokens: %s\n", cause);
		free(cause);
	} else if (r == 0)
		printf("migrate: tokens.json copied %s %s\n", s->what == S_TO ?
		    "into" : "from", objstore_name(os));
	free(path);
	return r == -1;
}

static int
list_registry(struct storage_cmd *s, const struct registry_config *rc,
    struct objstore *os, const char *prefix)
{
	struct migrate_stats	 st;
	char			*cause = NULL;

	if (migrate_count(storeio_base(s->io), os, prefix, &st, &cause) !=
	    0) {
		fprintf(stderr, "crated storage ls: registry %s: %s\n",
		    rc->name, cause);
		free(cause);
		return 1;
	}
	printf("%-20s %-8s %s (keys under \"%s\"): %zu index files, %zu"
	    " crates, %zu other objects, %.1f MB\n", rc->name, rc->upstream ?
	    "mirror" : "hosted", objstore_name(os), prefix, st.index_files,
	    st.crates, st.other, (double)st.bytes / 1e6);
	return 0;
}

/* What the command does to one registry. 0 or 1. */
static int
apply(struct storage_cmd *s, const struct registry_config *rc)
{
	struct objstore	*os;
	char		*prefix = NULL, *cause = NULL;
	int		 bad = 0;

	if ((os = storeio_store(s->io, rc, &prefix, &cause)) == NULL) {
		bad = cause != NULL || s->registry != NULL;
		if (cause != NULL)
			fprintf(stderr, "crated storage: %s\n", cause);
		else if (s->registry != NULL || s->what == S_LS)
			fprintf(stderr, "crated storage: registry %s has no"
			    " storage configured\n", rc->name);
		free(cause);
		return bad;
	}
	s->stored++;
	if (s->what == S_LS)
		bad = list_registry(s, rc, os, prefix);
	else if (rc->upstream == NULL)
		bad = one_registry(s, rc, os, prefix);
	else if (s->registry != NULL) {
		fprintf(stderr, "crated storage: registry %s is a mirror: its"
		    " cache fills itself from the upstream (and other"
		    " replicas) as it is used\n", rc->name);
		bad = 1;
	} else
		printf("%s: registry %s is a mirror: skipped (its cache in %s"
		    " fills itself as it is used)\n", s->what == S_VERIFY ?
		    "verify" : "migrate", rc->name, objstore_name(os));
	free(prefix);
	return bad;
}

/* Each registry the command applies to, then the tokens. */
static int
each_registry(struct storage_cmd *s)
{
	const struct registry_config	*rc;

	if (s->registry != NULL) {
		if ((rc = storeio_find(s->cfg, s->registry)) == NULL) {
			fprintf(stderr, "crated storage: no registry %s in the"
			    " configuration\n", s->registry);
			return 1;
		}
		return apply(s, rc);
	}
	for (size_t i = 0; i < s->cfg->nregs; i++)
		if (apply(s, &s->cfg->regs[i]) != 0)
			return 1;
	if (s->stored == 0) {
		fprintf(stderr, "crated storage: no registry has an object"
		    " store: set `storage` (top level, or per registry) in the"
		    " configuration\n");
		return 1;
	}
	return tokens(s);
}

int
cmd_storage(int argc, char **argv)
{
	struct storage_cmd	 s = { 0 };
	char			*cause = NULL;
	int			 r;

	if ((r = parse(argc, argv, &s)) != 0) {
		if (r == -1)
			fprintf(stderr, "usage: %s\n", usage_text);
		return 2;
	}
	s.tty.on = isatty(STDERR_FILENO);
	s.progress.fn = cmd_show;
	s.progress.arg = &s.tty;
	s.lock = -1;
	/* Nothing else writes the data directory while it is copied. */
	if ((s.what == S_TO || s.what == S_FROM) && (s.lock = store_lock(
	    s.cfg->data_dir, &cause)) == -1) {
		fprintf(stderr, "crated storage migrate: %s\n", cause);
		free(cause);
		config_free(s.cfg);
		return 1;
	}
	s.io = storeio_open(s.cfg);
	r = each_registry(&s);
	storeio_close(s.io);
	if (s.lock != -1)
		close(s.lock);
	config_free(s.cfg);
	return r;
}
