/* What a toolchain mirror shows: its state for /-/ready, its gauges for
 * /-/metrics, and what it has cached for the pages. */
#include "server/toolchains/tc_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cache/usage.h"
#include "server/core/config.h"

json_t *
toolchain_state(struct toolchain *tc, bool full)
{
	size_t		 nsnaps = 0, nfills = tc_fill_count(tc);
	const char	*state;
	json_t		*j;

	for (struct snap *s = tc->snaps; s != NULL; s = s->next)
		nsnaps += s->cur != NULL;
	if (tc->cfg->offline)
		state = "offline";
	else if (tc->last_ok == 0 && tc->last_fail == 0)
		state = "not contacted yet";
	else if (tc->last_fail > tc->last_ok)
		state = "failing";
	else
		state = "ok";
	j = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I,"
	    " s:I, s:I, s:I, s:I, s:I}", "name", tc->name, "kind", "toolchains",
	    "upstream_state", state, "offline", tc->cfg->offline,
	    "manifest_ttl", (json_int_t)tc->cfg->manifest_ttl, "snapshots",
	    (json_int_t)nsnaps, "cache_bytes",
	    (json_int_t)usage_bytes(tc->usage), "cache_files",
	    (json_int_t)usage_files(tc->usage), "max_cache_bytes",
	    (json_int_t)tc->cfg->max_cache_bytes, "downloads", (json_int_t)
	    nfills, "hits", (json_int_t)tc->hits, "misses",
	    (json_int_t)tc->misses, "followers", (json_int_t)tc->followers,
	    "hash_failures", (json_int_t)tc->hash_failures, "stale_serves",
	    (json_int_t)tc->stale);
	json_object_set_new(j, "upstream_bytes",
	    json_integer((json_int_t)tc->upstream_bytes));
	if (tc->last_ok != 0)
		json_object_set_new(j, "last_ok",
		    json_integer((json_int_t)tc->last_ok));
	if (full) {
		json_object_set_new(j, "upstream", json_string(tc->upstream));
		if (tc->last_error != NULL && tc->last_fail > tc->last_ok)
			json_object_set_new(j, "last_error",
			    json_string(tc->last_error));
	}
	return j;
}

void
toolchain_collect(struct toolchain *tc)
{
	metrics_set(METRIC_TOOLCHAIN_CACHE_BYTES, tc->labels,
	    (double)usage_bytes(tc->usage));
	metrics_set(METRIC_TOOLCHAIN_CACHE_FILES, tc->labels,
	    (double)usage_files(tc->usage));
}

/* The entry of date and version in list, made when missing. */
static json_t *
entry(json_t *list, const char *date, const char *version)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(json_object_get(v, "date")),
		    date) == 0 && strcmp(json_string_value(json_object_get(v,
		    "version")), version) == 0)
			return v;
	v = json_pack("{s:s, s:s, s:[], s:[]}", "date", date, "version",
	    version, "hosts", "targets");
	json_array_append_new(list, v);
	return v;
}

static void
add_unique(json_t *a, const char *s)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return;
	json_array_append_new(a, json_string(s));
}

/* The toolchains whose rustc (hosts) and rust-std (targets) are cached,
 * from the files' names. */
static json_t *
toolchains(struct toolchain *tc)
{
	struct usage_use	*uses;
	size_t			 n = usage_copy(tc->usage, &uses);
	json_t			*list = json_array();
	char			 pkg[DIST_CHANNEL_MAX], ver[DIST_CHANNEL_MAX];
	char			 triple[DIST_PATH_MAX], date[11];

	for (size_t i = 0; i < n; i++) {
		const char	*rel = uses[i].rel;
		bool		 host;

		if (strncmp(rel, "dist/", 5) != 0 || strlen(rel) < 17 ||
		    !dist_is_date(rel + 5, 10) || rel[15] != '/' ||
		    dist_tarball_name(rel + 16, pkg, ver, triple) != 0 ||
		    triple[0] == '\0')
			continue;
		if (!(host = strcmp(pkg, "rustc") == 0) && strcmp(pkg,
		    "rust-std") != 0)
			continue;
		memcpy(date, rel + 5, 10);
		date[10] = '\0';
		add_unique(json_object_get(entry(list, date, ver), host ?
		    "hosts" : "targets"), triple);
	}
	usage_copy_free(uses, n);
	return list;
}

json_t *
toolchain_cached(struct toolchain *tc)
{
	json_t	*chans = json_array();

	for (struct snap *s = tc->snaps; s != NULL; s = s->next) {
		if (s->cur == NULL)
			continue;
		json_array_append_new(chans, json_pack("{s:s, s:s, s:s}",
		    "path", s->rel, "date", s->cur->info.date, "version",
		    s->cur->info.version));
	}
	return json_pack("{s:o, s:o}", "channels", chans, "toolchains",
	    toolchains(tc));
}
