/* crated serve: loads the configuration, then serves it until a signal
 * (server/server.h). */
#include "server/cmd/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/crash.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/server.h"

/* The command line; --listen may come more than once. */
struct serve_args {
	const char	*path, *data_dir, *level;
	const char	**listen;
	size_t		 nlisten;
	bool		 offline;
};

/* -1 to go on, or the exit status when the command ends here (--help, a
 * bad option). */
static int
parse_options(int argc, char **argv, struct serve_args *a)
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
	int				 ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:l:d:v:oh", opts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			a->path = optarg;
			break;
		case 'l':
			a->listen = xreallocarray(a->listen, a->nlisten + 1,
			    sizeof *a->listen);
			a->listen[a->nlisten++] = optarg;
			break;
		case 'd':
			a->data_dir = optarg;
			break;
		case 'v':
			a->level = optarg;
			break;
		case 'o':
			a->offline = true;
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
	return -1;
}

/* Loads the configuration, the command line over it, sets up logging and
 * checks it; 0, or 1 after saying why. a->listen is freed. */
static int
configure(struct serve_args *a, struct config **out)
{
	struct config	*cfg = NULL;
	enum log_level	 lvl;
	enum log_format	 fmt;
	char		*cause = NULL;
	int		 r;

	if (a->path == NULL)
		a->path = getenv("CRATED_CONFIG");
	r = config_load(a->path, &cfg, &cause);
	if (r != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		free(a->listen);
		return 1;
	}
	if (a->nlisten > 0)
		config_set_listen(cfg, a->listen, a->nlisten);
	free(a->listen);
	if (a->data_dir != NULL)
		config_set_string(&cfg->data_dir, a->data_dir);
	if (a->level != NULL)
		config_set_string(&cfg->log_level, a->level);
	for (size_t i = 0; a->offline && i < cfg->ntcs; i++)
		cfg->tcs[i].offline = true;
	for (size_t i = 0; a->offline && i < cfg->nregs; i++)
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
	*out = cfg;
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	struct serve_args	 a = { 0 };
	struct config		*cfg = NULL;
	struct server		 srv;
	char			*cause = NULL;
	int			 r;

	if ((r = parse_options(argc, argv, &a)) != -1) {
		free(a.listen);
		return r;
	}
	if (configure(&a, &cfg) != 0)
		return 1;
	crash_setup();
	memset(&srv, 0, sizeof srv);
	srv.force_offline = a.offline;
	srv.force_log_level = a.level;
	srv.force_listen = a.nlisten > 0;
	srv.force_data_dir = a.data_dir;
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
