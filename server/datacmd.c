#include "server/datacmd.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cache/bundle.h"
#include "cache/store.h"
#include "cache/tokens.h"
#include "cache/usage.h"
#include "index/xmalloc.h"
#include "server/config.h"

static const struct option	 opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "registry", required_argument, NULL, 'r' },
	{ "since", required_argument, NULL, 's' },
	{ "allow-hosted", no_argument, NULL, 'H' },
	{ "allow-other-upstream", no_argument, NULL, 'U' },
	{ NULL, 0, NULL, 0 }
};

struct args {
	struct config	*cfg;
	const char	*registry;
	const char	*since;
	bool		 allow_hosted;		/* import only */
	bool		 allow_other_upstream;	/* import only */
};

/* Options common to the data commands; the data directory comes from the
 * config file (or the default), --data-dir overriding it. */
static int
parse_args(int argc, char **argv, struct args *a, const char *usage)
{
	const char	*path = getenv("CRATED_CONFIG"), *dir = NULL;
	char		*cause = NULL;
	int		 ch;

	memset(a, 0, sizeof *a);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:d:r:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'r':
			a->registry = optarg;
			break;
		case 's':
			a->since = optarg;
			break;
		case 'H':
			a->allow_hosted = true;
			break;
		case 'U':
			a->allow_other_upstream = true;
			break;
		default:
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	if ((a->allow_hosted || a->allow_other_upstream) && strstr(usage,
	    "--allow-hosted") == NULL) {
		fprintf(stderr, "usage: %s\n", usage);
		return -1;
	}
	if (config_load(path, &a->cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return -1;
	}
	if (dir != NULL)
		config_set_string(&a->cfg->data_dir, dir);
	return 0;
}

struct tty {
	bool	on;
};

static void
show(const char *what, size_t done, size_t total, unsigned long long bytes,
    void *arg)
{
	struct tty	*t = arg;

	if (!t->on)
		return;
	if (total > 0)
		fprintf(stderr, "\r%-7s %zu/%zu files, %.1f MB   ", what, done,
		    total, (double)bytes / 1e6);
	else
		fprintf(stderr, "\r%-7s %zu files, %.1f MB   ", what, done,
		    (double)bytes / 1e6);
	fflush(stderr);
}

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

/* The configured registries, for the bundle's record of each (new). */
static struct bundle_registry *
configured(const struct config *cfg)
{
	struct bundle_registry	*v = xcalloc(cfg->nregs + 1, sizeof *v);

	for (size_t i = 0; i < cfg->nregs; i++) {
		v[i].name = cfg->regs[i].name;
		v[i].upstream = cfg->regs[i].upstream;
	}
	return v;
}

static void
import_warning(const char *msg, void *arg)
{
	fprintf(stderr, "crated import: warning: %s\n", msg);
}

int
export_main(int argc, char **argv)
{
	static const char	 usage[] = "crated export [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]"
				    " [--since BUNDLE|TIME] FILE.tar.gz";
	struct args		 a;
	struct bundle_stats	 st;
	struct tty		 t = { isatty(STDERR_FILENO) };
	struct bundle_progress	 p = { show, &t };
	struct bundle_registry	*known;
	char			*cause = NULL;
	time_t			 since = 0;
	struct timespec		 t0, t1;
	int			 r;

	if (parse_args(argc, argv, &a, usage) != 0)
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
	known = configured(a.cfg);
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

int
import_main(int argc, char **argv)
{
	static const char	 usage[] = "crated import [--config FILE]"
				    " [--data-dir DIR] [--allow-hosted]"
				    " [--allow-other-upstream] FILE.tar.gz";
	struct bundle_import_opts o = { .warn = import_warning };
	struct bundle_registry	*known;
	struct args		 a;
	struct bundle_stats	 st;
	struct tty		 t = { isatty(STDERR_FILENO) };
	struct bundle_progress	 p = { show, &t };
	char			*cause = NULL;
	int			 r, lock;

	if (parse_args(argc, argv, &a, usage) != 0)
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
	o.regs = known = configured(a.cfg);
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

int
status_main(int argc, char **argv)
{
	static const char	 usage[] = "crated status [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]";
	struct args		 a;

	if (parse_args(argc, argv, &a, usage) != 0)
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
	config_free(a.cfg);
	return 0;
}

struct token_args {
	const char	*registry, *scope, *crates, *label;
	int		 days;
	bool		 same_owner;	/* --same-owner: label may be in use */
};

static int
token_create(struct args *a, const struct token_args *ta)
{
	char		*secret = NULL, *id = NULL, *cause = NULL;
	const char	*label = ta->label;
	enum scope	 sc;

	if (ta->registry == NULL || ta->scope == NULL || label == NULL) {
		fprintf(stderr, "crated token create: --registry, --scope and"
		    " --name are required\n");
		return 2;
	}
	if (scope_parse(ta->scope, &sc) != 0) {
		fprintf(stderr, "crated token create: --scope is read, publish,"
		    " yank or admin\n");
		return 2;
	}
	if (strcmp(ta->registry, "*") != 0 && config_registry(a->cfg,
	    ta->registry) == NULL) {
		fprintf(stderr, "crated token create: no registry `%s` in the"
		    " configuration\n", ta->registry);
		return 1;
	}
	if (strlen(label) == 0 || strlen(label) > 64 || strspn(label,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "-_.@") != strlen(label)) {
		fprintf(stderr, "crated token create: --name is 1 to 64 letters,"
		    " digits and -_.@\n");
		return 2;
	}
	if (ta->days < 0) {
		fprintf(stderr, "crated token create: --expires takes days\n");
		return 2;
	}
	if (tokens_create(a->cfg->data_dir, label, ta->registry, sc,
	    ta->crates, ta->days, ta->same_owner, &secret, &id, &cause) != 0) {
		fprintf(stderr, "crated token create: %s\n", cause);
		free(cause);
		return 1;
	}
	fprintf(stderr, "token %s for `%s` on registry %s, scope %s%s%s%s;"
	    " shown once, only its hash is kept:\n", id, label, ta->registry,
	    ta->scope, ta->crates ? ", crates " : "", ta->crates ? ta->crates :
	    "", ta->days ? ", expiring" : "");
	printf("%s\n", secret);
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	free(id);
	return 0;
}

static int
token_list(struct args *a)
{
	struct tokens	 t;
	char		*cause = NULL;

	if (tokens_load(a->cfg->data_dir, &t, &cause) != 0) {
		fprintf(stderr, "crated token list: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("%-10s %-20s %-12s %-8s %-16s %-20s %s\n", "id", "name",
	    "registry", "scope", "crates", "created", "expires");
	for (size_t i = 0; i < t.n; i++) {
		char	c[32], e[32] = "never";

		strftime(c, sizeof c, "%Y-%m-%d %H:%M:%SZ",
		    gmtime(&t.v[i].created));
		if (t.v[i].expires != 0)
			strftime(e, sizeof e, "%Y-%m-%d %H:%M:%SZ",
			    gmtime(&t.v[i].expires));
		printf("%-10s %-20s %-12s %-8s %-16s %-20s %s\n", t.v[i].id,
		    t.v[i].label, t.v[i].registry, scope_name(t.v[i].scope),
		    t.v[i].crates ? t.v[i].crates : "*", c, e);
	}
	tokens_finish(&t);
	return 0;
}

int
token_main(int argc, char **argv)
{
	static const char		 usage[] = "crated token create"
	    " --registry NAME --scope read|publish|yank|admin [--crates GLOB]"
	    " [--expires DAYS] --name LABEL [--same-owner]\n"
	    "       crated token list\n"
	    "       crated token revoke ID|NAME\n(each also takes --config"
	    " FILE and --data-dir DIR)";
	static const struct option	 topts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "registry", required_argument, NULL, 'r' },
		{ "scope", required_argument, NULL, 's' },
		{ "crates", required_argument, NULL, 'g' },
		{ "expires", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "same-owner", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	struct token_args	 ta = { 0 };
	struct args		 a = { 0 };
	const char		*path = getenv("CRATED_CONFIG"), *dir = NULL;
	const char		*sub = argc > 1 ? argv[1] : "";
	char			*cause = NULL;
	size_t			 n;
	int			 ch, r = 2;

	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "c:d:r:s:g:e:n:", topts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'r':
			ta.registry = optarg;
			break;
		case 's':
			ta.scope = optarg;
			break;
		case 'g':
			ta.crates = optarg;
			break;
		case 'o':
			ta.same_owner = true;
			break;
		case 'e': {
			char	*end;
			long	 d = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || d < 1 ||
			    d > 36500) {
				fprintf(stderr, "crated token create: --expires"
				    " takes a number of days (1 to 36500)\n");
				return 2;
			}
			ta.days = (int)d;
			break;
		}
		case 'n':
			ta.label = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s\n", usage);
			return 2;
		}
	}
	if (config_load(path, &a.cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return 1;
	}
	if (dir != NULL)
		config_set_string(&a.cfg->data_dir, dir);
	if (strcmp(sub, "create") == 0 && optind == argc - 1)
		r = token_create(&a, &ta);
	else if (strcmp(sub, "list") == 0 && optind == argc - 1)
		r = token_list(&a);
	else if (strcmp(sub, "revoke") == 0 && optind == argc - 2) {
		const char	*which = argv[1 + optind];

		if (tokens_revoke(a.cfg->data_dir, which, &n, &cause) != 0) {
			fprintf(stderr, "crated token revoke: %s\n", cause);
			free(cause);
			r = 1;
		} else if (n == 0) {
			fprintf(stderr, "crated token revoke: no token with id"
			    " or name `%s`\n", which);
			r = 1;
		} else {
			printf("revoked %zu token%s\n", n, n == 1 ? "" : "s");
			r = 0;
		}
	} else
		fprintf(stderr, "usage: %s\n", usage);
	config_free(a.cfg);
	return r;
}

int
gc_main(int argc, char **argv)
{
	static const char	 usage[] = "crated gc [--config FILE]"
				    " [--data-dir DIR] [--registry NAME]";
	struct args		 a;
	char			*cause = NULL;
	int			 lock, r = 0;

	if (parse_args(argc, argv, &a, usage) != 0)
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
