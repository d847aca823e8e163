// SPDX-License-Identifier: GPL-2.0
/*
 * stall-probe - how long an application's writes stall, per file.
 *
 *   stall-probe [-d SECONDS] [-r READY_FILE] [-b BLOCKS] FILE...
 *
 * One thread per FILE writes 4 KiB with pwrite() and then calls
 * fdatasync(), back to back, over a ring of BLOCKS blocks (default 16)
 * that is written and fsync()ed once before the measurement, so the timed
 * writes allocate nothing on filesystems that overwrite in place.  Every
 * completed write+fdatasync is timestamped with CLOCK_MONOTONIC; the stall
 * is the longest gap between two consecutive completions, which is what a
 * database or a log writer on that filesystem would see.
 *
 * Once every thread has completed one timed operation, READY_FILE is
 * created (if given).  SIGUSR1 sets the mark: gaps that end after the
 * latest mark are the measured ones, gaps that end before it count as the
 * baseline (a harness sends it just before the tool under test starts).
 * The probe stops on SIGTERM, SIGINT or SIGHUP, or after SECONDS; an
 * operation still blocked then is waited for and counted, so a stall that
 * is cut by the stop is not lost.
 *
 * Output on stdout, one line per FILE after a '#' header:
 *
 *   FILE MAX_STALL_MS OPS BASELINE_MAX_MS FROM_MS TO_MS
 *
 * MAX_STALL_MS is the longest gap ending after the mark (all gaps when no
 * mark was set), BASELINE_MAX_MS the longest gap ending before it (0 when
 * none), FROM_MS and TO_MS the start and end of the longest gap relative
 * to the mark (to the first completion when no mark was set): FROM shows
 * when writers were first blocked, TO when they were let go again.
 *
 * Exit: 0, 1 when a write, fdatasync or open failed, 2 bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_SIZE	4096
#define DEFAULT_BLOCKS	16
#define MAX_BLOCKS	65536

struct probe {
	const char *path;
	int fd;
	pthread_t thread;
	unsigned long blocks;
	/* written by the thread only, read by main after join */
	unsigned long long ops;
	int64_t first_ns;
	int64_t max_ns, max_from_ns, max_to_ns;
	int64_t baseline_max_ns;
	int err;		/* errno of a failed write or fdatasync */
	const char *failed_call;
};

static atomic_bool stopping;
/* CLOCK_MONOTONIC ns of the latest SIGUSR1; 0 = no mark */
static _Atomic int64_t mark_ns;

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static size_t ready_threads;

