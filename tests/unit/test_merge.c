/* Merging index files (crated import): a bundle adds versions, and
 * replaces lines only when it is newer; finding a version's cksum. */
#include <stdlib.h>
#include <string.h>

#include "index/indexline.h"
#include "tests/tap.h"

#define CK	"0000000000000000000000000000000000000000000000000000000000000000"
#define L(v, y)	"{\"name\":\"a\",\"vers\":\"" v "\",\"deps\":[],\"cksum\":\"" \
		CK "\",\"yanked\":" y "}"

static void
merge(const char *local, const char *other, bool newer, const char *want,
    const char *what)
{
	size_t	 len;
	char	*got = index_file_merge(local, strlen(local), other,
		    strlen(other), newer, &len);

	is_str(got, want, "%s", what);
	ok(len == strlen(want), "%s: length", what);
	free(got);
}

int
main(void)
{
	merge(L("1.0.0", "false") "\n", L("1.1.0", "false") "\n", false,
	    L("1.0.0", "false") "\n" L("1.1.0", "false") "\n",
	    "a new version is appended");
	merge(L("1.0.0", "false") "\n" L("1.1.0", "false") "\n",
	    L("1.0.0", "false") "\n", false,
	    L("1.0.0", "false") "\n" L("1.1.0", "false") "\n",
	    "an older bundle removes nothing");
	merge(L("1.0.0", "true") "\n", L("1.0.0", "false") "\n", false,
	    L("1.0.0", "true") "\n", "an older bundle keeps the local yank");
	merge(L("1.0.0", "false") "\n", L("1.0.0", "true") "\n", true,
	    L("1.0.0", "true") "\n", "a newer bundle brings its yank");
	merge(L("1.0.0", "false") "\n",
	    "{\"name\":\"a\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\""
	    "1111111111111111111111111111111111111111111111111111111111111111"
	    "\",\"yanked\":true}\n", true, L("1.0.0", "false") "\n",
	    "a newer bundle's other cksum never replaces a version");
	merge("", L("1.0.0", "false"), false, L("1.0.0", "false") "\n",
	    "into nothing; a missing final newline is added");
	merge(L("1.0.0", "false") "\n", "garbage\n", true,
	    L("1.0.0", "false") "\n", "unparsable bundle lines are dropped");
	merge(L("1.0.0", "false") "\nlocal junk\n", "", false,
	    L("1.0.0", "false") "\nlocal junk\n",
	    "unparsable local lines are kept");
	{
		const char	*f = L("1.0.0", "false") "\n" L("1.1.0", "true")
				    "\ngarbage\n";
		char		 ck[65] = "";

		ok(index_file_cksum(f, strlen(f), "1.1.0", ck) == 1 &&
		    strcmp(ck, CK) == 0, "cksum of a listed version");
		ok(index_file_cksum(f, strlen(f), "1.1", ck) == 0,
		    "no partial version match");
		ok(index_file_cksum(f, strlen(f), "2.0.0", ck) == 0,
		    "an absent version");
	}
	return done_testing();
}
