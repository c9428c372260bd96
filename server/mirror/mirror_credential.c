/* The upstream credential of a mirror: read at start (mirror.c), sent
 * with every request to the upstream's origin (mirror_admit.c), read again
 * after a 401, on SIGHUP and when older than token_refresh. Reading it
 * the blocking way is server/upstream/credential.c's. */
#include "server/mirror/mirror_int.h"

#include <stdlib.h>
#include <time.h>

#include "common/xmalloc.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/core/workers.h"
#include "server/upstream/credential.h"

struct token_job {
	struct mirror	*m;
	char		*cmd;
	char		*token;
};

static void
token_work(void *arg)
{
	struct token_job	*j = arg;

	j->token = credential_clean(credential_command(j->cmd));
}

static void
token_done(void *arg)
{
	struct token_job	*j = arg;
	struct mirror		*m = j->m;

	m->token_refreshing = false;
	if (j->token != NULL) {
		free(m->token);
		m->token = j->token;
		m->token_time = time(NULL);
		log_info("registry %s: upstream token refreshed by"
		    " upstream_token_command", m->reg->name);
	} else
		log_error("registry %s: upstream_token_command failed or"
		    " printed nothing; keeping the previous token",
		    m->reg->name);
	free(j->cmd);
	free(j);
}

/* Re-runs the token command in the background (after a 401, or when the
 * token is older than token_refresh); a file is simply read again. */
void
mirror_credential_refresh(struct mirror *m)
{
	const struct registry_config	*c = m->reg->cfg;
	struct token_job		*j;

	if (c->upstream_pat_file != NULL || c->upstream_token_file != NULL) {
		char	*t = NULL, *cause = NULL;

		if (credential_read(c, &t, &cause) != 0) {
			log_error("registry %s: %s; keeping the previous"
			    " credential", m->reg->name, cause);
			free(cause);
		} else {
			free(m->token);
			m->token = t;
		}
		return;
	}
	if (c->upstream_token_command == NULL || m->token_refreshing)
		return;
	m->token_refreshing = true;
	j = xcalloc(1, sizeof *j);
	j->m = m;
	j->cmd = xstrdup(c->upstream_token_command);
	workers_submit(m->srv->workers, token_work, token_done, j);
}

static const char *
token(struct mirror *m)
{
	const struct registry_config	*c = m->reg->cfg;

	if (c->upstream_token_command != NULL && time(NULL) - m->token_time >
	    c->token_refresh)
		mirror_credential_refresh(m);
	return m->token;
}

const char *
mirror_credential(struct mirror *m)
{
	return token(m);
}
