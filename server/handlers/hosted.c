#include "server/handlers/hosted.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "cache/lru.h"
#include "cache/store.h"
#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/publish.h"
#include "index/semver.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/files/files.h"
#include "server/handlers/auth.h"
#include "server/http/http.h"
#include "server/http/route.h"
#include "server/storage/hosted_store.h"

#define INDEX_MAX	(64u << 20)
#define META_MAX	(1u << 20)
#define LOGIN_MAX	64
#define SEARCH_MAX	100

enum op_kind {
	OP_PUBLISH,
	OP_YANK,
	OP_UNYANK,
	OP_OWNERS_ADD,
	OP_OWNERS_REMOVE,
};

/* One write to one crate, from request to reply. */
struct op {
	enum op_kind		 kind;
	struct hosted		*h;
	struct http_request	*req;
	char			 name[CRATE_NAME_MAX + 1];
	char			 canon[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];
	struct publish		 pub;		/* OP_PUBLISH */
	json_t			*users;		/* OP_OWNERS_*: logins */
	bool			 new_crate;
	char			*user;		/* token label; NULL: auth off */
	bool			 admin;
	/* What the worker writes (NULL: nothing), and how it went. */
	char			*index;
	size_t			 index_len;
	char			*meta;
	int			 res;
	const char		*failed;	/* which write failed */
	bool			 submitted;	/* its write job is queued */
	bool			 stored;	/* in the object store: local
						   copies only remain */
	char			*index_etag;	/* the store's index object's */
	bool			 orphan;	/* failed, its .crate left */
	/* OP_PUBLISH: the .crate is on disk but its index line is not yet
	 * (set and cleared by the worker, read by the loop). */
	atomic_bool		 unindexed;
	char			*ok_body;	/* the reply on success */
	char			*refused;	/* why the .crate is bad */
	struct op		*next;		/* queued behind the crate */
};

/* A crate with a write in progress, and the writes waiting behind it. */
struct busy {
	char		 canon[CRATE_NAME_MAX + 1];
	struct op	*head, *tail;
	struct busy	*next;
};

struct hosted {
	struct registry	*reg;
	char		**names;	/* lowercase names of every crate */
	size_t		  nnames, cap;
	/* The same by canonical name (struct hname): the collision rule's
	 * lookup, and the catalogue's names added once. */
	struct lru	  canon;
	struct busy	 *busy;
	/* "canon vers" of .crate files a failed publish could not remove:
	 * never served; swept at the next start. */
	char		**orphans;
	size_t		  norphans;
	struct hstore	 *hs;		/* the object store's side, or NULL */
};

static void	start(struct op *);

struct hname {
	struct lru_node	 node;
	char		 canon[CRATE_NAME_MAX + 1];
	size_t		 i;		/* in names */
};

/* The known name whose canonical form is canon, or NULL. */
static const char *
known_canon(struct hosted *h, const char *canon)
{
	struct lru_node	*n = lru_find(&h->canon, canon, lru_hash(canon));

	return n == NULL ? NULL : h->names[lru_entry(n, struct hname,
	    node)->i];
}

static void
add_name(struct hosted *h, const char *lower)
{
	struct hname	*hn = xcalloc(1, sizeof *hn);

	crate_name_canon(lower, hn->canon);
	if (known_canon(h, hn->canon) != NULL) {
		free(hn);
		return;
	}
	hn->i = h->nnames;
	lru_add(&h->canon, &hn->node, hn->canon, lru_hash(hn->canon));
	if (h->nnames == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->names = xreallocarray(h->names, h->cap, sizeof *h->names);
	}
	h->names[h->nnames++] = xstrdup(lower);
}

static int
load_name(const char *path, const struct stat *st, void *arg)
{
	char	name[CRATE_NAME_MAX + 1];

	if (crate_name_from_index_path(path, name) == 0)
		add_name(arg, name);
	return 0;
}

/* The sweep of crates/ at start: the index file last read (the walk
 * visits one crate's files together). */
struct sweep {
	struct hosted	*h;
	char		 lower[CRATE_NAME_MAX + 1];
	char		*index;		/* NULL: none (or unreadable) */
	size_t		 len;
	int		 res;		/* of reading it */
	size_t		 removed;
};

/* A .crate whose version its index file does not list: left by a publish
 * that crashed between writing the .crate and its index line. */
static int
sweep_crate(const char *path, const struct stat *st, void *arg)
{
	struct sweep	*sw = arg;
	const char	*slash = strchr(path, '/');
	char		 lower[CRATE_NAME_MAX + 1], vers[VERSION_MAX + 1];
	char		 rel[STORE_PATH_MAX], ck[65];
	size_t		 n, flen;

	if (slash == NULL || (n = (size_t)(slash - path)) == 0 ||
	    n > CRATE_NAME_MAX)
		return 0;
	memcpy(lower, path, n);
	lower[n] = '\0';
	flen = strlen(slash + 1);
	if (crate_name_check(lower, NULL) != 0 || strncmp(slash + 1, lower,
	    n) != 0 || slash[1 + n] != '-' || flen < n + 8 || flen - n - 7 >
	    VERSION_MAX || strcmp(slash + 1 + flen - 6, ".crate") != 0)
		return 0;
	snprintf(vers, sizeof vers, "%.*s", (int)(flen - n - 7),
	    slash + 2 + n);
	if (strcmp(lower, sw->lower) != 0) {
		free(sw->index);
		sw->index = NULL;
		snprintf(sw->lower, sizeof sw->lower, "%s", lower);
		store_index_rel(lower, rel);
		sw->res = store_read(sw->h->reg->store, rel, &sw->index,
		    &sw->len, NULL, INDEX_MAX);
	}
	if (sw->res != 0 && sw->res != -ENOENT) {
		log_warn("registry %s: reading the index of %s: %s; its"
		    " .crate files are kept", sw->h->reg->name, lower,
		    strerror(-sw->res));
		return 0;
	}
	if (sw->res == 0 && index_file_cksum(sw->index, sw->len, vers, ck))
		return 0;
	snprintf(rel, sizeof rel, "crates/%s", path);
	if (store_unlink(sw->h->reg->store, rel) == 0) {
		log_warn("registry %s: removed %s: its index has no version"
		    " %s (a publish that did not finish)", sw->h->reg->name,
		    rel, vers);
		sw->removed++;
	}
	return 0;
}

