#include "server/server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cache/gzfile.h"
#include "cache/store.h"
#include "index/name.h"
#include "index/validators.h"
#include "index/xmalloc.h"
#include "server/hosted.h"
#include "server/hot.h"
#include "server/openfiles.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/mirror.h"
#include "server/probe.h"
#include "server/relay.h"
#include "server/route.h"
#include "server/upstream.h"
#include "server/workers.h"

#define INDEX_FILE_MAX		(64u << 20)
#define DRAIN_SECONDS		10
#define CERT_WARN_DAYS		14	/* warn when the certificate has
					   fewer days left */

static const char index_cache_control[] =
    "Cache-Control: public, max-age=0, must-revalidate\r\n";
static const char crate_cache_control[] =
    "Cache-Control: public, max-age=31536000, immutable\r\n"
    "X-Crated-Cache: hit\r\n";

static struct registry *
find_registry(struct server *srv, const char *name)
{
	for (size_t i = 0; i < srv->nregs; i++)
		if (strcmp(srv->regs[i].name, name) == 0)
			return &srv->regs[i];
	return NULL;
}

static void	keep_gzip(struct registry *, const char *,
		    const struct hot_entry *);

static void
hot_done(const void *data, size_t len, void *arg)
{
	hot_unref(arg);
}

/* server_reply_entry's work; the gzip form made for the answer is kept in
 * gz/PATH of reg when reg is not NULL. */
static void
reply_entry(struct server *srv, struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra)
{
	const struct hot_variant	*v = &e->plain;
	char				*hdrs = NULL;

	if (http_accepts_gzip(r)) {
		bool	made = e->gzip.body == NULL;

		v = hot_gzip(srv->hot, e);
		if (made && reg != NULL)
			keep_gzip(reg, path, e);
	}
	if (extra != NULL)
		hdrs = xasprintf("%s%s", v->hdrs, extra);
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    http_header(r, "If-Modified-Since"), v->etag, e->mtime)) {
		http_reply(r, 304, NULL, hot_304_lines(hdrs ? hdrs : v->hdrs),
		    NULL, 0);
		hot_unref(e);
	} else
		http_reply_ref(r, 200, "text/plain; charset=utf-8",
		    hdrs ? hdrs : v->hdrs, v->body, v->len, hot_done, e);
	free(hdrs);
}

void
server_reply_entry(struct server *srv, struct http_request *r,
    struct hot_entry *e, const char *extra)
{
	reply_entry(srv, NULL, NULL, r, e, extra);
}

void
server_reply_file_entry(struct registry *reg, const char *path,
    struct http_request *r, struct hot_entry *e, const char *extra)
{
	reply_entry(reg->srv, reg, path, r, e, extra);
}

