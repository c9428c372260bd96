/*
 * The run-time blocks (`crated block NAME@REQ --reason TEXT`), kept in
 * DATA_DIR/policy/blocks.json, rewritten whole (temp, fsync, rename,
 * directory fsync) under DATA_DIR/policy/blocks.lock, so two commands
 * never lose each other's change. A running server watches the file
 * (server/policy/polserve.h) and logs each change it finds as an audit
 * line. The file also keeps the last BLOCKS_CHANGES_MAX changes (who,
 * when, what), numbered, for those audit lines.
 *
 *   {"seq": 7, "blocks": [{"rule": "foo@<1.2", "registry": "*",
 *     "reason": "...", "user": "alice", "at": 1760000000}, ...],
 *    "changes": [{"seq": 7, "op": "block", "rule": ..., "registry": ...,
 *     "reason": ..., "user": ..., "at": ...}, ...]}
 *
 * No event loop: the commands and the server's workers use it.
 */
#ifndef SERVER_POLICY_BLOCKS_H
#define SERVER_POLICY_BLOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy/policy.h"

#define BLOCKS_MAX		10000
#define BLOCKS_CHANGES_MAX	64
#define BLOCKS_REASON_MAX	300

struct block {
	struct policy_rule	 rule;		/* rule.reason: the reason */
	char			*registry;	/* "*": every registry */
	char			*user;
	time_t			 at;
};

struct block_change {
	uint64_t	 seq;
	char		*op;		/* "block" or "unblock" */
	char		*rule;
	char		*registry;
	char		*reason;	/* NULL for an unblock */
	char		*user;
	time_t		 at;
};

struct blocks {
	struct block		*v;
	size_t			 n;
	struct block_change	*changes;	/* oldest first */
	size_t			 nchanges;
	uint64_t		 seq;
};

/* DATA_DIR/policy/blocks.json (new). */
char	*blocks_path(const char *data_dir);
/* Reads the file: no file is no block (0). 0, or -1 with *cause (new)
 * naming the file and what is wrong with it. */
int	blocks_read(const char *data_dir, struct blocks *out, char **cause);
/* Parses the file's text (file: for messages). */
int	blocks_parse(const char *text, size_t len, const char *file,
	    struct blocks *out, char **cause);
void	blocks_free(struct blocks *);

/* Adds the block rule (checked: "name" or "name@REQ"), reason (one line,
 * at most BLOCKS_REASON_MAX bytes) for registry ("*": every one) under
 * the lock, and writes the file. The same rule for the same registry is
 * replaced (its reason updated). 0, or -1 with *cause (new): nothing
 * changed on disk then. */
int	blocks_add(const char *data_dir, const char *rule, const char *registry,
	    const char *reason, const char *user, time_t now, char **cause);
/* Removes the block rule of registry ("*": the block for every registry;
 * NULL: every block of that rule, whatever its registry). 0, -ENOENT when
 * there is none (*cause says so), or -1 with *cause. */
int	blocks_remove(const char *data_dir, const char *rule,
	    const char *registry, const char *user, time_t now, char **cause);

#endif
