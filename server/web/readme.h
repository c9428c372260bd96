/* What the pages show from a .crate: the [package] fields of its
 * Cargo.toml (description, license, repository, homepage, readme) and
 * its README, rendered as GitHub-flavoured Markdown by cmark-gfm with
 * raw HTML (comments included) dropped and only http, https, mailto and
 * relative links kept; images become links (no request leaves the page).
 * Pure: libarchive and cmark-gfm, for the worker pool. */
#ifndef SERVER_WEB_README_H
#define SERVER_WEB_README_H

#include <stdbool.h>
#include <stddef.h>

#define README_MAX	((size_t)1 << 20)	/* bytes of Markdown read */

struct crate_doc {
	char	*description;	/* each NULL when absent */
	char	*license;
	char	*repository;
	char	*homepage;
	char	*readme_html;	/* rendered, safe */
	char	*readme_name;	/* the file's name in the crate */
};

/* Fills doc from the .crate in buf (len bytes) of crate name vers.
 * 0, or -1 when it is no readable archive (doc then empty). */
int	readme_from_crate(const unsigned char *buf, size_t len,
	    const char *name, const char *vers, struct crate_doc *doc);
void	readme_doc_free(struct crate_doc *);
/* Only the license of the .crate's Cargo.toml (new, or NULL); *ok false
 * when the archive could not be read. */
char	*readme_crate_license(const unsigned char *buf, size_t len,
	    const char *name, const char *vers, bool *ok);

/* Markdown (len bytes) as safe HTML (new). */
char	*readme_render(const char *md, size_t len);
/* Whether a link's URL may be kept: http, https, mailto, or no scheme. */
bool	readme_url_safe(const char *url);

/* The value of key in the [package] table of a Cargo.toml (basic or
 * literal one-line strings), new, or NULL. */
char	*readme_package_field(const char *toml, size_t len, const char *key);

#endif
