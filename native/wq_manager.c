/*
 * wq_manager: the Work Queue side of the benchmark, written against the
 * CCTools C API (work_queue.h).
 *
 * It submits K tasks that each run compress_task (sent to every worker once, as
 * a cached input file), or with --wait-times the waiting task wait_task, waits
 * for them, and prints JSON lines on stdout:
 *
 *   {"event":"listening","port":P}        first, so a launcher can start workers
 *   {"event":"task_done",...}             one per returned task, with Work
 *                                         Queue's own timing fields
 *   {"event":"summary",...}               last
 *
 * It listens on 127.0.0.1 unless --address says otherwise: the 9.9 API binds
 * every interface (work_queue_create calls link_serve), so link_serve is
 * wrapped at link time (-Wl,--wrap=link_serve, see CMakeLists.txt) to bind the
 * chosen address instead.
 *
 * Exit status: 0 all tasks succeeded, 1 some task failed or a runtime error,
 * 2 bad command line, 3 --timeout expired, 130/143 interrupted by SIGINT/SIGTERM.
 * Every error is one line on stderr.
 */

#define _POSIX_C_SOURCE 200809L

#include "work_queue.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define PROG "wq_manager"
#define EXIT_TASK_FAILED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define MAX_TASKS 1000000
#define REMOTE_BINARY "compress_task"
#define REMOTE_WAIT_BINARY "wait_task"
#define DEFAULT_ADDRESS "127.0.0.1"

static const char *usage_text =
	"usage: wq_manager --tasks K (--n N --tolerance T | --wait-times FILE [--output-bytes B])\n"
	"                  --task-binary PATH --out-dir DIR\n"
	"                  [--port P] [--address A] [--password FILE] [--max-retries R]\n"
	"                  [--seed-base S]\n"
	"                  [--timeout SECONDS] [--transactions-log FILE] [--stats-log FILE]\n"
	"  --tasks K              number of tasks to submit\n"
	"  --n N                  values per task (passed to compress_task --n)\n"
	"  --tolerance T          zfp accuracy (passed to compress_task --tolerance)\n"
	"  --wait-times FILE      run the waiting task instead: line i of FILE is task i's time\n"
	"                         in seconds (passed to wait_task --seconds)\n"
	"  --output-bytes B       bytes each waiting task writes and returns (default 0)\n"
	"  --task-binary PATH     the task's executable (compress_task, or wait_task with\n"
	"                         --wait-times), sent to each worker once (cached)\n"
	"  --out-dir DIR          where task outputs task_<i>.zfp (task_<i>.out) land (created if\n"
	"                         missing)\n"
	"  --port P               listening port; 0 (default) lets Work Queue pick one\n"
	"  --address A            listen on this IPv4 address only (default " DEFAULT_ADDRESS ");\n"
	"                         'any' for every interface\n"
	"  --password FILE        password file that workers must also be given (-P)\n"
	"  --max-retries R        tries per task before WORK_QUEUE_RESULT_MAX_RETRIES;\n"
	"                         0 (default) is Work Queue's 'retry forever'\n"
	"  --seed-base S          task i runs with seed S+i (default 1)\n"
	"  --timeout SECONDS      give up (exit 3) if tasks are not all back by then\n"
	"  --transactions-log F   Work Queue transactions log\n"
	"  --stats-log F          Work Queue periodic statistics log\n";

struct options {
	long tasks;
	const char *n_text;         /* validated, passed through verbatim */
	const char *tolerance_text; /* validated, passed through verbatim */
	const char *wait_times_file;
	char **wait_texts; /* with --wait-times: task i's seconds, validated, one per task */
	const char *output_bytes_text;
	const char *task_binary;
	const char *out_dir;
	long port;
	const char *address; /* NULL: every interface */
	const char *password_file;
	long max_retries;
	uint64_t seed_base;
	double timeout_s; /* <= 0: no timeout */
	const char *transactions_log;
	const char *stats_log;
};

#include "usage_error.h"

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static uint64_t parse_u64(const char *flag, const char *text, const char *what, uint64_t lo, uint64_t hi)
{
	errno = 0;
	unsigned long long v = all_digits(text) && strlen(text) <= 20 ? strtoull(text, NULL, 10) : 0;
	if (!all_digits(text) || strlen(text) > 20 || errno == ERANGE || v < lo || v > hi)
		usage_error("%s expects %s, got '%s'", flag, what, text);
	return (uint64_t)v;
}

