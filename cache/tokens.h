/* crated's own client tokens: data_dir/tokens.json holds, per token, its
 * label, registry, scope, crate glob, expiry and the SHA-256 of the token;
 * the token itself is shown once at creation and never stored. Checking
 * hashes the presented token and compares it with every stored hash in
 * constant time (CRYPTO_memcmp). Pure: no event loop. */
#ifndef CACHE_TOKENS_H
#define CACHE_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define TOKEN_PREFIX	"crated_"

enum scope {
	SCOPE_READ,	/* index, downloads, search, owner lists */
	SCOPE_PUBLISH,	/* reads, publish, owner changes */
	SCOPE_YANK,	/* reads, yank and unyank */
	SCOPE_ADMIN,	/* everything, on every crate, owner or not */
};

struct token {
	char		*id;		/* "t" + 8 hex digits, for revoke */
	char		*label;		/* who: becomes a crate owner */
	char		*registry;	/* a registry name, or "*" */
	enum scope	 scope;
	char		*crates;	/* fnmatch glob for writes, or NULL */
	time_t		 created;
	time_t		 expires;	/* 0: never */
	unsigned char	 hash[32];
};

struct tokens {
	struct token	*v;
	size_t		 n;
	/* What the file looked like when loaded (tokens_refresh). */
	time_t		 mtime;
	long		 mtime_ns;
	off_t		 size;
	ino_t		 ino;
	time_t		 checked;
};

int		 scope_parse(const char *s, enum scope *out);
const char	*scope_name(enum scope s);
/* True when a token of scope have may do what need asks. */
bool		 scope_allows(enum scope have, enum scope need);

/* Loads data_dir/tokens.json (none: no tokens). 0, or -1 with *cause. */
int	tokens_load(const char *data_dir, struct tokens *t, char **cause);
/* Reloads when the file changed since the last load, looking at most once
 * a second; keeps the old tokens when the new file is bad. */
void	tokens_refresh(const char *data_dir, struct tokens *t);
/* tokens_refresh without the once-a-second limit: a stat, and a reload
 * only when the file changed (for a token not found: one created a
 * moment ago works at once). */
void	tokens_refresh_now(const char *data_dir, struct tokens *t);
void	tokens_finish(struct tokens *t);

/* The token matching value ("crated_..." or "Bearer crated_...") for
 * registry, unexpired, or NULL. Borrowed until the next refresh. */
const struct token *tokens_check(const struct tokens *t, const char *value,
	    const char *registry, time_t now);

/* Creates a token and writes the file atomically (the caller holds no
 * lock: the file is rewritten whole with a rename). *secret (new) is the
 * token to show once. A label already in use is refused (labels are
 * crate owners) unless same_owner. 0, or -1 with *cause. */
int	tokens_create(const char *data_dir, const char *label,
	    const char *registry, enum scope scope, const char *crates,
	    int expires_days, bool same_owner, char **secret, char **id,
	    char **cause);
/* Removes the tokens whose id or label is which; *n gets how many. */
int	tokens_revoke(const char *data_dir, const char *which, size_t *n,
	    char **cause);

#endif
