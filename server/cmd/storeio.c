/* The data commands' object stores and staging folders
 * (server/cmd/storeio.h). */
#include "server/cmd/storeio.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/storage/objstore.h"
#include "server/upstream/upstream.h"

struct storeio {
	const struct config	*cfg;
	struct event_base	*base;
	struct upstream_client	*uc;
	struct objstore		**stores;
	size_t			 n;
};

struct storeio *
storeio_open(const struct config *cfg)
{
	struct storeio	*io = xcalloc(1, sizeof *io);

	io->cfg = cfg;
	io->base = event_base_new();
	io->uc = upstream_client_create(io->base);
	return io;
}

void
storeio_close(struct storeio *io)
{
	if (io == NULL)
		return;
	for (size_t i = 0; i < io->n; i++)
		objstore_close(io->stores[i]);
	free(io->stores);
	upstream_client_destroy(io->uc);
	event_base_free(io->base);
	free(io);
}

struct event_base *
storeio_base(struct storeio *io)
{
	return io->base;
}

bool
storeio_backed(const struct config *cfg, const struct registry_config *rc)
{
	return rc->upstream == NULL && (rc->storage != NULL ||
	    cfg->storage != NULL);
}

const struct registry_config *
storeio_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nregs; i++)
		if (strcmp(cfg->regs[i].name, name) == 0)
			return &cfg->regs[i];
	return NULL;
}

struct objstore *
storeio_store(struct storeio *io, const struct registry_config *rc,
    char **prefix, char **cause)
{
	const struct config	*cfg = io->cfg;
	const char		*url = rc != NULL && rc->storage ? rc->storage :
				    cfg->storage;
	struct objstore		*os = NULL;
	char			*why = NULL;

	*cause = NULL;
	if (url == NULL)
		return NULL;
	for (size_t i = 0; i < io->n && os == NULL; i++)
		if (strcmp(objstore_config_url(io->stores[i]), url) == 0)
			os = io->stores[i];
	if (os == NULL) {
		if (objstore_open_url(url, cfg->storage_endpoint,
		    cfg->storage_region, cfg->storage_credentials_file, io->uc,
		    &os, &why) != 0) {
			*cause = xasprintf("%s: %s", url, why);
			free(why);
			return NULL;
		}
		io->stores = xreallocarray(io->stores, io->n + 1,
		    sizeof *io->stores);
		io->stores[io->n++] = os;
	}
	*prefix = rc == NULL || rc->storage ? xstrdup("") : xasprintf("%s/",
	    rc->name);
	return os;
}

char *
storeio_staging(const char *data_dir, const char *what, char **cause)
{
	char	*dir = xasprintf("%s/.%s-XXXXXX", data_dir, what);

	if (mkdtemp(dir) == NULL) {
		*cause = xasprintf("a staging folder in %s: %s", data_dir,
		    strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

static int
remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void
storeio_remove(const char *dir)
{
	if (dir != NULL)
		nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
