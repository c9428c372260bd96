/* What the files of server/web/ share. */
#ifndef SERVER_WEB_WEB_INT_H
#define SERVER_WEB_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "server/web/html.h"
#include "server/web/readme.h"
#include "server/web/session.h"

struct event;
struct http_request;
struct registry;
struct route;
struct server;
struct token;

#define DOC_CACHE	512	/* READMEs kept, rendered */
#define WEB_PER_PAGE	50

struct doc_entry {
	char		*key;		/* "R\nNAME\nVERS" */
	struct crate_doc doc;
	bool		 found;		/* the .crate was there */
};

#define LIC_SLOTS	8192	/* versions whose license is known */

struct lic_slot {
	char	*key;		/* "R\nNAME\nVERS" */
	char	*license;	/* NULL: the crate names none */
};

/* What the registry list shows of one index file (summary.c). */
struct sum_entry {
	char	*path;		/* under index/ */
	char	*name;
	char	*vers;		/* newest (not yanked when one is not) */
	bool	 yanked;
	char	*desc;		/* hosted: from meta/; mirror: web/about/;
				   or NULL */
	char	*about_vers;	/* mirror: the newest version whose
				   Cargo.toml was read, or NULL */
	time_t	 mtime;		/* the index file's: last change */
	long	 mtime_ns;
	long long size;
	unsigned long long ino;
	bool	 gone;		/* removed, until the table is compacted */
	bool	 taken;		/* moved into the next walk's table */
};

/* A mirror crate's cached .crate files (from the usage journal's copy). */
struct crate_use {
	const char	*name;		/* lower case; borrowed from the copy */
	time_t		 used;		/* the newest use */
	unsigned	 versions;	/* .crate files cached */
};

struct pending {
	char	*name;		/* lower case */
	char	*vers;
};

struct usage_use;

/* One registry's list; only the pages' worker touches it. */
struct reg_summary {
	struct reg_summary	*next;
	struct registry		*reg;
	struct sum_entry	*e;		/* n of cap */
	size_t			 n, cap;
	size_t			*slot;		/* hash of path -> index+1 */
	size_t			 nslot;
	bool			 built;		/* index/ walked (at the first
						   view), entries kept since */
	bool			 crates_pass;	/* mirror: crates/ to walk for
						   .crate files to read */
	bool			 dropped;	/* entries marked gone */
	uint64_t		 since;		/* the store generation seen */
	struct pending		*pend;		/* .crate files to read: */
	size_t			 npend, pcap;	/* from pnext to npend */
	size_t			 pnext;
	bool			 overflow;	/* pend was full (logged) */
	struct usage_use	*copy;		/* mirror: the journal's copy */
	size_t			 ncopy;
	struct crate_use	*uses;		/* by name */
	size_t			 nuses;
};

/* The summary of reg (made empty at first sight). */
struct reg_summary	*summary_of(struct web *, struct registry *);
/* Brings s up to date from what the store's log says changed; a mirror's
 * crates/ walked at first (or when the log lost changes) for the .crate
 * files to read; with list, index/ walked when not yet (or again). */
void			 summary_sync(struct web *, struct reg_summary *,
			    bool list);
/* Reads queued .crate files for their descriptions for about budget_ms;
 * true when some are still queued. */
bool			 summary_describe(struct web *, struct reg_summary *,
			    double budget_ms);
struct sum_entry	*summary_find(struct reg_summary *, const char *path);
/* Takes a copy of the usage journal (steals it). */
void			 summary_uses(struct reg_summary *,
			    struct usage_use *, size_t n);
/* name's cached .crate files, or NULL when none. */
const struct crate_use	*summary_use(const struct reg_summary *,
			    const char *name);
void			 summaries_free(struct reg_summary *);
/* The upkeep of every registry's summary (web_start): a job on the
 * worker at once (the walks) and whenever a store changed (looked at
 * every second), and again while .crate files are queued. summary_kick:
 * one now, unless one is under way; summary_stop: no more (before the
 * worker pool goes). */
void			 summary_start(struct web *);
void			 summary_kick(struct web *);
void			 summary_stop(struct web *);

