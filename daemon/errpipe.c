/*
 * errpipe: lines of a child's standard error to jobd's log (errpipe.h).
 */
#include "errpipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "await.h"
#include "log.h"
#include "loop.h"
#include "xmem.h"

/* Logs every whole line of e->partial (all of it when flush). */
static void
errpipe_lines(struct errpipe *e, bool flush)
{
	size_t off = 0;
	char *nl;
	while (off < e->partial.len &&
	       ((nl = memchr(e->partial.data + off, '\n',
			     e->partial.len - off)) != NULL ||
		flush)) {
		size_t len = nl ? (size_t)(nl - (e->partial.data + off))
				: e->partial.len - off;
		if (len > 0) {
			char *line = xstrndup(e->partial.data + off, len);
			log_warnx("%s: %s", e->who, line);
			free(e->last);
			e->last = line;
		}
		off += len + (nl ? 1 : 0);
	}
	buf_consume(&e->partial, off);
	/* A line too long to keep is logged in pieces. */
	if (e->partial.len > 4096)
		errpipe_lines(e, true);
}

void
errpipe_f(void *arg)
{
	struct errpipe *e = arg;
	bool cancelled = false;
	for (;;) {
		if (!cancelled &&
		    await_io(e->fd, EV_READ, -1, false, NULL) != 0)
			cancelled = true;
		buf_reserve(&e->partial, 4096);
		ssize_t r = read(e->fd, e->partial.data + e->partial.len, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 && (cancelled || r == 0 || errno != EAGAIN))
			break;
		if (r > 0) {
			e->partial.len += (size_t)r;
			errpipe_lines(e, false);
		}
	}
	errpipe_lines(e, true);
}
