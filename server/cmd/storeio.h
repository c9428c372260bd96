/* What the data commands (storage, export, import) share for registries
 * kept in an object store: the stores opened once per URL on an event
 * loop of the command's own, and staging data directories, where a
 * store-backed hosted registry's files are pulled for `crated export` or
 * unpacked for `crated import` before they go up (server/storage/
 * migrate.h does the copying and checking). */
#ifndef SERVER_CMD_STOREIO_H
#define SERVER_CMD_STOREIO_H

#include <stdbool.h>

struct config;
struct event_base;
struct objstore;
struct registry_config;
struct storeio;

struct storeio		*storeio_open(const struct config *);
void			 storeio_close(struct storeio *);
struct event_base	*storeio_base(struct storeio *);

/* Whether rc keeps its files in a store: a hosted registry with its own
 * storage or under the top-level one. (A mirror's store is a shared
 * cache: its files are the local ones.) */
bool	storeio_backed(const struct config *, const struct registry_config *);
/* The configured registry name, or NULL. */
const struct registry_config *storeio_find(const struct config *,
	    const char *name);
/* The store of rc, opened once per URL, and its key prefix (*prefix,
 * new: "" under its own storage, "NAME/" under the top-level one); rc
 * NULL: the top-level store (prefix ""). NULL with *cause (new), or NULL
 * and *cause NULL when there is no such storage. */
struct objstore	*storeio_store(struct storeio *,
		    const struct registry_config *, char **prefix,
		    char **cause);

/* A new empty folder inside data_dir (the same filesystem), or NULL with
 * *cause. storeio_remove removes it and what is under it (symbolic links
 * are removed, never followed). */
char	*storeio_staging(const char *data_dir, const char *what,
	    char **cause);
void	 storeio_remove(const char *dir);

#endif
