/*
 * render: terminal-safe text for jobctl's human output (see render.h).  It
 * owns the rule of what is unsafe and the forms values take for people; it
 * never decides what is shown.
 */
#include "render.h"

#include "jobctl.h"

#include "jobd/proto.h"
#include "jobd/time.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at s, or 0 when it is not one (truncated,
 * overlong, a surrogate, past U+10FFFF).  *cp gets the code point. */
static size_t
utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Whether code point c is unsafe on a terminal. */
static bool
unsafe(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
	       c == 0x200e || c == 0x200f || c == 0x061c;
}

/*
 * Writes s to f with unsafe characters escaped.  In a $'...' word (quoted),
 * the backslash and the single quote are escaped too.
 */
static void
put_escaped(FILE *f, const char *s, bool quoted)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		uint32_t c;
		size_t n = utf8_seq(p, &c);

		if (n == 0) {
			fprintf(f, "\\x%02x", *p);
			p++;
			continue;
		}
		if (!unsafe(c)) {
			if (quoted && (c == '\\' || c == '\''))
				fputc('\\', f);
			fwrite(p, 1, n, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == 0x1b) {
			fputs("\\e", f);
		} else if (c < 0x80) {
			fprintf(f, "\\x%02x", (unsigned)c);
		} else {
			fprintf(f, "\\u%04x", (unsigned)c);
		}
		p += n;
	}
}

bool
render_needs_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p != '\0') {
		uint32_t c;
		size_t n = utf8_seq(p, &c);

		if (n == 0 || unsafe(c))
			return true;
		p += n;
	}
	return false;
}

char *
render_text(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (s == NULL)
		s = "";
	if (!render_needs_escape(s)) {
		buf = strdup(s);
		if (buf == NULL)
			oom();
		return buf;
	}
	f = open_memstream(&buf, &len);
	if (f == NULL)
		oom();
	put_escaped(f, s, false);
	if (fclose(f) != 0)
		oom();
	return buf;
}

void
render_shell_word(FILE *f, const char *s)
{
	const char *p;

	if (*s != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz"
				    "0123456789_@%+=:,./-") == strlen(s)) {
		fputs(s, f);
		return;
	}
	if (render_needs_escape(s)) {
		fputs("$'", f);
		put_escaped(f, s, true);
		fputc('\'', f);
		return;
	}
	fputc('\'', f);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}

const char *
render_state_color(const char *state)
{
	if (state == NULL)
		return NULL;
	switch (jobd_state_parse(state)) {
	case JOBD_SUCCEEDED:
		return "\033[32m";
	case JOBD_FAILED:
		return "\033[31m";
	case JOBD_CANCELLED:
		return "\033[33m";
	case JOBD_RUNNING:
		return "\033[36m";
	case JOBD_WAITING:
	case JOBD_SCHEDULED:
		return "\033[34m";
	default:
		return NULL;
	}
}

size_t
render_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

size_t
render_prefix(const char *s, size_t max)
{
	size_t i = 0, n = 0;

	while (s[i] != '\0') {
		if (((unsigned char)s[i] & 0xc0) != 0x80) {
			if (n == max)
				break;
			n++;
		}
		i++;
	}
	return i;
}

void
render_duration(double secs, char *buf, size_t n)
{
	long long s;

	if (secs < 0 || !isfinite(secs)) {
		snprintf(buf, n, "-");
		return;
	}
	if (secs < 1) {
		snprintf(buf, n, "%.0fms", secs * 1000);
		return;
	}
	if (secs < 60) {
		snprintf(buf, n, "%.1fs", secs);
		return;
	}
	s = (long long)secs;
	if (s < 3600)
		snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%02lldm%02llds", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, n, "%lldd%02lldh%02lldm", s / 86400,
			 s / 3600 % 24, s / 60 % 60);
}

void
render_size(double bytes, char *buf, size_t n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%.0f B", bytes);
	else
		snprintf(buf, n, "%.1f %s", bytes, units[u]);
}