static double parse_positive_double(const char *flag, const char *text)
{
	char *end = NULL;
	errno = 0;
	double v = *text ? strtod(text, &end) : 0.0;
	/* Leading blanks would be skipped by strtod; refuse them, so that the text
	 * passed on to the task's shell is plain. */
	if (!*text || !end || *end || errno == ERANGE || !isfinite(v) || v <= 0.0 ||
	    isspace((unsigned char)text[0]))
		usage_error("%s expects a positive number, got '%s'", flag, text);
	return v;
}

/* mkdir -p; returns 0 or -1 with errno set. */
static int make_dirs(const char *path)
{
	char *buf = strdup(path);
	if (!buf)
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
			free(buf);
			return -1;
		}
		*p = '/';
	}
	int rc = mkdir(buf, 0777);
	free(buf);
	return rc != 0 && errno != EEXIST ? -1 : 0;
}

/* Reads one time per task (seconds >= 0, one per line) into o->wait_texts, as
 * plain numbers that can go to the worker's shell unquoted. */
static void read_wait_times(struct options *o)
{
	FILE *f = fopen(o->wait_times_file, "r");
	if (!f)
		usage_error("--wait-times '%s' is not readable: %s", o->wait_times_file, strerror(errno));
	o->wait_texts = calloc((size_t)o->tasks, sizeof(char *));
	if (!o->wait_texts) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_FAILURE);
	}
	char line[128];
	long i = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (i >= o->tasks)
			usage_error("--wait-times '%s' has more than --tasks %ld lines", o->wait_times_file, o->tasks);
		char *end = NULL;
		errno = 0;
		double v = strtod(line, &end);
		if (!end || *end || errno == ERANGE || !isfinite(v) || v < 0.0 || isspace((unsigned char)line[0]))
			usage_error("--wait-times line %ld expects a number of seconds >= 0, got '%s'", i + 1, line);
		char text[64];
		snprintf(text, sizeof(text), "%.9f", v);
		o->wait_texts[i++] = strdup(text);
	}
	fclose(f);
	if (i != o->tasks)
		usage_error("--wait-times '%s' has %ld times for --tasks %ld", o->wait_times_file, i, o->tasks);
}

