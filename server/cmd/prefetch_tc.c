/* crated prefetch --toolchain: asks the toolchain mirror for the
 * toolchain's channel manifest (and its .sha256), picks the files rustup
 * would download for the host, profile, targets and components (index/
 * distmanifest.h), and downloads each through the mirror with
 * X-Crated-Pin, checking its SHA-256 against the manifest. The mirror
 * keeps and pins what it fetches; this side only reads and counts. */
#include "server/cmd/prefetch_tc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "index/distpath.h"
#include "server/upstream/upstream.h"

#define MANIFEST_MAX	(64u << 20)

struct tc_run {
	struct event_base		*base;
	struct upstream_client		*uc;
	const char			*server, *mirror;
	const struct tc_prefetch	*o;
	const int			*stopped;
	bool				 tty;
	struct timespec			 start;
	struct dist_pick		*picks;
	size_t				 npicks, next, running, done;
	size_t				 fetched, cached, failed;
	unsigned long long		 bytes;
	char				**failures;
	size_t				 nfailures;
};

struct job {
	struct tc_run		*rn;
	struct dist_pick	*p;
	EVP_MD_CTX		*sha;
	unsigned long long	 bytes;
};

/* A small GET run to its end on the loop. */
struct small {
	long		 status;
	char		*body;
	size_t		 len;
	char		*error;
	const char	*cache;
};

static void	start_next(struct tc_run *);

static double
elapsed(const struct tc_run *rn)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - rn->start.tv_sec) +
	    (double)(now.tv_nsec - rn->start.tv_nsec) / 1e9;
}

static void
progress(struct tc_run *rn)
{
	double	t = elapsed(rn), rate = t > 0 ? (double)rn->bytes / t : 0;
	size_t	width = 30, fill = rn->npicks ? rn->done * width / rn->npicks :
		    width;
	char	bar[64];

	if (!rn->tty)
		return;
	for (size_t i = 0; i < width; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r[%s] %zu/%zu files, %.1f MB, %.1f MB/s ", bar,
	    rn->done, rn->npicks, (double)rn->bytes / 1e6, rate / 1e6);
	fflush(stderr);
}

static void
failed(struct tc_run *rn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
failed(struct tc_run *rn, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	rn->failures = xreallocarray(rn->failures, rn->nfailures + 1,
	    sizeof *rn->failures);
	rn->failures[rn->nfailures++] = line;
	rn->failed++;
	if (rn->tty)
		fprintf(stderr, "\r%-70s\r", "");
	fprintf(stderr, "failed: %s\n", line);
}

/* A failed answer for a person: "HTTP 404: DETAIL", the detail of
 * crated's error shape, else the body's first bytes. New. */
static char *
answer_why(long status, const char *body, size_t len)
{
	json_t		*j = body != NULL ? json_loadb(body, len, 0, NULL) :
			    NULL;
	const char	*d = json_string_value(json_object_get(json_array_get(
			    json_object_get(j, "errors"), 0), "detail"));
	char		*out;

	out = d != NULL ? xasprintf("HTTP %ld: %s", status, d) :
	    xasprintf("HTTP %ld: %.*s", status, body != NULL ? (int)(len > 300 ?
	    300 : len) : 0, body != NULL ? body : "");
	json_decref(j);
	return out;
}

static void
small_done(struct fetch *f, void *arg)
{
	struct small	*s = arg;
	const char	*b = fetch_body(f, &s->len);

	s->status = fetch_failed(f) ? 0 : fetch_status(f);
	if (fetch_failed(f))
		s->error = xstrdup(fetch_error(f));
	s->body = xmalloc(s->len + 1);
	memcpy(s->body, b, s->len);
	s->body[s->len] = '\0';
}

/* GETs path below the mirror into s; false (said) unless a 200. */
static bool
get_small(struct tc_run *rn, const char *path, struct small *s)
{
	struct fetch_opts	 o = { 0 };
	char			*url = xasprintf("%s/%s/%s", rn->server,
				    rn->mirror, path);

	memset(s, 0, sizeof *s);
	o.url = url;
	o.max_body = MANIFEST_MAX;
	o.extra_header = "X-Crated-Pin: 1";
	o.done = small_done;
	o.arg = s;
	fetch_start(rn->uc, &o);
	while (s->body == NULL && *rn->stopped == 0)
		event_base_loop(rn->base, EVLOOP_ONCE);
	if (s->body == NULL)
		return false;
	if (s->status != 200) {
		char	*why = s->error ? xstrdup(s->error) :
			    answer_why(s->status, s->body, s->len);

		failed(rn, "%s: %s", url, why);
		free(why);
	}
	free(url);
	return s->status == 200;
}

static void
small_free(struct small *s)
{
	free(s->body);
	free(s->error);
}

static void
job_end(struct job *j)
{
	struct tc_run	*rn = j->rn;

	rn->running--;
	rn->done++;
	EVP_MD_CTX_free(j->sha);
	free(j);
	if (*rn->stopped != 0 && rn->running == 0) {
		/* The run ended on a signal: the last transfer is over. */
		dist_picks_free(rn->picks, rn->npicks);
		rn->picks = NULL;
		rn->npicks = 0;
		return;
	}
	progress(rn);
	start_next(rn);
}

static bool
file_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct job	*j = arg;

	EVP_DigestUpdate(j->sha, buf, len);
	j->bytes += len;
	j->rn->bytes += len;
	return true;
}

