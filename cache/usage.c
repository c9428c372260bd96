#include "cache/usage.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/lru.h"
#include "index/xmalloc.h"

#define JOURNAL		"usage.log"

struct entry {
	struct lru_node	 node;		/* by rel; its order is not used */
	char		*rel;
	uint64_t	 size;
	time_t		 used;
	bool		 pinned;
	bool		 dirty;		/* used since the last flush */
};

struct usage {
	char		*root;
	int		 fd;		/* the journal, O_APPEND */
	struct lru	 table;
	uint64_t	 bytes;
	size_t		 lines;		/* in the journal */
};

#define ENTRY(n)	lru_entry(n, struct entry, node)
/* Every entry of u as e (which the body must not remove). */
#define FOREACH(e, u)							\
	for (struct lru_node *fe_ = (u)->table.newest;			\
	    fe_ != NULL && ((e) = ENTRY(fe_), 1); fe_ = fe_->older)

static struct entry *
find(const struct usage *u, const char *rel)
{
	struct lru_node	*n = lru_find(&u->table, rel, lru_hash(rel));

	return n != NULL ? ENTRY(n) : NULL;
}

static void
put(struct usage *u, const char *rel, uint64_t size, time_t used,
    bool pinned)
{
	struct entry	*e = find(u, rel);

	if (e != NULL) {
		u->bytes -= e->size;
		e->size = size;
		e->used = used;
		e->pinned = e->pinned || pinned;
		u->bytes += size;
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->rel = xstrdup(rel);
	e->size = size;
	e->used = used;
	e->pinned = pinned;
	lru_add(&u->table, &e->node, e->rel, lru_hash(e->rel));
	u->bytes += size;
}

static void
drop(struct usage *u, struct entry *e)
{
	lru_remove(&u->table, &e->node);
	u->bytes -= e->size;
	free(e->rel);
	free(e);
}

/* Replays one journal line. Unknown or damaged lines are skipped: the
 * journal is advisory, the files are the truth. */
static void
replay(struct usage *u, char *line)
{
	unsigned long long	size;
	long long		used;
	int			pinned, n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "a %llu %lld %d %n", &size, &used, &pinned, &n) ==
	    3 && n > 0 && line[n] != '\0')
		put(u, line + n, size, (time_t)used, pinned != 0);
	else if (sscanf(line, "u %lld %n", &used, &n) == 1 && n > 0) {
		struct entry	*e = find(u, line + n);

		if (e != NULL && used > e->used)
			e->used = (time_t)used;
	} else if (strncmp(line, "p ", 2) == 0) {
		struct entry	*e = find(u, line + 2);

		if (e != NULL)
			e->pinned = true;
	} else if (strncmp(line, "d ", 2) == 0) {
		struct entry	*e = find(u, line + 2);

		if (e != NULL)
			drop(u, e);
	}
}

