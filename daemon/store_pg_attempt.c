/*
 * store, PostgreSQL backend: where attempts ran.  A log file stays on the
 * node that ran its attempt; the attempt's end writes a job_attempts row
 * (the node's name, the log's size and its last bytes), and `logs` reads
 * it back, with the job's last_node, to tell an attempt run elsewhere
 * and to answer from the stored end of its log.  Each call is one
 * statement; the row's write never fails on a row already there, so it
 * cannot abort the group transaction it shares with other writers.
 */
#include "store_pg.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jobd/proto.h"
#include "store_sqlnum.h"
#include "xmem.h"

/* The SQL texts stay as written: clang-format cannot lay out strings
 * joined with the STATE() macros. */
/* clang-format off */

/* The row of attempt $2 of job $1, ended on node $3 with a log of $4
 * bytes whose end is $5 (hex; NULL: none kept).  An attempt that runs
 * again under its number (given back by a shutdown), or an end written
 * again after a failed commit, replaces the row.  A job gone meanwhile (a
 * prune in the same transaction: another node's waits for the end's row
 * lock) gets no row, rather than a foreign key failure. */
static const char sql_attempt_ended[] =
	"INSERT INTO job_attempts (job_id, attempt, node, size, tail)"
	" SELECT $1::int8, $2::int, $3::text, $4::int8,"
	"  decode($5::text, 'hex')"
	" WHERE EXISTS (SELECT FROM jobs WHERE id = $1::int8)"
	" ON CONFLICT (job_id, attempt) DO UPDATE SET node = excluded.node,"
	"  size = excluded.size, tail = excluded.tail";

/* Where attempt $2 of job $1 ran: the job's last_node when it is the
 * latest attempt (the row of an earlier run under that number may name
 * another node), else the node its row names; whether it runs now; and
 * the row's size and tail when the row is that node's, the tail only when
 * that node is not this one, $3 (its log is here: `logs` reads the file,
 * and 64 KiB need not cross at each read).  No row: no such job. */
static const char sql_attempt_where[] =
	"WITH w AS ("
	"  SELECT j.state, j.attempt, a.node AS a_node, a.size, a.tail,"
	"   CASE WHEN j.attempt = $2::int AND j.last_node IS NOT NULL"
	"    THEN j.last_node ELSE a.node END AS node"
	"  FROM jobs j LEFT JOIN job_attempts a"
	"   ON a.job_id = j.id AND a.attempt = $2::int"
	"  WHERE j.id = $1::int8)"
	"SELECT node, state = " STATE(RUNNING) " AND attempt = $2::int,"
	" a_node IS NOT NULL AND a_node = node, size,"
	" CASE WHEN node IS DISTINCT FROM $3::text"
	"  THEN encode(tail, 'hex') END"
	" FROM w";

/* clang-format on */

enum { AW_NODE, AW_RUNNING, AW_HAVE_TAIL, AW_SIZE, AW_TAIL };

static const char hexdigits[] = "0123456789abcdef";

/* The hex text of n bytes at p (caller frees). */
static char *
hex_encode(const char *p, size_t n)
{
	char *h = xmalloc(2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		h[2 * i] = hexdigits[(unsigned char)p[i] >> 4];
		h[2 * i + 1] = hexdigits[(unsigned char)p[i] & 15];
	}
	h[2 * n] = '\0';
	return h;
}

static int
hex_value(char c)
{
	const char *d = c != '\0' ? strchr(hexdigits, c) : NULL;

	return d != NULL ? (int)(d - hexdigits) : -1;
}

/* The bytes of hex text h (encode(..., 'hex'): lower case, even length)
 * into *out (caller frees) and *n; false when h is not that. */
static bool
hex_decode(const char *h, char **out, size_t *n)
{
	size_t len = strlen(h);
	char *p;

	if (len % 2 != 0)
		return false;
	p = xmalloc(len / 2 + 1);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(p);
			return false;
		}
		p[i] = (char)(hi << 4 | lo);
	}
	*out = p;
	*n = len / 2;
	return true;
}

int
store__pg_attempt_ended(const struct store_attempt_end *a)
{
	const char *node = store_local_node();
	struct store_pg__args args = {0};
	char *hex = NULL;
	int rc;

	if (node == NULL)
		return 0; /* no name to give it (the row needs one) */
	store_pg__arg_int(&args, a->job_id);
	store_pg__arg_int(&args, a->attempt);
	store_pg__arg_text(&args, node);
	store_pg__arg_int(&args, a->log_size);
	if (a->tail != NULL) {
		size_t n = a->tail_len < STORE_LOG_TAIL ? a->tail_len
							: STORE_LOG_TAIL;

		hex = hex_encode(a->tail + (a->tail_len - n), n);
	}
	store_pg__arg_text(&args, hex);
	rc = store_pg__write("attempt end", sql_attempt_ended, &args, NULL);
	free(hex);
	return rc;
}

int
store__pg_attempt_where(int64_t id, int attempt, struct store_attempt_seen *s)
{
	struct store_pg__args args = {0};
	PGresult *r;
	const char *t;

	memset(s, 0, sizeof(*s));
	store_pg__arg_int(&args, id);
	store_pg__arg_int(&args, attempt);
	store_pg__arg_text(&args, store_local_node());
	if (store_pg__read("attempt where", sql_attempt_where, &args, &r) != 0)
		return -1;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return diag_set(E_NOTFOUND, "no job %lld", (long long)id);
	}
	if ((t = store_pg__text(r, 0, AW_NODE)) != NULL)
		s->node = xstrdup(t);
	s->running = store_pg__bool(r, 0, AW_RUNNING);
	s->have_tail = store_pg__bool(r, 0, AW_HAVE_TAIL);
	if (s->have_tail) {
		s->log_size = store_pg__int(r, 0, AW_SIZE);
		t = store_pg__text(r, 0, AW_TAIL);
		if (t != NULL && !hex_decode(t, &s->tail, &s->tail_len)) {
			PQclear(r);
			store_attempt_seen_destroy(s);
			return diag_set(E_DB,
					"store: attempt where: job %lld "
					"attempt %d: a tail that is not hex",
					(long long)id, attempt);
		}
	}
	PQclear(r);
	return 0;
}
