/*
 * A mirror's second-level cache in the object store: reads before the
 * upstream, writes in the background after it (server/storage/mirror_l2.h
 * says what is stored where and why). The mirror (server/mirror/) calls
 * in; nothing here calls the mirror but through the callbacks it hands
 * down.
 */
#include "server/storage/mirror_l2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/storage/objstore.h"

#define META_MAX	4096
#define VALUE_MAX	256	/* a validator from the sidecar */
#define SKEW		300	/* seconds a sidecar may be in the future */

struct mirror_l2 {
	struct registry		*reg;
	struct server		*srv;
	struct objstore		*os;
	const char		*prefix;	/* reg->objprefix */
	char			 labels[96];
	time_t			 down_until;	/* skipped until then */
	unsigned		 puts;		/* writes under way */
	unsigned		 gets;		/* reads under way */
	struct log_every	 put_log, bad_log;
	unsigned long long	 hits, misses, bad, skipped, stored, failed;
};

static void
count(struct mirror_l2 *l2, const char *op, const char *outcome)
{
	char	labels[160];

	snprintf(labels, sizeof labels, "%s,op=\"%s\",outcome=\"%s\"",
	    l2->labels, op, outcome);
	metrics_add(METRIC_STORAGE_MIRROR_TOTAL, labels, 1);
}

static char *
key_of(struct mirror_l2 *l2, const char *rel)
{
	return xasprintf("%s%s", l2->prefix, rel);
}

/* The server's upstream client (the store's too) is gone: the last
 * worker callbacks of server_finish may still come. */
static bool
gone(struct mirror_l2 *l2)
{
	return l2->srv->upstream == NULL;
}

static bool
skipping(struct mirror_l2 *l2)
{
	return time(NULL) < l2->down_until;
}

/* Whether the store answered r; a store that did not (or refused crated's
 * credentials) is skipped for L2_DOWN_SECS, said once per period. */
static bool
answered(struct mirror_l2 *l2, const struct obj_result *r)
{
	const char	*why = r->error != NULL ? r->error : "no answer";

	if (r->status != OBJ_UNAVAILABLE && r->status != OBJ_DENIED) {
		if (l2->down_until != 0) {
			log_info("registry %s: object store %s answers again;"
			    " the mirror uses it", l2->reg->name,
			    objstore_name(l2->os));
			l2->down_until = 0;
		}
		return true;
	}
	if (!skipping(l2))
		log_warn("registry %s: object store %s: %s; the mirror works"
		    " without it (upstream and local disk) for %d s",
		    l2->reg->name, objstore_name(l2->os), why, L2_DOWN_SECS);
	l2->down_until = time(NULL) + L2_DOWN_SECS;
	return false;
}

/* A read the caller stopped waiting for: the store is skipped from now,
 * as when it does not answer. */
static void
too_slow(struct mirror_l2 *l2, int ms)
{
	struct obj_result	r = { .status = OBJ_UNAVAILABLE };
	char			why[96];

	snprintf(why, sizeof why, "no answer within %d ms (a request waits"
	    " on it)", ms);
	r.error = why;
	answered(l2, &r);
}

/* A timer ending the wait for a read (ms); NULL when it cannot be made
 * (the read then waits for the store's own limits). */
static struct event *
wait_timer(struct mirror_l2 *l2, int ms, event_callback_fn fn, void *arg)
{
	struct event	*ev = evtimer_new(l2->srv->base, fn, arg);
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (ev != NULL)
		evtimer_add(ev, &tv);
	return ev;
}

