/* What an upstream answer means, for index files, config.json and crates
 * alike: a usable body, not modified, not found, crated misconfigured (a
 * refused credential, a sign-in page), or a failure worth a stale copy. */
#include "server/mirror/mirror_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "server/core/metrics.h"
#include "server/upstream/upstream.h"

void
mirror_count_upstream(struct mirror *m, double seconds, const char *kind,
    enum verdict v)
{
	static const char	*outcomes[] = { "200", "304", "404", "config",
				    "error" };
	char			 lab[64];

	snprintf(lab, sizeof lab, "kind=\"%s\",outcome=\"%s\"", kind,
	    outcomes[v]);
	mirror_count(m, METRIC_UPSTREAM_REQUESTS_TOTAL, lab, 1);
	metrics_observe(METRIC_UPSTREAM_DURATION_SECONDS, m->labels,
	    seconds);
}

/* The upstream's own message from an error body: Azure's JSON "message",
 * cargo's errors[0].detail, an HTML page's title, or the start of the
 * text. New string. */
char *
mirror_message_of(const char *body, size_t len)
{
	json_t		*j = json_loadb(body, len, 0, NULL);
	const char	*msg = json_string_value(json_object_get(j, "message"));
	const char	*t, *te;
	char		*out;

	if (msg == NULL)
		msg = json_string_value(json_object_get(json_array_get(
		    json_object_get(j, "errors"), 0), "detail"));
	if (msg != NULL)
		out = xstrdup(msg);
	else if ((t = memmem(body, len, "<title>", 7)) != NULL &&
	    (te = memmem(t + 7, len - (size_t)(t + 7 - body), "</title>",
	    8)) != NULL && te - t - 7 <= 200)
		out = xstrndup(t + 7, (size_t)(te - t - 7));
	else
		out = xstrndup(body, len > 200 ? 200 : len);
	for (char *p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	json_decref(j);
	return out;
}

bool
mirror_looks_html(const char *ct, const char *body, size_t len)
{
	if (ct != NULL && strcasestr(ct, "html") != NULL)
		return true;
	while (len > 0 && isspace((unsigned char)*body)) {
		body++;
		len--;
	}
	return len > 0 && *body == '<';
}

/*
 * What an upstream's status, Content-Type and body (or its start) mean,
 * for index files and crates alike; *why (new) says what went wrong for
 * the verdicts that are failures.
 */
enum verdict
mirror_verdict_of(struct fetch *f, long status, const char *body, size_t len,
    char **why)
{
	char		*msg;

	*why = NULL;
	switch (status) {
	case 200:
		if (mirror_looks_html(fetch_header(f, "Content-Type"), body,
		    len)) {
			msg = mirror_message_of(body, len);
			*why = xasprintf("upstream answered 200 with an HTML"
			    " page%s (a sign-in page? check the upstream"
			    " credential): %s", fetch_redirects(f) ?
			    " after a redirect" : "", msg);
			free(msg);
			return V_CONFIG;
		}
		return V_OK;
	case 304:
		return V_NOT_MODIFIED;
	case 404:
	case 410:
	case 451:
		return V_NOT_FOUND;
	case 203:
	case 401:
	case 403:
		msg = mirror_message_of(body, len);
		*why = xasprintf("upstream refused crated's credential (%ld):"
		    " %s", status, msg);
		free(msg);
		return V_CONFIG;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		msg = mirror_message_of(body, len);
		*why = xasprintf("upstream %ld: %s", status, msg);
		free(msg);
		return V_TRANSIENT;
	}
	if (status >= 300 && status < 400) {
		const char	*loc = fetch_header(f, "Location");

		*why = xasprintf("upstream redirected (%ld) to %s, which"
		    " crated did not follow (a sign-in page?)", status,
		    loc ? loc : "nowhere");
		return V_CONFIG;
	}
	msg = mirror_message_of(body, len);
	*why = xasprintf("upstream answered %ld: %s", status, msg);
	free(msg);
	return status >= 500 ? V_TRANSIENT : V_CONFIG;
}

/*
 * Judges a finished fetch by its status and headers; *why (new) says what
 * went wrong for the verdicts that are failures. (An index file's lines
 * are checked afterwards, off the loop: mirror_index.c, digest_work.)
 */
enum verdict
mirror_judge(struct mirror *m, struct fetch *f, char **why)
{
	long		 status = fetch_status(f);
	const char	*body;
	size_t		 len;

	*why = NULL;
	if (fetch_failed(f) && (status < 200 || status >= 300 ||
	    fetch_timed_out(f))) {
		*why = xasprintf("upstream %s: %s", fetch_timed_out(f) ?
		    "timed out" : "unreachable", fetch_error(f));
		return V_TRANSIENT;
	}
	if (fetch_failed(f)) {
		*why = xasprintf("upstream transfer failed: %s",
		    fetch_error(f));
		return V_TRANSIENT;
	}
	body = fetch_body(f, &len);
	return mirror_verdict_of(f, status, body, len, why);
}
