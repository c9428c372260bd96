/* What the registry list (page_registry.c) shows of each crate: name,
 * newest version, description, last change; kept in memory per registry
 * and touched only on the pages' (single) worker.
 *
 * The list is made by a walk of index/ at its first view and then kept
 * up to date from the store's change log (store.h, store_changes),
 * looked at every second and at each view: an index file written or
 * removed is read again, a hosted crate's meta/ file gives its
 * description again, and a .crate a mirror stored (fetched for cargo, by
 * prefetch, from the shared cache) is queued to have its Cargo.toml read
 * for the description. A view therefore makes no system call per crate.
 * When the log lost changes (more than it keeps between two looks) the
 * walk is made again, reading only the index files whose mtime, size or
 * inode changed.
 *
 * A mirror crate's description is kept on disk, web/about/<index
 * path>.json ({"vers", "description"}: the newest version whose
 * Cargo.toml was read, and the description of the newest one read that
 * has one), so a restart reads one small file per crate, not the .crate
 * files. At start a mirror's crates/ is walked and the .crate files newer
 * than what web/about/ says are queued (a data directory filled by
 * `crated import`, or by an older crated). Queued files are read in the
 * background, a few milliseconds of work at a time, whether or not the
 * list was ever viewed. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "cache/store.h"
#include "cache/usage.h"
#include "common/xmalloc.h"
#include "index/crate_archive.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/semver.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/web/web_int.h"

#define LIST_MAX	100000		/* crates listed per registry */
#define PENDING_MAX	LIST_MAX	/* .crate files waiting to be read */
#define INDEX_MAX	(64u << 20)
#define META_MAX	(1 << 20)
#define ABOUT_MAX	(64 << 10)
#define DESC_MAX	4096		/* bytes of a description kept */
#define UNPACK_MAX	((uint64_t)32 << 20)	/* inflated before Cargo.toml */
#define TOML_MAX	((size_t)256 << 10)

static bool
stopping(const struct web *w)
{
	return atomic_load(&w->stopping);
}

static void
entry_free(struct sum_entry *e)
{
	free(e->path);
	free(e->name);
	free(e->vers);
	free(e->desc);
	free(e->about_vers);
}

static void
pending_clear(struct reg_summary *s)
{
	for (size_t i = 0; i < s->npend; i++) {
		free(s->pend[i].name);
		free(s->pend[i].vers);
	}
	free(s->pend);
	s->pend = NULL;
	s->npend = s->pcap = s->pnext = 0;
}

static void
uses_clear(struct reg_summary *s)
{
	usage_copy_free(s->copy, s->ncopy);
	free(s->uses);
	s->copy = NULL;
	s->uses = NULL;
	s->ncopy = s->nuses = 0;
}

void
summaries_free(struct reg_summary *s)
{
	while (s != NULL) {
		struct reg_summary	*next = s->next;

		for (size_t i = 0; i < s->n; i++)
			entry_free(&s->e[i]);
		free(s->e);
		free(s->slot);
		pending_clear(s);
		uses_clear(s);
		free(s);
		s = next;
	}
}

static size_t
path_hash(const char *p)
{
	uint32_t	h = 2166136261u;

	for (; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h;
}

struct sum_entry *
summary_find(struct reg_summary *s, const char *path)
{
	size_t	i;

	if (s->nslot == 0)
		return NULL;
	i = path_hash(path) & (s->nslot - 1);
	for (size_t k = 0; k < s->nslot; k++, i = (i + 1) & (s->nslot - 1)) {
		if (s->slot[i] == 0)
			return NULL;
		if (strcmp(s->e[s->slot[i] - 1].path, path) == 0)
			return &s->e[s->slot[i] - 1];
	}
	return NULL;
}

static void
slot_put(struct reg_summary *s, size_t k)
{
	size_t	i = path_hash(s->e[k].path) & (s->nslot - 1);

	while (s->slot[i] != 0)
		i = (i + 1) & (s->nslot - 1);
	s->slot[i] = k + 1;
}

/* The hash of entries by path, made again (at most half full). */
static void
sum_index(struct reg_summary *s)
{
	free(s->slot);
	for (s->nslot = 16; s->nslot < 2 * s->n; s->nslot *= 2)
		;
	s->slot = xcalloc(s->nslot, sizeof *s->slot);
	for (size_t k = 0; k < s->n; k++)
		slot_put(s, k);
}

/* Appends row (stolen) to s. */
static void
sum_add(struct reg_summary *s, struct sum_entry *row)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = xreallocarray(s->e, s->cap, sizeof *s->e);
	}
	s->e[s->n++] = *row;
	if (2 * s->n > s->nslot)
		sum_index(s);
	else
		slot_put(s, s->n - 1);
}

