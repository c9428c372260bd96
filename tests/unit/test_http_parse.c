/* The HTTP/1.1 head parser (server/http/http_parse.c) on a table of raw heads
 * next to what it must make of them: the request it fills in, or the
 * status and reason it refuses with. Every refusal of http_parse_head has
 * a row, and each limit it checks is tried at exactly the limit and one
 * past it. The limits read_head checks on the connection (max_head, the
 * head timeout) are not the parser's: tests/integration covers them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/http/http_conn.h"
#include "server/http/http_parse.h"
#include "tests/tap.h"

/* One head and its expected outcome. status 0: parsed, and the fields
 * after it are checked; otherwise only status and why are. */
struct row {
	const char		*name;
	const char		*head;
	size_t			 max_line;	/* 0: 8192 */
	size_t			 max_headers;	/* 0: 8 */
	bool			 h2;		/* an HTTP/2 stream's head */
	int			 status;
	const char		*why;
	enum http_method	 method;
	const char		*method_name;	/* NULL: "GET" */
	const char		*path;
	const char		*query;		/* NULL: none */
	bool			 http10;	/* HTTP/1.0, not 1.1 */
	uint64_t		 clen;
	bool			 closes;	/* no keep-alive */
	bool			 expect;	/* expect_continue */
	size_t			 nheaders;
	const char		*hdrs[9];	/* name, value, ...; NULL */
	const char		*absent;	/* a header that must not be */
};

/* Unset, a good row expects GET, HTTP/1.1 and keep-alive. */
#define GOOD(n, h)	.name = (n), .head = (h)
#define BAD(n, h, s, w)	.name = (n), .head = (h), .status = (s), .why = (w)

static const char	malformed_line[] = "malformed request line";
static const char	malformed_field[] = "malformed header field";
static const char	bad_clen[] = "invalid Content-Length";
static const char	chunked[] = "chunked request bodies are not supported:"
			    " send Content-Length";
static const char	version[] = "only HTTP/1.0 and HTTP/1.1 are spoken here";
static const char	target[] = "the request target must be a path or an"
			    " http URI";
static const char	value_byte[] = "invalid byte in a header value";
static const char	needs_host[] = "an HTTP/1.1 request needs a Host header"
			    " field";

