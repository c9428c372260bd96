#include "server/web/assets.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#define ASSETS_MAX	8
#define HASH_HEX	12

static char		urls[ASSETS_MAX][100];
static char		hashed[ASSETS_MAX][80];
static pthread_once_t	once = PTHREAD_ONCE_INIT;

/* "style.css" and its hash as "style.HASH.css". */
static void
init(void)
{
	static const char	hex[] = "0123456789abcdef";

	for (size_t i = 0; i < ASSETS_MAX && assets_files[i].name; i++) {
		const struct asset_file	*a = &assets_files[i];
		unsigned char		 md[SHA256_DIGEST_LENGTH];
		char			 h[HASH_HEX + 1];
		const char		*dot = strrchr(a->name, '.');
		int			 stem = (int)(dot - a->name);

		SHA256(a->data, a->len, md);
		for (int j = 0; j < HASH_HEX / 2; j++) {
			h[2 * j] = hex[md[j] >> 4];
			h[2 * j + 1] = hex[md[j] & 15];
		}
		h[HASH_HEX] = '\0';
		snprintf(hashed[i], sizeof hashed[i], "%.*s.%s%s", stem,
		    a->name, h, dot);
		snprintf(urls[i], sizeof urls[i], "/-/static/%.80s", hashed[i]);
	}
}

const char *
assets_url(const char *name)
{
	pthread_once(&once, init);
	for (size_t i = 0; i < ASSETS_MAX && assets_files[i].name; i++)
		if (strcmp(assets_files[i].name, name) == 0)
			return urls[i];
	return NULL;
}

static const char *
ctype_of(const char *name)
{
	const char	*dot = strrchr(name, '.');

	if (dot != NULL && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (dot != NULL && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	return "application/octet-stream";
}

const struct asset_file *
assets_find(const char *file, const char **ctype, int *immutable)
{
	pthread_once(&once, init);
	for (size_t i = 0; i < ASSETS_MAX && assets_files[i].name; i++) {
		const struct asset_file	*a = &assets_files[i];

		if (strcmp(hashed[i], file) == 0 ||
		    strcmp(a->name, file) == 0) {
			*immutable = strcmp(hashed[i], file) == 0;
			*ctype = ctype_of(a->name);
			return a;
		}
	}
	return NULL;
}
