/*
 * RustSec advisory snapshots (policy.h): the OSV export
 * (crates/RUSTSEC-*.json) and the main layout (crates/NAME/RUSTSEC-*.md),
 * from a directory or a .tar.gz, optionally under one top directory
 * (advisory-db-main/crates/...). Everything is bounded: the entries looked
 * at, each file's size, the bytes read, the advisories, the events and
 * requirements of one advisory. A file that does not parse fails the whole
 * load with its name in the cause. Pure.
 */
#include "policy/policy.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "index/causequote.h"
#include "index/name.h"
#include "index/toml.h"

#define FILE_MAX	(1024 * 1024)		/* one advisory file */
#define TOTAL_MAX	(256 * 1024 * 1024)	/* all advisory files */
#define ENTRIES_MAX	200000	/* archive or directory entries looked at */
#define ADVISORIES_MAX	50000
#define LIST_MAX	1024	/* affected[], ranges[], events[], versions[],
				   patched + unaffected of one advisory */
#define PATHLEN_MAX	1024
#define WALK_DEPTH	4	/* TOP/crates/NAME/FILE */
#define ID_MAX		64
#define SUMMARY_MAX	300

enum { PATH_SKIP, PATH_OSV, PATH_MD, PATH_BAD };

/* A version with its text (the semver borrows from it). */
struct ver {
	char		*text;
	struct semver	 v;
};

enum bound_kind { B_NONE, B_INCL, B_EXCL };

struct bound {
	enum bound_kind	 kind;
	struct ver	 v;
};

/* Main layout: a patched or unaffected requirement, as an interval. */
struct interval {
	struct bound	lo, hi;
};

enum ev_type { EV_INTRODUCED, EV_FIXED, EV_LAST_AFFECTED, EV_LIMIT };

struct event {
	enum ev_type	 type;
	int		 special;	/* introduced "0", limit "*" */
	struct ver	 v;
};

/* OSV: one range's events, sorted by precedence. */
struct range {
	struct event	*ev;
	size_t		 n;
};

/* What struct advisory's ranges points at. */
struct affects {
	int		 osv;
	struct interval	*iv;		/* main layout: not affected */
	size_t		 niv;
	struct range	*r;		/* OSV */
	size_t		 nr;
	struct ver	*vers;		/* OSV: affected[].versions */
	size_t		 nvers;
	char		*kind;		/* advisory_kind */
	size_t		 file;		/* where it was read, for duplicates */
};

struct entry {
	char			 canon[CRATE_NAME_MAX + 1];
	struct advisory		*a;
};

struct advisory_db {
	struct advisory		**adv;
	size_t			  n, cap;
	struct entry		 *idx;		/* by canon, then id */
	char			  id[64];
	char			  date[11];
};

struct file {
	char		*path;		/* from crates/ on */
	unsigned char	 md[32];	/* SHA-256 of its bytes */
};

struct loader {
	struct advisory_db	*db;
	const char		*src;		/* the snapshot, for causes */
	char			*cause;
	size_t			 entries, bytes;
	struct file		*files;
	size_t			 nfiles, capfiles;
	char			 newest[11];
};

