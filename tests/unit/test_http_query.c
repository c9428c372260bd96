/* Query-string parameters as cargo search sends them. */
#include <string.h>

#include "server/http/http.h"
#include "tests/tap.h"

int
main(void)
{
	char	out[32];

	ok(http_query_param("q=serde&per_page=10", "q", out, sizeof out) == 0,
	    "q found");
	is_str(out, "serde", "q value");
	ok(http_query_param("q=serde&per_page=10", "per_page", out,
	    sizeof out) == 0, "per_page found");
	is_str(out, "10", "per_page value");
	ok(http_query_param("q=serde%2Djson", "q", out, sizeof out) == 0,
	    "percent-decoded");
	is_str(out, "serde-json", "%%2D is '-'");
	ok(http_query_param("q=a+b", "q", out, sizeof out) == 0, "plus");
	is_str(out, "a b", "'+' is a space in a query");
	ok(http_query_param("qq=x", "q", out, sizeof out) == -1,
	    "prefix of another key is not the key");
	ok(http_query_param("q=%zz", "q", out, sizeof out) == -1, "bad escape");
	ok(http_query_param("q=%4", "q", out, sizeof out) == -1, "short escape");
	ok(http_query_param("q=%00", "q", out, sizeof out) == -1, "NUL refused");
	ok(http_query_param("q=0123456789012345678901234567890123456789", "q",
	    out, sizeof out) == -1, "too long for the buffer");
	ok(http_query_param("", "q", out, sizeof out) == -1, "empty query");
	ok(http_query_param("q=", "q", out, sizeof out) == 0 && out[0] == 0,
	    "empty value");
	return done_testing();
}
