/* The pure part of the HTTP layer: the HTTP/1.1 head parser and the
 * helpers around it (status texts, header lookup, query parameters,
 * listen addresses). No libevent and no logging here: errors come back as
 * values, so the parser can be tested on a table of heads
 * (tests/unit/test_http_parse.c) and fuzzed alone (tests/fuzz/fuzz_http.c).
 * The connection code (server/http/http.c for HTTP/1.1, server/http/h2.c for HTTP/2
 * streams, whose heads are rebuilt as HTTP/1.1 text) calls it. */
#include "server/http/http_parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "common/xmalloc.h"
#include "index/hex.h"
#include "server/http/http_conn.h"

const char *
http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	}
	return "Unknown";
}

/* RFC 9110's tchar: letters, digits and "!#$%&'*+-.^_`|~". */
static const bool tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static bool
token_char(unsigned char ch)
{
	return tchar[ch];
}

/* True when the n bytes at name are the header name want (any case). */
static bool
name_is(const char *name, size_t n, const char *want, size_t wlen)
{
	return n == wlen && strncasecmp(name, want, n) == 0;
}

#define NAME_IS(name, n, want)	name_is(name, n, want, sizeof want - 1)

static enum http_method
method_of(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return HTTP_GET;
	if (strcmp(m, "HEAD") == 0)
		return HTTP_HEAD;
	if (strcmp(m, "PUT") == 0)
		return HTTP_PUT;
	if (strcmp(m, "DELETE") == 0)
		return HTTP_DELETE;
	if (strcmp(m, "POST") == 0)
		return HTTP_POST;
	return HTTP_OTHER;
}

