#include "server/web/readme.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>

#include "common/xmalloc.h"

#define TOML_MAX	((size_t)256 << 10)

bool
readme_url_safe(const char *url)
{
	size_t	n = strcspn(url, ":/?#");

	for (const char *p = url; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	if (url[n] != ':')
		return true;		/* relative: no scheme */
	return (n == 4 && strncasecmp(url, "http", 4) == 0) ||
	    (n == 5 && strncasecmp(url, "https", 5) == 0) ||
	    (n == 6 && strncasecmp(url, "mailto", 6) == 0);
}

/* Moves node's children before it and frees it. */
static void
unwrap(cmark_node *node)
{
	cmark_node	*c;

	while ((c = cmark_node_first_child(node)) != NULL)
		cmark_node_insert_before(node, c);
	cmark_node_free(node);
}

/* An image: a link to it with its text, so that the page requests
 * nothing (an unsafe one: its text only). */
static void
image_to_link(cmark_node *img)
{
	cmark_node	*link, *c;
	const char	*url = cmark_node_get_url(img);

	if (url == NULL || !readme_url_safe(url)) {
		unwrap(img);
		return;
	}
	link = cmark_node_new(CMARK_NODE_LINK);
	cmark_node_set_url(link, url);
	while ((c = cmark_node_first_child(img)) != NULL)
		cmark_node_append_child(link, c);
	if (cmark_node_first_child(link) == NULL) {
		c = cmark_node_new(CMARK_NODE_TEXT);
		cmark_node_set_literal(c, "image");
		cmark_node_append_child(link, c);
	}
	cmark_node_insert_before(img, link);
	cmark_node_free(img);
}

/* Drops raw HTML and unsafe links from doc, and demotes its headings by
 * two levels (h1 to h3, capped at h6): the page's own "README" heading is
 * an h2 and the README's sit under it. Nodes are gathered first: the
 * tree is not changed while it is walked (a level is no change of it). */
static void
sanitize(cmark_node *doc)
{
	cmark_iter	*it = cmark_iter_new(doc);
	cmark_node	**v = NULL;
	size_t		 n = 0, cap = 0;
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node	*node = cmark_iter_get_node(it);
		int		 t = cmark_node_get_type(node);

		if (ev != CMARK_EVENT_ENTER && ev != CMARK_EVENT_NONE)
			continue;
		if (t == CMARK_NODE_HEADING) {
			int	l = cmark_node_get_heading_level(node) + 2;

			cmark_node_set_heading_level(node, l > 6 ? 6 : l);
			continue;
		}
		if (t != CMARK_NODE_HTML_BLOCK && t != CMARK_NODE_HTML_INLINE &&
		    t != CMARK_NODE_LINK && t != CMARK_NODE_IMAGE)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[n++] = node;
	}
	cmark_iter_free(it);
	/* Innermost last: children are handled before their parents go. */
	for (size_t i = n; i-- > 0;) {
		int		 t = cmark_node_get_type(v[i]);
		const char	*url;

		if (t == CMARK_NODE_HTML_BLOCK || t == CMARK_NODE_HTML_INLINE)
			cmark_node_free(v[i]);
		else if (t == CMARK_NODE_IMAGE)
			image_to_link(v[i]);
		else if ((url = cmark_node_get_url(v[i])) != NULL &&
		    !readme_url_safe(url))
			unwrap(v[i]);
	}
	free(v);
}

