/*
 * What the files of a mirror registry share; private to server/mirror*.c
 * (the public API is server/mirror/mirror.h). The mirror is split by job, each
 * file calling only files below it:
 *
 *   mirror.c            the registry's life: open, close, reload, state
 *   mirror_warm.c       dependency warming: a fetched index file's
 *                       dependencies fetched before cargo asks
 *   mirror_crates.c     .crate downloads, streamed, hashed and kept
 *   mirror_upconfig.c   the upstream's config.json
 *   mirror_index.c      index files: memory, disk, one shared upstream
 *                       fill, its waiters, watches after a publish
 *   mirror_evict.c      crates removed past max_cache_bytes
 *   mirror_verdict.c    what an upstream answer means
 *   mirror_admit.c      when a request may go upstream: the adaptive
 *                       limit, the queues, back-off
 *   mirror_negative.c   the upstream's 404s, remembered in memory
 *   mirror_credential.c the upstream credential, refreshed
 *   mirror_report.c     metrics under the registry's label, log lines
 *                       held back, the upstream's last answer
 *
 * With an object store (reg->objstore), mirror_index.c and mirror_crates.c
 * ask server/storage/mirror_l2.c before the upstream and hand it what the
 * upstream sent; it calls back through the callbacks they give it.
 *
 * A lower file tells an upper one through a function pointer the upper
 * one hands down, never by name: a fill read warms its dependencies
 * (m->fill_read, set by mirror_warm.c); unstarted warming fetches are
 * dropped through mirror_admit_drop_warm's callback (mirror_index_forget).
 */
#ifndef SERVER_MIRROR_MIRROR_INT_H
#define SERVER_MIRROR_MIRROR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "cache/lru.h"
#include "index/deps.h"
#include "index/name.h"
#include "index/regconfig.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/mirror/mirror.h"

struct config_waiter;
struct crate_fill;
struct evict;
struct event;
struct fetch;
struct fetch_opts;
struct hot_entry;
struct http_request;
struct limiter;
struct mirror_l2;
struct queued;
struct usage;
struct watch;
struct wrap;

#define INDEX_TIMEOUT	25		/* seconds: cargo waits 30 */
#define LOG_EVERY	10		/* seconds between repeated log lines */

/* What a fill of an index file came to, as its waiters see it. */
struct outcome {
	int			 status;	/* 200, 404, or an error */
	struct hot_entry	*e;		/* 200: borrowed */
	const char		*stale;		/* 200 from a stale copy: why */
	const char		*error;		/* errors: what happened */
	const char		*retry_after;	/* errors: seconds, or NULL */
};

typedef void (*index_cb)(struct mirror *, const struct outcome *, void *);

struct waiter {
	index_cb	 cb;
	void		*arg;
	struct waiter	*next;
};

/* An upstream fetch of one index file and everyone waiting for it. */
struct fill {
	struct mirror		*m;
	char			 path[INDEX_PATH_MAX];
	char			 name[CRATE_NAME_MAX + 1];
	struct hot_entry	*old;		/* what we have, or NULL */
	struct waiter		*waiters;
	bool			 warming;	/* nobody asked yet */
	bool			 l2_hit;	/* settled from the store */
	bool			 old_shared;	/* old came from the store */
	struct featreq		 feat;		/* features wanted of it */
	struct fill		*next;
};

typedef mirror_config_cb config_cb;

