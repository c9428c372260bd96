/*
 * Publish bodies and the index lines built from them (index/publish.c).
 * tests/data/publish/NAME.body are real bodies sent by cargo 1.95
 * (`cargo publish`); NAME.line is the index line expected for them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/publish.h"
#include "tests/tap.h"

/* An empty file, gzip'd (`printf '' | gzip -n`). */
static const unsigned char gz[] = {
	0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
/* `printf '' | gzip -n | sha256sum` */
#define GZSUM "59869db34853933b239f1e2219cf7d431da006aa919635478511fabbfc8849d2"

/* 2025-07-04T03:33:20Z */
#define PUBTIME	((time_t)1751600000)

/* Real bodies: file name, crate, version, crate bytes, sha256sum of them. */
static const struct {
	const char	*file, *name, *vers;
	size_t		 crate_len;
	const char	*cksum;
} real[] = {
	{ "simple", "demo-simple", "0.1.0", 738,
	  "0f45175db8c6951c727deedbc895c778f498a9047a51427c518e0473c2d27aaf" },
	{ "renamed", "demo-renamed", "0.1.0", 998,
	  "e5ed055dd0d406d81ceb014daf6539d7aa4e78936eef89f204ff327eeda504dd" },
	{ "target", "demo-target", "0.1.0", 1052,
	  "75af1f88a78bee3bffebd9d70dda5bcdbc43216954e55c9b037c784bd123ff85" },
	{ "kinds", "demo-kinds", "0.1.0", 1660,
	  "4399018877a3b6514ab62fffbafea6b8d9e912fe096c536004a57ff0b38a5d6d" },
	{ "features", "Demo_Features", "0.2.0-beta.1+build.5", 1718,
	  "33a7be7a932fafc85c573793340a5314694285e89d135da75c2da500f48611f1" },
	{ "optional", "demo-optional", "1.0.0", 1029,
	  "5e207c190bc585e48072f1a75bf6e3056087ae7a4a3212beccd53bc09f1018a9" },
	{ "registry", "demo-registry", "0.1.0", 1423,
	  "6b98abc2ccd2ac5c403d7bc8cea55aeb6998c45c137fa1f1144c778f58a4a75b" },
};

#define DEP	"\"name\":\"b\",\"version_req\":\"^1\""
#define META(deps) "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[" deps "]}"
#define TAIL	"\"cksum\":\"" GZSUM "\",\"features\":{},\"yanked\":false," \
		"\"links\":null,\"v\":1,\"pubtime\":\"2025-07-04T03:33:20Z\"}"
#define LINE(deps) "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[" deps "]," \
		TAIL
#define IDEP(name, rest) "{\"name\":\"" name "\",\"req\":\"^1\"," rest "}"
#define DFLT	"\"features\":[],\"optional\":false," \
		"\"default_features\":true,\"target\":null," \
		"\"kind\":\"normal\",\"registry\":null,\"package\":null"

/* Metadata cargo would not send but that is valid; the index line. */
static const struct {
	const char	*meta, *line;
} lines[] = {
	{ META(""), LINE("") },
	{ META("{" DEP "}"), LINE(IDEP("b", DFLT)) },
	{ META("{" DEP ",\"kind\":null,\"target\":null,\"registry\":null,"
	    "\"explicit_name_in_toml\":null,\"optional\":null,"
	    "\"default_features\":null,\"features\":null}"),
	  LINE(IDEP("b", DFLT)) },
	{ META("{" DEP ",\"kind\":\"dev\",\"artifact\":[\"bin\"],\"lib\":true,"
	    "\"bindep_target\":\"x\",\"public\":true}"),
	  LINE(IDEP("b", "\"features\":[],\"optional\":false,"
	    "\"default_features\":true,\"target\":null,\"kind\":\"dev\","
	    "\"registry\":null,\"package\":null")) },
	{ META("{\"explicit_name_in_toml\":\"c\"," DEP ",\"optional\":true,"
	    "\"features\":[\"x\",\"y\"],\"default_features\":false,"
	    "\"target\":\"cfg(all(unix, not(target_os = \\\"macos\\\")))\"}"),
	  LINE(IDEP("c", "\"features\":[\"x\",\"y\"],\"optional\":true,"
	    "\"default_features\":false,\"target\":\"cfg(all(unix, "
	    "not(target_os = \\\"macos\\\")))\",\"kind\":\"normal\","
	    "\"registry\":null,\"package\":\"b\"")) },
	{ "{\"rust_version\":null,\"links\":null,\"features\":null,"
	  "\"vers\":\"1.0.0\",\"name\":\"a\",\"deps\":[],\"description\":7}",
	  LINE("") },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"links\":\"z\","
	  "\"rust_version\":\"1.56.1\",\"features\":{\"b\":[],"
	  "\"a\":[\"b\",\"\\u0062\"],\"c\":[]}}",
	  "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"" GZSUM
	  "\",\"features\":{\"b\":[],\"a\":[\"b\",\"b\"],"
	  "\"c\":[]},\"yanked\":false,\"links\":\"z\","
	  "\"v\":1,\"rust_version\":\"1.56.1\","
	  "\"pubtime\":\"2025-07-04T03:33:20Z\"}" },
};

