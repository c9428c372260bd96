/*
 * Index lines and files (index/indexline.c). The files under
 * tests/data/index/ are real crates.io index files, byte for byte, from
 * /work/shared/data/crates-io-index-2025-sample.tar.gz (2025-07-04).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/indexline.h"
#include "tests/tap.h"

#define CK "d3edd4d5d42c92f0a659926464d4cce56b562761267ecf0f469d85b7de384175"
#define CKQ	"\"cksum\":\"" CK "\""
#define LINE(rest) "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[]," \
		    CKQ rest "}"

/* Valid lines, with yanked and v. */
static const struct {
	const char	*line;
	int		 yanked, v;
} good[] = {
	{ LINE(""),				0, 1 },
	{ LINE(",\"yanked\":false"),		0, 1 },
	{ LINE(",\"yanked\":true"),		1, 1 },
	{ LINE(",\"yanked\":null"),		0, 1 },
	{ LINE(",\"v\":2"),			0, 2 },
	{ LINE(",\"v\":0"),			0, 0 },
	{ LINE(",\"features\":{},\"links\":null,\"pubtime\":"
	    "\"2025-07-04T03:33:20Z\",\"x\":[1,2.5,{}]"),	0, 1 },
	{ " " LINE("") "\r",			0, 1 },
	{ "{\"cksum\":\"" CK "\",\"deps\":[{}],\"vers\":\"1.0.0-rc.1+b\","
	    "\"name\":\"Demo\"}",			0, 1 },
};

/* Invalid lines and the reason given after the quoted line. */
static const struct {
	const char	*line, *why;
} bad[] = {
	{ LINE(",\"yanked\":1"),		"\"yanked\" is not a boolean" },
	{ LINE(",\"yanked\":\"false\""),	"\"yanked\" is not a boolean" },
	{ LINE(",\"v\":\"2\""),			"\"v\" is not an integer" },
	{ LINE(",\"v\":2.0"),			"\"v\" is not an integer" },
	{ LINE(",\"v\":-1"),			"\"v\" is out of range: -1" },
	{ LINE(",\"v\":4294967296"),	"\"v\" is out of range: 4294967296" },
	{ "{\"vers\":\"0.2.0\",\"deps\":[]," CKQ "}",
	    "\"name\" is missing or not a string" },
	{ "{\"name\":7,\"vers\":\"0.2.0\",\"deps\":[]," CKQ "}",
	    "\"name\" is missing or not a string" },
	{ "{\"name\":\"demo\",\"deps\":[]," CKQ "}",
	    "\"vers\" is missing or not a string" },
	{ "{\"name\":\"demo\",\"vers\":null,\"deps\":[]," CKQ "}",
	    "\"vers\" is missing or not a string" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2\",\"deps\":[]," CKQ "}",
	    "invalid version \"0.2\": expected MAJOR.MINOR.PATCH" },
	{ "{\"name\":\"demo\",\"vers\":\"0.02.0\",\"deps\":[]," CKQ "}",
	    "invalid version \"0.02.0\": a number has a leading zero" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\"," CKQ "}",
	    "\"deps\" is missing or not an array" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":{}," CKQ "}",
	    "\"deps\" is missing or not an array" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[]}",
	    "\"cksum\" is missing or not a string" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[],\"cksum\":\"ab\"}",
	    "\"cksum\" is not 64 lowercase hex digits" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[],\"cksum\":\""
	    "D3EDD4D5D42C92F0A659926464D4CCE56B562761267ECF0F469D85B7DE384175"
	    "\"}",	"\"cksum\" is not 64 lowercase hex digits" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[],\"cksum\":\""
	    CK "0\"}",	"\"cksum\" is not 64 lowercase hex digits" },
	{ "{\"name\":\"demo\",\"vers\":\"0.2.0\",\"deps\":[],\"cksum\":\""
	    "g3edd4d5d42c92f0a659926464d4cce56b562761267ecf0f469d85b7de384175"
	    "\"}",	"\"cksum\" is not 64 lowercase hex digits" },
	{ "[1,2]",				"not a JSON object" },
	{ "\"x\"",	"not valid JSON ('[' or '{' expected near '\"x\"' "
			"at column 3)" },
	{ "",		"not valid JSON ('[' or '{' expected near end of file "
			"at column 0)" },
	{ "{\"name\":\"demo\"",	"not valid JSON ('}' expected near end of "
			"file at column 14)" },
	{ LINE("") "}",	"not valid JSON (end of file expected near '}' "
			"at column 116)" },
	{ "<!DOCTYPE html>",	"not valid JSON ('[' or '{' expected near '<' "
			"at column 1)" },
	{ LINE(",\"name\":\"demo\""),	"not valid JSON (duplicate object key "
			"near '\"name\"' at column 121)" },
};

