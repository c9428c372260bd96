/* ETag and 304 rules (RFC 9110 §13.1.2, §13.1.3) and HTTP dates. */
#include <string.h>

#include "index/validators.h"
#include "tests/tap.h"

int
main(void)
{
	char	etag[ETAG_LEN], etag2[ETAG_LEN], date[30];
	time_t	t = 784111777;	/* Sun, 06 Nov 1994 08:49:37 GMT */

	etag_of("abc", 3, etag);
	/* SHA-256("abc") starts ba7816bf8f01cfea414140de5dae2223. */
	is_str(etag, "\"ba7816bf8f01cfea414140de5dae2223\"", "etag of abc");
	etag_of("abd", 3, etag2);
	ok(strcmp(etag, etag2) != 0, "different bytes, different etag");
	etag_of("", 0, etag2);
	ok(strlen(etag2) == ETAG_LEN - 1, "etag of nothing is well-formed");

	http_date_format(t, date);
	is_str(date, "Sun, 06 Nov 1994 08:49:37 GMT", "IMF-fixdate");
	ok(http_date_parse(date) == t, "date round-trips");
	ok(http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC") == -1, "not GMT");
	ok(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT") == -1,
	    "RFC 850 form refused");
	ok(http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT") == -1, "month");
	ok(http_date_parse("Sun, 06 Nov 1994 25:49:37 GMT") == -1, "hour");
	ok(http_date_parse("") == -1, "empty");

	ok(validators_not_modified(etag, NULL, etag, t), "INM exact match");
	ok(!validators_not_modified(etag2, NULL, etag, t), "INM mismatch");
	ok(validators_not_modified("\"x\", \"ba7816bf8f01cfea414140de5dae2223\"",
	    NULL, etag, t), "INM list match");
	ok(validators_not_modified("W/\"ba7816bf8f01cfea414140de5dae2223\"",
	    NULL, etag, t), "INM weak compare");
	ok(validators_not_modified("*", NULL, etag, t), "INM star");
	ok(!validators_not_modified("", NULL, etag, t), "INM empty");
	ok(!validators_not_modified("\"ba7816bf8f01cfea414140de5dae222\"",
	    NULL, etag, t), "INM prefix does not match");
	ok(!validators_not_modified(etag2, date, etag, t),
	    "INM present decides alone, even when IMS would match");
	ok(validators_not_modified(NULL, date, etag, t), "IMS equal");
	ok(validators_not_modified(NULL, "Mon, 07 Nov 1994 08:49:37 GMT",
	    etag, t), "IMS later");
	ok(!validators_not_modified(NULL, "Sat, 05 Nov 1994 08:49:37 GMT",
	    etag, t), "IMS earlier");
	ok(!validators_not_modified(NULL, "garbage", etag, t), "IMS garbage");
	ok(!validators_not_modified(NULL, NULL, etag, t), "no validators");
	return done_testing();
}