/* Metadata, the .crate (0: gz, 1: empty, 2: not gzip, 3: one byte of
 * gzip magic), and the cause publish_parse gives. */
static const struct {
	const char	*meta;
	int		 crate;
	const char	*cause;
} bad[] = {
	{ "", 0, "publish body: metadata is not valid JSON ('[' or '{' "
	  "expected near end of file at line 1 column 0)" },
	{ "{\"name\":", 0, "publish body: metadata is not valid JSON "
	  "(unexpected token near end of file at line 1 column 8)" },
	{ "[]", 0, "publish body: metadata is not a JSON object" },
	{ "{\"name\":\"a\",\"name\":\"b\"}", 0, "publish body: metadata is "
	  "not valid JSON (duplicate object key near '\"name\"' at line 1 "
	  "column 18)" },
	{ "{}", 0, "publish metadata: name must be a string" },
	{ "{\"name\":1}", 0, "publish metadata: name must be a string" },
	{ "{\"name\":\"9lives\"}", 0, "publish metadata: invalid crate name "
	  "\"9lives\": it must start with a letter" },
	{ "{\"name\":\"a/b\"}", 0, "publish metadata: invalid crate name "
	  "\"a/b\": character '/' is not allowed (only ASCII letters, "
	  "digits, '-' and '_')" },
	{ "{\"name\":\"\"}", 0, "publish metadata: invalid crate name \"\": "
	  "it must not be empty" },
	{ "{\"name\":\"foo\"}", 0, "crate `foo`: vers must be a string" },
	{ "{\"name\":\"foo\",\"vers\":1.0}", 0,
	  "crate `foo`: vers must be a string" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0\"}", 0, "crate `foo`: invalid "
	  "version \"1.0\": expected MAJOR.MINOR.PATCH" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\"}", 0,
	  "crate `foo` 1.0.0: deps must be an array" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":{}}", 0,
	  "crate `foo` 1.0.0: deps must be an array" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{" DEP "},7]}", 0,
	  "crate `foo` 1.0.0: dependency 2 is not a JSON object" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{}]}", 0,
	  "crate `foo` 1.0.0: dependency 1: name must be a string" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{\"name\":\"b c\"}]}",
	  0, "crate `foo` 1.0.0: dependency 1: invalid crate name \"b c\": "
	  "character ' ' is not allowed (only ASCII letters, digits, '-' and "
	  "'_')" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{" DEP "},"
	  "{\"name\":\"bar\"}]}", 0, "crate `foo` 1.0.0: dependency 2 (`bar`): "
	  "version_req must be a non-empty string" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{\"name\":\"bar\","
	  "\"version_req\":\"\"}]}", 0, "crate `foo` 1.0.0: dependency 1 "
	  "(`bar`): version_req must be a non-empty string" },
	{ "{\"name\":\"foo\",\"vers\":\"1.0.0\",\"deps\":[{\"name\":\"bar\","
	  "\"version_req\":[\"1\"]}]}", 0, "crate `foo` 1.0.0: dependency 1 "
	  "(`bar`): version_req must be a non-empty string" },
	{ META("{" DEP ",\"kind\":\"Dev\"}"), 0, "crate `a` 1.0.0: dependency "
	  "1 (`b`): kind \"Dev\" is not \"normal\", \"build\" or \"dev\"" },
	{ META("{" DEP ",\"kind\":1}"), 0, "crate `a` 1.0.0: dependency 1 "
	  "(`b`): kind must be null or a string" },
	{ META("{" DEP ",\"optional\":\"true\"}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): optional must be a boolean" },
	{ META("{" DEP ",\"default_features\":0}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): default_features must be a boolean" },
	{ META("{" DEP ",\"features\":\"x\"}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): features must be an array of strings" },
	{ META("{" DEP ",\"features\":[\"x\",null]}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): features must be an array of strings" },
	{ META("{" DEP ",\"target\":[]}"), 0, "crate `a` 1.0.0: dependency 1 "
	  "(`b`): target must be null or a string" },
	{ META("{" DEP ",\"registry\":false}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): registry must be null or a string" },
	{ META("{" DEP ",\"explicit_name_in_toml\":{}}"), 0, "crate `a` 1.0.0: "
	  "dependency 1 (`b`): explicit_name_in_toml must be null or a "
	  "string" },
	{ META("{" DEP ",\"explicit_name_in_toml\":\"1b\"}"), 0, "crate `a` "
	  "1.0.0: dependency 1 (`b`): explicit_name_in_toml: invalid crate "
	  "name \"1b\": it must start with a letter" },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"features\":[]}", 0,
	  "crate `a` 1.0.0: features must be an object" },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"features\":"
	  "{\"std\":null}}", 0, "crate `a` 1.0.0: feature \"std\" must be an "
	  "array of strings" },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"features\":"
	  "{\"std\":[1]}}", 0, "crate `a` 1.0.0: feature \"std\" must be an "
	  "array of strings" },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"links\":1}", 0,
	  "crate `a` 1.0.0: links must be null or a string" },
	{ "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],"
	  "\"rust_version\":1.6}", 0,
	  "crate `a` 1.0.0: rust_version must be null or a string" },
	{ META(""), 1, "crate `a` 1.0.0: the .crate file is empty" },
	{ META(""), 2, "crate `a` 1.0.0: the .crate file is not gzip (it does "
	  "not start with 1f 8b)" },
	{ META(""), 3, "crate `a` 1.0.0: the .crate file is not gzip (it does "
	  "not start with 1f 8b)" },
};

/* Bodies whose lengths do not add up, and the cause. */
static const struct {
	const char	*body;
	size_t		 len;
	const char	*cause;
} frames[] = {
	{ "", 0, "publish body: 0 bytes is too short for the 4-byte metadata "
	  "length" },
	{ "\x02\0\0", 3, "publish body: 3 bytes is too short for the 4-byte "
	  "metadata length" },
	{ "\x2c\x01\0\0{}\0\0\0\0\0\0\0\0\0\0", 16, "publish body: metadata "
	  "length 300 exceeds the 12 bytes that follow" },
	{ "\xff\xff\xff\xff{}", 6, "publish body: metadata length 4294967295 "
	  "exceeds the 2 bytes that follow" },
	{ "\xfc\xff\xff\xff{}", 6, "publish body: metadata length 4294967292 "
	  "exceeds the 2 bytes that follow" },
	{ "\x02\0\0\0{}", 6, "publish body: ends 0 bytes after the metadata, "
	  "without the 4-byte crate length" },
	{ "\x02\0\0\0{}\x01\0\0", 9, "publish body: ends 3 bytes after the "
	  "metadata, without the 4-byte crate length" },
	{ "\x02\0\0\0{}\x03\0\0\0\x1f\x8b", 12, "publish body: crate length 3 "
	  "exceeds the 2 bytes that follow" },
	{ "\x02\0\0\0{}\xff\xff\xff\xff\x1f\x8b", 12, "publish body: crate "
	  "length 4294967295 exceeds the 2 bytes that follow" },
	{ "\x02\0\0\0{}\x01\0\0\0\x1f\x8b\x08", 13, "publish body: 2 "
	  "unexpected bytes follow the 1-byte crate" },
	{ "\x02\0\0\0{}\0\0\0\0\x1f", 11, "publish body: 1 unexpected bytes "
	  "follow the 0-byte crate" },
	{ "\0\0\0\0\0\0\0\0", 8, "publish body: metadata is not valid JSON "
	  "('[' or '{' expected near end of file at line 1 column 0)" },
};

/* A new body: u32le J, the JSON, u32le C, the crate (publish_encode). */
static unsigned char *
body(const char *json, const unsigned char *crate, size_t clen, size_t *len)
{
	return publish_encode(json, strlen(json), crate, clen, len);
}

static void
test_real(void)
{
	struct publish	 p;
	char		 rel[256], *b, *want, *line, *cause;
	size_t		 i, len, wlen;
	int		 rc;

	for (i = 0; i < sizeof real / sizeof real[0]; i++) {
		snprintf(rel, sizeof rel, "publish/%s.body", real[i].file);
		b = test_data(rel, &len);
		snprintf(rel, sizeof rel, "publish/%s.line", real[i].file);
		want = test_data(rel, &wlen);
		ok(b != NULL && want != NULL, "read %s (set CRATED_TEST_DATA)",
		    real[i].file);
		if (b == NULL || want == NULL) {
			free(b);
			free(want);
			continue;
		}
		if (wlen > 0 && want[wlen - 1] == '\n')
			want[--wlen] = '\0';
		cause = NULL;
		rc = publish_parse((unsigned char *)b, len, &p, &cause);
		ok(rc == 0, "parse %s%s%s", real[i].file, cause ? ": " : "",
		    cause ? cause : "");
		free(cause);
		if (rc != 0) {
			free(b);
			free(want);
			continue;
		}
		is_str(p.name, real[i].name, "%s: name", real[i].file);
		is_str(p.vers, real[i].vers, "%s: vers", real[i].file);
		ok(p.crate_len == real[i].crate_len && p.crate ==
		    (unsigned char *)b + len - real[i].crate_len,
		    "%s: crate bytes", real[i].file);
		is_str(p.cksum, real[i].cksum, "%s: cksum", real[i].file);
		cause = NULL;
		rc = publish_check_crate(&p, &cause);
		ok(rc == 0, "%s: the .crate cargo made passes the archive check"
		    "%s%s", real[i].file, cause ? ": " : "", cause ? cause : "");
		free(cause);
		line = publish_index_line(&p, PUBTIME);
		is_str(line, want, "%s: index line", real[i].file);
		free(line);
		publish_finish(&p);
		ok(p.meta == NULL && p.name == NULL, "%s: finish clears",
		    real[i].file);
		rc = publish_parse((unsigned char *)b, len - 1, &p, &cause);
		ok(rc == -EINVAL, "%s cut by a byte: %s", real[i].file,
		    cause != NULL ? cause : "");
		free(cause);
		free(b);
		free(want);
	}
}

static void
test_lines(void)
{
	struct publish	 p;
	unsigned char	*b;
	char		*line, *cause;
	size_t		 i, len;
	int		 rc;

	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		b = body(lines[i].meta, gz, sizeof gz, &len);
		cause = NULL;
		rc = publish_parse(b, len, &p, &cause);
		ok(rc == 0, "parse line case %zu%s%s", i, cause ? ": " : "",
		    cause ? cause : "");
		free(cause);
		if (rc == 0) {
			is_str(p.cksum, GZSUM, "line case %zu: cksum", i);
			line = publish_index_line(&p, PUBTIME);
			is_str(line, lines[i].line, "line case %zu", i);
			free(line);
		}
		publish_finish(&p);
		free(b);
	}

	b = body(META(""), gz, sizeof gz, &len);
	rc = publish_parse(b, len, &p, NULL);
	ok(rc == 0, "parse without cause");
	line = publish_index_line(&p, 0);
	ok(strstr(line, ",\"pubtime\":\"1970-01-01T00:00:00Z\"}") != NULL,
	    "pubtime at the epoch: %s", line);
	free(line);
	line = publish_index_line(&p, (time_t)253402300799);
	ok(strstr(line, ",\"pubtime\":\"9999-12-31T23:59:59Z\"}") != NULL,
	    "pubtime in 9999: %s", line);
	free(line);
	line = publish_index_line(&p, (time_t)253402300800);
	ok(strstr(line, "pubtime") == NULL, "no pubtime after 9999: %s",
	    line);
	free(line);
	line = publish_index_line(&p, (time_t)-62167219201);
	ok(strstr(line, "pubtime") == NULL, "no pubtime before year 0: %s",
	    line);
	free(line);
	publish_finish(&p);
	publish_finish(NULL);
	free(b);
}

