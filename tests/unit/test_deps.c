/*
 * Which dependencies a resolver looks up next (index/deps.c).
 *
 * Index files are built here from short descriptions of crate "demo".
 * JSON in the tables is written with ' for " (dq() swaps them back).
 * Wants are shown sorted by name, each as "name![f,g]{r;s}": "!" when
 * the crate is wanted without its default features, then the features
 * asked of it and the requirements it is asked with, each sorted and
 * each left out when there are none. The files under tests/data/index/
 * are real crates.io index files (see test_indexline.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/deps.h"
#include "index/indexline.h"
#include "tests/tap.h"

_Static_assert(ROOT_RANGES == 2, "the version tables assume 2 root ranges");

#define CK "d3edd4d5d42c92f0a659926464d4cce56b562761267ecf0f469d85b7de384175"
#define FILE_MAX	16384
#define SHOW_MAX	1024

/* s with every ' turned into ", into dst (size bytes). */
static void
dq(char *dst, size_t size, const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		dst[i] = s[i] == '\'' ? '"' : s[i];
	dst[i] = '\0';
}

/* Appends one line of crate demo to file (FILE_MAX bytes). deps and
 * features are ' JSON; extra (may be "") goes last inside the object. */
static void
add_line(char *file, const char *vers, const char *deps,
    const char *features, const char *extra)
{
	char	d[4096], f[4096], x[4096];
	size_t	at = strlen(file);

	dq(d, sizeof d, deps);
	dq(f, sizeof f, features);
	dq(x, sizeof x, extra);
	snprintf(file + at, FILE_MAX - at, "{\"name\":\"demo\",\"vers\":\"%s\","
	    "\"deps\":%s,\"cksum\":\"" CK "\",\"features\":%s%s}\n", vers, d, f,
	    x);
}

static int
by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
by_name(const void *a, const void *b)
{
	const struct want	*x = *(const struct want *const *)a;
	const struct want	*y = *(const struct want *const *)b;

	return strcmp(x->name, y->name);
}

/* Appends the n strings of v, sorted, between open and close, joined by
 * sep; nothing when n is 0. */
static void
show_list(char *out, char *const *v, size_t n, const char *open,
    const char *sep, const char *close)
{
	char	**s;
	size_t	  at = strlen(out);

	if (n == 0)
		return;
	s = calloc(n, sizeof *s);
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, by_str);
	for (size_t i = 0; i < n && at < SHOW_MAX; i++)
		at += snprintf(out + at, SHOW_MAX - at, "%s%s", i ? sep : open,
		    s[i]);
	if (at < SHOW_MAX)
		snprintf(out + at, SHOW_MAX - at, "%s", close);
	free(s);
}

/* w as "a b![f,g]{r}" (see the top), into out (SHOW_MAX bytes). */
static void
show(const struct wants *w, char *out)
{
	const struct want	**v = calloc(w->n + 1, sizeof *v);
	size_t			  i, at;

	out[0] = '\0';
	for (i = 0; i < w->n; i++)
		v[i] = &w->v[i];
	qsort(v, w->n, sizeof *v, by_name);
	for (i = 0; i < w->n && (at = strlen(out)) < SHOW_MAX; i++) {
		snprintf(out + at, SHOW_MAX - at, "%s%s%s", i ? " " : "",
		    v[i]->name, v[i]->feat.defaults ? "" : "!");
		show_list(out, v[i]->feat.names, v[i]->feat.n, "[", ",", "]");
		show_list(out, v[i]->feat.reqs, v[i]->feat.nreqs, "{", ";",
		    "}");
	}
	free(v);
}

/* A featreq: defaults, feats (space-separated names) and reqs
 * (requirements separated by ';'; NULL or "": none). */
static struct featreq
request(bool defaults, const char *feats, const char *reqs)
{
	struct featreq	 r = { .defaults = defaults };
	const char	*s;
	char		 one[256];

	for (s = feats; s != NULL && *s != '\0'; ) {
		size_t	n = strcspn(s, " ");

		featreq_add(&r, s, n);
		s += n + (s[n] == ' ');
	}
	for (s = reqs; s != NULL && *s != '\0'; ) {
		size_t	n = strcspn(s, ";");

		snprintf(one, sizeof one, "%.*s", (int)n, s);
		featreq_add_req(&r, one);
		s += n + (s[n] == ';');
	}
	return r;
}

