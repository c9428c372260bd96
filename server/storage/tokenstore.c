#include "server/storage/tokenstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "common/xmalloc.h"
#include "server/storage/objstore.h"
#include "server/storage/tokensync.h"
#include "server/upstream/upstream.h"

#define TOKENS_MAX	(4u << 20)
#define TRIES		8
/* cache/tokens.c's format with no token. */
#define EMPTY_LIST	"{\"tokens\": []}"

/* A store of the command's own, on a loop of its own. */
struct conn {
	struct event_base	*base;
	struct upstream_client	*uc;
	struct objstore		*os;
};

/* One answer, copied out of the callback. */
struct answer {
	struct event_base	*base;
	enum obj_status		 status;
	char			*body, *etag, *error;
	size_t			 len;
	bool			 done;
};

static void
answer_free(struct answer *a)
{
	free(a->body);
	free(a->etag);
	free(a->error);
	memset(a, 0, sizeof *a);
}

static void
answered(const struct obj_result *res, void *arg)
{
	struct answer	*a = arg;

	a->status = res->status;
	if (res->body != NULL) {
		a->body = xmalloc(res->len + 1);
		memcpy(a->body, res->body, res->len);
		a->body[res->len] = '\0';
		a->len = res->len;
	}
	a->etag = res->etag != NULL ? xstrdup(res->etag) : NULL;
	a->error = xstrdup(res->error != NULL ? res->error :
	    "the store refused the request");
	a->done = true;
	event_base_loopbreak(a->base);
}

/* Runs the loop until a is answered. */
static void
wait_for(struct conn *c, struct answer *a)
{
	while (!a->done)
		if (event_base_loop(c->base, EVLOOP_ONCE) == -1)
			break;
}

static int
conn_open(struct conn *c, const struct objstore_config *cfg, char **cause)
{
	memset(c, 0, sizeof *c);
	if ((c->base = event_base_new()) == NULL) {
		*cause = xstrdup("cannot create an event loop");
		return -1;
	}
	c->uc = upstream_client_create(c->base);
	if (objstore_open(cfg, c->uc, &c->os, cause) != 0) {
		upstream_client_destroy(c->uc);
		event_base_free(c->base);
		return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	objstore_close(c->os);
	upstream_client_destroy(c->uc);
	event_base_free(c->base);
}

/* GETs tokens.json into a; 0 (OBJ_OK or OBJ_NOT_FOUND), or -1. */
static int
get_tokens(struct conn *c, struct answer *a, char **cause)
{
	memset(a, 0, sizeof *a);
	a->base = c->base;
	objstore_get(c->os, TOKENSYNC_KEY, NULL, TOKENS_MAX, answered, a);
	wait_for(c, a);
	if (a->status == OBJ_OK || a->status == OBJ_NOT_FOUND)
		return 0;
	*cause = xasprintf("reading %s from %s: %s", TOKENSYNC_KEY,
	    objstore_name(c->os), a->error != NULL ? a->error : "no answer");
	answer_free(a);
	return -1;
}

static char *
path_in(const char *dir)
{
	return xasprintf("%s/tokens.json", dir);
}

static int
write_copy(const char *dir, const struct answer *a, char **cause)
{
	char	*path = path_in(dir);
	FILE	*f;
	int	 r = 0;

	if (a->status != OBJ_OK) {
		free(path);
		return 0;
	}
	if ((f = fopen(path, "w")) == NULL || fwrite(a->body, 1, a->len, f) !=
	    a->len || fclose(f) != 0) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		r = -1;
	}
	free(path);
	return r;
}

