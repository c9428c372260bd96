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
#include "common/xmalloc.h"

#define JOURNAL		"usage.log"
#define PINS		"pins"
#define REL_MAX		255

struct entry {
	struct lru_node	 node;		/* by rel; its order is not used */
	char		*rel;
	uint64_t	 size;
	time_t		 used;
	bool		 pinned;
	bool		 dirty;		/* used since the last flush */
	bool		 seen;		/* found by a rescan */
};

struct usage {
	char		*root;
	int		 fd;		/* the journal, O_APPEND */
	struct lru	 table;
	uint64_t	 bytes;
	size_t		 lines;		/* in the journal */
	bool		 pins_dirty;	/* the pins file is behind */
	uint64_t	 gen;		/* changes of what usage_copy gives */
	char		*damage;	/* what usage_open repaired, or NULL */
	char		**tops;		/* the folders accounted ("crates") */
	size_t		 ntops;
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

	u->gen++;
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
	u->gen++;
	lru_remove(&u->table, &e->node);
	u->bytes -= e->size;
	free(e->rel);
	free(e);
}

/* A path as the store makes them: under one of u's folders (crates/...),
 * printable, no "..". */
static bool
valid_rel(const struct usage *u, const char *r)
{
	size_t	len = strlen(r), i;

	for (i = 0; i < u->ntops; i++) {
		size_t	n = strlen(u->tops[i]);

		if (len > n + 1 && strncmp(r, u->tops[i], n) == 0 &&
		    r[n] == '/')
			break;
	}
	if (i == u->ntops || len > REL_MAX || strstr(r, "..") != NULL)
		return false;
	for (; *r != '\0'; r++)
		if ((unsigned char)*r <= ' ' || (unsigned char)*r >= 0x7f)
			return false;
	return true;
}

/* Replays one journal line (len bytes, the newline included). False when
 * it does not parse: a torn write, garbage; usage_open then rescans. */
static bool
replay(struct usage *u, char *line, size_t len)
{
	unsigned long long	size;
	long long		used;
	int			pinned, n = 0;
	struct entry		*e;

	if (len < 2 || line[len - 1] != '\n' || strlen(line) != len)
		return false;
	line[len - 1] = '\0';
	if (line[0] == 'a' && sscanf(line, "a %llu %lld %d %n", &size, &used,
	    &pinned, &n) == 3 && n > 0 && valid_rel(u, line + n)) {
		put(u, line + n, size, (time_t)used, pinned != 0);
		return true;
	}
	if (line[0] == 'u' && sscanf(line, "u %lld %n", &used, &n) == 1 &&
	    n > 0 && valid_rel(u, line + n)) {
		if ((e = find(u, line + n)) != NULL && used > e->used)
			e->used = (time_t)used;
		return true;
	}
	if ((line[0] != 'p' && line[0] != 'd') || line[1] != ' ' ||
	    !valid_rel(u, line + 2))
		return false;
	if ((e = find(u, line + 2)) != NULL && line[0] == 'p')
		e->pinned = true;
	else if (e != NULL)
		drop(u, e);
	return true;
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

/* A crate the walk found: its size from the disk, its last use and pin
 * from the journal when the journal named it, else its mtime. */
static void
found(struct usage *u, const char *rel, const struct stat *st)
{
	struct entry	*e = find(u, rel);

	if (e == NULL) {
		put(u, rel, (uint64_t)st->st_size, st->st_mtime, false);
		e = find(u, rel);
	} else {
		u->bytes -= e->size;
		e->size = (uint64_t)st->st_size;
		u->bytes += e->size;
	}
	e->seen = true;
}

/* Walks a folder (crates/): for a store that has no journal yet, or whose
 * journal is damaged (rescan). */
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
		else if (S_ISREG(st.st_mode) && valid_rel(u, r))
			found(u, r, &st);
		free(p);
		free(r);
	}
	closedir(d);
}

