/* toml_parse: valid documents against a compact dump, invalid ones against
 * their "LINE:COL: why" (a want starting with '!' is an error prefix). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/toml.h"
#include "tests/tap.h"

struct tcase {
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	const char	*want;
};

static const struct tcase cases[] = {
	/* empty, blanks and comments */
	{ "", 0, "{}" },
	{ "\n\n\n", 0, "{}" },
	{ "   \t  \n", 0, "{}" },
	{ "# only a comment", 0, "{}" },
	{ "# c\n\n# d\n", 0, "{}" },
	{ "#\t\tcafé ünïcödé 日本 😀\n", 0, "{}" },
	{ "\xef\xbb\xbf" "a = 1\n", 0, "{a=1}" },
	/* key = value */
	{ "a = 1", 0, "{a=1}" },
	{ "a = 1\n", 0, "{a=1}" },
	{ "a=1\nb=2\n", 0, "{a=1,b=2}" },
	{ "b = 1\na = 2\n", 0, "{b=1,a=2}" },
	{ "\t a \t=\t 1 \t\n", 0, "{a=1}" },
	{ "a = 1 # comment\n", 0, "{a=1}" },
	{ "a = 1#comment", 0, "{a=1}" },
	{ "a = true\nb = false\n", 0, "{a=true,b=false}" },
	/* keys */
	{ "bare-key_09 = 1", 0, "{bare-key_09=1}" },
	{ "1234 = 1", 0, "{1234=1}" },
	{ "true = 1", 0, "{true=1}" },
	{ "-_- = 1", 0, "{-_-=1}" },
	{ "\"quoted key\" = 1", 0, "{\"quoted key\"=1}" },
	{ "'literal key' = 1", 0, "{\"literal key\"=1}" },
	{ "\"a.b\" = 1", 0, "{\"a.b\"=1}" },
	{ "\"\" = 1", 0, "{\"\"=1}" },
	{ "'' = 1", 0, "{\"\"=1}" },
	{ "\"\\u0041\\t\" = 1", 0, "{\"A\\x09\"=1}" },
	{ "\"ʎǝʞ\" = 1", 0, "{\"ʎǝʞ\"=1}" },
	{ "a = 1\n\"b\" = 2\n'c' = 3", 0, "{a=1,b=2,c=3}" },
	/* integers */
	{ "a = 0", 0, "{a=0}" },
	{ "a = +0", 0, "{a=0}" },
	{ "a = -0", 0, "{a=0}" },
	{ "a = 42", 0, "{a=42}" },
	{ "a = +42", 0, "{a=42}" },
	{ "a = -42", 0, "{a=-42}" },
	{ "a = 1_000", 0, "{a=1000}" },
	{ "a = 1_2_3_4", 0, "{a=1234}" },
	{ "a = -1_000_000", 0, "{a=-1000000}" },
	{ "a = 9223372036854775807", 0, "{a=9223372036854775807}" },
	{ "a = +9223372036854775807", 0, "{a=9223372036854775807}" },
	{ "a = 9_223_372_036_854_775_807", 0, "{a=9223372036854775807}" },
	{ "a = -9223372036854775808", 0, "{a=-9223372036854775808}" },
	{ "a = -9223372036854775807", 0, "{a=-9223372036854775807}" },
	{ "a = 0009", 0, "!1:5: leading zeros are not allowed in integers" },
	{ "a = 01", 0, "!1:5: leading zeros are not allowed in integers" },
	{ "a = -01", 0, "!1:5: leading zeros" },
	{ "a = +00", 0, "!1:5: leading zeros" },
	{ "a = 0_1", 0, "!1:5: leading zeros" },
	{ "a = 9223372036854775808", 0, "!1:5: integer 9223372036854775808 "
	    "is out of range (-9223372036854775808 to 9223372036854775807)" },
	{ "a = -9223372036854775809", 0, "!1:5: integer -9223372036854775809 "
	    "is out of range" },
	{ "a = 99999999999999999999999999", 0, "!1:5: integer "
	    "99999999999999999999999999 is out of range" },
	{ "a = 18446744073709551616", 0, "!1:5: integer 1844" },
	{ "a = 1__0", 0, "!1:6: '_' in a number must be between digits" },
	{ "a = 1_", 0, "!1:6: '_' in a number must be between digits" },
	{ "a = 1_\n", 0, "!1:6: '_' in a number" },
	{ "a = +_1", 0, "!1:6: expected digits, found '_'" },
	{ "a = _1", 0, "!1:5: expected a value (string, integer, boolean or "
	    "array), found '_'" },
	{ "a = +", 0, "!1:6: expected digits, found end of file" },
	{ "a = -\n", 0, "!1:6: expected digits, found end of line" },
	{ "a = --1", 0, "!1:6: expected digits, found '-'" },
	{ "a = 1.5", 0, "!1:5: floats are not supported" },
	{ "a = -0.0", 0, "!1:5: floats are not supported" },
	{ "a = 1e5", 0, "!1:5: floats are not supported" },
	{ "a = 1E5", 0, "!1:5: floats are not supported" },
	{ "a = inf", 0, "!1:5: floats are not supported" },
	{ "a = +inf", 0, "!1:5: floats are not supported" },
	{ "a = nan", 0, "!1:5: floats are not supported" },
	{ "a = -nan", 0, "!1:5: floats are not supported" },
	{ "a = 0x1F", 0, "!1:5: only decimal integers are supported" },
	{ "a = 0o17", 0, "!1:5: only decimal integers are supported" },
	{ "a = 0b101", 0, "!1:5: only decimal integers are supported" },
	{ "a = 1979-05-27", 0, "!1:5: dates and times are not supported" },
	{ "a = 07:32:00", 0, "!1:5: dates and times are not supported" },
	{ "a = 12abc", 0, "!1:7: expected end of line after a value, found "
	    "'a'" },
	/* booleans and bad words */
	{ "a = True", 0, "!1:5: expected a value (string, integer, boolean "
	    "or array), found 'T'" },
	{ "a = tru", 0, "!1:5: expected a value" },
	{ "a = truex", 0, "!1:9: expected end of line after a value, found "
	    "'x'" },
	{ "a = falsey", 0, "!1:10: expected end of line" },
	{ "a = yes", 0, "!1:5: expected a value" },
	/* basic strings and every escape */
	{ "a = \"\"", 0, "{a=\"\"}" },
	{ "a = \"hello, world\"", 0, "{a=\"hello, world\"}" },
	{ "a = \"tab\there\"", 0, "{a=\"tab\\x09here\"}" },
	{ "a = \"# not a comment\"", 0, "{a=\"# not a comment\"}" },
	{ "a = \"日本語 😀\"", 0, "{a=\"日本語 😀\"}" },
	{ "a = \"\\b\"", 0, "{a=\"\\x08\"}" },
	{ "a = \"\\t\"", 0, "{a=\"\\x09\"}" },
	{ "a = \"\\n\"", 0, "{a=\"\\x0a\"}" },
	{ "a = \"\\f\"", 0, "{a=\"\\x0c\"}" },
	{ "a = \"\\r\"", 0, "{a=\"\\x0d\"}" },
	{ "a = \"\\\"\"", 0, "{a=\"\\\"\"}" },
	{ "a = \"\\\\\"", 0, "{a=\"\\\\\"}" },
	{ "a = \"x\\\\y\\\"z\"", 0, "{a=\"x\\\\y\\\"z\"}" },
	{ "a = \"\\u0041\"", 0, "{a=\"A\"}" },
	{ "a = \"\\u0001\"", 0, "{a=\"\\x01\"}" },
	{ "a = \"\\u007f\"", 0, "{a=\"\\x7f\"}" },
	{ "a = \"\\u00e9\"", 0, "{a=\"é\"}" },
	{ "a = \"\\u00E9\"", 0, "{a=\"é\"}" },
	{ "a = \"\\u07ff\"", 0, "{a=\"\xdf\xbf\"}" },
	{ "a = \"\\u0800\"", 0, "{a=\"\xe0\xa0\x80\"}" },
	{ "a = \"\\u20AC\"", 0, "{a=\"€\"}" },
	{ "a = \"\\ud7ff\"", 0, "{a=\"\xed\x9f\xbf\"}" },
	{ "a = \"\\ue000\"", 0, "{a=\"\xee\x80\x80\"}" },
	{ "a = \"\\uFFFF\"", 0, "{a=\"\xef\xbf\xbf\"}" },
	{ "a = \"\\U00000041\"", 0, "{a=\"A\"}" },
	{ "a = \"\\U0001F600\"", 0, "{a=\"😀\"}" },
	{ "a = \"\\U0010FFFF\"", 0, "{a=\"\xf4\x8f\xbf\xbf\"}" },
	{ "a = \"\\u0041\\u0042C\"", 0, "{a=\"ABC\"}" },
	/* literal strings */
	{ "a = ''", 0, "{a=\"\"}" },
	{ "a = 'C:\\Users\\x'", 0, "{a=\"C:\\\\Users\\\\x\"}" },
	{ "a = '\\n is not an escape'", 0, "{a=\"\\\\n is not an escape\"}" },
	{ "a = 'say \"hi\"'", 0, "{a=\"say \\\"hi\\\"\"}" },
	{ "a = 'tab\tok'", 0, "{a=\"tab\\x09ok\"}" },
	/* bad strings */
	{ "a = \"abc", 0, "!1:5: unterminated string" },
	{ "a = \"abc\nb = 1", 0, "!1:5: unterminated string" },
	{ "a = \"abc\r\nb = 1", 0, "!1:5: unterminated string" },
	{ "a = 'abc", 0, "!1:5: unterminated string" },
	{ "a = 'abc\n'", 0, "!1:5: unterminated string" },
	{ "a = \"abc\\", 0, "!1:9: unterminated string" },
	{ "a = \"\"\"x\"\"\"", 0, "!1:5: multi-line strings are not "
	    "supported" },
	{ "a = '''x'''", 0, "!1:5: multi-line strings are not supported" },
	{ "a = \"\\x41\"", 0, "!1:6: invalid escape '\\x' (valid: \\b \\t \\n "
	    "\\f \\r \\\" \\\\ \\uXXXX \\UXXXXXXXX)" },
	{ "a = \"\\e\"", 0, "!1:6: invalid escape '\\e'" },
	{ "a = \"\\'\"", 0, "!1:6: invalid escape '\\''" },
	{ "a = \"\\ \"", 0, "!1:6: invalid escape: backslash followed by a "
	    "space" },
	{ "a = \"\\\n\"", 0, "!1:6: invalid escape: backslash followed by end "
	    "of line" },
	{ "a = \"\\u12\"", 0, "!1:6: '\\u' needs 4 hex digits" },
	{ "a = \"\\u12G4\"", 0, "!1:6: '\\u' needs 4 hex digits" },
	{ "a = \"\\U0001F60\"", 0, "!1:6: '\\U' needs 8 hex digits" },
	{ "a = \"\\u", 0, "!1:6: '\\u' needs 4 hex digits" },
	{ "a = \"\\uD800\"", 0, "!1:6: '\\uD800' is a UTF-16 surrogate, not a "
	    "character" },
	{ "a = \"\\udfff\"", 0, "!1:6: '\\udfff' is a UTF-16 surrogate" },
	{ "a = \"\\U0000D83D\"", 0, "!1:6: '\\U0000D83D' is a UTF-16 "
	    "surrogate" },
	{ "a = \"\\U00110000\"", 0, "!1:6: '\\U00110000' is beyond U+10FFFF" },
	{ "a = \"\\UFFFFFFFF\"", 0, "!1:6: '\\UFFFFFFFF' is beyond U+10FFFF" },
	{ "a = \"\\u0000\"", 0, "!1:6: '\\u0000' would put a NUL byte in the "
	    "string" },
	{ "a = \"ok\\u0000\"", 0, "!1:8: '\\u0000' would put a NUL byte" },
	{ "a = \"\x01\"", 0, "!1:6: control character 0x01 is not allowed in "
	    "a string (write it as an escape)" },
	{ "a = \"\x1f\"", 0, "!1:6: control character 0x1f" },
	{ "a = \"\x7f\"", 0, "!1:6: control character 0x7f" },
	{ "a = 'x\x08'", 0, "!1:7: control character 0x08 is not allowed in "
	    "a string" },
	{ "a = \"x\ry\"", 0, "!1:7: a carriage return without a newline is "
	    "not allowed in a string" },
	{ "a = \"x\0y\"", 9, "!1:7: a NUL byte is not allowed in a string" },
	{ "a = 'x\0y'", 9, "!1:7: a NUL byte is not allowed in a string" },
	{ "a = \"\xff\"", 0, "!1:6: invalid UTF-8 in a string (byte 0xff)" },
	{ "a = \"\xc3\"", 0, "!1:6: invalid UTF-8 in a string (byte 0xc3)" },
	{ "a = \"\xc3", 0, "!1:6: invalid UTF-8 in a string (byte 0xc3)" },
	{ "a = \"\xc0\xaf\"", 0, "!1:6: invalid UTF-8" },
	{ "a = \"\xe0\x80\xaf\"", 0, "!1:6: invalid UTF-8" },
	{ "a = \"\xed\xa0\x80\"", 0, "!1:6: invalid UTF-8" },
	{ "a = \"\xf4\x90\x80\x80\"", 0, "!1:6: invalid UTF-8" },
	{ "a = \"\xf5\x80\x80\x80\"", 0, "!1:6: invalid UTF-8" },
	{ "a = \"\x80\"", 0, "!1:6: invalid UTF-8" },
	{ "a = 'é\xe9'", 0, "!1:7: invalid UTF-8 in a string (byte 0xe9)" },
	/* bad lines */
	{ "a", 0, "!1:2: expected '=' after key \"a\", found end of file" },
	{ "a\n", 0, "!1:2: expected '=' after key \"a\", found end of line" },
	{ "\n\n  foo bar = 1", 0, "!3:7: expected '=' after key \"foo\", found "
	    "'b'" },
	{ "a : 1", 0, "!1:3: expected '=' after key \"a\", found ':'" },
	{ "\"a b\" 1", 0, "!1:7: expected '=' after key \"a b\", found '1'" },
	{ "a = ", 0, "!1:5: expected a value after '=', found end of file" },
	{ "a =\n1", 0, "!1:4: expected a value after '=', found end of line" },
	{ "a = # c\n", 0, "!1:5: expected a value after '=', found a "
	    "comment" },
	{ "= 1", 0, "!1:1: expected a key, found '='" },
	{ "  = 1", 0, "!1:3: expected a key, found '='" },
	{ "a = 1 b = 2", 0, "!1:7: expected end of line after a value, found "
	    "'b'" },
	{ "a = 'x' 'y'", 0, "!1:9: expected end of line after a value" },
	{ "a = 1\na = 2", 0, "!2:1: duplicate key \"a\" (first defined on "
	    "line 1)" },
	{ "a = 1\n\"a\" = 2", 0, "!2:1: duplicate key \"a\"" },
	{ "a = 1\n'a' = 2", 0, "!2:1: duplicate key \"a\"" },
	{ "\"\\u0061\" = 1\na = 2", 0, "!2:1: duplicate key \"a\"" },
	{ "a.b = 1", 0, "!1:1: dotted keys are not supported; use a [table] "
	    "header" },
	{ "a . b = 1", 0, "!1:1: dotted keys are not supported" },
	{ "a = {}", 0, "!1:5: inline tables are not supported; use a "
	    "[table] header" },
	{ "a = { b = 1 }", 0, "!1:5: inline tables are not supported" },
	{ "a = @", 0, "!1:5: expected a value (string, integer, boolean or "
	    "array), found '@'" },
	{ "\"\"\"k\"\"\" = 1", 0, "!1:1: multi-line strings are not "
	    "supported" },
	{ "\"a\nb\" = 1", 0, "!1:1: unterminated string" },
	{ "\"\\u0000\" = 1", 0, "!1:2: '\\u0000' would put a NUL byte" },
	{ "é = 1", 0, "!1:1: expected a key, found 'é'" },
	{ "\xff = 1", 0, "!1:1: expected a key, found byte 0xff (not UTF-8)" },
	{ "\x01 = 1", 0, "!1:1: expected a key, found control character "
	    "0x01" },
	{ "\0a = 1", 6, "!1:1: expected a key, found a NUL byte" },
	{ "a = 1\0", 6, "!1:6: expected end of line after a value, found a "
	    "NUL byte" },
	/* comments */
	{ "a = 1 # \x01", 0, "!1:9: control character 0x01 is not allowed in "
	    "a comment" },
	{ "# \x7f", 0, "!1:3: control character 0x7f is not allowed in a "
	    "comment" },
	{ "# x\0", 4, "!1:4: a NUL byte is not allowed in a comment" },
	{ "# x\ry", 0, "!1:4: a carriage return without a newline is not "
	    "allowed in a comment" },
	{ "# caf\xe9\n", 0, "!1:6: invalid UTF-8 in a comment (byte 0xe9)" },
	{ "a = 1\n# ok\n#\xc0\x80", 0, "!3:2: invalid UTF-8 in a comment" },
	/* CRLF and lone CR */
	{ "a = 1\r\nb = 2\r\n", 0, "{a=1,b=2}" },
	{ "# c\r\n[t]\r\nx = [\r\n  1, # c\r\n  2,\r\n]\r\n", 0,
	    "{t={x=[1,2]}}" },
	{ "a = 1\r\n\r\nb = 'x'\r\n", 0, "{a=1,b=\"x\"}" },
	{ "a = 1\rb = 2", 0, "!1:6: a carriage return must be followed by a "
	    "newline" },
	{ "\r", 0, "!1:1: a carriage return must be followed by a newline" },
	{ "[t]\r", 0, "!1:4: a carriage return must be followed" },
	{ "a = [1,\r2]", 0, "!1:8: expected a value" },
	{ "a = 1\r\nb = \"x\r\n\"", 0, "!2:5: unterminated string" },
	/* arrays */
	{ "a = []", 0, "{a=[]}" },
	{ "a = [ ]", 0, "{a=[]}" },
	{ "a = [1]", 0, "{a=[1]}" },
	{ "a = [1,2,3]", 0, "{a=[1,2,3]}" },
	{ "a = [1,2,]", 0, "{a=[1,2]}" },
	{ "a = [ 1 , 2 , ]", 0, "{a=[1,2]}" },
	{ "a = [\n  \"x\",\n  \"y\",\n]\n", 0, "{a=[\"x\",\"y\"]}" },
	{ "a = [ # c\n  1, # d\n  # e\n\n  2 # f\n] # g\n", 0, "{a=[1,2]}" },
	{ "a = [\n]", 0, "{a=[]}" },
	{ "a = [[1,2],[],[[3]]]", 0, "{a=[[1,2],[],[[3]]]}" },
	{ "a = [1, 'x', true, [\"y\"]]", 0, "{a=[1,\"x\",true,[\"y\"]]}" },
	{ "a = [-1, +2, 3_0]", 0, "{a=[-1,2,30]}" },
	{ "a = [1,,2]", 0, "!1:8: expected a value (string, integer, boolean "
	    "or array), found ','" },
	{ "a = [,]", 0, "!1:6: expected a value" },
	{ "a = [1 2]", 0, "!1:8: expected ',' or ']' after an array item, "
	    "found '2'" },
	{ "a = [1", 0, "!1:7: unterminated array (opened at 1:5)" },
	{ "a = [1,", 0, "!1:8: expected a value" },
	{ "a = [", 0, "!1:6: expected a value" },
	{ "a = [\n1,\n2\n", 0, "!4:1: unterminated array (opened at 1:5)" },
	{ "a = [1.5]", 0, "!1:6: floats are not supported" },
	{ "a = [{}]", 0, "!1:6: inline tables are not supported" },
	{ "a = [1] x", 0, "!1:9: expected end of line after a value" },
	{ "a = [\"x\" # c\n, 'y']", 0, "{a=[\"x\",\"y\"]}" },
	/* 32 arrays deep is fine, 33 is not */
	{ "a = [[[[[[[[[[[[[[[[" "[[[[[[[[[[[[[[[[1"
	    "]]]]]]]]]]]]]]]]" "]]]]]]]]]]]]]]]]", 0,
	    "{a=[[[[[[[[[[[[[[[[" "[[[[[[[[[[[[[[[[1"
	    "]]]]]]]]]]]]]]]]" "]]]]]]]]]]]]]]]]}" },
	{ "a = [[[[[[[[[[[[[[[[" "[[[[[[[[[[[[[[[[[1"
	    "]]]]]]]]]]]]]]]]]" "]]]]]]]]]]]]]]]]", 0,
	    "!1:37: arrays nested more than 32 deep" },
	/* tables */
	{ "[a]", 0, "{a={}}" },
	{ "[a]\nx = 1\n", 0, "{a={x=1}}" },
	{ "x = 0\n[a]\nx = 1\n[b]\nx = 2\n", 0, "{x=0,a={x=1},b={x=2}}" },
	{ "[a.b]\nx = 1", 0, "{a={b={x=1}}}" },
	{ "[ a . b ]", 0, "{a={b={}}}" },
	{ "[\ta\t.\tb\t]", 0, "{a={b={}}}" },
	{ "[a.b.c]\n[a]\ny = 2\n[a.b]\nz = 3", 0, "{a={b={c={},z=3},y=2}}" },
	{ "[a.b]\n[a]\n", 0, "{a={b={}}}" },
	{ "[a]\n[a.b]\n[a.c]\n", 0, "{a={b={},c={}}}" },
	{ "[\"a.b\"]\nx = 1", 0, "{\"a.b\"={x=1}}" },
	{ "['x y'.\"z\"]", 0, "{\"x y\"={z={}}}" },
	{ "[a] # c\nx = 1 # c\n# c\n[b] # c", 0, "{a={x=1},b={}}" },
	{ "[\"\"]\nx = 1", 0, "{\"\"={x=1}}" },
	{ "[a]\n[a]", 0, "!2:1: table [a] is already defined on line 1" },
	{ "[a]\n[\"a\"]", 0, "!2:1: table [a] is already defined on line 1" },
	{ "[a.b]\n[a]\n[a]", 0, "!3:1: table [a] is already defined on "
	    "line 2" },
	{ "[a.b]\n[a.b]", 0, "!2:1: table [a.b] is already defined on "
	    "line 1" },
	{ "[a]\n[b]\n[a]", 0, "!3:1: table [a] is already defined" },
	{ "a = 1\n[a]", 0, "!2:1: cannot make table [a]: it is already an "
	    "integer value (line 1)" },
	{ "a = 'x'\n[a.b]", 0, "!2:1: cannot define [a.b]: key \"a\" is "
	    "already a string (line 1), not a table" },
	{ "a = [1]\n[a.b]", 0, "!2:1: cannot define [a.b]: key \"a\" is "
	    "already an array (line 1), not a table" },
	{ "a = []\n[a]", 0, "!2:1: cannot make table [a]: it is already an "
	    "array value" },
	{ "[a]\nb = 1\n[a.b]", 0, "!3:1: cannot make table [a.b]: it is "
	    "already an integer value (line 2)" },
	{ "[a]\nb = 1\n[a.b.c]", 0, "!3:1: cannot define [a.b.c]: key \"b\" "
	    "is already an integer (line 2), not a table" },
	{ "[a.b]\n[a]\nb = 1", 0, "!3:1: duplicate key \"b\" (first defined "
	    "on line 1)" },
	{ "[a]\nx = 1\nx = 2", 0, "!3:1: duplicate key \"x\"" },
	{ "[]", 0, "!1:2: expected a key, found ']'" },
	{ "[a", 0, "!1:3: expected '.' or ']' to close the table header, "
	    "found end of file" },
	{ "[a\n]", 0, "!1:3: expected '.' or ']'" },
	{ "[a.]", 0, "!1:4: expected a key, found ']'" },
	{ "[.a]", 0, "!1:2: expected a key, found '.'" },
	{ "[a..b]", 0, "!1:4: expected a key, found '.'" },
	{ "[a b]", 0, "!1:4: expected '.' or ']' to close the table header, "
	    "found 'b'" },
	{ "[a] x = 1", 0, "!1:5: expected end of line after a table header, "
	    "found 'x'" },
	{ "[a]]", 0, "!1:4: expected end of line after a table header, "
	    "found ']'" },
	{ "[ [a]]", 0, "!1:3: expected a key, found '['" },
	{ "[a.1.\"c d\".'e']\n[a.1.\"c d\".e]", 0, "!2:1: table [a.1.\"c "
	    "d\".e] is already defined on line 1" },
	{ "[\"\\u0000\"]", 0, "!1:3: '\\u0000' would put a NUL byte" },
	{ "[a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E.F]",
	    0, "{a={b={c={d={e={f={g={h={i={j={k={l={m={n={o={p={q={r={s={"
	    "t={u={v={w={x={y={z={A={B={C={D={E={F={}"
	    "}}}}}}}}}}}}}}}}" "}}}}}}}}}}}}}}}}" },
	{ "[a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.A.B.C.D.E.F.G]",
	    0, "!1:66: a table header may have at most 32 keys" },
	/* arrays of tables */
	{ "[[a]]", 0, "{a=[{}]}" },
	{ "[[a]]\n[[a]]", 0, "{a=[{},{}]}" },
	{ "[[ a ]]\nx = 1\n[[a]]\nx = 2\n", 0, "{a=[{x=1},{x=2}]}" },
	{ "[[a]]\n[a.b]\nx = 1\n[[a]]\n[a.b]\nx = 2", 0,
	    "{a=[{b={x=1}},{b={x=2}}]}" },
	{ "[[a.b]]\n[[a.b]]\n[a]\nc = 1", 0, "{a={b=[{},{}],c=1}}" },
	{ "[[a]]\n[[a.b]]\nx = 1\n[[a.b]]\n[[a]]\n[[a.b]]", 0,
	    "{a=[{b=[{x=1},{}]},{b=[{}]}]}" },
	{ "[[a]]\nx = 1\n[b]\ny = 2\n[[a]]\nx = 3", 0,
	    "{a=[{x=1},{x=3}],b={y=2}}" },
	{ "[[a]]\nx = 1\nx = 2", 0, "!3:1: duplicate key \"x\"" },
	{ "[[a]]\nx = 1\n[[a]]\nx = 2\nx = 3", 0, "!5:1: duplicate key "
	    "\"x\" (first defined on line 4)" },
	{ "a = 1\n[[a]]", 0, "!2:1: cannot make [[a]]: it is already an "
	    "integer (line 1)" },
	{ "a = []\n[[a]]", 0, "!2:1: cannot make [[a]]: it is already an "
	    "array (line 1)" },
	{ "a = [1]\n[[a]]", 0, "!2:1: cannot make [[a]]" },
	{ "[a]\n[[a]]", 0, "!2:1: cannot make [[a]]: it is already a table "
	    "(line 1)" },
	{ "[a.b]\n[[a]]", 0, "!2:1: cannot make [[a]]: it is already a "
	    "table" },
	{ "[[a]]\n[a]", 0, "!2:1: cannot make table [a]: it is already an "
	    "array of tables (line 1)" },
	{ "[[a]]\n[a.b]\n[a.b]", 0, "!3:1: table [a.b] is already defined on "
	    "line 2" },
	{ "[[a]", 0, "!1:5: expected ']]' to close the table header, found "
	    "end of file" },
	{ "[[a] ]", 0, "!1:5: expected ']]' to close the table header, found "
	    "a space" },
	{ "[[a]]]", 0, "!1:6: expected end of line after a table header" },
	{ "[[]]", 0, "!1:3: expected a key, found ']'" },
	/* columns count characters, and tabs as one */
	{ "\"é\" = x", 0, "!1:7: expected a value" },
	{ "\t\ta = x", 0, "!1:7: expected a value" },
	{ "a = \"日本語\" x", 0, "!1:11: expected end of line" },
	/* input not NUL-terminated: only len bytes count */
	{ "a = 1234", 6, "{a=12}" },
	{ "a = \"abc\"", 8, "!1:5: unterminated string" },
	{ "a = tr", 6, "!1:5: expected a value" },
	{ "a = \"\\u0041\"", 10, "!1:6: '\\u' needs 4 hex digits" },
	{ "a = \"\xc3\xa9\"", 6, "!1:6: invalid UTF-8 in a string (byte "
	    "0xc3)" },
	{ "[a]]", 3, "{a={}}" },
	{ "[[a]]", 4, "!1:5: expected ']]'" },
	{ "a = [1]", 6, "!1:7: unterminated array" },
	{ "a = 1\r\n", 6, "!1:6: a carriage return must be followed" },
	{ "# x\xe2\x82\xac", 5, "!1:4: invalid UTF-8 in a comment" },
	{ "\xef\xbb\xbf", 2, "!1:1: expected a key, found byte 0xef" },
};