static void parse_args(int argc, char **argv, struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->seed_base = 1;
	o->address = DEFAULT_ADDRESS;
	for (int i = 1; i < argc; i++) {
		char flag[64];
		const char *arg = argv[i];
		const char *value = NULL;
		if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (strncmp(arg, "--", 2) != 0)
			usage_error("unexpected argument '%s'", arg);
		const char *eq = strchr(arg, '=');
		size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (len >= sizeof(flag))
			usage_error("unknown option '%s'", arg);
		memcpy(flag, arg, len);
		flag[len] = '\0';
		static const char *known[] = {"--tasks", "--n", "--tolerance", "--task-binary", "--out-dir",
					      "--port", "--address", "--password", "--max-retries", "--seed-base",
					      "--timeout", "--transactions-log", "--stats-log", "--wait-times",
					      "--output-bytes", NULL};
		int found = 0;
		for (int k = 0; known[k]; k++)
			found = found || !strcmp(flag, known[k]);
		if (!found)
			usage_error("unknown option '%s'", flag);
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			usage_error("%s needs a value", flag);

		if (!strcmp(flag, "--tasks"))
			o->tasks = (long)parse_u64(flag, value, "a positive integer (at most 1000000)", 1, MAX_TASKS);
		else if (!strcmp(flag, "--n")) {
			parse_u64(flag, value, "a positive integer", 1, UINT64_MAX);
			o->n_text = value;
		} else if (!strcmp(flag, "--tolerance")) {
			parse_positive_double(flag, value);
			o->tolerance_text = value;
		} else if (!strcmp(flag, "--task-binary"))
			o->task_binary = value;
		else if (!strcmp(flag, "--out-dir"))
			o->out_dir = value;
		else if (!strcmp(flag, "--port"))
			o->port = (long)parse_u64(flag, value, "a port number 0-65535", 0, 65535);
		else if (!strcmp(flag, "--address")) {
			/* IPv4 only: the 9.9 library fails to listen on an IPv6 address. */
			struct in_addr buf;
			if (!strcmp(value, "any"))
				o->address = NULL;
			else if (inet_pton(AF_INET, value, &buf) == 1)
				o->address = value;
			else
				usage_error("--address expects an IPv4 address or 'any', got '%s'", value);
		} else if (!strcmp(flag, "--password"))
			o->password_file = value;
		else if (!strcmp(flag, "--max-retries"))
			o->max_retries = (long)parse_u64(flag, value, "a non-negative integer", 0, 1000000000);
		else if (!strcmp(flag, "--seed-base"))
			o->seed_base = parse_u64(flag, value, "an unsigned 64-bit integer", 0, UINT64_MAX);
		else if (!strcmp(flag, "--timeout"))
			o->timeout_s = parse_positive_double(flag, value);
		else if (!strcmp(flag, "--transactions-log"))
			o->transactions_log = value;
		else if (!strcmp(flag, "--wait-times"))
			o->wait_times_file = value;
		else if (!strcmp(flag, "--output-bytes")) {
			parse_u64(flag, value, "an integer >= 0", 0, (uint64_t)1 << 50);
			o->output_bytes_text = value;
		} else if (!strcmp(flag, "--stats-log"))
			o->stats_log = value;
	}
	if (!o->tasks)
		usage_error("missing required option --tasks");
	if (o->wait_times_file) {
		if (o->n_text || o->tolerance_text)
			usage_error("--wait-times runs the waiting task; it takes no --n or --tolerance");
		read_wait_times(o);
	} else {
		if (o->output_bytes_text)
			usage_error("--output-bytes needs --wait-times");
		if (!o->n_text)
			usage_error("missing required option --n");
		if (!o->tolerance_text)
			usage_error("missing required option --tolerance");
	}
	if (!o->task_binary)
		usage_error("missing required option --task-binary");
	if (!o->out_dir)
		usage_error("missing required option --out-dir");
	if (o->seed_base > UINT64_MAX - (uint64_t)(o->tasks - 1))
		usage_error("--seed-base %" PRIu64 " overflows with --tasks %ld", o->seed_base, o->tasks);

	struct stat st;
	if (stat(o->task_binary, &st) != 0 || !S_ISREG(st.st_mode) || access(o->task_binary, X_OK) != 0)
		usage_error("--task-binary '%s' is not an executable file", o->task_binary);
	if (o->out_dir[0] == '\0' || make_dirs(o->out_dir) != 0 || stat(o->out_dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode) || access(o->out_dir, W_OK) != 0)
		usage_error("--out-dir '%s' is not a writable directory", o->out_dir);
	if (o->password_file && access(o->password_file, R_OK) != 0)
		usage_error("--password '%s' is not readable: %s", o->password_file, strerror(errno));
}

/* ---- JSON output ------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	else if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* Writes s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static void json_string(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	while (*p) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			p++;
		} else if (c < 0x20) {
			switch (c) {
			case '\n': fputs("\\n", f); break;
			case '\r': fputs("\\r", f); break;
			case '\t': fputs("\\t", f); break;
			case '\b': fputs("\\b", f); break;
			case '\f': fputs("\\f", f); break;
			default: fprintf(f, "\\u%04x", c); break;
			}
			p++;
		} else {
			size_t n = utf8_len(p);
			if (n == 0) {
				fputs("\\ufffd", f);
				p++;
			} else {
				fwrite(p, 1, n, f);
				p += n;
			}
		}
	}
	fputc('"', f);
}

/* A strict RFC 8259 validator, used to decide whether a task's stdout can be
 * embedded verbatim as a nested JSON object. */
struct jv {
	const char *p;
	int depth;
};

static void jv_ws(struct jv *v)
{
	while (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r')
		v->p++;
}

static int jv_value(struct jv *v);

static int jv_string(struct jv *v)
{
	if (*v->p != '"')
		return 0;
	v->p++;
	for (;;) {
		unsigned char c = (unsigned char)*v->p;
		if (c == '"') {
			v->p++;
			return 1;
		}
		if (c < 0x20)
			return 0; /* includes the terminating NUL */
		if (c == '\\') {
			v->p++;
			if (*v->p == 'u') {
				for (int i = 1; i <= 4; i++) {
					char h = v->p[i];
					if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
						return 0;
				}
				v->p += 5;
			} else if (*v->p && strchr("\"\\/bfnrt", *v->p)) {
				v->p++;
			} else {
				return 0;
			}
		} else {
			size_t n = utf8_len((const unsigned char *)v->p);
			if (!n)
				return 0;
			v->p += n;
		}
	}
}

static int jv_digits(struct jv *v)
{
	const char *start = v->p;
	while (*v->p >= '0' && *v->p <= '9')
		v->p++;
	return v->p > start;
}

static int jv_number(struct jv *v)
{
	if (*v->p == '-')
		v->p++;
	if (*v->p == '0')
		v->p++;
	else if (!(*v->p >= '1' && *v->p <= '9') || !jv_digits(v))
		return 0;
	if (*v->p == '.') {
		v->p++;
		if (!jv_digits(v))
			return 0;
	}
	if (*v->p == 'e' || *v->p == 'E') {
		v->p++;
		if (*v->p == '+' || *v->p == '-')
			v->p++;
		if (!jv_digits(v))
			return 0;
	}
	return 1;
}

static int jv_literal(struct jv *v, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(v->p, word, n))
		return 0;
	v->p += n;
	return 1;
}

