/* A small pool of threads for blocking work (fsync and rename; reading
 * fetched files) that would stall the event loop. work(arg) runs on a worker; done(arg) runs
 * afterwards on the loop, in the order jobs finish. Jobs share nothing
 * with the loop while they run but what arg carries. */
#ifndef SERVER_CORE_WORKERS_H
#define SERVER_CORE_WORKERS_H

#include <stddef.h>

struct event_base;
struct workers;

/* At start-up: a thread that cannot start is fatal (log.h). */
struct workers	*workers_create(struct event_base *, int nthreads);
void		 workers_submit(struct workers *, void (*work)(void *),
		     void (*done)(void *), void *arg);
/* workers_submit ahead of every job not yet started (someone waits). */
void		 workers_submit_first(struct workers *, void (*work)(void *),
		     void (*done)(void *), void *arg);
/* Jobs submitted and not yet done (their done callback not yet run). */
size_t		 workers_pending(const struct workers *);
/* Waits for queued jobs to finish, runs their done callbacks, and stops
 * the threads. NULL is fine. */
void		 workers_destroy(struct workers *);

#endif
