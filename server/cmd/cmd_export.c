/* crated export: a data directory's registries into a bundle
 * (cache/bundle.h), under each registry's supply-chain policy: the
 * verdicts are recorded in the manifest and a mirror's denied crates are
 * left out. */
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
#include "index/name.h"
#include "server/cmd/storeio.h"
#include "server/core/config.h"
#include "server/policy/regpolicy.h"
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

/* The policies an export applies: every configured registry's, loaded
 * before anything is written (a snapshot or blocks file that does not
 * load stops the export: a bundle made without the policy would carry
 * what it denies). */
struct export_policy {
	const struct config	 *cfg;
	struct regpolicy_view	**views;	/* per cfg->regs, or NULL */
	const char		 *seen_reg;	/* whose record seen is */
	char			  seen_name[CRATE_NAME_MAX + 1];
	struct regpolicy_seen	 *seen;
	struct verdict_info	  vi;
	time_t			  now;
};

static struct regpolicy_view *
view_of(struct export_policy *ep, const char *reg)
{
	for (size_t i = 0; i < ep->cfg->nregs; i++)
		if (strcmp(ep->cfg->regs[i].name, reg) == 0)
			return ep->views[i];
	return NULL;
}

static void
policy_registry(const char *reg, struct bundle_policy_info *info, void *arg)
{
	struct regpolicy_view	*v = view_of(arg, reg);

	if (v == NULL)
		return;
	info->describe = regpolicy_describe(v);
	if (v->db != NULL) {
		info->advisory_id = advisory_db_id(v->db);
		info->advisory_date = advisory_db_date(v->db);
		info->advisory_count = advisory_db_count(v->db);
	}
}

static bool
policy_judge(const char *reg, const char *name, const char *line, size_t len,
    struct bundle_verdict *out, void *arg)
{
	struct export_policy	*ep = arg;
	struct regpolicy_view	*v = view_of(ep, reg);
	char			*root;

	if (v == NULL)
		return false;
	if (ep->seen_reg != reg || strcmp(ep->seen_name, name) != 0) {
		regpolicy_seen_free(ep->seen);
		root = xasprintf("%s/%s", ep->cfg->data_dir, reg);
		ep->seen = regpolicy_seen_read(root, name);
		free(root);
		ep->seen_reg = reg;
		snprintf(ep->seen_name, sizeof ep->seen_name, "%s", name);
	}
	if (regpolicy_line_verdict(v, ep->seen, name, line, len, ep->now,
	    &ep->vi) != 0 || ep->vi.verdict == VERDICT_ALLOW)
		return false;
	out->verdict = verdict_name(ep->vi.verdict);
	out->source = verdict_source_name(ep->vi.source);
	out->rule = ep->vi.rule;
	out->reason = ep->vi.reason;
	out->until = ep->vi.until;
	out->deny = ep->vi.verdict == VERDICT_DENY;
	return true;
}

/* 0, or -1 with *cause. */
static int
policy_load(struct export_policy *ep, const struct config *cfg, char **cause)
{
	ep->cfg = cfg;
	ep->now = time(NULL);
	ep->views = xcalloc(cfg->nregs + 1, sizeof *ep->views);
	for (size_t i = 0; i < cfg->nregs; i++)
		if (regpolicy_load(cfg, cfg->regs[i].name, &ep->views[i],
		    cause) != 0)
			return -1;
	return 0;
}

static void
policy_free(struct export_policy *ep)
{
	for (size_t i = 0; ep->views != NULL && i < ep->cfg->nregs; i++)
		regpolicy_unref(ep->views[i]);
	free(ep->views);
	regpolicy_seen_free(ep->seen);
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
	struct export_policy	 ep = { 0 };
	struct bundle_policy	 bp = { policy_registry, policy_judge, &ep };
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
	if ((r = policy_load(&ep, a.cfg, &cause)) == 0 &&
	    (r = stage_stores(&a, &stage, &cause)) == 0)
		r = bundle_export(stage ? stage : a.cfg->data_dir, a.registry ?
		    &a.registry : NULL, a.registry ? 1 : 0, since, argv[optind],
		    known, a.cfg->nregs + a.cfg->ntcs, &bp, &p, &st, &cause);
	storeio_remove(stage);
	free(stage);
	free(known);
	policy_free(&ep);
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
		    " %.1f MB in %.2f s%s; %zu crates denied by the policy left"
		    " out (the manifest's \"policy\" names them and every"
		    " verdict applied)\n", argv[optind], st.files, st.crates,
		    st.index_files, tcs, (double)st.bytes / 1e6,
		    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec -
		    t0.tv_nsec) / 1e9, since ? " (incremental)" : "",
		    st.left_out);
	config_free(a.cfg);
	return r != 0;
}
