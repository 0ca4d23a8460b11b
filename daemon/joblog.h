/*
 * joblog: the files that hold the output of jobs' attempts, one per
 * attempt in the log directory — where they are, opening one for an
 * attempt to write, reading a window of one as text (cut on a UTF-8
 * character boundary, so a character is never split between two windows),
 * and removing a job's logs.  No loop, no store: plain file I/O that does
 * not yield.  What goes into a log, and how much, is the runner's.
 */
#ifndef JOBLOG_H_INCLUDED
#define JOBLOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* Path of the log of attempt `attempt` of job job_id in log_dir
 * (borrowed); the caller frees it. */
char *joblog_path(const char *log_dir, int64_t job_id, int attempt);

/* Opens the log at path (borrowed) for an attempt to append to, creating
 * it with mode 0600, owned by uid:gid when chown (a failed chown is
 * logged, not fatal).  A log that holds output already belongs to the
 * same attempt run before and stopped by a shutdown or a crash: a marker
 * line naming attempt keeps the runs apart.  Returns the descriptor (the
 * caller closes it), or -1 with diag E_IO and errno as open(2) left it. */
int joblog_open(const char *path, int attempt, bool chown, uid_t uid,
		gid_t gid);

/* A window of a log, as joblog_read() gives it. */
struct joblog_window {
	json_t *data;	     /* owned: the text, valid UTF-8 */
	int64_t offset;	     /* bytes: where the window starts */
	int64_t next_offset; /* bytes: where the next window starts */
	int64_t size;	     /* bytes: the log's size when read */
};

/* Reads at most max (> 0) bytes of the log of attempt `attempt` of job
 * job_id in log_dir (borrowed) from offset into *w; a negative offset
 * counts from the end, and offsets are clamped into [0, size].  A missing
 * log, or attempt 0, reads as empty (size 0).  The window ends on a
 * character boundary: a character cut by the window, or not yet whole at
 * the end of the log (still being written), is left for the next window,
 * which so starts on a boundary; a window that holds no whole character
 * still moves on (its bytes come out as U+FFFD).  Bytes that are not
 * UTF-8 come out as U+FFFD (utf8.h).  The caller owns w->data.  Does not
 * fail. */
void joblog_read(const char *log_dir, int64_t job_id, int attempt,
		 int64_t offset, int64_t max, struct joblog_window *w);

/* Reads the end of the log of attempt `attempt` of job job_id in log_dir
 * (borrowed): *size gets its size, *tail (the caller frees it) its last
 * *tail_len bytes, at most max.  Returns false, *size 0 and *tail NULL,
 * when there is no log (none was kept, or attempt 0).  Does not fail
 * otherwise: a log that cannot be read reads as empty. */
bool joblog_tail(const char *log_dir, int64_t job_id, int attempt, size_t max,
		 int64_t *size, char **tail, size_t *tail_len);

/* A window as joblog_read() makes it, out of a copy of a log's end: tail
 * (borrowed) holds its last tail_len bytes, of size in all.  Returns
 * false, w untouched, when the window would start before the copy does:
 * the offset (negative from the end; clamped into [0, size]) is below
 * size - tail_len.  A window that starts inside the copy ends inside it:
 * the same window joblog_read() gives of the whole log. */
bool joblog_window_of(const char *tail, size_t tail_len, int64_t size,
		      int64_t offset, int64_t max, struct joblog_window *w);

/* Removes the logs of job job_id's attempts 1 to attempts + 1 (one more
 * than counted: an attempt given back by a shutdown has a log too); a
 * log that is not there is no error. */
void joblog_remove(const char *log_dir, int64_t job_id, int attempts);

#endif /* JOBLOG_H_INCLUDED */
