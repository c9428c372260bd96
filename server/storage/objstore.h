/* Object storage: S3 (SigV4, through CURLOPT_AWS_SIGV4) and Azure Blob
 * (SharedKey signed with OpenSSL, or a SAS token), one small async API
 * over the upstream client's curl multi on the server's event loop, so no
 * request ever blocks the loop. Credentials live here only: never logged,
 * never sent anywhere but the store's own endpoint.
 *
 * Keys are relative to the store's prefix ("s3://BUCKET/PREFIX"): a
 * hosted registry R keeps the same layout as on local disk (store.h's
 * store_index_rel, store_crate_rel, store_meta_rel) under "R/", so a copy
 * of a data directory's registry is a copy of its files; see
 * storage_key.h. */
#ifndef SERVER_STORAGE_OBJSTORE_H
#define SERVER_STORAGE_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct upstream_client;
struct objstore;

enum obj_kind {
	OBJ_S3,		/* s3://BUCKET/PREFIX */
	OBJ_AZBLOB,	/* azblob://ACCOUNT/CONTAINER/PREFIX */
};

/* The parsed `storage` settings (config.c fills them in; credentials are
 * read by objstore_open, not kept in the configuration). */
struct objstore_config {
	enum obj_kind	 kind;
	char		*url;		/* as written, for messages */
	char		*bucket;	/* S3 bucket, or Azure account */
	char		*container;	/* Azure container; NULL for S3 */
	char		*prefix;	/* "" or "a/b" (no leading or
					   trailing '/') */
	char		*endpoint;	/* storage_endpoint, or NULL: the
					   cloud's own */
	char		*region;	/* S3; NULL: AWS_REGION, us-east-1 */
	char		*credentials_file; /* KEY=VALUE lines with the
					   variables' names, or NULL */
};

/* How a request ended, whatever the cloud. */
enum obj_status {
	OBJ_OK,			/* 200, 201, 202, 204 */
	OBJ_NOT_MODIFIED,	/* 304 to an If-None-Match */
	OBJ_NOT_FOUND,		/* 404 */
	OBJ_CONFLICT,		/* 409 or 412: a condition failed; someone
				   wrote first: read again and reapply */
	OBJ_DENIED,		/* 401, 403: the credentials */
	OBJ_UNAVAILABLE,	/* no answer, timeout, 5xx, 429 */
	OBJ_ERROR,		/* any other answer */
};

struct obj_result {
	enum obj_status	 status;
	long		 http_status;	/* 0: no answer came */
	const char	*etag;		/* normalised (quotes kept), or NULL */
	const char	*body;		/* GET: the object (NUL-terminated) */
	size_t		 len;
	time_t		 last_modified;	/* 0: unknown */
	/* Why, for a log line or a reply, when status is not OBJ_OK: names
	 * the store and the key, never a credential. */
	const char	*error;
	double		 seconds;
};

typedef void	(*obj_done_cb)(const struct obj_result *, void *arg);

enum obj_cond {
	OBJ_PUT_ALWAYS,		/* no condition */
	OBJ_PUT_CREATE,		/* If-None-Match: *: only when absent */
	OBJ_PUT_IF_MATCH,	/* If-Match: etag: only over that version */
};

struct obj_put {
	const char	*key;
	const void	*body;		/* must stay valid until done runs */
	size_t		 len;
	const char	*content_type;	/* NULL: application/octet-stream */
	enum obj_cond	 cond;
	const char	*etag;		/* OBJ_PUT_IF_MATCH */
	/* The body's SHA-256 in hex when the caller knows it (a .crate's),
	 * or NULL: S3 then verifies the upload against it. Without it a
	 * body over 1 MiB is sent UNSIGNED-PAYLOAD (not hashed on the
	 * loop). */
	const char	*sha256;
};

struct obj_entry {
	const char	*key;		/* relative to the store's prefix */
	const char	*etag;
	long long	 size;
	time_t		 last_modified;
};

/* A page of a listing, in key order; next is NULL on the last page, else
 * what to pass to objstore_list for the following one. */
typedef void	(*obj_list_cb)(const struct obj_result *,
		    const struct obj_entry *, size_t n, const char *next,
		    void *arg);

/* Parses a `storage` URL (s3://BUCKET[/PREFIX] or
 * azblob://ACCOUNT/CONTAINER[/PREFIX]) into c (fields new). 0, or -1
 * with *cause (new) saying what is wrong. Pure. */
int	objstore_parse_url(const char *url, struct objstore_config *c,
	    char **cause);
void	objstore_config_free(struct objstore_config *c);

/* Reads the credentials (environment, or credentials_file) and checks
 * that they are complete; makes no request. 0, or -1 with *cause. */
int	objstore_open(const struct objstore_config *,
	    struct upstream_client *, struct objstore **out, char **cause);
void	objstore_close(struct objstore *);
/* objstore_parse_url then objstore_open with the top-level settings
 * (each NULL when unset): how crated and crated check open a store. */
int	objstore_open_url(const char *url, const char *endpoint,
	    const char *region, const char *credentials_file,
	    struct upstream_client *, struct objstore **out, char **cause);
/* Reads the credentials again (SIGHUP: a rotated session token or key);
 * on failure the old ones stay. 0, or -1 with *cause. */
int	objstore_reread_credentials(struct objstore *, char **cause);
/* "s3://bucket/prefix" (no credentials), for messages. */
const char *objstore_name(const struct objstore *);
/* The storage URL it was opened with, as written. */
const char *objstore_config_url(const struct objstore *);

/* The requests. Strings are copied; done runs once, on the loop, after
 * the call returns (never from inside it). Writes are sent at most once
 * (no automatic retry: the caller knows whether a repeat is safe); reads
 * retry a lost connection once. A request that gets no byte for 10 s is
 * OBJ_UNAVAILABLE. A key (1 to 1024 bytes) with an empty, "." or ".."
 * segment or a control character is refused (OBJ_ERROR) unsent.
 * OBJ_PUT_IF_MATCH over a missing object: OBJ_NOT_FOUND on S3,
 * OBJ_CONFLICT on Azure. */
void	objstore_get(struct objstore *, const char *key,
	    const char *if_none_match, size_t max, obj_done_cb, void *arg);
void	objstore_put(struct objstore *, const struct obj_put *,
	    obj_done_cb, void *arg);
/* if_match NULL: unconditional. A missing key is OBJ_NOT_FOUND on Azure;
 * S3 answers 204 whether the key existed or not (OBJ_OK). */
void	objstore_delete(struct objstore *, const char *key,
	    const char *if_match, obj_done_cb, void *arg);
/* Keys starting with prefix; after: NULL, or the previous page's next. */
void	objstore_list(struct objstore *, const char *prefix,
	    const char *after, obj_list_cb, void *arg);

/* The store's health, for /-/ready, /-/metrics and the web pages. */
struct objstore_stats {
	bool		 reachable;	/* the last request got an answer */
	time_t		 last_ok;	/* 0: never */
	char		 last_error[256];
	double		 latency_ewma;	/* seconds */
	unsigned long long requests, failures, conflicts;
};
void	objstore_stats(const struct objstore *, struct objstore_stats *);
/* Asks the store every interval seconds when no other request has had an
 * answer in that time (a GET of crated-probe/health, which need not
 * exist), so that its state is known and a change of it logged; the
 * first at once. Stopped by objstore_close. */
void	objstore_watch(struct objstore *, int interval);

#endif