char *
render_value(const json_t *v)
{
	char *s;

	if (v == NULL || json_is_null(v))
		return dup_str("-");
	if (json_is_string(v))
		return render_text(json_string_value(v));
	if (json_is_integer(v))
		return fmt("%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return fmt("%g", json_real_value(v));
	if (json_is_boolean(v))
		return dup_str(json_is_true(v) ? "true" : "false");
	/* An object of plain values (rate, backoff, rusage, counts) reads
	 * best as key=value pairs. */
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *e;
		bool flat = true;
		json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
			if (json_is_object(e) || json_is_array(e))
				flat = false;
		}
		if (flat) {
			char *out = dup_str("");
			json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
				char *t = render_value(e);
				char *n = fmt("%s%s%s=%s", out, *out ? " " : "",
					      k, t);
				free(t);
				free(out);
				out = n;
			}
			return out;
		}
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
				  JSON_REAL_PRECISION(15));
	if (s == NULL)
		oom();
	{
		char *safe = render_text(s);

		free(s);
		return safe;
	}
}

char *
render_job_label(const json_t *job)
{
	const char *name = jstr(job, "name");
	json_t *argv = json_object_get(job, "argv");
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	size_t i;
	json_t *a;

	if (name != NULL && name[0] != '\0')
		return render_text(name);
	if (jstr(job, "shell") != NULL)
		return render_text(jstr(job, "shell"));
	if (!json_is_array(argv))
		return dup_str("-");
	f = open_memstream(&buf, &len);
	if (f == NULL)
		oom();
	json_array_foreach (argv, i, a) {
		if (i > 0)
			fputc(' ', f);
		render_shell_word(f, json_string_value(a) ? json_string_value(a)
							  : "");
	}
	if (fclose(f) != 0)
		oom();
	return buf;
}

void
render_table_add(struct render_table *t, const char *color, char **cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;

		t->cells = realloc(t->cells, cap * t->ncols * sizeof(char *));
		t->colors = realloc(t->colors, cap * sizeof(char *));
		if (t->cells == NULL || t->colors == NULL)
			oom();
		t->cap = cap;
	}
	memcpy(t->cells + t->nrows * t->ncols, cells,
	       t->ncols * sizeof(char *));
	t->colors[t->nrows++] = color;
}

void
render_table_init(struct render_table *t, size_t ncols, const char *const *head,
		  unsigned right, size_t color_col)
{
	char *cells[16];

	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->right = right;
	t->color_col = color_col;
	for (size_t i = 0; i < ncols && i < 16; i++)
		cells[i] = dup_str(head[i]);
	render_table_add(t, NULL, cells);
}

void
render_table_print(struct render_table *t, FILE *f, int cols)
{
	size_t w[16] = {0}, used = 0, last = t->ncols - 1;

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t n = render_width(t->cells[r * t->ncols + i]);

			if (n > w[i])
				w[i] = n;
		}
	for (size_t i = 0; i < last; i++)
		used += w[i] + 2;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * t->ncols + i];
			size_t n = render_width(s), pad = w[i] - n;
			const char *color = i == t->color_col ? t->colors[r]
							      : NULL;

			if (i == last) {
				if (cols > 0 && (size_t)cols > used + 4 &&
				    n > (size_t)cols - used) {
					size_t room = (size_t)cols - used - 3;

					fprintf(f, "%.*s...",
						(int)render_prefix(s, room), s);
				} else {
					fputs(s, f);
				}
				break;
			}
			if (t->right & (1u << i))
				fprintf(f, "%*s", (int)pad, "");
			if (color != NULL)
				fputs(color, f);
			fputs(s, f);
			if (color != NULL)
				fputs("\033[0m", f);
			if (!(t->right & (1u << i)))
				fprintf(f, "%*s", (int)pad, "");
			fputs("  ", f);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colors);
	memset(t, 0, sizeof(*t));
}

/* Keys whose numbers are durations, shown as jobctl takes them ("30d"). */
static const char *const duration_keys[] = {
	"timeout", "kill_grace", "every", "duration", "uptime", NULL,
};

/* v for people under key: durations, rates and backoffs in the forms
 * jobctl's options take back, the rest by render_value.  Caller frees. */
