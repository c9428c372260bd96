/* A tiny TAP producer (h2o picotest, redis testhelp.h): ok(cond, name) per
 * case, done_testing() prints the plan and returns the exit status. */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdio.h>

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

#endif
