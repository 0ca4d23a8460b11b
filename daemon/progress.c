/*
 * progress: progress lines checked by hand-written scanners (a line's
 * JSON object is flat and its keys are known), so that a valid line costs
 * no allocation; jansson reads a line again only when its object is
 * asked for.  The scanners accept no more than jansson does: numbers of
 * JSON's grammar that fit (integers of at most 18 digits), strings of
 * valid UTF-8 with valid escapes (no \u0000, surrogates in pairs), no
 * key twice.
 */
#include "progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xmem.h"

enum { KEY_PERCENT, KEY_MESSAGE, KEY_CURRENT, KEY_TOTAL, NKEYS };

static const char *const keys[NKEYS] = {"percent", "message", "current",
					"total"};

/* The longest number token read. */
#define NUM_MAX 40

struct progress *
progress_new(void)
{
	return xcalloc(1, sizeof(struct progress));
}

void
progress_delete(struct progress *p)
{
	free(p);
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the well-formed UTF-8 sequence at p[0..n), 0 when there is
 * none (overlong forms, surrogates and code points above U+10FFFF are
 * not). */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
	    (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return k;
}

/* True when p[0..n) is valid UTF-8 without control characters other than
 * the tab. */
static bool
text_ok(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		/* Printable ASCII first: most messages are all of it. */
		if ((u[i] >= 0x20 && u[i] < 0x80) || u[i] == '\t') {
			i++;
			continue;
		}
		if (u[i] < 0x20)
			return false;
		size_t k = utf8_seq(u + i, n - i);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

static size_t
skip_ws(const char *p, size_t n, size_t i)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
		i++;
	return i;
}

/* The value of the number token p[0..n) (n > 0), false when it is too
 * long or not finite. */
static bool
number_value(const char *p, size_t n, double *v)
{
	char b[NUM_MAX + 1];

	if (n > NUM_MAX)
		return false;
	memcpy(b, p, n);
	b[n] = '\0';
	*v = strtod(b, NULL);
	return isfinite(*v);
}

/* Length of the JSON number at p[0..n), 0 when none starts there (or an
 * integer of more than 18 digits: jansson would refuse it). */
static size_t
scan_number(const char *p, size_t n)
{
	size_t i = 0, s;
	bool is_int = true;

	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && is_digit(p[i]))
			i++;
	else
		return 0;
	if (i < n && p[i] == '.') {
		s = ++i;
		while (i < n && is_digit(p[i]))
			i++;
		if (i == s)
			return 0;
		is_int = false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		s = i;
		while (i < n && is_digit(p[i]))
			i++;
		if (i == s)
			return 0;
		is_int = false;
	}
	if (is_int && i - (p[0] == '-') > 18)
		return 0;
	return i;
}

static bool
hex4(const char *p, size_t n, unsigned *u)
{
	*u = 0;
	if (n < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d;

		if (is_digit(c))
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		*u = *u * 16 + d;
	}
	return true;
}

/* Length of the JSON string at p[0..n) (p[0] is its quote), quotes
 * included; 0 when it is not one jansson takes. */
static size_t
scan_string(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 1;

	while (i < n) {
		unsigned c = u[i], cp, lo;

		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return 0;
		if (c >= 0x80) {
			size_t k = utf8_seq(u + i, n - i);
			if (k == 0)
				return 0;
			i += k;
			continue;
		}
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return 0;
		c = u[i + 1];
		if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
		    c == 'n' || c == 'r' || c == 't') {
			i += 2;
			continue;
		}
		if (c != 'u' || !hex4(p + i + 2, n - i - 2, &cp) || cp == 0 ||
		    (cp >= 0xdc00 && cp <= 0xdfff))
			return 0;
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (i + 6 > n || p[i] != '\\' || p[i + 1] != 'u' ||
			    !hex4(p + i + 2, n - i - 2, &lo) || lo < 0xdc00 ||
			    lo > 0xdfff)
				return 0;
			i += 6;
		}
	}
	return 0;
}

static int
key_index(const char *k, size_t n)
{
	for (int i = 0; i < NKEYS; i++)
		if (strlen(keys[i]) == n && memcmp(keys[i], k, n) == 0)
			return i;
	return -1;
}

/* One value of the object at p[i..n) for key k: its end, or 0. */
static size_t
scan_value(const char *p, size_t n, size_t i, int k)
{
	size_t e;
	double v;

	if (k == KEY_MESSAGE) {
		if (i >= n || p[i] != '"')
			return 0;
		e = scan_string(p + i, n - i);
		return e ? i + e : 0;
	}
	e = scan_number(p + i, n - i);
	if (e == 0 || !number_value(p + i, e, &v) || v < 0 ||
	    (k == KEY_PERCENT && v > 100))
		return 0;
	return i + e;
}

/* True when p[0..n), from its '{' at i, is a flat object of the known
 * keys, at least one, each once. */
static bool
json_line_ok(const char *p, size_t n, size_t i)
{
	unsigned seen = 0;

	i = skip_ws(p, n, i + 1);
	if (i < n && p[i] == '}')
		return false;
	for (;;) {
		size_t e;
		int k;

		if (i >= n || p[i] != '"' ||
		    (e = scan_string(p + i, n - i)) == 0)
			return false;
		k = key_index(p + i + 1, e - 2);
		if (k < 0 || (seen & (1u << k)))
			return false;
		seen |= 1u << k;
		i = skip_ws(p, n, i + e);
		if (i >= n || p[i] != ':')
			return false;
		i = scan_value(p, n, skip_ws(p, n, i + 1), k);
		if (i == 0)
			return false;
		i = skip_ws(p, n, i);
		if (i < n && p[i] == ',') {
			i = skip_ws(p, n, i + 1);
			continue;
		}
		return i < n && p[i] == '}' && skip_ws(p, n, i + 1) == n;
	}
}