int
hosted_open(struct registry *reg, char **cause)
{
	struct hosted	*h = xcalloc(1, sizeof *h);
	struct sweep	 sw = { .h = h };
	int		 r;

	h->reg = reg;
	reg->hosted = h;
	lru_init(&h->canon);
	if ((r = store_walk(reg->store, "index", load_name, h)) != 0) {
		*cause = xasprintf("registry %s: reading its index: %s",
		    reg->name, strerror(-r));
		return -1;
	}
	r = store_walk(reg->store, "crates", sweep_crate, &sw);
	free(sw.index);
	if (r != 0) {
		*cause = xasprintf("registry %s: reading its crates: %s",
		    reg->name, strerror(-r));
		return -1;
	}
	if (reg->objstore != NULL)
		h->hs = hstore_open(reg);
	log_info("registry %s: %zu crates%s", reg->name, h->nnames,
	    sw.removed ? " (unfinished publishes cleaned up)" : "");
	return 0;
}

static bool
index_lists(struct hosted *h, const char *name, const char *vers)
{
	char	rel[STORE_PATH_MAX], ck[65], *buf;
	size_t	len;
	bool	listed;

	store_index_rel(name, rel);
	if (store_read(h->reg->store, rel, &buf, &len, NULL, INDEX_MAX) != 0)
		return false;
	listed = index_file_cksum(buf, len, vers, ck);
	free(buf);
	return listed;
}

bool
hosted_unindexed(struct hosted *h, const char *name, const char *vers)
{
	char		 canon[CRATE_NAME_MAX + 1];
	struct busy	*b;

	if (h == NULL)
		return false;
	crate_name_canon(name, canon);
	for (size_t i = 0; i < h->norphans; i++) {
		size_t	n = strlen(canon);

		if (strncmp(h->orphans[i], canon, n) == 0 &&
		    h->orphans[i][n] == ' ' && strcmp(h->orphans[i] + n + 1,
		    vers) == 0)
			return true;
	}
	for (b = h->busy; b != NULL; b = b->next) {
		if (strcmp(b->canon, canon) != 0)
			continue;
		/* Only the first op of a crate is writing. */
		if (b->head->kind != OP_PUBLISH || !b->head->submitted ||
		    strcmp(b->head->vers, vers) != 0 ||
		    !atomic_load(&b->head->unindexed))
			return false;
		/* Rare (a download racing the publish of that very version):
		 * the index file decides, its line may have just landed. */
		return !index_lists(h, name, vers);
	}
	return false;
}

void
hosted_close(struct hosted *h)
{
	if (h == NULL)
		return;
	hstore_close(h->hs);
	while (h->canon.oldest != NULL) {
		struct lru_node	*n = h->canon.oldest;

		lru_remove(&h->canon, n);
		free(lru_entry(n, struct hname, node));
	}
	lru_fini(&h->canon);
	for (size_t i = 0; i < h->nnames; i++)
		free(h->names[i]);
	free(h->names);
	for (size_t i = 0; i < h->norphans; i++)
		free(h->orphans[i]);
	free(h->orphans);
	free(h);
}

static void
op_free(struct op *op)
{
	publish_finish(&op->pub);
	json_decref(op->users);
	free(op->user);
	free(op->index);
	free(op->meta);
	free(op->ok_body);
	free(op->refused);
	free(op->index_etag);
	free(op);
}

/* Ends op's hold on its crate and starts the next write waiting for it. */
static void
release(struct op *op)
{
	struct hosted	 *h = op->h;
	struct busy	**bp, *b;
	struct op	 *next;

	for (bp = &h->busy; strcmp((*bp)->canon, op->canon) != 0;
	    bp = &(*bp)->next)
		;
	b = *bp;
	next = op->next;
	op_free(op);
	if ((b->head = next) == NULL) {
		*bp = b->next;
		free(b);
		return;
	}
	start(next);
}

static void
acquire(struct op *op)
{
	struct hosted	*h = op->h;
	struct busy	*b;

	crate_name_canon(op->name, op->canon);
	for (b = h->busy; b != NULL; b = b->next)
		if (strcmp(b->canon, op->canon) == 0) {
			b->tail->next = op;
			b->tail = op;
			return;
		}
	b = xcalloc(1, sizeof *b);
	memcpy(b->canon, op->canon, sizeof b->canon);
	b->head = b->tail = op;
	b->next = h->busy;
	h->busy = b;
	start(op);
}

