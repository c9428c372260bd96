/* Index files: one JSON object per line (protocol doc §5). Pure; jansson. */
#ifndef INDEX_INDEXLINE_H
#define INDEX_INDEXLINE_H

#include <stdbool.h>
#include <stddef.h>

struct index_entry {
	char	*name;		/* new; exact case */
	char	*vers;		/* new */
	char	 cksum[65];	/* lowercase hex SHA-256 */
	bool	 yanked;
	int	 v;		/* schema version, 1 when absent */
};

/* Parses one line (len bytes, no trailing newline needed). Requires name
 * (string), vers (string, SemVer), deps (array), cksum (64 lowercase hex);
 * yanked and v optional. 0, or -EINVAL with *cause (new). */
int	index_line_parse(const char *line, size_t len, struct index_entry *e,
	    char **cause);
void	index_entry_finish(struct index_entry *e);

/* Calls fn for every non-empty line of buf (len bytes); a line that does
 * not parse is passed with e == NULL. fn returns non-zero to stop; that
 * value is returned. */
typedef int (*index_line_fn)(const char *line, size_t len,
    const struct index_entry *e, void *arg);
int	index_file_foreach(const char *buf, size_t len, index_line_fn fn,
	    void *arg);

/* 0 when every non-empty line of buf parses and (when name is not NULL)
 * names that crate case-insensitively; -EINVAL with *cause (new) naming the
 * first bad line otherwise. Used to refuse garbage from an upstream. */
int	index_file_check(const char *buf, size_t len, const char *name,
	    char **cause);

/* Where each line of a checked file is and which version it holds. */
struct index_line_ref {
	size_t	 off, len;	/* the line within the file */
	char	*vers;
	bool	 yanked;
};
struct index_line_refs {
	struct index_line_ref	*v;
	size_t			 n;
};

/* index_file_check that also records every line in refs (emptied
 * first; left empty on failure), so callers need not parse twice. */
int	index_file_check_refs(const char *buf, size_t len, const char *name,
	    char **cause, struct index_line_refs *refs);
void	index_line_refs_add(struct index_line_refs *, size_t off, size_t len,
	    const struct index_entry *e);
void	index_line_refs_free(struct index_line_refs *);

/* New copy of line with "yanked" set to the given value; other keys keep
 * their order and values. NULL with *cause (new) if the line is not a
 * JSON object. */
char	*index_line_set_yanked(const char *line, size_t len, bool yanked,
	    char **cause);

/* Finds the line of version vers (exactly) in buf: 1 and its cksum in out
 * (65 bytes), or 0. */
int	index_file_cksum(const char *buf, size_t len, const char *vers,
	    char *out);

/* New string: local's lines, with each line of other whose version local
 * lacks appended, and (other_newer) local's lines replaced by other's for
 * the versions both have with the same cksum (a yank; a version is
 * immutable: another cksum never replaces local's). Lines that do not
 * parse are kept from local and dropped from other. *len gets the
 * length. */
char	*index_file_merge(const char *local, size_t llen, const char *other,
	    size_t olen, bool other_newer, size_t *len);

#endif
