/*
 * labels: the rules of a job's labels in one place (labels.h).  Every
 * check names the field `labels`, so a refusal reads the same whether the
 * labels came from a job spec, a queue or a filter.
 */
#include "labels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "jsonin.h"

/* jansson's iteration takes non-const objects even to read. */
static json_t *
unconst(const json_t *j)
{
	return (json_t *)(uintptr_t)j;
}

static bool
key_valid(const char *k, size_t len)
{
	/* A NUL is not among the bytes allowed. */
	if (len == 0 || len > LABELS_KEY_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Checks one pair; -1 with diag naming labels. */
static int
pair_check(const char *k, size_t klen, const json_t *v)
{
	if (!key_valid(k, klen))
		return diag_set(E_INVAL,
				"labels: key \"%.*s\" must be 1 to %d of a-z "
				"0-9 _ . -",
				klen > 80 ? 80 : (int)klen, k, LABELS_KEY_MAX);
	if (!json_is_string(v))
		return diag_set(E_INVAL, "labels: %s must be a string", k);
	if (json_string_length(v) > LABELS_VALUE_MAX)
		return diag_set(E_INVAL, "labels: %s must be at most %d bytes",
				k, LABELS_VALUE_MAX);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return diag_set(E_INVAL, "labels: %s contains a NUL byte", k);
	return 0;
}

int
labels_check(const json_t *v)
{
	void *it;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return diag_set(E_INVAL,
				"labels: must be an object of strings");
	if (json_object_size(v) > LABELS_MAX)
		return diag_set(E_INVAL, "labels: at most %d labels",
				LABELS_MAX);
	for (it = json_object_iter(unconst(v)); it != NULL;
	     it = json_object_iter_next(unconst(v), it)) {
		if (pair_check(json_object_iter_key(it),
			       json_object_iter_key_len(it),
			       json_object_iter_value(it)) != 0)
			return -1;
	}
	return 0;
}

/* Pairs by key: a pair starts with its key. */
static int
by_key(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

int
labels_parse(const json_t *v, struct labels *l)
{
	const char *k;
	json_t *val;

	memset(l, 0, sizeof(*l));
	if (labels_check(v) != 0)
		return -1;
	if (v == NULL || json_is_null(v))
		return 0;
	json_object_foreach (unconst(v), k, val) {
		/* Checked above: each fits, zero-padded by the memset. */
		memcpy(l->pair[l->n].key, k, strlen(k));
		memcpy(l->pair[l->n].value, json_string_value(val),
		       json_string_length(val));
		l->n++;
	}
	qsort(l->pair, (size_t)l->n, sizeof(l->pair[0]), by_key);
	return 0;
}

bool
labels_is_empty(const struct labels *l)
{
	return l->n == 0;
}

json_t *
labels_to_json(const struct labels *l)
{
	json_t *o = json_object();

	for (int i = 0; i < l->n; i++)
		json_object_set_new(o, l->pair[i].key,
				    json_string(l->pair[i].value));
	return o;
}

char *
labels_to_text(const struct labels *l)
{
	json_t *o;
	char *t;

	if (l->n == 0)
		return NULL;
	o = labels_to_json(l);
	t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return t;
}

char *
labels_pair_text(const struct labels *l, int i)
{
	json_t *o = json_object();
	char *t;
	size_t n;

	json_object_set_new(o, l->pair[i].key, json_string(l->pair[i].value));
	t = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (t == NULL)
		abort(); /* out of memory: what xmem does */
	/* "{" and "}" dropped. */
	n = strlen(t);
	memmove(t, t + 1, n - 2);
	t[n - 2] = '\0';
	return t;
}

void
labels_load(const char *text, struct labels *l)
{
	json_t *o = text != NULL ? jsonin_loadb(text, strlen(text), 0, NULL)
				 : NULL;

	if (labels_parse(o, l) != 0)
		memset(l, 0, sizeof(*l));
	json_decref(o);
}

int
labels_merge(const json_t *own, const struct labels *base, json_t **out)
{
	json_t *o = json_object();

	*out = NULL;
	for (int i = 0; i < base->n; i++)
		json_object_set_new(o, base->pair[i].key,
				    json_string(base->pair[i].value));
	if (json_is_object(own))
		json_object_update(o, unconst(own));
	if (json_object_size(o) > LABELS_MAX) {
		json_decref(o);
		return diag_set(E_INVAL,
				"labels: at most %d labels, the queue's "
				"included",
				LABELS_MAX);
	}
	if (json_object_size(o) == 0) {
		json_decref(o);
		return 0;
	}
	*out = o;
	return 0;
}

bool
labels_match(const json_t *labels, const struct labels *filter)
{
	for (int i = 0; i < filter->n; i++) {
		const char *v = json_string_value(
			json_object_get(labels, filter->pair[i].key));

		if (v == NULL || strcmp(v, filter->pair[i].value) != 0)
			return false;
	}
	return true;
}

/* Blanks (space, tab) dropped from both ends of [*p, *e). */
static void
trim(const char **p, const char **e)
{
	while (*p < *e && (**p == ' ' || **p == '\t'))
		(*p)++;
	while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

int
labels_config(const char *text, struct labels *l)
{
	const char *p = text, *end = text + strlen(text);
	json_t *o;
	int rc;

	trim(&p, &end);
	if (p < end && *p == '{') {
		o = jsonin_loadb(p, (size_t)(end - p), 0, NULL);
		if (o == NULL)
			return diag_set(E_INVAL, "labels: not a JSON object");
		rc = labels_parse(o, l);
		json_decref(o);
		return rc;
	}
	o = json_object();
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end, *eq, *ke, *vs, *ve;
		char key[LABELS_KEY_MAX + 1];

		eq = memchr(p, '=', (size_t)(stop - p));
		if (eq == NULL) {
			json_decref(o);
			return diag_set(E_INVAL, "labels: must be KEY=VALUE, "
						 "separated by commas");
		}
		ke = eq;
		trim(&p, &ke);
		vs = eq + 1;
		ve = stop;
		trim(&vs, &ve);
		if (!key_valid(p, (size_t)(ke - p))) {
			json_decref(o);
			return diag_set(E_INVAL,
					"labels: key \"%.*s\" must be 1 to %d "
					"of a-z 0-9 _ . -",
					(int)(ke - p > 80 ? 80 : ke - p), p,
					LABELS_KEY_MAX);
		}
		memcpy(key, p, (size_t)(ke - p));
		key[ke - p] = '\0';
		if (json_object_set_new(
			    o, key, json_stringn(vs, (size_t)(ve - vs))) != 0) {
			json_decref(o);
			return diag_set(E_INVAL,
					"labels: %s must be UTF-8 text", key);
		}
		p = comma ? comma + 1 : end;
	}
	rc = labels_parse(o, l);
	json_decref(o);
	return rc;
}

json_t *
labels_from_text(const char *text)
{
	struct labels l;

	if (text == NULL)
		return NULL;
	labels_load(text, &l);
	return labels_is_empty(&l) ? NULL : labels_to_json(&l);
}