/* Appends s to *out, escaping '"', '\\' and control characters. */
static void
dumpstr(char **out, const char *s)
{
	char	*o;

	for (; *s != '\0'; s++) {
		o = *out;
		if (*s == '"' || *s == '\\')
			*out = xasprintf("%s\\%c", o, *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*out = xasprintf("%s\\x%02x", o, (unsigned char)*s);
		else
			*out = xasprintf("%s%c", o, *s);
		free(o);
	}
}

static void
append(char **out, const char *s)
{
	char	*o = *out;

	*out = xasprintf("%s%s", o, s);
	free(o);
}

static int
isbarekey(const char *k)
{
	if (*k == '\0')
		return 0;
	for (; *k != '\0'; k++) {
		if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		    (*k >= '0' && *k <= '9') || *k == '-' || *k == '_'))
			return 0;
	}
	return 1;
}

/* Compact form of v: {k=v,...} [v,...] "s" 12 true. */
static void
dump(char **out, const struct toml_value *v)
{
	char	 num[32];
	size_t	 i;

	switch (v->type) {
	case TOML_TABLE:
	case TOML_ARRAY:
		append(out, v->type == TOML_TABLE ? "{" : "[");
		for (i = 0; i < v->n; i++) {
			if (i > 0)
				append(out, ",");
			if (v->type == TOML_TABLE && isbarekey(v->keys[i]))
				append(out, v->keys[i]);
			else if (v->type == TOML_TABLE) {
				append(out, "\"");
				dumpstr(out, v->keys[i]);
				append(out, "\"");
			}
			if (v->type == TOML_TABLE)
				append(out, "=");
			dump(out, v->items[i]);
		}
		append(out, v->type == TOML_TABLE ? "}" : "]");
		break;
	case TOML_STRING:
		append(out, "\"");
		dumpstr(out, v->s);
		append(out, "\"");
		break;
	case TOML_INTEGER:
		snprintf(num, sizeof num, "%lld", v->i);
		append(out, num);
		break;
	case TOML_BOOLEAN:
		append(out, v->b ? "true" : "false");
		break;
	}
}

