#include "server/policy/blocks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/xmalloc.h"

#define FILE_MAX	((size_t)16 << 20)

char *
blocks_path(const char *data_dir)
{
	return xasprintf("%s/policy/blocks.json", data_dir);
}

static void
block_clear(struct block *b)
{
	policy_rule_clear(&b->rule);
	free(b->registry);
	free(b->user);
}

static void
change_clear(struct block_change *c)
{
	free(c->op);
	free(c->rule);
	free(c->registry);
	free(c->reason);
	free(c->user);
}

void
blocks_free(struct blocks *bs)
{
	if (bs == NULL)
		return;
	for (size_t i = 0; i < bs->n; i++)
		block_clear(&bs->v[i]);
	free(bs->v);
	for (size_t i = 0; i < bs->nchanges; i++)
		change_clear(&bs->changes[i]);
	free(bs->changes);
	memset(bs, 0, sizeof *bs);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* One line of at most BLOCKS_REASON_MAX bytes, printable. */
static const char *
reason_check(const char *s)
{
	if (strlen(s) > BLOCKS_REASON_MAX)
		return "the reason is longer than 300 bytes";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "the reason must be one line of printable text";
	return NULL;
}

/* A string member that may be null or absent: the string, or NULL. */
static const char *
opt_string(json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
parse_block(json_t *o, size_t i, const char *file, struct block *b,
    char **cause)
{
	const char	*rule = NULL, *reg = "*", *reason, *user;
	json_t		*jr = NULL, *ju = NULL;
	json_int_t	 at = 0;
	json_error_t	 je;
	char		*why = NULL;

	if (json_unpack_ex(o, &je, 0, "{s:s, s?s, s?o, s?o, s?I}", "rule",
	    &rule, "registry", &reg, "reason", &jr, "user", &ju, "at",
	    &at) != 0) {
		*cause = xasprintf("%s: blocks[%zu]: %s", file, i, je.text);
		return -1;
	}
	if (policy_rule_parse(rule, &b->rule, &why) != 0) {
		*cause = xasprintf("%s: blocks[%zu]: \"%s\": %s", file, i, rule,
		    why ? why : "not name or name@REQ");
		free(why);
		return -1;
	}
	reason = opt_string(jr);
	user = opt_string(ju);
	free(b->rule.reason);
	b->rule.reason = dup_or_null(reason);
	b->registry = xstrdup(reg);
	b->user = dup_or_null(user);
	b->at = (time_t)at;
	return 0;
}

static int
parse_change(json_t *o, size_t i, const char *file, struct block_change *c,
    char **cause)
{
	const char	*op, *rule, *reg = "*";
	json_t		*jr = NULL, *ju = NULL;
	json_int_t	 seq = 0, at = 0;
	json_error_t	 je;

	if (json_unpack_ex(o, &je, 0, "{s:I, s:s, s:s, s?s, s?o, s?o, s?I}",
	    "seq", &seq, "op", &op, "rule", &rule, "registry", &reg, "reason",
	    &jr, "user", &ju, "at", &at) != 0) {
		*cause = xasprintf("%s: changes[%zu]: %s", file, i, je.text);
		return -1;
	}
	c->seq = (uint64_t)seq;
	c->op = xstrdup(op);
	c->rule = xstrdup(rule);
	c->registry = xstrdup(reg);
	c->reason = dup_or_null(opt_string(jr));
	c->user = dup_or_null(opt_string(ju));
	c->at = (time_t)at;
	return 0;
}

int
blocks_parse(const char *text, size_t len, const char *file,
    struct blocks *out, char **cause)
{
	json_t		*root, *list, *changes = NULL;
	json_int_t	 seq = 0;
	json_error_t	 je;
	size_t		 i;
	int		 r = -1;

	memset(out, 0, sizeof *out);
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL) {
		*cause = xasprintf("%s:%d: %s", file, je.line, je.text);
		return -1;
	}
	if (json_unpack_ex(root, &je, 0, "{s?I, s:o, s?o}", "seq", &seq,
	    "blocks", &list, "changes", &changes) != 0 ||
	    !json_is_array(list) || (changes != NULL &&
	    !json_is_array(changes))) {
		*cause = xasprintf("%s: not a blocks file (\"blocks\": [...]"
		    " expected)", file);
		goto done;
	}
	if (json_array_size(list) > BLOCKS_MAX) {
		*cause = xasprintf("%s: more than %d blocks", file, BLOCKS_MAX);
		goto done;
	}
	out->seq = (uint64_t)seq;
	out->v = xcalloc(json_array_size(list) + 1, sizeof *out->v);
	for (i = 0; i < json_array_size(list); i++, out->n++)
		if (parse_block(json_array_get(list, i), i, file, &out->v[i],
		    cause) != 0) {
			block_clear(&out->v[i]);
			goto done;
		}
	out->changes = xcalloc(json_array_size(changes) + 1,
	    sizeof *out->changes);
	for (i = 0; i < json_array_size(changes) && i < BLOCKS_CHANGES_MAX;
	    i++, out->nchanges++)
		if (parse_change(json_array_get(changes, i), i, file,
		    &out->changes[i], cause) != 0) {
			change_clear(&out->changes[i]);
			goto done;
		}
	r = 0;
done:
	json_decref(root);
	if (r != 0)
		blocks_free(out);
	return r;
}

int
blocks_read(const char *data_dir, struct blocks *out, char **cause)
{
	char		*path = blocks_path(data_dir), *buf = NULL;
	struct stat	 st;
	int		 fd, r = -1;
	ssize_t		 n;

	memset(out, 0, sizeof *out);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			r = 0;
		else
			*cause = xasprintf("%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) == -1 || (size_t)st.st_size > FILE_MAX) {
		*cause = xasprintf("%s: %s", path, (size_t)st.st_size >
		    FILE_MAX ? "larger than 16 MiB" : strerror(errno));
		goto done;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	if ((n = read(fd, buf, (size_t)st.st_size)) != st.st_size) {
		*cause = xasprintf("%s: %s", path, n < 0 ? strerror(errno) :
		    "short read");
		goto done;
	}
	r = blocks_parse(buf, (size_t)n, path, out, cause);
done:
	if (fd != -1)
		close(fd);
	free(buf);
	free(path);
	return r;
}

static json_t *
to_json(const struct blocks *bs)
{
	json_t	*list = json_array(), *changes = json_array();

	for (size_t i = 0; i < bs->n; i++) {
		const struct block	*b = &bs->v[i];

		json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s?,"
		    " s:I}", "rule", b->rule.text, "registry", b->registry,
		    "reason", b->rule.reason, "user", b->user, "at",
		    (json_int_t)b->at));
	}
	for (size_t i = 0; i < bs->nchanges; i++) {
		const struct block_change	*c = &bs->changes[i];

		json_array_append_new(changes, json_pack("{s:I, s:s, s:s, s:s,"
		    " s:s?, s:s?, s:I}", "seq", (json_int_t)c->seq, "op", c->op,
		    "rule", c->rule, "registry", c->registry, "reason",
		    c->reason, "user", c->user, "at", (json_int_t)c->at));
	}
	return json_pack("{s:I, s:o, s:o}", "seq", (json_int_t)bs->seq,
	    "blocks", list, "changes", changes);
}

