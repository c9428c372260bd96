#include "cache/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cache/store.h"
#include "common/sha256.h"
#include "common/xmalloc.h"
#include "index/distmanifest.h"

void
snapshot_rel(const char *rel, char *out)
{
	snprintf(out, SNAPSHOT_REL_MAX, "snapshots/%s", rel);
}

int
snapshot_write(struct store *s, const char *rel, struct snapshot_info *info,
    const void *const *bodies, const size_t *lens)
{
	json_t		*parts = json_array(), *j;
	char		*head, *buf, path[SNAPSHOT_REL_MAX];
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	size_t		 hlen, total, at;
	int		 r;

	for (size_t i = 0; i < info->nparts; i++) {
		EVP_Digest(bodies[i], lens[i], md, &mdlen, EVP_sha256(), NULL);
		hex_lower(md, 32, info->parts[i].sha256);
		info->parts[i].len = lens[i];
		json_array_append_new(parts, json_pack("{s:s, s:I, s:s}",
		    "path", info->parts[i].path, "length", (json_int_t)lens[i],
		    "sha256", info->parts[i].sha256));
	}
	j = json_pack("{s:i, s:s, s:s, s:I, s:o}", "snapshot", 1, "date",
	    info->date, "version", info->version, "fetched",
	    (json_int_t)info->fetched, "parts", parts);
	head = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	hlen = strlen(head) + 1;
	total = hlen;
	for (size_t i = 0; i < info->nparts; i++)
		total += lens[i];
	buf = xmalloc(total);
	memcpy(buf, head, hlen - 1);
	buf[hlen - 1] = '\n';
	at = hlen;
	for (size_t i = 0; i < info->nparts; i++) {
		info->parts[i].off = at;
		memcpy(buf + at, bodies[i], lens[i]);
		at += lens[i];
	}
	info->size = total;
	snapshot_rel(rel, path);
	r = hlen > SNAPSHOT_HEAD_MAX ? -E2BIG : store_write(s, path, buf,
	    total, NULL, NULL);
	free(buf);
	free(head);
	return r;
}

/* One part of the header's list into p. */
static int
read_part(json_t *v, struct snapshot_part *p)
{
	const char		*path = json_string_value(json_object_get(v,
				    "path"));
	const char		*sha = json_string_value(json_object_get(v,
				    "sha256"));
	json_t			*len = json_object_get(v, "length");
	struct dist_path	 dp;
	const char		*why;

	if (path == NULL || sha == NULL || !json_is_integer(len) ||
	    json_integer_value(len) < 0 || json_integer_value(len) >
	    SNAPSHOT_PART_MAX || dist_path_parse(path, &dp, &why) != 0 ||
	    strlen(sha) != 64 || dist_sha256_parse(sha, 64, p->sha256) != 0)
		return -1;
	snprintf(p->path, sizeof p->path, "%s", path);
	p->len = (uint64_t)json_integer_value(len);
	return 0;
}

/* The header's JSON (text, NUL-terminated) into info. */
static int
read_header(const char *text, struct snapshot_info *info)
{
	json_t		*j = json_loads(text, 0, NULL), *parts, *v;
	const char	*date, *version;
	size_t		 i;
	int		 r = -1;

	memset(info, 0, sizeof *info);
	parts = json_object_get(j, "parts");
	date = json_string_value(json_object_get(j, "date"));
	version = json_string_value(json_object_get(j, "version"));
	if (json_integer_value(json_object_get(j, "snapshot")) != 1 ||
	    !json_is_array(parts) || json_array_size(parts) == 0 ||
	    json_array_size(parts) > SNAPSHOT_PARTS_MAX || date == NULL ||
	    (date[0] != '\0' && !dist_is_date(date, strlen(date))) ||
	    version == NULL || strlen(version) >= sizeof info->version)
		goto done;
	memcpy(info->date, date, strlen(date) + 1);
	memcpy(info->version, version, strlen(version) + 1);
	info->fetched = json_integer_value(json_object_get(j, "fetched"));
	json_array_foreach(parts, i, v)
		if (read_part(v, &info->parts[info->nparts++]) != 0)
			goto done;
	r = 0;
done:
	json_decref(j);
	return r;
}

int
snapshot_read(int fd, struct snapshot_info *info, char **cause)
{
	char		 head[SNAPSHOT_HEAD_MAX + 1], *nl;
	struct stat	 st;
	ssize_t		 n;
	uint64_t	 at;

	if (fstat(fd, &st) != 0 || (n = pread(fd, head, SNAPSHOT_HEAD_MAX,
	    0)) < 0) {
		*cause = xasprintf("cannot read: %s", strerror(errno));
		return -1;
	}
	head[n] = '\0';
	if ((nl = memchr(head, '\n', (size_t)n)) == NULL) {
		*cause = xstrdup("no header line");
		return -1;
	}
	*nl = '\0';
	if (read_header(head, info) != 0) {
		*cause = xstrdup("the header is not a snapshot's");
		return -1;
	}
	at = (uint64_t)(nl - head) + 1;
	for (size_t i = 0; i < info->nparts; i++) {
		info->parts[i].off = at;
		at += info->parts[i].len;
	}
	info->size = (uint64_t)st.st_size;
	if (at != info->size) {
		*cause = xasprintf("%llu bytes, but its header describes %llu",
		    (unsigned long long)info->size, (unsigned long long)at);
		return -1;
	}
	return 0;
}

/* The SHA-256 of len bytes of fd from off, as hex. */
static int
hash_range(int fd, uint64_t off, uint64_t len, char *hex)
{
	EVP_MD_CTX	*c = EVP_MD_CTX_new();
	unsigned char	 buf[65536], md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	int		 r = 0;

	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	while (len > 0) {
		ssize_t	n = pread(fd, buf, len < sizeof buf ? (size_t)len :
			    sizeof buf, (off_t)off);

		if (n <= 0) {
			r = -1;
			break;
		}
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	hex_lower(md, 32, hex);
	return r;
}

int
snapshot_verify(int fd, const struct snapshot_info *info, char **cause)
{
	char	hex[65], named[65], text[512];
	ssize_t	n;

	for (size_t i = 0; i < info->nparts; i++) {
		const struct snapshot_part	*p = &info->parts[i];

		if (hash_range(fd, p->off, p->len, hex) != 0 || strcmp(hex,
		    p->sha256) != 0) {
			*cause = xasprintf("%s does not match its SHA-256 in"
			    " the snapshot's header", p->path);
			return -1;
		}
	}
	if (info->nparts != 2)
		return 0;
	n = pread(fd, text, info->parts[0].len < sizeof text ?
	    (size_t)info->parts[0].len : sizeof text, (off_t)
	    info->parts[0].off);
	if (n < 0 || dist_sha256_parse(text, (size_t)n, named) != 0 ||
	    strcmp(named, info->parts[1].sha256) != 0) {
		*cause = xasprintf("%s does not name the SHA-256 of %s (%s)",
		    info->parts[0].path, info->parts[1].path,
		    info->parts[1].sha256);
		return -1;
	}
	return 0;
}

const struct snapshot_part *
snapshot_part(const struct snapshot_info *info, const char *path)
{
	for (size_t i = 0; i < info->nparts; i++)
		if (strcmp(info->parts[i].path, path) == 0)
			return &info->parts[i];
	return NULL;
}
