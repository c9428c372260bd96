/* Inside the object-store client: what objstore.c (the requests, the
 * answers, the statistics) shares with the clouds' files, s3.c and
 * azblob.c (URLs, headers, signatures, listings), and objconfig.c (the
 * `storage` URL, the credentials). The clouds' files call nothing of
 * objstore.c: it calls them. */
#ifndef SERVER_STORAGE_OBJSTORE_INT_H
#define SERVER_STORAGE_OBJSTORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "server/storage/objstore.h"

#define OBJ_MAX_HEADERS		12
#define OBJ_MAX_LIST_BODY	(8u << 20)	/* one page of a listing */
#define OBJ_LIST_PAGE		1000		/* keys per page */

/* The secrets, read once by objstore_open. */
struct obj_creds {
	/* S3 */
	char	*key_id;
	char	*secret;
	char	*session_token;		/* or NULL */
	char	*region;
	/* Azure: the account key (base64, as the portal gives it) or a SAS
	 * token (without its '?'). */
	unsigned char *az_key;
	size_t	 az_key_len;
	char	*sas;
};

struct event;

struct objstore {
	struct objstore_config	 cfg;
	struct obj_creds	 creds;
	struct upstream_client	*uc;
	char			*name;		/* "s3://bucket/prefix" */
	char			*base;		/* URL up to the key, ending
						   in '/' (prefix included) */
	char			*list_base;	/* URL of the bucket or
						   container, no '/' */
	char			*resource;	/* Azure: the canonical
						   resource of base */
	char			*list_resource;	/* Azure: of list_base */
	struct objstore_stats	 stats;
	struct event		*watch;		/* objstore_watch */
	int			 watch_interval;
	time_t			 last_answer;
	bool			 watching;	/* a health GET in flight */
	bool			 was_down;	/* for the log: state changes */
};

/* One request, as a cloud's file builds it: objstore.c sends it. */
struct obj_http {
	const char	*method;
	char		*url;				/* new */
	char		*headers[OBJ_MAX_HEADERS];	/* new */
	size_t		 nheaders;
	char		*sigv4;				/* new, or NULL */
	char		*userpwd;			/* new, or NULL */
};

/* What a request is about, for the cloud to sign. */
struct obj_req {
	const char	*method;	/* GET HEAD PUT DELETE */
	const char	*key;		/* relative to the prefix; NULL: a
					   listing */
	const char	*query;		/* canonical query, or NULL */
	const void	*body;
	size_t		 len;
	const char	*sha256;	/* hex of body, or NULL */
	const char	*content_type;	/* PUT */
	const char	*if_match;
	const char	*if_none_match;
	/* A listing: the query's parameters (values not encoded). */
	const char	*list_prefix;
	const char	*list_after;
};

void	obj_http_add(struct obj_http *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	obj_http_free(struct obj_http *);

/* Percent-encodes s into a new string: A-Za-z0-9-_.~ bare, and '/' too
 * when keep_slash (a path); everything else %XX. */
char	*obj_uri_encode(const char *s, bool keep_slash);
/* "\"abc\"" from abc, "abc", &quot;abc&quot; or W/"abc" (new). */
char	*obj_etag_normalise(const char *s, size_t len);
/* The text of the first <tag>...</tag> in xml, or NULL (new; entities
 * not decoded): the Code and Message of an error body. */
char	*obj_xml_text(const char *xml, size_t len, const char *tag);

/* S3 (s3.c) */
int	s3_setup(struct objstore *, char **cause);
void	s3_request(const struct objstore *, const struct obj_req *,
	    struct obj_http *);
/* A ListObjectsV2 page: entries (keys made relative to prefix) and the
 * continuation token (new, or NULL). 0, or -1 with *cause. */
int	s3_parse_list(const char *xml, size_t len, const char *prefix,
	    struct obj_entry **entries, size_t *n, char **next, char **cause);

/* Azure Blob (azblob.c) */
/* What a SharedKey signature covers (object-storage.md), borrowed. */
struct az_canon {
	const char	*verb;
	size_t		 content_length;	/* 0: written empty */
	const char	*content_type;
	const char	*if_match, *if_none_match;
	const char	*blob_type;		/* x-ms-blob-type, or NULL */
	const char	*date;			/* x-ms-date */
	const char	*version;		/* x-ms-version */
	const char	*resource;	/* "/ACCOUNT/PATH" and the query's
					   "\nname:value" lines */
};
/* The string to sign (new). Pure. */
char	*az_string_to_sign(const struct az_canon *);
/* base64(HMAC-SHA256(key, sts)) (new). Pure. */
char	*az_sign(const unsigned char *key, size_t keylen, const char *sts);
int	az_setup(struct objstore *, char **cause);
void	az_request(const struct objstore *, const struct obj_req *,
	    struct obj_http *);
int	az_parse_list(const char *xml, size_t len, const char *prefix,
	    struct obj_entry **entries, size_t *n, char **next, char **cause);

void	obj_entries_free(struct obj_entry *, size_t n);
/* free() of what a const pointer holds (the results' strings). */
void	obj_free_const(const void *);
/* An RFC 1123 or ISO 8601 date (UTC), or 0. */
time_t	obj_parse_time(const char *);

/* Where a cloud's listing keeps what we read. */
struct obj_list_shape {
	const char	*item;		/* "Contents", "Blob" */
	int		 item_depth;	/* the root is 1 */
	const char	*key, *etag, *size, *modified;
	const char	*next;		/* a child of the root */
};
/* Parses a listing with expat; keys not under prefix (the store's,
 * with its '/') are skipped. 0, or -1 with *cause (new). */
int	obj_parse_listing(const char *xml, size_t len, const char *prefix,
	    const struct obj_list_shape *, struct obj_entry **entries,
	    size_t *n, char **next, char **cause);

/* The credentials for c (its credentials_file, else the environment):
 * 0, or -1 with *cause naming what is missing (never a value). */
int	obj_creds_read(const struct objstore_config *c, struct obj_creds *,
	    char **cause);
void	obj_creds_free(struct obj_creds *);

#endif
