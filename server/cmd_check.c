#include "server/cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/config.h"
#include "server/log.h"
#include "server/probe.h"

/* crated check: the configuration, then every upstream probed (its URL
 * and credential), one line per registry; 1 on any failure, as nginx -t. */
int
cmd_check(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = getenv("CRATED_CONFIG");
	struct config	*cfg;
	char		*cause = NULL;
	int		 ch, failures;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c') {
			fprintf(stderr, "usage: crated check [--config"
			    " FILE]\n");
			return 2;
		}
		path = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: crated check [--config FILE]\n");
		return 2;
	}
	if (config_load(path, &cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		return 1;
	}
	if (config_check(cfg, &cause) != 0) {
		printf("crated check: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	log_setup(LOG_ERROR, LOG_TEXT);
	failures = probe_check_all(cfg, stdout);
	printf("crated check: configuration %s %s\n", path ? path :
	    "(built-in defaults)", failures ? "has failures" : "is ok");
	config_free(cfg);
	return failures ? 1 : 0;
}
