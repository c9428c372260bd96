#include "server/policy/polserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "cache/lru.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/http/http.h"
#include "server/policy/blocks.h"
#include "server/policy/regpolicy.h"

#define WANT_BLOCKS	1u
#define WANT_DBS	2u
#define POLL_SECONDS	2
#define LOG_WINDOW	60		/* seconds: one line per crate and kind */
#define LOGS_MAX	4096		/* crates remembered for that */

/* A crate's log lines held back in the current minute. */
struct quiet {
	struct lru_node	 node;
	char		*key;		/* "REGISTRY\tNAME\tKIND" */
	time_t		 since;		/* its last line */
	size_t		 held;		/* left out since */
	char		*what;		/* the last one left out */
};

struct polserve {
	struct server		 *srv;
	uint64_t		  epoch;
	struct blocks		  blocks;
	struct regpolicy_db	**regdb;	/* per registry: what it reads */
	char			**regerr;	/* per registry: the last
						   snapshot that failed */
	char			 *dir;		/* DATA_DIR/policy */
	int			  ifd;		/* inotify, or -1 */
	struct event		 *watch, *poll, *soon, *flush;
	struct stat		  st_blocks, st_inst;
	uint64_t		  audited;	/* the last change logged */
	bool			  busy;
	unsigned		  want;		/* WANT_*, for the next job */
	struct lru		  logs;
};

/* A reload on the workers. */
struct job {
	struct polserve		 *ps;
	unsigned		  what;
	const struct config	 *cfg;		/* kept until exit */
	/* results */
	int			  blocks_res;
	struct blocks		  blocks;
	char			 *blocks_err;
	struct regpolicy_db	**dbs;		/* per registry */
	char			**paths;
	char			**errs;
};

static void	start_job(struct polserve *);

/* ---- views ---- */

static bool
any_policy(const struct server *srv)
{
	for (size_t i = 0; i < srv->nregs; i++)
		if (srv->regs[i].policy != NULL)
			return true;
	return false;
}

/* Remakes every registry's view with a new epoch: what was filtered
 * under the old one is made again at its next request. */
static void
remake(struct polserve *ps)
{
	struct server	*srv = ps->srv;

	ps->epoch++;
	for (size_t i = 0; i < srv->nregs; i++) {
		struct registry		*reg = &srv->regs[i];
		struct regpolicy_view	*v = NULL;
		char			*cause = NULL;

		if (regpolicy_make(reg->cfg, &ps->blocks, ps->regdb[i],
		    ps->epoch, &v, &cause) != 0) {
			log_error("registry %s: policy: %s; keeping the one"
			    " in force", reg->name, cause);
			free(cause);
			continue;
		}
		regpolicy_unref(reg->policy);
		reg->policy = v;
	}
	if (any_policy(srv))
		metrics_show(METRICS_POLICY);
}

static void
log_views(const struct server *srv)
{
	for (size_t i = 0; i < srv->nregs; i++)
		if (srv->regs[i].policy != NULL)
			log_info("registry %s: policy: %s", srv->regs[i].name,
			    regpolicy_describe(srv->regs[i].policy));
}

/* ---- loading ---- */

/* Loads every registry's snapshot, each path once. */
static void
load_dbs(const struct config *cfg, struct regpolicy_db **dbs, char **paths,
    char **errs)
{
	for (size_t i = 0; i < cfg->nregs; i++) {
		char	*cause = NULL;

		if ((paths[i] = regpolicy_db_path(cfg, &cfg->regs[i])) == NULL)
			continue;
		for (size_t j = 0; j < i && dbs[i] == NULL; j++)
			if (paths[j] != NULL && strcmp(paths[j], paths[i]) ==
			    0 && dbs[j] != NULL)
				dbs[i] = regpolicy_db_ref(dbs[j]);
		if (dbs[i] != NULL)
			continue;
		if (regpolicy_db_load(paths[i], &dbs[i], &cause) != 0)
			errs[i] = cause;
	}
}

static void
job_work(void *arg)
{
	struct job	*j = arg;
	size_t		 n = j->cfg->nregs;

	if (j->what & WANT_BLOCKS)
		j->blocks_res = blocks_read(j->cfg->data_dir, &j->blocks,
		    &j->blocks_err);
	if (j->what & WANT_DBS) {
		j->dbs = xcalloc(n + 1, sizeof *j->dbs);
		j->paths = xcalloc(n + 1, sizeof *j->paths);
		j->errs = xcalloc(n + 1, sizeof *j->errs);
		load_dbs(j->cfg, j->dbs, j->paths, j->errs);
	}
}

