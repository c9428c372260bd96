/* GET /R/: a registry's crates (hosted: all; mirror: those whose index
 * file is cached), searched by name and description, sorted by name or
 * by recent change (mirror: recent use of its cached .crate files, from
 * a copy of the usage journal taken on the loop), 50 a page. A mirror
 * crate's description is the one kept under web/readme/ by its page. On the pages' worker, a summary per
 * registry (name, newest version, description, last change) is kept in
 * memory: a view stats each index file and reads only those changed
 * since (mtime, size, inode); the loop only renders the page's rows. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/name.h"
#include "index/semver.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "cache/usage.h"
#include "server/http/http.h"
#include "server/mirror/mirror.h"
#include "server/policy/regpolicy.h"
#include "server/web/web_int.h"

#define LIST_MAX	100000		/* index files looked at */
#define INDEX_MAX	(64u << 20)
#define META_MAX	(1 << 20)

struct row {
	char	 name[CRATE_NAME_MAX + 1];
	char	*vers;
	bool	 yanked;
	char	*desc;
	time_t	 mtime;
	time_t	 used;		/* mirror: last use of a cached .crate */
};

struct list_job {
	struct web		*w;
	struct http_request	*r;
	struct registry		*reg;
	struct viewer		 v;
	char			*glob;
	char			 q[256];
	bool			 recent;
	bool			 mirror;
	struct usage_use	*uses;	/* mirror: copied on the loop */
	size_t			 nuses;
	long			 page;
	size_t			 n;	/* crates that match */
	struct row		*rows;	/* the page's */
	size_t			 nrows;
};

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

/* The description in a hosted crate's meta file, new or NULL. */
static char *
hosted_description(struct store *st, const char *name)
{
	char		 rel[STORE_PATH_MAX], *buf, *out = NULL;
	size_t		 len;
	json_t		*j;

	store_meta_rel(name, rel);
	if (store_read(st, rel, &buf, &len, NULL, META_MAX) != 0)
		return NULL;
	if ((j = json_loadb(buf, len, 0, NULL)) != NULL &&
	    json_is_string(json_object_get(j, "description")))
		out = xstrdup(json_string_value(json_object_get(j,
		    "description")));
	json_decref(j);
	free(buf);
	return out;
}

/* A mirror crate's description: from the kept JSON of its newest
 * version that has one. */
struct vlist {
	char	**v;
	size_t	  n;
};

static int
vers_file(const char *path, const struct stat *st, void *arg)
{
	struct vlist	*vl = arg;
	size_t		 len = strlen(path);

	(void)st;
	if (strchr(path, '/') != NULL || len <= 5 ||
	    strcmp(path + len - 5, ".json") != 0 || vl->n >= 4096)
		return 0;
	vl->v = xreallocarray(vl->v, vl->n + 1, sizeof *vl->v);
	vl->v[vl->n++] = xasprintf("%.*s", (int)(len - 5), path);
	return 0;
}

static int
vers_newest(const void *a, const void *b)
{
	return semver_cmp_str(*(char *const *)b, *(char *const *)a);
}

static char *
mirror_description(struct store *st, const char *path, const char *name)
{
	struct vlist		 vl = { 0 };
	struct crate_doc	 doc;
	char			 rel[STORE_PATH_MAX], *out = NULL;

	snprintf(rel, sizeof rel, "web/readme/%s", path);
	store_walk(st, rel, vers_file, &vl);
	if (vl.n > 1)
		qsort(vl.v, vl.n, sizeof *vl.v, vers_newest);
	for (size_t i = 0; i < vl.n && out == NULL; i++) {
		if (doc_load(st, name, vl.v[i], &doc) != 0)
			continue;
		if (doc.description != NULL && doc.description[0] != '\0') {
			out = doc.description;
			doc.description = NULL;
		}
		readme_doc_free(&doc);
	}
	for (size_t i = 0; i < vl.n; i++)
		free(vl.v[i]);
	free(vl.v);
	return out;
}

/* The mtime of a mirror crate's web/readme/ directory (zero when none). */
static struct timespec
readme_dir_time(struct store *st, const char *path)
{
	struct timespec	 t = { 0, 0 };
	struct stat	 sb;
	char		*p = xasprintf("%s/web/readme/%s", store_root(st), path);

	if (stat(p, &sb) == 0)
		t = sb.st_mtim;
	free(p);
	return t;
}

static bool
matches(const char *hay, const char *q)
{
	return hay != NULL && strcasestr(hay, q) != NULL;
}

