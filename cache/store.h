/* The on-disk store of one registry: a directory under the data directory
 * holding index files, crates, metadata and a tmp/ folder, all on one
 * filesystem so rename() is atomic. Every file is written to tmp/, fsynced,
 * renamed into place, and its directory fsynced. Paths given to these
 * functions are relative to the store root and must come from the
 * path-building functions below or another validated source: they are
 * opened with openat() under the root and never contain "..". Pure: no
 * event loop; may block on disk. */
#ifndef CACHE_STORE_H
#define CACHE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct store;

/* Takes the data directory's lock (data_dir/lock, flock): one process
 * writes a data directory at a time. Returns the fd to keep open, or -1
 * with *cause (new), e.g. when a running crated holds it. */
int	 store_lock(const char *data_dir, char **cause);

/* Opens (creating) <data_dir>/<name>/ with index/, crates/, meta/, tmp/;
 * empties tmp/ (what a crash left behind). 0, or a negative errno with
 * *cause (new). */
int	 store_open(const char *data_dir, const char *name, struct store **out,
	     char **cause);
/* store_open for another layout: the folders dirs (ndirs of them) and
 * tmp/ (a toolchain mirror's: dist/, rustup/, snapshots/). */
int	 store_open_with(const char *data_dir, const char *name,
	     const char *const *dirs, size_t ndirs, struct store **out,
	     char **cause);
void	 store_close(struct store *s);
/* Makes everything written under the store durable, the renames of
 * store_write_cache included (syncfs). 0 or a negative errno. */
int	 store_sync(struct store *s);
const char *store_root(const struct store *s);

/* Reads a whole file (new, NUL-terminated for convenience); -ENOENT when it
 * does not exist. st may be NULL. max caps the size (-EFBIG past it). */
int	 store_read(struct store *s, const char *rel, char **buf, size_t *len,
	     struct stat *st, size_t max);
/* Opens a file for reading; the fd is the caller's. */
int	 store_open_file(struct store *s, const char *rel, struct stat *st);
/* store_read on an open file (st its fstat). */
int	 store_read_fd(int fd, const struct stat *st, char **buf, size_t *len,
	    size_t max);
/* The ETag (index/validators.h) of the open file fd, without reading it
 * when an extended attribute remembers it for this inode, mtime and size.
 * When the file had to be read, *buf (new) and *len hold its bytes, else
 * *buf is NULL. 0 or -errno (-EFBIG past max bytes). */
int	 store_file_etag(int fd, const struct stat *st, size_t max,
	    char *etag, char **buf, size_t *len);
/* store_read with the file's ETag (store_file_etag): hashed only when no
 * extended attribute remembers it for this inode, mtime and size. */
int	 store_read_tagged(struct store *s, const char *rel, char **buf,
	    size_t *len, struct stat *st, size_t max, char *etag);
int	 store_exists(struct store *s, const char *rel);

/* Atomically replaces rel with buf. crash_tmp is reached after the temp
 * file is written and fsynced, crash_rename after the rename (NULL: no
 * step). Missing directories are created. 0 or a negative errno. */
int	 store_write(struct store *s, const char *rel, const void *buf,
	     size_t len, const char *crash_tmp, const char *crash_rename);
/* store_write for a cache of what can be fetched again: the temp file is
 * fsynced before the rename, so rel never holds part of a file, but the
 * rename and the directories it needs are not synced, so after a crash
 * rel may hold its old bytes or be gone. Only for a mirror's fills
 * (index/, gz/, meta/), where the gzip form and the metadata name the
 * index file they were made for, so that a stale pair is seen as such. */
int	 store_write_cache(struct store *s, const char *rel, const void *buf,
	     size_t len, const char *crash_tmp, const char *crash_rename);

/* For files that arrive in pieces: a new temporary file in tmp/ (its
 * name in tmprel, STORE_PATH_MAX bytes); returns its fd or a negative
 * errno. store_tmp_commit fsyncs, closes, renames it to rel and fsyncs
 * the directory (steals fd; the temp file is removed on failure);
 * store_tmp_discard closes and removes it. */
int	 store_tmp_create(struct store *s, char *tmprel);
int	 store_tmp_commit(struct store *s, int fd, const char *tmprel,
	     const char *rel, const char *crash_tmp, const char *crash_rename);
void	 store_tmp_discard(struct store *s, int fd, const char *tmprel);

/* Removes rel (and nothing else); 0, or a negative errno (-ENOENT ok). */
int	 store_unlink(struct store *s, const char *rel);

/* What changed: every file written (store_write, store_write_cache,
 * store_tmp_commit) or removed (store_unlink) through this store is one
 * generation more, and the paths of the last STORE_CHANGES are kept, so
 * that a reader on any thread (the web pages' list of a registry) learns
 * what changed since it last looked without walking the store. Nothing
 * else writes a data directory crated serves (store_lock). */
#define STORE_CHANGES	4096
/* Changes so far (no lock: one atomic load). */
uint64_t store_generation(struct store *s);
/* The paths changed after generation *since, oldest first, a path as
 * often as it changed (*rels: a new array of *n new strings, NULL when
 * none), and *since set to the current generation. false (and no paths)
 * when some of them are no longer kept: more than STORE_CHANGES changes
 * since, or a *since from elsewhere; the reader then looks at
 * everything again. */
bool	 store_changes(struct store *s, uint64_t *since, char ***rels,
	    size_t *n);

/* Negative entries as older crated versions kept them: a metadata file per
 * upstream 404 (meta/<path> with "negative": true), never removed. A
 * mirror now keeps them in memory; these are counted (remove false) or
 * removed. *n: how many; 0 or a negative errno. Takes the store's root
 * path, so `crated status` can count without opening the store. */
int	 store_negatives(const char *root, bool remove, size_t *n);

/* Path builders; out holds STORE_PATH_MAX bytes. name must be a valid crate
 * name and vers a valid version. */
#define STORE_PATH_MAX	256
void	 store_index_rel(const char *name, char *out);	/* index/<path> */
void	 store_meta_rel(const char *name, char *out);	/* meta/<path> */
void	 store_crate_rel(const char *name, const char *vers, char *out);

/* Calls fn for every regular file under the directory rel (e.g. "index"),
 * with its path relative to that directory. Stops and returns fn's value
 * when it is not 0. */
int	 store_walk(struct store *s, const char *rel,
	     int (*fn)(const char *path, const struct stat *st, void *arg),
	     void *arg);

#endif
