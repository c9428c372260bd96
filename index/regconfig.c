#include "index/regconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "index/name.h"

int
regconfig_parse(const char *text, size_t len, struct regconfig *rc,
    char **cause)
{
	json_error_t	 err;
	json_t		*j, *dl, *api, *auth;

	memset(rc, 0, sizeof *rc);
	if ((j = json_loadb(text, len, 0, &err)) == NULL ||
	    !json_is_object(j)) {
		*cause = xasprintf("config.json is not a JSON object%s%s",
		    j == NULL ? ": " : "", j == NULL ? err.text : "");
		json_decref(j);
		return -EINVAL;
	}
	dl = json_object_get(j, "dl");
	api = json_object_get(j, "api");
	auth = json_object_get(j, "auth-required");
	if (!json_is_string(dl) || json_string_length(dl) == 0) {
		*cause = xstrdup("config.json has no \"dl\" download template");
		json_decref(j);
		return -EINVAL;
	}
	rc->dl = xstrdup(json_string_value(dl));
	if (json_is_string(api))
		rc->api = xstrdup(json_string_value(api));
	rc->auth_required = json_is_true(auth);
	json_decref(j);
	return 0;
}

void
regconfig_finish(struct regconfig *rc)
{
	free(rc->dl);
	free(rc->api);
	memset(rc, 0, sizeof *rc);
}

static const char *const markers[] = { "{crate}", "{version}", "{prefix}",
    "{lowerprefix}", "{sha256-checksum}" };

char *
regconfig_dl_url(const char *dl, const char *name, const char *vers,
    const char *cksum)
{
	char		 prefix[INDEX_PATH_MAX], lower[INDEX_PATH_MAX];
	const char	*values[5] = { name, vers, prefix, lower, cksum };
	char		*out = NULL, *tmp;
	bool		 any = false;

	for (size_t i = 0; i < 5; i++)
		if (strstr(dl, markers[i]) != NULL)
			any = true;
	if (!any)
		return xasprintf("%s/%s/%s/download", dl, name, vers);
	crate_prefix(name, false, prefix);
	crate_prefix(name, true, lower);
	out = xstrdup("");
	for (const char *p = dl; *p != '\0';) {
		size_t	i;

		for (i = 0; i < 5; i++)
			if (strncmp(p, markers[i], strlen(markers[i])) == 0)
				break;
		if (i < 5) {
			tmp = xasprintf("%s%s", out, values[i]);
			p += strlen(markers[i]);
		} else {
			size_t	n = strcspn(p + 1, "{") + 1;

			tmp = xasprintf("%s%.*s", out, (int)n, p);
			p += n;
		}
		free(out);
		out = tmp;
	}
	return out;
}

char *
regconfig_index_url(const char *url)
{
	size_t	n;

	if (strncmp(url, "registry+", 9) == 0)
		url += 9;
	else if (strncmp(url, "sparse+", 7) == 0)
		url += 7;
	n = strlen(url);
	return xasprintf("%s%s", url, n > 0 && url[n - 1] == '/' ? "" : "/");
}
