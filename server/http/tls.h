/* The TLS certificate of the listen_tls listeners: its context (TLS 1.2
 * and up, forward-secret AEAD ciphers), its validity checked at start and
 * SIGHUP, and a daily warning as its end nears (also the
 * crated_tls_certificate_days_left gauge, from srv->tls_not_after). The
 * dispatcher (server.c) calls it; it hands the context to http.c. */
#ifndef SERVER_HTTP_TLS_H
#define SERVER_HTTP_TLS_H

struct server;

/* Loads the certificate and starts the daily look at its end: 0, or -1
 * with *cause (new) naming the key and file at fault. */
int	tls_start(struct server *, char **cause);
/* SIGHUP: the certificate read again; the old one stays if it is bad. */
void	tls_reload(struct server *);

#endif
