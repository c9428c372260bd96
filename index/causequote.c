/* Quoting untrusted text in a cause. */
#include "index/causequote.h"

#include <stdio.h>
#include <string.h>

#include "index/quote.h"

const char *
cause_quote(const char *s)
{
	static _Thread_local char	 buf[4][QUOTE_MAX * 4 + 8];
	static _Thread_local unsigned	 next;
	char				*o = buf[next++ % 4], *p = o;
	size_t				 i;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char	c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			p += sprintf(p, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			*p++ = (char)c;
		else
			p += sprintf(p, "\\x%02x", c);
	}
	strcpy(p, s[i] != '\0' ? "..." : "");
	return o;
}