/* Drops the entries marked gone. */
static void
sum_compact(struct reg_summary *s)
{
	size_t	k = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->e[i].gone)
			entry_free(&s->e[i]);
		else
			s->e[k++] = s->e[i];
	}
	s->n = k;
	sum_index(s);
}

/* A description as the list keeps it (new): at most DESC_MAX bytes, cut
 * at a character's start. */
static char *
desc_copy(const char *d)
{
	size_t	n = strlen(d);

	if (n <= DESC_MAX)
		return xstrdup(d);
	for (n = DESC_MAX; n > 0 && ((unsigned char)d[n] & 0xc0) == 0x80; n--)
		;
	return xasprintf("%.*s…", (int)n, d);
}

/* The description in a hosted crate's meta file, new or NULL. */
static char *
hosted_description(struct store *st, const char *name)
{
	char		 rel[STORE_PATH_MAX], *buf, *out = NULL;
	const char	*d;
	size_t		 len;
	json_t		*j;

	store_meta_rel(name, rel);
	if (store_read(st, rel, &buf, &len, NULL, META_MAX) != 0)
		return NULL;
	if ((j = json_loadb(buf, len, 0, NULL)) != NULL &&
	    (d = json_string_value(json_object_get(j, "description"))) != NULL)
		out = desc_copy(d);
	json_decref(j);
	free(buf);
	return out;
}

/* web/about/<index path>.json of a mirror crate (out: STORE_PATH_MAX). */
static void
about_rel(const char *path, char *out)
{
	snprintf(out, STORE_PATH_MAX, "web/about/%s.json", path);
}

/* A mirror crate's kept description into row (desc, about_vers). */
static void
about_read(struct store *st, struct sum_entry *row)
{
	char		 rel[STORE_PATH_MAX], *buf;
	const char	*v, *d;
	size_t		 len;
	json_t		*j;

	about_rel(row->path, rel);
	if (store_read(st, rel, &buf, &len, NULL, ABOUT_MAX) != 0)
		return;
	j = json_loadb(buf, len, 0, NULL);
	free(buf);
	v = json_string_value(json_object_get(j, "vers"));
	d = json_string_value(json_object_get(j, "description"));
	if (v != NULL && strlen(v) <= VERSION_MAX) {
		row->about_vers = xstrdup(v);
		row->desc = d != NULL ? desc_copy(d) : NULL;
	}
	json_decref(j);
}

/* Written once changed (temp file, fsync, rename; a crash may lose it,
 * and the next start reads the .crate again). */
static void
about_write(struct store *st, const char *path, const char *vers,
    const char *desc)
{
	char	 rel[STORE_PATH_MAX], *s;
	json_t	*j = json_pack("{s:s}", "vers", vers);

	if (j == NULL)		/* not UTF-8: kept in memory only */
		return;
	if (desc != NULL)
		json_object_set_new(j, "description", json_string(desc));
	about_rel(path, rel);
	if ((s = json_dumps(j, JSON_COMPACT)) != NULL)
		(void)store_write_cache(st, rel, s, strlen(s), NULL, NULL);
	free(s);
	json_decref(j);
}

static int
best(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	struct sum_entry	*row = arg;

	if (e == NULL)
		return 0;
	if (row->vers == NULL || (row->yanked && !e->yanked) ||
	    (row->yanked == e->yanked && semver_cmp_str(e->vers,
	    row->vers) > 0)) {
		free(row->vers);
		row->vers = xstrdup(e->vers);
		row->yanked = e->yanked;
	}
	return 0;
}

/* The index file's newest version into row (path and name set); false
 * when it is gone or names none. */
static bool
index_read(struct registry *reg, struct sum_entry *row)
{
	char		 rel[STORE_PATH_MAX], *buf;
	size_t		 len;
	struct stat	 st;

	snprintf(rel, sizeof rel, "index/%s", row->path);
	if (store_read(reg->store, rel, &buf, &len, &st, INDEX_MAX) != 0)
		return false;
	free(row->vers);
	row->vers = NULL;
	row->yanked = false;
	index_file_foreach(buf, len, best, row);
	free(buf);
	row->mtime = st.st_mtime;
	row->mtime_ns = st.st_mtim.tv_nsec;
	row->size = (long long)st.st_size;
	row->ino = (unsigned long long)st.st_ino;
	return row->vers != NULL;
}

