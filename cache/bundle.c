#include "cache/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "cache/bundle_tc.h"
#include "cache/store.h"
#include "cache/usage.h"
#include "common/mkdirs.h"
#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/regconfig.h"
#include "index/semver.h"

#define MANIFEST	"crated-bundle.json"
#define ENTRY_MAX	(1ull << 30)
#define MANIFEST_MAX	((size_t)256 << 20)
#define FORMAT		1
/* A first-seen record (server/policy/seen.h): at most this many versions,
 * each seen after 2000-01-01 and at most a day ahead of this clock. */
#define SEEN_MAX	4096
#define SEEN_EPOCH	946684800
#define SEEN_AHEAD	86400

static int
read_all(const char *path, char **buf, size_t *len, struct stat *st)
{
	int	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t	got = 0;

	if (fd == -1)
		return -errno;
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) ||
	    (unsigned long long)st->st_size > ENTRY_MAX) {
		close(fd);
		return -EINVAL;
	}
	*buf = xmalloc((size_t)st->st_size + 1);
	while (got < (size_t)st->st_size) {
		ssize_t	n = read(fd, *buf + got, (size_t)st->st_size - got);

		if (n <= 0) {
			close(fd);
			free(*buf);
			return n == 0 ? -EIO : -errno;
		}
		got += (size_t)n;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

/* Export. */

struct exporter {
	struct archive			*a;
	json_t				*files;
	time_t				 since;
	const struct bundle_progress	*progress;
	struct bundle_stats		*stats;
	char				*cause;
	/* The policy (issue 28): what it says of the registry being
	 * exported. */
	const struct bundle_policy	*policy;
	const char			*reg;
	bool				 leave_out;	/* a mirror's denied
							   crates */
	json_t				*verdicts;	/* of the files kept */
	json_t				*denied;	/* crate rel -> "N V" */
	json_t				*left_out;
	bool				 toolchain;	/* adding one's */
};

struct judging {
	struct exporter	*x;
	const char	*name;
	bool		 kept;		/* the file goes in the bundle */
};

/* One line of an index file judged: a verdict recorded, a denied crate
 * noted. */
static int
judge_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct judging		*jg = arg;
	struct exporter		*x = jg->x;
	struct bundle_verdict	 v;
	json_t			*o;
	char			 rel[STORE_PATH_MAX];

	memset(&v, 0, sizeof v);
	if (e == NULL || !x->policy->judge(x->reg, jg->name, line, len, &v,
	    x->policy->arg))
		return 0;
	if (jg->kept) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", e->name,
		    "vers", e->vers, "verdict", v.verdict ? v.verdict : "",
		    "source", v.source ? v.source : "", "rule", v.rule ?
		    v.rule : "", "reason", v.reason ? v.reason : "");
		if (v.until > 0)
			json_object_set_new(o, "until", json_integer(
			    (json_int_t)v.until));
		json_array_append_new(x->verdicts, o);
	}
	if (v.deny && x->leave_out) {
		store_crate_rel(e->name, e->vers, rel);
		json_object_set_new(x->denied, rel, json_sprintf("%s %s",
		    e->name, e->vers));
	}
	return 0;
}

/* rel: REG/index/PATH or REG/crates/...; the part after REG/. */
static const char *
in_registry(const struct exporter *x, const char *rel, const char *part)
{
	size_t	n = strlen(x->reg), p = strlen(part);

	if (strncmp(rel, x->reg, n) != 0 || rel[n] != '/' ||
	    strncmp(rel + n + 1, part, p) != 0)
		return NULL;
	return rel + n + 1;
}

/* Before a file goes in: an index file's lines judged (whether it goes
 * in or not: its crates might); false for a denied crate, left out. */
static bool
apply_policy(struct exporter *x, const char *full, const char *rel,
    bool kept)
{
	const char	*sub;
	char		 name[CRATE_NAME_MAX + 1], *buf;
	size_t		 len;
	struct stat	 sb;
	json_t		*who;

	if (x->policy == NULL || x->policy->judge == NULL || x->toolchain)
		return true;
	if ((sub = in_registry(x, rel, "index/")) != NULL) {
		struct judging	jg = { x, name, kept };

		if (crate_name_from_index_path(sub + 6, name) == 0 &&
		    read_all(full, &buf, &len, &sb) == 0) {
			index_file_foreach(buf, len, judge_line, &jg);
			free(buf);
		}
		return true;
	}
	if ((sub = in_registry(x, rel, "crates/")) == NULL ||
	    (who = json_object_get(x->denied, sub)) == NULL)
		return true;
	json_array_append(x->left_out, who);
	x->stats->left_out++;
	return false;
}


/* Copies fd (len bytes) into the archive's current entry, hashing it. */
static int
copy_in(struct exporter *x, int fd, size_t len, const char *rel, char *hex)
{
	EVP_MD_CTX		*c = EVP_MD_CTX_new();
	unsigned char		 md[EVP_MAX_MD_SIZE];
	char			*buf = xmalloc(65536);
	unsigned int		 n;
	size_t			 done = 0;
	int			 r = 0;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while (r == 0 && done < len) {
		ssize_t	got = read(fd, buf, len - done < 65536 ? len - done :
			    65536);

		if (got <= 0) {
			x->cause = xasprintf("reading %s: %s", rel, got == 0 ?
			    "it shrank" : strerror(errno));
			r = -1;
		} else if (archive_write_data(x->a, buf, (size_t)got) != got) {
			x->cause = xasprintf("writing %s: %s", rel,
			    archive_error_string(x->a));
			r = -1;
		} else {
			EVP_DigestUpdate(c, buf, (size_t)got);
			done += (size_t)got;
		}
	}
	EVP_DigestFinal_ex(c, md, &n);
	EVP_MD_CTX_free(c);
	free(buf);
	hex_lower(md, 32, hex);
	return r;
}

/* One file into the archive, read as it goes (a toolchain's tarball is
 * 100 MB), its SHA-256 into the manifest. */
static int
add_file(struct exporter *x, const char *full, const char *rel)
{
	struct archive_entry	*e;
	struct stat		 st;
	char			 hex[65];
	size_t			 len;
	int			 fd, r;

	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (unsigned long long)st.st_size > ENTRY_MAX) {
		x->cause = xasprintf("%s: %s", full, fd == -1 ?
		    strerror(errno) : "not a regular file of at most 1 GiB");
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!apply_policy(x, full, rel, x->since == 0 || st.st_mtime >=
	    x->since) || (x->since > 0 && st.st_mtime < x->since)) {
		close(fd);
		return 0;
	}
	len = (size_t)st.st_size;
	e = archive_entry_new();
	archive_entry_set_pathname(e, rel);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, st.st_mtime, 0);
	if (archive_write_header(x->a, e) != ARCHIVE_OK) {
		x->cause = xasprintf("writing %s: %s", rel,
		    archive_error_string(x->a));
		r = -1;
	} else
		r = copy_in(x, fd, len, rel, hex);
	archive_entry_free(e);
	close(fd);
	if (r != 0)
		return -1;
	json_array_append_new(x->files, json_pack("{s:s, s:I, s:s, s:I}",
	    "path", rel, "size", (json_int_t)len, "sha256", hex, "mtime",
	    (json_int_t)st.st_mtime));
	x->stats->files++;
	x->stats->bytes += len;
	if (strstr(rel, "/crates/") != NULL)
		x->stats->crates++;
	else if (strstr(rel, "/index/") != NULL)
		x->stats->index_files++;
	else if (x->toolchain)
		x->stats->toolchain_files++;
	if (x->progress != NULL && x->progress->fn != NULL)
		x->progress->fn("export", x->stats->files, 0, x->stats->bytes,
		    x->progress->arg);
	return 0;
}

