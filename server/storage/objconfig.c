/* The `storage` URL and the store's credentials. Calls nothing else of
 * server/storage/ (config.c checks URLs with it). */
#include "server/storage/objstore_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/xmalloc.h"

#define CREDS_FILE_MAX	65536

static bool
name_ok(const char *s, size_t len, size_t min, size_t max, bool dash,
    bool dot)
{
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char	c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (dash && c == '-' && i > 0 && i + 1 < len) ||
		    (dot && c == '.' && i > 0 && i + 1 < len)))
			return false;
	}
	return true;
}

/* A key prefix: segments of printable ASCII, no "." or ".." and no empty
 * one. */
static bool
prefix_ok(const char *s)
{
	const char	*seg = s;

	if (*s == '\0')
		return true;
	for (const char *p = s;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t	n = (size_t)(p - seg);

			if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 &&
			    seg[0] == '.' && seg[1] == '.'))
				return false;
			if (*p == '\0')
				return true;
			seg = p + 1;
		} else if (*p <= ' ' || *p >= 0x7f || *p == '\\' || *p ==
		    '?' || *p == '#' || *p == '%' || *p == '"')
			return false;
	}
}

/* The next '/'-separated part of *s (new), advancing *s. */
static char *
part(const char **s)
{
	const char	*slash = strchr(*s, '/');
	char		*p;

	if (slash == NULL) {
		p = xstrdup(*s);
		*s += strlen(*s);
	} else {
		p = xstrndup(*s, (size_t)(slash - *s));
		*s = slash + 1;
	}
	return p;
}

int
objstore_parse_url(const char *url, struct objstore_config *c, char **cause)
{
	const char	*s;
	char		*rest = NULL;
	size_t		 n;

	memset(c, 0, sizeof *c);
	if (strncmp(url, "s3://", 5) == 0) {
		c->kind = OBJ_S3;
		s = url + 5;
	} else if (strncmp(url, "azblob://", 9) == 0) {
		c->kind = OBJ_AZBLOB;
		s = url + 9;
	} else {
		*cause = xstrdup("must be s3://BUCKET[/PREFIX] or"
		    " azblob://ACCOUNT/CONTAINER[/PREFIX]");
		return -1;
	}
	c->url = xstrdup(url);
	c->bucket = part(&s);
	if (c->kind == OBJ_S3 && !name_ok(c->bucket, strlen(c->bucket), 3,
	    63, true, true)) {
		*cause = xasprintf("bucket \"%s\": use 3 to 63 of a-z, 0-9,"
		    " '-' and '.', as S3 does", c->bucket);
		goto err;
	}
	if (c->kind == OBJ_AZBLOB) {
		if (!name_ok(c->bucket, strlen(c->bucket), 3, 24, false,
		    false)) {
			*cause = xasprintf("storage account \"%s\": use 3 to"
			    " 24 of a-z and 0-9, as Azure does", c->bucket);
			goto err;
		}
		c->container = part(&s);
		if (!name_ok(c->container, strlen(c->container), 3, 63, true,
		    false) || strstr(c->container, "--") != NULL) {
			*cause = xasprintf("container \"%s\": use 3 to 63 of"
			    " a-z, 0-9 and single '-', as Azure does (the URL"
			    " is azblob://ACCOUNT/CONTAINER[/PREFIX])",
			    c->container);
			goto err;
		}
	}
	rest = xstrdup(s);
	n = strlen(rest);
	while (n > 0 && rest[n - 1] == '/')	/* "s3://b/p/" is "s3://b/p" */
		rest[--n] = '\0';
	if (!prefix_ok(rest)) {
		*cause = xasprintf("prefix \"%s\": use printable ASCII"
		    " segments without \".\", \"..\", '%%', '?', '#', '\"' or"
		    " empty ones", rest);
		goto err;
	}
	c->prefix = rest;
	return 0;
err:
	free(rest);
	objstore_config_free(c);
	return -1;
}

void
objstore_config_free(struct objstore_config *c)
{
	if (c == NULL)
		return;
	free(c->url);
	free(c->bucket);
	free(c->container);
	free(c->prefix);
	free(c->endpoint);
	free(c->region);
	free(c->credentials_file);
	memset(c, 0, sizeof *c);
}

/* The value of name: from the file's text when there is one, else the
 * environment. New, or NULL when unset or empty. */
static char *
lookup(const char *text, const char *name)
{
	size_t		 n = strlen(name);
	const char	*v;

	if (text == NULL) {
		v = getenv(name);
		return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
	}
	for (const char *l = text; *l != '\0'; l += strcspn(l, "\n"),
	    l += *l == '\n') {
		size_t	len = strcspn(l, "\n");

		while (len > 0 && (l[len - 1] == '\r' || l[len - 1] == ' '))
			len--;
		if (strncmp(l, "export ", 7) == 0) {
			l += 7;
			len -= 7;
		}
		if (len <= n || strncmp(l, name, n) != 0 || l[n] != '=')
			continue;
		l += n + 1;
		len -= n + 1;
		if (len >= 2 && (l[0] == '"' || l[0] == '\'') && l[len - 1] ==
		    l[0]) {
			l++;
			len -= 2;
		}
		return len > 0 ? xstrndup(l, len) : NULL;
	}
	return NULL;
}

