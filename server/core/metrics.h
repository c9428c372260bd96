/* Prometheus metrics: counters, gauges and histograms with labels, kept on
 * the event loop (no locks) and written in the text exposition format at
 * GET /-/metrics. Every metric is named once, in the table in metrics.c,
 * and callers name it by its id below, so a metric that is not declared
 * cannot be counted (it does not compile). A label string is the caller's:
 * the inside of the braces, e.g. "registry=\"local\",status=\"200\"". */
#ifndef SERVER_CORE_METRICS_H
#define SERVER_CORE_METRICS_H

#include <stddef.h>

/* In the order of the exposition (scrapers and tests have seen it). */
enum metric_id {
	METRIC_STORAGE_MIRROR_TOTAL,
	METRIC_STORAGE_UP,
	METRIC_STORAGE_LATENCY_SECONDS,
	METRIC_STORAGE_REQUESTS_TOTAL,
	METRIC_STORAGE_FAILURES_TOTAL,
	METRIC_STORAGE_CONFLICTS_TOTAL,
	METRIC_RELAYED_WRITES_IN_FLIGHT,
	METRIC_RELAYED_READS_TOTAL,
	METRIC_CRATES_UNCACHED_TOTAL,
	METRIC_NEGATIVE_ENTRIES,
	METRIC_TLS_CERTIFICATE_DAYS_LEFT,
	METRIC_PREFETCH_DROPPED_TOTAL,
	METRIC_PREFETCH_JOINS_TOTAL,
	METRIC_PREFETCHED_INDEX_FILES_TOTAL,
	METRIC_EVICTIONS_TOTAL,
	METRIC_CACHE_FILES,
	METRIC_CACHE_BYTES,
	METRIC_RELAYED_WRITES_TOTAL,
	METRIC_CHECKSUM_FAILURES_TOTAL,
	METRIC_CRATE_FETCHES_TOTAL,
	METRIC_UPSTREAM_CONNECTIONS_TOTAL,
	METRIC_UPSTREAM_LIMIT,
	METRIC_UPSTREAM_REQUESTS_IN_FLIGHT,
	METRIC_UPSTREAM_DURATION_SECONDS,
	METRIC_UPSTREAM_REQUESTS_TOTAL,
	METRIC_COALESCED_WAITERS_TOTAL,
	METRIC_NEGATIVE_HITS_TOTAL,
	METRIC_REVALIDATIONS_TOTAL,
	METRIC_STALE_SERVES_TOTAL,
	METRIC_CACHE_MISSES_TOTAL,
	METRIC_CACHE_HITS_TOTAL,
	METRIC_OPEN_INDEX_FILES,
	METRIC_HOT_CACHE_BYTES,
	METRIC_OPEN_CONNECTIONS,
	METRIC_REQUEST_DURATION_SECONDS,
	METRIC_RESPONSE_BYTES_TOTAL,
	METRIC_REQUESTS_TOTAL,
	METRIC_STORAGE_READ_SECONDS,
	METRIC_CATALOGUE_LISTED_TOTAL,
	METRIC_CATALOGUE_FETCHES_TOTAL,
	METRIC_CATALOGUE_LAST_COMPLETE,
	METRIC_POLICY_VERDICTS_TOTAL,
	METRIC_TOOLCHAIN_REQUESTS_TOTAL,
	METRIC_TOOLCHAIN_HITS_TOTAL,
	METRIC_TOOLCHAIN_MISSES_TOTAL,
	METRIC_TOOLCHAIN_STALE_SERVES_TOTAL,
	METRIC_TOOLCHAIN_FOLLOWERS_TOTAL,
	METRIC_TOOLCHAIN_HASH_FAILURES_TOTAL,
	METRIC_TOOLCHAIN_UPSTREAM_REQUESTS_TOTAL,
	METRIC_TOOLCHAIN_UPSTREAM_BYTES_TOTAL,
	METRIC_TOOLCHAIN_RESUMES_TOTAL,
	METRIC_TOOLCHAIN_EVICTIONS_TOTAL,
	METRIC_TOOLCHAIN_CACHE_BYTES,
	METRIC_TOOLCHAIN_CACHE_FILES,
	METRIC_COUNT
};

/* Who shows a metric's family: the server's always; a mirror's once a
 * mirror has started; the relay's once the relay has had a call (so a
 * crated without either shows no HELP lines for them). */
enum metric_part {
	METRICS_SERVER,
	METRICS_MIRROR,
	METRICS_RELAY,
	METRICS_STORAGE,	/* once an object store is opened */
	METRICS_POLICY,		/* once a registry has a policy */
	METRICS_TOOLCHAIN,	/* once a toolchain mirror is opened */
};

/* Shows the families of a part in the exposition from now on. */
void	metrics_show(enum metric_part);
void	metrics_add(enum metric_id, const char *labels, double v);
void	metrics_set(enum metric_id, const char *labels, double v);
/* A histogram observation in seconds. */
void	metrics_observe(enum metric_id, const char *labels, double v);

/* A series found once and updated many times (the per-request ones).
 * Valid until metrics_free. */
struct series;
struct series	*metrics_series(enum metric_id, const char *labels);
void		 metrics_series_add(struct series *, double v);
void		 metrics_series_observe(struct series *, double v);

/* Calls fn before each exposition, to refresh gauges. */
void	metrics_on_collect(void (*fn)(void *), void *arg);
/* The exposition text (new string). */
char	*metrics_render(size_t *len);
void	metrics_free(void);

#endif
