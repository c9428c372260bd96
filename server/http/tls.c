#include "server/http/tls.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/xmalloc.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/state.h"
#include "server/http/http.h"

#define CERT_WARN_DAYS		14	/* warn when the certificate has
					   fewer days left */

/* t as "2026-12-07 14:00:00 UTC" into out; its time in *when. */
static void
asn1_text(const ASN1_TIME *t, char *out, size_t size, time_t *when)
{
	struct tm	tm;

	memset(&tm, 0, sizeof tm);
	if (ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, size, "(unreadable date)");
		*when = 0;
		return;
	}
	strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	*when = timegm(&tm);
}

/* The certificate of ctx (from path) is within its validity period: 0
 * with its end in *not_after; else -1 with *cause. */
static int
check_validity(SSL_CTX *ctx, const char *path, time_t *not_after,
    char **cause)
{
	X509		*x = SSL_CTX_get0_certificate(ctx);
	char		 from[64], to[64];
	time_t		 start;

	if (x == NULL) {
		*cause = xasprintf("tls_cert %s: no certificate", path);
		return -1;
	}
	asn1_text(X509_get0_notBefore(x), from, sizeof from, &start);
	asn1_text(X509_get0_notAfter(x), to, sizeof to, not_after);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
		*cause = xasprintf("tls_cert %s is not valid yet: its validity"
		    " starts %s", path, from);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		*cause = xasprintf("tls_cert %s expired on %s: clients would"
		    " refuse it", path, to);
		return -1;
	}
	return 0;
}

/* Logs a warning when the certificate in use ends within CERT_WARN_DAYS. */
static void
warn_expiry(const struct server *srv)
{
	double	days = difftime(srv->tls_not_after, time(NULL)) / 86400;

	if (srv->tls_not_after == 0 || days >= CERT_WARN_DAYS)
		return;
	log_warn("the TLS certificate in use (tls_cert %s) expires in %.1f"
	    " days: renew it and send SIGHUP", srv->cfg->tls_cert, days);
}

static void
cert_tick(evutil_socket_t fd, short what, void *arg)
{
	warn_expiry(arg);
}

/* A TLS context from the configured files: TLS 1.2 and up, forward-secret
 * AEAD ciphers, a certificate within its validity period (its end in
 * *not_after). NULL with *cause naming the key and file at fault. */
static SSL_CTX *
tls_context(const struct config *cfg, time_t *not_after, char **cause)
{
	SSL_CTX		*ctx;
	const char	*key = NULL, *path = NULL, *why = NULL;
	char		 err[256];

	if (access(cfg->tls_cert, R_OK) != 0 || access(cfg->tls_key,
	    R_OK) != 0) {
		bool	cert = access(cfg->tls_cert, R_OK) != 0;

		*cause = xasprintf("%s %s: %s", cert ? "tls_cert" : "tls_key",
		    cert ? cfg->tls_cert : cfg->tls_key, strerror(errno));
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
	    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-RSA-CHACHA20-POLY1305") != 1)
		key = "TLS", path = "setup";
	else if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
		key = "tls_cert", path = cfg->tls_cert;
	else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key,
	    SSL_FILETYPE_PEM) != 1)
		key = "tls_key", path = cfg->tls_key;
	else if (SSL_CTX_check_private_key(ctx) != 1) {
		key = "tls_key", path = cfg->tls_key;
		why = "does not match the certificate of tls_cert";
	}
	if (key != NULL) {
		ERR_error_string_n(ERR_get_error(), err, sizeof err);
		*cause = xasprintf("%s %s: %s", key, path, why ? why : err);
		SSL_CTX_free(ctx);
		return NULL;
	}
	ERR_clear_error();
	if (check_validity(ctx, cfg->tls_cert, not_after, cause) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	return ctx;
}

/* The certificate for listen_tls, and a daily look at its end. */
int
tls_start(struct server *srv, char **cause)
{
	SSL_CTX		*ctx;
	struct timeval	 day = { 86400, 0 };

	if ((ctx = tls_context(srv->cfg, &srv->tls_not_after, cause)) == NULL)
		return -1;
	http_server_set_tls(srv->http, ctx);
	warn_expiry(srv);
	srv->cert_timer = event_new(srv->base, -1, EV_PERSIST, cert_tick, srv);
	event_add(srv->cert_timer, &day);
	return 0;
}

/* SIGHUP: the certificate files are read again; a bad one is refused
 * with a log line and the old one stays. */
void
tls_reload(struct server *srv)
{
	SSL_CTX		*ctx;
	char		*cause = NULL;
	time_t		 not_after;

	if ((ctx = tls_context(srv->cfg, &not_after, &cause)) == NULL) {
		log_error("SIGHUP: keeping the old certificate: %s", cause);
		free(cause);
		warn_expiry(srv);
		return;
	}
	http_server_set_tls(srv->http, ctx);
	srv->tls_not_after = not_after;
	log_info("SIGHUP: TLS certificate reloaded");
	warn_expiry(srv);
}
