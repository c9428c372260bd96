/* Listen addresses, parsed without a resolver. */
#ifndef SERVER_CORE_ADDR_H
#define SERVER_CORE_ADDR_H

struct sockaddr_storage;

/* Parses "IP:PORT" or "[IPv6]:PORT" (numeric; port 0 to 65535) into ss.
 * 0, or -1. */
int	addr_parse(const char *addr, struct sockaddr_storage *ss, int *len);

#endif