/* Real index files (path under tests/data/index), lines, yanked lines. */
static const struct {
	const char	*path, *name;
	size_t		 lines, yanked;
} files[] = {
	{ "2/nb",		"nb",		6,	1 },
	{ "3/f/fnv",		"fnv",		8,	0 },
	{ "de/un/deunicode",	"deunicode",	23,	7 },
	{ "em/ba/embassy-time-queue-driver", "embassy-time-queue-driver",
	    1, 0 },
	{ "ke/cc/keccak",	"keccak",	8,	1 },
	{ "ob/jc/objc2-exception-helper", "objc2-exception-helper", 2, 0 },
	{ "re/cv/recvmsg",	"recvmsg",	1,	0 },
	{ "se/rd/serde-value",	"serde-value",	15,	0 },
};

struct count {
	size_t	lines, bad, yanked, v2, roundtrip;
};

/* Sets yanked to !e->yanked and back; 1 if that gives the same bytes. */
static int
roundtrip(const char *line, size_t len, const struct index_entry *e)
{
	char	*a, *b;
	int	 same;

	a = index_line_set_yanked(line, len, !e->yanked, NULL);
	b = a == NULL ? NULL : index_line_set_yanked(a, strlen(a), e->yanked,
	    NULL);
	same = a != NULL && b != NULL && strlen(b) == len &&
	    memcmp(b, line, len) == 0 && strcmp(a, b) != 0;
	free(a);
	free(b);
	return same;
}

/* Counts the lines of a real file (index_file_foreach callback). */
static int
count(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	struct count	*c = arg;

	c->lines++;
	if (e == NULL) {
		c->bad++;
		return 0;
	}
	c->yanked += e->yanked;
	c->v2 += e->v == 2;
	c->roundtrip += roundtrip(line, len, e);
	return 0;
}

/* Stops at the second line (index_file_foreach callback). */
static int
stop(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	int	*n = arg;

	(void)line;
	(void)len;
	(void)e;
	return ++*n == 2 ? 42 : 0;
}

/* Collects which lines parsed (index_file_foreach callback). */
static int
mark(const char *line, size_t len, const struct index_entry *e, void *arg)
{
	char	*s = arg;

	(void)line;
	(void)len;
	strcat(s, e != NULL ? "y" : "n");
	return 0;
}

/* index_file_check on a string; the cause, or "" when it passes. */
static char *
check(const char *buf, const char *name)
{
	char	*cause = NULL;

	if (index_file_check(buf, strlen(buf), name, &cause) == 0)
		return strdup("");
	return cause;
}

