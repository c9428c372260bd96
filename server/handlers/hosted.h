/* Hosted registries: crates published to crated itself. The web API
 * (publish, yank, unyank, owners, search) over the registry's store.
 * Writes to one crate are serialised in arrival order; writes to different
 * crates run in parallel on the worker pool, which does the fsyncs. */
#ifndef SERVER_HANDLERS_HOSTED_H
#define SERVER_HANDLERS_HOSTED_H

#include <stdbool.h>

struct registry;
struct http_request;
struct route;
struct hosted;

/* Loads what the registry needs in memory (the names of its crates, for
 * the collision rule), and removes the .crate files whose version the
 * index does not list (a publish that crashed half-way). 0, or -1 with
 * *cause (new). */
int	hosted_open(struct registry *, char **cause);
void	hosted_close(struct hosted *);
/* True while a publish of name vers has its .crate on disk but not yet
 * its index line, or when a failed publish could not remove its .crate:
 * the download must not be served (it may never be a version). */
bool	hosted_unindexed(struct hosted *, const char *name,
	    const char *vers);
/* A crate name the store knows (the catalogue: lowercase, or canonical):
 * added to the collision list unless a spelling of it is there. */
void	hosted_add_name(struct hosted *, const char *name);
/* Answers an API route (publish, yank, unyank, owners, search). */
void	hosted_api(struct registry *, struct http_request *,
	    const struct route *);

#endif