/* Parses in (copied to a buffer of exactly len bytes, so reading past
 * it trips ASan) and returns the dump, or "!" and the cause. */
static char *
run(const char *in, size_t len)
{
	struct toml_value	*v;
	char			*buf, *cause = NULL, *out;

	buf = xmalloc(len);
	memcpy(buf, in, len);
	v = toml_parse(buf, len, &cause);
	free(buf);
	if (v == NULL) {
		out = xasprintf("!%s", cause != NULL ? cause : "(no cause)");
		free(cause);
		return out;
	}
	out = xstrdup("");
	dump(&out, v);
	toml_free(v);
	return out;
}

static void
printable(char *d, size_t size, const char *s, size_t len)
{
	size_t	o = 0, i;

	for (i = 0; i < len && o + 5 < size; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			o += (size_t)snprintf(d + o, size - o, "\\x%02x",
			    (unsigned char)s[i]);
		else
			d[o++] = s[i];
	}
	d[o] = '\0';
}

static void
test_cases(void)
{
	const struct tcase	*c;
	size_t			 i, len;
	char			*got, name[200];
	int			 match;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		c = &cases[i];
		len = c->len != 0 ? c->len : strlen(c->in);
		got = run(c->in, len);
		printable(name, sizeof name, c->in, len);
		if (c->want[0] == '!')
			match = strncmp(got, c->want, strlen(c->want)) == 0;
		else
			match = strcmp(got, c->want) == 0;
		ok(match, "parse \"%s\"", name);
		if (!match)
			printf("#   got  '%s'\n#   want '%s'\n", got, c->want);
		free(got);
	}
}

