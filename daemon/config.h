/*
 * config: the INI configuration file (SPEC 1 and 7) and the default paths
 * per user.  It parses into plain structs and checks syntax and ranges; it
 * applies nothing (no sockets, no store): main and the engine do that.
 * Producers are kept as JSON objects of SPEC 4 shape for the daemon to
 * validate.
 */
#ifndef CONFIG_H_INCLUDED
#define CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "queue_conf.h"

/* Keys of [daemon] the file set, for precedence over flags and env. */
enum {
	DC_SOCKET = 1u << 0,
	DC_STATE_DIR = 1u << 1,
	DC_DEBUG = 1u << 2,
	DC_LOG_LEVEL = 1u << 3
};

/* The cgroups key of [daemon]. */
enum config_cgroups {
	CONFIG_CGROUPS_AUTO = 0, /* when jobd has a subtree, else groups */
	CONFIG_CGROUPS_OFF,	 /* process groups only */
	CONFIG_CGROUPS_REQUIRED	 /* no start without a subtree */
};

/* The store key of [daemon]: where jobs, queues and producers live. */
enum config_store {
	CONFIG_STORE_SQLITE = 0, /* state_dir/jobd.db, this host alone */
	CONFIG_STORE_POSTGRES	 /* the database, shared by every node */
};

/* The most max_result_bytes may be: 16 MiB. */
#define CONFIG_MAX_RESULT (INT64_C(16) << 20)

/* Longest node_name, in bytes. */
#define CONFIG_NODE_NAME_MAX 63
/* Shortest lease, in seconds: a node renews it every lease/3. */
#define CONFIG_LEASE_MIN 5

struct config {
	char *path;		   /* owned: file it was loaded from, or NULL */
	unsigned set;		   /* DC_* bits */
	char *socket;		   /* owned, NULL = default */
	char *state_dir;	   /* owned, NULL = default */
	unsigned socket_mode;	   /* default 0660 */
	char *socket_group;	   /* owned, default "jobd" */
	char *admin_group;	   /* owned, NULL/empty = root only */
	bool synchronous_full;	   /* default true */
	double shutdown_timeout;   /* 30 */
	double kill_grace;	   /* 5 */
	int64_t max_log_bytes;	   /* 16M */
	int64_t max_result_bytes;  /* 64K: most of $JOBD_RESULT read */
	int64_t max_request_bytes; /* 4M */
	int max_connections;	   /* 256 */
	double request_timeout;	   /* 30 */
	double retention;	   /* 7d in seconds; 0 = keep */
	double prune_interval;	   /* 5: seconds between retention passes */
	bool debug;
	double slow_callback_ms;   /* 100 */
	int log_level;		   /* enum log_level, default LOG_LEVEL_INFO */
	int cgroups;		   /* enum config_cgroups, default auto */
	char *cgroup_root;	   /* owned, NULL = none (delegation) */
	int store;		   /* enum config_store, default sqlite */
	char *database;		   /* owned: libpq connection string, NULL =
				      unset (required by postgres) */
	char *node_name;	   /* owned, NULL = the host name (see
				      config_node_name) */
	double lease;		   /* s, default 60, >= CONFIG_LEASE_MIN */
	double rescue_grace;	   /* s, default 5 */
	struct queue_conf *queues; /* owned array */
	size_t nqueues;
	json_t *producers;   /* owned: array of producer objects (SPEC 4 shape)
			      from [producer NAME] sections */
	int *producer_lines; /* owned: line of each [producer] section, parallel
			      to producers */
};

/* Fills c (the caller's) with every default: no queues, an empty producers
 * array.  Release with config_destroy(). */
void config_init(struct config *c);

/* Reads the INI file at path (borrowed) into c, which must be
 * config_init'ed; keys the file sets overwrite c's, and [queue X] sections
 * of one name merge.  A missing file (ENOENT) returns 0 and changes
 * nothing.  An unreadable file is -1 with diag E_IO; a syntax or value error
 * is -1 with diag E_INVAL "PATH:LINE: reason" (c may then be partly
 * filled: destroy it).  On success c->path is set to a copy of path. */
int config_load(struct config *c, const char *path);

/* Writes the effective config c to f as INI that config_load accepts. */
void config_print(const struct config *c, FILE *f);

/* True when name is a valid node_name: 1 to CONFIG_NODE_NAME_MAX bytes of
 * [A-Za-z0-9._-]. */
bool config_node_name_valid(const char *name);

/* The node name c (borrowed) gives: its node_name, else the host name
 * (gethostname) cut to CONFIG_NODE_NAME_MAX bytes.  Writes it with its NUL
 * into buf, of n >= CONFIG_NODE_NAME_MAX + 1 bytes.  Returns 0, or -1 with
 * diag E_INVAL when the host name is not a valid node name (the message
 * names it and says to set node_name), E_IO when it cannot be read.
 * Reads the host name each time it is called: nothing is cached. */
int config_node_name(const struct config *c, char *buf, size_t n);

/* Gives nc (a config just loaded for a reload) the running config old's
 * values of the keys that take effect at start only and that the daemon
 * reads while it runs: store, database, node_name, lease and rescue_grace.
 * Returns true when nc's file had set any of them to another value.  Both
 * are borrowed; nc's replaced strings are freed, old's are copied. */
bool config_keep_start_keys(struct config *nc, const struct config *old);

/* Frees what c owns and zeroes c (config_init() it to use it again); safe
 * to call twice. */
void config_destroy(struct config *c);

/* Default config file for uid; the caller frees the string.  Root:
 * /etc/jobd/jobd.conf; others: $XDG_CONFIG_HOME/jobd/jobd.conf, else
 * $HOME/.config/jobd/jobd.conf (HOME from the password file when unset). */
char *config_default_path(uid_t uid);

/* Default state directory for uid; the caller frees it.  $STATE_DIRECTORY
 * when set (its first entry if a ':' list); else /var/lib/jobd for root;
 * else $XDG_STATE_HOME/jobd, else $HOME/.local/state/jobd. */
char *config_default_state_dir(uid_t uid);

/* Default socket path for uid; the caller frees it.
 * $RUNTIME_DIRECTORY/jobd.sock when set (first entry of a ':' list); else
 * /run/jobd/jobd.sock for root; else $XDG_RUNTIME_DIR/jobd.sock, else
 * /tmp/jobd-UID/jobd.sock. */
char *config_default_socket(uid_t uid);

#endif /* CONFIG_H_INCLUDED */
