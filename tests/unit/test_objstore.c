/* The object-store client's pure parts: storage URLs, ETags, encoding,
 * the Azure SharedKey signature (vectors computed independently, in
 * Python, by tests/integration/azurite.py's string_to_sign and
 * shared_key), the requests as each cloud builds them, and listings in
 * the shape S3 and Azure send them. */
#include <stdlib.h>
#include <string.h>

#include "server/storage/objstore.h"
#include "server/storage/objstore_int.h"
#include "tests/tap.h"

#define DEV_KEY	"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/" \
		"K1SZFPTOtr/KBHBeksoGMGw=="
#define DATE	"Mon, 07 Dec 2026 19:43:11 GMT"

static void
test_urls(void)
{
	struct objstore_config	c;
	char			*cause = NULL;

	ok(objstore_parse_url("s3://my-bucket/a/b/", &c, &cause) == 0 &&
	    c.kind == OBJ_S3 && strcmp(c.bucket, "my-bucket") == 0 &&
	    strcmp(c.prefix, "a/b") == 0 && c.container == NULL,
	    "s3://my-bucket/a/b/: bucket and prefix, the trailing '/' dropped");
	objstore_config_free(&c);
	ok(objstore_parse_url("s3://bucket", &c, &cause) == 0 &&
	    strcmp(c.prefix, "") == 0, "no prefix: \"\"");
	objstore_config_free(&c);
	ok(objstore_parse_url("azblob://acct1/crates/team", &c, &cause) == 0 &&
	    c.kind == OBJ_AZBLOB && strcmp(c.bucket, "acct1") == 0 &&
	    strcmp(c.container, "crates") == 0 && strcmp(c.prefix, "team") ==
	    0, "azblob://ACCOUNT/CONTAINER/PREFIX");
	objstore_config_free(&c);
	static const char *const bad[] = {
		"s3://ab", "S3://bucket", "s3://Bucket", "s3://bucket/a//b",
		"s3://bucket/./a", "s3://bucket/a/..", "s3://bucket/a b",
		"s3://bucket/a%2f", "s3://bucket/a\"b", "s3://-bucket",
		"azblob://acct", "azblob://acct/ab", "azblob://ACCT/crates",
		"azblob://acct/cr--ates", "azblob://a_b/crates", "http://x/y",
		"", "s3://",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		ok(objstore_parse_url(bad[i], &c, &cause) == -1 && cause !=
		    NULL, "refused: \"%s\" (%s)", bad[i], cause ? cause : "");
		free(cause);
	}
}

static void
test_etags(void)
{
	static const struct {
		const char	*in, *want;
	} cases[] = {
		{ "\"abc\"", "\"abc\"" },
		{ "abc", "\"abc\"" },		/* Azure's listings */
		{ "&quot;abc&quot;", "\"abc\"" },	/* S3's, undecoded */
		{ "W/\"abc\"", "\"abc\"" },
		{ " \"0x8DBE1F\" \r\n", "\"0x8DBE1F\"" },
		{ "\"\"", NULL },
		{ "a\"b", NULL },
		{ "", NULL },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char	*got = obj_etag_normalise(cases[i].in,
			    strlen(cases[i].in));

		is_str(got, cases[i].want, "etag case %zu", i);
		free(got);
	}
}

static void
test_encode(void)
{
	char	*s;

	s = obj_uri_encode("R/crates/a+b/x y~_.-Z9.crate", true);
	is_str(s, "R/crates/a%2Bb/x%20y~_.-Z9.crate", "a path: '/' kept, the"
	    " rest as AWS's UriEncode");
	free(s);
	s = obj_uri_encode("pre/R/\xc3\xa9", false);
	is_str(s, "pre%2FR%2F%C3%A9", "a query value: '/' and UTF-8 encoded,"
	    " upper-case hex");
	free(s);
	ok(obj_parse_time("Mon, 07 Dec 2026 19:43:11 GMT") == 1796672591,
	    "RFC 1123 date");
	ok(obj_parse_time("2026-12-07T19:43:11.000Z") == 1796672591,
	    "ISO 8601 date");
	ok(obj_parse_time("yesterday") == 0, "not a date: 0");
}

