#include "server/core/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/xmalloc.h"
#include "server/core/log.h"

struct job {
	void		(*work)(void *);
	void		(*done)(void *);
	void		*arg;
	struct job	*next;
};

struct workers {
	struct event	*wake;		/* made active when a job is done */
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct job	*todo, **todo_tail;
	struct job	*done, **done_tail;
	size_t		 pending;	/* loop side only */
	bool		 stop;
	int		 n;
	pthread_t	*threads;
};

static void *
run(void *arg)
{
	struct workers	*w = arg;
	struct job	*j;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if ((j = w->todo) == NULL)
			break;
		if ((w->todo = j->next) == NULL)
			w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->lock);
		j->work(j->arg);
		pthread_mutex_lock(&w->lock);
		j->next = NULL;
		*w->done_tail = j;
		w->done_tail = &j->next;
		event_active(w->wake, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Runs the done callbacks of finished jobs, on the loop. */
static void
reap(evutil_socket_t fd, short what, void *arg)
{
	struct workers	*w = arg;
	struct job	*j, *next;

	pthread_mutex_lock(&w->lock);
	j = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		w->pending--;
		j->done(j->arg);
		free(j);
	}
}

struct workers *
workers_create(struct event_base *base, int n)
{
	struct workers	*w = xcalloc(1, sizeof *w);
	int		 rc;

	w->wake = event_new(base, -1, 0, reap, w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->todo_tail = &w->todo;
	w->done_tail = &w->done;
	w->n = n;
	w->threads = xcalloc((size_t)n, sizeof *w->threads);
	for (int i = 0; i < n; i++)
		if ((rc = pthread_create(&w->threads[i], NULL, run, w)) != 0)
			log_fatal("cannot start a worker thread: %s", strerror(rc));
	return w;
}

static void
submit(struct workers *w, void (*work)(void *), void (*done)(void *),
    void *arg, bool first)
{
	struct job	*j = xcalloc(1, sizeof *j);

	j->work = work;
	j->done = done;
	j->arg = arg;
	w->pending++;
	pthread_mutex_lock(&w->lock);
	if (first) {
		if ((j->next = w->todo) == NULL)
			w->todo_tail = &j->next;
		w->todo = j;
	} else {
		*w->todo_tail = j;
		w->todo_tail = &j->next;
	}
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void
workers_submit(struct workers *w, void (*work)(void *), void (*done)(void *),
    void *arg)
{
	submit(w, work, done, arg, false);
}

void
workers_submit_first(struct workers *w, void (*work)(void *),
    void (*done)(void *), void *arg)
{
	submit(w, work, done, arg, true);
}

size_t
workers_pending(const struct workers *w)
{
	return w->pending;
}

void
workers_destroy(struct workers *w)
{
	struct job	*j;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	/* A done callback may submit a job (a crate held for room, after
	 * the commit before it): with the threads gone, it runs here. */
	reap(-1, 0, w);
	while ((j = w->todo) != NULL) {
		if ((w->todo = j->next) == NULL)
			w->todo_tail = &w->todo;
		j->work(j->arg);
		j->next = NULL;
		*w->done_tail = j;
		w->done_tail = &j->next;
		reap(-1, 0, w);
	}
	event_free(w->wake);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->threads);
	free(w);
}
