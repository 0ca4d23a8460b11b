/*
 * jobd client library: a blocking connection to jobd's control socket that
 * speaks the newline-delimited JSON protocol of jobd-protocol(7), so a C
 * program can submit, inspect, wait for and watch jobs without writing the
 * framing itself.  jobctl is built on it.
 *
 * One struct jobd_client is one connection.  It is not thread-safe: use it
 * from one thread at a time.  Every call blocks the caller (there is no event
 * loop inside); the ones that take a timeout_ms give up after that many
 * milliseconds (-1 waits forever).  Lines of any length are read; requests
 * are written whole (short writes and EINTR are handled, SIGPIPE is never
 * raised: a closed peer is EPIPE).
 *
 * Messages from the daemon are either responses (they carry "ok" and the
 * request's "id") or events (they carry "event", after a "watch" or a
 * "logs" with "follow").  Whatever arrives while the library looks for
 * something else is kept, in arrival order, for later calls: events for
 * jobd_client_next_event, responses for jobd_client_response (by id), and
 * both for jobd_client_read.
 *
 * Ownership follows jansson: every json_t * returned is a new reference the
 * caller releases with json_decref(); json_t * parameters are borrowed unless
 * the comment says "stolen".  Strings returned are borrowed from the client
 * unless the comment says the caller frees them.
 *
 * Errors: functions returning a pointer return NULL, functions returning int
 * return -1 (int64_t ids: -1 too).  jobd_client_error_code() then says which
 * kind: -1 for a transport failure (errno set: ECONNRESET when the daemon
 * closed the connection, EPROTO for a line that is not a JSON object,
 * ETIMEDOUT when a timeout ran out, EPIPE when writing to a closed socket,
 * or what the system call reported), or an enum jobd_error when the daemon
 * answered ok:false.  After a transport failure the connection should be
 * closed; after a daemon error it stays usable.
 */
#ifndef JOBD_CLIENT_H_INCLUDED
#define JOBD_CLIENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jobd/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The socket of a jobd run by root (SPEC 1). */
#define JOBD_CLIENT_SYSTEM_SOCKET "/run/jobd/jobd.sock"

/* Requests (one line) above this size are refused by a default-configured
 * daemon with "too_large" and the connection is closed (SPEC 5). */
#define JOBD_CLIENT_MAX_REQUEST (4 * 1024 * 1024)

/* One connection to jobd; opaque. */
struct jobd_client;

/*
 * Finds the socket the way SPEC 1 says: explicit_path when it is non-NULL
 * and not empty; else $JOBD_SOCKET when set and not empty; else the user
 * default ($XDG_RUNTIME_DIR/jobd.sock, or /tmp/jobd-$UID/jobd.sock when
 * XDG_RUNTIME_DIR is unset or empty) if that file exists; else the system
 * default /run/jobd/jobd.sock.  explicit_path is borrowed.  Returns a string
 * the caller frees with free(), or NULL with errno ENOMEM.
 */
char *jobd_client_socket_path(const char *explicit_path);

/*
 * The user default of jobd_client_socket_path(), whether or not it exists:
 * where a jobd run by this user listens.  Returns a string the caller
 * frees, or NULL with errno ENOMEM.
 */
char *jobd_client_user_socket_path(void);

/*
 * Connects to the daemon's socket at path (borrowed; NULL means
 * jobd_client_socket_path(NULL)).  Before anything is sent, two checks
 * make sure no other user stands in for the daemon: the socket's
 * directory must be owned by the caller's uid or root and not writable by
 * group or others (unless it has the sticky bit, like /tmp; a symbolic
 * link is refused), and the process listening on the socket (SO_PEERCRED)
 * must run as the caller's uid or root.  Returns a client the caller
 * releases with jobd_client_close(), or NULL with errno set: EPERM when a
 * check refused the socket, ENAMETOOLONG when the path does not fit a
 * sockaddr_un, else connect(2)'s errno (ENOENT, ECONNREFUSED, EACCES, ...).
 * jobd_client_connect_error() then says why.
 */
struct jobd_client *jobd_client_connect(const char *path);

/* Why the calling thread's last failed jobd_client_connect() failed, in
 * one line that does not repeat the socket's path (strerror's text, or
 * for EPERM what was refused: "refusing it: it is served by uid 65534
 * (nobody) (pid 42), not by you or root").  Borrowed until the next
 * jobd_client_connect() of the thread. */
const char *jobd_client_connect_error(void);

/* Closes the socket and frees c with everything it still holds.  NULL is a
 * no-op. */
void jobd_client_close(struct jobd_client *c);

/* The connected socket (for poll(2) along other descriptors).  Bytes may be
 * buffered inside c already: call jobd_client_pending() before sleeping on
 * the descriptor. */
int jobd_client_fd(const struct jobd_client *c);

/* Number of complete messages held inside c (read from the socket but not
 * delivered yet).  When non-zero, jobd_client_read(c, 0) returns one without
 * touching the socket. */
size_t jobd_client_pending(const struct jobd_client *c);