/* A private directory for the copy (0700: token hashes). */
static char *
make_dir(char **cause)
{
	const char	*tmp = getenv("TMPDIR");
	char		*dir = xasprintf("%s/crated-tokens.XXXXXX",
			    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");

	if (mkdtemp(dir) == NULL) {
		*cause = xasprintf("%s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

void
tokenstore_done(char *dir)
{
	char	*path;

	if (dir == NULL)
		return;
	path = path_in(dir);
	unlink(path);
	free(path);
	rmdir(dir);
	free(dir);
}

int
tokenstore_fetch(const struct objstore_config *cfg, char **dir,
    char **cause)
{
	struct conn	c;
	struct answer	a;
	int		r = -1;

	*dir = NULL;
	if (conn_open(&c, cfg, cause) != 0)
		return -1;
	if (get_tokens(&c, &a, cause) == 0) {
		if ((*dir = make_dir(cause)) != NULL &&
		    (r = write_copy(*dir, &a, cause)) != 0) {
			tokenstore_done(*dir);
			*dir = NULL;
		}
		answer_free(&a);
	}
	conn_close(&c);
	return r;
}

/* Writes the edited copy back over the version read (a), or creates it
 * when there was none: the store's status. */
static enum obj_status
put_back(struct conn *c, const char *dir, const struct answer *a,
    char **why)
{
	struct answer	 w = { .base = c->base };
	struct obj_put	 put = { .key = TOKENSYNC_KEY,
			    .content_type = "application/json" };
	char		*path = path_in(dir), *body = NULL;
	size_t		 len = 0;
	FILE		*f;
	enum obj_status	 st;

	if ((f = fopen(path, "r")) != NULL) {
		body = xmalloc(TOKENS_MAX + 1);
		len = fread(body, 1, TOKENS_MAX, f);
		fclose(f);
	}
	free(path);
	put.body = body != NULL ? body : EMPTY_LIST;
	put.len = body != NULL ? len : strlen(EMPTY_LIST);
	put.cond = a->status == OBJ_OK ? OBJ_PUT_IF_MATCH : OBJ_PUT_CREATE;
	put.etag = a->etag;
	objstore_put(c->os, &put, answered, &w);
	wait_for(c, &w);
	st = w.status;
	/* Removed since it was read (S3's answer to If-Match over nothing):
	 * a lost race too. */
	if (st == OBJ_NOT_FOUND && put.cond == OBJ_PUT_IF_MATCH)
		st = OBJ_CONFLICT;
	if (st != OBJ_OK)
		*why = xstrdup(w.error != NULL ? w.error : "no answer");
	answer_free(&w);
	free(body);
	return st;
}

/* 10 to 200 ms, at random: two writers that lost to each other do not
 * meet again. */
static void
backoff(void)
{
	unsigned int	r = 0;

	RAND_bytes((unsigned char *)&r, sizeof r);
	usleep((useconds_t)(10000 + r % 190000));
}

int
tokenstore_update(const struct objstore_config *cfg,
    tokenstore_edit_fn edit, void *arg, char **cause)
{
	struct conn	 c;
	struct answer	 a;
	char		*dir = NULL, *why = NULL;
	enum obj_status	 st = OBJ_ERROR;
	int		 r = -1, e;

	if (conn_open(&c, cfg, cause) != 0)
		return -1;
	for (int i = 0; i < TRIES; i++) {
		if (i > 0)
			backoff();
		if (get_tokens(&c, &a, cause) != 0) {
			st = OBJ_ERROR;
			break;
		}
		st = OBJ_ERROR;
		if ((dir = make_dir(cause)) == NULL ||
		    write_copy(dir, &a, cause) != 0 ||
		    (e = edit(dir, arg, cause)) < 0) {
			answer_free(&a);
			break;
		}
		if (e > 0) {		/* nothing to change */
			answer_free(&a);
			r = 0;
			break;
		}
		free(why);
		why = NULL;
		st = put_back(&c, dir, &a, &why);
		answer_free(&a);
		tokenstore_done(dir);
		dir = NULL;
		if (st == OBJ_OK) {
			r = 0;
			break;
		}
		if (st != OBJ_CONFLICT) {
			*cause = xasprintf("writing %s to %s: %s",
			    TOKENSYNC_KEY, objstore_name(c.os), why);
			break;
		}
	}
	if (r != 0 && st == OBJ_CONFLICT)
		*cause = xasprintf("writing %s to %s: lost %d races to other"
		    " writers; try again", TOKENSYNC_KEY, objstore_name(c.os),
		    TRIES);
	free(why);
	tokenstore_done(dir);
	conn_close(&c);
	return r;
}
