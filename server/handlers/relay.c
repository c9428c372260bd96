#include "server/handlers/relay.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "index/publish.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/handlers/auth.h"
#include "server/handlers/registry.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/mirror/mirror.h"
#include "server/upstream/upstream.h"

/* cargo gives up on a silent connection after ~30 s, and a publish can
 * be neither retried nor cancelled: answer by then, outcome unknown. */
#define ANSWER_SECONDS	25
#define UPSTREAM_LIMIT	600	/* seconds the upstream call may take */
#define RETRY_AFTER	30	/* seconds, when too many writes are in flight */

/* One relayed web API call. */
struct relay {
	struct registry		*reg;
	struct http_request	*req;		/* NULL once answered */
	enum route_kind		 kind;
	enum http_method	 method;
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	char			*path;		/* under the upstream api */
	char			*query;
	unsigned char		*body;		/* what goes upstream: the only
						   copy of the client's body */
	size_t			 body_len;
	char			*auth;		/* client's, relay_auth=client */
	size_t			 crate_off;	/* publish: the .crate in body, */
	size_t			 crate_len;	/* kept on success */
	char			 peer[64];
	char			 addr[64];	/* peer without its port */
	bool			 admitted;	/* counted in flight */
	struct relay		*next_flight;
	char			*user;		/* token label, if any */
	char			*ok;		/* the success answer */
	char			*refused;	/* publish: why the .crate is bad */
	size_t			 peers_left;	/* purges not yet answered */
	struct timespec		 start;
	struct event		*timer;
};

/* The relayed writes under way, every registry's: few (a cap each). */
static struct relay	*flight;

static void
flight_gauge(const struct registry *reg)
{
	char	labels[96];
	size_t	n = 0;

	for (struct relay *o = flight; o != NULL; o = o->next_flight)
		n += o->reg == reg;
	snprintf(labels, sizeof labels, "registry=\"%s\"", reg->name);
	metrics_set(METRIC_RELAYED_WRITES_IN_FLIGHT, labels, (double)n);
}

static void
relay_free(struct relay *rl)
{
	struct relay	**p;

	if (rl->admitted) {
		for (p = &flight; *p != NULL && *p != rl;
		    p = &(*p)->next_flight)
			;
		if (*p == rl)
			*p = rl->next_flight;
		flight_gauge(rl->reg);
	}
	if (rl->timer != NULL)
		event_free(rl->timer);
	free(rl->path);
	free(rl->query);
	free(rl->body);
	free(rl->auth);
	free(rl->user);
	free(rl->ok);
	free(rl->refused);
	free(rl);
}

static long
ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) /
	    1000000;
}

static const char *
op_name(const struct relay *rl)
{
	switch (rl->kind) {
	case ROUTE_PUBLISH:
		return "publish";
	case ROUTE_YANK:
		return "yank";
	case ROUTE_UNYANK:
		return "unyank";
	case ROUTE_OWNERS:
		return rl->method == HTTP_GET ? "owners-list" :
		    rl->method == HTTP_PUT ? "owners-add" : "owners-remove";
	default:
		return "search";
	}
}

static bool
is_write(const struct relay *rl)
{
	return rl->kind != ROUTE_SEARCH && !(rl->kind == ROUTE_OWNERS &&
	    rl->method == HTTP_GET);
}

static void
answer(struct relay *rl, int status, const char *body)
{
	if (rl->req == NULL)
		return;
	http_reply(rl->req, status, "application/json", NULL, body,
	    strlen(body));
	rl->req = NULL;
}

static char *
dump(json_t *j)
{
	char	*s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	return s != NULL ? s : xstrdup("{}");
}

/* The upstream's message from an error body: Azure's "message", cargo's
 * errors[].detail, or the start of the text. New string. */