/* Line and column of values, the keys' order, toml_get. */
static void
test_positions(void)
{
	static const char	 doc[] =
	    "# header\n"
	    "top = 1\n"
	    "\n"
	    "[[package]]\n"
	    "name = \"a\"\n"
	    "deps = [\n"
	    "  \"x\",\n"
	    "\t'y',\n"
	    "]\n"
	    "  [[package]]\n"
	    "name = \"é\" ; \n";
	struct toml_value	*v;
	const struct toml_value	*pk, *p0, *p1, *d, *t;
	char			*cause = NULL;

	v = toml_parse(doc, strlen(doc), &cause);
	is_str(cause, "11:12: expected end of line after a value, found "
	    "';'", "error column after a multi-byte character");
	free(cause);
	ok(v == NULL, "no tree on error");
	cause = NULL;
	v = toml_parse(doc, strlen(doc) - 4, &cause);
	ok(v != NULL, "parses the shortened document");
	if (v == NULL) {
		printf("#   %s\n", cause);
		free(cause);
		return;
	}
	ok(v->type == TOML_TABLE && v->line == 1 && v->col == 1, "root 1:1");
	t = toml_get(v, "top");
	ok(t != NULL && t->type == TOML_INTEGER && t->i == 1 &&
	    t->line == 2 && t->col == 7, "top at 2:7");
	pk = toml_get(v, "package");
	ok(pk != NULL && pk->type == TOML_ARRAY && pk->n == 2,
	    "package is an array of 2");
	if (pk == NULL || pk->type != TOML_ARRAY || pk->n != 2) {
		toml_free(v);
		return;
	}
	p0 = pk->items[0];
	p1 = pk->items[1];
	ok(pk->line == 4 && pk->col == 1, "array at its first header 4:1");
	ok(p0->line == 4 && p0->col == 1, "first table at 4:1");
	ok(p1->line == 10 && p1->col == 3, "second table at 10:3");
	is_str(p0->keys[0], "name", "first key of first package");
	is_str(p0->keys[1], "deps", "second key of first package");
	d = toml_get(p0, "deps");
	ok(d != NULL && d->type == TOML_ARRAY && d->n == 2 && d->line == 6 &&
	    d->col == 8, "deps array at 6:8");
	if (d != NULL && d->type == TOML_ARRAY && d->n == 2) {
		ok(d->items[0]->line == 7 && d->items[0]->col == 3,
		    "\"x\" at 7:3");
		ok(d->items[1]->line == 8 && d->items[1]->col == 2,
		    "'y' at 8:2 (a tab is one column)");
		is_str(d->items[1]->s, "y", "literal string item");
	}
	t = toml_get(p1, "name");
	ok(t != NULL && t->type == TOML_STRING && t->line == 11 &&
	    t->col == 8, "second name at 11:8");
	is_str(t != NULL ? t->s : NULL, "é", "UTF-8 string value");
	ok(toml_get(v, "nope") == NULL, "toml_get of a missing key");
	ok(toml_get(t, "name") == NULL, "toml_get on a string");
	ok(toml_get(pk, "name") == NULL, "toml_get on an array");
	ok(toml_get(NULL, "name") == NULL, "toml_get on NULL");
	toml_free(v);
	toml_free(NULL);
}