char *
readme_render(const char *md, size_t len)
{
	static const char	*exts[] = { "table", "strikethrough",
				    "autolink", "tasklist" };
	cmark_parser		*p;
	cmark_node		*doc;
	char			*out, *copy;
	int			 opts = CMARK_OPT_DEFAULT | CMARK_OPT_NOBREAKS;

	cmark_gfm_core_extensions_ensure_registered();
	p = cmark_parser_new(opts);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		cmark_syntax_extension	*e = cmark_find_syntax_extension(
					    exts[i]);

		if (e != NULL)
			cmark_parser_attach_syntax_extension(p, e);
	}
	cmark_parser_feed(p, md, len);
	doc = cmark_parser_finish(p);
	sanitize(doc);
	/* Without CMARK_OPT_UNSAFE cmark also blanks javascript:, vbscript:,
	 * file: and most data: URLs: a second line of defence. */
	out = cmark_render_html(doc, opts, cmark_parser_get_syntax_extensions(
	    p));
	cmark_node_free(doc);
	cmark_parser_free(p);
	copy = xstrdup(out);
	free(out);
	return copy;
}

/* Code point c as UTF-8 at o; the bytes written (none for what is no
 * scalar value). */
static size_t
utf8_put(char *o, unsigned long c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return c == 0 ? 0 : 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | (c >> 6));
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if ((c >= 0xd800 && c < 0xe000) || c > 0x10ffff)
		return 0;
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | (c >> 12));
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (c >> 18));
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* The escape at p (after its backslash) of a basic string into o: the
 * bytes of p it took, and *olen the bytes written. */
static size_t
toml_escape(const char *p, const char *end, bool multi, char *o,
    size_t *olen)
{
	static const char	from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	const char		*f = p < end ? strchr(from, *p) : NULL;
	size_t			 n = 0, digits;
	unsigned long		 c = 0;

	*olen = 0;
	if (f != NULL && *p != '\0') {
		*o = to[f - from];
		*olen = 1;
		return 1;
	}
	if (p < end && (*p == 'u' || *p == 'U')) {
		digits = *p == 'u' ? 4 : 8;
		for (n = 1; n <= digits && p + n < end && isxdigit(
		    (unsigned char)p[n]); n++)
			c = c * 16 + (unsigned long)(isdigit((unsigned char)p[n]) ?
			    p[n] - '0' : (tolower((unsigned char)p[n]) - 'a' +
			    10));
		*olen = n == digits + 1 ? utf8_put(o, c) : 0;
		return n;
	}
	/* A line-ending backslash: the whitespace up to the next text. */
	while (multi && p + n < end && (p[n] == ' ' || p[n] == '\t' ||
	    p[n] == '\r' || p[n] == '\n'))
		n++;
	return n;
}

/* The TOML string starting at p (basic or literal, one line or several),
 * new; what is malformed ends it where it stands. */
static char *
toml_string(const char *p, const char *end)
{
	char	 q = *p;
	bool	 multi = end - p >= 6 && p[1] == q && p[2] == q;
	char	*out = xmalloc((size_t)(end - p) + 1), *o = out;
	size_t	 n, olen;

	p += multi ? 3 : 1;
	if (multi && p < end && *p == '\n')
		p++;
	else if (multi && end - p >= 2 && p[0] == '\r' && p[1] == '\n')
		p += 2;
	while (p < end) {
		if (multi ? end - p >= 3 && p[0] == q && p[1] == q && p[2] == q :
		    *p == q || *p == '\n')
			break;
		if (q == '"' && *p == '\\') {
			n = toml_escape(p + 1, end, multi, o, &olen);
			p += 1 + n;
			o += olen;
			continue;
		}
		*o++ = *p++;
	}
	*o = '\0';
	return out;
}

char *
readme_package_field(const char *toml, size_t len, const char *key)
{
	const char	*p = toml, *end = toml + len, *nl;
	size_t		 klen = strlen(key);
	bool		 in_package = false;

	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		if (p < nl && *p == '[') {
			in_package = (size_t)(nl - p) >= 9 &&
			    strncmp(p, "[package]", 9) == 0;
			continue;
		}
		if (!in_package || (size_t)(nl - p) <= klen ||
		    strncmp(p, key, klen) != 0)
			continue;
		p += klen;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		if (p >= nl || *p++ != '=')
			continue;
		while (p < nl && (*p == ' ' || *p == '\t'))
			p++;
		if (p < nl && (*p == '"' || *p == '\''))
			return toml_string(p, end);
		return NULL;
	}
	return NULL;
}

