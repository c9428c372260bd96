/* Named steps of every write path, for failure injection: with
 * CRATED_CRASH_AT=<step> in the environment, the process _exits with
 * CRASH_EXIT_CODE when it reaches that step. Tests use it to prove that a
 * crash at any step leaves the store valid. With CRATED_PAUSE_AT=<step>=<ms>
 * the thread reaching the step sleeps ms milliseconds instead (a slow
 * disk), so tests can look at what is served while a write is under way. */
#ifndef CACHE_CRASH_H
#define CACHE_CRASH_H

#define CRASH_EXIT_CODE	99

/* Every step name, NULL-terminated, in the order a write passes them. */
extern const char *const crash_points[];

/* Reads CRATED_CRASH_AT and CRATED_PAUSE_AT once; call before starting
 * threads. */
void	crash_setup(void);
/* Dies (or sleeps) here when step is the configured one. step must be
 * listed. */
void	crash_point(const char *step);

#endif
