/*
 * Crates of a mirror: a download whose .crate is not cached finds its
 * checksum in the index file, the dl template in the upstream's
 * config.json, then fetches it once: written to a temp file and hashed
 * as it comes, streamed to the first client (its last byte held until the
 * checksum is known), everyone else served from the file, kept only when
 * the SHA-256 matches. A full disk passes crates through uncached.
 */
#include "server/mirror/mirror_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/semver.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/files.h"
#include "server/files/hot.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/storage/mirror_l2.h"
#include "server/upstream/upstream.h"

#define CRATE_MAX	(1u << 30)
#define STREAM_HIGH	(1u << 20)	/* pause the upstream past this */
#define HEAD_MAX	4096		/* a crate's first bytes, judged */

/* A .crate being fetched: written to a temp file and hashed as it comes,
 * streamed to the first client, everyone else served from the file. */
struct crate_fill {
	struct mirror		*m;
	char			 rel[STORE_PATH_MAX];
	char			 tmprel[STORE_PATH_MAX];
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	char			 cksum[65];
	char			 origin[128];	/* the dl URL's scheme://host */
	int			 fd;		/* -1 once nodisk */
	EVP_MD_CTX		*sha;
	struct fetch		*fetch;
	struct http_request	*streamer;	/* receives the bytes live */
	long long		 length;	/* Content-Length, -1 unknown */
	long long		 got;
	/* The first bytes, held until the status, the Content-Type and
	 * the gzip magic say it is a .crate (judged); for what is not, the
	 * start of the body, for the upstream's message (refused). */
	unsigned char		 head[HEAD_MAX];
	size_t			 headlen;
	bool			 judged;
	bool			 refused;
	bool			 nodisk;	/* not stored: passed through */
	unsigned char		 last;		/* the last byte received */
	bool			 streaming;
	bool			 paused;
	int			 res;		/* commit result */
	bool			 pinned;	/* asked for by crated prefetch */
	bool			 from_l2;	/* found in the shared cache */
	char			*l2_body;	/* its bytes, until written */
	struct evict		*evict;		/* crates to remove first */
	struct dl		*waiters;	/* served from the file */
	struct crate_fill	*next;
	struct crate_fill	*held_next;	/* in m->commits_held */
};

/* A download request on its way through index, config and crate. */
struct dl {
	struct mirror		*m;
	struct http_request	*req;
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	char			 path[INDEX_PATH_MAX];
	char			 cksum[65];
	bool			 refreshed;
	bool			 pin;
	struct dl		*next;
};
static const char crate_hdrs[] =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "X-Crated-Cache: miss\r\n";

static void
dl_free(struct dl *d)
{
	free(d);
}

static void
serve_crate_file(struct dl *d)
{
	char	rel[STORE_PATH_MAX];

	store_crate_rel(d->name, d->vers, rel);
	if (files_crate(d->m->reg, d->req, rel, crate_hdrs) != 0)
		http_reply_error(d->req, 502, "crate `%s` %s could not be"
		    " cached", d->name, d->vers);
}

static void
crate_fill_free(struct crate_fill *cf)
{
	struct crate_fill	**pp;

	for (pp = &cf->m->crate_fills; *pp != cf; pp = &(*pp)->next)
		;
	*pp = cf->next;
	EVP_MD_CTX_free(cf->sha);
	free(cf);
}

static void
crate_fail_waiters(struct crate_fill *cf, int status, const char *why)
{
	struct dl	*d, *next;

	for (d = cf->waiters; d != NULL; d = next) {
		next = d->next;
		http_reply_error(d->req, status, "crate `%s` %s: %s", cf->name,
		    cf->vers, why);
		dl_free(d);
	}
	cf->waiters = NULL;
}

