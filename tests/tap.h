/* A tiny TAP producer (h2o picotest, redis testhelp.h): ok(cond, name) per
 * case, done_testing() prints the plan and returns the exit status. */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

#define ok(cond, ...) do {						\
	int tap_c = !!(cond);						\
	tap_n++;							\
	if (!tap_c)							\
		tap_failed++;						\
	printf("%sok %d - ", tap_c ? "" : "not ", tap_n);		\
	printf(__VA_ARGS__);						\
	printf("\n");							\
	if (!tap_c)							\
		printf("#   failed at %s:%d\n", __FILE__, __LINE__);	\
} while (0)

#define is_str(got, want, ...) do {					\
	const char *tap_g = (got), *tap_w = (want);			\
	int tap_eq = (tap_g == NULL && tap_w == NULL) ||		\
	    (tap_g != NULL && tap_w != NULL && strcmp(tap_g, tap_w) == 0); \
	ok(tap_eq, __VA_ARGS__);					\
	if (!tap_eq)							\
		printf("#   got '%s'\n#   want '%s'\n",			\
		    tap_g ? tap_g : "(null)", tap_w ? tap_w : "(null)");	\
} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}

/* Reads rel, a path under $CRATED_TEST_DATA (default tests/data), into a
 * new NUL-terminated buffer; NULL if it cannot. */
static inline char *
test_data(const char *rel, size_t *len)
{
	const char	*dir = getenv("CRATED_TEST_DATA");
	char		 path[4096], *buf;
	FILE		*f;
	long		 n;

	snprintf(path, sizeof path, "%s/%s", dir != NULL ? dir : "tests/data",
	    rel);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

#endif
