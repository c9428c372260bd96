/* crated check: the configuration and every upstream, as nginx -t. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/mirror/probe.h"
#include "server/policy/regpolicy.h"
#include "server/storage/objprobe.h"
#include "server/storage/objstore.h"
#include "server/upstream/credential.h"
#include "server/upstream/upstream.h"

#define CHECK_TIMEOUT	30	/* crated check gives up after this */

struct check {
	const struct registry_config	*c;
	char				*cred;
	char				*url;
	enum probe_outcome		 outcome;
	char				*detail;
	size_t				*left;
	bool				*expired;
	struct event_base		*base;
};

static void
check_done(struct fetch *f, void *arg)
{
	struct check	*k = arg;

	if (*k->expired)	/* ended by upstream_client_destroy */
		return;
	k->outcome = probe_judge(k->c, f, k->cred, &k->detail);
	if (--*k->left == 0)
		event_base_loopexit(k->base, NULL);
}

struct check_all {
	struct event_base	*base;
	bool			 expired;
};

static void
check_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct check_all	*ca = arg;

	(void)fd;
	(void)what;
	ca->expired = true;
	event_base_loopexit(ca->base, NULL);
}

/* Prints the line of one registry; true when it is a failure. */
static bool
check_line(FILE *f, const struct check *k)
{
	const struct registry_config	*c = k->c;

	if (c->upstream == NULL) {
		fprintf(f, "%s: ok: hosted\n", c->name);
		return false;
	}
	if (c->offline) {
		fprintf(f, "%s: ok: offline, upstream not contacted\n", c->name);
		return false;
	}
	if (k->url == NULL) {		/* the credential could not be read */
		fprintf(f, "%s: credential unavailable: %s\n", c->name,
		    k->detail);
		return true;
	}
	if (k->detail == NULL) {
		fprintf(f, "%s: unreachable: no answer from %s in %d s\n",
		    c->name, c->upstream, CHECK_TIMEOUT);
		return true;
	}
	fprintf(f, "%s: %s: %s\n", c->name, probe_outcome_name(k->outcome),
	    k->detail);
	return k->outcome != PROBE_OK;
}

/* One object store (registries may share one). */
struct store_check {
	const char		*url;		/* borrowed from the config */
	struct objstore		*s;		/* NULL: could not open */
	char			*regs;		/* "local, crates-io" */
	char			*detail;
	enum objstore_verdict	 verdict;
	bool			 answered;
	double			 latency;
	size_t			*left;
	bool			*expired;
	struct event_base	*base;
};

static void
store_done(const struct objstore_probe *p, void *arg)
{
	struct store_check	*sc = arg;

	if (*sc->expired)	/* ended by upstream_client_destroy */
		return;
	sc->answered = true;
	sc->verdict = p->verdict;
	sc->detail = xstrdup(p->detail);
	sc->latency = p->latency;
	if (--*sc->left == 0)
		event_base_loopexit(sc->base, NULL);
}

/* The stores of cfg's registries, opened on uc and probed (each counted
 * in *left); *n of them. */
static struct store_check *
stores_start(const struct config *cfg, struct upstream_client *uc,
    struct event_base *base, size_t *left, bool *expired, size_t *n)
{
	struct store_check	*scs = xcalloc(cfg->nregs, sizeof *scs);
	size_t			 j;

	*n = 0;
	for (size_t i = 0; i < cfg->nregs; i++) {
		const char	*url = cfg->regs[i].storage ? cfg->regs[i].storage
				    : cfg->storage;
		char		*more;

		if (url == NULL)
			continue;
		for (j = 0; j < *n && strcmp(scs[j].url, url) != 0; j++)
			;
		if (j < *n) {
			more = xasprintf("%s, %s", scs[j].regs,
			    cfg->regs[i].name);
			free(scs[j].regs);
			scs[j].regs = more;
			continue;
		}
		scs[j].url = url;
		scs[j].regs = xstrdup(cfg->regs[i].name);
		scs[j].left = left;
		scs[j].expired = expired;
		scs[j].base = base;
		(*n)++;
		if (objstore_open_url(url, cfg->storage_endpoint,
		    cfg->storage_region, cfg->storage_credentials_file, uc,
		    &scs[j].s, &scs[j].detail) != 0)
			continue;
		(*left)++;
		objstore_probe(scs[j].s, store_done, &scs[j]);
	}
	return scs;
}

