/* crated prefetch --toolchain: a toolchain's files fetched through a
 * crated's toolchain mirror (the same code that serves rustup), each
 * checked against its manifest, pinned there. cmd_prefetch.c calls it
 * with the loop and client it runs on. */
#ifndef SERVER_CMD_PREFETCH_TC_H
#define SERVER_CMD_PREFETCH_TC_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct upstream_client;

struct tc_prefetch {
	char	**toolchains;		/* --toolchain VERSION... */
	size_t	  ntoolchains;
	char	 *host;			/* --host, or NULL: this machine's */
	char	 *profile;		/* --profile, or NULL: default */
	char	**targets;		/* --target... */
	size_t	  ntargets;
	char	**components;		/* --component... */
	size_t	  ncomponents;
	char	 *mirror;		/* --toolchains NAME, or NULL */
	int	  jobs;
};

/* The toolchain mirror to use among mirrors (n of them): opts->mirror,
 * or the only one; NULL after saying why on stderr. */
const char	*prefetch_tc_mirror(const struct tc_prefetch *,
		    const char *const *mirrors, size_t n);
/* Fetches every toolchain asked for through server (base URL, no
 * trailing '/') and mirror, with a progress line on a terminal and a
 * summary on stdout. 0, or 1 when anything failed. *stopped: set by a
 * signal handler, ends the run. */
int		prefetch_tc_run(struct event_base *, struct upstream_client *,
		    const char *server, const char *mirror,
		    const struct tc_prefetch *, const int *stopped);
void		prefetch_tc_free(struct tc_prefetch *);

#endif
