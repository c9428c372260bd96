#include "server/upstream/credential.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/xmalloc.h"
#include "server/core/config.h"

char *
credential_setting(const struct registry_config *c)
{
	if (c->upstream_token_env != NULL)
		return xasprintf("upstream_token_env = \"%s\"",
		    c->upstream_token_env);
	if (c->upstream_token_file != NULL)
		return xasprintf("upstream_token_file = \"%s\"",
		    c->upstream_token_file);
	if (c->upstream_token_command != NULL)
		return xstrdup("upstream_token_command");
	if (c->upstream_pat_env != NULL)
		return xasprintf("upstream_pat_env = \"%s\"",
		    c->upstream_pat_env);
	if (c->upstream_pat_file != NULL)
		return xasprintf("upstream_pat_file = \"%s\"",
		    c->upstream_pat_file);
	return NULL;
}

char *
credential_pat_basic(const char *pat)
{
	char		*plain = xasprintf("PAT:%s", pat), *out;
	size_t		 n = strlen(plain);
	unsigned char	*b64 = xmalloc(4 * ((n + 2) / 3) + 1);

	/* EVP_EncodeBlock writes one line, never wrapped, '='-padded. */
	EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)n);
	out = xasprintf("Basic %s", b64);
	OPENSSL_cleanse(plain, n);
	free(plain);
	free(b64);
	return out;
}

char *
credential_clean(char *t)
{
	size_t	n;

	if (t == NULL)
		return NULL;
	t[strcspn(t, "\r\n")] = '\0';
	n = strlen(t);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		t[--n] = '\0';
	if (n == 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* The first 8 KiB of a file, or NULL with errno. */
static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "r");
	char	 buf[8192];
	size_t	 n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	errno = 0;
	return xstrdup(buf);
}

char *
credential_command(const char *cmd)
{
	FILE	*p = popen(cmd, "r");
	char	 buf[8192];
	size_t	 n;

	if (p == NULL)
		return NULL;
	n = fread(buf, 1, sizeof buf - 1, p);
	buf[n] = '\0';
	if (pclose(p) != 0)
		return NULL;
	return xstrdup(buf);
}

int
credential_read(const struct registry_config *c, char **value,
    char **cause)
{
	const char	*env = c->upstream_token_env ? c->upstream_token_env :
			    c->upstream_pat_env;
	const char	*file = c->upstream_token_file ? c->upstream_token_file
			    : c->upstream_pat_file;
	char		*v = NULL, *setting = credential_setting(c);

	*value = NULL;
	if (setting == NULL)
		return 0;
	errno = 0;
	if (env != NULL)
		v = credential_clean(getenv(env) ? xstrdup(getenv(env)) : NULL);
	else if (file != NULL)
		v = credential_clean(slurp(file));
	else
		v = credential_clean(credential_command(
		    c->upstream_token_command));
	if (v == NULL) {
		*cause = xasprintf("%s: %s", setting, env ? "the variable is"
		    " empty or unset" : file ? (errno ? strerror(errno) :
		    "the file is empty") : "the command failed or printed"
		    " nothing");
		free(setting);
		return -1;
	}
	free(setting);
	if (c->upstream_pat_env != NULL || c->upstream_pat_file != NULL) {
		char	*basic = credential_pat_basic(v);

		OPENSSL_cleanse(v, strlen(v));
		free(v);
		v = basic;
	}
	*value = v;
	return 0;
}