static int
add_tree(struct exporter *x, const char *full, const char *rel, int depth)
{
	DIR		*d;
	struct dirent	*de;
	int		 r = 0;

	if (depth > 8 || (d = opendir(full)) == NULL)
		return 0;
	while (r == 0 && (de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*f, *rl;

		if (de->d_name[0] == '.')
			continue;
		f = xasprintf("%s/%s", full, de->d_name);
		rl = xasprintf("%s/%s", rel, de->d_name);
		if (lstat(f, &st) == 0 && S_ISDIR(st.st_mode))
			r = add_tree(x, f, rl, depth + 1);
		else if (S_ISREG(st.st_mode))
			r = add_file(x, f, rl);
		free(f);
		free(rl);
	}
	closedir(d);
	return r;
}

static bool
registry_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n <= 64 && s[0] != '-' && s[0] != '_' && s[0] != '.' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* {"NAME": {"upstream": URL} or {"hosted": true}} for the registries
 * exported that the configuration knows (toolchain: its toolchain
 * mirrors, {"NAME": {"upstream": URL}}). */
static json_t *
kinds(char **names, size_t n, const struct bundle_registry *known,
    size_t nknown, bool toolchain)
{
	json_t	*o = json_object();

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < nknown; k++) {
			if (strcmp(known[k].name, names[i]) != 0 ||
			    known[k].toolchain != toolchain)
				continue;
			json_object_set_new(o, names[i], known[k].upstream ?
			    json_pack("{s:s}", "upstream", known[k].upstream) :
			    json_pack("{s:b}", "hosted", 1));
			break;
		}
	return o;
}

/* The registries to export: regs, or every folder of data_dir with an
 * index/ (all new). -1 when data_dir cannot be read. */
static int
registry_names(const char *data_dir, const char *const *regs, size_t nregs,
    char ***out, size_t *nout, char **cause)
{
	char		**names = NULL;
	size_t		 n = 0;
	DIR		*d;
	struct dirent	*de;

	if (nregs == 0) {
		if ((d = opendir(data_dir)) == NULL) {
			*cause = xasprintf("%s: %s", data_dir, strerror(errno));
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			struct stat	 st;
			char		*p = xasprintf("%s/%s/index", data_dir,
					    de->d_name);
			char		*q = xasprintf("%s/%s/snapshots",
					    data_dir, de->d_name);

			if (registry_name_ok(de->d_name) && ((stat(p, &st) ==
			    0 && S_ISDIR(st.st_mode)) || (stat(q, &st) == 0 &&
			    S_ISDIR(st.st_mode)))) {
				names = xreallocarray(names, n + 1,
				    sizeof *names);
				names[n++] = xstrdup(de->d_name);
			}
			free(p);
			free(q);
		}
		closedir(d);
	} else {
		for (size_t i = 0; i < nregs; i++) {
			names = xreallocarray(names, n + 1, sizeof *names);
			names[n++] = xstrdup(regs[i]);
		}
	}
	*out = names;
	*nout = n;
	return 0;
}

/* One registry's index/, crates/, meta/, seen/ and upstream-config.json
 * (index/ first, so that its verdicts are known before crates/); or a
 * toolchain mirror's dist/, rustup/ and snapshots/. */
static int
add_registry(struct exporter *x, const char *data_dir, const char *name)
{
	static const char	*parts[] = { "index", "crates", "meta", "seen" };
	static const char	*tparts[] = { "dist", "rustup", "snapshots" };
	char			*root = xasprintf("%s/%s", data_dir, name), *p,
				    *rel;
	struct stat		 st;
	int			 r = 0;

	if (!registry_name_ok(name) || stat(root, &st) != 0) {
		x->cause = xasprintf("no registry `%s` in %s", name, data_dir);
		r = -1;
	}
	p = xasprintf("%s/snapshots", root);
	x->toolchain = r == 0 && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	for (size_t k = 0; r == 0 && x->toolchain && k < 3; k++) {
		p = xasprintf("%s/%s", root, tparts[k]);
		rel = xasprintf("%s/%s", name, tparts[k]);
		r = add_tree(x, p, rel, 0);
		free(p);
		free(rel);
	}
	for (size_t k = 0; r == 0 && !x->toolchain && k < 4; k++) {
		p = xasprintf("%s/%s", root, parts[k]);
		rel = xasprintf("%s/%s", name, parts[k]);
		r = add_tree(x, p, rel, 0);
		free(p);
		free(rel);
	}
	p = xasprintf("%s/upstream-config.json", root);
	rel = xasprintf("%s/upstream-config.json", name);
	if (r == 0 && access(p, F_OK) == 0)
		r = add_file(x, p, rel);
	free(p);
	free(rel);
	free(root);
	return r;
}

/* The manifest, last in the archive, which it closes. tmp: the archive's
 * file, for messages. */
static int
add_manifest(struct exporter *x, const char *tmp, char **names, size_t n,
    const struct bundle_registry *known, size_t nknown, json_t *policy)
{
	struct archive_entry	*e = archive_entry_new();
	json_t			*m = json_pack("{s:i, s:I, s:I, s:o, s:o, s:o}",
				    "format", FORMAT, "created",
				    (json_int_t)time(NULL), "since",
				    (json_int_t)x->since, "registries",
				    kinds(names, n, known, nknown, false),
				    "toolchains", kinds(names, n, known,
				    nknown, true), "files",
				    json_incref(x->files));
	char			*manifest;
	int			 r = 0;

	if (policy != NULL)
		json_object_set(m, "policy", policy);
	manifest = json_dumps(m, JSON_INDENT(1));
	json_decref(m);
	archive_entry_set_pathname(e, MANIFEST);
	archive_entry_set_size(e, (la_int64_t)strlen(manifest));
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, time(NULL), 0);
	if (archive_write_header(x->a, e) != ARCHIVE_OK ||
	    archive_write_data(x->a, manifest, strlen(manifest)) < 0 ||
	    archive_write_close(x->a) != ARCHIVE_OK) {
		x->cause = xasprintf("%s: %s", tmp,
		    archive_error_string(x->a));
		r = -1;
	}
	archive_entry_free(e);
	free(manifest);
	return r;
}

/* What the policy of registry reg came to, for the manifest; the
 * exporter's per-registry records are handed over. */