/* index_file_wants on file under request(defaults, feats, reqs), shown
 * into out. checked: lines from index_file_check_refs (which must pass),
 * else refs NULL. */
static void
wants_of(const char *file, size_t len, bool checked, bool defaults,
    const char *feats, const char *reqs, char *out)
{
	struct featreq		 r = request(defaults, feats, reqs);
	struct index_line_refs	 refs = { NULL, 0 };
	struct wants		 w = { NULL, 0 };

	if (checked && index_file_check_refs(file, len, NULL, NULL,
	    &refs) != 0)
		snprintf(out, SHOW_MAX, "(check failed)");
	else {
		index_file_wants(file, len, checked ? &refs : NULL, &r, &w);
		show(&w, out);
	}
	wants_free(&w);
	index_line_refs_free(&refs);
	featreq_free(&r);
}

static void
test_featreq(void)
{
	struct featreq	f = { 0 }, add = { 0 }, none = { 0 };
	char		r[16];
	int		i;

	featreq_add(&f, "std", 3);
	featreq_add(&f, "std", 3);
	featreq_add(&f, "serde-x", 5);
	featreq_add(&f, "", 0);
	featreq_add(&f, "std", 2);
	ok(f.n == 3 && strcmp(f.names[0], "std") == 0 &&
	    strcmp(f.names[1], "serde") == 0 && strcmp(f.names[2], "st") == 0,
	    "featreq_add: distinct names, len bytes of each, none empty");
	ok(!f.defaults && f.nreqs == 0,
	    "featreq_add leaves defaults and requirements alone");

	ok(!featreq_merge(&f, &none), "merging nothing does not grow");
	featreq_add(&add, "serde", 5);
	featreq_add(&add, "std", 3);
	ok(!featreq_merge(&f, &add) && f.n == 3,
	    "merging names already there does not grow");
	add.defaults = true;
	ok(featreq_merge(&f, &add) && f.defaults && f.n == 3,
	    "merging defaults grows (defaults only)");
	ok(!featreq_merge(&f, &add), "merging defaults again does not grow");
	featreq_add(&add, "alloc", 5);
	ok(featreq_merge(&f, &add) && f.n == 4 &&
	    strcmp(f.names[3], "alloc") == 0, "merging a new name grows");
	add.defaults = false;
	ok(!featreq_merge(&f, &add) && f.defaults,
	    "merging without defaults keeps them");

	featreq_add_req(&add, "^1.2");
	featreq_add_req(&add, "^1.2");
	ok(add.nreqs == 1 && strcmp(add.reqs[0], "^1.2") == 0,
	    "featreq_add_req: distinct requirements");
	ok(featreq_merge(&f, &add) && f.nreqs == 1 && f.n == 4,
	    "merging a new requirement grows");
	ok(!featreq_merge(&f, &add), "merging it again does not grow");
	for (i = 0; i < REQS_MAX + 3; i++) {
		snprintf(r, sizeof r, "^%d", i);
		featreq_add_req(&f, r);
	}
	ok(f.nreqs == REQS_MAX && strcmp(f.reqs[0], "^1.2") == 0 &&
	    strcmp(f.reqs[REQS_MAX - 1], "^6") == 0,
	    "at most REQS_MAX (%d) requirements are kept, the first ones",
	    REQS_MAX);

	ok(featreq_merge(&none, &f) && none.defaults && none.n == 4 &&
	    none.nreqs == REQS_MAX,
	    "merging into an empty featreq copies everything");
	ok(none.names[0] != f.names[0] && none.reqs[0] != f.reqs[0],
	    "the strings are copies");

	featreq_free(&f);
	ok(f.names == NULL && f.n == 0 && !f.defaults && f.reqs == NULL &&
	    f.nreqs == 0, "featreq_free clears");
	featreq_free(&f);
	featreq_free(&add);
	featreq_free(&none);
}

/*
 * Version choice. Each version of demo depends on a crate named after
 * it ("at-1.2.0"), so the wants (sorted) show which versions were read.
 * Tokens: "1.2.0" a line, "1.2.0/y" a yanked line, "#1.2.0" a line
 * without a cksum (JSON, but not an index line), "?" a line that is not
 * JSON.
 */
