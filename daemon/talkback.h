/*
 * talkback: the files through which an attempt says something back to
 * jobd besides its exit status — $JOBD_RESULT (a JSON value, the job's
 * result) and $JOBD_SNOOZE (how long to wait before it runs again, when
 * it exits with its snooze_exit status).  Both are made empty for each
 * attempt in the state directory's talk/, owned by the job's user with
 * mode 0600, read with a bound once the attempt is over, and removed.
 *
 * A job may write anything into them, or try to put something else in
 * their place: they are opened with O_NOFOLLOW and O_NONBLOCK, read only
 * when they are a regular file with one link, never beyond a bound, and
 * removed by name relative to the directory's descriptor, so a job can
 * make jobd read or remove nothing but them.  No loop, no store: plain
 * file I/O that does not yield, a few kilobytes at the end of an attempt.
 */
#ifndef TALKBACK_H_INCLUDED
#define TALKBACK_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Makes (if needed) and opens STATE_DIR/talk, which the attempts' files
 * go in, and removes what a jobd that died left there.  Run as root,
 * jobs of other users must reach their files: the directory is then 0711
 * (and the state directory must let them pass: the caller makes it 0711
 * too), the files in it each 0600 and their job user's.  Otherwise 0700.
 * Returns 0, or -1 with diag E_IO naming what failed. */
int talkback_init(const char *state_dir);
/* Closes the directory; safe when not open. */
void talkback_shutdown(void);

/* One attempt's files. */
struct talkback {
	char name[64];	  /* "ID.ATTEMPT": the files are name.result and
				name.snooze */
	char *result_env; /* owned: "JOBD_RESULT=PATH" */
	char *snooze_env; /* owned: "JOBD_SNOOZE=PATH" */
	bool made;	  /* the files exist */
};

/* What an attempt said, as talkback_collect read it. */
struct talkback_said {
	char *result; /* owned: the result as compact JSON text, or NULL */
	char result_error[200]; /* why a result written is not kept: "too
				   large: ...", "not JSON: ..."; "" when
				   none */
	bool snooze_given;	/* $JOBD_SNOOZE held a delay */
	double snooze;		/* s, when given */
};

/* Makes attempt `attempt` of job id's files, empty, owned by uid when
 * jobd runs as root, into t (the caller's; release it with
 * talkback_collect or talkback_discard).  Returns 0, or -1 with diag E_IO
 * and errno as the call that failed left it. */
int talkback_open(struct talkback *t, int64_t id, int attempt, uid_t uid);
/* Reads what the attempt wrote into t's files, then removes them and
 * releases t: the result, at most max_result bytes (more: a
 * result_error), kept when it is JSON (a file left empty, or blank, is no
 * result, and no error); the snooze delay, seconds from 0 to ten years
 * (anything else is ignored, and logged).  s is the caller's; free
 * s->result.  Does not fail: a file that cannot be read says nothing. */
void talkback_collect(struct talkback *t, int64_t max_result,
		      struct talkback_said *s);
/* Removes t's files unread (the attempt never ran) and releases t.  Safe
 * on a t that talkback_open failed to make. */
void talkback_discard(struct talkback *t);

#endif /* TALKBACK_H_INCLUDED */
