/* The daemon: start-up, reload, signals, drain and the dispatch of each
 * request to its handler. The state it runs is in server/core/state.h. */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include "server/core/state.h"

/* Opens the data directory and registries and binds the listeners,
 * printing each bound address. 0, or -1 with *cause (new). */
int	server_start(struct server *, struct config *, char **cause);
void	server_run(struct server *);
void	server_finish(struct server *);

#endif
