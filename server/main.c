/* crated: a cargo sparse registry, pull-through mirror and upload relay.
 * main picks the command; each is in server/cmd_NAME.c (server/cmd/cmd.h). */
#include <stdio.h>
#include <string.h>

#include "cache/crash.h"
#include "server/cmd/cmd.h"

/* A debugging aid: the names CRATED_CRASH_AT takes (cache/crash.h). */
static int
crash_points_list(int argc, char **argv)
{
	for (int i = 0; crash_points[i] != NULL; i++)
		printf("%s\n", crash_points[i]);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "serve", cmd_serve },
	{ "gc", cmd_gc },
	{ "token", cmd_token },
	{ "export", cmd_export },
	{ "import", cmd_import },
	{ "status", cmd_status },
	{ "prefetch", cmd_prefetch },
	{ "cargo-config", cmd_cargo_config },
	{ "rustup-env", cmd_rustup_env },
	{ "check", cmd_check },
	{ "storage", cmd_storage },
	{ "block", cmd_block },
	{ "unblock", cmd_unblock },
	{ "policy", cmd_policy },
	{ "advisories", cmd_advisories },
	{ "crash-points", crash_points_list },
};

int
main(int argc, char **argv)
{
	if (argc < 2) {
		cmd_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cmd_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("crated %s\n", CRATED_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "crated: unknown command \"%s\"\n\n", argv[1]);
	cmd_usage(stderr);
	return 2;
}
