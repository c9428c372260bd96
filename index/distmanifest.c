#include "index/distmanifest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/toml.h"

void
dist_manifest_free(struct dist_manifest *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->ntargets; i++) {
		free(m->targets[i].pkg);
		free(m->targets[i].target);
		free(m->targets[i].rel);
		free(m->targets[i].xz_rel);
	}
	free(m->targets);
	free(m->files);
	for (size_t i = 0; i < m->ncomps; i++) {
		free(m->comps[i].host);
		free(m->comps[i].pkg);
		free(m->comps[i].target);
	}
	free(m->comps);
	for (size_t i = 0; i < m->nprofiles; i++) {
		for (size_t k = 0; k < m->profiles[i].n; k++)
			free(m->profiles[i].pkgs[k]);
		free(m->profiles[i].pkgs);
		free(m->profiles[i].name);
	}
	free(m->profiles);
	for (size_t i = 0; i < m->nrenames; i++) {
		free(m->rename_from[i]);
		free(m->rename_to[i]);
	}
	free(m->rename_from);
	free(m->rename_to);
	free(m->version);
	free(m);
}

int
dist_url_rel(const char *url, char *out)
{
	const char	*p = strstr(url, "://"), *d;
	size_t		 n;

	if (p == NULL || (p = strchr(p + 3, '/')) == NULL)
		return -1;
	if (strncmp(p, "/dist/", 6) == 0)
		d = p;
	else if ((d = strstr(p, "/dist/")) == NULL)
		return -1;
	n = strcspn(d + 1, "?#");
	if (n >= DIST_PATH_MAX)
		return -1;
	memcpy(out, d + 1, n);
	out[n] = '\0';
	return 0;
}

