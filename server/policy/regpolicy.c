#include "server/policy/regpolicy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cache/store.h"
#include "common/xmalloc.h"
#include "index/indexline.h"
#include "index/jsonscan.h"
#include "index/name.h"
#include "server/core/config.h"
#include "server/core/state.h"
#include "server/policy/blocks.h"

#define INDEX_MAX	((size_t)64 << 20)
#define SEEN_FILE_MAX	((size_t)4 << 20)

/* A view and what it owns; pub is what callers see. */
struct view {
	struct regpolicy_view	 pub;
	unsigned		 refs;
	struct regpolicy_db	*db;
	char			*registry;
	char			*db_path;
	struct policy_rule	*blocks;
	size_t			 nblocks;
	char			*describe;
	char			*age_text;	/* min_publish_age as written */
};

#define VIEW(v)	((struct view *)(uintptr_t)(v))

/* ---- snapshots ---- */

int
regpolicy_db_load(const char *path, struct regpolicy_db **out, char **cause)
{
	struct advisory_db	*db;
	struct regpolicy_db	*d;

	if (advisory_db_load(path, &db, cause) != 0)
		return -1;
	d = xcalloc(1, sizeof *d);
	d->db = db;
	d->path = xstrdup(path);
	d->_refs = 1;
	*out = d;
	return 0;
}

struct regpolicy_db *
regpolicy_db_ref(struct regpolicy_db *d)
{
	if (d != NULL)
		__atomic_add_fetch(&d->_refs, 1, __ATOMIC_RELAXED);
	return d;
}

void
regpolicy_db_unref(struct regpolicy_db *d)
{
	if (d == NULL || __atomic_sub_fetch(&d->_refs, 1, __ATOMIC_ACQ_REL)
	    != 0)
		return;
	advisory_db_free(d->db);
	free(d->path);
	free(d);
}

char *
regpolicy_installed_path(const char *data_dir)
{
	return xasprintf("%s/policy/advisories.tar.gz", data_dir);
}

char *
regpolicy_db_path(const struct config *cfg, const struct registry_config *rc)
{
	char		*inst;
	struct stat	 st;

	if (rc->policy.advisory_db == NULL)
		return NULL;
	inst = regpolicy_installed_path(cfg->data_dir);
	if (stat(inst, &st) == 0)
		return inst;
	free(inst);
	return xstrdup(rc->policy.advisory_db);
}

/* ---- views ---- */

static void
view_free(struct view *v)
{
	struct policy_settings	*s = &v->pub.settings;

	for (size_t i = 0; i < s->nage_exempt; i++)
		free(s->age_exempt[i]);
	free(s->age_exempt);
	for (size_t i = 0; i < s->ndeny; i++)
		policy_rule_clear(&s->deny[i]);
	free(s->deny);
	for (size_t i = 0; i < v->nblocks; i++)
		policy_rule_clear(&v->blocks[i]);
	free(v->blocks);
	regpolicy_db_unref(v->db);
	free(v->registry);
	free(v->db_path);
	free(v->describe);
	free(v->age_text);
	free(v);
}

struct regpolicy_view *
regpolicy_ref(struct regpolicy_view *pv)
{
	if (pv != NULL)
		__atomic_add_fetch(&VIEW(pv)->refs, 1, __ATOMIC_RELAXED);
	return pv;
}

void
regpolicy_unref(struct regpolicy_view *pv)
{
	if (pv != NULL && __atomic_sub_fetch(&VIEW(pv)->refs, 1,
	    __ATOMIC_ACQ_REL) == 0)
		view_free(VIEW(pv));
}

struct regpolicy_view *
regpolicy_view(struct registry *reg)
{
	return reg->policy != NULL ? regpolicy_ref(reg->policy) : NULL;
}

const char *
regpolicy_describe(const struct regpolicy_view *pv)
{
	return VIEW(pv)->describe;
}

static void
copy_rule(struct policy_rule *to, const struct policy_rule *from)
{
	to->name = xstrdup(from->name);
	to->req = from->req ? xstrdup(from->req) : NULL;
	to->text = xstrdup(from->text);
	to->reason = from->reason ? xstrdup(from->reason) : NULL;
}

/* Settings from the configuration; -1 with *cause when one does not
 * parse. */
static int
settings_of(const struct registry_config *rc, struct policy_settings *s,
    char **cause)
{
	const struct policy_config	*p = &rc->policy;
	char				*why = NULL;

	memset(s, 0, sizeof *s);
	if (policy_age_parse(p->min_publish_age, &s->min_publish_age,
	    &why) != 0) {
		*cause = xasprintf("registries.%s.min_publish_age \"%s\": %s",
		    rc->name, p->min_publish_age, why ? why : "invalid");
		free(why);
		return -1;
	}
	s->age_exempt = xcalloc(p->nmin_publish_age_exempt + 1,
	    sizeof *s->age_exempt);
	for (size_t i = 0; i < p->nmin_publish_age_exempt; i++)
		s->age_exempt[s->nage_exempt++] =
		    xstrdup(p->min_publish_age_exempt[i]);
	s->deny = xcalloc(p->ndeny + 1, sizeof *s->deny);
	for (size_t i = 0; i < p->ndeny; i++, s->ndeny++)
		if (policy_rule_parse(p->deny[i], &s->deny[i], &why) != 0) {
			*cause = xasprintf("registries.%s.deny \"%s\": %s",
			    rc->name, p->deny[i], why ? why : "invalid");
			free(why);
			return -1;
		}
	s->advisory_action = (enum verdict)(VERDICT_FLAG +
	    p->advisory_action);
	s->advisory_informational = p->advisory_include_informational;
	s->advisory_withdrawn = p->advisory_include_withdrawn;
	s->hide = p->policy_hide;
	s->hosted = rc->upstream == NULL;
	return 0;
}

