/*
 * The supply-chain policy's commands (issue 28):
 *
 *   crated block NAME[@REQ] --reason TEXT [--registry R]
 *   crated unblock NAME[@REQ] [--registry R]
 *   crated policy explain NAME VERSION [--registry R]
 *   crated advisories import FILE|DIR
 *
 * block and unblock rewrite DATA_DIR/policy/blocks.json (server/policy/
 * blocks.h); import installs a checked snapshot as DATA_DIR/policy/
 * advisories.tar.gz. A running server watches that folder and applies
 * both at once, logging blocks and unblocks as audit lines. Without
 * --registry a block holds for every registry (a malicious crate is one
 * wherever it comes from), and an unblock removes the rule's blocks of
 * every registry. explain reads the data directory only, so it works
 * with the server running or not.
 */
#include "server/cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/xmalloc.h"
#include "index/semver.h"
#include "server/core/config.h"
#include "server/policy/blocks.h"
#include "server/policy/regpolicy.h"

#define ADVISORIES_MAX	((size_t)256 << 20)	/* an imported snapshot */

struct popts {
	struct config	*cfg;
	const char	*registry;
	const char	*reason;
	int		 argc;		/* the operands */
	char		**argv;
};

static const struct option	opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "data-dir", required_argument, NULL, 'd' },
	{ "registry", required_argument, NULL, 'r' },
	{ "reason", required_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 }
};

