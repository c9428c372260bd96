#include "server/core/metrics.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "server/core/history.h"

/* Histogram buckets, in seconds: 100 µs to 30 s. */
static const double	bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
			    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
			    5, 10, 30 };
#define NBOUNDS	(sizeof bounds / sizeof bounds[0])

enum type {
	COUNTER,
	GAUGE,
	HISTOGRAM,
};

/* Every metric crated has: the one place a name is written. */
static const struct family {
	const char		*name;
	enum type		 type;
	enum metric_part	 part;
	const char		*help;
} families[METRIC_COUNT] = {
	[METRIC_STORAGE_MIRROR_TOTAL] =
	    { "crated_storage_mirror_total", COUNTER, METRICS_MIRROR,
	      "A mirror's reads and writes of its shared cache in the object"
	      " store, by operation and outcome." },
	[METRIC_STORAGE_UP] =
	    { "crated_storage_up", GAUGE, METRICS_STORAGE,
	      "1 when the object store's last request got an answer." },
	[METRIC_STORAGE_LATENCY_SECONDS] =
	    { "crated_storage_latency_seconds", GAUGE, METRICS_STORAGE,
	      "The object store's request latency (moving average)." },
	[METRIC_STORAGE_REQUESTS_TOTAL] =
	    { "crated_storage_requests_total", COUNTER, METRICS_STORAGE,
	      "Requests made to the object store." },
	[METRIC_STORAGE_FAILURES_TOTAL] =
	    { "crated_storage_failures_total", COUNTER, METRICS_STORAGE,
	      "Object store requests that failed (no answer, 5xx, denied)." },
	[METRIC_STORAGE_CONFLICTS_TOTAL] =
	    { "crated_storage_conflicts_total", COUNTER, METRICS_STORAGE,
	      "Conditional writes the object store refused (a lost race)." },
	[METRIC_RELAYED_WRITES_IN_FLIGHT] =
	    { "crated_relayed_writes_in_flight", GAUGE, METRICS_RELAY,
	      "Relayed writes waiting for the upstream's answer." },
	[METRIC_RELAYED_READS_TOTAL] =
	    { "crated_relayed_reads_total", COUNTER, METRICS_RELAY,
	      "Web API reads (search, owner lists) relayed upstream, by"
	      " operation and outcome." },
	[METRIC_CRATES_UNCACHED_TOTAL] =
	    { "crated_crates_uncached_total", COUNTER, METRICS_MIRROR,
	      "Crates passed to a client uncached: the cache could not take"
	      " them (a full disk)." },
	[METRIC_NEGATIVE_ENTRIES] =
	    { "crated_negative_entries", GAUGE, METRICS_MIRROR,
	      "Upstream 404s remembered (in memory, for negative_ttl)." },
	[METRIC_TLS_CERTIFICATE_DAYS_LEFT] =
	    { "crated_tls_certificate_days_left", GAUGE, METRICS_SERVER,
	      "Days until the TLS certificate in use expires." },
	[METRIC_PREFETCH_DROPPED_TOTAL] =
	    { "crated_prefetch_dropped_total", COUNTER, METRICS_SERVER,
	      "Prefetches not made: too many were waiting." },
	[METRIC_PREFETCH_JOINS_TOTAL] =
	    { "crated_prefetch_joins_total", COUNTER, METRICS_SERVER,
	      "Index requests that found their file being prefetched." },
	[METRIC_PREFETCHED_INDEX_FILES_TOTAL] =
	    { "crated_prefetched_index_files_total", COUNTER, METRICS_SERVER,
	      "Index file prefetches started or queued ahead of cargo." },
	[METRIC_EVICTIONS_TOTAL] =
	    { "crated_evictions_total", COUNTER, METRICS_SERVER,
	      "Crates evicted to stay under max_cache_bytes." },
	[METRIC_CACHE_FILES] =
	    { "crated_cache_files", GAUGE, METRICS_SERVER,
	      "Cached .crate files." },
	[METRIC_CACHE_BYTES] =
	    { "crated_cache_bytes", GAUGE, METRICS_SERVER,
	      "Bytes of cached .crate files." },
	[METRIC_RELAYED_WRITES_TOTAL] =
	    { "crated_relayed_writes_total", COUNTER, METRICS_SERVER,
	      "Web API calls relayed upstream, by operation and outcome." },
	[METRIC_CHECKSUM_FAILURES_TOTAL] =
	    { "crated_checksum_failures_total", COUNTER, METRICS_SERVER,
	      "Crates refused because their SHA-256 did not match." },
	[METRIC_CRATE_FETCHES_TOTAL] =
	    { "crated_crate_fetches_total", COUNTER, METRICS_SERVER,
	      "Crates fetched from the upstream, by outcome." },
	[METRIC_UPSTREAM_CONNECTIONS_TOTAL] =
	    { "crated_upstream_connections_total", COUNTER, METRICS_SERVER,
	      "New connections opened to the upstream." },
	[METRIC_UPSTREAM_LIMIT] =
	    { "crated_upstream_limit", GAUGE, METRICS_SERVER,
	      "Upstream requests a mirror may have in flight now (adaptive, up to upstream_concurrency)." },
	[METRIC_UPSTREAM_REQUESTS_IN_FLIGHT] =
	    { "crated_upstream_requests_in_flight", GAUGE, METRICS_SERVER,
	      "Upstream requests under way." },
	[METRIC_UPSTREAM_DURATION_SECONDS] =
	    { "crated_upstream_duration_seconds", HISTOGRAM, METRICS_SERVER,
	      "Upstream request latency." },
	[METRIC_UPSTREAM_REQUESTS_TOTAL] =
	    { "crated_upstream_requests_total", COUNTER, METRICS_SERVER,
	      "Upstream requests, by kind and outcome." },
	[METRIC_COALESCED_WAITERS_TOTAL] =
	    { "crated_coalesced_waiters_total", COUNTER, METRICS_SERVER,
	      "Requests that joined an upstream fetch already under way." },
	[METRIC_NEGATIVE_HITS_TOTAL] =
	    { "crated_negative_hits_total", COUNTER, METRICS_SERVER,
	      "404s answered from a remembered upstream 404." },
	[METRIC_REVALIDATIONS_TOTAL] =
	    { "crated_revalidations_total", COUNTER, METRICS_SERVER,
	      "Conditional upstream requests, by result (200 or 304)." },
	[METRIC_STALE_SERVES_TOTAL] =
	    { "crated_stale_serves_total", COUNTER, METRICS_SERVER,
	      "Cached index files served because the upstream failed." },
	[METRIC_CACHE_MISSES_TOTAL] =
	    { "crated_cache_misses_total", COUNTER, METRICS_SERVER,
	      "Index files fetched because nothing was cached." },
	[METRIC_CACHE_HITS_TOTAL] =
	    { "crated_cache_hits_total", COUNTER, METRICS_SERVER,
	      "Index files served from the cache within their TTL." },
	[METRIC_OPEN_INDEX_FILES] =
	    { "crated_open_index_files", GAUGE, METRICS_SERVER,
	      "Files kept open: .crate and hosted index files (open_file_cache)." },
	[METRIC_HOT_CACHE_BYTES] =
	    { "crated_hot_cache_bytes", GAUGE, METRICS_SERVER,
	      "Bytes of index responses held in memory." },
	[METRIC_OPEN_CONNECTIONS] =
	    { "crated_open_connections", GAUGE, METRICS_SERVER,
	      "Client connections open." },
	[METRIC_REQUEST_DURATION_SECONDS] =
	    { "crated_request_duration_seconds", HISTOGRAM, METRICS_SERVER,
	      "Time from the first byte of a request to its answer." },
	[METRIC_RESPONSE_BYTES_TOTAL] =
	    { "crated_response_bytes_total", COUNTER, METRICS_SERVER,
	      "Response body bytes sent." },
	[METRIC_REQUESTS_TOTAL] =
	    { "crated_requests_total", COUNTER, METRICS_SERVER,
	      "Requests answered, by registry, route and status." },
	[METRIC_STORAGE_READ_SECONDS] =
	    { "crated_storage_read_seconds", HISTOGRAM, METRICS_SERVER,
	      "Object-store GETs of replicas (index files, .crate files),"
	      " by outcome." },
	[METRIC_CATALOGUE_LISTED_TOTAL] =
	    { "crated_catalogue_listed_total", COUNTER, METRICS_STORAGE,
	      "Objects a hosted registry's catalogue sync listed in the"
	      " store (index, meta, names)." },
	[METRIC_CATALOGUE_FETCHES_TOTAL] =
	    { "crated_catalogue_fetches_total", COUNTER, METRICS_STORAGE,
	      "Index and meta files the catalogue sync brought up to date or"
	      " removed, by outcome (ok, gone, failed)." },
	[METRIC_CATALOGUE_LAST_COMPLETE] =
	    { "crated_catalogue_last_complete_seconds", GAUGE,
	      METRICS_STORAGE, "When a hosted registry's catalogue last"
	      " completed a sync with the store (Unix time)." },
	[METRIC_POLICY_VERDICTS_TOTAL] =
	    { "crated_policy_verdicts_total", COUNTER, METRICS_POLICY,
	      "Verdicts of the supply-chain policy applied: each download"
	      " refused (deny) counts one; each index file answered counts"
	      " its lines held, denied and flagged. By verdict and source"
	      " (age, deny, block, advisory)." },
	[METRIC_TOOLCHAIN_REQUESTS_TOTAL] =
	    { "crated_toolchain_requests_total", COUNTER, METRICS_TOOLCHAIN,
	      "Requests to a toolchain mirror, by kind of file (channel,"
	      " release, dated_manifest, tarball, rustup_init, other)." },
	[METRIC_TOOLCHAIN_HITS_TOTAL] =
	    { "crated_toolchain_hits_total", COUNTER, METRICS_TOOLCHAIN,
	      "Toolchain files served from the cache (a fresh snapshot"
	      " included)." },
	[METRIC_TOOLCHAIN_MISSES_TOTAL] =
	    { "crated_toolchain_misses_total", COUNTER, METRICS_TOOLCHAIN,
	      "Toolchain requests that needed the upstream (a fetch started,"
	      " or a snapshot revalidated)." },
	[METRIC_TOOLCHAIN_STALE_SERVES_TOTAL] =
	    { "crated_toolchain_stale_serves_total", COUNTER,
	      METRICS_TOOLCHAIN, "Snapshots served past manifest_ttl because"
	      " the upstream failed." },
	[METRIC_TOOLCHAIN_FOLLOWERS_TOTAL] =
	    { "crated_toolchain_followers_total", COUNTER, METRICS_TOOLCHAIN,
	      "Requests served from a file another request was already"
	      " fetching (no upstream request of their own)." },
	[METRIC_TOOLCHAIN_HASH_FAILURES_TOTAL] =
	    { "crated_toolchain_hash_failures_total", COUNTER,
	      METRICS_TOOLCHAIN, "Files not kept: their SHA-256 was not the"
	      " one their manifest (or .sha256) gives." },
	[METRIC_TOOLCHAIN_UPSTREAM_REQUESTS_TOTAL] =
	    { "crated_toolchain_upstream_requests_total", COUNTER,
	      METRICS_TOOLCHAIN, "Upstream requests of a toolchain mirror, by"
	      " outcome (ok, not_found, failed, refused)." },
	[METRIC_TOOLCHAIN_UPSTREAM_BYTES_TOTAL] =
	    { "crated_toolchain_upstream_bytes_total", COUNTER,
	      METRICS_TOOLCHAIN, "Body bytes a toolchain mirror received from"
	      " its upstream." },
	[METRIC_TOOLCHAIN_RESUMES_TOTAL] =
	    { "crated_toolchain_resumes_total", COUNTER, METRICS_TOOLCHAIN,
	      "Upstream downloads cut short and asked again from where they"
	      " stopped (Range)." },
	[METRIC_TOOLCHAIN_EVICTIONS_TOTAL] =
	    { "crated_toolchain_evictions_total", COUNTER, METRICS_TOOLCHAIN,
	      "Toolchain files evicted to stay under max_cache_bytes." },
	[METRIC_TOOLCHAIN_CACHE_BYTES] =
	    { "crated_toolchain_cache_bytes", GAUGE, METRICS_TOOLCHAIN,
	      "Bytes of cached toolchain files (snapshots not counted)." },
	[METRIC_TOOLCHAIN_CACHE_FILES] =
	    { "crated_toolchain_cache_files", GAUGE, METRICS_TOOLCHAIN,
	      "Cached toolchain files (snapshots not counted)." },
};

