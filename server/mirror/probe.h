/* Upstream probes: GET the upstream's config.json with crated's
 * credential and say whether the mirror is configured right (ok, the
 * credential refused, not a registry, unreachable, a TLS error), naming
 * the setting to fix. The server probes every mirror at start, on SIGHUP
 * and every probe_interval seconds with the mirror's credential, on the
 * event loop (a libcurl multi of their own, server/upstream/upstream.c); `crated
 * check` (server/cmd/cmd_check.c) probes with its own loop. The credential
 * itself comes from server/upstream/credential.h. */
#ifndef SERVER_MIRROR_PROBE_H
#define SERVER_MIRROR_PROBE_H

#include <stdbool.h>

struct fetch;
struct fetch_opts;
struct registry;
struct registry_config;
struct server;
typedef struct json_t json_t;

enum probe_outcome {
	PROBE_PENDING,		/* no answer yet */
	PROBE_OK,
	PROBE_CREDENTIAL,	/* 401/403/203, a sign-in page, none given */
	PROBE_NOT_REGISTRY,	/* config.json missing, HTML, not JSON */
	PROBE_UNREACHABLE,	/* connection, DNS, timeout */
	PROBE_TLS,		/* handshake or certificate */
	PROBE_ERROR,		/* 5xx, 429, anything else */
};

const char	*probe_outcome_name(enum probe_outcome);

/* Fills o for GET UPSTREAM/config.json; returns the URL (new), which o
 * points at. */
char		*probe_prepare(const struct registry_config *,
		    struct fetch_opts *o);
/* Judges the finished fetch of config.json. *detail (new) is a sentence
 * a person can act on, naming the setting to fix. credential: what was
 * sent (to recognise a bare token), or NULL. */
enum probe_outcome probe_judge(const struct registry_config *,
		    struct fetch *, const char *credential, char **detail);

/* The server's probes of every mirror that is not offline. */
struct probes;
struct probes	*probes_start(struct server *);
/* After SIGHUP: probe every mirror again now. */
void		 probes_reconfigured(struct probes *);
void		 probes_free(struct probes *);
/* Adds the last probe's outcome of reg to its /-/ready object. */
void		 probes_state(struct probes *, const struct registry *,
		    json_t *);

#endif