/* Replies with a cargo-format error and releases the crate. */
static void
fail(struct op *op, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail(struct op *op, int status, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_warn("registry %s: %s %s: %s", op->h->reg->name, op->name,
	    op->vers[0] ? op->vers : "-", msg);
	http_reply_error(op->req, status, "%s", msg);
	free(msg);
	release(op);
}

/* With tokens, only a crate's owners (or an admin token) change it: NULL,
 * or why not (new). */
static char *
owner_refusal(const struct op *op, json_t *owners)
{
	size_t	 i;
	json_t	*v;
	char	*list = NULL, *tmp, *msg;

	if (op->user == NULL || op->admin)
		return NULL;
	if (json_array_size(owners) == 0)
		return xasprintf("crate `%s` has no owners (it was published"
		    " before tokens were required); an admin token must add"
		    " one with `cargo owner --add`", op->name);
	json_array_foreach(owners, i, v) {
		if (strcmp(json_string_value(v), op->user) == 0) {
			free(list);
			return NULL;
		}
		tmp = xasprintf("%s%s`%s`", list ? list : "", list ? ", " : "",
		    json_string_value(v));
		free(list);
		list = tmp;
	}
	msg = xasprintf("`%s` is not an owner of crate `%s` (owners: %s); ask"
	    " an owner to run `cargo owner --add %s`", op->user, op->name,
	    list, op->user);
	free(list);
	return msg;
}

static void
succeed(struct op *op)
{
	http_reply(op->req, 200, "application/json", NULL, op->ok_body,
	    strlen(op->ok_body));
	release(op);
}

static char *
dump(json_t *j)
{
	char	*s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (s == NULL)
		xoom("json_dumps");
	return s;
}

/* The crate's metadata {"owners":[...],"description":...} from buf (NULL:
 * none); new reference, a fresh object when buf is not one. */
static json_t *
meta_parse(const char *buf, size_t len)
{
	json_t	*j = buf ? json_loadb(buf, len, 0, NULL) : NULL;

	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	if (!json_is_array(json_object_get(j, "owners")))
		json_object_set_new(j, "owners", json_array());
	return j;
}

/* The crate's metadata file: {"owners":[...],"description":...}. New
 * reference; a fresh object when there is none. */
static json_t *
read_meta(struct hosted *h, const char *name)
{
	char		 rel[STORE_PATH_MAX], *buf = NULL;
	size_t		 len = 0;
	json_t		*j;

	store_meta_rel(name, rel);
	if (store_read(h->reg->store, rel, &buf, &len, NULL, META_MAX) != 0)
		buf = NULL;
	j = meta_parse(buf, len);
	free(buf);
	return j;
}

/* A publish whose index line could not be written: its .crate goes too
 * (no version is served without its index line), so the disk space comes
 * back and a retry starts clean. While unindexed is set, downloads of the
 * version are refused (hosted_unindexed). */
static void
unpublish(struct op *op)
{
	char	rel[STORE_PATH_MAX], ck[65], *buf;
	size_t	len;
	int	r;

	/* The index file may have been renamed in before its directory's
	 * fsync failed: then the line is there and so stays the .crate. */
	store_index_rel(op->name, rel);
	r = store_read(op->h->reg->store, rel, &buf, &len, NULL, INDEX_MAX);
	if (r == 0) {
		bool	listed = index_file_cksum(buf, len, op->vers, ck);

		free(buf);
		if (listed) {
			atomic_store(&op->unindexed, false);
			return;
		}
	} else if (r != -ENOENT) {
		log_error("registry %s: %s %s: reading %s after the failed"
		    " publish: %s; its .crate is kept (not served) until the"
		    " next start", op->h->reg->name, op->name, op->vers, rel,
		    strerror(-r));
		op->orphan = true;
		return;
	}
	store_crate_rel(op->name, op->vers, rel);
	if ((r = store_unlink(op->h->reg->store, rel)) != 0) {
		log_error("registry %s: %s %s: removing %s after the failed"
		    " publish: %s (not served; removed at the next start)",
		    op->h->reg->name, op->name, op->vers, rel, strerror(-r));
		op->orphan = true;
	}
}

/* The blocking part of a write, on a worker: crate, then index line, then
 * metadata, each durable before the next, so an index line never names a
 * crate that is not on disk. */
static void
write_job(void *arg)
{
	struct op	*op = arg;
	struct store	*st = op->h->reg->store;
	char		 rel[STORE_PATH_MAX];
	bool		 publish = op->kind == OP_PUBLISH;
	bool		 yank = op->kind == OP_YANK || op->kind == OP_UNYANK;

	if (publish) {
		store_crate_rel(op->name, op->vers, rel);
		atomic_store(&op->unindexed, true);
		op->res = store_write(st, rel, op->pub.crate,
		    op->pub.crate_len, "publish:after-crate-tmp",
		    "publish:after-crate-rename");
		if (op->res != 0) {
			op->failed = "the .crate file";
			unpublish(op);
			return;
		}
	}
	if (op->index != NULL) {
		char	irel[STORE_PATH_MAX];

		store_index_rel(op->name, irel);
		op->res = store_write(st, irel, op->index, op->index_len,
		    publish ? "publish:after-index-tmp" : yank ?
		    "yank:after-index-tmp" : NULL, publish ?
		    "publish:after-index-rename" : yank ?
		    "yank:after-index-rename" : NULL);
		if (op->res != 0) {
			op->failed = "the index file";
			if (publish)
				unpublish(op);
			return;
		}
	}
	atomic_store(&op->unindexed, false);
	if (op->meta != NULL) {
		store_meta_rel(op->name, rel);
		op->res = store_write(st, rel, op->meta, strlen(op->meta),
		    publish ? "publish:after-meta-tmp" :
		    "owners:after-meta-tmp", publish ?
		    "publish:after-meta-rename" : "owners:after-meta-rename");
		if (op->res != 0)
			op->failed = "the crate's metadata";
	}
}

/* Records (or, after a publish that wrote it, forgets) a .crate left by
 * a failed publish. */
static void
orphan_mark(struct hosted *h, const char *canon, const char *vers, bool add)
{
	char	*key = xasprintf("%s %s", canon, vers);

	for (size_t i = 0; i < h->norphans; i++)
		if (strcmp(h->orphans[i], key) == 0) {
			if (add) {
				free(key);
				return;
			}
			free(h->orphans[i]);
			h->orphans[i] = h->orphans[--h->norphans];
			break;
		}
	if (!add) {
		free(key);
		return;
	}
	h->orphans = xreallocarray(h->orphans, h->norphans + 1,
	    sizeof *h->orphans);
	h->orphans[h->norphans++] = key;
}

static void
write_done(void *arg)
{
	struct op	*op = arg;
	struct registry	*reg = op->h->reg;
	char		 path[INDEX_PATH_MAX];

	crate_index_path(op->name, path);
	if (op->index != NULL && op->stored && op->res == 0)
		files_index_stored(reg, path, op->index_etag);
	else if (op->index != NULL)
		files_index_changed(reg, path);
	if (op->kind == OP_PUBLISH) {
		/* A .crate left by a publish that failed later may have been
		 * downloaded, and so kept open, before this one replaced it. */
		char	rel[STORE_PATH_MAX];

		store_crate_rel(op->name, op->vers, rel);
		files_removed(reg, rel);
	}
	if (op->kind == OP_PUBLISH)
		orphan_mark(op->h, op->canon, op->vers, op->orphan);
	if (op->res != 0 && op->stored)
		/* The store has it, which is what counts: this replica reads
		 * it from there. */
		log_error("registry %s: %s %s: stored, but this replica's copy"
		    " of %s could not be written: %s", reg->name, op->name,
		    op->vers, op->failed, strerror(-op->res));
	else if (op->res != 0) {
		log_error("registry %s: %s %s: writing %s: %s", reg->name,
		    op->name, op->vers, op->failed, strerror(-op->res));
		fail(op, op->res == -ENOSPC ? 507 : 500, "crated could not"
		    " write %s: %s", op->failed, strerror(-op->res));
		return;
	}
	if (op->kind == OP_PUBLISH) {
		if (op->new_crate) {
			char	lower[INDEX_PATH_MAX];

			strcpy(lower, strrchr(path, '/') + 1);
			add_name(op->h, lower);
		}
		log_info("registry %s: published %s %s (%zu bytes, cksum %s)",
		    reg->name, op->name, op->vers, op->pub.crate_len,
		    op->pub.cksum);
	} else
		log_info("registry %s: %s %s%s%s", reg->name,
		    op->kind == OP_YANK ? "yanked" : op->kind == OP_UNYANK ?
		    "unyanked" : "changed the owners of", op->name,
		    op->vers[0] ? " " : "", op->vers);
	succeed(op);
}

/* The crate's index file: 0 with *buf (new), -ENOENT, or an error that
 * has been answered (and op released): -EIO. */
static int
read_index(struct op *op, char **buf, size_t *len)
{
	char	rel[STORE_PATH_MAX];
	int	r;

	store_index_rel(op->name, rel);
	r = store_read(op->h->reg->store, rel, buf, len, NULL, INDEX_MAX);
	if (r == 0 || r == -ENOENT)
		return r;
	fail(op, 500, "crated could not read the index of `%s`: %s", op->name,
	    strerror(-r));
	return -EIO;
}

static void
refuse(struct hstore_edit *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
refuse(struct hstore_edit *e, int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	e->msg = xvasprintf(fmt, ap);
	va_end(ap);
	e->status = status;
}

struct scan {
	const char	*name;		/* the name being published */
	const char	*vers;
	const char	*other_name;	/* set: a line with another spelling */
	char		*conflict;	/* set: the version that conflicts */
};

static int
scan_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct scan	*s = arg;

	if (e == NULL)
		return 0;
	if (strcmp(e->name, s->name) != 0 && s->other_name == NULL)
		s->other_name = "";
	if (semver_same_ignoring_build(e->vers, s->vers)) {
		s->conflict = xstrdup(e->vers);
		return 1;
	}
	return 0;
}

/* Finds the name an index file gives its crate. */
static int
first_name(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	if (e == NULL)
		return 0;
	snprintf(arg, CRATE_NAME_MAX + 1, "%s", e->name);
	return 1;
}

/* A crate this machine knows whose name differs from canon's only in '-'
 * and '_'. */
static const char *
similar_name(struct hosted *h, const char *canon)
{
	return known_canon(h, canon);
}

void
hosted_add_name(struct hosted *h, const char *name)
{
	if (h != NULL && crate_name_check(name, NULL) == 0)
		add_name(h, name);
}

/* Whether old (an existing index file) refuses op's version: a line with
 * another spelling, the version, or its twin but for build metadata. */
static bool
publish_refused(struct op *op, const char *old, size_t oldlen,
    struct hstore_edit *e)
{
	struct scan	 s = { op->name, op->vers, NULL, NULL };
	char		 existing[CRATE_NAME_MAX + 1] = "";

	index_file_foreach(old, oldlen, scan_line, &s);
	if (s.other_name != NULL) {
		index_file_foreach(old, oldlen, first_name, existing);
		refuse(e, 409, "crate `%s` already exists as `%s`: names may"
		    " not differ only in case; publish it as `%s`", op->name,
		    existing, existing);
	} else if (s.conflict != NULL && strcmp(s.conflict, op->vers) == 0)
		refuse(e, 409, "crate `%s@%s` already exists in registry `%s`;"
		    " publish a new version", op->name, op->vers,
		    op->h->reg->name);
	else if (s.conflict != NULL)
		refuse(e, 409, "crate `%s` already has version %s, which"
		    " differs from %s only in build metadata; publish a new"
		    " version", op->name, s.conflict, op->vers);
	free(s.conflict);
	return e->status != 0;
}

/* A publish's index file: old plus the new line, unless refused. */
static void
publish_index_apply(const char *old, size_t oldlen, struct hstore_edit *e,
    void *arg)
{
	struct op	*op = arg;
	const char	*other;
	char		*line;

	if (old == NULL) {
		/* With a store, its name reservation decides too; this
		 * replica's names still catch crates stored before
		 * reservations were (a migrated registry). */
		/* The same name: its index object is gone from the store
		 * (removed); the reservation decides. */
		if ((other = similar_name(op->h, op->canon)) != NULL &&
		    strcasecmp(other, op->name) != 0) {
			refuse(e, 409, "crate name `%s` is too similar to the"
			    " existing crate `%s` (names may not differ only"
			    " in case or in - and _)", op->name, other);
			return;
		}
		e->new_crate = true;
	} else if (publish_refused(op, old, oldlen, e))
		return;
	op->new_crate = e->new_crate;
	line = publish_index_line(&op->pub, time(NULL));
	e->body = xasprintf("%.*s%s%s\n", (int)oldlen, old ? old : "",
	    oldlen > 0 && old[oldlen - 1] != '\n' ? "\n" : "", line);
	e->len = strlen(e->body);
	free(line);
}

/* After a write whose answer was lost: whether old lists this very
 * publish (its version with its checksum). */
static bool
publish_applied(const char *old, size_t len, void *arg)
{
	struct op	*op = arg;
	char		 ck[65];

	return index_file_cksum(old, len, op->vers, ck) &&
	    strcmp(ck, op->pub.cksum) == 0;
}

/* A publish's metadata: the owners checked (the first publisher owns the
 * crate), the description replaced. */
static void
publish_meta_apply(const char *old, size_t len, struct hstore_edit *e,
    void *arg)
{
	struct op	*op = arg;
	json_t		*meta, *owners, *d;
	char		*why;

	/* On local disk a new crate's leftover metadata means nothing; in a
	 * store, owners there came first (a publish racing this one). */
	meta = meta_parse(op->new_crate && op->h->hs == NULL ? NULL : old,
	    len);
	owners = json_object_get(meta, "owners");
	if ((!op->new_crate || json_array_size(owners) > 0) &&
	    (why = owner_refusal(op, owners)) != NULL) {
		e->status = 403;
		e->msg = why;
		json_decref(meta);
		return;
	}
	if (json_array_size(owners) == 0 && op->user != NULL)
		json_array_append_new(owners, json_string(op->user));
	d = json_object_get(op->pub.meta, "description");
	json_object_set(meta, "description", d ? d : json_null());
	e->body = dump(meta);
	e->len = strlen(e->body);
}

/* Yank and owners: only an owner may. */
static void
owner_apply(const char *old, size_t len, struct hstore_edit *e, void *arg)
{
	json_t	*meta = meta_parse(old, len);

	if ((e->msg = owner_refusal(arg, json_object_get(meta, "owners"))) !=
	    NULL)
		e->status = 403;
	json_decref(meta);
}

/* Owners: the crate must exist; its index is not changed. */
static void
exists_apply(const char *old, size_t len, struct hstore_edit *e, void *arg)
{
	struct op	*op = arg;

	if (old == NULL)
		refuse(e, 404, "crate `%s` does not exist in registry `%s`",
		    op->name, op->h->reg->name);
}

struct yank_scan {
	const char	*vers;
	const char	*match;		/* the line */
	size_t		 match_len;
	bool		 yanked;
	int		 matches;	/* equal but for build metadata */
	bool		 exact;
};

static int
yank_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct yank_scan	*y = arg;

	/* "1.0.1" names "1.0.1+build.5"; "1.0.1+other" names only itself. */
	if (e == NULL || !semver_same_ignoring_build(e->vers, y->vers) ||
	    (strchr(y->vers, '+') != NULL && strcmp(e->vers, y->vers) != 0))
		return 0;
	if (y->exact)
		return 0;
	y->matches++;
	y->match = line;
	y->match_len = len;
	y->yanked = e->yanked;
	if (strcmp(e->vers, y->vers) == 0) {
		y->exact = true;
		y->matches = 1;
	}
	return 0;
}

