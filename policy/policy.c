/* Verdicts, cargo's time syntaxes, deny rules and the decision
 * (policy.h). Pure. */
#include "policy/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "index/causequote.h"
#include "index/name.h"

#define MONTH		2629746	/* cargo's month: 30.436875 days */
#define MATCH_MAX	64	/* advisories of one version looked at */
#define TIME_T_MAX	((time_t)INT64_MAX)

const char *
verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_ALLOW:
		return "allow";
	case VERDICT_FLAG:
		return "flag";
	case VERDICT_HOLD:
		return "hold";
	case VERDICT_DENY:
		return "deny";
	}
	return "unknown";
}

const char *
verdict_source_name(enum verdict_source s)
{
	switch (s) {
	case SOURCE_NONE:
		return "none";
	case SOURCE_AGE:
		return "age";
	case SOURCE_DENY:
		return "deny";
	case SOURCE_BLOCK:
		return "block";
	case SOURCE_ADVISORY:
		return "advisory";
	}
	return "unknown";
}

int
verdict_parse(const char *s, enum verdict *v)
{
	if (strcmp(s, "flag") == 0)
		*v = VERDICT_FLAG;
	else if (strcmp(s, "hold") == 0)
		*v = VERDICT_HOLD;
	else if (strcmp(s, "deny") == 0)
		*v = VERDICT_DENY;
	else
		return -EINVAL;
	return 0;
}

/* ---- time ---- */

static const struct {
	const char	*one, *many;
	int64_t		 secs;
} units[] = {
	{ "second", "seconds", 1 },
	{ "minute", "minutes", 60 },
	{ "hour", "hours", 3600 },
	{ "day", "days", 86400 },
	{ "week", "weeks", 7 * 86400 },
	{ "month", "months", MONTH },
};

/*
 * As cargo's maybe_parse_time_span (src/util/time_span.rs) reads
 * min-publish-age: ASCII digits, at most one space, a unit exactly
 * (singular or plural); cargo's caller takes "0" alone to mean off.
 * "0 days" is a zero age here, which is off too.
 */
int
policy_age_parse(const char *s, int64_t *seconds, char **cause)
{
	const char	*p = s, *unit;
	uint64_t	 n = 0;
	size_t		 i;
	int		 over = 0;

	if (strcmp(s, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			over = 1;
		else
			n = n * 10 + (uint64_t)(*p - '0');
	}
	unit = *p == ' ' ? p + 1 : p;
	for (i = 0; p != s && i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(unit, units[i].one) != 0 &&
		    strcmp(unit, units[i].many) != 0)
			continue;
		if (over || n > (uint64_t)INT64_MAX / (uint64_t)units[i].secs) {
			if (cause != NULL)
				*cause = xasprintf("min_publish_age \"%s\" is "
				    "too long (at most %lld seconds)",
				    cause_quote(s), (long long)INT64_MAX);
			return -EINVAL;
		}
		*seconds = (int64_t)n * units[i].secs;
		return 0;
	}
	if (cause != NULL)
		*cause = xasprintf("min_publish_age \"%s\": expected a whole "
		    "number, an optional space and a unit (second, minute, "
		    "hour, day, week or month, singular or plural), as in "
		    "\"7 days\", or \"0\" to turn it off", cause_quote(s));
	return -EINVAL;
}

