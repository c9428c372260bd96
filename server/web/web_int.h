/* What the files of server/web/ share. */
#ifndef SERVER_WEB_WEB_INT_H
#define SERVER_WEB_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "server/web/html.h"
#include "server/web/readme.h"
#include "server/web/session.h"

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

/* What the registry list shows of one index file, kept per registry
 * and read again only when the file's mtime, size or inode changes.
 * Only the pages' (single) worker touches it. */
struct sum_entry {
	char	*path;		/* under index/ */
	char	*name;
	char	*vers;		/* newest (not yanked when one is not) */
	bool	 yanked;
	char	*desc;		/* hosted: from meta/; mirror: from a kept
				   web/readme/ JSON; or NULL */
	struct timespec	 rdir;	/* mirror: its web/readme/ directory's
				   mtime when desc was read */
	time_t	 mtime;		/* the index file's: last change */
	long	 mtime_ns;
	long long size;
	unsigned long long ino;
	bool	 taken;		/* moved into the next walk's table */
};

struct reg_summary {
	struct reg_summary	*next;
	char			*reg;		/* the registry's name */
	struct sum_entry	*e;		/* n entries */
	size_t			 n;
	size_t			*slot;		/* hash of path -> index+1 */
	size_t			 nslot;
};

struct web {
	struct server		*srv;
	struct workers		*pool;
	struct sessions		*sessions;
	struct doc_entry	 docs[DOC_CACHE];
	size_t			 next_doc;	/* replaced next */
	struct lic_slot		 lic[LIC_SLOTS];	/* by hash; a collision
						   replaces */
	size_t			 pending;
	struct reg_summary	*sums;		/* the worker's */
};

void	summaries_free(struct reg_summary *);

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