/* Yank and unyank: the version's line with its yanked flag set. */
static void
yank_index_apply(const char *old, size_t oldlen, struct hstore_edit *e,
    void *arg)
{
	struct op		*op = arg;
	struct yank_scan	 y = { .vers = op->vers };
	char			*line, *err = NULL;
	size_t			 off;

	if (old == NULL) {
		exists_apply(old, oldlen, e, arg);
		return;
	}
	index_file_foreach(old, oldlen, yank_line, &y);
	if (y.matches != 1) {
		refuse(e, 404, y.matches == 0 ? "crate `%s` has no version %s" :
		    "crate `%s` has several versions matching %s; give the"
		    " build metadata too", op->name, op->vers);
		return;
	}
	if (y.yanked == (op->kind == OP_YANK))
		return;
	if ((line = index_line_set_yanked(y.match, y.match_len, op->kind ==
	    OP_YANK, &err)) == NULL) {
		refuse(e, 500, "the index line of `%s` %s is damaged: %s",
		    op->name, op->vers, err);
		free(err);
		return;
	}
	off = (size_t)(y.match - old);
	e->body = xasprintf("%.*s%s%.*s", (int)off, old, line,
	    (int)(oldlen - off - y.match_len), old + off + y.match_len);
	e->len = strlen(e->body);
	free(line);
}

