/* The publish body and the index line built from it (protocol doc §9). */
#include "index/publish.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "index/crate_archive.h"

#include "common/xmalloc.h"
#include "index/causequote.h"
#include "index/name.h"
#include "index/semver.h"

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
		xoom("EVP_Digest");
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

/* Single fields (publish.h). */

static int
isalpha_(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
isalnum_(unsigned char c)
{
	return isalpha_(c) || (c >= '0' && c <= '9');
}



static int
bad(char **cause, char *why)
{
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -EINVAL;
}

/* The first byte of s outside ok(), or NULL. */
static const char *
outside(const char *s, int (*ok)(unsigned char))
{
	for (; *s != '\0'; s++)
		if (!ok((unsigned char)*s))
			return s;
	return NULL;
}

/* Describes byte *c for a cause. */
static char *
byte(const char *c)
{
	unsigned char	u = (unsigned char)*c;

	if (u >= 0x20 && u < 0x7f)
		return xasprintf("character '%c'", u);
	return xasprintf("byte 0x%02x", u);
}

static int
featchar(unsigned char c)
{
	return isalnum_(c) || c == '_' || c == '-' || c == '+' || c == '.';
}

int
publish_feature_name_check(const char *s, char **cause)
{
	const char	*c;
	char		*b, *w;

	if (*s == '\0')
		return bad(cause, xstrdup("a feature name is empty"));
	if (strncmp(s, "dep:", 4) == 0)
		return bad(cause, xasprintf("feature name \"%s\" starts with"
		    " `dep:`, which only feature values may use", cause_quote(s)));
	if (!isalnum_((unsigned char)*s) && *s != '_')
		c = s;
	else
		c = outside(s + 1, featchar);
	if (c == NULL)
		return 0;
	b = byte(c);
	w = xasprintf("%s in feature name \"%s\" is not allowed (the first"
	    " an ASCII letter, digit or '_', then also '-', '+' or '.')", b,
	    cause_quote(s));
	free(b);
	return bad(cause, w);
}

/* The cfg grammar cargo's target strings use (cargo-platform). */

struct cfgp {
	const char	*s;
	const char	*tok;		/* the last token */
	size_t		 toklen;
	int		 depth;
};

/* Reads the next token: '(', ')', ',', '=', '"' (a string), 'i' (an
 * identifier, 'r' for a raw one), 0 at the end, '!' for a bad byte. */
static int
next(struct cfgp *p, int peek)
{
	const char	*s = p->s, *e;
	int		 t, raw = 0;

	while (*s == ' ')
		s++;
	p->tok = s;
	if (*s == '\0')
		t = 0, e = s;
	else if (strchr("(),=", *s) != NULL)
		t = *s, e = s + 1;
	else if (*s == '"') {
		if ((e = strchr(s + 1, '"')) == NULL)
			return '!';
		t = '"', e++;
	} else {
		if (s[0] == 'r' && s[1] == '#')
			raw = 1, s += 2;
		if (!isalpha_((unsigned char)*s) && *s != '_')
			return '!';
		for (e = s + 1; isalnum_((unsigned char)*e) || *e == '_'; e++)
			;
		t = raw ? 'r' : 'i';
	}
	p->toklen = (size_t)(e - p->tok);
	if (!peek)
		p->s = e;
	return t;
}

static int
isword(const struct cfgp *p, const char *w)
{
	return p->toklen == strlen(w) && strncmp(p->tok, w, p->toklen) == 0;
}

/* One expression; NULL or why it does not parse. */
static const char *
cfgexpr(struct cfgp *p)
{
	const char	*w;
	int		 t;

	if (++p->depth > 32)
		return "it nests more than 32 deep";
	t = next(p, 0);
	if (t == 'i' && (isword(p, "all") || isword(p, "any"))) {
		if (next(p, 0) != '(')
			return "expected `(` after all or any";
		for (;;) {
			if (next(p, 1) == ')') {
				next(p, 0);
				break;
			}
			if ((w = cfgexpr(p)) != NULL)
				return w;
			if ((t = next(p, 0)) == ')')
				break;
			if (t != ',')
				return "expected `,` or `)`";
		}
	} else if (t == 'i' && isword(p, "not")) {
		if (next(p, 0) != '(')
			return "expected `(` after not";
		if ((w = cfgexpr(p)) != NULL)
			return w;
		if (next(p, 0) != ')')
			return "expected `)`";
	} else if (t == 'i' || t == 'r') {
		if (next(p, 1) == '=') {
			next(p, 0);
			if (next(p, 0) != '"')
				return "expected a string after `=`";
		}
	} else
		return t == '!' ? "an unexpected character or an unterminated"
		    " string" : "expected an identifier";
	p->depth--;
	return NULL;
}

static int
platchar(unsigned char c)
{
	return isalnum_(c) || c == '_' || c == '-' || c == '.';
}

int
publish_target_check(const char *s, char **cause)
{
	struct cfgp	 p;
	size_t		 len = strlen(s);
	const char	*w;
	char		*in, *b;

	if (len > 4 && strncmp(s, "cfg(", 4) == 0 && s[len - 1] == ')') {
		in = xstrndup(s + 4, len - 5);
		memset(&p, 0, sizeof p);
		p.s = in;
		if ((w = cfgexpr(&p)) == NULL && next(&p, 0) != 0)
			w = "unexpected text after the expression";
		free(in);
		if (w == NULL)
			return 0;
		return bad(cause, xasprintf("target \"%s\" is not a cfg"
		    " expression cargo accepts: %s", cause_quote(s), w));
	}
	if (*s == '\0')
		return bad(cause, xstrdup("target is empty (null means every"
		    " platform)"));
	if ((w = outside(s, platchar)) == NULL)
		return 0;
	b = byte(w);
	in = xasprintf("target \"%s\": %s is not allowed in a platform"
	    " name (a cfg expression is written cfg(...))", cause_quote(s), b);
	free(b);
	return bad(cause, in);
}

static int
urlchar(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("\"<>\\^`{|}", c) == NULL;
}

int
publish_registry_check(const char *s, char **cause)
{
	const char	*c = s, *rest;
	size_t		 slen;

	if (isalpha_((unsigned char)*c))
		while (isalnum_((unsigned char)*c) || *c == '+' || *c == '-' ||
		    *c == '.')
			c++;
	if (c == s || *c != ':')
		return bad(cause, xasprintf("registry \"%s\" is not an"
		    " absolute URL (it has no scheme)", cause_quote(s)));
	slen = (size_t)(c - s);
	rest = c + 1;
	if ((c = outside(rest, urlchar)) != NULL) {
		char	*b = byte(c), *w;

		w = xasprintf("registry \"%s\": %s is not allowed in a"
		    " URL", cause_quote(s), b);
		free(b);
		return bad(cause, w);
	}
	if ((strncasecmp(s, "http", 4) == 0 || strncasecmp(s, "sparse+http",
	    11) == 0) && (slen == 4 || slen == 5 || slen == 11 || slen == 12) &&
	    (strncmp(rest, "//", 2) != 0 || rest[2] == '\0' || rest[2] == '/'))
		return bad(cause, xasprintf("registry \"%s\" has no host",
		    cause_quote(s)));
	if (*rest == '\0')
		return bad(cause, xasprintf("registry \"%s\" is not an"
		    " absolute URL (nothing after the scheme)", cause_quote(s)));
	return 0;
}

static int
linkchar(unsigned char c)
{
	return isalnum_(c) || c == '_' || c == '-' || c == '.' || c == '+';
}

int
publish_links_check(const char *s, char **cause)
{
	const char	*c;
	char		*b, *w;

	if (*s == '\0')
		return bad(cause, xstrdup("links is empty (null means none)"));
	if ((c = outside(s, linkchar)) == NULL)
		return 0;
	b = byte(c);
	w = xasprintf("links \"%s\": %s is not allowed in the name of a"
	    " native library (ASCII letters, digits, '_', '-', '.', '+')",
	    cause_quote(s), b);
	free(b);
	return bad(cause, w);
}

int
publish_rust_version_check(const char *s, char **cause)
{
	const char	*c = s;
	int		 parts = 0;

	for (;;) {
		if (*c < '0' || *c > '9' || (c[0] == '0' && c[1] >= '0' &&
		    c[1] <= '9'))
			break;
		while (*c >= '0' && *c <= '9')
			c++;
		if (++parts == 3 || *c != '.')
			break;
		c++;
	}
	if (parts > 0 && *c == '\0' && c[-1] != '.' && c - s <= 32)
		return 0;
	return bad(cause, xasprintf("rust_version \"%s\" is not a Rust"
	    " version: N, N.N or N.N.N (like 1.70), without leading zeros, a"
	    " pre-release or an operator", cause_quote(s)));
}

/* Features (cargo's build_feature_map, crates.io's validate_feature). */

#define DEP_ANY		1
#define DEP_OPTIONAL	2
#define DEP_USED	4

/* The name a dependency has in Cargo.toml. */
static const char *
tomlname(json_t *d)
{
	json_t	*ren = json_object_get(d, "explicit_name_in_toml");

	return json_is_string(ren) ? json_string_value(ren) :
	    json_string_value(json_object_get(d, "name"));
}

/* Checks value v of feature k; NULL or why it is bad. deps maps toml
 * names to DEP_* flags (DEP_USED set here), listed holds the names that
 * "dep:" values name, feats the features. */
static char *
featval(const char *k, const char *v, json_t *deps, json_t *listed,
    json_t *feats)
{
	const char	*slash = strchr(v, '/'), *f;
	char		*dn, *w = NULL;
	json_int_t	 fl;
	bool		 weak;

	if (slash != NULL) {
		dn = xstrndup(v, (size_t)(slash - v));
		weak = slash > v && slash[-1] == '?';
		if (weak)
			dn[slash - v - 1] = '\0';
		fl = json_integer_value(json_object_get(deps, dn));
		if (strchr(slash + 1, '/') != NULL)
			w = xstrdup("it has more than one `/`");
		else if (strncmp(v, "dep:", 4) == 0)
			w = xstrdup("it has both `dep:` and `/`");
		else if (publish_feature_name_check(slash + 1, &w) != 0)
			;
		else if (fl == 0)
			w = xasprintf("`%s` is not a dependency", cause_quote(dn));
		else if (weak && !(fl & DEP_OPTIONAL))
			w = xasprintf("it has a `?`, but `%s` is not an"
			    " optional dependency", cause_quote(dn));
		else
			json_object_set_new(deps, dn, json_integer(fl |
			    DEP_USED));
		free(dn);
	} else if (strncmp(v, "dep:", 4) == 0) {
		fl = json_integer_value(json_object_get(deps, v + 4));
		if (fl == 0)
			w = xasprintf("`%s` is not a dependency", cause_quote(v + 4));
		else if (!(fl & DEP_OPTIONAL))
			w = xasprintf("`%s` is not an optional dependency",
			    cause_quote(v + 4));
		else
			json_object_set_new(deps, v + 4, json_integer(fl |
			    DEP_USED));
	} else if (publish_feature_name_check(v, &w) == 0 &&
	    json_object_get(feats, v) == NULL) {
		f = v;
		fl = json_integer_value(json_object_get(deps, f));
		if (fl == 0)
			w = xstrdup("it names neither a feature nor an optional"
			    " dependency");
		else if (!(fl & DEP_OPTIONAL))
			w = xasprintf("`%s` is not an optional dependency",
			    cause_quote(f));
		else if (json_object_get(listed, f) != NULL)
			w = xasprintf("`%s` is an optional dependency"
			    " without an implicit feature (it is named as"
			    " `dep:%s` elsewhere); use `dep:%s`", cause_quote(f),
			    cause_quote(f), cause_quote(f));
	}
	if (w == NULL)
		return NULL;
	dn = xasprintf("features: feature `%s` includes `%s`: %s",
	    cause_quote(k), cause_quote(v), w);
	free(w);
	return dn;
}

/* The dependencies by toml name (DEP_ANY, DEP_OPTIONAL) and the names
 * "dep:" values give. */
static void
depmaps(json_t *m, json_t *deps, json_t *listed)
{
	json_t		*d, *vals, *v;
	const char	*k;
	json_int_t	 fl;
	size_t		 i, j;

	json_array_foreach(json_object_get(m, "deps"), i, d) {
		fl = json_integer_value(json_object_get(deps, tomlname(d)));
		fl |= DEP_ANY;
		if (json_is_true(json_object_get(d, "optional")))
			fl |= DEP_OPTIONAL;
		json_object_set_new(deps, tomlname(d), json_integer(fl));
	}
	json_object_foreach(json_object_get(m, "features"), k, vals)
		json_array_foreach(vals, j, v)
			if (strncmp(json_string_value(v), "dep:", 4) == 0 &&
			    strchr(json_string_value(v), '/') == NULL)
				json_object_set_new(listed,
				    json_string_value(v) + 4, json_true());
}

/* Checks the features against the dependencies; NULL or why not. */
static char *
features(json_t *m)
{
	json_t		*feats = json_object_get(m, "features"), *vals, *v;
	json_t		*deps = json_object(), *listed = json_object();
	const char	*k;
	char		*w = NULL, *why;
	json_int_t	 fl;
	size_t		 j;

	depmaps(m, deps, listed);
	json_object_foreach(feats, k, vals) {
		if (publish_feature_name_check(k, &why) != 0) {
			w = xasprintf("features: %s", why);
			free(why);
			goto out;
		}
		json_array_foreach(vals, j, v)
			if ((w = featval(k, json_string_value(v), deps, listed,
			    feats)) != NULL)
				goto out;
	}
	/* An optional dependency no "dep:" names and no feature shadows has
	 * an implicit feature, which enables it. */
	json_object_foreach(deps, k, v) {
		fl = json_integer_value(v);
		if (!(fl & DEP_OPTIONAL) || (fl & DEP_USED) ||
		    (json_object_get(listed, k) == NULL &&
		    json_object_get(feats, k) == NULL))
			continue;
		w = xasprintf("features: optional dependency `%s` is not"
		    " enabled by any feature (add `dep:%s` to one)", cause_quote(k),
		    cause_quote(k));
		goto out;
	}
out:
	json_decref(deps);
	json_decref(listed);
	return w;
}

/* A feature a dependency is asked for: "F", "D/F", "D?/F" or "dep:D"
 * (crates.io's validate_feature). */
static int
featsyntax(const char *v, char **cause)
{
	const char	*slash = strchr(v, '/');
	char		*d;
	int		 r;

	if (strncmp(v, "dep:", 4) == 0 && slash == NULL)
		return crate_name_check(v + 4, cause);
	if (slash == NULL)
		return publish_feature_name_check(v, cause);
	d = xstrndup(v, (size_t)(slash - v));
	if (slash > v && slash[-1] == '?')
		d[slash - v - 1] = '\0';
	if ((r = crate_name_check(d, cause)) == 0)
		r = publish_feature_name_check(slash + 1, cause);
	free(d);
	return r;
}

/* Checks a dependency's string fields against cargo's rules; NULL or
 * why one is bad (named). */
static char *
depfields(json_t *d)
{
	json_t		*o, *f;
	const char	*kind;
	char		*w = NULL, *why, *out;
	size_t		 i;

	if (semver_req_check(json_string_value(json_object_get(d,
	    "version_req")), &why) == 0)
		why = NULL;
	else
		w = xstrdup("version_req");
	json_array_foreach(json_object_get(d, "features"), i, f)
		if (why == NULL && featsyntax(
		    json_string_value(f), &why) != 0)
			w = xstrdup("features");
	if (why == NULL && json_is_string(o = json_object_get(d, "target")) &&
	    publish_target_check(json_string_value(o), &why) != 0)
		w = xstrdup("target");
	if (why == NULL && json_is_string(o = json_object_get(d,
	    "registry")) && publish_registry_check(json_string_value(o),
	    &why) != 0)
		w = xstrdup("registry");
	kind = json_string_value(json_object_get(d, "kind"));
	if (why == NULL && kind != NULL && strcmp(kind, "dev") == 0 &&
	    json_is_true(json_object_get(d, "optional")))
		return xstrdup("optional: a dev-dependency cannot be optional");
	if (why == NULL)
		return NULL;
	out = xasprintf("%s: %s", w, why);
	free(w);
	free(why);
	return out;
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
		w = xasprintf("kind \"%s\" is not \"normal\", \"build\" or "
		    "\"dev\"", cause_quote(k));
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
		w = depfields(d);
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
	char		*w;
	size_t		 i;

	deps = json_object_get(m, "deps");
	if (!json_is_array(deps))
		return xstrdup("deps must be an array");
	json_array_foreach(deps, i, d) {
		if ((w = dep(d, i + 1)) != NULL)
			return w;
	}
	feats = json_object_get(m, "features");
	if (feats != NULL && !json_is_null(feats) && !json_is_object(feats))
		return xstrdup("features must be an object");
	json_object_foreach(feats, k, v)
		if (!json_is_array(v) || !optstrs(v))
			return xasprintf("feature \"%s\" must be an array of "
			    "strings", cause_quote(k));
	if (!optstr(v = json_object_get(m, "links")))
		return xstrdup("links must be null or a string");
	if (json_is_string(v) && publish_links_check(json_string_value(v),
	    &w) != 0)
		return w;
	if (!optstr(v = json_object_get(m, "rust_version")))
		return xstrdup("rust_version must be null or a string");
	if (json_is_string(v) && publish_rust_version_check(
	    json_string_value(v), &w) != 0)
		return w;
	return features(m);
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
	if (crate_name_reserved(p->name, &w) != 0) {
		why = xasprintf("name: %s", w);
		free(w);
		return why;
	}
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
publish_check_crate(const struct publish *p, char **cause)
{
	char	*w;

	if (crate_archive_check(p->crate, p->crate_len, p->name, p->vers,
	    CRATE_UNPACK_MAX, &w) == 0)
		return 0;
	if (cause != NULL)
		*cause = xasprintf("crate `%s` %s: the .crate file is refused:"
		    " %s", p->name, p->vers, w);
	free(w);
	return -EINVAL;
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

static void
put_u32le(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

unsigned char *
publish_encode(const char *json, size_t json_len, const unsigned char *crate,
    size_t crate_len, size_t *len)
{
	unsigned char	*b;

	if (json_len > UINT32_MAX || crate_len > UINT32_MAX)
		return NULL;
	*len = 8 + json_len + crate_len;
	b = xmalloc(*len);
	put_u32le(b, (uint32_t)json_len);
	if (json_len > 0)
		memcpy(b + 4, json, json_len);
	put_u32le(b + 4 + json_len, (uint32_t)crate_len);
	if (crate_len > 0)
		memcpy(b + 8 + json_len, crate, crate_len);
	return b;
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
		xoom("json_dumps");
	out = xstrdup(s);
	free(s);
	return out;
}
