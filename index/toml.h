/* A strict TOML reader for the subset crated.toml and Cargo.lock use:
 * comments, key = value, [table] and [a.b] headers, [[array.of.tables]],
 * bare and quoted keys (dotted keys in headers only), basic strings with
 * escapes (\b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX), literal strings,
 * decimal integers (optional sign, '_' between digits), booleans, and
 * arrays (multi-line, trailing comma, comments inside). Anything else
 * (floats, dates, inline tables, multi-line strings, dotted keys on the
 * left of '=', redefined keys or tables) is an error with line and column.
 * Pure. */
#ifndef INDEX_TOML_H
#define INDEX_TOML_H

#include <stdbool.h>
#include <stddef.h>

enum toml_type {
	TOML_TABLE,
	TOML_ARRAY,
	TOML_STRING,
	TOML_INTEGER,
	TOML_BOOLEAN,
};

struct toml_value {
	enum toml_type		  type;
	int			  line;		/* 1-based, where it starts */
	int			  col;		/* 1-based */
	char			 *s;		/* TOML_STRING: NUL-terminated,
						   may contain no NUL */
	long long		  i;		/* TOML_INTEGER */
	bool			  b;		/* TOML_BOOLEAN */
	size_t			  n;		/* TABLE: entries; ARRAY: items */
	char			**keys;		/* TABLE: n keys, in file order */
	struct toml_value	**items;	/* TABLE: values; ARRAY: items */
};

/* Parses text (len bytes, need not be NUL-terminated; must be UTF-8).
 * Returns the root table (new; toml_free), or NULL with *cause (new) as
 * "LINE:COL: why". */
struct toml_value	*toml_parse(const char *text, size_t len, char **cause);

/* toml_parse with options. TOML_INLINE_TABLES also reads inline tables
 * ({ k = v, ... } on one line, no trailing comma, no dotted keys; closed
 * to later headers), as files written by others use them (RustSec's
 * advisories: [affected] functions = { ... }); crated.toml and Cargo.lock
 * stay without them. */
#define TOML_INLINE_TABLES	0x1
struct toml_value	*toml_parse_flags(const char *text, size_t len,
			    int flags, char **cause);
void			 toml_free(struct toml_value *v);

/* Borrowed value of key in table t, or NULL (also when t is not a table). */
const struct toml_value	*toml_get(const struct toml_value *t, const char *key);

/* "table", "array", "string", "integer", "boolean". */
const char		*toml_type_name(enum toml_type type);

#endif
