/* config.json parsing and the dl template (protocol doc §3, §7). */
#include <stdlib.h>
#include <string.h>

#include "index/regconfig.h"
#include "tests/tap.h"

static void
url(const char *dl, const char *name, const char *vers, const char *want)
{
	char	*got = regconfig_dl_url(dl, name, vers, "abc123");

	is_str(got, want, "dl %s for %s %s", dl, name, vers);
	free(got);
}

static void
parse(const char *json, int want, const char *dl, const char *api,
    bool auth)
{
	struct regconfig	rc;
	char			*cause = NULL;
	int			 r = regconfig_parse(json, strlen(json), &rc,
				    &cause);

	ok(r == want, "parse %s", json);
	if (r == 0) {
		is_str(rc.dl, dl, "dl of %s", json);
		is_str(rc.api, api, "api of %s", json);
		ok(rc.auth_required == auth, "auth-required of %s", json);
		regconfig_finish(&rc);
	} else
		ok(cause != NULL && strlen(cause) > 0, "cause: %s", cause);
	free(cause);
}

int
main(void)
{
	url("https://crates.io/api/v1/crates", "serde", "1.0.0",
	    "https://crates.io/api/v1/crates/serde/1.0.0/download");
	url("http://r/f/{lowerprefix}/{crate}-{version}.crate", "Serde_Json",
	    "1.0.0", "http://r/f/se/rd/Serde_Json-1.0.0.crate");
	url("http://r/{prefix}/{crate}/{version}", "Serde_Json", "1.0.0",
	    "http://r/Se/rd/Serde_Json/1.0.0");
	url("http://r/{prefix}/{crate}", "AbC", "0.1.0", "http://r/3/A/AbC");
	url("http://r/{lowerprefix}/{crate}", "AbC", "0.1.0",
	    "http://r/3/a/AbC");
	url("http://r/{prefix}", "a", "1.0.0", "http://r/1");
	url("http://r/{prefix}", "ab", "1.0.0", "http://r/2");
	url("http://r/x?sum={sha256-checksum}", "a", "1.0.0",
	    "http://r/x?sum=abc123");
	url("http://r/{crate}/{version}/download", "alpha", "1.0.0+build.5",
	    "http://r/alpha/1.0.0+build.5/download");
	url("http://r/{unknown}/{crate}", "a", "1.0.0", "http://r/{unknown}/a");
	url("https://pkgs.dev.azure.com/o/5c2d/_packaging/9f1a/cargo/api/v1/"
	    "crates/{crate}/{version}/download", "mshv-bindings",
	    "0.1.2-20240416", "https://pkgs.dev.azure.com/o/5c2d/_packaging/"
	    "9f1a/cargo/api/v1/crates/mshv-bindings/0.1.2-20240416/download");

	parse("{\"dl\":\"http://x/d\",\"api\":\"http://x\"}", 0, "http://x/d",
	    "http://x", false);
	parse("{\"dl\":\"http://x/d\",\"auth-required\":true,\"extra\":1}", 0,
	    "http://x/d", NULL, true);
	parse("{\"api\":\"http://x\"}", -22, NULL, NULL, false);
	parse("{\"dl\":\"\"}", -22, NULL, NULL, false);
	parse("{\"dl\":5}", -22, NULL, NULL, false);
	parse("[1]", -22, NULL, NULL, false);
	parse("<html>sign in</html>", -22, NULL, NULL, false);
	parse("", -22, NULL, NULL, false);
	{
		static const char *const cases[][2] = {
			{ "sparse+https://x/r/", "https://x/r/" },
			{ "sparse+https://x/r", "https://x/r/" },
			{ "registry+https://github.com/rust-lang/crates.io-index",
			  "https://github.com/rust-lang/crates.io-index/" },
			{ "https://x/", "https://x/" },
			{ "", "/" },
		};

		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			char	*u = regconfig_index_url(cases[i][0]);

			is_str(u, cases[i][1], "index URL of \"%s\"",
			    cases[i][0]);
			free(u);
		}
	}
	return done_testing();
}