/* Prints the line of each store and frees them; the failures. */
static int
stores_finish(FILE *f, struct store_check *scs, size_t n)
{
	int	failures = 0;

	for (size_t i = 0; i < n; i++) {
		struct store_check	*sc = &scs[i];
		const char		*name = sc->s ? objstore_name(sc->s) :
					    sc->url;

		if (sc->s == NULL)
			fprintf(f, "storage %s: not usable: %s\n", name,
			    sc->detail);
		else if (!sc->answered)
			fprintf(f, "storage %s: unreachable: no answer in %d"
			    " s\n", name, CHECK_TIMEOUT);
		else
			fprintf(f, "storage %s: %s: %s (%.1f ms a request;"
			    " registries %s)\n", name, objstore_verdict_name(
			    sc->verdict), sc->detail, sc->latency * 1000,
			    sc->regs);
		failures += sc->s == NULL || !sc->answered || sc->verdict !=
		    STORE_OK;
		objstore_close(sc->s);
		free(sc->regs);
		free(sc->detail);
	}
	free(scs);
	return failures;
}

/* A toolchain mirror's upstream: its stable channel's .sha256. */
struct tc_check {
	const struct toolchain_config	*c;
	long				 status;
	char				*error;	/* no answer: why */
	bool				 sha;	/* the body holds a SHA-256 */
	bool				 answered;
	size_t				*left;
	bool				*expired;
	struct event_base		*base;
};

static void
tc_done(struct fetch *f, void *arg)
{
	struct tc_check	*k = arg;
	const char	*body;
	size_t		 len;
	char		 hex[65];

	if (*k->expired)	/* ended by upstream_client_destroy */
		return;
	k->answered = true;
	k->status = fetch_failed(f) ? 0 : fetch_status(f);
	if (fetch_failed(f))
		k->error = xstrdup(fetch_error(f));
	body = fetch_body(f, &len);
	k->sha = k->status == 200 && dist_sha256_parse(body, len, hex) == 0;
	if (--*k->left == 0)
		event_base_loopexit(k->base, NULL);
}

static struct tc_check *
tc_start(const struct config *cfg, struct upstream_client *uc,
    struct event_base *base, size_t *left, bool *expired)
{
	struct tc_check	*ks = xcalloc(cfg->ntcs ? cfg->ntcs : 1, sizeof *ks);

	for (size_t i = 0; i < cfg->ntcs; i++) {
		struct tc_check		*k = &ks[i];
		struct fetch_opts	 o = { 0 };
		char			*url;

		k->c = &cfg->tcs[i];
		k->left = left;
		k->expired = expired;
		k->base = base;
		if (k->c->offline)
			continue;
		url = xasprintf("%s/dist/channel-rust-stable.toml.sha256",
		    k->c->upstream);
		o.url = url;
		o.bare = true;
		o.proxy = k->c->upstream_proxy;
		o.ca_file = k->c->upstream_ca_file;
		o.max_body = 4096;
		o.timeout = CHECK_TIMEOUT;
		o.done = tc_done;
		o.arg = k;
		(*left)++;
		fetch_start(uc, &o);
		free(url);
	}
	return ks;
}

/* One line per toolchain mirror; the failures. */
static int
tc_finish(FILE *f, const struct config *cfg, struct tc_check *ks)
{
	int	failures = 0;

	for (size_t i = 0; i < cfg->ntcs; i++) {
		struct tc_check	*k = &ks[i];
		const char	*n = k->c->name, *up = k->c->upstream;

		if (k->c->offline)
			fprintf(f, "toolchains %s: ok: offline, upstream not"
			    " contacted\n", n);
		else if (!k->answered)
			fprintf(f, "toolchains %s: unreachable: no answer from"
			    " %s in %d s\n", n, up, CHECK_TIMEOUT);
		else if (k->status == 0)
			fprintf(f, "toolchains %s: unreachable: %s: %s\n", n, up,
			    k->error);
		else if (k->sha)
			fprintf(f, "toolchains %s: ok: %s answers for the stable"
			    " channel\n", n, up);
		else
			fprintf(f, "toolchains %s: not a rustup distribution"
			    " server: %s/dist/channel-rust-stable.toml.sha256"
			    " answered %ld%s\n", n, up, k->status, k->status ==
			    200 ? " without a SHA-256" : "");
		failures += k->c->offline ? 0 : !k->sha;
		free(k->error);
	}
	free(ks);
	return failures;
}

