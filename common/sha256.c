#include "common/sha256.h"

#include <openssl/evp.h>

void
hex_lower(const unsigned char *md, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void
sha256_hex(const void *buf, size_t len, char *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	n = 0;

	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	hex_lower(md, 32, out);
}
