/* GET /R/crates/NAME: every version of a crate with its details, the
 * Cargo.toml line, the README of the selected version (?v=, else the
 * newest that cargo would pick: not yanked, held or denied), owners
 * (hosted) or what is cached (mirror), and, when the registry has a
 * supply-chain policy, each version's verdict and its reason.
 * Files are read on the pages' worker; the README is rendered there once
 * per version and kept (page.c: in memory, and on disk under the
 * store's web/readme/, read back before rendering again); the loop
 * renders the page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/name.h"
#include "index/semver.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"
#include "server/mirror/mirror.h"
#include "server/policy/regpolicy.h"
#include "server/web/web_int.h"

#define CRATE_FILE_MAX	((size_t)64 << 20)	/* .crate read for a README */
#define INDEX_MAX	(64u << 20)

struct version {
	json_t		*line;		/* the index line */
	const char	*vers;		/* borrowed from line */
	bool		 yanked;
	bool		 cached;	/* the .crate is on disk */
	bool		 lic_want;	/* the second trip reads its license */
	bool		 lic_read;	/* it did: license */
	char		*license;
	unsigned long long size;
	time_t		 mtime;
	/* The policy's verdict (the registry has one): what cargo is
	 * served, not what the stored line says. */
	enum verdict	 verdict;
	char		*reason;	/* for a person; NULL: allow */
	char		*summary;	/* an advisory's, or NULL */
};

struct dep_known {
	char	name[CRATE_NAME_MAX + 1];
	bool	here;
};

struct crate_job {
	struct web		*w;
	struct http_request	*r;
	struct registry		*reg;
	struct regpolicy_view	*pol;		/* NULL: no policy */
	struct viewer		 v;
	char			 name[CRATE_NAME_MAX + 1];
	char			 want[VERSION_MAX + 1];
	bool			 doc_tried;	/* the second trip was made */
	bool			 doc_want;	/* it reads the README */
	/* Filled by the worker. */
	int			 status;
	struct version		*vs;
	size_t			 n;
	size_t			 sel;
	json_t			*meta;		/* hosted: owners, description */
	struct dep_known	*deps;
	size_t			 ndeps;
	struct crate_doc	 doc;
	bool			 doc_found;
	bool			 doc_kept;	/* on disk, rendered */
	struct timespec		 t0, t1;
};

static int
vers_desc(const void *a, const void *b)
{
	const struct version	*x = a, *y = b;

	return semver_cmp_str(y->vers, x->vers);
}

/* The summary of advisory id of this crate's version vers (new), or
 * NULL. */
static char *
advisory_summary(struct crate_job *j, const char *vers, const char *id)
{
	const struct advisory	*hits[16];
	struct semver		 sv;
	size_t			 n;

	if (j->pol->db == NULL || semver_parse(vers, &sv, NULL) != 0)
		return NULL;
	n = advisory_db_match(j->pol->db, j->name, &sv, hits, 16);
	for (size_t i = 0; i < n; i++)
		if (strcmp(hits[i]->id, id) == 0 && hits[i]->summary != NULL)
			return xstrdup(hits[i]->summary);
	return NULL;
}

/* The verdict the policy gives one line (the job has a policy). */
static void
judge(struct crate_job *j, const struct regpolicy_seen *seen,
    struct version *v, const char *line, size_t len, time_t now)
{
	struct verdict_info	vi;

	if (regpolicy_line_verdict(j->pol, seen, j->name, line, len, now,
	    &vi) != 0 || vi.verdict == VERDICT_ALLOW)
		return;
	v->verdict = vi.verdict;
	v->reason = xstrdup(vi.reason[0] != '\0' ? vi.reason : vi.rule);
	if (vi.source == SOURCE_ADVISORY)
		v->summary = advisory_summary(j, v->vers, vi.rule);
}