static void
crate_commit_work(void *arg)
{
	struct crate_fill	*cf = arg;

	/* Its victims and any chosen before them: the room it counts on. */
	mirror_evict_drain(cf->m);
	cf->res = store_tmp_commit(cf->m->reg->store, cf->fd, cf->tmprel,
	    cf->rel, "crate:after-tmp", "crate:after-rename");
	cf->fd = -1;
}

static void	commits_release(struct mirror *);

static void
crate_commit_done(void *arg)
{
	struct crate_fill	*cf = arg;
	struct mirror		*m = cf->m;
	struct dl		*d, *next;

	m->committing -= (uint64_t)cf->got;
	if (cf->res != 0) {
		log_error("registry %s: caching %s %s: %s", m->reg->name,
		    cf->name, cf->vers, strerror(-cf->res));
		crate_fail_waiters(cf, 500, "crated could not store it");
	}
	if (cf->res == 0) {
		usage_added(m->usage, cf->rel, (uint64_t)cf->got, cf->pinned);
		/* What the upstream sent is shared, in the background. */
		if (!cf->from_l2)
			mirror_l2_crate_put(m->l2, cf->rel, cf->cksum);
	}
	mirror_evict_done(cf->evict);
	for (d = cf->waiters; d != NULL; d = next) {
		next = d->next;
		serve_crate_file(d);
		dl_free(d);
	}
	crate_fill_free(cf);
	commits_release(m);
	mirror_evict_soon(m);
}

/* A .crate from the shared cache (its SHA-256 checked): written to the
 * temp file, then committed as a fetched one. On a disk worker. */