static void
test_azure_signature(void)
{
	struct az_canon	 a;
	unsigned char	 key[64];
	size_t		 keylen;
	struct objstore_config	c;
	struct obj_creds	cr;
	char		*sts, *sig, *cause = NULL;

	memset(&a, 0, sizeof a);
	a.verb = "PUT";
	a.content_length = 5;
	a.content_type = "application/octet-stream";
	a.if_none_match = "*";
	a.blob_type = "BlockBlob";
	a.date = DATE;
	a.version = "2021-12-02";
	a.resource = "/devstoreaccount1/devstoreaccount1/crates/pre/R/crates/"
	    "se/rd/serde-1.0.0.crate";
	sts = az_string_to_sign(&a);
	is_str(sts, "PUT\n\n\n5\n\napplication/octet-stream\n\n\n\n*\n\n\n"
	    "x-ms-blob-type:BlockBlob\nx-ms-date:" DATE "\nx-ms-version:"
	    "2021-12-02\n/devstoreaccount1/devstoreaccount1/crates/pre/R/"
	    "crates/se/rd/serde-1.0.0.crate", "Put Blob's string to sign");
	setenv("AZURE_STORAGE_KEY", DEV_KEY, 1);
	objstore_parse_url("azblob://devstoreaccount1/crates", &c, &cause);
	ok(obj_creds_read(&c, &cr, &cause) == 0 && cr.az_key_len == 64,
	    "the account key decoded: 64 bytes");
	keylen = cr.az_key_len;
	memcpy(key, cr.az_key, keylen);
	sig = az_sign(key, keylen, sts);
	is_str(sig, "M/HQuH5Fzm6yFdUZV7lfNHBg2xpSMvhkN7+rHTG2PbY=",
	    "Put Blob's signature (computed in Python)");
	free(sts);
	free(sig);

	memset(&a, 0, sizeof a);
	a.verb = "GET";
	a.date = DATE;
	a.version = "2021-12-02";
	a.resource = "/acct/crates\ncomp:list\nmarker:2!88!MDAw\nmaxresults:1000"
	    "\nprefix:pre/R/\nrestype:container";
	sts = az_string_to_sign(&a);
	sig = az_sign(key, keylen, sts);
	is_str(sig, "PrCmhcV6ULSGXgkbK8eKlfgqPtV+tY7JURjHIs4+StQ=",
	    "List Blobs' signature, query parameters in the resource");
	free(sts);
	free(sig);
	obj_creds_free(&cr);
	objstore_config_free(&c);
	unsetenv("AZURE_STORAGE_KEY");
}

static struct objstore *
open_store(const char *url, const char *endpoint)
{
	struct objstore_config	 c;
	struct objstore		*s = NULL;
	char			*cause = NULL;

	objstore_parse_url(url, &c, &cause);
	c.endpoint = endpoint ? strdup(endpoint) : NULL;
	if (objstore_open(&c, NULL, &s, &cause) != 0) {
		printf("# %s\n", cause);
		free(cause);
	}
	objstore_config_free(&c);
	return s;
}

static const char *
header(const struct obj_http *h, const char *prefix)
{
	for (size_t i = 0; i < h->nheaders; i++)
		if (strncmp(h->headers[i], prefix, strlen(prefix)) == 0)
			return h->headers[i];
	return NULL;
}

static void
test_s3_requests(void)
{
	struct objstore	*s;
	struct obj_http	 h;
	struct obj_req	 q;

	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	setenv("AWS_REGION", "eu-west-3", 1);
	unsetenv("AWS_SESSION_TOKEN");
	s = open_store("s3://bucket/team", NULL);
	ok(s != NULL, "opened with the environment's credentials");
	is_str(objstore_name(s), "s3://bucket/team", "its name");
	memset(&q, 0, sizeof q);
	q.method = "GET";
	q.key = "R/index/se/rd/serde";
	s3_request(s, &q, &h);
	is_str(h.url, "https://bucket.s3.eu-west-3.amazonaws.com/team/R/index/"
	    "se/rd/serde", "AWS: virtual-host style, the region's endpoint");
	is_str(h.sigv4, "aws:amz:eu-west-3:s3", "curl's AWS_SIGV4 setting");
	is_str(h.userpwd, "AKID:secret", "curl's USERPWD");
	is_str(header(&h, "x-amz-content-sha256"), "x-amz-content-sha256: "
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    "a GET's payload hash: the empty string's");
	obj_http_free(&h);
	q.key = NULL;
	q.list_prefix = "team/R/";
	q.list_after = "tok/en=";
	s3_request(s, &q, &h);
	is_str(h.url, "https://bucket.s3.eu-west-3.amazonaws.com/?"
	    "continuation-token=tok%2Fen%3D&list-type=2&max-keys=1000&"
	    "prefix=team%2FR%2F", "a listing's query: sorted, encoded (curl"
	    " 7.88 signs it as written)");
	obj_http_free(&h);
	memset(&q, 0, sizeof q);
	q.method = "PUT";
	q.key = "R/crates/x";
	q.body = "hello";
	q.len = 5;
	q.if_match = "\"abc\"";
	s3_request(s, &q, &h);
	is_str(header(&h, "x-amz-content-sha256"), "x-amz-content-sha256: "
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
	    "a PUT's payload hash: the body's SHA-256");
	is_str(header(&h, "If-Match"), "If-Match: \"abc\"", "If-Match sent");
	is_str(header(&h, "Content-Type"), "Content-Type: "
	    "application/octet-stream", "a default content type");
	obj_http_free(&h);
	objstore_close(s);

	setenv("AWS_SESSION_TOKEN", "tok", 1);
	s = open_store("s3://my.bucket", NULL);
	memset(&q, 0, sizeof q);
	q.method = "DELETE";
	q.key = "k";
	s3_request(s, &q, &h);
	is_str(h.url, "https://s3.eu-west-3.amazonaws.com/my.bucket/k",
	    "a dotted bucket: path style (the certificate)");
	is_str(header(&h, "x-amz-security-token"), "x-amz-security-token: tok",
	    "the session token sent");
	obj_http_free(&h);
	objstore_close(s);
	s = open_store("s3://bucket", "http://127.0.0.1:9000/");
	memset(&q, 0, sizeof q);
	q.method = "GET";
	q.key = "a b";
	s3_request(s, &q, &h);
	is_str(h.url, "http://127.0.0.1:9000/bucket/a%20b",
	    "storage_endpoint: path style");
	obj_http_free(&h);
	objstore_close(s);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_ACCESS_KEY_ID");
	s = open_store("s3://bucket", NULL);
	ok(s == NULL, "no key id: not opened");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_REGION");
}