/* Probes every upstream of cfg with a loop of its own, prints one line
 * per registry to f; the number of failures. */
static int
check_all(const struct config *cfg, FILE *f)
{
	struct event_base	*base = event_base_new();
	struct upstream_client	*uc = upstream_client_create(base);
	struct check		*ks = xcalloc(cfg->nregs, sizeof *ks);
	struct check_all	 ca = { base, false };
	struct event		*timer = evtimer_new(base, check_timeout, &ca);
	struct store_check	*scs;
	struct tc_check		*tcs;
	size_t			 left = 0, nstores;
	int			 failures = 0;

	for (size_t i = 0; i < cfg->nregs; i++) {
		struct check		*k = &ks[i];
		struct fetch_opts	 o;
		char			*cause = NULL;

		k->c = &cfg->regs[i];
		k->left = &left;
		k->expired = &ca.expired;
		k->base = base;
		if (k->c->upstream == NULL || k->c->offline)
			continue;
		if (credential_read(k->c, &k->cred, &cause) != 0) {
			k->outcome = PROBE_CREDENTIAL;
			k->detail = cause;
			continue;
		}
		k->url = probe_prepare(k->c, &o);
		o.authorization = k->cred;
		o.done = check_done;
		o.arg = k;
		left++;
		fetch_start(uc, &o);
	}
	scs = stores_start(cfg, uc, base, &left, &ca.expired, &nstores);
	tcs = tc_start(cfg, uc, base, &left, &ca.expired);
	if (left > 0) {
		struct timeval	tv = { CHECK_TIMEOUT, 0 };

		evtimer_add(timer, &tv);
		event_base_dispatch(base);
	}
	ca.expired = true;
	upstream_client_destroy(uc);	/* what did not answer ends here */
	for (size_t i = 0; i < cfg->nregs; i++) {
		failures += check_line(f, &ks[i]);
		if (ks[i].cred != NULL)
			OPENSSL_cleanse(ks[i].cred, strlen(ks[i].cred));
		free(ks[i].cred);
		free(ks[i].url);
		free(ks[i].detail);
	}
	free(ks);
	failures += stores_finish(f, scs, nstores);
	failures += tc_finish(f, cfg, tcs);
	event_free(timer);
	event_base_free(base);
	return failures;
}

/* The policy of each registry (its blocks and snapshot read as the
 * server reads them), one line each; the number of failures (a blocks
 * file or snapshot that does not load). */
static int
check_policy(const struct config *cfg, FILE *f)
{
	int	failures = 0;

	for (size_t i = 0; i < cfg->nregs; i++) {
		const struct registry_config	*rc = &cfg->regs[i];
		struct regpolicy_view		*v = NULL;
		char				*cause = NULL;

		if (regpolicy_load(cfg, rc->name, &v, &cause) != 0) {
			fprintf(f, "%s: policy: %s\n", rc->name, cause);
			free(cause);
			failures++;
			continue;
		}
		if (v == NULL)
			continue;
		fprintf(f, "%s: policy: %s\n", rc->name,
		    regpolicy_describe(v));
		if (v->db != NULL)
			fprintf(f, "%s: advisories: %s: %s, %zu advisories\n",
			    rc->name, v->db_path, advisory_db_id(v->db),
			    advisory_db_count(v->db));
		regpolicy_unref(v);
	}
	return failures;
}

/* crated check: the configuration, then every upstream probed (its URL
 * and credential), one line per registry; 1 on any failure, as nginx -t. */
int
cmd_check(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("CRATED_CONFIG");
	struct config	*cfg;
	char		*cause = NULL;
	int		 ch, failures;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: crated check [--config"
			    " FILE]\n");
			return 2;
		}
		path = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: crated check [--config FILE]\n");
		return 2;
	}
	if (config_load(path, &cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		return 1;
	}
	if (config_check(cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	log_setup(LOG_ERROR, LOG_TEXT);
	failures = check_all(cfg, stdout);
	failures += check_policy(cfg, stdout);
	printf("crated check: configuration %s %s\n", path ? path :
	    "(built-in defaults)", failures ? "has failures" : "is ok");
	config_free(cfg);
	return failures ? 1 : 0;
}