/* DATA_DIR/policy/audited: the number of the last change of the blocks
 * file logged as an audit line, so that a change made while no server
 * ran is logged at the next start, and none twice. */
static char *
audited_path(const char *dir)
{
	return xasprintf("%s/audited", dir);
}

static uint64_t
audited_read(const char *dir)
{
	char			*p = audited_path(dir);
	FILE			*f = fopen(p, "r");
	unsigned long long	 n = 0;

	free(p);
	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

struct mark {
	char		*dir;
	uint64_t	 seq;
};

static void
mark_work(void *arg)
{
	struct mark	*m = arg;
	char		*p = audited_path(m->dir), *tmp, num[32];
	int		 fd, n;

	tmp = xasprintf("%s.tmp", p);
	n = snprintf(num, sizeof num, "%llu\n", (unsigned long long)m->seq);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    != -1) {
		if (write(fd, num, (size_t)n) == n && fsync(fd) == 0)
			rename(tmp, p);
		close(fd);
	}
	unlink(tmp);
	free(tmp);
	free(p);
}

static void
mark_done(void *arg)
{
	struct mark	*m = arg;

	free(m->dir);
	free(m);
}

/* The audit lines of the changes not logged yet; their mark written in
 * the background (with no worker yet, at once). */
static void
audit_changes(struct polserve *ps, const struct blocks *nb, bool now)
{
	struct mark	*m;
	uint64_t	 last = ps->audited;

	for (size_t i = 0; i < nb->nchanges; i++) {
		const struct block_change	*c = &nb->changes[i];

		if (c->seq <= ps->audited)
			continue;
		log_info("audit: policy op=%s rule=%s registry=%s user=%s"
		    " reason=\"%s\" at=%lld", c->op, c->rule, c->registry,
		    c->user ? c->user : "-", c->reason ? c->reason : "",
		    (long long)c->at);
		if (c->seq > last)
			last = c->seq;
	}
	if (nb->seq < ps->audited)
		log_warn("policy: the blocks file is older than what was"
		    " logged (change %llu, logged up to %llu)",
		    (unsigned long long)nb->seq,
		    (unsigned long long)ps->audited);
	if (last == ps->audited && nb->seq >= ps->audited)
		return;
	ps->audited = nb->seq > last ? nb->seq : last;
	m = xcalloc(1, sizeof *m);
	m->dir = xstrdup(ps->dir);
	m->seq = ps->audited;
	if (now) {
		mark_work(m);
		mark_done(m);
	} else
		workers_submit(ps->srv->background, mark_work, mark_done, m);
}

static void
take_blocks(struct polserve *ps, struct job *j)
{
	if (j->blocks_res != 0) {
		log_error("policy: %s; keeping the %zu block%s in force",
		    j->blocks_err, ps->blocks.n, ps->blocks.n == 1 ? "" : "s");
		return;
	}
	audit_changes(ps, &j->blocks, false);
	blocks_free(&ps->blocks);
	ps->blocks = j->blocks;
	memset(&j->blocks, 0, sizeof j->blocks);
}

static void
take_dbs(struct polserve *ps, struct job *j)
{
	struct server	*srv = ps->srv;

	for (size_t i = 0; i < srv->nregs && i < j->cfg->nregs; i++) {
		const char	*name = srv->regs[i].name;

		free(ps->regerr[i]);
		ps->regerr[i] = NULL;
		if (j->paths[i] == NULL) {
			regpolicy_db_unref(ps->regdb[i]);
			ps->regdb[i] = NULL;
		} else if (j->dbs[i] == NULL) {
			log_error("registry %s: advisory snapshot %s: %s;"
			    " keeping %s", name, j->paths[i], j->errs[i],
			    ps->regdb[i] ? advisory_db_id(ps->regdb[i]->db) :
			    "none");
			ps->regerr[i] = xasprintf("%s: %s", j->paths[i],
			    j->errs[i]);
		} else {
			regpolicy_db_unref(ps->regdb[i]);
			ps->regdb[i] = regpolicy_db_ref(j->dbs[i]);
			log_info("registry %s: advisory snapshot %s: %s, %zu"
			    " advisories", name, j->paths[i],
			    advisory_db_id(j->dbs[i]->db),
			    advisory_db_count(j->dbs[i]->db));
		}
	}
}

