/*
 * Index files as a registry's supply-chain policy has them (issue 28):
 * held and denied lines say "yanked": true (policy/policy.h,
 * policy_filter_index). The filtered file is a hot entry of its own
 * (key: the source's + "#p") with its own ETag, over the bytes served,
 * kept until the first of: the source changes (its ETag), the policy
 * changes (the view's epoch), or a hold ends (next_change); then it is
 * made again on the CPU workers, once for every request waiting for it.
 * A file no verdict changes is served as it is: a small table beside the
 * memory cache remembers that, per file, ETag and epoch, and files.c then
 * answers it from disk as without a policy. Answers of a policy never
 * honour If-Modified-Since, only
 * If-None-Match: the ETag is what changes with a verdict; a date is not.
 * Used by files.c; calls none of its callers.
 */
#ifndef SERVER_FILES_POLICED_H
#define SERVER_FILES_POLICED_H

#include <stdbool.h>

struct hot_entry;
struct http_request;
struct registry;
struct regpolicy_view;

/* How to answer r with e (a reference stolen), once known; keep: e is
 * the index file's own bytes (its gzip form may be kept in gz/). */
typedef void (*policed_answer)(struct registry *, const char *path,
    struct http_request *, struct hot_entry *e, const char *extra,
    bool keep);

/* Answers r, a request for the index file at path of reg, whose bytes
 * are e (a reference stolen), under the policy v (a reference stolen).
 * keep: e holds the file's own bytes (answer's keep when e is served as
 * it is; a filtered view is never kept). */
void	policed_reply(struct registry *, struct regpolicy_view *v,
	    const char *path, struct http_request *r, struct hot_entry *e,
	    const char *extra, bool keep, policed_answer answer);
/* Whether reg's policy now leaves the index file of key (a files_key) as
 * it is, as far as the memory cache remembers: true and the ETag the
 * file had then in etag (ETAG_LEN bytes): served as it is while it still
 * has that ETag. */
bool	policed_same(struct registry *, const char *key, char *etag);
/* At exit: what is still under way is dropped (the workers are gone). */
void	policed_close(void);

#endif
