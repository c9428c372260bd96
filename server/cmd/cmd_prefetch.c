/* crated prefetch: fill a mirror's cache with everything some Cargo.lock
 * files need, verifying each .crate against the index cksum and the lock
 * file's checksum. It talks HTTP to a crated: a running one (--server), or
 * one it starts in this process on 127.0.0.1:0 over the data directory
 * (which takes the directory's lock, so no second writer runs), so every
 * byte goes through the same mirror code and upstream client as serving. */
#include "server/cmd/cmd.h"
#include "server/cmd/prefetch_tc.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/lockfile.h"
#include "index/name.h"
#include "index/regconfig.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/workers.h"
#include "server/http/route.h"
#include "server/server.h"
#include "server/upstream/upstream.h"

#define DEFAULT_JOBS	8
#define SCAN_DEPTH	8
#define SETTLE_SECONDS	60	/* for the cache's writes at the end */

struct target {
	char	*registry;	/* crated registry name */
	char	*name, *version, *checksum;
	char	*source;	/* from the lock file, for messages */
};

struct reg_info {
	char	*name;
	char	*index;		/* crated's own URL, normalised */
	char	*upstream;	/* normalised, or NULL */
	bool	 crates_io;	/* stands in for crates.io */
};

struct job;

struct prefetch {
	struct event_base	*base;
	struct upstream_client	*uc;
	char			*server;	/* base URL, no trailing '/' */
	struct target		*targets;
	size_t			 ntargets, next, running, jobs;
	size_t			 fetched, cached, failed, done;
	size_t			 denied;	/* 403: refused by the policy */
	unsigned long long	 bytes;
	struct timespec		 start;
	bool			 tty;
	char			**failures;
	size_t			 nfailures;
	struct server		*srv;		/* in-process server, or NULL */
	int			 stopped;	/* the signal that ended the run */
};

struct job {
	struct prefetch	*pf;
	struct target	*t;
	char		 cksum[65];
	EVP_MD_CTX	*sha;
	unsigned long long bytes;
};

static void	start_next(struct prefetch *);

static double
elapsed(const struct prefetch *pf)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - pf->start.tv_sec) +
	    (double)(now.tv_nsec - pf->start.tv_nsec) / 1e9;
}

static void
progress(struct prefetch *pf)
{
	double	t = elapsed(pf), rate = t > 0 ? (double)pf->bytes / t : 0;
	size_t	width = 30, fill = pf->ntargets ? pf->done * width /
		    pf->ntargets : width;
	char	bar[64];

	if (!pf->tty)
		return;
	for (size_t i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu crates, %.1f MB, %.1f MB/s ", bar,
	    pf->done, pf->ntargets, (double)pf->bytes / 1e6, rate / 1e6);
	fflush(stderr);
}

static void
fail(struct prefetch *pf, struct target *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct prefetch *pf, struct target *t, const char *fmt, ...)
{
	va_list	 ap;
	char	*why, *line;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	line = xasprintf("%s %s (%s): %s", t->name, t->version, t->registry,
	    why);
	free(why);
	pf->failures = xreallocarray(pf->failures, pf->nfailures + 1,
	    sizeof *pf->failures);
	pf->failures[pf->nfailures++] = line;
	pf->failed++;
	if (pf->stopped != 0)
		return;		/* ended by the signal: said once */
	if (pf->tty)
		fprintf(stderr, "\r%-70s\n", "");
	fprintf(stderr, "failed: %s\n", line);
}

static void
job_end(struct job *j)
{
	struct prefetch	*pf = j->pf;

	pf->running--;
	pf->done++;
	EVP_MD_CTX_free(j->sha);
	free(j);
	progress(pf);
	start_next(pf);
	if (pf->running == 0 && pf->next == pf->ntargets)
		event_base_loopexit(pf->base, NULL);
}

static bool
crate_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct job	*j = arg;

	EVP_DigestUpdate(j->sha, buf, len);
	j->bytes += len;
	return true;
}

/*
 * A mirror streaming a .crate from its upstream holds the last byte back
 * until the SHA-256 is known, and closes the connection instead of
 * sending it when the file does not match the index: the transfer then
 * fails one byte short. True when that is what happened here: exactly one
 * byte is missing and no value of it would give the index's cksum (so it
 * was not a connection lost at that byte).
 */