static void
version_file(char *file, const char *versions)
{
	char		 tok[64], deps[128];
	const char	*s = versions;

	file[0] = '\0';
	while (*s != '\0') {
		size_t		 n = strcspn(s, " "), at;
		char		*slash, *v = tok;
		bool		 yanked;

		snprintf(tok, sizeof tok, "%.*s", (int)n, s);
		s += n + (s[n] == ' ');
		if (strcmp(tok, "?") == 0) {
			strcat(file, "<html>Service Unavailable</html>\n");
			continue;
		}
		if ((yanked = (slash = strchr(tok, '/')) != NULL))
			*slash = '\0';
		if (*v == '#') {
			/* As add_line, less the cksum. */
			v++;
			at = strlen(file);
			snprintf(file + at, FILE_MAX - at, "{\"name\":\"demo\","
			    "\"vers\":\"%s\",\"deps\":[{\"name\":\"at-%s\"}],"
			    "\"features\":{}}\n", v, v);
			continue;
		}
		snprintf(deps, sizeof deps, "[{'name':'at-%s'}]", v);
		add_line(file, v, deps, "{}", yanked ? ",'yanked':true" :
		    ",'yanked':false");
	}
}

/* No requirement known (a root): the newest of the 2 newest ranges. */
static const struct {
	const char	*what, *versions, *want;
} roots[] = {
	{ "one range: the newest",
	    "1.0.0 1.1.0 1.2.0",		"at-1.2.0" },
	{ "the 2 newest majors",
	    "1.0.0 2.0.0 2.1.0 3.0.0",		"at-2.1.0 at-3.0.0" },
	{ "0.x: minors are ranges",
	    "0.1.0 0.1.5 0.2.0 0.2.3 0.3.1",	"at-0.2.3 at-0.3.1" },
	{ "0.0.x: patches are ranges",
	    "0.0.1 0.0.2 0.0.3",		"at-0.0.2 at-0.0.3" },
	{ "0.0.x and 0.x",
	    "0.0.1 0.0.2 0.1.0 0.1.1",		"at-0.0.2 at-0.1.1" },
	{ "0.x and 1.x",
	    "0.0.2 0.1.0 0.1.1 1.0.0",		"at-0.1.1 at-1.0.0" },
	{ "file order does not matter",
	    "3.0.0 1.0.0 2.0.0 2.5.0 2.2.0",	"at-2.5.0 at-3.0.0" },
	{ "parts compare as numbers",
	    "1.9.0 1.10.0 0.9.0",		"at-0.9.0 at-1.10.0" },
	{ "a yanked newest falls back",
	    "1.0.0 1.1.0/y",			"at-1.0.0" },
	{ "a range only yanked is no range",
	    "1.0.0 2.0.0/y 3.0.0",		"at-1.0.0 at-3.0.0" },
	{ "all yanked: nothing",
	    "1.0.0/y 2.0.0/y",			"" },
	{ "a newer pre-release is skipped",
	    "1.0.0 1.1.0-rc.1 2.0.0-rc.1",	"at-1.0.0" },
	{ "an older pre-release is skipped",
	    "0.9.0-rc.1 1.0.0",			"at-1.0.0" },
	{ "only pre-releases: they count",
	    "1.0.0-rc.1 2.0.0-alpha 2.0.0-rc.2 2.0.0-rc.10",
	    "at-1.0.0-rc.1 at-2.0.0-rc.10" },
	{ "pre-release order: alpha < beta",
	    "1.0.0-alpha 1.0.0-beta",		"at-1.0.0-beta" },
	{ "a line that is not JSON is skipped",
	    "1.0.0 ? 2.0.0",			"at-1.0.0 at-2.0.0" },
	{ "a line that is no index line is skipped",
	    "1.0.0 #2.0.0 #1.1.0",		"at-1.0.0" },
	{ "an empty file",
	    "",					"" },
};

/* Requirements known (separated by ';'): the newest version each
 * allows, read once. */