static int jv_container(struct jv *v, char open, char close)
{
	if (++v->depth > 64)
		return 0;
	v->p++; /* open */
	jv_ws(v);
	if (*v->p == close) {
		v->p++;
		v->depth--;
		return 1;
	}
	for (;;) {
		jv_ws(v);
		if (open == '{') {
			if (!jv_string(v))
				return 0;
			jv_ws(v);
			if (*v->p != ':')
				return 0;
			v->p++;
			jv_ws(v);
		}
		if (!jv_value(v))
			return 0;
		jv_ws(v);
		if (*v->p == ',') {
			v->p++;
		} else if (*v->p == close) {
			v->p++;
			v->depth--;
			return 1;
		} else {
			return 0;
		}
	}
}

static int jv_value(struct jv *v)
{
	switch (*v->p) {
	case '{': return jv_container(v, '{', '}');
	case '[': return jv_container(v, '[', ']');
	case '"': return jv_string(v);
	case 't': return jv_literal(v, "true");
	case 'f': return jv_literal(v, "false");
	case 'n': return jv_literal(v, "null");
	default: return jv_number(v);
	}
}

/* Returns 1 if s, surrounding whitespace aside, is exactly one JSON object. */
static int is_json_object(const char *s)
{
	struct jv v = {s, 0};
	jv_ws(&v);
	if (*v.p != '{' || !jv_value(&v))
		return 0;
	jv_ws(&v);
	return *v.p == '\0';
}

/* Embeds a task's stdout: the object itself if it is one JSON object (numbers
 * keep their exact text), else a string, else null. */
static void json_task_output(FILE *f, const char *output)
{
	if (!output) {
		fputs("null", f);
		return;
	}
	if (is_json_object(output)) {
		const char *b = output;
		const char *e = output + strlen(output);
		while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			e--;
		fwrite(b, 1, (size_t)(e - b), f);
		return;
	}
	json_string(f, output);
}

/* ---- the run ------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *output_path(const struct options *o, long index)
{
	size_t len = strlen(o->out_dir) + 64;
	char *path = malloc(len);
	if (!path) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_FAILURE);
	}
	snprintf(path, len, "%s/task_%ld.%s", o->out_dir, index, o->wait_texts ? "out" : "zfp");
	return path;
}

static void submit_all(struct work_queue *q, const struct options *o)
{
	for (long i = 0; i < o->tasks; i++) {
		char cmd[512], remote_out[64], tag[32];
		uint64_t seed = o->seed_base + (uint64_t)i;
		const char *remote_binary = o->wait_texts ? REMOTE_WAIT_BINARY : REMOTE_BINARY;
		snprintf(remote_out, sizeof(remote_out), "task_%ld.%s", i, o->wait_texts ? "out" : "zfp");
		snprintf(tag, sizeof(tag), "%ld", i);
		/* Every value was validated as a plain number, so it is safe to pass
		 * to the worker's shell as it is. */
		int w;
		if (o->wait_texts)
			w = snprintf(cmd, sizeof(cmd), "./" REMOTE_WAIT_BINARY " --seconds %s --bytes %s --out %s",
				     o->wait_texts[i], o->output_bytes_text ? o->output_bytes_text : "0", remote_out);
		else
			w = snprintf(cmd, sizeof(cmd), "./" REMOTE_BINARY " --n %s --tolerance %s --seed %" PRIu64 " --out %s",
				     o->n_text, o->tolerance_text, seed, remote_out);
		if (w < 0 || (size_t)w >= sizeof(cmd)) {
			fprintf(stderr, PROG ": task command line too long\n");
			exit(EXIT_USAGE);
		}
		struct work_queue_task *t = work_queue_task_create(cmd);
		char *local_out = output_path(o, i);
		if (!t || !work_queue_task_specify_file(t, o->task_binary, remote_binary, WORK_QUEUE_INPUT, WORK_QUEUE_CACHE) ||
		    !work_queue_task_specify_file(t, local_out, remote_out, WORK_QUEUE_OUTPUT, WORK_QUEUE_NOCACHE)) {
			fprintf(stderr, PROG ": could not create task %ld\n", i);
			exit(EXIT_FAILURE);
		}
		free(local_out);
		work_queue_task_specify_tag(t, tag);
		if (o->max_retries > 0)
			work_queue_task_specify_max_retries(t, o->max_retries);
		work_queue_submit(q, t);
	}
}