static void
parse_lines(struct crate_job *j, const char *buf, size_t len)
{
	const char		*p = buf, *end = buf + len, *nl;
	struct regpolicy_seen	*seen = j->pol != NULL ?
				    regpolicy_seen_read(store_root(j->reg->store),
				    j->name) : NULL;
	time_t			 now = time(NULL);

	for (; p < end; p = nl + 1) {
		json_t		*line;
		struct version	*v;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl == p || (line = json_loadb(p, (size_t)(nl - p), 0,
		    NULL)) == NULL)
			continue;
		if (!json_is_string(json_object_get(line, "vers"))) {
			json_decref(line);
			continue;
		}
		j->vs = xreallocarray(j->vs, j->n + 1, sizeof *j->vs);
		v = &j->vs[j->n++];
		memset(v, 0, sizeof *v);
		v->line = line;
		v->vers = json_string_value(json_object_get(line, "vers"));
		v->yanked = json_is_true(json_object_get(line, "yanked"));
		if (j->pol != NULL)
			judge(j, seen, v, p, (size_t)(nl - p), now);
	}
	regpolicy_seen_free(seen);
	if (j->n > 1)
		qsort(j->vs, j->n, sizeof *j->vs, vers_desc);
}

/* Whether cargo is served the version yanked: by its line or by the
 * policy. */
static bool
served_yanked(const struct version *v)
{
	return v->yanked || v->verdict == VERDICT_HOLD ||
	    v->verdict == VERDICT_DENY;
}

static size_t
select_version(struct crate_job *j)
{
	for (size_t i = 0; j->want[0] != '\0' && i < j->n; i++)
		if (strcmp(j->vs[i].vers, j->want) == 0)
			return i;
	for (size_t i = 0; i < j->n; i++)
		if (!served_yanked(&j->vs[i]))
			return i;
	return 0;
}

/* The crate a dependency names (its package when renamed). */
static const char *
dep_crate(json_t *d)
{
	json_t	*pkg = json_object_get(d, "package");

	return json_is_string(pkg) ? json_string_value(pkg) :
	    json_string_value(json_object_get(d, "name"));
}

static struct dep_known *
dep_find(struct crate_job *j, const char *name)
{
	for (size_t i = 0; i < j->ndeps; i++)
		if (strcmp(j->deps[i].name, name) == 0)
			return &j->deps[i];
	return NULL;
}

/* Which dependencies crated has an index file for (same registry). */
static void
find_deps(struct crate_job *j)
{
	char	rel[STORE_PATH_MAX];

	for (size_t i = 0; i < j->n; i++) {
		json_t	*deps = json_object_get(j->vs[i].line, "deps"), *d;
		size_t	 k;

		json_array_foreach(deps, k, d) {
			const char		*name = dep_crate(d);
			struct dep_known	*dk;

			if (name == NULL || crate_name_check(name, NULL) != 0 ||
			    dep_find(j, name) != NULL)
				continue;
			j->deps = xreallocarray(j->deps, j->ndeps + 1,
			    sizeof *j->deps);
			dk = &j->deps[j->ndeps++];
			snprintf(dk->name, sizeof dk->name, "%s", name);
			store_index_rel(name, rel);
			dk->here = store_exists(j->reg->store, rel) == 1;
		}
	}
}

static void
read_doc(struct crate_job *j, const struct version *v)
{
	char		 rel[STORE_PATH_MAX], *buf;
	size_t		 len;

	if (doc_load(j->reg->store, j->name, v->vers, &j->doc) == 0) {
		j->doc_found = true;
		return;
	}
	store_crate_rel(j->name, v->vers, rel);
	if (store_read(j->reg->store, rel, &buf, &len, NULL,
	    CRATE_FILE_MAX) != 0)
		return;
	j->doc_found = readme_from_crate((unsigned char *)buf, len,
	    json_string_value(json_object_get(v->line, "name")), v->vers,
	    &j->doc) == 0;
	free(buf);
	if (j->doc_found)
		doc_save(j->reg->store, j->name, v->vers, &j->doc);
}

