/*
 * Immutable files fetched once: a tarball, a dated file, an archived
 * rustup-init. The upstream's bytes go to a temp file as they come (on
 * the loop, into the page cache, as a mirror's .crate does) and every
 * client that asks meanwhile reads that file (tc_reader.c): the first
 * one and the followers alike get the bytes as they arrive, one upstream
 * download for all, and a slow client costs the others nothing. When
 * the download ends, its SHA-256 is compared with the one its manifest
 * gives (want); only a match is kept: fsynced and renamed into place on
 * a disk worker, counted in the usage journal. A file without a known
 * SHA-256 is passed through and never kept.
 *
 * What clients see when the SHA-256 does not match: those whose answer
 * had started (its length came first, from the upstream's Content-Length)
 * receive the upstream's bytes to the end, so their own check (rustup's
 * "checksum failed") rejects them; a client whose answer had not started
 * (the upstream sent no Content-Length) gets 502 naming the file and both
 * hashes. Nothing is kept: the next request asks the upstream again (it
 * may have been repaired meanwhile).
 *
 * A download cut short (the connection lost, a stall past
 * upstream_timeout) is asked again from where it stopped, Range:
 * bytes=N-, at most RESUMES times, only while the previous attempt made
 * progress: a 206 from N goes on; a 200 (an upstream that ignores Range)
 * is read from its start, its first N bytes dropped (the SHA-256 covers
 * the whole file either way). When it cannot go on, readers not started
 * get 502; the others get what the file holds, then their connection
 * closes (rustup resumes with Range); the partial file is removed.
 */
#include "server/toolchains/tc_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache/usage.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"
#include "server/upstream/upstream.h"

#define RESUMES		3

struct tc_fill {
	struct tc_source	 src;
	struct toolchain	*tc;
	char			 rel[DIST_PATH_MAX];
	char			 tmprel[STORE_PATH_MAX];
	char			 want[65];	/* "": never kept */
	char			 hdrs[96];
	bool			 pin;
	bool			 listed;	/* in tc->fills */
	bool			 busy;		/* fetch or commit under way */
	bool			 judged;	/* this attempt's answer */
	bool			 fatal;		/* aborted: no resume */
	EVP_MD_CTX		*sha;
	uint64_t		 skip;		/* a 200 to a resume: dropped */
	uint64_t		 attempt_from;
	int			 resumes;
	char			*why;		/* what went wrong */
	int			 commit_fd;
	int			 commit_res;
	struct tc_fill		*next;
};

static void	attempt(struct tc_fill *);

struct tc_fill *
tc_fill_find(struct toolchain *tc, const char *rel)
{
	for (struct tc_fill *f = tc->fills; f != NULL; f = f->next)
		if (strcmp(f->rel, rel) == 0)
			return f;
	return NULL;
}

static void
unlist(struct tc_fill *f)
{
	struct tc_fill	**pp;

	if (!f->listed)
		return;
	for (pp = &f->tc->fills; *pp != f; pp = &(*pp)->next)
		;
	*pp = f->next;
	f->listed = false;
}

static void
release(struct tc_source *src)
{
	struct tc_fill	*f = src->owner;

	unlist(f);
	if (f->src.fd >= 0)
		close(f->src.fd);
	EVP_MD_CTX_free(f->sha);
	free(f->why);
	free(f);
}

/* The temp file goes (readers keep reading it through their fd). */
static void
discard(struct tc_fill *f)
{
	if (f->tmprel[0] != '\0')
		store_unlink(f->tc->store, f->tmprel);
	f->tmprel[0] = '\0';
}

/* No more bytes will come: readers that started get what there is and
 * then a cut; the others status and why. */
static void
fail(struct tc_fill *f, int status, const char *why)
{
	struct toolchain	*tc = f->tc;
	char			*msg;

	if (status == 404)
		log_info("toolchains %s: %s: %s", tc->name, f->rel, why);
	else
		log_error("toolchains %s: %s: %s; not cached", tc->name, f->rel,
		    why);
	discard(f);
	unlist(f);
	f->busy = false;
	msg = xasprintf("%s: %s", f->rel, why);
	tc_source_fail(&f->src, status, msg);
	free(msg);
	tc_source_drop(&f->src);
}

static void
commit_work(void *arg)
{
	struct tc_fill	*f = arg;

	f->commit_res = store_tmp_commit(f->tc->store, f->commit_fd,
	    f->tmprel, f->rel, NULL, NULL);
	f->commit_fd = -1;
}