#define VS	"0.9.0 1.0.0 1.2.0 1.3.0 1.4.0/y 2.0.0 2.1.0-rc.1"
static const struct {
	const char	*versions, *reqs, *want;
} reqs[] = {
	{ VS,	"^1.2",			"at-1.3.0" },
	{ VS,	"^1.2;^2",		"at-1.3.0 at-2.0.0" },
	{ VS,	"^1;^1.3",		"at-1.3.0" },
	{ VS,	"=1.2.0",		"at-1.2.0" },
	{ VS,	"~1.0",			"at-1.0.0" },
	{ VS,	">=1.0, <1.3",		"at-1.2.0" },
	{ VS,	"^0.9",			"at-0.9.0" },
	{ VS,	"*",			"at-2.0.0" },
	{ VS,	"^2",			"at-2.0.0" },
	{ VS,	"^2.1.0-rc.1",		"at-2.1.0-rc.1" },
	{ VS,	"^3",			"" },
	{ VS,	"^3;^0.9",		"at-0.9.0" },
	{ "0.2.0 0.2.3 0.3.0",		"^0.2",	"at-0.2.3" },
	{ "0.0.1 0.0.2",		"^0.0.1", "at-0.0.1" },
	{ "1.0.0-rc.1 1.0.0-rc.2",	"^1",	"" },
	{ "1.0.0 #1.5.0 ?",		"^1",	"at-1.0.0" },
};

/* Tokens "#" and "?" make a file index_file_check_refs refuses. */
static bool
checkable(const char *versions)
{
	return versions[0] != '\0' && strpbrk(versions, "#?") == NULL;
}

static void
test_choice(void)
{
	char	file[FILE_MAX], got[SHOW_MAX];
	size_t	i;

	for (i = 0; i < sizeof roots / sizeof roots[0]; i++) {
		version_file(file, roots[i].versions);
		wants_of(file, strlen(file), false, true, NULL, NULL, got);
		is_str(got, roots[i].want, "root: %s: %s", roots[i].what,
		    roots[i].versions);
		if (!checkable(roots[i].versions))
			continue;
		wants_of(file, strlen(file), true, true, NULL, NULL, got);
		is_str(got, roots[i].want, "root: %s: the same from checked "
		    "refs", roots[i].what);
	}
	for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		version_file(file, reqs[i].versions);
		wants_of(file, strlen(file), false, true, NULL, reqs[i].reqs,
		    got);
		is_str(got, reqs[i].want, "requirements %s of %s",
		    reqs[i].reqs, reqs[i].versions);
		if (!checkable(reqs[i].versions))
			continue;
		wants_of(file, strlen(file), true, true, NULL, reqs[i].reqs,
		    got);
		is_str(got, reqs[i].want, "requirements %s: the same from "
		    "checked refs", reqs[i].reqs);
	}
}

/*
 * Dependency selection: one version of demo with these deps, features
 * (and features2, when not NULL), asked for its default features or not
 * and for the space-separated feats.
 */
#define R	"{'name':'r'}"			/* required */
#define O	"{'name':'o','optional':true}"	/* optional */
#define P	"{'name':'p','optional':true}"
#define OR	"[" O "," R "]"

