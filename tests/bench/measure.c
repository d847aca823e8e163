// SPDX-License-Identifier: GPL-2.0
/*
 * measure - run a command a number of times and print its cost.
 *
 *   measure [-n RUNS] -- CMD ARGS...
 *
 * Runs CMD RUNS times (default 15), one after the other, with stdout on
 * /dev/null (stdin and stderr are inherited), and prints one line
 *
 *   median_ms=M min_ms=N maxrss_mib=R
 *
 * with the median and the minimum wall-clock time of a run and the largest
 * peak resident set size of any run (wait4() ru_maxrss).  The kernel folds
 * the memory the child had before exec into ru_maxrss; posix_spawn() keeps
 * that to measure's own ~1.3 MiB, the floor of the RSS figure.  Exits 0, or
 * 1 as soon as a run fails (non-zero exit, killed by a signal, cannot be
 * started); never judges the figures.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RUNS	15
#define MAX_RUNS	100000

extern char **environ;

static void usage(void)
{
	fprintf(stderr, "usage: measure [-n RUNS] -- CMD [ARGS...]\n");
	exit(2);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	posix_spawn_file_actions_t fa;
	long runs = DEFAULT_RUNS, maxrss = 0;
	double *ms, median;
	char *end;
	int opt, i;

	while ((opt = getopt(argc, argv, "+n:h")) != -1) {
		switch (opt) {
		case 'n':
			errno = 0;
			runs = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || runs < 1 ||
			    runs > MAX_RUNS) {
				fprintf(stderr, "measure: bad RUNS '%s'\n",
					optarg);
				usage();
			}
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	argv += optind;

	ms = calloc(runs, sizeof(*ms));
	if (!ms) {
		perror("measure");
		return 1;
	}
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					     O_WRONLY, 0)) {
		perror("measure: posix_spawn_file_actions");
		return 1;
	}

	for (i = 0; i < runs; i++) {
		struct rusage ru;
		double t0, t1;
		pid_t pid;
		int err, status;

		t0 = now_ms();
		err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
		if (err) {
			fprintf(stderr, "measure: cannot run %s: %s\n",
				argv[0], strerror(err));
			return 1;
		}
		while (wait4(pid, &status, 0, &ru) < 0) {
			if (errno != EINTR) {
				perror("measure: wait4");
				return 1;
			}
		}
		t1 = now_ms();
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "measure: %s killed by signal %d (run %d)\n",
				argv[0], WTERMSIG(status), i + 1);
			return 1;
		}
		if (WEXITSTATUS(status)) {
			fprintf(stderr, "measure: %s exited %d (run %d)\n",
				argv[0], WEXITSTATUS(status), i + 1);
			return 1;
		}
		ms[i] = t1 - t0;
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
	}

	qsort(ms, runs, sizeof(*ms), cmp_double);
	median = runs % 2 ? ms[runs / 2] :
			    (ms[runs / 2 - 1] + ms[runs / 2]) / 2;
	printf("median_ms=%.2f min_ms=%.2f maxrss_mib=%.2f\n",
	       median, ms[0], maxrss / 1024.0);
	posix_spawn_file_actions_destroy(&fa);
	free(ms);
	return 0;
}