/* The file at path inside the archive (new, *len bytes), at most max. */
static char *
archive_file(const unsigned char *buf, size_t len, const char *path,
    size_t max, size_t *outlen)
{
	struct archive		*a = archive_read_new();
	struct archive_entry	*e;
	char			*out = NULL;

	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, buf, len) != ARCHIVE_OK)
		goto done;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		la_ssize_t	n;
		size_t		got = 0;

		if (strcmp(archive_entry_pathname(e), path) != 0 ||
		    archive_entry_filetype(e) != AE_IFREG)
			continue;
		out = xmalloc(max + 1);
		while (got < max && (n = archive_read_data(a, out + got,
		    max - got)) > 0)
			got += (size_t)n;
		out[got] = '\0';
		*outlen = got;
		break;
	}
done:
	archive_read_free(a);
	return out;
}

/* The README's path in the crate: Cargo.toml's readme (false: none), or
 * the first of the usual names that exists. */
static char *
find_readme(const unsigned char *buf, size_t len, const char *root,
    const char *field, char **md, size_t *mdlen)
{
	static const char	*names[] = { "README.md", "README",
				    "README.markdown", "readme.md",
				    "README.txt" };
	char			*path;

	if (field != NULL && strcmp(field, "false") != 0 &&
	    strstr(field, "..") == NULL) {
		path = xasprintf("%s/%s", root, field);
		if ((*md = archive_file(buf, len, path, README_MAX,
		    mdlen)) != NULL)
			return path;
		free(path);
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		path = xasprintf("%s/%s", root, names[i]);
		if ((*md = archive_file(buf, len, path, README_MAX,
		    mdlen)) != NULL)
			return path;
		free(path);
	}
	return NULL;
}

int
readme_from_crate(const unsigned char *buf, size_t len, const char *name,
    const char *vers, struct crate_doc *doc)
{
	char	*root = xasprintf("%s-%s", name, vers);
	char	*path = xasprintf("%s/Cargo.toml", root), *toml, *md = NULL;
	char	*field, *rpath;
	size_t	 tlen = 0, mdlen = 0;

	memset(doc, 0, sizeof *doc);
	toml = archive_file(buf, len, path, TOML_MAX, &tlen);
	free(path);
	if (toml == NULL) {
		free(root);
		return -1;
	}
	doc->description = readme_package_field(toml, tlen, "description");
	doc->license = readme_package_field(toml, tlen, "license");
	doc->repository = readme_package_field(toml, tlen, "repository");
	doc->homepage = readme_package_field(toml, tlen, "homepage");
	field = readme_package_field(toml, tlen, "readme");
	rpath = find_readme(buf, len, root, field, &md, &mdlen);
	if (rpath != NULL) {
		doc->readme_name = xstrdup(rpath + strlen(root) + 1);
		doc->readme_html = readme_render(md, mdlen);
	}
	free(rpath);
	free(md);
	free(field);
	free(toml);
	free(root);
	return 0;
}

void
readme_doc_free(struct crate_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->description);
	free(doc->license);
	free(doc->repository);
	free(doc->homepage);
	free(doc->readme_html);
	free(doc->readme_name);
	memset(doc, 0, sizeof *doc);
}

char *
readme_crate_license(const unsigned char *buf, size_t len, const char *name,
    const char *vers, bool *ok)
{
	char	*path = xasprintf("%s-%s/Cargo.toml", name, vers), *toml;
	char	*license = NULL;
	size_t	 tlen = 0;

	toml = archive_file(buf, len, path, TOML_MAX, &tlen);
	*ok = toml != NULL;
	if (toml != NULL)
		license = readme_package_field(toml, tlen, "license");
	free(toml);
	free(path);
	return license;
}
