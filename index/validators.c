#include "index/validators.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static const char	*months[] = { "Jan", "Feb", "Mar", "Apr", "May",
			    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void
etag_of(const void *buf, size_t len, char *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen;

	static const char	hex[] = "0123456789abcdef";

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	out[0] = '"';
	for (int i = 0; i < 16; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 15];
	}
	out[33] = '"';
	out[34] = '\0';
}

void
http_date_format(time_t t, char *out)
{
	struct tm	tm;

	/* crated never calls setlocale(): strftime speaks the C locale's
	 * English day and month names, as HTTP wants. */
	gmtime_r(&t, &tm);
	if (strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		out[0] = '\0';
}

time_t
http_date_parse(const char *s)
{
	struct tm	tm;
	char		wd[4], mon[4], tz[4];
	int		n = 0, m = -1;

	memset(&tm, 0, sizeof tm);
	if (strlen(s) != 29 || sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n",
	    wd, &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, tz, &n) != 8 || n != 29 || strcmp(tz, "GMT") != 0)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strcmp(mon, months[i]) == 0)
			m = i;
	if (m < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
		return -1;
	tm.tm_mon = m;
	tm.tm_year -= 1900;
	return timegm(&tm);
}

/* Compares one entity tag of a list against etag; weak tags (W/"x")
 * match their strong form, as If-None-Match uses weak comparison. */
static bool
tag_matches(const char *tag, size_t len, const char *etag)
{
	if (len >= 2 && tag[0] == 'W' && tag[1] == '/') {
		tag += 2;
		len -= 2;
	}
	return len == strlen(etag) && memcmp(tag, etag, len) == 0;
}

bool
validators_not_modified(const char *inm, const char *ims, const char *etag,
    time_t last_modified)
{
	time_t	since;

	if (inm != NULL) {
		const char	*p = inm;

		for (;;) {
			size_t	len;

			p += strspn(p, " \t,");
			if (*p == '\0')
				return false;
			len = strcspn(p, ",");
			while (len > 0 && (p[len - 1] == ' ' ||
			    p[len - 1] == '\t'))
				len--;
			if ((len == 1 && *p == '*') ||
			    (etag != NULL && tag_matches(p, len, etag)))
				return true;
			p += len;
		}
	}
	if (ims == NULL || last_modified <= 0)
		return false;
	since = http_date_parse(ims);
	return since != -1 && last_modified <= since;
}
