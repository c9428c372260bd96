/* Logging: levels, text or JSON lines on stderr, one access-log line per
 * request. Never pass a credential to any of these. */
#ifndef SERVER_CORE_LOG_H
#define SERVER_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

enum log_format {
	LOG_TEXT,
	LOG_JSON,
};

void	log_setup(enum log_level level, enum log_format format);
/* Where access lines go: "stderr" (the default, with the error lines),
 * "off", or a file appended to (opened again on each call, so SIGHUP can
 * follow a rotation). 0, or -1 with errno. */
int	log_access_to(const char *where);
int	log_level_parse(const char *s, enum log_level *out);
int	log_format_parse(const char *s, enum log_format *out);

void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * For lines an attacker (or a storm) can repeat as fast as the loop
 * turns: one static struct log_every per kind of line, and at most one
 * line per interval seconds. The line logged after some were dropped
 * says how many ("(41 more like this in 10 s not logged)"). The caller
 * may keep the struct zeroed; the loop's thread only.
 */
struct log_every {
	struct timespec	last;		/* when one was last logged */
	unsigned long	dropped;	/* since then */
	bool		logged;		/* ever (the first always goes) */
};
void	log_every(struct log_every *, int interval, enum log_level,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct log_access {
	const char	*peer;
	const char	*method;
	const char	*path;		/* without the query string */
	const char	*registry;	/* or NULL */
	const char	*user;		/* token label, or NULL */
	int		 status;
	size_t		 bytes;		/* body bytes sent */
	long		 usec;
};
void	log_access(const struct log_access *a);

/* Fatal start-up error: logs and exits 1. */
void	log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2),
	    noreturn));

#endif