static void
test_lines(void)
{
	static const char	 nul[] = "{\"name\":\"a\0b\"}";
	struct index_entry	 e;
	char			*cause, want[512];
	size_t			 i, len;
	int			 rc;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		cause = NULL;
		rc = index_line_parse(good[i].line, strlen(good[i].line), &e,
		    &cause);
		ok(rc == 0 && cause == NULL, "good line %zu parses", i);
		ok(e.yanked == good[i].yanked && e.v == good[i].v,
		    "good line %zu yanked, v", i);
		is_str(e.cksum, CK, "good line %zu cksum", i);
		index_entry_finish(&e);
		free(cause);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		len = strlen(bad[i].line);
		rc = index_line_parse(bad[i].line, len, &e, &cause);
		snprintf(want, sizeof want, "index line \"%.*s%s\": %s",
		    (int)(len > 70 ? 70 : len), bad[i].line,
		    len > 70 ? "..." : "", bad[i].why);
		ok(rc == -EINVAL, "bad line %zu rejected", i);
		is_str(cause, want, "bad line %zu cause", i);
		ok(e.name == NULL && e.vers == NULL, "bad line %zu: no entry",
		    i);
		free(cause);
	}

	rc = index_line_parse(LINE(""), strlen(LINE("")), &e, NULL);
	ok(rc == 0, "parse without cause");
	is_str(e.name, "demo", "name");
	is_str(e.vers, "0.2.0", "vers");
	index_entry_finish(&e);
	ok(e.name == NULL, "finish clears");
	index_entry_finish(NULL);
	ok(index_line_parse(LINE("") "junk", strlen(LINE("")), &e, NULL) == 0,
	    "only len bytes are read");
	index_entry_finish(&e);
	ok(index_line_parse(LINE(""), strlen(LINE("")) - 1, &e, NULL) ==
	    -EINVAL, "a line cut by one byte");
	ok(index_line_parse(nul, sizeof nul - 1, &e, NULL) == -EINVAL,
	    "NUL in a line");
}

static void
test_files(void)
{
	struct count	 c;
	char		*buf, *cause, rel[256];
	size_t		 i, len;
	int		 rc;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(rel, sizeof rel, "index/%s", files[i].path);
		buf = test_data(rel, &len);
		ok(buf != NULL, "read index/%s (set CRATED_TEST_DATA)",
		    files[i].path);
		if (buf == NULL)
			continue;
		cause = NULL;
		rc = index_file_check(buf, len, files[i].name, &cause);
		ok(rc == 0, "check %s%s%s", files[i].path, cause ? ": " : "",
		    cause ? cause : "");
		free(cause);
		memset(&c, 0, sizeof c);
		index_file_foreach(buf, len, count, &c);
		ok(c.lines == files[i].lines && c.bad == 0,
		    "%s: %zu lines, all parse", files[i].path, c.lines);
		ok(c.yanked == files[i].yanked, "%s: %zu yanked",
		    files[i].path, c.yanked);
		ok(c.roundtrip == c.lines, "%s: yanked flips back to the same "
		    "bytes on %zu of %zu lines", files[i].path, c.roundtrip,
		    c.lines);
		if (len > 10) {
			rc = index_file_check(buf, len - 10, NULL, NULL);
			ok(rc == -EINVAL, "%s cut short is refused",
			    files[i].path);
		}
		rc = index_file_check(buf, len - 1, NULL, NULL);
		ok(rc == 0, "%s without the final newline", files[i].path);
		rc = index_file_check(buf, len, "other", NULL);
		ok(rc == -EINVAL, "%s is not crate other", files[i].path);
		free(buf);
	}

	buf = test_data("index/de/un/deunicode", &len);
	memset(&c, 0, sizeof c);
	if (buf != NULL)
		index_file_foreach(buf, len, count, &c);
	ok(c.v2 == 1, "deunicode has one v:2 line");
	free(buf);
}