static void
l2_commit_work(void *arg)
{
	struct crate_fill	*cf = arg;
	const char		*p = cf->l2_body;
	size_t			 left = (size_t)cf->got;
	ssize_t			 n;

	while (left > 0) {
		if ((n = write(cf->fd, p, left)) < 0) {
			cf->res = -errno;
			store_tmp_discard(cf->m->reg->store, cf->fd,
			    cf->tmprel);
			cf->fd = -1;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	free(cf->l2_body);
	cf->l2_body = NULL;
	if (cf->res == 0)
		crate_commit_work(cf);
	else
		mirror_evict_drain(cf->m);
}

/* Stores cf (fetched, or found in the shared cache): its victims are
 * chosen now, removed on the worker before its rename. */
static void
commit_submit(struct crate_fill *cf)
{
	struct mirror	*m = cf->m;

	m->committing += (uint64_t)cf->got;
	cf->evict = mirror_evict_victims(m, 0);
	workers_submit(m->srv->workers, cf->from_l2 ? l2_commit_work :
	    crate_commit_work, crate_commit_done, cf);
}

/* Whether cf may be stored beside the crates being stored now: only
 * crates on disk can make room, so those being stored must fit under the
 * limit with it. The first one always may. */
static bool
commit_fits(struct mirror *m, const struct crate_fill *cf)
{
	uint64_t	max = (uint64_t)m->reg->cfg->max_cache_bytes;

	return m->committing == 0 || max == 0 || m->reg->cfg->offline ||
	    m->committing + (uint64_t)cf->got <= max;
}

/*
 * A burst of fetches can finish faster than the disk stores them (each
 * commit fsyncs): stored all at once, more crates than the limit holds
 * would be in crates/, with nothing yet evictable to make their room. A
 * crate that does not fit beside those being stored waits, in order,
 * until a commit is done (that crate is then on disk and evictable).
 */
static void
crate_commit(struct crate_fill *cf)
{
	struct mirror		 *m = cf->m;
	struct crate_fill	**pp;

	if (m->commits_held == NULL && commit_fits(m, cf)) {
		commit_submit(cf);
		return;
	}
	for (pp = &m->commits_held; *pp != NULL; pp = &(*pp)->held_next)
		;
	cf->held_next = NULL;
	*pp = cf;
}

/* After a commit, on the loop: the held crates that fit now. */
static void
commits_release(struct mirror *m)
{
	struct crate_fill	*cf;

	while ((cf = m->commits_held) != NULL && commit_fits(m, cf)) {
		m->commits_held = cf->held_next;
		commit_submit(cf);
	}
}

static void
resume(void *arg)
{
	struct crate_fill	*cf = arg;

	if (cf->paused && cf->fetch != NULL) {
		cf->paused = false;
		fetch_pause(cf->fetch, false);
	}
}

/* The cache cannot take the crate (a full disk): it goes on to the client
 * uncached, still verified; logged once per LOG_EVERY seconds. */
static void
no_room(struct crate_fill *cf, int err)
{
	struct mirror	*m = cf->m;
	if (cf->fd >= 0)
		store_tmp_discard(m->reg->store, cf->fd, cf->tmprel);
	cf->fd = -1;
	cf->nodisk = true;
	log_every(&m->nospace_log, LOG_EVERY, LOG_ERROR, "registry %s:"
	    " cannot cache crate %s %s: %s; crates are passed through uncached"
	    " (still verified) until there is room%s", m->reg->name, cf->name,
	    cf->vers, strerror(err), err == ENOSPC ? " on the data directory's"
	    " disk" : "");
}

/* Writes, hashes and streams a piece of a judged .crate. */
static bool
crate_take(struct crate_fill *cf, struct fetch *f, const void *buf,
    size_t len)
{
	const char	*p = buf;
	size_t		 left = len, queued;

	if (len == 0)
		return true;
	if (cf->got == 0 && !cf->streaming && cf->streamer != NULL) {
		cf->length = fetch_content_length(f);
		if (cf->length > 0) {
			http_stream_start(cf->streamer, 200,
			    "application/gzip", crate_hdrs,
			    (size_t)cf->length);
			cf->streaming = true;
		}
	}
	if (cf->got + (long long)len > CRATE_MAX)
		return false;
	while (left > 0 && !cf->nodisk) {
		ssize_t	n = write(cf->fd, p, left);

		if (n < 0) {
			no_room(cf, errno);
			/* Nobody receives it live (no length): answered
			 * 503 before any byte. */
			if (!cf->streaming)
				return false;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	EVP_DigestUpdate(cf->sha, buf, len);
	cf->last = ((const unsigned char *)buf)[len - 1];
	/* The last byte is held back until the checksum is known: a client
	 * never receives a whole body that does not match the index. */
	if (cf->streaming) {
		long long	room = cf->length - 1 - cf->got;
		size_t		n = room <= 0 ? 0 : (size_t)room < len ?
				    (size_t)room : len;

		if (cf->got + (long long)len > cf->length)
			return false;
		queued = http_stream_write(cf->streamer, buf, n);
		if (queued > STREAM_HIGH && !cf->paused) {
			cf->paused = true;
			fetch_pause(f, true);
			http_stream_on_drain(cf->streamer, resume, cf);
		}
	}
	cf->got += (long long)len;
	return true;
}

/*
 * A piece of the upstream's 2xx answer for a .crate. Nothing reaches the
 * client before the answer is judged: a 200 whose Content-Type is not
 * HTML and whose body starts with gzip's magic. Anything else (a 203 or
 * another 2xx, a sign-in page) is refused as index files are, its start
 * kept for the upstream's message, and cargo gets a 502 (crate_done).
 */
static bool
crate_data(struct fetch *f, const void *buf, size_t len, void *arg)
{
	struct crate_fill	*cf = arg;
	size_t			 k;

	cf->fetch = f;
	if (cf->judged)
		return crate_take(cf, f, buf, len);
	k = len < HEAD_MAX - cf->headlen ? len : HEAD_MAX - cf->headlen;
	memcpy(cf->head + cf->headlen, buf, k);
	cf->headlen += k;
	if (fetch_status(f) != 200 || mirror_looks_html(fetch_header(f,
	    "Content-Type"), NULL, 0))
		cf->refused = true;
	else if (cf->headlen < 2)
		return true;
	else if (cf->head[0] != 0x1f || cf->head[1] != 0x8b)
		cf->refused = true;
	if (cf->refused)
		return k == len && cf->headlen < HEAD_MAX;
	cf->judged = true;
	return crate_take(cf, f, cf->head, cf->headlen) &&
	    crate_take(cf, f, (const char *)buf + k, len - k);
}

/* What the upstream sent instead of a .crate (crate_data refused it, or
 * it ended before two bytes). New string. */
static char *
not_a_crate(struct fetch *f, struct crate_fill *cf)
{
	const char	*ct = fetch_header(f, "Content-Type");
	char		*why = NULL, *msg;

	if (mirror_verdict_of(f, fetch_status(f), (const char *)cf->head,
	    cf->headlen, &why) != V_OK)
		return why;
	msg = mirror_message_of((const char *)cf->head, cf->headlen);
	why = xasprintf("upstream answered 200 with something that is not a"
	    " .crate (no gzip header; Content-Type %s; it starts: %s)",
	    ct ? ct : "none", msg);
	free(msg);
	return why;
}

/* What was wrong with a .crate, beside its verdict. */
enum crate_fault {
	CRATE_SOUND,		/* a .crate whose SHA-256 is the index's */
	CRATE_NOT_A_CRATE,	/* a page, an error, no gzip header */
	CRATE_REFUSED,		/* the upstream's answer failed (judged) */
	CRATE_CUT,		/* the transfer failed midway */
	CRATE_MISSING,		/* no such file, though the index lists it */
	CRATE_CHECKSUM,		/* its SHA-256 is not the index's */
};

/* What the finished fetch of a .crate came to; *why (new) says what went
 * wrong for the failures, *fault what kind of wrong. */
static enum verdict
crate_verdict(struct fetch *f, struct crate_fill *cf, char **why,
    enum crate_fault *fault)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	char		 hex[65];
	enum verdict	 v;

	if (cf->refused || (!cf->judged && fetch_failed(f) == 0 &&
	    fetch_status(f) >= 200 && fetch_status(f) < 300)) {
		*why = not_a_crate(f, cf);
		*fault = CRATE_NOT_A_CRATE;
		return V_CONFIG;
	}
	v = mirror_judge(cf->m, f, why);
	*fault = v == V_OK ? CRATE_SOUND : CRATE_REFUSED;
	if (v == V_OK && fetch_failed(f) == 0) {
		EVP_DigestFinal_ex(cf->sha, md, &mdlen);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		if (strcmp(hex, cf->cksum) != 0) {
			*why = xasprintf("checksum mismatch: the index says %s,"
			    " the upstream sent %s", cf->cksum, hex);
			*fault = CRATE_CHECKSUM;
			v = V_CONFIG;
		}
	} else if (v == V_OK || v == V_NOT_MODIFIED) {
		free(*why);
		*why = xasprintf("upstream transfer failed (%ld)",
		    fetch_status(f));
		*fault = CRATE_CUT;
		v = V_TRANSIENT;
	} else if (v == V_NOT_FOUND) {
		*why = xasprintf("the upstream has no such file (%ld) though"
		    " its index lists it", fetch_status(f));
		*fault = CRATE_MISSING;
	}
	return v;
}

/* A crate not served: logged, every client told (before any byte when
 * possible). */
static void
crate_failed(struct crate_fill *cf, const char *why)
{
	struct mirror	*m = cf->m;
	int		 status = 502;
	char		*nd = NULL;

	if (cf->nodisk && !cf->streaming && !cf->refused) {
		nd = xasprintf("crated cannot cache it (the data directory's"
		    " disk is full?) and the upstream did not send its length,"
		    " so it cannot be passed through; try again later");
		why = nd;
		status = 503;
	}
	log_error("registry %s: crate %s %s from %s: %s; not cached",
	    m->reg->name, cf->name, cf->vers, cf->origin, why);
	if (cf->fd >= 0)
		store_tmp_discard(m->reg->store, cf->fd, cf->tmprel);
	cf->fd = -1;
	if (cf->streamer != NULL) {
		if (cf->streaming)
			http_stream_abort(cf->streamer);
		else
			http_reply_error(cf->streamer, status, "crate `%s` %s:"
			    " %s", cf->name, cf->vers, why);
	}
	crate_fail_waiters(cf, status, why);
	crate_fill_free(cf);
	free(nd);
}

static void
crate_done(struct fetch *f, void *arg)
{
	struct crate_fill	*cf = arg;
	struct mirror		*m = cf->m;
	char			*why = NULL;
	enum crate_fault	 fault;
	enum verdict		 v = crate_verdict(f, cf, &why, &fault);

	mirror_count_upstream(m, fetch_seconds(f), "crate", v);
	cf->fetch = NULL;
	mirror_count(m, METRIC_CRATE_FETCHES_TOTAL, v == V_OK ?
	    "outcome=\"ok\"" : "outcome=\"failed\"", 1);
	if (fault == CRATE_CHECKSUM)
		mirror_count(m, METRIC_CHECKSUM_FAILURES_TOTAL, NULL, 1);
	if (v != V_OK) {
		crate_failed(cf, why);
		free(why);
		return;
	}
	free(why);
	log_info("registry %s: %s crate %s %s (%lld bytes, %.3fs)",
	    m->reg->name, cf->nodisk ? "passed through (not cached)" :
	    "cached", cf->name, cf->vers, cf->got, fetch_seconds(f));
	if (cf->streamer != NULL && cf->streaming) {
		/* The held-back last byte. */
		http_stream_write(cf->streamer, &cf->last, 1);
		http_stream_end(cf->streamer);
	} else if (cf->streamer != NULL) {
		struct dl	*d = xcalloc(1, sizeof *d);

		d->m = m;
		d->req = cf->streamer;
		snprintf(d->name, sizeof d->name, "%s", cf->name);
		snprintf(d->vers, sizeof d->vers, "%s", cf->vers);
		d->next = cf->waiters;
		cf->waiters = d;
	}
	cf->streamer = NULL;
	if (cf->nodisk) {
		mirror_count(m, METRIC_CRATES_UNCACHED_TOTAL, NULL, 1);
		for (struct dl *d = cf->waiters, *next; d != NULL; d = next) {
			next = d->next;
			http_reply_error_hdrs(d->req, 503, "Retry-After: 1\r\n",
			    "crate `%s` %s: crated cannot cache it right now"
			    " (the data directory's disk is full?); try again",
			    cf->name, cf->vers);
			dl_free(d);
		}
		cf->waiters = NULL;
		crate_fill_free(cf);
		return;
	}
	crate_commit(cf);
}

/* scheme://host[:port] of url, for log lines (never a query's secret). */
static void
origin_of(const char *url, char *out, size_t size)
{
	const char	*h = strstr(url, "://");
	size_t		 n = h != NULL ? (size_t)(h - url) + 3 +
			    strcspn(h + 3, "/?#") : strcspn(url, "/?#");

	snprintf(out, size, "%.*s", (int)n, url);
}

/* Asks the upstream for cf's .crate, its dl template known. */
static void
crate_fetch(struct crate_fill *cf)
{
	struct mirror		*m = cf->m;
	struct fetch_opts	 o = { 0 };
	char			*url;

	url = regconfig_dl_url(m->rc.dl, cf->name, cf->vers, cf->cksum);
	origin_of(url, cf->origin, sizeof cf->origin);
	o.url = url;
	o.max_body = CRATE_MAX;
	o.on_data = crate_data;
	o.done = crate_done;
	o.arg = cf;
	mirror_admit(m, &o);
	free(url);
}

static void
crate_config(struct mirror *m, const char *error, void *arg)
{
	struct crate_fill	*cf = arg;

	if (error != NULL) {
		snprintf(cf->origin, sizeof cf->origin, "the upstream");
		crate_failed(cf, error);
		return;
	}
	crate_fetch(cf);
}

/* Asks the upstream for cf's .crate. With a shared cache the upstream's
 * config.json was not asked for before (a crate found in the store needs
 * no dl template): it is now. */
static void
crate_upstream(struct crate_fill *cf)
{
	if (cf->m->l2 != NULL)
		mirror_get_config(cf->m, crate_config, cf);
	else
		crate_fetch(cf);
}

/* What the shared cache had of cf's .crate: a verified copy is kept and
 * served; anything else (missing, a wrong checksum, the store down) goes
 * to the upstream as before. */
static void
l2_crate_done(enum l2_status s, char *crate, size_t len, void *arg)
{
	struct crate_fill	*cf = arg;
	struct mirror		*m = cf->m;
	struct dl		*d;

	/* Shutting down, a miss goes no further (the upstream client may be
	 * going: server_finish); a hit is still served while the drain
	 * lasts. */
	if (s != L2_FOUND && m->srv->stopping) {
		free(crate);
		snprintf(cf->origin, sizeof cf->origin, "the object store");
		crate_failed(cf, "crated is shutting down");
		return;
	}
	if (s != L2_FOUND) {
		crate_upstream(cf);
		return;
	}
	log_info("registry %s: cached crate %s %s from the object store (%zu"
	    " bytes)", m->reg->name, cf->name, cf->vers, len);
	cf->from_l2 = true;
	cf->l2_body = crate;
	cf->got = (long long)len;
	if (cf->streamer != NULL) {
		d = xcalloc(1, sizeof *d);
		d->m = m;
		d->req = cf->streamer;
		snprintf(d->name, sizeof d->name, "%s", cf->name);
		snprintf(d->vers, sizeof d->vers, "%s", cf->vers);
		d->next = cf->waiters;
		cf->waiters = d;
		cf->streamer = NULL;
	}
	crate_commit(cf);
}

static void
start_crate(struct dl *d)
{
	struct mirror		*m = d->m;
	struct crate_fill	*cf;
	char			 rel[STORE_PATH_MAX];

	store_crate_rel(d->name, d->vers, rel);
	if (store_exists(m->reg->store, rel)) {
		serve_crate_file(d);
		dl_free(d);
		return;
	}
	if (m->reg->cfg->offline) {
		mirror_offline_miss(m, d->name, d->vers);
		http_reply_error(d->req, 404, "crate `%s` %s is not in the"
		    " offline mirror `%s`", d->name, d->vers, m->reg->name);
		dl_free(d);
		return;
	}
	for (cf = m->crate_fills; cf != NULL; cf = cf->next)
		if (strcmp(cf->rel, rel) == 0) {
			cf->pinned = cf->pinned || d->pin;
			d->next = cf->waiters;
			cf->waiters = d;
			return;
		}
	cf = xcalloc(1, sizeof *cf);
	cf->m = m;
	snprintf(cf->rel, sizeof cf->rel, "%s", rel);
	snprintf(cf->name, sizeof cf->name, "%s", d->name);
	snprintf(cf->vers, sizeof cf->vers, "%s", d->vers);
	memcpy(cf->cksum, d->cksum, sizeof cf->cksum);
	if ((cf->fd = store_tmp_create(m->reg->store, cf->tmprel)) < 0)
		no_room(cf, -cf->fd);
	cf->sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(cf->sha, EVP_sha256(), NULL);
	cf->streamer = d->req;
	cf->length = -1;
	cf->pinned = d->pin;
	dl_free(d);
	cf->next = m->crate_fills;
	m->crate_fills = cf;
	/* A full disk passes crates through from the upstream as before. */
	if (!cf->nodisk && mirror_l2_crate_get(m->l2, rel, cf->cksum,
	    l2_crate_done, cf))
		return;
	crate_upstream(cf);
}

static void
dl_config(struct mirror *m, const char *error, void *arg)
{
	struct dl	*d = arg;

	if (error != NULL) {
		http_reply_error(d->req, 502, "crate `%s` %s: %s", d->name,
		    d->vers, error);
		dl_free(d);
		return;
	}
	start_crate(d);
}

static void
dl_index(struct mirror *m, const struct outcome *o, void *arg)
{
	struct dl	*d = arg;
	bool		 found = o->status == 200 && index_file_cksum(
			    o->e->plain.body, o->e->plain.len, d->vers,
			    d->cksum);

	if (o->status == 200 && !found && !d->refreshed && o->stale == NULL &&
	    !m->reg->cfg->offline) {
		/* Maybe published since we last looked. */
		d->refreshed = true;
		mirror_index_get(m, d->name, d->path, true, dl_index, d);
		return;
	}
	if (found && m->l2 != NULL) {
		start_crate(d);		/* the store first: no config needed */
		return;
	}
	if (found) {
		mirror_get_config(m, dl_config, d);
		return;
	}
	if (m->reg->cfg->offline) {
		mirror_offline_miss(m, d->name, d->vers);
		http_reply_error(d->req, 404, "crate `%s` %s is not in the"
		    " offline mirror `%s` (fill it with `crated prefetch` or"
		    " `crated import`)", d->name, d->vers, m->reg->name);
	} else if (o->status == 200 || o->status == 404)
		http_reply_error(d->req, 404, "crate `%s` has no version %s in"
		    " the upstream of registry `%s`", d->name, d->vers,
		    m->reg->name);
	else
		mirror_index_reply_error(d->req, o);
	dl_free(d);
}

void
mirror_download(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	struct dl	*d = xcalloc(1, sizeof *d);

	d->m = reg->mirror;
	d->req = r;
	snprintf(d->name, sizeof d->name, "%s", rt->name);
	snprintf(d->vers, sizeof d->vers, "%s", rt->vers);
	crate_index_path(rt->name, d->path);
	d->pin = http_header(r, "X-Crated-Pin") != NULL;
	mirror_index_get(d->m, d->name, d->path, false, dl_index, d);
}

struct keep {
	struct mirror	*m;
	char		 rel[STORE_PATH_MAX];
	char		*crate;
	size_t		 len;
	int		 res;
};

static void
keep_work(void *arg)
{
	struct keep	*k = arg;

	mirror_evict_drain(k->m);
	if (!store_exists(k->m->reg->store, k->rel))
		k->res = store_write(k->m->reg->store, k->rel, k->crate,
		    k->len, "crate:after-tmp", "crate:after-rename");
}

static void
keep_done(void *arg)
{
	struct keep	*k = arg;

	if (k->res == 0) {
		usage_added(k->m->usage, k->rel, k->len, false);
		mirror_evict_soon(k->m);
		/* Shared too: other replicas check it against the
		 * upstream's index line before they serve it. */
		mirror_l2_crate_put(k->m->l2, k->rel, NULL);
	}
	if (k->res != 0)
		log_warn("registry %s: keeping the uploaded %s: %s",
		    k->m->reg->name, k->rel, strerror(-k->res));
	free(k->crate);
	free(k);
}

void
mirror_keep_crate(struct mirror *m, const char *name, const char *vers,
    const void *crate, size_t len)
{
	struct keep	*k = xcalloc(1, sizeof *k);

	k->m = m;
	store_crate_rel(name, vers, k->rel);
	k->crate = xmalloc(len);
	memcpy(k->crate, crate, len);
	k->len = len;
	workers_submit(m->srv->workers, keep_work, keep_done, k);
}

void
mirror_served_crate(struct mirror *m, const char *rel, bool pin)
{
	usage_used(m->usage, rel, time(NULL));
	if (pin)
		usage_pin(m->usage, rel);
}
