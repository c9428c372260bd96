/* libFuzzer: rustup's channel manifests and dist paths (issue 29): the
 * manifest parser, a toolchain's files picked from what it parsed, the
 * .sha256 reader, dist paths and Range headers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/distmanifest.h"
#include "index/distpath.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The input as a string, cut at its first NUL or newline. */
static void
as_line(const uint8_t *data, size_t len, char *out, size_t size)
{
	size_t	n = 0;

	while (n < len && n + 1 < size && data[n] != '\0' && data[n] != '\n') {
		out[n] = (char)data[n];
		n++;
	}
	out[n] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct dist_manifest	*m = NULL;
	struct dist_pick	*picks = NULL;
	struct dist_path	 dp;
	const char		*why, *t = "wasm32-unknown-unknown";
	const char		*c = "clippy";
	char			*cause = NULL, line[512], hex[65];
	char			 out[DIST_PATH_MAX];
	uint64_t		 a, b;
	size_t			 n = 0;

	if (dist_manifest_parse((const char *)data, len, &m, &cause) == 0) {
		for (size_t i = 0; i < m->nfiles; i++)
			dist_manifest_hash(m, m->files[i].rel);
		if (dist_manifest_select(m, "x86_64-unknown-linux-gnu",
		    "default", &t, 1, &c, 1, &picks, &n, &cause) == 0)
			dist_picks_free(picks, n);
		dist_manifest_size(m);
		dist_manifest_free(m);
	}
	free(cause);
	dist_sha256_parse((const char *)data, len, hex);
	as_line(data, len, line, sizeof line);
	dist_path_parse(line, &dp, &why);
	dist_range(line, len, &a, &b);
	dist_toolchain_manifest(line, out, &why);
	return 0;
}
