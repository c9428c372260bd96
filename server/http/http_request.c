/* Request objects of the HTTP layer and the budget their bodies share:
 * below both server/http/http.c (HTTP/1.1) and server/http/h2.c (HTTP/2), which
 * make, fill and free them. */
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "server/http/http_conn.h"

void
http_request_free(struct http_request *r)
{
	if (r == NULL)
		return;
	http_request_free_body(r);
	free(r->head);
	if (r->headers != r->hdr_inline)
		free(r->headers);
	free(r->user);
	free(r->user_crates);
	free(r->h2_method);
	free(r->h2_path);
	free(r->h2_text);
	if (r->out != NULL)
		evbuffer_free(r->out);
	free(r);
}

void
http_request_orphan(struct http_request *r)
{
	void	(*cb)(void *) = r->drain_cb;

	r->conn = NULL;
	if (cb != NULL) {
		r->drain_cb = NULL;
		cb(r->drain_arg);
	}
}

uint64_t
http_request_budget(const struct http_server *srv)
{
	return srv->lim.max_body > BODY_BUDGET_MIN ? srv->lim.max_body :
	    BODY_BUDGET_MIN;
}

bool
http_request_reserve(struct http_request *r, uint64_t n)
{
	struct http_server	*srv = r->srv;
	uint64_t		 budget = http_request_budget(srv);

	/* The budget shrinks when SIGHUP lowers max_body_bytes. */
	if (srv->body_bytes > budget || n > budget - srv->body_bytes)
		return false;
	srv->body_bytes += n;
	r->reserved += n;
	return true;
}

void
http_request_free_body(struct http_request *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	if (r->h2_body != NULL)
		evbuffer_free(r->h2_body);
	r->h2_body = NULL;
	r->srv->body_bytes -= r->reserved;
	r->reserved = 0;
}