static void
crate_work(void *arg)
{
	struct crate_job	*j = arg;
	char			 rel[STORE_PATH_MAX], *buf;
	size_t			 len;
	struct stat		 st;

	clock_gettime(CLOCK_MONOTONIC, &j->t0);
	store_index_rel(j->name, rel);
	if (store_read(j->reg->store, rel, &buf, &len, NULL, INDEX_MAX) != 0) {
		j->status = 404;
		return;
	}
	parse_lines(j, buf, len);
	free(buf);
	if (j->n == 0) {
		j->status = 404;
		return;
	}
	j->status = 200;
	j->sel = select_version(j);
	for (size_t i = 0; i < j->n; i++) {
		int	fd;

		store_crate_rel(j->name, j->vs[i].vers, rel);
		if ((fd = store_open_file(j->reg->store, rel, &st)) < 0)
			continue;
		close(fd);
		j->vs[i].cached = true;
		j->vs[i].size = (unsigned long long)st.st_size;
		j->vs[i].mtime = st.st_mtime;
	}
	if (j->reg->kind == REGISTRY_HOSTED) {
		store_meta_rel(j->name, rel);
		if (store_read(j->reg->store, rel, &buf, &len, NULL,
		    1 << 20) == 0) {
			j->meta = json_loadb(buf, len, 0, NULL);
			free(buf);
		}
	}
	find_deps(j);
	j->doc_kept = doc_kept(j->reg->store, j->name, j->vs[j->sel].vers);
}

/* The second trip, when the README of the selected version is not kept
 * yet. */
static void
doc_work(void *arg)
{
	struct crate_job	*j = arg;
	char			 rel[STORE_PATH_MAX], *buf;
	size_t			 len;

	if (j->doc_want)
		read_doc(j, &j->vs[j->sel]);
	for (size_t i = 0; i < j->n; i++) {
		struct version	*v = &j->vs[i];

		if (!v->lic_want)
			continue;
		store_crate_rel(j->name, v->vers, rel);
		if (store_read(j->reg->store, rel, &buf, &len, NULL,
		    CRATE_FILE_MAX) != 0)
			continue;
		v->license = readme_crate_license((unsigned char *)buf, len,
		    json_string_value(json_object_get(v->line, "name")),
		    v->vers, &v->lic_read);
		free(buf);
	}
}

/* After the first trip: whether the README of the selected version or
 * the license of a cached version is still to be read. */
static bool
more_to_read(struct crate_job *j, const struct doc_entry *de)
{
	const char	*lic;
	bool		 any = false;

	if (j->doc_tried)
		return false;
	j->doc_want = de == NULL && (j->vs[j->sel].cached || j->doc_kept);
	for (size_t i = 0; i < j->n; i++) {
		struct version	*v = &j->vs[i];
		char		*key;

		if (!v->cached)
			continue;
		key = xasprintf("%s\n%s\n%s", j->reg->name, j->name, v->vers);
		v->lic_want = !lic_get(j->w, key, &lic);
		any = any || v->lic_want;
		free(key);
	}
	return j->doc_want || any;
}

/* What the second trip read goes into the caches. */
static void
keep_licenses(struct crate_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		struct version	*v = &j->vs[i];
		char		*key;

		if (!v->lic_read)
			continue;
		key = xasprintf("%s\n%s\n%s", j->reg->name, j->name, v->vers);
		lic_put(j->w, key, v->license);
		free(key);
	}
}

static void
deps_html(struct html *h, struct crate_job *j, json_t *deps)
{
	json_t	*d;
	size_t	 k;

	if (json_array_size(deps) == 0) {
		html_raw(h, "<span class=\"muted\">none</span>");
		return;
	}
	html_raw(h, "<ul class=\"deps\">");
	json_array_foreach(deps, k, d) {
		const char		*name = dep_crate(d);
		const char		*kind = json_string_value(
					    json_object_get(d, "kind"));
		struct dep_known	*dk = name ? dep_find(j, name) : NULL;

		html_raw(h, "<li>");
		if (dk != NULL && dk->here && !json_is_string(
		    json_object_get(d, "registry")))
			html_put(h, "<a href=\"/%s/crates/%s\">%s</a>",
			    j->reg->name, name, name);
		else
			html_text(h, name);
		if (json_is_string(json_object_get(d, "package")))
			html_put(h, " as <code>%s</code>", json_string_value(
			    json_object_get(d, "name")));
		html_put(h, " <code>%s</code>", json_string_value(
		    json_object_get(d, "req")));
		if (kind != NULL && strcmp(kind, "normal") != 0)
			html_put(h, " <span class=\"muted\">(%s)</span>", kind);
		if (json_is_true(json_object_get(d, "optional")))
			html_raw(h, " <span class=\"muted\">optional</span>");
		html_raw(h, "</li>");
	}
	html_raw(h, "</ul>");
}

