#include "server/metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/xmalloc.h"

/* Histogram buckets, in seconds: 100 µs to 30 s. */
static const double	bounds[] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
			    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
			    5, 10, 30 };
#define NBOUNDS	(sizeof bounds / sizeof bounds[0])

struct family {
	char			*name;
	char			*help;
	enum metric_type	 type;
	struct family		*next;
};

struct series {
	struct family	*f;
	char		*labels;
	double		 value;			/* counter, gauge; sum */
	uint64_t	 count;			/* histogram */
	uint64_t	 buckets[NBOUNDS];
	struct series	*next;			/* hash chain */
	struct series	*order;			/* all series, newest first */
};

#define NCHAINS	512

static struct family	*families;
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

static struct family *
family(const char *name)
{
	for (struct family *f = families; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

void
metrics_declare(const char *name, enum metric_type type, const char *help)
{
	struct family	*f;

	if (family(name) != NULL)
		return;
	f = xcalloc(1, sizeof *f);
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->type = type;
	f->next = families;
	families = f;
}

/* The series of name{labels}, made on first use; NULL for an undeclared
 * name (a programming error, so it is ignored, not fatal). */
static struct series *
series(const char *name, const char *labels)
{
	uint32_t	 h = hash(name, labels) % NCHAINS;
	struct series	*s;
	struct family	*f;

	for (s = chains[h]; s != NULL; s = s->next)
		if (strcmp(s->labels, labels) == 0 && strcmp(s->f->name, name)
		    == 0)
			return s;
	if ((f = family(name)) == NULL)
		return NULL;
	s = xcalloc(1, sizeof *s);
	s->f = f;
	s->labels = xstrdup(labels);
	s->next = chains[h];
	chains[h] = s;
	s->order = all;
	all = s;
	return s;
}

struct series *
metrics_series(const char *name, const char *labels)
{
	return series(name, labels);
}

void
metrics_series_add(struct series *s, double v)
{
	if (s != NULL)
		s->value += v;
}

void
metrics_add(const char *name, const char *labels, double v)
{
	metrics_series_add(series(name, labels), v);
}

void
metrics_set(const char *name, const char *labels, double v)
{
	struct series	*s = series(name, labels);

	if (s != NULL)
		s->value = v;
}

void
metrics_observe(const char *name, const char *labels, double v)
{
	metrics_series_observe(series(name, labels), v);
}

void
metrics_series_observe(struct series *s, double v)
{
	if (s == NULL)
		return;
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
	for (struct family *fa = families; fa != NULL; fa = fa->next) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fa->name, fa->help,
		    fa->name, fa->type == METRIC_COUNTER ? "counter" :
		    fa->type == METRIC_GAUGE ? "gauge" : "histogram");
		for (struct series *s = all; s != NULL; s = s->order) {
			const char	*sep = s->labels[0] ? "," : "";

			if (s->f != fa)
				continue;
			if (fa->type != METRIC_HISTOGRAM) {
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
	struct family	*f, *fn;

	for (s = all; s != NULL; s = sn) {
		sn = s->order;
		free(s->labels);
		free(s);
	}
	for (f = families; f != NULL; f = fn) {
		fn = f->next;
		free(f->name);
		free(f->help);
		free(f);
	}
	memset(chains, 0, sizeof chains);
	all = NULL;
	families = NULL;
}