/* Big tables go through the hash; the first duplicate is still found. */
static void
test_many_keys(void)
{
	char			*doc = xstrdup(""), *o, *cause = NULL;
	char			 k[32];
	struct toml_value	*v;
	const struct toml_value	*x;
	int			 i, good = 1;

	for (i = 0; i < 5000; i++) {
		o = doc;
		doc = xasprintf("%sk%d = %d\n", o, i, i);
		free(o);
	}
	v = toml_parse(doc, strlen(doc), &cause);
	ok(v != NULL && v->n == 5000, "5000 keys");
	for (i = 0; v != NULL && i < 5000; i++) {
		snprintf(k, sizeof k, "k%d", i);
		x = toml_get(v, k);
		if (x == NULL || x->i != i || x->line != i + 1)
			good = 0;
	}
	ok(good, "toml_get finds each of 5000 keys");
	ok(toml_get(v, "k5000") == NULL, "and not a missing one");
	toml_free(v);
	o = doc;
	doc = xasprintf("%s[t]\nk1 = 1\n[u]\nk4321 = 1\n", o);
	free(o);
	v = toml_parse(doc, strlen(doc), &cause);
	ok(v != NULL, "same keys in other tables");
	toml_free(v);
	o = doc;
	doc = xasprintf("%s[t]\n", o);
	free(o);
	v = toml_parse(doc, strlen(doc), &cause);
	is_str(cause, "5005:1: table [t] is already defined on line 5001",
	    "redefined table after 5000 keys");
	free(cause);
	cause = NULL;
	toml_free(v);
	free(doc);
	doc = xstrdup("");
	for (i = 0; i < 3000; i++) {
		o = doc;
		doc = xasprintf("%s\"k%d\" = %d\n", o, i, i);
		free(o);
	}
	o = doc;
	doc = xasprintf("%sk2999 = 1\n", o);
	free(o);
	v = toml_parse(doc, strlen(doc), &cause);
	is_str(cause, "3001:1: duplicate key \"k2999\" (first defined on "
	    "line 3000)", "duplicate among 3000 keys");
	free(cause);
	toml_free(v);
	free(doc);
}

