/*
 * wait_task: the waiting task of emulated-scale live runs.
 *
 * It writes --bytes bytes to --out, then sleeps until --seconds have passed
 * since it started, and prints one JSON line of metrics on stdout. Its time is
 * the given time (unless writing alone takes longer), not CPU work, so many of
 * them can run on one host without competing for its CPUs; the platform then
 * brings the output back as it would a real task's.
 *
 * Exit status: 0 success, 1 runtime failure (I/O), 2 bad command line (one
 * line on stderr).
 */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "wait_task"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define CHUNK 65536

static const char *usage_text =
	"usage: wait_task --seconds S [--bytes B] --out FILE\n"
	"  --seconds S   how long the task lasts, start to exit (a number >= 0)\n"
	"  --bytes B     bytes written to FILE first (an integer >= 0, default 0)\n"
	"  --out FILE    the task's output file (created even when B is 0)\n";

#include "usage_error.h"

static double parse_seconds(const char *text)
{
	char *end = NULL;
	errno = 0;
	double v = *text ? strtod(text, &end) : -1.0;
	if (!*text || !end || *end || errno == ERANGE || !isfinite(v) || v < 0.0 || v > 1e9 ||
	    text[0] == ' ' || text[0] == '\t')
		usage_error("--seconds expects a number of seconds >= 0, got '%s'", text);
	return v;
}

static uint64_t parse_bytes(const char *text)
{
	int ok = *text && strlen(text) <= 19;
	for (const char *p = text; *p; p++)
		ok = ok && *p >= '0' && *p <= '9';
	if (!ok)
		usage_error("--bytes expects an integer >= 0, got '%s'", text);
	return (uint64_t)strtoull(text, NULL, 10);
}

static double since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* Bytes that do not compress: a stream can be neither sparse nor shrunk on its way back. */
static void fill(unsigned char *buf, size_t n, uint64_t *state)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t x = *state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		buf[i] = (unsigned char)(x >> 56);
	}
}

int main(int argc, char **argv)
{
	const char *seconds_text = NULL, *bytes_text = "0", *out = NULL;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		}
		const char **slot = !strcmp(arg, "--seconds") ? &seconds_text
				    : !strcmp(arg, "--bytes") ? &bytes_text
				    : !strcmp(arg, "--out")   ? &out
							      : NULL;
		if (!slot)
			usage_error("unknown option '%s'", arg);
		if (i + 1 >= argc)
			usage_error("%s needs a value", arg);
		*slot = argv[++i];
	}
	if (!seconds_text)
		usage_error("missing required option --seconds");
	if (!out || !*out)
		usage_error("missing required option --out");
	const double seconds = parse_seconds(seconds_text);
	const uint64_t bytes = parse_bytes(bytes_text);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	FILE *f = fopen(out, "wb");
	if (!f) {
		fprintf(stderr, PROG ": cannot write --out '%s': %s\n", out, strerror(errno));
		return EXIT_USAGE;
	}
	static unsigned char buf[CHUNK];
	uint64_t state = 0x9E3779B97F4A7C15u;
	fill(buf, CHUNK, &state);
	int ok = 1;
	for (uint64_t left = bytes; ok && left > 0;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		ok = fwrite(buf, 1, n, f) == n;
		left -= n;
	}
	ok = fclose(f) == 0 && ok;
	if (!ok) {
		fprintf(stderr, PROG ": writing '%s' failed: %s\n", out, strerror(errno));
		return EXIT_RUNTIME;
	}
	const double write_s = since(&t0);

	/* An absolute deadline: a signal that interrupts the sleep does not stretch it. */
	struct timespec deadline = t0;
	double whole = floor(seconds);
	deadline.tv_sec += (time_t)whole;
	deadline.tv_nsec += (long)((seconds - whole) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec += 1;
		deadline.tv_nsec -= 1000000000L;
	}
	int rc;
	while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL)) == EINTR)
		;
	if (rc != 0) {
		fprintf(stderr, PROG ": sleep failed: %s\n", strerror(rc));
		return EXIT_RUNTIME;
	}
	printf("{\"seconds\":%.9f,\"bytes_out\":%llu,\"write_s\":%.9f,\"total_s\":%.9f}\n", seconds,
	       (unsigned long long)bytes, write_s, since(&t0));
	return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}