/* Earliest dispatch and latest completion over all returned tasks, in
 * microseconds since the epoch (Work Queue's clock); 0 until a task returns. */
static uint64_t first_commit_us = 0, last_done_us = 0;

/* Prints one task_done line; returns 1 if the task succeeded. */
static int report_task(const struct options *o, const struct work_queue_task *t)
{
	long index = t->tag ? strtol(t->tag, NULL, 10) : -1;
	int ok = t->result == WORK_QUEUE_RESULT_SUCCESS && t->return_status == 0;
	char *local_out = output_path(o, index);
	struct stat st;
	int have_out = stat(local_out, &st) == 0 && S_ISREG(st.st_mode);

	if (t->time_when_commit_start && (!first_commit_us || t->time_when_commit_start < first_commit_us))
		first_commit_us = t->time_when_commit_start;
	if (t->time_when_done > last_done_us)
		last_done_us = t->time_when_done;

	FILE *f = stdout;
	fprintf(f, "{\"event\":\"task_done\",\"task_index\":%ld,\"taskid\":%d,\"seed\":%" PRIu64 ",\"ok\":%s",
		index, t->taskid, o->seed_base + (uint64_t)index, ok ? "true" : "false");
	fprintf(f, ",\"result\":%d,\"result_str\":", (int)t->result);
	json_string(f, work_queue_result_str(t->result));
	fprintf(f, ",\"return_status\":%d,\"try_count\":%d", t->return_status, t->try_count);
	fputs(",\"host\":", f);
	json_string(f, t->host);
	fputs(",\"hostname\":", f);
	json_string(f, t->hostname);
	fprintf(f,
		",\"time_when_submitted_us\":%" PRIu64 ",\"time_when_commit_start_us\":%" PRIu64
		",\"time_when_commit_end_us\":%" PRIu64 ",\"time_when_retrieval_us\":%" PRIu64
		",\"time_when_done_us\":%" PRIu64 ",\"time_workers_execute_last_us\":%" PRIu64
		",\"time_workers_execute_all_us\":%" PRIu64 ",\"time_workers_execute_failure_us\":%" PRIu64,
		(uint64_t)t->time_when_submitted, (uint64_t)t->time_when_commit_start, (uint64_t)t->time_when_commit_end,
		(uint64_t)t->time_when_retrieval, (uint64_t)t->time_when_done, (uint64_t)t->time_workers_execute_last,
		(uint64_t)t->time_workers_execute_all, (uint64_t)t->time_workers_execute_failure);
	fprintf(f, ",\"bytes_sent\":%" PRId64 ",\"bytes_received\":%" PRId64 ",\"bytes_transferred\":%" PRId64,
		(int64_t)t->bytes_sent, (int64_t)t->bytes_received, (int64_t)t->bytes_transferred);
	fputs(",\"output_file\":", f);
	json_string(f, local_out);
	if (have_out)
		fprintf(f, ",\"output_bytes\":%lld", (long long)st.st_size);
	else
		fputs(",\"output_bytes\":null", f);
	fputs(",\"task_output\":", f);
	json_task_output(f, t->output);
	fputs("}\n", f);
	fflush(f);
	free(local_out);
	return ok;
}

