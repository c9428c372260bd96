/* Prometheus metrics: counters, gauges and histograms with labels, kept on
 * the event loop (no locks) and written in the text exposition format at
 * GET /-/metrics. Names and label sets are the caller's; a label string is
 * the inside of the braces, e.g. "registry=\"local\",status=\"200\"". */
#ifndef SERVER_METRICS_H
#define SERVER_METRICS_H

#include <stddef.h>

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

/* Declares a metric (once, at start-up) with its help text. */
void	metrics_declare(const char *name, enum metric_type, const char *help);
void	metrics_add(const char *name, const char *labels, double v);
void	metrics_set(const char *name, const char *labels, double v);
/* A histogram observation in seconds. */
void	metrics_observe(const char *name, const char *labels, double v);

/* A series found once and updated many times (the per-request ones):
 * NULL for an undeclared name, which the two calls ignore. Valid until
 * metrics_free. */
struct series;
struct series	*metrics_series(const char *name, const char *labels);
void		 metrics_series_add(struct series *, double v);
void		 metrics_series_observe(struct series *, double v);

/* Calls fn before each exposition, to refresh gauges. */
void	metrics_on_collect(void (*fn)(void *), void *arg);
/* The exposition text (new string). */
char	*metrics_render(size_t *len);
void	metrics_free(void);

#endif
