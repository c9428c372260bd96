#include "server/storage/hosted_store.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/semver.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/storage/objstore.h"

#define INDEX_MAX	(64u << 20)
#define META_MAX	(1u << 20)
#define NAME_OBJ_MAX	256
#define KEY_MAX		(STORE_PATH_MAX + 256)
#define TRIES		8	/* per object: a lost race is read again */
#define UNAVAIL_TRIES	2	/* writes that failed with 5xx or no answer */
#define BACKOFF_MIN_MS	10
#define BACKOFF_MAX_MS	200
#define ORPHAN_AGE	900	/* seconds: far longer than any publish */
#define SWEEP_PERIOD	3600

struct hstore {
	struct registry	*reg;
	struct event	*timer;		/* the hourly sweep */
	long		 orphan_age;
	struct sweep	*sweep;		/* the one under way, or NULL */
};

/* One object the write reads and may rewrite. */
struct obj {
	char			 key[KEY_MAX];
	bool			 exists;
	char			*body;		/* as last read */
	size_t			 len;
	char			*etag;
	hstore_apply_cb		 apply;
	struct hstore_edit	 edit;
	const char		*stored;	/* what the store holds now */
	size_t			 stored_len;
	char			*put_etag;	/* the store's, for ours */
	const char		*stored_etag;
};

/* A write in progress. One request at a time: each step starts one and
 * names the next (s->next), which finds the answer in s->got or s->put. */
struct hsw {
	struct hstore		*hs;
	struct hstore_write	 w;
	char			*name, *vers, *user, *client, *cksum;
	char			 canon[CRATE_NAME_MAX + 1];
	struct obj		 index, meta;
	char			 crate_key[KEY_MAX], names_key[KEY_MAX];
	int			 tries;
	bool			 index_unknown;	/* an index PUT's answer was
						   lost */
	int			 unavail;	/* writes that got no answer or
						   a 5xx */
	char			*failure;	/* the last such answer */
	void			(*next)(struct hsw *);
	struct event		*backoff;
	/* The last answer. */
	enum obj_status		 st;
	long			 http_status;
	char			*error;
	char			*got;		/* GET: the body */
	size_t			 got_len;
	char			*got_etag;
};

static void	write_meta(struct hsw *);
static void	write_index(struct hsw *);
static void	put_crate(struct hsw *);
static void	reserve(struct hsw *);

static void
key_of(struct hstore *hs, const char *rel, char *out)
{
	snprintf(out, KEY_MAX, "%s%s", hs->reg->objprefix ?
	    hs->reg->objprefix : "", rel);
}

static const char *
op_name(enum hstore_op op)
{
	switch (op) {
	case HSTORE_PUBLISH:
		return "publish";
	case HSTORE_YANK:
		return "yank";
	case HSTORE_UNYANK:
		return "unyank";
	case HSTORE_OWNERS:
		break;
	}
	return "owners";
}

/* A copy of len bytes, NUL-terminated (the bytes may hold NULs: a .crate,
 * or whatever the store returns). */
static char *
memdup0(const char *p, size_t len)
{
	char	*out = xmalloc(len + 1);

	if (len > 0)
		memcpy(out, p, len);
	out[len] = '\0';
	return out;
}

static void
answer_clear(struct hsw *s)
{
	free(s->error);
	free(s->got);
	free(s->got_etag);
	s->error = s->got = s->got_etag = NULL;
	s->got_len = 0;
}

static void
answer_take(struct hsw *s, const struct obj_result *res)
{
	answer_clear(s);
	s->st = res->status;
	s->http_status = res->http_status;
	s->error = res->error ? xstrdup(res->error) : NULL;
	if (res->status == OBJ_UNAVAILABLE) {
		free(s->failure);
		s->failure = xstrdup(res->error ? res->error : "no answer");
	}
	if (res->etag != NULL)
		s->got_etag = xstrdup(res->etag);
	if (res->status == OBJ_OK) {
		s->got = memdup0(res->body, res->body ? res->len : 0);
		s->got_len = res->body ? res->len : 0;
	}
}

static void
got_cb(const struct obj_result *res, void *arg)
{
	struct hsw	*s = arg;

	answer_take(s, res);
	s->next(s);
}

