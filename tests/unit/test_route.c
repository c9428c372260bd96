/* Request paths to routes (protocol doc §2, §4, §9). */
#include <string.h>

#include "server/http/route.h"
#include "tests/tap.h"

static const struct {
	const char	*path;
	enum route_kind	 kind;
	const char	*registry, *name, *vers;
} cases[] = {
	{ "/-/health", ROUTE_HEALTH, "", "", "" },
	{ "/-/ready", ROUTE_READY, "", "", "" },
	{ "/-/metrics", ROUTE_METRICS, "", "", "" },
	{ "/-/registries", ROUTE_REGISTRIES, "", "", "" },
	{ "/-/purge", ROUTE_PURGE, "", "", "" },
	{ "/-/other", ROUTE_NONE, "", "", "" },
	{ "/", ROUTE_WEB_HOME, "", "", "" },
	{ "/-/ops", ROUTE_WEB_OPS, "", "", "" },
	{ "/-/signin", ROUTE_WEB_SIGNIN, "", "", "" },
	{ "/-/signout", ROUTE_WEB_SIGNOUT, "", "", "" },
	{ "/-/static/style.abc.css", ROUTE_WEB_STATIC, "", "", "" },
	{ "/-/static/../x", ROUTE_NONE, "", "", "" },
	{ "/local", ROUTE_WEB_REDIRECT, "local", "", "" },
	{ "/local/", ROUTE_WEB_REGISTRY, "local", "", "" },
	{ "/local/crates/serde", ROUTE_WEB_CRATE, "local", "serde", "" },
	{ "/local/crates/no%20pe", ROUTE_NONE, "local", "", "" },
	{ "/local/config.json", ROUTE_CONFIG, "local", "", "" },
	{ "/local/me", ROUTE_ME, "local", "", "" },
	{ "/local/1/a", ROUTE_INDEX, "local", "a", "" },
	{ "/local/2/ab", ROUTE_INDEX, "local", "ab", "" },
	{ "/local/3/a/abc", ROUTE_INDEX, "local", "abc", "" },
	{ "/local/se/rd/serde_json", ROUTE_INDEX, "local", "serde_json", "" },
	{ "/local/se/rd/Serde_json", ROUTE_NONE, "local", "", "" },
	{ "/local/3/b/abc", ROUTE_NONE, "local", "", "" },
	{ "/local/ca/rg/cargo/", ROUTE_NONE, "local", "", "" },
	{ "/local/../etc/passwd", ROUTE_NONE, "local", "", "" },
	{ "/local/%2e%2e/x", ROUTE_NONE, "local", "", "" },
	{ "/local/api/v1/crates", ROUTE_SEARCH, "local", "", "" },
	{ "/local/api/v1/crates/new", ROUTE_PUBLISH, "local", "", "" },
	{ "/local/api/v1/crates/Serde_Json/1.0.0/download", ROUTE_DOWNLOAD,
	  "local", "Serde_Json", "1.0.0" },
	{ "/local/api/v1/crates/alpha/1.0.0+build.5/download", ROUTE_DOWNLOAD,
	  "local", "alpha", "1.0.0+build.5" },
	{ "/local/api/v1/crates/alpha/1.0.0/yank", ROUTE_YANK, "local",
	  "alpha", "1.0.0" },
	{ "/local/api/v1/crates/alpha/1.0.0/unyank", ROUTE_UNYANK, "local",
	  "alpha", "1.0.0" },
	{ "/local/api/v1/crates/alpha/owners", ROUTE_OWNERS, "local", "alpha",
	  "" },
	{ "/local/api/v1/crates/alpha/1.0/download", ROUTE_NONE, "local",
	  "alpha", "1.0" },
	{ "/local/api/v1/crates/alpha/1.0.0/download/x", ROUTE_NONE, "local",
	  "alpha", "1.0.0" },
	{ "/local/api/v1/crates/..%2f..%2fetc/1.0.0/download", ROUTE_NONE,
	  "local", "", "" },
	{ "/local/api/v1/crates/9lives/1.0.0/download", ROUTE_NONE, "local",
	  "", "" },
	{ "/local/api/v1/crates/alpha//download", ROUTE_NONE, "local",
	  "alpha", "" },
	{ "/local/api/v1/crates/alpha/1.0.0/frobnicate", ROUTE_NONE, "local",
	  "alpha", "1.0.0" },
	{ "/local/api/v1/crate", ROUTE_NONE, "local", "", "" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct route	rt;

		route_parse(cases[i].path, &rt);
		ok(rt.kind == cases[i].kind, "%s: kind %d (got %d)",
		    cases[i].path, cases[i].kind, rt.kind);
		if (cases[i].kind == ROUTE_NONE)
			continue;
		is_str(rt.registry, cases[i].registry, "%s: registry",
		    cases[i].path);
		is_str(rt.name, cases[i].name, "%s: name", cases[i].path);
		is_str(rt.vers, cases[i].vers, "%s: version", cases[i].path);
	}
	ok(route_is_api(ROUTE_PUBLISH) && !route_is_api(ROUTE_INDEX),
	    "api kinds");
	return done_testing();
}
