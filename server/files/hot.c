#include "server/files/hot.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/gzfile.h"
#include "common/xmalloc.h"

/* How often keys were asked for, roughly: TinyLFU's count-min sketch,
 * FREQ_ROWS rows of byte counters, each indexed by other bits of the key's
 * hash; a key's count is its smallest counter, so a collision in one row
 * does not make a key look popular (with one row, a uniform working set
 * larger than the cache looked uneven and churned it). Counters are
 * halved every FREQ_AGE lookups so old fame fades. */
#define FREQ_ROWS	4
#define FREQ_SLOTS	16384		/* per row, a power of two */
#define FREQ_AGE	(10 * FREQ_SLOTS)

struct hot {
	uint8_t			  freq[FREQ_ROWS][FREQ_SLOTS];
	size_t			  lookups;
	struct lru		  lru;
	size_t			  bytes;
	size_t			  max;
};

#define ENTRY(n)	lru_entry(n, struct hot_entry, _node)

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

	lru_init(&h->lru);
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
	if (e->aux_free != NULL)
		e->aux_free(e->aux);
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
	lru_remove(&h->lru, &e->_node);
	h->bytes -= cost(e);
	e->_cached = false;
	hot_unref(e);
}

void
hot_destroy(struct hot *h)
{
	if (h == NULL)
		return;
	while (h->lru.newest != NULL)
		evict(h, ENTRY(h->lru.newest));
	lru_fini(&h->lru);
	free(h);
}

/* The counters of a key are 14-bit slices of its hash, mixed first
 * (splitmix64's finaliser: FNV-1a spreads short keys poorly in its high
 * bits). */
static uint64_t
freq_mix(uint64_t hv)
{
	hv ^= hv >> 30;
	hv *= 0xbf58476d1ce4e5b9ULL;
	hv ^= hv >> 27;
	hv *= 0x94d049bb133111ebULL;
	return hv ^ (hv >> 31);
}

#define FREQ_SLOT(m, i)	((size_t)((m) >> (16 * (i))) & (FREQ_SLOTS - 1))

static unsigned
freq_estimate(const struct hot *h, uint64_t m)
{
	unsigned	min = UINT8_MAX;

	for (int i = 0; i < FREQ_ROWS; i++)
		if (h->freq[i][FREQ_SLOT(m, i)] < min)
			min = h->freq[i][FREQ_SLOT(m, i)];
	return min;
}

/* Conservative update: only the counters at the key's minimum grow. */
static void
freq_count(struct hot *h, uint64_t hv)
{
	uint64_t	m = freq_mix(hv);
	unsigned	min = freq_estimate(h, m);

	if (min < UINT8_MAX)
		for (int i = 0; i < FREQ_ROWS; i++)
			if (h->freq[i][FREQ_SLOT(m, i)] == min)
				h->freq[i][FREQ_SLOT(m, i)]++;
	if (++h->lookups >= FREQ_AGE) {
		for (int i = 0; i < FREQ_ROWS; i++)
			for (size_t j = 0; j < FREQ_SLOTS; j++)
				h->freq[i][j] /= 2;
		h->lookups = 0;
	}
}

/* How often the key with hash hv (lru_hash) was asked for lately. */
static unsigned
freq_of(const struct hot *h, uint64_t hv)
{
	return freq_estimate(h, freq_mix(hv));
}

struct hot_entry *
hot_get(struct hot *h, const char *key)
{
	struct lru_node	*n;
	uint64_t	 hv = lru_hash(key);

	freq_count(h, hv);
	if ((n = lru_find(&h->lru, key, hv)) == NULL)
		return NULL;
	lru_touch(&h->lru, n);
	return ENTRY(n);
}

char *
hot_header_lines(const char *etag, time_t mtime, bool gzip,
    const char *extra)
{
	char	lastmod[30];

	http_date_format(mtime, lastmod);
	return xasprintf("%sLast-Modified: %s\r\nETag: %s\r\n"
	    "Vary: Accept-Encoding\r\n%s", gzip ? "Content-Encoding: gzip\r\n" :
	    "", lastmod, etag, extra ? extra : "");
}