static void
get(struct hsw *s, const char *key, size_t max, void (*next)(struct hsw *))
{
	s->next = next;
	objstore_get(s->hs->reg->objstore, key, NULL, max, got_cb, s);
}

static void
put(struct hsw *s, const char *key, const void *body, size_t len,
    enum obj_cond cond, const char *etag, void (*next)(struct hsw *))
{
	struct obj_put	p = { .key = key, .body = body, .len = len,
			    .cond = cond, .etag = etag };

	s->next = next;
	objstore_put(s->hs->reg->objstore, &p, got_cb, s);
}

static void
obj_free(struct obj *o)
{
	free(o->body);
	free(o->etag);
	free(o->edit.body);
	free(o->edit.msg);
	free(o->put_etag);
}

static void
hsw_free(struct hsw *s)
{
	answer_clear(s);
	free(s->failure);
	obj_free(&s->index);
	obj_free(&s->meta);
	if (s->backoff != NULL)
		event_free(s->backoff);
	free(s->name);
	free(s->vers);
	free(s->user);
	free(s->client);
	free(s->cksum);
	free(s);
}

static void
audit_done(const struct obj_result *res, void *arg)
{
	if (res->status != OBJ_OK)
		log_error("audit object not stored: %s", res->error ?
		    res->error : "no reason given");
	free(arg);
}

/* The audit object of a write that changed something: the JSON of the
 * audit log line, under a name no other replica can pick. */
