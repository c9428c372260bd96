/* Sign-in sessions of the web pages: a random id (the cookie
 * crated_session) kept in memory only, mapping to the crated token that
 * signed in (checked again on every page, so a revoked token ends its
 * sessions) and to the session's CSRF token. At most SESSION_MAX at once
 * (the oldest goes first), each for SESSION_TTL seconds. Pure: OpenSSL
 * only. */
#ifndef SERVER_WEB_SESSION_H
#define SERVER_WEB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SESSION_MAX	4096
#define SESSION_TTL	(12 * 3600)
#define SESSION_ID_LEN	64		/* hex digits of 32 random bytes */

struct session {
	char	 id[SESSION_ID_LEN + 1];
	char	 csrf[SESSION_ID_LEN + 1];
	char	*token;			/* the crated token: memory only */
	time_t	 created;
	time_t	 expires;
};

struct sessions;

struct sessions		*sessions_create(void);
void			 sessions_free(struct sessions *);
/* A new session for token (copied); borrowed until the next call. */
const struct session	*sessions_new(struct sessions *, const char *token,
			    time_t now);
/* The live session whose id is id, or NULL. Borrowed as above. */
const struct session	*sessions_find(struct sessions *, const char *id,
			    time_t now);
/* Ends the session id (nothing when there is none). */
void			 sessions_end(struct sessions *, const char *id);
size_t			 sessions_count(const struct sessions *);

/* 32 random bytes as 64 hex digits and a NUL. 0, or -1 when the random
 * source fails. */
int	session_random(char out[SESSION_ID_LEN + 1]);
/* Whether given equals expected, in constant time; NULL or empty never
 * match. */
bool	session_token_equal(const char *expected, const char *given);
/* The value of cookie name in a Cookie header (may be NULL), copied into
 * out (size bytes); false when absent or too long. */
bool	session_cookie(const char *header, const char *name, char *out,
	    size_t size);

#endif