static json_t *
registry_policy(struct exporter *x, const char *reg, json_t **advisories)
{
	struct bundle_policy_info	 info = { 0 };
	json_t				*o, *adv = json_null();

	if (x->policy->registry != NULL)
		x->policy->registry(reg, &info, x->policy->arg);
	if (info.advisory_id != NULL) {
		adv = json_pack("{s:s, s:s, s:I}", "id", info.advisory_id,
		    "date", info.advisory_date ? info.advisory_date : "",
		    "count", (json_int_t)info.advisory_count);
		if (*advisories == NULL)
			*advisories = json_incref(adv);
	}
	o = json_pack("{s:o, s:o, s:o, s:o}", "policy", info.describe ?
	    json_string(info.describe) : json_null(), "advisories", adv,
	    "verdicts", x->verdicts, "left_out", x->left_out);
	x->verdicts = x->left_out = NULL;
	return o;
}

/* Exports each registry, with the policy's records when there is one:
 * the manifest's "policy" (new), or NULL without a policy. */
static int
add_registries(struct exporter *x, const char *data_dir, char **names,
    size_t n, const struct bundle_registry *known, size_t nknown,
    json_t **policy)
{
	json_t	*regs = json_object(), *advisories = NULL;
	int	 r = 0;

	for (size_t i = 0; r == 0 && i < n; i++) {
		x->reg = names[i];
		x->leave_out = false;
		for (size_t k = 0; k < nknown; k++)
			if (strcmp(known[k].name, names[i]) == 0)
				x->leave_out = known[k].upstream != NULL;
		x->verdicts = json_array();
		x->left_out = json_array();
		x->denied = json_object();
		r = add_registry(x, data_dir, names[i]);
		if (x->policy != NULL && !x->toolchain)
			json_object_set_new(regs, names[i], registry_policy(x,
			    names[i], &advisories));
		json_decref(x->verdicts);
		json_decref(x->left_out);
		json_decref(x->denied);
		x->verdicts = x->left_out = x->denied = NULL;
	}
	*policy = x->policy == NULL ? NULL : json_pack("{s:o, s:o}",
	    "advisories", advisories ? advisories : json_null(),
	    "registries", json_incref(regs));
	json_decref(regs);
	return r;
}

/* The finished archive tmp on disk, then under its name. */
static int
publish_bundle(const char *tmp, const char *file, char **cause)
{
	int	fd = open(tmp, O_RDONLY | O_CLOEXEC), r = 0;

	if (fd == -1 || fsync(fd) == -1 || rename(tmp, file) == -1) {
		*cause = xasprintf("%s: %s", file, strerror(errno));
		r = -1;
	}
	if (fd != -1)
		close(fd);
	return r;
}

int
bundle_export(const char *data_dir, const char *const *regs, size_t nregs,
    time_t since, const char *file, const struct bundle_registry *known,
    size_t nknown, const struct bundle_policy *policy,
    const struct bundle_progress *progress, struct bundle_stats *stats,
    char **cause)
{
	struct exporter	 x = { .since = since, .progress = progress,
			    .stats = stats, .policy = policy };
	json_t		*pol = NULL;
	char		**names = NULL, *tmp;
	size_t		 n = 0;
	int		 r = 0;

	memset(stats, 0, sizeof *stats);
	if (registry_names(data_dir, regs, nregs, &names, &n, cause) != 0)
		return -1;
	tmp = xasprintf("%s.tmp", file);
	x.a = archive_write_new();
	x.files = json_array();
	if (archive_write_add_filter_gzip(x.a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(x.a) != ARCHIVE_OK ||
	    archive_write_open_filename(x.a, tmp) != ARCHIVE_OK) {
		x.cause = xasprintf("%s: %s", tmp, archive_error_string(x.a));
		r = -1;
	}
	if (r == 0)
		r = add_registries(&x, data_dir, names, n, known, nknown, &pol);
	if (r == 0)
		r = add_manifest(&x, tmp, names, n, known, nknown, pol);
	json_decref(pol);
	archive_write_free(x.a);
	json_decref(x.files);
	if (r == 0)
		r = publish_bundle(tmp, file, &x.cause);
	if (r != 0) {
		unlink(tmp);
		*cause = x.cause;
	}
	free(tmp);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/* Import. */

/* What a bundle path names; -1 when it is not one of the store's. */
enum part {
	P_MANIFEST,
	P_INDEX,
	P_CRATE,
	P_META,
	P_UPCONFIG,
	P_SEEN,		/* first-seen times (the policy's, issue 28) */
	P_TOOLCHAIN,	/* a toolchain mirror's (cache/bundle_tc.h) */
};

static int
classify(const char *path, char *reg, char *name, char *vers)
{
	const char	*slash, *rest;
	char		 lname[CRATE_NAME_MAX + 1], file[CRATE_NAME_MAX +
			     VERSION_MAX + 16];
	size_t		 n;
	struct semver	 v;
	bool		 snapshot;

	if (strcmp(path, MANIFEST) == 0)
		return P_MANIFEST;
	if ((slash = strchr(path, '/')) == NULL || slash == path ||
	    (size_t)(slash - path) > 64)
		return -1;
	snprintf(reg, 65, "%.*s", (int)(slash - path), path);
	if (!registry_name_ok(reg))
		return -1;
	rest = slash + 1;
	if (strcmp(rest, "upstream-config.json") == 0)
		return P_UPCONFIG;
	if (bundle_tc_path(rest, &snapshot))
		return P_TOOLCHAIN;
	if (strncmp(rest, "index/", 6) == 0)
		return crate_name_from_index_path(rest + 6, name) == 0 ?
		    P_INDEX : -1;
	if (strncmp(rest, "meta/", 5) == 0)
		return crate_name_from_index_path(rest + 5, name) == 0 ?
		    P_META : -1;
	if (strncmp(rest, "seen/", 5) == 0)
		return crate_name_from_index_path(rest + 5, name) == 0 ?
		    P_SEEN : -1;
	if (strncmp(rest, "crates/", 7) != 0)
		return -1;
	rest += 7;
	if ((slash = strchr(rest, '/')) == NULL || (n = (size_t)(slash -
	    rest)) == 0 || n > CRATE_NAME_MAX)
		return -1;
	memcpy(lname, rest, n);
	lname[n] = '\0';
	if (crate_name_check(lname, NULL) != 0 || strspn(lname,
	    "abcdefghijklmnopqrstuvwxyz0123456789-_") != n)
		return -1;
	rest = slash + 1;
	if (strlen(rest) >= sizeof file || strncmp(rest, lname, n) != 0 ||
	    rest[n] != '-')
		return -1;
	snprintf(file, sizeof file, "%s", rest + n + 1);
	if (strlen(file) < 7 || strcmp(file + strlen(file) - 6, ".crate") != 0)
		return -1;
	file[strlen(file) - 6] = '\0';
	if (strlen(file) > VERSION_MAX || semver_parse(file, &v, NULL) != 0)
		return -1;
	strcpy(name, lname);
	strcpy(vers, file);
	return P_CRATE;
}

static void
remove_tree(const char *path)
{
	DIR		*d = opendir(path);
	struct dirent	*de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char	*p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") ==
		    0)
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		remove_tree(p);
		free(p);
	}
	closedir(d);
	rmdir(path);
}

