/* Crate names and their index paths (protocol doc §4). */
#include "index/name.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/causequote.h"

static int
isletter(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
isnamechar(unsigned char c)
{
	return isletter(c) || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static char
lowc(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Why name is not valid, as a new string. */
static char *
why(const char *name, size_t len)
{
	const unsigned char	*s = (const unsigned char *)name;
	size_t			 i;

	if (len == 0)
		return xstrdup("it must not be empty");
	if (len > CRATE_NAME_MAX)
		return xasprintf("it is %zu bytes long; the limit is %d", len,
		    CRATE_NAME_MAX);
	for (i = 0; i < len; i++) {
		if (isnamechar(s[i]))
			continue;
		if (s[i] >= 0x20 && s[i] < 0x7f)
			return xasprintf("character '%c' is not allowed (only "
			    "ASCII letters, digits, '-' and '_')", s[i]);
		return xasprintf("byte 0x%02x is not allowed (only ASCII "
		    "letters, digits, '-' and '_')", s[i]);
	}
	if (!isletter(s[0]))
		return xstrdup("it must start with a letter");
	return NULL;
}

int
crate_name_check(const char *name, char **cause)
{
	size_t	 len = strlen(name);
	char	*w;

	if ((w = why(name, len)) == NULL)
		return 0;
	if (cause != NULL)
		*cause = xasprintf("invalid crate name \"%s\": %s",
		    cause_quote(name), w);
	free(w);
	return -EINVAL;
}

/* Names crates.io reserves (its reserved_crate_names table), in canonical
 * form; "rust" is reserved there too, though not in its migrations. */
static const char *const rustnames[] = {
	"alloc", "arena", "ast", "builtins", "collections",
	"compiler_builtins", "compiler_rt", "compiletest", "core", "coretest",
	"debug", "driver", "flate", "fmt_macros", "grammar", "graphviz",
	"macro", "macros", "proc_macro", "rbml", "rust", "rust_installer",
	"rustbook", "rustc", "rustc_back", "rustc_borrowck", "rustc_driver",
	"rustc_llvm", "rustc_resolve", "rustc_trans", "rustc_typeck",
	"rustdoc", "rustllvm", "rustuv", "serialize", "std", "syntax", "test",
	"unicode",
};

/* True for con, prn, aux, nul, comN and lptN (N a digit). */
static int
windevice(const char *c)
{
	if (strcmp(c, "con") == 0 || strcmp(c, "prn") == 0 ||
	    strcmp(c, "aux") == 0 || strcmp(c, "nul") == 0)
		return 1;
	return (strncmp(c, "com", 3) == 0 || strncmp(c, "lpt", 3) == 0) &&
	    c[3] >= '0' && c[3] <= '9' && c[4] == '\0';
}

int
crate_name_reserved(const char *name, char **cause)
{
	char	c[CRATE_NAME_MAX + 1];
	size_t	i;

	if (strlen(name) > CRATE_NAME_MAX)
		return 0;
	crate_name_canon(name, c);
	if (windevice(c)) {
		if (cause != NULL)
			*cause = xasprintf("crate name `%s` is reserved: it is a"
			    " Windows device name, so cargo on Windows could"
			    " not create its files; choose another name",
			    name);
		return -EPERM;
	}
	for (i = 0; i < sizeof rustnames / sizeof rustnames[0]; i++) {
		if (strcmp(c, rustnames[i]) != 0)
			continue;
		if (cause != NULL)
			*cause = xasprintf("crate name `%s` is reserved: it is"
			    " the name of one of Rust's own crates (crates.io"
			    " refuses it too); choose another name", name);
		return -EPERM;
	}
	return 0;
}

/* The directory part of the index path of name, with case as given. */
static void
prefix(const char *name, char *out)
{
	size_t	len = strlen(name);

	if (len == 1)
		strcpy(out, "1");
	else if (len == 2)
		strcpy(out, "2");
	else if (len == 3) {
		out[0] = '3';
		out[1] = '/';
		out[2] = name[0];
		out[3] = '\0';
	} else {
		memcpy(out, name, 2);
		out[2] = '/';
		memcpy(out + 3, name + 2, 2);
		out[5] = '\0';
	}
}

void
crate_prefix(const char *name, bool lower, char *out)
{
	char	*p;

	prefix(name, out);
	if (lower)
		for (p = out; *p != '\0'; p++)
			*p = lowc(*p);
}

void
crate_index_path(const char *name, char *out)
{
	char	*p;

	crate_prefix(name, true, out);
	p = out + strlen(out);
	*p++ = '/';
	for (; *name != '\0'; name++)
		*p++ = lowc(*name);
	*p = '\0';
}

void
crate_name_canon(const char *name, char *out)
{
	for (; *name != '\0'; name++)
		*out++ = *name == '-' ? '_' : lowc(*name);
	*out = '\0';
}

int
crate_name_from_index_path(const char *path, char *out)
{
	const char	*name, *p;
	char		 want[INDEX_PATH_MAX];

	name = strrchr(path, '/');
	name = name == NULL ? path : name + 1;
	if (crate_name_check(name, NULL) != 0)
		return -ENOENT;
	for (p = name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			return -ENOENT;
	crate_index_path(name, want);
	if (strcmp(path, want) != 0)
		return -ENOENT;
	strcpy(out, name);
	return 0;
}
