/* The upstream credential of a mirror, read the blocking way (at start,
 * on SIGHUP, on a worker): upstream_token_env, _file or _command sent as
 * written, or upstream_pat_env / _file, a bare Azure DevOps PAT sent as
 * Basic base64("PAT:" + pat). Values are never logged. */
#ifndef SERVER_UPSTREAM_CREDENTIAL_H
#define SERVER_UPSTREAM_CREDENTIAL_H

struct registry_config;

/* The credential setting as written in crated.toml, e.g.
 * upstream_token_env = "CORP_PAT". New string, or NULL when none. */
char	*credential_setting(const struct registry_config *);
/* 0 with *value (new, NULL when none is configured: an Authorization
 * value), or -1 with *cause (new), naming the setting. */
int	 credential_read(const struct registry_config *, char **value,
	    char **cause);
/* "Basic " + base64("PAT:" + pat), on one line. New. */
char	*credential_pat_basic(const char *pat);
/* The output of cmd run by the shell (at most 8 KiB), NULL when it failed.
 * New. */
char	*credential_command(const char *cmd);
/* Trims a credential: its first line, without trailing white space (a
 * header value holds no CR or LF). Steals t; NULL when nothing is left. */
char	*credential_clean(char *t);

#endif
