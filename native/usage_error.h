/* The one-line usage error of schedsim's native programs: "PROG: message (see --help)" on
 * stderr and exit status EXIT_USAGE. The including file defines PROG and EXIT_USAGE first. */
#ifndef SCHEDSIM_USAGE_ERROR_H
#define SCHEDSIM_USAGE_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see --help)\n");
	exit(EXIT_USAGE);
}

#endif
