/* libFuzzer: index lines and files, as an upstream could send them: the
 * check, the dependency reading of the prefetch, yank rewriting, merge. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "index/deps.h"
#include "index/indexline.h"
#include "index/jsonscan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Differential: what the fast scanner and the fast line parse vouch for,
 * jansson must accept and read the same way. */
static void
against_jansson(const char *line, size_t len, const struct index_entry *e)
{
	struct json_member	 m[8];
	size_t			 n;
	int			 fast = json_scan_object(line, len, m, 8, &n);
	json_t			*o = json_loadb(line, len,
				    JSON_REJECT_DUPLICATES, NULL);

	if (fast && (!json_is_object(o) || (n < 8 &&
	    json_object_size(o) != n)))
		abort();
	if (e != NULL && (!json_is_object(o) ||
	    strcmp(e->name, json_string_value(json_object_get(o,
	    "name"))) != 0 || strcmp(e->vers, json_string_value(
	    json_object_get(o, "vers"))) != 0 ||
	    strcmp(e->cksum, json_string_value(json_object_get(o,
	    "cksum"))) != 0 || e->yanked != json_is_true(json_object_get(o,
	    "yanked"))))
		abort();
	json_decref(o);
}

static int
each(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	char	*cause = NULL, *y;

	against_jansson(line, len, e);
	if (e != NULL && (y = index_line_set_yanked(line, len, !e->yanked,
	    &cause)) != NULL)
		free(y);
	free(cause);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char		*text = (const char *)data;
	char			*cause = NULL, *merged;
	size_t			 mlen;
	struct index_line_refs	 refs = { NULL, 0 };
	struct featreq		 req = { .defaults = len & 1 };
	struct wants		 w = { NULL, 0 };

	featreq_add(&req, "std", 3);
	featreq_add_req(&req, len & 2 ? "^1" : ">=0.1, <0.3");
	if (index_file_check_refs(text, len, "serde", &cause, &refs) != 0)
		free(cause);
	index_file_wants(text, len, refs.n > 0 ? &refs : NULL, &req, &w);
	wants_free(&w);
	featreq_free(&req);
	index_line_refs_free(&refs);
	index_file_foreach(text, len, each, NULL);
	merged = index_file_merge(text, len / 2, text + len / 2,
	    len - len / 2, len & 1, &mlen);
	free(merged);
	return 0;
}
