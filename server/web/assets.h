/* The pages' static files (style.css, app.js), compiled in from
 * server/web/assets/ (embed.py) and served from memory under
 * /-/static/NAME.HASH.EXT, HASH the start of their SHA-256, so that they
 * can be cached for a year. Pure. */
#ifndef SERVER_WEB_ASSETS_H
#define SERVER_WEB_ASSETS_H

#include <stddef.h>

struct asset_file {
	const char		*name;		/* "style.css" */
	const unsigned char	*data;
	size_t			 len;
};

/* The embedded files, ending with a NULL name (generated). */
extern const struct asset_file	assets_files[];

/* The URL path of the asset named name ("/-/static/style.1a2b3c4d5e6f.css"),
 * borrowed for the life of the process; NULL when there is none. */
const char		*assets_url(const char *name);
/* The asset a /-/static/ file name names (hashed, or plain for
 * scripts that want the latest), with its Content-Type; NULL when none.
 * *immutable: the name carries the hash. */
const struct asset_file	*assets_find(const char *file, const char **ctype,
			    int *immutable);

#endif
