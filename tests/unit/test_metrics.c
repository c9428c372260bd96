/* server/core/metrics.c: the one table of metrics. Every id has a family with a
 * name, a type and help text; a part's families appear only once shown;
 * series keep their labels and sum what they are given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/metrics.h"
#include "tests/tap.h"

static size_t
count(const char *hay, const char *needle)
{
	size_t	n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

int
main(void)
{
	char	*text, *help;
	size_t	 len;

	metrics_add(METRIC_CACHE_HITS_TOTAL, "registry=\"m\"", 2);
	metrics_add(METRIC_CACHE_HITS_TOTAL, "registry=\"m\"", 3);
	metrics_add(METRIC_RELAYED_READS_TOTAL, "op=\"search\"", 1);
	text = metrics_render(&len);
	ok(strstr(text, "crated_cache_hits_total{registry=\"m\"} 5\n") != NULL,
	    "a series sums what it is given");
	ok(strstr(text, "crated_relayed_reads_total") == NULL,
	    "the relay's families stay out until the relay is shown");
	ok(strlen(text) == len, "the length is the text's");
	free(text);

	metrics_show(METRICS_MIRROR);
	metrics_show(METRICS_RELAY);
	metrics_show(METRICS_STORAGE);
	metrics_show(METRICS_POLICY);
	metrics_show(METRICS_TOOLCHAIN);
	text = metrics_render(&len);
	ok(count(text, "# HELP ") == METRIC_COUNT,
	    "every id has a family in the exposition (%zu of %d)",
	    count(text, "# HELP "), METRIC_COUNT);
	ok(count(text, "# TYPE ") == METRIC_COUNT, "every family has a type");
	ok(strstr(text, "(null)") == NULL, "no family without a name or help");
	ok(strstr(text, "crated_relayed_reads_total{op=\"search\"} 1\n") !=
	    NULL, "a shown part brings the series it already had");
	help = strstr(text, "# HELP crated_cache_hits_total ");
	ok(help != NULL && help[strlen("# HELP crated_cache_hits_total ")] !=
	    '\n', "help text is not empty");
	free(text);
	metrics_free();
	return done_testing();
}
