/*
 * log: leveled lines on stderr, the OpenBSD way.  Messages are lower case
 * with no trailing period.  Under systemd (JOURNAL_STREAM set) each line
 * carries a syslog priority prefix ("<4>") instead of a timestamp, so
 * journald keeps the level.
 */
#ifndef LOG_H_INCLUDED
#define LOG_H_INCLUDED

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets up logging; level is the most verbose level printed. */
void log_init(enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Level for a name ("debug", "info", "warning", "error"), or -1. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* Warning with ": strerror(errno)" appended. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log and exit(1) (fatal appends strerror).  Only main.c and *_init(). */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* A state that cannot happen: logs file:line and aborts. */
#define panic(...) log_panic(__FILE__, __LINE__, __VA_ARGS__)
void log_panic(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#endif /* LOG_H_INCLUDED */