static void
audit(struct hsw *s)
{
	struct timespec	 ts;
	struct tm	 tm;
	unsigned char	 rnd[8];
	char		 day[16], when[32], rel[128], key[KEY_MAX], *body;
	json_t		*j;
	struct obj_put	 p = { .key = key, .content_type = "application/json",
			    .cond = OBJ_PUT_CREATE };

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof day, "%Y-%m-%d", &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0, sizeof rnd);
	snprintf(rel, sizeof rel, "audit/%s/%lld%09ld-%02x%02x%02x%02x%02x"
	    "%02x%02x%02x.json", day, (long long)ts.tv_sec, ts.tv_nsec,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	key_of(s->hs, rel, key);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?}", "time",
	    when, "registry", s->hs->reg->name, "op", op_name(s->w.op),
	    "crate", s->name, "version", s->vers, "user", s->user, "client",
	    s->client, "cksum", s->cksum);
	if (j == NULL || (body = json_dumps(j, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL)
		xoom("json_dumps");
	json_decref(j);
	log_info("audit: %s", body);
	p.body = body;
	p.len = strlen(body);
	objstore_put(s->hs->reg->objstore, &p, audit_done, body);
}

static void
finish(struct hsw *s, int status, const char *msg)
{
	struct hstore_outcome	o = { .status = status, .msg = msg };

	if (status == 200) {
		o.index = s->index.stored;
		o.index_len = s->index.stored_len;
		o.index_etag = s->index.stored_etag;
		o.meta = s->meta.stored;
		o.meta_len = s->meta.stored_len;
		if (s->index.edit.body != NULL || s->meta.edit.body != NULL)
			audit(s);
	}
	o.new_crate = s->index.edit.new_crate;
	s->w.done(&o, s->w.arg);
	hsw_free(s);
}

static void
finishf(struct hsw *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
finishf(struct hsw *s, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	finish(s, status, msg);
	free(msg);
}

/* The store failed the last request (s->st): nothing is acknowledged. */
static void
store_failed(struct hsw *s)
{
	const char	*store = objstore_name(s->hs->reg->objstore);
	const char	*why = s->error ? s->error : "no answer";
	const char	*done = s->w.op == HSTORE_PUBLISH ? "published" :
			    "changed";

	log_error("registry %s: %s %s %s: the object store: %s",
	    s->hs->reg->name, op_name(s->w.op), s->name, s->vers ? s->vers :
	    "-", why);
	if (s->index_unknown) {
		finishf(s, 503, "the object store %s stopped answering while"
		    " crated was writing the index of `%s` (%s): whether it"
		    " was %s is unknown; run the command again once the store"
		    " is back (for a publish, \"already exists\" then means it"
		    " was)", store, s->name, why, done);
		return;
	}
	if (s->st == OBJ_DENIED) {
		finishf(s, 500, "the object store %s refused crated's"
		    " credentials (%s): nothing was %s; the operator must fix"
		    " the storage credentials", store, why, done);
		return;
	}
	finishf(s, s->st == OBJ_UNAVAILABLE ? 503 : 500, "the object store"
	    " %s is unavailable (%s): nothing was %s; try again when it is"
	    " back", store, why, done);
}

/* Writes failed with 5xx or no answer, and what the store holds shows
 * that none of them landed. */
static void
gave_up(struct hsw *s)
{
	if (s->failure == NULL)
		s->failure = xstrdup("its writes did not land");
	log_error("registry %s: %s %s %s: the object store: %s",
	    s->hs->reg->name, op_name(s->w.op), s->name, s->vers ? s->vers :
	    "-", s->failure);
	finishf(s, 503, "the object store %s is unavailable (%s): nothing was"
	    " %s; try again when it is back", objstore_name(
	    s->hs->reg->objstore), s->failure, s->w.op == HSTORE_PUBLISH ?
	    "published" : "changed");
}

/* The answer was a read's: the object (or its absence) into o. */
static bool
take_read(struct hsw *s, struct obj *o)
{
	if (s->st != OBJ_OK && s->st != OBJ_NOT_FOUND) {
		store_failed(s);
		return false;
	}
	free(o->body);
	free(o->etag);
	o->exists = s->st == OBJ_OK;
	o->body = s->got;
	o->len = s->got_len;
	o->etag = s->got_etag;
	s->got = s->got_etag = NULL;
	o->stored = o->body;
	o->stored_len = o->len;
	o->stored_etag = o->etag;
	return true;
}

/* Runs o's callback on its current content; false when it refused (and
 * the write is finished). */
static bool
apply(struct hsw *s, struct obj *o)
{
	struct hstore_edit	*e = &o->edit;

	free(e->body);
	free(e->msg);
	memset(e, 0, sizeof *e);
	o->apply(o->exists ? o->body : NULL, o->len, e, s->w.arg);
	if (e->status != 0) {
		finish(s, e->status, e->msg ? e->msg : "refused");
		return false;
	}
	if (e->body != NULL && o->exists && e->len == o->len &&
	    memcmp(e->body, o->body, o->len) == 0) {
		free(e->body);
		e->body = NULL;
	}
	return true;
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hsw	*s = arg;

	s->next(s);
}

/* Waits 10-200 ms (so that racing replicas spread out), then runs
 * next. */
static void
backoff(struct hsw *s, void (*next)(struct hsw *))
{
	unsigned int	r = 0;
	struct timeval	tv;

	if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
		r = (unsigned int)rand();
	r = BACKOFF_MIN_MS + r % (BACKOFF_MAX_MS - BACKOFF_MIN_MS + 1);
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)r * 1000;
	if (s->backoff == NULL)
		s->backoff = evtimer_new(s->hs->reg->srv->base, backoff_cb, s);
	s->next = next;
	evtimer_add(s->backoff, &tv);
}

/* After a lost race: next after a pause; false (and finished) after
 * TRIES. */
static bool
retry_later(struct hsw *s, void (*next)(struct hsw *))
{
	if (++s->tries >= TRIES) {
		finishf(s, 503, "crated lost the race to write `%s` in the"
		    " object store %s %d times in a row: nothing was %s; try"
		    " again", s->name, objstore_name(s->hs->reg->objstore),
		    TRIES, s->w.op == HSTORE_PUBLISH ? "published" :
		    "changed");
		return false;
	}
	backoff(s, next);
	return true;
}

static void
done_ok(struct hsw *s)
{
	log_info("registry %s: %s %s %s stored in %s", s->hs->reg->name,
	    op_name(s->w.op), s->name, s->vers ? s->vers : "-",
	    objstore_name(s->hs->reg->objstore));
	finish(s, 200, NULL);
}

/* Index: read again after a lost race (or a lost answer). */
static void
index_reread(struct hsw *s)
{
	if (!take_read(s, &s->index))
		return;
	if (s->index_unknown && s->w.index_applied != NULL &&
	    s->index.exists && s->w.index_applied(s->index.body,
	    s->index.len, s->w.arg)) {
		/* Our PUT landed; its answer was lost. */
		done_ok(s);
		return;
	}
	if (s->index_unknown && s->unavail >= UNAVAIL_TRIES) {
		gave_up(s);
		return;
	}
	s->index_unknown = false;
	if (apply(s, &s->index))
		write_index(s);
}

static void
index_reread_start(struct hsw *s)
{
	get(s, s->index.key, INDEX_MAX, index_reread);
}

static void
index_put(struct hsw *s)
{
	switch (s->st) {
	case OBJ_OK:
		s->index.stored = s->index.edit.body;
		s->index.stored_len = s->index.edit.len;
		free(s->index.put_etag);
		s->index.put_etag = s->got_etag ? xstrdup(s->got_etag) : NULL;
		s->index.stored_etag = s->index.put_etag;
		done_ok(s);
		return;
	case OBJ_UNAVAILABLE:
		/* Landed or not: the object decides, read again. */
		s->index_unknown = true;
		s->unavail++;
		backoff(s, index_reread_start);
		return;
	case OBJ_CONFLICT:
		retry_later(s, index_reread_start);
		return;
	default:
		store_failed(s);
	}
}

static void
write_index(struct hsw *s)
{
	struct obj	*o = &s->index;

	if (o->edit.body == NULL) {
		done_ok(s);
		return;
	}
	put(s, o->key, o->edit.body, o->edit.len, o->exists ?
	    OBJ_PUT_IF_MATCH : OBJ_PUT_CREATE, o->etag, index_put);
}

static void
meta_reread(struct hsw *s)
{
	if (take_read(s, &s->meta) && apply(s, &s->meta))
		write_meta(s);
}

static void
meta_reread_start(struct hsw *s)
{
	get(s, s->meta.key, META_MAX, meta_reread);
}

static void
meta_put(struct hsw *s)
{
	switch (s->st) {
	case OBJ_OK:
		s->meta.stored = s->meta.edit.body;
		s->meta.stored_len = s->meta.edit.len;
		s->tries = 0;
		write_index(s);
		return;
	case OBJ_UNAVAILABLE:
		/* Landed or not, no version names it yet: reapplying to
		 * what is there is safe (If-Match). */
		if (++s->unavail >= UNAVAIL_TRIES)
			gave_up(s);
		else
			backoff(s, meta_reread_start);
		return;
	case OBJ_CONFLICT:
		retry_later(s, meta_reread_start);
		return;
	default:
		store_failed(s);
	}
}

/* The meta object before the index: when a version appears, its crate's
 * owners already include its publisher. */
static void
write_meta(struct hsw *s)
{
	struct obj	*o = &s->meta;

	if (o->apply == NULL || o->edit.body == NULL) {
		s->tries = 0;
		write_index(s);
		return;
	}
	put(s, o->key, o->edit.body, o->edit.len, o->exists ?
	    OBJ_PUT_IF_MATCH : OBJ_PUT_CREATE, o->etag, meta_put);
}

static bool
sha256_is(const char *p, size_t len, const char *hex)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;
	char		out[65];

	if (!EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) || mdlen !=
	    32)
		return false;
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return strcmp(out, hex) == 0;
}

