/* crated serve: loads the configuration, then serves it until a signal
 * (server/server.h). */
#include "server/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/crash.h"
#include "index/xmalloc.h"
#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

int
cmd_serve(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "offline", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*path = NULL, *data_dir = NULL, *level = NULL;
	const char	**listen = NULL;
	size_t		 nlisten = 0;
	bool		 offline = false;
	struct config	*cfg = NULL;
	struct server	 srv;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*cause = NULL;
	int		 ch, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:l:d:v:oh", opts, NULL)) !=
	    -1) {
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
		case 'o':
			offline = true;
			break;
		case 'h':
			cmd_usage(stdout);
			return 0;
		default:
			cmd_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		cmd_usage(stderr);
		return 2;
	}
	if (path == NULL)
		path = getenv("CRATED_CONFIG");
	r = config_load(path, &cfg, &cause);
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
	for (size_t i = 0; offline && i < cfg->nregs; i++)
		if (cfg->regs[i].upstream != NULL)
			cfg->regs[i].offline = true;
	if (log_level_parse(cfg->log_level, &lvl) != 0) {
		fprintf(stderr, "crated: --log-level: use debug, info, warn or"
		    " error\n");
		config_free(cfg);
		return 1;
	}
	log_format_parse(cfg->log_format, &fmt);
	log_setup(lvl, fmt);
	if (log_access_to(cfg->access_log) != 0) {
		fprintf(stderr, "crated: access_log %s: %s\n", cfg->access_log,
		    strerror(errno));
		config_free(cfg);
		return 1;
	}
	if (config_check(cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		config_free(cfg);
		return 1;
	}
	crash_setup();
	memset(&srv, 0, sizeof srv);
	srv.force_offline = offline;
	srv.force_log_level = level;
	srv.force_listen = nlisten > 0;
	srv.force_data_dir = data_dir;
	if (server_start(&srv, cfg, &cause) != 0) {
		log_error("%s", cause);
		free(cause);
		server_finish(&srv);
		config_free(cfg);
		return 1;
	}
	server_run(&srv);
	cfg = srv.cfg;		/* SIGHUP may have replaced it */
	server_finish(&srv);
	config_free(cfg);
	log_info("stopped");
	return 0;
}
