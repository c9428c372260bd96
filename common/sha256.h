/* SHA-256 digests as crated writes them: 64 lower-case hex digits (an
 * index line's cksum, a manifest's hash). Pure. */
#ifndef COMMON_SHA256_H
#define COMMON_SHA256_H

#include <stddef.h>

#define SHA256_HEX_LEN	64

/* The SHA-256 of len bytes at buf into out (65 bytes: the digits, NUL). */
void	sha256_hex(const void *buf, size_t len, char *out);

/* n bytes of md as 2n lower-case hex digits and a NUL into out. */
void	hex_lower(const unsigned char *md, size_t n, char *out);

#endif