static void
wait_end(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

struct mirror_l2 *
mirror_l2_open(struct registry *reg)
{
	struct mirror_l2	*l2;

	if (reg->objstore == NULL)
		return NULL;
	l2 = xcalloc(1, sizeof *l2);
	l2->reg = reg;
	l2->srv = reg->srv;
	l2->os = reg->objstore;
	l2->prefix = reg->objprefix != NULL ? reg->objprefix : "";
	snprintf(l2->labels, sizeof l2->labels, "registry=\"%s\"", reg->name);
	log_info("registry %s: shares its cache through %s (under \"%s\")",
	    reg->name, objstore_name(l2->os), l2->prefix);
	return l2;
}

void
mirror_l2_close(struct mirror_l2 *l2)
{
	if (l2 == NULL)
		return;
	free(l2);
}

/* A string from the sidecar that may go into a request header: short,
 * printable ASCII. New copy, or NULL. */
static char *
header_value(json_t *v)
{
	const char	*s = json_string_value(v);

	if (s == NULL || strlen(s) > VALUE_MAX)
		return NULL;
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return NULL;
	return xstrdup(s);
}

/* Reads a sidecar into x; one that makes no sense is ignored. */
static void
parse_meta(const char *buf, size_t len, struct l2_index *x)
{
	json_t		*j = json_loadb(buf, len, 0, NULL);
	json_int_t	 fetched;
	time_t		 now = time(NULL);

	if (!json_is_object(j) || !json_is_integer(json_object_get(j,
	    "fetched")) || (x->plain_etag = header_value(json_object_get(j,
	    "plain_etag"))) == NULL) {
		json_decref(j);
		return;
	}
	fetched = json_integer_value(json_object_get(j, "fetched"));
	/* Another replica's clock: a little ahead is fine, far ahead would
	 * keep the file fresh for ever. */
	if (fetched > 0 && fetched <= (json_int_t)now + SKEW) {
		x->fetched = fetched > (json_int_t)now ? now : (time_t)fetched;
		x->up_etag = header_value(json_object_get(j, "etag"));
		x->up_lastmod = header_value(json_object_get(j,
		    "last_modified"));
	}
	json_decref(j);
}

/* Whether a read may start: the store not skipped, fewer than
 * L2_GETS_MAX under way (else the caller goes upstream at once). */
static bool
get_admit(struct mirror_l2 *l2)
{
	if (l2 == NULL || skipping(l2) || gone(l2))
		return false;
	if (l2->gets >= L2_GETS_MAX) {
		count(l2, "get", "skipped");
		return false;
	}
	l2->gets++;
	return true;
}

/* An index file and its sidecar, asked for at once. */
struct iget {
	struct mirror_l2	*l2;
	struct event		*timer;
	bool			 abandoned;	/* the caller was answered */
	bool			 meta_only;	/* mirror_l2_meta_get */
	int			 left;
	enum obj_status		 status;	/* the index file's */
	struct l2_index		 x;
	char			*meta;
	size_t			 mlen;
	l2_index_cb		 cb;
	void			*arg;
};

static void
iget_step(struct iget *g)
{
	struct mirror_l2	*l2 = g->l2;
	enum l2_status		 s;

	if (--g->left > 0)
		return;
	l2->gets--;
	wait_end(&g->timer);
	if (g->status == OBJ_OK && g->meta != NULL)
		parse_meta(g->meta, g->mlen, &g->x);
	/* A sidecar alone is of use only when it names a file. */
	if (g->meta_only && g->status == OBJ_OK && g->x.plain_etag == NULL)
		g->status = OBJ_NOT_FOUND;
	if (g->abandoned)
		s = L2_DOWN;
	else if (g->status == OBJ_OK) {
		s = L2_FOUND;
		l2->hits++;
		count(l2, g->meta_only ? "meta_get" : "index_get", "hit");
	} else if (g->status == OBJ_NOT_FOUND) {
		s = L2_MISSING;
		l2->misses++;
		count(l2, g->meta_only ? "meta_get" : "index_get", "miss");
	} else {
		s = L2_DOWN;
		count(l2, g->meta_only ? "meta_get" : "index_get", "failed");
	}
	if (!g->abandoned)
		g->cb(s, s == L2_FOUND ? &g->x : NULL, g->arg);
	free(g->x.body);
	free(g->x.plain_etag);
	free(g->x.up_etag);
	free(g->x.up_lastmod);
	free(g->meta);
	free(g);
}

static void
iget_body(const struct obj_result *r, void *arg)
{
	struct iget	*g = arg;

	g->status = r->status;
	if (!answered(g->l2, r))
		g->status = OBJ_UNAVAILABLE;
	else if (r->status == OBJ_OK) {
		g->x.body = xmalloc(r->len + 1);
		memcpy(g->x.body, r->body, r->len);
		g->x.body[r->len] = '\0';
		g->x.len = r->len;
	} else if (r->status != OBJ_NOT_FOUND)
		log_every(&g->l2->bad_log, 10, LOG_WARN, "registry %s: %s",
		    g->l2->reg->name, r->error ? r->error : "store error");
	iget_step(g);
}

static void
iget_meta(const struct obj_result *r, void *arg)
{
	struct iget	*g = arg;

	if (g->meta_only) {
		g->status = answered(g->l2, r) ? r->status : OBJ_UNAVAILABLE;
		if (r->status == OBJ_OK && r->len > META_MAX)
			g->status = OBJ_NOT_FOUND;
	}
	if (r->status == OBJ_OK && r->len <= META_MAX) {
		g->meta = xmalloc(r->len + 1);
		memcpy(g->meta, r->body, r->len);
		g->meta[r->len] = '\0';
		g->mlen = r->len;
	}
	iget_step(g);
}

static void
iget_late(evutil_socket_t fd, short what, void *arg)
{
	struct iget	*g = arg;

	wait_end(&g->timer);
	g->abandoned = true;
	too_slow(g->l2, L2_INDEX_WAIT_MS);
	count(g->l2, "index_get", "failed");
	g->cb(L2_DOWN, NULL, g->arg);
}

bool
mirror_l2_index_get(struct mirror_l2 *l2, const char *path, l2_index_cb cb,
    void *arg)
{
	struct iget	*g;
	char		*key;

	if (!get_admit(l2))
		return false;
	g = xcalloc(1, sizeof *g);
	g->l2 = l2;
	g->cb = cb;
	g->arg = arg;
	g->left = 2;
	g->timer = wait_timer(l2, L2_INDEX_WAIT_MS, iget_late, g);
	key = xasprintf("%sindex/%s", l2->prefix, path);
	objstore_get(l2->os, key, NULL, L2_INDEX_MAX, iget_body, g);
	free(key);
	key = xasprintf("%smeta/%s", l2->prefix, path);
	objstore_get(l2->os, key, NULL, META_MAX, iget_meta, g);
	free(key);
	return true;
}

bool
mirror_l2_meta_get(struct mirror_l2 *l2, const char *path, l2_index_cb cb,
    void *arg)
{
	struct iget	*g;
	char		*key;

	if (!get_admit(l2))
		return false;
	g = xcalloc(1, sizeof *g);
	g->l2 = l2;
	g->cb = cb;
	g->arg = arg;
	g->left = 1;
	g->meta_only = true;
	g->timer = wait_timer(l2, L2_INDEX_WAIT_MS, iget_late, g);
	key = xasprintf("%smeta/%s", l2->prefix, path);
	objstore_get(l2->os, key, NULL, META_MAX, iget_meta, g);
	free(key);
	return true;
}

/* A .crate from the store, hashed on a CPU worker before anyone sees it. */
struct cget {
	struct mirror_l2	*l2;
	struct event		*timer;
	bool			 abandoned;	/* the caller was answered */
	char			*key;
	char			 cksum[65];
	char			 got[65];	/* its SHA-256 */
	char			*etag;
	char			*body;
	size_t			 len;
	l2_crate_cb		 cb;
	void			*arg;
};

/* The read's place is given back only now, after the hashing: what
 * L2_GETS_MAX bounds is the crates held in memory. */
static void
cget_free(struct cget *g)
{
	g->l2->gets--;
	free(g->key);
	free(g->etag);
	free(g->body);
	free(g);
}

static void
cget_hash(void *arg)
{
	struct cget	*g = arg;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(g->body, g->len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return;
	for (unsigned i = 0; i < 32; i++)
		snprintf(g->got + 2 * i, 3, "%02x", md[i]);
}

static void
deleted(const struct obj_result *r, void *arg)
{
	struct mirror_l2	*l2 = arg;

	if (r->status != OBJ_OK && r->status != OBJ_NOT_FOUND &&
	    r->status != OBJ_CONFLICT)
		log_warn("registry %s: removing a bad .crate from the store:"
		    " %s", l2->reg->name, r->error ? r->error : "failed");
}

static void
cget_hashed(void *arg)
{
	struct cget		*g = arg;
	struct mirror_l2	*l2 = g->l2;

	if (strcmp(g->got, g->cksum) == 0) {
		l2->hits++;
		count(l2, "crate_get", "hit");
		g->cb(L2_FOUND, g->body, g->len, g->arg);
		g->body = NULL;
		cget_free(g);
		return;
	}
	l2->bad++;
	count(l2, "crate_get", "bad");
	metrics_add(METRIC_CHECKSUM_FAILURES_TOTAL, l2->labels, 1);
	log_error("registry %s: the store's %s has SHA-256 %s, the index says"
	    " %s: not served; removed from the store, fetched from the"
	    " upstream instead", l2->reg->name, g->key, g->got[0] ? g->got :
	    "(none)", g->cksum);
	/* Only that version of the object: a good copy another replica
	 * wrote since stays. */
	if (g->etag != NULL && !gone(l2))
		objstore_delete(l2->os, g->key, g->etag, deleted, l2);
	g->cb(L2_BAD, NULL, 0, g->arg);
	cget_free(g);
}

static void
cget_done(const struct obj_result *r, void *arg)
{
	struct cget		*g = arg;
	struct mirror_l2	*l2 = g->l2;

	wait_end(&g->timer);
	if (g->abandoned) {
		answered(l2, r);
		cget_free(g);
		return;
	}
	if (answered(l2, r) && r->status == OBJ_OK) {
		g->body = xmalloc(r->len + 1);
		memcpy(g->body, r->body, r->len);
		g->len = r->len;
		g->etag = r->etag != NULL ? xstrdup(r->etag) : NULL;
		workers_submit(l2->srv->cpu, cget_hash, cget_hashed, g);
		return;
	}
	if (r->status == OBJ_NOT_FOUND) {
		l2->misses++;
		count(l2, "crate_get", "miss");
		g->cb(L2_MISSING, NULL, 0, g->arg);
	} else {
		count(l2, "crate_get", "failed");
		g->cb(L2_DOWN, NULL, 0, g->arg);
	}
	cget_free(g);
}

static void
cget_late(evutil_socket_t fd, short what, void *arg)
{
	struct cget	*g = arg;

	wait_end(&g->timer);
	g->abandoned = true;
	too_slow(g->l2, L2_CRATE_WAIT_MS);
	count(g->l2, "crate_get", "failed");
	g->cb(L2_DOWN, NULL, 0, g->arg);
}

bool
mirror_l2_crate_get(struct mirror_l2 *l2, const char *rel, const char *cksum,
    l2_crate_cb cb, void *arg)
{
	struct cget	*g;

	if (strlen(cksum) != 64 || !get_admit(l2))
		return false;
	g = xcalloc(1, sizeof *g);
	g->l2 = l2;
	g->key = key_of(l2, rel);
	memcpy(g->cksum, cksum, sizeof g->cksum);
	g->cb = cb;
	g->arg = arg;
	g->timer = wait_timer(l2, L2_CRATE_WAIT_MS, cget_late, g);
	objstore_get(l2->os, g->key, NULL, L2_CRATE_MAX, cget_done, g);
	return true;
}

/* Whether a background write may start now: not past L2_PUTS_MAX
 * (counted as skipped). While reads skip a failing store, writes still
 * go (nobody waits for them): the first that succeeds ends the skipping,
 * and a store that hangs fills L2_PUTS_MAX at most. */
static bool
put_admit(struct mirror_l2 *l2, const char *op)
{
	if (l2 == NULL)
		return false;
	if (l2->puts >= L2_PUTS_MAX || gone(l2)) {
		l2->skipped++;
		count(l2, op, "skipped");
		return false;
	}
	l2->puts++;
	return true;
}

/* A background write ended: counted, and logged when it failed. */
static void
put_end(struct mirror_l2 *l2, const char *op, const char *key,
    const struct obj_result *r)
{
	l2->puts--;
	answered(l2, r);
	if (r->status == OBJ_OK) {
		l2->stored++;
		count(l2, op, "ok");
	} else if (r->status == OBJ_CONFLICT) {
		/* Create-only, and another replica stored it first. */
		count(l2, op, "present");
	} else {
		l2->failed++;
		count(l2, op, "failed");
		log_every(&l2->put_log, 10, LOG_WARN, "registry %s: storing %s"
		    " in the object store: %s (the local copy serves; it is"
		    " not retried)", l2->reg->name, key, r->error ? r->error :
		    "failed");
	}
}

/* An index file and its sidecar on their way to the store: the file
 * first, so that a sidecar never names a body that is not there yet. */
struct iput {
	struct mirror_l2	*l2;
	char			*bkey, *mkey;
	const char		*body;
	size_t			 len;
	char			*meta;
	void			(*release)(void *);
	void			*rel_arg;
};

static void
iput_free(struct iput *p)
{
	if (p->release != NULL)
		p->release(p->rel_arg);
	free(p->bkey);
	free(p->mkey);
	free(p->meta);
	free(p);
}

static void
iput_meta_done(const struct obj_result *r, void *arg)
{
	struct iput	*p = arg;

	put_end(p->l2, "index_put", p->mkey, r);
	iput_free(p);
}

static void
iput_meta(struct iput *p)
{
	struct obj_put	o = { .key = p->mkey, .body = p->meta,
			    .len = strlen(p->meta),
			    .content_type = "application/json",
			    .cond = OBJ_PUT_ALWAYS };

	objstore_put(p->l2->os, &o, iput_meta_done, p);
}

static void
iput_body_done(const struct obj_result *r, void *arg)
{
	struct iput	*p = arg;

	if (r->status != OBJ_OK) {
		put_end(p->l2, "index_put", p->bkey, r);
		iput_free(p);
		return;
	}
	iput_meta(p);
}

void
mirror_l2_index_put(struct mirror_l2 *l2, const char *path, const char *body,
    size_t len, const char *meta, void (*release)(void *), void *rel_arg)
{
	struct iput	*p;
	struct obj_put	 o = { 0 };

	if (!put_admit(l2, "index_put")) {
		if (release != NULL)
			release(rel_arg);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->l2 = l2;
	p->bkey = xasprintf("%sindex/%s", l2->prefix, path);
	p->mkey = xasprintf("%smeta/%s", l2->prefix, path);
	p->body = body;
	p->len = len;
	p->meta = xstrdup(meta);
	p->release = release;
	p->rel_arg = rel_arg;
	if (body == NULL) {
		iput_meta(p);
		return;
	}
	o.key = p->bkey;
	o.body = body;
	o.len = len;
	o.content_type = "text/plain; charset=utf-8";
	o.cond = OBJ_PUT_ALWAYS;
	objstore_put(l2->os, &o, iput_body_done, p);
}

/* A .crate read from the local cache (a background worker) and stored
 * create-only. */
struct cput {
	struct mirror_l2	*l2;
	char			 rel[STORE_PATH_MAX];
	char			 cksum[65];
	char			*key;
	char			*body;
	size_t			 len;
	int			 res;
};

static void
cput_free(struct cput *c)
{
	free(c->key);
	free(c->body);
	free(c);
}

static void
cput_done(const struct obj_result *r, void *arg)
{
	struct cput	*c = arg;

	put_end(c->l2, "crate_put", c->key, r);
	cput_free(c);
}

static void
cput_read(void *arg)
{
	struct cput	*c = arg;

	c->res = store_read(c->l2->reg->store, c->rel, &c->body, &c->len, NULL,
	    L2_CRATE_MAX);
}

static void
cput_readdone(void *arg)
{
	struct cput		*c = arg;
	struct mirror_l2	*l2 = c->l2;
	struct obj_put		 o = { 0 };

	if (c->res != 0 || gone(l2)) {
		l2->puts--;
		l2->skipped++;
		count(l2, "crate_put", "skipped");
		if (c->res != 0 && c->res != -EFBIG)
			log_warn("registry %s: reading %s to store it: %s",
			    l2->reg->name, c->rel, strerror(-c->res));
		cput_free(c);
		return;
	}
	c->key = key_of(l2, c->rel);
	o.key = c->key;
	o.body = c->body;
	o.len = c->len;
	o.content_type = "application/gzip";
	o.cond = OBJ_PUT_CREATE;
	o.sha256 = c->cksum[0] != '\0' ? c->cksum : NULL;
	objstore_put(l2->os, &o, cput_done, c);
}

void
mirror_l2_crate_put(struct mirror_l2 *l2, const char *rel, const char *cksum)
{
	struct cput	*c;

	if (!put_admit(l2, "crate_put"))
		return;
	c = xcalloc(1, sizeof *c);
	c->l2 = l2;
	snprintf(c->rel, sizeof c->rel, "%s", rel);
	snprintf(c->cksum, sizeof c->cksum, "%s", cksum ? cksum : "");
	workers_submit(l2->srv->background, cput_read, cput_readdone, c);
}

/* No store name nor error text here: /-/ready shows this to readers
 * without the ops token (the store's own entry there has them, for ops
 * readers only). */
void
mirror_l2_state(struct mirror_l2 *l2, json_t *obj)
{
	if (l2 == NULL)
		return;
	json_object_set_new(obj, "storage_cache", json_pack("{s:s, s:I, s:I,"
	    " s:I, s:I, s:I, s:I, s:i, s:i}",
	    "state", skipping(l2) ? "skipped (store failing)" : "ok",
	    "hits", (json_int_t)l2->hits, "misses", (json_int_t)l2->misses,
	    "bad", (json_int_t)l2->bad, "stored", (json_int_t)l2->stored,
	    "failed", (json_int_t)l2->failed,
	    "skipped", (json_int_t)l2->skipped, "writing", (int)l2->puts,
	    "reading", (int)l2->gets));
}