static void
entry_free(struct sum_entry *e)
{
	free(e->path);
	free(e->name);
	free(e->vers);
	free(e->desc);
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
		free(s->reg);
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

static struct sum_entry *
sum_find(struct reg_summary *s, const char *path)
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
sum_index(struct reg_summary *s)
{
	free(s->slot);
	for (s->nslot = 16; s->nslot < 2 * s->n; s->nslot *= 2)
		;
	s->slot = xcalloc(s->nslot, sizeof *s->slot);
	for (size_t k = 0; k < s->n; k++) {
		size_t	i = path_hash(s->e[k].path) & (s->nslot - 1);

		while (s->slot[i] != 0)
			i = (i + 1) & (s->nslot - 1);
		s->slot[i] = k + 1;
	}
}

/* One walk of index/: what did not change is carried over, the rest
 * read again. */
struct walk {
	struct registry		*reg;
	struct reg_summary	*old;
	struct sum_entry	*e;
	size_t			 n, cap;
};

static bool
entry_read(struct registry *reg, const char *path, const char *name,
    struct sum_entry *row)
{
	char	 rel[STORE_PATH_MAX], *buf;
	size_t	 len;

	snprintf(rel, sizeof rel, "index/%s", path);
	if (store_read(reg->store, rel, &buf, &len, NULL, INDEX_MAX) != 0)
		return false;
	index_file_foreach(buf, len, best, row);
	free(buf);
	if (row->vers == NULL)
		return false;
	if (reg->kind == REGISTRY_HOSTED)
		row->desc = hosted_description(reg->store, name);
	row->path = xstrdup(path);
	row->name = xstrdup(name);
	return true;
}

/* A mirror crate's description, read again when its web/readme/
 * directory changed (a version's JSON kept since). */
static void
mirror_desc_refresh(struct store *st, const char *path,
    struct sum_entry *row)
{
	struct timespec	t = readme_dir_time(st, path);

	if (t.tv_sec == row->rdir.tv_sec && t.tv_nsec == row->rdir.tv_nsec)
		return;
	free(row->desc);
	row->desc = t.tv_sec != 0 ? mirror_description(st, path, row->name) :
	    NULL;
	row->rdir = t;
}

static int
walk_file(const char *path, const struct stat *st, void *arg)
{
	struct walk		*wk = arg;
	struct sum_entry	*old = sum_find(wk->old, path), row;
	char			 name[CRATE_NAME_MAX + 1];

	if (crate_name_from_index_path(path, name) != 0)
		return 0;
	if (old != NULL && !old->taken && old->mtime == st->st_mtime &&
	    old->mtime_ns == st->st_mtim.tv_nsec && old->size == (long long)st->st_size && old->ino ==
	    (unsigned long long)st->st_ino) {
		row = *old;
		old->taken = true;
	} else {
		memset(&row, 0, sizeof row);
		if (!entry_read(wk->reg, path, name, &row)) {
			entry_free(&row);
			return 0;
		}
		row.mtime = st->st_mtime;
		row.mtime_ns = st->st_mtim.tv_nsec;
		row.size = (long long)st->st_size;
		row.ino = (unsigned long long)st->st_ino;
	}
	if (wk->reg->kind == REGISTRY_MIRROR)
		mirror_desc_refresh(wk->reg->store, path, &row);
	if (wk->n == wk->cap) {
		wk->cap = wk->cap ? wk->cap * 2 : 64;
		wk->e = xreallocarray(wk->e, wk->cap, sizeof *wk->e);
	}
	wk->e[wk->n++] = row;
	return wk->n >= LIST_MAX;
}

/* The summary of reg, brought up to date: a walk of index/ that stats
 * every file and reads only those changed since the last view. */
static struct reg_summary *
summary_get(struct web *w, struct registry *reg)
{
	struct reg_summary	*s;
	struct walk		 wk = { .reg = reg };

	for (s = w->sums; s != NULL && strcmp(s->reg, reg->name) != 0;
	    s = s->next)
		;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->reg = xstrdup(reg->name);
		s->next = w->sums;
		w->sums = s;
	}
	wk.old = s;
	store_walk(reg->store, "index", walk_file, &wk);
	for (size_t i = 0; i < s->n; i++)
		if (!s->e[i].taken)
			entry_free(&s->e[i]);
	free(s->e);
	for (size_t i = 0; i < wk.n; i++)
		wk.e[i].taken = false;
	s->e = wk.e;
	s->n = wk.n;
	sum_index(s);
	return s;
}

/* A mirror's last use per crate, from the journal's copy: (lower-case
 * name, newest use) sorted by name. */
struct last_use {
	char	*name;		/* borrowed from the copy's rel */
	time_t	 used;
};