static void
features_html(struct html *h, json_t *line)
{
	const char	*keys[] = { "features", "features2" };
	const char	*k;
	json_t		*f, *val;
	bool		 any = false;

	for (size_t i = 0; i < 2; i++) {
		f = json_object_get(line, keys[i]);
		json_object_foreach(f, k, val) {
			html_put(h, "%R<code>%s</code>", any ? " " : "", k);
			any = true;
		}
	}
	if (!any)
		html_raw(h, "<span class=\"muted\">none</span>");
}

/* "2026-01-01T00:00:00Z" as "2026-01-01 00:00" (32 bytes). */
static void
pubtime(const char *s, char *out)
{
	snprintf(out, 32, "%.16s", s ? s : "");
	if (strlen(out) > 10 && out[10] == 'T')
		out[10] = ' ';
}

/* What a verdict is called on the page ("" for allow). */
static const char *
verdict_word(enum verdict vd)
{
	switch (vd) {
	case VERDICT_FLAG:
		return "flagged";
	case VERDICT_HOLD:
		return "held";
	case VERDICT_DENY:
		return "denied";
	default:
		return "";
	}
}

/* A version's verdict: a badge and its reason (and a hold's end);
 * nothing for allow. */
static void
verdict_html(struct html *h, const struct version *v)
{
	if (v->verdict == VERDICT_ALLOW)
		return;
	html_put(h, "<span class=\"badge verdict verdict-%s\">%s</span>"
	    " <span class=\"reason\">%s</span>", verdict_name(v->verdict),
	    verdict_word(v->verdict), v->reason);
	if (v->summary != NULL)
		html_put(h, " <span class=\"summary\">%s</span>", v->summary);
}

/* The row's class and data attributes: yanked, selected, the verdict. */
static void
row_open(struct html *h, struct crate_job *j, size_t i)
{
	struct version	*v = &j->vs[i];
	char		 cls[64];

	snprintf(cls, sizeof cls, "%s%s%s%s", v->yanked ? " yanked" : "",
	    i == j->sel ? " selected" : "", v->verdict != VERDICT_ALLOW ?
	    " verdict-" : "", v->verdict != VERDICT_ALLOW ?
	    verdict_name(v->verdict) : "");
	html_put(h, "<tr data-version=\"%s\"", v->vers);
	if (v->verdict != VERDICT_ALLOW)
		html_put(h, " data-verdict=\"%s\"", verdict_name(v->verdict));
	if (cls[0] != '\0')
		html_put(h, " class=\"%s\"", cls + 1);
	html_raw(h, ">");
}

static void
version_row(struct html *h, struct crate_job *j, size_t i)
{
	struct version		*v = &j->vs[i];
	const char		*license = NULL;
	char			 size[32], when[32], *key;
	time_t			 used = 0;
	bool			 pinned = false;

	key = xasprintf("%s\n%s\n%s", j->reg->name, j->name, v->vers);
	lic_get(j->w, key, &license);
	free(key);
	pubtime(json_string_value(json_object_get(v->line, "pubtime")),
	    when);
	row_open(h, j, i);
	html_put(h, "<th scope=\"row\"><a href=\"?v=%s\">%s</a>%R</th>",
	    v->vers, v->vers, v->yanked ? " <span class=\"badge state-bad\">"
	    "yanked</span>" : "");
	if (j->pol != NULL) {
		html_raw(h, "<td class=\"policy\">");
		verdict_html(h, v);
		html_raw(h, "</td>");
	}
	html_put(h, "<td>%s</td><td>%s</td><td>%s</td>", when,
	    json_string_value(json_object_get(v->line, "rust_version")),
	    license);
	page_size(v->size, size);
	html_put(h, "<td>%s</td>", v->cached ? size : "");
	if (j->reg->kind == REGISTRY_MIRROR) {
		char	rel[STORE_PATH_MAX];

		store_crate_rel(j->name, v->vers, rel);
		if (v->cached)
			mirror_crate_used(j->reg->mirror, rel, &used, &pinned);
		page_time(used, when);
		html_put(h, "<td class=\"cached\">%s%s%s</td>", v->cached ?
		    "cached" : "not cached", used ? ", last used " : "",
		    when);
	}
	html_raw(h, "<td>");
	features_html(h, v->line);
	html_raw(h, "</td><td>");
	deps_html(h, j, json_object_get(v->line, "deps"));
	html_raw(h, "</td></tr>\n");
}

