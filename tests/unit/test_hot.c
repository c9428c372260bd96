/* server/files/hot.c: the memory cache of index responses: LRU eviction by
 * bytes, invalidation, references that outlive eviction, gzip, and the
 * admission rule that keeps a working set larger than the cache from
 * churning it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/files/hot.h"
#include "tests/tap.h"

static char *
body_of(size_t len, char fill)
{
	char	*b = xmalloc(len);

	memset(b, fill, len);
	return b;
}

/* A request as server_index_file answers it: a hit, or, on a miss, the
 * file goes to memory when hot_admit says so. Returns 1 on an admission. */
static int
request(struct hot *h, const char *key, size_t len)
{
	struct hot_entry	*e;

	if (hot_get(h, key) != NULL)
		return 0;
	if (!hot_admit(h, key, len))
		return 0;
	e = hot_make(h, key, body_of(len, 'x'), len, 0, NULL);
	hot_unref(e);
	return 1;
}

int
main(void)
{
	struct hot		*h;
	struct hot_entry	*e, *kept;
	const struct hot_variant *gz;
	char			 key[64];
	size_t			 one;
	int			 admitted = 0, lookups = 0;

	/* Room for four entries of 1000 bytes (cost: bytes, key, entry and
	 * 256 bytes of headers; no entry may take over a quarter). */
	h = hot_create(100000);
	e = hot_make(h, "r/1/a", body_of(1000, 'a'), 1000, 0, NULL);
	one = hot_bytes(h);
	hot_unref(e);
	hot_destroy(h);
	ok(one > 1000 && one < 2000, "one entry costs %zu bytes", one);

	h = hot_create(4 * one + one / 2);
	hot_unref(hot_make(h, "r/1/a", body_of(1000, 'a'), 1000, 0, NULL));
	hot_unref(hot_make(h, "r/1/b", body_of(1000, 'b'), 1000, 0, NULL));
	hot_unref(hot_make(h, "r/1/c", body_of(1000, 'c'), 1000, 0, NULL));
	hot_unref(hot_make(h, "r/1/d", body_of(1000, 'd'), 1000, 0, NULL));
	ok(hot_bytes(h) == 4 * one, "four fit");
	ok(hot_get(h, "r/1/a") != NULL, "a is there (and now most recent)");
	hot_unref(hot_make(h, "r/1/e", body_of(1000, 'e'), 1000, 0, NULL));
	ok(hot_get(h, "r/1/b") == NULL, "the least recently used (b) went");
	ok(hot_get(h, "r/1/a") && hot_get(h, "r/1/c") && hot_get(h, "r/1/d") &&
	    hot_get(h, "r/1/e"), "a, c, d and e stay");
	ok(hot_bytes(h) == 4 * one, "bytes stay at four entries");

	kept = hot_get(h, "r/1/c");
	hot_ref(kept);
	hot_invalidate(h, "r/1/c");
	ok(hot_get(h, "r/1/c") == NULL, "invalidated c is gone");
	ok(hot_bytes(h) == 3 * one, "and its bytes");
	ok(kept->plain.len == 1000 && kept->plain.body[999] == 'c',
	    "a reference still reads c's bytes");
	hot_unref(kept);

	e = hot_get(h, "r/1/a");
	gz = hot_gzip(h, e);
	ok(gz != &e->plain && gz->len < 100, "1000 equal bytes gzip small"
	    " (%zu)", gz->len);
	ok(strstr(gz->hdrs, "Content-Encoding: gzip\r\n") != NULL &&
	    strcmp(gz->etag, e->plain.etag) != 0, "with their own ETag");
	ok(hot_bytes(h) == 3 * one + gz->len, "gzip bytes are counted");
	e = hot_make(h, "r/big", body_of(one, 'z'), one, 0, NULL);
	ok(e != NULL && e->plain.len == one && hot_get(h, "r/big") == NULL,
	    "an entry over a quarter of the cache is answered but not kept");
	hot_unref(e);
	ok(!hot_admit(h, "r/big", one), "nor admitted");
	hot_destroy(h);

	/* Admission: 2,000 files asked for in turn, 20 times over, through
	 * a cache that holds 100. After the first round fills it, a file
	 * asked for as often as every other one must mostly stay on disk. */
	h = hot_create(100 * (one + 64));
	for (int round = 0; round < 20; round++)
		for (int i = 0; i < 2000; i++) {
			snprintf(key, sizeof key, "r%d/se/rd/crate-%d", i % 4,
			    i);
			if (round > 0) {
				admitted += request(h, key, 1000);
				lookups++;
			} else
				request(h, key, 1000);
		}
	ok(admitted * 100 < lookups, "uniform set larger than the cache:"
	    " %d admissions in %d lookups (under 1%%)", admitted, lookups);

	/* A file asked for far more often than the rest gets in and stays. */
	admitted = 0;
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof key, "r%d/se/rd/crate-%d", i % 4,
		    i % 2000);
		request(h, key, 1000);
		if (i % 3 == 0)
			admitted += request(h, "r0/ho/t/hot", 1000);
	}
	ok(hot_get(h, "r0/ho/t/hot") != NULL, "a hot file is in memory");
	ok(admitted == 1, "admitted once, then kept (%d admissions)",
	    admitted);
	hot_destroy(h);

	/* The header lines of a 304: what a 200 has less Content-Encoding
	 * and Last-Modified (RFC 9110 15.4.5), as a suffix of them. */
	for (int gzip = 0; gzip <= 1; gzip++) {
		char		*lines = hot_header_lines("\"e1\"", 86400, gzip,
				    "Cache-Control: x\r\n");
		const char	*nm = hot_304_lines(lines);

		ok(strstr(lines, "Last-Modified: Fri, 02 Jan 1970 00:00:00"
		    " GMT\r\n") != NULL && (strstr(lines,
		    "Content-Encoding: gzip\r\n") != NULL) == gzip,
		    "200 lines (gzip %d)", gzip);
		is_str(nm, "ETag: \"e1\"\r\nVary: Accept-Encoding\r\n"
		    "Cache-Control: x\r\n", "304 lines (gzip %d)", gzip);
		ok(nm > lines && nm < lines + strlen(lines), "a suffix");
		free(lines);
	}
	is_str(hot_304_lines("ETag: \"e\"\r\n"), "ETag: \"e\"\r\n",
	    "lines without them are kept whole");
	is_str(hot_304_lines(""), "", "no lines");
	return done_testing();
}