static void
commit_done(void *arg)
{
	struct tc_fill		*f = arg;
	struct toolchain	*tc = f->tc;

	f->tmprel[0] = '\0';	/* renamed, or removed on failure */
	if (f->commit_res != 0)
		log_error("toolchains %s: keeping %s: %s", tc->name, f->rel,
		    strerror(-f->commit_res));
	else {
		usage_added(tc->usage, f->rel, f->src.avail, f->pin);
		tc_evict_soon(tc);
	}
	unlist(f);
	f->busy = false;
	tc_source_drop(&f->src);
}

/* The whole file is here: kept when its SHA-256 is want's. */
static void
complete(struct tc_fill *f)
{
	struct toolchain	*tc = f->tc;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n;
	char			 hex[65];

	EVP_DigestFinal_ex(f->sha, md, &n);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (f->want[0] != '\0' && strcmp(hex, f->want) != 0) {
		tc->hash_failures++;
		tc_count(tc, METRIC_TOOLCHAIN_HASH_FAILURES_TOTAL, NULL, 1);
		free(f->why);
		f->why = xasprintf("its SHA-256 is %s, its manifest says %s:"
		    " the upstream's copy is not the released file", hex,
		    f->want);
		/* Started readers get every byte; the rest 502. */
		fail(f, 502, f->why);
		return;
	}
	f->src.state = SRC_DONE;
	tc_source_notify(&f->src);
	if (f->want[0] == '\0') {
		log_info("toolchains %s: %s passed through (%llu bytes; no"
		    " manifest names it: not kept)", tc->name, f->rel,
		    (unsigned long long)f->src.avail);
		discard(f);
		unlist(f);
		f->busy = false;
		tc_source_drop(&f->src);
		return;
	}
	log_info("toolchains %s: cached %s (%llu bytes)", tc->name, f->rel,
	    (unsigned long long)f->src.avail);
	if ((f->commit_fd = dup(f->src.fd)) < 0) {
		fail(f, 503, "cannot keep it: out of file descriptors");
		return;
	}
	workers_submit(tc->srv->workers, commit_work, commit_done, f);
}

/* This attempt's answer, before its first byte is taken: a 200 from the
 * start, a 206 from where the file stands, or a 200 to a resume. */
static bool
judge(struct tc_fill *f, struct fetch *fe)
{
	long		 status = fetch_status(fe);
	long long	 len = fetch_content_length(fe);
	const char	*cr = fetch_header(fe, "Content-Range");
	unsigned long long a, b, t;

	f->judged = true;
	if (f->attempt_from == 0 || status == 200) {
		if (status != 200 || len > (long long)TC_FILE_MAX)
			return false;
		if (f->attempt_from > 0 && (f->src.total < 0 || len !=
		    f->src.total))
			return false;
		f->skip = f->attempt_from;
		f->src.total = len >= 0 ? len : -1;
		return true;
	}
	if (status != 206 || cr == NULL || sscanf(cr, "bytes %llu-%llu/%llu",
	    &a, &b, &t) != 3 || a != f->attempt_from || (f->src.total >= 0 &&
	    (long long)t != f->src.total))
		return false;
	return true;
}