static void
job_free(struct job *j)
{
	for (size_t i = 0; j->dbs != NULL && i < j->cfg->nregs; i++) {
		regpolicy_db_unref(j->dbs[i]);
		free(j->paths[i]);
		free(j->errs[i]);
	}
	free(j->dbs);
	free(j->paths);
	free(j->errs);
	blocks_free(&j->blocks);
	free(j->blocks_err);
	free(j);
}

static void
job_done(void *arg)
{
	struct job	*j = arg;
	struct polserve	*ps = j->ps;

	if (j->what & WANT_BLOCKS)
		take_blocks(ps, j);
	if (j->what & WANT_DBS)
		take_dbs(ps, j);
	remake(ps);
	log_views(ps->srv);
	job_free(j);
	ps->busy = false;
	if (ps->want != 0)
		start_job(ps);
}

static void
start_job(struct polserve *ps)
{
	struct job	*j;

	if (ps->busy || ps->want == 0 || ps->srv->stopping)
		return;
	j = xcalloc(1, sizeof *j);
	j->ps = ps;
	j->what = ps->want;
	j->cfg = ps->srv->cfg;
	ps->want = 0;
	ps->busy = true;
	workers_submit(ps->srv->cpu, job_work, job_done, j);
}

/* A change is acted on a moment later, so that a burst of events makes
 * one reload. */
static void
want(struct polserve *ps, unsigned what)
{
	struct timeval	tv = { 0, 50000 };

	ps->want |= what;
	if (!ps->busy)
		evtimer_add(ps->soon, &tv);
}

static void
soon_tick(evutil_socket_t fd, short ev, void *arg)
{
	start_job(arg);
}

/* ---- watching DATA_DIR/policy ---- */

static void
watch_read(evutil_socket_t fd, short ev, void *arg)
{
	struct polserve	*ps = arg;
	char		 buf[4096] __attribute__((aligned(8)));
	ssize_t		 n;

	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (char *p = buf; p < buf + n;) {
			struct inotify_event	*e = (void *)p;

			if (e->len > 0 && strcmp(e->name, "blocks.json") == 0)
				want(ps, WANT_BLOCKS);
			if (e->len > 0 && strcmp(e->name,
			    "advisories.tar.gz") == 0)
				want(ps, WANT_DBS);
			if (e->mask & IN_Q_OVERFLOW)
				want(ps, WANT_BLOCKS | WANT_DBS);
			p += sizeof *e + e->len;
		}
}

/* Whether path changed since *st (updated). */
static bool
changed(const char *path, struct stat *st)
{
	struct stat	now;

	if (stat(path, &now) != 0)
		memset(&now, 0, sizeof now);
	if (now.st_ino == st->st_ino && now.st_size == st->st_size &&
	    now.st_mtim.tv_sec == st->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == st->st_mtim.tv_nsec)
		return false;
	*st = now;
	return true;
}

/* Without inotify: a look every POLL_SECONDS. */
static void
poll_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct polserve	*ps = arg;
	char		*b = blocks_path(ps->srv->cfg->data_dir);
	char		*inst = regpolicy_installed_path(ps->srv->cfg->data_dir);

	if (changed(b, &ps->st_blocks))
		want(ps, WANT_BLOCKS);
	if (changed(inst, &ps->st_inst))
		want(ps, WANT_DBS);
	free(b);
	free(inst);
}

static void
start_watch(struct polserve *ps)
{
	struct timeval	tv = { POLL_SECONDS, 0 };

	ps->ifd = -1;
	if (mkdir(ps->dir, 0755) == -1 && errno != EEXIST)
		log_warn("policy: %s: %s", ps->dir, strerror(errno));
	if ((ps->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) != -1 &&
	    inotify_add_watch(ps->ifd, ps->dir, IN_CLOSE_WRITE |
	    IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) != -1) {
		ps->watch = event_new(ps->srv->base, ps->ifd, EV_READ |
		    EV_PERSIST, watch_read, ps);
		event_add(ps->watch, NULL);
		return;
	}
	log_warn("policy: cannot watch %s (%s): looking at it every %d s",
	    ps->dir, strerror(errno), POLL_SECONDS);
	if (ps->ifd != -1)
		close(ps->ifd);
	ps->ifd = -1;
	poll_tick(-1, 0, ps);
	ps->want = 0;
	ps->poll = event_new(ps->srv->base, -1, EV_PERSIST, poll_tick, ps);
	event_add(ps->poll, &tv);
}

