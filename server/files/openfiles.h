/* Files served from disk, kept open: a plain request for an index file
 * beyond the memory cache, or a download of a .crate, costs a lookup
 * here and a sendfile, not an open, a stat (an xattr read) and a close
 * (nginx's open_file_cache). Each
 * entry keeps the file as a libevent file segment (reference counted, so
 * a reply in flight keeps the file after the entry goes), its size,
 * mtime, ETag and ready-made header lines. Bounded in entries (each holds
 * a file descriptor); least recently used go first. Entries must be
 * dropped when crated replaces or removes the file (open_files_forget):
 * nothing else writes a data directory crated serves (store_lock). Lives
 * on the loop. */
#ifndef SERVER_FILES_OPENFILES_H
#define SERVER_FILES_OPENFILES_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/lru.h"
#include "index/validators.h"

struct open_files;
struct evbuffer_file_segment;

struct open_file {
	struct evbuffer_file_segment	*seg;
	int				 fd;	/* the segment's */
	size_t				 size;
	size_t				 cost;	/* in memory, read in: size,
						   unless the caller says */
	time_t				 mtime;
	char				 etag[ETAG_LEN];
	char				*hdrs;	/* ETag, Last-Modified, ... */
	/* private */
	char				*_key;
	struct lru_node			 _node;
};

/* max 0: keeps nothing. */
struct open_files *open_files_create(size_t max);
void		 open_files_destroy(struct open_files *);
/* Borrowed entry for key, marked as recently used; NULL on a miss. */
struct open_file *open_files_get(struct open_files *, const char *key);
/* Keeps fd (stolen: closed when the entry and every reply using it are
 * gone) under key with its stat, ETag and header lines (stolen; both may
 * be NULL, for files answered without them: .crate files). Returns
 * the borrowed entry, or NULL when the cache keeps nothing (max 0, or
 * libevent refused the file); fd and hdrs are still the caller's then. */
struct open_file *open_files_add(struct open_files *, const char *key,
		     int fd, const struct stat *st, const char *etag,
		     char *hdrs);
void		 open_files_forget(struct open_files *, const char *key);
size_t		 open_files_count(const struct open_files *);
size_t		 open_files_max(const struct open_files *);

#endif
