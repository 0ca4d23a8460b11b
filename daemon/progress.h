/*
 * progress: the lines a job writes to $JOBD_PROGRESS_FD, read into the
 * job's latest progress.  A line is `42`, `42 copying files` (a percent,
 * then a message), or a JSON object with any of percent, message,
 * current and total.  Pure: no loop, no store, no diag; it parses each
 * line without allocating and builds the JSON object only when asked, so
 * a job that writes a hundred thousand lines costs a scan of them.
 */
#ifndef PROGRESS_H_INCLUDED
#define PROGRESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The longest line, newline excluded; a longer one is a bad line. */
#define PROGRESS_MAX_LINE 4096

/* One attempt's reader: the line being read and the latest valid one. */
struct progress {
	char part[PROGRESS_MAX_LINE + 1]; /* the line not yet ended */
	size_t part_len;
	bool part_long;			  /* it passed PROGRESS_MAX_LINE */
	char last[PROGRESS_MAX_LINE + 1]; /* the latest valid line */
	size_t last_len;
	bool have;    /* last holds a valid line */
	int64_t bad;  /* bad lines read */
	uint64_t seq; /* raised by each line read, valid or bad */
};

/* A new, empty reader; free it with progress_delete (NULL: nothing). */
struct progress *progress_new(void);
void progress_delete(struct progress *p);
/* Reads data[0..n) (borrowed), lines ending in '\n'; what follows the
 * last newline waits for the next call.  Empty lines are skipped; a line
 * that is not valid (progress_line_ok) or longer than PROGRESS_MAX_LINE
 * counts in p->bad.  Does not allocate. */
void progress_feed(struct progress *p, const char *data, size_t n);
/* The writers are gone: a last line without its newline is read. */
void progress_eof(struct progress *p);
/* True when line[0..len) (no newline; a trailing '\r' is allowed) is a
 * valid progress line. */
bool progress_line_ok(const char *line, size_t len);
/* The progress object of a valid line (new reference): percent (an
 * integer, or a number with a fraction), message, current, total, the
 * keys the line gave, in that order; percent from current and total when
 * the line gives both and no percent.  NULL when the line is not valid. */
json_t *progress_line_json(const char *line, size_t len);
/* The object of p's latest valid line (new reference), or NULL. */
json_t *progress_json(const struct progress *p);

#endif /* PROGRESS_H_INCLUDED */