/* Walks every folder of u. */
static void
scan_tops(struct usage *u)
{
	for (size_t i = 0; i < u->ntops; i++) {
		char	*dir = xasprintf("%s/%s", u->root, u->tops[i]);

		scan(u, dir, u->tops[i], 0);
		free(dir);
	}
}

/* Writes root/name anew through tmp/ (fsynced, renamed); fn writes its
 * lines. 0, or -errno with nothing replaced. */
static int
rewrite(struct usage *u, const char *name, void (*fn)(struct usage *, FILE *))
{
	char	*path = xasprintf("%s/%s", u->root, name);
	char	*tmp = xasprintf("%s/tmp/%s.%ld", u->root, name,
		    (long)getpid());
	FILE	*f = fopen(tmp, "w");
	int	 r = 0;

	if (f == NULL) {
		r = -errno;
		goto done;
	}
	fn(u, f);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		r = -errno;
		unlink(tmp);
	}
done:
	free(path);
	free(tmp);
	return r;
}

static void
journal_lines(struct usage *u, FILE *f)
{
	struct entry	*e;

	FOREACH(e, u) {
		fprintf(f, "a %llu %lld %d %s\n", (unsigned long long)e->size,
		    (long long)e->used, e->pinned, e->rel);
		e->dirty = false;
	}
}

/* Rewrites the journal with one line per live entry, atomically. */
static int
compact(struct usage *u)
{
	char	*path;
	int	 r;

	if ((r = rewrite(u, JOURNAL, journal_lines)) != 0)
		return r;
	path = xasprintf("%s/%s", u->root, JOURNAL);
	if (u->fd != -1)
		close(u->fd);
	u->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	u->lines = u->table.n;
	free(path);
	return 0;
}

static void
pin_lines(struct usage *u, FILE *f)
{
	struct entry	*e;

	FOREACH(e, u)
		if (e->pinned)
			fprintf(f, "%s\n", e->rel);
}

/*
 * The pinned crates, one path a line, in <store>/pins, rewritten whole
 * (through tmp/, fsynced, renamed) by a flush after a pin changed. The
 * journal is the truth; this file is what a rescan of a damaged journal
 * takes the pins from, since the lines it lost may have held them.
 */
static int
write_pins(struct usage *u)
{
	int	r;

	if ((r = rewrite(u, PINS, pin_lines)) == 0)
		u->pins_dirty = false;
	return r;
}

/* Pins the crates the pins file names. */
static void
read_pins(struct usage *u)
{
	char		*path = xasprintf("%s/%s", u->root, PINS), *line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	struct entry	*e;
	FILE		*f;

	if ((f = fopen(path, "r")) != NULL) {
		while ((n = getline(&line, &cap, f)) > 0) {
			line[strcspn(line, "\n")] = '\0';
			if (valid_rel(u, line) && (e = find(u, line)) != NULL)
				e->pinned = true;
		}
		free(line);
		fclose(f);
	}
	free(path);
}

/* The journal had lines that do not parse: the crates they named would
 * never be counted nor evicted. Walks crates/ (the files are the truth:
 * what the readable lines named but is gone is dropped, what is there
 * but unnamed is counted), takes the pins back from the pins file, and
 * rewrites the journal. */
static void
rescan(struct usage *u, size_t bad, size_t first)
{
	struct lru_node	*n, *older;
	struct entry	*e;
	size_t		 pinned = 0;
	int		 r;

	FOREACH(e, u)
		e->seen = false;
	scan_tops(u);
	for (n = u->table.newest; n != NULL; n = older) {
		older = n->older;
		if (!ENTRY(n)->seen)
			drop(u, ENTRY(n));
	}
	read_pins(u);
	FOREACH(e, u)
		pinned += e->pinned;
	r = compact(u);
	u->damage = xasprintf("%s/%s: %zu line%s did not parse (the first:"
	    " line %zu); rescanned %s/: %zu files, %.1f MB, %zu pinned"
	    " (pins kept from the readable lines and the %s file); %s",
	    u->root, JOURNAL, bad, bad == 1 ? "" : "s", first, u->tops[0],
	    u->table.n,
	    (double)u->bytes / 1e6, pinned, PINS, r == 0 ?
	    "journal rewritten" : strerror(-r));
}