static bool
held_back(struct job *j, long long length)
{
	EVP_MD_CTX	*c = EVP_MD_CTX_new();
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n;
	char		 hex[65];
	bool		 any = false;

	if (c == NULL || length <= 0 || j->bytes != (unsigned long long)length
	    - 1) {
		EVP_MD_CTX_free(c);
		return false;
	}
	for (int b = 0; b < 256 && !any; b++) {
		unsigned char	last = (unsigned char)b;

		EVP_MD_CTX_copy_ex(c, j->sha);
		EVP_DigestUpdate(c, &last, 1);
		EVP_DigestFinal_ex(c, md, &n);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		any = strcmp(hex, j->cksum) == 0;
	}
	EVP_MD_CTX_free(c);
	return !any;
}

/*
 * A 403 for a download is the policy's refusal (issue 28): crated never
 * fetched the .crate. The reason is the detail of cargo's error shape
 * ("blocked by policy: RUSTSEC-2025-0147 (malicious)"), said as it is.
 * True when this was one.
 */
static bool
denied(struct prefetch *pf, struct target *t, struct fetch *f)
{
	json_t		*j, *e;
	const char	*body, *detail;
	size_t		 len;

	if (fetch_failed(f) || fetch_status(f) != 403)
		return false;
	body = fetch_body(f, &len);
	j = json_loadb(body, len, 0, NULL);
	e = json_array_get(json_object_get(j, "errors"), 0);
	detail = json_string_value(json_object_get(e, "detail"));
	if (detail != NULL)
		fail(pf, t, "denied: %s", detail);
	else
		fail(pf, t, "denied (HTTP 403): %.*s", (int)(len > 300 ? 300 :
		    len), body ? body : "");
	pf->denied++;
	json_decref(j);
	return true;
}

