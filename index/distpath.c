#include "index/distpath.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEPTH_MAX	8

static bool
path_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	    c == '+';
}

bool
dist_is_date(const char *s, size_t len)
{
	static const char	shape[] = "dddd-dd-dd";

	if (len != 10)
		return false;
	for (size_t i = 0; i < 10; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != '-')
			return false;
	return true;
}

/* A channel name as it appears in channel-rust-C.toml: "stable", "1.95",
 * "1.95.0", "nightly"; lowercase letters, digits, '.' and '-'. */
static bool
channel_ok(const char *s, size_t len)
{
	if (len == 0 || len >= DIST_CHANNEL_MAX || s[0] == '.' ||
	    s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <=
		    '9') || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t	n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* file (len bytes) is "channel-rust-C.toml" or its ".sha256": the pair's
 * .toml name goes to toml (prefix + the file without ".sha256"). */
static bool
manifest_file(const char *file, size_t len, struct dist_path *out,
    const char *prefix)
{
	size_t	n = len;

	out->sha256 = ends_with(file, n, ".sha256");
	if (out->sha256)
		n -= 7;
	if (n <= 13 + 5 || strncmp(file, "channel-rust-", 13) != 0 ||
	    !ends_with(file, n, ".toml") || !channel_ok(file + 13, n - 18))
		return false;
	snprintf(out->channel, sizeof out->channel, "%.*s", (int)(n - 18),
	    file + 13);
	snprintf(out->toml, sizeof out->toml, "%s%.*s", prefix, (int)n, file);
	return true;
}

/* Checks every segment of rel; -1 with *why. */
static int
check_segments(const char *rel, const char **why)
{
	const char	*p = rel;
	int		 depth = 0;

	for (;;) {
		size_t	n = strcspn(p, "/");

		if (n == 0) {
			*why = "empty path segment";
			return -1;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' &&
		    p[1] == '.')) {
			*why = "\".\" or \"..\" in the path";
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (!path_byte(p[i])) {
				*why = "a byte outside [A-Za-z0-9._+-] in the"
				    " path";
				return -1;
			}
		if (++depth > DEPTH_MAX) {
			*why = "path too deep";
			return -1;
		}
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* What lies under dist/ (rest: after "dist/"). */
static void
dist_kind_of(const char *rest, struct dist_path *out)
{
	const char	*slash = strchr(rest, '/');
	const char	*file;
	size_t		 len;

	if (slash == NULL) {
		if (manifest_file(rest, strlen(rest), out, "dist/"))
			out->kind = DIST_CHANNEL;
		return;
	}
	if (!dist_is_date(rest, (size_t)(slash - rest)))
		return;
	memcpy(out->date, rest, 10);
	out->date[10] = '\0';
	file = slash + 1;
	if (strchr(file, '/') != NULL)
		return;
	len = strlen(file);
	if (manifest_file(file, len, out, "")) {
		snprintf(out->toml, sizeof out->toml, "dist/%s/%.*s", out->date,
		    (int)(len - (out->sha256 ? 7 : 0)), file);
		out->kind = DIST_DATED_MANIFEST;
	} else if (ends_with(file, len, ".tar.xz") || ends_with(file, len,
	    ".tar.gz")) {
		out->sha256 = false;
		out->channel[0] = '\0';
		out->kind = DIST_TARBALL;
	}
}

/* What lies under rustup/ (rest: after "rustup/"). */
static void
rustup_kind_of(const char *rest, struct dist_path *out)
{
	size_t		 len = strlen(rest);
	const char	*p;
	int		 slashes = 0;

	if (strchr(rest, '/') == NULL && strncmp(rest, "release-", 8) == 0 &&
	    ends_with(rest, len, ".toml") && channel_ok(rest + 8, len - 13)) {
		snprintf(out->channel, sizeof out->channel, "%.*s",
		    (int)(len - 13), rest + 8);
		snprintf(out->toml, sizeof out->toml, "rustup/%s", rest);
		out->kind = DIST_RELEASE;
		return;
	}
	if (strncmp(rest, "archive/", 8) != 0)
		return;
	for (p = rest + 8; *p != '\0'; p++)
		slashes += *p == '/';
	p = strrchr(rest, '/') + 1;
	if (slashes == 2 && (strcmp(p, "rustup-init") == 0 ||
	    strcmp(p, "rustup-init.exe") == 0))
		out->kind = DIST_RUSTUP_INIT;
}

int
dist_path_parse(const char *rel, struct dist_path *out, const char **why)
{
	memset(out, 0, sizeof *out);
	out->kind = DIST_OTHER;
	if (strlen(rel) >= DIST_PATH_MAX) {
		*why = "path too long";
		return -1;
	}
	if (strncmp(rel, "dist/", 5) != 0 && strncmp(rel, "rustup/", 7) != 0) {
		*why = "not under dist/ or rustup/";
		return -1;
	}
	if (check_segments(rel, why) != 0)
		return -1;
	if (rel[0] == 'd')
		dist_kind_of(rel + 5, out);
	else
		rustup_kind_of(rel + 7, out);
	if (out->kind == DIST_OTHER || out->kind == DIST_TARBALL ||
	    out->kind == DIST_RUSTUP_INIT) {
		out->sha256 = false;
		out->toml[0] = '\0';
	}
	return 0;
}

int
dist_toolchain_manifest(const char *tc, char *out, const char **why)
{
	size_t	len = strlen(tc);

	if (len > 11 && tc[len - 11] == '-' && dist_is_date(tc + len - 10,
	    10)) {
		size_t	n = len - 11;

		if (!((n == 6 && strncmp(tc, "stable", 6) == 0) || (n == 4 &&
		    strncmp(tc, "beta", 4) == 0) || (n == 7 && strncmp(tc,
		    "nightly", 7) == 0))) {
			*why = "a dated toolchain is stable-, beta- or"
			    " nightly-YYYY-MM-DD";
			return -1;
		}
		snprintf(out, DIST_PATH_MAX, "dist/%s/channel-rust-%.*s.toml",
		    tc + len - 10, (int)n, tc);
		return 0;
	}
	if (!channel_ok(tc, len)) {
		*why = "a toolchain is stable, beta, nightly, a version (1.95,"
		    " 1.95.0) or CHANNEL-YYYY-MM-DD";
		return -1;
	}
	snprintf(out, DIST_PATH_MAX, "dist/channel-rust-%s.toml", tc);
	return 0;
}

/* Digits at *p into *v, advancing *p; false when none or too many. */
static bool
number(const char **p, uint64_t *v)
{
	const char	*s = *p;

	*v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*v > (UINT64_MAX - 9) / 10)
			return false;
		*v = *v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	return true;
}

int
dist_range(const char *h, uint64_t size, uint64_t *first, uint64_t *last)
{
	uint64_t	a, b;
	const char	*p;

	if (h == NULL || strncasecmp(h, "bytes", 5) != 0)
		return 0;
	p = h + 5 + strspn(h + 5, " \t");
	if (*p++ != '=' || strchr(p, ',') != NULL)
		return 0;
	p += strspn(p, " \t");
	if (*p == '-') {			/* the last b bytes */
		p++;
		if (!number(&p, &b) || p[strspn(p, " \t")] != '\0')
			return 0;
		if (b == 0 || size == 0)
			return -1;
		*first = b < size ? size - b : 0;
		*last = size - 1;
		return 1;
	}
	if (!number(&p, &a) || *p++ != '-')
		return 0;
	b = UINT64_MAX;
	if (*p >= '0' && *p <= '9' && (!number(&p, &b) || b < a))
		return 0;
	if (p[strspn(p, " \t")] != '\0')
		return 0;
	if (a >= size)
		return -1;
	*first = a;
	*last = b < size - 1 ? b : size - 1;
	return 1;
}

/* Whether s starts a version in a tarball's name: "beta", "nightly" or
 * N.N.N, then '-' or the end; *len its length. */
static bool
version_at(const char *s, size_t *len)
{
	const char	*p = s;
	uint64_t	 v;

	if (strncmp(s, "beta", 4) == 0 && (s[4] == '-' || s[4] == '\0'))
		p = s + 4;
	else if (strncmp(s, "nightly", 7) == 0 && (s[7] == '-' ||
	    s[7] == '\0'))
		p = s + 7;
	else if (!number(&p, &v) || *p++ != '.' || !number(&p, &v) ||
	    *p++ != '.' || !number(&p, &v) || (*p != '-' && *p != '\0'))
		return false;
	*len = (size_t)(p - s);
	return true;
}

int
dist_tarball_name(const char *file, char *pkg, char *version, char *triple)
{
	char	name[DIST_PATH_MAX];
	size_t	len = strlen(file), vlen;

	if (len >= sizeof name || !(ends_with(file, len, ".tar.xz") ||
	    ends_with(file, len, ".tar.gz")))
		return -1;
	memcpy(name, file, len - 7);
	name[len - 7] = '\0';
	for (char *p = strchr(name + 1, '-'); p != NULL; p = strchr(p + 1,
	    '-')) {
		if (!version_at(p + 1, &vlen))
			continue;
		if ((size_t)(p - name) >= DIST_CHANNEL_MAX || vlen >=
		    DIST_CHANNEL_MAX)
			return -1;
		snprintf(pkg, DIST_CHANNEL_MAX, "%.*s", (int)(p - name), name);
		snprintf(version, DIST_CHANNEL_MAX, "%.*s", (int)vlen, p + 1);
		snprintf(triple, DIST_PATH_MAX, "%s", p[1 + vlen] == '-' ?
		    p + 2 + vlen : "");
		return 0;
	}
	return -1;
}
