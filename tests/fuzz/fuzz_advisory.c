/* libFuzzer: one advisory file as a snapshot could hold it, through the
 * loader's own parsers (RustSec's OSV JSON and the main layout's TOML
 * front matter). The input is "PATH\nBYTES": the path as the snapshot
 * names it (crates/RUSTSEC-*.json, crates/NAME/RUSTSEC-*.md), then the
 * file. What loads is asked about a few versions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/advisories.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const char *const vers[] = { "0.0.0-0", "0.0.0", "0.1.0",
	    "1.0.0-alpha.1", "1.0.0", "1.2.3", "2.0.0-rc.1", "99.0.0" };
	const struct advisory	*m[8];
	const char		*nl = memchr(data, '\n', len), *rel;
	struct loader		 ld;
	struct semver		 v;
	char			*path;
	size_t			 i, j, k;
	int			 kind;

	if (nl == NULL)
		return 0;
	path = xstrndup((const char *)data, (size_t)(nl - (const char *)data));
	memset(&ld, 0, sizeof ld);
	ld.src = "fuzz";
	ld.db = xcalloc(1, sizeof *ld.db);
	kind = classify(path, &rel);
	if ((kind == PATH_OSV || kind == PATH_MD) && handle(&ld, rel, kind,
	    nl + 1, len - (size_t)(nl + 1 - (const char *)data)) == 0 &&
	    ld.db->n > 0 && duplicates(&ld) == 0) {
		finish(&ld);
		for (i = 0; i < sizeof vers / sizeof vers[0]; i++) {
			(void)semver_parse(vers[i], &v, NULL);
			for (j = 0; j < ld.db->n; j++) {
				k = advisory_db_match(ld.db,
				    ld.db->adv[j]->package, &v, m, 8);
				(void)k;
				(void)advisory_kind(ld.db->adv[j]);
			}
		}
	}
	for (i = 0; i < ld.nfiles; i++)
		free(ld.files[i].path);
	free(ld.files);
	free(ld.cause);
	advisory_db_free(ld.db);
	free(path);
	return 0;
}