int
dist_sha256_parse(const char *text, size_t len, char *hex)
{
	size_t	i;

	if (len < 64)
		return -1;
	for (i = 0; i < 64; i++) {
		char	c = text[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		hex[i] = c;
	}
	hex[64] = '\0';
	if (len > 64 && text[64] != ' ' && text[64] != '\t' &&
	    text[64] != '\n' && text[64] != '\r')
		return -1;
	return 0;
}

/* A hash value of a table (64 hex digits, lowercased into out), or
 * "" when absent; -1 when present but not one. */
static int
hash_of(const struct toml_value *t, const char *key, char *out)
{
	const struct toml_value	*v = toml_get(t, key);

	out[0] = '\0';
	if (v == NULL)
		return 0;
	if (v->type != TOML_STRING || strlen(v->s) != 64 ||
	    dist_sha256_parse(v->s, 64, out) != 0)
		return -1;
	return 0;
}

/* A url value of a table as its path from dist/ (new), NULL when absent;
 * -1 when it is no URL of a dist tree. */
static int
rel_of(const struct toml_value *t, const char *key, char **out)
{
	const struct toml_value	*v = toml_get(t, key);
	struct dist_path	 dp;
	const char		*why;
	char			 rel[DIST_PATH_MAX];

	*out = NULL;
	if (v == NULL)
		return 0;
	if (v->type != TOML_STRING || dist_url_rel(v->s, rel) != 0 ||
	    dist_path_parse(rel, &dp, &why) != 0)
		return -1;
	*out = xstrdup(rel);
	return 0;
}

/* One available [pkg.PKG.target.T] table. */
static int
add_target(struct dist_manifest *m, const char *pkg, const char *target,
    const struct toml_value *t, char **cause)
{
	struct dist_target	*dt;

	m->targets = xreallocarray(m->targets, m->ntargets + 1,
	    sizeof *m->targets);
	dt = &m->targets[m->ntargets++];
	memset(dt, 0, sizeof *dt);
	dt->pkg = xstrdup(pkg);
	dt->target = xstrdup(target);
	if (rel_of(t, "url", &dt->rel) != 0 || rel_of(t, "xz_url",
	    &dt->xz_rel) != 0) {
		*cause = xasprintf("pkg.%s.target.%s: a url that is not a file"
		    " under dist/", pkg, target);
		return -1;
	}
	if (hash_of(t, "hash", dt->hash) != 0 || hash_of(t, "xz_hash",
	    dt->xz_hash) != 0 || (dt->rel != NULL && dt->hash[0] == '\0') ||
	    (dt->xz_rel != NULL && dt->xz_hash[0] == '\0')) {
		*cause = xasprintf("pkg.%s.target.%s: a url without a hash of"
		    " 64 hex digits", pkg, target);
		return -1;
	}
	return 0;
}

/* The components (or extensions) of pkg.rust for host. */
static int
add_components(struct dist_manifest *m, const char *host,
    const struct toml_value *list, bool extension, char **cause)
{
	if (list == NULL)
		return 0;
	if (list->type != TOML_ARRAY)
		goto bad;
	for (size_t i = 0; i < list->n; i++) {
		const struct toml_value	*c = list->items[i];
		const struct toml_value	*p = toml_get(c, "pkg");
		const struct toml_value	*t = toml_get(c, "target");
		struct dist_component	*dc;

		if (p == NULL || p->type != TOML_STRING || t == NULL ||
		    t->type != TOML_STRING)
			goto bad;
		m->comps = xreallocarray(m->comps, m->ncomps + 1,
		    sizeof *m->comps);
		dc = &m->comps[m->ncomps++];
		dc->host = xstrdup(host);
		dc->pkg = xstrdup(p->s);
		dc->target = xstrdup(t->s);
		dc->extension = extension;
	}
	return 0;
bad:
	*cause = xasprintf("pkg.rust.target.%s: %s must be tables with pkg"
	    " and target", host, extension ? "extensions" : "components");
	return -1;
}

static int
parse_pkg(struct dist_manifest *m, const char *pkg,
    const struct toml_value *t, char **cause)
{
	const struct toml_value	*targets = toml_get(t, "target");
	const struct toml_value	*v = toml_get(t, "version");

	if (t->type != TOML_TABLE) {
		*cause = xasprintf("pkg.%s is not a table", pkg);
		return -1;
	}
	if (strcmp(pkg, "rust") == 0 && v != NULL && v->type == TOML_STRING)
		m->version = xstrdup(v->s);
	if (targets == NULL)
		return 0;
	if (targets->type != TOML_TABLE) {
		*cause = xasprintf("pkg.%s.target is not a table", pkg);
		return -1;
	}
	for (size_t i = 0; i < targets->n; i++) {
		const struct toml_value	*tt = targets->items[i];
		const struct toml_value	*av = toml_get(tt, "available");

		if (tt->type != TOML_TABLE) {
			*cause = xasprintf("pkg.%s.target.%s is not a table",
			    pkg, targets->keys[i]);
			return -1;
		}
		if (av == NULL || av->type != TOML_BOOLEAN || !av->b)
			continue;
		if (add_target(m, pkg, targets->keys[i], tt, cause) != 0)
			return -1;
		if (strcmp(pkg, "rust") == 0 && (add_components(m,
		    targets->keys[i], toml_get(tt, "components"), false,
		    cause) != 0 || add_components(m, targets->keys[i],
		    toml_get(tt, "extensions"), true, cause) != 0))
			return -1;
	}
	return 0;
}

static int
parse_profiles(struct dist_manifest *m, const struct toml_value *t,
    char **cause)
{
	if (t == NULL)
		return 0;
	if (t->type != TOML_TABLE)
		goto bad;
	m->profiles = xcalloc(t->n ? t->n : 1, sizeof *m->profiles);
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_value	*a = t->items[i];
		struct dist_profile	*p = &m->profiles[m->nprofiles++];

		p->name = xstrdup(t->keys[i]);
		if (a->type != TOML_ARRAY)
			goto bad;
		p->pkgs = xcalloc(a->n ? a->n : 1, sizeof *p->pkgs);
		for (size_t k = 0; k < a->n; k++) {
			if (a->items[k]->type != TOML_STRING)
				goto bad;
			p->pkgs[p->n++] = xstrdup(a->items[k]->s);
		}
	}
	return 0;
bad:
	*cause = xstrdup("profiles must be a table of arrays of package"
	    " names");
	return -1;
}

