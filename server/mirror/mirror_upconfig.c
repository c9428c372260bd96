/* The upstream's config.json: its dl template (for crates) and api (for
 * the relay), fetched when older than index_ttl, saved beside the cache
 * and used from there when the upstream cannot be asked. */
#include "server/mirror/mirror_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/upstream/upstream.h"

struct config_waiter {
	config_cb		 cb;
	void			*arg;
	struct config_waiter	*next;
};

static void
config_finish(struct mirror *m, const char *error)
{
	struct config_waiter	*w, *next;

	w = m->rc_waiters;
	m->rc_waiters = NULL;
	m->rc_fetching = false;
	for (; w != NULL; w = next) {
		next = w->next;
		w->cb(m, error, w->arg);
		free(w);
	}
}

struct rc_job {
	struct mirror	*m;
	char		*text;
	int		 res;
};

static void
rc_work(void *arg)
{
	struct rc_job	*j = arg;

	j->res = store_write(j->m->reg->store, "upstream-config.json",
	    j->text, strlen(j->text), NULL, NULL);
}

static void
rc_done(void *arg)
{
	struct rc_job	*j = arg;

	if (j->res != 0)
		log_warn("registry %s: saving the upstream config.json: %s",
		    j->m->reg->name, strerror(-j->res));
	free(j->text);
	free(j);
}

static void
config_done(struct fetch *f, void *arg)
{
	struct mirror		*m = arg;
	struct regconfig	 rc;
	char			*why = NULL, *cause = NULL;
	const char		*body;
	size_t			 len;
	enum verdict		 v = mirror_judge(m, f, &why);

	mirror_count_upstream(m, fetch_seconds(f), "config", v);
	if (v == V_OK) {
		body = fetch_body(f, &len);
		if (regconfig_parse(body, len, &rc, &cause) == 0) {
			struct rc_job	*j = xcalloc(1, sizeof *j);

			regconfig_finish(&m->rc);
			m->rc = rc;
			m->rc_fetched = time(NULL);
			j->m = m;
			j->text = xstrndup(body, len);
			workers_submit(m->srv->workers, rc_work, rc_done, j);
			config_finish(m, NULL);
			return;
		}
		why = xasprintf("upstream %s", cause);
		free(cause);
	} else {
		char	*w = xasprintf("upstream config.json: %s", why ? why :
		    "no answer");

		free(why);
		why = w;
	}
	if (m->rc.dl != NULL) {
		log_warn("registry %s: config.json: %s; using the copy from"
		    " %lds ago", m->reg->name, why, (long)(time(NULL) -
		    m->rc_fetched));
		config_finish(m, NULL);
	} else {
		log_error("registry %s: config.json: %s", m->reg->name, why);
		config_finish(m, why);
	}
	free(why);
}

/* Makes sure the upstream's dl template is known, then calls cb. */
static void
get_config(struct mirror *m, config_cb cb, void *arg)
{
	struct config_waiter	*w;
	struct fetch_opts	 o = { 0 };
	char			*url;

	if (m->rc.dl != NULL && (m->reg->cfg->offline ||
	    mirror_backing_off(m) || time(NULL) - m->rc_fetched <
	    m->reg->cfg->index_ttl)) {
		cb(m, NULL, arg);
		return;
	}
	if (m->rc.dl == NULL && (m->reg->cfg->offline ||
	    mirror_backing_off(m))) {
		cb(m, "the upstream's config.json is not cached", arg);
		return;
	}
	w = xcalloc(1, sizeof *w);
	w->cb = cb;
	w->arg = arg;
	w->next = m->rc_waiters;
	m->rc_waiters = w;
	if (m->rc_fetching)
		return;
	m->rc_fetching = true;
	url = xasprintf("%sconfig.json", m->base);
	o.url = url;
	o.max_body = 1 << 20;
	o.timeout = INDEX_TIMEOUT;
	o.done = config_done;
	o.arg = m;
	mirror_admit(m, &o);
	free(url);
}

void
mirror_get_config(struct mirror *m, mirror_config_cb cb, void *arg)
{
	get_config(m, cb, arg);
}

const char *
mirror_api(const struct mirror *m)
{
	return m->rc.api;
}
