/* What `crated check` asks of a store: that it takes our credentials and
 * honours both conditions replicas rely on. One probe object, written
 * create-only twice (the second must be refused), read back, listed,
 * overwritten with a stale If-Match (must be refused), deleted. */
#include "server/storage/objprobe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "common/xmalloc.h"
#include "server/storage/objstore.h"

#define STALE_ETAG	"\"0123456789abcdef0123456789abcdef\""

enum step {
	STEP_CREATE,
	STEP_CREATE_AGAIN,
	STEP_GET,
	STEP_LIST,
	STEP_STALE,
	STEP_DELETE,
	STEP_DONE,
};

struct probe {
	struct objstore		*s;
	char			*key;
	char			*body;
	char			*etag;		/* of the create */
	enum step		 step;
	struct objstore_probe	 out;
	objstore_probe_cb	 done;
	void			*arg;
};

static void	next_step(struct probe *);

/* Ends the probe; false, for the step's judge. */
static bool
finish(struct probe *p, enum objstore_verdict v, char *detail)
{
	p->out.verdict = v;
	free(p->out.detail);
	p->out.detail = detail;
	if (p->out.requests > 0)
		p->out.latency = p->out.seconds / p->out.requests;
	p->done(&p->out, p->arg);
	free(p->out.detail);
	free(p->key);
	free(p->body);
	free(p->etag);
	free(p);
	return false;
}

/* A step's answer that was not what a working store gives. */
static bool
unexpected(struct probe *p, const struct obj_result *r)
{
	enum objstore_verdict	v;

	switch (r->status) {
	case OBJ_DENIED:
		v = STORE_DENIED;
		break;
	case OBJ_UNAVAILABLE:
		v = r->http_status == 0 ? STORE_UNREACHABLE : STORE_FAILING;
		break;
	case OBJ_NOT_FOUND:
		v = STORE_MISSING;
		break;
	default:
		v = STORE_BROKEN;
		break;
	}
	return finish(p, v, xstrdup(r->error != NULL ? r->error :
	    "unexpected answer"));
}

/* Whether the step's answer is a working store's (else the probe is
 * over). */
static bool
judge(struct probe *p, const struct obj_result *r)
{
	switch (p->step) {
	case STEP_CREATE:
		if (r->status != OBJ_OK)
			return unexpected(p, r);
		if (r->etag == NULL)
			return finish(p, STORE_BROKEN, xasprintf("the write of"
			    " %s was answered without an ETag", p->key));
		p->etag = xstrdup(r->etag);
		break;
	case STEP_CREATE_AGAIN:
		if (r->status == OBJ_OK)
			return finish(p, STORE_NO_CONDITIONS, xasprintf("a"
			    " second create-only write (If-None-Match: *) of"
			    " %s was accepted: the store ignores conditional"
			    " writes, so replicas would overwrite each other's"
			    " writes; unusable", p->key));
		if (r->status != OBJ_CONFLICT)
			return unexpected(p, r);
		break;
	case STEP_GET:
		if (r->status != OBJ_OK)
			return unexpected(p, r);
		if (r->len != strlen(p->body) || memcmp(r->body, p->body,
		    r->len) != 0)
			return finish(p, STORE_BROKEN, xasprintf("%s read back"
			    " differs from what was written", p->key));
		break;
	case STEP_STALE:
		if (r->status == OBJ_OK)
			return finish(p, STORE_NO_CONDITIONS, xasprintf("a"
			    " write of %s with a stale If-Match was accepted:"
			    " the store ignores conditional writes, so replicas"
			    " would lose each other's index lines; unusable",
			    p->key));
		if (r->status != OBJ_CONFLICT)
			return unexpected(p, r);
		break;
	case STEP_LIST:
		break;
	case STEP_DELETE:
		if (r->status != OBJ_OK && r->status != OBJ_NOT_FOUND)
			return unexpected(p, r);
		break;
	case STEP_DONE:
		break;
	}
	return true;
}

static void
on_list(const struct obj_result *r, const struct obj_entry *e, size_t n,
    const char *next, void *arg)
{
	struct probe	*p = arg;

	(void)next;
	p->out.requests++;
	p->out.seconds += r->seconds;
	if (r->status != OBJ_OK) {
		unexpected(p, r);
		return;
	}
	if (n != 1 || strcmp(e[0].key, p->key) != 0 || e[0].etag == NULL ||
	    strcmp(e[0].etag, p->etag) != 0 || e[0].size != (long long)
	    strlen(p->body)) {
		finish(p, STORE_BROKEN, xasprintf("a listing of %s does not"
		    " show it as written (%zu entries)", p->key, n));
		return;
	}
	p->step++;
	next_step(p);
}

static void
on_answer(const struct obj_result *r, void *arg)
{
	struct probe	*p = arg;

	p->out.requests++;
	p->out.seconds += r->seconds;
	if (!judge(p, r))
		return;
	p->step++;
	next_step(p);
}

static void
next_step(struct probe *p)
{
	struct obj_put	put;

	memset(&put, 0, sizeof put);
	put.key = p->key;
	put.body = p->body;
	put.len = strlen(p->body);
	put.content_type = "text/plain";
	switch (p->step) {
	case STEP_CREATE:
	case STEP_CREATE_AGAIN:
		put.cond = OBJ_PUT_CREATE;
		objstore_put(p->s, &put, on_answer, p);
		break;
	case STEP_GET:
		objstore_get(p->s, p->key, NULL, 4096, on_answer, p);
		break;
	case STEP_LIST:
		objstore_list(p->s, p->key, NULL, on_list, p);
		break;
	case STEP_STALE:
		put.cond = OBJ_PUT_IF_MATCH;
		put.etag = STALE_ETAG;
		objstore_put(p->s, &put, on_answer, p);
		break;
	case STEP_DELETE:
		objstore_delete(p->s, p->key, NULL, on_answer, p);
		break;
	case STEP_DONE:
		finish(p, STORE_OK, xstrdup("credentials accepted;"
		    " create-only and If-Match writes honoured"));
		break;
	}
}

void
objstore_probe(struct objstore *s, objstore_probe_cb done, void *arg)
{
	struct probe	*p = xcalloc(1, sizeof *p);
	unsigned char	 rnd[8];
	char		 host[64] = "";

	if (RAND_bytes(rnd, sizeof rnd) != 1)
		xoom("RAND_bytes");
	gethostname(host, sizeof host - 1);
	for (char *c = host; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
			*c = '_';
	p->s = s;
	p->key = xasprintf("crated-probe/%s-%ld-%02x%02x%02x%02x%02x%02x%02x"
	    "%02x", host, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3],
	    rnd[4], rnd[5], rnd[6], rnd[7]);
	p->body = xasprintf("crated check %lld\n", (long long)time(NULL));
	p->done = done;
	p->arg = arg;
	next_step(p);
}

const char *
objstore_verdict_name(enum objstore_verdict v)
{
	static const char *const	names[] = {
		[STORE_OK] = "ok", [STORE_DENIED] = "denied",
		[STORE_UNREACHABLE] = "unreachable",
		[STORE_FAILING] = "failing", [STORE_MISSING] = "missing",
		[STORE_NO_CONDITIONS] = "unusable",
		[STORE_BROKEN] = "broken",
	};

	return names[v];
}
