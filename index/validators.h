/* HTTP validators for index files: ETag from the bytes sent, HTTP dates,
 * and the rule deciding a 304 (RFC 9110 §13.1). Pure. */
#ifndef INDEX_VALIDATORS_H
#define INDEX_VALIDATORS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* A quoted strong ETag, '"' + 32 hex digits of SHA-256 + '"' + NUL. */
#define ETAG_LEN	35

/* The ETag of exactly these bytes: every variant (identity, gzip, a
 * filtered view) has its own. out holds ETAG_LEN bytes. */
void	etag_of(const void *buf, size_t len, char *out);

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"; out holds 30 bytes. */
void	http_date_format(time_t t, char *out);
/* Parses an IMF-fixdate; -1 when s is not one. */
time_t	http_date_parse(const char *s);

/* True when the client's validators say its copy is current, so the
 * answer is 304: If-None-Match, when present, decides alone (a list of
 * entity tags, weak ones compared weakly, or "*"); otherwise
 * If-Modified-Since matches when last_modified is not after it. NULL
 * headers are absent ones. */
bool	validators_not_modified(const char *if_none_match,
	    const char *if_modified_since, const char *etag,
	    time_t last_modified);

#endif