static int
digits(const char *s, size_t n, int *out)
{
	size_t	i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

static int
days_in(int year, int month)
{
	static const int	days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
				    31, 30, 31 };
	int			leap;

	leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/*
 * cargo's parse_pubtime (cargo-util-schemas index.rs): jiff's strptime
 * "%Y-%m-%dT%H:%M:%SZ" and exactly 20 bytes. jiff also takes a sign or
 * blanks inside a field when the length still adds up ("+025-...",
 * "...T19:30: 2Z"); those are no YYYY-MM-DDTHH:MM:SSZ and are refused
 * here (the line then counts as having no pubtime). Like jiff, second 60
 * (a leap second) is read as 59.
 */
int
policy_pubtime_parse(const char *s, size_t len, time_t *t)
{
	static const char	 shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm		 tm;
	int			 y, mo, d, h, mi, sec;
	size_t			 i;

	if (len != sizeof shape - 1)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    s[i] != shape[i])
			return -EINVAL;
	}
	digits(s, 4, &y);
	digits(s + 5, 2, &mo);
	digits(s + 8, 2, &d);
	digits(s + 11, 2, &h);
	digits(s + 14, 2, &mi);
	digits(s + 17, 2, &sec);
	if (mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h > 23 ||
	    mi > 59 || sec > 60)
		return -EINVAL;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec;
	*t = timegm(&tm);
	return 0;
}

/* ---- rules ---- */

int
policy_rule_parse(const char *text, struct policy_rule *r, char **cause)
{
	const char	*at = strchr(text, '@');
	char		*why = NULL;

	memset(r, 0, sizeof *r);
	r->name = at != NULL ? xstrndup(text, (size_t)(at - text)) :
	    xstrdup(text);
	if (crate_name_check(r->name, &why) != 0)
		goto bad;
	if (at != NULL && at[1] == '\0') {
		why = xstrdup("nothing follows '@' (write NAME for every "
		    "version, or NAME@REQ as in foo@<1.2.4)");
		goto bad;
	}
	if (at != NULL && semver_req_check(at + 1, &why) != 0)
		goto bad;
	r->req = at != NULL ? xstrdup(at + 1) : NULL;
	r->text = xstrdup(text);
	return 0;
bad:
	if (cause != NULL)
		*cause = xasprintf("rule \"%s\": %s", cause_quote(text), why);
	free(why);
	policy_rule_clear(r);
	return -EINVAL;
}

void
policy_rule_clear(struct policy_rule *r)
{
	free(r->name);
	free(r->req);
	free(r->text);
	free(r->reason);
	memset(r, 0, sizeof *r);
}

/* 1 when rule r names canon (crate_name_canon) at version v. */
static int
rule_matches(const struct policy_rule *r, const char *canon,
    const struct semver *v)
{
	char	rc[CRATE_NAME_MAX + 1];

	if (r->name == NULL || strlen(r->name) > CRATE_NAME_MAX)
		return 0;
	crate_name_canon(r->name, rc);
	if (strcmp(rc, canon) != 0)
		return 0;
	return r->req == NULL || semver_req_covers(r->req, v) == 1;
}

/* ---- the verdict ---- */

/* t as YYYY-MM-DDTHH:MM:SSZ in buf (21 bytes or more). */
static void
stamp(time_t t, char *buf, size_t size)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900 ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "the far future");
}

/* secs in its largest whole unit: "7 days", "1 month", "90 seconds". */
static void
exact_span(int64_t secs, char *buf, size_t size)
{
	static const struct {
		int64_t		 secs;
		const char	*unit;
	} u[] = { { MONTH, "month" }, { 86400, "day" }, { 3600, "hour" },
		  { 60, "minute" }, { 1, "second" } };
	size_t	i;

	for (i = 0; i < sizeof u / sizeof u[0] - 1; i++)
		if (secs % u[i].secs == 0)
			break;
	snprintf(buf, size, "%lld %s%s", (long long)(secs / u[i].secs),
	    u[i].unit, secs / u[i].secs == 1 ? "" : "s");
}

/* secs rounded down to a unit a person reads: "2 hours". */
static void
rough_span(int64_t secs, char *buf, size_t size)
{
	int64_t		 n = secs;
	const char	*unit = "second";

	if (secs >= 86400) {
		n = secs / 86400;
		unit = "day";
	} else if (secs >= 3600) {
		n = secs / 3600;
		unit = "hour";
	} else if (secs >= 60) {
		n = secs / 60;
		unit = "minute";
	}
	snprintf(buf, size, "%lld %s%s", (long long)n, unit, n == 1 ? "" : "s");
}