/* ---- the log, rate-limited ---- */

#define QUIET(n)	lru_entry(n, struct quiet, node)

static void
quiet_free(struct polserve *ps, struct quiet *q)
{
	lru_remove(&ps->logs, &q->node);
	free(q->key);
	free(q->what);
	free(q);
}

/* Logs what happened to registry's crate name (kind: "refused",
 * "served"), unless a line of that kind went out for it in the last
 * minute: then it is counted, and the count logged after the minute. */
static void
ratelog(struct polserve *ps, const char *registry, const char *name,
    const char *kind, const char *what)
{
	struct lru_node	*n;
	struct quiet	*q;
	char		*key = xasprintf("%s\t%s\t%s", registry, name, kind);
	uint64_t	 hv = lru_hash(key);
	time_t		 now = time(NULL);

	if ((n = lru_find(&ps->logs, key, hv)) != NULL) {
		q = QUIET(n);
		lru_touch(&ps->logs, n);
		if (now - q->since < LOG_WINDOW && now >= q->since) {
			q->held++;
			free(q->what);
			q->what = xstrdup(what);
			free(key);
			return;
		}
	} else {
		if (ps->logs.n >= LOGS_MAX)
			quiet_free(ps, QUIET(ps->logs.oldest));
		q = xcalloc(1, sizeof *q);
		q->key = key;
		key = NULL;
		lru_add(&ps->logs, &q->node, q->key, hv);
	}
	if (q->held > 0)
		log_info("registry %s: policy: %s %s (and %zu more time%s in"
		    " the minute before)", registry, kind, what, q->held,
		    q->held == 1 ? "" : "s");
	else
		log_info("registry %s: policy: %s %s", registry, kind, what);
	q->since = now;
	q->held = 0;
	free(key);
}

/* Once a minute: the counts of what was left out. */
static void
flush_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct polserve	*ps = arg;
	struct lru_node	*n, *older;
	time_t		 now = time(NULL);

	for (n = ps->logs.newest; n != NULL; n = older) {
		struct quiet	*q = QUIET(n);
		char		*tab, *kind;

		older = n->older;
		if (now - q->since < LOG_WINDOW)
			continue;
		if (q->held > 0) {
			tab = strchr(q->key, '\t');
			kind = strrchr(q->key, '\t');
			log_info("registry %.*s: policy: %s %zu more time%s in"
			    " the last minute (last: %s)", (int)(tab - q->key),
			    q->key, kind + 1, q->held, q->held == 1 ? "" : "s",
			    q->what);
		}
		quiet_free(ps, q);
	}
}

/* ---- what the server calls ---- */

int
polserve_start(struct server *srv, char **cause)
{
	struct polserve	*ps = xcalloc(1, sizeof *ps);
	const struct config *cfg = srv->cfg;
	struct timeval	 tv = { LOG_WINDOW, 0 };
	char		**paths, **errs;

	srv->polserve = ps;
	ps->srv = srv;
	ps->dir = xasprintf("%s/policy", cfg->data_dir);
	ps->regdb = xcalloc(srv->nregs + 1, sizeof *ps->regdb);
	ps->regerr = xcalloc(srv->nregs + 1, sizeof *ps->regerr);
	lru_init(&ps->logs);
	if (blocks_read(cfg->data_dir, &ps->blocks, cause) != 0)
		return -1;
	paths = xcalloc(cfg->nregs + 1, sizeof *paths);
	errs = xcalloc(cfg->nregs + 1, sizeof *errs);
	load_dbs(cfg, ps->regdb, paths, errs);
	for (size_t i = 0; i < cfg->nregs; i++) {
		if (errs[i] != NULL && *cause == NULL)
			*cause = xasprintf("registries.%s.advisory_db: %s",
			    cfg->regs[i].name, errs[i]);
		free(paths[i]);
		free(errs[i]);
	}
	free(paths);
	free(errs);
	if (*cause != NULL)
		return -1;
	ps->audited = audited_read(ps->dir);
	audit_changes(ps, &ps->blocks, true);
	remake(ps);
	log_views(srv);
	if (ps->blocks.n > 0)
		log_info("policy: %zu block%s in force (crated block)",
		    ps->blocks.n, ps->blocks.n == 1 ? "" : "s");
	ps->soon = evtimer_new(srv->base, soon_tick, ps);
	ps->flush = event_new(srv->base, -1, EV_PERSIST, flush_tick, ps);
	event_add(ps->flush, &tv);
	start_watch(ps);
	return 0;
}