static void
versions_table(struct html *h, struct crate_job *j)
{
	html_put(h, "<h2 id=\"versions\">Versions (%z)</h2>\n<div"
	    " class=\"table-wrap\"><table class=\"versions%R\">\n<thead><tr>"
	    "<th scope=\"col\">Version</th>%R<th scope=\"col\">Published"
	    "</th><th scope=\"col\">Rust</th><th scope=\"col\">License</th>"
	    "<th scope=\"col\">Size</th>%R<th scope=\"col\">Features</th>"
	    "<th scope=\"col\">Dependencies</th></tr></thead>\n<tbody>\n", j->n,
	    j->pol != NULL ? " with-policy" : "", j->pol != NULL ?
	    "<th scope=\"col\">Policy</th>" : "", j->reg->kind ==
	    REGISTRY_MIRROR ? "<th scope=\"col\">Cache</th>" : "");
	for (size_t i = 0; i < j->n; i++)
		version_row(h, j, i);
	html_raw(h, "</tbody></table></div>\n");
}

static void
cargo_line(struct html *h, struct crate_job *j, const char *vers)
{
	const char	*name = json_string_value(json_object_get(
			    j->vs[j->sel].line, "name"));

	html_raw(h, "<h2>Use it</h2>\n<p>Add to <code>Cargo.toml</code>'s"
	    " <code>[dependencies]</code>:</p>\n<div class=\"codebox\">"
	    "<pre id=\"cargo-toml\">");
	if (j->reg->kind == REGISTRY_MIRROR && config_crates_io(j->reg->cfg))
		html_put(h, "%s = \"%s\"", name, vers);
	else
		html_put(h, "%s = { version = \"%s\", registry = \"%s\" }", name,
		    vers, j->reg->name);
	html_raw(h, "</pre>");
	page_copy_button(h, "cargo-toml");
	html_raw(h, "</div>\n");
	if (j->vs[j->sel].verdict == VERDICT_HOLD || j->vs[j->sel].verdict ==
	    VERDICT_DENY)
		html_put(h, "<p class=\"notice\">This version is %s by the"
		    " registry's policy: cargo is served it yanked, so a new"
		    " resolution does not pick it%s.</p>\n",
		    verdict_word(j->vs[j->sel].verdict), j->vs[j->sel].verdict ==
		    VERDICT_DENY ? ", and its download is refused" : "");
}

static void
facts(struct html *h, struct crate_job *j, const struct crate_doc *doc)
{
	struct version	*v = &j->vs[j->sel];
	json_t		*owners = json_object_get(j->meta, "owners"), *o;
	size_t		 k;

	html_put(h, "<dl class=\"facts\"><dt>Version</dt><dd>%s%R</dd>",
	    v->vers, v->yanked ? " <span class=\"badge state-bad\">yanked"
	    "</span>" : "");
	if (v->verdict != VERDICT_ALLOW) {
		html_raw(h, "<dt>Policy</dt><dd class=\"policy\">");
		verdict_html(h, v);
		html_raw(h, "</dd>");
	}
	if (doc->license != NULL)
		html_put(h, "<dt>License</dt><dd>%s</dd>", doc->license);
	if (doc->repository != NULL && readme_url_safe(doc->repository))
		html_put(h, "<dt>Repository</dt><dd><a href=\"%s\""
		    " rel=\"nofollow noopener\">%s</a></dd>", doc->repository,
		    doc->repository);
	if (j->reg->kind == REGISTRY_HOSTED) {
		html_raw(h, "<dt>Owners</dt><dd class=\"owners\">");
		json_array_foreach(owners, k, o)
			html_put(h, "%R%s", k ? ", " : "", json_string_value(o));
		if (json_array_size(owners) == 0)
			html_raw(h, "<span class=\"muted\">none</span>");
		html_raw(h, "</dd>");
	}
	html_raw(h, "</dl>\n");
}