static void report_summary(struct work_queue *q, const struct options *o, long done, long failed, double wall_s,
			   const char *stopped)
{
	struct work_queue_stats s;
	work_queue_get_stats(q, &s);
	printf("{\"event\":\"summary\",\"tasks\":%ld,\"done\":%ld,\"failed\":%ld,\"wall_s\":%.6f,\"tasks_per_s\":%.6f", o->tasks,
	       done, failed, wall_s, wall_s > 0 ? (double)done / wall_s : 0.0);
	/* wall_s counts from submission, so it includes waiting for the first
	 * worker; dispatch_span_s starts at the first dispatch instead. */
	if (first_commit_us && last_done_us >= first_commit_us)
		printf(",\"dispatch_span_s\":%.6f", (double)(last_done_us - first_commit_us) * 1e-6);
	else
		fputs(",\"dispatch_span_s\":null", stdout);
	fputs(",\"stopped\":", stdout);
	json_string(stdout, stopped);
	printf(",\"workers_joined\":%d,\"workers_removed\":%d,\"workers_lost\":%d,\"tasks_dispatched\":%d"
	       ",\"manager_bytes_sent\":%" PRId64 ",\"manager_bytes_received\":%" PRId64 "}\n",
	       s.workers_joined, s.workers_removed, s.workers_lost, s.tasks_dispatched, (int64_t)s.bytes_sent,
	       (int64_t)s.bytes_received);
	fflush(stdout);
}

/* ---- listening address ------------------------------------------------- */

struct link;
struct link *link_serve_address(const char *addr, int port);
struct link *__wrap_link_serve(int port);

static const char *listen_address = DEFAULT_ADDRESS;

/* What work_queue_create calls instead of link_serve. Port 0 means "any free
 * port" to both the 9.9 link_serve_address (a scan from TCP_LOW_PORT) and
 * later ones (the kernel picks). */
struct link *__wrap_link_serve(int port)
{
	return link_serve_address(listen_address, port > 0 ? port : 0);
}

int main(int argc, char **argv)
{
	struct options o;
	parse_args(argc, argv, &o);
	listen_address = o.address;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* -1, not 0: work_queue_create(0) would take WORK_QUEUE_PORT from the
	 * environment; -1 always scans for a free port. */
	struct work_queue *q = work_queue_create(o.port == 0 ? -1 : (int)o.port);
	if (!q) {
		fprintf(stderr, PROG ": cannot listen on %s port %ld: %s\n", o.address ? o.address : "any address",
			o.port, strerror(errno));
		return EXIT_FAILURE;
	}
	if (o.password_file && !work_queue_specify_password_file(q, o.password_file)) {
		fprintf(stderr, PROG ": cannot read password file '%s'\n", o.password_file);
		work_queue_delete(q);
		return EXIT_USAGE;
	}
	if (o.transactions_log && !work_queue_specify_transactions_log(q, o.transactions_log)) {
		fprintf(stderr, PROG ": cannot open transactions log '%s'\n", o.transactions_log);
		work_queue_delete(q);
		return EXIT_USAGE;
	}
	if (o.stats_log && !work_queue_specify_log(q, o.stats_log)) {
		fprintf(stderr, PROG ": cannot open stats log '%s'\n", o.stats_log);
		work_queue_delete(q);
		return EXIT_USAGE;
	}

	printf("{\"event\":\"listening\",\"port\":%d}\n", work_queue_port(q));
	fflush(stdout);

	const double start = now_s();
	submit_all(q, &o);

	long done = 0, failed = 0;
	const char *stopped = NULL;
	while (!work_queue_empty(q)) {
		if (stop_signal) {
			stopped = stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
			break;
		}
		int wait_s = 1; /* short, so signals and the deadline are noticed promptly */
		if (o.timeout_s > 0) {
			double left = o.timeout_s - (now_s() - start);
			if (left <= 0) {
				stopped = "timeout";
				break;
			}
		}
		struct work_queue_task *t = work_queue_wait(q, wait_s);
		if (!t)
			continue;
		if (report_task(&o, t))
			done++;
		else
			failed++;
		work_queue_task_delete(t);
	}
	const double wall_s = now_s() - start;

	report_summary(q, &o, done, failed, wall_s, stopped);
	work_queue_delete(q);

	if (stopped && !strcmp(stopped, "timeout")) {
		fprintf(stderr, PROG ": timed out after %g s with %ld of %ld tasks finished\n", o.timeout_s, done + failed,
			o.tasks);
		return EXIT_TIMEOUT;
	}
	if (stopped) {
		fprintf(stderr, PROG ": interrupted by %s with %ld of %ld tasks finished\n", stopped, done + failed, o.tasks);
		return 128 + (stop_signal ? (int)stop_signal : SIGTERM);
	}
	return failed ? EXIT_TASK_FAILED : 0;
}