static int
parse_renames(struct dist_manifest *m, const struct toml_value *t,
    char **cause)
{
	if (t == NULL)
		return 0;
	if (t->type != TOML_TABLE)
		goto bad;
	m->rename_from = xcalloc(t->n ? t->n : 1, sizeof *m->rename_from);
	m->rename_to = xcalloc(t->n ? t->n : 1, sizeof *m->rename_to);
	for (size_t i = 0; i < t->n; i++) {
		const struct toml_value	*to = toml_get(t->items[i], "to");

		if (to == NULL || to->type != TOML_STRING)
			goto bad;
		m->rename_from[m->nrenames] = xstrdup(t->keys[i]);
		m->rename_to[m->nrenames++] = xstrdup(to->s);
	}
	return 0;
bad:
	*cause = xstrdup("renames must be tables with a string \"to\"");
	return -1;
}

static int
by_rel(const void *a, const void *b)
{
	return strcmp(((const struct dist_file *)a)->rel,
	    ((const struct dist_file *)b)->rel);
}

/* The table of every file named, sorted for dist_manifest_hash. */
static void
index_files(struct dist_manifest *m)
{
	m->files = xcalloc(2 * m->ntargets + 1, sizeof *m->files);
	for (size_t i = 0; i < m->ntargets; i++) {
		struct dist_target	*t = &m->targets[i];

		if (t->rel != NULL)
			m->files[m->nfiles++] = (struct dist_file){ t->rel,
			    t->hash };
		if (t->xz_rel != NULL)
			m->files[m->nfiles++] = (struct dist_file){ t->xz_rel,
			    t->xz_hash };
	}
	qsort(m->files, m->nfiles, sizeof *m->files, by_rel);
}

static int
parse_root(struct dist_manifest *m, const struct toml_value *root,
    char **cause)
{
	const struct toml_value	*mv = toml_get(root, "manifest-version");
	const struct toml_value	*date = toml_get(root, "date");
	const struct toml_value	*pkgs = toml_get(root, "pkg");

	if (mv == NULL || mv->type != TOML_STRING || strcmp(mv->s, "2") != 0) {
		*cause = xstrdup("not a channel manifest of version 2"
		    " (manifest-version = \"2\")");
		return -1;
	}
	if (date == NULL || date->type != TOML_STRING ||
	    !dist_is_date(date->s, strlen(date->s))) {
		*cause = xstrdup("no date = \"YYYY-MM-DD\"");
		return -1;
	}
	memcpy(m->date, date->s, 11);
	if (pkgs == NULL || pkgs->type != TOML_TABLE) {
		*cause = xstrdup("no [pkg.*] tables");
		return -1;
	}
	for (size_t i = 0; i < pkgs->n; i++)
		if (parse_pkg(m, pkgs->keys[i], pkgs->items[i], cause) != 0)
			return -1;
	if (parse_profiles(m, toml_get(root, "profiles"), cause) != 0 ||
	    parse_renames(m, toml_get(root, "renames"), cause) != 0)
		return -1;
	index_files(m);
	return 0;
}

int
dist_manifest_parse(const char *text, size_t len, struct dist_manifest **out,
    char **cause)
{
	struct dist_manifest	*m;
	struct toml_value	*root;
	char			*why = NULL;

	if ((root = toml_parse(text, len, &why)) == NULL) {
		*cause = xasprintf("not TOML: %s", why);
		free(why);
		return -1;
	}
	m = xcalloc(1, sizeof *m);
	if (parse_root(m, root, &why) != 0) {
		*cause = why;
		dist_manifest_free(m);
		toml_free(root);
		return -1;
	}
	toml_free(root);
	*out = m;
	return 0;
}

const char *
dist_manifest_hash(const struct dist_manifest *m, const char *rel)
{
	struct dist_file	 key = { rel, NULL }, *f;

	if (m->nfiles == 0)
		return NULL;
	f = bsearch(&key, m->files, m->nfiles, sizeof *m->files, by_rel);
	return f != NULL ? f->hash : NULL;
}

size_t
dist_manifest_size(const struct dist_manifest *m)
{
	size_t	n = sizeof *m + m->nfiles * sizeof *m->files;

	for (size_t i = 0; i < m->ntargets; i++)
		n += sizeof *m->targets + strlen(m->targets[i].pkg) +
		    strlen(m->targets[i].target) + (m->targets[i].rel ?
		    strlen(m->targets[i].rel) : 0) + (m->targets[i].xz_rel ?
		    strlen(m->targets[i].xz_rel) : 0) + 64;
	return n + m->ncomps * (sizeof *m->comps + 96);
}