/* An array of n integers fails with want (its column shows the item
 * before was taken); n 0: 2^21 [[a]] headers. */
static void
test_values_max(size_t n, const char *want)
{
	char			*doc, *cause = NULL;
	size_t			 i, len;
	struct toml_value	*v;

	if (n == 0) {
		n = 1 << 21;
		len = n * 6;
		doc = xmalloc(len);
		for (i = 0; i < n; i++)
			memcpy(doc + i * 6, "[[a]]\n", 6);
	} else {
		len = 5 + 2 * n;
		doc = xmalloc(len);
		memcpy(doc, "a = [", 5);
		for (i = 0; i < n; i++)
			memcpy(doc + 5 + 2 * i, i + 1 < n ? "1," : "1]", 2);
	}
	v = toml_parse(doc, len, &cause);
	ok(v == NULL && cause != NULL && strncmp(cause, want,
	    strlen(want)) == 0, "%s", want);
	free(cause);
	toml_free(v);
	free(doc);
}

static void
test_misc(void)
{
	static const char	 one[] = "a";
	char			*cause = NULL, *got;
	struct toml_value	*v;

	v = toml_parse(one, (size_t)64 * 1024 * 1024 + 1, &cause);
	ok(v == NULL, "input over 64 MiB refused before reading it");
	is_str(cause, "1:1: the file is 67108865 bytes; the limit is 64 MiB",
	    "size cause");
	free(cause);
	v = toml_parse(one, 1, NULL);
	ok(v == NULL, "a NULL cause is allowed");
	test_values_max(2097151, "1:4194306: more than 2097152 values");
	test_values_max(0, "2097119:1: more than 2097152 values");
	v = toml_parse("x = ", 4, NULL);
	ok(v == NULL, "a NULL cause is allowed");
	is_str(toml_type_name(TOML_TABLE), "table", "type name table");
	is_str(toml_type_name(TOML_ARRAY), "array", "type name array");
	is_str(toml_type_name(TOML_STRING), "string", "type name string");
	is_str(toml_type_name(TOML_INTEGER), "integer", "type name integer");
	is_str(toml_type_name(TOML_BOOLEAN), "boolean", "type name boolean");
	got = run("k = 9223372036854775807\nm = -9223372036854775808\n", 48);
	is_str(got, "{k=9223372036854775807,m=-9223372036854775808}",
	    "LLONG_MAX and LLONG_MIN");
	free(got);
	v = toml_parse("k = -9223372036854775808", 24, NULL);
	ok(v != NULL && v->items[0]->i == LLONG_MIN, "value is LLONG_MIN");
	toml_free(v);
	v = toml_parse("k = 9223372036854775807", 23, NULL);
	ok(v != NULL && v->items[0]->i == LLONG_MAX, "value is LLONG_MAX");
	toml_free(v);
}