/* Replays the journal at path (open as f); rescans when a line did not
 * parse. */
static void
load(struct usage *u, FILE *f, const char *path)
{
	char	*line = NULL;
	size_t	 cap = 0, bad = 0, first = 0;
	ssize_t	 n;

	while ((n = getline(&line, &cap, f)) > 0) {
		u->lines++;
		if (!replay(u, line, (size_t)n) && bad++ == 0)
			first = u->lines;
	}
	free(line);
	fclose(f);
	u->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (bad > 0 && u->fd != -1)
		rescan(u, bad, first);
}

int
usage_open(const char *root, struct usage **out, char **cause)
{
	static const char *const crates[] = { "crates" };

	return usage_open_under(root, crates, 1, out, cause);
}

int
usage_open_under(const char *root, const char *const *tops, size_t ntops,
    struct usage **out, char **cause)
{
	struct usage	*u = xcalloc(1, sizeof *u);
	char		*path = xasprintf("%s/%s", root, JOURNAL);
	const char	*what = "reopen it";
	FILE		*f;

	u->root = xstrdup(root);
	u->tops = xcalloc(ntops, sizeof *u->tops);
	for (size_t i = 0; i < ntops; i++)
		u->tops[u->ntops++] = xstrdup(tops[i]);
	lru_init(&u->table);
	u->fd = -1;
	if ((f = fopen(path, "r")) != NULL)
		load(u, f, path);
	else {
		int	 r;

		scan_tops(u);
		read_pins(u);
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

const char *
usage_damage(const struct usage *u)
{
	return u->damage;
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
	for (size_t i = 0; i < u->ntops; i++)
		free(u->tops[i]);
	free(u->tops);
	free(u->damage);
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
	u->pins_dirty |= pinned;
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
		u->gen++;
	}
}

void
usage_pin(struct usage *u, const char *rel)
{
	struct entry	*e = find(u, rel);

	if (e != NULL && !e->pinned) {
		e->pinned = true;
		u->pins_dirty = true;
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
	u->pins_dirty |= e->pinned;
	append(u, "d %s\n", rel);
	drop(u, e);
}

int
usage_flush(struct usage *u)
{
	struct entry	*e;

	if (u->pins_dirty)
		write_pins(u);
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
	return usage_victims_keep(u, target, NULL, NULL, rels);
}

size_t
usage_victims_keep(struct usage *u, uint64_t target,
    bool (*keep)(const char *rel, void *arg), void *arg, char ***rels)
{
	struct entry	**all, *e;
	size_t		  n = 0, k = 0;

	*rels = NULL;
	if (u->bytes <= target)
		return 0;
	all = xcalloc(u->table.n ? u->table.n : 1, sizeof *all);
	FOREACH(e, u)
		if (!e->pinned && (keep == NULL || !keep(e->rel, arg)))
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

uint64_t
usage_generation(const struct usage *u)
{
	return u != NULL ? u->gen : 0;
}

size_t
usage_copy(const struct usage *u, struct usage_use **out)
{
	struct entry	*e;
	size_t		 n = 0;

	*out = NULL;
	if (u == NULL || usage_files(u) == 0)
		return 0;
	*out = xreallocarray(NULL, usage_files(u), sizeof **out);
	FOREACH(e, u) {
		if (n == usage_files(u))
			break;
		(*out)[n].rel = xstrdup(e->rel);
		(*out)[n++].used = e->used;
	}
	return n;
}

void
usage_copy_free(struct usage_use *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(c[i].rel);
	free(c);
}

bool
usage_lookup(const struct usage *u, const char *rel, time_t *used,
    bool *pinned)
{
	struct entry	*e = u != NULL ? find(u, rel) : NULL;

	if (e == NULL)
		return false;
	*used = e->used;
	*pinned = e->pinned;
	return true;
}
