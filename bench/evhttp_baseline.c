/* The reference point behind crated's choice of HTTP layer: a bare
 * libevent evhttp server answering every request with the bytes of one
 * file, from memory, with TCP_NODELAY. bench/http-layer.sh runs it beside
 * crated and nginx. Not part of crated. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static char	*body;
static size_t	 len;

static void
handler(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain");
	evbuffer_add_reference(out, body, len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", NULL);
}

int
main(int argc, char **argv)
{
	struct event_base	*base;
	struct evhttp		*http;
	struct evhttp_bound_socket *bs;
	FILE			*f;
	int			 one = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: evhttp_baseline PORT FILE\n");
		return 2;
	}
	if ((f = fopen(argv[2], "rb")) == NULL)
		return 1;
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	rewind(f);
	body = malloc(len);
	if (fread(body, 1, len, f) != len)
		return 1;
	fclose(f);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, handler, NULL);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1",
	    (unsigned short)atoi(argv[1]));
	if (bs == NULL)
		return 1;
	/* evhttp has no TCP_NODELAY switch; Linux passes it from the
	 * listening socket to the accepted ones. */
	setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof one);
	event_base_dispatch(base);
	return 0;
}
