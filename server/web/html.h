/* Building HTML: a growing buffer where every value goes in escaped
 * unless the caller says it is markup. Pure: no event loop. */
#ifndef SERVER_WEB_HTML_H
#define SERVER_WEB_HTML_H

#include <stddef.h>

struct html {
	char	*buf;		/* NUL-terminated */
	size_t	 len;
	size_t	 cap;
};

void	html_init(struct html *);
void	html_finish(struct html *);
/* The bytes, now the caller's (new); the builder is empty afterwards. */
char	*html_take(struct html *, size_t *len);

/* Markup, as it is (a literal of the caller's, never a value). */
void	html_raw(struct html *, const char *);
void	html_rawn(struct html *, const char *, size_t);
/* Text or an attribute value, escaped: & < > " ' become entities, and
 * bytes below 0x20 but tab, newline and CR are dropped. NULL: nothing. */
void	html_text(struct html *, const char *);
void	html_textn(struct html *, const char *, size_t);
/* A query-string or path component, percent-encoded (then escaped). */
void	html_url(struct html *, const char *);
/*
 * Markup with values: fmt is markup; each %s is a value, escaped as
 * html_text; %R a string of markup put as it is; %u an unsigned, %d an
 * int, %z a size_t, %L a long long, %% a percent sign. Nothing else.
 */
void	html_put(struct html *, const char *fmt, ...);

/* The escaped form of s (new), for tests and small uses. */
char	*html_escape(const char *s);

#endif
