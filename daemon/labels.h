/*
 * labels: a job's labels (key: value strings), checked, merged and
 * matched.  The same rules serve a job spec's `labels`, a queue's default
 * labels (the queue field and the config key), and a labels filter (the
 * `labels` argument of list, watch and wait): at most LABELS_MAX pairs,
 * keys of 1 to 64 of [a-z0-9_.-], values strings of at most 256 bytes
 * without NUL.  Pure: jansson only, no store, no loop.
 */
#ifndef LABELS_H_INCLUDED
#define LABELS_H_INCLUDED

#include <stdbool.h>

#include <jansson.h>

/* Most pairs of a job's labels (its own and its queue's together), of a
 * queue's, and of a filter. */
#define LABELS_MAX 16
/* Longest key and value, in bytes. */
#define LABELS_KEY_MAX 64
#define LABELS_VALUE_MAX 256

/* A set of labels held by value, pairs sorted by key, every byte past a
 * string's end zero: two sets with the same pairs compare equal with
 * memcmp (a queue's settings are compared so). */
struct labels {
	int n;
	struct {
		char key[LABELS_KEY_MAX + 1];
		char value[LABELS_VALUE_MAX + 1];
	} pair[LABELS_MAX];
};

/* Checks v (borrowed): an object of at most LABELS_MAX valid pairs; JSON
 * null counts as no labels.  -1 with diag E_INVAL naming `labels` ("labels:
 * key \"A\" must be 1 to 64 of a-z 0-9 _ . -"). */
int labels_check(const json_t *v);
/* Checks v as labels_check() does and fills l (the caller's) with its
 * pairs; l is emptied first. */
int labels_parse(const json_t *v, struct labels *l);
/* True when l holds no pair. */
bool labels_is_empty(const struct labels *l);
/* l as a new JSON object (caller decrefs), {} when empty. */
json_t *labels_to_json(const struct labels *l);
/* l as the compact JSON text stored (caller frees), keys sorted; NULL when
 * l is empty. */
char *labels_to_text(const struct labels *l);
/* Pair i of l as it reads inside labels_to_text's text, or a job's stored
 * labels (written by jansson, compact): "\"k\":\"v\"" (caller frees).
 * That text is in a stored object's text exactly when the object holds
 * the pair: SQLite's listing filters with it. */
char *labels_pair_text(const struct labels *l, int i);
/* Reads back text (stored by labels_to_text; NULL or not valid: empty). */
void labels_load(const char *text, struct labels *l);
/* A job's stored labels (text as labels_load reads it; NULL: none) as a
 * new object (caller decrefs), or NULL when it holds no pair. */
json_t *labels_from_text(const char *text);
/* The labels of a job whose spec gave own (a checked object, borrowed; NULL:
 * none) in a queue whose defaults are base: own's pairs over base's, own's
 * value winning on a shared key.  A new object in *out (caller decrefs;
 * NULL when there is no pair at all).  -1 with E_INVAL naming `labels` when
 * the two together hold more than LABELS_MAX pairs. */
int labels_merge(const json_t *own, const struct labels *base, json_t **out);
/* True when the object labels (a job object's `labels`, borrowed; NULL or
 * not an object: none) holds every pair of filter with the same value; an
 * empty filter matches every job. */
bool labels_match(const json_t *labels, const struct labels *filter);
/* Reads the config file's form of a queue's labels into l: "k=v,k2=v2"
 * (blanks around keys and values dropped; a value cannot hold a comma),
 * or a JSON object ("{\"k\": \"v, with a comma\"}"); empty: none.  -1 with
 * diag E_INVAL ("labels: ..."). */
int labels_config(const char *text, struct labels *l);

#endif /* LABELS_H_INCLUDED */
