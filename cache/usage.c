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

#include "index/xmalloc.h"

#define JOURNAL		"usage.log"
#define NCHAINS_MIN	1024

struct entry {
	char		*rel;
	uint64_t	 size;
	time_t		 used;
	bool		 pinned;
	bool		 dirty;		/* used since the last flush */
	struct entry	*next;
};

struct usage {
	char		 *root;
	int		  fd;		/* the journal, O_APPEND */
	struct entry	**chains;
	size_t		  nchains;
	size_t		  n;
	uint64_t	  bytes;
	size_t		  lines;	/* in the journal */
};

static uint64_t
hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct entry **
slot(struct usage *u, const char *rel)
{
	struct entry	**pp = &u->chains[hash(rel) % u->nchains];

	while (*pp != NULL && strcmp((*pp)->rel, rel) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
grow(struct usage *u)
{
	struct entry	**old = u->chains;
	size_t		  n = u->nchains;

	u->nchains *= 2;
	u->chains = xcalloc(u->nchains, sizeof *u->chains);
	for (size_t i = 0; i < n; i++)
		for (struct entry *e = old[i], *next; e != NULL; e = next) {
			size_t	b = hash(e->rel) % u->nchains;

			next = e->next;
			e->next = u->chains[b];
			u->chains[b] = e;
		}
	free(old);
}

static void
put(struct usage *u, const char *rel, uint64_t size, time_t used,
    bool pinned)
{
	struct entry	**pp = slot(u, rel), *e = *pp;

	if (e != NULL) {
		u->bytes -= e->size;
		e->size = size;
		e->used = used;
		e->pinned = e->pinned || pinned;
		u->bytes += size;
		return;
	}
	if (u->n >= u->nchains)
		grow(u);
	pp = slot(u, rel);
	e = xcalloc(1, sizeof *e);
	e->rel = xstrdup(rel);
	e->size = size;
	e->used = used;
	e->pinned = pinned;
	*pp = e;
	u->n++;
	u->bytes += size;
}

static void
drop(struct usage *u, const char *rel)
{
	struct entry	**pp = slot(u, rel), *e = *pp;

	if (e == NULL)
		return;
	*pp = e->next;
	u->n--;
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
		struct entry	*e = *slot(u, line + n);

		if (e != NULL && used > e->used)
			e->used = (time_t)used;
	} else if (strncmp(line, "p ", 2) == 0) {
		struct entry	*e = *slot(u, line + 2);

		if (e != NULL)
			e->pinned = true;
	} else if (strncmp(line, "d ", 2) == 0)
		drop(u, line + 2);
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
	int	 r = 0;

	if (f == NULL) {
		r = -errno;
		goto done;
	}
	for (size_t i = 0; i < u->nchains; i++)
		for (struct entry *e = u->chains[i]; e != NULL; e = e->next) {
			fprintf(f, "a %llu %lld %d %s\n", (unsigned long long)
			    e->size, (long long)e->used, e->pinned, e->rel);
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
	u->lines = u->n;
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
	u->nchains = NCHAINS_MIN;
	u->chains = xcalloc(u->nchains, sizeof *u->chains);
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
	for (size_t i = 0; i < u->nchains; i++)
		for (struct entry *e = u->chains[i], *next; e != NULL;
		    e = next) {
			next = e->next;
			free(e->rel);
			free(e);
		}
	if (u->fd != -1)
		close(u->fd);
	free(u->chains);
	free(u->root);
	free(u);
}

void
usage_added(struct usage *u, const char *rel, uint64_t size, bool pinned)
{
	time_t		 now = time(NULL);
	struct entry	*e = *slot(u, rel);

	if (e != NULL && e->size == size && (e->pinned || !pinned))
		return;
	put(u, rel, size, now, pinned);
	append(u, "a %llu %lld %d %s\n", (unsigned long long)size,
	    (long long)now, pinned, rel);
}

void
usage_used(struct usage *u, const char *rel, time_t now)
{
	struct entry	*e = *slot(u, rel);

	if (e != NULL && e->used != now) {
		e->used = now;
		e->dirty = true;
	}
}

void
usage_pin(struct usage *u, const char *rel)
{
	struct entry	*e = *slot(u, rel);

	if (e != NULL && !e->pinned) {
		e->pinned = true;
		append(u, "p %s\n", rel);
	}
}

void
usage_removed(struct usage *u, const char *rel)
{
	if (*slot(u, rel) == NULL)
		return;
	/* rel may be the entry's own string: write before dropping it. */
	append(u, "d %s\n", rel);
	drop(u, rel);
}

int
usage_flush(struct usage *u)
{
	if (u->lines > 2 * u->n + 1024)
		return compact(u);
	for (size_t i = 0; i < u->nchains; i++)
		for (struct entry *e = u->chains[i]; e != NULL; e = e->next)
			if (e->dirty) {
				append(u, "u %lld %s\n", (long long)e->used,
				    e->rel);
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
	return u->n;
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
	struct entry	**all;
	size_t		  n = 0, k = 0;

	*rels = NULL;
	if (u->bytes <= target)
		return 0;
	all = xcalloc(u->n ? u->n : 1, sizeof *all);
	for (size_t i = 0; i < u->nchains; i++)
		for (struct entry *e = u->chains[i]; e != NULL; e = e->next)
			if (!e->pinned)
				all[n++] = e;
	qsort(all, n, sizeof *all, older);
	*rels = xcalloc(n ? n : 1, sizeof **rels);
	for (size_t i = 0; i < n && u->bytes > target; i++) {
		(*rels)[k] = xstrdup(all[i]->rel);
		usage_removed(u, (*rels)[k++]);
	}
	free(all);
	return k;
}