/* True when the comma-separated list value holds token (any case). */
static bool
list_has(const char *value, const char *token)
{
	size_t	tlen = strlen(token);

	for (const char *p = value; *p != '\0';) {
		size_t	len;

		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == tlen && strncasecmp(p, token, len) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* The CR of the CRLF that ends the line at p; NULL when a bare LF comes
 * first (or none: never, in a head that ends with CRLF CRLF). */
static char *
line_end(char *p)
{
	char	*lf = strchr(p, '\n');

	return lf != NULL && lf > p && lf[-1] == '\r' ? lf - 1 : NULL;
}

/* What an authority (host, port, IP literal) is made of (RFC 3986). */
static const char	authority_chars[] = "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "-._~%!$&'()*+,;=:[]";

/*
 * RFC 9112 §3.2.2: an absolute-form target, "http://host:port/path?q",
 * is served as its path (with the query), and its authority stands for
 * Host. The authority is moved one byte left, over the scheme's last
 * slash, to end with a NUL before the path. Returns what follows the
 * authority ("/path?q", "?q" or ""), or NULL when target is not an http
 * or https URI with a plain authority (no userinfo: RFC 9110 §4.2.4).
 */
static char *
absolute_target(char *target, const char **authority)
{
	char	*a;
	size_t	 n;

	if (strncasecmp(target, "http://", 7) == 0)
		a = target + 7;
	else if (strncasecmp(target, "https://", 8) == 0)
		a = target + 8;
	else
		return NULL;
	n = strcspn(a, "/?");
	if (n == 0 || strspn(a, authority_chars) < n)
		return NULL;
	memmove(a - 1, a, n);
	a[n - 1] = '\0';
	*authority = a - 1;
	return a + n;
}

/* True when v can be a Host value: uri-host [ ":" port ], maybe empty. */
static bool
host_ok(const char *v)
{
	return v[strspn(v, authority_chars)] == '\0';
}

/* The next free header slot of r (moved out of hdr_inline when that is
 * full), or NULL when r has lim->max_headers already. */
static struct header *
header_slot(struct http_request *r, const struct http_limits *lim)
{
	if (r->nheaders == lim->max_headers)
		return NULL;
	if (r->nheaders == HEADERS_INLINE) {
		r->headers = xcalloc(lim->max_headers, sizeof *r->headers);
		memcpy(r->headers, r->hdr_inline, sizeof r->hdr_inline);
	}
	return &r->headers[r->nheaders];
}

/*
 * RFC 9112 §3.2: an HTTP/1.1 request needs exactly one Host, and no
 * request may have two (HTTP/2 streams carry :authority instead, which
 * arrives as a host field). An absolute-form target's authority replaces
 * the Host value (or becomes one). host is the index of the Host field,
 * or -1. Returns 0, or 400 with *why set.
 */
/* HTTP/2: whether every host field (:authority among them) says the same. */
static bool
hosts_agree(const struct http_request *r)
{
	const char	*first = NULL;

	for (size_t i = 0; i < r->nheaders; i++) {
		const struct header	*h = &r->headers[i];

		if (h->name_len != 4 || strncasecmp(h->name, "host", 4) != 0)
			continue;
		if (first == NULL)
			first = h->value;
		else if (strcmp(first, h->value) != 0)
			return false;
	}
	return true;
}

static int
check_host(struct http_request *r, const struct http_limits *lim,
    int nhost, ssize_t host, const char *authority, const char **why)
{
	struct header	*h;

	if (r->stream_id == 0 && nhost > 1) {
		*why = "more than one Host header field";
		return 400;
	}
	if (r->stream_id != 0 && nhost > 1 && !hosts_agree(r)) {
		*why = ":authority and host differ";	/* RFC 9113 8.3.1 */
		return 400;
	}
	if (r->stream_id == 0 && nhost == 0 && r->minor == 1) {
		*why = "an HTTP/1.1 request needs a Host header field";
		return 400;
	}
	if (host >= 0 && !host_ok(r->headers[host].value)) {
		*why = "invalid Host header field";
		return 400;
	}
	if (authority == NULL)
		return 0;
	if (host >= 0)
		r->headers[host].value = authority;
	else if ((h = header_slot(r, lim)) != NULL) {
		h->name = "Host";
		h->name_len = 4;
		h->value = authority;
		r->nheaders++;
	}
	return 0;
}

/*
 * The request line at p (NUL-terminated): method, target (origin-form or
 * absolute-form) and version into r; *authority gets an absolute-form
 * target's authority. Returns 0, or an HTTP status with *why set.
 */
static int
parse_request_line(struct http_request *r, char *p, const char **authority,
    const char **why)
{
	char	*sp1, *sp2, *target, *q;

	if ((sp1 = strchr(p, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || strchr(sp2 + 1, ' ')) {
		*why = "malformed request line";
		return 400;
	}
	*sp1 = *sp2 = '\0';
	for (char *m = p; *m != '\0'; m++)
		if (!token_char((unsigned char)*m)) {
			*why = "malformed method";
			return 400;
		}
	r->method_name = p;
	r->method = method_of(p);
	target = sp1 + 1;
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->minor = 1;
	else if (strcmp(sp2 + 1, "HTTP/1.0") == 0)
		r->minor = 0;
	else {
		*why = "only HTTP/1.0 and HTTP/1.1 are spoken here";
		return strncmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	}
	for (unsigned char *t = (unsigned char *)target; *t; t++)
		if (*t <= 0x20 || *t >= 0x7f) {
			*why = "invalid byte in the request target";
			return 400;
		}
	if (target[0] != '/' &&
	    (target = absolute_target(target, authority)) == NULL) {
		*why = "the request target must be a path or an http URI";
		return 400;
	}
	if ((q = strchr(target, '?')) != NULL) {
		*q = '\0';
		r->query = q + 1;
	}
	while (target[0] == '/' && target[1] == '/')
		target++;
	r->path = target[0] == '/' ? target : "/";
	return 0;
}

/* What the header fields said that the head as a whole is judged on. */
struct fields {
	const char	*te, *conn, *expect;
	bool		 have_clen;
	ssize_t		 host;		/* index of the first Host, or -1 */
	int		 nhost;
};

/*
 * One header field line at p (NUL-terminated, its CRLF gone) into r's
 * next slot, noting in f the fields the head is judged on. Returns 0, or
 * an HTTP status with *why set.
 */
static int
parse_field(struct http_request *r, const struct http_limits *lim, char *p,
    char *eol, struct fields *f, const char **why)
{
	struct header	*h;
	char		*colon, *v, *end;
	size_t		 nlen;

	if ((h = header_slot(r, lim)) == NULL) {
		*why = "too many header fields";
		return 431;
	}
	if ((colon = strchr(p, ':')) == NULL || colon == p) {
		*why = "malformed header field";
		return 400;
	}
	for (char *n = p; n < colon; n++)
		if (!token_char((unsigned char)*n)) {
			*why = "malformed header field name";
			return 400;
		}
	*colon = '\0';
	v = colon + 1 + strspn(colon + 1, " \t");
	end = eol;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	for (unsigned char *c = (unsigned char *)v; *c; c++)
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
			*why = "invalid byte in a header value";
			return 400;
		}
	nlen = (size_t)(colon - p);
	h->name = p;
	h->name_len = nlen;
	h->value = v;
	r->nheaders++;
	if (NAME_IS(p, nlen, "Content-Length")) {
		char		*e;
		uint64_t	 n;

		errno = 0;
		n = strtoull(v, &e, 10);
		if (*v < '0' || *v > '9' || *e != '\0' || errno ||
		    (f->have_clen && n != r->clen)) {
			*why = "invalid Content-Length";
			return 400;
		}
		r->clen = n;
		f->have_clen = true;
	} else if (NAME_IS(p, nlen, "Transfer-Encoding"))
		f->te = v;
	else if (NAME_IS(p, nlen, "Connection"))
		f->conn = v;
	else if (NAME_IS(p, nlen, "Expect"))
		f->expect = v;
	else if (NAME_IS(p, nlen, "Host") && f->nhost++ == 0)
		f->host = (ssize_t)(r->nheaders - 1);
	return 0;
}

/* The head as a whole, once its fields are in: no chunked bodies, the
 * Host rules, Expect, and whether the connection stays open. */
static int
check_fields(struct http_request *r, const struct http_limits *lim,
    const struct fields *f, const char *authority, const char **why)
{
	int	status;

	if (f->te != NULL) {
		*why = "chunked request bodies are not supported: send"
		    " Content-Length";
		return f->have_clen ? 400 : 411;
	}
	if ((status = check_host(r, lim, f->nhost, f->host, authority,
	    why)) != 0)
		return status;
	if (f->expect != NULL) {
		if (strcasecmp(f->expect, "100-continue") != 0) {
			*why = "unsupported Expect";
			return 417;
		}
		r->expect_continue = r->minor == 1;
	}
	r->keepalive = r->minor == 1;
	if (f->conn != NULL && list_has(f->conn, "close"))
		r->keepalive = false;
	else if (f->conn != NULL && r->minor == 0 &&
	    list_has(f->conn, "keep-alive"))
		r->keepalive = true;
	return 0;
}

int
http_parse_head(struct http_request *r, const struct http_limits *lim,
    const char **why)
{
	char		*p = r->head, *eol;
	const char	*authority = NULL;
	struct fields	 f = { .host = -1 };
	int		 status;

	if ((eol = line_end(p)) == NULL) {
		*why = "malformed request line";
		return 400;
	}
	if ((size_t)(eol - p) > lim->max_line) {
		*why = "request line too long";
		return 414;
	}
	*eol = '\0';
	if ((status = parse_request_line(r, p, &authority, why)) != 0)
		return status;

	r->headers = r->hdr_inline;
	for (p = eol + 2; p[0] != '\r' || p[1] != '\n'; p = eol + 2) {
		if ((eol = line_end(p)) == NULL) {
			*why = "malformed header field";
			return 400;
		}
		*eol = '\0';
		if ((status = parse_field(r, lim, p, eol, &f, why)) != 0)
			return status;
	}
	return check_fields(r, lim, &f, authority, why);
}

ssize_t
http_head_length(const unsigned char *p, size_t n)
{
	const unsigned char	*lf = p, *end = p + n;

	if (n == 0)
		return 0;
	if (!(p[0] >= 'A' && p[0] <= 'Z'))
		return HTTP_HEAD_GARBAGE;
	while ((lf = memchr(lf, '\n', (size_t)(end - lf))) != NULL) {
		if (lf[-1] != '\r')		/* p[0] is a letter */
			return HTTP_HEAD_BARE_LF;
		if (lf - p >= 3 && lf[-2] == '\n' && lf[-3] == '\r') {
			n = (size_t)(lf + 1 - p);
			return memchr(p, '\0', n) == NULL ? (ssize_t)n :
			    HTTP_HEAD_GARBAGE;
		}
		lf++;
	}
	for (size_t i = 0; i < n; i++) {
		if ((p[i] < 0x20 && p[i] != '\r' && p[i] != '\n' &&
		    p[i] != '\t') || p[i] == 0x7f)
			return HTTP_HEAD_GARBAGE;
		/* A CR that no LF follows ends no line either. */
		if (p[i] == '\r' && i + 1 < n && p[i + 1] != '\n')
			return HTTP_HEAD_BARE_LF;
	}
	return 0;
}

int
http_preface(const unsigned char *p, size_t n)
{
	if (memcmp(p, HTTP_PREFACE, n < HTTP_PREFACE_LEN ? n :
	    HTTP_PREFACE_LEN) != 0)
		return -1;
	return n >= HTTP_PREFACE_LEN ? 1 : 0;
}

const char *
http_header(const struct http_request *r, const char *name)
{
	size_t	n = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++)
		if (name_is(r->headers[i].name, r->headers[i].name_len, name, n))
			return r->headers[i].value;
	return NULL;
}

int
http_query_param(const char *query, const char *key, char *out, size_t size)
{
	size_t	klen = strlen(key);

	for (const char *p = query; p != NULL && *p != '\0';) {
		const char	*amp = strchr(p, '&');
		const char	*end = amp ? amp : p + strlen(p);

		if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 &&
		    p[klen] == '=') {
			size_t	n = 0;

			for (p += klen + 1; p < end; p++) {
				int	ch = (unsigned char)*p;

				if (ch == '%') {
					int	h, l;

					if (end - p < 3 || (h = hexval(p[1])) <
					    0 || (l = hexval(p[2])) < 0)
						return -1;
					ch = h << 4 | l;
					p += 2;
				} else if (ch == '+')
					ch = ' ';
				if (ch == 0 || n + 1 >= size)
					return -1;
				out[n++] = (char)ch;
			}
			out[n] = '\0';
			return 0;
		}
		p = amp ? amp + 1 : NULL;
	}
	return -1;
}