static void	crate_listed(struct hsw *);

static void
crate_listed_start(struct hsw *s)
{
	get(s, s->index.key, INDEX_MAX, crate_listed);
}

/* A different .crate holds this version's key: the index decides. Its
 * publish is most likely a few milliseconds from writing its line: the
 * index is read again a few times before "in progress". */
static void
crate_listed(struct hsw *s)
{
	if (!take_read(s, &s->index) || !apply(s, &s->index))
		return;		/* e.g. "already exists" */
	if (++s->tries < TRIES) {
		backoff(s, crate_listed_start);
		return;
	}
	finishf(s, 409, "another publish of `%s@%s` with different contents"
	    " is in progress on another replica, or failed half-way (its"
	    " .crate is removed within the hour); publish a new version, or"
	    " try again later", s->name, s->vers);
}

static void
crate_check(struct hsw *s)
{
	if (s->st == OBJ_NOT_FOUND) {
		/* Never written (a 5xx), or swept between the two requests. */
		if (s->unavail >= UNAVAIL_TRIES || ++s->tries >= TRIES)
			gave_up(s);
		else
			put_crate(s);
		return;
	}
	if (s->st != OBJ_OK) {
		store_failed(s);
		return;
	}
	if (s->got_len == s->w.crate_len && sha256_is(s->got, s->got_len,
	    s->cksum)) {
		/* The same bytes: a retry of this very publish. */
		s->tries = 0;
		write_meta(s);
		return;
	}
	s->tries = 0;
	crate_listed_start(s);
}