/* The cksum the index file of name under root/reg gives vers. */
static bool
index_cksum(const char *root, const char *reg, const char *name,
    const char *vers, char *out)
{
	char		 path[INDEX_PATH_MAX], *p, *buf;
	struct stat	 st;
	size_t		 len;
	bool		 found = false;

	crate_index_path(name, path);
	p = xasprintf("%s/%s/index/%s", root, reg, path);
	if (read_all(p, &buf, &len, &st) == 0) {
		found = index_file_cksum(buf, len, vers, out);
		free(buf);
	}
	free(p);
	return found;
}

/* Whether a bundle's crate, of SHA-256 hex, is the one the index names:
 * the bundle's index line if it has one, else the data directory's, and
 * never against a line the data directory already has (a version is
 * immutable: the merge keeps that line). */
static bool
crate_matches(const char *staging, const char *data_dir, const char *reg,
    const char *name, const char *vers, const char *hex)
{
	char	ck[65];
	bool	in_bundle, in_data;

	in_bundle = index_cksum(staging, reg, name, vers, ck);
	if (in_bundle && strcmp(ck, hex) != 0)
		return false;
	in_data = index_cksum(data_dir, reg, name, vers, ck);
	if (in_data && strcmp(ck, hex) != 0)
		return false;
	return in_bundle || in_data;
}

/* A mirror remembers an upstream 404 as metadata with "negative": true;
 * an index file that arrives by import makes that wrong. */
static void
forget_negative(struct store *s, const char *index_rel)
{
	char	*meta = xasprintf("meta/%s", index_rel + strlen("index/"));
	char	*buf;
	size_t	 len;
	struct stat st;

	if (store_read(s, meta, &buf, &len, &st, 4096) == 0) {
		if (strstr(buf, "\"negative\":true") != NULL)
			store_unlink(s, meta);
		free(buf);
	}
	free(meta);
}

/* Feeds one read of the file to the inflater: 0, 1 at the end of the
 * stream, -1 with *cause. */
static int
inflate_some(z_stream *z, const char *file, char **cause)
{
	unsigned char	out[65536];
	int		zr;

	for (;;) {
		z->next_out = out;
		z->avail_out = sizeof out;
		zr = inflate(z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			return 1;
		if (zr == Z_BUF_ERROR && z->avail_in == 0)
			return 0;		/* wants more input */
		if (zr != Z_OK) {
			*cause = xasprintf("%s is truncated or corrupt: %s",
			    file, z->msg ? z->msg : "bad gzip data");
			return -1;
		}
		if (z->avail_in == 0 && z->avail_out != 0)
			return 0;
	}
}

/* Reads the whole file as exactly one gzip stream, so a damaged trailer
 * (CRC, length) is caught even where the tar reader stops early, and so
 * are a file that is not gzip at all (a plain tar named .tar.gz, which
 * the tar reader would take) and bytes after the stream's end (which no
 * check would cover). */
static int
gzip_ok(const char *file, char **cause)
{
	FILE			*f = fopen(file, "rb");
	z_stream		 z;
	unsigned char		 in[65536];
	size_t			 n;
	unsigned long long	 after = 0;
	int			 r = 0;
	bool			 first = true;

	*cause = NULL;
	if (f == NULL) {
		*cause = xasprintf("%s: %s", file, strerror(errno));
		return -1;
	}
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		fclose(f);
		*cause = xasprintf("%s: zlib: out of memory", file);
		return -1;
	}
	while (r == 0 && (n = fread(in, 1, sizeof in, f)) > 0) {
		if (first && (n < 2 || in[0] != 0x1f || in[1] != 0x8b)) {
			*cause = xasprintf("%s is not gzip-compressed (a bundle"
			    " is a .tar.gz written by `crated export`)", file);
			r = -1;
			break;
		}
		first = false;
		z.next_in = in;
		z.avail_in = (uInt)n;
		r = inflate_some(&z, file, cause);
	}
	if (r == 0 && first)
		*cause = xasprintf("%s is empty, not a bundle", file);
	else if (r == 0 && !ferror(f))
		*cause = xasprintf("%s is truncated or corrupt: the gzip"
		    " stream ends early", file);
	else if (r == 1) {
		after = z.avail_in;
		while ((n = fread(in, 1, sizeof in, f)) > 0)
			after += n;
		if (after > 0)
			*cause = xasprintf("%s has %llu bytes after the end of"
			    " its gzip stream (a bundle is exactly one)", file,
			    after);
	}
	if (r >= 0 && ferror(f)) {
		free(*cause);
		*cause = xasprintf("%s: %s", file, strerror(errno));
		r = 0;
	}
	inflateEnd(&z);
	fclose(f);
	return r == 1 && after == 0 ? 0 : -1;
}

struct staged {
	char	*path;		/* relative */
	int	 part;
	bool	 written;
	size_t	 size;
	char	 hex[65];	/* its SHA-256, hashed as it was unpacked */
	char	 reg[65];
	char	 name[CRATE_NAME_MAX + 1];
	char	 vers[VERSION_MAX + 1];
};

