/* The publish body and the index line built from it (protocol doc §9). */
#include "index/publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "index/name.h"
#include "index/semver.h"
#include "index/quote.h"
#include "index/xmalloc.h"

static uint32_t
u32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
sha256hex(const unsigned char *p, size_t len, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;

	/* Fails only when libcrypto cannot allocate: out of memory. */
	if (!EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32)
		abort();
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

/* True if o is absent, null, or a string. */
static bool
optstr(const json_t *o)
{
	return o == NULL || json_is_null(o) || json_is_string(o);
}

/* True if o is absent, null, or a boolean. */
static bool
optbool(const json_t *o)
{
	return o == NULL || json_is_null(o) || json_is_boolean(o);
}

/* True if o is absent, null, or an array of strings. */
static bool
optstrs(const json_t *o)
{
	size_t	 i;
	json_t	*s;

	if (o == NULL || json_is_null(o))
		return true;
	if (!json_is_array(o))
		return false;
	json_array_foreach(o, i, s)
		if (!json_is_string(s))
			return false;
	return true;
}

/* Checks one deps[] entry (n counts from 1); NULL or why it is bad. */
static char *
dep(json_t *d, size_t n)
{
	json_t		*name, *req, *kind, *ren;
	const char	*k, *dn;
	char		*w, *why;

	if (!json_is_object(d))
		return xasprintf("dependency %zu is not a JSON object", n);
	name = json_object_get(d, "name");
	if (!json_is_string(name))
		return xasprintf("dependency %zu: name must be a string", n);
	dn = json_string_value(name);
	if (crate_name_check(dn, &w) != 0) {
		why = xasprintf("dependency %zu: %s", n, w);
		free(w);
		return why;
	}
	req = json_object_get(d, "version_req");
	kind = json_object_get(d, "kind");
	ren = json_object_get(d, "explicit_name_in_toml");
	if (!json_is_string(req) || json_string_length(req) == 0)
		w = xstrdup("version_req must be a non-empty string");
	else if (!optstr(kind))
		w = xstrdup("kind must be null or a string");
	else if (json_is_string(kind) &&
	    strcmp(k = json_string_value(kind), "normal") != 0 &&
	    strcmp(k, "build") != 0 && strcmp(k, "dev") != 0)
		w = xasprintf("kind \"%.*s\" is not \"normal\", \"build\" or "
		    "\"dev\"", quote_len(k, strlen(k)), k);
	else if (!optbool(json_object_get(d, "optional")))
		w = xstrdup("optional must be a boolean");
	else if (!optbool(json_object_get(d, "default_features")))
		w = xstrdup("default_features must be a boolean");
	else if (!optstrs(json_object_get(d, "features")))
		w = xstrdup("features must be an array of strings");
	else if (!optstr(json_object_get(d, "target")))
		w = xstrdup("target must be null or a string");
	else if (!optstr(json_object_get(d, "registry")))
		w = xstrdup("registry must be null or a string");
	else if (!optstr(ren))
		w = xstrdup("explicit_name_in_toml must be null or a string");
	else
		w = NULL;
	if (w == NULL && json_is_string(ren) &&
	    crate_name_check(json_string_value(ren), &why) != 0) {
		w = xasprintf("explicit_name_in_toml: %s", why);
		free(why);
	}
	if (w == NULL)
		return NULL;
	why = xasprintf("dependency %zu (`%s`): %s", n, dn, w);
	free(w);
	return why;
}

/* Checks the metadata after name and vers; NULL or why it is bad. */
static char *
meta(json_t *m)
{
	json_t		*deps, *feats, *d, *v;
	const char	*k;
	size_t		 i;

	deps = json_object_get(m, "deps");
	if (!json_is_array(deps))
		return xstrdup("deps must be an array");
	json_array_foreach(deps, i, d) {
		char	*w;

		if ((w = dep(d, i + 1)) != NULL)
			return w;
	}
	feats = json_object_get(m, "features");
	if (feats != NULL && !json_is_null(feats) && !json_is_object(feats))
		return xstrdup("features must be an object");
	json_object_foreach(feats, k, v)
		if (!json_is_array(v) || !optstrs(v))
			return xasprintf("feature \"%.*s\" must be an array of "
			    "strings", quote_len(k, strlen(k)), k);
	if (!optstr(json_object_get(m, "links")))
		return xstrdup("links must be null or a string");
	if (!optstr(json_object_get(m, "rust_version")))
		return xstrdup("rust_version must be null or a string");
	return NULL;
}

/* Checks the metadata object; NULL after setting p->name and p->vers, or
 * why it is bad, naming the crate as far as it is known. */
static char *
check(struct publish *p)
{
	json_t	*name, *vers;
	char	*w, *why;

	name = json_object_get(p->meta, "name");
	if (!json_is_string(name))
		return xstrdup("publish metadata: name must be a string");
	if (crate_name_check(json_string_value(name), &w) != 0) {
		why = xasprintf("publish metadata: %s", w);
		free(w);
		return why;
	}
	p->name = json_string_value(name);
	vers = json_object_get(p->meta, "vers");
	if (!json_is_string(vers))
		return xasprintf("crate `%s`: vers must be a string", p->name);
	if (semver_parse(json_string_value(vers), &(struct semver){ 0 },
	    &w) != 0) {
		why = xasprintf("crate `%s`: %s", p->name, w);
		free(w);
		return why;
	}
	p->vers = json_string_value(vers);
	if ((w = meta(p->meta)) == NULL)
		return NULL;
	why = xasprintf("crate `%s` %s: %s", p->name, p->vers, w);
	free(w);
	return why;
}

/* Checks the lengths in body and finds the JSON and the .crate; NULL or
 * why they do not add up. */
static char *
frame(const unsigned char *body, size_t len, size_t *jlen,
    const unsigned char **crate, size_t *clen)
{
	size_t		rest;
	uint32_t	j, c;

	if (len < 4)
		return xasprintf("publish body: %zu bytes is too short for the "
		    "4-byte metadata length", len);
	j = u32le(body);
	rest = len - 4;
	if (j > rest)
		return xasprintf("publish body: metadata length %" PRIu32
		    " exceeds the %zu bytes that follow", j, rest);
	rest -= j;
	if (rest < 4)
		return xasprintf("publish body: ends %zu bytes after the "
		    "metadata, without the 4-byte crate length", rest);
	c = u32le(body + 4 + j);
	rest -= 4;
	if (c > rest)
		return xasprintf("publish body: crate length %" PRIu32
		    " exceeds the %zu bytes that follow", c, rest);
	if (c < rest)
		return xasprintf("publish body: %zu unexpected bytes follow "
		    "the %" PRIu32 "-byte crate", rest - c, c);
	*jlen = j;
	*crate = body + 8 + j;
	*clen = c;
	return NULL;
}

int
publish_parse(const unsigned char *body, size_t len, struct publish *p,
    char **cause)
{
	json_error_t	 err;
	size_t		 jlen = 0;
	char		*why;

	memset(p, 0, sizeof *p);
	if ((why = frame(body, len, &jlen, &p->crate, &p->crate_len)) != NULL)
		goto err;
	p->meta = json_loadb((const char *)body + 4, jlen,
	    JSON_REJECT_DUPLICATES, &err);
	if (p->meta == NULL) {
		why = xasprintf("publish body: metadata is not valid JSON (%s "
		    "at line %d column %d)", err.text, err.line, err.column);
		goto err;
	}
	if (!json_is_object(p->meta)) {
		why = xstrdup("publish body: metadata is not a JSON object");
		goto err;
	}
	if ((why = check(p)) != NULL)
		goto err;
	if (p->crate_len == 0) {
		why = xasprintf("crate `%s` %s: the .crate file is empty",
		    p->name, p->vers);
		goto err;
	}
	if (p->crate_len < 2 || p->crate[0] != 0x1f || p->crate[1] != 0x8b) {
		why = xasprintf("crate `%s` %s: the .crate file is not gzip "
		    "(it does not start with 1f 8b)", p->name, p->vers);
		goto err;
	}
	sha256hex(p->crate, p->crate_len, p->cksum);
	return 0;
err:
	publish_finish(p);
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -EINVAL;
}

void
publish_finish(struct publish *p)
{
	if (p == NULL)
		return;
	json_decref(p->meta);
	memset(p, 0, sizeof *p);
}

/* A new copy of o, or of dflt when o is absent or null. */
static json_t *
copy(json_t *o, json_t *dflt)
{
	if (o == NULL || json_is_null(o))
		return dflt;
	json_decref(dflt);
	return json_deep_copy(o);
}

/* The index form of one deps[] entry, keys in cargo's order. */
static json_t *
indexdep(json_t *d)
{
	json_t	*o, *name, *ren;

	name = json_object_get(d, "name");
	ren = json_object_get(d, "explicit_name_in_toml");
	if (!json_is_string(ren))
		ren = NULL;
	o = json_object();
	json_object_set(o, "name", ren != NULL ? ren : name);
	json_object_set(o, "req", json_object_get(d, "version_req"));
	json_object_set_new(o, "features",
	    copy(json_object_get(d, "features"), json_array()));
	json_object_set_new(o, "optional",
	    copy(json_object_get(d, "optional"), json_false()));
	json_object_set_new(o, "default_features",
	    copy(json_object_get(d, "default_features"), json_true()));
	json_object_set_new(o, "target",
	    copy(json_object_get(d, "target"), json_null()));
	json_object_set_new(o, "kind",
	    copy(json_object_get(d, "kind"), json_string("normal")));
	json_object_set_new(o, "registry",
	    copy(json_object_get(d, "registry"), json_null()));
	json_object_set_new(o, "package",
	    ren != NULL ? json_copy(name) : json_null());
	return o;
}

char *
publish_index_line(const struct publish *p, time_t pubtime)
{
	json_t		*o, *deps, *d, *rv;
	struct tm	 tm;
	char		 ts[32], *s, *out;
	size_t		 i;

	deps = json_array();
	json_array_foreach(json_object_get(p->meta, "deps"), i, d)
		json_array_append_new(deps, indexdep(d));
	o = json_object();
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "vers", json_string(p->vers));
	json_object_set_new(o, "deps", deps);
	json_object_set_new(o, "cksum", json_string(p->cksum));
	json_object_set_new(o, "features",
	    copy(json_object_get(p->meta, "features"), json_object()));
	json_object_set_new(o, "yanked", json_false());
	json_object_set_new(o, "links",
	    copy(json_object_get(p->meta, "links"), json_null()));
	json_object_set_new(o, "v", json_integer(1));
	rv = json_object_get(p->meta, "rust_version");
	if (json_is_string(rv))
		json_object_set_new(o, "rust_version", json_copy(rv));
	/* A time outside years 0..9999 cannot be written as cargo reads it,
	 * so the line goes without pubtime. */
	if (gmtime_r(&pubtime, &tm) != NULL && tm.tm_year >= -1900 &&
	    tm.tm_year <= 9999 - 1900 &&
	    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20)
		json_object_set_new(o, "pubtime", json_string(ts));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (s == NULL)		/* every value is valid: out of memory */
		abort();
	out = xstrdup(s);
	free(s);
	return out;
}