static char *
pair_text(const char *key, const json_t *v)
{
	char a[JOBD_UNIT_LEN], b[JOBD_UNIT_LEN], c[JOBD_UNIT_LEN],
		d[JOBD_UNIT_LEN];

	if (json_is_number(v) && listed(duration_keys, key)) {
		double secs = json_number_value(v);

		/* A measured duration carries float noise: milliseconds
		 * are enough for people. */
		if (strcmp(key, "duration") == 0)
			secs = round(secs * 1000) / 1000;
		if (jobd_duration_format(secs, a) != NULL)
			return dup_str(a);
	}
	if (strcmp(key, "rate") == 0 && json_is_object(v))
		return render_rate(v);
	if (strcmp(key, "backoff") == 0 && json_is_object(v))
		return fmt("%s %s %s %s",
			   jobd_duration_format(jnum(v, "base", 0), a),
			   jobd_number_format(jnum(v, "factor", 0), b),
			   jobd_duration_format(jnum(v, "max", 0), c),
			   jobd_number_format(jnum(v, "jitter", 0), d));
	return render_value(v);
}

/* Prints one "key: value" line (w: the widest key) to f. */
static void
print_pair(FILE *f, const char *key, const json_t *v, size_t w, bool color)
{
	const char *ansi = NULL;
	char *text;

	/* The environment: one KEY=VALUE a line under the key. */
	if (strcmp(key, "env") == 0 && json_is_object(v)) {
		const char *k;
		json_t *e;

		fprintf(f, "%s:\n", key);
		json_object_foreach ((json_t *)(uintptr_t)v, k, e) {
			char *sk = render_text(k);
			char *sv = render_value(e);

			fprintf(f, "  %s=%s\n", sk, sv);
			free(sk);
			free(sv);
		}
		return;
	}
	text = pair_text(key, v);
	if (color && strcmp(key, "state") == 0)
		ansi = render_state_color(json_string_value(v));
	fprintf(f, "%s:%*s %s%s%s\n", key, (int)(w - strlen(key)), "",
		ansi ? ansi : "", text, ansi ? "\033[0m" : "");
	free(text);
}

void
render_kv(FILE *f, json_t *obj, const char *const *order, bool color)
{
	size_t w = 0;
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		if (strlen(key) > w)
			w = strlen(key);
	}
	for (size_t i = 0; order[i] != NULL; i++) {
		v = json_object_get(obj, order[i]);
		if (v != NULL)
			print_pair(f, order[i], v, w, color);
	}
	json_object_foreach (obj, key, v) {
		if (!listed(order, key))
			print_pair(f, key, v, w, color);
	}
}

char *
render_percent(const json_t *progress)
{
	json_t *p = json_object_get(progress, "percent");

	if (json_is_integer(p))
		return fmt("%lld%%", (long long)json_integer_value(p));
	if (json_is_real(p))
		return fmt("%.1f%%", json_real_value(p));
	return dup_str("-");
}

char *
render_progress(const json_t *progress)
{
	json_t *cur = json_object_get(progress, "current");
	json_t *tot = json_object_get(progress, "total");
	const char *msg = jstr(progress, "message");
	char *out, *pct, *n;

	if (!json_is_object(progress))
		return dup_str("-");
	pct = render_percent(progress);
	out = strcmp(pct, "-") != 0 ? dup_str(pct) : dup_str("");
	free(pct);
	if (msg != NULL) {
		n = fmt("%s%s%s", out, *out ? " " : "", msg);
		free(out);
		out = n;
	}
	if (json_is_number(cur) || json_is_number(tot)) {
		char *c = render_value(cur), *t = render_value(tot);

		n = fmt("%s%s(%s/%s)", out, *out ? " " : "", c, t);
		free(c);
		free(t);
		free(out);
		out = n;
	}
	if (*out == '\0') {
		free(out);
		out = dup_str("-");
	}
	return out;
}

char *
render_rate(const json_t *rate)
{
	double limit = jnum(rate, "limit", 0), period = jnum(rate, "period", 1);
	json_t *burst = json_object_get(rate, "burst");
	char r[JOBD_UNIT_LEN], b[JOBD_UNIT_LEN];

	if (!json_is_object(rate))
		return dup_str("-");
	jobd_rate_format(limit, period, r);
	if (json_is_number(burst) && json_number_value(burst) != limit)
		return fmt("%s burst %s", r,
			   jobd_number_format(json_number_value(burst), b));
	return dup_str(r);
}
