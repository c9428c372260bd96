/*
 * A registry's supply-chain policy at run time (issue 28), over the pure
 * core (policy/policy.h): the configuration's settings, the run-time
 * blocks (`crated block`, kept in DATA_DIR/policy/blocks.json) and the
 * advisory snapshot (advisory_db, or DATA_DIR/policy/advisories.tar.gz
 * once `crated advisories import` installed one), as one immutable view
 * per registry.
 *
 * A view never changes: a reload, a block or a new snapshot makes a new
 * one with a higher epoch, so the worker pool may read a view while the
 * loop swaps in the next. References are counted (atomically: a view may
 * be dropped on any thread).
 *
 * First-seen times (a mirror): when a fill brings versions without a
 * pubtime that the previous copy did not have, crated writes when it saw
 * each to seen/<index path> in the registry's store (server/policy/
 * seen.h). A version with no record counts as old.
 */
#ifndef SERVER_POLICY_REGPOLICY_H
#define SERVER_POLICY_REGPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/policy.h"

struct config;
struct registry;
struct registry_config;
struct store;

struct regpolicy_view {
	const char			*registry;
	struct policy_settings		 settings;
	const struct policy_rule	*blocks;	/* those naming this
							   registry or all */
	size_t				 nblocks;
	const struct advisory_db	*db;		/* NULL: none */
	const char			*db_path;	/* where it came from */
	uint64_t			 epoch;		/* a new one per change */
	time_t				 since;		/* when it was made */
};

/* ---- the running server (on the loop) ---- */

/* New reference to reg's policy now, or NULL when none applies to reg (no
 * setting, no block, no snapshot): serving then costs nothing. */
struct regpolicy_view	*regpolicy_view(struct registry *reg);

/* ---- the commands (no server: explain, export, prefetch) ---- */

/* The policy of registry as cfg and its data directory say (the blocks
 * file and the snapshot read from disk; a running server's are the
 * same). *out: a new reference, or NULL when none applies. 0, or -1 with
 * *cause (new): a bad snapshot or blocks file. */
int	regpolicy_load(const struct config *cfg, const char *registry,
	    struct regpolicy_view **out, char **cause);

/* ---- making views (server/policy/polserve.c, regpolicy_load) ---- */

/* A loaded advisory snapshot, shared by the views of every registry that
 * reads it; counted references (any thread). */
struct regpolicy_db {
	struct advisory_db	*db;
	char			*path;
	/* private */
	unsigned		 _refs;
};

/* Loads the snapshot at path (blocking): 0, or -1 with *cause (new). */
int	regpolicy_db_load(const char *path, struct regpolicy_db **out,
	    char **cause);
struct regpolicy_db *regpolicy_db_ref(struct regpolicy_db *);
void	regpolicy_db_unref(struct regpolicy_db *);

/* DATA_DIR/policy/advisories.tar.gz (new): the snapshot `crated
 * advisories import` installs; when it exists, every registry with an
 * advisory_db reads it instead. */
char	*regpolicy_installed_path(const char *data_dir);
/* The snapshot registry rc reads (new): the installed one or its
 * advisory_db; NULL: none. */
char	*regpolicy_db_path(const struct config *cfg,
	    const struct registry_config *rc);

struct blocks;
/* The view of rc's policy made of the configuration, the blocks and db
 * (may be NULL), with epoch. *out NULL when none applies. 0, or -1 with
 * *cause (new) when a setting does not parse (config.c checked them). */
int	regpolicy_make(const struct registry_config *rc,
	    const struct blocks *bs, struct regpolicy_db *db, uint64_t epoch,
	    struct regpolicy_view **out, char **cause);

/* ---- either ---- */

struct regpolicy_view	*regpolicy_ref(struct regpolicy_view *);
/* Any thread; NULL is fine. */
void			 regpolicy_unref(struct regpolicy_view *);

/* One paragraph for a person (the registry page, `crated check`):
 * "Versions published less than 7 days ago are held (not mycorp-*).
 * Denied: foo, bar@<1.2. RustSec advisories 2026-08-21 (1,205): malicious
 * ones denied, others flagged. 2 blocks." Borrowed: valid with v. */
const char	*regpolicy_describe(const struct regpolicy_view *v);

/* A crate's first-seen record, read from the store whose root directory
 * is root (store_root(), or DATA_DIR/REGISTRY; read-only, safe beside a
 * running server). Blocking: a worker or a command. New, or NULL when
 * there is none (every version counts as old). */
struct regpolicy_seen	*regpolicy_seen_read(const char *root,
			    const char *name);
/* When crated first saw vers, or 0 (old). seen may be NULL. */
time_t			 regpolicy_seen_get(const struct regpolicy_seen *,
			    const char *vers);
void			 regpolicy_seen_free(struct regpolicy_seen *);

/* The verdict of one index line of crate name (its "vers" and "pubtime"
 * read from it) at now: 0, or -EINVAL when the line is no index line. */
int	regpolicy_line_verdict(const struct regpolicy_view *v,
	    const struct regpolicy_seen *seen, const char *name,
	    const char *line, size_t len, time_t now,
	    struct verdict_info *out);

/* What the verdicts of an index file of crate name came to (its lines
 * decided as regpolicy_line_verdict does): lines per verdict and source,
 * and for the log the versions not allowed ("1.2.3 hold: published 2
 * hours ago ...; 0.9.0 deny: RUSTSEC-2025-0147 (malicious)", at most
 * about 1 KB, NULL when none). */
struct regpolicy_tally {
	unsigned	 n[VERDICT_DENY + 1][SOURCE_ADVISORY + 1];
	char		*text;		/* new, or NULL */
};
void	regpolicy_tally(const struct regpolicy_view *v,
	    const struct regpolicy_seen *seen, const char *name,
	    const char *buf, size_t len, time_t now,
	    struct regpolicy_tally *out);
void	regpolicy_tally_clear(struct regpolicy_tally *);

/* The verdict of name@vers at now, with the times the store at root
 * knows: the pubtime of its line in the cached index file, else its
 * first-seen record. Blocking. 0; -ENOENT when the cached index file has
 * no such version (out then holds the verdict without times: rules and
 * advisories only). */
int	regpolicy_verdict(const struct regpolicy_view *v, const char *root,
	    const char *name, const char *vers, time_t now,
	    struct verdict_info *out);

#endif
