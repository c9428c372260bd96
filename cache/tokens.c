#include "cache/tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/xmalloc.h"

#define TOKENS_FILE	"tokens.json"
#define TOKENS_MAX	(4u << 20)

static const char	*scopes[] = { "read", "publish", "yank", "admin" };

int
scope_parse(const char *s, enum scope *out)
{
	for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++)
		if (strcmp(s, scopes[i]) == 0) {
			*out = (enum scope)i;
			return 0;
		}
	return -1;
}

const char *
scope_name(enum scope s)
{
	return scopes[s];
}

bool
scope_allows(enum scope have, enum scope need)
{
	return have == SCOPE_ADMIN || need == SCOPE_READ || have == need;
}

static void
hash_of(const char *s, unsigned char *out)
{
	unsigned int	n;

	EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

static void
to_hex(const unsigned char *b, size_t n, char *out)
{
	static const char	hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
from_hex(const char *s, unsigned char *out, size_t n)
{
	if (s == NULL || strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned int	v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
token_free(struct token *t)
{
	free(t->id);
	free(t->label);
	free(t->registry);
	free(t->crates);
}

void
tokens_finish(struct tokens *t)
{
	for (size_t i = 0; i < t->n; i++)
		token_free(&t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

static char *
path_of(const char *data_dir)
{
	return xasprintf("%s/%s", data_dir, TOKENS_FILE);
}

/* Parses the file's text into t (which must be empty). */
static int
parse(const char *text, size_t len, struct tokens *t, char **cause)
{
	json_error_t	 err;
	json_t		*j = json_loadb(text, len, 0, &err), *list, *v;
	size_t		 i;

	list = json_object_get(j, "tokens");
	if (!json_is_array(list)) {
		*cause = xasprintf("%s: not a crated tokens file%s%s",
		    TOKENS_FILE, j ? "" : ": ", j ? "" : err.text);
		json_decref(j);
		return -1;
	}
	t->v = xcalloc(json_array_size(list), sizeof *t->v);
	json_array_foreach(list, i, v) {
		struct token	*k = &t->v[t->n];
		const char	*id, *label, *reg, *scope, *crates, *hash;

		id = json_string_value(json_object_get(v, "id"));
		label = json_string_value(json_object_get(v, "label"));
		reg = json_string_value(json_object_get(v, "registry"));
		scope = json_string_value(json_object_get(v, "scope"));
		crates = json_string_value(json_object_get(v, "crates"));
		hash = json_string_value(json_object_get(v, "sha256"));
		if (id == NULL || label == NULL || reg == NULL || scope ==
		    NULL || scope_parse(scope, &k->scope) != 0 ||
		    from_hex(hash, k->hash, 32) != 0) {
			*cause = xasprintf("%s: entry %zu is damaged",
			    TOKENS_FILE, i + 1);
			json_decref(j);
			tokens_finish(t);
			return -1;
		}
		k->id = xstrdup(id);
		k->label = xstrdup(label);
		k->registry = xstrdup(reg);
		k->crates = crates ? xstrdup(crates) : NULL;
		k->created = (time_t)json_integer_value(json_object_get(v,
		    "created"));
		k->expires = (time_t)json_integer_value(json_object_get(v,
		    "expires"));
		t->n++;
	}
	json_decref(j);
	return 0;
}

static int
read_file(const char *path, char **buf, size_t *len, struct stat *st)
{
	FILE	*f = fopen(path, "r");

	if (f == NULL)
		return -errno;
	if (fstat(fileno(f), st) == -1 || st->st_size > TOKENS_MAX) {
		fclose(f);
		return -EFBIG;
	}
	*buf = xmalloc((size_t)st->st_size + 1);
	*len = fread(*buf, 1, (size_t)st->st_size, f);
	(*buf)[*len] = '\0';
	fclose(f);
	return 0;
}

int
tokens_load(const char *data_dir, struct tokens *t, char **cause)
{
	struct stat	 st;
	char		*path = path_of(data_dir), *buf = NULL;
	size_t		 len = 0;
	int		 r;

	memset(t, 0, sizeof *t);
	t->checked = time(NULL);
	r = read_file(path, &buf, &len, &st);
	free(path);
	if (r == -ENOENT)
		return 0;
	if (r != 0) {
		*cause = xasprintf("%s/%s: %s", data_dir, TOKENS_FILE,
		    strerror(-r));
		return -1;
	}
	r = parse(buf, len, t, cause);
	free(buf);
	t->mtime = st.st_mtime;
	t->mtime_ns = st.st_mtim.tv_nsec;
	t->size = st.st_size;
	t->ino = st.st_ino;
	return r;
}

void
tokens_refresh(const char *data_dir, struct tokens *t)
{
	struct stat	 st;
	struct tokens	 fresh;
	char		*path, *cause = NULL;
	time_t		 now = time(NULL);
	int		 r;

	if (now == t->checked)
		return;
	t->checked = now;
	path = path_of(data_dir);
	r = stat(path, &st);
	free(path);
	if (r == -1) {
		if (errno == ENOENT && t->ino != 0) {
			tokens_finish(t);
			t->ino = 0;
		}
		return;
	}
	if (st.st_ino == t->ino && st.st_mtime == t->mtime &&
	    st.st_mtim.tv_nsec == t->mtime_ns && st.st_size == t->size)
		return;
	if (tokens_load(data_dir, &fresh, &cause) != 0) {
		fprintf(stderr, "crated: keeping the previous tokens: %s\n",
		    cause);
		free(cause);
		return;
	}
	tokens_finish(t);
	*t = fresh;
}

void
tokens_refresh_now(const char *data_dir, struct tokens *t)
{
	t->checked = 0;
	tokens_refresh(data_dir, t);
}

const struct token *
tokens_check(const struct tokens *t, const char *value, const char *registry,
    time_t now)
{
	unsigned char		 h[32];
	const struct token	*hit = NULL;

	if (value == NULL)
		return NULL;
	if (strncasecmp(value, "Bearer ", 7) == 0)
		value += 7;
	if (strncmp(value, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return NULL;
	hash_of(value, h);
	/* Every stored hash is compared, in constant time. */
	for (size_t i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(h, t->v[i].hash, 32) == 0)
			hit = &t->v[i];
	if (hit == NULL || (hit->expires != 0 && now >= hit->expires) ||
	    (strcmp(hit->registry, "*") != 0 &&
	    strcmp(hit->registry, registry) != 0))
		return NULL;
	return hit;
}

/* Rewrites the file with t, atomically. */
static int
save(const char *data_dir, const struct tokens *t, char **cause)
{
	json_t	*list = json_array();
	char	*text, *path = path_of(data_dir), *tmp;
	int	 fd, r = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct token	*k = &t->v[i];
		char			 hex[65];

		to_hex(k->hash, 32, hex);
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s,"
		    " s:s?, s:I, s:I, s:s}", "id", k->id, "label", k->label,
		    "registry", k->registry, "scope", scope_name(k->scope),
		    "crates", k->crates, "created", (json_int_t)k->created,
		    "expires", (json_int_t)k->expires, "sha256", hex));
	}
	list = json_pack("{s:o}", "tokens", list);
	text = json_dumps(list, JSON_INDENT(1));
	json_decref(list);
	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)
	    || fsync(fd) == -1 || rename(tmp, path) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		unlink(tmp);
		r = -1;
	}
	if (fd != -1)
		close(fd);
	if (r == 0 && (fd = open(data_dir, O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(text);
	free(tmp);
	free(path);
	return r;
}

/* Runs a read-modify-write of the file under data_dir/tokens.lock. */
static int
locked(const char *data_dir, char **cause)
{
	char	*p = xasprintf("%s/tokens.lock", data_dir);
	int	 fd;

	mkdir(data_dir, 0755);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(p);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		*cause = xasprintf("%s/tokens.lock: %s", data_dir,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
tokens_create(const char *data_dir, const char *label, const char *registry,
    enum scope scope, const char *crates, int expires_days, bool same_owner,
    char **secret, char **id, char **cause)
{
	struct tokens	 t;
	struct token	*k;
	unsigned char	 raw[32], rid[4];
	char		 b64[64], hex[9];
	int		 lock, r;

	if ((lock = locked(data_dir, cause)) == -1)
		return -1;
	if (tokens_load(data_dir, &t, cause) != 0) {
		close(lock);
		return -1;
	}
	/* A label is who the token is: the owner it becomes. Another token
	 * with the same label acts as that owner: only when asked for. */
	for (size_t i = 0; i < t.n && !same_owner; i++) {
		if (strcmp(t.v[i].label, label) != 0)
			continue;
		*cause = xasprintf("a token labelled `%s` already exists (%s,"
		    " registry %s); labels are crate owners, so a second one"
		    " would own all of `%s`'s crates: choose another --name,"
		    " revoke %s first (`crated token revoke %s`), or give"
		    " --same-owner if it is for the same owner", label,
		    t.v[i].id, t.v[i].registry, label, t.v[i].id, t.v[i].id);
		tokens_finish(&t);
		close(lock);
		return -1;
	}
	if (RAND_bytes(raw, sizeof raw) != 1 || RAND_bytes(rid, 4) != 1) {
		*cause = xstrdup("OpenSSL's random generator failed");
		tokens_finish(&t);
		close(lock);
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof raw);
	for (char *p = b64; *p != '\0'; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	b64[strcspn(b64, "=")] = '\0';
	to_hex(rid, 4, hex);
	*secret = xasprintf("%s%s", TOKEN_PREFIX, b64);
	*id = xasprintf("t%s", hex);
	t.v = xreallocarray(t.v, t.n + 1, sizeof *t.v);
	k = &t.v[t.n++];
	memset(k, 0, sizeof *k);
	k->id = xstrdup(*id);
	k->label = xstrdup(label);
	k->registry = xstrdup(registry);
	k->scope = scope;
	k->crates = crates ? xstrdup(crates) : NULL;
	k->created = time(NULL);
	k->expires = expires_days > 0 ? k->created + (time_t)expires_days *
	    86400 : 0;
	hash_of(*secret, k->hash);
	r = save(data_dir, &t, cause);
	tokens_finish(&t);
	close(lock);
	if (r != 0) {
		free(*secret);
		free(*id);
	}
	return r;
}

int
tokens_revoke(const char *data_dir, const char *which, size_t *n,
    char **cause)
{
	struct tokens	t;
	size_t		kept = 0;
	int		lock, r;

	*n = 0;
	if ((lock = locked(data_dir, cause)) == -1)
		return -1;
	if (tokens_load(data_dir, &t, cause) != 0) {
		close(lock);
		return -1;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (strcmp(t.v[i].id, which) == 0 ||
		    strcmp(t.v[i].label, which) == 0) {
			token_free(&t.v[i]);
			(*n)++;
		} else
			t.v[kept++] = t.v[i];
	}
	t.n = kept;
	r = *n > 0 ? save(data_dir, &t, cause) : 0;
	tokens_finish(&t);
	close(lock);
	return r;
}
