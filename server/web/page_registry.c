/* GET /R/: a registry's crates (hosted: all; mirror: those whose index
 * file is cached), searched by name and description, sorted by name or
 * by recent change, 50 a page. The index is walked on the pages' worker;
 * the loop only renders. */
#include <ctype.h>
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
#include "server/http/http.h"
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
	int	 rank;		/* with q: 0 the name, 1 the description only */
};

struct list_job {
	struct web		*w;
	struct http_request	*r;
	struct registry		*reg;
	struct viewer		 v;
	char			*glob;
	char			 q[256];
	bool			 recent;
	long			 page;
	struct row		*rows;
	size_t			 n, cap;
};

static int
best(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	struct row	*row = arg;

	if (e == NULL)
		return 0;
	snprintf(row->name, sizeof row->name, "%s", e->name);
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

static bool
matches(const char *hay, const char *q)
{
	return hay != NULL && strcasestr(hay, q) != NULL;
}

static int
list_file(const char *path, const struct stat *st, void *arg)
{
	struct list_job	*j = arg;
	struct row	 row = { .vers = NULL };
	char		 name[CRATE_NAME_MAX + 1], rel[STORE_PATH_MAX], *buf;
	size_t		 len;

	if (crate_name_from_index_path(path, name) != 0 ||
	    !crate_visible(j->glob, name))
		return 0;
	snprintf(rel, sizeof rel, "index/%s", path);
	if (store_read(j->reg->store, rel, &buf, &len, NULL, INDEX_MAX) != 0)
		return 0;
	index_file_foreach(buf, len, best, &row);
	free(buf);
	if (row.vers == NULL)
		return 0;
	if (j->reg->kind == REGISTRY_HOSTED)
		row.desc = hosted_description(j->reg->store, name);
	if (j->q[0] != '\0' && !matches(row.name, j->q) &&
	    !matches(row.desc, j->q)) {
		free(row.vers);
		free(row.desc);
		return 0;
	}
	row.mtime = st->st_mtime;
	row.rank = j->q[0] != '\0' && !matches(row.name, j->q);
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 64;
		j->rows = xreallocarray(j->rows, j->cap, sizeof *j->rows);
	}
	j->rows[j->n++] = row;
	return j->n >= LIST_MAX;
}

static int
by_name(const void *a, const void *b)
{
	const struct row	*x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcasecmp(x->name, y->name);
}

static int
by_recent(const void *a, const void *b)
{
	const struct row	*x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->mtime != y->mtime)
		return x->mtime > y->mtime ? -1 : 1;
	return strcasecmp(x->name, y->name);
}

static void
list_work(void *arg)
{
	struct list_job	*j = arg;

	store_walk(j->reg->store, "index", list_file, j);
	if (j->n > 1)
		qsort(j->rows, j->n, sizeof *j->rows, j->recent ? by_recent :
		    by_name);
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
	    "</option><option value=\"recent\"%R>by recent change</option>"
	    "</select>\n<button type=\"submit\">Search</button>\n</form>\n",
	    j->reg->name, j->q, j->recent ? "" : " selected", j->recent ?
	    " selected" : "");
}

static void
rows_html(struct html *h, struct list_job *j, size_t from, size_t to)
{
	char	when[32];

	html_raw(h, "<ul class=\"crates\">\n");
	for (size_t i = from; i < to; i++) {
		struct row	*row = &j->rows[i];

		page_time(row->mtime, when);
		html_put(h, "<li class=\"crate\" data-name=\"%s\"><a href=\"/%s"
		    "/crates/%s\">%s</a><span class=\"vers\">%s</span>%R",
		    row->name, j->reg->name, row->name, row->name, row->vers,
		    row->yanked ? " <span class=\"badge state-bad\">yanked"
		    "</span>" : "");
		if (row->desc != NULL)
			html_put(h, "<p>%s</p>", row->desc);
		html_put(h, "<p class=\"muted\">changed %s</p></li>\n", when);
	}
	html_raw(h, "</ul>\n");
}

static void
list_done(void *arg)
{
	struct list_job	*j = arg;
	struct html	 h;
	size_t		 from, to, pages;
	char		*title = xasprintf("Registry %s", j->reg->name);

	j->w->pending--;
	pages = (j->n + WEB_PER_PAGE - 1) / WEB_PER_PAGE;
	if (j->page > (long)pages && pages > 0)
		j->page = (long)pages;
	from = (size_t)(j->page - 1) * WEB_PER_PAGE;
	to = from + WEB_PER_PAGE < j->n ? from + WEB_PER_PAGE : j->n;
	html_init(&h);
	page_start(&h, &j->v, title);
	html_put(&h, "<h1>Registry <code>%s</code></h1>\n<p>%s · <a href=\"/%s"
	    "/me\">tokens and cargo setup</a></p>\n", j->reg->name,
	    j->reg->kind == REGISTRY_HOSTED ? "Hosted: every crate published"
	    " here" : "Mirror: the crates whose index file is cached",
	    j->reg->name);
	search_form(&h, j);
	html_put(&h, "<p class=\"muted\" id=\"count\">%z crate%s%R</p>\n", j->n,
	    j->n == 1 ? "" : "s", j->q[0] ? " match" : "");
	rows_html(&h, j, from, to);
	html_raw(&h, "<nav class=\"pager\" aria-label=\"Pages\">");
	if (j->page > 1)
		page_link(&h, j, j->page - 1, "← Previous", "prev");
	if (pages > 1)
		html_put(&h, "<span>Page %L of %z</span>", (long long)j->page,
		    pages);
	if ((size_t)j->page < pages)
		page_link(&h, j, j->page + 1, "Next →", "next");
	html_raw(&h, "</nav>\n");
	page_end(&h);
	page_send(j->r, 200, &h, NULL);
	for (size_t i = 0; i < j->n; i++) {
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
	w->pending++;
	workers_submit(w->pool, list_work, list_done, j);
}