/* Options and operands (n of them); -1 after saying why. */
static int
parse(int argc, char **argv, int n, const char *usage, struct popts *p)
{
	const char	*path = getenv("CRATED_CONFIG"), *dir = NULL;
	char		*cause = NULL;
	int		 ch;

	memset(p, 0, sizeof *p);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:d:r:", opts, NULL)) != -1)
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'r':
			p->registry = optarg;
			break;
		case 'R':
			p->reason = optarg;
			break;
		default:
			goto usage;
		}
	if (argc - optind != n || (p->reason != NULL && strstr(usage,
	    "--reason") == NULL))
		goto usage;
	p->argc = argc - optind;
	p->argv = argv + optind;
	if (config_load(path, &p->cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return -1;
	}
	if (dir != NULL)
		config_set_string(&p->cfg->data_dir, dir);
	if (p->registry != NULL && config_registry(p->cfg, p->registry) ==
	    NULL) {
		fprintf(stderr, "crated: no registry \"%s\" in %s\n",
		    p->registry, p->cfg->path ? p->cfg->path :
		    "the built-in configuration");
		config_free(p->cfg);
		return -1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: %s\n", usage);
	return -1;
}

/* Who runs the command, for the audit line. */
static const char *
user(void)
{
	struct passwd	*pw = getpwuid(geteuid());

	return pw != NULL ? pw->pw_name : "unknown";
}

/* Whether a server holds the data directory's lock now. */
static bool
server_running(const char *data_dir)
{
	char	*p = xasprintf("%s/lock", data_dir);
	int	 fd = open(p, O_RDWR | O_CLOEXEC);
	bool	 held = false;

	free(p);
	if (fd == -1)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		held = errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static void
applies(const char *data_dir)
{
	printf("%s\n", server_running(data_dir) ? "the running crated applies"
	    " it now (it watches DATA_DIR/policy/)" : "no crated runs on this"
	    " data directory now: it applies at its start");
}

int
cmd_block(int argc, char **argv)
{
	const char	*usage = "crated block NAME[@REQ] --reason TEXT"
			    " [--registry R] [--config FILE] [--data-dir DIR]";
	struct popts	 p;
	char		*cause = NULL;
	const char	*reg;

	if (parse(argc, argv, 1, usage, &p) != 0)
		return 2;
	reg = p.registry ? p.registry : "*";
	if (blocks_add(p.cfg->data_dir, p.argv[0], reg, p.reason, user(),
	    time(NULL), &cause) != 0) {
		fprintf(stderr, "crated: block: %s; nothing changed\n", cause);
		free(cause);
		config_free(p.cfg);
		return 1;
	}
	printf("blocked %s in %s%s: %s\n", p.argv[0], p.registry ? "registry "
	    : "every registry", p.registry ? p.registry : "", p.reason);
	applies(p.cfg->data_dir);
	config_free(p.cfg);
	return 0;
}

int
cmd_unblock(int argc, char **argv)
{
	const char	*usage = "crated unblock NAME[@REQ] [--registry R]"
			    " [--config FILE] [--data-dir DIR]";
	struct popts	 p;
	char		*cause = NULL;

	if (parse(argc, argv, 1, usage, &p) != 0)
		return 2;
	if (blocks_remove(p.cfg->data_dir, p.argv[0], p.registry, user(),
	    time(NULL), &cause) != 0) {
		fprintf(stderr, "crated: unblock: %s; nothing changed\n",
		    cause);
		free(cause);
		config_free(p.cfg);
		return 1;
	}
	printf("unblocked %s in %s%s\n", p.argv[0], p.registry ? "registry "
	    : "every registry", p.registry ? p.registry : "");
	applies(p.cfg->data_dir);
	config_free(p.cfg);
	return 0;
}

/* ---- explain ---- */

static void
utc(time_t t, char *out, size_t size)
{
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "2 days 3 hours" (the two largest units). */
static void
span(long long s, char *out, size_t size)
{
	static const struct {
		long long	 n;
		const char	*unit;
	} units[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" },
		{ 1, "second" },
	};
	size_t	used = 0, parts = 0;

	out[0] = '\0';
	if (s < 0)
		s = -s;
	for (size_t i = 0; i < 4 && parts < 2; i++) {
		long long	q = s / units[i].n;

		if (q == 0 && !(i == 3 && parts == 0))
			continue;
		used += (size_t)snprintf(out + used, size - used, "%s%lld %s%s",
		    parts ? " " : "", q, units[i].unit, q == 1 ? "" : "s");
		s -= q * units[i].n;
		parts++;
		if (used >= size)
			break;
	}
}

static void
print_times(const struct verdict_info *vi, bool found, time_t now)
{
	char	when[32], ago[64];

	if (!found)
		printf("published:  unknown: the version is not in the cached"
		    " index file (rules and advisories only)\n");
	else if (vi->published == 0)
		printf("published:  no pubtime and no first-seen record: counts"
		    " as old\n");
	else {
		utc(vi->published, when, sizeof when);
		span(now - vi->published, ago, sizeof ago);
		printf("published:  %s (%s), %s %s\n", when,
		    vi->from_first_seen ? "when crated first saw it" :
		    "the index line's pubtime", ago, vi->published > now ?
		    "from now" : "ago");
	}
	if (vi->until != 0) {
		utc(vi->until, when, sizeof when);
		span(vi->until - now, ago, sizeof ago);
		printf("hold ends:  %s (in %s)\n", when, ago);
	}
}

/* Every advisory of the snapshot naming name@vers, counted or not. */
static void
print_advisories(const struct regpolicy_view *v, const char *name,
    const char *vers)
{
	const struct advisory	*adv[32];
	struct semver		 sv;
	size_t			 n;

	if (v->db == NULL || semver_parse(vers, &sv, NULL) != 0)
		return;
	n = advisory_db_match(v->db, name, &sv, adv, 32);
	for (size_t i = 0; i < n; i++) {
		const struct advisory	*a = adv[i];
		const char		*ignored = NULL;

		if (a->withdrawn && !v->settings.advisory_withdrawn)
			ignored = "withdrawn";
		else if (!a->malicious && a->informational &&
		    !v->settings.advisory_informational)
			ignored = "informational";
		printf("advisory:   %s (%s%s%s%s)%s%s%s%s\n", a->id,
		    advisory_kind(a), a->withdrawn ? ", withdrawn" : "",
		    a->date != NULL && a->date[0] != '\0' ? ", " : "",
		    a->date != NULL ? a->date : "", a->summary != NULL ?
		    ": " : "", a->summary != NULL ? a->summary : "",
		    ignored != NULL ? "; ignored: " : "", ignored != NULL ?
		    ignored : "");
	}
}

/* The explanation for one registry. */
static void
explain_one(const struct config *cfg, const struct registry_config *rc,
    const char *name, const char *vers, struct regpolicy_view *v)
{
	struct verdict_info	 vi;
	char			*root = xasprintf("%s/%s", cfg->data_dir,
				    rc->name);
	time_t			 now = time(NULL);
	int			 r;

	printf("registry:   %s (%s)\n", rc->name, rc->upstream ? "mirror" :
	    "hosted");
	printf("crate:      %s %s\n", name, vers);
	if (v == NULL) {
		printf("verdict:    allow\nsource:     none (no policy)\n\n");
		free(root);
		return;
	}
	r = regpolicy_verdict(v, root, name, vers, now, &vi);
	printf("verdict:    %s\n", verdict_name(vi.verdict));
	printf("source:     %s%s%s\n", verdict_source_name(vi.source),
	    vi.rule[0] ? ": " : "", vi.rule);
	if (vi.reason[0] != '\0')
		printf("reason:     %s\n", vi.reason);
	print_times(&vi, r == 0, now);
	print_advisories(v, name, vers);
	printf("policy:     %s\n", regpolicy_describe(v));
	if (v->db != NULL)
		printf("advisories: %s, %zu advisories (%s)\n",
		    advisory_db_id(v->db), advisory_db_count(v->db),
		    v->db_path);
	printf("\n");
	free(root);
}

int
cmd_policy(int argc, char **argv)
{
	const char	*usage = "crated policy explain NAME VERSION"
			    " [--registry R] [--config FILE] [--data-dir DIR]";
	struct popts	 p;
	struct semver	 sv;
	char		*cause = NULL;
	int		 status = 0;

	if (argc < 2 || strcmp(argv[1], "explain") != 0) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	if (parse(argc - 1, argv + 1, 2, usage, &p) != 0)
		return 2;
	if (semver_parse(p.argv[1], &sv, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		config_free(p.cfg);
		return 2;
	}
	for (size_t i = 0; i < p.cfg->nregs; i++) {
		const struct registry_config	*rc = &p.cfg->regs[i];
		struct regpolicy_view		*v = NULL;

		if (p.registry != NULL && strcmp(rc->name, p.registry) != 0)
			continue;
		if (regpolicy_load(p.cfg, rc->name, &v, &cause) != 0) {
			fprintf(stderr, "crated: registry %s: %s\n", rc->name,
			    cause);
			free(cause);
			cause = NULL;
			status = 1;
			continue;
		}
		explain_one(p.cfg, rc, p.argv[0], p.argv[1], v);
		regpolicy_unref(v);
	}
	config_free(p.cfg);
	return status;
}

/* ---- advisories import ---- */

/* Packs the directory dir into the open tar.gz a. 0, or -1 with *cause. */
static int
pack_dir(struct archive *a, const char *dir, char **cause)
{
	struct archive		*d = archive_read_disk_new();
	struct archive_entry	*e;
	char			 buf[65536];
	int			 r = 0, fd;
	la_ssize_t		 n;

	archive_read_disk_set_symlink_physical(d);
	if (archive_read_disk_open(d, dir) != ARCHIVE_OK)
		goto err;
	for (;;) {
		e = archive_entry_new();
		if ((r = archive_read_next_header2(d, e)) == ARCHIVE_EOF) {
			archive_entry_free(e);
			r = 0;
			break;
		}
		if (r != ARCHIVE_OK) {
			archive_entry_free(e);
			goto err;
		}
		archive_read_disk_descend(d);
		/* Names relative to dir ("crates/..."). */
		if (strncmp(archive_entry_pathname(e), dir, strlen(dir)) == 0) {
			const char	*rel = archive_entry_pathname(e) +
					    strlen(dir);
			char		*copy;

			while (*rel == '/')
				rel++;
			copy = xstrdup(*rel ? rel : ".");
			archive_entry_set_pathname(e, copy);
			free(copy);
		}
		if (archive_write_header(a, e) != ARCHIVE_OK) {
			archive_entry_free(e);
			*cause = xstrdup(archive_error_string(a));
			archive_read_free(d);
			return -1;
		}
		if (archive_entry_filetype(e) == AE_IFREG && (fd = open(
		    archive_entry_sourcepath(e), O_RDONLY | O_CLOEXEC)) != -1) {
			while ((n = read(fd, buf, sizeof buf)) > 0)
				archive_write_data(a, buf, (size_t)n);
			close(fd);
		}
		archive_entry_free(e);
	}
	archive_read_free(d);
	return 0;
err:
	*cause = xasprintf("%s: %s", dir, archive_error_string(d));
	archive_read_free(d);
	return -1;
}

/* Copies the .tar.gz src to the open fd. */
static int
copy_file(const char *src, int fd, char **cause)
{
	char	buf[65536];
	ssize_t	n;
	size_t	total = 0;
	int	in = open(src, O_RDONLY | O_CLOEXEC);

	if (in == -1) {
		*cause = xasprintf("%s: %s", src, strerror(errno));
		return -1;
	}
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if ((total += (size_t)n) > ADVISORIES_MAX || write(fd, buf,
		    (size_t)n) != n) {
			*cause = xasprintf("%s: %s", src, total >
			    ADVISORIES_MAX ? "larger than 256 MiB" :
			    strerror(errno));
			close(in);
			return -1;
		}
	}
	close(in);
	if (n < 0) {
		*cause = xasprintf("%s: %s", src, strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes src (a directory, packed, or a .tar.gz, copied) to tmp. */
static int
write_snapshot(const char *src, const char *tmp, char **cause)
{
	struct stat	 st;
	struct archive	*a;
	int		 fd, r;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    == -1) {
		*cause = xasprintf("%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (stat(src, &st) == 0 && S_ISDIR(st.st_mode)) {
		a = archive_write_new();
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
		if ((r = archive_write_open_fd(a, fd)) == ARCHIVE_OK)
			r = pack_dir(a, src, cause);
		else
			*cause = xstrdup(archive_error_string(a));
		if (archive_write_close(a) != ARCHIVE_OK && r == 0) {
			*cause = xstrdup(archive_error_string(a));
			r = -1;
		}
		archive_write_free(a);
	} else
		r = copy_file(src, fd, cause);
	if (r == 0 && fsync(fd) == -1) {
		*cause = xasprintf("%s: %s", tmp, strerror(errno));
		r = -1;
	}
	close(fd);
	return r == 0 ? 0 : -1;
}

/* Installs src as DATA_DIR/policy/advisories.tar.gz, atomically. */
static int
install(const char *data_dir, const char *src, char **cause)
{
	char	*dir = xasprintf("%s/policy", data_dir);
	char	*dst = regpolicy_installed_path(data_dir);
	char	*tmp = xasprintf("%s.tmp.%ld", dst, (long)getpid());
	int	 r = -1, fd;

	mkdir(data_dir, 0755);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		*cause = xasprintf("%s: %s", dir, strerror(errno));
	else if (write_snapshot(src, tmp, cause) == 0) {
		if (rename(tmp, dst) == -1)
			*cause = xasprintf("%s: %s", dst, strerror(errno));
		else
			r = 0;
	}
	if (r != 0)
		unlink(tmp);
	else if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(tmp);
	free(dst);
	free(dir);
	return r;
}

/* The registries that read the installed snapshot, as a list (new). */
static char *
readers(const struct config *cfg)
{
	char	*s = xstrdup(""), *t;

	for (size_t i = 0; i < cfg->nregs; i++) {
		if (cfg->regs[i].policy.advisory_db == NULL)
			continue;
		t = xasprintf("%s%s%s", s, *s ? ", " : "", cfg->regs[i].name);
		free(s);
		s = t;
	}
	return s;
}

int
cmd_advisories(int argc, char **argv)
{
	const char		*usage = "crated advisories import FILE.tar.gz|DIR"
				    " [--config FILE] [--data-dir DIR]";
	struct popts		 p;
	struct advisory_db	*db = NULL, *check = NULL;
	char			*cause = NULL, *who, *dst;
	int			 status = 1;

	if (argc < 2 || strcmp(argv[1], "import") != 0) {
		fprintf(stderr, "usage: %s\n", usage);
		return 2;
	}
	if (parse(argc - 1, argv + 1, 1, usage, &p) != 0)
		return 2;
	if (advisory_db_load(p.argv[0], &db, &cause) != 0) {
		fprintf(stderr, "crated: advisories import: %s; nothing"
		    " installed\n", cause);
		goto done;
	}
	if (install(p.cfg->data_dir, p.argv[0], &cause) != 0) {
		fprintf(stderr, "crated: advisories import: %s; nothing"
		    " installed\n", cause);
		goto done;
	}
	/* What was installed reads as what was checked. */
	dst = regpolicy_installed_path(p.cfg->data_dir);
	if (advisory_db_load(dst, &check, &cause) != 0 ||
	    advisory_db_count(check) != advisory_db_count(db)) {
		fprintf(stderr, "crated: advisories import: %s: %s\n", dst,
		    cause ? cause : "does not read as the snapshot given");
		unlink(dst);
		free(dst);
		goto done;
	}
	printf("installed %s as %s: %s, %zu advisories, the newest of %s\n",
	    p.argv[0], dst, advisory_db_id(db), advisory_db_count(db),
	    advisory_db_date(db));
	free(dst);
	who = readers(p.cfg);
	if (*who == '\0')
		printf("no registry sets advisory_db: none reads it until one"
		    " does\n");
	else
		printf("read by: %s (instead of their advisory_db)\n", who);
	free(who);
	applies(p.cfg->data_dir);
	status = 0;
done:
	free(cause);
	advisory_db_free(db);
	advisory_db_free(check);
	config_free(p.cfg);
	return status;
}