static void
test_bad(void)
{
	static const unsigned char	 zip[] = { 'P', 'K', 3, 4 }, one[] = {
		0x1f };
	struct publish			 p;
	unsigned char			*b;
	char				*cause;
	size_t				 i, len;
	int				 rc;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		switch (bad[i].crate) {
		case 0:
			b = body(bad[i].meta, gz, sizeof gz, &len);
			break;
		case 1:
			b = body(bad[i].meta, gz, 0, &len);
			break;
		case 2:
			b = body(bad[i].meta, zip, sizeof zip, &len);
			break;
		default:
			b = body(bad[i].meta, one, sizeof one, &len);
			break;
		}
		cause = NULL;
		memset(&p, 0xa5, sizeof p);
		rc = publish_parse(b, len, &p, &cause);
		ok(rc == -EINVAL, "reject %s", bad[i].meta);
		is_str(cause, bad[i].cause, "cause for %s", bad[i].meta);
		ok(p.meta == NULL && p.name == NULL && p.crate == NULL,
		    "nothing kept for %s", bad[i].meta);
		free(cause);
		free(b);
	}
	for (i = 0; i < sizeof frames / sizeof frames[0]; i++) {
		cause = NULL;
		rc = publish_parse((const unsigned char *)frames[i].body,
		    frames[i].len, &p, &cause);
		ok(rc == -EINVAL, "reject frame %zu", i);
		is_str(cause, frames[i].cause, "cause for frame %zu", i);
		free(cause);
	}
	ok(publish_parse((const unsigned char *)"", 0, &p, NULL) == -EINVAL,
	    "reject without cause");
}

