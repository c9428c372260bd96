#include "server/files/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/gzfile.h"
#include "cache/lru.h"
#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "index/validators.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/hot.h"
#include "server/files/openfiles.h"
#include "server/files/policed.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/policy/regpolicy.h"
#include "server/storage/replica.h"

#define INDEX_FILE_MAX		(64u << 20)

static const char index_cache_control[] =
    "Cache-Control: public, max-age=0, must-revalidate\r\n";

static void	keep_gzip(struct registry *, const char *,
		    const struct hot_entry *);

static void
hot_done(const void *data, size_t len, void *arg)
{
	hot_unref(arg);
}

/* Answers r from e (a reference stolen); the gzip form made for the
 * answer is kept in gz/PATH of reg when keep. ims: If-Modified-Since
 * counts (not for a policy's answers: policed.h). */
static void
answer_entry(struct server *srv, struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra,
    bool keep, bool ims)
{
	const struct hot_variant	*v = &e->plain;
	char				*hdrs = NULL;

	if (http_accepts_gzip(r)) {
		bool	made = e->gzip.body == NULL;

		v = hot_gzip(srv->hot, e);
		if (made && keep)
			keep_gzip(reg, path, e);
	}
	if (extra != NULL)
		hdrs = xasprintf("%s%s", v->hdrs, extra);
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    ims ? http_header(r, "If-Modified-Since") : NULL, v->etag,
	    e->mtime)) {
		http_reply(r, 304, NULL, hot_304_lines(hdrs ? hdrs : v->hdrs),
		    NULL, 0);
		hot_unref(e);
	} else
		http_reply_ref(r, 200, "text/plain; charset=utf-8",
		    hdrs ? hdrs : v->hdrs, v->body, v->len, hot_done, e);
	free(hdrs);
}

static void
answer_policed(struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra,
    bool keep)
{
	answer_entry(reg->srv, reg, path, r, e, extra, keep, false);
}

/* files_reply_entry's work: through reg's policy when it has one. */
static void
reply_entry(struct registry *reg, const char *path, struct http_request *r,
    struct hot_entry *e, const char *extra, bool keep)
{
	struct regpolicy_view	*v = regpolicy_view(reg);

	if (v != NULL)
		policed_reply(reg, v, path, r, e, extra, keep, answer_policed);
	else
		answer_entry(reg->srv, reg, path, r, e, extra, keep, true);
}

void
files_reply_entry(struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra)
{
	reply_entry(reg, path, r, e, extra, false);
}

void
files_reply_file_entry(struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra)
{
	reply_entry(reg, path, r, e, extra, true);
}

/* ims: If-Modified-Since counts (not under a policy: policed.h). */
static void
reply_open_file(struct http_request *r, const struct open_file *f, bool ims)
{
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    ims ? http_header(r, "If-Modified-Since") : NULL, f->etag,
	    f->mtime))
		http_reply(r, 304, NULL, hot_304_lines(f->hdrs), NULL, 0);
	else
		http_reply_segment(r, 200, "text/plain; charset=utf-8",
		    f->hdrs, f->seg, f->fd, f->size);
}

/* Answers r with the file fd (st its stat, with the mtime its validators
 * use; hdrs its header lines, stolen) and keeps it open under key, with
 * what the file would cost hot_admit in memory; fd is closed when nothing
 * keeps it. */
static void
reply_and_keep(struct open_files *open, struct http_request *r,
    const char *key, int fd, const struct stat *st, const char *etag,
    char *hdrs, size_t cost, bool ims)
{
	struct open_file	*f;

	if (st->st_size > 0 && (f = open_files_add(open, key, fd, st, etag,
	    hdrs)) != NULL) {
		f->cost = cost;
		reply_open_file(r, f, ims);
		return;
	}
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    ims ? http_header(r, "If-Modified-Since") : NULL, etag,
	    st->st_mtime)) {
		close(fd);
		http_reply(r, 304, NULL, hot_304_lines(hdrs), NULL, 0);
	} else
		http_reply_file(r, 200, "text/plain; charset=utf-8", hdrs, fd,
		    (size_t)st->st_size);
	free(hdrs);
}

