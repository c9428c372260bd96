/* server/policy/: the blocks file (add, replace, remove, bad input leaves
 * it alone, the change log bounded), first-seen records (what a fill
 * notes, what it does not, bounds), views made of the configuration (none
 * when nothing applies, blocks by registry, the summary) and verdicts of
 * index lines with the times they use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "server/core/config.h"
#include "server/policy/blocks.h"
#include "server/policy/regpolicy.h"
#include "server/policy/seen.h"
#include "tests/tap.h"

static char	tmpdir[] = "/tmp/test-regpolicy-XXXXXX";

static char *
slurp(const char *path)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	long	 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

#define BAD_RULE	"{\"blocks\": [{\"rule\": \"a@<<\"}]}"

static void
test_blocks(void)
{
	struct blocks	 bs;
	char		*cause = NULL, *path = blocks_path(tmpdir), *before;
	int		 r;

	ok(blocks_read(tmpdir, &bs, &cause) == 0 && bs.n == 0,
	    "no file: no block");
	blocks_free(&bs);
	r = blocks_add(tmpdir, "foo@<<1", "*", "why", "alice", 100, &cause);
	ok(r != 0 && cause != NULL && access(path, F_OK) != 0,
	    "a bad requirement is refused, nothing written (%s)", cause);
	free(cause);
	cause = NULL;
	ok(blocks_add(tmpdir, "foo", "*", "two\nlines", "alice", 100,
	    &cause) != 0 && access(path, F_OK) != 0,
	    "a reason of two lines is refused (%s)", cause);
	free(cause);
	cause = NULL;
	ok(blocks_add(tmpdir, "foo", "*", "", "alice", 100, &cause) != 0,
	    "an empty reason is refused");
	free(cause);
	cause = NULL;
	ok(blocks_add(tmpdir, "foo-bar@<1.2", "*", "compromised", "alice",
	    100, &cause) == 0, "a block is added");
	ok(blocks_add(tmpdir, "Foo_Bar@ < 1.2", "*", "compromised, really",
	    "bob", 101, &cause) == 0, "the same rule again");
	ok(blocks_add(tmpdir, "foo-bar@<1.2", "m", "only m", "bob", 102,
	    &cause) == 0, "the rule for one registry");
	ok(blocks_read(tmpdir, &bs, &cause) == 0 && bs.n == 2 && bs.seq == 3 &&
	    bs.nchanges == 3, "two blocks, three changes (%zu, %llu, %zu)",
	    bs.n, (unsigned long long)bs.seq, bs.nchanges);
	ok(bs.n == 2 && strcmp(bs.v[0].rule.reason, "compromised, really") ==
	    0 && strcmp(bs.v[0].user, "bob") == 0 && strcmp(bs.v[1].registry,
	    "m") == 0, "the same rule replaced its reason");
	blocks_free(&bs);
	before = slurp(path);
	r = blocks_remove(tmpdir, "nope", NULL, "carol", 103, &cause);
	ok(r == -ENOENT && cause != NULL, "no such block: -ENOENT (%s)",
	    cause);
	free(cause);
	cause = NULL;
	ok(blocks_remove(tmpdir, "foo@<<", NULL, "carol", 103, &cause) == -1,
	    "a bad rule is refused");
	free(cause);
	cause = NULL;
	{
		char	*after = slurp(path);

		ok(before != NULL && after != NULL && strcmp(before, after) ==
		    0, "refused removals leave the file as it was");
		free(after);
	}
	free(before);
	ok(blocks_remove(tmpdir, "foo-bar@<1.2", "*", "carol", 104, &cause) ==
	    0, "the block for every registry removed");
	ok(blocks_read(tmpdir, &bs, &cause) == 0 && bs.n == 1 &&
	    strcmp(bs.v[0].registry, "m") == 0, "the one for m stays");
	ok(bs.nchanges == 4 && strcmp(bs.changes[3].op, "unblock") == 0 &&
	    bs.changes[3].reason == NULL, "the unblock is a change");
	blocks_free(&bs);
	for (int i = 0; i < 70; i++) {
		char	rule[32];

		snprintf(rule, sizeof rule, "c%d", i);
		blocks_add(tmpdir, rule, "*", "many", "dave", 200 + i, &cause);
	}
	ok(blocks_read(tmpdir, &bs, &cause) == 0 && bs.nchanges ==
	    BLOCKS_CHANGES_MAX && bs.changes[BLOCKS_CHANGES_MAX - 1].seq ==
	    bs.seq && bs.n == 71, "the change log keeps the last %d",
	    BLOCKS_CHANGES_MAX);
	blocks_free(&bs);
	ok(blocks_parse("{\"blocks\": 3}", 13, "F", &bs, &cause) != 0 &&
	    strstr(cause, "F") != NULL, "not a blocks file: %s", cause);
	free(cause);
	cause = NULL;
	ok(blocks_parse(BAD_RULE, strlen(BAD_RULE), "F", &bs, &cause) != 0 &&
	    strstr(cause, "blocks[0]") != NULL,
	    "a bad rule in the file is named: %s", cause);
	free(cause);
	free(path);
}

static const char *
lines(int n, const char *const *l, char *out, size_t size)
{
	size_t	used = 0;

	out[0] = '\0';
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, size - used, "%s\n", l[i]);
	return out;
}

#define CK	"0000000000000000000000000000000000000000000000000000000000000000"
#define L(v, extra) "{\"name\":\"foo\",\"vers\":\"" v "\",\"deps\":[]," \
	"\"cksum\":\"" CK "\",\"features\":{},\"yanked\":false" extra "}"

static void
test_seen(void)
{
	struct store		*st;
	struct regpolicy_seen	*s;
	char			*cause = NULL, a[2048], b[2048], path[512];
	const char		*one[] = { L("1.0.0", "") };
	const char		*two[] = { L("1.0.0", ""), L("1.1.0", ""),
				    L("1.2.0", ",\"pubtime\":\"2026-01-01T00:00:00Z\"") };
	const char		*yank[] = { L("1.0.0", ""), L("1.1.0", ""),
				    L("1.2.0", ",\"pubtime\":\"2026-01-01T00:00:00Z\""),
				    L("2.0.0", ",\"pubtime\":\"2026-13-01T00:00:00Z\"") };
	time_t			 now = 1800000000;

	if (store_open(tmpdir, "r", &st, &cause) != 0) {
		ok(0, "store: %s", cause);
		return;
	}
	lines(1, one, a, sizeof a);
	lines(3, two, b, sizeof b);
	ok(regpolicy_seen_note(st, "foo", NULL, 0, a, strlen(a), now) == 0,
	    "the first fill notes nothing");
	snprintf(path, sizeof path, "%s/r/seen/3/f/foo", tmpdir);
	ok(access(path, F_OK) != 0, "and writes nothing");
	ok(regpolicy_seen_note(st, "foo", a, strlen(a), b, strlen(b), now) ==
	    1, "appended: only the version without pubtime is noted");
	s = regpolicy_seen_read(store_root(st), "foo");
	ok(s != NULL && regpolicy_seen_get(s, "1.1.0") == now &&
	    regpolicy_seen_get(s, "1.0.0") == 0 && regpolicy_seen_get(s,
	    "1.2.0") == 0, "1.1.0 seen at now, the others old");
	regpolicy_seen_free(s);
	ok(regpolicy_seen_note(st, "foo", b, strlen(b), b, strlen(b),
	    now + 10) == 0, "the same file again notes nothing");
	lines(4, yank, a, sizeof a);
	ok(regpolicy_seen_note(st, "foo", b, strlen(b), a, strlen(a),
	    now + 20) == 1, "a malformed pubtime counts as none: 2.0.0 noted");
	s = regpolicy_seen_read(store_root(st), "foo");
	ok(regpolicy_seen_get(s, "1.1.0") == now && regpolicy_seen_get(s,
	    "2.0.0") == now + 20, "a version keeps when it was first seen");
	regpolicy_seen_free(s);
	/* A changed line (a yank) takes the full comparison. */
	{
		const char	*y[] = { L("1.0.0", ""), L("3.0.0", "") };
		char		 c[2048];
		char		*p;

		lines(2, y, c, sizeof c);
		p = strstr(c, "false");
		memcpy(p, "true,", 5);
		memmove(p + 4, p + 5, strlen(p + 5) + 1);
		ok(regpolicy_seen_note(st, "foo", a, strlen(a), c, strlen(c),
		    now + 30) == 1, "a rewritten file: only the new version");
	}
	s = regpolicy_seen_read(store_root(st), "foo");
	ok(regpolicy_seen_get(s, "3.0.0") == now + 30 && regpolicy_seen_get(s,
	    "1.0.0") == 0, "3.0.0 noted, 1.0.0 still old");
	regpolicy_seen_free(s);
	/* Records older than REGPOLICY_SEEN_DAYS go at the next note. */
	{
		const char	*y[] = { L("1.0.0", ""), L("4.0.0", "") };
		const char	*z[] = { L("1.0.0", ""), L("4.0.0", ""),
				    L("5.0.0", "") };
		char		 c[2048], d[2048];
		time_t		 later = now + (time_t)REGPOLICY_SEEN_DAYS * 86400
				    + 100;

		lines(2, y, c, sizeof c);
		lines(3, z, d, sizeof d);
		regpolicy_seen_note(st, "foo", c, strlen(c), d, strlen(d),
		    later);
		s = regpolicy_seen_read(store_root(st), "foo");
		ok(regpolicy_seen_get(s, "1.1.0") == 0 && regpolicy_seen_get(s,
		    "5.0.0") == later, "old records pruned, the new one kept");
		regpolicy_seen_free(s);
	}
	ok(regpolicy_seen_read(store_root(st), "nothing-here") == NULL,
	    "no record: NULL");
	ok(regpolicy_seen_get(NULL, "1.0.0") == 0, "NULL record: old");
	store_close(st);
}

