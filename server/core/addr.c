/* Listen addresses: "IP:PORT" and "[IPv6]:PORT", numeric only (names
 * would need a resolver at start-up). The configuration checks them, the
 * HTTP layer binds them. */
#include "server/core/addr.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int
addr_parse(const char *addr, struct sockaddr_storage *ss, int *len)
{
	char		 host[INET6_ADDRSTRLEN];
	const char	*colon, *h = addr;
	size_t		 hlen;
	char		*end;
	long		 port;

	memset(ss, 0, sizeof *ss);
	if (*addr == '[') {
		const char	*close = strchr(addr, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = addr + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(addr, ':')) == NULL)
			return -1;
		hlen = (size_t)(colon - addr);
	}
	if (hlen == 0 || hlen >= sizeof host || colon[1] == '\0')
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port < 0 || port > 65535 ||
	    colon[1] == '-' || colon[1] == '+')
		return -1;
	if (*addr == '[') {
		struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof *s6;
	} else {
		struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof *s4;
	}
	return 0;
}
