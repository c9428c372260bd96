/* crated token: create, list and revoke the tokens of
 * DATA_DIR/tokens.json, or, with a top-level `storage`, of the store's
 * tokens.json (read-modify-write with If-Match: storage/tokenstore.h),
 * which every replica follows. */
#include "server/cmd/cmd.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "cache/tokens.h"
#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/storage/objstore.h"
#include "server/storage/tokenstore.h"

static void
print_help(FILE *f)
{
	fprintf(f,
	    "usage: crated token create [--config FILE] [--data-dir DIR]"
	    " --registry NAME\n"
	    "                    --scope read|publish|yank|admin"
	    " [--crates GLOB] [--expires DAYS]\n"
	    "                    --name LABEL\n"
	    "       crated token list [--config FILE] [--data-dir DIR]\n"
	    "       crated token revoke [--config FILE] [--data-dir DIR]"
	    " ID|NAME\n"
	    "Tokens live in DATA_DIR/tokens.json: --config names the file whose"
	    " data_dir\n(and registries) are meant, --data-dir overrides it."
	    " With a top-level `storage`\nthey live in the store's tokens.json,"
	    " which every replica follows.\n");
}

struct token_args {
	const char	*path, *dir;	/* --config, --data-dir */
	const char	*registry, *scope, *crates, *label;
	int		 days;
	bool		 same_owner;	/* --same-owner: label may be in use */
};

/* The top-level storage, where tokens live when it is set: true with oc
 * filled in (the caller frees it). Exits on a bad URL (config_load has
 * checked it). */
static bool
token_storage(const struct config *cfg, struct objstore_config *oc)
{
	char	*why = NULL;

	if (cfg->storage == NULL)
		return false;
	if (objstore_parse_url(cfg->storage, oc, &why) != 0) {
		fprintf(stderr, "crated token: storage: %s\n", why);
		exit(1);
	}
	oc->endpoint = cfg->storage_endpoint != NULL ?
	    xstrdup(cfg->storage_endpoint) : NULL;
	oc->region = cfg->storage_region != NULL ?
	    xstrdup(cfg->storage_region) : NULL;
	oc->credentials_file = cfg->storage_credentials_file != NULL ?
	    xstrdup(cfg->storage_credentials_file) : NULL;
	return true;
}

/* One create, as an edit of a copy of the store's list (done again after
 * a lost race: the secret of the last try is the one written). */
struct create_edit {
	const struct token_args	*ta;
	enum scope		 sc;
	char			*secret, *id;
};

static int
create_edit(const char *dir, void *arg, char **cause)
{
	struct create_edit	*ce = arg;
	const struct token_args	*ta = ce->ta;

	if (ce->secret != NULL)
		OPENSSL_cleanse(ce->secret, strlen(ce->secret));
	free(ce->secret);
	free(ce->id);
	ce->secret = ce->id = NULL;
	return tokens_create(dir, ta->label, ta->registry, ce->sc,
	    ta->crates, ta->days, ta->same_owner, &ce->secret, &ce->id,
	    cause);
}

/* tokens_create, in the store when there is one. */
static int
create_token(struct cmd_args *a, const struct token_args *ta, enum scope sc,
    char **secret, char **id, char **cause)
{
	struct objstore_config	 oc;
	struct create_edit	 ce = { .ta = ta, .sc = sc };
	int			 r;

	if (!token_storage(a->cfg, &oc))
		return tokens_create(a->cfg->data_dir, ta->label,
		    ta->registry, sc, ta->crates, ta->days, ta->same_owner,
		    secret, id, cause);
	r = tokenstore_update(&oc, create_edit, &ce, cause);
	objstore_config_free(&oc);
	if (r != 0) {
		if (ce.secret != NULL)
			OPENSSL_cleanse(ce.secret, strlen(ce.secret));
		free(ce.secret);
		free(ce.id);
		return -1;
	}
	*secret = ce.secret;
	*id = ce.id;
	return 0;
}

static int
token_create(struct cmd_args *a, const struct token_args *ta)
{
	char		*secret = NULL, *id = NULL, *cause = NULL;
	const char	*label = ta->label;
	enum scope	 sc;

	if (ta->registry == NULL || ta->scope == NULL || label == NULL) {
		fprintf(stderr, "crated token create: --registry, --scope and"
		    " --name are required\n");
		return 2;
	}
	if (scope_parse(ta->scope, &sc) != 0) {
		fprintf(stderr, "crated token create: --scope is read, publish,"
		    " yank or admin\n");
		return 2;
	}
	if (strcmp(ta->registry, "*") != 0 && config_registry(a->cfg,
	    ta->registry) == NULL) {
		fprintf(stderr, "crated token create: no registry `%s` in the"
		    " configuration\n", ta->registry);
		return 1;
	}
	if (strlen(label) == 0 || strlen(label) > 64 || strspn(label,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	    "-_.@") != strlen(label)) {
		fprintf(stderr, "crated token create: --name is 1 to 64 letters,"
		    " digits and -_.@\n");
		return 2;
	}
	if (ta->days < 0) {
		fprintf(stderr, "crated token create: --expires takes days\n");
		return 2;
	}
	if (create_token(a, ta, sc, &secret, &id, &cause) != 0) {
		fprintf(stderr, "crated token create: %s\n", cause);
		free(cause);
		return 1;
	}
	fprintf(stderr, "token %s for `%s` on registry %s, scope %s%s%s%s;"
	    " shown once, only its hash is kept:\n", id, label, ta->registry,
	    ta->scope, ta->crates ? ", crates " : "", ta->crates ? ta->crates :
	    "", ta->days ? ", expiring" : "");
	printf("%s\n", secret);
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
	free(id);
	return 0;
}

