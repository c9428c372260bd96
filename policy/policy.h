/* Supply-chain policy: one verdict per (crate, version) a registry serves.
 * Pure (no event loop, no curl, no server/): the server hands in the
 * registry's settings, the run-time blocks, an advisory snapshot and the
 * clock, and gets verdicts and filtered index files back.
 *
 *   allow  served as it is
 *   flag   an advisory applies; served as it is, reported
 *   hold   too new: the index line says "yanked": true, the .crate is served
 *   deny   "yanked": true, and the download answers 403 with the reason
 *
 * A verdict names its source (the rule, the block or the advisory id) and,
 * for a hold, the moment it ends. */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "index/semver.h"

enum verdict {
	VERDICT_ALLOW,
	VERDICT_FLAG,
	VERDICT_HOLD,
	VERDICT_DENY,
};

enum verdict_source {
	SOURCE_NONE,		/* allow: nothing applies */
	SOURCE_AGE,		/* min_publish_age */
	SOURCE_DENY,		/* the registry's deny list */
	SOURCE_BLOCK,		/* crated block, at run time */
	SOURCE_ADVISORY,	/* an advisory of the snapshot */
};

/* "allow", "flag", "hold", "deny"; "none", "age", "deny", "block",
 * "advisory": the metrics' and the logs' words. */
const char	*verdict_name(enum verdict);
const char	*verdict_source_name(enum verdict_source);
/* "flag", "hold" or "deny" (what advisory_action accepts): 0, or -EINVAL. */
int		 verdict_parse(const char *, enum verdict *);

/* ---- time ---- */

/* cargo's duration syntax (min-publish-age, cargo's time_span.rs): a
 * whole number, at most one space, a unit: second(s), minute(s), hour(s),
 * day(s), week(s), month(s) (cargo's month: 2,629,746 s, 30.436875
 * days); "0" alone (or any zero) turns the gate off. 0 and *seconds, or
 * -EINVAL with *cause (new) saying what is wrong. cause may be NULL. */
int	policy_age_parse(const char *s, int64_t *seconds, char **cause);

/* An index line's "pubtime" exactly as cargo accepts it:
 * YYYY-MM-DDTHH:MM:SSZ (UTC, nothing more, nothing less, a real date).
 * 0 and *t, or -EINVAL (cargo skips such a line: crated never writes one). */
int	policy_pubtime_parse(const char *s, size_t len, time_t *t);

/* ---- rules ---- */

/* One deny entry or run-time block: "name" (every version), or
 * "name@REQ" with REQ in cargo's requirement syntax ("name@<1.2.4",
 * "name@=0.3.1"). Names compare as crates.io compares them ('-' and '_'
 * alike, case-insensitive). REQ covers versions by precedence alone
 * (semver_req_covers): "name@<1.2.4" covers 1.2.4-rc.1 too, which
 * cargo's own matching would leave out. */
struct policy_rule {
	char	*name;
	char	*req;		/* NULL: every version */
	char	*text;		/* as written: "name@<1.2.4" */
	char	*reason;	/* a block's --reason, or NULL */
};

/* Parses "name" or "name@REQ" into r (owned strings; free with
 * policy_rule_clear). 0, or -EINVAL with *cause (new). */
int	policy_rule_parse(const char *text, struct policy_rule *r,
	    char **cause);
void	policy_rule_clear(struct policy_rule *);

/* ---- advisories (policy/advisories.c) ---- */

struct advisory {
	char	*id;		/* "RUSTSEC-2025-0147" */
	char	*package;	/* the crate */
	char	*summary;	/* one line, may be NULL */
	char	*date;		/* "YYYY-MM-DD", may be NULL */
	bool	 malicious;	/* categories holds "malicious" */
	bool	 informational;	/* unmaintained, unsound, notice, ... */
	bool	 withdrawn;
	/* What it affects: kept as parsed from either layout; see
	 * advisory_affects. */
	void	*ranges;
};

struct advisory_db;

/* Reads a snapshot: a directory or a .tar.gz (libarchive) of either the
 * OSV export (crates/RUSTSEC-*.json) or the main layout
 * (crates/NAME/RUSTSEC-*.md with TOML front matter). Entries that are
 * neither are skipped; an advisory that does not parse fails the whole
 * load (nothing half-read is used): 0 and *out, or -EINVAL/-errno with
 * *cause (new) naming the file. */
int	advisory_db_load(const char *path, struct advisory_db **out,
	    char **cause);
void	advisory_db_free(struct advisory_db *);
size_t	advisory_db_count(const struct advisory_db *);
/* The snapshot's id, for bundles and /-/ready: "YYYY-MM-DD/N/HEX8" (the
 * newest advisory's date or modified time, the count, a digest of the
 * contents). */
const char *advisory_db_id(const struct advisory_db *);
/* The newest date in the snapshot ("YYYY-MM-DD"). */
const char *advisory_db_date(const struct advisory_db *);
/* Advisory i (< advisory_db_count), in the order of their crates'
 * names (crates.io's comparison), then ids. Borrowed, as long as db. */
