/* Helpers both clouds use: percent-encoding, ETags, dates, the request
 * being built, and the listing's XML (expat). Calls nothing else of
 * server/storage/. */
#include "server/storage/objstore_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <expat.h>

#include "common/xmalloc.h"

#define XML_MAX_TEXT	4096	/* a key, an etag, a token */
#define XML_MAX_DEPTH	32

void
obj_http_add(struct obj_http *h, const char *fmt, ...)
{
	va_list	ap;

	if (h->nheaders == OBJ_MAX_HEADERS)
		xoom("obj_http_add: too many headers");
	va_start(ap, fmt);
	h->headers[h->nheaders++] = xvasprintf(fmt, ap);
	va_end(ap);
}

void
obj_http_free(struct obj_http *h)
{
	free(h->url);
	for (size_t i = 0; i < h->nheaders; i++)
		free(h->headers[i]);
	free(h->sigv4);
	if (h->userpwd != NULL) {
		explicit_bzero(h->userpwd, strlen(h->userpwd));
		free(h->userpwd);
	}
	memset(h, 0, sizeof *h);
}

char *
obj_uri_encode(const char *s, bool keep_slash)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			*out = xmalloc(strlen(s) * 3 + 1), *p = out;

	for (; *s != '\0'; s++) {
		unsigned char	c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || (c == '/' && keep_slash))
			*p++ = (char)c;
		else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

char *
obj_etag_normalise(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
	    s[len - 1] == '\r' || s[len - 1] == '\n'))
		len--;
	if (len >= 2 && strncmp(s, "W/", 2) == 0) {
		s += 2;
		len -= 2;
	}
	if (len >= 12 && strncmp(s, "&quot;", 6) == 0 &&
	    strncmp(s + len - 6, "&quot;", 6) == 0) {
		s += 6;
		len -= 12;
	} else if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len == 0 || memchr(s, '"', len) != NULL)
		return NULL;
	return xasprintf("\"%.*s\"", (int)len, s);
}

char *
obj_xml_text(const char *xml, size_t len, const char *tag)
{
	char		*open = xasprintf("<%s>", tag);
	char		*close = xasprintf("</%s>", tag);
	const char	*a, *b, *end = xml + len;
	char		*out = NULL;

	if ((a = memmem(xml, len, open, strlen(open))) != NULL) {
		a += strlen(open);
		if ((b = memmem(a, (size_t)(end - a), close, strlen(close))) !=
		    NULL && b - a < 1024)
			out = xstrndup(a, (size_t)(b - a));
	}
	free(open);
	free(close);
	return out;
}

time_t
obj_parse_time(const char *s)
{
	struct tm	tm;
	const char	*end;

	if (s == NULL)
		return 0;
	memset(&tm, 0, sizeof tm);
	/* ISO 8601 (S3's listings), else RFC 1123 (headers, Azure). */
	if ((end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) {
		memset(&tm, 0, sizeof tm);
		if ((end = strptime(s, "%a, %d %b %Y %H:%M:%S", &tm)) == NULL)
			return 0;
	}
	return timegm(&tm);
}

void
obj_free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

void
obj_entries_free(struct obj_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		obj_free_const(e[i].key);
		obj_free_const(e[i].etag);
	}
	free(e);
}

/* The state of one listing's parse. */
struct listing {
	const struct obj_list_shape	*shape;
	XML_Parser			 p;
	const char			*prefix;	/* the store's */
	size_t				 plen;
	int				 depth;
	char				 text[XML_MAX_TEXT];
	size_t				 tlen;
	bool				 too_long;
	bool				 in_item;
	struct obj_entry		 cur;
	struct obj_entry		*entries;
	size_t				 n, cap;
	char				*next;
	char				*error;
};

static void
stop(struct listing *l, const char *why)
{
	if (l->error == NULL)
		l->error = xstrdup(why);
	XML_StopParser(l->p, XML_FALSE);
}

static void XMLCALL
on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct listing	*l = arg;

	(void)attrs;
	if (l->depth == XML_MAX_DEPTH) {
		stop(l, "nested too deeply");
		return;
	}
	l->depth++;
	l->tlen = 0;
	l->too_long = false;
	if (l->depth == l->shape->item_depth && strcmp(name,
	    l->shape->item) == 0) {
		memset(&l->cur, 0, sizeof l->cur);
		l->in_item = true;
	}
}