static void
crate_html(struct html *h, struct crate_job *j, const struct crate_doc *doc,
    bool found)
{
	struct version	*v = &j->vs[j->sel];
	const char	*desc = json_string_value(json_object_get(j->meta,
			    "description"));

	html_put(h, "<p><a href=\"/%s/\">← %s</a></p>\n<h1>%s <span"
	    " class=\"muted\">%s</span></h1>\n", j->reg->name, j->reg->name,
	    json_string_value(json_object_get(v->line, "name")), v->vers);
	if (desc == NULL)
		desc = doc->description;
	if (desc != NULL)
		html_put(h, "<p class=\"description\">%s</p>\n", desc);
	facts(h, j, doc);
	cargo_line(h, j, v->vers);
	versions_table(h, j);
	html_put(h, "<article class=\"readme\" aria-label=\"README\">\n"
	    "<h2>README%R</h2>\n", "");
	if (doc->readme_html != NULL)
		html_raw(h, doc->readme_html);
	else
		html_put(h, "<p class=\"muted\">%s</p>\n", found ? "This version"
		    " has no README." : "The .crate of this version is not"
		    " cached here, so its README cannot be shown.");
	html_raw(h, "</article>\n");
}

static void
crate_free(struct crate_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		json_decref(j->vs[i].line);
		free(j->vs[i].license);
		free(j->vs[i].reason);
		free(j->vs[i].summary);
	}
	regpolicy_unref(j->pol);
	free(j->vs);
	free(j->deps);
	json_decref(j->meta);
	readme_doc_free(&j->doc);
	viewer_finish(&j->v);
	free(j);
}

static double
ms(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static void
crate_done(void *arg)
{
	struct crate_job	*j = arg;
	const struct doc_entry	*de;
	struct html		 h;
	struct timespec		 t2;
	char			*title, *timing, *key;

	j->w->pending--;
	clock_gettime(CLOCK_MONOTONIC, &j->t1);
	if (j->status != 200) {
		page_error(j->w, j->r, &j->v, 404, "There is no crate of that"
		    " name in this registry.");
		crate_free(j);
		return;
	}
	key = xasprintf("%s\n%s\n%s", j->reg->name, j->name,
	    j->vs[j->sel].vers);
	keep_licenses(j);
	if (j->doc_found)
		doc_put(j->w, key, &j->doc, true);
	de = doc_get(j->w, key);
	if (more_to_read(j, de)) {
		j->doc_tried = true;
		j->w->pending++;
		workers_submit(j->w->pool, doc_work, crate_done, j);
		free(key);
		return;
	}
	title = xasprintf("%s %s", j->name, j->vs[j->sel].vers);
	html_init(&h);
	page_start(&h, &j->v, title);
	crate_html(&h, j, de ? &de->doc : &j->doc, de ? de->found :
	    j->doc_found);
	page_end(&h);
	clock_gettime(CLOCK_MONOTONIC, &t2);
	timing = xasprintf("Server-Timing: load;dur=%.3f, render;dur=%.3f\r\n",
	    ms(&j->t0, &j->t1), ms(&j->t1, &t2));
	page_send(j->r, 200, &h, timing);
	free(timing);
	free(title);
	free(key);
	crate_free(j);
}

void
page_crate(struct web *w, struct http_request *r, struct viewer *v,
    struct registry *reg, const char *glob, const char *name)
{
	struct crate_job	*j;

	if (!crate_visible(glob, name)) {
		page_error(w, r, v, 404, "There is no crate of that name in"
		    " this registry.");
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->w = w;
	j->r = r;
	j->reg = reg;
	j->pol = regpolicy_view(reg);
	j->v = *v;
	memset(v, 0, sizeof *v);
	snprintf(j->name, sizeof j->name, "%s", name);
	if (!page_param(r, "v", j->want, sizeof j->want))
		j->want[0] = '\0';
	w->pending++;
	workers_submit(w->pool, crate_work, crate_done, j);
}