#define CE_LINE	"Content-Encoding: gzip\r\n"
#define LM_LINE	"Last-Modified: "

const char *
hot_304_lines(const char *hdrs)
{
	const char	*nl;

	if (strncmp(hdrs, CE_LINE, sizeof CE_LINE - 1) == 0)
		hdrs += sizeof CE_LINE - 1;
	if (strncmp(hdrs, LM_LINE, sizeof LM_LINE - 1) == 0 &&
	    (nl = strchr(hdrs, '\n')) != NULL)
		hdrs = nl + 1;
	return hdrs;
}

static char *
make_hdrs(const struct hot_entry *e, const char *etag, bool gzip)
{
	return hot_header_lines(etag, e->mtime, gzip, e->extra);
}

bool
hot_admit(const struct hot *h, const char *key, size_t len)
{
	if (len + sizeof(struct hot_entry) + 512 > h->max / 4)
		return false;		/* hot_insert would not keep it */
	if (h->bytes + len + sizeof(struct hot_entry) + 512 <= h->max)
		return true;
	/* Twice as often: the files of a working set larger than the
	 * cache, asked for about as often as each other, must not take
	 * turns in it on the sketch's noise. */
	return h->lru.oldest != NULL && freq_of(h, lru_hash(key)) > 2 *
	    freq_of(h, h->lru.oldest->hash);
}

struct hot_entry *
hot_entry_new_tagged(const char *key, char *body, size_t len, time_t mtime,
    const char *extra, const char *etag)
{
	struct hot_entry	*e = xcalloc(1, sizeof *e);

	e->_key = xstrdup(key);
	e->_refs = 1;
	e->plain.body = body;
	e->plain.len = len;
	e->mtime = mtime;
	e->extra = extra ? xstrdup(extra) : NULL;
	if (etag != NULL)
		snprintf(e->plain.etag, sizeof e->plain.etag, "%s", etag);
	else
		etag_of(body, len, e->plain.etag);
	e->plain.hdrs = make_hdrs(e, e->plain.etag, false);
	return e;
}

struct hot_entry *
hot_entry_new(const char *key, char *body, size_t len, time_t mtime,
    const char *extra)
{
	return hot_entry_new_tagged(key, body, len, mtime, extra, NULL);
}

struct hot_entry *
hot_insert(struct hot *h, struct hot_entry *e)
{
	struct lru_node	*old;
	uint64_t	 hv = lru_hash(e->_key);

	if (cost(e) > h->max / 4)
		return e;
	if ((old = lru_find(&h->lru, e->_key, hv)) != NULL)
		evict(h, ENTRY(old));
	while (h->lru.oldest != NULL && h->bytes + cost(e) > h->max)
		evict(h, ENTRY(h->lru.oldest));
	lru_add(&h->lru, &e->_node, e->_key, hv);
	e->_cached = true;
	e->_refs++;
	h->bytes += cost(e);
	return e;
}

struct hot_entry *
hot_make(struct hot *h, const char *key, char *body, size_t len,
    time_t mtime, const char *extra)
{
	return hot_insert(h, hot_entry_new(key, body, len, mtime, extra));
}

void
hot_entry_set_gzip(struct hot_entry *e, char *gz, size_t len)
{
	if (e->gzip.body != NULL) {
		free(gz);
		return;
	}
	e->gzip.body = gz;
	e->gzip.len = len;
	gzfile_etag(e->plain.etag, e->gzip.etag);
	e->gzip.hdrs = make_hdrs(e, e->gzip.etag, true);
}

void
hot_entry_compress(struct hot_entry *e)
{
	char	*out;
	size_t	 len;

	if (e->gzip.body != NULL)
		return;
	if (gzfile_make(e->plain.body, e->plain.len, e->plain.etag, &out,
	    &len) == 0)
		hot_entry_set_gzip(e, out, len);
	else
		e->gzip = e->plain;	/* not smaller (or zlib failed) */
}

const char *
hot_entry_key(const struct hot_entry *e)
{
	return e->_key;
}

bool
hot_entry_has_gzip(const struct hot_entry *e)
{
	return e->gzip.body != NULL && e->gzip.body != e->plain.body;
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