static void
warn(const struct bundle_import_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
warn(const struct bundle_import_opts *o, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (o == NULL || o->warn == NULL)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	o->warn(msg, o->arg);
	free(msg);
}

/* The .crate of an index line of a hosted registry being restored: in
 * the bundle (staged) or already in the data directory, matching. */
struct crate_check {
	const char	*staging, *data_dir, *reg, *path;
	char		*err;
};

static int
line_crate(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct crate_check	*c = arg;
	const char		*roots[2] = { c->staging, c->data_dir };
	char			 rel[STORE_PATH_MAX], hex[65], *p, *buf;
	struct stat		 sb;
	size_t			 blen;
	int			 r = -ENOENT;

	if (e == NULL)
		return 0;
	store_crate_rel(e->name, e->vers, rel);
	for (int i = 0; i < 2 && r != 0; i++) {
		p = xasprintf("%s/%s/%s", roots[i], c->reg, rel);
		r = read_all(p, &buf, &blen, &sb);
		free(p);
	}
	if (r != 0) {
		c->err = xasprintf("%s names %s %s, whose .crate (%s/%s) is"
		    " neither in the bundle nor in the data directory",
		    c->path, e->name, e->vers, c->reg, rel);
		return 1;
	}
	sha256_hex(buf, blen, hex);
	free(buf);
	if (strcmp(hex, e->cksum) != 0) {
		c->err = xasprintf("%s names %s %s with cksum %s, but its"
		    " .crate's SHA-256 is %s", c->path, e->name, e->vers,
		    e->cksum, hex);
		return 1;
	}
	return 0;
}

/* A hosted registry's files: refused, or (allow_hosted) every index line
 * backed by its .crate. */
static int
check_hosted(const char *file, const char *staging, const char *data_dir,
    const struct staged *st, size_t n, const char *reg,
    const struct bundle_import_opts *o, char **err)
{
	for (size_t i = 0; i < n; i++) {
		struct crate_check	 c = { staging, data_dir, reg,
					    st[i].path, NULL };
		struct stat		 sb;
		char			*p, *buf;
		size_t			 len;

		if (strcmp(st[i].reg, reg) != 0)
			continue;
		if (!o->allow_hosted) {
			*err = xasprintf("%s holds files for `%s` (e.g. %s),"
			    " a hosted registry here: its index is what its"
			    " publishers wrote, not a cache; import into it"
			    " only to restore its own export, with"
			    " --allow-hosted", file, reg, st[i].path);
			return -1;
		}
		if (st[i].part != P_INDEX)
			continue;
		p = xasprintf("%s/%s", staging, st[i].path);
		if (read_all(p, &buf, &len, &sb) != 0) {
			*err = xasprintf("staging %s: unreadable", st[i].path);
			free(p);
			return -1;
		}
		free(p);
		index_file_foreach(buf, len, line_crate, &c);
		free(buf);
		if (c.err != NULL) {
			*err = xasprintf("%s: hosted registry `%s`: %s", file,
			    reg, c.err);
			free(c.err);
			return -1;
		}
	}
	return 0;
}

/* A mirror's files from a bundle of a mirror of the same upstream. */
static int
check_upstream(const char *file, const char *reg, const char *upstream,
    json_t *kind, const struct bundle_import_opts *o, char **err)
{
	const char	*theirs = json_string_value(json_object_get(kind,
			    "upstream"));
	char		*a, *b;
	int		 r = 0;

	if (kind == NULL) {
		warn(o, "%s does not record which upstream its `%s` mirrored"
		    " (an older crated wrote it): its files are taken as from"
		    " %s, this registry's upstream", file, reg, upstream);
		return 0;
	}
	a = regconfig_index_url(upstream);
	b = theirs ? regconfig_index_url(theirs) : NULL;
	if (b == NULL || strcmp(a, b) != 0) {
		char	*what = theirs ? xasprintf("a mirror of %s", theirs) :
			    xstrdup("a hosted registry");

		if (o->allow_other_upstream)
			warn(o, "%s: registry `%s` mirrors %s here, but the"
			    " bundle's `%s` was %s: imported anyway"
			    " (--allow-other-upstream)", file, reg, upstream,
			    reg, what);
		else {
			*err = xasprintf("registry `%s` mirrors %s here, but"
			    " the bundle's `%s` was %s: its crates would be"
			    " served as %s's; import it into a registry of"
			    " that upstream, or give --allow-other-upstream",
			    reg, upstream, reg, what, upstream);
			r = -1;
		}
		free(what);
	}
	free(a);
	free(b);
	return r;
}

/* The upstream URL without trailing '/' (new). */
static char *
trimmed(const char *url)
{
	size_t	n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	return xstrndup(url, n);
}

/* A toolchain mirror's files (st[i] and the others of its name): all
 * of a toolchain mirror, one here (c) of the same upstream. */
static int
check_toolchain(const char *file, const struct staged *st, size_t n,
    size_t i, const struct bundle_registry *c, json_t *manifest,
    const struct bundle_import_opts *o, char **err)
{
	const char	*theirs = json_string_value(json_object_get(
			    json_object_get(json_object_get(manifest,
			    "toolchains"), st[i].reg), "upstream"));
	char		*a, *b;
	int		 r = 0;

	if (c == NULL) {
		warn(o, "toolchain mirror `%s` is not in the configuration: its"
		    " files are imported, but which upstream it mirrors is not"
		    " checked", st[i].reg);
		return 0;
	}
	if (!c->toolchain) {
		*err = xasprintf("%s holds toolchain files for `%s`, a registry"
		    " here (e.g. %s)", file, st[i].reg, st[i].path);
		return -1;
	}
	if (theirs == NULL)
		return 0;
	a = trimmed(c->upstream);
	b = trimmed(theirs);
	if (strcmp(a, b) != 0 && o->allow_other_upstream)
		warn(o, "%s: toolchain mirror `%s` mirrors %s here, but the"
		    " bundle's was of %s: imported anyway"
		    " (--allow-other-upstream)", file, st[i].reg, a, b);
	else if (strcmp(a, b) != 0) {
		*err = xasprintf("toolchain mirror `%s` mirrors %s here, but the"
		    " bundle's `%s` was of %s; import it into a mirror of that"
		    " upstream, or give --allow-other-upstream", st[i].reg, a,
		    st[i].reg, b);
		r = -1;
	}
	free(a);
	free(b);
	return r;
}

/* Whether the files of st[i]'s name are of one kind (a toolchain
 * mirror's, or a registry's) and what the configuration calls it. */
static int
check_kind(const char *file, const struct staged *st, size_t n, size_t i,
    const struct bundle_registry *c, json_t *manifest,
    const struct bundle_import_opts *o, char **err)
{
	bool	tc = st[i].part == P_TOOLCHAIN;

	for (size_t k = 0; k < n; k++)
		if (strcmp(st[k].reg, st[i].reg) == 0 &&
		    (st[k].part == P_TOOLCHAIN) != tc) {
			*err = xasprintf("%s holds both registry and toolchain"
			    " files for `%s` (%s, %s)", file, st[i].reg,
			    st[i].path, st[k].path);
			return -1;
		}
	if (tc)
		return check_toolchain(file, st, n, i, c, manifest, o, err);
	if (c != NULL && c->toolchain) {
		*err = xasprintf("%s holds registry files for `%s`, a toolchain"
		    " mirror here (e.g. %s)", file, st[i].reg, st[i].path);
		return -1;
	}
	return 0;
}

/* Each registry of the bundle against the configuration: hosted ones
 * refused (or restored), mirrors of another upstream refused (or warned
 * about), unknown ones warned about. */
static int
check_registries(const char *file, const char *staging, const char *data_dir,
    const struct staged *st, size_t n, json_t *manifest,
    const struct bundle_import_opts *o, char **err)
{
	json_t	*kinds = json_object_get(manifest, "registries");

	if (o == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct bundle_registry	*c = NULL;
		bool				 seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(st[k].reg, st[i].reg) == 0;
		if (seen)
			continue;
		for (size_t k = 0; k < o->nregs && c == NULL; k++)
			if (strcmp(o->regs[k].name, st[i].reg) == 0)
				c = &o->regs[k];
		if (check_kind(file, st, n, i, c, manifest, o, err) != 0)
			return -1;
		if (st[i].part == P_TOOLCHAIN)
			continue;
		if (c == NULL)
			warn(o, "registry `%s` is not in the configuration: its"
			    " files are imported, but whether it is hosted or"
			    " which upstream it mirrors is not checked",
			    st[i].reg);
		else if (c->upstream == NULL) {
			if (check_hosted(file, staging, data_dir, st, n,
			    st[i].reg, o, err) != 0)
				return -1;
		} else if (check_upstream(file, st[i].reg, c->upstream,
		    json_object_get(kinds, st[i].reg), o, err) != 0)
			return -1;
	}
	return 0;
}

/* The manifest of the bundle file, read whole (new), or NULL with
 * *cause. */
static json_t *
manifest_read(const char *file, char **cause)
{
	struct archive		*a = archive_read_new();
	struct archive_entry	*e;
	json_t			*j = NULL;
	int			 r;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 65536) != ARCHIVE_OK) {
		*cause = xasprintf("%s: %s", file, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		la_int64_t	 size = archive_entry_size(e);
		char		*buf;

		if (strcmp(archive_entry_pathname(e), MANIFEST) != 0)
			continue;
		if (size > 0 && (unsigned long long)size <= MANIFEST_MAX) {
			la_ssize_t	got = 0, n = 1;

			buf = xmalloc((size_t)size);
			while (got < size && (n = archive_read_data(a, buf +
			    got, (size_t)(size - got))) > 0)
				got += n;
			if (got == size)
				j = json_loadb(buf, (size_t)size, 0, NULL);
			free(buf);
		}
		break;
	}
	if (!json_is_object(j)) {
		*cause = xasprintf("%s: no readable %s (not a crated bundle?)",
		    file, MANIFEST);
		json_decref(j);
		j = NULL;
	}
	archive_read_free(a);
	return j;
}

