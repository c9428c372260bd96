#include "server/hot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "index/xmalloc.h"

/* On the sample's real index files (17.5 MB, 260 files) zlib level 3
 * compresses 15.0x smaller at 98 MB/s at level 6 and 11.2x at 243 MB/s at
 * level 3; a cold resolution compresses every file it fetches, so the
 * faster one (nginx's default is 1). */
#define GZIP_LEVEL	3

/* How often keys were asked for, roughly (TinyLFU's sketch, one row): a
 * byte per slot, halved every FREQ_AGE lookups so old fame fades. */
#define FREQ_SLOTS	16384
#define FREQ_AGE	(10 * FREQ_SLOTS)

struct hot {
	uint8_t			  freq[FREQ_SLOTS];
	size_t			  lookups;
	struct hot_entry	**buckets;
	size_t			  nbuckets;	/* a power of two */
	size_t			  n;
	size_t			  bytes;
	size_t			  max;
	struct hot_entry	 *head, *tail;	/* LRU: head most recent */
};

static uint64_t
hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t
cost(const struct hot_entry *e)
{
	return e->plain.len + (e->gzip.body != e->plain.body ? e->gzip.len :
	    0) + strlen(e->_key) + sizeof *e + 256;
}

struct hot *
hot_create(size_t max)
{
	struct hot	*h = xcalloc(1, sizeof *h);

	h->nbuckets = 1024;
	h->buckets = xcalloc(h->nbuckets, sizeof *h->buckets);
	h->max = max;
	return h;
}

static void
entry_free(struct hot_entry *e)
{
	if (e->gzip.body != e->plain.body)
		free((void *)(uintptr_t)e->gzip.body);
	if (e->gzip.hdrs != e->plain.hdrs)
		free(e->gzip.hdrs);
	free((void *)(uintptr_t)e->plain.body);
	free(e->plain.hdrs);
	free(e->extra);
	free(e->up_etag);
	free(e->up_lastmod);
	free(e->_key);
	free(e);
}

void
hot_ref(struct hot_entry *e)
{
	e->_refs++;
}

void
hot_unref(struct hot_entry *e)
{
	if (e != NULL && --e->_refs == 0)
		entry_free(e);
}

/* Takes e out of the table and the LRU list and drops the table's
 * reference. */