static void
reply_open_file(struct http_request *r, const struct open_file *f)
{
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    http_header(r, "If-Modified-Since"), f->etag, f->mtime))
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
    char *hdrs, size_t cost)
{
	struct open_file	*f;

	if (st->st_size > 0 && (f = open_files_add(open, key, fd, st, etag,
	    hdrs)) != NULL) {
		f->cost = cost;
		reply_open_file(r, f);
		return;
	}
	if (validators_not_modified(http_header(r, "If-None-Match"),
	    http_header(r, "If-Modified-Since"), etag, st->st_mtime)) {
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
 * cost an open, a stat and an xattr read each time). -1 when not kept. */
static int
from_kept(struct registry *reg, struct http_request *r, const char *key,
    const char *okey)
{
	struct open_file	*f;

	if ((f = open_files_get(reg->srv->open, okey)) == NULL)
		return -1;
	if (hot_admit(reg->srv->hot, key, f->cost))
		return 0;
	reply_open_file(r, f);
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
 * the file into the cache; -errno.
 */
static int
index_from_disk(struct registry *reg, struct http_request *r,
    const char *key, const char *rel)
{
	struct open_files	*open = reg->srv->open;
	struct stat		 st;
	char			 etag[ETAG_LEN], *hdrs;
	int			 fd, res;

	if ((res = from_kept(reg, r, key, key)) >= 0)
		return res;
	if ((fd = open_plain(reg, key, rel, true, &st, etag)) < 0)
		return fd == -EAGAIN ? 0 : fd;
	hdrs = hot_header_lines(etag, st.st_mtime, false, index_cache_control);
	reply_and_keep(open, r, key, fd, &st, etag, hdrs, (size_t)st.st_size);
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
server_file_key(char *out, size_t size, const char *registry,
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
server_load_gzip(struct registry *reg, const char *path,
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
 * its kept gzip form, server_load_gzip, or compressed and kept then);
 * -errno.
 */
static int
gzip_from_disk(struct registry *reg, struct http_request *r,
    const char *key, const char *path, const char *rel)
{
	struct open_files	*open = reg->srv->open;
	struct stat		 st, gst;
	char			 gzkey[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 8];
	char			 gzrel[STORE_PATH_MAX], etag[ETAG_LEN];
	char			 gzetag[ETAG_LEN], *hdrs;
	int			 fd, gzfd, res;

	gzip_key(gzkey, sizeof gzkey, key);
	if ((res = from_kept(reg, r, key, gzkey)) >= 0)
		return res;
	if ((fd = open_plain(reg, key, rel, true, &st, etag)) < 0)
		return fd == -EAGAIN ? 0 : fd;
	close(fd);
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
	    (size_t)st.st_size);
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

void
server_index_file(struct registry *reg, struct http_request *r,
    const char *path)
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

	server_file_key(key, sizeof key, reg->name, path);
	if ((e = hot_get(srv->hot, key)) != NULL) {
		if ((f = entry_file(reg, r, key, path, e)) != NULL) {
			reply_open_file(r, f);
			return;
		}
		hot_ref(e);
		server_reply_file_entry(reg, path, r, e, NULL);
		return;
	}
	join3(rel, sizeof rel, "index/", path, "");
	if (!http_accepts_gzip(r))
		res = index_from_disk(reg, r, key, rel);
	else
		res = gzip_from_disk(reg, r, key, path, rel);
	if (res == 0)
		res = store_read_tagged(reg->store, rel, &buf, &len, &st,
		    INDEX_FILE_MAX, etag);
	if (res == -ENOENT) {
		http_reply_error(r, 404, "crate not found in registry `%s`",
		    reg->name);
		return;
	}
	if (res < 0) {
		log_error("registry %s: reading %s: %s", reg->name, rel,
		    strerror(-res));
		http_reply_error(r, 500, "cannot read the index file: %s",
		    strerror(-res));
		return;
	}
	if (res == 1)
		return;
	e = hot_entry_new_tagged(key, buf, len, st.st_mtime,
	    index_cache_control, etag);
	server_load_gzip(reg, path, e);	/* for this answer or the next */
	server_reply_file_entry(reg, path, r, hot_insert(srv->hot, e), NULL);
}

void
server_index_changed(struct registry *reg, const char *path)
{
	char	key[REGISTRY_NAME_MAX + INDEX_PATH_MAX + 2];
	char	gzkey[sizeof key + 3];

	server_file_key(key, sizeof key, reg->name, path);
	hot_invalidate(reg->srv->hot, key);
	open_files_forget(reg->srv->open, key);
	gzip_key(gzkey, sizeof gzkey, key);
	open_files_forget(reg->srv->open, gzkey);
}

/* A .crate from the store, kept open (open_files: a .crate never changes
 * once written; a mirror's eviction forgets it, server_file_removed). */
static void
serve_download(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	struct open_files	*open = reg->srv->open;
	struct open_file	*f;
	struct stat		 st;
	char			 rel[STORE_PATH_MAX];
	char			 key[REGISTRY_NAME_MAX + STORE_PATH_MAX + 2];
	int			 fd = -1;

	if (reg->kind == REGISTRY_HOSTED && hosted_unindexed(reg->hosted,
	    rt->name, rt->vers)) {
		/* Being published: not a version until its index line is. */
		http_reply_error(r, 404, "crate `%s` version %s is not in"
		    " registry `%s`", rt->name, rt->vers, reg->name);
		return;
	}
	store_crate_rel(rt->name, rt->vers, rel);
	server_file_key(key, sizeof key, reg->name, rel);
	if ((f = open_files_get(open, key)) == NULL) {
		fd = store_open_file(reg->store, rel, &st);
		if (fd < 0 && reg->kind == REGISTRY_MIRROR) {
			mirror_download(reg, r, rt);
			return;
		}
		if (fd < 0) {
			http_reply_error(r, 404, "crate `%s` version %s is not"
			    " in registry `%s`", rt->name, rt->vers,
			    reg->name);
			return;
		}
		if (st.st_size > 0 && (f = open_files_add(open, key, fd, &st,
		    NULL, NULL)) != NULL)
			fd = -1;
	}
	if (reg->mirror != NULL)
		mirror_served_crate(reg->mirror, rel, http_header(r,
		    "X-Crated-Pin") != NULL);
	if (f != NULL)
		http_reply_segment(r, 200, "application/gzip",
		    crate_cache_control, f->seg, f->fd, f->size);
	else
		http_reply_file(r, 200, "application/gzip",
		    crate_cache_control, fd, (size_t)st.st_size);
}

void
server_file_removed(struct registry *reg, const char *rel)
{
	char	key[REGISTRY_NAME_MAX + STORE_PATH_MAX + 2];

	server_file_key(key, sizeof key, reg->name, rel);
	open_files_forget(reg->srv->open, key);
}

static bool
method_ok(struct http_request *r, enum http_method a, enum http_method b)
{
	enum http_method	m = http_method(r);

	if (m == a || m == b)
		return true;
	http_reply_error(r, 405, "method %s is not allowed here",
	    http_method_name(r));
	return false;
}

static bool
read_method(struct http_request *r)
{
	return method_ok(r, HTTP_GET, HTTP_HEAD);
}

/* True when s is a Host crated may put in the URLs it answers with: a
 * name or IPv4 address (letters, digits, '-' and '.') or a bracketed IPv6
 * address, then an optional :PORT. Nothing that could end a JSON string
 * or a header, or add a path or user to a URL, passes. */
static bool
valid_host(const char *s)
{
	size_t	n = 0;

	if (s == NULL || strlen(s) > 255)
		return false;
	if (*s == '[') {
		for (s++; *s != ']'; s++, n++)
			if (*s == '\0' || !(isxdigit((unsigned char)*s) ||
			    *s == ':' || *s == '.'))
				return false;
		s++;
	} else
		for (; *s != '\0' && *s != ':'; s++, n++)
			if (!isalnum((unsigned char)*s) && *s != '-' &&
			    *s != '.')
				return false;
	if (n == 0)
		return false;
	if (*s == '\0')
		return true;
	if (*s++ != ':' || *s == '\0' || strlen(s) > 5 || atoi(s) > 65535)
		return false;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* public_url when set; else the scheme of the listener r came in on with
 * the Host r named (when valid_host; without a port, the listener's
 * unless it is the scheme's default), or that listener's own address. So
 * a client on the TLS listener is never sent to http://. */
char *
server_base_url(const struct server *srv, const struct http_request *r)
{
	const char	*host = http_header(r, "Host");
	bool		 tls = http_is_tls(r);
	int		 port;

	if (srv->cfg->public_url != NULL)
		return xstrdup(srv->public_url);
	if (valid_host(host)) {
		port = http_local_port(r);
		if (strchr(host, ']') != NULL ? strstr(host, "]:") != NULL :
		    strchr(host, ':') != NULL)
			port = 0;		/* named in Host */
		if (port == (tls ? 443 : 80))
			port = 0;
		if (port == 0)
			return xasprintf("%s://%s", tls ? "https" : "http",
			    host);
		return xasprintf("%s://%s:%d", tls ? "https" : "http", host,
		    port);
	}
	if (tls && srv->url_tls != NULL)
		return xstrdup(srv->url_tls);
	if (!tls && srv->url_plain != NULL)
		return xstrdup(srv->url_plain);
	return xstrdup(srv->public_url);
}

/* The registry's config.json with dl and api under base (new). */
static char *
make_config_json(const char *base, const struct registry *reg)
{
	json_t	*j;
	char	*dl, *api, *s;

	dl = xasprintf("%s/%s/api/v1/crates", base, reg->name);
	api = xasprintf("%s/%s", base, reg->name);
	j = json_pack("{s:s, s:s, s:b}", "dl", dl, "api", api,
	    "auth-required", reg->cfg->auth_required);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	free(dl);
	free(api);
	return s;
}

/* GET /R/config.json: made once with public_url, else for each request
 * (its URLs follow the request's scheme and Host; never cached). */
static void
serve_config_json(struct server *srv, struct registry *reg,
    struct http_request *r)
{
	char	*base, *body;

	if (reg->config_json != NULL) {
		http_reply(r, 200, "application/json", NULL, reg->config_json,
		    strlen(reg->config_json));
		return;
	}
	base = server_base_url(srv, r);
	body = make_config_json(base, reg);
	http_reply(r, 200, "application/json", "Cache-Control: no-cache\r\n"
	    "Vary: Host\r\n", body, strlen(body));
	free(body);
	free(base);
}

/*
 * ops_access: whether r may read /-/metrics, /-/registries and the
 * upstreams in /-/ready. "open"; "auto" while no registry has
 * auth_required; otherwise an admin token (of any registry) or the secret
 * in ops_token_env, compared in constant time.
 */
static bool
ops_allowed(struct server *srv, struct http_request *r)
{
	const char		*mode = srv->cfg->ops_access;
	const char		*value = http_header(r, "Authorization");
	const char		*secret = NULL, *v;
	const struct token	*t;
	bool			 closed = strcmp(mode, "token") == 0;

	for (size_t i = 0; strcmp(mode, "auto") == 0 && i < srv->nregs; i++)
		closed = closed || srv->regs[i].cfg->auth_required;
	if (!closed)
		return true;
	if (value == NULL)
		return false;
	if (srv->cfg->ops_token_env != NULL)
		secret = getenv(srv->cfg->ops_token_env);
	v = strncasecmp(value, "Bearer ", 7) == 0 ? value + 7 : value;
	if (secret != NULL && *secret != '\0' && strlen(v) == strlen(secret) &&
	    CRYPTO_memcmp(v, secret, strlen(secret)) == 0)
		return true;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	for (size_t i = 0; i < srv->nregs; i++) {
		t = tokens_check(&srv->tokens, value, srv->regs[i].name,
		    time(NULL));
		if (t != NULL && t->scope == SCOPE_ADMIN) {
			http_set_user(r, t->label, (int)t->scope, t->crates);
			return true;
		}
	}
	return false;
}

/* ops_allowed, else a 401 saying what opens the endpoint. */
static bool
ops_gate(struct server *srv, struct http_request *r)
{
	if (ops_allowed(srv, r))
		return true;
	if (http_header(r, "Authorization") != NULL)
		log_warn("%s: %s sent a token that is not an admin token or the"
		    " ops_token_env secret", http_path(r), http_peer(r));
	http_reply_error_hdrs(r, 401, "WWW-Authenticate: Bearer realm=\"crated"
	    " ops\"\r\n", "%s needs an admin token (crated token create"
	    " --scope admin) or the ops_token_env secret: ops_access is \"%s\""
	    "%s", http_path(r), srv->cfg->ops_access,
	    strcmp(srv->cfg->ops_access, "auto") == 0 ? " and a registry has"
	    " auth_required" : "");
	return false;
}

/* GET /-/registries: what this server serves, for `crated prefetch
 * --server` and operators. */
static void
list_registries(struct server *srv, struct http_request *r)
{
	json_t	*list = json_array();
	char	*body, *base = server_base_url(srv, r);

	for (size_t i = 0; i < srv->nregs; i++) {
		const struct registry	*reg = &srv->regs[i];
		char			*index = xasprintf("sparse+%s/%s/",
					    base, reg->name);

		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?,"
		    " s:b, s:b}", "name", reg->name, "kind", reg->kind ==
		    REGISTRY_HOSTED ? "hosted" : "mirror", "index", index,
		    "upstream", reg->cfg->upstream, "offline",
		    reg->cfg->offline, "crates_io", config_crates_io(reg->cfg)));
		free(index);
	}
	list = json_pack("{s:o}", "registries", list);
	body = json_dumps(list, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(list);
	http_reply(r, 200, "application/json", NULL, body, strlen(body));
	free(body);
	free(base);
}

static int
scope_needed(const struct route *rt, enum http_method m)
{
	switch (rt->kind) {
	case ROUTE_PUBLISH:
		return SCOPE_PUBLISH;
	case ROUTE_YANK:
	case ROUTE_UNYANK:
		return SCOPE_YANK;
	case ROUTE_OWNERS:
		return m == HTTP_GET ? SCOPE_READ : SCOPE_PUBLISH;
	default:
		return SCOPE_READ;
	}
}

/*
 * auth_required: every request but /R/me carries a valid crated token for
 * this registry with the scope the route needs. No token: 401 with cargo's
 * login hint. A bad token: 401 on reads (cargo then says the token was
 * rejected), 403 on the web API (registry-web-api.md). Returns false when
 * the request has been answered.
 */
static bool
authorize(struct server *srv, struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	const char		*value = http_header(r, "Authorization");
	const struct token	*t;
	char			*hdr, *base;
	int			 need = scope_needed(rt, http_method(r));

	if (!reg->cfg->auth_required || rt->kind == ROUTE_ME)
		return true;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	if (value == NULL) {
		base = server_base_url(srv, r);
		hdr = xasprintf("WWW-Authenticate: Cargo login_url=\"%s/%s/me\""
		    "\r\n", base, reg->name);
		http_reply_error_hdrs(r, 401, hdr, "registry `%s` needs a"
		    " crated token; see %s/%s/me", reg->name, base, reg->name);
		free(hdr);
		free(base);
		return false;
	}
	if ((t = tokens_check(&srv->tokens, value, reg->name,
	    time(NULL))) == NULL) {
		/* `crated token create` a moment ago: look at the file now
		 * (a stat; it is read again only when it changed). */
		tokens_refresh_now(srv->cfg->data_dir, &srv->tokens);
		t = tokens_check(&srv->tokens, value, reg->name, time(NULL));
	}
	if (t == NULL) {
		bool	api = route_is_api(rt->kind) && rt->kind !=
			    ROUTE_DOWNLOAD;

		log_warn("registry %s: %s sent an unknown, revoked or expired"
		    " token", reg->name, http_peer(r));
		base = server_base_url(srv, r);
		hdr = xasprintf("WWW-Authenticate: Cargo login_url=\"%s/%s/me\""
		    "\r\n", base, reg->name);
		http_reply_error_hdrs(r, api ? 403 : 401, api ? NULL : hdr,
		    "the token is not valid for registry `%s` (unknown,"
		    " revoked or expired); see %s/%s/me", reg->name, base,
		    reg->name);
		free(hdr);
		free(base);
		return false;
	}
	http_set_user(r, t->label, (int)t->scope, t->crates);
	if (!scope_allows(t->scope, (enum scope)need)) {
		http_reply_error(r, 403, "token `%s` has the %s scope; this"
		    " needs %s", t->label, scope_name(t->scope),
		    scope_name((enum scope)need));
		return false;
	}
	return true;
}

bool
server_may_write(struct http_request *r, const char *crate, int need)
{
	const char	*crates, *label;
	int		 scope;

	if ((label = http_user(r, &scope, &crates)) == NULL)
		return true;
	if (!scope_allows((enum scope)scope, (enum scope)need)) {
		http_reply_error(r, 403, "token `%s` has the %s scope; this"
		    " needs %s", label, scope_name((enum scope)scope),
		    scope_name((enum scope)need));
		return false;
	}
	if (crates != NULL && scope != SCOPE_ADMIN &&
	    fnmatch(crates, crate, 0) != 0) {
		http_reply_error(r, 403, "token `%s` may only change crates"
		    " matching `%s`, not `%s`", label, crates, crate);
		return false;
	}
	return true;
}

/* GET /R/me: how a person gets a token and sets up cargo. */
static void
me_page(struct server *srv, struct registry *reg, struct http_request *r)
{
	char	*html, *upper = xstrdup(reg->name);
	char	*base = server_base_url(srv, r);

	for (char *p = upper; *p != '\0'; p++)
		*p = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 :
		    *p);
	html = xasprintf("<!doctype html>\n<html><head><meta charset=\"utf-8\">"
	    "<title>crated: registry %s</title></head><body>\n"
	    "<h1>Registry <code>%s</code></h1>\n"
	    "<p>This registry %s.</p>\n"
	    "<h2>Getting a token</h2>\n<p>Ask the operator of this crated to"
	    " run</p>\n<pre>crated token create --registry %s --scope read"
	    " --name YOUR-NAME</pre>\n<p>(<code>--scope publish</code> to"
	    " publish, <code>yank</code> to yank). The token, starting with"
	    " <code>crated_</code>, is shown once.</p>\n"
	    "<h2>Configuring cargo</h2>\n<pre>[registries.%s]\n"
	    "index = \"sparse+%s/%s/\"\ncredential-provider ="
	    " [\"cargo:token\"]</pre>\n<p>then <code>cargo login --registry"
	    " %s</code> and paste the token, or set"
	    " <code>CARGO_REGISTRIES_%s_TOKEN</code>.</p>\n</body></html>\n",
	    reg->name, reg->name, reg->cfg->auth_required ? "needs a token for"
	    " every request" : "does not need a token to read", reg->name,
	    reg->name, base, reg->name, reg->name, upper);
	http_reply(r, 200, "text/html; charset=utf-8", NULL, html,
	    strlen(html));
	free(html);
	free(upper);
	free(base);
}

static const char *
route_name(enum route_kind k)
{
	static const char	*names[] = {
		[ROUTE_NONE] = "none", [ROUTE_HEALTH] = "health",
		[ROUTE_READY] = "ready", [ROUTE_METRICS] = "metrics",
		[ROUTE_REGISTRIES] = "registries", [ROUTE_PURGE] = "purge",
		[ROUTE_CONFIG] = "config",
		[ROUTE_INDEX] = "index", [ROUTE_DOWNLOAD] = "download",
		[ROUTE_PUBLISH] = "publish", [ROUTE_YANK] = "yank",
		[ROUTE_UNYANK] = "unyank", [ROUTE_OWNERS] = "owners",
		[ROUTE_SEARCH] = "search", [ROUTE_ME] = "me",
	};

	return names[k];
}

/* The series each request updates, found once per registry, route and
 * status: a small direct-mapped cache in front of the metrics table. */
#define REQUEST_SERIES	64

struct request_series {
	char		 registry[REGISTRY_NAME_MAX + 1];
	char		 route[24];
	int		 status;
	struct series	*total, *bytes, *duration;
};

static void
request_done(const char *registry, const char *route, int status,
    size_t bytes, long usec, void *arg)
{
	struct server			*srv = arg;
	struct request_series		*c;
	char				 labels[160];
	unsigned			 h = (unsigned)status;

	if (registry == NULL)
		registry = "";
	for (const char *p = route; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	for (const char *p = registry; *p != '\0'; p++)
		h = h * 31 + (unsigned char)*p;
	if (srv->req_series == NULL)
		srv->req_series = xcalloc(REQUEST_SERIES, sizeof *c);
	c = &srv->req_series[h % REQUEST_SERIES];
	if (c->status != status || strcmp(c->route, route) != 0 ||
	    strcmp(c->registry, registry) != 0) {
		snprintf(c->registry, sizeof c->registry, "%s", registry);
		snprintf(c->route, sizeof c->route, "%s", route);
		c->status = status;
		snprintf(labels, sizeof labels, "registry=\"%s\",route=\"%s\","
		    "status=\"%d\"", registry, route, status);
		c->total = metrics_series(METRIC_REQUESTS_TOTAL, labels);
		snprintf(labels, sizeof labels, "registry=\"%s\",route=\"%s\"",
		    registry, route);
		c->bytes = metrics_series(METRIC_RESPONSE_BYTES_TOTAL,
		    labels);
		c->duration = metrics_series(METRIC_REQUEST_DURATION_SECONDS,
		    labels);
	}
	metrics_series_add(c->total, 1);
	metrics_series_add(c->bytes, (double)bytes);
	metrics_series_observe(c->duration, (double)usec / 1e6);
}

static void
collect(void *arg)
{
	struct server	*srv = arg;

	metrics_set(METRIC_OPEN_CONNECTIONS, "",
	    (double)http_server_connections(srv->http));
	metrics_set(METRIC_UPSTREAM_REQUESTS_IN_FLIGHT, "",
	    (double)upstream_client_active(srv->upstream));
	metrics_set(METRIC_HOT_CACHE_BYTES, "", (double)hot_bytes(srv->hot));
	metrics_set(METRIC_OPEN_INDEX_FILES, "",
	    (double)open_files_count(srv->open));
	if (srv->tls_not_after != 0)
		metrics_set(METRIC_TLS_CERTIFICATE_DAYS_LEFT, "",
		    difftime(srv->tls_not_after, time(NULL)) / 86400);
	for (size_t i = 0; i < srv->nregs; i++)
		if (srv->regs[i].mirror != NULL)
			mirror_collect(srv->regs[i].mirror);
}

/* A mirror's state in /-/ready: last_ok (epoch seconds) also as
 * last_ok_at (RFC 3339, UTC); without full (ops_allowed), no upstream URL
 * and no error or probe text (which may name it). */
static void
ready_details(json_t *j, bool full)
{
	json_t		*lo = json_object_get(j, "last_ok");
	time_t		 t;
	struct tm	 tm;
	char		 when[32];

	if (json_is_integer(lo)) {
		t = (time_t)json_integer_value(lo);
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_set_new(j, "last_ok_at", json_string(when));
	}
	if (!full) {
		json_object_del(j, "upstream");
		json_object_del(j, "last_error");
		json_object_del(j, "probe_detail");
	}
}

/* GET /-/ready: listening, the data directory writable, and each
 * mirror's upstream state. 503 when the data directory is not. Open to
 * all (probes carry no token). */
static void
ready(struct server *srv, struct http_request *r)
{
	json_t	*regs = json_array(), *j;
	char	*probe, *body;
	bool	 writable, full = ops_allowed(srv, r);
	int	 fd;

	probe = xasprintf("%s/.ready-probe", srv->cfg->data_dir);
	fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	writable = fd != -1 && write(fd, "ok", 2) == 2;
	if (fd != -1)
		close(fd);
	unlink(probe);
	free(probe);
	for (size_t i = 0; i < srv->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		j = json_pack("{s:s, s:s}", "name", reg->name, "kind",
		    reg->kind == REGISTRY_HOSTED ? "hosted" : "mirror");
		if (reg->mirror != NULL)
			mirror_state(reg->mirror, j);
		probes_state(srv->probes, reg, j);
		ready_details(j, full);
		json_array_append_new(regs, j);
	}
	j = json_pack("{s:s, s:b, s:I, s:o}", "status", writable ? "ready" :
	    "data directory not writable", "data_dir_writable", writable,
	    "connections", (json_int_t)http_server_connections(srv->http),
	    "registries", regs);
	body = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	http_reply(r, writable ? 200 : 503, "application/json", NULL, body,
	    strlen(body));
	free(body);
}


/* Whether r carries the peers' secret (peer_token_env), compared in
 * constant time. */
static bool
peer_ok(struct server *srv, struct http_request *r)
{
	const char	*auth = http_header(r, "Authorization");
	const char	*secret = srv->cfg->peer_token_env ?
			    getenv(srv->cfg->peer_token_env) : NULL;

	return secret != NULL && auth != NULL && strncmp(auth,
	    "Crated-Peer ", 12) == 0 && strlen(auth + 12) == strlen(secret) &&
	    CRYPTO_memcmp(auth + 12, secret, strlen(secret)) == 0;
}
/* POST /-/purge from a peer replica that relayed a write:
 * {"registry":R,"crate":N,"version":V or null}, authenticated with the
 * shared peer secret ("Authorization: Crated-Peer SECRET"). */
static void
purge(struct server *srv, struct http_request *r)
{
	const unsigned char	*body;
	size_t			 len;
	json_t			*j;
	struct registry		*reg;
	const char		*name, *vers;

	if (!peer_ok(srv, r)) {
		http_reply_error(r, 403, "purges need the peer secret");
		return;
	}
	body = http_body(r, &len);
	j = json_loadb((const char *)body, len, 0, NULL);
	name = json_string_value(json_object_get(j, "crate"));
	vers = json_string_value(json_object_get(j, "version"));
	reg = find_registry(srv, json_string_value(json_object_get(j,
	    "registry")) ? json_string_value(json_object_get(j, "registry")) :
	    "");
	if (reg == NULL || reg->mirror == NULL || name == NULL ||
	    crate_name_check(name, NULL) != 0) {
		json_decref(j);
		http_reply_error(r, 400, "expected {\"registry\":MIRROR,"
		    "\"crate\":NAME,\"version\":VERSION or null}");
		return;
	}
	mirror_watch(reg->mirror, name, vers);
	log_info("registry %s: purged %s on a peer's word (%s)", reg->name,
	    name, http_peer(r));
	json_decref(j);
	http_reply(r, 200, "application/json", NULL, "{\"ok\":true}", 11);
}

/*
 * The HTTP layer's head hook: a request that carries a body is authorized
 * on its head, as handle() authorizes it, before a byte of the body is
 * read, so that a client without a valid token cannot make crated hold
 * its bodies. Requests outside every registry go on (handle() answers
 * them). True to let the body come; false once r has been answered.
 */
static bool
authorize_head(struct http_request *r, void *arg)
{
	struct server	*srv = arg;
	struct registry	*reg;
	struct route	 rt;

	route_parse(http_path(r), &rt);
	http_set_route(r, route_name(rt.kind));
	switch (rt.kind) {
	case ROUTE_PURGE:
		if (!peer_ok(srv, r)) {
			http_reply_error(r, 403, "purges need the peer secret");
			return false;
		}
		return true;
	case ROUTE_PUBLISH:
	case ROUTE_OWNERS:
		if ((reg = find_registry(srv, rt.registry)) == NULL)
			break;
		http_set_registry(r, reg->name);
		return authorize(srv, reg, r, &rt);
	default:
		break;
	}
	/* Nothing else takes a body: answered on the head, so that no one
	 * can hold the body budget with requests that need no token. */
	http_reply_error(r, rt.kind == ROUTE_NONE || (rt.registry[0] != '\0' &&
	    find_registry(srv, rt.registry) == NULL) ? 404 : 405, "%s %s takes"
	    " no request body", http_method_name(r), http_path(r));
	return false;
}

/* The one handler every request goes through. */
static void
handle(struct http_request *r, void *arg)
{
	struct server	*srv = arg;
	struct registry	*reg;
	struct route	 rt;

	route_parse(http_path(r), &rt);
	http_set_route(r, route_name(rt.kind));
	switch (rt.kind) {
	case ROUTE_HEALTH:
		if (read_method(r))
			http_reply(r, 200, "text/plain", NULL, "ok\n", 3);
		return;
	case ROUTE_REGISTRIES:
		if (read_method(r) && ops_gate(srv, r))
			list_registries(srv, r);
		return;
	case ROUTE_READY:
		if (read_method(r))
			ready(srv, r);
		return;
	case ROUTE_PURGE:
		if (method_ok(r, HTTP_POST, HTTP_POST))
			purge(srv, r);
		return;
	case ROUTE_METRICS:
		if (read_method(r) && ops_gate(srv, r)) {
			size_t	 len;
			char	*text = metrics_render(&len);

			http_reply(r, 200, "text/plain; version=0.0.4", NULL,
			    text, len);
			free(text);
		}
		return;
	case ROUTE_NONE:
		break;
	default:
		if ((reg = find_registry(srv, rt.registry)) == NULL)
			break;
		http_set_registry(r, reg->name);
		if (!authorize(srv, reg, r, &rt))
			return;
		switch (rt.kind) {
		case ROUTE_CONFIG:
			if (read_method(r))
				serve_config_json(srv, reg, r);
			return;
		case ROUTE_INDEX:
			if (!read_method(r))
				return;
			if (reg->kind == REGISTRY_MIRROR)
				mirror_index(reg, r, &rt);
			else
				server_index_file(reg, r, rt.path);
			return;
		case ROUTE_DOWNLOAD:
			if (read_method(r))
				serve_download(reg, r, &rt);
			return;
		case ROUTE_ME:
			if (read_method(r))
				me_page(srv, reg, r);
			return;
		default:
			if (reg->kind == REGISTRY_HOSTED)
				hosted_api(reg, r, &rt);
			else
				relay_api(reg, r, &rt);
			return;
		}
	}
	http_reply_error(r, 404, "%s: %s", http_path(r),
	    rt.kind == ROUTE_NONE ? rt.why : "not found");
}

/* t as "2026-12-07 14:00:00 UTC" into out; its time in *when. */
static void
asn1_text(const ASN1_TIME *t, char *out, size_t size, time_t *when)
{
	struct tm	tm;

	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, size, "(unreadable date)");
		*when = 0;
		return;
	}
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	*when = timegm(&tm);
}

/* The certificate of ctx (from path) is within its validity period: 0
 * with its end in *not_after; else -1 with *cause. */
static int
check_validity(SSL_CTX *ctx, const char *path, time_t *not_after,
    char **cause)
{
	X509		*x = SSL_CTX_get0_certificate(ctx);
	char		 from[64], to[64];
	time_t		 start;

	if (x == NULL) {
		*cause = xasprintf("tls_cert %s: no certificate", path);
		return -1;
	}
	asn1_text(X509_get0_notBefore(x), from, sizeof from, &start);
	asn1_text(X509_get0_notAfter(x), to, sizeof to, not_after);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		*cause = xasprintf("tls_cert %s is not valid yet: its validity"
		    " starts %s", path, from);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		*cause = xasprintf("tls_cert %s expired on %s: clients would"
		    " refuse it", path, to);
		return -1;
	}
	return 0;
}

/* Logs a warning when the certificate in use ends within CERT_WARN_DAYS. */
static void
warn_expiry(const struct server *srv)
{
	double	days = difftime(srv->tls_not_after, time(NULL)) / 86400;

	if (srv->tls_not_after == 0 || days >= CERT_WARN_DAYS)
		return;
	log_warn("the TLS certificate in use (tls_cert %s) expires in %.1f"
	    " days: renew it and send SIGHUP", srv->cfg->tls_cert, days);
}

static void
cert_tick(evutil_socket_t fd, short what, void *arg)
{
	warn_expiry(arg);
}

/* A TLS context from the configured files: TLS 1.2 and up, forward-secret
 * AEAD ciphers, a certificate within its validity period (its end in
 * *not_after). NULL with *cause naming the key and file at fault. */
static SSL_CTX *
tls_context(const struct config *cfg, time_t *not_after, char **cause)
{
	SSL_CTX		*ctx;
	const char	*key = NULL, *path = NULL, *why = NULL;
	char		 err[256];

	if (access(cfg->tls_cert, R_OK) != 0 || access(cfg->tls_key,
	    R_OK) != 0) {
		bool	cert = access(cfg->tls_cert, R_OK) != 0;

		*cause = xasprintf("%s %s: %s", cert ? "tls_cert" : "tls_key",
		    cert ? cfg->tls_cert : cfg->tls_key, strerror(errno));
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305") != 1)
		key = "TLS", path = "setup";
	else if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
		key = "tls_cert", path = cfg->tls_cert;
	else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	    SSL_FILETYPE_PEM) != 1)
		key = "tls_key", path = cfg->tls_key;
	else if (SSL_CTX_check_private_key(ctx) != 1) {
		key = "tls_key", path = cfg->tls_key;
		why = "does not match the certificate of tls_cert";
	}
	if (key != NULL) {
		ERR_error_string_n(ERR_get_error(), err, sizeof err);
		*cause = xasprintf("%s %s: %s", key, path, why ? why : err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	ERR_clear_error();
	if (check_validity(ctx, cfg->tls_cert, not_after, cause) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	return ctx;
}

/*
 * Reads the configuration file again. What can change in place does:
 * log settings, body limit, TTLs, credentials, relay, auth and ops
 * settings, offline, peers, the certificate files. A change to a key
 * read only at start (config.c marks them: listeners, data_dir,
 * public_url, the caches, http2, the set of registries and their
 * upstreams) refuses the file, naming the key, as does one that does not
 * parse; the running configuration stays.
 */
static int
reload_config(struct server *srv, char **cause)
{
	struct config	*old = srv->cfg, *nc = NULL;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*key;

	if (old->path == NULL)
		return 0;
	if (config_load(old->path, &nc, cause) != 0)
		return -1;
	/* The command line's overrides still hold. */
	if (srv->force_listen)
		config_set_listen(nc, (const char *const *)old->listen,
		    old->nlisten);
	if (srv->force_data_dir != NULL)
		config_set_string(&nc->data_dir, old->data_dir);
	if (srv->force_log_level != NULL)
		config_set_string(&nc->log_level, srv->force_log_level);
	for (size_t i = 0; srv->force_offline && i < nc->nregs; i++)
		if (nc->regs[i].upstream != NULL)
			nc->regs[i].offline = true;
	if (config_check(nc, cause) != 0)
		goto refuse;
	if ((key = config_restart_change(old, nc)) != NULL) {
		*cause = xasprintf("%s changed: crated reads it only at start;"
		    " restart crated for that", key);
		free(key);
		goto refuse;
	}
	for (size_t i = 0; i < srv->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		reg->cfg = &nc->regs[i];
		reg->name = reg->cfg->name;
		free(reg->config_json);
		reg->config_json = nc->public_url == NULL ? NULL :
		    make_config_json(srv->public_url, reg);
		if (reg->mirror != NULL)
			mirror_reconfigured(reg->mirror);
	}
	log_level_parse(nc->log_level, &lvl);
	log_format_parse(nc->log_format, &fmt);
	log_setup(lvl, fmt);
	if (log_access_to(nc->access_log) != 0)
		log_error("SIGHUP: access_log %s: %s; access lines"
		    " keep their old place", nc->access_log, strerror(errno));
	http_server_set_max_body(srv->http, (uint64_t)nc->max_body_bytes);
	srv->old_cfgs = xreallocarray(srv->old_cfgs, srv->nold_cfgs + 1,
	    sizeof *srv->old_cfgs);
	srv->old_cfgs[srv->nold_cfgs++] = old;
	srv->cfg = nc;
	return 0;
refuse:
	config_free(nc);
	return -1;
}

/* SIGHUP: the configuration, tokens and certificates are read again;
 * connections stay. Whatever is bad is refused with a log line and the
 * old version stays. */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	SSL_CTX		*ctx;
	char		*cause = NULL;
	time_t		 not_after;

	if (reload_config(srv, &cause) != 0) {
		log_error("SIGHUP: keeping the running configuration: %s",
		    cause);
		free(cause);
		cause = NULL;
	} else
		log_info("SIGHUP: configuration %s reloaded", srv->cfg->path ?
		    srv->cfg->path : "(built-in defaults)");
	probes_reconfigured(srv->probes);
	srv->tokens.checked = 0;
	tokens_refresh(srv->cfg->data_dir, &srv->tokens);
	if (srv->cfg->nlisten_tls == 0)
		return;
	if ((ctx = tls_context(srv->cfg, &not_after, &cause)) == NULL) {
		log_error("SIGHUP: keeping the old certificate: %s", cause);
		free(cause);
		warn_expiry(srv);
		return;
	}
	http_server_set_tls(srv->http, ctx);
	srv->tls_not_after = not_after;
	log_info("SIGHUP: TLS certificate reloaded");
	warn_expiry(srv);
}

static void
check_drained(struct server *srv)
{
	if (http_server_pending(srv->http) == 0 &&
	    http_server_connections(srv->http) == 0 &&
	    workers_pending(srv->workers) == 0 &&
	    workers_pending(srv->cpu) == 0 &&
	    workers_pending(srv->background) == 0 &&
	    upstream_client_active(srv->upstream) == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	static int	 ticks;
	size_t		 n;

	if (++ticks > DRAIN_SECONDS * 10) {
		n = http_server_in_flight(srv->http);
		log_warn("drain timeout: %zu request%s still in flight after"
		    " %d s, exiting", n, n == 1 ? "" : "s", DRAIN_SECONDS);
		event_base_loopexit(srv->base, NULL);
		return;
	}
	check_drained(srv);
}

/*
 * The first SIGTERM or SIGINT drains: no new connections, and what is in
 * flight (downloads still being sent included) gets DRAIN_SECONDS to
 * finish. A second one ends crated at once, by that signal's default
 * action, as a process without a handler dies (exit status 128 + N in a
 * shell): the operator asked twice. Nothing on disk is half-written
 * (every file goes to a temp name and is renamed), as after a crash.
 */
static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, 100000 };
	const char	*name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
	size_t		 n = http_server_in_flight(srv->http);

	if (srv->stopping) {
		log_warn("%s again: exiting now, abandoning %zu request%s in"
		    " flight", name, n, n == 1 ? "" : "s");
		signal((int)sig, SIG_DFL);
		raise((int)sig);
		_exit(128 + (int)sig);		/* not reached */
	}
	srv->stopping = true;
	log_info("%s: no longer accepting; %zu request%s in flight (given"
	    " up to %d s)", name, n, n == 1 ? "" : "s", DRAIN_SECONDS);
	http_server_drain(srv->http);
	for (size_t i = 0; i < srv->nregs; i++)
		mirror_stop_prefetching(srv->regs[i].mirror);
	srv->drain_timer = event_new(srv->base, -1, EV_PERSIST, drain_tick,
	    srv);
	event_add(srv->drain_timer, &tv);
	check_drained(srv);
}

static int
open_registries(struct server *srv, char **cause)
{
	const struct config	*cfg = srv->cfg;

	srv->regs = xcalloc(cfg->nregs, sizeof *srv->regs);
	for (size_t i = 0; i < cfg->nregs; i++) {
		struct registry	*reg = &srv->regs[i];

		reg->cfg = &cfg->regs[i];
		reg->name = reg->cfg->name;
		reg->srv = srv;
		reg->kind = reg->cfg->upstream ? REGISTRY_MIRROR :
		    REGISTRY_HOSTED;
		srv->nregs++;
		if (store_open(cfg->data_dir, reg->name, &reg->store,
		    cause) != 0)
			return -1;
		if (reg->kind == REGISTRY_HOSTED &&
		    hosted_open(reg, cause) != 0)
			return -1;
		if (reg->kind == REGISTRY_MIRROR &&
		    mirror_open(reg, cause) != 0)
			return -1;
	}
	return 0;
}

/*
 * How many index files may be kept open: open_file_cache, at most half
 * the open-file limit (the rest is for connections, upstream transfers
 * and the store). The soft limit is raised to the hard one first.
 */
static size_t
open_file_budget(long long want)
{
	struct rlimit	rl;
	rlim_t		half;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t	was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			rl.rlim_cur = was;
	}
	half = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 30 :
	    rl.rlim_cur / 2;
	if ((rlim_t)want <= half)
		return (size_t)want;
	log_warn("open_file_cache = %lld is more than half the open-file"
	    " limit (%llu): keeping at most %llu index files open", want,
	    (unsigned long long)rl.rlim_cur, (unsigned long long)half);
	return (size_t)half;
}