static void
crate_done(struct fetch *f, void *arg)
{
	struct job	*j = arg;
	struct prefetch	*pf = j->pf;
	struct target	*t = j->t;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n;
	char		 hex[65];
	const char	*hit = fetch_header(f, "X-Crated-Cache");
	size_t		 len;

	if (fetch_failed(f) && held_back(j, fetch_content_length(f))) {
		fail(pf, t, "checksum mismatch: the .crate does not match the"
		    " index's cksum %s (crated withheld its last byte; its log"
		    " names the SHA-256 the upstream sent)", j->cksum);
		job_end(j);
		return;
	}
	if (denied(pf, t, f)) {
		job_end(j);
		return;
	}
	if (fetch_failed(f) || fetch_status(f) != 200) {
		const char	*body = fetch_body(f, &len);

		fail(pf, t, "download: %s%s%.*s", fetch_failed(f) ?
		    fetch_error(f) : "", fetch_failed(f) ? "" : "HTTP ",
		    fetch_failed(f) ? 0 : (int)(len > 300 ? 300 : len),
		    fetch_failed(f) ? "" : body);
		job_end(j);
		return;
	}
	EVP_DigestFinal_ex(j->sha, md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (strcmp(hex, j->cksum) != 0)
		fail(pf, t, "the .crate's SHA-256 is %s, the index says %s",
		    hex, j->cksum);
	else {
		bool	was_cached = hit != NULL && strcmp(hit, "hit") == 0;

		if (was_cached)
			pf->cached++;
		else {
			pf->fetched++;
			pf->bytes += j->bytes;
		}
		if (!pf->tty)
			fprintf(stderr, "%s %s %s (%llu bytes)\n", was_cached ?
			    "cached " : "fetched", t->name, t->version,
			    j->bytes);
	}
	job_end(j);
}

static void
index_done(struct fetch *f, void *arg)
{
	struct job		*j = arg;
	struct prefetch		*pf = j->pf;
	struct target		*t = j->t;
	struct fetch_opts	 o = { 0 };
	const char		*body;
	char			*url;
	size_t			 len;

	body = fetch_body(f, &len);
	if (fetch_failed(f) || fetch_status(f) != 200) {
		if (fetch_failed(f))
			fail(pf, t, "index file: %s", fetch_error(f));
		else
			fail(pf, t, "index file: HTTP %ld %.*s",
			    fetch_status(f), (int)(len > 300 ? 300 : len),
			    body);
		job_end(j);
		return;
	}
	if (!index_file_cksum(body, len, t->version, j->cksum)) {
		fail(pf, t, "the registry's index has no version %s",
		    t->version);
		job_end(j);
		return;
	}
	if (t->checksum != NULL && strcmp(t->checksum, j->cksum) != 0) {
		fail(pf, t, "Cargo.lock's checksum %s differs from the index's"
		    " cksum %s (the upstream changed a published crate, or the"
		    " lock file comes from another registry)", t->checksum,
		    j->cksum);
		job_end(j);
		return;
	}
	url = xasprintf("%s/%s/api/v1/crates/%s/%s/download", pf->server,
	    t->registry, t->name, t->version);
	o.url = url;
	o.max_body = 1 << 20;
	o.on_data = crate_data;
	o.extra_header = "X-Crated-Pin: 1";
	o.done = crate_done;
	o.arg = j;
	fetch_start(pf->uc, &o);
	free(url);
}

static void
start_next(struct prefetch *pf)
{
	while (pf->stopped == 0 && pf->running < pf->jobs && pf->next <
	    pf->ntargets) {
		struct target		*t = &pf->targets[pf->next++];
		struct job		*j = xcalloc(1, sizeof *j);
		struct fetch_opts	 o = { 0 };
		char			 path[INDEX_PATH_MAX], *url;

		j->pf = pf;
		j->t = t;
		j->sha = EVP_MD_CTX_new();
		EVP_DigestInit_ex(j->sha, EVP_sha256(), NULL);
		pf->running++;
		crate_index_path(t->name, path);
		url = xasprintf("%s/%s/%s", pf->server, t->registry, path);
		o.url = url;
		o.max_body = 64 << 20;
		o.done = index_done;
		o.arg = j;
		fetch_start(pf->uc, &o);
		free(url);
	}
}

/* Adds the Cargo.lock files under path (a file, or a directory scanned
 * to SCAN_DEPTH levels, skipping target/ and hidden folders). */
static void
collect(const char *path, int depth, char ***files, size_t *n)
{
	struct stat	 st;
	DIR		*d;
	struct dirent	*de;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "crated prefetch: %s: %s\n", path,
		    strerror(errno));
		return;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		/* A FIFO or a device would block the read, or never end. */
		fprintf(stderr, "crated prefetch: %s: not a regular file,"
		    " skipped\n", path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		*files = xreallocarray(*files, *n + 1, sizeof **files);
		(*files)[(*n)++] = xstrdup(path);
		return;
	}
	if (depth > SCAN_DEPTH || (d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char	*sub;

		if (de->d_name[0] == '.' || strcmp(de->d_name, "target") == 0)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		if (strcmp(de->d_name, "Cargo.lock") == 0 ||
		    (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)))
			collect(sub, depth + 1, files, n);
		free(sub);
	}
	closedir(d);
}

static const struct reg_info *
match(const struct reg_info *regs, size_t n, const char *forced,
    const char *source)
{
	char			*url = regconfig_index_url(source);
	const struct reg_info	*hit = NULL;
	bool			 cio = strcmp(url,
				    "https://github.com/rust-lang/crates.io-index/")
				    == 0 || strcmp(url, "https://index.crates.io/") ==
				    0;

	for (size_t i = 0; i < n && hit == NULL; i++) {
		if (forced != NULL) {
			if (strcmp(regs[i].name, forced) == 0)
				hit = &regs[i];
			continue;
		}
		if (strcmp(regs[i].index, url) == 0 ||
		    (regs[i].upstream != NULL && (strcmp(regs[i].upstream,
		    url) == 0 || (cio && regs[i].crates_io))))
			hit = &regs[i];
	}
	free(url);
	return hit;
}

/* The registries of a running crated, from GET /-/registries, and its
 * toolchain mirrors' names. */
static int
remote_registries(struct prefetch *pf, struct reg_info **out, size_t *n,
    char ***mirrors, size_t *nmirrors);

static void
registries_done(struct fetch *f, void *arg)
{
	json_t		**out = arg;
	size_t		  len;
	const char	 *body = fetch_body(f, &len);

	if (!fetch_failed(f) && fetch_status(f) == 200)
		*out = json_loadb(body, len, 0, NULL);
	else
		fprintf(stderr, "crated prefetch: GET /-/registries: %s\n",
		    fetch_failed(f) ? fetch_error(f) : "not crated's answer");
}

