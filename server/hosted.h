/* Hosted registries: crates published to crated itself. The web API
 * (publish, yank, unyank, owners, search) over the registry's store.
 * Writes to one crate are serialised in arrival order; writes to different
 * crates run in parallel on the worker pool, which does the fsyncs. */
#ifndef SERVER_HOSTED_H
#define SERVER_HOSTED_H

struct registry;
struct http_request;
struct route;
struct hosted;

/* Loads what the registry needs in memory (the names of its crates, for
 * the collision rule). 0, or -1 with *cause (new). */
int	hosted_open(struct registry *, char **cause);
void	hosted_close(struct hosted *);
/* Answers an API route (publish, yank, unyank, owners, search). */
void	hosted_api(struct registry *, struct http_request *,
	    const struct route *);

#endif
