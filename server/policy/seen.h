/*
 * First-seen records of a mirror's versions: seen/<index path> in the
 * registry's store, {"versions": {"1.2.3": UNIX_TIME, ...}}, written
 * whole (store_write: temp, fsync, rename), at most REGPOLICY_SEEN_MAX
 * versions (the oldest go first) and none older than REGPOLICY_SEEN_DAYS
 * days (any version that old counts as old anyway). Read by
 * regpolicy_seen_read (regpolicy.h). Apart from regpolicy.h so that the
 * mirror, whose own enum verdict predates policy.h's, can include it.
 */
#ifndef SERVER_POLICY_SEEN_H
#define SERVER_POLICY_SEEN_H

#include <stddef.h>
#include <time.h>

#define REGPOLICY_SEEN_MAX	4096
#define REGPOLICY_SEEN_DAYS	400

struct store;

/* The record of name after a fill: the versions of body (len bytes)
 * without a pubtime cargo would accept that old (oldlen bytes, the copy
 * it replaces) lacked are noted as seen at now. old NULL: the crate's
 * first fill, whose versions count as old (nothing noted). Blocking (a
 * worker). How many were noted, or a negative errno. */
int	regpolicy_seen_note(struct store *st, const char *name,
	    const char *old, size_t oldlen, const char *body, size_t len,
	    time_t now);

#endif
