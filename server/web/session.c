#include "server/web/session.h"

#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/xmalloc.h"

struct sessions {
	struct session	v[SESSION_MAX];
	size_t		n;
};

struct sessions *
sessions_create(void)
{
	return xcalloc(1, sizeof(struct sessions));
}

static void
clear(struct session *s)
{
	if (s->token != NULL) {
		OPENSSL_cleanse(s->token, strlen(s->token));
		free(s->token);
	}
	memset(s, 0, sizeof *s);
}

void
sessions_free(struct sessions *ss)
{
	if (ss == NULL)
		return;
	for (size_t i = 0; i < ss->n; i++)
		clear(&ss->v[i]);
	free(ss);
}

static void
drop(struct sessions *ss, size_t i)
{
	clear(&ss->v[i]);
	ss->v[i] = ss->v[--ss->n];
	memset(&ss->v[ss->n], 0, sizeof ss->v[ss->n]);
}

int
session_random(char out[SESSION_ID_LEN + 1])
{
	static const char	hex[] = "0123456789abcdef";
	unsigned char		b[SESSION_ID_LEN / 2];

	if (RAND_bytes(b, sizeof b) != 1)
		return -1;
	for (size_t i = 0; i < sizeof b; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[SESSION_ID_LEN] = '\0';
	OPENSSL_cleanse(b, sizeof b);
	return 0;
}

const struct session *
sessions_new(struct sessions *ss, const char *token, time_t now)
{
	struct session	*s;
	size_t		 oldest = 0;

	for (size_t i = ss->n; i-- > 0;)
		if (ss->v[i].expires <= now)
			drop(ss, i);
	if (ss->n == SESSION_MAX) {
		for (size_t i = 1; i < ss->n; i++)
			if (ss->v[i].created < ss->v[oldest].created)
				oldest = i;
		drop(ss, oldest);
	}
	s = &ss->v[ss->n];
	if (session_random(s->id) != 0 || session_random(s->csrf) != 0) {
		memset(s, 0, sizeof *s);
		return NULL;
	}
	s->token = xstrdup(token);
	s->created = now;
	s->expires = now + SESSION_TTL;
	ss->n++;
	return s;
}

static ssize_t
find(struct sessions *ss, const char *id)
{
	if (id == NULL || strlen(id) != SESSION_ID_LEN)
		return -1;
	for (size_t i = 0; i < ss->n; i++)
		if (CRYPTO_memcmp(ss->v[i].id, id, SESSION_ID_LEN) == 0)
			return (ssize_t)i;
	return -1;
}

const struct session *
sessions_find(struct sessions *ss, const char *id, time_t now)
{
	ssize_t	i = find(ss, id);

	if (i < 0)
		return NULL;
	if (ss->v[i].expires <= now) {
		drop(ss, (size_t)i);
		return NULL;
	}
	return &ss->v[i];
}

void
sessions_end(struct sessions *ss, const char *id)
{
	ssize_t	i = find(ss, id);

	if (i >= 0)
		drop(ss, (size_t)i);
}

size_t
sessions_count(const struct sessions *ss)
{
	return ss->n;
}

bool
session_token_equal(const char *expected, const char *given)
{
	size_t	n;

	if (expected == NULL || given == NULL || *expected == '\0')
		return false;
	n = strlen(expected);
	return strlen(given) == n && CRYPTO_memcmp(expected, given, n) == 0;
}

bool
session_cookie(const char *header, const char *name, char *out, size_t size)
{
	size_t	nlen = strlen(name);

	for (const char *p = header; p != NULL && *p != '\0';) {
		size_t	vlen;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = strcspn(p, ";");
			while (vlen > 0 && (p[vlen - 1] == ' ' ||
			    p[vlen - 1] == '\t'))
				vlen--;
			if (vlen >= size)
				return false;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = strchr(p, ';');
		p = p ? p + 1 : NULL;
	}
	return false;
}