static int
by_use_name(const void *a, const void *b)
{
	return strcmp(((const struct last_use *)a)->name,
	    ((const struct last_use *)b)->name);
}

/* crates/<lower>/<lower>-<vers>.crate: cuts the rel after <lower>. */
static size_t
last_uses(struct list_job *j, struct last_use **out)
{
	struct last_use	*u = xreallocarray(NULL, j->nuses + 1, sizeof *u);
	size_t		 n = 0, k = 0;
	char		*slash;

	for (size_t i = 0; i < j->nuses; i++) {
		char	*rel = j->uses[i].rel;

		if (strncmp(rel, "crates/", 7) != 0 ||
		    (slash = strchr(rel + 7, '/')) == NULL)
			continue;
		*slash = '\0';
		u[n].name = rel + 7;
		u[n++].used = j->uses[i].used;
	}
	if (n > 1)
		qsort(u, n, sizeof *u, by_use_name);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(u[k - 1].name, u[i].name) == 0) {
			if (u[i].used > u[k - 1].used)
				u[k - 1].used = u[i].used;
		} else
			u[k++] = u[i];
	}
	*out = u;
	return k;
}

static time_t
last_use_of(const struct last_use *u, size_t n, const char *name)
{
	char			 lower[CRATE_NAME_MAX + 1];
	struct last_use		 key = { .name = lower }, *hit;
	size_t			 i;

	for (i = 0; name[i] != '\0' && i < CRATE_NAME_MAX; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[i] = '\0';
	hit = n > 0 ? bsearch(&key, u, n, sizeof *u, by_use_name) : NULL;
	return hit != NULL ? hit->used : 0;
}

struct pick {
	const struct sum_entry	*e;
	time_t			 used;	/* mirror: last use, or 0 */
	time_t			 when;	/* recent: last use, else change */
	int			 rank;	/* with q: 0 the name, 1 the
					   description only */
};

static int
by_name(const void *a, const void *b)
{
	const struct pick	*x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcasecmp(x->e->name, y->e->name);
}

static int
by_recent(const void *a, const void *b)
{
	const struct pick	*x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->when != y->when)
		return x->when > y->when ? -1 : 1;
	return strcasecmp(x->e->name, y->e->name);
}

/* The crates that match, sorted; only the page's rows are copied out
 * for the loop. */
static void
list_work(void *arg)
{
	struct list_job		*j = arg;
	struct reg_summary	*s = summary_get(j->w, j->reg);
	struct pick		*p = xreallocarray(NULL, s->n + 1, sizeof *p);
	struct last_use		*u = NULL;
	size_t			 pages, from, nu = last_uses(j, &u);

	for (size_t i = 0; i < s->n; i++) {
		const struct sum_entry	*e = &s->e[i];

		if (!crate_visible(j->glob, e->name) || (j->q[0] != '\0' &&
		    !matches(e->name, j->q) && !matches(e->desc, j->q)))
			continue;
		p[j->n].e = e;
		p[j->n].used = j->mirror ? last_use_of(u, nu, e->name) : 0;
		p[j->n].when = p[j->n].used ? p[j->n].used : e->mtime;
		p[j->n++].rank = j->q[0] != '\0' && !matches(e->name, j->q);
	}
	if (j->n > 1)
		qsort(p, j->n, sizeof *p, j->recent ? by_recent : by_name);
	pages = (j->n + WEB_PER_PAGE - 1) / WEB_PER_PAGE;
	if (j->page > (long)pages && pages > 0)
		j->page = (long)pages;
	from = (size_t)(j->page - 1) * WEB_PER_PAGE;
	j->rows = xcalloc(WEB_PER_PAGE, sizeof *j->rows);
	for (size_t i = from; i < j->n && j->nrows < WEB_PER_PAGE; i++) {
		struct row	*row = &j->rows[j->nrows++];

		snprintf(row->name, sizeof row->name, "%s", p[i].e->name);
		row->vers = xstrdup(p[i].e->vers);
		row->yanked = p[i].e->yanked;
		row->desc = p[i].e->desc ? xstrdup(p[i].e->desc) : NULL;
		row->mtime = p[i].e->mtime;
		row->used = p[i].used;
	}
	free(p);
	free(u);
	usage_copy_free(j->uses, j->nuses);
	j->uses = NULL;
	j->nuses = 0;
}

/* A link to another page of the list, keeping q and sort. */
static void
page_link(struct html *h, struct list_job *j, long page, const char *label,
    const char *rel)
{
	html_put(h, "<a rel=\"%s\" href=\"/%s/?q=", rel, j->reg->name);
	html_url(h, j->q);
	html_put(h, "&amp;sort=%s&amp;page=%L\">%s</a>", j->recent ? "recent" :
	    "name", (long long)page, label);
}

