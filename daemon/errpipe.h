/*
 * errpipe: a child's standard error, read by a coroutine of its own: each
 * line goes to jobd's log as a warning naming whose it is, so journald
 * keeps its priority and a reader knows the source; the last line is kept
 * (a generator's last_error).  A line too long to keep is logged in
 * pieces.
 */
#ifndef ERRPIPE_H_INCLUDED
#define ERRPIPE_H_INCLUDED

#include "buf.h"

/* The caller's, zeroed but for who and fd (partial BUF_INIT); after the
 * coroutine ended, it closes fd and releases partial and last. */
struct errpipe {
	const char *who;    /* borrowed: each line's prefix */
	int fd;		    /* the read end, non-blocking */
	struct buf partial; /* a line not yet ended */
	char *last;	    /* owned: the last line, or NULL */
};

/* Coroutine entry, arg a struct errpipe: reads until EOF; once cancelled,
 * takes what is there without waiting (a child of the writer may hold the
 * pipe open), logs what is left and returns.  Yields. */
void errpipe_f(void *arg);

#endif /* ERRPIPE_H_INCLUDED */
