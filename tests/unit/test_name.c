/* Crate names and index paths (index/name.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/name.h"
#include "tests/tap.h"

#define N65 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"
#define N64 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"

/* Protocol doc §4: name as published, index path, prefix, lowerprefix. */
static const struct {
	const char	*name, *path, *prefix, *lowerprefix;
} paths[] = {
	{ "a",		"1/a",			"1",	"1" },
	{ "ab",		"2/ab",			"2",	"2" },
	{ "abc",	"3/a/abc",		"3/a",	"3/a" },
	{ "AbC",	"3/a/abc",		"3/A",	"3/a" },
	{ "cargo",	"ca/rg/cargo",		"ca/rg",	"ca/rg" },
	{ "Serde_Json",	"se/rd/serde_json",	"Se/rd",	"se/rd" },
	{ "Inflector",	"in/fl/inflector",	"In/fl",	"in/fl" },
	{ "serde-json",	"se/rd/serde-json",	"se/rd",	"se/rd" },
	{ "a-",		"2/a-",			"2",	"2" },
	{ "x_1",	"3/x/x_1",		"3/x",	"3/x" },
	{ "AB-cd",	"ab/-c/ab-cd",		"AB/-c",	"ab/-c" },
	{ N64,		"ab/cd/" N64,		"ab/cd",	"ab/cd" },
};

/* Names and the start of the cause crate_name_check gives, or NULL. */
static const struct {
	const char	*name, *cause;
} names[] = {
	{ "a",		NULL },
	{ "serde",	NULL },
	{ "Serde_Json",	NULL },
	{ "a-b_c-9",	NULL },
	{ "z9",		NULL },
	{ N64,		NULL },
	{ "",		"invalid crate name \"\": it must not be empty" },
	{ N65,		"invalid crate name \"" N65 "\": it is 65 bytes long; "
			"the limit is 64" },
	{ "9lives",	"invalid crate name \"9lives\": it must start with a "
			"letter" },
	{ "9a",		"invalid crate name \"9a\": it must start with a "
			"letter" },
	{ "-a",		"invalid crate name \"-a\": it must start with a "
			"letter" },
	{ "_a",		"invalid crate name \"_a\": it must start with a "
			"letter" },
	{ "..",		"invalid crate name \"..\": character '.' is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "a/b",	"invalid crate name \"a/b\": character '/' is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "a b",	"invalid crate name \"a b\": character ' ' is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "%2e%2e",	"invalid crate name \"%2e%2e\": character '%' is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "\xc3\xa9",	"invalid crate name \"\\xc3\\xa9\": byte 0xc3 is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "a\tb",	"invalid crate name \"a\\x09b\": byte 0x09 is not "
			"allowed (only ASCII letters, digits, '-' and '_')" },
	{ "a\0b",	NULL },		/* the C string is "a" */
};

/* Request paths and the name crate_name_from_index_path finds, or NULL. */
static const struct {
	const char	*path, *name;
} reverse[] = {
	{ "1/a",		"a" },
	{ "2/ab",		"ab" },
	{ "3/a/abc",		"abc" },
	{ "ca/rg/cargo",	"cargo" },
	{ "se/rd/serde_json",	"serde_json" },
	{ "se/rd/serde-json",	"serde-json" },
	{ "ab/cd/" N64,		N64 },
	{ "ab/cd/" N65,		NULL },
	{ "3/b/abc",		NULL },
	{ "3/abc",		NULL },
	{ "3/a/b/abc",		NULL },
	{ "1/ab",		NULL },
	{ "2/a",		NULL },
	{ "2/abc",		NULL },
	{ "4/abcd",		NULL },
	{ "ab/abcd",		NULL },
	{ "ca/rg/cxrgo",	NULL },
	{ "ca/rx/cargo",	NULL },
	{ "CA/rg/cargo",	NULL },
	{ "ca/rg/Cargo",	NULL },
	{ "Ca/rg/Cargo",	NULL },
	{ "3/A/Abc",		NULL },
	{ "ca/rg/cargo/",	NULL },
	{ "/ca/rg/cargo",	NULL },
	{ "ca//rg/cargo",	NULL },
	{ "ca/rg//cargo",	NULL },
	{ "ca/rg/../cargo",	NULL },
	{ "ca/rg/./cargo",	NULL },
	{ "./ca/rg/cargo",	NULL },
	{ "1/%2e",		NULL },
	{ "2/%2e%2e",		NULL },
	{ "%2/e%/%2e%2e",	NULL },
	{ "ca/rg/cargo%00",	NULL },
	{ "ca/rg/cargo\t",	NULL },
	{ "ca/rg/cargo?x=1",	NULL },
	{ "2/..",		NULL },
	{ "1/.",		NULL },
	{ "1/9",		NULL },
	{ "2/9a",		NULL },
	{ "1/-",		NULL },
	{ "1/",			NULL },
	{ "1",			NULL },
	{ "cargo",		NULL },
	{ "a",			NULL },
	{ "",			NULL },
	{ "/",			NULL },
	{ "config.json",	NULL },
	{ "3/\xc3/\xc3\xa9x",	NULL },
	{ "1/a\0/b",		"a" },		/* the C string is "1/a" */
};