/* The index file of key kept open under okey (key, or its gzip form's):
 * answered from it (1), unless the memory cache now admits the file (0:
 * the caller reads it in; it stays open for when memory lets it go again,
 * as a working set larger than memory takes turns in it, and reopening
 * cost an open, a stat and an xattr read each time). -1 when not kept.
 * want: under a policy, the ETag the kept file must have (else 0), and
 * If-Modified-Since does not count; NULL: none. */
static int
from_kept(struct registry *reg, struct http_request *r, const char *key,
    const char *okey, const char *want)
{
	struct open_file	*f;

	if ((f = open_files_get(reg->srv->open, okey)) == NULL)
		return -1;
	if (hot_admit(reg->srv->hot, key, f->cost) || (want != NULL &&
	    strcmp(f->etag, want) != 0))
		return 0;
	reply_open_file(r, f, want == NULL);
	return 1;
}

/* Opens the index file rel (of key) to answer from disk: its fd (the
 * caller's), its stat in st and its ETag in etag, remembered in an xattr
 * (store_file_etag). With admit, -EAGAIN when the memory cache admits it
 * instead (nothing is left open); -errno. */
static int
open_plain(struct registry *reg, const char *key, const char *rel,
    bool admit, struct stat *st, char *etag)
{
	char	*buf;
	size_t	 len;
	int	 fd, res;

	if ((fd = store_open_file(reg->store, rel, st)) < 0)
		return fd;
	if (admit && hot_admit(reg->srv->hot, key, (size_t)st->st_size)) {
		close(fd);
		return -EAGAIN;
	}
	if ((res = store_file_etag(fd, st, INDEX_FILE_MAX, etag, &buf,
	    &len)) != 0) {
		close(fd);
		return res;
	}
	free(buf);
	return fd;
}

/*
 * A plain (not gzip) request for an index file outside the memory cache
 * that the cache does not admit (hot_admit): answered from the file with
 * sendfile, its ETag from store_file_etag, so neither are the bytes read
 * nor other entries evicted (a working set larger than
 * memory_cache_bytes stays on disk, as with nginx). The file is kept open
 * with its ETag and header lines (open_files), so the next request for
 * it costs no system call but the reply's, until it is asked for often
 * enough to be admitted. 1 when answered; 0 when the caller should read
 * the file into the cache; -errno. want: under a policy, the ETag the
 * file must have to be served as it is (NULL: any).
 */
static int
index_from_disk(struct registry *reg, struct http_request *r,
    const char *key, const char *rel, const char *want)
{
	struct open_files	*open = reg->srv->open;
	struct stat		 st;
	char			 etag[ETAG_LEN], *hdrs;
	int			 fd, res;

	if ((res = from_kept(reg, r, key, key, want)) >= 0)
		return res;
	if ((fd = open_plain(reg, key, rel, true, &st, etag)) < 0)
		return fd == -EAGAIN ? 0 : fd;
	if (want != NULL && strcmp(etag, want) != 0) {
		close(fd);
		return 0;
	}
	hdrs = hot_header_lines(etag, st.st_mtime, false, index_cache_control);
	reply_and_keep(open, r, key, fd, &st, etag, hdrs, (size_t)st.st_size,
	    want == NULL);
	return 1;
}

/* out = a b c, cut to size as snprintf would. Keys and store paths are
 * made on the path of every warm hit, where snprintf took 850 of a 304's
 * 11,000 instructions (callgrind). */
static void
join3(char *out, size_t size, const char *a, const char *b, const char *c)
{
	const char	*part[3] = { a, b, c };
	size_t		 n = 0;

	if (size == 0)
		return;
	for (int i = 0; i < 3; i++) {
		size_t	len = strlen(part[i]);

		if (len > size - 1 - n)
			len = size - 1 - n;
		memcpy(out + n, part[i], len);
		n += len;
	}
	out[n] = '\0';
}

void
files_key(char *out, size_t size, const char *registry,
    const char *path)
{
	join3(out, size, registry, "/", path);
}

/* The key of an index file's gzip form in the open-file cache. */
static void
gzip_key(char *out, size_t size, const char *key)
{
	join3(out, size, key, "#gz", "");
}

