/*
 * render: the text that jobctl shows people: tables, key: value lines,
 * key=value pairs, durations, sizes, rates, state colours, and all of it
 * made safe for a terminal.  Names,
 * commands and messages come from other users and from jobs; written raw,
 * an escape sequence in one would recolour or clear an admin's screen and a
 * newline would split a table row.  These helpers escape every control
 * character (C0, DEL, C1), bidirectional overrides and bytes that are not
 * UTF-8, so what reaches the terminal is printable.  --json output never
 * goes through them: it keeps the exact values.  Pure: no I/O but the FILE
 * a caller hands in; out of memory exits.
 */
#ifndef RENDER_H_INCLUDED
#define RENDER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Returns s (borrowed; NULL reads as "") with each unsafe character written
 * C-style: "\n", "\t", "\r", "\e", "\xNN" for other bytes below 0x20, DEL
 * and bytes that are not UTF-8, "\uNNNN" for C1 controls and bidirectional
 * overrides.  Other text, backslashes included, is kept.  The caller frees
 * the result with free().
 */
char *render_text(const char *s);

/* Whether s (borrowed) holds a character render_text would escape. */
bool render_needs_escape(const char *s);

/*
 * Writes s (borrowed) to f as one word a POSIX shell reads back: as is when
 * it is made of safe characters only, in single quotes when it holds no
 * unsafe character, else in bash's $'...' quoting with the unsafe
 * characters, the backslash and the quote escaped.
 */
void render_shell_word(FILE *f, const char *s);

/* The ANSI colour sequence (static) for a state name, or NULL when none
 * fits (or state is NULL). */
const char *render_state_color(const char *state);

/* Display width of UTF-8 text s: code points, which is close enough. */
size_t render_width(const char *s);

/* Byte length of the first max code points of s. */
size_t render_prefix(const char *s, size_t max);

/* Writes secs as "1h02m03s", "5m12s", "12.3s", "450ms" (days above a day:
 * "2d03h04m"), or "-" when negative or not finite, into buf of n bytes. */
void render_duration(double secs, char *buf, size_t n);

/* Writes bytes as "512 B", "12.3 KiB", "4.0 MiB" ... into buf of n bytes. */
void render_size(double bytes, char *buf, size_t n);

/*
 * A JSON value (borrowed; NULL reads as null) as text for people: "-" for
 * null, strings escaped by render_text, numbers and booleans as such, an
 * object of plain values as "k=v k=v", anything else as compact JSON,
 * escaped.  The caller frees the result.
 */
char *render_value(const json_t *v);

/* What a person calls a job (borrowed): its name, else its shell command,
 * else its argv as shell words, else "-".  The caller frees the result. */
char *render_job_label(const json_t *job);

/* A job's progress object (borrowed) as a percent: "42%", "42.5%", or "-"
 * when it gives none.  The caller frees the result. */
char *render_percent(const json_t *progress);
/* A job's progress object (borrowed) for people: "42% copying files
 * (84/200)", each part only when given; "-" when it is not an object.
 * The message is as the job wrote it: escape the result (render_text)
 * before it reaches a terminal.  The caller frees the result. */
char *render_progress(const json_t *progress);

/* A queue's rate object (borrowed) in the form --rate takes: "100/m",
 * "10/s burst 20", or "-" when it is not an object.  The caller frees the
 * result. */
char *render_rate(const json_t *rate);

/* An aligned table of text cells, up to 16 columns. */
struct render_table {
	size_t ncols;
	size_t nrows;	     /* the header included */
	size_t cap;	     /* rows allocated */
	char **cells;	     /* owned: nrows * ncols owned strings */
	const char **colors; /* per row, for column color_col; borrowed */
	size_t color_col;    /* the column coloured; past ncols: none */
	unsigned right;	     /* bit i set: column i is right-aligned */
};

/* Starts t with the header row head (ncols strings, borrowed and copied);
 * right and color_col as in struct render_table. */
void render_table_init(struct render_table *t, size_t ncols,
		       const char *const *head, unsigned right,
		       size_t color_col);

/* Adds a row: takes ownership of the ncols strings of cells (malloc'd);
 * color (static, may be NULL) is the ANSI colour of column color_col. */
void render_table_add(struct render_table *t, const char *color, char **cells);

/*
 * Writes t to f, columns two spaces apart, each padded to its widest cell
 * (the last not padded), and frees it.  With cols > 0 (a terminal's width)
 * a last cell that does not fit is cut to the room left and ends in "...".
 */
void render_table_print(struct render_table *t, FILE *f, int cols);

/*
 * Writes obj (borrowed) to f as "key: value" lines, the values aligned:
 * the keys of order (a NULL-ended list) that are present first, then the
 * others in the object's order.  Durations (timeout, kill_grace, every,
 * duration, uptime), rate and backoff read as jobctl's options take them;
 * env is one KEY=VALUE a line under "env:"; the rest as render_value.  With
 * color, the state's value is coloured.
 */
void render_kv(FILE *f, json_t *obj, const char *const *order, bool color);

#endif /* RENDER_H_INCLUDED */