static int
remote_registries(struct prefetch *pf, struct reg_info **out, size_t *n,
    char ***mirrors, size_t *nmirrors)
{
	struct fetch_opts	 o = { 0 };
	json_t			*j = NULL, *v;
	char			*url = xasprintf("%s/-/registries", pf->server);
	size_t			 i;

	o.url = url;
	o.max_body = 1 << 20;
	o.done = registries_done;
	o.arg = &j;
	fetch_start(pf->uc, &o);
	free(url);
	event_base_dispatch(pf->base);
	if (!json_is_array(json_object_get(j, "registries"))) {
		json_decref(j);
		return -1;
	}
	*n = json_array_size(json_object_get(j, "registries"));
	*out = xcalloc(*n, sizeof **out);
	json_array_foreach(json_object_get(j, "registries"), i, v) {
		const char	*up = json_string_value(json_object_get(v,
				    "upstream"));

		(*out)[i].name = xstrdup(json_string_value(json_object_get(v,
		    "name")));
		(*out)[i].index = regconfig_index_url(json_string_value(json_object_get(
		    v, "index")));
		(*out)[i].upstream = up ? regconfig_index_url(up) : NULL;
		(*out)[i].crates_io = json_is_true(json_object_get(v,
		    "crates_io")) || (up != NULL && strcmp((*out)[i].upstream,
		    "https://index.crates.io/") == 0);
	}
	json_array_foreach(json_object_get(j, "toolchains"), i, v)
		if (json_is_string(json_object_get(v, "name"))) {
			*mirrors = xreallocarray(*mirrors, *nmirrors + 1,
			    sizeof **mirrors);
			(*mirrors)[(*nmirrors)++] = xstrdup(json_string_value(
			    json_object_get(v, "name")));
		}
	json_decref(j);
	return 0;
}

/* SIGTERM or SIGINT: no new downloads; the run ends now (the server in
 * this process, if any, drains what is in flight). */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct prefetch	*pf = arg;

	pf->stopped = (int)sig;
	event_base_loopexit(pf->base, NULL);
}

/* A lock file, opened without blocking (a FIFO put in its place after the
 * scan would hang the read) and only when it is a regular file. */
static FILE *
open_lock(const char *path)
{
	struct stat	 st;
	FILE		*f;
	int		 fd, fl;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if ((f = fdopen(fd, "r")) == NULL)
		close(fd);
	return f;
}

/* A lock file package whose name no registry could hold: named (its
 * unprintable bytes as '?'), and the run fails. */
static void
bad_name(const char *file, const struct lock_package *p, const char *why)
{
	char	 shown[80];
	size_t	 i;

	for (i = 0; p->name[i] != '\0' && i < sizeof shown - 4; i++)
		shown[i] = isprint((unsigned char)p->name[i]) ? p->name[i] :
		    '?';
	strcpy(shown + i, p->name[i] != '\0' ? "..." : "");
	fprintf(stderr, "crated prefetch: %s:%d: package \"%s\" %s: not a valid"
	    " crate name (%s); not fetched\n", file, p->line, shown, p->version ?
	    p->version : "", why);
}

/* Registry packages no mirror here takes: their sources, for the
 * summary (a few are enough to name). */
static void
note_skipped(json_t *unmatched, const char *source)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(unmatched, i, v)
		if (strcmp(json_string_value(v), source) == 0)
			return;
	if (json_array_size(unmatched) < 8)
		json_array_append_new(unmatched, json_string(source));
}

static void
print_skipped(json_t *unmatched, size_t skipped, const char *forced)
{
	size_t	 i;
	json_t	*v;

	printf("prefetch: %zu registry packages skipped: no registry%s of"
	    " this crated mirrors their source:\n", skipped, forced ?
	    " named by --registry" : "");
	json_array_foreach(unmatched, i, v) {
		const char	*src = json_string_value(v);

		printf("  %s%s\n", src, strstr(src, "crates.io-index") != NULL ||
		    strstr(src, "index.crates.io") != NULL ? " (crates.io:"
		    " set replace_crates_io = true on the mirror that stands in"
		    " for it)" : "");
	}
	printf("  give --registry NAME to send them to one mirror, or add a"
	    " mirror of that source\n");
}