static void
crate_put(struct hsw *s)
{
	switch (s->st) {
	case OBJ_OK:
		s->tries = 0;
		write_meta(s);
		return;
	case OBJ_UNAVAILABLE:	/* lost answer: what is there decides */
		s->unavail++;
		/* FALLTHROUGH */
	case OBJ_CONFLICT:
		get(s, s->crate_key, (size_t)s->hs->reg->srv->cfg->max_body_bytes,
		    crate_check);
		return;
	default:
		store_failed(s);
	}
}

/* The .crate first, create-only: it is durable before any index line
 * names it. */
static void
put_crate(struct hsw *s)
{
	struct obj_put	p = { .key = s->crate_key, .body = s->w.crate,
			    .len = s->w.crate_len, .cond = OBJ_PUT_CREATE,
			    .sha256 = s->cksum };

	/* S3 checks the upload against the SHA-256 already computed. */
	s->next = crate_put;
	objstore_put(s->hs->reg->objstore, &p, got_cb, s);
}

static void
reserve_check(struct hsw *s)
{
	if (s->st == OBJ_NOT_FOUND) {
		if (s->unavail >= UNAVAIL_TRIES || ++s->tries >= TRIES)
			gave_up(s);
		else
			reserve(s);
		return;
	}
	if (s->st != OBJ_OK) {
		store_failed(s);
		return;
	}
	if (s->got_len != strlen(s->name) || memcmp(s->got, s->name,
	    s->got_len) != 0) {
		finishf(s, 409, "crate name `%s` is too similar to the"
		    " existing crate `%s` (names may not differ only in case"
		    " or in - and _)", s->name, s->got);
		return;
	}
	s->tries = 0;
	put_crate(s);
}

static void
reserved(struct hsw *s)
{
	switch (s->st) {
	case OBJ_OK:
		s->tries = 0;
		put_crate(s);
		return;
	case OBJ_UNAVAILABLE:
		s->unavail++;
		/* FALLTHROUGH */
	case OBJ_CONFLICT:
		get(s, s->names_key, NAME_OBJ_MAX, reserve_check);
		return;
	default:
		store_failed(s);
	}
}

/* A new crate's canonical name, create-only: of two spellings that
 * differ only in case or - and _, published at once on two replicas,
 * one wins. */
static void
reserve(struct hsw *s)
{
	put(s, s->names_key, s->name, strlen(s->name), OBJ_PUT_CREATE, NULL,
	    reserved);
}

/* Both objects read: the checks, then the writes. */
static void
decide(struct hsw *s)
{
	if (s->index.apply != NULL && !apply(s, &s->index))
		return;
	if (s->meta.apply != NULL && !apply(s, &s->meta))
		return;
	if (s->w.op != HSTORE_PUBLISH)
		write_meta(s);
	else if (s->index.edit.new_crate)
		reserve(s);
	else
		put_crate(s);
}

static void
got_meta(struct hsw *s)
{
	if (take_read(s, &s->meta))
		decide(s);
}

static void
got_index(struct hsw *s)
{
	if (!take_read(s, &s->index))
		return;
	if (s->meta.apply != NULL)
		get(s, s->meta.key, META_MAX, got_meta);
	else
		decide(s);
}

void
hstore_write(struct hstore *hs, const struct hstore_write *w)
{
	struct hsw	*s = xcalloc(1, sizeof *s);
	char		 rel[STORE_PATH_MAX];

	s->hs = hs;
	s->w = *w;
	s->name = xstrdup(w->name);
	s->vers = w->vers ? xstrdup(w->vers) : NULL;
	s->user = w->user ? xstrdup(w->user) : NULL;
	s->client = w->client ? xstrdup(w->client) : NULL;
	s->cksum = w->cksum ? xstrdup(w->cksum) : NULL;
	crate_name_canon(w->name, s->canon);
	store_index_rel(w->name, rel);
	key_of(hs, rel, s->index.key);
	s->index.apply = w->index_apply;
	store_meta_rel(w->name, rel);
	key_of(hs, rel, s->meta.key);
	s->meta.apply = w->meta_apply;
	if (w->op == HSTORE_PUBLISH) {
		store_crate_rel(w->name, w->vers, rel);
		key_of(hs, rel, s->crate_key);
		snprintf(rel, sizeof rel, "names/%s", s->canon);
		key_of(hs, rel, s->names_key);
	}
	get(s, s->index.key, INDEX_MAX, got_index);
}

