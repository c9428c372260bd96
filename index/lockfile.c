/* Cargo.lock through the TOML reader.
 *
 * Cargo writes 'version = N' only from version 3 on. Without it the file
 * is taken as version 1 when it has a [metadata] table (where version 1
 * keeps its checksums) and as version 2 otherwise. Keys this reader does
 * not need ([root], [patch], 'replace', ...) are ignored. */
#include "index/lockfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/toml.h"

#define VERSION_MAX	4
#define CHECKSUM_LEN	64
#define QUOTE_MAX	100	/* longest key quoted in a message */

static int fail(char **, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets *cause (if cause is not NULL); returns -EINVAL. */
static int
fail(char **cause, const char *fmt, ...)
{
	va_list	ap;

	if (cause != NULL) {
		va_start(ap, fmt);
		*cause = xvasprintf(fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *
article(enum toml_type t)
{
	return t == TOML_ARRAY || t == TOML_INTEGER ? "an" : "a";
}

static int
ischecksum(const char *s)
{
	size_t	i;

	for (i = 0; i < CHECKSUM_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[i] == '\0';
}

/* String member key of package table t: *out borrowed, or NULL when
 * absent and optional. */
static int
member(const struct toml_value *t, const char *key, int required,
    const char **out, char **cause)
{
	const struct toml_value	*v = toml_get(t, key);

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return 0;
		return fail(cause, "%d: package has no '%s'", t->line, key);
	}
	if (v->type != TOML_STRING)
		return fail(cause, "%d:%d: package '%s' must be a string, not "
		    "%s %s", v->line, v->col, key, article(v->type),
		    toml_type_name(v->type));
	if (required && v->s[0] == '\0')
		return fail(cause, "%d:%d: package '%s' is empty", v->line,
		    v->col, key);
	*out = v->s;
	return 0;
}

/* Reads one [[package]] table into pkg. */
static int
package(const struct toml_value *t, struct lock_package *pkg,
    char **cause)
{
	const struct toml_value	*deps, *sum;
	const char		*name, *version, *source, *checksum;
	size_t			 i;

	if (t->type != TOML_TABLE)
		return fail(cause, "%d:%d: 'package' must be an array of "
		    "tables ([[package]]), but it holds %s %s", t->line,
		    t->col, article(t->type), toml_type_name(t->type));
	if (member(t, "name", 1, &name, cause) != 0 ||
	    member(t, "version", 1, &version, cause) != 0 ||
	    member(t, "source", 0, &source, cause) != 0 ||
	    member(t, "checksum", 0, &checksum, cause) != 0)
		return -EINVAL;
	if (checksum != NULL && !ischecksum(checksum)) {
		sum = toml_get(t, "checksum");
		return fail(cause, "%d:%d: checksum of %s %s is not %d "
		    "lowercase hex digits", sum->line, sum->col, name,
		    version, CHECKSUM_LEN);
	}
	if ((deps = toml_get(t, "dependencies")) != NULL) {
		if (deps->type != TOML_ARRAY)
			return fail(cause, "%d:%d: 'dependencies' of %s %s "
			    "must be an array, not %s %s", deps->line,
			    deps->col, name, version, article(deps->type),
			    toml_type_name(deps->type));
		for (i = 0; i < deps->n; i++) {
			if (deps->items[i]->type == TOML_STRING)
				continue;
			return fail(cause, "%d:%d: each dependency of %s %s "
			    "must be a string, not %s %s",
			    deps->items[i]->line, deps->items[i]->col, name,
			    version, article(deps->items[i]->type),
			    toml_type_name(deps->items[i]->type));
		}
	}
	pkg->name = xstrdup(name);
	pkg->version = xstrdup(version);
	pkg->source = source != NULL ? xstrdup(source) : NULL;
	pkg->checksum = checksum != NULL ? xstrdup(checksum) : NULL;
	pkg->line = t->line;
	return 0;
}

/* Orders packages by name, version, then source (absent first). */
static int
pkgcmp(const void *a, const void *b)
{
	const struct lock_package	*x, *y;
	int				 c;

	x = *(const struct lock_package *const *)a;
	y = *(const struct lock_package *const *)b;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	if ((c = strcmp(x->version, y->version)) != 0)
		return c;
	if (x->source == NULL || y->source == NULL)
		return (x->source != NULL) - (y->source != NULL);
	return strcmp(x->source, y->source);
}

/* Splits "checksum NAME VERSION (SOURCE)" into key (new strings in k). */
static int
splitkey(const char *s, struct lock_package *k)
{
	const char	*name, *version, *source, *end;

	if (strncmp(s, "checksum ", 9) != 0)
		return -1;
	name = s + 9;
	if ((version = strchr(name, ' ')) == NULL || version == name)
		return -1;
	version++;
	if ((source = strchr(version, ' ')) == NULL || source == version ||
	    source[1] != '(')
		return -1;
	source += 2;
	end = source + strlen(source);
	if (end == source || end[-1] != ')' || end - 1 == source ||
	    memchr(source, ' ', (size_t)(end - source)) != NULL)
		return -1;
	k->name = xstrndup(name, (size_t)(version - 1 - name));
	k->version = xstrndup(version, (size_t)(source - 2 - version));
	k->source = xstrndup(source, (size_t)(end - 1 - source));
	return 0;
}

/* Moves the checksum in metadata entry key = v onto its package, found in
 * byname (n, sorted). "<none>", and entries naming no package, are
 * ignored, as cargo does. */
static int
entry(const char *key, const struct toml_value *v,
    struct lock_package **byname, size_t n, char **cause)
{
	struct lock_package	  k, *kp = &k, **hit;
	size_t			  kl = strlen(key);
	int			  rc = 0;

	memset(&k, 0, sizeof k);
	if (splitkey(key, &k) != 0)
		return fail(cause, "%d:%d: metadata key \"%.*s%s\" is not "
		    "\"checksum NAME VERSION (SOURCE)\"", v->line, v->col,
		    (int)(kl > QUOTE_MAX ? QUOTE_MAX : kl), key,
		    kl > QUOTE_MAX ? "..." : "");
	hit = bsearch(&kp, byname, n, sizeof *byname, pkgcmp);
	if (v->type != TOML_STRING)
		rc = fail(cause, "%d:%d: checksum of %s %s must be a string, "
		    "not %s %s", v->line, v->col, k.name, k.version,
		    article(v->type), toml_type_name(v->type));
	else if (strcmp(v->s, "<none>") != 0 && !ischecksum(v->s))
		rc = fail(cause, "%d:%d: checksum of %s %s is not %d "
		    "lowercase hex digits", v->line, v->col, k.name,
		    k.version, CHECKSUM_LEN);
	else if (hit == NULL || strcmp(v->s, "<none>") == 0)
		rc = 0;
	else if ((*hit)->checksum == NULL)
		(*hit)->checksum = xstrdup(v->s);
	else if (strcmp((*hit)->checksum, v->s) != 0)
		rc = fail(cause, "%d:%d: checksum of %s %s in [metadata] "
		    "differs from the one in its [[package]] on line %d",
		    v->line, v->col, k.name, k.version, (*hit)->line);
	free(k.name);
	free(k.version);
	free(k.source);
	return rc;
}

/* Moves the checksums of a version-1 [metadata] table md onto the
 * packages of lf. */
static int
checksums(const struct toml_value *md, struct lockfile *lf, char **cause)
{
	struct lock_package	**byname;
	size_t			  i;
	int			  rc = 0;

	if (md->type != TOML_TABLE)
		return fail(cause, "%d:%d: 'metadata' must be a table, not "
		    "%s %s", md->line, md->col, article(md->type),
		    toml_type_name(md->type));
	byname = xreallocarray(NULL, lf->n, sizeof *byname);
	for (i = 0; i < lf->n; i++)
		byname[i] = &lf->pkgs[i];
	qsort(byname, lf->n, sizeof *byname, pkgcmp);
	for (i = 0; i < md->n && rc == 0; i++) {
		if (strncmp(md->keys[i], "checksum ", 9) == 0)
			rc = entry(md->keys[i], md->items[i], byname, lf->n,
			    cause);
	}
	free(byname);
	return rc;
}

int
lockfile_parse(const char *text, size_t len, struct lockfile *lf,
    char **cause)
{
	struct toml_value	*root;
	const struct toml_value	*v, *pkgs, *md;
	char			*why = NULL;
	size_t			 i;

	memset(lf, 0, sizeof *lf);
	if ((root = toml_parse(text, len, &why)) == NULL) {
		if (cause != NULL)
			*cause = why;
		else
			free(why);
		return -EINVAL;
	}
	md = toml_get(root, "metadata");
	if ((v = toml_get(root, "version")) == NULL)
		lf->version = md != NULL ? 1 : 2;
	else if (v->type != TOML_INTEGER) {
		fail(cause, "%d:%d: 'version' must be an integer, not %s %s",
		    v->line, v->col, article(v->type), toml_type_name(v->type));
		goto bad;
	} else if (v->i < 1 || v->i > VERSION_MAX) {
		fail(cause, "%d:%d: lockfile version %lld is not supported "
		    "(1 to %d are)", v->line, v->col, v->i, VERSION_MAX);
		goto bad;
	} else
		lf->version = (int)v->i;
	if ((pkgs = toml_get(root, "package")) != NULL) {
		if (pkgs->type != TOML_ARRAY) {
			fail(cause, "%d:%d: 'package' must be an array of "
			    "tables ([[package]]), not %s %s", pkgs->line,
			    pkgs->col, article(pkgs->type),
			    toml_type_name(pkgs->type));
			goto bad;
		}
		lf->pkgs = xcalloc(pkgs->n, sizeof *lf->pkgs);
		for (i = 0; i < pkgs->n; i++) {
			if (package(pkgs->items[i], &lf->pkgs[i], cause) != 0)
				goto bad;
			lf->n++;
		}
	}
	if (md != NULL && checksums(md, lf, cause) != 0)
		goto bad;
	toml_free(root);
	return 0;
bad:
	toml_free(root);
	lockfile_finish(lf);
	return -EINVAL;
}

void
lockfile_finish(struct lockfile *lf)
{
	size_t	i;

	if (lf == NULL)
		return;
	for (i = 0; i < lf->n; i++) {
		free(lf->pkgs[i].name);
		free(lf->pkgs[i].version);
		free(lf->pkgs[i].source);
		free(lf->pkgs[i].checksum);
	}
	free(lf->pkgs);
	memset(lf, 0, sizeof *lf);
}

int
lockfile_source_is_registry(const char *source, const char **url)
{
	if (source == NULL)
		return 0;
	if (strncmp(source, "registry+", 9) == 0 && source[9] != '\0') {
		if (url != NULL)
			*url = source + 9;
		return 1;
	}
	if (strncmp(source, "sparse+", 7) == 0 && source[7] != '\0') {
		if (url != NULL)
			*url = source;
		return 1;
	}
	return 0;
}