/* True when another process holds the data directory's lock. */
static bool
busy(const char *data_dir)
{
	char	*path = xasprintf("%s/lock", data_dir);
	int	 fd = open(path, O_RDONLY | O_CLOEXEC);
	bool	 held = fd != -1 && flock(fd, LOCK_SH | LOCK_NB) == -1 &&
		    errno == EWOULDBLOCK;

	if (fd != -1)
		close(fd);
	free(path);
	return held;
}

/* The address the configuration gives the running crated (NULL: port 0,
 * not known). New string. */
static char *
own_url(const struct config *cfg)
{
	const char	*l = cfg->nlisten > 0 ? cfg->listen[0] : NULL;

	if (cfg->public_url != NULL)
		return xstrdup(cfg->public_url);
	if (l == NULL || strcmp(strrchr(l, ':'), ":0") == 0)
		return NULL;
	return xasprintf("http://%s", l);
}

/* The data directory is locked: a running crated owns it. */
static void
running_hint(const char *url)
{
	fprintf(stderr, "crated prefetch: a running crated serves this data"
	    " directory: ask it instead with\n  crated prefetch --server %s"
	    " LOCKFILE|DIR...\n", url ? url : "http://HOST:PORT");
}

static void
usage(void)
{
	fprintf(stderr, "usage: crated prefetch [--config FILE] [--data-dir"
	    " DIR] [--server URL]\n"
	    "                      [--registry NAME] [--jobs N]"
	    " LOCKFILE|DIR...\n"
	    "       crated prefetch [--config FILE] [--data-dir DIR]"
	    " [--server URL]\n"
	    "                      --toolchain VERSION [--host TRIPLE]"
	    " [--target TRIPLE]...\n"
	    "                      [--profile minimal|default|complete]"
	    " [--component NAME]...\n"
	    "                      [--toolchains NAME] [LOCKFILE|DIR...]\n");
}

/* One run of the command: what its stages share. */
struct run {
	const char		*path, *data_dir, *server;	/* options */
	const char		*forced;			/* --registry */
	struct prefetch		 pf;
	struct config		*cfg;		/* the in-process server's */
	struct server		 srv;
	struct reg_info		*regs;
	size_t			 nregs, nfiles, skipped;
	size_t			 invalid;
	struct event		*sigs[2];
	json_t			*unmatched;
	char			*own_server;
	char			**files, *cause;
	int			 status;
	struct tc_prefetch	 tcp;		/* --toolchain and company */
	char			**mirrors;	/* toolchain mirrors there */
	size_t			 nmirrors;
};

static void
add_arg(char ***list, size_t *n, const char *arg)
{
	*list = xreallocarray(*list, *n + 1, sizeof **list);
	(*list)[(*n)++] = xstrdup(arg);
}

/* The toolchain options into o: true when ch was one. */
static bool
toolchain_option(struct tc_prefetch *o, int ch, const char *arg)
{
	switch (ch) {
	case 'T':
		add_arg(&o->toolchains, &o->ntoolchains, arg);
		return true;
	case 't':
		add_arg(&o->targets, &o->ntargets, arg);
		return true;
	case 'C':
		add_arg(&o->components, &o->ncomponents, arg);
		return true;
	case 'H':
		config_set_string(&o->host, arg);
		return true;
	case 'p':
		config_set_string(&o->profile, arg);
		return true;
	case 'M':
		config_set_string(&o->mirror, arg);
		return true;
	}
	return false;
}

/* 0, or -1 after the usage. */
static int
parse_options(struct run *r, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "server", required_argument, NULL, 's' },
		{ "registry", required_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "toolchain", required_argument, NULL, 'T' },
		{ "host", required_argument, NULL, 'H' },
		{ "target", required_argument, NULL, 't' },
		{ "profile", required_argument, NULL, 'p' },
		{ "component", required_argument, NULL, 'C' },
		{ "toolchains", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 }
	};
	int				 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:d:s:r:j:", opts, NULL)) !=
	    -1) {
		if (toolchain_option(&r->tcp, ch, optarg))
			continue;
		switch (ch) {
		case 'c':
			r->path = optarg;
			break;
		case 'd':
			r->data_dir = optarg;
			break;
		case 's':
			r->server = optarg;
			break;
		case 'r':
			r->forced = optarg;
			break;
		case 'j':
			r->pf.jobs = (size_t)strtoul(optarg, NULL, 10);
			if (r->pf.jobs < 1 || r->pf.jobs > 64)
				r->pf.jobs = DEFAULT_JOBS;
			break;
		default:
			usage();
			return -1;
		}
	}
	if (optind == argc && r->tcp.ntoolchains == 0) {
		usage();
		return -1;
	}
	if (r->tcp.profile != NULL && strcmp(r->tcp.profile, "minimal") != 0 &&
	    strcmp(r->tcp.profile, "default") != 0 && strcmp(r->tcp.profile,
	    "complete") != 0) {
		fprintf(stderr, "crated prefetch: --profile is minimal, default"
		    " or complete\n");
		return -1;
	}
	return 0;
}

