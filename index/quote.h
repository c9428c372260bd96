/* Quoting untrusted text in error messages (causes). Pure. */
#ifndef INDEX_QUOTE_H
#define INDEX_QUOTE_H

#include <stddef.h>

/* Longest part of a bad input quoted in a cause. */
#define QUOTE_MAX	70

/* How many bytes of s (len bytes) a cause quotes: at most QUOTE_MAX, and
 * never half of a UTF-8 sequence. */
static inline int
quote_len(const char *s, size_t len)
{
	size_t	n = len > QUOTE_MAX ? QUOTE_MAX : len;

	while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

#endif