/* "7 days" for a number of seconds, as a person says it. */
static void
age_words(int64_t secs, char *out, size_t size)
{
	static const struct {
		int64_t		 n;
		const char	*unit;
	} units[] = {
		{ 30 * 86400, "month" }, { 7 * 86400, "week" },
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" },
		{ 1, "second" },
	};

	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (secs % units[i].n == 0 && secs >= units[i].n) {
			snprintf(out, size, "%lld %s%s", (long long)(secs /
			    units[i].n), units[i].unit, secs == units[i].n ?
			    "" : "s");
			return;
		}
	snprintf(out, size, "%lld seconds", (long long)secs);
}

static char *
join(char *s, const char *more)
{
	char	*r = xasprintf("%s%s", s, more);

	free(s);
	return r;
}

/* The paragraph regpolicy_describe returns. */
static char *
describe(const struct view *v)
{
	const struct policy_settings	*s = &v->pub.settings;
	char				*d = xstrdup(""), age[64], *t;

	if (s->min_publish_age > 0) {
		if (v->age_text != NULL)
			snprintf(age, sizeof age, "%s", v->age_text);
		else
			age_words(s->min_publish_age, age, sizeof age);
		t = xasprintf("Versions published less than %s ago are held"
		    " (served yanked%s)", age, s->hosted ? "; this registry's"
		    " own publishes are not" : "");
		d = join(d, t);
		free(t);
		for (size_t i = 0; i < s->nage_exempt; i++)
			d = join(join(d, i == 0 ? ", except " : ", "),
			    s->age_exempt[i]);
		d = join(d, ". ");
	}
	for (size_t i = 0; i < s->ndeny; i++)
		d = join(join(d, i == 0 ? "Denied: " : ", "), s->deny[i].text);
	if (s->ndeny > 0)
		d = join(d, ". ");
	if (v->db != NULL) {
		t = xasprintf("RustSec advisories %s (%zu): malicious ones"
		    " denied, others %s%s%s%s. ", advisory_db_date(v->db->db),
		    advisory_db_count(v->db->db), s->advisory_action ==
		    VERDICT_DENY ? "denied" : s->advisory_action ==
		    VERDICT_HOLD ? "held" : "flagged",
		    s->advisory_informational ? "; informational ones count"
		    : "", s->advisory_withdrawn ? "; withdrawn ones count" :
		    "", s->hide ? "; denied versions are hidden" : "");
		d = join(d, t);
		free(t);
	} else if (s->hide)
		d = join(d, "Denied versions are hidden. ");
	if (v->nblocks > 0) {
		t = xasprintf("%zu block%s (crated block).", v->nblocks,
		    v->nblocks == 1 ? "" : "s");
		d = join(d, t);
		free(t);
	}
	if (*d == '\0')
		d = join(d, "No policy.");
	else if (d[strlen(d) - 1] == ' ')
		d[strlen(d) - 1] = '\0';
	return d;
}

int
regpolicy_make(const struct registry_config *rc, const struct blocks *bs,
    struct regpolicy_db *db, uint64_t epoch, struct regpolicy_view **out,
    char **cause)
{
	struct view	*v = xcalloc(1, sizeof *v);

	*out = NULL;
	v->refs = 1;
	if (settings_of(rc, &v->pub.settings, cause) != 0) {
		view_free(v);
		return -1;
	}
	v->blocks = xcalloc((bs ? bs->n : 0) + 1, sizeof *v->blocks);
	for (size_t i = 0; bs != NULL && i < bs->n; i++)
		if (strcmp(bs->v[i].registry, "*") == 0 ||
		    strcmp(bs->v[i].registry, rc->name) == 0)
			copy_rule(&v->blocks[v->nblocks++], &bs->v[i].rule);
	v->db = regpolicy_db_ref(db);
	if (v->pub.settings.min_publish_age == 0 &&
	    v->pub.settings.ndeny == 0 && v->nblocks == 0 && db == NULL) {
		view_free(v);
		return 0;
	}
	v->registry = xstrdup(rc->name);
	v->pub.registry = v->registry;
	v->pub.blocks = v->blocks;
	v->pub.nblocks = v->nblocks;
	v->pub.db = db ? db->db : NULL;
	v->db_path = db ? xstrdup(db->path) : NULL;
	v->pub.db_path = v->db_path;
	v->pub.epoch = epoch;
	v->pub.since = time(NULL);
	v->age_text = xstrdup(rc->policy.min_publish_age);
	v->describe = describe(v);
	*out = &v->pub;
	return 0;
}

int
regpolicy_load(const struct config *cfg, const char *registry,
    struct regpolicy_view **out, char **cause)
{
	const struct registry_config	*rc = config_registry(cfg, registry);
	struct regpolicy_db		*db = NULL;
	struct blocks			 bs;
	char				*path;
	int				 r;

	*out = NULL;
	if (rc == NULL) {
		*cause = xasprintf("no registry \"%s\" in the configuration",
		    registry);
		return -1;
	}
	if (blocks_read(cfg->data_dir, &bs, cause) != 0)
		return -1;
	if ((path = regpolicy_db_path(cfg, rc)) != NULL &&
	    regpolicy_db_load(path, &db, cause) != 0) {
		free(path);
		blocks_free(&bs);
		return -1;
	}
	free(path);
	r = regpolicy_make(rc, &bs, db, 1, out, cause);
	regpolicy_db_unref(db);
	blocks_free(&bs);
	return r;
}
