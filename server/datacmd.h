/* Commands that work on a data directory without serving it: export,
 * import and status. argv[0] is the command's name; each returns the exit
 * status. */
#ifndef SERVER_DATACMD_H
#define SERVER_DATACMD_H

int	export_main(int argc, char **argv);
int	import_main(int argc, char **argv);
int	status_main(int argc, char **argv);
int	token_main(int argc, char **argv);
int	gc_main(int argc, char **argv);

#endif
