/*
 * A fast check of one JSON object (RFC 8259) that builds nothing: for the
 * upstream index files a mirror validates line by line, where jansson's
 * tree costs ~45 MB/s (measured on the sample's real files). It is
 * conservative: it says "valid" only for texts jansson would accept with
 * JSON_REJECT_DUPLICATES, and only for the plain shapes index lines have;
 * anything else (non-ASCII bytes, \u escapes of NUL or surrogates,
 * escaped keys, fractions and exponents, long integers, deep nesting)
 * gets "not sure", and the caller asks jansson. Pure.
 */
#ifndef INDEX_JSONSCAN_H
#define INDEX_JSONSCAN_H

#include <stddef.h>

/* A member of the top-level object: its key (no escapes, so the bytes
 * are the key) and its value's text; type is the value's first byte
 * ('"', '{', '[', 't', 'f', 'n', or '-'/digit for a number). */
struct json_member {
	const char	*key;
	size_t		 klen;
	const char	*val;
	size_t		 vlen;
	char		 type;
};

/* 1 when buf (len bytes) is one JSON object, surrounded by whitespace at
 * most, that jansson accepts; its first max members go to out and their
 * number to *n (members past max are checked, not reported). 0: not
 * sure (invalid, or a shape this scanner leaves to jansson). */
int	json_scan_object(const char *buf, size_t len, struct json_member *out,
	    size_t max, size_t *n);

#endif
