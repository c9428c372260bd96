/* Quoting untrusted text in a cause so that it can go to logs and error
 * bodies as it is. Pure. */
#ifndef INDEX_CAUSEQUOTE_H
#define INDEX_CAUSEQUOTE_H

/* s for a cause: printable ASCII as it is, '"' and '\\' escaped, any other
 * byte as \xNN (a newline or a right-to-left override in a cause would
 * forge log lines or hide text), cut after QUOTE_MAX (quote.h) bytes with
 * "...". The result is one of four thread-local buffers, reused in turn:
 * a format may hold four. */
const char	*cause_quote(const char *s);

#endif
