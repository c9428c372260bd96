/* The web pages' pure parts: HTML escaping, README sanitising, sessions
 * and CSRF tokens, static assets. */
#include <stdlib.h>
#include <string.h>

#include "server/core/history.h"
#include "server/web/assets.h"
#include "server/web/html.h"
#include "server/web/readme.h"
#include "server/web/session.h"
#include "tests/tap.h"

static void
escaping(void)
{
	struct html	 h;
	char		*s;

	s = html_escape("<script>\"x\" & 'y'</script>\x01\x1b");
	is_str(s, "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;",
	    "every markup character escaped, control bytes dropped");
	free(s);
	html_init(&h);
	html_put(&h, "<a href=\"/%s\">%s</a> %d %z %L %u%%", "a\"b", "<b>", -3,
	    (size_t)7, 9LL, 4u);
	is_str(h.buf, "<a href=\"/a&quot;b\">&lt;b&gt;</a> -3 7 9 4%",
	    "html_put escapes values, formats numbers");
	html_finish(&h);
	html_init(&h);
	html_put(&h, "%R|%s", "<i>", NULL);
	is_str(h.buf, "<i>|", "R is markup, a NULL value is nothing");
	html_finish(&h);
	html_init(&h);
	html_url(&h, "a b&c<\"/é");
	is_str(h.buf, "a%20b%26c%3C%22%2F%C3%A9", "html_url percent-encodes");
	html_finish(&h);
}

static void
markdown(void)
{
	static const char	md[] = "# T <script>alert(1)</script>\n\n"
	    "<!-- secret comment -->\n\n<img src=x onerror=alert(2)>\n\n"
	    "[js](javascript:alert(3)) [JS](JaVaScRiPt:alert(4))"
	    " [d](data:text/html;base64,PHNjcmlwdD4=) [tab](java\tscript:x)"
	    " [ok](https://e.example/) [rel](docs/x.md) [m](mailto:a@b.c)\n\n"
	    "![img](https://e.example/i.png) ![bad](javascript:x)\n\n"
	    "<div onclick=\"x()\">block</div>\n\n| a |\n|---|\n| 1 |\n";
	static const char	heads[] = "# One\n\n## Two\n\nSetext\n===\n\n"
	    "#### Four\n\n##### Five\n\n###### Six\n";
	char			*out = readme_render(md, strlen(md));

	ok(strstr(out, "<script") == NULL, "no script element");
	ok(strstr(out, "<!--") == NULL && strstr(out, "secret") == NULL,
	    "comments dropped");
	ok(strstr(out, "onerror") == NULL && strstr(out, "onclick") == NULL,
	    "raw HTML dropped");
	ok(strstr(out, "<img") == NULL, "images become links");
	ok(strstr(out, "javascript") == NULL && strstr(out, "JaVaScRiPt") ==
	    NULL && strstr(out, "data:") == NULL, "unsafe links dropped");
	ok(strstr(out, "<a href=\"https://e.example/\">ok</a>") != NULL,
	    "https links kept");
	ok(strstr(out, "<a href=\"docs/x.md\">rel</a>") != NULL,
	    "relative links kept");
	ok(strstr(out, "mailto:a@b.c") != NULL, "mailto kept");
	ok(strstr(out, "<a href=\"https://e.example/i.png\">img</a>") != NULL,
	    "an image is a link to it");
	ok(strstr(out, "<table>") != NULL, "GFM tables");
	ok(strstr(out, ">js<") == NULL && strstr(out, "js ") != NULL,
	    "a dropped link keeps its text");
	free(out);
	out = readme_render(heads, strlen(heads));
	ok(strstr(out, "<h1") == NULL && strstr(out, "<h2") == NULL,
	    "no README heading above the page's h2");
	ok(strstr(out, "<h3>One</h3>") != NULL && strstr(out, "<h4>Two</h4>") !=
	    NULL && strstr(out, "<h3>Setext</h3>") != NULL,
	    "README headings demoted by two levels");
	ok(strstr(out, "<h6>Four</h6>") != NULL && strstr(out,
	    "<h6>Five</h6>") != NULL && strstr(out, "<h6>Six</h6>") != NULL,
	    "README headings capped at h6");
	free(out);
	ok(readme_url_safe("https://x/") && readme_url_safe("/a:b") &&
	    readme_url_safe("#top") && !readme_url_safe("javascript:x") &&
	    !readme_url_safe("data:image/png;base64,AA") &&
	    !readme_url_safe("vbscript:x") && !readme_url_safe(" java\nscript:"),
	    "readme_url_safe");
}