time_t
bundle_created(const char *file, char **cause)
{
	json_t	*j = manifest_read(file, cause);
	time_t	 t = -1;

	if (j == NULL)
		return -1;
	if (json_is_integer(json_object_get(j, "created")))
		t = (time_t)json_integer_value(json_object_get(j, "created"));
	else
		*cause = xasprintf("%s: its %s has no creation time", file,
		    MANIFEST);
	json_decref(j);
	return t;
}

/* How many of the verdicts v say verdict. */
static size_t
count_verdicts(json_t *v, const char *verdict)
{
	json_t	*o;
	size_t	 k, n = 0;

	json_array_foreach(v, k, o)
		n += json_is_string(json_object_get(o, "verdict")) &&
		    strcmp(json_string_value(json_object_get(o, "verdict")),
		    verdict) == 0;
	return n;
}

/* A string of the (untrusted) manifest for a terminal: printable ASCII,
 * at most max bytes (new). */
static char *
shown(const char *s, size_t max)
{
	char		*out = xmalloc(max + 4);
	size_t		 i;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && i < max; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(out + i, s[i] != '\0' ? "..." : "");
	return out;
}

/* What manifest m says of the export's policy (new), or NULL. */
static char *
summary_of(json_t *m)
{
	json_t		*pol = json_object_get(m, "policy"), *adv, *r;
	const char	*name;
	char		*s, *t, *id, *desc, *reg;
	size_t		 n = 0;

	if (!json_is_object(pol))
		return NULL;
	adv = json_object_get(pol, "advisories");
	id = shown(json_string_value(json_object_get(adv, "id")), 64);
	s = id[0] != '\0' ? xasprintf("exported with advisory snapshot %s"
	    " (%lld advisories)", id, (long long)json_integer_value(
	    json_object_get(adv, "count"))) : xstrdup("exported without an"
	    " advisory snapshot");
	free(id);
	json_object_foreach(json_object_get(pol, "registries"), name, r) {
		json_t	*v = json_object_get(r, "verdicts");

		if (n++ == 16)
			break;
		desc = shown(json_string_value(json_object_get(r, "policy")),
		    400);
		reg = shown(name, 64);
		t = xasprintf("%s; `%s`: %s; %zu denied, %zu held, %zu"
		    " flagged; %zu denied crates left out", s, reg, desc[0] ?
		    desc : "no policy", count_verdicts(v, "deny"),
		    count_verdicts(v, "hold"), count_verdicts(v, "flag"),
		    json_array_size(json_object_get(r, "left_out")));
		free(desc);
		free(reg);
		free(s);
		s = t;
	}
	return s;
}

/* One import: what its stages share. */
struct importer {
	const char			*data_dir, *file;
	char				*staging;	/* .import-PID */
	const struct bundle_progress	*progress;
	struct bundle_stats		*stats;
	struct staged			*st;		/* the files */
	size_t				 n;
	json_t				*manifest;
	char				*err;		/* why it failed */
	struct bundle_tc_item		*tc;		/* toolchain files */
	size_t				 ntc;
};

/* The bundle file, checked as gzip first, opened for reading with a. */
static int
open_bundle(struct archive *a, const char *file, char **err)
{
	if (gzip_ok(file, err) != 0)
		return -1;
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 65536) != ARCHIVE_OK) {
		*err = xasprintf("%s: %s", file, archive_error_string(a));
		return -1;
	}
	return 0;
}

/* The current entry of a (size bytes) into dst, block by block (a
 * toolchain's tarball is 100 MB), hashed into s->hex. 0, or -1 with
 * im->err. */
static int
stage_entry(struct importer *im, struct archive *a, const char *path,
    la_int64_t size, struct staged *s)
{
	char			*dst = xasprintf("%s/%s", im->staging, path);
	char			*buf = xmalloc(65536);
	EVP_MD_CTX		*c = EVP_MD_CTX_new();
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n;
	la_int64_t		 done = 0;
	int			 fd = -1, r;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	if ((r = mkdir_parents(dst)) == 0 && (fd = open(dst, O_WRONLY | O_CREAT |
	    O_EXCL | O_CLOEXEC, 0644)) == -1)
		r = -errno;
	if (r != 0)
		im->err = xasprintf("staging %s: %s", path, r == -EEXIST ?
		    "listed twice" : strerror(-r));
	while (r == 0 && done < size) {
		ssize_t	got = archive_read_data(a, buf, 65536);

		if (got <= 0 || done + got > size) {
			im->err = xasprintf("bundle entry %s is truncated or"
			    " corrupt: %s", path, got < 0 ?
			    archive_error_string(a) : "short read");
			r = -1;
		} else if (write(fd, buf, (size_t)got) != got) {
			im->err = xasprintf("staging %s: %s", path,
			    strerror(errno));
			r = -1;
		} else {
			EVP_DigestUpdate(c, buf, (size_t)got);
			done += got;
		}
	}
	EVP_DigestFinal_ex(c, md, &n);
	hex_lower(md, 32, s->hex);
	s->size = (size_t)size;
	EVP_MD_CTX_free(c);
	if (fd != -1)
		close(fd);
	free(buf);
	free(dst);
	return r == 0 ? 0 : -1;
}

/* The manifest entry (size bytes) into im->manifest. */
static int
read_manifest(struct importer *im, struct archive *a, la_int64_t size)
{
	char	*buf = xmalloc((size_t)size + 1);
	ssize_t	 got = archive_read_data(a, buf, (size_t)size);

	if (got != (ssize_t)size) {
		im->err = xasprintf("bundle entry %s is truncated or corrupt:"
		    " %s", MANIFEST, got < 0 ? archive_error_string(a) :
		    "short read");
		free(buf);
		return -1;
	}
	im->manifest = json_loadb(buf, (size_t)size, 0, NULL);
	free(buf);
	return 0;
}

/* 1. Unpack into the staging folder, refusing what is not a regular file
 * at a store path; the manifest is kept in memory. */
