#include "server/mirror/probe.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/xmalloc.h"
#include "index/regconfig.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/mirror/mirror.h"
#include "server/upstream/credential.h"
#include "server/upstream/upstream.h"

#define PROBE_TIMEOUT	20	/* seconds for the whole config.json */
#define PROBE_RETRY	30	/* seconds before a failed probe is retried */

const char *
probe_outcome_name(enum probe_outcome o)
{
	switch (o) {
	case PROBE_PENDING:
		return "not probed yet";
	case PROBE_OK:
		return "ok";
	case PROBE_CREDENTIAL:
		return "credential refused";
	case PROBE_NOT_REGISTRY:
		return "not a registry";
	case PROBE_UNREACHABLE:
		return "unreachable";
	case PROBE_TLS:
		return "TLS error";
	case PROBE_ERROR:
		return "upstream error";
	}
	return "?";
}

static const char *
base_of(const struct registry_config *c)
{
	return strncmp(c->upstream, "sparse+", 7) == 0 ? c->upstream + 7 :
	    c->upstream;
}

char *
probe_prepare(const struct registry_config *c, struct fetch_opts *o)
{
	char	*url = xasprintf("%sconfig.json", base_of(c));

	memset(o, 0, sizeof *o);
	o->url = url;
	o->max_body = 1 << 20;
	o->timeout = PROBE_TIMEOUT;
	o->accept = "application/json";
	o->proxy = c->upstream_proxy;
	o->ca_file = c->upstream_ca_file;
	o->h2c = true;		/* what the mirror will speak: it learns */
	return url;
}

/* Judging config.json. */

/* Azure's JSON "message", cargo's errors[0].detail, or the start of the
 * text, on one line. New string. */
static char *
message(struct fetch *f)
{
	size_t		 len;
	const char	*body = fetch_body(f, &len);
	json_t		*j = json_loadb(body, len, 0, NULL);
	const char	*msg = json_string_value(json_object_get(j, "message"));
	char		*out;

	if (msg == NULL)
		msg = json_string_value(json_object_get(json_array_get(
		    json_object_get(j, "errors"), 0), "detail"));
	out = msg != NULL ? xstrdup(msg) : xstrndup(body, len > 160 ? 160 :
	    len);
	json_decref(j);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return out;
}

static bool
html(struct fetch *f)
{
	const char	*ct = fetch_header(f, "Content-Type");
	size_t		 len;
	const char	*body = fetch_body(f, &len);

	if (ct != NULL && strcasestr(ct, "html") != NULL)
		return true;
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	return len > 0 && *body == '<';
}

/* What is wrong with the shape of a credential that was refused, or "". */
static const char *
shape_hint(const struct registry_config *c, const char *cred)
{
	const char	*sp;

	if (cred == NULL || c->upstream_pat_env || c->upstream_pat_file)
		return "";
	if ((sp = strchr(cred, ' ')) == NULL)
		return "; the value has no scheme (a bare PAT or token?): an"
		    " Authorization value is \"Basic base64(PAT:<pat>)\" or"
		    " \"Bearer <token>\"; for an Azure DevOps PAT use"
		    " upstream_pat_env or upstream_pat_file, which take the"
		    " bare PAT";
	if (strncasecmp(cred, "Basic ", 6) == 0 && strchr(sp + 1, ' ') !=
	    NULL)
		return "; its base64 is cut by a space (GNU base64 wraps at 76"
		    " columns: use base64 -w0, or upstream_pat_env with the"
		    " bare PAT)";
	return "";
}

/* scheme://host[:port] of the upstream. New string. */
static char *
host_of(const struct registry_config *c)
{
	const char	*b = base_of(c), *h = strstr(b, "://");

	h = h != NULL ? h + 3 : b;
	return xstrndup(b, (size_t)(h - b) + strcspn(h, "/"));
}

static enum probe_outcome
judge_failure(const struct registry_config *c, struct fetch *f,
    char **detail)
{
	const char	*err = fetch_error(f);
	char		*host = host_of(c);

	if (fetch_too_large(f)) {
		*detail = xasprintf("%sconfig.json is larger than 1 MiB: not"
		    " a registry's; check the feed URL (upstream = \"%s\")",
		    base_of(c), c->upstream);
		free(host);
		return PROBE_NOT_REGISTRY;
	}
	/* The public API gives curl's message, not its code. */
	if (strstr(err, "SSL") != NULL || strstr(err, "TLS") != NULL ||
	    strstr(err, "certificate") != NULL) {
		*detail = xasprintf("TLS error with %s: %s; check the URL's"
		    " scheme and port, and upstream_ca_file for a private CA",
		    host, err);
		free(host);
		return PROBE_TLS;
	}
	*detail = xasprintf("cannot reach %s: %s; check the host and port in"
	    " upstream = \"%s\", the network%s", host, err, c->upstream,
	    c->upstream_proxy ? " and upstream_proxy" :
	    " and https_proxy/no_proxy");
	free(host);
	return PROBE_UNREACHABLE;
}