static void
test_check(void)
{
	static const char	*l1 = LINE(""), *l2 = LINE(",\"yanked\":true");
	char			 buf[1024], *s, seen[16] = "";
	int			 n = 0;

	s = check("", "demo");
	is_str(s, "index file of \"demo\": it is empty", "empty file");
	free(s);
	s = check("\n\n", NULL);
	is_str(s, "index file: it is empty", "only newlines");
	free(s);
	s = check("<html><body>Service Unavailable</body></html>\n", "demo");
	is_str(s, "index file of \"demo\": line 1: index line \"<html><body>"
	    "Service Unavailable</body></html>\": not valid JSON ('[' or '{' "
	    "expected near '<' at column 1)", "HTML page");
	free(s);
	snprintf(buf, sizeof buf, "%s\n%.40s", l1, l2);
	s = check(buf, "demo");
	is_str(s, "index file of \"demo\": line 2: index line \"{\"name\":"
	    "\"demo\",\"vers\":\"0.2.0\",\"deps\":[],\": not valid JSON "
	    "(string or '}' expected near end of file at column 40)",
	    "truncated last line");
	free(s);
	snprintf(buf, sizeof buf, "%s\n%s", l1, l2);
	s = check(buf, "DEMO");
	is_str(s, "", "last line without newline; name in another case");
	free(s);
	snprintf(buf, sizeof buf, "\n%s\n\n%s\n\n", l1, l2);
	s = check(buf, "demo");
	is_str(s, "", "empty lines are skipped");
	free(s);
	snprintf(buf, sizeof buf, "%s\r\n%s\r\n", l1, l2);
	s = check(buf, "demo");
	is_str(s, "", "CRLF lines");
	free(s);
	snprintf(buf, sizeof buf, "%s\n%s\n", l1, l2);
	s = check(buf, "dem0");
	is_str(s, "index file of \"dem0\": line 1: names crate \"demo\", not "
	    "\"dem0\"", "another crate");
	free(s);
	snprintf(buf, sizeof buf, "\n\n%s\n\n%s\n", l1, l1);
	s = check(buf, "dem0");
	is_str(s, "index file of \"dem0\": line 3: names crate \"demo\", not "
	    "\"dem0\"", "line numbers count empty lines");
	free(s);
	snprintf(buf, sizeof buf, "%s\n \n", l1);
	s = check(buf, NULL);
	is_str(s, "index file: line 2: index line \" \": not valid JSON "
	    "('[' or '{' expected near end of file at column 1)",
	    "a line of spaces");
	free(s);
	ok(index_file_check(buf, strlen(buf), NULL, NULL) == -EINVAL,
	    "check without cause");
	ok(index_file_check(NULL, 0, NULL, NULL) == -EINVAL, "NULL, 0");

	snprintf(buf, sizeof buf, "%s\njunk\n\n%s", l1, l2);
	ok(index_file_foreach(buf, strlen(buf), mark, seen) == 0 &&
	    strcmp(seen, "yny") == 0, "foreach passes bad lines as NULL");
	ok(index_file_foreach(buf, strlen(buf), stop, &n) == 42 && n == 2,
	    "foreach stops on non-zero");
}

/* index_line_set_yanked: input, value, output (NULL: refused). */
static const struct {
	const char	*in;
	int		 yanked;
	const char	*out;
} yanks[] = {
	{ "{\"a\":1,\"yanked\":false,\"b\":[]}", 1,
	  "{\"a\":1,\"yanked\":true,\"b\":[]}" },
	{ "{\"a\":1,\"yanked\":true,\"b\":[]}", 0,
	  "{\"a\":1,\"yanked\":false,\"b\":[]}" },
	{ "{\"a\":1,\"yanked\":true}", 1, "{\"a\":1,\"yanked\":true}" },
	{ "{\"a\":1,\"yanked\":null}", 1, "{\"a\":1,\"yanked\":true}" },
	{ "{\"z\":1,\"a\":{\"y\":2,\"b\":3}}", 1,
	  "{\"z\":1,\"a\":{\"y\":2,\"b\":3},\"yanked\":true}" },
	{ "{ \"a\" : \"\xc3\xa9/\" }", 0,
	  "{\"a\":\"\xc3\xa9/\",\"yanked\":false}" },
	{ "{}", 0, "{\"yanked\":false}" },
	{ "[]", 1, NULL },
	{ "{", 1, NULL },
	{ "", 1, NULL },
};

static void
test_yank(void)
{
	char	*s, *cause;
	size_t	 i;

	for (i = 0; i < sizeof yanks / sizeof yanks[0]; i++) {
		cause = NULL;
		s = index_line_set_yanked(yanks[i].in, strlen(yanks[i].in),
		    yanks[i].yanked, &cause);
		is_str(s, yanks[i].out, "set yanked %d on %s", yanks[i].yanked,
		    yanks[i].in);
		ok((s == NULL) == (cause != NULL), "cause iff refused: %s",
		    cause != NULL ? cause : "");
		free(s);
		free(cause);
	}
	s = index_line_set_yanked("[]", 2, true, &cause);
	is_str(cause, "index line: not a JSON object", "cause for []");
	free(cause);
	ok(index_line_set_yanked("{", 1, true, NULL) == NULL, "no cause");
}

int
main(void)
{
	test_lines();
	test_files();
	test_check();
	test_yank();
	return done_testing();
}