struct mirror {
	struct registry		*reg;
	struct server		*srv;
	char			*base;		/* upstream URL, ends in '/' */
	struct regconfig	 rc;		/* the upstream's config.json */
	time_t			 rc_fetched;
	bool			 rc_fetching;
	struct config_waiter	*rc_waiters;
	struct fill		*fills;
	struct lru		 writing;	/* persists under way, by key */
	/* Persists held back while fills are under way (mirror_index.c). */
	struct persist		*held, **held_tail;
	size_t			 nheld;
	struct timespec		 held_since;
	struct event		*held_timer;
	struct lru		 asked;		/* struct asked, by key */
	struct crate_fill	*crate_fills;
	char			*token;		/* Authorization value */
	time_t			 token_time;
	bool			 token_refreshing;
	int			 active;	/* fetches in flight */
	struct limiter		*limiter;	/* how many may be */
	struct wrap		*inflight;
	struct event		*overdue_timer;	/* a place frees itself */
	bool			 multiplexed;	/* the upstream took h2c */
	bool			 answered;	/* the upstream ever answered */
	struct queued		*queue, **queue_tail;
	struct queued		*low, **low_tail; /* warming fetches */
	size_t			 nlow;
	time_t			 backoff_until;
	struct watch		*watches;
	char			 labels[96];	/* registry="NAME" */
	struct usage		*usage;		/* cached crates */
	struct event		*gc_timer;
	struct event		*evict_ev;	/* mirror_evict_soon */
	time_t			 last_ok, last_fail;
	char			*last_error;
	struct lru		 negs;		/* struct neg, by index path */
	uint64_t		 committing;	/* bytes being stored */
	/* Fetched crates waiting for room to be stored (mirror_crates.c). */
	struct crate_fill	*commits_held;
	/* Victims chosen (out of the accounting), not yet unlinked: every
	 * commit removes them before its rename (mirror_evict.c). */
	struct evict		*evicting;
	pthread_mutex_t		 evicting_lock;	/* the list; held briefly */
	pthread_mutex_t		 unlink_lock;	/* held while unlinking */
	struct mirror_l2	*l2;		/* the shared cache in the
						   object store, or NULL */
	struct log_every	 offline_log, nospace_log;
	/* A fetched index file was read (mirror_warm.c sets it): key is
	 * the file's, NULL when its dependencies were not looked for. */
	void			(*fill_read)(struct mirror *, const char *key,
				    const struct featreq *,
				    const struct wants *);
};

/*
 * Negative entries (mirror_negative.c): the index paths the upstream
 * answered 404 for, kept in memory only, for negative_ttl and at most
 * NEG_MAX of them (the oldest go first), in the order they were learnt,
 * so the expired ones are at the old end. Nothing reaches the disk: a
 * request for a name the upstream does not have costs no file. After a
 * restart the upstream is asked once more; offline, anything not cached
 * is a 404 anyway.
 */
struct neg {
	struct lru_node	 node;
	char		*path;
	time_t		 fetched;
};

#define NEG(n)	lru_entry(n, struct neg, node)

/* What an upstream answer means (mirror_verdict.c). */
enum verdict {
	V_OK,		/* 200 with a usable body */
	V_NOT_MODIFIED,
	V_NOT_FOUND,
	V_CONFIG,	/* crated is misconfigured: never a 404, never stale */
	V_TRANSIENT,	/* serve stale if we can */
};

/* mirror_report.c */
/* Metrics: name{registry="R"} or name{registry="R",extra}. */
void	mirror_count(struct mirror *, enum metric_id, const char *extra,
	    double v);
/* Remembers how the upstream last answered (error NULL: it was fine),
 * for /-/ready. */
void	mirror_note_answer(struct mirror *, const char *error);
/* An offline miss, logged at most once per LOG_EVERY seconds. vers
 * NULL: an index file. */
void	mirror_offline_miss(struct mirror *, const char *name,
	    const char *vers);

/* mirror_credential.c */
/* Reads the credential again: a file at once, a command in the
 * background. */
void	mirror_credential_refresh(struct mirror *);

/* mirror_negative.c */
void		 mirror_neg_drop(struct mirror *, struct neg *);
/* Forgets the negative entries older than negative_ttl. */
void		 mirror_neg_expire(struct mirror *);
/* The live negative entry of path, or NULL. */
struct neg	*mirror_neg_find(struct mirror *, const char *path);
void		 mirror_neg_add(struct mirror *, const char *path);
void		 mirror_neg_remove(struct mirror *, const char *path);

/* mirror_admit.c */
void	mirror_admit_open(struct mirror *);
void	mirror_admit_close(struct mirror *);
/* Starts o now, or when a place frees up. The URL and validators are
 * copied. The on_data and done callbacks get o->arg. */