static void
evict(struct hot *h, struct hot_entry *e)
{
	struct hot_entry	**pp;

	pp = &h->buckets[hash(e->_key) & (h->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->_next;
	*pp = e->_next;
	if (e->_lprev != NULL)
		e->_lprev->_lnext = e->_lnext;
	else
		h->head = e->_lnext;
	if (e->_lnext != NULL)
		e->_lnext->_lprev = e->_lprev;
	else
		h->tail = e->_lprev;
	h->n--;
	h->bytes -= cost(e);
	e->_cached = false;
	hot_unref(e);
}

void
hot_destroy(struct hot *h)
{
	if (h == NULL)
		return;
	while (h->head != NULL)
		evict(h, h->head);
	free(h->buckets);
	free(h);
}

static void
lru_front(struct hot *h, struct hot_entry *e)
{
	if (h->head == e)
		return;
	if (e->_lprev != NULL)
		e->_lprev->_lnext = e->_lnext;
	if (e->_lnext != NULL)
		e->_lnext->_lprev = e->_lprev;
	else if (h->tail == e)
		h->tail = e->_lprev;
	e->_lprev = NULL;
	e->_lnext = h->head;
	if (h->head != NULL)
		h->head->_lprev = e;
	h->head = e;
	if (h->tail == NULL)
		h->tail = e;
}

static void
freq_count(struct hot *h, uint64_t hv)
{
	uint8_t	*f = &h->freq[(hv >> 32) % FREQ_SLOTS];

	if (*f < UINT8_MAX)
		(*f)++;
	if (++h->lookups >= FREQ_AGE) {
		for (size_t i = 0; i < FREQ_SLOTS; i++)
			h->freq[i] /= 2;
		h->lookups = 0;
	}
}

static unsigned
freq_of(const struct hot *h, const char *key)
{
	return h->freq[(hash(key) >> 32) % FREQ_SLOTS];
}

struct hot_entry *
hot_get(struct hot *h, const char *key)
{
	struct hot_entry	*e;
	uint64_t		 hv = hash(key);

	freq_count(h, hv);
	for (e = h->buckets[hv & (h->nbuckets - 1)]; e != NULL;
	    e = e->_next)
		if (strcmp(e->_key, key) == 0) {
			lru_front(h, e);
			return e;
		}
	return NULL;
}

static void
grow(struct hot *h)
{
	struct hot_entry	**old = h->buckets;
	size_t			  n = h->nbuckets;

	h->nbuckets *= 2;
	h->buckets = xcalloc(h->nbuckets, sizeof *h->buckets);
	for (size_t i = 0; i < n; i++) {
		struct hot_entry	*e, *next;

		for (e = old[i]; e != NULL; e = next) {
			size_t	b = hash(e->_key) & (h->nbuckets - 1);

			next = e->_next;
			e->_next = h->buckets[b];
			h->buckets[b] = e;
		}
	}
	free(old);
}

char *
hot_header_lines(const char *etag, time_t mtime, bool gzip,
    const char *extra)
{
	char	lastmod[30];

	http_date_format(mtime, lastmod);
	return xasprintf("ETag: %s\r\nLast-Modified: %s\r\n"
	    "Vary: Accept-Encoding\r\n%s%s", etag, lastmod,
	    gzip ? "Content-Encoding: gzip\r\n" : "", extra ? extra : "");
}

static char *
make_hdrs(const struct hot_entry *e, const char *etag, bool gzip)
{
	return hot_header_lines(etag, e->mtime, gzip, e->extra);
}

bool
hot_admit(const struct hot *h, const char *key, size_t len)
{
	if (h->bytes + len + sizeof(struct hot_entry) + 512 <= h->max)
		return true;
	return len + sizeof(struct hot_entry) + 512 <= h->max / 4 &&
	    h->tail != NULL && freq_of(h, key) > freq_of(h, h->tail->_key);
}

struct hot_entry *
hot_entry_new(const char *key, char *body, size_t len, time_t mtime,
    const char *extra)
{
	struct hot_entry	*e = xcalloc(1, sizeof *e);

	e->_key = xstrdup(key);
	e->_refs = 1;
	e->plain.body = body;
	e->plain.len = len;
	e->mtime = mtime;
	e->extra = extra ? xstrdup(extra) : NULL;
	etag_of(body, len, e->plain.etag);
	e->plain.hdrs = make_hdrs(e, e->plain.etag, false);
	return e;
}

struct hot_entry *
hot_insert(struct hot *h, struct hot_entry *e)
{
	struct hot_entry	*old;
	size_t			 b;

	if (cost(e) > h->max / 4)
		return e;
	if ((old = hot_get(h, e->_key)) != NULL)
		evict(h, old);
	while (h->head != NULL && h->bytes + cost(e) > h->max)
		evict(h, h->tail);
	if (h->n >= h->nbuckets)
		grow(h);
	b = hash(e->_key) & (h->nbuckets - 1);
	e->_next = h->buckets[b];
	h->buckets[b] = e;
	e->_cached = true;
	e->_refs++;
	h->n++;
	h->bytes += cost(e);
	lru_front(h, e);
	return e;
}

struct hot_entry *
hot_make(struct hot *h, const char *key, char *body, size_t len,
    time_t mtime, const char *extra)
{
	return hot_insert(h, hot_entry_new(key, body, len, mtime, extra));
}

void
hot_entry_compress(struct hot_entry *e)
{
	z_stream	 z;
	unsigned char	*out;
	size_t		 cap;

	if (e->gzip.body != NULL)
		return;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	cap = deflateBound(&z, e->plain.len);
	out = xmalloc(cap);
	z.next_in = (unsigned char *)(uintptr_t)e->plain.body;
	z.avail_in = (uInt)e->plain.len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out >=
	    e->plain.len) {
		free(out);
		e->gzip = e->plain;
	} else {
		e->gzip.body = (char *)out;
		e->gzip.len = z.total_out;
		etag_of(out, e->gzip.len, e->gzip.etag);
		e->gzip.hdrs = make_hdrs(e, e->gzip.etag, true);
	}
	deflateEnd(&z);
}

const struct hot_variant *
hot_gzip(struct hot *h, struct hot_entry *e)
{
	size_t	before;

	if (e->gzip.body != NULL)
		return &e->gzip;
	before = e->_cached ? cost(e) : 0;
	hot_entry_compress(e);
	if (e->_cached)
		h->bytes += cost(e) - before;
	return &e->gzip;
}

void
hot_invalidate(struct hot *h, const char *key)
{
	struct hot_entry	*e;

	if ((e = hot_get(h, key)) != NULL)
		evict(h, e);
}

size_t
hot_bytes(const struct hot *h)
{
	return h->bytes;
}