static bool
fill_data(struct fetch *fe, const void *buf, size_t len, void *arg)
{
	struct tc_fill	*f = arg;
	const char	*p = buf;
	size_t		 k;
	ssize_t		 n;

	if (!f->judged) {
		if (!judge(f, fe)) {
			f->fatal = true;
			free(f->why);
			f->why = xasprintf("the upstream's answer (%ld, %s) is"
			    " not the file%s", fetch_status(fe),
			    fetch_header(fe, "Content-Range") ?
			    fetch_header(fe, "Content-Range") : "no range",
			    f->attempt_from ? " from where it was cut" : "");
			return false;
		}
		tc_source_notify(&f->src);
	}
	k = f->skip < len ? (size_t)f->skip : len;
	f->skip -= k;
	p += k;
	len -= k;
	if (f->src.total >= 0 && f->src.avail + len > (uint64_t)f->src.total) {
		f->fatal = true;
		free(f->why);
		f->why = xasprintf("the upstream sent more than its"
		    " Content-Length (%lld bytes)", (long long)f->src.total);
		return false;
	}
	if (f->src.avail + len > TC_FILE_MAX) {
		f->fatal = true;
		free(f->why);
		f->why = xasprintf("larger than %llu bytes", TC_FILE_MAX);
		return false;
	}
	while (len > 0) {
		if ((n = pwrite(f->src.fd, p, len, (off_t)f->src.avail)) < 0) {
			f->fatal = true;
			free(f->why);
			f->why = xasprintf("cannot write it to the cache: %s",
			    strerror(errno));
			return false;
		}
		EVP_DigestUpdate(f->sha, p, (size_t)n);
		f->src.avail += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	tc_source_notify(&f->src);
	return true;
}

static void
fill_done(struct fetch *fe, void *arg)
{
	struct tc_fill		*f = arg;
	struct toolchain	*tc = f->tc;
	char			*why = NULL;
	enum tc_up		 v = tc_upstream_judge(tc, fe, &why);
	bool			 whole;

	whole = v == TC_UP_OK && f->skip == 0 && (f->src.total < 0 ?
	    !fetch_failed(fe) : f->src.avail == (uint64_t)f->src.total);
	if (whole) {
		free(why);
		complete(f);
		return;
	}
	if (f->why == NULL)
		f->why = why != NULL ? why : xasprintf("the upstream's body"
		    " ended after %llu of %lld bytes", (unsigned long long)
		    f->src.avail, (long long)f->src.total);
	else
		free(why);
	if (v == TC_UP_NOT_FOUND && f->src.avail == 0) {
		fail(f, 404, "the upstream has no such file");
		return;
	}
	if (!f->fatal && (v == TC_UP_OK || v == TC_UP_FAILED) &&
	    f->src.total >= 0 &&
	    f->resumes < RESUMES && (f->src.avail > f->attempt_from ||
	    f->resumes == 0) && !tc->stopping && !f->src.tc->srv->stopping) {
		log_info("toolchains %s: %s cut at %llu of %lld bytes (%s);"
		    " asking for the rest", tc->name, f->rel,
		    (unsigned long long)f->src.avail, (long long)f->src.total,
		    f->why);
		f->resumes++;
		tc_count(tc, METRIC_TOOLCHAIN_RESUMES_TOTAL, NULL, 1);
		attempt(f);
		return;
	}
	fail(f, 502, f->why);
}

static void
attempt(struct tc_fill *f)
{
	struct tc_get	g = { 0 };

	free(f->why);
	f->why = NULL;
	f->fatal = false;
	f->judged = false;
	f->skip = 0;
	f->attempt_from = f->src.avail;
	g.rel = f->rel;
	g.from = f->src.avail;
	g.max_body = 64 * 1024;		/* an error's body */
	g.on_data = fill_data;
	g.done = fill_done;
	g.arg = f;
	tc_upstream_get(f->tc, &g);
}

void
tc_fill_start(struct toolchain *tc, const char *rel, const char *want,
    bool pin, struct http_request *r)
{
	struct tc_fill	*f = xcalloc(1, sizeof *f);
	int		 fd;

	if ((fd = store_tmp_create(tc->store, f->tmprel)) < 0) {
		free(f);
		log_error("toolchains %s: %s: cannot make a temp file: %s",
		    tc->name, rel, strerror(-fd));
		http_reply_error_hdrs(r, 503, "Retry-After: 5\r\n", "%s: crated"
		    " cannot cache it right now (%s); try again", rel,
		    strerror(-fd));
		return;
	}
	f->tc = tc;
	snprintf(f->rel, sizeof f->rel, "%s", rel);
	snprintf(f->want, sizeof f->want, "%s", want ? want : "");
	snprintf(f->hdrs, sizeof f->hdrs, "%s", want ?
	    "Cache-Control: public, max-age=31536000, immutable\r\n"
	    "X-Crated-Cache: miss\r\n" : "X-Crated-Cache: pass\r\n");
	f->pin = pin;
	f->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL);
	f->src.tc = tc;
	f->src.fd = fd;
	f->src.total = -1;
	f->src.state = SRC_GROWING;
	f->src.path = f->rel;
	f->src.ctype = tc_ctype(rel);
	f->src.hdrs = f->hdrs;
	f->src.release = release;
	f->src.owner = f;
	f->src.refs = 1;		/* the fill's own, until it is over */
	f->busy = true;
	f->listed = true;
	f->next = tc->fills;
	tc->fills = f;
	tc->misses++;
	tc_count(tc, METRIC_TOOLCHAIN_MISSES_TOTAL, NULL, 1);
	tc_reader_add(&f->src, r);
	attempt(f);
}

size_t
tc_fill_count(struct toolchain *tc)
{
	size_t	n = 0;

	for (struct tc_fill *f = tc->fills; f != NULL; f = f->next)
		n++;
	return n;
}

void
tc_fill_join(struct tc_fill *f, struct http_request *r, bool pin)
{
	f->pin = f->pin || pin;
	f->tc->followers++;
	tc_count(f->tc, METRIC_TOOLCHAIN_FOLLOWERS_TOTAL, NULL, 1);
	tc_reader_add(&f->src, r);
}