static bool
has_login(json_t *owners, const char *login)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(owners, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), login)
		    == 0)
			return true;
	return false;
}

/* One login added to or removed from owners; false when refused. */
static bool
owners_change(struct op *op, json_t *owners, json_t *v, struct hstore_edit *e)
{
	const char	*login = json_string_value(v);

	if (op->kind == OP_OWNERS_ADD) {
		if (!has_login(owners, login))
			json_array_append(owners, v);
		return true;
	}
	if (json_array_size(owners) == 1 && has_login(owners, login) &&
	    op->user != NULL) {
		refuse(e, 400, "`%s` is the last owner of crate `%s`: add"
		    " another owner before removing it", login, op->name);
		return false;
	}
	if (!has_login(owners, login)) {
		refuse(e, 404, "`%s` is not an owner of crate `%s`", login,
		    op->name);
		return false;
	}
	for (size_t j = 0; j < json_array_size(owners); j++)
		if (strcmp(json_string_value(json_array_get(owners, j)),
		    login) == 0)
			json_array_remove(owners, j--);
	return true;
}

/* cargo owner --add/--remove: the metadata's owners changed. */
static void
owners_meta_apply(const char *old, size_t len, struct hstore_edit *e,
    void *arg)
{
	struct op	*op = arg;
	bool		 add = op->kind == OP_OWNERS_ADD;
	json_t		*meta = meta_parse(old, len), *owners, *v;
	size_t		 i;
	char		*list = NULL, *tmp;

	owners = json_object_get(meta, "owners");
	if ((e->msg = owner_refusal(op, owners)) != NULL) {
		e->status = 403;
		json_decref(meta);
		return;
	}
	json_array_foreach(op->users, i, v) {
		if (!owners_change(op, owners, v, e)) {
			json_decref(meta);
			free(list);
			return;
		}
		tmp = xasprintf("%s%s`%s`", list ? list : "", list ? ", " : "",
		    json_string_value(v));
		free(list);
		list = tmp;
	}
	e->body = dump(meta);
	e->len = strlen(e->body);
	free(op->ok_body);
	op->ok_body = dump(json_pack("{s:b, s:s++}", "ok", 1, "msg", list,
	    !add ? " removed from the owners of crate " :
	    json_array_size(op->users) == 1 ? " is now an owner of crate " :
	    " are now owners of crate ", op->name));
	free(list);
}

