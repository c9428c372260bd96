/* libFuzzer: the HTTP request-head parser and the router. The input is a
 * request head; a CRLF CRLF is appended when missing, as read_head() only
 * parses complete heads. Links server/http/http_parse.c and server/http/route.c
 * alone: no libevent, no connection code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/http/http_conn.h"
#include "server/http/http_parse.h"
#include "server/http/route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct http_limits	 lim = { 8192, 32768, 100, 1 << 20, 60, 20,
				    0 };
	struct http_request	 r;
	const char		*why = NULL;
	struct route		 rt;
	ssize_t			 hlen;

	if (len > 65536)
		return 0;
	/* A head found is the bytes through the first CRLF CRLF, NUL-free. */
	hlen = http_head_length(data, len);
	if (hlen > 0 && (hlen < 4 || (size_t)hlen > len ||
	    memchr(data, 0, (size_t)hlen) != NULL ||
	    memmem(data, (size_t)hlen, "\r\n\r\n", 4) !=
	    data + hlen - 4))
		abort();
	if (memchr(data, 0, len) != NULL)
		return 0;
	memset(&r, 0, sizeof r);
	r.head = xmalloc(len + 5);
	memcpy(r.head, data, len);
	memcpy(r.head + len, "\r\n\r\n", 5);
	if (http_parse_head(&r, &lim, &why) == 0) {
		route_parse(r.path, &rt);
		if (r.query != NULL) {
			char	q[256];

			http_query_param(r.query, "q", q, sizeof q);
		}
	}
	free(r.head);
	if (r.headers != r.hdr_inline)
		free(r.headers);
	return 0;
}
