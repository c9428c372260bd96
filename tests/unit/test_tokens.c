/* Tokens: a label (the crate owner a token stands for) is one token's. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/tokens.h"
#include "tests/tap.h"

static int
create_as(const char *dir, const char *label, const char *reg, bool same,
    char **cause)
{
	char	*secret = NULL, *id = NULL;
	int	 r;

	*cause = NULL;
	r = tokens_create(dir, label, reg, SCOPE_PUBLISH, NULL, 0, same,
	    &secret, &id, cause);
	free(secret);
	free(id);
	return r;
}

static int
create(const char *dir, const char *label, const char *reg, char **cause)
{
	return create_as(dir, label, reg, false, cause);
}

int
main(void)
{
	char		 dir[] = "/tmp/crated-test-tokens-XXXXXX", cmd[64];
	char		*cause = NULL;
	struct tokens	 t;
	size_t		 n = 0;

	if (mkdtemp(dir) == NULL)
		return 1;
	ok(create(dir, "alice", "local", &cause) == 0, "first alice");
	ok(create(dir, "alice", "local", &cause) == -1 && cause != NULL &&
	    strstr(cause, "`alice` already exists") != NULL,
	    "second alice refused: %s", cause ? cause : "(none)");
	free(cause);
	ok(create(dir, "alice", "other", &cause) == -1,
	    "alice on another registry refused too (owners are labels)");
	free(cause);
	ok(create(dir, "Alice", "local", &cause) == 0,
	    "another label is fine");
	ok(tokens_load(dir, &t, &cause) == 0 && t.n == 2,
	    "two tokens kept, not three");
	tokens_finish(&t);
	ok(create_as(dir, "alice", "local", true, &cause) == 0,
	    "a second alice when asked for (same_owner)");
	ok(tokens_revoke(dir, "alice", &n, &cause) == 0 && n == 2,
	    "revoke both alices");
	ok(create(dir, "alice", "local", &cause) == 0,
	    "alice again after revoking (rotation)");
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return done_testing();
}