static void
append(struct usage *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
append(struct usage *u, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	if (u->fd != -1 && write(u->fd, line, strlen(line)) ==
	    (ssize_t)strlen(line))
		u->lines++;
	free(line);
}

/* Walks crates/ once, for a store that has no journal yet. */
static void
scan(struct usage *u, const char *dir, const char *rel, int depth)
{
	DIR		*d;
	struct dirent	*de;

	if (depth > 3 || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*p, *r;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		r = xasprintf("%s/%s", rel, de->d_name);
		if (lstat(p, &st) != 0)
			;	/* gone meanwhile */
		else if (S_ISDIR(st.st_mode))
			scan(u, p, r, depth + 1);
		else if (S_ISREG(st.st_mode))
			put(u, r, (uint64_t)st.st_size, st.st_mtime, false);
		free(p);
		free(r);
	}
	closedir(d);
}

/* Rewrites the journal with one line per live entry, atomically. */
static int
compact(struct usage *u)
{
	char	*path = xasprintf("%s/%s", u->root, JOURNAL);
	char	*tmp = xasprintf("%s/tmp/%s.%ld", u->root, JOURNAL,
		    (long)getpid());
	FILE	*f = fopen(tmp, "w");
	struct entry *e;
	int	 r = 0;

	if (f == NULL) {
		r = -errno;
		goto done;
	}
	FOREACH(e, u) {
		fprintf(f, "a %llu %lld %d %s\n", (unsigned long long)e->size,
		    (long long)e->used, e->pinned, e->rel);
		e->dirty = false;
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		r = -errno;
		unlink(tmp);
		goto done;
	}
	if (u->fd != -1)
		close(u->fd);
	u->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	u->lines = u->table.n;
done:
	free(path);
	free(tmp);
	return r;
}

int
usage_open(const char *root, struct usage **out, char **cause)
{
	struct usage	*u = xcalloc(1, sizeof *u);
	char		*path = xasprintf("%s/%s", root, JOURNAL), *line = NULL;
	const char	*what = "reopen it";
	size_t		 cap = 0;
	FILE		*f;

	u->root = xstrdup(root);
	lru_init(&u->table);
	u->fd = -1;
	if ((f = fopen(path, "r")) != NULL) {
		while (getline(&line, &cap, f) > 0) {
			replay(u, line);
			u->lines++;
		}
		free(line);
		fclose(f);
		u->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	} else {
		char	*crates = xasprintf("%s/crates", root);
		int	 r;

		scan(u, crates, "crates", 0);
		free(crates);
		what = "start it (through tmp/)";
		if ((r = compact(u)) != 0)
			errno = -r;
	}
	free(path);
	if (u->fd == -1) {
		*cause = xasprintf("%s/%s: cannot %s: %s", root, JOURNAL, what,
		    strerror(errno));
		usage_close(u);
		return -1;
	}
	*out = u;
	return 0;
}

void
usage_close(struct usage *u)
{
	if (u == NULL)
		return;
	usage_flush(u);
	while (u->table.newest != NULL)
		drop(u, ENTRY(u->table.newest));
	if (u->fd != -1)
		close(u->fd);
	lru_fini(&u->table);
	free(u->root);
	free(u);
}

void
usage_added(struct usage *u, const char *rel, uint64_t size, bool pinned)
{
	time_t		 now = time(NULL);
	struct entry	*e = find(u, rel);

	if (e != NULL && e->size == size && (e->pinned || !pinned))
		return;
	put(u, rel, size, now, pinned);
	append(u, "a %llu %lld %d %s\n", (unsigned long long)size,
	    (long long)now, pinned, rel);
}

void
usage_used(struct usage *u, const char *rel, time_t now)
{
	struct entry	*e = find(u, rel);

	if (e != NULL && e->used != now) {
		e->used = now;
		e->dirty = true;
	}
}

void
usage_pin(struct usage *u, const char *rel)
{
	struct entry	*e = find(u, rel);

	if (e != NULL && !e->pinned) {
		e->pinned = true;
		append(u, "p %s\n", rel);
	}
}

void
usage_removed(struct usage *u, const char *rel)
{
	struct entry	*e = find(u, rel);

	if (e == NULL)
		return;
	/* rel may be the entry's own string: write before dropping it. */
	append(u, "d %s\n", rel);
	drop(u, e);
}

int
usage_flush(struct usage *u)
{
	struct entry	*e;

	if (u->lines > 2 * u->table.n + 1024)
		return compact(u);
	FOREACH(e, u)
		if (e->dirty) {
			append(u, "u %lld %s\n", (long long)e->used, e->rel);
			e->dirty = false;
		}
	return 0;
}

uint64_t
usage_bytes(const struct usage *u)
{
	return u->bytes;
}

size_t
usage_files(const struct usage *u)
{
	return u->table.n;
}

static int
older(const void *a, const void *b)
{
	const struct entry	*x = *(struct entry *const *)a;
	const struct entry	*y = *(struct entry *const *)b;

	return x->used < y->used ? -1 : x->used > y->used;
}

size_t
usage_victims(struct usage *u, uint64_t target, char ***rels)
{
	struct entry	**all, *e;
	size_t		  n = 0, k = 0;

	*rels = NULL;
	if (u->bytes <= target)
		return 0;
	all = xcalloc(u->table.n ? u->table.n : 1, sizeof *all);
	FOREACH(e, u)
		if (!e->pinned)
			all[n++] = e;
	qsort(all, n, sizeof *all, older);
	*rels = xcalloc(n ? n : 1, sizeof **rels);
	for (size_t i = 0; i < n && u->bytes > target; i++) {
		(*rels)[k++] = xstrdup(all[i]->rel);
		append(u, "d %s\n", all[i]->rel);
		drop(u, all[i]);
	}
	free(all);
	return k;
}