/* gz/ writes waiting or under way, at most: past that, a file's gzip form
 * is made again at its next miss and kept then. */
#define KEEPING_MAX	1024

/* A gz/ write: a copy of the gzip bytes (a tenth of the entry's), so a
 * backlog of writes holds little memory. One per key at a time. */
struct gz_keep {
	struct server	*srv;
	struct store	*store;
	char		 rel[STORE_PATH_MAX];
	char		*key;
	struct lru_node	 node;
	char		*body;
	size_t		 len;
	int		 res;
};

static void
gz_keep_work(void *arg)
{
	struct gz_keep	*k = arg;

	k->res = store_write(k->store, k->rel, k->body, k->len, NULL, NULL);
}

static void
gz_keep_done(void *arg)
{
	struct gz_keep	*k = arg;

	if (k->res != 0)
		log_warn("keeping %s: %s", k->key, strerror(-k->res));
	lru_remove(&k->srv->keeping, &k->node);
	free(k->key);
	free(k->body);
	free(k);
}

/* Writes e's gzip form (if it has one of its own) to gz/PATH of reg's
 * store, in the background. */
static void
keep_gzip(struct registry *reg, const char *path, const struct hot_entry *e)
{
	struct server	*srv = reg->srv;
	struct gz_keep	*k;
	const char	*key = hot_entry_key(e);
	uint64_t	 hv = lru_hash(key);

	if (!hot_entry_has_gzip(e) || srv->keeping.n >= KEEPING_MAX ||
	    lru_find(&srv->keeping, key, hv) != NULL)
		return;
	k = xcalloc(1, sizeof *k);
	k->srv = srv;
	k->store = reg->store;
	join3(k->rel, sizeof k->rel, "gz/", path, "");
	k->key = xstrdup(key);
	lru_add(&srv->keeping, &k->node, k->key, hv);
	k->body = xmalloc(e->gzip.len);
	memcpy(k->body, e->gzip.body, e->gzip.len);
	k->len = e->gzip.len;
	workers_submit(srv->background, gz_keep_work, gz_keep_done, k);
}

bool
files_load_gzip(struct registry *reg, const char *path,
    struct hot_entry *e)
{
	char	rel[STORE_PATH_MAX], *buf;
	size_t	len;

	if (e->gzip.body != NULL || e->plain.len == 0)
		return e->gzip.body != NULL;
	join3(rel, sizeof rel, "gz/", path, "");
	if (store_read(reg->store, rel, &buf, &len, NULL, INDEX_FILE_MAX) !=
	    0)
		return false;
	if (!gzfile_made_from(buf, len, e->plain.etag)) {
		free(buf);
		return false;
	}
	hot_entry_set_gzip(e, buf, len);
	return true;
}

/*
 * A gzip request (cargo's, always) for a hosted index file (rel, at path)
 * outside the memory cache: answered with sendfile from gz/PATH when it
 * was made from the file as it is now, and kept open (open_files, under
 * KEY#gz) like index_from_disk's files, until hot_admit moves it to
 * memory. 1 when
 * answered; 0 when the caller should read the file into the cache (with
 * its kept gzip form, files_load_gzip, or compressed and kept then);
 * -errno. want: as index_from_disk's.
 */
static int
gzip_from_disk(struct registry *reg, struct http_request *r,
    const char *key, const char *path, const char *rel, const char *want)
{
	struct open_files	*open = reg->srv->open;
	struct stat		 st, gst;
	char			 gzkey[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 8];
	char			 gzrel[STORE_PATH_MAX], etag[ETAG_LEN];
	char			 gzetag[ETAG_LEN], gzwant[ETAG_LEN], *hdrs;
	int			 fd, gzfd, res;

	gzip_key(gzkey, sizeof gzkey, key);
	if (want != NULL)
		gzfile_etag(want, gzwant);
	if ((res = from_kept(reg, r, key, gzkey, want ? gzwant : NULL)) >= 0)
		return res;
	if ((fd = open_plain(reg, key, rel, true, &st, etag)) < 0)
		return fd == -EAGAIN ? 0 : fd;
	close(fd);
	if (want != NULL && strcmp(etag, want) != 0)
		return 0;
	join3(gzrel, sizeof gzrel, "gz/", path, "");
	if ((gzfd = store_open_file(reg->store, gzrel, &gst)) < 0)
		return 0;		/* none yet: made on the way in */
	if (!gzfile_fd_made_from(gzfd, etag)) {
		close(gzfd);
		return 0;		/* of an older file: made again */
	}
	/* Validators and Last-Modified are the index file's. */
	gst.st_mtime = st.st_mtime;
	gzfile_etag(etag, gzetag);
	hdrs = hot_header_lines(gzetag, st.st_mtime, true,
	    index_cache_control);
	/* In memory it would be the plain bytes (and these). */
	reply_and_keep(open, r, gzkey, gzfd, &gst, gzetag, hdrs,
	    (size_t)st.st_size, want == NULL);
	return 1;
}