/* The certificate for listen_tls, and a daily look at its end. */
static int
start_tls(struct server *srv, char **cause)
{
	SSL_CTX		*ctx;
	struct timeval	 day = { 86400, 0 };

	if ((ctx = tls_context(srv->cfg, &srv->tls_not_after, cause)) == NULL)
		return -1;
	http_server_set_tls(srv->http, ctx);
	warn_expiry(srv);
	srv->cert_timer = event_new(srv->base, -1, EV_PERSIST, cert_tick, srv);
	event_add(srv->cert_timer, &day);
	return 0;
}

int
server_start(struct server *srv, struct config *cfg, char **cause)
{
	struct http_limits	lim = {
		.max_line = 8192,
		.max_head = 32768,
		.max_headers = 100,
		.max_body = (uint64_t)cfg->max_body_bytes,
		.idle_timeout = 60,
		.head_timeout = 20,
		.max_per_client = (size_t)cfg->max_connections_per_client,
		.http2 = cfg->http2,
	};
	char			bound[128];

	srv->cfg = cfg;
	srv->lockfd = -1;
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	if ((srv->base = event_base_new()) == NULL) {
		*cause = xstrdup("cannot create the event loop");
		return -1;
	}
	if ((srv->lockfd = store_lock(cfg->data_dir, cause)) == -1) {
		if (access(cfg->data_dir, W_OK) != 0) {
			free(*cause);
			*cause = xasprintf("data directory %s is not writable:"
			    " %s", cfg->data_dir, strerror(errno));
		}
		return -1;
	}
	if (tokens_load(cfg->data_dir, &srv->tokens, cause) != 0)
		return -1;
	srv->hot = hot_create((size_t)cfg->memory_cache_bytes);
	srv->open = open_files_create(open_file_budget(cfg->open_file_cache));
	srv->workers = workers_create(srv->base, 2);
	srv->cpu = workers_create(srv->base, 2);
	/* gz/ writes: never queued ahead of a publish's. */
	srv->background = workers_create(srv->base, 1);
	lru_init(&srv->keeping);
	srv->upstream = upstream_client_create(srv->base);
	/* Signals first: a supervisor may act on "listening on" at once. */
	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_stop_signal, srv);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_stop_signal, srv);
	srv->sighup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
	event_add(srv->sigterm, NULL);
	event_add(srv->sigint, NULL);
	event_add(srv->sighup, NULL);
	srv->http = http_server_create(srv->base, &lim, handle, srv);
	http_server_set_hook(srv->http, request_done, srv);
	http_server_set_head_hook(srv->http, authorize_head, srv);
	metrics_on_collect(collect, srv);
	if (cfg->nlisten_tls > 0 && start_tls(srv, cause) != 0)
		return -1;
	for (size_t i = 0; i < cfg->nlisten + cfg->nlisten_tls; i++) {
		bool		 tls = i >= cfg->nlisten;
		const char	*addr = tls ? cfg->listen_tls[i - cfg->nlisten] :
				    cfg->listen[i];

		if (http_server_listen(srv->http, addr, tls, bound,
		    sizeof bound, cause) != 0)
			return -1;
		log_info("listening on %s%s", bound, tls ? " (TLS)" : "");
		if (tls && srv->url_tls == NULL)
			srv->url_tls = xasprintf("https://%s", bound);
		if (!tls && srv->url_plain == NULL)
			srv->url_plain = xasprintf("http://%s", bound);
		if (srv->public_url == NULL && cfg->public_url == NULL)
			srv->public_url = xasprintf("%s://%s", tls ? "https" :
			    "http", bound);
	}
	if (srv->public_url == NULL) {
		size_t	n = strlen(cfg->public_url);

		while (n > 0 && cfg->public_url[n - 1] == '/')
			n--;
		srv->public_url = xstrndup(cfg->public_url, n);
	}
	if (open_registries(srv, cause) != 0)
		return -1;
	for (size_t i = 0; i < srv->nregs; i++) {
		if (cfg->public_url != NULL)
			srv->regs[i].config_json = make_config_json(
			    srv->public_url, &srv->regs[i]);
		log_info("registry %s (%s): index sparse+%s/%s/", srv->regs[i]
		    .name, srv->regs[i].kind == REGISTRY_HOSTED ? "hosted" :
		    "mirror", srv->public_url, srv->regs[i].name);
	}
	srv->probes = probes_start(srv);
	return 0;
}