/* All len bytes at p into fd (a short write is written on, not taken
 * for the whole): 0, or -1 with errno. */
static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t	n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes bs to the file: temp, fsync, rename, directory fsync. */
static int
write_blocks(const char *data_dir, const struct blocks *bs, char **cause)
{
	json_t	*j = to_json(bs);
	char	*text = json_dumps(j, JSON_INDENT(1)), *path, *tmp, *dir;
	size_t	 len = strlen(text);
	int	 fd, r = 0;

	json_decref(j);
	path = blocks_path(data_dir);
	dir = xasprintf("%s/policy", data_dir);
	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write_all(fd, text, len) != 0 ||
	    fsync(fd) == -1 || rename(tmp, path) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		unlink(tmp);
		r = -1;
	}
	if (fd != -1)
		close(fd);
	if (r == 0 && (fd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	free(text);
	free(tmp);
	free(dir);
	free(path);
	return r;
}

/* Takes DATA_DIR/policy/blocks.lock (made with its folder): the fd, or -1
 * with *cause. */
static int
lock(const char *data_dir, char **cause)
{
	char	*dir = xasprintf("%s/policy", data_dir), *p;
	int	 fd;

	if (mkdir(data_dir, 0755) == -1 && errno != EEXIST)
		goto err;
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		goto err;
	p = xasprintf("%s/blocks.lock", dir);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (fd == -1 || flock(fd, LOCK_EX) == -1) {
		if (fd != -1)
			close(fd);
		goto err;
	}
	free(dir);
	return fd;
err:
	*cause = xasprintf("%s: %s", dir, strerror(errno));
	free(dir);
	return -1;
}

/* The same crate ('-' and '_' alike, any case) and the same requirement
 * (spaces aside). */
static bool
same_rule(const struct policy_rule *a, const struct policy_rule *b)
{
	const char	*x = a->req ? a->req : "", *y = b->req ? b->req : "";
	size_t		 i, j;

	if (strlen(a->name) != strlen(b->name))
		return false;
	for (i = 0; a->name[i] != '\0'; i++) {
		char	ca = a->name[i] == '-' ? '_' : a->name[i];
		char	cb = b->name[i] == '-' ? '_' : b->name[i];

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return false;
	}
	for (i = j = 0;; i++, j++) {
		while (x[i] == ' ')
			i++;
		while (y[j] == ' ')
			j++;
		if (x[i] != y[j])
			return false;
		if (x[i] == '\0')
			return true;
	}
}

/* Appends a change (the oldest goes past BLOCKS_CHANGES_MAX). */
static void
note_change(struct blocks *bs, const char *op, const char *rule,
    const char *registry, const char *reason, const char *user, time_t now)
{
	struct block_change	*c;

	if (bs->nchanges == BLOCKS_CHANGES_MAX) {
		change_clear(&bs->changes[0]);
		memmove(bs->changes, bs->changes + 1, (bs->nchanges - 1) *
		    sizeof *bs->changes);
		bs->nchanges--;
	}
	bs->changes = xreallocarray(bs->changes, bs->nchanges + 1,
	    sizeof *bs->changes);
	c = &bs->changes[bs->nchanges++];
	c->seq = ++bs->seq;
	c->op = xstrdup(op);
	c->rule = xstrdup(rule);
	c->registry = xstrdup(registry);
	c->reason = dup_or_null(reason);
	c->user = dup_or_null(user);
	c->at = now;
}

int
blocks_add(const char *data_dir, const char *text, const char *registry,
    const char *reason, const char *user, time_t now, char **cause)
{
	struct policy_rule	 rule;
	struct blocks		 bs;
	struct block		*b = NULL;
	const char		*why;
	char			*c = NULL;
	int			 fd, r = -1;

	if (policy_rule_parse(text, &rule, &c) != 0) {
		*cause = xasprintf("\"%s\": %s", text, c ? c :
		    "not NAME or NAME@REQ");
		free(c);
		return -1;
	}
	if (reason == NULL || *reason == '\0' || (why = reason_check(reason))
	    != NULL) {
		*cause = xstrdup(reason == NULL || *reason == '\0' ? "give a"
		    " reason (--reason TEXT): it is what cargo shows" : why);
		policy_rule_clear(&rule);
		return -1;
	}
	if ((fd = lock(data_dir, cause)) == -1) {
		policy_rule_clear(&rule);
		return -1;
	}
	if (blocks_read(data_dir, &bs, cause) != 0)
		goto done;
	for (size_t i = 0; i < bs.n && b == NULL; i++)
		if (same_rule(&bs.v[i].rule, &rule) &&
		    strcmp(bs.v[i].registry, registry) == 0)
			b = &bs.v[i];
	if (b == NULL) {
		if (bs.n >= BLOCKS_MAX) {
			*cause = xasprintf("already %d blocks", BLOCKS_MAX);
			goto done;
		}
		bs.v = xreallocarray(bs.v, bs.n + 1, sizeof *bs.v);
		b = &bs.v[bs.n++];
		memset(b, 0, sizeof *b);
		b->registry = xstrdup(registry);
	} else {
		policy_rule_clear(&b->rule);
		free(b->user);
	}
	b->rule = rule;
	memset(&rule, 0, sizeof rule);
	free(b->rule.reason);
	b->rule.reason = xstrdup(reason);
	b->user = dup_or_null(user);
	b->at = now;
	note_change(&bs, "block", b->rule.text, registry, reason, user, now);
	r = write_blocks(data_dir, &bs, cause);
done:
	policy_rule_clear(&rule);
	blocks_free(&bs);
	close(fd);
	return r;
}

int
blocks_remove(const char *data_dir, const char *text, const char *registry,
    const char *user, time_t now, char **cause)
{
	struct policy_rule	 rule;
	struct blocks		 bs;
	size_t			 kept = 0, gone = 0;
	char			*c = NULL;
	int			 fd, r = -1;

	if (policy_rule_parse(text, &rule, &c) != 0) {
		*cause = xasprintf("\"%s\": %s", text, c ? c :
		    "not NAME or NAME@REQ");
		free(c);
		return -1;
	}
	if ((fd = lock(data_dir, cause)) == -1) {
		policy_rule_clear(&rule);
		return -1;
	}
	if (blocks_read(data_dir, &bs, cause) != 0)
		goto done;
	for (size_t i = 0; i < bs.n; i++) {
		struct block	*b = &bs.v[i];

		if (same_rule(&b->rule, &rule) && (registry == NULL ||
		    strcmp(b->registry, registry) == 0)) {
			note_change(&bs, "unblock", b->rule.text, b->registry,
			    NULL, user, now);
			block_clear(b);
			gone++;
		} else
			bs.v[kept++] = *b;
	}
	bs.n = kept;
	if (gone == 0) {
		*cause = xasprintf("no block of \"%s\"%s%s (crated policy"
		    " explain, or DATA_DIR/policy/blocks.json, lists them)",
		    text, registry ? " for registry " : "", registry ?
		    (strcmp(registry, "*") == 0 ? "* (every registry)" :
		    registry) : "");
		r = -ENOENT;
		goto done;
	}
	r = write_blocks(data_dir, &bs, cause);
done:
	policy_rule_clear(&rule);
	blocks_free(&bs);
	close(fd);
	return r;
}