/*
 * The file of the hot entry e, kept open beside it (or opened now), for a
 * large plain answer with a body: sendfile from the page cache beats
 * copying the bytes from memory into the socket (a 50 KB file, wrk -t1
 * -c50, 6 rounds side by side: 0.92x nginx's req/s from memory, 0.99x with
 * sendfile, at 0.9x nginx's CPU per answer; wrk's own CPU is what limits).
 * Only when the file's ETag is the entry's: a publish renames the new file
 * in before its done callback drops the entry. NULL: answer from memory
 * (HEAD, 304, gzip, TLS, HTTP/2, small files, no open-file cache).
 */
static struct open_file *
entry_file(struct registry *reg, struct http_request *r, const char *key,
    const char *path, const struct hot_entry *e)
{
	struct open_files	*open = reg->srv->open;
	struct open_file	*f;
	struct stat		 st;
	char			 rel[STORE_PATH_MAX], etag[ETAG_LEN], *hdrs;
	int			 fd;

	if (http_method(r) != HTTP_GET || http_accepts_gzip(r) ||
	    !http_sendfile_better(r, e->plain.len) ||
	    open_files_max(open) == 0 ||
	    validators_not_modified(http_header(r, "If-None-Match"),
	    http_header(r, "If-Modified-Since"), e->plain.etag, e->mtime))
		return NULL;
	if ((f = open_files_get(open, key)) != NULL)
		return strcmp(f->etag, e->plain.etag) == 0 ? f : NULL;
	join3(rel, sizeof rel, "index/", path, "");
	if ((fd = open_plain(reg, key, rel, false, &st, etag)) < 0)
		return NULL;
	if (strcmp(etag, e->plain.etag) != 0) {
		close(fd);
		return NULL;
	}
	hdrs = hot_header_lines(etag, st.st_mtime, false, index_cache_control);
	if ((f = open_files_add(open, key, fd, &st, etag, hdrs)) == NULL) {
		free(hdrs);
		close(fd);
	}
	return f;
}

/* The answer when reading an index file failed. */
static void
reply_read_error(struct registry *reg, struct http_request *r,
    const char *rel, int res)
{
	if (res == -ENOENT) {
		http_reply_error(r, 404, "crate not found in registry `%s`",
		    reg->name);
		return;
	}
	log_error("registry %s: reading %s: %s", reg->name, rel,
	    strerror(-res));
	http_reply_error(r, 500, "cannot read the index file: %s",
	    strerror(-res));
}

/* serve_index for a registry with a policy: the file from the memory
 * cache or read into it, then filtered (policed.h). */
static void
serve_policed(struct registry *reg, struct http_request *r, const char *key,
    const char *path)
{
	struct hot_entry	*e;
	struct stat		 st;
	char			 rel[STORE_PATH_MAX], etag[ETAG_LEN], *buf;
	size_t			 len;
	int			 res;

	if ((e = hot_get(reg->srv->hot, key)) != NULL) {
		hot_ref(e);
		files_reply_file_entry(reg, path, r, e, NULL);
		return;
	}
	join3(rel, sizeof rel, "index/", path, "");
	/* The policy leaves these very bytes as they are (policed_same):
	 * from disk as without a policy, a working set larger than memory
	 * included. */
	if (policed_same(reg, key, etag)) {
		res = http_accepts_gzip(r) ? gzip_from_disk(reg, r, key, path,
		    rel, etag) : index_from_disk(reg, r, key, rel, etag);
		if (res == 1)
			return;
		if (res < 0) {
			reply_read_error(reg, r, rel, res);
			return;
		}
	}
	if ((res = store_read_tagged(reg->store, rel, &buf, &len, &st,
	    INDEX_FILE_MAX, etag)) != 0) {
		reply_read_error(reg, r, rel, res);
		return;
	}
	e = hot_entry_new_tagged(key, buf, len, st.st_mtime,
	    index_cache_control, etag);
	files_load_gzip(reg, path, e);
	files_reply_file_entry(reg, path, r, hot_insert(reg->srv->hot, e),
	    NULL);
}