/* The available target table of pkg for target, or NULL. */
static const struct dist_target *
find_target(const struct dist_manifest *m, const char *pkg,
    const char *target)
{
	for (size_t i = 0; i < m->ntargets; i++)
		if (strcmp(m->targets[i].pkg, pkg) == 0 &&
		    strcmp(m->targets[i].target, target) == 0)
			return &m->targets[i];
	return NULL;
}

static const char *
renamed(const struct dist_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nrenames; i++)
		if (strcmp(m->rename_from[i], name) == 0)
			return m->rename_to[i];
	return name;
}

void
dist_picks_free(struct dist_pick *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].rel);
		free(p[i].pkg);
		free(p[i].target);
	}
	free(p);
}

struct picking {
	const struct dist_manifest	*m;
	struct dist_pick		*picks;
	size_t				 n;
};

/* Adds pkg for target (or for "*"): 0, or -1 when it has no file. */
static int
pick(struct picking *pk, const char *pkg, const char *target)
{
	const struct dist_target	*t = find_target(pk->m, pkg, target);
	struct dist_pick		*p;

	if (t == NULL)
		t = find_target(pk->m, pkg, "*");
	if (t == NULL || (t->rel == NULL && t->xz_rel == NULL))
		return -1;
	for (size_t i = 0; i < pk->n; i++)
		if (strcmp(pk->picks[i].pkg, t->pkg) == 0 &&
		    strcmp(pk->picks[i].target, t->target) == 0)
			return 0;
	pk->picks = xreallocarray(pk->picks, pk->n + 1, sizeof *pk->picks);
	p = &pk->picks[pk->n++];
	p->rel = xstrdup(t->xz_rel != NULL ? t->xz_rel : t->rel);
	memcpy(p->hash, t->xz_rel != NULL ? t->xz_hash : t->hash, 65);
	p->pkg = xstrdup(t->pkg);
	p->target = xstrdup(t->target);
	return 0;
}

/* The profile's packages for host (those not available skipped, as
 * rustup does), or pkg.rust's components when there are no profiles. */
static int
pick_profile(struct picking *pk, const char *host, const char *profile,
    char **cause)
{
	const struct dist_manifest	*m = pk->m;
	const struct dist_profile	*p = NULL;

	if (m->nprofiles == 0) {
		for (size_t i = 0; i < m->ncomps; i++)
			if (!m->comps[i].extension && strcmp(m->comps[i].host,
			    host) == 0)
				pick(pk, m->comps[i].pkg, m->comps[i].target);
		return 0;
	}
	for (size_t i = 0; i < m->nprofiles && p == NULL; i++)
		if (strcmp(m->profiles[i].name, profile) == 0)
			p = &m->profiles[i];
	if (p == NULL) {
		*cause = xasprintf("the manifest of %s has no profile \"%s\"",
		    m->date, profile);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++)
		pick(pk, p->pkgs[i], host);
	return 0;
}

int
dist_manifest_select(const struct dist_manifest *m, const char *host,
    const char *profile, const char *const *targets, size_t ntargets,
    const char *const *comps, size_t ncomps, struct dist_pick **picks,
    size_t *n, char **cause)
{
	struct picking	pk = { m, NULL, 0 };

	if (find_target(m, "rust", host) == NULL) {
		*cause = xasprintf("the manifest of %s has no toolchain for"
		    " host %s", m->date, host);
		return -1;
	}
	if (pick_profile(&pk, host, profile, cause) != 0)
		goto err;
	for (size_t i = 0; i < ncomps; i++)
		if (pick(&pk, renamed(m, comps[i]), host) != 0) {
			*cause = xasprintf("component %s is not available for"
			    " %s in the manifest of %s", comps[i], host,
			    m->date);
			goto err;
		}
	for (size_t i = 0; i < ntargets; i++)
		if (pick(&pk, "rust-std", targets[i]) != 0) {
			*cause = xasprintf("target %s (rust-std) is not"
			    " available in the manifest of %s", targets[i],
			    m->date);
			goto err;
		}
	*picks = pk.picks;
	*n = pk.n;
	return 0;
err:
	dist_picks_free(pk.picks, pk.n);
	return -1;
}