/* Local disk: the edits applied to this machine's files. */
static void
start_local(struct op *op, hstore_apply_cb index_apply,
    hstore_apply_cb meta_apply)
{
	struct hstore_edit	 ie = { 0 }, me = { 0 };
	char			 rel[STORE_PATH_MAX], *buf = NULL;
	size_t			 len = 0;
	int			 r;

	if ((r = read_index(op, &buf, &len)) == -EIO)
		return;
	index_apply(r == 0 ? buf : NULL, len, &ie, op);
	free(buf);
	buf = NULL;
	if (ie.status == 0 && meta_apply != NULL) {
		store_meta_rel(op->name, rel);
		r = store_read(op->h->reg->store, rel, &buf, &len, NULL,
		    META_MAX);
		meta_apply(r == 0 ? buf : NULL, r == 0 ? len : 0, &me, op);
		free(buf);
	}
	if (ie.status != 0 || me.status != 0) {
		fail(op, ie.status ? ie.status : me.status, "%s", ie.status ?
		    ie.msg : me.msg);
		free(ie.msg);
		free(me.msg);
		free(ie.body);
		free(me.body);
		return;
	}
	op->index = ie.body;
	op->index_len = ie.len;
	op->meta = me.body;
	if (op->index == NULL && op->meta == NULL) {
		succeed(op);
		return;
	}
	op->submitted = true;
	workers_submit(op->h->reg->srv->workers, write_job, write_done, op);
}

/* The object store answered: its objects become this replica's copies
 * (written before the reply, so that this replica serves them at once). */
static void
stored(const struct hstore_outcome *o, void *arg)
{
	struct op	*op = arg;

	if (o->status != 200) {
		fail(op, o->status, "%s", o->msg);
		return;
	}
	op->stored = true;
	op->new_crate = o->new_crate;
	free(op->index);
	free(op->meta);
	/* Text as the store returned it: cut at a NUL, if any. */
	op->index = o->index ? xstrndup(o->index, o->index_len) : NULL;
	op->index_len = op->index ? strlen(op->index) : 0;
	op->meta = o->meta ? xstrndup(o->meta, o->meta_len) : NULL;
	op->index_etag = o->index_etag ? xstrdup(o->index_etag) : NULL;
	op->submitted = true;
	workers_submit(op->h->reg->srv->workers, write_job, write_done, op);
}

static void
start_store(struct op *op, hstore_apply_cb index_apply,
    hstore_apply_cb meta_apply)
{
	static const enum hstore_op ops[] = {
		[OP_PUBLISH] = HSTORE_PUBLISH, [OP_YANK] = HSTORE_YANK,
		[OP_UNYANK] = HSTORE_UNYANK, [OP_OWNERS_ADD] = HSTORE_OWNERS,
		[OP_OWNERS_REMOVE] = HSTORE_OWNERS,
	};
	struct hstore_write	 w = {
		.op = ops[op->kind], .name = op->name, .vers = op->vers[0] ?
		op->vers : NULL, .user = op->user, .client = http_peer(op->req),
		.index_apply = index_apply, .meta_apply = meta_apply,
		.done = stored, .arg = op,
	};

	if (op->kind == OP_PUBLISH) {
		w.crate = op->pub.crate;
		w.crate_len = op->pub.crate_len;
		w.cksum = op->pub.cksum;
		w.index_applied = publish_applied;
	}
	hstore_write(op->h->hs, &w);
}

/* Runs op now that it holds its crate: the edits decided against the
 * object store when the registry has one, else against the local files. */