/* Serves an index file of reg from the hot cache or its store, as it is
 * on disk. */
static void
serve_index(struct registry *reg, struct http_request *r, const char *path)
{
	struct server	*srv = reg->srv;
	struct hot_entry *e;
	struct open_file *f;
	struct stat	 st;
	char		 key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	char		 rel[STORE_PATH_MAX], etag[ETAG_LEN];
	char		*buf;
	size_t		 len;
	int		 res = 0;

	files_key(key, sizeof key, reg->name, path);
	if (reg->policy != NULL) {
		/* The bytes are filtered: no answer straight from disk. */
		serve_policed(reg, r, key, path);
		return;
	}
	if ((e = hot_get(srv->hot, key)) != NULL) {
		if ((f = entry_file(reg, r, key, path, e)) != NULL) {
			reply_open_file(r, f, true);
			return;
		}
		hot_ref(e);
		files_reply_file_entry(reg, path, r, e, NULL);
		return;
	}
	join3(rel, sizeof rel, "index/", path, "");
	if (!http_accepts_gzip(r))
		res = index_from_disk(reg, r, key, rel, NULL);
	else
		res = gzip_from_disk(reg, r, key, path, rel, NULL);
	if (res == 0)
		res = store_read_tagged(reg->store, rel, &buf, &len, &st,
		    INDEX_FILE_MAX, etag);
	if (res < 0) {
		reply_read_error(reg, r, rel, res);
		return;
	}
	if (res == 1)
		return;
	e = hot_entry_new_tagged(key, buf, len, st.st_mtime,
	    index_cache_control, etag);
	files_load_gzip(reg, path, e);	/* for this answer or the next */
	files_reply_file_entry(reg, path, r, hot_insert(srv->hot, e), NULL);
}

static void
replica_changed(const char *path, void *arg)
{
	files_index_changed(arg, path);
}

/* reg's replica (made at the first need): its index files and .crate
 * files are the object store's, the disk their cache. NULL: the disk is
 * the store. */
static struct replica *
replica_of(struct registry *reg)
{
	const struct config	*cfg = reg->srv->cfg;
	struct replica_params	 p;

	if (reg->objstore == NULL || reg->kind != REGISTRY_HOSTED)
		return NULL;
	if (reg->replica == NULL) {
		memset(&p, 0, sizeof p);
		p.registry = reg->name;
		p.base = reg->srv->base;
		p.objstore = reg->objstore;
		p.objprefix = reg->objprefix;
		p.store = reg->store;
		p.disk = reg->srv->workers;
		p.cpu = reg->srv->cpu;
		p.crate_max = (size_t)cfg->max_body_bytes;
		p.changed = replica_changed;
		p.changed_arg = reg;
		reg->replica = replica_create(&p);
	}
	/* A reload may have changed it. */
	replica_set_max_stale(reg->replica, (double)cfg->storage_max_stale);
	return reg->replica;
}

struct replica *
files_replica(struct registry *reg)
{
	return replica_of(reg);
}

/* A request waiting for the store. */
struct store_wait {
	struct registry		*reg;
	struct http_request	*r;
	const char		*hdrs;
	char			 path[INDEX_PATH_MAX];
	char			 rel[STORE_PATH_MAX];
};