/* TOML_INLINE_TABLES: inline tables as RustSec's advisories write them,
 * and what TOML 1.0 forbids of them. */
static const struct tcase inline_cases[] = {
	{ "a = {}", 0, "{a={}}" },
	{ "a = { }", 0, "{a={}}" },
	{ "a = { b = 1 }", 0, "{a={b=1}}" },
	{ "a = {b=1,c='x'}", 0, "{a={b=1,c=\"x\"}}" },
	{ "functions = { \"x::y\" = [\"<= 24.0.0\"] }", 0,
	    "{functions={\"x::y\"=[\"<= 24.0.0\"]}}" },
	{ "a = { b = { c = [1, { d = true }] } }", 0,
	    "{a={b={c=[1,{d=true}]}}}" },
	{ "a = [{ b = 1 }, {}]", 0, "{a=[{b=1},{}]}" },
	{ "[t]\na = { b = 1 } # c\nx = 2", 0, "{t={a={b=1},x=2}}" },
	{ "a = { b = 1, }", 0, "!1:14: expected a key, found '}'" },
	{ "a = { b = 1, b = 2 }", 0, "!1:14: duplicate key \"b\"" },
	{ "a = { b.c = 1 }", 0, "!1:7: dotted keys are not supported" },
	{ "a = { b = 1\n}", 0, "!1:12: unterminated inline table (opened at "
	    "1:5; an inline table stays on one line)" },
	{ "a = {\nb = 1 }", 0, "!1:6: unterminated inline table" },
	{ "a = { b = 1", 0, "!1:12: unterminated inline table" },
	{ "a = { b = 1 c = 2 }", 0, "!1:13: expected ',' or '}' after a value "
	    "in an inline table, found 'c'" },
	{ "a = { b = }", 0, "!1:11: expected a value after '=', found '}'" },
	{ "a = { b = , }", 0, "!1:11: expected a value after '=', found ','" },
	{ "a = { , }", 0, "!1:7: expected a key, found ','" },
	{ "a = { b = 1 } x", 0, "!1:15: expected end of line after a value" },
	{ "a = { b = 1 }\n[a]", 0, "!2:1: table [a] is already defined on "
	    "line 1" },
	{ "a = { b = 1 }\n[a.c]", 0, "!2:1: cannot define [a.c]: key \"a\" is "
	    "an inline table (line 1), which cannot be extended" },
	{ "a = { b = {} }\n[a.b.c]", 0, "!2:1: cannot define [a.b.c]: "
	    "key \"a\" is an inline table" },
	{ "a = [{}]\n[[a]]", 0, "!2:1: cannot make [[a]]: it is already an "
	    "array" },
	/* 32 inline tables deep is fine, 33 is not */
	{ "a = {a={a={a={a={a={a={a={a={a={a={a={a={a={a={a"
	    "={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a"
	    "={a=1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}", 0,
	    "{a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a="
	    "{a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a="
	    "{a=1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}" },
	{ "a = {a={a={a={a={a={a={a={a={a={a={a={a={a={a={a"
	    "={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a"
	    "={a={a=1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}", 0,
	    "!1:101: arrays and inline tables nested more than 32 "
	    "deep" },
};