static void
start(struct op *op)
{
	hstore_apply_cb	 index_apply = exists_apply, meta_apply = NULL;

	switch (op->kind) {
	case OP_PUBLISH:
		index_apply = publish_index_apply;
		meta_apply = publish_meta_apply;
		op->ok_body = xstrdup("{\"warnings\":{\"invalid_categories\""
		    ":[],\"invalid_badges\":[],\"other\":[]}}");
		break;
	case OP_YANK:
	case OP_UNYANK:
		index_apply = yank_index_apply;
		meta_apply = op->user != NULL ? owner_apply : NULL;
		op->ok_body = xstrdup("{\"ok\":true}");
		break;
	case OP_OWNERS_ADD:
	case OP_OWNERS_REMOVE:
		meta_apply = owners_meta_apply;
		break;
	}
	if (op->h->hs != NULL)
		start_store(op, index_apply, meta_apply);
	else
		start_local(op, index_apply, meta_apply);
}

static void
owners_list(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	char	 rel[STORE_PATH_MAX];
	json_t	*meta, *users, *v;
	size_t	 i;
	char	*body;

	store_index_rel(rt->name, rel);
	if (!store_exists(reg->store, rel)) {
		http_reply_error(r, 404, "crate `%s` does not exist in registry"
		    " `%s`", rt->name, reg->name);
		return;
	}
	meta = read_meta(reg->hosted, rt->name);
	users = json_array();
	json_array_foreach(json_object_get(meta, "owners"), i, v)
		json_array_append_new(users, json_pack("{s:I, s:O, s:n}",
		    "id", (json_int_t)i + 1, "login", v, "name"));
	json_decref(meta);
	body = dump(json_pack("{s:o}", "users", users));
	http_reply(r, 200, "application/json", NULL, body, strlen(body));
	free(body);
}

/* The logins of an owners body {"users":[...]} (new), or NULL with the
 * request answered. */
static json_t *
parse_users(struct http_request *r)
{
	const unsigned char	*body;
	size_t			 len, i;
	json_t			*j, *users, *v;

	body = http_body(r, &len);
	j = json_loadb((const char *)body, len, 0, NULL);
	users = json_object_get(j, "users");
	if (!json_is_array(users) || json_array_size(users) == 0) {
		json_decref(j);
		http_reply_error(r, 400, "expected a JSON body"
		    " {\"users\":[\"login\", ...]}");
		return NULL;
	}
	json_array_foreach(users, i, v) {
		const char	*s = json_string_value(v);
		size_t		 n = s ? strlen(s) : 0;

		if (n == 0 || n > LOGIN_MAX || strspn(s,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789-_.@") != n) {
			json_decref(j);
			http_reply_error(r, 400, "owner logins are 1 to %d"
			    " letters, digits and -_.@", LOGIN_MAX);
			return NULL;
		}
	}
	json_incref(users);
	json_decref(j);
	return users;
}

struct search {
	struct registry	*reg;
	char		 q[CRATE_NAME_MAX + 1];	/* canonical form */
	json_t		*hits;			/* [name, max_version] */
	int		 total;
};

struct best {
	char	name[CRATE_NAME_MAX + 1];
	char	*vers;
	bool	yanked;
};

static int
best_line(const char *line, size_t len, const struct index_entry *e,
    void *arg)
{
	struct best	*b = arg;

	if (e == NULL)
		return 0;
	snprintf(b->name, sizeof b->name, "%s", e->name);
	/* The highest version that is not yanked; yanked ones only when
	 * nothing else is left. */
	if (b->vers == NULL || (b->yanked && !e->yanked) ||
	    (b->yanked == e->yanked && semver_cmp_str(e->vers, b->vers) > 0)) {
		free(b->vers);
		b->vers = xstrdup(e->vers);
		b->yanked = e->yanked;
	}
	return 0;
}

static int
search_file(const char *path, const struct stat *st, void *arg)
{
	struct search	*s = arg;
	struct best	 b = { .vers = NULL };
	char		 name[CRATE_NAME_MAX + 1], canon[CRATE_NAME_MAX + 1];
	char		 rel[STORE_PATH_MAX], *buf;
	size_t		 len;

	if (crate_name_from_index_path(path, name) != 0)
		return 0;
	crate_name_canon(name, canon);
	if (strstr(canon, s->q) == NULL)
		return 0;
	snprintf(rel, sizeof rel, "index/%s", path);
	if (store_read(s->reg->store, rel, &buf, &len, NULL, INDEX_MAX) != 0)
		return 0;
	index_file_foreach(buf, len, best_line, &b);
	free(buf);
	if (b.vers != NULL) {
		s->total++;
		json_array_append_new(s->hits, json_pack("{s:s, s:s}", "name",
		    b.name, "max_version", b.vers));
	}
	free(b.vers);
	return 0;
}

static int
hit_cmp(const void *a, const void *b)
{
	json_t	*const *x = a, *const *y = b;

	return strcasecmp(json_string_value(json_object_get(*x, "name")),
	    json_string_value(json_object_get(*y, "name")));
}

/* Whether query (may be NULL) has key=..., decodable or not. */
static bool
has_param(const char *query, const char *key)
{
	size_t	klen = strlen(key);

	for (const char *p = query; p != NULL && *p != '\0';) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return true;
		p = strchr(p, '&');
		p = p ? p + 1 : NULL;
	}
	return false;
}

