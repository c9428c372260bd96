/*
 * What a resolver will ask for next: given one crate's index file and what
 * its dependents ask of it, the index files of the dependencies cargo's
 * resolver will look up after reading this one. A mirror fetches those
 * before cargo asks (dependency-aware prefetch).
 *
 * Which versions: cargo tries the newest version a requirement allows
 * first, so for each requirement dependents have on the crate, the
 * newest non-yanked version it allows; when none is known (cargo asked
 * for the crate itself: a root of the graph), the newest version of each
 * of the newest ROOT_RANGES compatibility ranges ("^1" is 1.x, "^0.8" is
 * 0.8.x), pre-releases only for a crate with no other version. Which
 * dependencies: normal and build ones (never dev), required ones and the
 * optional ones the features turn on, starting from "default" (when a
 * dependent wants defaults) and the features dependents named, through
 * the crate's feature table ("dep:x", "x/f", and implicit features of
 * optional dependencies; "x?/f" as "x/f", as cargo's resolver looks x up
 * either way). Each wanted dependency carries the
 * features and the requirement it is asked with, so its own file can be
 * read the same way. Dependencies on another registry are left out. Pure.
 */
#ifndef INDEX_DEPS_H
#define INDEX_DEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "index/indexline.h"

#define ROOT_RANGES	2
#define REQS_MAX	8	/* requirements kept per crate */

/* What dependents ask of one crate. */
struct featreq {
	char	**names;	/* feature names, distinct */
	size_t	  n;
	bool	  defaults;	/* "default" too (when the crate has it) */
	char	**reqs;		/* version requirements, distinct; none: */
	size_t	  nreqs;	/* not known */
};

struct want {
	char		*name;		/* the package's name as written */
	struct featreq	 feat;
};

struct wants {
	struct want	*v;
	size_t		 n;
};

/* Adds the names, requirements and defaults flag of add to f; returns
 * true when f grew. */
bool	featreq_merge(struct featreq *f, const struct featreq *add);
void	featreq_add(struct featreq *f, const char *name, size_t len);
/* Adds a version requirement (at most REQS_MAX are kept). */
void	featreq_add_req(struct featreq *f, const char *req);
void	featreq_free(struct featreq *f);

/* The dependencies of the index file buf (len bytes, lines as the
 * registry serves them) wanted under req, appended to out, one entry per
 * crate name (case-insensitive). refs: the file's lines from
 * index_file_check_refs, or NULL to find them here (lines that do not
 * parse are skipped). */
void	index_file_wants(const char *buf, size_t len,
	    const struct index_line_refs *refs, const struct featreq *req,
	    struct wants *out);
void	wants_free(struct wants *w);

#endif
