/* Hot index responses kept in memory: the bytes of an index file, its
 * gzip form, their ETags and ready-made header lines, so a warm hit costs
 * a lookup and one writev. Bounded in bytes; least recently used entries
 * go first. Entries are reference counted so a response in flight keeps
 * its bytes after an eviction or invalidation. Lives on the event loop. */
#ifndef SERVER_FILES_HOT_H
#define SERVER_FILES_HOT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cache/lru.h"
#include "index/validators.h"

struct hot;

struct hot_variant {
	const char	*body;
	size_t		 len;
	char		 etag[ETAG_LEN];
	char		*hdrs;		/* ETag, Last-Modified, Vary, ... */
};

struct hot_entry {
	struct hot_variant	 plain;
	struct hot_variant	 gzip;		/* body NULL until needed */
	time_t			 mtime;
	char			*extra;		/* caller's header lines */
	/* Mirrors: what the upstream last said of this file. */
	time_t			 fetched;	/* 0: never confirmed */
	bool			 negative;	/* upstream said 404 */
	char			*up_etag;	/* its validators, or NULL */
	char			*up_lastmod;
	/* The caller's data about the entry (a policy view's: what it was
	 * made of, until when), freed with it by aux_free. */
	void			*aux;
	void			(*aux_free)(void *);
	/* private */
	char			*_key;
	unsigned		 _refs;
	struct lru_node		 _node;
	bool			 _cached;
};

struct hot	*hot_create(size_t max_bytes);
void		 hot_destroy(struct hot *);

/* Borrowed entry for key, marked as recently used; NULL on a miss. */
struct hot_entry *hot_get(struct hot *, const char *key);
/* Makes an entry of body (stolen) and caches it when it fits; extra
 * (copied, may be NULL) is appended to its header lines. The entry is
 * returned with a reference the caller must drop with hot_unref. */
struct hot_entry *hot_make(struct hot *, const char *key, char *body,
		     size_t len, time_t mtime, const char *extra);
/* hot_make in two steps, so the work can be done off the loop:
 * hot_entry_new computes the ETag and header lines of an entry nobody
 * else sees yet (any thread; hot_entry_compress too, for its gzip form),
 * hot_insert caches it (the loop) and returns it. */
struct hot_entry *hot_entry_new(const char *key, char *body, size_t len,
		     time_t mtime, const char *extra);
/* hot_entry_new with the body's ETag known (store_read_tagged), not
 * computed again. */
struct hot_entry *hot_entry_new_tagged(const char *key, char *body,
		     size_t len, time_t mtime, const char *extra,
		     const char *etag);
void		 hot_entry_compress(struct hot_entry *e);
/* Gives e (not yet cached) the gzip form gz (stolen, made by gzfile_make
 * from e's bytes) instead of compressing them; freed if e has one. */
void		 hot_entry_set_gzip(struct hot_entry *e, char *gz, size_t len);
/* The key e was made under. */
const char	*hot_entry_key(const struct hot_entry *e);
/* Whether e has a gzip form of its own (not only its plain bytes). */
bool		 hot_entry_has_gzip(const struct hot_entry *e);
struct hot_entry *hot_insert(struct hot *, struct hot_entry *e);
/* The gzip variant of e, compressed on first use; &e->plain when gzip does
 * not make it smaller. */
const struct hot_variant *hot_gzip(struct hot *, struct hot_entry *e);
void		 hot_invalidate(struct hot *, const char *key);
/* Whether an entry of len bytes for key is worth caching: when it fits
 * without evicting any, or when key was asked for twice as often lately
 * as the least recently used entry it would push out (every hot_get counts),
 * so a working set larger than the cache does not churn it. */
bool		 hot_admit(const struct hot *, const char *key, size_t len);
/* The header lines of an index file answer (new string): Content-Encoding
 * when gzip, Last-Modified, ETag, Vary, then extra. */
char		*hot_header_lines(const char *etag, time_t mtime, bool gzip,
		     const char *extra);
/* Lines from hot_header_lines (extra may follow) as a 304 sends them: a
 * suffix of hdrs without Content-Encoding and Last-Modified, the
 * representation metadata RFC 9110 15.4.5 says a 304 should not repeat
 * when it has an ETag (nginx's 304 is 180 bytes, crated's was 244). */
const char	*hot_304_lines(const char *hdrs);
void		 hot_ref(struct hot_entry *);
void		 hot_unref(struct hot_entry *);
size_t		 hot_bytes(const struct hot *);

#endif