static void
package_fields(void)
{
	static const char	toml[] = "[package]\nname = \"x\"\n"
	    "description = \"a \\\"quoted\\\" one\"\nlicense = 'MIT'\n"
	    "[dependencies.y]\nlicense = \"no\"\n";
	static const struct {
		const char	*toml, *want, *name;
	} more[] = {
		{ "[package]\ndescription = \"\"\"\nfirst\nsecond \\\"q\\\" end\"\"\"\n",
		  "first\nsecond \"q\" end", "multi-line basic string" },
		{ "[package]\ndescription = '''\nraw \\n\nline'''\n",
		  "raw \\n\nline", "multi-line literal string" },
		{ "[package]\ndescription = \"\"\"a \\\n    b\"\"\"\n", "a b",
		  "a line-ending backslash" },
		{ "[package]\ndescription = \"caf\\u00e9 \\U0001F980\"\n",
		  "caf\xc3\xa9 \xf0\x9f\xa6\x80", "\\u and \\U escapes" },
		{ "[package]\ndescription = \"\\ud800x\"\n", "x",
		  "a surrogate escape is dropped" },
		{ "[package]\ndescription = \"\"\n", "", "empty" },
		{ "[package]\ndescription = \"\"\"never closed\n",
		  "never closed\n",
		  "an unclosed multi-line string ends with the file" },
		{ "[package]\ndescription = \"one line\nname = \"x\"\n",
		  "one line", "an unclosed one-line string ends with its line" },
	};
	char			*s;

	s = readme_package_field(toml, strlen(toml), "description");
	is_str(s, "a \"quoted\" one", "basic string with escapes");
	free(s);
	s = readme_package_field(toml, strlen(toml), "license");
	is_str(s, "MIT", "literal string, [package] only");
	free(s);
	ok(readme_package_field(toml, strlen(toml), "readme") == NULL,
	    "absent field");
	for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) {
		s = readme_package_field(more[i].toml, strlen(more[i].toml),
		    "description");
		is_str(s, more[i].want, "%s", more[i].name);
		free(s);
	}
}

static void
sessions(void)
{
	struct sessions		*ss = sessions_create();
	const struct session	*s, *t;
	char			 id[SESSION_ID_LEN + 1], csrf[SESSION_ID_LEN + 1];
	char			 v[80];

	s = sessions_new(ss, "crated_abc", 1000);
	ok(s != NULL && strlen(s->id) == SESSION_ID_LEN &&
	    strcmp(s->id, s->csrf) != 0, "a session: random id and CSRF");
	memcpy(id, s->id, sizeof id);
	memcpy(csrf, s->csrf, sizeof csrf);
	t = sessions_find(ss, id, 1000 + SESSION_TTL - 1);
	ok(t != NULL && strcmp(t->token, "crated_abc") == 0, "found in time");
	ok(sessions_find(ss, "0123", 1000) == NULL, "a short id never");
	ok(session_token_equal(csrf, csrf) && !session_token_equal(csrf, "") &&
	    !session_token_equal("", "") && !session_token_equal(csrf, NULL) &&
	    !session_token_equal(csrf, id), "CSRF comparison");
	ok(sessions_find(ss, id, 1000 + SESSION_TTL) == NULL,
	    "expired after SESSION_TTL");
	s = sessions_new(ss, "crated_x", 2000);
	memcpy(id, s->id, sizeof id);
	sessions_end(ss, id);
	ok(sessions_find(ss, id, 2000) == NULL, "ended");
	for (int i = 0; i < SESSION_MAX + 10; i++)
		sessions_new(ss, "t", 3000 + i);
	ok(sessions_count(ss) == SESSION_MAX, "bounded");
	sessions_free(ss);
	ok(session_cookie("a=1; crated_session=xyz ; b=2", "crated_session", v,
	    sizeof v) && strcmp(v, "xyz") == 0, "cookie found");
	ok(!session_cookie("xcrated_session=1", "crated_session", v, sizeof v),
	    "cookie name matched whole");
	ok(!session_cookie(NULL, "a", v, sizeof v), "no header");
}

static void
assets(void)
{
	const char	*u = assets_url("style.css"), *ct;
	int		 imm;

	ok(u != NULL && strncmp(u, "/-/static/style.", 16) == 0 &&
	    strlen(u) == strlen("/-/static/style.") + 12 + 4, "hashed URL");
	ok(assets_find(u + 10, &ct, &imm) != NULL && imm &&
	    strncmp(ct, "text/css", 8) == 0, "found by hashed name");
	ok(assets_find("app.js", &ct, &imm) != NULL && !imm, "plain name");
	ok(assets_find("../x", &ct, &imm) == NULL, "nothing else");
}

static void
history(void)
{
	struct history_bucket	b[HISTORY_MINUTES];
	time_t			t = 6000000;

	history_reset();
	history_add(HISTORY_REQUESTS, 5, t - 3600);	/* an hour ago */
	history_add(HISTORY_REQUESTS, 3, t - 120);
	history_add(HISTORY_HITS, 2, t);
	history_add(HISTORY_MISSES, 1, t + 59 - t % 60);
	history_get(b, t);
	ok(b[HISTORY_MINUTES - 1].n[HISTORY_HITS] == 2 &&
	    b[HISTORY_MINUTES - 1].n[HISTORY_MISSES] == 1, "this minute");
	ok(b[HISTORY_MINUTES - 3].n[HISTORY_REQUESTS] == 3, "two minutes ago");
	ok(b[0].n[HISTORY_REQUESTS] == 0, "an hour ago has gone");
	ok(b[HISTORY_MINUTES - 1].n[HISTORY_REQUESTS] == 0,
	    "its slot reused by this minute");
	history_get(b, t + 3600);
	ok(b[HISTORY_MINUTES - 1].n[HISTORY_HITS] == 0, "an hour later: empty");
}

int
main(void)
{
	escaping();
	markdown();
	package_fields();
	sessions();
	assets();
	history();
	return done_testing();
}
