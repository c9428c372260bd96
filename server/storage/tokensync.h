/* Tokens in object storage (issue 26): with a top-level `storage`, the
 * store's tokens.json is the one list of tokens, and data_dir/tokens.json
 * is this replica's copy of it (what cache/tokens.h loads). The copy is
 * revalidated with a conditional GET every max_stale seconds, so that a
 * token revoked on one machine is refused by every replica within that
 * bound (plus one GET), and at once (at most once a second) when a token
 * nobody knows is presented, so that one created a moment ago elsewhere
 * works at the client's next try. A new copy is written to a temporary
 * file, fsynced and renamed in on a worker; the store's 404 removes it
 * (no tokens). While the store cannot be reached the copy stays in use
 * (logged once a minute). Touched only from the event loop. */
#ifndef SERVER_STORAGE_TOKENSYNC_H
#define SERVER_STORAGE_TOKENSYNC_H

#include <stdbool.h>

struct event_base;
struct objstore;
struct workers;

/* The key of the token list, at the top-level prefix. */
#define TOKENSYNC_KEY	"tokens.json"

struct tokensync_params {
	struct event_base	*base;
	struct objstore		*objstore;
	const char		*data_dir;
	struct workers		*disk;
	double			 max_stale;	/* seconds */
	/* The copy changed: load it (cache/tokens.h's refresh). */
	void			(*changed)(void *);
	void			*arg;
};

struct tokensync;

/* Starts at once with a first GET. */
struct tokensync	*tokensync_start(const struct tokensync_params *);
/* True once the first GET has been answered (or failed) and what it
 * brought is on disk: the server waits for it before listening. */
bool			 tokensync_settled(const struct tokensync *);
/* An unknown token was presented: ask the store now, unless it was
 * asked less than a second ago. */
void			 tokensync_unknown(struct tokensync *);
void			 tokensync_set_max_stale(struct tokensync *, double);
/* No more GETs from now on (the server is stopping). NULL is fine. */
void			 tokensync_stop(struct tokensync *);
/* After tokensync_stop, once nothing is under way. NULL is fine. */
void			 tokensync_free(struct tokensync *);

#endif