/* --server: a running crated, asked for its registries. 0, or 1 after
 * saying why. */
static int
use_running(struct run *r)
{
	struct prefetch	*pf = &r->pf;

	pf->base = event_base_new();
	pf->server = xstrdup(r->server);
	if (pf->server[strlen(pf->server) - 1] == '/')
		pf->server[strlen(pf->server) - 1] = '\0';
	pf->uc = upstream_client_create(pf->base);
	if (remote_registries(pf, &r->regs, &r->nregs, &r->mirrors,
	    &r->nmirrors) != 0) {
		fprintf(stderr, "crated prefetch: %s does not answer like"
		    " crated\n", r->server);
		return 1;
	}
	return 0;
}

/* A crated started in this process on 127.0.0.1:0 over the configured
 * data directory. 0, or 1 after saying why. */
static int
start_own(struct run *r)
{
	const char	*lo = "127.0.0.1:0";
	struct server	*srv = &r->srv;

	if (config_load(r->path, &r->cfg, &r->cause) != 0) {
		fprintf(stderr, "crated prefetch: %s\n", r->cause);
		return 1;
	}
	if (r->data_dir != NULL)
		config_set_string(&r->cfg->data_dir, r->data_dir);
	r->own_server = own_url(r->cfg);
	config_set_listen(r->cfg, &lo, 1);
	config_set_string(&r->cfg->public_url, NULL);
	if (config_check(r->cfg, &r->cause) != 0 ||
	    server_start(srv, r->cfg, &r->cause) != 0) {
		fprintf(stderr, "crated prefetch: %s\n", r->cause);
		if (srv->lockfd == -1 && busy(r->cfg->data_dir))
			running_hint(r->own_server);
		return 1;
	}
	r->pf.srv = srv;
	r->pf.base = srv->base;
	r->pf.server = xstrdup(srv->public_url);
	r->pf.uc = srv->upstream;
	r->nregs = srv->nregs;
	r->regs = xcalloc(r->nregs, sizeof *r->regs);
	for (size_t i = 0; i < r->nregs; i++) {
		char	*own = xasprintf("%s/%s/", srv->public_url,
		    srv->regs[i].name);

		r->regs[i].name = xstrdup(srv->regs[i].name);
		r->regs[i].index = regconfig_index_url(own);
		r->regs[i].upstream = srv->regs[i].cfg->upstream ?
		    regconfig_index_url(srv->regs[i].cfg->upstream) : NULL;
		r->regs[i].crates_io = config_crates_io(srv->regs[i].cfg);
		free(own);
	}
	r->mirrors = xcalloc(srv->ntcs ? srv->ntcs : 1, sizeof *r->mirrors);
	for (size_t i = 0; i < srv->ntcs; i++)
		r->mirrors[r->nmirrors++] = xstrdup(srv->cfg->tcs[i].name);
	return 0;
}

/* The registry packages of one parsed lock file become targets: those of
 * a registry here, once each, with a valid name. */
static void
add_targets(struct run *r, const char *file, struct lockfile *lf)
{
	struct prefetch	*pf = &r->pf;

	for (size_t k = 0; k < lf->n; k++) {
		struct lock_package	*p = &lf->pkgs[k];
		const struct reg_info	*ri;
		bool			 dup = false;

		if (!lockfile_source_is_registry(p->source, NULL))
			continue;
		if ((ri = match(r->regs, r->nregs, r->forced, p->source)) ==
		    NULL) {
			r->skipped++;
			if (r->unmatched == NULL)
				r->unmatched = json_array();
			note_skipped(r->unmatched, p->source);
			continue;
		}
		for (size_t m = 0; m < pf->ntargets && !dup; m++)
			dup = strcmp(pf->targets[m].name, p->name) == 0 &&
			    strcmp(pf->targets[m].version, p->version) == 0 &&
			    strcmp(pf->targets[m].registry, ri->name) == 0;
		if (crate_name_check(p->name, &r->cause) != 0) {
			bad_name(file, p, r->cause);
			free(r->cause);
			r->cause = NULL;
			r->invalid++;
			continue;
		}
		if (dup)
			continue;
		pf->targets = xreallocarray(pf->targets, pf->ntargets + 1,
		    sizeof *pf->targets);
		pf->targets[pf->ntargets++] = (struct target){
		    xstrdup(ri->name), xstrdup(p->name), xstrdup(p->version),
		    p->checksum ? xstrdup(p->checksum) : NULL,
		    xstrdup(p->source) };
	}
}