static void XMLCALL
on_text(void *arg, const XML_Char *s, int len)
{
	struct listing	*l = arg;

	if (l->tlen + (size_t)len >= sizeof l->text) {
		l->too_long = true;
		return;
	}
	memcpy(l->text + l->tlen, s, (size_t)len);
	l->tlen += (size_t)len;
	l->text[l->tlen] = '\0';
}

/* An item's field, by the element that just ended. */
static void
item_field(struct listing *l, const char *name)
{
	const struct obj_list_shape	*sh = l->shape;

	if (l->depth == sh->item_depth + 1 && strcmp(name, sh->key) == 0 &&
	    l->cur.key == NULL) {
		if (strncmp(l->text, l->prefix, l->plen) == 0)
			l->cur.key = xstrdup(l->text + l->plen);
	} else if (strcmp(name, sh->etag) == 0 && l->cur.etag == NULL)
		l->cur.etag = obj_etag_normalise(l->text, l->tlen);
	else if (strcmp(name, sh->size) == 0)
		l->cur.size = strtoll(l->text, NULL, 10);
	else if (strcmp(name, sh->modified) == 0)
		l->cur.last_modified = obj_parse_time(l->text);
}

static void XMLCALL
on_end(void *arg, const XML_Char *name)
{
	struct listing	*l = arg;

	if (l->too_long) {
		stop(l, "a value is too long");
		return;
	}
	l->text[l->tlen] = '\0';
	if (l->in_item && strcmp(name, l->shape->item) == 0 &&
	    l->depth == l->shape->item_depth) {
		l->in_item = false;
		if (l->cur.key != NULL) {
			if (l->n == l->cap)
				l->entries = xreallocarray(l->entries,
				    l->cap = l->cap * 2 + 16, sizeof
				    *l->entries);
			l->entries[l->n++] = l->cur;
		} else
			obj_free_const(l->cur.etag);
		memset(&l->cur, 0, sizeof l->cur);
	} else if (l->in_item)
		item_field(l, name);
	else if (l->depth == 2 && strcmp(name, l->shape->next) == 0 &&
	    l->tlen > 0 && l->next == NULL)
		l->next = xstrdup(l->text);
	l->depth--;
	l->tlen = 0;
}

/* A listing has no DTD: one that declares entities is not a store's. */
static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)internal;
	stop(arg, "a DOCTYPE in a listing");
}

int
obj_parse_listing(const char *xml, size_t len, const char *prefix,
    const struct obj_list_shape *shape, struct obj_entry **entries,
    size_t *n, char **next, char **cause)
{
	struct listing	l;
	int		r = 0;

	memset(&l, 0, sizeof l);
	l.shape = shape;
	l.prefix = prefix;
	l.plen = strlen(prefix);
	l.p = XML_ParserCreate("UTF-8");
	if (l.p == NULL)
		xoom("XML_ParserCreate");
	XML_SetUserData(l.p, &l);
	XML_SetStartDoctypeDeclHandler(l.p, on_doctype);
	XML_SetElementHandler(l.p, on_start, on_end);
	XML_SetCharacterDataHandler(l.p, on_text);
	if (len > (size_t)INT32_MAX || XML_Parse(l.p, xml, (int)len, XML_TRUE) ==
	    XML_STATUS_ERROR) {
		*cause = xasprintf("the listing is not valid XML: %s (line"
		    " %lu)", l.error != NULL ? l.error :
		    XML_ErrorString(XML_GetErrorCode(l.p)),
		    (unsigned long)XML_GetCurrentLineNumber(l.p));
		r = -1;
	}
	XML_ParserFree(l.p);
	free(l.error);
	obj_free_const(l.cur.key);
	obj_free_const(l.cur.etag);
	if (r != 0) {
		obj_entries_free(l.entries, l.n);
		free(l.next);
		return r;
	}
	*entries = l.entries;
	*n = l.n;
	*next = l.next;
	return 0;
}
