/* File serving: index files and .crate files of a registry's store,
 * answered from the memory cache (hot.c), from files kept open
 * (openfiles.c) with sendfile, or read in; the gzip forms of index files
 * kept in gz/ of the store. The handlers (server.c, mirror.c, hosted.c)
 * use it from below; it calls none of them. Uses the registry's store and
 * its server's hot, open, keeping and background members; touched only
 * from the event loop. */
#ifndef SERVER_FILES_FILES_H
#define SERVER_FILES_FILES_H

#include <stdbool.h>
#include <stddef.h>

struct hot_entry;
struct http_request;
struct registry;
struct server;

/* Serves an index file of reg from the hot cache or its store; with an
 * object store (reg->objstore), once the local copy is checked against
 * it (storage/replica.h). */
void	files_index_file(struct registry *, struct http_request *,
	    const char *path);
/* Answers r, a request for reg's index file at path, from a hot entry
 * (stealing a reference to it) holding what is served for it (a view of
 * the file: nothing is kept on disk): 304 when the client's validators
 * match the variant it would get, else the bytes; through reg's policy
 * when it has one (policed.h). extra: more header lines, or NULL. */
void	files_reply_entry(struct registry *, const char *path,
	    struct http_request *, struct hot_entry *, const char *extra);
/* files_reply_entry for an entry holding the bytes of reg's index file
 * at path, whose gzip form, made for the answer, is kept there (in gz/,
 * in the background); files_reply_entry keeps nothing. Every index file
 * a registry serves goes through one of the two. */
void	files_reply_file_entry(struct registry *, const char *path,
	    struct http_request *, struct hot_entry *, const char *extra);
/* Gives e (made from the index file at path, not yet cached) the gzip
 * form kept in gz/PATH of reg's store, when that was made from these
 * bytes (cache/gzfile.h); true if so. Otherwise e is compressed at its
 * first gzip answer (files_reply_entry), and that is kept. */
bool	files_load_gzip(struct registry *, const char *path,
	    struct hot_entry *);
/* Answers r with the .crate rel (as store_crate_rel makes it) of reg's
 * store, with the header lines hdrs, keeping the file open: 0. -errno
 * when the store has no such file; r is then not answered. */
int	files_crate(struct registry *, struct http_request *, const char *rel,
	    const char *hdrs);
/* For a hosted registry in object storage (reg->objstore), whose .crate
 * rel files_crate did not find on disk: fetches it from the store,
 * checks it against its index line, keeps it and answers r (hdrs must
 * outlive the request; a 404, 502 or 503 when it cannot): true. false
 * when reg has no store (r is not answered). */
bool	files_crate_from_store(struct registry *, struct http_request *,
	    const char *name, const char *vers, const char *hdrs);
/* The memory and open-file caches' key of a file: "REGISTRY/PATH", cut to
 * size as snprintf would. */
void	files_key(char *out, size_t size, const char *registry,
	    const char *path);
/* For a write of this machine that put the index file path of reg into
 * its object store (etag: the store's answer) and the same bytes on
 * disk: files_index_changed, and the replica knows the copy is the
 * store's (no GET needed within storage_max_stale). */
/* reg's replica (storage/replica.h), made at the first need; NULL when
 * reg is no store-backed hosted registry. */
struct replica *files_replica(struct registry *);
void	files_index_stored(struct registry *, const char *path,
	    const char *etag);
/* Drops the hot copy of an index file after a write. */
void	files_index_changed(struct registry *, const char *path);
/* Closes a store file (rel, as "crates/...") crated removes, if kept
 * open, so its disk space is freed. */
void	files_removed(struct registry *, const char *rel);

#endif