static const struct {
	const char	*what, *deps, *features, *features2;
	bool		 defaults;
	const char	*feats, *want;
} sels[] = {
	/* Kinds, targets, registries. */
	{ "normal, build and kindless deps; never dev",
	  "[{'name':'a','kind':'normal'},{'name':'b','kind':'build'},"
	  "{'name':'c'},{'name':'d','kind':'dev'},{'name':'e','kind':null}]",
	  "{}", NULL, true, "", "a b c e" },
	{ "target-specific deps",
	  "[{'name':'u','target':'cfg(unix)'},"
	  "{'name':'w','target':'cfg(windows)'}]",
	  "{}", NULL, true, "", "u w" },
	{ "a dep on another registry is left out",
	  "[{'name':'a','registry':'https://github.com/rust-lang/"
	  "crates.io-index'},{'name':'b'}]",
	  "{}", NULL, true, "", "b" },
	/* crated's own index lines (publish_index_line) carry
	 * "registry":null, which cargo reads as this registry. */
	{ "registry null is this registry",
	  "[{'name':'a','registry':null,'package':null},{'name':'b'}]",
	  "{}", NULL, true, "", "a b" },
	{ "a dev dep is never turned on by a feature",
	  "[{'name':'d','kind':'dev','optional':true}]",
	  "{'x':['dep:d','d/f']}", NULL, true, "x", "" },

	/* Optional deps and what turns them on. */
	{ "an optional dep is off by default",
	  OR, "{}", NULL, true, "", "r" },
	{ "\"default\" turns on dep:o",
	  OR, "{'default':['dep:o']}", NULL, true, "", "o r" },
	{ "\"default\" not asked for",
	  OR, "{'default':['dep:o']}", NULL, false, "", "r" },
	{ "a requested feature turns on dep:o",
	  OR, "{'fo':['dep:o']}", NULL, false, "fo", "o r" },
	{ "a feature not requested",
	  OR, "{'fo':['dep:o']}", NULL, true, "", "r" },
	{ "o/f turns on o and asks f of it",
	  OR, "{'fo':['o/fast']}", NULL, false, "fo", "o[fast] r" },
	{ "r/f on a required dep asks f",
	  OR, "{'fr':['r/fast']}", NULL, false, "fr", "r[fast]" },
	/* cargo's resolver looks o up for "o?/f" as for "o/f" (cargo
	 * PR #8818, issues #10801 and #11426): so does the prefetch. */
	{ "o?/f alone turns o on, as in cargo's resolver",
	  OR, "{'fo':['o?/fast']}", NULL, false, "fo", "o[fast] r" },
	{ "o?/f after o is on",
	  OR, "{'on':['dep:o'],'fo':['o?/fast']}", NULL, false, "on fo",
	  "o[fast] r" },
	/* "Only if o is on otherwise": the order the features are visited
	 * in must not matter. */
	{ "o?/f before o is on",
	  OR, "{'on':['dep:o'],'fo':['o?/fast']}", NULL, false, "fo on",
	  "o[fast] r" },
	{ "o?/f by default, o asked for by name",
	  OR, "{'default':['std'],'std':['o?/std']}", NULL, true, "o",
	  "o[std] r" },
	{ "o?/f and dep:o in one feature, weak first",
	  OR, "{'x':['o?/std','dep:o']}", NULL, false, "x", "o[std] r" },
	{ "r?/f on a required dep asks f",
	  OR, "{'fr':['r?/fast']}", NULL, false, "fr", "r[fast]" },
	{ "an implicit feature, requested",
	  OR, "{}", NULL, false, "o", "o r" },
	{ "an implicit feature, from default",
	  OR, "{'default':['o']}", NULL, true, "", "o r" },
	{ "an implicit feature, from another feature",
	  OR, "{'x':['y'],'y':['o']}", NULL, false, "x", "o r" },
	{ "features2 is read",
	  OR, "{}", "{'f2':['dep:o','o/x']}", false, "f2", "o[x] r" },
	{ "features2 from default",
	  OR, "{'default':['f2']}", "{'f2':['dep:o']}", true, "", "o r" },
	{ "an unknown feature turns nothing on",
	  OR, "{}", NULL, true, "nope", "r" },
	{ "a feature cycle ends",
	  OR, "{'a':['b'],'b':['c','a'],'c':['a','b','dep:o']}", NULL, false,
	  "a", "o r" },
	{ "a feature naming itself",
	  OR, "{'a':['a','o/z']}", NULL, false, "a", "o[z] r" },
	{ "a feature turns on two optional deps",
	  "[" O "," P "]", "{'both':['dep:o','p']}", NULL, false, "both",
	  "o p" },
	/* cargo (Requirements::require_dep_feature): o/f on an optional o
	 * also turns on feature o, here an explicit one turning on p. */
	{ "o/f turns on feature o too",
	  "[" O "," P "]", "{'std':['o/std'],'o':['dep:o','dep:p']}", NULL,
	  false, "std", "o[std] p" },

	/* Renames, features, defaults and requirements of the wants. */
	{ "a renamed dep is wanted under its package name",
	  "[{'name':'o2','package':'orig','optional':true,'features':['f']}]",
	  "{'x':['o2/g']}", NULL, false, "x", "orig[f,g]" },
	{ "features name a renamed dep by its new name",
	  "[{'name':'o2','package':'orig','optional':true}]",
	  "{'x':['dep:orig','orig/g']}", NULL, false, "x", "" },
	{ "the dep's features and default_features",
	  "[{'name':'a','features':['p','q'],'default_features':false}]",
	  "{}", NULL, true, "", "a![p,q]" },
	{ "default_features missing means true",
	  "[{'name':'a','features':['p']}]", "{}", NULL, true, "", "a[p]" },
	{ "x/f adds to the dep's features, once each",
	  "[{'name':'a','features':['p']}]", "{'default':['a/p','a/q','a/q']}",
	  NULL, true, "", "a[p,q]" },
	{ "the dep's requirement",
	  "[{'name':'a','req':'^1.2'},{'name':'b','req':'>=0.3, <0.5'}]",
	  "{}", NULL, true, "", "a{^1.2} b{>=0.3, <0.5}" },
	{ "one crate listed for two targets: merged",
	  "[{'name':'a','target':'cfg(unix)','features':['u'],'req':'^1'},"
	  "{'name':'a','target':'cfg(windows)','features':['w'],"
	  "'default_features':false,'req':'^1.1'}]",
	  "{}", NULL, true, "", "a[u,w]{^1;^1.1}" },
	{ "optional for one target, required for another",
	  "[{'name':'a','optional':true,'target':'cfg(unix)','features':['u']},"
	  "{'name':'a','target':'cfg(windows)'}]",
	  "{}", NULL, true, "", "a" },
	{ "x/f reaches every entry of a crate listed twice",
	  "[{'name':'a','optional':true,'target':'cfg(unix)'},"
	  "{'name':'a','optional':true,'target':'cfg(windows)',"
	  "'default_features':false}]",
	  "{'x':['a/f']}", NULL, false, "x", "a[f]" },
	{ "one want per crate, case-insensitively",
	  "[{'name':'Foo','default_features':false},"
	  "{'name':'foo','features':['x']}]",
	  "{}", NULL, true, "", "Foo[x]" },
};