/* s as crates.io compares names: lower case, '_' as '-'. */
static void
fold_name(const char *s, char *out, size_t size)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') :
		    s[i] == '_' ? '-' : s[i];
	out[i] = '\0';
}

/* An exempt glob names a crate as its names compare: "mycorp-*" covers
 * mycorp_utils and MyCorp-Utils. */
static int
age_exempt(const struct policy_settings *s, const char *name)
{
	char	low[CRATE_NAME_MAX + 1], glob[256];
	size_t	i;

	fold_name(name, low, sizeof low);
	for (i = 0; i < s->nage_exempt; i++) {
		fold_name(s->age_exempt[i], glob, sizeof glob);
		if (fnmatch(glob, low, 0) == 0)
			return 1;
	}
	return 0;
}

/* The age gate: 1 and out filled as a hold when name@v is too new. */
static int
age_hold(const struct policy_settings *s, const char *name,
    const struct policy_times *t, time_t now, struct verdict_info *out)
{
	char	when[40], until[40], ago[40], age[40];
	time_t	pub;

	out->published = pub = t->pubtime != 0 ? t->pubtime : t->first_seen;
	out->from_first_seen = t->pubtime == 0 && t->first_seen != 0;
	if (pub == 0 || s->min_publish_age <= 0 || s->hosted ||
	    age_exempt(s, name))
		return 0;
	if (pub > TIME_T_MAX - s->min_publish_age)
		out->until = TIME_T_MAX;
	else
		out->until = pub + s->min_publish_age;
	if (now >= out->until) {
		out->until = 0;
		return 0;
	}
	stamp(pub, when, sizeof when);
	stamp(out->until, until, sizeof until);
	exact_span(s->min_publish_age, age, sizeof age);
	if (pub > now) {
		rough_span(pub - now, ago, sizeof ago);
		strcat(ago, " from now, in the future");
	} else {
		rough_span(now - pub, ago, sizeof ago);
		strcat(ago, " ago");
	}
	out->verdict = VERDICT_HOLD;
	out->source = SOURCE_AGE;
	snprintf(out->rule, sizeof out->rule, "min_publish_age %s", age);
	snprintf(out->reason, sizeof out->reason, "%s %s, %s%s; held until "
	    "%s (min_publish_age %s)", out->from_first_seen ?
	    "first seen" : "published", when, ago, out->from_first_seen ?
	    " (no pubtime)" : "", until, age);
	return 1;
}

/* A block or a deny rule: 1 and out filled as a deny. */
static int
rule_deny(const struct policy_settings *s, const struct policy_rule *blocks,
    size_t nblocks, const char *canon, const struct semver *v,
    struct verdict_info *out)
{
	const struct policy_rule	*r;
	size_t				 i;

	for (i = 0; i < nblocks; i++) {
		if (!rule_matches(&blocks[i], canon, v))
			continue;
		r = &blocks[i];
		out->verdict = VERDICT_DENY;
		out->source = SOURCE_BLOCK;
		snprintf(out->rule, sizeof out->rule, "%s", r->text);
		if (r->reason != NULL && r->reason[0] != '\0')
			snprintf(out->reason, sizeof out->reason, "blocked: %s "
			    "(crated block %s)", r->reason, r->text);
		else
			snprintf(out->reason, sizeof out->reason, "blocked "
			    "(crated block %s)", r->text);
		return 1;
	}
	for (i = 0; i < s->ndeny; i++) {
		if (!rule_matches(&s->deny[i], canon, v))
			continue;
		out->verdict = VERDICT_DENY;
		out->source = SOURCE_DENY;
		snprintf(out->rule, sizeof out->rule, "%s", s->deny[i].text);
		snprintf(out->reason, sizeof out->reason, "deny rule %s in "
		    "registry config", s->deny[i].text);
		return 1;
	}
	return 0;
}