/* A new entry for the index file at path: false when there is none. */
static bool
entry_new(struct registry *reg, const char *path, const char *name,
    struct sum_entry *row)
{
	memset(row, 0, sizeof *row);
	row->path = xstrdup(path);
	row->name = xstrdup(name);
	if (!index_read(reg, row)) {
		entry_free(row);
		return false;
	}
	if (reg->kind == REGISTRY_HOSTED)
		row->desc = hosted_description(reg->store, name);
	else
		about_read(reg->store, row);
	return true;
}

/* One walk of index/: the entries whose file did not change are carried
 * over, the rest read again. */
struct walk {
	struct web		*w;
	struct registry		*reg;
	struct reg_summary	*old;
	struct reg_summary	 now;
};

static int
walk_file(const char *path, const struct stat *st, void *arg)
{
	struct walk		*wk = arg;
	struct sum_entry	*old = summary_find(wk->old, path), row;
	char			 name[CRATE_NAME_MAX + 1];

	if (stopping(wk->w))
		return 1;
	if (crate_name_from_index_path(path, name) != 0)
		return 0;
	if (old != NULL && !old->taken && old->mtime == st->st_mtime &&
	    old->mtime_ns == st->st_mtim.tv_nsec && old->size ==
	    (long long)st->st_size && old->ino == (unsigned long long)
	    st->st_ino) {
		row = *old;
		old->taken = true;	/* its strings are row's now */
		row.taken = false;
	} else if (!entry_new(wk->reg, path, name, &row))
		return 0;
	sum_add(&wk->now, &row);
	return wk->now.n >= LIST_MAX;
}

/* A .crate of the store's crates/: its lower-case name and version. */
static bool
crate_rel_parse(const char *rel, char *name, char *vers)
{
	const char	*slash = strchr(rel, '/'), *file;
	size_t		 nlen, flen;

	if (slash == NULL || (nlen = (size_t)(slash - rel)) == 0 ||
	    nlen > CRATE_NAME_MAX)
		return false;
	file = slash + 1;
	flen = strlen(file);
	if (flen < nlen + 8 || strncmp(file, rel, nlen) != 0 || file[nlen] !=
	    '-' || strcmp(file + flen - 6, ".crate") != 0 ||
	    flen - nlen - 7 > VERSION_MAX)
		return false;
	memcpy(name, rel, nlen);
	name[nlen] = '\0';
	snprintf(vers, VERSION_MAX + 1, "%.*s", (int)(flen - nlen - 7),
	    file + nlen + 1);
	return crate_name_check(name, NULL) == 0 && strchr(vers, '/') ==
	    NULL && strstr(vers, "..") == NULL;
}

/* Queues name's .crate of vers to be read; false when the queue is full. */
static bool
pending_add(struct reg_summary *s, const char *name, const char *vers)
{
	if (s->npend - s->pnext >= PENDING_MAX)
		return false;
	if (s->npend == s->pcap) {
		if (s->pnext > 0) {	/* the read ones go first */
			for (size_t i = 0; i < s->pnext; i++) {
				free(s->pend[i].name);
				free(s->pend[i].vers);
			}
			memmove(s->pend, s->pend + s->pnext, (s->npend -
			    s->pnext) * sizeof *s->pend);
			s->npend -= s->pnext;
			s->pnext = 0;
		}
		if (s->npend == s->pcap) {
			s->pcap = s->pcap ? s->pcap * 2 : 64;
			s->pend = xreallocarray(s->pend, s->pcap,
			    sizeof *s->pend);
		}
	}
	s->pend[s->npend].name = xstrdup(name);
	s->pend[s->npend++].vers = xstrdup(vers);
	return true;
}

static void
pending_push(struct reg_summary *s, const char *name, const char *vers)
{
	if (!pending_add(s, name, vers) && !s->overflow) {
		s->overflow = true;
		log_info("registry %s: web list: over %d .crate files wait"
		    " to be read for their descriptions; the others at the"
		    " next start", s->reg->name, PENDING_MAX);
	}
}

/* The crates pass of a mirror: the newest cached .crate of each crate,
 * queued when web/about/ says no version as new was read. store_walk
 * lists a directory's files together, so crates/<name>/ is done before
 * the next one starts: one crate is kept at a time. */
struct cwalk {
	struct web		*w;
	struct reg_summary	*s;
	char			 name[CRATE_NAME_MAX + 1];
	char			 vers[VERSION_MAX + 1];	/* its newest */
	size_t			 crates, queued;
};