static void
test_inline(void)
{
	const struct tcase	*c;
	struct toml_value	*v;
	size_t			 i, len;
	char			*cause, *got, name[200];
	int			 match;

	for (i = 0; i < sizeof inline_cases / sizeof inline_cases[0]; i++) {
		c = &inline_cases[i];
		len = strlen(c->in);
		cause = NULL;
		v = toml_parse_flags(c->in, len, TOML_INLINE_TABLES, &cause);
		if (v != NULL) {
			got = xstrdup("");
			dump(&got, v);
			toml_free(v);
		} else {
			got = xasprintf("!%s", cause);
			free(cause);
		}
		printable(name, sizeof name, c->in, len);
		if (c->want[0] == '!')
			match = strncmp(got, c->want, strlen(c->want)) == 0;
		else
			match = strcmp(got, c->want) == 0;
		ok(match, "inline: parse \"%s\"", name);
		if (!match)
			printf("#   got  '%s'\n#   want '%s'\n", got, c->want);
		free(got);
	}
	v = toml_parse("a = { b = 1 }", 13, &cause);
	ok(v == NULL, "without the flag inline tables are refused");
	free(cause);
}

int
main(void)
{
	test_cases();
	test_inline();
	test_positions();
	test_many_keys();
	test_misc();
	return done_testing();
}