static void
search_form(struct html *h, struct list_job *j)
{
	html_put(h, "<form role=\"search\" method=\"get\" action=\"/%s/\">\n"
	    "<label for=\"q\">Search crates</label>\n<input type=\"search\""
	    " id=\"q\" name=\"q\" value=\"%s\" placeholder=\"name or"
	    " description\">\n<label for=\"sort\">Sort</label>\n<select"
	    " id=\"sort\" name=\"sort\"><option value=\"name\"%R>by name"
	    "</option><option value=\"recent\"%R>%s</option>"
	    "</select>\n<button type=\"submit\">Search</button>\n</form>\n",
	    j->reg->name, j->q, j->recent ? "" : " selected", j->recent ?
	    " selected" : "", j->mirror ? "recently used" :
	    "by recent change");
}

static void
rows_html(struct html *h, struct list_job *j)
{
	char	when[32];

	html_raw(h, "<ul class=\"crates\">\n");
	for (size_t i = 0; i < j->nrows; i++) {
		struct row	*row = &j->rows[i];

		page_time(row->mtime, when);
		html_put(h, "<li class=\"crate\" data-name=\"%s\"><a href=\"/%s"
		    "/crates/%s\">%s</a><span class=\"vers\">%s</span>%R",
		    row->name, j->reg->name, row->name, row->name, row->vers,
		    row->yanked ? " <span class=\"badge state-bad\">yanked"
		    "</span>" : "");
		if (row->desc != NULL)
			html_put(h, "<p>%s</p>", row->desc);
		if (row->used != 0) {
			page_time(row->used, when);
			html_put(h, "<p class=\"muted\">last used %s</p></li>\n",
			    when);
		} else
			html_put(h, "<p class=\"muted\">changed %s</p></li>\n",
			    when);
	}
	html_raw(h, "</ul>\n");
}

/* A duration in the largest unit that divides it ("7 days", "90
 * minutes"); 64 bytes. */
static void
age_text(int64_t s, char *out)
{
	static const struct {
		const char	*unit;
		int64_t		 secs;
	} units[] = { { "week", 604800 }, { "day", 86400 }, { "hour", 3600 },
	    { "minute", 60 }, { "second", 1 } };

	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (s % units[i].secs == 0) {
			snprintf(out, 64, "%lld %s%s", (long long)(s /
			    units[i].secs), units[i].unit, s == units[i].secs ?
			    "" : "s");
			return;
		}
}

/* The rules of a list: each as written, a block with its reason. */
static void
rules_html(struct html *h, const struct policy_rule *r, size_t n)
{
	if (n == 0) {
		html_raw(h, "<span class=\"muted\">none</span>");
		return;
	}
	html_put(h, "%z:<ul>", n);
	for (size_t i = 0; i < n; i++) {
		html_put(h, "<li><code>%s</code>", r[i].text);
		if (r[i].reason != NULL)
			html_put(h, " — <span class=\"reason\">%s</span>",
			    r[i].reason);
		html_raw(h, "</li>");
	}
	html_raw(h, "</ul>");
}

static const char *
action_word(enum verdict v)
{
	return v == VERDICT_DENY ? "denied" : v == VERDICT_HOLD ? "held" :
	    "flagged (served, reported)";
}

/* The advisory snapshot and what its advisories do. */
static void
advisories_html(struct html *h, const struct regpolicy_view *p)
{
	const struct policy_settings	*s = &p->settings;

	if (p->db == NULL) {
		html_raw(h, "<span class=\"muted\">none</span>");
		return;
	}
	html_put(h, "RustSec snapshot <code class=\"snapshot\">%s</code> of %s,"
	    " %z advisories. Malicious crates: denied; other"
	    " vulnerabilities: %s; informational advisories: %s; withdrawn"
	    " ones: %s.", advisory_db_id(p->db), advisory_db_date(p->db),
	    advisory_db_count(p->db), action_word(s->advisory_action),
	    s->advisory_informational ? "counted" : "ignored",
	    s->advisory_withdrawn ? "counted" : "ignored");
}