static void
crate_done(struct cwalk *cw)
{
	struct sum_entry	 tmp;
	char			 ipath[INDEX_PATH_MAX];

	if (cw->name[0] == '\0')
		return;
	cw->crates++;
	memset(&tmp, 0, sizeof tmp);
	crate_index_path(cw->name, ipath);
	tmp.path = xstrdup(ipath);
	about_read(cw->s->reg->store, &tmp);
	if (tmp.about_vers == NULL || semver_cmp_str(cw->vers,
	    tmp.about_vers) > 0) {
		pending_push(cw->s, cw->name, cw->vers);
		cw->queued++;
	}
	entry_free(&tmp);
	cw->name[0] = '\0';
}

static int
crate_file(const char *path, const struct stat *st, void *arg)
{
	struct cwalk	*cw = arg;
	char		 name[CRATE_NAME_MAX + 1], vers[VERSION_MAX + 1];

	(void)st;
	if (stopping(cw->w))
		return 1;
	if (!crate_rel_parse(path, name, vers))
		return 0;
	if (strcmp(name, cw->name) != 0) {
		crate_done(cw);
		memcpy(cw->name, name, sizeof cw->name);
		memcpy(cw->vers, vers, sizeof cw->vers);
	} else if (semver_cmp_str(vers, cw->vers) > 0)
		memcpy(cw->vers, vers, sizeof cw->vers);
	return 0;
}

static void
crates_pass(struct web *w, struct reg_summary *s)
{
	struct cwalk	*cw = xcalloc(1, sizeof *cw);

	cw->w = w;
	cw->s = s;
	if (store_walk(s->reg->store, "crates", crate_file, cw) == 0)
		crate_done(cw);
	if (cw->queued > 0)
		log_info("registry %s: web list: %zu of %zu cached crates to"
		    " read for their descriptions", s->reg->name, cw->queued,
		    cw->crates);
	s->crates_pass = false;
	free(cw);
}

/* The walk of index/: what did not change since the last walk is kept,
 * the rest read. */
