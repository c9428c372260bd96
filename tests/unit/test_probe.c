/* server/mirror/probe.c: the Azure PAT encoding, the setting named in messages,
 * and the configuration checks of the credential and crates.io keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/mirror/probe.h"
#include "server/upstream/credential.h"
#include "tests/tap.h"

/* The configuration check's verdict on text: NULL, or its message (new). */
static char *
checked(const char *text)
{
	struct config	*c = NULL;
	char		*cause = NULL;

	if (config_parse(text, strlen(text), "crated.toml", &c, &cause) != 0)
		return cause;
	if (config_check(c, &cause) != 0) {
		config_free(c);
		return cause;
	}
	config_free(c);
	return NULL;
}

static void
refused(const char *text, const char *want)
{
	char	*cause = checked(text);

	ok(cause != NULL && strstr(cause, want) != NULL, "refused: %s", want);
	if (cause == NULL || strstr(cause, want) == NULL)
		printf("#   got: %s\n", cause ? cause : "(accepted)");
	free(cause);
}

int
main(void)
{
	struct config	*c = NULL;
	const char	*text;
	char		*s, *cause = NULL, pat[85];

	s = credential_pat_basic("abc");
	is_str(s, "Basic UEFUOmFiYw==", "PAT:abc in base64, padded");
	free(s);
	memset(pat, 'A', 84);
	pat[84] = '\0';
	s = credential_pat_basic(pat);
	ok(strlen(s) == 6 + 120 && strchr(s, '\n') == NULL &&
	    strchr(s + 6, ' ') == NULL, "an 84-character PAT: 120 base64"
	    " characters on one line");
	free(s);

	s = credential_clean(xstrdup("Basic abc \r\nsecond line\n"));
	is_str(s, "Basic abc", "first line, trailing space trimmed");
	free(s);
	ok(credential_clean(xstrdup(" \n")) == NULL, "blank: nothing");

	text = "[registries.corp]\nupstream = \"https://x/\"\n"
	    "upstream_pat_env = \"CORP_PAT\"\n";
	ok(config_parse(text, strlen(text), "crated.toml", &c, &cause) == 0,
	    "upstream_pat_env parses");
	if (c == NULL) {
		printf("#   %s\n", cause);
		return done_testing();
	}
	s = credential_setting(&c->regs[0]);
	is_str(s, "upstream_pat_env = \"CORP_PAT\"", "the setting as written");
	free(s);
	ok(c->regs[0].probe_interval == 300, "probe_interval default");
	ok(!config_crates_io(&c->regs[0]), "not a crates.io stand-in");
	config_free(c);

	s = checked("[registries.cio]\nupstream = \"http://mirror.corp/\"\n"
	    "replace_crates_io = true\n");
	ok(s == NULL, "one stand-in for crates.io");
	free(s);
	refused("[registries.a]\nupstream = \"https://x/\"\n"
	    "upstream_pat_env = \"P\"\nupstream_token_env = \"T\"\n",
	    "give one credential");
	refused("[registries.a]\nupstream_pat_file = \"/p\"\n",
	    "need an upstream (this registry is hosted)");
	refused("[registries.a]\nreplace_crates_io = true\n",
	    "need an upstream (this registry is hosted)");
	refused("[registries.a]\nupstream = \"https://index.crates.io/\"\n"
	    "[registries.b]\nupstream = \"https://m.corp/\"\n"
	    "replace_crates_io = true\n", "both stand in for crates.io");
	refused("listen = [\"0.0.0.0:8080\"]\npublic_url = \"http://c.example\"\n"
	    "[registries.a]\nupstream = \"https://x/\"\n"
	    "upstream_pat_env = \"P\"\n", "holds an upstream credential");
	return done_testing();
}