void
polserve_stop(struct server *srv)
{
	struct polserve	*ps = srv->polserve;

	if (ps == NULL)
		return;
	for (size_t i = 0; i < srv->nregs; i++) {
		regpolicy_unref(srv->regs[i].policy);
		srv->regs[i].policy = NULL;
		regpolicy_db_unref(ps->regdb[i]);
		free(ps->regerr[i]);
	}
	free(ps->regdb);
	free(ps->regerr);
	while (ps->logs.newest != NULL)
		quiet_free(ps, QUIET(ps->logs.newest));
	lru_fini(&ps->logs);
	if (ps->watch != NULL)
		event_free(ps->watch);
	if (ps->ifd != -1)
		close(ps->ifd);
	if (ps->poll != NULL)
		event_free(ps->poll);
	if (ps->soon != NULL)
		event_free(ps->soon);
	if (ps->flush != NULL)
		event_free(ps->flush);
	blocks_free(&ps->blocks);
	free(ps->dir);
	free(ps);
	srv->polserve = NULL;
}

void
polserve_reload(struct server *srv)
{
	if (srv->polserve != NULL)
		want(srv->polserve, WANT_BLOCKS | WANT_DBS);
}

static void
count(const char *registry, enum verdict v, enum verdict_source s,
    unsigned n)
{
	char	labels[160];

	snprintf(labels, sizeof labels, "registry=\"%s\",verdict=\"%s\","
	    "source=\"%s\"", registry, verdict_name(v), verdict_source_name(s));
	metrics_add(METRIC_POLICY_VERDICTS_TOTAL, labels, n);
}

bool
polserve_refuse_download(struct registry *reg, struct http_request *r,
    const char *name, const char *vers)
{
	struct regpolicy_view	*v = reg->policy;
	struct policy_times	 t = { 0, 0 };
	struct verdict_info	 vi;
	char			*what;

	if (v == NULL)
		return false;
	/* Only a hold depends on the times, and a held .crate is served. */
	policy_decide(&v->settings, v->blocks, v->nblocks, v->db, name, vers,
	    &t, time(NULL), &vi);
	if (vi.verdict != VERDICT_DENY)
		return false;
	count(reg->name, vi.verdict, vi.source, 1);
	what = xasprintf("%s %s: %s", name, vers, vi.reason);
	if (reg->srv->polserve != NULL)
		ratelog(reg->srv->polserve, reg->name, name, "refused the"
		    " download of", what);
	free(what);
	http_reply_error(r, 403, "blocked by policy: %s", vi.reason);
	return true;
}

void
polserve_served(struct registry *reg, const char *name,
    const struct regpolicy_tally *t)
{
	bool	note = false;

	for (int v = VERDICT_FLAG; v <= VERDICT_DENY; v++)
		for (int s = 0; s <= SOURCE_ADVISORY; s++)
			if (t->n[v][s] > 0) {
				count(reg->name, (enum verdict)v,
				    (enum verdict_source)s, t->n[v][s]);
				note |= v != VERDICT_FLAG;
			}
	if (note && t->text != NULL && reg->srv->polserve != NULL)
		ratelog(reg->srv->polserve, reg->name, name, "served the index"
		    " file of", t->text);
}

void
polserve_state(struct registry *reg, json_t *obj)
{
	struct polserve		*ps = reg->srv->polserve;
	struct regpolicy_view	*v = reg->policy;
	const char		*err = NULL;
	json_t			*p, *adv = json_null();

	if (ps != NULL)
		err = ps->regerr[reg - reg->srv->regs];
	if (v == NULL && err == NULL)
		return;
	if (v != NULL && v->db != NULL)
		adv = json_pack("{s:s, s:s, s:I}", "id",
		    advisory_db_id(v->db), "date", advisory_db_date(v->db),
		    "count", (json_int_t)advisory_db_count(v->db));
	p = json_pack("{s:s, s:I, s:I, s:o}", "summary", v ?
	    regpolicy_describe(v) : "none", "epoch", (json_int_t)(v ?
	    v->epoch : 0), "blocks", (json_int_t)(v ? v->nblocks : 0),
	    "advisories", adv);
	if (err != NULL)
		json_object_set_new(p, "advisories_error", json_string(err));
	json_object_set_new(obj, "policy", p);
}