/* Collision keys. */
static const struct {
	const char	*name, *canon;
} canons[] = {
	{ "serde",	"serde" },
	{ "Serde-Json",	"serde_json" },
	{ "serde_json",	"serde_json" },
	{ "A-_-B",	"a___b" },
};

/* Names crate_name_reserved refuses (and a word of why), and look-alikes
 * it lets through. */
static const struct {
	const char	*name, *why;
} reserved[] = {
	{ "nul", "Windows" }, { "con", "Windows" }, { "aux", "Windows" },
	{ "prn", "Windows" }, { "com1", "Windows" }, { "lpt9", "Windows" },
	{ "COM0", "Windows" }, { "Nul", "Windows" }, { "lpt0", "Windows" },
	{ "std", "Rust's own" }, { "rust", "Rust's own" },
	{ "core", "Rust's own" }, { "alloc", "Rust's own" },
	{ "proc-macro", "Rust's own" }, { "Proc_Macro", "Rust's own" },
	{ "compiler_builtins", "Rust's own" }, { "test", "Rust's own" },
	{ "rust-installer", "Rust's own" }, { "rustc", "Rust's own" },
};
static const char *const unreserved[] = {
	"com10", "console", "stdx", "nul1", "lpt", "com", "rusty", "cores",
	"serde", "auxv", "a",
};

static void
test_reserved(void)
{
	char	*cause;
	size_t	 i;

	for (i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		cause = NULL;
		ok(crate_name_reserved(reserved[i].name, &cause) == -EPERM &&
		    cause != NULL && strstr(cause, reserved[i].why) != NULL &&
		    strstr(cause, reserved[i].name) != NULL, "reserved %s: %s",
		    reserved[i].name, cause ? cause : "(no cause)");
		free(cause);
		ok(crate_name_reserved(reserved[i].name, NULL) == -EPERM,
		    "reserved %s, no cause", reserved[i].name);
	}
	for (i = 0; i < sizeof unreserved / sizeof unreserved[0]; i++) {
		cause = NULL;
		ok(crate_name_reserved(unreserved[i], &cause) == 0 &&
		    cause == NULL, "not reserved: %s", unreserved[i]);
		free(cause);
	}
}

int
main(void)
{
	char	 out[INDEX_PATH_MAX], name[CRATE_NAME_MAX + 1], *cause;
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		crate_index_path(paths[i].name, out);
		is_str(out, paths[i].path, "index path of %s", paths[i].name);
		crate_prefix(paths[i].name, false, out);
		is_str(out, paths[i].prefix, "prefix of %s", paths[i].name);
		crate_prefix(paths[i].name, true, out);
		is_str(out, paths[i].lowerprefix, "lowerprefix of %s",
		    paths[i].name);
	}

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		cause = NULL;
		rc = crate_name_check(names[i].name, &cause);
		ok(rc == (names[i].cause == NULL ? 0 : -EINVAL),
		    "name check rc for \"%s\"", names[i].name);
		is_str(cause, names[i].cause, "name check cause for \"%s\"",
		    names[i].name);
		free(cause);
	}
	ok(crate_name_check("9", NULL) == -EINVAL, "name check, no cause");
	cause = NULL;
	crate_name_check(N65 N65, &cause);
	is_str(cause, "invalid crate name \"" N65 "abcde...\": it is 130 "
	    "bytes long; the limit is 64", "long names are cut in the cause");
	free(cause);
	cause = NULL;
	crate_name_check(N64 "abcde\xc3\xa9", &cause);
	is_str(cause, "invalid crate name \"" N64 "abcde\\xc3...\": it is "
	    "71 bytes long; the limit is 64", "bytes past ASCII escaped, one "
	    "at a time");
	free(cause);

	for (i = 0; i < sizeof reverse / sizeof reverse[0]; i++) {
		memset(name, 'x', sizeof name);
		rc = crate_name_from_index_path(reverse[i].path, name);
		ok(rc == (reverse[i].name != NULL ? 0 : -ENOENT),
		    "from index path \"%s\" rc", reverse[i].path);
		if (reverse[i].name != NULL)
			is_str(name, reverse[i].name, "from index path \"%s\"",
			    reverse[i].path);
	}
	for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		rc = crate_name_from_index_path(paths[i].path, name);
		ok(rc == 0, "from index path %s rc", paths[i].path);
		crate_index_path(name, out);
		is_str(out, paths[i].path, "round trip of %s", paths[i].path);
	}

	for (i = 0; i < sizeof canons / sizeof canons[0]; i++) {
		crate_name_canon(canons[i].name, name);
		is_str(name, canons[i].canon, "canon of %s", canons[i].name);
	}
	test_reserved();
	return done_testing();
}