static char *
message_of(const char *body, size_t len)
{
	json_t		*j = json_loadb(body, len, 0, NULL);
	const char	*m = json_string_value(json_object_get(j, "message"));
	char		*out;

	if (m == NULL)
		m = json_string_value(json_object_get(json_array_get(
		    json_object_get(j, "errors"), 0), "detail"));
	if (m != NULL)
		out = xstrdup(m);
	else if (len == 0)
		out = xstrdup("(empty body)");
	else {
		out = xstrndup(body, len > 300 ? 300 : len);
		for (char *p = out; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
	}
	json_decref(j);
	return out;
}

/* The success body cargo parses for this call, from the upstream's 2xx
 * answer; NULL (and *why) when a read's answer has no usable shape. */
static char *
success_body(struct relay *rl, const char *body, size_t len,
    const char **why)
{
	json_t	*j, *v;
	char	*msg;

	switch (rl->kind) {
	case ROUTE_PUBLISH:
		return xstrdup("{\"warnings\":{\"invalid_categories\":[],"
		    "\"invalid_badges\":[],\"other\":[]}}");
	case ROUTE_YANK:
	case ROUTE_UNYANK:
		return xstrdup("{\"ok\":true}");
	case ROUTE_OWNERS:
		j = json_loadb(body, len, 0, NULL);
		if (rl->method != HTTP_GET) {
			v = json_object_get(j, "msg");
			msg = json_is_string(v) ? xstrdup(json_string_value(v))
			    : xstrdup(rl->method == HTTP_PUT ?
			    "owners added upstream" :
			    "owners removed upstream");
			json_decref(j);
			v = json_pack("{s:b, s:s}", "ok", 1, "msg", msg);
			free(msg);
			return dump(v);
		}
		if (!json_is_array(json_object_get(j, "users"))) {
			json_decref(j);
			*why = "the upstream's owner list has no \"users\"";
			return NULL;
		}
		return dump(j);
	default:
		j = json_loadb(body, len, 0, NULL);
		if (!json_is_array(json_object_get(j, "crates"))) {
			json_decref(j);
			*why = "the upstream's search answer has no \"crates\"";
			return NULL;
		}
		if (!json_is_object(json_object_get(j, "meta")))
			json_object_set_new(j, "meta", json_pack("{s:I}",
			    "total", (json_int_t)json_array_size(
			    json_object_get(j, "crates"))));
		return dump(j);
	}
}

/* The audit line and the counter of a finished call; label is the
 * counter's outcome, or NULL for the one status gives. */
/* The latest audit lines of writes, for the operations page. */
static char	*recent[RELAY_RECENT];
static size_t	 nrecent;

static void
audit(struct relay *rl, long status, const char *label, const char *outcome)
{
	char	labels[160], *line;

	if (label == NULL)
		label = status >= 200 && status < 300 ? "ok" : status == 0 ?
		    "unreachable" : "refused";
	snprintf(labels, sizeof labels, "registry=\"%s\",op=\"%s\","
	    "outcome=\"%s\"", rl->reg->name, op_name(rl), label);
	metrics_add(is_write(rl) ? METRIC_RELAYED_WRITES_TOTAL :
	    METRIC_RELAYED_READS_TOTAL, labels, 1);
	line = xasprintf("registry=%s op=%s crate=%s version=%s client=%s"
	    " user=%s upstream_status=%ld outcome=%s duration_ms=%ld",
	    rl->reg->name, op_name(rl), rl->name[0] ? rl->name : "-",
	    rl->vers[0] ? rl->vers : "-", rl->peer, rl->user ? rl->user : "-",
	    status, outcome, ms_since(&rl->start));
	log_info("audit: %s", line);
	if (is_write(rl)) {
		free(recent[nrecent % RELAY_RECENT]);
		recent[nrecent++ % RELAY_RECENT] = xasprintf("%lld %s",
		    (long long)time(NULL), line);
	}
	free(line);
}

size_t
relay_recent_writes(const char **out, size_t max)
{
	size_t	n = 0;

	for (size_t i = nrecent; i > 0 && n < max && nrecent - i <
	    RELAY_RECENT; i--)
		out[n++] = recent[(i - 1) % RELAY_RECENT];
	return n;
}

void
relay_recent_free(void)
{
	for (size_t i = 0; i < RELAY_RECENT; i++) {
		free(recent[i]);
		recent[i] = NULL;
	}
	nrecent = 0;
}

static void
peer_done(struct fetch *f, void *arg)
{
	struct relay	*rl = arg;

	if (fetch_failed(f) || fetch_status(f) != 200)
		log_warn("registry %s: purge of %s at a peer failed: %s%ld; it"
		    " will see the change after its index_ttl", rl->reg->name,
		    rl->name, fetch_failed(f) ? fetch_error(f) : "HTTP ",
		    fetch_status(f));
	if (--rl->peers_left > 0)
		return;
	answer(rl, 200, rl->ok);
	relay_free(rl);
}

/* A write went through: the other replicas (config peers) forget their
 * copy of the crate's index before the client hears of it, so a publish
 * through one replica is seen through all. */
static void
notify_peers(struct relay *rl)
{
	const struct config	*cfg = rl->reg->srv->cfg;
	const char		*secret;
	char			*body, *auth;

	if (cfg->npeers == 0 || (secret = getenv(cfg->peer_token_env)) ==
	    NULL) {
		answer(rl, 200, rl->ok);
		relay_free(rl);
		return;
	}
	body = dump(json_pack("{s:s, s:s, s:s?}", "registry", rl->reg->name,
	    "crate", rl->name, "version", rl->kind == ROUTE_PUBLISH ?
	    rl->vers : NULL));
	auth = xasprintf("Crated-Peer %s", secret);
	rl->peers_left = cfg->npeers;
	for (size_t i = 0; i < cfg->npeers; i++) {
		struct fetch_opts	 o = { 0 };
		char			*url = xasprintf("%s/-/purge",
					    cfg->peers[i]);

		o.url = url;
		o.method = "POST";
		o.body = body;
		o.body_len = strlen(body);
		o.content_type = "application/json";
		o.authorization = auth;
		o.no_redirects = true;
		o.max_body = 4096;
		o.timeout = 5;
		o.done = peer_done;
		o.arg = rl;
		fetch_start(rl->reg->srv->upstream, &o);
		free(url);
	}
	free(auth);
	free(body);
}

/*
 * No answer came. A write whose request went out whole may have been
 * done by the feed (it dropped the connection before answering): the
 * outcome is unknown, and crated never sends it again. One that did not
 * go out whole cannot have been.
 */
static void
lost(struct relay *rl, struct fetch *f)
{
	if (is_write(rl) && fetch_request_sent(f)) {
		audit(rl, 0, "unknown", fetch_error(f));
		log_warn("registry %s: %s %s %s: the connection to the upstream"
		    " was lost after the whole request was sent (%s): outcome"
		    " unknown, not sent again", rl->reg->name, op_name(rl),
		    rl->name, rl->vers, fetch_error(f));
		if (rl->req != NULL)
			http_reply_error(rl->req, 502, "%s after crated sent"
			    " it the whole %s of `%s` %s (%s): the outcome is"
			    " unknown. crated did not send it again: look for"
			    " the result in the feed (for a publish, `cargo"
			    " search` or the feed's web page) before trying"
			    " again", rl->reg->srv->stopping ? "crated is"
			    " shutting down and ended the call to the upstream"
			    " feed" : "the upstream feed dropped the connection",
			    op_name(rl), rl->name, rl->vers, fetch_error(f));
	} else {
		audit(rl, 0, NULL, fetch_error(f));
		if (rl->req != NULL)
			http_reply_error(rl->req, 502, "upstream unreachable:"
			    " %s%s", fetch_error(f), is_write(rl) ? " (the call"
			    " did not reach the feed: it is safe to try again)" :
			    "");
	}
	rl->req = NULL;
	relay_free(rl);
}

static void
relay_done(struct fetch *f, void *arg)
{
	struct relay	*rl = arg;
	long		 status = fetch_status(f);
	const char	*body, *why = NULL;
	char		*msg, *ok;
	size_t		 len;
	int		 code;

	body = fetch_body(f, &len);
	if (status == 0) {
		lost(rl, f);
		return;
	}
	if (fetch_failed(f) && status >= 200 && status < 300 && !is_write(rl)) {
		audit(rl, status, "unusable", fetch_error(f));
		if (rl->req != NULL)
			http_reply_error(rl->req, 502, "upstream %ld: its answer"
			    " could not be read whole: %s", status,
			    fetch_error(f));
		rl->req = NULL;
		relay_free(rl);
		return;
	}
	/* The status decides: a write the feed answered 2xx went through,
	 * even if its answer was too long or cut short. */
	if (fetch_failed(f))
		log_warn("registry %s: %s %s %s: upstream %ld, then %s (the"
		    " status decides)", rl->reg->name, op_name(rl), rl->name,
		    rl->vers, status, fetch_error(f));
	if (status == 203 || (status >= 200 && status < 300 && len > 0 &&
	    (body[0] == '<' || (fetch_header(f, "Content-Type") != NULL &&
	    strcasestr(fetch_header(f, "Content-Type"), "html") != NULL)))) {
		/* Azure's sign-in page for a refused credential. */
		audit(rl, status, NULL, "sign-in page");
		if (rl->req != NULL)
			http_reply_error(rl->req, 502, "upstream %ld: the feed"
			    " answered with a sign-in page, not an API answer:"
			    " crated's upstream credential is missing or"
			    " refused", status);
		rl->req = NULL;
		relay_free(rl);
		return;
	}
	if (status >= 200 && status < 300) {
		if ((ok = success_body(rl, body, len, &why)) == NULL) {
			audit(rl, status, NULL, why);
			if (rl->req != NULL)
				http_reply_error(rl->req, 502, "upstream %ld:"
				    " %s", status, why);
			rl->req = NULL;
			relay_free(rl);
			return;
		}
		audit(rl, status, NULL, "ok");
		if (rl->kind == ROUTE_PUBLISH) {
			mirror_keep_crate(rl->reg->mirror, rl->name, rl->vers,
			    rl->body + rl->crate_off, rl->crate_len);
			mirror_watch(rl->reg->mirror, rl->name, rl->vers);
		} else if (rl->kind == ROUTE_YANK || rl->kind == ROUTE_UNYANK)
			mirror_watch(rl->reg->mirror, rl->name, NULL);
		rl->ok = ok;
		notify_peers(rl);
		return;
	}
	msg = message_of(body, len);
	audit(rl, status, NULL, msg);
	/* A refused server credential is crated's problem, not the
	 * client's: 502, as for reads. */
	code = status >= 500 || ((status == 401 || status == 403) &&
	    rl->reg->cfg->relay_auth != RELAY_AUTH_CLIENT) ? 502 : status >= 400 ?
	    (int)status : 502;
	if (rl->req != NULL)
		http_reply_error(rl->req, code, "upstream %ld: %s", status, msg);
	rl->req = NULL;
	free(msg);
	relay_free(rl);
}

/* The answer cargo gets when the upstream is slow: the call goes on. */
static void
on_slow(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*rl = arg;

	if (rl->req == NULL)
		return;
	log_warn("registry %s: %s %s %s: the upstream has not answered after"
	    " %ds; telling the client the outcome is not known yet",
	    rl->reg->name, op_name(rl), rl->name, rl->vers, ANSWER_SECONDS);
	http_reply_error(rl->req, 504, "the upstream feed has not answered the"
	    " %s of `%s` %s after %d s; crated is still waiting for it. The"
	    " outcome is not known yet: in a minute, look for the version with"
	    " `cargo search` or in the feed, and only publish again if it is"
	    " missing (crated's log has the final answer)", op_name(rl),
	    rl->name, rl->vers, ANSWER_SECONDS);
	rl->req = NULL;
}

/* True when URLs a and b have the same scheme, host and port. */
static bool
same_origin(const char *a, const char *b)
{
	const char	*ea, *eb;
	size_t		 na, nb;

	if (strncmp(a, "sparse+", 7) == 0)
		a += 7;
	if (strncmp(b, "sparse+", 7) == 0)
		b += 7;
	if ((ea = strstr(a, "://")) == NULL || (eb = strstr(b, "://")) == NULL)
		return false;
	na = (size_t)(ea - a) + 3 + strcspn(ea + 3, "/?#");
	nb = (size_t)(eb - b) + 3 + strcspn(eb + 3, "/?#");
	return na == nb && strncasecmp(a, b, na) == 0;
}

/* Why the call cannot go to the upstream's api, or NULL. An api on
 * another origin than the index would get the credential (crated's, or
 * the client's) that cargo sends there: only when the operator says so. */
static char *
refuse_api(struct relay *rl, const char *error, const char *api)
{
	const struct registry_config	*cfg = rl->reg->cfg;

	if (error != NULL)
		return xstrdup(error);
	if (api == NULL)
		return xstrdup("its config.json has no \"api\"");
	if (!same_origin(api, cfg->upstream) && !cfg->relay_api_other_origin)
		return xasprintf("its config.json names an api at %s, another"
		    " origin than its index %s, and crated sends its"
		    " credential only to the index's origin (set"
		    " relay_api_other_origin = true for registry `%s` if that"
		    " host is trusted)", api, cfg->upstream, rl->reg->name);
	return NULL;
}

static void
forward(struct mirror *m, const char *error, void *arg)
{
	struct relay		*rl = arg;
	struct fetch_opts	 o = { 0 };
	const char		*api = mirror_api(m);
	struct timeval		 tv = { ANSWER_SECONDS, 0 };
	char			*url, *why;

	if ((why = refuse_api(rl, error, api)) != NULL) {
		log_warn("registry %s: cannot relay %s: %s", rl->reg->name,
		    op_name(rl), why);
		http_reply_error(rl->req, 502, "cannot relay to the upstream:"
		    " %s", why);
		free(why);
		rl->req = NULL;
		relay_free(rl);
		return;
	}
	url = xasprintf("%s/api/v1/crates%s%s%s", api, rl->path,
	    rl->query ? "?" : "", rl->query ? rl->query : "");
	o.url = url;
	o.method = rl->method == HTTP_PUT ? "PUT" : rl->method == HTTP_DELETE ?
	    "DELETE" : NULL;
	o.body = rl->body;
	o.body_len = rl->body_len;
	if (rl->method == HTTP_PUT && rl->body == NULL)
		o.body = "";
	/* A write reaches the feed at most once, from rl's one copy of the
	 * body: never re-sent by curl on another connection. */
	o.once = is_write(rl);
	o.content_type = rl->kind == ROUTE_PUBLISH ?
	    "application/octet-stream" : rl->body ? "application/json" : NULL;
	o.accept = "application/json";
	o.no_redirects = true;
	o.max_body = 1 << 20;
	o.timeout = UPSTREAM_LIMIT;
	/* A feed may think for a long time before it answers a publish:
	 * cargo is answered at 25 s anyway, the call itself goes on. */
	o.low_speed_time = UPSTREAM_LIMIT;
	o.authorization = rl->reg->cfg->relay_auth == RELAY_AUTH_CLIENT ?
	    (rl->auth ? rl->auth : "") : NULL;
	o.done = relay_done;
	o.arg = rl;
	rl->timer = evtimer_new(rl->reg->srv->base, on_slow, rl);
	evtimer_add(rl->timer, &tv);
	mirror_request(m, &o);
	free(url);
}

/* crated's own base URLs, as clients may have named them: public_url,
 * each listener's, and the one this request came in by. */
struct bases {
	const char	*v[4];
	size_t		 n;
};

/* True when url (without "sparse+") is one of crated's own index URLs of
 * registry r, with or without the final slash. */
static bool
names_registry(const struct bases *b, const struct registry *r,
    const char *url)
{
	size_t	 n, k = strlen(r->name);

	for (size_t i = 0; i < b->n; i++) {
		n = strlen(b->v[i]);
		if (strncmp(url, b->v[i], n) == 0 && url[n] == '/' &&
		    strncmp(url + n + 1, r->name, k) == 0 &&
		    (strcmp(url + n + 1 + k, "/") == 0 ||
		    url[n + 1 + k] == '\0'))
			return true;
	}
	return false;
}

/* True when url (without "sparse+") lies under one of crated's bases. */
static bool
under_crated(const struct bases *b, const char *url)
{
	for (size_t i = 0; i < b->n; i++) {
		size_t	n = strlen(b->v[i]);

		if (strncmp(url, b->v[i], n) == 0 && url[n] == '/')
			return true;
	}
	return false;
}

/*
 * Rewrites dependencies whose registry is one of crated's own URLs to that
 * registry's upstream, so the feed never records crated's address. 0, 1
 * when something changed, or -1 with *why (new).
 */
static int
rewrite_registries(struct server *srv, const struct registry *target,
    const char *base, json_t *meta, char **why)
{
	json_t		*deps = json_object_get(meta, "deps"), *dep;
	struct bases	 b = { .n = 0 };
	size_t		 i;
	int		 changed = 0;

	b.v[b.n++] = base;
	b.v[b.n++] = srv->public_url;
	if (srv->url_plain != NULL)
		b.v[b.n++] = srv->url_plain;
	if (srv->url_tls != NULL)
		b.v[b.n++] = srv->url_tls;
	json_array_foreach(deps, i, dep) {
		const char	*url = json_string_value(json_object_get(dep,
				    "registry"));
		const char	*u = url;
		struct registry	*to = NULL;

		if (url == NULL)
			continue;
		if (strncmp(u, "sparse+", 7) == 0)
			u += 7;
		for (size_t k = 0; k < srv->nregs; k++)
			if (names_registry(&b, &srv->regs[k], u))
				to = &srv->regs[k];
		if (to == NULL && under_crated(&b, u)) {
			*why = xasprintf("dependency `%s` names registry %s,"
			    " which looks like crated but is none of its"
			    " registries", json_string_value(json_object_get(
			    dep, "name")), url);
			return -1;
		}
		if (to == NULL)
			continue;
		if (to == target) {
			/* No registry means the one published to. */
			json_object_del(dep, "registry");
			changed = 1;
			continue;
		}
		if (to->cfg->upstream == NULL) {
			*why = xasprintf("dependency `%s` comes from crated's"
			    " hosted registry `%s`, which the upstream feed"
			    " cannot reach", json_string_value(json_object_get(
			    dep, "name")), to->name);
			return -1;
		}
		json_object_set_new(dep, "registry", strncmp(to->cfg->upstream,
		    "sparse+", 7) == 0 ? json_string(to->cfg->upstream) :
		    json_sprintf("sparse+%s", to->cfg->upstream));
		changed = 1;
	}
	return changed;
}

/* Replaces rl's body with one carrying p's rewritten metadata. p's crate
 * lies in the old body, which goes once copied. */
static void
reencode(struct relay *rl, const struct publish *p)
{
	char		*json;
	unsigned char	*b;
	size_t		 len;

	json = json_dumps(p->meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (json == NULL)	/* every value came from JSON: out of memory */
		xoom("json_dumps");
	/* Both lengths came in a body publish_parse read: they fit. */
	b = publish_encode(json, strlen(json), p->crate, p->crate_len, &len);
	free(json);
	free(rl->body);
	rl->body = b;
	rl->body_len = len;
	rl->crate_off = len - p->crate_len;
	log_info("registry %s: %s %s: rewrote dependency registry URLs that"
	    " named crated", rl->reg->name, rl->name, rl->vers);
}

/* Checks a publish body, which rl takes from the request (no copy), and
 * makes it what goes upstream; -1 when refused (and answered). */
static int
prepare_publish(struct relay *rl)
{
	struct publish	 p;
	char		*cause = NULL, *base;
	int		 changed;

	rl->body = http_body_take(rl->req, &rl->body_len);
	if (publish_parse(rl->body, rl->body_len, &p, &cause) != 0) {
		log_warn("registry %s: refused a publish from %s: %s",
		    rl->reg->name, rl->peer, cause);
		http_reply_error(rl->req, 400, "%s", cause);
		free(cause);
		return -1;
	}
	snprintf(rl->name, sizeof rl->name, "%s", p.name);
	snprintf(rl->vers, sizeof rl->vers, "%s", p.vers);
	if (!auth_may_write(rl->req, rl->name, SCOPE_PUBLISH)) {
		publish_finish(&p);
		return -1;
	}
	base = registry_base_url(rl->reg->srv, rl->req);
	changed = rewrite_registries(rl->reg->srv, rl->reg, base, p.meta,
	    &cause);
	free(base);
	if (changed < 0) {
		http_reply_error(rl->req, 400, "%s", cause);
		free(cause);
		publish_finish(&p);
		return -1;
	}
	rl->crate_len = p.crate_len;
	if (changed > 0)
		reencode(rl, &p);
	else
		rl->crate_off = (size_t)(p.crate - rl->body);
	publish_finish(&p);
	return 0;
}

/* The client's address without its port. */
static void
peer_address(const char *peer, char *out, size_t len)
{
	const char	*colon = strrchr(peer, ':');
	int		 n = colon != NULL ? (int)(colon - peer) :
			    (int)strlen(peer);

	snprintf(out, len, "%.*s", n, peer);
}

/*
 * Takes a place among the writes in flight (each holds its body until the
 * feed answers, up to UPSTREAM_LIMIT), or refuses the call: 429 past the
 * client's share, 503 past the registry's. False when refused.
 */
static bool
admit(struct relay *rl)
{
	const struct registry_config	*cfg = rl->reg->cfg;
	long long			 nreg = 0, nclient = 0;
	char				 hdr[64], labels[160];
	bool				 client;

	for (struct relay *o = flight; o != NULL; o = o->next_flight) {
		if (o->reg != rl->reg)
			continue;
		nreg++;
		nclient += strcmp(o->addr, rl->addr) == 0;
	}
	if ((client = nclient >= cfg->relay_max_writes_per_client) ||
	    nreg >= cfg->relay_max_writes) {
		log_warn("registry %s: refused a %s from %s: %lld relayed"
		    " writes in flight (%lld from that client)", rl->reg->name,
		    op_name(rl), rl->peer, nreg, nclient);
		snprintf(labels, sizeof labels, "registry=\"%s\",op=\"%s\","
		    "outcome=\"busy\"", rl->reg->name, op_name(rl));
		metrics_add(METRIC_RELAYED_WRITES_TOTAL, labels, 1);
		snprintf(hdr, sizeof hdr, "Retry-After: %d\r\n", RETRY_AFTER);
		http_reply_error_hdrs(rl->req, client ? 429 : 503, hdr, "%s:"
		    " %lld %s writes to registry `%s` are waiting for the"
		    " upstream feed already; try again in %d s",
		    client ? "too many calls from this client" : "crated is"
		    " busy", client ? nclient : nreg, client ? "of this"
		    " client's" : "relayed", rl->reg->name, RETRY_AFTER);
		rl->req = NULL;
		return false;
	}
	rl->admitted = true;
	rl->next_flight = flight;
	flight = rl;
	flight_gauge(rl->reg);
	return true;
}

/* The whole-archive check of the .crate, on a worker (CPU work), before
 * the publish goes upstream: a feed would take a crate cargo cannot
 * unpack. */
static void
check_job(void *arg)
{
	struct relay	*rl = arg;
	struct publish	 p = { .name = rl->name, .vers = rl->vers,
	    .crate = rl->body + rl->crate_off,
	    .crate_len = rl->crate_len };

	publish_check_crate(&p, &rl->refused);
}

static void
check_done(void *arg)
{
	struct relay	*rl = arg;

	if (rl->refused == NULL) {
		mirror_get_config(rl->reg->mirror, forward, rl);
		return;
	}
	log_warn("registry %s: refused a publish from %s: %s", rl->reg->name,
	    rl->peer, rl->refused);
	http_reply_error(rl->req, 400, "%s", rl->refused);
	relay_free(rl);
}

void
relay_api(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	struct relay	*rl;
	enum http_method m = http_method(r);
	bool		 ok;

	switch (rt->kind) {
	case ROUTE_PUBLISH:
	case ROUTE_UNYANK:
		ok = m == HTTP_PUT;
		break;
	case ROUTE_YANK:
		ok = m == HTTP_DELETE;
		break;
	case ROUTE_OWNERS:
		ok = m == HTTP_GET || m == HTTP_PUT || m == HTTP_DELETE;
		break;
	default:
		ok = m == HTTP_GET;
		break;
	}
	if (!ok) {
		http_reply_error(r, 405, "method %s is not allowed on %s",
		    http_method_name(r), http_path(r));
		return;
	}
	rl = xcalloc(1, sizeof *rl);
	rl->reg = reg;
	rl->req = r;
	rl->kind = rt->kind;
	rl->method = m;
	snprintf(rl->peer, sizeof rl->peer, "%s", http_peer(r));
	if (http_user(r, NULL, NULL) != NULL)
		rl->user = xstrdup(http_user(r, NULL, NULL));
	peer_address(rl->peer, rl->addr, sizeof rl->addr);
	clock_gettime(CLOCK_MONOTONIC, &rl->start);
	metrics_show(METRICS_RELAY);
	if (reg->cfg->offline) {
		http_reply_error(r, 503, "registry `%s` is in offline mode:"
		    " crated does not contact its upstream, so %s calls cannot"
		    " be relayed", reg->name, op_name(rl));
		relay_free(rl);
		return;
	}
	if (is_write(rl) && !reg->cfg->relay_writes) {
		http_reply_error(r, 403, "registry `%s` is a read-only mirror"
		    " of %s: crated does not relay %s calls to it (set"
		    " relay_writes = true to allow it)", reg->name,
		    reg->cfg->upstream, op_name(rl));
		relay_free(rl);
		return;
	}
	if (is_write(rl) && !admit(rl)) {
		relay_free(rl);
		return;
	}
	if (http_header(r, "Authorization") != NULL)
		rl->auth = xstrdup(http_header(r, "Authorization"));
	snprintf(rl->name, sizeof rl->name, "%s", rt->name);
	snprintf(rl->vers, sizeof rl->vers, "%s", rt->vers);
	switch (rt->kind) {
	case ROUTE_PUBLISH:
		if (prepare_publish(rl) != 0) {
			relay_free(rl);
			return;
		}
		rl->path = xstrdup("/new");
		workers_submit(reg->srv->cpu, check_job, check_done, rl);
		return;
	case ROUTE_YANK:
	case ROUTE_UNYANK:
		if (!auth_may_write(r, rt->name, SCOPE_YANK)) {
			relay_free(rl);
			return;
		}
		rl->path = xasprintf("/%s/%s/%s", rt->name, rt->vers,
		    rt->kind == ROUTE_YANK ? "yank" : "unyank");
		break;
	case ROUTE_OWNERS:
		rl->path = xasprintf("/%s/owners", rt->name);
		if (m != HTTP_GET && !auth_may_write(r, rt->name,
		    SCOPE_PUBLISH)) {
			relay_free(rl);
			return;
		}
		if (m != HTTP_GET)
			rl->body = http_body_take(r, &rl->body_len);
		break;
	default:
		rl->path = xstrdup("");
		if (http_query(r) != NULL)
			rl->query = xstrdup(http_query(r));
		break;
	}
	mirror_get_config(reg->mirror, forward, rl);
}