/* What an advisory asks for under s: a verdict, or ALLOW when it does
 * not count (withdrawn, informational). */
static enum verdict
advisory_verdict(const struct policy_settings *s, const struct advisory *a)
{
	if (a->withdrawn && !s->advisory_withdrawn)
		return VERDICT_ALLOW;
	if (a->malicious)
		return VERDICT_DENY;
	if (a->informational && !s->advisory_informational)
		return VERDICT_ALLOW;
	if (s->advisory_action == VERDICT_HOLD ||
	    s->advisory_action == VERDICT_DENY)
		return s->advisory_action;
	return VERDICT_FLAG;
}

/* The advisories of canon@v: *best the strongest verdict they ask for,
 * out->rule the id of its first advisory, out->reason every one that
 * counts ("RUSTSEC-2025-0147 (malicious)", that one first). */
static void
advisories(const struct policy_settings *s, const struct advisory_db *db,
    const char *canon, const struct semver *v, enum verdict *best,
    struct verdict_info *out)
{
	const struct advisory	*m[MATCH_MAX], *first = NULL;
	enum verdict		 vd[MATCH_MAX];
	size_t			 n, i, o, left = 0;
	int			 k;

	*best = VERDICT_ALLOW;
	n = db != NULL ? advisory_db_match(db, canon, v, m, MATCH_MAX) : 0;
	for (i = 0; i < n; i++) {
		vd[i] = advisory_verdict(s, m[i]);
		if (vd[i] > *best) {
			*best = vd[i];
			first = m[i];
		}
	}
	if (first == NULL)
		return;
	snprintf(out->rule, sizeof out->rule, "%s", first->id);
	o = (size_t)snprintf(out->reason, sizeof out->reason, "%s (%s)",
	    first->id, advisory_kind(first));
	for (i = 0; i < n; i++) {
		if (m[i] == first || vd[i] == VERDICT_ALLOW)
			continue;
		if (o + 40 + strlen(m[i]->id) >= sizeof out->reason) {
			left++;
			continue;
		}
		k = snprintf(out->reason + o, sizeof out->reason - o,
		    ", %s (%s)", m[i]->id, advisory_kind(m[i]));
		o += k > 0 ? (size_t)k : 0;
	}
	if (left > 0)
		snprintf(out->reason + o, sizeof out->reason - o, " and %zu "
		    "more", left);
}

void
policy_decide(const struct policy_settings *s,
    const struct policy_rule *blocks, size_t nblocks,
    const struct advisory_db *db, const char *name, const char *vers,
    const struct policy_times *t, time_t now, struct verdict_info *out)
{
	struct verdict_info	adv;
	struct semver		v;
	enum verdict		best;
	char			canon[CRATE_NAME_MAX + 1];

	memset(out, 0, sizeof *out);
	out->verdict = VERDICT_ALLOW;
	out->source = SOURCE_NONE;
	if (crate_name_check(name, NULL) != 0 ||
	    semver_parse(vers, &v, NULL) != 0)
		return;
	crate_name_canon(name, canon);
	out->published = t->pubtime != 0 ? t->pubtime : t->first_seen;
	out->from_first_seen = t->pubtime == 0 && t->first_seen != 0;
	if (rule_deny(s, blocks, nblocks, canon, &v, out))
		return;
	memset(&adv, 0, sizeof adv);
	advisories(s, db, canon, &v, &best, &adv);
	if (best == VERDICT_DENY || best == VERDICT_HOLD)
		goto advisory;
	if (age_hold(s, name, t, now, out) || best == VERDICT_ALLOW)
		return;
advisory:
	out->verdict = best;
	out->source = SOURCE_ADVISORY;
	memcpy(out->rule, adv.rule, sizeof out->rule);
	memcpy(out->reason, adv.reason, sizeof out->reason);
}