static int
token_list(struct cmd_args *a)
{
	struct objstore_config	 oc;
	struct tokens		 t;
	char			*cause = NULL, *dir = NULL;
	int			 r = 0;

	if (token_storage(a->cfg, &oc)) {
		r = tokenstore_fetch(&oc, &dir, &cause);
		objstore_config_free(&oc);
	}
	if (r != 0) {
		fprintf(stderr, "crated token list: %s\n", cause);
		free(cause);
		return 1;
	}
	r = tokens_load(dir != NULL ? dir : a->cfg->data_dir, &t, &cause);
	tokenstore_done(dir);
	if (r != 0) {
		fprintf(stderr, "crated token list: %s\n", cause);
		free(cause);
		return 1;
	}
	printf("%-10s %-20s %-12s %-8s %-16s %-20s %s\n", "id", "name",
	    "registry", "scope", "crates", "created", "expires");
	for (size_t i = 0; i < t.n; i++) {
		char	c[32], e[32] = "never";

		strftime(c, sizeof c, "%Y-%m-%d %H:%M:%SZ",
		    gmtime(&t.v[i].created));
		if (t.v[i].expires != 0)
			strftime(e, sizeof e, "%Y-%m-%d %H:%M:%SZ",
			    gmtime(&t.v[i].expires));
		printf("%-10s %-20s %-12s %-8s %-16s %-20s %s\n", t.v[i].id,
		    t.v[i].label, t.v[i].registry, scope_name(t.v[i].scope),
		    t.v[i].crates ? t.v[i].crates : "*", c, e);
	}
	tokens_finish(&t);
	return 0;
}

static const char	 usage[] = "crated token create"
    " --registry NAME --scope read|publish|yank|admin [--crates GLOB]"
    " [--expires DAYS] --name LABEL [--same-owner]\n"
    "       crated token list\n"
    "       crated token revoke ID|NAME\n(each also takes --config"
    " FILE and --data-dir DIR)";

/* The options of every subcommand, argv[1] being the subcommand; 0, or -1
 * after saying why. */
static int
parse_options(int argc, char **argv, struct token_args *ta)
{
	static const struct option	 topts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "registry", required_argument, NULL, 'r' },
		{ "scope", required_argument, NULL, 's' },
		{ "crates", required_argument, NULL, 'g' },
		{ "expires", required_argument, NULL, 'e' },
		{ "name", required_argument, NULL, 'n' },
		{ "same-owner", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	int				 ch;

	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "c:d:r:s:g:e:n:", topts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			ta->path = optarg;
			break;
		case 'd':
			ta->dir = optarg;
			break;
		case 'r':
			ta->registry = optarg;
			break;
		case 's':
			ta->scope = optarg;
			break;
		case 'g':
			ta->crates = optarg;
			break;
		case 'o':
			ta->same_owner = true;
			break;
		case 'e': {
			char	*end;
			long	 d = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || d < 1 ||
			    d > 36500) {
				fprintf(stderr, "crated token create: --expires"
				    " takes a number of days (1 to 36500)\n");
				return -1;
			}
			ta->days = (int)d;
			break;
		}
		case 'n':
			ta->label = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s\n", usage);
			return -1;
		}
	}
	return 0;
}

struct revoke_edit {
	const char	*which;
	size_t		 n;
};

static int
revoke_edit(const char *dir, void *arg, char **cause)
{
	struct revoke_edit	*re = arg;

	if (tokens_revoke(dir, re->which, &re->n, cause) != 0)
		return -1;
	return re->n == 0 ? 1 : 0;
}

static int
token_revoke(struct cmd_args *a, const char *which)
{
	struct objstore_config	 oc;
	struct revoke_edit	 re = { .which = which };
	char			*cause = NULL;
	size_t			 n;
	int			 r;

	if (token_storage(a->cfg, &oc)) {
		r = tokenstore_update(&oc, revoke_edit, &re, &cause);
		objstore_config_free(&oc);
		n = re.n;
	} else
		r = tokens_revoke(a->cfg->data_dir, which, &n, &cause);
	if (r != 0) {
		fprintf(stderr, "crated token revoke: %s\n", cause);
		free(cause);
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "crated token revoke: no token with id"
		    " or name `%s`\n", which);
		return 1;
	}
	printf("revoked %zu token%s\n", n, n == 1 ? "" : "s");
	return 0;
}

int
cmd_token(int argc, char **argv)
{
	struct token_args	 ta = { .path = getenv("CRATED_CONFIG") };
	struct cmd_args		 a = { 0 };
	const char		*sub = argc > 1 ? argv[1] : "";
	char			*cause = NULL;
	int			 r = 2;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			print_help(stdout);
			return 0;
		}
	if (parse_options(argc, argv, &ta) != 0)
		return 2;
	if (config_load(ta.path, &a.cfg, &cause) != 0) {
		fprintf(stderr, "crated: %s\n", cause);
		free(cause);
		return 1;
	}
	if (ta.dir != NULL)
		config_set_string(&a.cfg->data_dir, ta.dir);
	if (strcmp(sub, "create") == 0 && optind == argc - 1)
		r = token_create(&a, &ta);
	else if (strcmp(sub, "list") == 0 && optind == argc - 1)
		r = token_list(&a);
	else if (strcmp(sub, "revoke") == 0 && optind == argc - 2)
		r = token_revoke(&a, argv[1 + optind]);
	else
		fprintf(stderr, "usage: %s\n", usage);
	config_free(a.cfg);
	return r;
}