/* The orphan sweep: .crate objects whose version their crate's index
 * object does not list, older than orphan_age. A page of the listing at
 * a time; the crates of a page are checked one after the other. */
struct sweep {
	struct hstore	*hs;
	char		 prefix[KEY_MAX];
	char		*after;		/* the next page, or NULL */
	struct cand {
		char	*key, *etag;
		char	 lower[CRATE_NAME_MAX + 1];
		char	 vers[VERSION_MAX + 1];
	}		*cands;
	size_t		 ncands, i;
	char		 lower[CRATE_NAME_MAX + 1];	/* index read */
	char		*index;
	size_t		 len;
	bool		 have;
	size_t		 removed, checked;
};

static void	sweep_next(struct sweep *);

static void
sweep_page_free(struct sweep *sw)
{
	for (size_t i = 0; i < sw->ncands; i++) {
		free(sw->cands[i].key);
		free(sw->cands[i].etag);
	}
	free(sw->cands);
	sw->cands = NULL;
	sw->ncands = sw->i = 0;
}

static void
sweep_end(struct sweep *sw, const char *why)
{
	struct hstore	*hs = sw->hs;

	if (why != NULL)
		log_warn("registry %s: the orphan sweep of %s stopped: %s",
		    hs->reg->name, objstore_name(hs->reg->objstore), why);
	else
		log_info("registry %s: orphan sweep: %zu .crate objects"
		    " checked, %zu removed", hs->reg->name, sw->checked,
		    sw->removed);
	sweep_page_free(sw);
	free(sw->after);
	free(sw->index);
	free(sw);
	hs->sweep = NULL;
}

/* "crates/<lower>/<lower>-<vers>.crate" after the prefix: 0 and its
 * name and version, or -1. */
static int
crate_key_parse(const char *rel, char *lower, char *vers)
{
	const char	*p = rel + strlen("crates/"), *slash;
	size_t		 n, flen;

	if (strncmp(rel, "crates/", 7) != 0 || (slash = strchr(p, '/')) ==
	    NULL || (n = (size_t)(slash - p)) == 0 || n > CRATE_NAME_MAX)
		return -1;
	memcpy(lower, p, n);
	lower[n] = '\0';
	flen = strlen(slash + 1);
	if (crate_name_check(lower, NULL) != 0 || strncmp(slash + 1, lower,
	    n) != 0 || slash[1 + n] != '-' || flen < n + 8 || flen - n - 7 >
	    VERSION_MAX || strcmp(slash + 1 + flen - 6, ".crate") != 0)
		return -1;
	snprintf(vers, VERSION_MAX + 1, "%.*s", (int)(flen - n - 7),
	    slash + 2 + n);
	return 0;
}

static void
sweep_listed(const struct obj_result *res, const struct obj_entry *e,
    size_t n, const char *next, void *arg)
{
	struct sweep	*sw = arg;
	size_t		 plen = strlen(sw->hs->reg->objprefix ?
			    sw->hs->reg->objprefix : "");
	time_t		 now = time(NULL);

	if (res->status != OBJ_OK) {
		sweep_end(sw, res->error ? res->error : "listing failed");
		return;
	}
	free(sw->after);
	sw->after = next ? xstrdup(next) : NULL;
	sw->cands = xcalloc(n ? n : 1, sizeof *sw->cands);
	for (size_t i = 0; i < n; i++) {
		struct cand	*c = &sw->cands[sw->ncands];

		sw->checked++;
		if (strlen(e[i].key) < plen || e[i].last_modified == 0 ||
		    now - e[i].last_modified < sw->hs->orphan_age ||
		    crate_key_parse(e[i].key + plen, c->lower, c->vers) != 0)
			continue;
		c->key = xstrdup(e[i].key);
		c->etag = e[i].etag ? xstrdup(e[i].etag) : NULL;
		sw->ncands++;
	}
	sweep_next(sw);
}

