#include "server/storage/tokensync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/workers.h"
#include "server/storage/objstore.h"

/* tokens.json is a list of hashes: a megabyte is thousands of tokens. */
#define TOKENS_MAX	(4u << 20)
#define LOG_EVERY	60

struct tokensync {
	struct tokensync_params	 p;
	char			*data_dir;
	struct event		*timer;
	char			*etag;		/* of the local copy */
	bool			 busy;
	bool			 again;		/* asked for while busy */
	bool			 stopped;
	bool			 settled;	/* the first round is over */
	time_t			 asked;		/* for tokensync_unknown */
	time_t			 logged;
	/* A new copy for the worker. */
	char			*body;
	size_t			 len;
	char			*newetag;
	bool			 remove;
	bool			 absent;	/* the store has none, and
						   neither has the disk */
	int			 res;
};

static void	sync_start(struct tokensync *);
static void	idle(struct tokensync *);

static void
arm(struct tokensync *ts)
{
	double		s = ts->p.max_stale > 0.2 ? ts->p.max_stale : 0.2;
	struct timeval	tv;

	tv.tv_sec = (time_t)s;
	tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
	evtimer_add(ts->timer, &tv);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct tokensync	*ts = arg;

	if (!ts->busy)
		sync_start(ts);
	arm(ts);
}

struct tokensync *
tokensync_start(const struct tokensync_params *p)
{
	struct tokensync	*ts = xcalloc(1, sizeof *ts);

	ts->p = *p;
	ts->data_dir = xstrdup(p->data_dir);
	ts->p.data_dir = ts->data_dir;
	ts->timer = evtimer_new(p->base, tick, ts);
	sync_start(ts);
	arm(ts);
	return ts;
}

void
tokensync_set_max_stale(struct tokensync *ts, double max_stale)
{
	if (ts != NULL)
		ts->p.max_stale = max_stale;
}

bool
tokensync_settled(const struct tokensync *ts)
{
	return ts->settled;
}

void
tokensync_unknown(struct tokensync *ts)
{
	if (ts == NULL || ts->stopped || time(NULL) == ts->asked)
		return;
	if (ts->busy) {
		ts->again = true;
		return;
	}
	sync_start(ts);
}

void
tokensync_stop(struct tokensync *ts)
{
	if (ts == NULL)
		return;
	ts->stopped = true;
	evtimer_del(ts->timer);
}

void
tokensync_free(struct tokensync *ts)
{
	if (ts == NULL)
		return;
	event_free(ts->timer);
	free(ts->data_dir);
	free(ts->etag);
	free(ts->body);
	free(ts->newetag);
	free(ts);
}

/* On a worker: data_dir/tokens.json becomes the store's bytes (temp
 * file, fsync, rename, the directory fsynced), or goes. */
static void
write_work(void *arg)
{
	struct tokensync	*ts = arg;
	char			*path, *tmp;
	int			 fd, dfd;

	path = xasprintf("%s/tokens.json", ts->data_dir);
	ts->res = 0;
	if (ts->remove) {
		if (unlink(path) == -1 && errno != ENOENT)
			ts->res = -errno;
		free(path);
		return;
	}
	tmp = xasprintf("%s/.tokens.json.XXXXXX", ts->data_dir);
	if ((fd = mkstemp(tmp)) == -1) {
		ts->res = -errno;
		goto out;
	}
	if (write(fd, ts->body, ts->len) != (ssize_t)ts->len ||
	    fsync(fd) == -1 || rename(tmp, path) == -1) {
		ts->res = errno != 0 ? -errno : -EIO;
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if ((dfd = open(ts->data_dir, O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(tmp);
	free(path);
}

static void
write_done(void *arg)
{
	struct tokensync	*ts = arg;

	free(ts->body);
	ts->body = NULL;
	if (ts->res != 0) {
		log_error("tokens from %s: writing %s/tokens.json: %s",
		    objstore_name(ts->p.objstore), ts->data_dir,
		    strerror(-ts->res));
		free(ts->newetag);
		ts->newetag = NULL;
	} else {
		free(ts->etag);
		ts->etag = ts->newetag;
		ts->newetag = NULL;
		ts->absent = ts->remove;
		log_info("tokens: %s from %s", ts->remove ? "none (no"
		    " tokens.json)" : "new list", objstore_name(
		    ts->p.objstore));
		ts->p.changed(ts->p.arg);
	}
	idle(ts);
}

/* A round is over: the next one, if an unknown token asked for it. */
static void
idle(struct tokensync *ts)
{
	ts->busy = false;
	ts->settled = true;
	if (ts->again) {
		ts->again = false;
		sync_start(ts);
	}
}

static void
got(const struct obj_result *res, void *arg)
{
	struct tokensync	*ts = arg;
	time_t			 now = time(NULL);

	if (res->status == OBJ_OK || res->status == OBJ_NOT_FOUND) {
		ts->remove = res->status == OBJ_NOT_FOUND;
		if (ts->remove && ts->absent) {
			idle(ts);	/* still none */
			return;
		}
		ts->body = xmalloc(res->len + 1);
		memcpy(ts->body, res->body != NULL ? res->body : "", res->len);
		ts->len = res->len;
		ts->newetag = !ts->remove && res->etag != NULL ?
		    xstrdup(res->etag) : NULL;
		ts->logged = 0;
		workers_submit(ts->p.disk, write_work, write_done, ts);
		return;
	}
	if (res->status != OBJ_NOT_MODIFIED && now - ts->logged >= LOG_EVERY) {
		ts->logged = now;
		log_warn("tokens: %s: %s; keeping the local list",
		    objstore_name(ts->p.objstore), res->error != NULL ?
		    res->error : "the store failed");
	}
	idle(ts);
}

static void
sync_start(struct tokensync *ts)
{
	if (ts->stopped)
		return;
	ts->busy = true;
	ts->asked = time(NULL);
	objstore_get(ts->p.objstore, TOKENSYNC_KEY, ts->etag, TOKENS_MAX, got,
	    ts);
}