static const struct row rows[] = {
	/* Good heads. */
	{ GOOD("plain GET", "GET /index/se/rd/serde HTTP/1.1\r\n"
	    "Host: a\r\n\r\n"), .path = "/index/se/rd/serde", .nheaders = 1,
	    .hdrs = { "Host", "a", "host", "a", NULL } },
	{ GOOD("query split off", "GET /api/v1/crates?q=serde&per_page=10"
	    " HTTP/1.1\r\nHost: a\r\n\r\n"), .path = "/api/v1/crates",
	    .query = "q=serde&per_page=10", .nheaders = 1 },
	{ GOOD("empty query", "GET /x? HTTP/1.1\r\nHost: a\r\n\r\n"),
	    .path = "/x", .query = "", .nheaders = 1 },
	{ GOOD("leading slashes collapse", "GET ///a//b HTTP/1.1\r\n"
	    "Host: a\r\n\r\n"), .path = "/a//b", .nheaders = 1 },
	{ GOOD("HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"),
	    .method = HTTP_HEAD, .method_name = "HEAD", .path = "/",
	    .nheaders = 1 },
	{ GOOD("PUT with a body", "PUT /api/v1/crates/new HTTP/1.1\r\n"
	    "Host: a\r\nContent-Length: 42\r\n\r\n"), .method = HTTP_PUT,
	    .method_name = "PUT", .path = "/api/v1/crates/new", .clen = 42,
	    .nheaders = 2, .hdrs = { "content-length", "42", NULL } },
	{ GOOD("DELETE", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    .method = HTTP_DELETE, .method_name = "DELETE", .path = "/x",
	    .nheaders = 1 },
	{ GOOD("POST", "POST /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    .method = HTTP_POST, .method_name = "POST", .path = "/x",
	    .nheaders = 1 },
	{ GOOD("other method", "PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n"),
	    .method = HTTP_OTHER, .method_name = "PATCH", .path = "/x",
	    .nheaders = 1 },
	{ GOOD("methods are case-sensitive", "get /x HTTP/1.1\r\n"
	    "Host: a\r\n\r\n"), .method = HTTP_OTHER, .method_name = "get",
	    .path = "/x", .nheaders = 1 },
	{ GOOD("value trimmed, tab kept inside", "GET / HTTP/1.1\r\n"
	    "Host: a\r\nX-A: \t one\ttwo \t\r\nX-B:\r\n\r\n"), .path = "/",
	    .nheaders = 3, .hdrs = { "X-A", "one\ttwo", "x-b", "", NULL },
	    .absent = "X" },
	{ GOOD("first of two same fields", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Accept: 1\r\nAccept: 2\r\n\r\n"), .path = "/", .nheaders = 3,
	    .hdrs = { "Accept", "1", NULL } },
	{ GOOD("same Content-Length twice", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
	    .method = HTTP_PUT, .method_name = "PUT", .path = "/x",
	    .clen = 5, .nheaders = 3 },
	{ GOOD("Content-Length 0", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0\r\n\r\n"), .path = "/", .nheaders = 2 },
	{ GOOD("largest Content-Length", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551615\r\n\r\n"),
	    .method = HTTP_PUT, .method_name = "PUT", .path = "/x",
	    .clen = UINT64_MAX, .nheaders = 2 },
	{ GOOD("Connection: close", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: close\r\n\r\n"), .path = "/", .closes = true,
	    .nheaders = 2 },
	{ GOOD("close in a list, any case", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: keep-alive, Close\r\n\r\n"), .path = "/",
	    .closes = true, .nheaders = 2 },
	{ GOOD("HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n"), .path = "/",
	    .http10 = true, .closes = true },
	{ GOOD("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n"), .path = "/", .http10 = true,
	    .nheaders = 1 },
	{ GOOD("Expect: 100-continue", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 1\r\nExpect: 100-Continue\r\n\r\n"),
	    .method = HTTP_PUT, .method_name = "PUT", .path = "/x",
	    .clen = 1, .expect = true, .nheaders = 3 },
	{ GOOD("HTTP/1.0 never waits for 100", "PUT /x HTTP/1.0\r\n"
	    "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n"),
	    .method = HTTP_PUT, .method_name = "PUT", .path = "/x",
	    .http10 = true, .closes = true, .clen = 1, .nheaders = 2 },
	{ GOOD("absolute form: authority for Host", "GET"
	    " http://example.com:8080/api/v1?x=1 HTTP/1.1\r\n"
	    "Host: other\r\n\r\n"), .path = "/api/v1", .query = "x=1",
	    .nheaders = 1, .hdrs = { "Host", "example.com:8080", NULL } },
	{ GOOD("absolute form https, no path", "GET HTTPS://[::1]:1 HTTP/1.1"
	    "\r\nHost: x\r\n\r\n"), .path = "/", .nheaders = 1,
	    .hdrs = { "Host", "[::1]:1", NULL } },
	{ GOOD("absolute form, query only", "GET http://h?q=1 HTTP/1.1\r\n"
	    "Host: h\r\n\r\n"), .path = "/", .query = "q=1", .nheaders = 1 },
	{ GOOD("absolute form adds Host to HTTP/1.0", "GET http://h/x"
	    " HTTP/1.0\r\n\r\n"), .path = "/x", .http10 = true,
	    .closes = true, .nheaders = 1, .hdrs = { "Host", "h", NULL } },
	{ GOOD("absolute form, no slot left for Host", "GET http://h/x"
	    " HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n"), .max_headers = 2,
	    .path = "/x", .http10 = true, .closes = true, .nheaders = 2,
	    .absent = "Host" },
	{ GOOD("HTTP/1.0 needs no Host", "GET / HTTP/1.0\r\nA: 1\r\n\r\n"),
	    .path = "/", .http10 = true, .closes = true, .nheaders = 1,
	    .absent = "Host" },
	{ GOOD("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"), .path = "/",
	    .nheaders = 1, .hdrs = { "Host", "", NULL } },
	{ GOOD("HTTP/2 stream needs no Host", "GET / HTTP/1.1\r\n\r\n"),
	    .h2 = true, .path = "/" },
	{ GOOD("HTTP/2 :authority and host agree", "GET / HTTP/1.1\r\n"
	    "host: a\r\nhost: a\r\n\r\n"), .h2 = true, .path = "/",
	    .nheaders = 2 },

	/* The request line. */
	{ BAD("bare LF after the request line", "GET / HTTP/1.1\n"
	    "Host: a\r\n\r\n", 400, malformed_line) },
	{ BAD("request line only the method", "GET\r\n\r\n", 400,
	    malformed_line) },
	{ BAD("no version", "GET /\r\nHost: a\r\n\r\n", 400,
	    malformed_line) },
	{ BAD("a third space", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400,
	    malformed_line) },
	{ BAD("two spaces in a row", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
	    400, malformed_line) },
	{ BAD("method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    "malformed method") },
	{ BAD("HTTP/2.0 on the request line", "GET / HTTP/2.0\r\n"
	    "Host: a\r\n\r\n", 505, version) },
	{ BAD("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, version) },
	{ BAD("version lower case", "GET / http/1.1\r\nHost: a\r\n\r\n", 400,
	    version) },
	{ BAD("not HTTP at all", "GET / FOO/1.1\r\nHost: a\r\n\r\n", 400,
	    version) },
	{ BAD("tab in the target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n",
	    400, "invalid byte in the request target") },
	{ BAD("DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
	    400, "invalid byte in the request target") },
	{ BAD("8-bit byte in the target", "GET /\xc3\xa9 HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", 400, "invalid byte in the request target") },
	{ BAD("asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    target) },
	{ BAD("ftp URI", "GET ftp://h/x HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    target) },
	{ BAD("URI without authority", "GET http:///x HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", 400, target) },
	{ BAD("URI with userinfo", "GET http://u@h/x HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", 400, target) },
	{ BAD("relative target", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400,
	    target) },
	/* "GET /abcdefghij HTTP/1.1" is 24 bytes. */
	{ GOOD("request line at max_line", "GET /abcdefghij HTTP/1.1\r\n"
	    "Host: a\r\n\r\n"), .max_line = 24, .path = "/abcdefghij",
	    .nheaders = 1 },
	{ BAD("request line one past max_line", "GET /abcdefghijk HTTP/1.1"
	    "\r\nHost: a\r\n\r\n", 414, "request line too long"),
	    .max_line = 24 },

	/* Header fields. */
	{ BAD("bare LF ending a field", "GET / HTTP/1.1\r\nHost: a\n"
	    "X: b\r\n\r\n", 400, malformed_field) },
	{ BAD("bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: b\rc\r\n\r\n", 400, value_byte) },
	{ BAD("folded field (obs-fold)", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: b\r\n c\r\n\r\n", 400, malformed_field) },
	{ BAD("folded line with a colon", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: b\r\n\tc: d\r\n\r\n", 400, "malformed header field name") },
	{ BAD("no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
	    400, malformed_field) },
	{ BAD("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400,
	    malformed_field) },
	{ BAD("space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
	    400, "malformed header field name") },
	{ BAD("name not a token", "GET / HTTP/1.1\r\nHost: a\r\nX(Y): 1\r\n"
	    "\r\n", 400, "malformed header field name") },
	{ BAD("control byte in a value", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: a\x01\r\n\r\n", 400, value_byte) },
	{ BAD("DEL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n"
	    "\r\n", 400, value_byte) },
	{ GOOD("max_headers fields", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB: 2\r\n\r\n"), .max_headers = 3, .path = "/",
	    .nheaders = 3, .hdrs = { "B", "2", NULL } },
	{ BAD("one field past max_headers", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, "too many header fields"),
	    .max_headers = 3 },
	/* Past HEADERS_INLINE (16) the fields move to an array of their own. */
	{ GOOD("17 fields, out of line", "GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"
	    "I: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\nM: 13\r\nN: 14\r\nO: 15\r\n"
	    "P: 16\r\n\r\n"), .max_headers = 17, .path = "/", .nheaders = 17,
	    .hdrs = { "Host", "a", "O", "15", "P", "16", NULL } },
	{ BAD("one past max_headers, out of line", "GET / HTTP/1.1\r\n"
	    "Host: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\n"
	    "G: 7\r\nH: 8\r\nI: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\nM: 13\r\n"
	    "N: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\n\r\n", 431,
	    "too many header fields"), .max_headers = 17 },

	/* Content-Length and Transfer-Encoding. */
	{ BAD("Content-Length not a number", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: x\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length empty", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length:\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length signed", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: +5\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length negative", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: -1\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length trailing junk", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5x\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length as a list", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5, 5\r\n\r\n", 400, bad_clen) },
	{ BAD("Content-Length one past 2^64-1", "PUT /x HTTP/1.1\r\n"
	    "Host: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 400,
	    bad_clen) },
	{ BAD("two different Content-Lengths", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", 400, bad_clen) },
	{ BAD("Transfer-Encoding alone", "PUT /x HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 411, chunked) },
	{ BAD("Transfer-Encoding with Content-Length", "PUT /x HTTP/1.1\r\n"
	    "Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", 400, chunked) },
	{ BAD("Content-Length after Transfer-Encoding", "PUT /x HTTP/1.1\r\n"
	    "Host: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n"
	    "\r\n", 400, chunked) },

	/* Host. */
	{ BAD("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nA: 1\r\n\r\n", 400,
	    needs_host) },
	{ BAD("HTTP/1.1 absolute form without Host", "GET http://h/x"
	    " HTTP/1.1\r\n\r\n", 400, needs_host) },
	{ BAD("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n"
	    "\r\n", 400, "more than one Host header field") },
	{ BAD("two Host fields, HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n"
	    "Host: b\r\n\r\n", 400, "more than one Host header field") },
	{ BAD("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400,
	    "invalid Host header field") },
	{ BAD("Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400,
	    "invalid Host header field") },
	{ BAD("HTTP/2 :authority and host differ", "GET / HTTP/1.1\r\n"
	    "host: a\r\nhost: b\r\n\r\n", 400, ":authority and host differ"),
	    .h2 = true },

	/* Expect. */
	{ BAD("Expect other than 100-continue", "PUT /x HTTP/1.1\r\n"
	    "Host: a\r\nContent-Length: 1\r\nExpect: 200-ok\r\n\r\n", 417,
	    "unsupported Expect") },
};

static void
check(const struct row *t)
{
	struct http_limits	 lim = { .max_line = 8192, .max_head = 65536,
				    .max_headers = 8, .max_body = 1 << 20 };
	struct http_request	 r;
	const char		*why = NULL;
	int			 status;

	if (t->max_line != 0)
		lim.max_line = t->max_line;
	if (t->max_headers != 0)
		lim.max_headers = t->max_headers;
	memset(&r, 0, sizeof r);
	r.stream_id = t->h2 ? 1 : 0;
	r.head = xstrdup(t->head);
	status = http_parse_head(&r, &lim, &why);
	ok(status == t->status, "%s: status %d (want %d)", t->name, status,
	    t->status);
	if (t->status != 0)
		is_str(why, t->why, "%s: reason", t->name);
	else {
		ok(r.method == t->method, "%s: method", t->name);
		is_str(r.method_name, t->method_name ? t->method_name : "GET",
		    "%s: method name", t->name);
		is_str(r.path, t->path, "%s: path", t->name);
		is_str(r.query, t->query, "%s: query", t->name);
		ok(r.minor == !t->http10, "%s: HTTP/1.%d", t->name,
		    !t->http10);
		ok(r.clen == t->clen, "%s: Content-Length", t->name);
		ok(r.keepalive == !t->closes, "%s: keep-alive %d", t->name,
		    !t->closes);
		ok(r.expect_continue == t->expect, "%s: 100-continue %d",
		    t->name, t->expect);
		ok(r.nheaders == t->nheaders, "%s: %zu fields (want %zu)",
		    t->name, r.nheaders, t->nheaders);
		for (size_t i = 0; t->hdrs[i] != NULL; i += 2)
			is_str(http_header(&r, t->hdrs[i]), t->hdrs[i + 1],
			    "%s: %s", t->name, t->hdrs[i]);
		if (t->absent != NULL)
			ok(http_header(&r, t->absent) == NULL,
			    "%s: no %s", t->name, t->absent);
	}
	if (r.headers != r.hdr_inline)
		free(r.headers);
	free(r.head);
}

/* http_head_length: where a head ends in the bytes buffered so far. */
static const struct {
	const char	*name;
	const char	*bytes;
	size_t		 len;		/* 0: strlen(bytes) */
	ssize_t		 want;
} lengths[] = {
	{ "nothing yet", "", 0, 0 },
	{ "a whole head", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 27 },
	{ "a head and more", "GET / HTTP/1.1\r\n\r\nGET", 0, 18 },
	{ "half a head", "GET / HTTP/1.1\r\nHost: a\r\n", 0, 0 },
	{ "a CR still alone at the end", "GET / HTTP/1.1\r", 0, 0 },
	{ "lower-case first byte", "get / HTTP/1.1\r\n\r\n", 0,
	    HTTP_HEAD_GARBAGE },
	{ "TLS record", "\x16\x03\x01\x02", 0, HTTP_HEAD_GARBAGE },
	{ "NUL in a whole head", "GET /\0 HTTP/1.1\r\n\r\n", 19,
	    HTTP_HEAD_GARBAGE },
	{ "control byte in a partial head", "GET /\x01", 0,
	    HTTP_HEAD_GARBAGE },
	{ "DEL in a partial head", "GET /\x7f", 0, HTTP_HEAD_GARBAGE },
	{ "bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", 0,
	    HTTP_HEAD_BARE_LF },
	{ "bare CR", "GET / HTTP/1.1\rHost", 0, HTTP_HEAD_BARE_LF },
	{ "tab in a partial head", "GET /\t", 0, 0 },
};

/* http_preface(): the HTTP/2 client preface as a connection's first
 * bytes, whole, begun, or not it. */
static const struct {
	const char	*name;
	const char	*bytes;
	int		 want;
} prefaces[] = {
	{ "the preface", HTTP_PREFACE, 1 },
	{ "the preface and a SETTINGS frame", HTTP_PREFACE
	    "\x00\x00\x00\x04", 1 },
	{ "its first byte", "P", 0 },
	{ "its HTTP/1.x-like head only", "PRI * HTTP/2.0\r\n\r\n", 0 },
	{ "all but its last byte", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r", 0 },
	{ "another method on P", "PUT /x HTTP/1.1\r\n", -1 },
	{ "an HTTP/1.1 PRI", "PRI * HTTP/1.1\r\n\r\n", -1 },
	{ "its head, then other bytes", "PRI * HTTP/2.0\r\n\r\nXM\r\n\r\n",
	    -1 },
	{ "a GET", "GET / HTTP/1.1\r\n", -1 },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof prefaces / sizeof prefaces[0]; i++) {
		int	got = http_preface((const unsigned char *)
			    prefaces[i].bytes, strlen(prefaces[i].bytes));

		ok(got == prefaces[i].want, "preface: %s: %d (want %d)",
		    prefaces[i].name, got, prefaces[i].want);
	}
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check(&rows[i]);
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
		size_t	n = lengths[i].len ? lengths[i].len :
			    strlen(lengths[i].bytes);
		ssize_t	got = http_head_length(
			    (const unsigned char *)lengths[i].bytes, n);

		ok(got == lengths[i].want, "head length: %s: %zd (want %zd)",
		    lengths[i].name, got, lengths[i].want);
	}
	return done_testing();
}
