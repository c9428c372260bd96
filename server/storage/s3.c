/* S3: URLs (path-style under storage_endpoint, virtual-host style on
 * AWS), and what curl needs to sign a request with SigV4. libcurl 7.88.1
 * signs the query string as written and does not add
 * x-amz-content-sha256 (object-storage.md): queries are built canonical
 * here (parameters sorted, values encoded) and the payload's hash is
 * sent by us, which curl then signs. */
#include "server/storage/objstore_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/xmalloc.h"

#define EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Bodies above this are not hashed on the event loop: sent as
 * UNSIGNED-PAYLOAD unless the caller knows their SHA-256 (a .crate's). */
#define HASH_MAX	(1u << 20)

int
s3_setup(struct objstore *s, char **cause)
{
	const struct objstore_config	*c = &s->cfg;
	char				*prefix = obj_uri_encode(c->prefix, true);
	const char			*slash = *c->prefix ? "/" : "";

	if (c->endpoint != NULL) {
		size_t	n = strlen(c->endpoint);

		while (n > 0 && c->endpoint[n - 1] == '/')
			n--;
		s->list_base = xasprintf("%.*s/%s/", (int)n, c->endpoint,
		    c->bucket);
	} else if (strchr(c->bucket, '.') != NULL) {
		/* A dotted bucket breaks the wildcard certificate. */
		s->list_base = xasprintf("https://s3.%s.amazonaws.com/%s/",
		    s->creds.region, c->bucket);
	} else
		s->list_base = xasprintf("https://%s.s3.%s.amazonaws.com/",
		    c->bucket, s->creds.region);
	s->base = xasprintf("%s%s%s", s->list_base, prefix, slash);
	s->name = xasprintf("s3://%s%s%s", c->bucket, slash, c->prefix);
	free(prefix);
	(void)cause;
	return 0;
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ListObjectsV2's query, canonical: names sorted, values encoded. */
static char *
list_query(const struct obj_req *q)
{
	char	*prefix = obj_uri_encode(q->list_prefix, false);
	char	*after = q->list_after ? obj_uri_encode(q->list_after, false) :
		    NULL;
	char	*s;

	s = xasprintf("%s%s%slist-type=2&max-keys=%d&prefix=%s", after ?
	    "continuation-token=" : "", after ? after : "", after ? "&" : "",
	    OBJ_LIST_PAGE, prefix);
	free(prefix);
	free(after);
	return s;
}

void
s3_request(const struct objstore *s, const struct obj_req *q,
    struct obj_http *h)
{
	char		 sum[2 * SHA256_DIGEST_LENGTH + 1];
	unsigned char	 d[SHA256_DIGEST_LENGTH];
	const char	*payload = EMPTY_SHA256;

	memset(h, 0, sizeof *h);
	h->method = q->method;
	if (q->key != NULL) {
		char	*key = obj_uri_encode(q->key, true);

		h->url = xasprintf("%s%s", s->base, key);
		free(key);
	} else {
		char	*query = list_query(q);

		h->url = xasprintf("%s?%s", s->list_base, query);
		free(query);
	}
	if (strcmp(q->method, "PUT") == 0) {
		if (q->sha256 != NULL)
			payload = q->sha256;
		else if (q->len <= HASH_MAX) {
			SHA256(q->len > 0 ? q->body : (const void *)"", q->len,
			    d);
			hex(d, sizeof d, sum);
			payload = sum;
		} else
			payload = "UNSIGNED-PAYLOAD";
		obj_http_add(h, "Content-Type: %s", q->content_type ?
		    q->content_type : "application/octet-stream");
	}
	obj_http_add(h, "x-amz-content-sha256: %s", payload);
	if (s->creds.session_token != NULL)
		obj_http_add(h, "x-amz-security-token: %s",
		    s->creds.session_token);
	if (q->if_match != NULL)
		obj_http_add(h, "If-Match: %s", q->if_match);
	if (q->if_none_match != NULL)
		obj_http_add(h, "If-None-Match: %s", q->if_none_match);
	h->sigv4 = xasprintf("aws:amz:%s:s3", s->creds.region);
	h->userpwd = xasprintf("%s:%s", s->creds.key_id, s->creds.secret);
}

int
s3_parse_list(const char *xml, size_t len, const char *prefix,
    struct obj_entry **entries, size_t *n, char **next, char **cause)
{
	static const struct obj_list_shape	shape = {
		.item = "Contents", .item_depth = 2, .key = "Key",
		.etag = "ETag", .size = "Size", .modified = "LastModified",
		.next = "NextContinuationToken",
	};

	return obj_parse_listing(xml, len, prefix, &shape, entries, n, next,
	    cause);
}