void	mirror_admit(struct mirror *, const struct fetch_opts *);
/* mirror_admit for warming: behind every request someone waits for,
 * and never in the last free place. False when too many wait already. */
bool	mirror_admit_warm(struct mirror *, const struct fetch_opts *);
/* Someone now waits for the warming fetch whose callback argument is
 * arg: moves it to the front queue if it has not started. */
void	mirror_admit_promote(struct mirror *, void *arg);
/* Forgets the warming fetches that have not started; drop gets each
 * one's callback argument. */
void	mirror_admit_drop_warm(struct mirror *,
	    void (*drop)(struct mirror *, void *arg));
/* True while the upstream's Retry-After holds. */
bool	mirror_backing_off(struct mirror *);
/* Seconds from a Retry-After value (delta seconds or an HTTP date), or
 * -1. */
long	mirror_retry_after(const char *);

/* mirror_verdict.c */
/* crated_upstream_requests_total{kind,outcome} and the latency. */
void		 mirror_count_upstream(struct mirror *, double seconds,
		     const char *kind, enum verdict);
/* The upstream's own message from an error body. New string. */
char		*mirror_message_of(const char *body, size_t len);
bool		 mirror_looks_html(const char *ct, const char *body,
		     size_t len);
/* What a status, Content-Type and body (or its start) mean; *why (new)
 * for the failures. */
enum verdict	 mirror_verdict_of(struct fetch *, long status,
		     const char *body, size_t len, char **why);
/* Judges a finished fetch; *why (new) for the failures. */
enum verdict	 mirror_judge(struct mirror *, struct fetch *, char **why);

/* mirror_index.c */
/* Gets the index file of name at path: from memory or disk while fresh
 * (force: never), else through one shared upstream request; cb gets the
 * outcome, maybe before this returns. */
void		 mirror_index_get(struct mirror *, const char *name,
		     const char *path, bool force, index_cb, void *);
/* New reference to what we have of path, or NULL. */
struct hot_entry *mirror_index_lookup(struct mirror *, const char *path);
bool		 mirror_index_fresh(struct mirror *,
		     const struct hot_entry *);
/* The fill of path under way, or NULL. */
struct fill	*mirror_index_fill(struct mirror *, const char *path);
/* Warms the index file at path (have: what we have, taken over), read
 * with feat. False when the warming queue is full (have not taken). */
bool		 mirror_index_warm(struct mirror *, const char *name,
		     const char *path, struct hot_entry *have,
		     const struct featreq *feat);
/* Forgets the fill arg whose fetch never started (mirror_admit_drop_warm). */
void		 mirror_index_forget(struct mirror *, void *arg);
/* Frees the watches. */
void		 mirror_index_close(struct mirror *);
/* Answers r with a failed outcome's status, message and Retry-After. */
void		 mirror_index_reply_error(struct http_request *,
		     const struct outcome *);

/* mirror_evict.c */
void		 mirror_evict_open(struct mirror *);
void		 mirror_evict_close(struct mirror *);
/* The crates to remove so that incoming more bytes fit (counted with the
 * crates being stored), or NULL. On the loop; they join m->evicting. */
struct evict	*mirror_evict_victims(struct mirror *, uint64_t incoming);
/* Removes every victim chosen so far (m->evicting), whoever chose it, and
 * returns once they are gone; on a worker. A crate is renamed into crates/
 * only after this: its room may have been made by victims another crate
 * or a background eviction chose. */
void		 mirror_evict_drain(struct mirror *);
/* mirror_evict_drain for a struct evict's mirror; a workers job. */
void		 mirror_evict_remove(void *evict);
/* After mirror_evict_remove, on the loop (e freed; NULL: nothing). */
void		 mirror_evict_done(void *evict);
/* Evicts in the background when the cache is over its limit. */
void		 mirror_evict_now(struct mirror *);
/* mirror_evict_now from the loop's next turn. */
void		 mirror_evict_soon(struct mirror *);

/* mirror_warm.c */
/* Sets m->fill_read. */
void	mirror_warm_open(struct mirror *);
void	mirror_warm_close(struct mirror *);

#endif