static enum probe_outcome
judge_refused(const struct registry_config *c, struct fetch *f,
    const char *cred, char **detail)
{
	char	*setting = credential_setting(c), *msg = message(f);

	if (setting == NULL)
		*detail = xasprintf("upstream answered %ld to a request"
		    " without a credential (%s): give one with"
		    " upstream_token_env (an Authorization value) or"
		    " upstream_pat_env (an Azure DevOps PAT)", fetch_status(f),
		    fetch_status(f) == 203 ? "a sign-in page" : msg);
	else
		*detail = xasprintf("upstream refused crated's credential"
		    " (%ld: %s): check %s%s", fetch_status(f),
		    fetch_status(f) == 203 ? "a sign-in page" : msg, setting,
		    shape_hint(c, cred));
	free(setting);
	free(msg);
	return PROBE_CREDENTIAL;
}

static enum probe_outcome
judge_ok(const struct registry_config *c, struct fetch *f, const char *cred,
    char **detail)
{
	struct regconfig	 rc;
	size_t			 len;
	const char		*body = fetch_body(f, &len);
	char			*why = NULL, *setting;

	if (html(f) && fetch_redirects(f) > 0) {
		setting = credential_setting(c);
		*detail = xasprintf("upstream answered config.json with an HTML"
		    " page after a redirect (a sign-in page): check %s%s",
		    setting ? setting : "the credential (none is set)",
		    shape_hint(c, cred));
		free(setting);
		return PROBE_CREDENTIAL;
	}
	if (html(f)) {
		setting = credential_setting(c);
		*detail = xasprintf("%sconfig.json is an HTML page, not a"
		    " registry's: check the feed URL (upstream = \"%s\"); a"
		    " sign-in page would mean the credential (%s)", base_of(c),
		    c->upstream, setting ? setting : "none is set");
		free(setting);
		return PROBE_NOT_REGISTRY;
	}
	if (regconfig_parse(body, len, &rc, &why) != 0) {
		*detail = xasprintf("%sconfig.json is not a registry's (%s):"
		    " check the feed URL (upstream = \"%s\")", base_of(c), why,
		    c->upstream);
		free(why);
		return PROBE_NOT_REGISTRY;
	}
	regconfig_finish(&rc);
	*detail = xasprintf("%sconfig.json answered", base_of(c));
	return PROBE_OK;
}

enum probe_outcome
probe_judge(const struct registry_config *c, struct fetch *f,
    const char *cred, char **detail)
{
	long	status = fetch_status(f);
	char	*msg;

	*detail = NULL;
	if (fetch_failed(f))
		return judge_failure(c, f, detail);
	switch (status) {
	case 200:
		return judge_ok(c, f, cred, detail);
	case 203:
	case 401:
	case 403:
		return judge_refused(c, f, cred, detail);
	case 404:
	case 410:
		*detail = xasprintf("%sconfig.json: %ld, no registry there:"
		    " check the feed URL (upstream = \"%s\")", base_of(c),
		    status, c->upstream);
		return PROBE_NOT_REGISTRY;
	}
	msg = message(f);
	if (status >= 300 && status < 400) {
		const char	*loc = fetch_header(f, "Location");

		*detail = xasprintf("%sconfig.json redirects (%ld) to %s:"
		    " check the feed URL (upstream = \"%s\")", base_of(c),
		    status, loc ? loc : "nowhere", c->upstream);
		free(msg);
		return PROBE_NOT_REGISTRY;
	}
	*detail = xasprintf("upstream answered config.json with %ld: %s",
	    status, msg);
	free(msg);
	return PROBE_ERROR;
}

/* The server's probes. */

struct probe_reg {
	struct probes		*ps;
	struct registry		*reg;
	struct event		*timer;
	char			*url;
	bool			 running;
	bool			 again;		/* SIGHUP during a probe */
	enum probe_outcome	 outcome;
	char			*detail;
	time_t			 when;
};

/* The probes have their own curl multi on the server's loop: a probe
 * of a silent upstream never holds up SIGTERM's drain, which waits for
 * the server's upstream requests. */
struct probes {
	struct server		*srv;
	struct upstream_client	*uc;
	bool			  closing;
	struct probe_reg	**v;
	size_t			  n;
};

static void	probe_tick(evutil_socket_t, short, void *);

static void
probe_reg_free(struct probe_reg *pr)
{
	if (pr->timer != NULL)
		event_free(pr->timer);
	free(pr->url);
	free(pr->detail);
	free(pr);
}