static int
unpack(struct importer *im, struct archive *a)
{
	struct archive_entry	*e;
	int			 r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char	*path = archive_entry_pathname(e);
		struct staged	 s = { 0 };
		la_int64_t	 size = archive_entry_size(e);

		if (path == NULL || archive_entry_filetype(e) != AE_IFREG ||
		    archive_entry_hardlink(e) != NULL ||
		    archive_entry_symlink(e) != NULL) {
			im->err = xasprintf("bundle entry %s is not a regular"
			    " file (links and devices are refused)", path ?
			    path : "(unnamed)");
			return -1;
		}
		if ((s.part = classify(path, s.reg, s.name, s.vers)) < 0) {
			im->err = xasprintf("bundle entry \"%s\" is not a path"
			    " of a crated store (absolute paths and \"..\" are"
			    " refused)", path);
			return -1;
		}
		if (size < 0 || (unsigned long long)size > ENTRY_MAX) {
			im->err = xasprintf("bundle entry %s: bad size", path);
			return -1;
		}
		if (s.part == P_MANIFEST) {
			if (read_manifest(im, a, size) != 0)
				return -1;
			continue;
		}
		if (stage_entry(im, a, path, size, &s) != 0)
			return -1;
		s.path = xstrdup(path);
		im->st = xreallocarray(im->st, im->n + 1, sizeof *im->st);
		im->st[im->n++] = s;
		if (im->progress != NULL && im->progress->fn != NULL)
			im->progress->fn("read", im->n, 0, 0,
			    im->progress->arg);
	}
	if (r != ARCHIVE_EOF) {
		im->err = xasprintf("%s is truncated or corrupt: %s", im->file,
		    archive_error_string(a));
		return -1;
	}
	return 0;
}

/* A first-seen record as crated writes it, {"versions": {"1.2.3":
 * UNIX_TIME, ...}}: the parsed object (new), or NULL with *why (new). */
static json_t *
seen_parse(const char *buf, size_t len, char **why)
{
	json_t		*root = json_loadb(buf, len, JSON_REJECT_DUPLICATES,
			    NULL), *vs = json_object_get(root, "versions"), *t;
	const char	*k;
	struct semver	 v;
	json_int_t	 now = (json_int_t)time(NULL);

	if (!json_is_object(root) || json_object_size(root) != 1 ||
	    !json_is_object(vs) || json_object_size(vs) > SEEN_MAX) {
		*why = xasprintf("not a first-seen record ({\"versions\":"
		    " {\"VERSION\": UNIX_TIME, ...}}, at most %d versions)",
		    SEEN_MAX);
		json_decref(root);
		return NULL;
	}
	json_object_foreach(vs, k, t) {
		if (strlen(k) <= VERSION_MAX && semver_parse(k, &v, NULL) == 0 &&
		    json_is_integer(t) && json_integer_value(t) >= SEEN_EPOCH &&
		    json_integer_value(t) <= now + SEEN_AHEAD)
			continue;
		*why = xasprintf("first-seen record: \"%.64s\" is no version"
		    " with a time between 2000 and tomorrow", k);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* 0 when buf is a first-seen record, else -EINVAL with *why (new). */
static int
seen_check(const char *buf, size_t len, char **why)
{
	json_t	*j = seen_parse(buf, len, why);

	json_decref(j);
	return j != NULL ? 0 : -EINVAL;
}

/* The bundle's first-seen record merged into the data directory's (the
 * earlier time of each version): the bytes to write (new), or NULL when
 * the data directory's already says it all. */
static char *
seen_merge(const char *old, size_t olen, const char *buf, size_t len,
    size_t *out_len)
{
	json_t		*a = NULL, *b, *va, *t;
	const char	*k;
	char		*why = NULL, *out = NULL;
	bool		 changed = false;

	if ((b = seen_parse(buf, len, &why)) == NULL) {
		free(why);	/* verify() refused it before */
		return NULL;
	}
	if (old != NULL && (a = seen_parse(old, olen, &why)) == NULL)
		free(why);	/* the data directory's is damaged: replaced */
	if (a == NULL) {
		a = json_pack("{s:o}", "versions", json_object());
		changed = true;
	}
	va = json_object_get(a, "versions");
	json_object_foreach(json_object_get(b, "versions"), k, t) {
		json_t	*mine = json_object_get(va, k);

		if (mine != NULL && json_integer_value(mine) <=
		    json_integer_value(t))
			continue;
		if (mine == NULL && json_object_size(va) >= SEEN_MAX)
			continue;
		json_object_set(va, k, t);
		changed = true;
	}
	if (changed) {
		out = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		*out_len = strlen(out);
	}
	json_decref(a);
	json_decref(b);
	return out;
}

/* A staged index file's lines, checked as a mirror's fill is; a staged
 * first-seen record, checked as seen_parse reads it. */
static int
check_staged(struct importer *im, const struct staged *sf)
{
	char		*p = xasprintf("%s/%s", im->staging, sf->path);
	char		*buf, *why = NULL;
	size_t		 len;
	struct stat	 sb;
	int		 r = read_all(p, &buf, &len, &sb);

	free(p);
	if (r != 0) {
		im->err = xasprintf("staging %s: unreadable", sf->path);
		return -1;
	}
	if ((sf->part == P_INDEX ? index_file_check(buf, len, sf->name,
	    &why) : seen_check(buf, len, &why)) != 0) {
		im->err = xasprintf("%s: %s: %s", im->file, sf->path, why);
		free(why);
		r = -1;
	}
	free(buf);
	return r;
}

/* 2. Check every file against the manifest, and every crate against an
 * index cksum. */
static int
verify(struct importer *im)
{
	struct staged	*st = im->st;
	json_t		*files = json_object_get(im->manifest, "files");

	if (!json_is_array(files) || json_array_size(files) != im->n) {
		im->err = xasprintf("%s: the manifest %s is missing or does"
		    " not list exactly the bundle's %zu files", im->file,
		    MANIFEST, im->n);
		return -1;
	}
	for (size_t i = 0; i < im->n; i++) {
		json_t		*f = NULL, *v;
		size_t		 k;
		const char	*hex = st[i].hex;

		json_array_foreach(files, k, v)
			if (json_is_string(json_object_get(v, "path")) &&
			    strcmp(json_string_value(json_object_get(v,
			    "path")), st[i].path) == 0)
				f = v;
		if (f == NULL) {
			im->err = xasprintf("%s: %s is not in the manifest",
			    im->file, st[i].path);
			return -1;
		}
		if ((st[i].part == P_INDEX || st[i].part == P_SEEN) &&
		    check_staged(im, &st[i]) != 0)
			return -1;
		if (!json_is_string(json_object_get(f, "sha256")) ||
		    strcmp(hex, json_string_value(json_object_get(f,
		    "sha256"))) != 0) {
			im->err = xasprintf("%s: %s does not match its SHA-256"
			    " in the manifest (the bundle is damaged)",
			    im->file, st[i].path);
			return -1;
		}
		if (st[i].part == P_CRATE && !crate_matches(im->staging,
		    im->data_dir, st[i].reg, st[i].name, st[i].vers, hex)) {
			im->err = xasprintf("%s: crate %s %s does not match the"
			    " cksum of its index line (in the bundle or, for a"
			    " version the data directory has, there: versions"
			    " are immutable)", im->file, st[i].name,
			    st[i].vers);
			return -1;
		}
		if (im->progress != NULL && im->progress->fn != NULL)
			im->progress->fn("verify", i + 1, im->n, 0,
			    im->progress->arg);
	}
	return 0;
}

/* The mtime the manifest records for path, 0 if none. */
static time_t
manifest_mtime(json_t *manifest, const char *path)
{
	json_t	*f, *v;
	size_t	 k;
	time_t	 mt = 0;

	f = json_object_get(manifest, "files");
	json_array_foreach(f, k, v)
		if (strcmp(json_string_value(json_object_get(v, "path")),
		    path) == 0)
			mt = (time_t)json_integer_value(json_object_get(v,
			    "mtime"));
	return mt;
}

/* A first-seen record into the store, merged with the one there. */
static int
apply_seen(struct importer *im, struct store *s, const char *rel,
    const char *buf, size_t len)
{
	struct stat	 lsb;
	char		*old = NULL, *merged;
	size_t		 olen = 0, mlen = 0;
	int		 r = 0;

	if (store_read(s, rel, &old, &olen, &lsb, SEEN_MAX * 256) != 0)
		old = NULL;
	if ((merged = seen_merge(old, olen, buf, len, &mlen)) == NULL)
		im->stats->skipped++;
	else
		r = store_write(s, rel, merged, mlen, NULL, NULL);
	free(merged);
	free(old);
	return r;
}

/* One staged file into its registry's store: an index file merged with
 * the one there, a first-seen record too, a crate or other file written
 * unless already there. */
static int
apply_file(struct importer *im, struct staged *sf)
{
	struct bundle_stats	*stats = im->stats;
	struct store		*s = NULL;
	struct stat		 sb, lsb;
	char			*p, *buf, *old = NULL, *rel, *merged;
	size_t			 len, olen, mlen;
	bool			 is_crate = sf->part == P_CRATE;
	bool			 is_index = sf->part == P_INDEX;
	int			 r;

	if (store_open(im->data_dir, sf->reg, &s, &im->err) != 0)
		return -1;
	rel = xstrdup(strchr(sf->path, '/') + 1);
	p = xasprintf("%s/%s", im->staging, sf->path);
	r = read_all(p, &buf, &len, &sb);
	free(p);
	if (r == 0 && sf->part == P_SEEN)
		r = apply_seen(im, s, rel, buf, len);
	else if (r == 0 && is_index && store_read(s, rel, &old, &olen, &lsb,
	    ENTRY_MAX) == 0) {
		merged = index_file_merge(old, olen, buf, len,
		    manifest_mtime(im->manifest, sf->path) > lsb.st_mtime,
		    &mlen);
		if (mlen == olen && memcmp(merged, old, olen) == 0)
			stats->skipped++;
		else {
			r = store_write(s, rel, merged, mlen, NULL, NULL);
			stats->index_files++;
		}
		free(merged);
		free(old);
	} else if (r == 0 && store_exists(s, rel) && !is_index) {
		stats->skipped++;
	} else if (r == 0) {
		r = store_write(s, rel, buf, len, NULL, NULL);
		if (r == 0 && is_index)
			forget_negative(s, rel);
		stats->crates += is_crate;
		stats->index_files += is_index;
		sf->written = r == 0 && is_crate;
		sf->size = len;
	}
	if (r == 0) {
		stats->files++;
		stats->bytes += len;
		free(buf);
	}
	free(rel);
	store_close(s);
	if (r != 0) {
		im->err = xasprintf("writing %s: %s (the files written so far"
		    " are complete and consistent)", sf->path, strerror(-r));
		return -1;
	}
	return 0;
}

/* 3. Apply: crates, then index files (merged), then the rest. */
static int
apply(struct importer *im)
{
	size_t	done = 0;

	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < im->n; i++) {
			bool	is_crate = im->st[i].part == P_CRATE;
			bool	is_index = im->st[i].part == P_INDEX;

			if ((pass == 0) != is_crate || (pass == 1) != is_index ||
			    im->st[i].part == P_TOOLCHAIN)
				continue;
			if (apply_file(im, &im->st[i]) != 0)
				return -1;
			if (im->progress != NULL && im->progress->fn != NULL)
				im->progress->fn("apply", ++done, im->n,
				    im->stats->bytes, im->progress->arg);
		}
	}
	return 0;
}

