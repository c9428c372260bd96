/*
 * index/jsonscan.c: the fast JSON object check. It may say "not sure" (0)
 * to anything, but when it says valid (1) jansson must agree, with
 * JSON_REJECT_DUPLICATES, and see the same members; and the usual index
 * line must take the fast way (or the scanner would be dead weight).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "index/jsonscan.h"
#include "tests/tap.h"

static const struct {
	const char	*text;
	int		 want;		/* 1 valid, 0 not sure */
} cases[] = {
	{ "{}", 1 },
	{ " \t\r\n{ } \n", 1 },
	{ "{\"a\":1,\"b\":-20,\"c\":0,\"d\":-0}", 1 },
	{ "{\"a\":[],\"b\":[1,[2,[3]]],\"c\":{\"d\":{}}}", 1 },
	{ "{\"a\":true,\"b\":false,\"c\":null}", 1 },
	{ "{\"s\":\"x \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9\"}", 1 },
	{ "{\"t\":\"cfg(target_arch = \\\"aarch64\\\")\"}", 1 },
	{ "{\"a\":1,\"b\":{\"a\":2}}", 1 },		/* same key, other object */
	{ "{\"k\":\"\x7f\"}", 1 },			/* DEL is allowed */
	/* invalid JSON */
	{ "", 0 },
	{ "[]", 0 },					/* not an object */
	{ "{", 0 },
	{ "{\"a\"}", 0 },
	{ "{\"a\":}", 0 },
	{ "{\"a\":1,}", 0 },
	{ "{\"a\":[1,]}", 0 },
	{ "{\"a\":01}", 0 },
	{ "{\"a\":-}", 0 },
	{ "{\"a\":tru}", 0 },
	{ "{\"a\":\"\x01\"}", 0 },			/* control byte */
	{ "{\"a\":\"\\x\"}", 0 },			/* bad escape */
	{ "{\"a\":\"\\u12\"}", 0 },
	{ "{\"a\":1} x", 0 },				/* trailing bytes */
	{ "{\"a\":1}{}", 0 },
	{ "{'a':1}", 0 },
	{ "{\"a\":1,\"a\":2}", 0 },			/* duplicate key */
	{ "{\"b\":{\"x\":1,\"y\":2,\"x\":3}}", 0 },	/* nested duplicate */
	{ "{\"a\":{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,"
	  "\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k3\":10}}", 0 },
	/* valid, but left to jansson */
	{ "{\"a\":1.5}", 0 },
	{ "{\"a\":1e3}", 0 },
	{ "{\"a\":1234567890123456789}", 0 },
	{ "{\"a\":\"\xc3\xa9\"}", 0 },			/* UTF-8 */
	{ "{\"a\":\"\\u0000\"}", 0 },
	{ "{\"a\":\"\\ud83d\\ude00\"}", 0 },
	{ "{\"\\u0061\":1}", 0 },			/* escaped key */
	{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]"
	  "]]]]]]]]]]]}", 0 },				/* deeper than 32 */
};

int
main(void)
{
	struct json_member	m[8];
	size_t			n;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char	*t = cases[i].text;
		int		 got = json_scan_object(t, strlen(t), m, 8, &n);
		json_t		*o = json_loadb(t, strlen(t),
				    JSON_REJECT_DUPLICATES, NULL);

		ok(got == cases[i].want, "scan %zu -> %d", i,
		    cases[i].want);
		if (got == 1)
			ok(json_is_object(o) && json_object_size(o) == n,
			    "jansson agrees on %zu (%zu members)", i, n);
		json_decref(o);
	}

	/* The members of a real index line, in order. */
	{
		const char	*line = "{\"name\":\"fnv\",\"vers\":\"1.0.7\","
				    "\"deps\":[],\"cksum\":\"3f9eec918d3f24069effb"
				    "2d7ec71f9b0ec9a5b0f5fc8ba33f6e0b9c2d1a8b0ed6"
				    "\",\"features\":{\"default\":[\"std\"],"
				    "\"std\":[]},\"yanked\":false}";

		ok(json_scan_object(line, strlen(line), m, 8, &n) == 1 &&
		    n == 6, "an index line is scanned");
		ok(m[0].klen == 4 && memcmp(m[0].key, "name", 4) == 0 &&
		    m[0].vlen == 5 && memcmp(m[0].val, "\"fnv\"", 5) == 0 &&
		    m[0].type == '"', "name member");
		ok(m[2].type == '[' && m[2].vlen == 2, "deps member");
		ok(m[4].type == '{' && m[5].type == 'f' && m[5].vlen == 5,
		    "features and yanked members");
		ok(json_scan_object(line, strlen(line), m, 2, &n) == 1 &&
		    n == 2, "members past max are checked, not reported");
	}
	return done_testing();
}