static void
rebuild(struct web *w, struct reg_summary *s)
{
	struct walk	wk = { .w = w, .reg = s->reg, .old = s };
	struct timespec	t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	store_walk(s->reg->store, "index", walk_file, &wk);
	for (size_t i = 0; i < s->n; i++)
		if (!s->e[i].taken)
			entry_free(&s->e[i]);
	free(s->e);
	free(s->slot);
	s->e = wk.now.e;
	s->n = wk.now.n;
	s->cap = wk.now.cap;
	s->slot = wk.now.slot;
	s->nslot = wk.now.nslot;
	if (s->nslot == 0)
		sum_index(s);
	if (stopping(w))
		return;
	s->built = true;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("registry %s: web list: %zu crates listed in %.0f ms",
	    s->reg->name, s->n, (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* An index file written or removed: its entry read again. */
static void
index_changed(struct reg_summary *s, const char *path)
{
	struct sum_entry	*e = summary_find(s, path), row;
	char			 name[CRATE_NAME_MAX + 1];

	if (e != NULL) {
		if (!index_read(s->reg, e))
			e->gone = s->dropped = true;
		return;
	}
	if (crate_name_from_index_path(path, name) == 0 && s->n < LIST_MAX &&
	    entry_new(s->reg, path, name, &row))
		sum_add(s, &row);
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What the store's log says changed, each path once: the list's
 * entries once it is built (the walk reads them before), a mirror's
 * .crate files always. */
static void
apply(struct reg_summary *s, char **rels, size_t n)
{
	char	 name[CRATE_NAME_MAX + 1], vers[VERSION_MAX + 1];
	bool	 mirror = s->reg->kind == REGISTRY_MIRROR;

	if (n > 1)
		qsort(rels, n, sizeof *rels, by_str);
	for (size_t i = 0; i < n; i++) {
		const char		*r = rels[i];
		struct sum_entry	*e;

		if (i > 0 && strcmp(r, rels[i - 1]) == 0)
			continue;
		if (s->built && strncmp(r, "index/", 6) == 0)
			index_changed(s, r + 6);
		else if (s->built && !mirror && strncmp(r, "meta/", 5) == 0 &&
		    (e = summary_find(s, r + 5)) != NULL) {
			free(e->desc);
			e->desc = hosted_description(s->reg->store, e->name);
		} else if (mirror && strncmp(r, "crates/", 7) == 0 &&
		    crate_rel_parse(r + 7, name, vers))
			pending_push(s, name, vers);
	}
	if (s->dropped)
		sum_compact(s);
	s->dropped = false;
}

void
summary_sync(struct web *w, struct reg_summary *s, bool list)
{
	char	**rels;
	size_t	  n;

	if (stopping(w))
		return;
	/* What changed up to now first: a change while the walks run is
	 * read at the next look (reading an index file twice is harmless,
	 * missing a .crate is not). */
	if (store_generation(s->reg->store) != s->since) {
		if (store_changes(s->reg->store, &s->since, &rels, &n))
			apply(s, rels, n);
		else {
			log_info("registry %s: web list: over %d changes since"
			    " the last look; looking at every file again",
			    s->reg->name, STORE_CHANGES);
			s->built = false;	/* walked again, when asked */
			s->crates_pass = s->reg->kind == REGISTRY_MIRROR;
		}
		for (size_t i = 0; i < n; i++)
			free(rels[i]);
		free(rels);
	}
	if (s->crates_pass)
		crates_pass(w, s);
	if (list && !s->built)
		rebuild(w, s);
}

/* The description in the Cargo.toml of name's cached .crate of vers (new,
 * or NULL); *read false when there is no such readable .crate. */
static char *
crate_description(struct store *st, const char *name, const char *vers,
    bool *read)
{
	char	 rel[STORE_PATH_MAX], *toml, *d = NULL, *out = NULL;
	size_t	 len;
	int	 fd;

	*read = false;
	store_crate_rel(name, vers, rel);
	if ((fd = store_open_file(st, rel, NULL)) < 0)
		return NULL;
	toml = crate_archive_manifest(fd, name, vers, UNPACK_MAX, TOML_MAX,
	    &len);
	close(fd);
	if (toml == NULL)
		return NULL;
	*read = true;
	if ((d = readme_package_field(toml, len, "description")) != NULL &&
	    d[0] != '\0')
		out = desc_copy(d);
	free(d);
	free(toml);
	return out;
}

/* Reads one queued .crate, unless web/about/ knows a version as new
 * with a description; keeps what it says. */
static void
describe_one(struct reg_summary *s, const char *name, const char *vers)
{
	char			 ipath[INDEX_PATH_MAX];
	struct sum_entry	*e, tmp;
	char			*d;
	bool			 read, newer;

	crate_index_path(name, ipath);
	if ((e = summary_find(s, ipath)) == NULL) {
		/* Not listed (yet): what web/about/ says, for when it is. */
		memset(&tmp, 0, sizeof tmp);
		tmp.path = xstrdup(ipath);
		about_read(s->reg->store, &tmp);
		e = &tmp;
	}
	newer = e->about_vers == NULL || semver_cmp_str(vers,
	    e->about_vers) > 0;
	if (newer || e->desc == NULL) {
		d = crate_description(s->reg->store, name, vers, &read);
		if (read && (newer || d != NULL)) {
			if (newer) {
				free(e->about_vers);
				e->about_vers = xstrdup(vers);
			}
			if (d != NULL) {
				free(e->desc);
				e->desc = d;
				d = NULL;
			}
			about_write(s->reg->store, ipath, e->about_vers,
			    e->desc);
		}
		free(d);
	}
	if (e == &tmp)
		entry_free(&tmp);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

bool
summary_describe(struct web *w, struct reg_summary *s, double budget_ms)
{
	struct timespec	t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (s->pnext < s->npend && !stopping(w)) {
		struct pending	*p = &s->pend[s->pnext++];

		describe_one(s, p->name, p->vers);
		free(p->name);
		free(p->vers);
		p->name = p->vers = NULL;
		if (ms_since(&t0) >= budget_ms)
			break;
	}
	if (s->pnext == s->npend) {
		free(s->pend);
		s->pend = NULL;
		s->npend = s->pcap = s->pnext = 0;
	}
	return s->pnext < s->npend;
}

struct reg_summary *
summary_of(struct web *w, struct registry *reg)
{
	struct reg_summary	*s;

	for (s = w->sums; s != NULL && s->reg != reg; s = s->next)
		;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->reg = reg;
		/* The walks read what is there now; the log what comes. */
		s->since = store_generation(reg->store);
		s->crates_pass = reg->kind == REGISTRY_MIRROR;
		s->next = w->sums;
		w->sums = s;
	}
	return s;
}

static int
by_use_name(const void *a, const void *b)
{
	return strcmp(((const struct crate_use *)a)->name,
	    ((const struct crate_use *)b)->name);
}

/* crates/<lower>/<lower>-<vers>.crate: cuts the rel after <lower>. */
void
summary_uses(struct reg_summary *s, struct usage_use *copy, size_t n)
{
	struct crate_use	*u;
	size_t			 k = 0, m = 0;
	char			*slash;

	uses_clear(s);
	s->copy = copy;
	s->ncopy = n;
	u = xreallocarray(NULL, n + 1, sizeof *u);
	for (size_t i = 0; i < n; i++) {
		char	*rel = copy[i].rel;

		if (strncmp(rel, "crates/", 7) != 0 ||
		    (slash = strchr(rel + 7, '/')) == NULL)
			continue;
		*slash = '\0';
		u[m].name = rel + 7;
		u[m].used = copy[i].used;
		u[m++].versions = 1;
	}
	if (m > 1)
		qsort(u, m, sizeof *u, by_use_name);
	for (size_t i = 0; i < m; i++) {
		if (k > 0 && strcmp(u[k - 1].name, u[i].name) == 0) {
			if (u[i].used > u[k - 1].used)
				u[k - 1].used = u[i].used;
			u[k - 1].versions++;
		} else
			u[k++] = u[i];
	}
	s->uses = u;
	s->nuses = k;
}

const struct crate_use *
summary_use(const struct reg_summary *s, const char *name)
{
	char			lower[CRATE_NAME_MAX + 1];
	struct crate_use	key = { .name = lower };
	size_t			i;

	for (i = 0; name[i] != '\0' && i < CRATE_NAME_MAX; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] - 'A' + 'a') : name[i];
	lower[i] = '\0';
	return s->nuses > 0 ? bsearch(&key, s->uses, s->nuses, sizeof
	    *s->uses, by_use_name) : NULL;
}

#define UPKEEP_MS	20	/* of .crate reading per job */

/* The summaries' upkeep: on the worker, every registry's summary brought
 * up to date (walked at first) and queued .crate files read for a while;
 * the generations it saw for the loop. */
struct upkeep {
	struct web	*w;
	uint64_t	*seen;
	bool		 more;
};

static void
upkeep_work(void *arg)
{
	struct upkeep	*u = arg;
	struct server	*srv = u->w->srv;

	for (size_t i = 0; i < srv->nregs; i++) {
		struct reg_summary	*s = summary_of(u->w, &srv->regs[i]);

		summary_sync(u->w, s, false);
		u->seen[i] = s->since;
	}
	for (size_t i = 0; i < srv->nregs; i++)
		u->more |= summary_describe(u->w, summary_of(u->w,
		    &srv->regs[i]), UPKEEP_MS);
}

static void	upkeep_start(struct web *);

static void
upkeep_done(void *arg)
{
	struct upkeep	*u = arg;
	struct web	*w = u->w;

	memcpy(w->seen, u->seen, w->srv->nregs * sizeof *w->seen);
	w->more = u->more;
	w->upkeep = false;
	free(u->seen);
	free(u);
	if (w->more)
		upkeep_start(w);
}

static void
upkeep_start(struct web *w)
{
	struct upkeep	*u;

	if (w->upkeep || atomic_load(&w->stopping))
		return;
	u = xcalloc(1, sizeof *u);
	u->w = w;
	u->seen = xcalloc(w->srv->nregs + 1, sizeof *u->seen);
	w->upkeep = true;
	workers_submit(w->pool, upkeep_work, upkeep_done, u);
}

/* Every second: an upkeep job when a store changed since the last one. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct web	*w = arg;
	struct server	*srv = w->srv;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < srv->nregs && !w->upkeep; i++)
		if (store_generation(srv->regs[i].store) != w->seen[i])
			upkeep_start(w);
}

void
summary_start(struct web *w)
{
	struct timeval	one = { 1, 0 };

	w->seen = xcalloc(w->srv->nregs + 1, sizeof *w->seen);
	w->uses_gen = xcalloc(w->srv->nregs + 1, sizeof *w->uses_gen);
	w->tick = event_new(w->srv->base, -1, EV_PERSIST, on_tick, w);
	event_add(w->tick, &one);
	upkeep_start(w);
}

void
summary_kick(struct web *w)
{
	upkeep_start(w);
}

void
summary_stop(struct web *w)
{
	atomic_store(&w->stopping, true);
	if (w->tick != NULL)
		event_free(w->tick);
	w->tick = NULL;
}