struct web {
	struct server		*srv;
	struct workers		*pool;
	struct sessions		*sessions;
	struct doc_entry	 docs[DOC_CACHE];
	size_t			 next_doc;	/* replaced next */
	struct lic_slot		 lic[LIC_SLOTS];	/* by hash; a collision
						   replaces */
	size_t			 pending;	/* requests on the worker */
	struct reg_summary	*sums;		/* the worker's */
	/* The summaries' upkeep (web.c): a job at a time on the worker,
	 * looked for every second. */
	struct event		*tick;
	bool			 upkeep;	/* a job is on the worker */
	bool			 more;		/* .crate files still queued */
	uint64_t		*seen;		/* per registry: the store
						   generation its last job saw */
	uint64_t		*uses_gen;	/* per registry: the usage
						   journal's when copied */
	_Atomic bool		 stopping;	/* no more upkeep */
};

/* Who is looking: what the page's header shows, copied so that it
 * outlives a trip to the workers. */
struct viewer {
	char	*token;		/* the token presented, or NULL */
	char	*label;		/* its label, when valid anywhere */
	bool	 session;	/* signed in with a cookie */
	char	 csrf[SESSION_ID_LEN + 1];
	bool	 admin;
};

void	viewer_get(struct web *, struct http_request *, struct viewer *);
void	viewer_finish(struct viewer *);
/* Whether v may read reg's pages; *glob (borrowed until the next tokens
 * refresh, may be NULL) limits its crates. */
bool	viewer_may_read(struct web *, const struct viewer *,
	    struct registry *, const char **glob);
/* The ops page: ops_access allows r, or v is an admin. */
bool	viewer_may_ops(struct web *, const struct viewer *,
	    struct http_request *);
bool	crate_visible(const char *glob, const char *name);

/* Content-Security-Policy and the other headers of every page. */
extern const char	page_security_headers[];

/* The page around a body: head, header with navigation, main. */
void	page_start(struct html *, const struct viewer *, const char *title);
void	page_end(struct html *);
/* Sends the page h with the security headers (more: extra header
 * lines, or NULL). */
void	page_send(struct http_request *, int status, struct html *,
	    const char *more);
/* An error page; for 401/403, with a sign-in link back to r's path. */
void	page_error(struct web *, struct http_request *, const struct viewer *,
	    int status, const char *what);
/* A copy button for the element #id (shown by app.js). */
void	page_copy_button(struct html *, const char *id);
/* "2026-12-07 20:38 UTC" into out (32 bytes); "" for 0. */
void	page_time(time_t, char *out);
/* "1.2 MiB" into out (32 bytes). */
void	page_size(unsigned long long, char *out);
/* Whether the request's query has key, decoded into out. */
bool	page_param(struct http_request *, const char *key, char *out,
	    size_t size);

void	page_home(struct web *, struct http_request *, struct viewer *);
void	page_registry(struct web *, struct http_request *, struct viewer *,
	    struct registry *, const char *glob);
void	page_crate(struct web *, struct http_request *, struct viewer *,
	    struct registry *, const char *glob, const char *name);
void	page_ops(struct web *, struct http_request *, struct viewer *);
/* The toolchain mirrors: cards on / (base: crated's URL), sections on
 * /-/ops (full: with their last error). */
void	page_toolchain_cards(struct html *, struct web *, const char *base,
	    bool full);
void	page_toolchain_rows(struct html *, struct web *, bool full);
void	page_signin(struct web *, struct http_request *, struct viewer *);
void	page_signin_post(struct web *, struct http_request *,
	    struct viewer *);
void	page_signout(struct web *, struct http_request *, struct viewer *);

/* The README cache: the entry for key, or NULL; doc_put steals doc. */
const struct doc_entry	*doc_get(struct web *, const char *key);
void			 doc_put(struct web *, const char *key,
			    struct crate_doc *doc, bool found);
/* The README kept on disk, per registry store and version, under
 * web/readme/<index path>/<vers>.json; on the worker. doc_load: 0 and
 * doc filled, or -1 (none, or unreadable). doc_save: written once
 * rendered (temp file, fsync, rename); a failure only costs a render. */
struct store;
int			 doc_load(struct store *, const char *name,
			    const char *vers, struct crate_doc *doc);
bool			 doc_kept(struct store *, const char *name,
			    const char *vers);
void			 doc_save(struct store *, const char *name,
			    const char *vers, const struct crate_doc *doc);
/* The license cache: whether key's license is known, and it (borrowed,
 * may be NULL). lic_put copies. */
bool			 lic_get(struct web *, const char *key,
			    const char **license);
void			 lic_put(struct web *, const char *key,
			    const char *license);

#endif
