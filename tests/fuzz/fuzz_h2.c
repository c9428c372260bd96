/* libFuzzer: HTTP/2 frames into a connection of the HTTP layer (h2.c on
 * nghttp2), with a handler and a head hook that answer at once, later, or
 * after the connection is gone, and a small body budget, so that streams
 * reset, refused, answered on their head, cut by their connection's end or
 * by a GOAWAY are all reached. The leak checker sees every request not
 * freed. Input: byte 0 picks the behaviour, byte 1 where the frames are
 * cut in two (held requests are answered in between); the rest follows
 * the client preface. With bit 3 of byte 0 the preface goes through the
 * HTTP/1.1 reader as a cleartext client with prior knowledge sends it,
 * in two parts cut at byte 1 % 25; bit 4 turns http2 off (the GOAWAY of
 * HTTP_1_1_REQUIRED), bit 5 flips a byte of it (a head that starts as the
 * preface and is not: 400 or 505). */
#define BODY_BUDGET_MIN	((uint64_t)8192)
#include "server/http/http.c"
#include "server/http/http_request.c"	/* with the BODY_BUDGET_MIN above */

#include <sys/socket.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define HELD_MAX	256

static struct http_request	*held[HELD_MAX];
static size_t			 nheld;
static unsigned			 mode;

static void
answer(struct http_request *r)
{
	size_t		 len;
	const void	*body = http_body(r, &len);

	if (mode & 4) {
		http_stream_start(r, 200, "application/octet-stream", NULL,
		    len + 2);
		http_stream_write(r, body, len);
		http_stream_write(r, "ok", 2);
		http_stream_end(r);
	} else
		http_reply(r, 200, "text/plain", NULL, body, len);
}

static void
handler(struct http_request *r, void *arg)
{
	if ((mode & 3) == 0 || nheld == HELD_MAX)
		answer(r);
	else
		held[nheld++] = r;
}

/* Refuses paths with "deny" in them, as authorization refuses. */
static bool
head_hook(struct http_request *r, void *arg)
{
	if (strstr(http_path(r), "deny") == NULL)
		return true;
	http_reply_error_hdrs(r, 401, "WWW-Authenticate: Cargo\r\n", "no");
	return false;
}

static void
answer_held(size_t keep)
{
	while (nheld > keep)
		answer(held[--nheld]);
}

static void
feed(struct conn *c, const uint8_t *data, size_t len)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	evbuffer_unfreeze(in, 0);
	evbuffer_add(in, data, len);
	evbuffer_freeze(in, 0);
	if (c->state == CONN_H2)
		h2_read(c);
	else if (c->state == CONN_HEAD)	/* mode & 8: never a request */
		read_cb(c->bev, c);
}

/* mode & 8: the preface as the connection's first bytes, split (and with
 * mode & 32 one byte wrong, which can only make a head that is refused:
 * its target stays "*" or its version is not 1.x). */
static void
prior_knowledge_preface(struct conn *c, const char *preface, size_t split,
    bool flip)
{
	char	p[HTTP_PREFACE_LEN];

	memcpy(p, preface, sizeof p);
	if (flip)
		p[split % sizeof p] ^= 0x21;
	feed(c, (const uint8_t *)p, split);
	feed(c, (const uint8_t *)p + split, sizeof p - split);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct event_base	*base;
	static const char		 preface[] =
					    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct http_limits		 lim = { 8192, 32768, 100, 4096, 60,
					    20, 0, true };
	struct http_server		*srv;
	struct conn			*c;
	int				 fds[2];
	size_t				 cut, split;

	if (len < 2 || len > 1 << 16)
		return 0;
	if (base == NULL) {
		base = event_base_new();
		log_setup(LOG_ERROR, LOG_TEXT);
		log_access_to("off");
	}
	mode = data[0];
	lim.http2 = (mode & 24) != 24;
	split = data[1] % (HTTP_PREFACE_LEN + 1);
	cut = (len - 2) * data[1] / 256;
	data += 2;
	len -= 2;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
		return 0;
	srv = http_server_create(base, &lim, handler, NULL);
	http_server_set_head_hook(srv, head_hook, NULL);
	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->state = CONN_HEAD;
	snprintf(c->peer, sizeof c->peer, "fuzz");
	c->bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	srv->conns = c;
	srv->nconns = 1;
	if (mode & 8)
		prior_knowledge_preface(c, preface, split, (mode & 32) != 0);
	else {
		h2_start(c);
		feed(c, (const uint8_t *)preface, sizeof preface - 1);
	}
	feed(c, data, cut);
	answer_held((mode & 3) == 1 ? 0 : nheld / 2);
	if (c->state == CONN_H2)
		h2_expire(c);
	feed(c, data + cut, len - cut);
	if ((mode & 3) == 1)
		answer_held(0);
	conn_free(c);
	answer_held(0);		/* orphaned requests: their client left */
	http_server_free(srv);
	close(fds[1]);
	/* bufferevent_free leaves finalizers to the loop. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
