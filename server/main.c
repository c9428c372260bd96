/* crated: a cargo sparse registry, pull-through mirror and upload relay. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/crash.h"
#include "index/xmalloc.h"
#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crated serve [--config FILE] [--listen ADDR]..."
	    " [--data-dir DIR]\n"
	    "                    [--log-level LEVEL]\n"
	    "       crated crash-points\n"
	    "       crated --help | --version\n"
	    "\n"
	    "crated serves cargo's sparse registry protocol: hosted registries"
	    " that\ncargo publishes to, each under /NAME/ (index URL"
	    " sparse+http://HOST:PORT/NAME/).\nWithout --config it serves one"
	    " hosted registry \"local\" from ./crated-data\non"
	    " 127.0.0.1:8080.\n\n");
	config_help(f);
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL, *data_dir = NULL, *level = NULL;
	const char	**listen = NULL;
	size_t		 nlisten = 0;
	struct config	*cfg = NULL;
	struct server	 srv;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*cause = NULL;
	int		 ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:l:d:v:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			listen = xreallocarray(listen, nlisten + 1,
			    sizeof *listen);
			listen[nlisten++] = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'v':
			level = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (path == NULL)
		path = getenv("CRATED_CONFIG");
	r = path ? config_load(path, &cfg, &cause) :
	    config_parse(NULL, 0, NULL, &cfg, &cause);
	if (r != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		free(listen);
		return 1;
	}
	if (nlisten > 0)
		config_set_listen(cfg, listen, nlisten);
	free(listen);
	if (data_dir != NULL)
		config_set_string(&cfg->data_dir, data_dir);
	if (level != NULL)
		config_set_string(&cfg->log_level, level);
	if (log_level_parse(cfg->log_level, &lvl) != 0) {
		fprintf(stderr, "crated: --log-level: use debug, info, warn or"
		    " error\n");
		config_free(cfg);
		return 1;
	}
	log_format_parse(cfg->log_format, &fmt);
	log_setup(lvl, fmt);
	if (config_check(cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	crash_setup();
	if (server_start(&srv, cfg, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		server_finish(&srv);
		config_free(cfg);
		return 1;
	}
	server_run(&srv);
	server_finish(&srv);
	config_free(cfg);
	log_info("stopped");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("crated %s\n", CRATED_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "crash-points") == 0) {
		for (int i = 0; crash_points[i] != NULL; i++)
			printf("%s\n", crash_points[i]);
		return 0;
	}
	fprintf(stderr, "crated: unknown command \"%s\"\n\n", argv[1]);
	usage(stderr);
	return 2;
}