static void
test_azure_requests(void)
{
	struct objstore	*s;
	struct obj_http	 h;
	struct obj_req	 q;

	setenv("AZURE_STORAGE_KEY", DEV_KEY, 1);
	s = open_store("azblob://devstoreaccount1/crates/pre",
	    "http://127.0.0.1:10000");
	memset(&q, 0, sizeof q);
	q.method = "PUT";
	q.key = "R/x";
	q.body = "hello";
	q.len = 5;
	q.if_none_match = "*";
	az_request(s, &q, &h);
	is_str(h.url, "http://127.0.0.1:10000/devstoreaccount1/crates/pre/R/x",
	    "Azurite: path style");
	ok(header(&h, "x-ms-blob-type: BlockBlob") != NULL, "a block blob");
	ok(header(&h, "Authorization: SharedKey devstoreaccount1:") != NULL,
	    "signed with SharedKey");
	ok(h.sigv4 == NULL && h.userpwd == NULL, "nothing for curl to sign");
	obj_http_free(&h);
	objstore_close(s);
	unsetenv("AZURE_STORAGE_KEY");
	setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2019-12-12&sig=abc%2B", 1);
	s = open_store("azblob://acct/crates", NULL);
	memset(&q, 0, sizeof q);
	q.method = "GET";
	q.list_prefix = "R/";
	az_request(s, &q, &h);
	is_str(h.url, "https://acct.blob.core.windows.net/crates?comp=list&"
	    "restype=container&maxresults=1000&prefix=R%2F&sv=2019-12-12&"
	    "sig=abc%2B", "a SAS listing: the token appended, no '?' twice");
	ok(header(&h, "Authorization") == NULL, "a SAS: no Authorization");
	obj_http_free(&h);
	objstore_close(s);
	unsetenv("AZURE_STORAGE_SAS_TOKEN");
}

