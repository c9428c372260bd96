/* crated prefetch: fill a mirror's cache from Cargo.lock files. */
#ifndef SERVER_PREFETCH_H
#define SERVER_PREFETCH_H

/* The command; argv[0] is "prefetch". Returns the exit status. */
int	prefetch_main(int argc, char **argv);

#endif