/* The toolchain mirrors' files, checked (cache/bundle_tc.h). */
static int
verify_toolchains(struct importer *im)
{
	im->tc = xcalloc(im->n ? im->n : 1, sizeof *im->tc);
	for (size_t i = 0; i < im->n; i++) {
		struct bundle_tc_item	*t = &im->tc[im->ntc];
		const struct staged	*sf = &im->st[i];

		if (sf->part != P_TOOLCHAIN)
			continue;
		t->path = sf->path;
		snprintf(t->name, sizeof t->name, "%s", sf->reg);
		t->rel = sf->path + strlen(sf->reg) + 1;
		t->snapshot = strncmp(t->rel, "snapshots/", 10) == 0;
		memcpy(t->hex, sf->hex, 65);
		t->size = sf->size;
		im->ntc++;
	}
	return bundle_tc_verify(im->file, im->staging, im->data_dir, im->tc,
	    im->ntc, &im->err);
}

/* 4. Tell each registry's cache accounting about the new crates. */
static void
account(struct importer *im)
{
	struct staged	*st = im->st;
	size_t		 n = im->n;

	for (size_t i = 0; i < n; i++) {
		struct usage	*u;
		char		*root, *err = NULL;

		if (!st[i].written)
			continue;
		root = xasprintf("%s/%s", im->data_dir, st[i].reg);
		if (usage_open(root, &u, &err) == 0) {
			for (size_t k = i; k < n; k++)
				if (st[k].written && strcmp(st[k].reg,
				    st[i].reg) == 0) {
					usage_added(u, strchr(st[k].path, '/')
					    + 1, st[k].size, false);
					if (k != i)
						st[k].written = false;
				}
			usage_close(u);
		} else
			free(err);
		free(root);
	}
}

int
bundle_import(const char *data_dir, const char *file,
    const struct bundle_import_opts *opts,
    const struct bundle_progress *progress, struct bundle_stats *stats,
    char **cause)
{
	struct archive	*a = archive_read_new();
	struct importer	 im = { .data_dir = data_dir, .file = file,
			    .progress = progress, .stats = stats };
	int		 r = -1;

	memset(stats, 0, sizeof *stats);
	im.staging = xasprintf("%s/.import-%ld", data_dir, (long)getpid());
	remove_tree(im.staging);
	if (mkdir(im.staging, 0755) == -1) {
		*cause = xasprintf("%s: %s", im.staging, strerror(errno));
		free(im.staging);
		archive_read_free(a);
		return -1;
	}
	if (open_bundle(a, file, &im.err) == 0 && unpack(&im, a) == 0 &&
	    verify(&im) == 0 && check_registries(file, im.staging, data_dir,
	    im.st, im.n, im.manifest, opts, &im.err) == 0 &&
	    verify_toolchains(&im) == 0 && apply(&im) == 0) {
		account(&im);
		if (opts != NULL && opts->policy != NULL) {
			char	*sum = summary_of(im.manifest);

			if (sum != NULL)
				opts->policy(sum, opts->arg);
			free(sum);
		}
		r = bundle_tc_apply(im.staging, data_dir, im.tc, im.ntc, stats,
		    &im.err);
		if (r != 0)
			*cause = im.err;
	} else
		*cause = im.err;
	archive_read_free(a);
	remove_tree(im.staging);
	free(im.staging);
	json_decref(im.manifest);
	for (size_t i = 0; i < im.n; i++)
		free(im.st[i].path);
	free(im.st);
	free(im.tc);
	return r;
}