static void
test_s3_listing(void)
{
	/* As AWS documents ListObjectsV2's answer. */
	static const char xml[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
	    "<Name>bucket</Name><Prefix>team/R/</Prefix><KeyCount>2</KeyCount>"
	    "<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
	    "<Contents><Key>team/R/crates/a/a-1.0.0.crate</Key>"
	    "<LastModified>2026-12-07T19:43:11.000Z</LastModified>"
	    "<ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag>"
	    "<Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents>"
	    "<Contents><Key>team/R/index/3/a/a&amp;b</Key>"
	    "<LastModified>2026-12-07T19:43:12.000Z</LastModified>"
	    "<ETag>\"d41d8cd98f00b204e9800998ecf8427e-2\"</ETag>"
	    "<Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>"
	    "<ContinuationToken>1ueGcxLPRx1Tr</ContinuationToken>"
	    "<NextContinuationToken>1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcR"
	    "Ejk2Bf</NextContinuationToken></ListBucketResult>";
	struct obj_entry	*e = NULL;
	size_t			 n = 0;
	char			*next = NULL, *cause = NULL;

	ok(s3_parse_list(xml, strlen(xml), "team/", &e, &n, &next, &cause) ==
	    0, "an S3 listing parses");
	ok(n == 2, "two entries");
	is_str(n > 0 ? e[0].key : NULL, "R/crates/a/a-1.0.0.crate",
	    "keys relative to the store's prefix");
	is_str(n > 0 ? e[0].etag : NULL, "\"599bab3ed2c697f1d26842727561fd94\"",
	    "&quot; ETags normalised");
	ok(n > 0 && e[0].size == 1234 && e[0].last_modified == 1796672591,
	    "size and date");
	is_str(n > 1 ? e[1].key : NULL, "R/index/3/a/a&b", "entities decoded");
	is_str(n > 1 ? e[1].etag : NULL,
	    "\"d41d8cd98f00b204e9800998ecf8427e-2\"", "a multipart ETag");
	is_str(next, "1w41l63U0xa8q7smH50vCxyTQqdxo69O3EmK28Bi5PcREjk2Bf",
	    "NextContinuationToken, not ContinuationToken");
	obj_entries_free(e, n);
	free(next);

	static const char last[] = "<ListBucketResult><IsTruncated>false"
	    "</IsTruncated></ListBucketResult>";
	e = NULL;
	next = NULL;
	ok(s3_parse_list(last, strlen(last), "", &e, &n, &next, &cause) == 0 &&
	    n == 0 && next == NULL, "an empty last page: no entries, no next");
	obj_entries_free(e, n);
}

static void
test_azure_listing(void)
{
	/* As Azure documents List Blobs' answer (Etags unquoted). */
	static const char xml[] =
	    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
	    "<EnumerationResults ServiceEndpoint=\"https://acct.blob.core."
	    "windows.net/\" ContainerName=\"crates\"><Prefix>pre/R/</Prefix>"
	    "<MaxResults>2</MaxResults><Blobs>"
	    "<Blob><Name>pre/R/index/se/rd/serde</Name><Properties>"
	    "<Creation-Time>Mon, 07 Dec 2026 19:43:10 GMT</Creation-Time>"
	    "<Last-Modified>Mon, 07 Dec 2026 19:43:11 GMT</Last-Modified>"
	    "<Etag>0x8DBE1F2C3A4B5C6</Etag><Content-Length>321</Content-Length>"
	    "<Content-Type>text/plain</Content-Type><BlobType>BlockBlob"
	    "</BlobType></Properties><Metadata><Name>not-the-key</Name>"
	    "</Metadata></Blob>"
	    "<Blob><Name>pre/R/names/serde</Name><Properties>"
	    "<Last-Modified>Mon, 07 Dec 2026 19:43:12 GMT</Last-Modified>"
	    "<Etag>&quot;0x8DBE1F2C3A4B5C7&quot;</Etag>"
	    "<Content-Length>5</Content-Length></Properties></Blob>"
	    "<Blob><Name>elsewhere/x</Name><Properties><Etag>0x1</Etag>"
	    "</Properties></Blob>"
	    "</Blobs><NextMarker>2!88!MDAwMDE5IXByZS9SL25hbWVzL3NlcmRlITAwMDAy"
	    "OCE5OTk5LTEyLTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--</NextMarker>"
	    "</EnumerationResults>";
	struct obj_entry	*e = NULL;
	size_t			 n = 0;
	char			*next = NULL, *cause = NULL;

	ok(az_parse_list(xml, strlen(xml), "pre/", &e, &n, &next, &cause) ==
	    0, "an Azure listing parses (%s)", cause ? cause : "");
	ok(n == 2, "two entries: one outside the prefix skipped");
	is_str(n > 0 ? e[0].key : NULL, "R/index/se/rd/serde",
	    "the Blob's Name, not its metadata's");
	is_str(n > 0 ? e[0].etag : NULL, "\"0x8DBE1F2C3A4B5C6\"",
	    "an unquoted Etag quoted");
	ok(n > 0 && e[0].size == 321 && e[0].last_modified == 1796672591,
	    "Content-Length and Last-Modified");
	is_str(n > 1 ? e[1].etag : NULL, "\"0x8DBE1F2C3A4B5C7\"",
	    "a &quot; Etag");
	is_str(next, "2!88!MDAwMDE5IXByZS9SL25hbWVzL3NlcmRlITAwMDAyOCE5OTk5LTEy"
	    "LTMxVDIzOjU5OjU5Ljk5OTk5OTlaIQ--", "NextMarker");
	obj_entries_free(e, n);
	free(next);
}

static void
test_bad_listings(void)
{
	static const char *const bad[] = {
		"<ListBucketResult><Contents><Key>a</Key>",
		"not xml",
		"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]>"
		"<ListBucketResult><Contents><Key>&a;</Key></Contents>"
		"</ListBucketResult>",
	};
	struct obj_entry	*e;
	size_t			 n;
	char			*next, *cause;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		e = NULL;
		next = cause = NULL;
		ok(s3_parse_list(bad[i], strlen(bad[i]), "", &e, &n, &next,
		    &cause) == -1 && cause != NULL && e == NULL,
		    "refused: listing %zu (%s)", i, cause ? cause : "");
		free(cause);
	}
}

int
main(void)
{
	test_urls();
	test_etags();
	test_encode();
	test_azure_signature();
	test_s3_requests();
	test_azure_requests();
	test_s3_listing();
	test_azure_listing();
	test_bad_listings();
	return done_testing();
}
