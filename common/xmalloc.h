/* Allocation wrappers: out of memory aborts the process (tmux xmalloc.c).
 * Bad input never aborts; only exhaustion does. */
#ifndef COMMON_XMALLOC_H
#define COMMON_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* New string, printf-formatted. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));
/* A library that allocates for itself (libcrypto, zlib, libarchive,
 * jansson's dumps) ran out of memory in what: aborts as the wrappers do.
 * abort() is called in this file only, so exhaustion ends one way. */
void	 xoom(const char *what) __attribute__((noreturn));

#endif