static void
search(struct registry *reg, struct http_request *r)
{
	struct search	 s = { .reg = reg };
	char		 q[256], per[16], *body;
	json_t		*crates, **all, *v;
	long		 per_page = 10;
	size_t		 i, n;

	if (http_query(r) == NULL || http_query_param(http_query(r), "q", q,
	    sizeof q) != 0) {
		if (has_param(http_query(r), "q")) {
			http_reply_error(r, 400, "the search query q= is not"
			    " valid percent-encoding of text (at most %zu"
			    " bytes, no %%00)", sizeof q - 1);
			return;
		}
		q[0] = '\0';
	}
	if (http_query(r) != NULL && http_query_param(http_query(r),
	    "per_page", per, sizeof per) == 0) {
		per_page = strtol(per, NULL, 10);
		if (per_page < 1 || per_page > SEARCH_MAX)
			per_page = per_page < 1 ? 10 : SEARCH_MAX;
	}
	q[CRATE_NAME_MAX] = '\0';
	crate_name_canon(q, s.q);
	s.hits = json_array();
	store_walk(reg->store, "index", search_file, &s);
	n = json_array_size(s.hits);
	all = xcalloc(n, sizeof *all);
	json_array_foreach(s.hits, i, v)
		all[i] = v;
	qsort(all, n, sizeof *all, hit_cmp);
	crates = json_array();
	for (i = 0; i < n && (long)i < per_page; i++) {
		json_t	*meta = read_meta(reg->hosted, json_string_value(
		    json_object_get(all[i], "name")));
		json_t	*d = json_object_get(meta, "description");

		json_object_set(all[i], "description", d ? d : json_null());
		json_array_append(crates, all[i]);
		json_decref(meta);
	}
	free(all);
	json_decref(s.hits);
	body = dump(json_pack("{s:o, s:{s:i}}", "crates", crates, "meta",
	    "total", s.total));
	http_reply(r, 200, "application/json", NULL, body, strlen(body));
	free(body);
}

static struct op *
new_op(struct registry *reg, struct http_request *r, enum op_kind kind)
{
	struct op	*op = xcalloc(1, sizeof *op);
	const char	*user;
	int		 scope;

	op->kind = kind;
	op->h = reg->hosted;
	op->req = r;
	if ((user = http_user(r, &scope, NULL)) != NULL) {
		op->user = xstrdup(user);
		op->admin = scope == SCOPE_ADMIN;
	}
	return op;
}

/* Reading the whole .crate is CPU work (up to CRATE_UNPACK_MAX bytes to
 * inflate): it runs on a worker, before anything is written. */
static void
check_job(void *arg)
{
	struct op	*op = arg;

	publish_check_crate(&op->pub, &op->refused);
}

static void
check_done(void *arg)
{
	struct op	*op = arg;

	if (op->refused == NULL) {
		acquire(op);
		return;
	}
	log_warn("registry %s: refused a publish from %s: %s",
	    op->h->reg->name, http_peer(op->req), op->refused);
	http_reply_error(op->req, 400, "%s", op->refused);
	op_free(op);
}

static void
publish(struct registry *reg, struct http_request *r)
{
	struct op		*op = new_op(reg, r, OP_PUBLISH);
	const unsigned char	*body;
	size_t			 len;
	char			*cause = NULL;

	body = http_body(r, &len);
	if (publish_parse(body, len, &op->pub, &cause) != 0) {
		log_warn("registry %s: refused a publish from %s: %s",
		    reg->name, http_peer(r), cause);
		http_reply_error(r, 400, "%s", cause);
		free(cause);
		op_free(op);
		return;
	}
	snprintf(op->name, sizeof op->name, "%s", op->pub.name);
	if (!auth_may_write(r, op->name, SCOPE_PUBLISH)) {
		op_free(op);
		return;
	}
	if (strlen(op->pub.vers) > VERSION_MAX) {
		http_reply_error(r, 400, "version of `%s` is longer than %d"
		    " bytes", op->name, VERSION_MAX);
		op_free(op);
		return;
	}
	snprintf(op->vers, sizeof op->vers, "%s", op->pub.vers);
	workers_submit(reg->srv->cpu, check_job, check_done, op);
}

void
hosted_api(struct registry *reg, struct http_request *r,
    const struct route *rt)
{
	enum http_method	 m = http_method(r);
	struct op		*op;

	switch (rt->kind) {
	case ROUTE_PUBLISH:
		if (m != HTTP_PUT)
			break;
		publish(reg, r);
		return;
	case ROUTE_SEARCH:
		if (m != HTTP_GET && m != HTTP_HEAD)
			break;
		search(reg, r);
		return;
	case ROUTE_YANK:
	case ROUTE_UNYANK:
		if (m != (rt->kind == ROUTE_YANK ? HTTP_DELETE : HTTP_PUT))
			break;
		if (!auth_may_write(r, rt->name, SCOPE_YANK))
			return;
		op = new_op(reg, r, rt->kind == ROUTE_YANK ? OP_YANK :
		    OP_UNYANK);
		memcpy(op->name, rt->name, sizeof op->name);
		memcpy(op->vers, rt->vers, sizeof op->vers);
		acquire(op);
		return;
	case ROUTE_OWNERS:
		if (m == HTTP_GET) {
			owners_list(reg, r, rt);
			return;
		}
		if (m != HTTP_PUT && m != HTTP_DELETE)
			break;
		if (!auth_may_write(r, rt->name, SCOPE_PUBLISH))
			return;
		op = new_op(reg, r, m == HTTP_PUT ? OP_OWNERS_ADD :
		    OP_OWNERS_REMOVE);
		memcpy(op->name, rt->name, sizeof op->name);
		if ((op->users = parse_users(r)) == NULL) {
			op_free(op);
			return;
		}
		acquire(op);
		return;
	default:
		break;
	}
	http_reply_error(r, 405, "method %s is not allowed on %s",
	    http_method_name(r), http_path(r));
}
