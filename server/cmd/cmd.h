/* The commands of crated, `crated NAME`, one file each: cmd_NAME.c holds
 * cmd_NAME (tmux's cmd-*.c). argv[0] is the command's name; each returns
 * the exit status. main.c only picks one. What several commands share is
 * in cmd.c: the options of the data commands (those that work on a data
 * directory without serving it), their progress line, the usage text. */
#ifndef SERVER_CMD_CMD_H
#define SERVER_CMD_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct bundle_registry;
struct config;

int	cmd_serve(int argc, char **argv);
int	cmd_prefetch(int argc, char **argv);
int	cmd_export(int argc, char **argv);
int	cmd_import(int argc, char **argv);
int	cmd_status(int argc, char **argv);
int	cmd_token(int argc, char **argv);
int	cmd_gc(int argc, char **argv);
int	cmd_cargo_config(int argc, char **argv);
int	cmd_rustup_env(int argc, char **argv);
int	cmd_check(int argc, char **argv);
int	cmd_storage(int argc, char **argv);
/* cmd_policy.c: the supply-chain policy's commands. */
int	cmd_block(int argc, char **argv);
int	cmd_unblock(int argc, char **argv);
int	cmd_policy(int argc, char **argv);
int	cmd_advisories(int argc, char **argv);

/* Every command's usage, then the configuration keys, to f. */
void	cmd_usage(FILE *f);

/* The options of the data commands. cfg is owned by the caller once
 * cmd_parse_args succeeded (config_free). */
struct cmd_args {
	struct config	*cfg;
	const char	*registry;
	const char	*since;
	bool		 allow_hosted;		/* import only */
	bool		 allow_other_upstream;	/* import only */
	bool		 evict_named_dates;	/* gc only */
};

/* Parses --config, --data-dir, --registry, --since and (when usage names
 * them) the import options, and loads the configuration; -1 after saying
 * why on stderr (usage: the command's usage line). */
int	cmd_parse_args(int argc, char **argv, struct cmd_args *a,
	    const char *usage);

/* A bundle_progress callback: a line on stderr redrawn in place, only
 * when arg, a struct cmd_tty, is on (stderr is a terminal). */
struct cmd_tty {
	bool	on;
};
void	cmd_show(const char *what, size_t done, size_t total,
	    unsigned long long bytes, void *arg);

/* The base URL clients reach crated at (new, no trailing '/'): url,
 * else public_url, else the first listener's; NULL after saying why
 * (path: the configuration's, for the message). */
char	*cmd_base_url(const struct config *cfg, const char *url,
	    const char *path);

/* The configured registries and toolchain mirrors (nregs + ntcs of
 * them), for the bundle's record of each (new, ends with a zeroed entry;
 * the strings are cfg's). */
struct bundle_registry *cmd_configured(const struct config *cfg);

#endif
