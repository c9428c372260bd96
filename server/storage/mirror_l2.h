/*
 * A mirror's second-level cache in the object store (issue 26): what one
 * replica fetched from the upstream, every replica sharing the store finds
 * there before it asks the upstream, so a fleet fetches each file from the
 * upstream about once. Keys are the registry's objprefix ("M/") plus its
 * local relative paths: index/<path> is the index file byte for byte,
 * meta/<path> its sidecar, crates/... the .crate. A replica whose local
 * copy went stale reads the sidecar alone first: another replica may have
 * confirmed that copy, or stored a newer one, within index_ttl.
 *
 * The sidecar is the JSON of the local meta/<path> file: fetched (Unix
 * seconds of the last upstream confirmation), the upstream's etag and
 * last_modified, and plain_etag, the ETag of the index file it describes.
 * A sidecar rather than object metadata or a header inside the object:
 * objstore.h carries no metadata (S3's x-amz-meta-* and Azure's
 * x-ms-meta-* differ and are both signed); after an upstream 304 only
 * ~150 bytes are rewritten, not the whole index file; and index/<path>
 * stays a plain copy of the file, as the key layout promises. The two
 * objects are not written atomically: plain_etag ties them, and a sidecar
 * naming another body is ignored (that body is revalidated upstream), as a
 * local meta/ file is after a crash.
 *
 * What the store returns is untrusted: a .crate is given to the caller
 * only once its SHA-256 is the index line's (hashed here, on the CPU
 * workers); an index file is checked by the caller as an upstream's is.
 *
 * Writes go in the background after the client has its answer, at most
 * L2_PUTS_MAX at once (more are skipped and counted): a failed write is
 * logged and counted, never a failed request. When the store does not
 * answer (or refuses the credentials, or keeps a read waiting past
 * L2_INDEX_WAIT_MS or L2_CRATE_WAIT_MS), reads skip it for L2_DOWN_SECS,
 * so a mirror whose store is down works as without one (upstream and
 * local disk), logged once per period; writes still go (nobody waits for
 * them) and the first that succeeds ends the skipping.
 *
 * Not done: coalescing across replicas. Two replicas that miss the same
 * file at the same moment both go upstream (each coalesces its own
 * requests), and both write it to the store (the second index write
 * overwrites the first with the same bytes; the second .crate write is
 * refused as create-only and counted as present).
 */
#ifndef SERVER_STORAGE_MIRROR_L2_H
#define SERVER_STORAGE_MIRROR_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct json_t json_t;
struct mirror_l2;
struct registry;

#define L2_PUTS_MAX	64	/* background writes at once */
#define L2_GETS_MAX	64	/* reads at once; more go upstream (a read
				   holds its object in memory) */
#define L2_DOWN_SECS	10	/* the store is skipped after a failure */
/* How long cargo's request waits for the store before going upstream
 * (the store's own limits, for a store that hangs, are 20 s): the
 * answer, when it comes, is dropped, and the store skipped. */
#define L2_INDEX_WAIT_MS 2000
#define L2_CRATE_WAIT_MS 5000
#define L2_INDEX_MAX	(64u << 20)
#define L2_CRATE_MAX	(64u << 20) /* bigger crates skip the store
				       (they are held in memory) */

enum l2_status {
	L2_FOUND,
	L2_MISSING,		/* not in the store */
	L2_BAD,			/* in the store, but not what the index says */
	L2_DOWN,		/* the store did not answer */
};

/* An index file found in the store. The callback may take body, up_etag
 * and up_lastmod (setting them NULL); what is left is freed after it. */
struct l2_index {
	char		*body;		/* NUL-terminated */
	size_t		 len;
	time_t		 fetched;	/* 0: no usable sidecar */
	char		*plain_etag;	/* the sidecar's, or NULL */
	char		*up_etag;
	char		*up_lastmod;
};

typedef void	(*l2_index_cb)(enum l2_status, struct l2_index *, void *arg);
/* crate (new, len bytes) is the caller's; NULL unless L2_FOUND. */
typedef void	(*l2_crate_cb)(enum l2_status, char *crate, size_t len,
		    void *arg);

/* The L2 of a mirror registry whose reg->objstore is set, or NULL. */
struct mirror_l2 *mirror_l2_open(struct registry *);
void		 mirror_l2_close(struct mirror_l2 *);

/* Looks for the index file at path (as cargo names it, "se/rd/serde").
 * False when the store is not asked (skipped while down): cb is not
 * called. Else cb runs later, on the loop. */
bool		 mirror_l2_index_get(struct mirror_l2 *, const char *path,
		     l2_index_cb, void *arg);
/* Reads only the sidecar of path (for a local copy gone stale: another
 * replica may have confirmed it, or stored a newer one, since): cb gets
 * L2_FOUND with body NULL and the sidecar's fields, or L2_MISSING when
 * there is no usable sidecar. As mirror_l2_index_get otherwise. */
bool		 mirror_l2_meta_get(struct mirror_l2 *, const char *path,
		     l2_index_cb, void *arg);
/* Looks for the .crate at rel (store_crate_rel) whose SHA-256 should be
 * cksum (64 hex digits); as mirror_l2_index_get. */
bool		 mirror_l2_crate_get(struct mirror_l2 *, const char *rel,
		     const char *cksum, l2_crate_cb, void *arg);

/* Stores an index file fetched from the upstream and its sidecar (meta,
 * the local meta/ JSON); body NULL: the sidecar only (after a 304).
 * body stays valid until release(rel_arg) is called. In the background. */
void		 mirror_l2_index_put(struct mirror_l2 *, const char *path,
		     const char *body, size_t len, const char *meta,
		     void (*release)(void *), void *rel_arg);
/* Stores the local .crate at rel, create-only, in the background; cksum
 * (its SHA-256, or NULL) lets the store check the upload. */
void		 mirror_l2_crate_put(struct mirror_l2 *, const char *rel,
		     const char *cksum);

/* For /-/ready: what the L2 did (an object "storage_cache"). */
void		 mirror_l2_state(struct mirror_l2 *, json_t *obj);

#endif
