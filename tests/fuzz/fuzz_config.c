/*
 * fuzz_config: config_load() on the input as a config file.  A refusal
 * must be E_INVAL naming the file; an accepted file must hold what
 * config.h promises, and config_print() must write a file that loads to
 * the same config (printing it again gives the same text).
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "fuzz.h"
#include "jobspec.h"
#include "log.h"

static char dir[PATH_MAX];
static char conf_path[PATH_MAX + 32];
static char printed_path[PATH_MAX + 32];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/jobd-fuzz-config-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(conf_path, sizeof(conf_path), "%s/jobd.conf", dir);
	snprintf(printed_path, sizeof(printed_path), "%s/printed.conf", dir);
	log_init(LOG_LEVEL_ERROR);
	return 0;
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "we");
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fwrite(p, 1, n, f) == n);
	FUZZ_CHECK(fclose(f) == 0);
}

/* c printed into a new string (caller frees). */
static char *
print(const struct config *c)
{
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	FUZZ_CHECK(f != NULL);
	config_print(c, f);
	FUZZ_CHECK(fclose(f) == 0);
	return text;
}

/* The printed text without its "# loaded from PATH" line. */
static const char *
body(const char *text)
{
	if (strncmp(text, "# loaded from ", 14) != 0)
		return text;
	const char *nl = strchr(text, '\n');
	return nl ? nl + 1 : "";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c, again;

	write_file(conf_path, data, size);
	config_init(&c);
	diag_clear();
	if (config_load(&c, conf_path) != 0) {
		FUZZ_CHECK(diag_code() == E_INVAL);
		FUZZ_CHECK(strncmp(diag_msg(), conf_path, strlen(conf_path)) ==
			   0);
		config_destroy(&c);
		unlink(conf_path);
		return 0;
	}
	for (size_t i = 0; i < c.nqueues; i++)
		FUZZ_CHECK(jobspec_queue_name_valid(c.queues[i].name));
	FUZZ_CHECK(json_is_array(c.producers));
	char *text = print(&c);
	write_file(printed_path, text, strlen(text));
	config_init(&again);
	if (config_load(&again, printed_path) != 0) {
		fprintf(stderr, "printed config refused: %s\n%s", diag_msg(),
			text);
		abort();
	}
	char *text2 = print(&again);
	if (strcmp(body(text), body(text2)) != 0) {
		fprintf(stderr,
			"printed config changed on reload:\n%s\n"
			"----\n%s",
			text, text2);
		abort();
	}
	free(text);
	free(text2);
	config_destroy(&again);
	config_destroy(&c);
	unlink(conf_path);
	unlink(printed_path);
	return 0;
}