/* A plain line: a percent, then a message. */
struct plain {
	double percent;
	bool is_int;
	const char *msg; /* NULL: none */
	size_t msg_len;
};

static bool
plain_parse(const char *p, size_t n, struct plain *pl)
{
	size_t i = skip_ws(p, n, 0), s = i, end = n;

	while (i < n && is_digit(p[i]))
		i++;
	if (i == s)
		return false;
	pl->is_int = true;
	if (i < n && p[i] == '.') {
		size_t f = ++i;
		while (i < n && is_digit(p[i]))
			i++;
		if (i == f)
			return false;
		pl->is_int = false;
	}
	if (pl->is_int && i - s <= 3) {
		/* The common case, without strtod. */
		pl->percent = 0;
		for (size_t k = s; k < i; k++)
			pl->percent = pl->percent * 10 + (p[k] - '0');
	} else if (!number_value(p + s, i - s, &pl->percent)) {
		return false;
	}
	if (pl->percent > 100)
		return false;
	if (i < n && p[i] == '%')
		i++;
	while (end > i &&
	       (p[end - 1] == ' ' || p[end - 1] == '\t' || p[end - 1] == '\r'))
		end--;
	pl->msg = NULL;
	pl->msg_len = 0;
	if (i == end)
		return true;
	if (p[i] != ' ' && p[i] != '\t')
		return false;
	i = skip_ws(p, end, i);
	pl->msg = p + i;
	pl->msg_len = end - i;
	return text_ok(pl->msg, pl->msg_len);
}

bool
progress_line_ok(const char *line, size_t len)
{
	size_t i = skip_ws(line, len, 0);
	struct plain pl;

	if (i < len && line[i] == '{')
		return json_line_ok(line, len, i);
	return plain_parse(line, len, &pl);
}

/* percent as JSON: an integer when whole. */
static json_t *
percent_json(double v)
{
	if (v == floor(v))
		return json_integer((json_int_t)v);
	return json_real(v);
}

static json_t *
json_line_json(const char *line, size_t len)
{
	json_t *in = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *out, *pct, *cur, *tot;

	if (!json_is_object(in)) {
		json_decref(in);
		return NULL;
	}
	out = json_object();
	pct = json_object_get(in, "percent");
	cur = json_object_get(in, "current");
	tot = json_object_get(in, "total");
	if (pct != NULL) {
		json_object_set(out, "percent", pct);
	} else if (cur != NULL && tot != NULL && json_number_value(tot) > 0) {
		double v = json_number_value(cur) * 100 /
			   json_number_value(tot);
		v = v > 100 ? 100 : round(v * 100) / 100;
		json_object_set_new(out, "percent", percent_json(v));
	}
	for (int k = KEY_MESSAGE; k < NKEYS; k++) {
		json_t *v = json_object_get(in, keys[k]);
		if (v != NULL)
			json_object_set(out, keys[k], v);
	}
	json_decref(in);
	return out;
}

json_t *
progress_line_json(const char *line, size_t len)
{
	size_t i = skip_ws(line, len, 0);
	struct plain pl;
	json_t *o;

	if (!progress_line_ok(line, len))
		return NULL;
	if (i < len && line[i] == '{')
		return json_line_json(line, len);
	plain_parse(line, len, &pl);
	o = json_object();
	json_object_set_new(o, "percent",
			    pl.is_int ? json_integer((json_int_t)pl.percent)
				      : json_real(pl.percent));
	if (pl.msg != NULL)
		json_object_set_new(o, "message",
				    json_stringn(pl.msg, pl.msg_len));
	return o;
}

json_t *
progress_json(const struct progress *p)
{
	return p->have ? progress_line_json(p->last, p->last_len) : NULL;
}

static void
keep(struct progress *p, const char *line, size_t len)
{
	memcpy(p->last, line, len);
	p->last[len] = '\0';
	p->last_len = len;
	p->have = true;
}

/* Reads one whole line: true when it is valid (to be kept), false when
 * it is bad (counted) or blank (skipped). */
static bool
take(struct progress *p, const char *line, size_t len)
{
	if (skip_ws(line, len, 0) == len)
		return false;
	p->seq++;
	if (len <= PROGRESS_MAX_LINE && progress_line_ok(line, len))
		return true;
	p->bad++;
	return false;
}

void
progress_feed(struct progress *p, const char *data, size_t n)
{
	const char *last = NULL;
	size_t last_len = 0;

	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t k;

		if (nl == NULL) {
			if (p->part_long ||
			    p->part_len + n > PROGRESS_MAX_LINE) {
				p->part_long = true;
				p->part_len = 0;
			} else {
				memcpy(p->part + p->part_len, data, n);
				p->part_len += n;
			}
			break;
		}
		k = (size_t)(nl - data);
		if (p->part_long || p->part_len + k > PROGRESS_MAX_LINE) {
			/* Its head came earlier: what it was is lost. */
			p->seq++;
			p->bad++;
		} else if (p->part_len > 0) {
			memcpy(p->part + p->part_len, data, k);
			p->part_len += k;
			if (take(p, p->part, p->part_len))
				keep(p, p->part, p->part_len);
		} else if (take(p, data, k)) {
			last = data;
			last_len = k;
		}
		p->part_len = 0;
		p->part_long = false;
		data += k + 1;
		n -= k + 1;
	}
	if (last != NULL)
		keep(p, last, last_len);
}

void
progress_eof(struct progress *p)
{
	if (p->part_long) {
		p->seq++;
		p->bad++;
	} else if (p->part_len > 0 && take(p, p->part, p->part_len)) {
		keep(p, p->part, p->part_len);
	}
	p->part_len = 0;
	p->part_long = false;
}
