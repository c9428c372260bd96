/* A store's health as `crated check` judges it: the credentials, and the
 * two conditional writes replicas rely on (create-only, If-Match). */
#ifndef SERVER_STORAGE_OBJPROBE_H
#define SERVER_STORAGE_OBJPROBE_H

#include <stddef.h>

struct objstore;

enum objstore_verdict {
	STORE_OK,
	STORE_DENIED,		/* 401/403: the credentials */
	STORE_UNREACHABLE,	/* no answer */
	STORE_FAILING,		/* 5xx, 429 */
	STORE_MISSING,		/* 404: no such bucket or container */
	STORE_NO_CONDITIONS,	/* a failed condition was not refused */
	STORE_BROKEN,		/* any other answer */
};

struct objstore_probe {
	enum objstore_verdict	 verdict;
	char			*detail;	/* borrowed: valid in the
						   callback */
	int			 requests;
	double			 seconds;	/* all requests */
	double			 latency;	/* per request */
};

typedef void	(*objstore_probe_cb)(const struct objstore_probe *, void *);

/* Writes, reads and deletes one probe object (crated-probe/HOST-PID-RND);
 * done runs once on the loop. */
void	objstore_probe(struct objstore *, objstore_probe_cb done, void *arg);
const char *objstore_verdict_name(enum objstore_verdict);

#endif