/* Reads every lock file found (until a signal); r->status 1 when one
 * cannot be read or parsed. */
static void
read_lock_files(struct run *r)
{
	for (size_t i = 0; i < r->nfiles && r->pf.stopped == 0; i++) {
		struct lockfile	 lf;
		FILE		*f = open_lock(r->files[i]);
		char		*text = NULL;
		size_t		 len = 0;

		if (f == NULL || getdelim(&text, &len, '\0', f) < 0) {
			fprintf(stderr, "crated prefetch: %s: %s\n",
			    r->files[i], strerror(errno));
			r->status = 1;
		} else if (lockfile_parse(text, strlen(text), &lf, &r->cause) !=
		    0) {
			fprintf(stderr, "crated prefetch: %s:%s\n", r->files[i],
			    r->cause);
			free(r->cause);
			r->cause = NULL;
			r->status = 1;
		} else {
			add_targets(r, r->files[i], &lf);
			lockfile_finish(&lf);
		}
		if (f != NULL)
			fclose(f);
		free(text);
	}
}

/* Fetches the targets, then the summary on stdout; r->status 1 when any
 * failed, had an invalid name or was skipped. */
static void
fetch_and_report(struct run *r)
{
	struct prefetch	*pf = &r->pf;

	pf->tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &pf->start);
	fprintf(stderr, "prefetch: %zu crates from %zu lock files through"
	    " %s\n", pf->ntargets, r->nfiles, pf->server);
	if (pf->ntargets > 0) {
		start_next(pf);
		event_base_dispatch(pf->base);
	}
	if (pf->tty)
		fprintf(stderr, "\n");
	printf("prefetch: %zu crates: %zu fetched, %zu already cached, %zu"
	    " failed (%zu denied by the policy); %zu packages from other"
	    " sources skipped; %.1f MB in %.2f s\n", pf->ntargets,
	    pf->fetched, pf->cached, pf->failed, pf->denied, r->skipped,
	    (double)pf->bytes / 1e6, elapsed(pf));
	for (size_t i = 0; i < pf->nfailures; i++)
		printf("  failed: %s\n", pf->failures[i]);
	if (pf->denied > 0)
		printf("prefetch: %zu version%s pinned by the lock files %s"
		    " denied by the policy and not fetched (named above):"
		    " move %s to an allowed version (cargo update -p NAME"
		    " --precise VERSION); `crated policy explain NAME VERSION`"
		    " says why\n", pf->denied, pf->denied == 1 ? "" : "s",
		    pf->denied == 1 ? "is" : "are", pf->denied == 1 ? "it" :
		    "them");
	if (r->invalid > 0)
		printf("prefetch: %zu packages with invalid crate names not"
		    " fetched (named above)\n", r->invalid);
	if (pf->failed > 0 || r->invalid > 0)
		r->status = 1;
	if (r->skipped > 0) {
		/* An empty cache must not pass as a green job. */
		print_skipped(r->unmatched, r->skipped, r->forced);
		r->status = 1;
	}
}

/* --toolchain: through the toolchain mirror named, or the only one. */
static void
fetch_toolchains(struct run *r)
{
	const char	*mirror = prefetch_tc_mirror(&r->tcp,
			    (const char *const *)r->mirrors, r->nmirrors);

	if (mirror == NULL) {
		r->status = 1;
		return;
	}
	r->tcp.jobs = 4;
	if (prefetch_tc_run(r->pf.base, r->pf.uc, r->pf.server, mirror,
	    &r->tcp, &r->pf.stopped) != 0)
		r->status = 1;
}

