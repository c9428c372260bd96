/* Bundles: a registry's cache (index files, crates, metadata) as one gzip
 * tar, for air-gapped machines and backups; toolchain mirrors' too (their
 * dist/, rustup/ and snapshots/, cache/bundle_tc.h). Written and read with
 * libarchive; a bundle ends with crated-bundle.json, the manifest that
 * lists every file with its size, SHA-256 and modification time.
 *
 * Import never trusts the bundle: entries must be regular files at paths
 * of the store layout (no "..", no absolute paths, no links or devices);
 * everything is unpacked into a staging folder inside the data directory
 * and checked (manifest hashes, and every .crate against an index cksum)
 * before anything becomes visible; then crates go in first and index files
 * are merged, so an index line never names a missing crate. A bad bundle
 * is refused whole and the cache is unchanged. Pure: no event loop. */
#ifndef CACHE_BUNDLE_H
#define CACHE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct bundle_progress {
	void	(*fn)(const char *what, size_t done, size_t total,
		    unsigned long long bytes, void *arg);
	void	*arg;
};

struct bundle_stats {
	size_t			 files;		/* written or imported */
	size_t			 crates;
	size_t			 index_files;
	size_t			 skipped;	/* already present */
	size_t			 left_out;	/* denied by the policy */
	size_t			 toolchain_files; /* toolchain mirrors' */
	unsigned long long	 bytes;
};

/* A registry, or a toolchain mirror, as the configuration knows it. */
struct bundle_registry {
	const char	*name;
	const char	*upstream;	/* as configured; NULL: hosted */
	bool		 toolchain;	/* a [toolchains.NAME] mirror */
};

/* The supply-chain policy an export applies (issue 28), as the caller
 * (crated export) knows it; the bundle records it in its manifest. */
struct bundle_policy_info {
	const char	*describe;	/* one paragraph, or NULL: none */
	const char	*advisory_id;	/* the snapshot's, or NULL: none */
	const char	*advisory_date;
	size_t		 advisory_count;
};

/* A verdict that is not allow, in the words of policy/policy.h. */
struct bundle_verdict {
	const char	*verdict;	/* "flag", "hold", "deny" */
	const char	*source;	/* "age", "deny", "block", "advisory" */
	const char	*rule;		/* the rule, block or advisory id */
	const char	*reason;
	time_t		 until;		/* a hold's end, or 0 */
	bool		 deny;		/* the .crate is not to be served */
};

struct bundle_policy {
	/* What applies to registry reg (strings valid until the next
	 * call). */
	void	(*registry)(const char *reg, struct bundle_policy_info *,
		    void *arg);
	/* The verdict of one index line (len bytes) of crate name in reg:
	 * true and *out (valid until the next call) when it is not allow. */
	bool	(*judge)(const char *reg, const char *name, const char *line,
		    size_t len, struct bundle_verdict *out, void *arg);
	void	*arg;
};

/* Writes the registries named (NULL: every registry directory) of
 * data_dir to file, atomically (a temp name, then rename). since > 0
 * keeps only files modified at or after it. The manifest records what
 * known says of each registry exported (hosted, or the upstream it
 * mirrors). With policy (may be NULL), each line of every index file is
 * judged: the manifest's "policy" records, per registry, the policy, its
 * advisory snapshot, the verdicts that are not allow (of the index files
 * in the bundle) and the denied versions whose .crate a mirror's part of
 * the bundle leaves out (a hosted registry's are kept: its export is its
 * backup). First-seen records (seen/) go with the index files. 0, or -1
 * with *cause. */
int	bundle_export(const char *data_dir, const char *const *registries,
	    size_t nregistries, time_t since, const char *file,
	    const struct bundle_registry *known, size_t nknown,
	    const struct bundle_policy *policy,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

/* What import checks a bundle's registries against. */
struct bundle_import_opts {
	const struct bundle_registry	*regs;	/* the configured ones */
	size_t				 nregs;
	/* Files for a hosted registry are refused unless allow_hosted (a
	 * restore); then every index line's .crate must be in the bundle or
	 * the data directory, matching its cksum. */
	bool				 allow_hosted;
	/* A mirror's files from a bundle that mirrored another upstream are
	 * refused unless allow_other_upstream (then a warning). */
	bool				 allow_other_upstream;
	void				(*warn)(const char *msg, void *arg);
	/* After an import: what the manifest says of the policy the
	 * export applied (one paragraph), if anything;
	 * may be NULL. */
	void				(*policy)(const char *summary,
					    void *arg);
	void				*arg;
};

/* The "created" time in a bundle's manifest (for --since BUNDLE), or -1
 * with *cause. */
time_t	bundle_created(const char *file, char **cause);

/* Imports file into data_dir (whose lock the caller holds). The file
 * must be exactly one gzip stream; every index line is checked as a
 * mirror's fill is (JSON, the name of its path, a cksum); a first-seen
 * record (seen/) must be {"versions": {"VERSION": UNIX_TIME, ...}} and is
 * merged with the data directory's (the earlier time of each version
 * kept). Index files are stored as they are: the policy applies when they
 * are served. opts may be
 * NULL (no registry known: nothing refused for its kind). 0, or -1 with
 * *cause and nothing changed. */
int	bundle_import(const char *data_dir, const char *file,
	    const struct bundle_import_opts *opts,
	    const struct bundle_progress *, struct bundle_stats *,
	    char **cause);

#endif
