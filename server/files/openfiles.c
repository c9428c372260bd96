#include "server/files/openfiles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/xmalloc.h"

struct open_files {
	struct lru	lru;
	size_t		max;
};

#define ENTRY(n)	lru_entry(n, struct open_file, _node)

struct open_files *
open_files_create(size_t max)
{
	struct open_files	*o = xcalloc(1, sizeof *o);

	lru_init(&o->lru);
	o->max = max;
	return o;
}

static void
drop(struct open_files *o, struct open_file *f)
{
	lru_remove(&o->lru, &f->_node);
	evbuffer_file_segment_free(f->seg);	/* closes fd once unused */
	free(f->hdrs);
	free(f->_key);
	free(f);
}

void
open_files_destroy(struct open_files *o)
{
	if (o == NULL)
		return;
	while (o->lru.oldest != NULL)
		drop(o, ENTRY(o->lru.oldest));
	lru_fini(&o->lru);
	free(o);
}

struct open_file *
open_files_get(struct open_files *o, const char *key)
{
	struct lru_node	*n;

	if (o->lru.n == 0 || (n = lru_find(&o->lru, key,
	    lru_hash(key))) == NULL)
		return NULL;
	lru_touch(&o->lru, n);
	return ENTRY(n);
}

struct open_file *
open_files_add(struct open_files *o, const char *key, int fd,
    const struct stat *st, const char *etag, char *hdrs)
{
	struct open_file		*f;
	struct evbuffer_file_segment	*seg = NULL;
	struct lru_node			*old;
	uint64_t			 hv = lru_hash(key);

	if (o->max > 0)
		seg = evbuffer_file_segment_new(fd, 0, st->st_size,
		    EVBUF_FS_CLOSE_ON_FREE);
	if (seg == NULL)
		return NULL;
	if ((old = lru_find(&o->lru, key, hv)) != NULL)
		drop(o, ENTRY(old));
	while (o->lru.n >= o->max)
		drop(o, ENTRY(o->lru.oldest));
	f = xcalloc(1, sizeof *f);
	f->seg = seg;
	f->fd = fd;
	f->size = (size_t)st->st_size;
	f->cost = f->size;
	f->mtime = st->st_mtime;
	snprintf(f->etag, sizeof f->etag, "%s", etag ? etag : "");
	f->hdrs = hdrs;
	f->_key = xstrdup(key);
	lru_add(&o->lru, &f->_node, f->_key, hv);
	return f;
}

void
open_files_forget(struct open_files *o, const char *key)
{
	struct lru_node	*n;

	if (o->lru.n > 0 && (n = lru_find(&o->lru, key, lru_hash(key))) !=
	    NULL)
		drop(o, ENTRY(n));
}

size_t
open_files_count(const struct open_files *o)
{
	return o->lru.n;
}

size_t
open_files_max(const struct open_files *o)
{
	return o->max;
}