/* The registry's supply-chain policy, for the people who rely on it. */
static void
policy_html(struct html *h, struct registry *reg)
{
	struct regpolicy_view		*p = regpolicy_view(reg);
	const struct policy_settings	*s;
	char				 age[64];

	if (p == NULL) {
		html_raw(h, "<section class=\"policy none\" aria-labelledby="
		    "\"policy\"><h2 id=\"policy\">Supply-chain policy</h2>\n"
		    "<p>None: every version is served as published.</p>"
		    "</section>\n");
		return;
	}
	s = &p->settings;
	html_put(h, "<section class=\"policy\" aria-labelledby=\"policy\"><h2"
	    " id=\"policy\">Supply-chain policy</h2>\n<p>%s</p>\n<dl"
	    " class=\"facts\"><dt>Minimum publish age</dt><dd class=\"age\">",
	    regpolicy_describe(p));
	if (s->min_publish_age > 0) {
		age_text(s->min_publish_age, age);
		html_put(h, "%s: newer versions are served yanked until then%s",
		    age, s->hosted ? " (versions published here are not held)"
		    : "");
		for (size_t i = 0; i < s->nage_exempt; i++)
			html_put(h, "%R<code>%s</code>", i == 0 ? "; not " :
			    ", ", s->age_exempt[i]);
	} else
		html_raw(h, "<span class=\"muted\">off</span>");
	html_raw(h, "</dd><dt>Deny rules</dt><dd class=\"deny\">");
	rules_html(h, s->deny, s->ndeny);
	html_raw(h, "</dd><dt>Blocks</dt><dd class=\"blocks\">");
	rules_html(h, p->blocks, p->nblocks);
	html_raw(h, "</dd><dt>Advisories</dt><dd class=\"advisories\">");
	advisories_html(h, p);
	html_put(h, "</dd><dt>Denied versions</dt><dd>%s</dd></dl>\n"
	    "</section>\n", s->hide ? "left out of the index files" :
	    "served yanked; their download is refused (403) with the reason");
	regpolicy_unref(p);
}

static void
list_done(void *arg)
{
	struct list_job	*j = arg;
	struct html	 h;
	size_t		 pages;
	char		*title = xasprintf("Registry %s", j->reg->name);

	j->w->pending--;
	pages = (j->n + WEB_PER_PAGE - 1) / WEB_PER_PAGE;
	html_init(&h);
	page_start(&h, &j->v, title);
	html_put(&h, "<h1>Registry <code>%s</code></h1>\n<p>%s · <a href=\"/%s"
	    "/me\">tokens and cargo setup</a> · <a href=\"#policy\">"
	    "supply-chain policy</a></p>\n", j->reg->name,
	    j->reg->kind == REGISTRY_HOSTED ? "Hosted: every crate published"
	    " here" : "Mirror: the crates whose index file is cached",
	    j->reg->name);
	search_form(&h, j);
	html_put(&h, "<p class=\"muted\" id=\"count\">%z crate%s%R</p>\n", j->n,
	    j->n == 1 ? "" : "s", j->q[0] ? " match" : "");
	rows_html(&h, j);
	html_raw(&h, "<nav class=\"pager\" aria-label=\"Pages\">");
	if (j->page > 1)
		page_link(&h, j, j->page - 1, "← Previous", "prev");
	if (pages > 1)
		html_put(&h, "<span>Page %L of %z</span>", (long long)j->page,
		    pages);
	if ((size_t)j->page < pages)
		page_link(&h, j, j->page + 1, "Next →", "next");
	html_raw(&h, "</nav>\n");
	policy_html(&h, j->reg);
	page_end(&h);
	page_send(j->r, 200, &h, NULL);
	for (size_t i = 0; i < j->nrows; i++) {
		free(j->rows[i].vers);
		free(j->rows[i].desc);
	}
	free(j->rows);
	free(j->glob);
	free(title);
	viewer_finish(&j->v);
	free(j);
}

void
page_registry(struct web *w, struct http_request *r, struct viewer *v,
    struct registry *reg, const char *glob)
{
	struct list_job	*j = xcalloc(1, sizeof *j);
	char		 buf[32];

	j->w = w;
	j->r = r;
	j->reg = reg;
	j->v = *v;
	memset(v, 0, sizeof *v);	/* the job's now */
	j->glob = glob ? xstrdup(glob) : NULL;
	if (!page_param(r, "q", j->q, sizeof j->q))
		j->q[0] = '\0';
	j->recent = page_param(r, "sort", buf, sizeof buf) &&
	    strcmp(buf, "recent") == 0;
	j->page = page_param(r, "page", buf, sizeof buf) ? strtol(buf, NULL,
	    10) : 1;
	if (j->page < 1 || j->page > 1000000)
		j->page = 1;
	j->mirror = reg->kind == REGISTRY_MIRROR && reg->mirror != NULL;
	if (j->mirror)
		j->nuses = mirror_crates_used(reg->mirror, &j->uses);
	w->pending++;
	workers_submit(w->pool, list_work, list_done, j);
}
