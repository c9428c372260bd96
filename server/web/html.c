#include "server/web/html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

void
html_init(struct html *h)
{
	h->cap = 4096;
	h->buf = xmalloc(h->cap);
	h->buf[0] = '\0';
	h->len = 0;
}

void
html_finish(struct html *h)
{
	free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
}

char *
html_take(struct html *h, size_t *len)
{
	char	*s = h->buf;

	if (len != NULL)
		*len = h->len;
	h->buf = NULL;
	h->len = h->cap = 0;
	return s;
}

static void
grow(struct html *h, size_t more)
{
	if (h->len + more + 1 <= h->cap)
		return;
	while (h->len + more + 1 > h->cap)
		h->cap = h->cap ? h->cap * 2 : 4096;
	h->buf = xrealloc(h->buf, h->cap);
}

void
html_rawn(struct html *h, const char *s, size_t n)
{
	grow(h, n);
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void
html_raw(struct html *h, const char *s)
{
	html_rawn(h, s, strlen(s));
}

void
html_textn(struct html *h, const char *s, size_t n)
{
	size_t	from = 0;

	grow(h, n);
	for (size_t i = 0; i < n; i++) {
		unsigned char	 c = (unsigned char)s[i];
		const char	*ent;

		switch (c) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default:
			ent = c < 0x20 && c != '\t' && c != '\n' &&
			    c != '\r' ? "" : NULL;
			break;
		}
		if (ent == NULL)
			continue;
		html_rawn(h, s + from, i - from);
		html_raw(h, ent);
		from = i + 1;
	}
	html_rawn(h, s + from, n - from);
}

void
html_text(struct html *h, const char *s)
{
	if (s != NULL)
		html_textn(h, s, strlen(s));
}

void
html_url(struct html *h, const char *s)
{
	static const char	hex[] = "0123456789ABCDEF";
	char			e[3];

	for (; s != NULL && *s != '\0'; s++) {
		unsigned char	c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
			html_rawn(h, s, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		html_rawn(h, e, 3);
	}
}

void
html_put(struct html *h, const char *fmt, ...)
{
	va_list		 ap;
	const char	*p, *from = fmt;
	char		 num[32];

	va_start(ap, fmt);
	for (p = fmt; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		html_rawn(h, from, (size_t)(p - from));
		switch (*++p) {
		case 's':
			html_text(h, va_arg(ap, const char *));
			break;
		case 'R':
			html_raw(h, va_arg(ap, const char *));
			break;
		case 'u':
			snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
			html_raw(h, num);
			break;
		case 'd':
			snprintf(num, sizeof num, "%d", va_arg(ap, int));
			html_raw(h, num);
			break;
		case 'z':
			snprintf(num, sizeof num, "%zu", va_arg(ap, size_t));
			html_raw(h, num);
			break;
		case 'L':
			snprintf(num, sizeof num, "%lld",
			    va_arg(ap, long long));
			html_raw(h, num);
			break;
		case '%':
			html_raw(h, "%");
			break;
		default:	/* a mistake of the caller's: shown, not run */
			html_raw(h, "%?");
			if (*p == '\0')
				p--;
			break;
		}
		from = p + 1;
	}
	html_rawn(h, from, (size_t)(p - from));
	va_end(ap);
}

char *
html_escape(const char *s)
{
	struct html	h;

	html_init(&h);
	html_text(&h, s);
	return html_take(&h, NULL);
}