/* The socket path c connected to; borrowed, lives as long as c. */
const char *jobd_client_path(const struct jobd_client *c);

/*
 * Sends one request object (req is borrowed and never modified).  When req
 * has no "id", the request goes out with the next value of the client's
 * counter (1, 2, ...) as its id.  Returns the id used: the counter value,
 * the integer id req carried, or 0 when req carried a non-integer id; -1 on
 * a transport failure or when req is not an object (errno EINVAL).
 */
int64_t jobd_client_send(struct jobd_client *c, json_t *req);

/*
 * Returns the next message: the oldest one kept inside c, else the next line
 * from the socket (a response or an event), waiting at most timeout_ms
 * (-1 = forever, 0 = only what is already there).  Returns a new reference,
 * or NULL on a transport failure: errno ETIMEDOUT when the time ran out
 * (the connection stays usable), ECONNRESET on end of file, EPROTO when the
 * line was not a JSON object (the line is dropped).
 */
json_t *jobd_client_read(struct jobd_client *c, int timeout_ms);

/*
 * Returns the response whose "id" equals id (or an ok:false response with a
 * null id: the daemon's answer to the connection as a whole, e.g. "busy"),
 * waiting at most timeout_ms (-1 = forever).  Events and other responses
 * read meanwhile are kept.  Returns the whole response object (new
 * reference), or NULL on a transport failure (errno as jobd_client_read).
 */
json_t *jobd_client_response(struct jobd_client *c, int64_t id, int timeout_ms);

/*
 * Request/response: sends req (borrowed), then reads until its response,
 * keeping events and other responses for later.  Returns the response
 * object (new reference) whether ok is true or false, or NULL on a
 * transport failure.
 */
json_t *jobd_client_call(struct jobd_client *c, json_t *req);

/*
 * Turns a response (stolen; NULL passes a transport failure through) into
 * its result: on ok:true returns "result" (new reference; an empty object
 * when absent) and sets the error code to JOBD_E_NONE; on ok:false returns
 * NULL and records the error's code and message.
 */
json_t *jobd_client_result(struct jobd_client *c, json_t *resp);

/*
 * Builds {"cmd": cmd, ...args} (args stolen, may be NULL; its members become
 * the request's arguments) and calls it.  Returns the "result" object (new
 * reference), or NULL when the daemon answered ok:false (see
 * jobd_client_error_code and jobd_client_error_message) or on a transport
 * failure (error code -1).
 */
json_t *jobd_client_cmd(struct jobd_client *c, const char *cmd, json_t *args);

/* The last call's outcome: JOBD_E_NONE after success, an enum jobd_error
 * when the daemon answered ok:false (JOBD_E_INTERNAL for a code this
 * library does not know), -1 after a transport failure. */
int jobd_client_error_code(const struct jobd_client *c);

/* The wire name of the last error ("not_found", or the unknown code as the
 * daemon spelled it; "transport" after a transport failure), or NULL when
 * the last call succeeded.  Borrowed until the next call on c. */
const char *jobd_client_error_name(const struct jobd_client *c);

/* The last error's message (the daemon's text, or a description of the
 * transport failure), or "" when the last call succeeded.  Borrowed until
 * the next call on c. */
const char *jobd_client_error_message(const struct jobd_client *c);

/*
 * Submits one job spec (borrowed; SPEC 2.1).  On success stores the job's id
 * in *id and, when duplicate is non-NULL, 1 in *duplicate if the spec's
 * unique_key named a live job (whose id is then *id), else 0.  Returns 0,
 * or -1 (see jobd_client_error_code).
 */
int jobd_client_submit(struct jobd_client *c, const json_t *spec, int64_t *id,
		       int *duplicate);

/* Returns the job object of job id (new reference), or NULL on error. */
json_t *jobd_client_get(struct jobd_client *c, int64_t id);

/*
 * Waits until the n jobs in ids (borrowed) are all terminal, for at most
 * timeout seconds (the daemon keeps time; < 0 means no limit).  Returns the
 * {"jobs": [...]} result (new reference), or NULL: error code
 * JOBD_E_TIMEOUT when the time ran out first.
 */
json_t *jobd_client_wait(struct jobd_client *c, const int64_t *ids, size_t n,
			 double timeout);

/*
 * Starts a watch on c (SPEC 5.1): afterwards the connection carries
 * job.*, queue.updated, producer.updated and daemon.stopping events, read
 * with jobd_client_next_event.  queue (borrowed) limits it to one queue
 * when non-NULL; job_id to one job when > 0.  Returns 0, or -1.
 */
int jobd_client_watch(struct jobd_client *c, const char *queue, int64_t job_id);

/*
 * Returns the next event (an object with "event"; new reference): the
 * oldest kept inside c, else the next one from the socket, waiting at most
 * timeout_ms (-1 = forever).  Responses read meanwhile are kept for
 * jobd_client_response.  NULL on a transport failure (errno ETIMEDOUT when
 * the time ran out, the connection staying usable).
 */
json_t *jobd_client_next_event(struct jobd_client *c, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* JOBD_CLIENT_H_INCLUDED */