static void
file_done(struct fetch *f, void *arg)
{
	struct job	*j = arg;
	struct tc_run	*rn = j->rn;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n;
	char		 hex[65];
	const char	*hit = fetch_header(f, "X-Crated-Cache");
	size_t		 len;

	if (fetch_failed(f) || fetch_status(f) != 200) {
		const char	*body = fetch_body(f, &len);
		char		*why = fetch_failed(f) ? xstrdup(fetch_error(f)) :
				    answer_why(fetch_status(f), body, len);

		failed(rn, "%s: %s", j->p->rel, why);
		free(why);
		job_end(j);
		return;
	}
	EVP_DigestFinal_ex(j->sha, md, &n);
	hex_lower(md, 32, hex);
	if (strcmp(hex, j->p->hash) != 0)
		failed(rn, "%s: its SHA-256 is %s, the manifest says %s",
		    j->p->rel, hex, j->p->hash);
	else if (hit != NULL && strcmp(hit, "hit") == 0)
		rn->cached++;
	else
		rn->fetched++;
	if (!rn->tty)
		fprintf(stderr, "%s %s (%llu bytes)\n", hit != NULL &&
		    strcmp(hit, "hit") == 0 ? "cached " : "fetched", j->p->rel,
		    j->bytes);
	job_end(j);
}

static void
start_next(struct tc_run *rn)
{
	while (*rn->stopped == 0 && rn->running < (size_t)rn->o->jobs &&
	    rn->next < rn->npicks) {
		struct job		*j = xcalloc(1, sizeof *j);
		struct fetch_opts	 o = { 0 };
		char			*url;

		j->rn = rn;
		j->p = &rn->picks[rn->next++];
		j->sha = EVP_MD_CTX_new();
		EVP_DigestInit_ex(j->sha, EVP_sha256(), NULL);
		rn->running++;
		url = xasprintf("%s/%s/%s", rn->server, rn->mirror, j->p->rel);
		o.url = url;
		o.max_body = 1 << 20;
		o.on_data = file_data;
		o.extra_header = "X-Crated-Pin: 1";
		o.low_speed_time = 120;
		o.done = file_done;
		o.arg = j;
		fetch_start(rn->uc, &o);
		free(url);
	}
}

/* This machine's triple, as rustup names it on Linux. */
static void
own_host(char *out, size_t n)
{
	struct utsname	u;

	if (uname(&u) != 0)
		snprintf(out, n, "x86_64-unknown-linux-gnu");
	else
		snprintf(out, n, "%s-unknown-linux-gnu", strcmp(u.machine,
		    "arm64") == 0 ? "aarch64" : u.machine);
}

/* The manifest of toolchain, checked against its .sha256: new, or NULL
 * after saying why. */
static struct dist_manifest *
get_manifest(struct tc_run *rn, const char *toolchain)
{
	struct dist_manifest	*m = NULL;
	struct small		 sha, toml;
	char			 path[DIST_PATH_MAX], side[DIST_PATH_MAX + 8];
	char			 hex[65], named[65], *cause = NULL;
	const char		*why;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n;

	if (dist_toolchain_manifest(toolchain, path, &why) != 0) {
		failed(rn, "toolchain %s: %s", toolchain, why);
		return NULL;
	}
	snprintf(side, sizeof side, "%s.sha256", path);
	if (!get_small(rn, side, &sha)) {
		small_free(&sha);
		return NULL;
	}
	if (!get_small(rn, path, &toml) || dist_sha256_parse(sha.body, sha.len,
	    named) != 0)
		goto done;
	EVP_Digest(toml.body, toml.len, md, &n, EVP_sha256(), NULL);
	hex_lower(md, 32, hex);
	if (strcmp(hex, named) != 0)
		failed(rn, "%s: its SHA-256 is %s, its .sha256 says %s", path,
		    hex, named);
	else if (dist_manifest_parse(toml.body, toml.len, &m, &cause) != 0) {
		failed(rn, "%s: %s", path, cause);
		free(cause);
	}
done:
	small_free(&sha);
	small_free(&toml);
	return m;
}

