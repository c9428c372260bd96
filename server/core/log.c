#include "server/core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/xmalloc.h"

static enum log_level	 level = LOG_INFO;
static FILE		*access_out;	/* NULL: stderr */
static bool		 access_off;
static enum log_format	 format = LOG_TEXT;
static const char	*names[] = { "debug", "info", "warn", "error" };

void
log_setup(enum log_level l, enum log_format f)
{
	level = l;
	format = f;
}

int
log_access_to(const char *where)
{
	FILE	*f = NULL;

	if (strcmp(where, "stderr") != 0 && strcmp(where, "off") != 0) {
		if ((f = fopen(where, "a")) == NULL)
			return -1;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (access_out != NULL)
		fclose(access_out);
	access_out = f;
	access_off = strcmp(where, "off") == 0;
	return 0;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int
log_format_parse(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_JSON;
	else
		return -1;
	return 0;
}

static void
timestamp(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Writes one JSON object as a line to f; steals obj. */
static void
emit_json(FILE *f, json_t *obj)
{
	char	*s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (s != NULL) {
		fprintf(f, "%s\n", s);
		free(s);
	}
	json_decref(obj);
}

void
log_msg(enum log_level l, const char *fmt, ...)
{
	va_list	 ap;
	char	 ts[64], *msg;

	if (l < level)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	timestamp(ts, sizeof ts);
	if (format == LOG_JSON)
		emit_json(stderr, json_pack("{s:s, s:s, s:s}", "ts", ts,
		    "level", names[l], "msg", msg));
	else
		fprintf(stderr, "%s %s: %s\n", ts, names[l], msg);
	free(msg);
}

void
log_every(struct log_every *e, int interval, enum log_level l,
    const char *fmt, ...)
{
	struct timespec	 now;
	va_list		 ap;
	char		*msg;
	long		 secs;

	if (l < level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (long)(now.tv_sec - e->last.tv_sec);
	if (e->logged && secs < interval) {
		e->dropped++;
		return;
	}
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (e->dropped > 0)
		log_msg(l, "%s (%lu more like this in %ld s not logged)", msg,
		    e->dropped, secs);
	else
		log_msg(l, "%s", msg);
	free(msg);
	e->last = now;
	e->dropped = 0;
	e->logged = true;
}

void
log_access(const struct log_access *a)
{
	char	 ts[64];
	FILE	*f = access_out != NULL ? access_out : stderr;

	if (level > LOG_INFO || access_off)
		return;
	timestamp(ts, sizeof ts);
	if (format == LOG_JSON) {
		emit_json(f, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I,"
		    " s:s?, s:s?}", "ts", ts, "level", "info", "peer", a->peer,
		    "method", a->method, "path", a->path, "status", a->status,
		    "bytes", (json_int_t)a->bytes, "usec", (json_int_t)a->usec,
		    "registry", a->registry, "user", a->user));
		return;
	}
	fprintf(f, "%s access: %s \"%s %s\" %d %zu %ldus %s %s\n", ts,
	    a->peer, a->method, a->path, a->status, a->bytes, a->usec,
	    a->registry != NULL ? a->registry : "-", a->user != NULL ?
	    a->user : "-");
}

void
log_fatal(const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	free(msg);
	exit(1);
}
