/* libFuzzer: an index file (as an upstream could send it) through
 * policy_filter_index, with a deny rule and the age gate. Without hide,
 * every line comes out as it went in, or (held or denied) with
 * "yanked": true and nothing else different as jansson reads both, and
 * the copy stays within its bound; with hide, the same file less exactly
 * the denied lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy/policy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Some versions were first seen an hour ago, some long ago. */
static time_t
seen(const char *name, const char *vers, void *arg)
{
	return strlen(vers) % 3 == 0 ? 1796641200 : 0;
}

/* A changed line: out must be in with yanked true, nothing else moved. */
static void
compare(const char *in, size_t ilen, const char *out, size_t olen)
{
	json_t	*a = json_loadb(in, ilen, JSON_REJECT_DUPLICATES, NULL);
	json_t	*b = json_loadb(out, olen, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(a) || !json_is_object(b) ||
	    !json_is_true(json_object_get(b, "yanked")) ||
	    json_is_true(json_object_get(a, "yanked")))
		abort();
	json_object_del(a, "yanked");
	json_object_del(b, "yanked");
	if (!json_equal(a, b))
		abort();
	json_decref(a);
	json_decref(b);
}

/* The next line of [*p, end): its start and length; *p moves past it. */
static const char *
next(const char **p, const char *end, size_t *n)
{
	const char	*s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

	*n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl != NULL ? nl + 1 : end;
	return s;
}

static void
same_lines(const char *in, size_t len, const char *out, size_t olen)
{
	const char	*p = in, *pe = in + len, *q = out, *qe = out + olen;
	const char	*a, *b;
	size_t		 an, bn, lines = 1;

	for (a = in; (a = memchr(a, '\n', (size_t)(pe - a))) != NULL; a++)
		lines++;
	if (olen > len + lines * 14)
		abort();
	while (p < pe || q < qe) {
		if (p >= pe || q >= qe)
			abort();
		a = next(&p, pe, &an);
		b = next(&q, qe, &bn);
		if (an != bn || memcmp(a, b, an) != 0)
			compare(a, an, b, bn);
	}
	if ((len > 0 && in[len - 1] == '\n') != (olen > 0 &&
	    out[olen - 1] == '\n'))
		abort();
}

/* part is full less exactly ndrop whole lines. */
static void
less_lines(const char *full, size_t flen, const char *part, size_t plen,
    size_t ndrop)
{
	const char	*p = full, *pe = full + flen, *q = part, *qe = part + plen;
	const char	*a, *b, *qs;
	size_t		 an, bn, dropped = 0;

	while (q < qe) {
		qs = q;
		b = next(&q, qe, &bn);
		for (;;) {
			if (p >= pe)
				abort();
			a = next(&p, pe, &an);
			if (an == bn && memcmp(a, b, an) == 0)
				break;
			dropped++;
		}
		(void)qs;
	}
	while (p < pe) {
		next(&p, pe, &an);
		dropped++;
	}
	if (dropped != ndrop)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static struct policy_rule	rule;
	static int			once;
	struct policy_settings		s;
	struct policy_filtered		f, h;
	const char			*in = (const char *)data, *full;
	size_t				 flen;

	if (!once && policy_rule_parse("fuzz@<1.0.0", &rule, NULL) == 0)
		once = 1;
	memset(&s, 0, sizeof s);
	s.min_publish_age = 7 * 86400;
	s.deny = &rule;
	s.ndeny = (size_t)once;
	s.advisory_action = VERDICT_FLAG;
	policy_filter_index(&s, NULL, 0, NULL, "fuzz", in, len, seen, NULL,
	    1796644800, &f);
	if (f.body != NULL)
		same_lines(in, len, f.body, f.len);
	else if (f.len != 0)
		abort();
	s.hide = true;
	policy_filter_index(&s, NULL, 0, NULL, "fuzz", in, len, seen, NULL,
	    1796644800, &h);
	full = f.body != NULL ? f.body : in;
	flen = f.body != NULL ? f.len : len;
	if (h.denied != f.denied || h.held != f.held)
		abort();
	if (h.body != NULL)
		less_lines(full, flen, h.body, h.len, h.denied);
	else if (h.denied != 0)
		abort();
	policy_filtered_clear(&f);
	policy_filtered_clear(&h);
	return 0;
}