static void	fail(struct loader *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first error (later ones are consequences). */
static void
fail(struct loader *ld, const char *fmt, ...)
{
	va_list	ap;

	if (ld->cause != NULL)
		return;
	va_start(ap, fmt);
	ld->cause = xvasprintf(fmt, ap);
	va_end(ap);
}

/* ---- versions and their intervals ---- */

static int
ver_set(struct ver *w, const char *s)
{
	w->text = xstrdup(s);
	if (semver_parse(w->text, &w->v, NULL) == 0)
		return 0;
	free(w->text);
	w->text = NULL;
	return -1;
}

/* A version from its parts, as rustsec's comp_to_ver and increment make
 * them: "M.m.p" and "-pre" when pre is not NULL. */
static void
ver_make(struct ver *w, uint64_t ma, uint64_t mi, uint64_t pa,
    const char *pre, size_t prelen)
{
	w->text = pre != NULL ? xasprintf("%llu.%llu.%llu-%.*s",
	    (unsigned long long)ma, (unsigned long long)mi,
	    (unsigned long long)pa, (int)prelen, pre) :
	    xasprintf("%llu.%llu.%llu", (unsigned long long)ma,
	    (unsigned long long)mi, (unsigned long long)pa);
	(void)semver_parse(w->text, &w->v, NULL);	/* checked parts */
}

static int
above(const struct bound *b, const struct semver *v)
{
	int	d;

	if (b->kind == B_NONE)
		return 1;
	d = semver_cmp(v, &b->v.v);
	return d > 0 || (d == 0 && b->kind == B_INCL);
}

static int
below(const struct bound *b, const struct semver *v)
{
	int	d;

	if (b->kind == B_NONE)
		return 1;
	d = semver_cmp(v, &b->v.v);
	return d < 0 || (d == 0 && b->kind == B_INCL);
}

/* One comparator of a checked requirement, as the semver crate reads it:
 * an operator ("" is caret), 1 to 3 numbers, a pre-release. */
struct comp {
	char		 op[3];
	uint64_t	 n[3];
	int		 parts;
	const char	*pre;
	size_t		 prelen;
};

static const char *
comp_read(const char **sp, struct comp *c)
{
	const char	*s = *sp;
	char		*end;
	size_t		 k = 0;

	memset(c, 0, sizeof *c);
	while (*s == ' ')
		s++;
	while (k < 2 && *s != '\0' && strchr("<>=^~", *s) != NULL)
		c->op[k++] = *s++;
	while (*s == ' ')
		s++;
	for (c->parts = 0; c->parts < 3; ) {
		if (*s == '*' || *s == 'x' || *s == 'X')
			return "wildcards are not supported in advisories "
			    "(rustsec refuses them)";
		c->n[c->parts] = strtoull(s, &end, 10);
		s = end;
		if (c->n[c->parts] >= UINT64_MAX - 1)
			return "a number is too large";
		c->parts++;
		if (*s != '.')
			break;
		s++;
	}
	if (*s == '-') {
		c->pre = ++s;
		while (*s != '\0' && *s != '+' && *s != ',' && *s != ' ')
			s++;
		c->prelen = (size_t)(s - c->pre);
	}
	while (*s != '\0' && *s != ',')
		s++;
	*sp = *s == ',' ? s + 1 : s;
	return NULL;
}

/* Caret and tilde: the exclusive end rustsec gives them ("^1.2" ends at
 * 2.0.0-0, "^0.2" at 0.3.0-0, "^0.0.3" at 0.0.4-0, "~1.2" at 1.3.0-0). */
static void
upper(const struct comp *c, struct bound *hi)
{
	uint64_t	ma = c->n[0], mi = 0, pa = 0;

	if (c->op[0] == '~') {
		if (c->parts == 1)
			ma++;
		else
			mi = c->n[1] + 1;
	} else if (ma > 0 || c->parts == 1)
		ma++;
	else if (c->parts == 3 && c->n[1] == 0)
		pa = c->n[2] + 1;
	else
		mi = c->n[1] + 1;
	hi->kind = B_EXCL;
	ver_make(&hi->v, ma, mi, pa, "0", 1);
}

/* A lower or upper bound from c into b; why not, or NULL. */
static const char *
set_bound(struct bound *b, const struct comp *c, enum bound_kind kind,
    const char *which)
{
	if (b->kind != B_NONE)
		return which;
	b->kind = kind;
	ver_make(&b->v, c->n[0], c->parts > 1 ? c->n[1] : 0,
	    c->parts > 2 ? c->n[2] : 0, c->pre, c->prelen);
	return NULL;
}

/* A patched or unaffected requirement as rustsec's UnaffectedRange reads
 * it (unaffected_range.rs): at most two comparators, one bound of each
 * side; '=', '^', '~' and a bare version alone. NULL, or why not. */
static const char *
req_interval(const char *req, struct interval *iv)
{
	const char	*s = req, *w = NULL;
	struct comp	 c[3];
	int		 n = 0, i;

	memset(iv, 0, sizeof *iv);
	while (*s == ' ')
		s++;
	if (strcmp(s, "*") == 0)
		return NULL;
	if (semver_req_check(req, NULL) != 0)
		return "not a version requirement";
	while (*s != '\0' && n < 3)
		if ((w = comp_read(&s, &c[n++])) != NULL)
			return w;
	if (n > 2)
		return "more than two comparators";
	for (i = 0; i < n && w == NULL; i++) {
		const char	*op = c[i].op;

		if (strcmp(op, ">") == 0 || strcmp(op, ">=") == 0)
			w = set_bound(&iv->lo, &c[i], op[1] ? B_INCL : B_EXCL,
			    "more than one lower bound");
		else if (strcmp(op, "<") == 0 || strcmp(op, "<=") == 0)
			w = set_bound(&iv->hi, &c[i], op[1] ? B_INCL : B_EXCL,
			    "more than one upper bound");
		else if (n != 1)
			w = "'=', '^', '~' and a bare version must be alone";
		else if (strcmp(op, "=") == 0) {
			set_bound(&iv->lo, &c[i], B_INCL, NULL);
			set_bound(&iv->hi, &c[i], B_INCL, NULL);
		} else if (strcmp(op, "^") == 0 || strcmp(op, "~") == 0 ||
		    op[0] == '\0') {
			set_bound(&iv->lo, &c[i], B_INCL, NULL);
			upper(&c[i], &iv->hi);
		} else
			w = "unknown operator";
	}
	return w;
}

static void
interval_free(struct interval *iv)
{
	free(iv->lo.v.text);
	free(iv->hi.v.text);
}

/* ---- what an advisory affects ---- */

static int
osv_range_affects(const struct range *r, const struct semver *v)
{
	size_t	i;
	int	limited = 0, before = 0, vuln = 0;

	for (i = 0; i < r->n; i++) {
		if (r->ev[i].type != EV_LIMIT)
			continue;
		limited = 1;
		if (r->ev[i].special || semver_cmp(v, &r->ev[i].v.v) < 0)
			before = 1;
	}
	if (limited && !before)
		return 0;
	for (i = 0; i < r->n; i++) {
		const struct event	*e = &r->ev[i];

		if (e->type == EV_INTRODUCED && (e->special ||
		    semver_cmp(v, &e->v.v) >= 0))
			vuln = 1;
		else if (e->type == EV_FIXED && semver_cmp(v, &e->v.v) >= 0)
			vuln = 0;
		else if (e->type == EV_LAST_AFFECTED &&
		    semver_cmp(v, &e->v.v) > 0)
			vuln = 0;
	}
	return vuln;
}

int
advisory_affects(const struct advisory *adv, const struct semver *v)
{
	const struct affects	*af = adv->ranges;
	size_t			 i;

	if (af->osv) {
		for (i = 0; i < af->nvers; i++)
			if (semver_cmp(v, &af->vers[i].v) == 0)
				return 1;
		for (i = 0; i < af->nr; i++)
			if (osv_range_affects(&af->r[i], v))
				return 1;
		return 0;
	}
	for (i = 0; i < af->niv; i++)
		if (above(&af->iv[i].lo, v) && below(&af->iv[i].hi, v))
			return 0;
	return 1;
}

const char *
advisory_kind(const struct advisory *adv)
{
	const struct affects	*af = adv->ranges;

	return af->kind;
}

static void
affects_free(struct affects *af)
{
	size_t	i, j;

	if (af == NULL)
		return;
	for (i = 0; i < af->niv; i++)
		interval_free(&af->iv[i]);
	for (i = 0; i < af->nr; i++) {
		for (j = 0; j < af->r[i].n; j++)
			free(af->r[i].ev[j].v.text);
		free(af->r[i].ev);
	}
	for (i = 0; i < af->nvers; i++)
		free(af->vers[i].text);
	free(af->iv);
	free(af->r);
	free(af->vers);
	free(af->kind);
	free(af);
}

static void
advisory_free(struct advisory *a)
{
	if (a == NULL)
		return;
	free(a->id);
	free(a->package);
	free(a->summary);
	free(a->date);
	affects_free(a->ranges);
	free(a);
}

/* ---- reading the fields both layouts share ---- */

/* A category or informational word, kept if it is one: [a-z0-9-]. */
static char *
word(const char *s)
{
	size_t	n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");

	return n > 0 && n <= 40 && s[n] == '\0' ? xstrdup(s) : NULL;
}

/* The one-line summary: control bytes made spaces, cut at SUMMARY_MAX
 * bytes on a character boundary. */
static char *
one_line(const char *s, size_t len)
{
	char	*out;
	size_t	 i;

	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\r'))
		len--;
	if (len > SUMMARY_MAX) {
		len = SUMMARY_MAX;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	out = xstrndup(s, len);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return out;
}

/* "YYYY-MM-DD" at the start of s, or NULL. */
static char *
day(const char *s)
{
	static const char	shape[] = "dddd-dd-dd";
	size_t			i;

	if (s == NULL || strlen(s) < 10)
		return NULL;
	for (i = 0; i < 10; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    s[i] != shape[i])
			return NULL;
	return xstrndup(s, 10);
}

static void
newest(struct loader *ld, const char *date)
{
	char	*d = day(date);

	if (d != NULL && strcmp(d, ld->newest) > 0)
		memcpy(ld->newest, d, 11);
	free(d);
}

/* 0 when id is a plausible advisory id named by file (base name "ID.ext"). */
static int
check_id(struct loader *ld, const char *rel, const char *id, const char *ext)
{
	const char	*base = strrchr(rel, '/') + 1;
	size_t		 n = strlen(id), i;

	for (i = 0; i < n; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			break;
	if (n == 0 || n > ID_MAX || i < n) {
		fail(ld, "%s: id \"%s\" is not an advisory id (A-Z, 0-9, "
		    "'-', at most %d)", rel, cause_quote(id), ID_MAX);
		return -1;
	}
	if (strncmp(base, id, n) != 0 || strcmp(base + n, ext) != 0) {
		fail(ld, "%s: its id is \"%s\", not the file's name", rel, id);
		return -1;
	}
	return 0;
}

/* The kind: malicious, first category, informational, vulnerability. */
static char *
kind_of(int malicious, const char *category, const char *informational)
{
	char	*w;

	if (malicious)
		return xstrdup("malicious");
	if (category != NULL && (w = word(category)) != NULL)
		return w;
	if (informational != NULL && (w = word(informational)) != NULL)
		return w;
	return xstrdup("vulnerability");
}

static void
add(struct loader *ld, struct advisory *a)
{
	struct advisory_db	*db = ld->db;

	if (db->n == ADVISORIES_MAX) {
		fail(ld, "%s: more than %d advisories", ld->src,
		    ADVISORIES_MAX);
		advisory_free(a);
		return;
	}
	if (db->n == db->cap) {
		db->cap = db->cap != 0 ? db->cap * 2 : 256;
		db->adv = xreallocarray(db->adv, db->cap, sizeof *db->adv);
	}
	db->adv[db->n++] = a;
}

/* ---- the OSV export: crates/RUSTSEC-*.json ---- */

/* An optional string member: 0 and *out (borrowed; NULL when absent or
 * null), or -1 when it is something else. */
static int
jstr(struct loader *ld, const char *rel, const json_t *o, const char *key,
    const char **out)
{
	const json_t	*v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		fail(ld, "%s: \"%s\" is not a string", rel, key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int
ev_rank(const struct event *e)
{
	if (!e->special)
		return 0;
	return e->type == EV_LIMIT ? 1 : -1;	/* "*" last, "0" first */
}

/* OSV's order of events: by precedence, "0" first; stable. */
static void
ev_sort(struct event *ev, size_t n)
{
	struct event	t;
	size_t		i, j;
	int		ra, rb, d;

	for (i = 1; i < n; i++) {
		t = ev[i];
		for (j = i; j > 0; j--) {
			ra = ev_rank(&ev[j - 1]);
			rb = ev_rank(&t);
			d = ra != 0 || rb != 0 ? (ra > rb) - (ra < rb) :
			    semver_cmp(&ev[j - 1].v.v, &t.v.v);
			if (d <= 0)
				break;
			ev[j] = ev[j - 1];
		}
		ev[j] = t;
	}
}

static int
osv_event(struct loader *ld, const char *rel, json_t *e, struct event *ev)
{
	static const char *const names[] = { "introduced", "fixed",
	    "last_affected", "limit" };
	const char	*k, *s;
	void		*it;
	size_t		 t;

	if (!json_is_object(e) || json_object_size(e) != 1 ||
	    (it = json_object_iter(e)) == NULL) {
		fail(ld, "%s: an event must have one member, introduced, "
		    "fixed, last_affected or limit", rel);
		return -1;
	}
	k = json_object_iter_key(it);
	for (t = 0; t < 4 && strcmp(k, names[t]) != 0; t++)
		;
	if (t == 4 || !json_is_string(json_object_iter_value(it))) {
		fail(ld, "%s: event \"%s\" is not introduced, fixed, "
		    "last_affected or limit with a string", rel,
		    cause_quote(k));
		return -1;
	}
	s = json_string_value(json_object_iter_value(it));
	ev->type = (enum ev_type)t;
	ev->special = (t == EV_INTRODUCED && strcmp(s, "0") == 0) ||
	    (t == EV_LIMIT && strcmp(s, "*") == 0);
	if (!ev->special && ver_set(&ev->v, s) != 0) {
		fail(ld, "%s: %s \"%s\" is not a SemVer version", rel, k,
		    cause_quote(s));
		return -1;
	}
	return 0;
}

/* One range (SEMVER or ECOSYSTEM: crates.io's versions are SemVer; a GIT
 * range needs a repository and is left out) into af. */
static int
osv_range(struct loader *ld, const char *rel, const json_t *r,
    struct affects *af)
{
	const json_t	*evs = json_object_get(r, "events");
	const char	*type;
	struct range	 rg;
	size_t		 i;

	if (!json_is_object(r) || jstr(ld, rel, r, "type", &type) != 0 ||
	    type == NULL) {
		fail(ld, "%s: a range without a type", rel);
		return -1;
	}
	if (strcmp(type, "GIT") == 0)
		return 0;
	if (strcmp(type, "SEMVER") != 0 && strcmp(type, "ECOSYSTEM") != 0) {
		fail(ld, "%s: range type \"%s\" is not SEMVER, ECOSYSTEM or "
		    "GIT", rel, cause_quote(type));
		return -1;
	}
	if (!json_is_array(evs) || json_array_size(evs) == 0 ||
	    json_array_size(evs) > LIST_MAX || af->nr == LIST_MAX) {
		fail(ld, "%s: a range needs 1 to %d events (and an advisory "
		    "at most %d ranges)", rel, LIST_MAX, LIST_MAX);
		return -1;
	}
	rg.n = json_array_size(evs);
	rg.ev = xcalloc(rg.n, sizeof *rg.ev);
	for (i = 0; i < rg.n; i++) {
		if (osv_event(ld, rel, json_array_get(evs, i), &rg.ev[i]) != 0)
			break;
	}
	if (i < rg.n) {
		while (i-- > 0)
			free(rg.ev[i].v.text);
		free(rg.ev);
		return -1;
	}
	ev_sort(rg.ev, rg.n);
	af->r = xreallocarray(af->r, af->nr + 1, sizeof *af->r);
	af->r[af->nr++] = rg;
	return 0;
}

/* affected[].versions: versions named one by one. */
static int
osv_versions(struct loader *ld, const char *rel, const json_t *vs,
    struct affects *af)
{
	const char	*s;
	size_t		 i;

	if (vs == NULL || json_is_null(vs))
		return 0;
	if (!json_is_array(vs) || af->nvers + json_array_size(vs) > LIST_MAX) {
		fail(ld, "%s: versions is not an array of at most %d", rel,
		    LIST_MAX);
		return -1;
	}
	af->vers = xreallocarray(af->vers, af->nvers + json_array_size(vs) +
	    1, sizeof *af->vers);
	for (i = 0; i < json_array_size(vs); i++) {
		s = json_string_value(json_array_get(vs, i));
		if (s == NULL || ver_set(&af->vers[af->nvers], s) != 0) {
			fail(ld, "%s: versions[%zu] is not a SemVer version",
			    rel, i);
			return -1;
		}
		af->nvers++;
	}
	return 0;
}

/* affected[].database_specific: categories and informational. */
static int
osv_specific(struct loader *ld, const char *rel, const json_t *ds,
    struct advisory *a)
{
	struct affects	*af = a->ranges;
	const json_t	*cats = json_object_get(ds, "categories");
	const char	*inf, *first = NULL, *c;
	size_t		 i;

	if (ds == NULL || json_is_null(ds))
		goto kind;
	if (!json_is_object(ds) || jstr(ld, rel, ds, "informational",
	    &inf) != 0) {
		fail(ld, "%s: database_specific is not an object with a "
		    "string informational", rel);
		return -1;
	}
	if (cats != NULL && !json_is_null(cats) && !json_is_array(cats)) {
		fail(ld, "%s: categories is not an array", rel);
		return -1;
	}
	for (i = 0; i < json_array_size(cats); i++) {
		if ((c = json_string_value(json_array_get(cats, i))) == NULL) {
			fail(ld, "%s: categories[%zu] is not a string", rel, i);
			return -1;
		}
		a->malicious |= strcmp(c, "malicious") == 0;
		first = first != NULL ? first : c;
	}
	a->informational |= inf != NULL;
	if (af->kind == NULL || a->malicious || first != NULL) {
		free(af->kind);
		af->kind = kind_of(a->malicious, first, inf);
	}
kind:
	if (af->kind == NULL)
		af->kind = kind_of(0, NULL, NULL);
	return 0;
}

/* The record of package name among recs, made when new. */
static struct advisory *
record(struct advisory **recs, size_t *n, const char *name, size_t file)
{
	char		 c[CRATE_NAME_MAX + 1], d[CRATE_NAME_MAX + 1];
	struct advisory	*a;
	struct affects	*af;
	size_t		 i;

	crate_name_canon(name, c);
	for (i = 0; i < *n; i++) {
		crate_name_canon(recs[i]->package, d);
		if (strcmp(c, d) == 0)
			return recs[i];
	}
	a = xcalloc(1, sizeof *a);
	af = xcalloc(1, sizeof *af);
	af->osv = 1;
	af->file = file;
	a->package = xstrdup(name);
	a->ranges = af;
	recs[(*n)++] = a;
	return a;
}

/* One affected[] entry (crates.io ones only) into its package's record. */
static int
osv_affected(struct loader *ld, const char *rel, const json_t *e,
    struct advisory **recs, size_t *n, size_t file)
{
	const json_t	*pkg = json_object_get(e, "package");
	const json_t	*rs = json_object_get(e, "ranges");
	const char	*eco, *name;
	char		*why = NULL;
	struct advisory	*a;
	size_t		 i;

	if (!json_is_object(pkg) || jstr(ld, rel, pkg, "ecosystem", &eco) ||
	    jstr(ld, rel, pkg, "name", &name) || eco == NULL || name == NULL) {
		fail(ld, "%s: an affected package without ecosystem and "
		    "name", rel);
		return -1;
	}
	if (strcmp(eco, "crates.io") != 0)
		return 0;
	if (crate_name_check(name, &why) != 0) {
		fail(ld, "%s: %s", rel, why);
		free(why);
		return -1;
	}
	a = record(recs, n, name, file);
	if (rs != NULL && !json_is_null(rs) && !json_is_array(rs)) {
		fail(ld, "%s: ranges is not an array", rel);
		return -1;
	}
	for (i = 0; i < json_array_size(rs); i++)
		if (osv_range(ld, rel, json_array_get(rs, i), a->ranges) != 0)
			return -1;
	if (osv_versions(ld, rel, json_object_get(e, "versions"),
	    a->ranges) != 0)
		return -1;
	return osv_specific(ld, rel, json_object_get(e, "database_specific"),
	    a);
}

static int
parse_osv(struct loader *ld, const char *rel, size_t file, const char *buf,
    size_t len)
{
	struct advisory	*recs[LIST_MAX];
	const json_t	*aff;
	const char	*id, *summary, *published, *modified, *withdrawn;
	json_error_t	 err;
	json_t		*root;
	size_t		 n = 0, i;
	int		 rc = -1;

	if ((root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		fail(ld, "%s:%d:%d: %s", rel, err.line, err.column, err.text);
		return -1;
	}
	aff = json_object_get(root, "affected");
	if (!json_is_object(root) || jstr(ld, rel, root, "id", &id) != 0 ||
	    id == NULL || !json_is_array(aff) ||
	    json_array_size(aff) > LIST_MAX) {
		fail(ld, "%s: not an OSV advisory (an object with an id and "
		    "at most %d affected)", rel, LIST_MAX);
		goto out;
	}
	if (check_id(ld, rel, id, ".json") != 0 ||
	    jstr(ld, rel, root, "summary", &summary) != 0 ||
	    jstr(ld, rel, root, "published", &published) != 0 ||
	    jstr(ld, rel, root, "modified", &modified) != 0 ||
	    jstr(ld, rel, root, "withdrawn", &withdrawn) != 0)
		goto out;
	for (i = 0; i < json_array_size(aff); i++)
		if (osv_affected(ld, rel, json_array_get(aff, i), recs, &n,
		    file) != 0)
			goto out;
	newest(ld, published);
	newest(ld, modified);
	for (i = 0; i < n; i++) {
		recs[i]->id = xstrdup(id);
		recs[i]->summary = summary != NULL ?
		    one_line(summary, strlen(summary)) : NULL;
		recs[i]->date = day(published);
		recs[i]->withdrawn = withdrawn != NULL;
		add(ld, recs[i]);
	}
	n = 0;
	rc = 0;
out:
	while (n > 0)
		advisory_free(recs[--n]);
	json_decref(root);
	return rc;
}

/* ---- the main layout: crates/NAME/RUSTSEC-*.md ---- */

/* An optional string of TOML table t: 0 and *out (borrowed, NULL when
 * absent), or -1 when it is something else or required and absent. */
static int
tstr(struct loader *ld, const char *rel, const struct toml_value *t,
    const char *key, int required, const char **out)
{
	const struct toml_value	*v = toml_get(t, key);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (v == NULL || v->type != TOML_STRING) {
		fail(ld, "%s: %s is %s, not a string", rel, key, v == NULL ?
		    "missing" : toml_type_name(v->type));
		return -1;
	}
	*out = v->s;
	return 0;
}

/* An optional array of strings: 0, or -1 when it is something else. */
static int
tstrings(struct loader *ld, const char *rel, const struct toml_value *t,
    const char *key, const struct toml_value **out)
{
	const struct toml_value	*v = toml_get(t, key);
	size_t			 i;

	*out = v;
	if (v == NULL)
		return 0;
	for (i = 0; v->type == TOML_ARRAY && i < v->n; i++)
		if (v->items[i]->type != TOML_STRING)
			break;
	if (v->type != TOML_ARRAY || i < v->n || v->n > LIST_MAX) {
		fail(ld, "%s:%d: %s is not an array of at most %d strings",
		    rel, v->line + 1, key, LIST_MAX);
		return -1;
	}
	return 0;
}

/* [versions] patched and unaffected into af's intervals. */
static int
md_versions(struct loader *ld, const char *rel, const struct toml_value *vs,
    struct affects *af)
{
	static const char *const keys[] = { "patched", "unaffected" };
	const struct toml_value	*list;
	const char		*w;
	size_t			 k, i;

	if (vs == NULL || vs->type != TOML_TABLE || toml_get(vs,
	    "patched") == NULL) {
		fail(ld, "%s: no [versions] table with patched", rel);
		return -1;
	}
	for (k = 0; k < 2; k++) {
		if (tstrings(ld, rel, vs, keys[k], &list) != 0)
			return -1;
		for (i = 0; list != NULL && i < list->n; i++) {
			if (af->niv == LIST_MAX) {
				fail(ld, "%s: more than %d requirements", rel,
				    LIST_MAX);
				return -1;
			}
			af->iv = xreallocarray(af->iv, af->niv + 1,
			    sizeof *af->iv);
			if ((w = req_interval(list->items[i]->s,
			    &af->iv[af->niv])) != NULL) {
				interval_free(&af->iv[af->niv]);
				fail(ld, "%s:%d: %s \"%s\": %s", rel,
				    list->items[i]->line + 1, keys[k],
				    cause_quote(list->items[i]->s), w);
				return -1;
			}
			af->niv++;
		}
	}
	return 0;
}

/* [advisory] into a: id, package (its directory's name), date,
 * informational, withdrawn, categories. */
static int
md_advisory(struct loader *ld, const char *rel, const struct toml_value *t,
    struct advisory *a)
{
	const struct toml_value	*cats;
	const char		*id, *pkg, *date, *inf, *wd, *dir = rel + 7;
	char			*why = NULL;
	size_t			 i, dlen = strcspn(dir, "/");

	if (t == NULL || t->type != TOML_TABLE) {
		fail(ld, "%s: no [advisory] table", rel);
		return -1;
	}
	if (tstr(ld, rel, t, "id", 1, &id) || tstr(ld, rel, t, "package", 1,
	    &pkg) || tstr(ld, rel, t, "date", 0, &date) || tstr(ld, rel, t,
	    "informational", 0, &inf) || tstr(ld, rel, t, "withdrawn", 0,
	    &wd) || tstrings(ld, rel, t, "categories", &cats) ||
	    check_id(ld, rel, id, ".md") != 0)
		return -1;
	if (crate_name_check(pkg, &why) != 0 || strlen(pkg) != dlen ||
	    strncmp(pkg, dir, dlen) != 0) {
		fail(ld, "%s: package \"%s\" %s", rel, cause_quote(pkg),
		    why != NULL ? why : "is not the name of its directory");
		free(why);
		return -1;
	}
	a->id = xstrdup(id);
	a->package = xstrdup(pkg);
	a->date = day(date);
	a->informational = inf != NULL;
	a->withdrawn = wd != NULL;
	for (i = 0; cats != NULL && i < cats->n; i++)
		a->malicious |= strcmp(cats->items[i]->s, "malicious") == 0;
	((struct affects *)a->ranges)->kind = kind_of(a->malicious,
	    cats != NULL && cats->n > 0 ? cats->items[0]->s : NULL, inf);
	newest(ld, date);
	return 0;
}

/* The first "# " heading after the front matter, as the summary. */
static char *
md_summary(const char *p, const char *end)
{
	const char	*nl;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		nl = nl != NULL ? nl : end;
		if (nl - p > 2 && p[0] == '#' && p[1] == ' ')
			return one_line(p + 2, (size_t)(nl - p - 2));
		p = nl + 1;
	}
	return NULL;
}

static int
parse_md(struct loader *ld, const char *rel, size_t file, const char *buf,
    size_t len)
{
	struct toml_value	*root;
	struct advisory		*a;
	struct affects		*af;
	const char		*close;
	char			*why = NULL, *at;
	int			 line = 0, col = 0, rc;

	if (len < 8 || memcmp(buf, "```toml\n", 8) != 0 || (close =
	    memmem(buf + 7, len - 7, "\n```", 4)) == NULL) {
		fail(ld, "%s: no front matter (a ```toml block at the start)",
		    rel);
		return -1;
	}
	root = toml_parse_flags(buf + 8, (size_t)(close + 1 - (buf + 8)),
	    TOML_INLINE_TABLES, &why);
	if (root == NULL) {
		/* why is "LINE:COL: ..." from the fence's next line */
		at = strstr(why, ": ");
		sscanf(why, "%d:%d", &line, &col);
		fail(ld, "%s:%d:%d: %s", rel, line + 1, col, at != NULL ?
		    at + 2 : why);
		free(why);
		return -1;
	}
	a = xcalloc(1, sizeof *a);
	a->ranges = af = xcalloc(1, sizeof *af);
	af->file = file;
	rc = md_advisory(ld, rel, toml_get(root, "advisory"), a);
	if (rc == 0)
		rc = md_versions(ld, rel, toml_get(root, "versions"), af);
	toml_free(root);
	if (rc != 0) {
		advisory_free(a);
		return -1;
	}
	a->summary = md_summary(close + 4, buf + len);
	add(ld, a);
	return 0;
}

/* ---- reading a snapshot ---- */

static int
advisory_name(const char *base, const char *ext)
{
	size_t	n = strlen(base), e = strlen(ext);

	return n > 8 + e && strncmp(base, "RUSTSEC-", 8) == 0 &&
	    strcmp(base + n - e, ext) == 0;
}

/* What path (as the snapshot names it) is: PATH_OSV, PATH_MD, PATH_SKIP,
 * or PATH_BAD (absolute, or a ".." in it); *rel is its part from
 * "crates/" on (one top directory and "./" are allowed before it). */
static int
classify(const char *path, const char **rel)
{
	const char	*p = path, *c, *slash;
	size_t		 n;

	for (c = p; ; c = slash + 1) {
		slash = strchr(c, '/');
		n = slash != NULL ? (size_t)(slash - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return PATH_BAD;
		if (slash == NULL)
			break;
	}
	if (*p == '/' || strlen(p) > PATHLEN_MAX)
		return PATH_BAD;
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	if (strncmp(p, "crates/", 7) != 0) {
		if ((slash = strchr(p, '/')) == NULL ||
		    strncmp(slash + 1, "crates/", 7) != 0)
			return PATH_SKIP;
		p = slash + 1;
	}
	*rel = p;
	c = p + 7;
	if ((slash = strchr(c, '/')) == NULL)
		return advisory_name(c, ".json") ? PATH_OSV : PATH_SKIP;
	if (slash > c && strchr(slash + 1, '/') == NULL &&
	    advisory_name(slash + 1, ".md"))
		return PATH_MD;
	return PATH_SKIP;
}

/* One advisory file's bytes: digested, then parsed. */
static int
handle(struct loader *ld, const char *rel, int kind, const char *buf,
    size_t len)
{
	struct file	*f;
	char		*cause;

	if (ld->nfiles == ld->capfiles) {
		ld->capfiles = ld->capfiles != 0 ? ld->capfiles * 2 : 256;
		ld->files = xreallocarray(ld->files, ld->capfiles,
		    sizeof *ld->files);
	}
	f = &ld->files[ld->nfiles++];
	f->path = xstrdup(rel);
	if (EVP_Digest(buf, len, f->md, NULL, EVP_sha256(), NULL) != 1)
		xoom("EVP_Digest");
	if ((kind == PATH_OSV ? parse_osv : parse_md)(ld, rel, ld->nfiles - 1,
	    buf, len) == 0)
		return 0;
	cause = ld->cause;	/* "crates/...: why", of the snapshot */
	ld->cause = xasprintf("%s: %s", ld->src, cause);
	free(cause);
	return -1;
}

/* Counts an entry looked at and size bytes to read; -1 past a limit. */
static int
account(struct loader *ld, const char *rel, int64_t size)
{
	if (++ld->entries > ENTRIES_MAX) {
		fail(ld, "%s: more than %d entries", ld->src, ENTRIES_MAX);
		return -1;
	}
	if (size < 0)
		return 0;
	if (size > FILE_MAX) {
		fail(ld, "%s: %s is %lld bytes; an advisory file may have at "
		    "most %d", ld->src, rel, (long long)size, FILE_MAX);
		return -1;
	}
	if ((ld->bytes += (size_t)size) > TOTAL_MAX) {
		fail(ld, "%s: more than %d MiB of advisories", ld->src,
		    TOTAL_MAX >> 20);
		return -1;
	}
	return 0;
}

/* A file of a directory snapshot, by its path rel under the root. */
static int
dir_file(struct loader *ld, int dfd, const char *name, const char *path)
{
	const char	*rel;
	struct stat	 st;
	char		*buf;
	ssize_t		 got;
	size_t		 off = 0;
	int		 kind = classify(path, &rel), fd, rc;

	if (kind == PATH_SKIP)
		return account(ld, path, -1);
	if (kind == PATH_BAD || (fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode)) {
		fail(ld, "%s/%s: %s", ld->src, path, kind == PATH_BAD ?
		    "a bad path" : errno == ELOOP ? "a symbolic link" :
		    "not a regular file");
		return -1;
	}
	if (account(ld, rel, st.st_size) != 0) {
		close(fd);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size && (got = read(fd, buf + off,
	    (size_t)st.st_size - off)) > 0)
		off += (size_t)got;
	close(fd);
	if (off < (size_t)st.st_size) {
		fail(ld, "%s/%s: cannot read it whole", ld->src, path);
		rc = -1;
	} else
		rc = handle(ld, rel, kind, buf, off);
	free(buf);
	return rc;
}

/* Walks directory dfd (path prefix under the root) depth levels down;
 * dot names (.git) and symbolic links are passed over. Takes dfd. */
static int
walk(struct loader *ld, int dfd, const char *prefix, int depth)
{
	struct dirent	*de;
	struct stat	 st;
	char		*path;
	DIR		*d = fdopendir(dfd);
	int		 fd, rc = 0;

	if (d == NULL) {
		close(dfd);
		fail(ld, "%s/%s: %s", ld->src, prefix, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || S_ISLNK(st.st_mode))
			continue;
		path = prefix[0] != '\0' ? xasprintf("%s/%s", prefix,
		    de->d_name) : xstrdup(de->d_name);
		if (S_ISDIR(st.st_mode) && depth > 1) {
			if ((rc = account(ld, path, -1)) != 0)
				;
			else if ((fd = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
				fail(ld, "%s/%s: %s", ld->src, path,
				    strerror(errno));
				rc = -1;
			} else
				rc = walk(ld, fd, path, depth - 1);
		} else if (S_ISREG(st.st_mode))
			rc = dir_file(ld, dirfd(d), de->d_name, path);
		free(path);
	}
	closedir(d);
	return rc;
}

/* Reads entry e's data (size bytes) and handles it. */
static int
tar_file(struct loader *ld, struct archive *a, struct archive_entry *e,
    const char *rel, int kind)
{
	int64_t		 size = archive_entry_size(e);
	char		*buf;
	la_ssize_t	 got;
	size_t		 off = 0;
	int		 rc;

	if (archive_entry_filetype(e) != AE_IFREG ||
	    archive_entry_hardlink(e) != NULL ||
	    !archive_entry_size_is_set(e)) {
		fail(ld, "%s: %s is not a regular file", ld->src, rel);
		return -1;
	}
	if (account(ld, rel, size) != 0)
		return -1;
	buf = xmalloc((size_t)size + 1);
	while (off < (size_t)size && (got = archive_read_data(a, buf + off,
	    (size_t)size - off)) > 0)
		off += (size_t)got;
	if (off < (size_t)size) {
		fail(ld, "%s: %s: %s", ld->src, rel, archive_error_string(a) ?
		    archive_error_string(a) : "cut short");
		rc = -1;
	} else
		rc = handle(ld, rel, kind, buf, off);
	free(buf);
	return rc;
}

static int
read_tar(struct loader *ld, const char *path)
{
	struct archive		*a = archive_read_new();
	struct archive_entry	*e;
	const char		*name, *rel;
	int			 r, kind, rc = 0;

	if (a == NULL)
		xoom("archive_read_new");
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		fail(ld, "%s: %s", path, archive_error_string(a));
		archive_read_free(a);
		return -1;
	}
	while (rc == 0 && (r = archive_read_next_header(a, &e)) ==
	    ARCHIVE_OK) {
		if ((name = archive_entry_pathname(e)) == NULL)
			name = "";
		if ((kind = classify(name, &rel)) == PATH_BAD) {
			fail(ld, "%s: entry \"%s\": absolute paths, \"..\" and "
			    "paths over %d bytes are refused", path,
			    cause_quote(name), PATHLEN_MAX);
			rc = -1;
		} else if (kind == PATH_SKIP)
			rc = account(ld, name, -1);
		else
			rc = tar_file(ld, a, e, rel, kind);
	}
	if (rc == 0 && r != ARCHIVE_EOF) {
		fail(ld, "%s: %s", path, archive_error_string(a));
		rc = -1;
	}
	archive_read_free(a);
	return rc;
}

/* ---- the database ---- */

static int
entry_cmp(const void *x, const void *y)
{
	const struct entry	*a = x, *b = y;
	int			 c = strcmp(a->canon, b->canon);

	return c != 0 ? c : strcmp(a->a->id, b->a->id);
}

static int
file_cmp(const void *x, const void *y)
{
	const struct file	*a = x, *b = y;

	return strcmp(a->path, b->path);
}

static int
id_cmp(const void *x, const void *y)
{
	const struct advisory	*a = *(const struct advisory *const *)x;
	const struct advisory	*b = *(const struct advisory *const *)y;
	const struct affects	*fa = a->ranges, *fb = b->ranges;
	int			 c = strcmp(a->id, b->id);

	return c != 0 ? c : (fa->file > fb->file) - (fa->file < fb->file);
}

/* -1 when one id comes from two files (one OSV file may name several
 * packages: one advisory each, one id). */
static int
duplicates(struct loader *ld)
{
	struct advisory_db	 *db = ld->db;
	struct advisory		**v;
	const struct affects	 *a, *b;
	size_t			  i;
	int			  rc = 0;

	v = xreallocarray(NULL, db->n + 1, sizeof *v);
	memcpy(v, db->adv, db->n * sizeof *v);
	qsort(v, db->n, sizeof *v, id_cmp);
	for (i = 1; i < db->n && rc == 0; i++) {
		a = v[i - 1]->ranges;
		b = v[i]->ranges;
		if (strcmp(v[i - 1]->id, v[i]->id) == 0 && a->file != b->file) {
			fail(ld, "%s: advisory %s is in both %s and %s",
			    ld->src, v[i]->id, ld->files[a->file].path,
			    ld->files[b->file].path);
			rc = -1;
		}
	}
	free(v);
	return rc;
}

/* The index by name and the snapshot's id: the newest date, the count, a
 * digest of every file (path and SHA-256, in path order: a directory and
 * its tarball agree). */
static void
finish(struct loader *ld)
{
	struct advisory_db	*db = ld->db;
	unsigned char		 md[32];
	EVP_MD_CTX		*ctx;
	size_t			 i;

	db->idx = xcalloc(db->n + 1, sizeof *db->idx);
	for (i = 0; i < db->n; i++) {
		crate_name_canon(db->adv[i]->package, db->idx[i].canon);
		db->idx[i].a = db->adv[i];
	}
	qsort(db->idx, db->n, sizeof *db->idx, entry_cmp);
	qsort(ld->files, ld->nfiles, sizeof *ld->files, file_cmp);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		xoom("EVP_DigestInit_ex");
	for (i = 0; i < ld->nfiles; i++) {
		EVP_DigestUpdate(ctx, ld->files[i].path,
		    strlen(ld->files[i].path) + 1);
		EVP_DigestUpdate(ctx, ld->files[i].md, sizeof md);
	}
	if (EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		xoom("EVP_DigestFinal_ex");
	EVP_MD_CTX_free(ctx);
	memcpy(db->date, ld->newest[0] != '\0' ? ld->newest : "0000-00-00",
	    11);
	snprintf(db->id, sizeof db->id, "%s/%zu/%02x%02x%02x%02x", db->date,
	    db->n, md[0], md[1], md[2], md[3]);
}

int
advisory_db_load(const char *path, struct advisory_db **out, char **cause)
{
	struct loader	ld;
	struct stat	st;
	size_t		i;
	int		fd, rc;

	*out = NULL;
	memset(&ld, 0, sizeof ld);
	ld.src = path;
	ld.db = xcalloc(1, sizeof *ld.db);
	if (stat(path, &st) == -1)
		fail(&ld, "%s: %s", path, strerror(errno));
	else if (S_ISDIR(st.st_mode)) {
		if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
			fail(&ld, "%s: %s", path, strerror(errno));
		else
			walk(&ld, fd, "", WALK_DEPTH);
	} else
		read_tar(&ld, path);
	if (ld.cause == NULL && ld.db->n == 0)
		fail(&ld, "%s: no advisories in it (crates/RUSTSEC-*.json of "
		    "the OSV export, or crates/NAME/RUSTSEC-*.md of the "
		    "advisory database)", path);
	if (ld.cause == NULL && duplicates(&ld) == 0)
		finish(&ld);
	for (i = 0; i < ld.nfiles; i++)
		free(ld.files[i].path);
	free(ld.files);
	if ((rc = ld.cause != NULL ? -EINVAL : 0) != 0) {
		advisory_db_free(ld.db);
		if (cause != NULL)
			*cause = ld.cause;
		else
			free(ld.cause);
		return rc;
	}
	*out = ld.db;
	return 0;
}

void
advisory_db_free(struct advisory_db *db)
{
	size_t	i;

	if (db == NULL)
		return;
	for (i = 0; i < db->n; i++)
		advisory_free(db->adv[i]);
	free(db->adv);
	free(db->idx);
	free(db);
}

size_t
advisory_db_count(const struct advisory_db *db)
{
	return db->n;
}

const char *
advisory_db_id(const struct advisory_db *db)
{
	return db->id;
}

const char *
advisory_db_date(const struct advisory_db *db)
{
	return db->date;
}

const struct advisory *
advisory_db_get(const struct advisory_db *db, size_t i)
{
	return i < db->n ? db->idx[i].a : NULL;
}

size_t
advisory_db_match(const struct advisory_db *db, const char *name,
    const struct semver *v, const struct advisory **out, size_t max)
{
	char	canon[CRATE_NAME_MAX + 1];
	size_t	lo = 0, hi = db->n, mid, n = 0;

	if (strlen(name) > CRATE_NAME_MAX)
		return 0;
	crate_name_canon(name, canon);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (strcmp(db->idx[mid].canon, canon) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < db->n && n < max && strcmp(db->idx[lo].canon,
	    canon) == 0; lo++)
		if (advisory_affects(db->idx[lo].a, v))
			out[n++] = db->idx[lo].a;
	return n;
}
