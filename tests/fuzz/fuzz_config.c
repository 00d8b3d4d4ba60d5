/*
 * fuzz_config: the configuration parser under libFuzzer.
 *
 * Every input is loaded as a configuration file.  One that loads must
 * print (config_print) to a text that loads again and prints the same
 * text: shmpoold --print-config promises that its output is a valid
 * configuration equal to the one in effect.  A text that fails either way
 * traps, so libFuzzer reports it with the input that caused it.
 */
#include "config.h"
#include "log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_NAME "fuzz.conf"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Print cfg into a new NUL-terminated string; NULL when out of memory. */
static char *config_text(const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		return NULL;
	if (config_print(f, cfg) < 0) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* A parse error is the expected outcome of most inputs; keep the
	 * fuzzer's output for what matters. */
	log_set_level(LOG_LEVEL_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config first, second;
	char err[1024];
	char *input, *text1, *text2;
	size_t len1, len2;

	input = malloc(size + 1);
	if (!input)
		return 0;
	memcpy(input, data, size);
	input[size] = '\0';
	if (config_load_string(input, CONFIG_NAME, &first, err, sizeof(err)) < 0) {
		free(input);
		return 0;
	}
	free(input);

	text1 = config_text(&first, &len1);
	if (!text1)
		__builtin_trap();
	if (config_load_string(text1, CONFIG_NAME, &second, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_config: printed configuration does not load: %s\n%s", err,
			text1);
		__builtin_trap();
	}
	text2 = config_text(&second, &len2);
	if (!text2)
		__builtin_trap();
	if (len1 != len2 || memcmp(text1, text2, len1) != 0) {
		fprintf(stderr, "fuzz_config: printing is not stable\n--- first:\n%s--- second:\n%s",
			text1, text2);
		__builtin_trap();
	}
	free(text1);
	free(text2);
	config_free(&first);
	config_free(&second);
	return 0;
}