static void usage(void)
{
	fprintf(stderr,
		"usage: stall-probe [-d SECONDS] [-r READY_FILE] [-b BLOCKS] FILE...\n");
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void mark_ready(void)
{
	pthread_mutex_lock(&ready_lock);
	ready_threads++;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
}

static void *probe_thread(void *arg)
{
	struct probe *p = arg;
	unsigned char buf[BLOCK_SIZE];
	int64_t last = 0, seen_mark = 0;
	unsigned long i = 0;
	bool announced = false;

	memset(buf, 0xa5, sizeof(buf));
	while (!atomic_load(&stopping)) {
		off_t off = (off_t)(i++ % p->blocks) * BLOCK_SIZE;
		int64_t t, gap, mark;

		buf[0] = (unsigned char)i;
		if (pwrite(p->fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
			p->err = errno ? errno : EIO;
			p->failed_call = "pwrite";
			break;
		}
		if (fdatasync(p->fd) < 0) {
			p->err = errno;
			p->failed_call = "fdatasync";
			break;
		}
		t = now_ns();
		p->ops++;
		if (!last) {
			p->first_ns = t;
		} else {
			gap = t - last;
			mark = atomic_load(&mark_ns);
			if (mark != seen_mark) {
				/* a new mark: what was measured so far ended
				 * before it, and becomes baseline */
				if (p->max_ns > p->baseline_max_ns)
					p->baseline_max_ns = p->max_ns;
				p->max_ns = p->max_from_ns = p->max_to_ns = 0;
				seen_mark = mark;
			}
			if (mark && t <= mark) {
				if (gap > p->baseline_max_ns)
					p->baseline_max_ns = gap;
			} else if (gap > p->max_ns) {
				p->max_ns = gap;
				p->max_from_ns = last;
				p->max_to_ns = t;
			}
		}
		last = t;
		if (!announced) {
			announced = true;
			mark_ready();
		}
	}
	if (!announced)	/* failed: main must not wait for it forever */
		mark_ready();
	return NULL;
}

/* Write every block of the ring once and make it stable, so the timed
 * overwrites allocate nothing (on filesystems that overwrite in place). */
static int prepare(struct probe *p)
{
	unsigned char buf[BLOCK_SIZE];
	unsigned long b;

	memset(buf, 0x5a, sizeof(buf));
	for (b = 0; b < p->blocks; b++) {
		if (pwrite(p->fd, buf, sizeof(buf), (off_t)b * BLOCK_SIZE) !=
		    (ssize_t)sizeof(buf)) {
			fprintf(stderr, "stall-probe: pwrite %s: %s\n", p->path,
				strerror(errno ? errno : EIO));
			return -1;
		}
	}
	if (fsync(p->fd) < 0) {
		fprintf(stderr, "stall-probe: fsync %s: %s\n", p->path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static double ms(int64_t ns)
{
	return ns / 1e6;
}

int main(int argc, char **argv)
{
	const char *ready_file = NULL;
	double duration = 0;
	unsigned long blocks = DEFAULT_BLOCKS;
	struct probe *probes;
	sigset_t sigs;
	int64_t deadline = 0, mark;
	size_t n, i;
	char *end;
	int opt, rc = 0, err;

	while ((opt = getopt(argc, argv, "d:r:b:h")) != -1) {
		switch (opt) {
		case 'd':
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(duration > 0)) {
				fprintf(stderr, "stall-probe: bad SECONDS '%s'\n",
					optarg);
				usage();
			}
			break;
		case 'r':
			ready_file = optarg;
			break;
		case 'b':
			errno = 0;
			blocks = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || blocks < 1 ||
			    blocks > MAX_BLOCKS) {
				fprintf(stderr, "stall-probe: bad BLOCKS '%s'\n",
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
	n = (size_t)(argc - optind);

	/* Signals are taken by sigtimedwait() in this thread only. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	err = pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (err) {
		fprintf(stderr, "stall-probe: pthread_sigmask: %s\n", strerror(err));
		return 1;
	}

	probes = calloc(n, sizeof(*probes));
	if (!probes) {
		perror("stall-probe");
		return 1;
	}
	for (i = 0; i < n; i++) {
		struct probe *p = &probes[i];

		p->path = argv[optind + (int)i];
		p->blocks = blocks;
		p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (p->fd < 0) {
			fprintf(stderr, "stall-probe: open %s: %s\n", p->path,
				strerror(errno));
			return 1;
		}
		if (prepare(p) < 0)
			return 1;
	}
	for (i = 0; i < n; i++) {
		err = pthread_create(&probes[i].thread, NULL, probe_thread,
				     &probes[i]);
		if (err) {
			fprintf(stderr, "stall-probe: pthread_create: %s\n",
				strerror(err));
			return 1;
		}
	}

	pthread_mutex_lock(&ready_lock);
	while (ready_threads < n)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	if (ready_file) {
		int fd = open(ready_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd < 0) {
			fprintf(stderr, "stall-probe: create %s: %s\n",
				ready_file, strerror(errno));
			rc = 1;
		} else {
			close(fd);
		}
	}

	if (duration > 0)
		deadline = now_ns() + (int64_t)(duration * 1e9);
	while (!rc) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
		int sig;

		if (deadline) {
			int64_t left = deadline - now_ns();

			if (left <= 0)
				break;
			if (left < 100000000)
				ts.tv_nsec = (long)left;
		}
		sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig == SIGUSR1)
			atomic_store(&mark_ns, now_ns());
		else if (sig > 0)
			break;
		/* a timeout or EINTR: look at the deadline again */
	}

	atomic_store(&stopping, true);
	for (i = 0; i < n; i++)
		pthread_join(probes[i].thread, NULL);

	mark = atomic_load(&mark_ns);
	printf("# path max_stall_ms ops baseline_max_ms from_ms to_ms\n");
	for (i = 0; i < n; i++) {
		struct probe *p = &probes[i];
		int64_t origin = mark ? mark : p->first_ns;

		if (p->err) {
			fprintf(stderr, "stall-probe: %s %s: %s\n",
				p->failed_call, p->path, strerror(p->err));
			rc = 1;
		}
		printf("%s %.3f %llu %.3f %.3f %.3f\n", p->path, ms(p->max_ns),
		       p->ops, ms(p->baseline_max_ns),
		       p->max_ns ? ms(p->max_from_ns - origin) : 0.0,
		       p->max_ns ? ms(p->max_to_ns - origin) : 0.0);
		close(p->fd);
	}
	free(probes);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}