struct series {
	enum metric_id	 id;
	char		*labels;
	double		 value;			/* counter, gauge; sum */
	uint64_t	 count;			/* histogram */
	uint64_t	 buckets[NBOUNDS];
	struct series	*next;			/* hash chain */
	struct series	*order;			/* all series, newest first */
};

#define NCHAINS	512

static bool		 shown[METRICS_TOOLCHAIN + 1] = { [METRICS_SERVER] = true };
static struct series	*chains[NCHAINS], *all;
static void		(*collect)(void *);
static void		*collect_arg;

static uint32_t
hash(const char *a, const char *b)
{
	uint32_t	h = 2166136261u;

	for (; *a != '\0'; a++)
		h = (h ^ (unsigned char)*a) * 16777619u;
	h = (h ^ '{') * 16777619u;
	for (; *b != '\0'; b++)
		h = (h ^ (unsigned char)*b) * 16777619u;
	return h;
}

void
metrics_show(enum metric_part part)
{
	shown[part] = true;
}

/* The series of id{labels}, made on first use. */
static struct series *
series(enum metric_id id, const char *labels)
{
	uint32_t	 h = hash(families[id].name, labels) % NCHAINS;
	struct series	*s;

	for (s = chains[h]; s != NULL; s = s->next)
		if (s->id == id && strcmp(s->labels, labels) == 0)
			return s;
	s = xcalloc(1, sizeof *s);
	s->id = id;
	s->labels = xstrdup(labels);
	s->next = chains[h];
	chains[h] = s;
	s->order = all;
	all = s;
	return s;
}