/* The credentials file's text (new), or NULL with *cause. */
static char *
read_file(const char *path, char **cause)
{
	FILE	*f;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("storage_credentials_file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	buf = xmalloc(CREDS_FILE_MAX + 1);
	n = fread(buf, 1, CREDS_FILE_MAX + 1, f);
	fclose(f);
	if (n > CREDS_FILE_MAX) {
		explicit_bzero(buf, CREDS_FILE_MAX + 1);
		free(buf);
		*cause = xasprintf("storage_credentials_file %s: larger than"
		    " %d bytes", path, CREDS_FILE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* Standard base64 (the portal's account keys) into new bytes. */
static int
base64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t		 n = strlen(s), pad = 0;
	unsigned char	*buf;
	int		 r;

	if (n == 0 || n % 4 != 0)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	buf = xmalloc(n / 4 * 3 + 1);
	if ((r = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n)) < 0 ||
	    (size_t)r < pad) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = (size_t)r - pad;
	return 0;
}

static int
s3_creds(const char *text, const struct objstore_config *c,
    struct obj_creds *cr, const char *from, char **cause)
{
	cr->key_id = lookup(text, "AWS_ACCESS_KEY_ID");
	cr->secret = lookup(text, "AWS_SECRET_ACCESS_KEY");
	cr->session_token = lookup(text, "AWS_SESSION_TOKEN");
	if (cr->key_id == NULL || cr->secret == NULL) {
		*cause = xasprintf("%s: no S3 credentials: set"
		    " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in %s",
		    c->url, from);
		return -1;
	}
	if (strchr(cr->key_id, ':') != NULL) {
		*cause = xasprintf("%s: AWS_ACCESS_KEY_ID in %s contains a"
		    " ':'", c->url, from);
		return -1;
	}
	if (c->region != NULL)
		cr->region = xstrdup(c->region);
	else if ((cr->region = lookup(text, "AWS_REGION")) == NULL &&
	    (cr->region = lookup(text, "AWS_DEFAULT_REGION")) == NULL)
		cr->region = xstrdup("us-east-1");
	return 0;
}

static int
az_creds(const char *text, const struct objstore_config *c,
    struct obj_creds *cr, const char *from, char **cause)
{
	char	*account = lookup(text, "AZURE_STORAGE_ACCOUNT");
	char	*key = lookup(text, "AZURE_STORAGE_KEY");
	int	 r = -1;

	cr->sas = lookup(text, "AZURE_STORAGE_SAS_TOKEN");
	if (account != NULL && strcmp(account, c->bucket) != 0) {
		*cause = xasprintf("%s: AZURE_STORAGE_ACCOUNT in %s names"
		    " another account than the storage URL's", c->url, from);
		goto done;
	}
	if (key == NULL && cr->sas == NULL) {
		*cause = xasprintf("%s: no Azure credentials: set"
		    " AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN in %s",
		    c->url, from);
		goto done;
	}
	if (key != NULL && base64_decode(key, &cr->az_key,
	    &cr->az_key_len) != 0) {
		*cause = xasprintf("%s: AZURE_STORAGE_KEY in %s is not"
		    " base64 (the account key as the portal shows it)",
		    c->url, from);
		goto done;
	}
	if (cr->sas != NULL && cr->sas[0] == '?')
		memmove(cr->sas, cr->sas + 1, strlen(cr->sas));
	r = 0;
done:
	free(account);
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	free(key);
	return r;
}

int
obj_creds_read(const struct objstore_config *c, struct obj_creds *cr,
    char **cause)
{
	char	*text = NULL, *from;
	int	 r;

	memset(cr, 0, sizeof *cr);
	if (c->credentials_file != NULL && (text = read_file(
	    c->credentials_file, cause)) == NULL)
		return -1;
	from = text != NULL ? xasprintf("storage_credentials_file %s",
	    c->credentials_file) : xstrdup("the environment");
	if (c->kind == OBJ_S3)
		r = s3_creds(text, c, cr, from, cause);
	else
		r = az_creds(text, c, cr, from, cause);
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	free(from);
	if (r != 0)
		obj_creds_free(cr);
	return r;
}

static void
wipe(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
obj_creds_free(struct obj_creds *cr)
{
	wipe(cr->key_id);
	wipe(cr->secret);
	wipe(cr->session_token);
	free(cr->region);
	if (cr->az_key != NULL) {
		explicit_bzero(cr->az_key, cr->az_key_len);
		free(cr->az_key);
	}
	wipe(cr->sas);
	memset(cr, 0, sizeof *cr);
}
