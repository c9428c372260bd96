/*
 * A manifest and its .sha256 fetched as one: the .sha256 first, then the
 * .toml, whose SHA-256 must be the one the .sha256 names; when they do
 * not match (the upstream was updated between the two requests) both
 * are asked again, at most PAIR_TRIES times. When the .sha256 names the
 * manifest already held (known), the .toml is not fetched: a revalidation
 * that finds nothing new costs a hundred bytes. A release file
 * (rustup/release-stable.toml) is one file, fetched alone. Bodies are
 * kept in memory: a channel manifest is about 1 MB, at most
 * SNAPSHOT_PART_MAX.
 */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"
#include "server/core/log.h"
#include "server/upstream/upstream.h"

#define PAIR_TRIES	3

struct pair {
	struct toolchain	*tc;
	char			 rel[DIST_PATH_MAX];
	char			 side[DIST_PATH_MAX + 8];
	bool			 pair;
	char			 known[65];
	tc_pair_cb		 cb;
	void			*arg;
	int			 tries;
	char			*sha;
	size_t			 sha_len;
	char			 named[65];
};

static void	ask(struct pair *);

static void
finish(struct pair *p, int status, char *toml, size_t len, const char *hex,
    const char *why)
{
	struct tc_pair_result	res = { status, p->sha, toml, p->sha_len, len,
				    "", why };

	if (hex != NULL)
		memcpy(res.hex, hex, 65);
	p->cb(p->tc, &res, p->arg);
	/* The callback may have taken the bodies (set them NULL). */
	free(res.toml);
	free(res.sha);
	free(p);
}

static void
toml_done(struct fetch *f, void *arg)
{
	struct pair	*p = arg;
	char		*why = NULL, *body, hex[65], *msg;
	const char	*b;
	size_t		 len;
	enum tc_up	 v = tc_upstream_judge(p->tc, f, &why);

	if (v == TC_UP_NOT_FOUND && !p->pair) {
		finish(p, 404, NULL, 0, NULL, why);
		free(why);
		return;
	}
	if (v != TC_UP_OK) {
		msg = v == TC_UP_NOT_FOUND ? xasprintf("%s: the upstream has"
		    " its .sha256 but not the file", p->rel) : why;
		finish(p, 502, NULL, 0, NULL, msg);
		if (msg != why)
			free(msg);
		free(why);
		return;
	}
	b = fetch_body(f, &len);
	body = xmalloc(len + 1);
	memcpy(body, b, len);
	body[len] = '\0';
	sha256_hex(body, len, hex);
	if (!p->pair || strcmp(hex, p->named) == 0) {
		finish(p, 200, body, len, hex, NULL);
		return;
	}
	free(body);
	if (++p->tries < PAIR_TRIES) {
		log_info("toolchains %s: %s does not match its .sha256 (%s, the"
		    " file's %s): the upstream is changing; asking again",
		    p->tc->name, p->rel, p->named, hex);
		free(p->sha);
		p->sha = NULL;
		ask(p);
		return;
	}
	msg = xasprintf("%s from the upstream does not match its .sha256"
	    " (%d tries: the .sha256 names %s, the file is %s)", p->rel,
	    PAIR_TRIES, p->named, hex);
	finish(p, 502, NULL, 0, NULL, msg);
	free(msg);
}

static void
get_toml(struct pair *p)
{
	struct tc_get	g = { 0 };

	g.rel = p->rel;
	g.max_body = SNAPSHOT_PART_MAX;
	g.done = toml_done;
	g.arg = p;
	tc_upstream_get(p->tc, &g);
}

static void
sha_done(struct fetch *f, void *arg)
{
	struct pair	*p = arg;
	char		*why = NULL, *msg;
	const char	*b;
	size_t		 len;
	enum tc_up	 v = tc_upstream_judge(p->tc, f, &why);

	if (v != TC_UP_OK) {
		finish(p, v == TC_UP_NOT_FOUND ? 404 : 502, NULL, 0, NULL, why);
		free(why);
		return;
	}
	b = fetch_body(f, &len);
	if (dist_sha256_parse(b, len, p->named) != 0) {
		msg = xasprintf("%s from the upstream holds no SHA-256",
		    p->side);
		finish(p, 502, NULL, 0, NULL, msg);
		free(msg);
		return;
	}
	p->sha = xmalloc(len + 1);
	memcpy(p->sha, b, len);
	p->sha[len] = '\0';
	p->sha_len = len;
	if (p->known[0] != '\0' && strcmp(p->known, p->named) == 0) {
		finish(p, 304, NULL, 0, p->known, NULL);
		return;
	}
	get_toml(p);
}

static void
ask(struct pair *p)
{
	struct tc_get	g = { 0 };

	if (!p->pair) {
		get_toml(p);
		return;
	}
	g.rel = p->side;
	g.max_body = TC_SIDE_MAX;
	g.done = sha_done;
	g.arg = p;
	tc_upstream_get(p->tc, &g);
}

void
tc_pair_fetch(struct toolchain *tc, const char *rel, bool pair,
    const char *known, tc_pair_cb cb, void *arg)
{
	struct pair	*p = xcalloc(1, sizeof *p);

	p->tc = tc;
	snprintf(p->rel, sizeof p->rel, "%s", rel);
	snprintf(p->side, sizeof p->side, "%s.sha256", rel);
	p->pair = pair;
	if (known != NULL)
		snprintf(p->known, sizeof p->known, "%s", known);
	p->cb = cb;
	p->arg = arg;
	ask(p);
}