/* Lets the cache fills land on disk and, for a mirror with an object
 * store, their copies in the store (written in the background: disk
 * reads, then requests), for at most SETTLE_SECONDS. */
static void
settle_fills(struct run *r)
{
	struct timespec	t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (workers_pending(r->srv.workers) > 0 ||
	    workers_pending(r->srv.background) > 0 ||
	    workers_pending(r->srv.cpu) > 0 ||
	    upstream_client_active(r->srv.upstream) > 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > SETTLE_SECONDS) {
			fprintf(stderr, "crated prefetch: writes still under"
			    " way after %d s; not waiting for them\n",
			    SETTLE_SECONDS);
			break;
		}
		event_base_loop(r->srv.base, EVLOOP_ONCE);
	}
}

/* Says how a signal ended the run, lets the cache fills land, stops the
 * server or client and frees the run; the exit status. */
static int
end_run(struct run *r)
{
	struct prefetch	*pf = &r->pf;

	if (pf->stopped != 0) {
		fprintf(stderr, "crated prefetch: stopped by %s after %zu of %zu"
		    " crates\n", pf->stopped == SIGTERM ? "SIGTERM" : "SIGINT",
		    pf->done, pf->ntargets);
		r->status = 1;
	}
	for (int i = 0; i < 2; i++)
		if (r->sigs[i] != NULL)
			event_free(r->sigs[i]);
	if (pf->srv != NULL)
		settle_fills(r);
	/* Transfers still under way (a signal) end here, their jobs with
	 * them: before the targets and failures they use are freed. */
	if (pf->srv != NULL || r->cfg != NULL) {
		server_finish(&r->srv);
		config_free(r->cfg);
	} else {
		upstream_client_destroy(pf->uc);
		if (pf->base != NULL)
			event_base_free(pf->base);
	}
	for (size_t i = 0; i < pf->ntargets; i++) {
		free(pf->targets[i].registry);
		free(pf->targets[i].name);
		free(pf->targets[i].version);
		free(pf->targets[i].checksum);
		free(pf->targets[i].source);
	}
	free(pf->targets);
	for (size_t i = 0; i < pf->nfailures; i++)
		free(pf->failures[i]);
	free(pf->failures);
	for (size_t i = 0; i < r->nregs; i++) {
		free(r->regs[i].name);
		free(r->regs[i].index);
		free(r->regs[i].upstream);
	}
	free(r->regs);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i]);
	free(r->files);
	free(pf->server);
	free(r->cause);
	json_decref(r->unmatched);
	free(r->own_server);
	prefetch_tc_free(&r->tcp);
	for (size_t i = 0; i < r->nmirrors; i++)
		free(r->mirrors[i]);
	free(r->mirrors);
	return r->status;
}

int
cmd_prefetch(int argc, char **argv)
{
	struct run	r = { .path = getenv("CRATED_CONFIG"),
			    .pf = { .jobs = DEFAULT_JOBS } };

	if (parse_options(&r, argc, argv) != 0) {
		prefetch_tc_free(&r.tcp);
		return 2;
	}
	for (int i = optind; i < argc; i++)
		collect(argv[i], 0, &r.files, &r.nfiles);
	if (r.nfiles == 0 && (optind < argc || r.tcp.ntoolchains == 0)) {
		fprintf(stderr, "crated prefetch: no Cargo.lock found\n");
		prefetch_tc_free(&r.tcp);
		for (size_t i = 0; i < r.nfiles; i++)
			free(r.files[i]);
		free(r.files);
		return 1;
	}
	log_setup(LOG_WARN, LOG_TEXT);
	memset(&r.srv, 0, sizeof r.srv);
	r.srv.lockfd = -1;
	if ((r.status = r.server != NULL ? use_running(&r) :
	    start_own(&r)) != 0)
		return end_run(&r);
	r.sigs[0] = evsignal_new(r.pf.base, SIGTERM, on_signal, &r.pf);
	r.sigs[1] = evsignal_new(r.pf.base, SIGINT, on_signal, &r.pf);
	for (int i = 0; i < 2; i++)
		event_add(r.sigs[i], NULL);
	read_lock_files(&r);
	if (r.status == 0 && r.pf.stopped == 0 && r.nfiles > 0)
		fetch_and_report(&r);
	if (r.pf.stopped == 0 && r.tcp.ntoolchains > 0)
		fetch_toolchains(&r);
	return end_run(&r);
}