const struct advisory *advisory_db_get(const struct advisory_db *,
	    size_t i);

/* 1 when adv affects version v of its package, 0 when not. OSV: the
 * schema's evaluation (explicit versions, then each range's events
 * sorted by precedence, "0" first, limits). Main layout: RustSec's own
 * reading (rustsec's Versions::is_vulnerable): each patched or
 * unaffected requirement is an interval by precedence (a bare "1.2" or
 * "^1.2" is [1.2.0, 2.0.0-0), "~1.2" [1.2.0, 1.3.0-0), ">1" is
 * (1.0.0, ...)), and v is affected when it lies in none of them; none at
 * all: every version. Pre-releases are ordinary versions in both. */
int	advisory_affects(const struct advisory *adv, const struct semver *v);

/* What kind of advisory adv is, for reasons: "malicious", else its first
 * category ("memory-corruption"), else its informational kind
 * ("unsound", "unmaintained", "notice"), else "vulnerability".
 * Borrowed, valid as long as adv. */
const char *advisory_kind(const struct advisory *adv);

/* The advisories of crate name that affect v (withdrawn ones included;
 * the caller decides), at most max into out. Returns how many. */
size_t	advisory_db_match(const struct advisory_db *, const char *name,
	    const struct semver *v, const struct advisory **out, size_t max);

/* ---- the verdict ---- */

struct policy_settings {
	int64_t		 min_publish_age;	/* seconds; 0: off */
	char		**age_exempt;		/* fnmatch globs; case and -/_ aside */
	size_t		 nage_exempt;
	struct policy_rule *deny;		/* the configuration's */
	size_t		 ndeny;
	enum verdict	 advisory_action;	/* flag (default), hold, deny */
	bool		 advisory_informational; /* informational count too */
	bool		 advisory_withdrawn;	/* withdrawn ones count too */
	bool		 hide;			/* denied lines are dropped */
	bool		 hosted;		/* a hosted registry: its own
						   versions are never held by
						   age (rules still apply) */
};

/* What is known of a version's age. */
struct policy_times {
	time_t	pubtime;	/* the line's; 0: none */
	time_t	first_seen;	/* when crated first saw the version; 0: it
				   was there when crated first mirrored the
				   crate (counts as old) */
};

struct verdict_info {
	enum verdict		 verdict;
	enum verdict_source	 source;
	char			 rule[256];	/* the rule, block or id */
	char			 reason[512];	/* for a person: "RUSTSEC-2025-
						   0147 (malicious)", "published
						   2 hours ago; held for 7 days
						   (min_publish_age)" */
	time_t			 published;	/* the time the age used, 0 */
	bool			 from_first_seen; /* published is first_seen */
	time_t			 until;		/* a hold's end; 0 */
};

/* The verdict for name@vers. blocks: the run-time blocks; db may be NULL.
 * Order: deny (block, deny list, malicious or advisory_action deny) over
 * hold (advisory_action hold, then age) over flag over allow; among
 * advisories the strongest, its id first in reason, the others that
 * count after it. An unparsable version or an invalid name is allowed
 * (nothing can match it). */
void	policy_decide(const struct policy_settings *s,
	    const struct policy_rule *blocks, size_t nblocks,
	    const struct advisory_db *db, const char *name, const char *vers,
	    const struct policy_times *t, time_t now, struct verdict_info *out);

/* ---- an index file as served (policy/filter.c) ---- */

/* Asked for a version's first-seen time (0: old), only for lines
 * without a valid pubtime while the age gate applies (min_publish_age
 * set, not hosted). */
typedef time_t	(*policy_first_seen_cb)(const char *name, const char *vers,
		    void *arg);

struct policy_filtered {
	char	*body;		/* new, or NULL: the file is served as it is */
	size_t	 len;
	time_t	 next_change;	/* the earliest end of a hold that rewrote
				   a line; 0: none */
	size_t	 held, denied, flagged;	/* lines with that verdict (also
					   those already yanked) */
};

/* Applies the verdicts to an index file of crate name: a held or denied
 * line gets "yanked":true with every other byte of it unchanged (its
 * "yanked" value replaced in place, or ,"yanked":true put before its
 * closing brace; a line already yanked is left as it is; with hide a
 * denied line is dropped, newline and all). Lines that are no JSON object
 * with a string "vers" are left as they are; a malformed pubtime counts
 * as none. Nothing is copied until a line changes. 0 (out of memory
 * aborts, as everywhere). */
int	policy_filter_index(const struct policy_settings *s,
	    const struct policy_rule *blocks, size_t nblocks,
	    const struct advisory_db *db, const char *name, const char *buf,
	    size_t len, policy_first_seen_cb first_seen, void *arg,
	    time_t now, struct policy_filtered *out);
void	policy_filtered_clear(struct policy_filtered *);

#endif