static struct config *
cfg_of(const char *text)
{
	struct config	*c = NULL;
	char		*cause = NULL;

	if (config_parse(text, strlen(text), "t.toml", &c, &cause) != 0) {
		printf("# config: %s\n", cause);
		free(cause);
	}
	return c;
}

static void
test_views(void)
{
	struct config		*c;
	struct regpolicy_view	*v = NULL;
	struct blocks		 bs;
	struct verdict_info	 vi;
	char			*cause = NULL, text[512];
	time_t			 now = 1800000000;

	c = cfg_of("data_dir = \"/nonexistent\"\n"
	    "min_publish_age = \"2 days\"\n"
	    "[registries.h]\n"
	    "[registries.m]\nupstream = \"https://x.example/\"\n"
	    "deny = [\"foo@=1.0.0\"]\n"
	    "[registries.off]\nupstream = \"https://y.example/\"\n"
	    "min_publish_age = \"0\"\n");
	ok(c != NULL, "configuration with a policy parses");
	if (c == NULL)
		return;
	ok(strcmp(c->regs[0].policy.min_publish_age, "2 days") == 0 &&
	    strcmp(c->regs[2].policy.min_publish_age, "0") == 0 &&
	    c->regs[1].policy.ndeny == 1 && c->regs[0].policy.ndeny == 0,
	    "top-level defaults, a registry's own value wins");
	ok(regpolicy_make(&c->regs[2], NULL, NULL, 1, &v, &cause) == 0 &&
	    v == NULL, "nothing applies: no view");
	memset(&bs, 0, sizeof bs);
	ok(blocks_parse("{\"blocks\":[{\"rule\":\"bar\",\"registry\":\"m\","
	    "\"reason\":\"r1\"},{\"rule\":\"baz\",\"registry\":\"*\","
	    "\"reason\":\"r2\"}]}", strlen("{\"blocks\":[{\"rule\":\"bar\","
	    "\"registry\":\"m\",\"reason\":\"r1\"},{\"rule\":\"baz\","
	    "\"registry\":\"*\",\"reason\":\"r2\"}]}"), "F", &bs, &cause) == 0,
	    "blocks parse");
	ok(regpolicy_make(&c->regs[2], &bs, NULL, 7, &v, &cause) == 0 &&
	    v != NULL && v->nblocks == 1 && v->epoch == 7 &&
	    strcmp(v->blocks[0].name, "baz") == 0,
	    "a block for every registry makes a view; another's does not"
	    " count");
	regpolicy_unref(v);
	v = NULL;
	ok(regpolicy_make(&c->regs[1], &bs, NULL, 8, &v, &cause) == 0 &&
	    v != NULL && v->nblocks == 2 && !v->settings.hosted &&
	    v->settings.min_publish_age == 2 * 86400, "m: both blocks, its age");
	if (v == NULL)
		goto out;
	ok(strstr(regpolicy_describe(v), "less than 2 days ago") != NULL &&
	    strstr(regpolicy_describe(v), "Denied: foo@=1.0.0") != NULL &&
	    strstr(regpolicy_describe(v), "2 blocks") != NULL,
	    "the summary: %s", regpolicy_describe(v));
	snprintf(text, sizeof text, "{\"name\":\"foo\",\"vers\":\"1.1.0\","
	    "\"deps\":[],\"cksum\":\"%s\",\"pubtime\":\"2027-01-15T08:00:00Z\"}",
	    CK);
	ok(regpolicy_line_verdict(v, NULL, "foo", text, strlen(text),
	    1800000000, &vi) == 0 && vi.verdict == VERDICT_HOLD &&
	    vi.source == SOURCE_AGE && vi.published == 1800000000 &&
	    !vi.from_first_seen && vi.until == 1800000000 + 2 * 86400,
	    "a line 0 s old is held two days (until %lld)",
	    (long long)vi.until);
	snprintf(text, sizeof text, "{\"name\":\"foo\",\"vers\":\"1.0.0\","
	    "\"deps\":[],\"cksum\":\"%s\"}", CK);
	ok(regpolicy_line_verdict(v, NULL, "foo", text, strlen(text), now,
	    &vi) == 0 && vi.verdict == VERDICT_DENY && vi.source ==
	    SOURCE_DENY, "the deny list denies foo 1.0.0 (%s)", vi.reason);
	ok(regpolicy_line_verdict(v, NULL, "foo", "[1]", 3, now, &vi) ==
	    -EINVAL, "not an index line: -EINVAL");
	snprintf(text, sizeof text, "{\"name\":\"bar\",\"vers\":\"0.1.0\","
	    "\"deps\":[],\"cksum\":\"%s\"}", CK);
	ok(regpolicy_line_verdict(v, NULL, "bar", text, strlen(text), now,
	    &vi) == 0 && vi.verdict == VERDICT_DENY && vi.source ==
	    SOURCE_BLOCK && strstr(vi.reason, "r1") != NULL,
	    "a block denies with its reason (%s)", vi.reason);
	{
		char			 buf[1024];
		struct regpolicy_tally	 t;

		snprintf(buf, sizeof buf, "{\"name\":\"foo\",\"vers\":\"1.0.0\","
		    "\"deps\":[],\"cksum\":\"%s\"}\n{\"name\":\"foo\",\"vers\":"
		    "\"1.1.0\",\"deps\":[],\"cksum\":\"%s\",\"pubtime\":"
		    "\"2027-01-15T08:00:00Z\"}\n", CK, CK);
		regpolicy_tally(v, NULL, "foo", buf, strlen(buf), now, &t);
		ok(t.n[VERDICT_DENY][SOURCE_DENY] == 1 &&
		    t.n[VERDICT_HOLD][SOURCE_AGE] == 1 && t.text != NULL &&
		    strstr(t.text, "1.0.0 deny") != NULL &&
		    strstr(t.text, "1.1.0 hold") != NULL,
		    "a file's tally: %s", t.text);
		regpolicy_tally_clear(&t);
	}
	regpolicy_unref(v);
	v = NULL;
	ok(regpolicy_make(&c->regs[0], NULL, NULL, 1, &v, &cause) == 0 &&
	    v != NULL && v->settings.hosted && strstr(regpolicy_describe(v),
	    "own publishes are not") != NULL, "a hosted registry's view");
	regpolicy_unref(v);
out:
	blocks_free(&bs);
	config_free(c);
}

int
main(void)
{
	char	cmd[128];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_blocks();
	test_seen();
	test_views();
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return done_testing();
}
