/* Azure Blob: URLs (path-style under storage_endpoint, as Azurite
 * serves, else ACCOUNT.blob.core.windows.net), SharedKey signatures
 * (HMAC-SHA256 with OpenSSL) or a SAS token appended to the query. */
#include "server/storage/objstore_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/xmalloc.h"

#define AZ_VERSION	"2021-12-02"

int
az_setup(struct objstore *s, char **cause)
{
	const struct objstore_config	*c = &s->cfg;
	char				*prefix = obj_uri_encode(c->prefix, true);
	const char			*slash = *c->prefix ? "/" : "";
	char				*host, *path;

	if (c->endpoint != NULL) {
		size_t	n = strlen(c->endpoint);

		while (n > 0 && c->endpoint[n - 1] == '/')
			n--;
		host = xstrndup(c->endpoint, n);
		path = xasprintf("/%s/%s", c->bucket, c->container);
	} else {
		host = xasprintf("https://%s.blob.core.windows.net", c->bucket);
		path = xasprintf("/%s", c->container);
	}
	s->list_base = xasprintf("%s%s", host, path);
	s->base = xasprintf("%s%s/%s%s", host, path, prefix, slash);
	s->list_resource = xasprintf("/%s%s", c->bucket, path);
	s->resource = xasprintf("/%s%s/%s%s", c->bucket, path, prefix, slash);
	s->name = xasprintf("azblob://%s/%s%s%s", c->bucket, c->container,
	    slash, c->prefix);
	free(host);
	free(path);
	free(prefix);
	(void)cause;
	return 0;
}

char *
az_string_to_sign(const struct az_canon *a)
{
	char	len[32] = "";

	if (a->content_length > 0)
		snprintf(len, sizeof len, "%zu", a->content_length);
	/* Content-Encoding, -Language, -Length, -MD5, -Type, Date,
	 * If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since,
	 * Range; then the x-ms- headers, sorted; then the resource. */
	return xasprintf("%s\n\n\n%s\n\n%s\n\n\n%s\n%s\n\n\n%s%s%s"
	    "x-ms-date:%s\nx-ms-version:%s\n%s", a->verb, len,
	    a->content_type ? a->content_type : "", a->if_match ? a->if_match :
	    "", a->if_none_match ? a->if_none_match : "", a->blob_type ?
	    "x-ms-blob-type:" : "", a->blob_type ? a->blob_type : "",
	    a->blob_type ? "\n" : "", a->date, a->version, a->resource);
}

char *
az_sign(const unsigned char *key, size_t keylen, const char *sts)
{
	unsigned char	mac[EVP_MAX_MD_SIZE];
	unsigned int	maclen = 0;
	char		out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];

	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)sts,
	    strlen(sts), mac, &maclen) == NULL)
		xoom("HMAC");
	EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	return xstrdup(out);
}

/* The listing's query and its canonical form (both new). */
static void
list_query(const struct obj_req *q, char **query, char **canon)
{
	char	*prefix = obj_uri_encode(q->list_prefix, false);
	char	*after = q->list_after ? obj_uri_encode(q->list_after, false) :
		    NULL;

	*query = xasprintf("comp=list&restype=container&maxresults=%d&"
	    "prefix=%s%s%s", OBJ_LIST_PAGE, prefix, after ? "&marker=" : "",
	    after ? after : "");
	*canon = xasprintf("\ncomp:list%s%s\nmaxresults:%d\nprefix:%s"
	    "\nrestype:container", after ? "\nmarker:" : "", after ?
	    q->list_after : "", OBJ_LIST_PAGE, q->list_prefix);
	free(prefix);
	free(after);
}

void
az_request(const struct objstore *s, const struct obj_req *q,
    struct obj_http *h)
{
	struct az_canon	 a;
	char		 date[64], *query = NULL, *canon = NULL, *sts, *sig;
	struct tm	 tm;
	time_t		 now = time(NULL);
	bool		 put = strcmp(q->method, "PUT") == 0;
	/* A key signs; a SAS token only when there is no key. */
	const char	*sas = s->creds.az_key == NULL ? s->creds.sas : NULL;

	memset(h, 0, sizeof *h);
	h->method = q->method;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	memset(&a, 0, sizeof a);
	a.verb = q->method;
	a.date = date;
	a.version = AZ_VERSION;
	a.if_match = q->if_match;
	a.if_none_match = q->if_none_match;
	if (q->key != NULL) {
		char	*key = obj_uri_encode(q->key, true);

		h->url = xasprintf("%s%s%s%s", s->base, key, sas ? "?" :
		    "", sas ? sas : "");
		a.resource = canon = xasprintf("%s%s", s->resource, key);
		free(key);
	} else {
		list_query(q, &query, &canon);
		h->url = xasprintf("%s?%s%s%s", s->list_base, query,
		    sas ? "&" : "", sas ? sas : "");
		sts = xasprintf("%s%s", s->list_resource, canon);
		free(canon);
		a.resource = canon = sts;
	}
	if (put) {
		a.content_length = q->len;
		a.content_type = q->content_type ? q->content_type :
		    "application/octet-stream";
		a.blob_type = "BlockBlob";
		obj_http_add(h, "Content-Type: %s", a.content_type);
		obj_http_add(h, "x-ms-blob-type: BlockBlob");
	}
	obj_http_add(h, "x-ms-date: %s", date);
	obj_http_add(h, "x-ms-version: %s", AZ_VERSION);
	if (q->if_match != NULL)
		obj_http_add(h, "If-Match: %s", q->if_match);
	if (q->if_none_match != NULL)
		obj_http_add(h, "If-None-Match: %s", q->if_none_match);
	if (s->creds.az_key != NULL) {
		sts = az_string_to_sign(&a);
		sig = az_sign(s->creds.az_key, s->creds.az_key_len, sts);
		obj_http_add(h, "Authorization: SharedKey %s:%s", s->cfg.bucket,
		    sig);
		free(sts);
		free(sig);
	}
	free(query);
	free(canon);
}

int
az_parse_list(const char *xml, size_t len, const char *prefix,
    struct obj_entry **entries, size_t *n, char **next, char **cause)
{
	static const struct obj_list_shape	shape = {
		.item = "Blob", .item_depth = 3, .key = "Name",
		.etag = "Etag", .size = "Content-Length",
		.modified = "Last-Modified", .next = "NextMarker",
	};

	return obj_parse_listing(xml, len, prefix, &shape, entries, n, next,
	    cause);
}