static void
test_select(void)
{
	char	file[FILE_MAX], extra[4096], got[SHOW_MAX], again[SHOW_MAX];
	size_t	i;

	for (i = 0; i < sizeof sels / sizeof sels[0]; i++) {
		file[0] = '\0';
		snprintf(extra, sizeof extra, "%s%s", sels[i].features2 ?
		    ",'features2':" : "", sels[i].features2 ?
		    sels[i].features2 : "");
		add_line(file, "1.0.0", sels[i].deps, sels[i].features, extra);
		wants_of(file, strlen(file), false, sels[i].defaults,
		    sels[i].feats, NULL, got);
		is_str(got, sels[i].want, "%s", sels[i].what);
		wants_of(file, strlen(file), true, sels[i].defaults,
		    sels[i].feats, NULL, again);
		is_str(again, got, "%s: the same from checked refs",
		    sels[i].what);
	}
}

/* Several versions read: their wants are merged by crate name. */
static void
test_across(void)
{
	char		 file[FILE_MAX], got[SHOW_MAX];
	struct featreq	 r = { .defaults = true };
	struct wants	 w = { NULL, 0 };

	file[0] = '\0';
	add_line(file, "2.0.0", "[{'name':'Serde','default_features':false,"
	    "'features':['x'],'req':'^1'},{'name':'new'}]",
	    "{'default':['Serde/y']}", "");
	add_line(file, "1.0.0", "[{'name':'serde','default_features':false,"
	    "'features':['x','z'],'req':'^0.9'},{'name':'old'},"
	    "{'name':'gone','kind':'dev'}]", "{}", "");
	add_line(file, "0.1.0", "[{'name':'SERDE','default_features':false,"
	    "'req':'^0.8'}]", "{}", "");
	wants_of(file, strlen(file), false, true, NULL, NULL, got);
	is_str(got, "Serde![x,y,z]{^0.9;^1} new old",
	    "the 2 newest ranges merged; the first name kept");
	wants_of(file, strlen(file), false, true, NULL, "^2;^1;^0.1", got);
	is_str(got, "Serde![x,y,z]{^0.8;^0.9;^1} new old",
	    "3 requirements read 3 versions");

	file[0] = '\0';
	add_line(file, "2.0.0", "[{'name':'a','default_features':false}]",
	    "{}", "");
	add_line(file, "1.0.0", "[{'name':'a'}]", "{}", "");
	wants_of(file, strlen(file), false, true, NULL, NULL, got);
	is_str(got, "a", "defaults wanted by any version win");

	/* out is appended to, and merged into. */
	index_file_wants(file, strlen(file), NULL, &r, &w);
	index_file_wants(file, strlen(file), NULL, &r, &w);
	show(&w, got);
	is_str(got, "a", "a second call merges into out");
	file[0] = '\0';
	add_line(file, "1.0.0", "[{'name':'A','features':['f'],'req':'^1'},"
	    "{'name':'b'}]", "{}", "");
	index_file_wants(file, strlen(file), NULL, &r, &w);
	show(&w, got);
	is_str(got, "a[f]{^1} b", "another file adds to out");
	wants_free(&w);
	ok(w.v == NULL && w.n == 0, "wants_free clears");
	wants_free(&w);
	featreq_free(&r);
}