static void
sweep_deleted(const struct obj_result *res, void *arg)
{
	struct sweep	*sw = arg;
	struct cand	*c = &sw->cands[sw->i];

	if (res->status == OBJ_OK) {
		log_warn("registry %s: removed %s from the object store: its"
		    " index has no version %s (a publish that did not finish)",
		    sw->hs->reg->name, c->key, c->vers);
		sw->removed++;
	} else if (res->status != OBJ_NOT_FOUND)
		log_warn("registry %s: removing the orphan %s: %s (kept: never"
		    " served)", sw->hs->reg->name, c->key, res->error ?
		    res->error : "failed");
	sw->i++;
	sweep_next(sw);
}

static void
sweep_index(const struct obj_result *res, void *arg)
{
	struct sweep	*sw = arg;
	struct cand	*c = &sw->cands[sw->i];

	free(sw->index);
	sw->index = NULL;
	sw->len = 0;
	if (res->status != OBJ_OK && res->status != OBJ_NOT_FOUND) {
		sweep_end(sw, res->error ? res->error : "reading an index");
		return;
	}
	if (res->status == OBJ_OK) {
		sw->index = memdup0(res->body ? res->body : "", res->body ?
		    res->len : 0);
		sw->len = res->len;
	}
	memcpy(sw->lower, c->lower, sizeof sw->lower);
	sw->have = true;
	sweep_next(sw);
}

/* The candidates of the page, one at a time; the next page after. */
static void
sweep_next(struct sweep *sw)
{
	struct objstore	*os = sw->hs->reg->objstore;
	char		 ck[65], rel[STORE_PATH_MAX], key[KEY_MAX];

	for (; sw->i < sw->ncands; sw->i++) {
		struct cand	*c = &sw->cands[sw->i];

		if (!sw->have || strcmp(sw->lower, c->lower) != 0) {
			store_index_rel(c->lower, rel);
			key_of(sw->hs, rel, key);
			objstore_get(os, key, NULL, INDEX_MAX, sweep_index, sw);
			return;
		}
		if (sw->index != NULL && index_file_cksum(sw->index, sw->len,
		    c->vers, ck))
			continue;
		objstore_delete(os, c->key, c->etag, sweep_deleted, sw);
		return;
	}
	sweep_page_free(sw);
	sw->have = false;
	if (sw->after == NULL) {
		sweep_end(sw, NULL);
		return;
	}
	objstore_list(os, sw->prefix, sw->after, sweep_listed, sw);
}

static void
sweep_start(struct hstore *hs)
{
	struct sweep	*sw;

	if (hs->sweep != NULL)
		return;
	sw = xcalloc(1, sizeof *sw);
	sw->hs = hs;
	key_of(hs, "crates/", sw->prefix);
	hs->sweep = sw;
	objstore_list(hs->reg->objstore, sw->prefix, NULL, sweep_listed, sw);
}

static void
sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	struct hstore	*hs = arg;
	struct timeval	 tv = { SWEEP_PERIOD, 0 };

	sweep_start(hs);
	evtimer_add(hs->timer, &tv);
}

struct hstore *
hstore_open(struct registry *reg)
{
	struct hstore	*hs = xcalloc(1, sizeof *hs);
	const char	*age = getenv("CRATED_TEST_ORPHAN_AGE");
	struct timeval	 now = { 0, 0 };

	hs->reg = reg;
	hs->orphan_age = ORPHAN_AGE;
	if (age != NULL && *age != '\0') {
		hs->orphan_age = strtol(age, NULL, 10);
		log_warn("registry %s: CRATED_TEST_ORPHAN_AGE: .crate objects"
		    " unlisted for %ld s are swept (a setting for tests)",
		    reg->name, hs->orphan_age);
	}
	/* The first sweep once the loop runs. */
	hs->timer = evtimer_new(reg->srv->base, sweep_tick, hs);
	evtimer_add(hs->timer, &now);
	return hs;
}

void
hstore_close(struct hstore *hs)
{
	if (hs == NULL)
		return;
	if (hs->timer != NULL)
		event_free(hs->timer);
	if (hs->sweep != NULL)
		sweep_end(hs->sweep, "crated is stopping");
	free(hs);
}