/* One toolchain: its manifest, its files. */
static void
one(struct tc_run *rn, const char *toolchain)
{
	const struct tc_prefetch	*o = rn->o;
	struct dist_manifest		*m;
	char				 host[128], *cause = NULL;
	size_t				 before = rn->failed;

	if (o->host != NULL)
		snprintf(host, sizeof host, "%s", o->host);
	else
		own_host(host, sizeof host);
	if ((m = get_manifest(rn, toolchain)) == NULL)
		return;
	if (dist_manifest_select(m, host, o->profile ? o->profile : "default",
	    (const char *const *)o->targets, o->ntargets,
	    (const char *const *)o->components, o->ncomponents, &rn->picks,
	    &rn->npicks, &cause) != 0) {
		failed(rn, "toolchain %s: %s", toolchain, cause);
		free(cause);
		dist_manifest_free(m);
		return;
	}
	fprintf(stderr, "prefetch: toolchain %s (%s, %s) for %s, profile %s:"
	    " %zu files through %s/%s\n", toolchain, m->date, m->version ?
	    m->version : "no version", host, o->profile ? o->profile :
	    "default", rn->npicks, rn->server, rn->mirror);
	rn->next = rn->done = 0;
	start_next(rn);
	while (rn->running > 0 && *rn->stopped == 0)
		event_base_loop(rn->base, EVLOOP_ONCE);
	if (rn->tty)
		fprintf(stderr, "\n");
	printf("prefetch: toolchain %s (%s) for %s: %zu files: %zu fetched,"
	    " %zu already cached, %zu failed\n", toolchain, m->date, host,
	    rn->npicks, rn->fetched, rn->cached, rn->failed - before);
	dist_manifest_free(m);
	if (rn->running == 0) {
		dist_picks_free(rn->picks, rn->npicks);
		rn->picks = NULL;
		rn->npicks = 0;
	}
}

const char *
prefetch_tc_mirror(const struct tc_prefetch *o, const char *const *mirrors,
    size_t n)
{
	for (size_t i = 0; o->mirror != NULL && i < n; i++)
		if (strcmp(mirrors[i], o->mirror) == 0)
			return mirrors[i];
	if (o->mirror != NULL)
		fprintf(stderr, "crated prefetch: no toolchain mirror `%s`"
		    " here\n", o->mirror);
	else if (n == 1)
		return mirrors[0];
	else if (n == 0)
		fprintf(stderr, "crated prefetch: --toolchain needs a"
		    " [toolchains.NAME] mirror in the configuration\n");
	else
		fprintf(stderr, "crated prefetch: %zu toolchain mirrors here:"
		    " name one with --toolchains NAME\n", n);
	return NULL;
}

int
prefetch_tc_run(struct event_base *base, struct upstream_client *uc,
    const char *server, const char *mirror, const struct tc_prefetch *o,
    const int *stopped)
{
	static struct tc_run	 rn;

	memset(&rn, 0, sizeof rn);
	rn.base = base;
	rn.uc = uc;
	rn.server = server;
	rn.mirror = mirror;
	rn.o = o;
	rn.stopped = stopped;
	rn.tty = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &rn.start);
	for (size_t i = 0; i < o->ntoolchains && *stopped == 0; i++)
		one(&rn, o->toolchains[i]);
	printf("prefetch: %zu toolchain%s: %zu files fetched, %zu already"
	    " cached, %zu failed; %.1f MB in %.2f s\n", o->ntoolchains,
	    o->ntoolchains == 1 ? "" : "s", rn.fetched, rn.cached, rn.failed,
	    (double)rn.bytes / 1e6, elapsed(&rn));
	for (size_t i = 0; i < rn.nfailures; i++) {
		printf("  failed: %s\n", rn.failures[i]);
		free(rn.failures[i]);
	}
	free(rn.failures);
	/* Transfers a signal left under way end with the client, later: they
	 * find the run (static) as it is now. */
	rn.failures = NULL;
	rn.nfailures = 0;
	return rn.failed > 0 || *stopped != 0;
}

void
prefetch_tc_free(struct tc_prefetch *o)
{
	for (size_t i = 0; i < o->ntoolchains; i++)
		free(o->toolchains[i]);
	free(o->toolchains);
	for (size_t i = 0; i < o->ntargets; i++)
		free(o->targets[i]);
	free(o->targets);
	for (size_t i = 0; i < o->ncomponents; i++)
		free(o->components[i]);
	free(o->components);
	free(o->host);
	free(o->profile);
	free(o->mirror);
}
