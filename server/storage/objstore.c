/* The object-store client: a request is built by its cloud's file (s3.c,
 * azblob.c), sent through the upstream client's curl multi on the loop,
 * and its answer mapped to an obj_status, whatever the cloud. */
#include "server/storage/objstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/storage/objstore_int.h"
#include "server/upstream/upstream.h"

#define CONNECT_MS	5000	/* a store answers fast or is down */
#define STALL_SECONDS	10	/* under 1 byte/s this long: down */
#define READ_RETRIES	1	/* reads only (a dropped keep-alive
				   connection); writes go at most once */
#define EWMA_WEIGHT	0.2
#define MAX_KEY		1024	/* S3's limit, in bytes */

enum op_kind {
	OP_GET,
	OP_PUT,
	OP_DELETE,
	OP_LIST,
};

/* One request in flight. */
struct op {
	struct objstore	*s;
	enum op_kind	 kind;
	char		*key;		/* for messages; NULL: a listing */
	obj_done_cb	 done;
	obj_list_cb	 list_done;
	void		*arg;
	char		*early;		/* refused before sending: why */
	bool		 once;		/* a read not retried (the watch's) */
};

static const char *const methods[] = {
	[OP_GET] = "GET", [OP_PUT] = "PUT", [OP_DELETE] = "DELETE",
	[OP_LIST] = "LIST",
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

int
objstore_open(const struct objstore_config *c, struct upstream_client *uc,
    struct objstore **out, char **cause)
{
	struct objstore	*s = xcalloc(1, sizeof *s);
	int		 r;

	s->cfg.kind = c->kind;
	s->cfg.url = xstrdup(c->url);
	s->cfg.bucket = xstrdup(c->bucket);
	s->cfg.container = dup_or_null(c->container);
	s->cfg.prefix = xstrdup(c->prefix != NULL ? c->prefix : "");
	s->cfg.endpoint = dup_or_null(c->endpoint);
	s->cfg.region = dup_or_null(c->region);
	s->cfg.credentials_file = dup_or_null(c->credentials_file);
	s->uc = uc;
	if (obj_creds_read(&s->cfg, &s->creds, cause) != 0) {
		objstore_close(s);
		return -1;
	}
	r = c->kind == OBJ_S3 ? s3_setup(s, cause) : az_setup(s, cause);
	if (r != 0) {
		objstore_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

int
objstore_open_url(const char *url, const char *endpoint, const char *region,
    const char *credentials_file, struct upstream_client *uc,
    struct objstore **out, char **cause)
{
	struct objstore_config	oc;
	int			r;

	if (objstore_parse_url(url, &oc, cause) != 0)
		return -1;
	oc.endpoint = dup_or_null(endpoint);
	oc.region = dup_or_null(region);
	oc.credentials_file = dup_or_null(credentials_file);
	r = objstore_open(&oc, uc, out, cause);
	objstore_config_free(&oc);
	return r;
}

void
objstore_close(struct objstore *s)
{
	if (s == NULL)
		return;
	objstore_config_free(&s->cfg);
	obj_creds_free(&s->creds);
	if (s->watch != NULL)
		event_free(s->watch);
	free(s->name);
	free(s->base);
	free(s->list_base);
	free(s->resource);
	free(s->list_resource);
	free(s);
}

int
objstore_reread_credentials(struct objstore *s, char **cause)
{
	struct obj_creds	cr;
	char			*region;

	if (obj_creds_read(&s->cfg, &cr, cause) != 0)
		return -1;
	/* The URLs were made for the first region. */
	region = cr.region;
	cr.region = s->creds.region;
	s->creds.region = region;
	obj_creds_free(&s->creds);
	s->creds = cr;
	return 0;
}

const char *
objstore_config_url(const struct objstore *s)
{
	return s->cfg.url;
}

const char *
objstore_name(const struct objstore *s)
{
	return s->name != NULL ? s->name : s->cfg.url;
}

void
objstore_stats(const struct objstore *s, struct objstore_stats *st)
{
	*st = s->stats;
}

static enum obj_status
map_status(long http)
{
	if (http == 200 || http == 201 || http == 202 || http == 204 ||
	    http == 206)
		return OBJ_OK;
	if (http == 304)
		return OBJ_NOT_MODIFIED;
	if (http == 404)
		return OBJ_NOT_FOUND;
	if (http == 409 || http == 412)
		return OBJ_CONFLICT;
	if (http == 401 || http == 403)
		return OBJ_DENIED;
	if (http == 0 || http == 429 || http >= 500)
		return OBJ_UNAVAILABLE;
	return OBJ_ERROR;
}

/* Why a request failed, from the store's answer: S3's <Code> and
 * <Message>, Azure's x-ms-error-code (new). Never a credential: the
 * answer holds none, and the URL is not repeated (a SAS is in it). */
static char *
explain(const struct op *op, struct fetch *f, enum obj_status st)
{
	const char	*what = op->key != NULL ? op->key : "(listing)";
	const char	*azcode = fetch_header(f, "x-ms-error-code");
	const char	*body;
	char		*code, *msg, *s;
	size_t		 len;

	if (fetch_failed(f))
		return xasprintf("%s: %s %s: %s", op->s->name, methods[op->kind],
		    what, fetch_error(f));
	body = fetch_body(f, &len);
	code = azcode != NULL ? xstrdup(azcode) : obj_xml_text(body, len,
	    "Code");
	msg = obj_xml_text(body, len, "Message");
	if (msg != NULL)	/* one line, no control characters */
		for (char *p = msg; *p != '\0'; p++)
			if ((unsigned char)*p < ' ')
				*p = ' ';
	s = xasprintf("%s: %s %s: HTTP %ld%s%s%s%s%s%s", op->s->name,
	    methods[op->kind], what, fetch_status(f), code || msg ? " (" : "",
	    code ? code : "", code && msg ? ": " : "", msg ? msg : "",
	    code || msg ? ")" : "", st == OBJ_DENIED ? "; check the"
	    " credentials and that they may use this bucket or container" :
	    "");
	free(code);
	free(msg);
	return s;
}

/* The statistics, after an answer (or none). */
static void
account(struct objstore *s, const struct obj_result *res)
{
	struct objstore_stats	*st = &s->stats;

	st->requests++;
	st->reachable = res->status != OBJ_UNAVAILABLE;
	if (res->http_status != 0)
		s->last_answer = time(NULL);
	/* Said once per change, not per request. */
	if (!st->reachable && !s->was_down)
		log_warn("storage %s: unavailable: %s", s->name, res->error ?
		    res->error : "no answer");
	else if (st->reachable && s->was_down)
		log_info("storage %s: answering again", s->name);
	s->was_down = !st->reachable;
	if (res->http_status != 0)
		st->latency_ewma = st->latency_ewma == 0 ? res->seconds :
		    st->latency_ewma * (1 - EWMA_WEIGHT) + res->seconds *
		    EWMA_WEIGHT;
	switch (res->status) {
	case OBJ_CONFLICT:
		st->conflicts++;
		/* FALLTHROUGH */
	case OBJ_OK:
	case OBJ_NOT_MODIFIED:
	case OBJ_NOT_FOUND:
		st->last_ok = time(NULL);
		break;
	case OBJ_DENIED:
	case OBJ_UNAVAILABLE:
	case OBJ_ERROR:
		st->failures++;
		snprintf(st->last_error, sizeof st->last_error, "%s",
		    res->error != NULL ? res->error : "failed");
		break;
	}
}

static void
finish_list(struct op *op, struct obj_result *res, struct fetch *f)
{
	struct obj_entry	*e = NULL;
	size_t			 n = 0, len;
	char			*next = NULL, *cause = NULL, *prefix;
	const char		*body;
	int			 r;

	if (res->status == OBJ_OK) {
		body = fetch_body(f, &len);
		prefix = xasprintf("%s%s", op->s->cfg.prefix,
		    *op->s->cfg.prefix ? "/" : "");
		r = op->s->cfg.kind == OBJ_S3 ? s3_parse_list(body, len,
		    prefix, &e, &n, &next, &cause) : az_parse_list(body, len,
		    prefix, &e, &n, &next, &cause);
		free(prefix);
		if (r != 0) {
			res->status = OBJ_ERROR;
			obj_free_const(res->error);
			res->error = xasprintf("%s: LIST: %s", op->s->name,
			    cause);
			free(cause);
		}
	}
	account(op->s, res);
	op->list_done(res, e, n, next, op->arg);
	obj_entries_free(e, n);
	free(next);
}

static void
on_done(struct fetch *f, void *arg)
{
	struct op		*op = arg;
	struct obj_result	 res;
	const char		*h;

	memset(&res, 0, sizeof res);
	res.http_status = fetch_failed(f) ? 0 : fetch_status(f);
	res.status = fetch_too_large(f) ? OBJ_ERROR : map_status(
	    res.http_status);
	res.seconds = fetch_seconds(f);
	if ((h = fetch_header(f, "ETag")) != NULL)
		res.etag = obj_etag_normalise(h, strlen(h));
	res.last_modified = obj_parse_time(fetch_header(f, "Last-Modified"));
	if (res.status != OBJ_OK && res.status != OBJ_NOT_MODIFIED)
		res.error = explain(op, f, res.status);
	if (op->kind == OP_LIST)
		finish_list(op, &res, f);
	else {
		if (op->kind == OP_GET && res.status == OBJ_OK)
			res.body = fetch_body(f, &res.len);
		else
			res.body = "";
		account(op->s, &res);
		op->done(&res, op->arg);
	}
	obj_free_const(res.etag);
	obj_free_const(res.error);
	free(op->key);
	free(op);
}

/* A request refused before it was sent, answered on the loop. */
static void
on_early(evutil_socket_t fd, short what, void *arg)
{
	struct op		*op = arg;
	struct obj_result	 res;

	(void)fd;
	(void)what;
	memset(&res, 0, sizeof res);
	res.status = OBJ_ERROR;
	res.body = "";
	res.error = op->early;
	if (op->kind == OP_LIST)
		op->list_done(&res, NULL, 0, NULL, op->arg);
	else
		op->done(&res, op->arg);
	free(op->early);
	free(op->key);
	free(op);
}

static void
refuse(struct op *op, const char *why)
{
	struct timeval	tv = { 0, 0 };

	op->early = xasprintf("%s: %s %s: %s", op->s->name, methods[op->kind],
	    op->key != NULL ? op->key : "(listing)", why);
	if (event_base_once(upstream_client_base(op->s->uc), -1, EV_TIMEOUT,
	    on_early, op, &tv) != 0)
		xoom("event_base_once");
}

/* Why key cannot name an object, or NULL. */
static const char *
bad_key(const char *key)
{
	size_t	n = strlen(key);

	if (n == 0 || n > MAX_KEY)
		return "a key has 1 to 1024 bytes";
	if (key[0] == '/' || strstr(key, "//") != NULL)
		return "a key has no empty segment";
	/* curl would squash them out of the URL: another key. */
	for (const char *seg = key; seg != NULL; seg = strchr(seg, '/'),
	    seg = seg != NULL ? seg + 1 : NULL)
		if ((seg[0] == '.' && (seg[1] == '/' || seg[1] == '\0')) ||
		    (seg[0] == '.' && seg[1] == '.' && (seg[2] == '/' ||
		    seg[2] == '\0')))
			return "a key has no \".\" or \"..\" segment";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < ' ' || key[i] == 0x7f)
			return "a key has no control characters";
	return NULL;
}

static struct op *
op_new(struct objstore *s, enum op_kind kind, const char *key)
{
	struct op	*op = xcalloc(1, sizeof *op);

	op->s = s;
	op->kind = kind;
	op->key = dup_or_null(key);
	return op;
}

/* Builds the request for the cloud and sends it. */
static void
send_op(struct op *op, const struct obj_req *q, size_t max)
{
	struct objstore		*s = op->s;
	struct obj_http		 h;
	struct fetch_opts	 o;

	if (s->cfg.kind == OBJ_S3)
		s3_request(s, q, &h);
	else
		az_request(s, q, &h);
	memset(&o, 0, sizeof o);
	o.url = h.url;
	o.headers = (const char *const *)h.headers;
	o.nheaders = h.nheaders;
	o.bare = true;
	o.aws_sigv4 = h.sigv4;
	o.userpwd = h.userpwd;
	o.no_redirects = true;	/* credentials go to the store only */
	o.secret_query = s->creds.sas != NULL;
	o.max_body = max;
	o.connect_timeout_ms = CONNECT_MS;
	o.low_speed_time = STALL_SECONDS;
	o.done = on_done;
	o.arg = op;
	switch (op->kind) {
	case OP_GET:
	case OP_LIST:
		o.retries = op->once ? 0 : READ_RETRIES;
		break;
	case OP_PUT:
		o.upload = true;
		o.body = q->len > 0 ? q->body : NULL;
		o.body_len = q->len;
		break;
	case OP_DELETE:
		o.method = "DELETE";
		break;
	}
	fetch_start(s->uc, &o);
	obj_http_free(&h);
}

/* The common start of a request on one key: a new op for done, the key
 * checked (a bad one is refused, after the call returns, as every answer
 * is), q zeroed with the method and key. NULL when refused. */
static struct op *
key_op(struct objstore *s, enum op_kind kind, const char *method,
    const char *key, obj_done_cb done, void *arg, struct obj_req *q)
{
	struct op	*op = op_new(s, kind, key);
	const char	*why;

	op->done = done;
	op->arg = arg;
	if ((why = bad_key(key)) != NULL) {
		refuse(op, why);
		return NULL;
	}
	memset(q, 0, sizeof *q);
	q->method = method;
	q->key = key;
	return op;
}

void
objstore_get(struct objstore *s, const char *key, const char *if_none_match,
    size_t max, obj_done_cb done, void *arg)
{
	struct obj_req	 q;
	struct op	*op;

	if ((op = key_op(s, OP_GET, "GET", key, done, arg, &q)) == NULL)
		return;
	q.if_none_match = if_none_match;
	send_op(op, &q, max);
}

void
objstore_put(struct objstore *s, const struct obj_put *p, obj_done_cb done,
    void *arg)
{
	struct obj_req	 q;
	struct op	*op;

	if ((op = key_op(s, OP_PUT, "PUT", p->key, done, arg, &q)) == NULL)
		return;
	if (p->cond == OBJ_PUT_IF_MATCH && p->etag == NULL) {
		refuse(op, "OBJ_PUT_IF_MATCH without an etag");
		return;
	}
	q.body = p->body;
	q.len = p->len;
	q.sha256 = p->sha256;
	q.content_type = p->content_type;
	if (p->cond == OBJ_PUT_CREATE)
		q.if_none_match = "*";
	else if (p->cond == OBJ_PUT_IF_MATCH)
		q.if_match = p->etag;
	send_op(op, &q, 1u << 16);
}

void
objstore_delete(struct objstore *s, const char *key, const char *if_match,
    obj_done_cb done, void *arg)
{
	struct obj_req	 q;
	struct op	*op;

	if ((op = key_op(s, OP_DELETE, "DELETE", key, done, arg, &q)) == NULL)
		return;
	q.if_match = if_match;
	send_op(op, &q, 1u << 16);
}

void
objstore_list(struct objstore *s, const char *prefix, const char *after,
    obj_list_cb done, void *arg)
{
	struct op	*op = op_new(s, OP_LIST, NULL);
	struct obj_req	 q;
	char		*full;

	op->list_done = done;
	op->arg = arg;
	full = xasprintf("%s%s%s", s->cfg.prefix, *s->cfg.prefix ? "/" : "",
	    prefix != NULL ? prefix : "");
	memset(&q, 0, sizeof q);
	q.method = "GET";
	q.list_prefix = full;
	q.list_after = after;
	send_op(op, &q, OBJ_MAX_LIST_BODY);
	free(full);
}

static void
on_health(const struct obj_result *r, void *arg)
{
	struct objstore	*s = arg;

	(void)r;
	s->watching = false;
}

static void
on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct objstore	*s = arg;
	struct op	*op;
	struct obj_req	 q;

	(void)fd;
	(void)what;
	if (s->watching || time(NULL) - s->last_answer < s->watch_interval)
		return;
	s->watching = true;
	/* Not retried: the next tick is the retry, and a store that is
	 * down is logged once, not at every tick. */
	op = op_new(s, OP_GET, "crated-probe/health");
	op->done = on_health;
	op->arg = s;
	op->once = true;
	memset(&q, 0, sizeof q);
	q.method = "GET";
	q.key = op->key;
	send_op(op, &q, 4096);
}

void
objstore_watch(struct objstore *s, int interval)
{
	struct timeval	tv = { interval, 0 };

	if (s->watch != NULL)
		return;
	s->watch_interval = interval;
	s->watch = event_new(upstream_client_base(s->uc), -1, EV_PERSIST,
	    on_watch, s);
	event_add(s->watch, &tv);
	on_watch(-1, 0, s);
}
