/* The HTTP/1.1 head parser and the pure helpers of the HTTP layer
 * (server/http/http_parse.c): no libevent, no logging; errors come back as
 * values. server/http/http.c reads heads off connections with them, server/http/h2.c
 * parses HTTP/2 streams' heads rebuilt as HTTP/1.1 text. */
#ifndef SERVER_HTTP_HTTP_PARSE_H
#define SERVER_HTTP_HTTP_PARSE_H

#include <stddef.h>
#include <sys/types.h>

struct http_limits;
struct http_request;

/* What http_head_length found when the bytes cannot be a head. */
#define HTTP_HEAD_GARBAGE	-1
#define HTTP_HEAD_BARE_LF	-2

/*
 * The length of the head at p (n bytes buffered), through its CRLF CRLF;
 * 0 when it has not all come yet; HTTP_HEAD_GARBAGE when these bytes
 * cannot be one: a method starts with a letter, and no control byte but
 * CR, LF and HTAB belongs in a head (NUL, TLS records and binary garbage
 * all fail); HTTP_HEAD_BARE_LF at the first LF without its CR, which would
 * otherwise wait for a CRLF CRLF that never comes (RFC 9112 §2.2 lets a
 * server refuse it; accepting it would read lines otherwise than a proxy
 * in front may). Of a whole head only the NULs are looked for here:
 * http_parse_head checks every other byte where it parses it, and works on
 * a C string. Each request comes this way, so the search is memchr's.
 */
ssize_t		 http_head_length(const unsigned char *p, size_t n);

/* The HTTP/2 client connection preface (RFC 9113 §3.4): a client with
 * prior knowledge (h2load and nghttp on http://, nghttpx's backends,
 * gRPC-style proxies) sends it as the first bytes of a cleartext
 * connection. Its first 18 bytes are a whole HTTP/1.x head. */
#define HTTP_PREFACE		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define HTTP_PREFACE_LEN	24

/* What the first n bytes of a connection at p are: 1, the whole preface
 * (more may follow it); 0, a part of it, the rest not come yet; -1, not
 * the preface. */
int		 http_preface(const unsigned char *p, size_t n);

/*
 * Parses the head in r->head (NUL-terminated, ends with CRLF CRLF) in
 * place: r's method, path, query, minor version, header fields (pointing
 * into r->head; an allocated array past HEADERS_INLINE fields, r's to
 * free), Content-Length, keep-alive and Expect. Returns 0, or an HTTP
 * status with *why set to a static message. r->stream_id tells an HTTP/2
 * stream (Host rules differ).
 */
int		 http_parse_head(struct http_request *r,
		     const struct http_limits *lim, const char **why);

const char	*http_status_text(int status);

/* Percent-decodes the value of key in query into out (size bytes), '+'
 * as space. 0, or -1 when absent, malformed or too long. */
int		 http_query_param(const char *query, const char *key,
		     char *out, size_t size);

#endif