struct series *
metrics_series(enum metric_id id, const char *labels)
{
	return series(id, labels);
}

void
metrics_series_add(struct series *s, double v)
{
	s->value += v;
}

void
metrics_add(enum metric_id id, const char *labels, double v)
{
	/* The operations page's chart follows the cache's hits and misses. */
	if (id == METRIC_CACHE_HITS_TOTAL || id == METRIC_CACHE_MISSES_TOTAL)
		history_add(id == METRIC_CACHE_HITS_TOTAL ? HISTORY_HITS :
		    HISTORY_MISSES, (uint64_t)v, time(NULL));
	metrics_series_add(series(id, labels), v);
}

void
metrics_set(enum metric_id id, const char *labels, double v)
{
	series(id, labels)->value = v;
}

void
metrics_observe(enum metric_id id, const char *labels, double v)
{
	metrics_series_observe(series(id, labels), v);
}

void
metrics_series_observe(struct series *s, double v)
{
	s->value += v;
	s->count++;
	for (size_t i = 0; i < NBOUNDS; i++)
		if (v <= bounds[i])
			s->buckets[i]++;
}

void
metrics_on_collect(void (*fn)(void *), void *arg)
{
	collect = fn;
	collect_arg = arg;
}

char *
metrics_render(size_t *len)
{
	char	*out = NULL;
	FILE	*f = open_memstream(&out, len);

	if (collect != NULL)
		collect(collect_arg);
	for (enum metric_id id = 0; id < METRIC_COUNT; id++) {
		const struct family	*fa = &families[id];

		if (!shown[fa->part])
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fa->name, fa->help,
		    fa->name, fa->type == COUNTER ? "counter" :
		    fa->type == GAUGE ? "gauge" : "histogram");
		for (struct series *s = all; s != NULL; s = s->order) {
			const char	*sep = s->labels[0] ? "," : "";

			if (s->id != id)
				continue;
			if (fa->type != HISTOGRAM) {
				fprintf(f, "%s%s%s%s %.10g\n", fa->name,
				    s->labels[0] ? "{" : "", s->labels,
				    s->labels[0] ? "}" : "", s->value);
				continue;
			}
			for (size_t i = 0; i < NBOUNDS; i++)
				fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n",
				    fa->name, s->labels, sep, bounds[i],
				    (unsigned long long)s->buckets[i]);
			fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n",
			    fa->name, s->labels, sep,
			    (unsigned long long)s->count);
			fprintf(f, "%s_sum{%s} %.10g\n%s_count{%s} %llu\n",
			    fa->name, s->labels, s->value, fa->name, s->labels,
			    (unsigned long long)s->count);
		}
	}
	fclose(f);
	return out;
}

void
metrics_free(void)
{
	struct series	*s, *sn;

	for (s = all; s != NULL; s = sn) {
		sn = s->order;
		free(s->labels);
		free(s);
	}
	memset(chains, 0, sizeof chains);
	all = NULL;
	memset(shown, 0, sizeof shown);
	shown[METRICS_SERVER] = true;
}