/* publish_encode: the frame publish_parse reads, byte for byte, and the
 * lengths it cannot say. */
static void
test_encode(void)
{
	static const char	 meta[] = META("");
	struct publish		 p;
	unsigned char		*b, *again, json[300];
	char			 rel[256], *real0, *cause = NULL;
	size_t			 len, len2, jlen;

	b = publish_encode(meta, strlen(meta), gz, sizeof gz, &len);
	ok(b != NULL && len == 8 + strlen(meta) + sizeof gz,
	    "encode: length %zu", len);
	ok(b[0] == strlen(meta) && b[1] == 0 && b[2] == 0 && b[3] == 0,
	    "encode: JSON length, little-endian");
	ok(memcmp(b + 4, meta, strlen(meta)) == 0, "encode: the JSON");
	ok(b[4 + strlen(meta)] == sizeof gz && b[5 + strlen(meta)] == 0 &&
	    b[6 + strlen(meta)] == 0 && b[7 + strlen(meta)] == 0,
	    "encode: crate length, little-endian");
	ok(memcmp(b + len - sizeof gz, gz, sizeof gz) == 0,
	    "encode: the crate ends the body");
	ok(publish_parse(b, len, &p, &cause) == 0, "encode: parses%s%s",
	    cause ? ": " : "", cause ? cause : "");
	free(cause);
	ok(p.crate == b + len - sizeof gz && p.crate_len == sizeof gz,
	    "encode: parse finds the crate where it was put");
	is_str(p.name, "a", "encode: round trip of the name");
	is_str(p.cksum, GZSUM, "encode: round trip of the crate");
	publish_finish(&p);
	free(b);

	/* Lengths over 255 use the higher bytes. */
	memset(json, ' ', sizeof json);
	memcpy(json, "{}", 2);
	b = publish_encode((char *)json, sizeof json, gz, sizeof gz, &len);
	ok(b[0] == (sizeof json & 0xff) && b[1] == sizeof json >> 8 &&
	    b[2] == 0 && b[3] == 0, "encode: a 300-byte JSON length");
	free(b);

	b = publish_encode("", 0, gz, 0, &len);
	ok(b != NULL && len == 8 && memcmp(b, "\0\0\0\0\0\0\0\0", 8) == 0,
	    "encode: nothing is 8 zero bytes");
	free(b);

	len = 1;
	ok(publish_encode(meta, strlen(meta), gz, (size_t)UINT32_MAX + 1,
	    &len) == NULL && len == 1, "encode: a crate of 4 GiB is refused");
	ok(publish_encode(meta, (size_t)UINT32_MAX + 1, gz, sizeof gz,
	    &len) == NULL && len == 1, "encode: JSON of 4 GiB is refused");

	/* A real body, re-encoded from its own parts, is the same bytes. */
	snprintf(rel, sizeof rel, "publish/%s.body", real[0].file);
	real0 = test_data(rel, &len);
	ok(real0 != NULL, "read %s", real[0].file);
	if (real0 == NULL)
		return;
	ok(publish_parse((unsigned char *)real0, len, &p, NULL) == 0,
	    "parse %s", real[0].file);
	jlen = (size_t)(p.crate - (unsigned char *)real0) - 8;
	again = publish_encode(real0 + 4, jlen, p.crate, p.crate_len, &len2);
	ok(len2 == len && memcmp(again, real0, len) == 0,
	    "encode: %s round trip, byte for byte", real[0].file);
	publish_finish(&p);
	free(again);
	free(real0);
}

int
main(void)
{
	test_real();
	test_lines();
	test_bad();
	test_encode();
	return done_testing();
}
