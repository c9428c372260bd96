/* GET /R/: a registry's crates (hosted: all; mirror: those whose index
 * file is cached), searched by name and description, sorted by name or
 * by recent change (mirror: recent use of its cached .crate files, from
 * a copy of the usage journal taken on the loop when it changed), 50 a
 * page. The crates come from the registry's summary (summary.c), brought
 * up to date on the pages' worker from what the store says changed: a
 * view makes no system call per crate; the loop only renders the page's
 * rows. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cache/usage.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"
#include "server/mirror/mirror.h"
#include "server/policy/regpolicy.h"
#include "server/web/web_int.h"

#define VIEW_DESCRIBE_MS	10	/* .crate reading a view may do */

struct row {
	char	 name[CRATE_NAME_MAX + 1];
	char	*vers;
	bool	 yanked;
	char	*desc;
	time_t	 mtime;
	time_t	 used;		/* mirror: last use of a cached .crate */
	unsigned cached;	/* mirror: .crate files cached */
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
	struct usage_use	*uses;	/* mirror: copied on the loop when */
	size_t			 nuses;	/* the journal changed */
	bool			 copied;
	bool			 more;	/* .crate files still queued */
	long			 page;
	size_t			 n;	/* crates that match */
	struct row		*rows;	/* the page's */
	size_t			 nrows;
};

static bool
matches(const char *hay, const char *q)
{
	return hay != NULL && strcasestr(hay, q) != NULL;
}

struct pick {
	const struct sum_entry	*e;
	time_t			 used;	/* mirror: last use, or 0 */
	unsigned		 cached;	/* mirror: .crate files */
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
	struct reg_summary	*s = summary_of(j->w, j->reg);
	struct pick		*p;
	size_t			 pages, from;

	summary_sync(j->w, s, true);
	j->more = summary_describe(j->w, s, VIEW_DESCRIBE_MS);
	if (j->copied)
		summary_uses(s, j->uses, j->nuses);	/* stolen */
	j->uses = NULL;
	p = xreallocarray(NULL, s->n + 1, sizeof *p);
	for (size_t i = 0; i < s->n; i++) {
		const struct sum_entry	*e = &s->e[i];
		const struct crate_use	*u;

		if (!crate_visible(j->glob, e->name) || (j->q[0] != '\0' &&
		    !matches(e->name, j->q) && !matches(e->desc, j->q)))
			continue;
		u = j->mirror ? summary_use(s, e->name) : NULL;
		p[j->n].e = e;
		p[j->n].used = u != NULL ? u->used : 0;
		p[j->n].cached = u != NULL ? u->versions : 0;
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
		row->cached = p[i].cached;
	}
	free(p);
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
		if (row->cached > 0) {
			page_time(row->used, when);
			/* a no-break space: "1" and "version" stay together */
			html_put(h, "<p class=\"muted\">last used %s · %u"
			    "\xc2\xa0version%s cached</p></li>\n", when,
			    row->cached, row->cached == 1 ? "" : "s");
		} else
			html_put(h, "<p class=\"muted\">%Rchanged %s</p></li>\n",
			    j->mirror ? "no .crate cached · index " : "", when);
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
	if (j->more)
		summary_kick(j->w);
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
	uint64_t	 gen;
	size_t		 i;

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
	i = (size_t)(reg - w->srv->regs);
	if (j->mirror && (gen = mirror_crates_generation(reg->mirror)) !=
	    w->uses_gen[i]) {
		j->nuses = mirror_crates_used(reg->mirror, &j->uses);
		j->copied = true;
		w->uses_gen[i] = gen;
	}
	w->pending++;
	workers_submit(w->pool, list_work, list_done, j);
}
