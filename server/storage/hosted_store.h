/* A hosted registry's writes through the object store (issue 26): the
 * store is the registry's truth, shared by every replica; the local disk
 * is this replica's copy of it. hosted.c decides what a write changes
 * (its checks, handed down as callbacks); this file reads the objects
 * fresh, writes them with compare-and-swap, retries a lost race, and
 * says how it ended. It never touches the local disk.
 *
 * A publish: the crate's index and meta objects read (with their etags),
 * the edits decided, a new crate's canonical name reserved
 * (R/names/<canon>, create-only), the .crate written create-only, then
 * the meta object and last the index object, each with If-Match (or
 * create-only when absent). So an index line never names a .crate that
 * is not stored, and a version is acknowledged only once its line is.
 * A .crate whose line never landed is an orphan: never served (a download
 * needs the index line), deleted by the sweep once older than 15 minutes
 * (a publish in progress takes seconds). Every write that changes
 * something leaves an audit object, R/audit/YYYY-MM-DD/<ns>-<hex>.json. */
#ifndef SERVER_STORAGE_HOSTED_STORE_H
#define SERVER_STORAGE_HOSTED_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct registry;
struct hstore;

/* What an apply callback decided about one object, given its content. */
struct hstore_edit {
	char	*body;		/* new (malloc): the object's new content;
				   NULL or equal to the old one: no write */
	size_t	 len;
	int	 status;	/* 0: go on; else refused with this HTTP
				   status */
	char	*msg;		/* new: why it was refused */
	bool	 new_crate;	/* index: the crate has no index object */
};

/* old is the object's current content, NULL when it does not exist. Runs
 * on the loop; may be called again after a lost race, with the newer
 * content. */
typedef void	(*hstore_apply_cb)(const char *old, size_t len,
		    struct hstore_edit *, void *arg);
/* After a write whose answer was lost: whether old already holds it. */
typedef bool	(*hstore_applied_cb)(const char *old, size_t len,
		    void *arg);

struct hstore_outcome {
	int		 status;	/* 200, or what to answer */
	const char	*msg;		/* why, when status is not 200 */
	const char	*index;		/* as stored (NULL: not written) */
	size_t		 index_len;
	const char	*index_etag;	/* the store's, or NULL */
	const char	*meta;		/* as stored (NULL: not written) */
	size_t		 meta_len;
	bool		 new_crate;
};
typedef void	(*hstore_done_cb)(const struct hstore_outcome *, void *arg);

enum hstore_op {
	HSTORE_PUBLISH,
	HSTORE_YANK,
	HSTORE_UNYANK,
	HSTORE_OWNERS,
};

/* One write to one crate. Strings and the crate are copied where kept
 * past the call, but crate must stay valid until done runs. */
struct hstore_write {
	enum hstore_op		 op;
	const char		*name;
	const char		*vers;		/* NULL: owners */
	const char		*user;		/* for the audit; NULL: none */
	const char		*client;	/* the peer, for the audit */
	const unsigned char	*crate;		/* HSTORE_PUBLISH */
	size_t			 crate_len;
	const char		*cksum;		/* its SHA-256, hex */
	hstore_apply_cb		 index_apply;	/* NULL: not changed */
	hstore_apply_cb		 meta_apply;	/* NULL: not read */
	hstore_applied_cb	 index_applied;	/* HSTORE_PUBLISH */
	hstore_done_cb		 done;		/* once, on the loop, after
						   the call returned */
	void			*arg;
};

/* The registry's store side (reg->objstore set); starts the orphan
 * sweep: now and then hourly. CRATED_TEST_ORPHAN_AGE=SECONDS replaces
 * the 15 minutes (tests only: 0 sweeps every unlisted .crate at start). */
struct hstore	*hstore_open(struct registry *);
void		 hstore_close(struct hstore *);
void		 hstore_write(struct hstore *, const struct hstore_write *);

#endif
