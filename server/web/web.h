/* The web pages (issue 27): /, /R/, /R/crates/NAME, /-/ops, sign-in and
 * sign-out, and their static files. Server-rendered HTML that works
 * without script; every value escaped (html.h); a Content-Security-Policy
 * that allows crated's own files only; no state changes on GET. Disk
 * reads and README rendering run on a worker pool of their own, so pages
 * never hold up the registry's pools; rendering on the loop is in
 * memory. The dispatcher (server.c) calls it; it calls the handlers',
 * mirror's and files' interfaces below. Touched only from the loop. */
#ifndef SERVER_WEB_WEB_H
#define SERVER_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>

/* The header lines of every page: crated's own scripts and styles only,
 * never framed, no sniffing, the referrer kept on the site. */
#define WEB_SECURITY_HEADERS						\
    "Content-Security-Policy: default-src 'none'; style-src 'self';"	\
    " script-src 'self'; img-src 'self' data:; form-action 'self';"	\
    " frame-ancestors 'none'; base-uri 'none'\r\n"			\
    "X-Content-Type-Options: nosniff\r\n"				\
    "Referrer-Policy: same-origin\r\n"					\
    "X-Frame-Options: DENY\r\n"

struct http_request;
struct route;
struct server;
struct registry;
struct web;

struct web	*web_create(struct server *);
/* Once the registries are open: their lists are made in the background
 * and kept up to date from then on. */
void		 web_start(struct web *);
void		 web_free(struct web *);
/* Requests waiting on the pages' workers (for the drain; the lists'
 * upkeep is not waited for: web_free stops it). */
size_t		 web_pending(const struct web *);
/* GET /R/me (no token needed), a page like the others. */
void		 web_me(struct web *, struct registry *,
		     struct http_request *);
/* Answers a ROUTE_WEB_* request. */
void		 web_handle(struct web *, struct http_request *,
		     const struct route *);
/* The head hook's word on a POST to /-/signin or /-/signout: true to let
 * its (small) body come; false once r is answered. */
bool		 web_head(struct web *, struct http_request *);

#endif