static void
schedule(struct probe_reg *pr, long seconds)
{
	struct timeval	tv = { seconds, 0 };

	evtimer_add(pr->timer, &tv);
}

static void
probe_done(struct fetch *f, void *arg)
{
	struct probe_reg		*pr = arg;
	const struct registry_config	*c;
	enum probe_outcome		 o;
	char				*detail;
	long				 next;

	pr->running = false;
	if (pr->ps->closing)		/* ended by probes_free */
		return;
	c = pr->reg->cfg;
	o = probe_judge(c, f, mirror_credential(pr->reg->mirror), &detail);
	if (o == PROBE_OK)
		mirror_upstream_answered(pr->reg->mirror, f);
	if (o == PROBE_CREDENTIAL && !fetch_failed(f) && fetch_status(f) ==
	    401)
		mirror_reconfigured(pr->reg->mirror);	/* read it again */
	if (o == PROBE_OK && o != pr->outcome)
		log_info("registry %s: upstream probe: ok (%s)", pr->reg->name,
		    detail);
	else if (o != PROBE_OK && (o != pr->outcome || pr->detail == NULL ||
	    strcmp(detail, pr->detail) != 0))
		log_error("registry %s: upstream probe: %s: %s", pr->reg->name,
		    probe_outcome_name(o), detail);
	free(pr->detail);
	pr->detail = detail;
	pr->outcome = o;
	pr->when = time(NULL);
	if (pr->ps->srv->stopping)
		return;
	next = c->probe_interval;
	if (pr->again)
		next = 0;
	else if (o != PROBE_OK && (next == 0 || next > PROBE_RETRY))
		next = PROBE_RETRY;	/* the upstream may come later */
	else if (next == 0)
		return;
	pr->again = false;
	schedule(pr, next);
}

static void
probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct probe_reg	*pr = arg;
	struct fetch_opts	 o;

	(void)fd;
	(void)what;
	if (pr->running || pr->ps->srv->stopping || pr->reg->cfg->offline)
		return;
	free(pr->url);
	pr->url = probe_prepare(pr->reg->cfg, &o);
	o.authorization = mirror_credential(pr->reg->mirror);
	o.done = probe_done;
	o.arg = pr;
	pr->running = true;
	fetch_start(pr->ps->uc, &o);
}

struct probes *
probes_start(struct server *srv)
{
	struct probes	*ps = xcalloc(1, sizeof *ps);

	ps->srv = srv;
	ps->uc = upstream_client_create(srv->base);
	for (size_t i = 0; i < srv->nregs; i++) {
		struct probe_reg	*pr;

		if (srv->regs[i].mirror == NULL)
			continue;
		pr = xcalloc(1, sizeof *pr);
		pr->ps = ps;
		pr->reg = &srv->regs[i];
		pr->timer = evtimer_new(srv->base, probe_tick, pr);
		ps->v = xreallocarray(ps->v, ps->n + 1, sizeof *ps->v);
		ps->v[ps->n++] = pr;
		if (!pr->reg->cfg->offline)
			schedule(pr, 0);
	}
	return ps;
}

void
probes_reconfigured(struct probes *ps)
{
	for (size_t i = 0; ps != NULL && i < ps->n; i++) {
		struct probe_reg	*pr = ps->v[i];

		if (pr->running)
			pr->again = true;
		else if (!pr->reg->cfg->offline)
			schedule(pr, 0);
	}
}

void
probes_free(struct probes *ps)
{
	if (ps == NULL)
		return;
	ps->closing = true;
	upstream_client_destroy(ps->uc);	/* ends probes under way */
	for (size_t i = 0; i < ps->n; i++)
		probe_reg_free(ps->v[i]);
	free(ps->v);
	free(ps);
}

void
probes_state(struct probes *ps, const struct registry *reg, json_t *j)
{
	for (size_t i = 0; ps != NULL && i < ps->n; i++) {
		struct probe_reg	*pr = ps->v[i];

		if (pr->reg != reg || pr->reg->cfg->offline)
			continue;
		json_object_set_new(j, "probe", json_string(
		    probe_outcome_name(pr->outcome)));
		if (pr->detail != NULL)
			json_object_set_new(j, "probe_detail", json_string(
			    pr->detail));
		if (pr->when != 0)
			json_object_set_new(j, "probe_time", json_integer(
			    pr->when));
		/* A configuration found wrong is not "ok", whatever the index
		 * answered (a 404 for every crate of a wrong feed path). */
		if (pr->outcome != PROBE_OK && pr->outcome != PROBE_PENDING)
			json_object_set_new(j, "upstream_state", json_string(
			    probe_outcome_name(pr->outcome)));
	}
}