/* The answer for what the store said, unless the file is to be served. */
static bool
replied_outcome(struct store_wait *w, enum replica_outcome o,
    const char *why)
{
	switch (o) {
	case REPLICA_SERVE:
	case REPLICA_STALE:
		return false;
	case REPLICA_GONE:
		if (why != NULL)
			http_reply_error(w->r, 404, "%s", why);
		else
			http_reply_error(w->r, 404, "crate not found in"
			    " registry `%s`", w->reg->name);
		break;
	case REPLICA_UNAVAILABLE:
		http_reply_error_hdrs(w->r, 503, "Retry-After: 5\r\n", "%s",
		    why != NULL ? why : "the registry's storage cannot be"
		    " reached");
		break;
	case REPLICA_BAD:
		http_reply_error(w->r, 502, "%s", why);
		break;
	case REPLICA_FAILED:
		http_reply_error(w->r, 500, "%s", why != NULL ? why :
		    "cannot read the registry's storage");
		break;
	}
	return true;
}

static void
index_checked(enum replica_outcome o, const char *why, void *arg)
{
	struct store_wait	*w = arg;

	if (!replied_outcome(w, o, why))
		serve_index(w->reg, w->r, w->path);
	free(w);
}

void
files_index_file(struct registry *reg, struct http_request *r,
    const char *path)
{
	struct replica		*rp = replica_of(reg);
	struct store_wait	*w;

	if (rp == NULL || replica_index_fresh(rp, path)) {
		serve_index(reg, r, path);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->reg = reg;
	w->r = r;
	snprintf(w->path, sizeof w->path, "%s", path);
	replica_index(rp, path, index_checked, w);
}

static void
crate_fetched(enum replica_outcome o, const char *why, void *arg)
{
	struct store_wait	*w = arg;

	if (!replied_outcome(w, o, why) &&
	    files_crate(w->reg, w->r, w->rel, w->hdrs) != 0)
		http_reply_error(w->r, 404, "%s is not in registry `%s`",
		    w->rel, w->reg->name);
	free(w);
}

bool
files_crate_from_store(struct registry *reg, struct http_request *r,
    const char *name, const char *vers, const char *hdrs)
{
	struct replica		*rp = replica_of(reg);
	struct store_wait	*w;

	if (rp == NULL)
		return false;
	w = xcalloc(1, sizeof *w);
	w->reg = reg;
	w->r = r;
	w->hdrs = hdrs;
	store_crate_rel(name, vers, w->rel);
	replica_crate(rp, name, vers, crate_fetched, w);
	return true;
}

void
files_index_stored(struct registry *reg, const char *path,
    const char *etag)
{
	struct replica	*rp = replica_of(reg);

	if (rp != NULL)
		replica_index_stored(rp, path, etag);
	files_index_changed(reg, path);
}

void
files_index_changed(struct registry *reg, const char *path)
{
	char	key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	char	gzkey[sizeof key + 3];

	files_key(key, sizeof key, reg->name, path);
	hot_invalidate(reg->srv->hot, key);
	open_files_forget(reg->srv->open, key);
	gzip_key(gzkey, sizeof gzkey, key);
	open_files_forget(reg->srv->open, gzkey);
}

/* A .crate from the store, kept open (open_files: a .crate never changes
 * once written; a mirror's eviction forgets it, files_removed). */
int
files_crate(struct registry *reg, struct http_request *r, const char *rel,
    const char *hdrs)
{
	struct open_files	*open = reg->srv->open;
	struct open_file	*f;
	struct stat		 st;
	char			 key[REGISTRY_NAME_MAX + STORE_PATH_MAX + 2];
	int			 fd = -1;

	files_key(key, sizeof key, reg->name, rel);
	if ((f = open_files_get(open, key)) == NULL) {
		if ((fd = store_open_file(reg->store, rel, &st)) < 0)
			return fd;
		if (st.st_size > 0 && (f = open_files_add(open, key, fd, &st,
		    NULL, NULL)) != NULL)
			fd = -1;
	}
	if (f != NULL)
		http_reply_segment(r, 200, "application/gzip", hdrs, f->seg,
		    f->fd, f->size);
	else
		http_reply_file(r, 200, "application/gzip", hdrs, fd,
		    (size_t)st.st_size);
	return 0;
}

void
files_removed(struct registry *reg, const char *rel)
{
	char	key[REGISTRY_NAME_MAX + STORE_PATH_MAX + 2];

	files_key(key, sizeof key, reg->name, rel);
	open_files_forget(reg->srv->open, key);
}
