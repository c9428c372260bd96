/*
 * The supply-chain policy of a running server (issue 28): the run-time
 * blocks and the advisory snapshots loaded at start (a bad snapshot fails
 * the start), read again on SIGHUP and whenever DATA_DIR/policy/ changes
 * (`crated block`, `crated unblock` and `crated advisories import` write
 * there; the server watches the folder with inotify, else looks every 2
 * s), on the worker pool; each registry's view (reg->policy) remade with
 * a new epoch when anything changed. A snapshot that no longer loads is
 * logged and the one before kept.
 *
 * Also what the policy shows: crated_policy_verdicts_total{registry,
 * verdict,source} (each download refused counts one deny; each index file
 * answered, 200 or 304, counts its lines held, denied and flagged), the
 * log (each refusal and each answer with held or denied lines, at most
 * one line per crate and kind a minute, with a count of those left out),
 * the audit lines of blocks and unblocks, and /-/ready.
 */
#ifndef SERVER_POLICY_POLSERVE_H
#define SERVER_POLICY_POLSERVE_H

#include <stdbool.h>

struct http_request;
struct registry;
struct regpolicy_tally;
struct server;
typedef struct json_t json_t;

/* At start, before the listeners. 0, or -1 with *cause (new). */
int	polserve_start(struct server *, char **cause);
void	polserve_stop(struct server *);
/* SIGHUP, after the configuration was read again. */
void	polserve_reload(struct server *);

/* A download of name@vers from reg: true when reg's policy denies it,
 * and r was answered 403 with the reason. Decided before anything else
 * (nothing read, nothing fetched). */
bool	polserve_refuse_download(struct registry *, struct http_request *,
	    const char *name, const char *vers);

/* reg answered an index file of crate name with the verdicts t. */
void	polserve_served(struct registry *, const char *name,
	    const struct regpolicy_tally *t);

/* /-/ready: the "policy" member of reg's state, when a policy applies. */
void	polserve_state(struct registry *, json_t *obj);

#endif