void
server_run(struct server *srv)
{
	event_base_dispatch(srv->base);
}

void
server_finish(struct server *srv)
{
	/* Work still under way ends first, answering its requests while
	 * their connections exist; then the connections go. */
	workers_destroy(srv->cpu);
	probes_free(srv->probes);
	upstream_client_destroy(srv->upstream);
	workers_destroy(srv->workers);
	workers_destroy(srv->background);
	lru_fini(&srv->keeping);
	http_server_free(srv->http);
	for (size_t i = 0; i < srv->nregs; i++) {
		hosted_close(srv->regs[i].hosted);
		mirror_close(srv->regs[i].mirror);
		store_close(srv->regs[i].store);
		free(srv->regs[i].config_json);
	}
	free(srv->regs);
	hot_destroy(srv->hot);
	open_files_destroy(srv->open);
	if (srv->sigterm != NULL)
		event_free(srv->sigterm);
	if (srv->sigint != NULL)
		event_free(srv->sigint);
	if (srv->sighup != NULL)
		event_free(srv->sighup);
	if (srv->drain_timer != NULL)
		event_free(srv->drain_timer);
	if (srv->cert_timer != NULL)
		event_free(srv->cert_timer);
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->lockfd != -1)
		close(srv->lockfd);
	tokens_finish(&srv->tokens);
	free(srv->public_url);
	free(srv->url_plain);
	free(srv->url_tls);
	for (size_t i = 0; i < srv->nold_cfgs; i++)
		config_free(srv->old_cfgs[i]);
	free(srv->old_cfgs);
	metrics_free();
	free(srv->req_series);
}
