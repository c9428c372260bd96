/* Drives the object-store client (server/storage/objstore.h) on an event
 * loop for the integration tests, one operation after another, one JSON
 * line per answer on stdout:
 *
 *   objstore_driver URL ENDPOINT OP [ARG...] [-- OP [ARG...]]...
 *
 *   put KEY BODY [always|create|match ETAG]
 *   get KEY [IF_NONE_MATCH]
 *   del KEY [IF_MATCH]
 *   list PREFIX [AFTER]          one page
 *   listall PREFIX               every page, following the markers
 *   race N KEY BODY ETAG         N writes with If-Match ETAG at once
 *   racecreate N KEY             N create-only writes at once
 *
 * Credentials come from the environment, as for crated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "server/storage/objstore.h"
#include "server/upstream/upstream.h"

static const char *const names[] = {
	[OBJ_OK] = "OK", [OBJ_NOT_MODIFIED] = "NOT_MODIFIED",
	[OBJ_NOT_FOUND] = "NOT_FOUND", [OBJ_CONFLICT] = "CONFLICT",
	[OBJ_DENIED] = "DENIED", [OBJ_UNAVAILABLE] = "UNAVAILABLE",
	[OBJ_ERROR] = "ERROR",
};

struct driver {
	struct event_base	*base;
	struct objstore		*s;
	int			 left;		/* answers awaited */
	json_t			*out;		/* of the operation */
	char			*prefix;	/* listall */
	int			 pages;
};

static json_t *
result(const struct obj_result *r)
{
	json_t	*j = json_pack("{s:s, s:i}", "status", names[r->status],
		    "http", (int)r->http_status);

	if (r->etag != NULL)
		json_object_set_new(j, "etag", json_string(r->etag));
	if (r->body != NULL && r->len > 0)
		json_object_set_new(j, "body", json_stringn(r->body, r->len));
	if (r->error != NULL)
		json_object_set_new(j, "error", json_string(r->error));
	return j;
}

static void
answered(struct driver *d)
{
	if (--d->left == 0)
		event_base_loopexit(d->base, NULL);
}

static void
on_done(const struct obj_result *r, void *arg)
{
	struct driver	*d = arg;

	json_array_append_new(json_object_get(d->out, "results"), result(r));
	answered(d);
}

static void
on_list(const struct obj_result *r, const struct obj_entry *e, size_t n,
    const char *next, void *arg)
{
	struct driver	*d = arg;
	json_t		*keys = json_object_get(d->out, "keys");

	json_object_set_new(d->out, "status", json_string(names[r->status]));
	if (r->error != NULL)
		json_object_set_new(d->out, "error", json_string(r->error));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(keys, json_pack("{s:s, s:s?, s:I}",
		    "key", e[i].key, "etag", e[i].etag, "size",
		    (json_int_t)e[i].size));
	d->pages++;
	json_object_set_new(d->out, "pages", json_integer(d->pages));
	json_object_set_new(d->out, "next", next ? json_string(next) :
	    json_null());
	if (d->prefix != NULL && r->status == OBJ_OK && next != NULL &&
	    d->pages < 1000) {
		objstore_list(d->s, d->prefix, next, on_list, d);
		return;
	}
	answered(d);
}

/* Starts operation argv[0] (its arguments up to "--"); false on a bad
 * one. */
static bool
start(struct driver *d, int argc, char **argv)
{
	const char	*op = argv[0];
	struct obj_put	 p;
	int		 n = 1;

	memset(&p, 0, sizeof p);
	d->out = json_pack("{s:s, s:[]}", "op", op, "results");
	if (strcmp(op, "put") == 0 && argc >= 3) {
		p.key = argv[1];
		p.body = argv[2];
		p.len = strlen(argv[2]);
		p.content_type = "text/plain";
		if (argc >= 4 && strcmp(argv[3], "create") == 0)
			p.cond = OBJ_PUT_CREATE;
		else if (argc >= 5 && strcmp(argv[3], "match") == 0) {
			p.cond = OBJ_PUT_IF_MATCH;
			p.etag = argv[4];
		}
		objstore_put(d->s, &p, on_done, d);
	} else if (strcmp(op, "get") == 0 && argc >= 2)
		objstore_get(d->s, argv[1], argc >= 3 ? argv[2] : NULL, 1 << 20,
		    on_done, d);
	else if (strcmp(op, "del") == 0 && argc >= 2)
		objstore_delete(d->s, argv[1], argc >= 3 ? argv[2] : NULL,
		    on_done, d);
	else if ((strcmp(op, "list") == 0 || strcmp(op, "listall") == 0) &&
	    argc >= 2) {
		json_object_set_new(d->out, "keys", json_array());
		d->pages = 0;
		d->prefix = strcmp(op, "listall") == 0 ? argv[1] : NULL;
		objstore_list(d->s, argv[1], argc >= 3 ? argv[2] : NULL,
		    on_list, d);
	} else if ((strcmp(op, "race") == 0 && argc >= 5) ||
	    (strcmp(op, "racecreate") == 0 && argc >= 3)) {
		static char	bodies[64][32];

		if ((n = atoi(argv[1])) < 1 || n > 64)
			return false;
		p.key = argv[2];
		p.cond = op[4] == 'c' ? OBJ_PUT_CREATE : OBJ_PUT_IF_MATCH;
		p.etag = op[4] == 'c' ? NULL : argv[4];
		for (int i = 0; i < n; i++) {
			/* Each writer's own body, kept until it is sent. */
			snprintf(bodies[i], sizeof bodies[i], "writer %d\n", i);
			p.body = bodies[i];
			p.len = strlen(bodies[i]);
			objstore_put(d->s, &p, on_done, d);
		}
	} else
		return false;
	d->left = n;
	return true;
}

int
main(int argc, char **argv)
{
	struct driver		 d;
	struct upstream_client	*uc;
	char			*cause = NULL;
	int			 i = 3, j;

	if (argc < 4) {
		fprintf(stderr, "usage: objstore_driver URL ENDPOINT OP...\n");
		return 2;
	}
	memset(&d, 0, sizeof d);
	d.base = event_base_new();
	uc = upstream_client_create(d.base);
	if (objstore_open_url(argv[1], argv[2][0] ? argv[2] : NULL, NULL,
	    NULL, uc, &d.s, &cause) != 0) {
		json_t	*e = json_pack("{s:s}", "open", cause);

		json_dumpf(e, stdout, JSON_COMPACT);
		printf("\n");
		json_decref(e);
		free(cause);
		return 1;
	}
	while (i < argc) {
		for (j = i; j < argc && strcmp(argv[j], "--") != 0; j++)
			;
		if (!start(&d, j - i, argv + i)) {
			fprintf(stderr, "objstore_driver: bad operation %s\n",
			    argv[i]);
			return 2;
		}
		event_base_dispatch(d.base);
		json_dumpf(d.out, stdout, JSON_COMPACT);
		printf("\n");
		fflush(stdout);
		json_decref(d.out);
		i = j + 1;
	}
	objstore_close(d.s);
	upstream_client_destroy(uc);
	event_base_free(d.base);
	return 0;
}