/* Real index files: path under tests/data/index, request, wants. */
static const struct {
	const char	*path;
	bool		 defaults;
	const char	*feats, *reqs, *want;
} reals[] = {
	/* 0.7.0 and 0.6.0; serde_derive is a dev dep. */
	{ "se/rd/serde-value",	true,	"",	NULL,
	  "ordered-float{^1.0.1;^2.0.0} serde{^1.0.0}" },
	{ "se/rd/serde-value",	false,	"",	"^0.3",
	  "ordered-float{^0.2.0} serde{^0.8.0}" },
	{ "se/rd/serde-value",	true,	"",	"^0.4;=0.5.0",
	  "ordered-float{^0.4.0} serde{^0.9.9;^1.0.0}" },
	{ "se/rd/serde-value",	true,	"",	"^9",	"" },
	{ "3/f/fnv",		true,	"std",	NULL, "" },
	/* 1.1.0 (defmt optional, in features2) and 0.1.3 (nb itself;
	 * futures dev). */
	{ "2/nb",		true,	"",	NULL, "nb{^1}" },
	{ "2/nb",		false,	"defmt-0-3", NULL,
	  "defmt{^0.3} nb{^1}" },
	{ "2/nb",		true,	"defmt-0-3", "^0.1", "nb{^1}" },
	/* 0.1.5 only: 0.0.0 is yanked, 0.2.0-pre.0 a pre-release, 0.1.1
	 * (packed_simd renamed from packed_simd_2) older. */
	{ "ke/cc/keccak",	true,	"simd",	NULL,
	  "cpufeatures{^0.2}" },
	{ "ke/cc/keccak",	true,	"simd",	"=0.1.1",
	  "packed_simd_2{^0.3.7}" },
	{ "ke/cc/keccak",	true,	"",	"=0.1.1", "" },
	{ "ke/cc/keccak",	true,	"",	"^0.2.0-pre.0",
	  "cpufeatures{^0.2}" },
	{ "ob/jc/objc2-exception-helper", true, "", NULL,
	  "cc{^1.0.80}" },
	{ "em/ba/embassy-time-queue-driver", true, "", NULL, "" },
	/* tokio is also a dev dep, with other features. */
	{ "re/cv/recvmsg",	true,	"",	NULL,	"" },
	{ "re/cv/recvmsg",	false,	"std_net", NULL,
	  "libc{^0.2.150} windows-sys[Win32_Networking_WinSock]{^0.52.0}" },
	{ "re/cv/recvmsg",	true,	"tokio", NULL,
	  "libc{^0.2.150} tokio[net]{^1.34.0} "
	  "windows-sys[Win32_Networking_WinSock]{^0.52.0}" },
	/* 1.6.2 and 0.4.5; 0.4.5 has optional deunicode1 (package
	 * deunicode, no defaults), "alloc": ["deunicode1?/alloc"]. */
	{ "de/un/deunicode",	true,	"",	NULL,	"deunicode![alloc]{^1}" },
	{ "de/un/deunicode",	false,	"force-upgrade", NULL,
	  "deunicode!{^1}" },
	{ "de/un/deunicode",	true,	"force-upgrade", NULL,
	  "deunicode![alloc]{^1}" },
	{ "de/un/deunicode",	true,	"force-upgrade", "^1", "" },
};

static void
test_real(void)
{
	char	 rel[256], got[SHOW_MAX], again[SHOW_MAX], *buf;
	size_t	 i, len;

	for (i = 0; i < sizeof reals / sizeof reals[0]; i++) {
		snprintf(rel, sizeof rel, "index/%s", reals[i].path);
		buf = test_data(rel, &len);
		ok(buf != NULL, "read %s (set CRATED_TEST_DATA)", rel);
		if (buf == NULL)
			continue;
		wants_of(buf, len, false, reals[i].defaults, reals[i].feats,
		    reals[i].reqs, got);
		is_str(got, reals[i].want, "%s, %sdefaults, features \"%s\", "
		    "requirements \"%s\"", reals[i].path, reals[i].defaults ?
		    "" : "no ", reals[i].feats, reals[i].reqs ? reals[i].reqs :
		    "");
		wants_of(buf, len, true, reals[i].defaults, reals[i].feats,
		    reals[i].reqs, again);
		is_str(again, got, "%s: the same from checked refs",
		    reals[i].path);
		free(buf);
	}
}

int
main(void)
{
	test_featreq();
	test_choice();
	test_select();
	test_across();
	test_real();
	return done_testing();
}
