/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Signals for the commands that freeze.  Until the guardian is forked the
 * process stays single-threaded (fork copies only the calling thread, and a
 * lock held by another one would stay locked in the guardian), so early
 * signals get a plain handler that ends the process: nothing is frozen yet.
 * Once prepared, one thread takes SIGINT, SIGTERM and SIGHUP, kills the
 * window's process group, closes the window (thaws) and lets the command
 * finish its steps; the exit code is then 128 + the signal.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "cli.h"

static struct {
	pthread_t thread;
	bool taken;
	_Atomic int signo;
	_Atomic bool received;
	_Atomic pid_t sender;
	struct frz_freeze *_Atomic freeze;
	_Atomic pid_t child_pgid;
	sigset_t set;
} sig;

static void *signal_thread(void *arg)
{
	(void)arg;
	for (;;) {
		siginfo_t si;
		int s = sigwaitinfo(&sig.set, &si), expected = 0;
		if (s < 0)
			continue;
		if (atomic_compare_exchange_strong(&sig.signo, &expected, s))
			atomic_store(&sig.sender, si.si_pid);
		atomic_store(&sig.received, true);
		pid_t pgid = atomic_load(&sig.child_pgid);
		if (pgid > 0)
			kill(-pgid, SIGKILL);
		struct frz_freeze *f = atomic_load(&sig.freeze);
		if (f)
			frz_freeze_abort(f);
	}
	return NULL;
}

static void early_signal(int signo)
{
	pid_t pgid = atomic_load(&sig.child_pgid);

	if (pgid > 0)
		kill(-pgid, SIGKILL);
	_exit(128 + signo);
}

/* Mark only (async-signal-safe: lock-free atomics), and stop the child. */
static void early_signal_soft(int signo, siginfo_t *si, void *context)
{
	int expected = 0;
	pid_t pgid = atomic_load(&sig.child_pgid);

	(void)context;
	if (atomic_compare_exchange_strong(&sig.signo, &expected, signo))
		atomic_store(&sig.sender, si ? si->si_pid : 0);
	atomic_store(&sig.received, true);
	if (pgid > 0)
		kill(-pgid, SIGKILL);
}

void cli_signals_early_soft(void)
{
	struct sigaction sa = { .sa_sigaction = early_signal_soft, .sa_flags = SA_SIGINFO };

	cli_signals_early();
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_signals_early(void)
{
	struct sigaction sa = { .sa_handler = early_signal };

	sigemptyset(&sig.set);
	sigaddset(&sig.set, SIGINT);
	sigaddset(&sig.set, SIGTERM);
	sigaddset(&sig.set, SIGHUP);
	sigfillset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_signals_take(void)
{
	pthread_attr_t attr;

	if (sig.taken)
		return;
	sig.taken = true;
	pthread_sigmask(SIG_BLOCK, &sig.set, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_create(&sig.thread, &attr, signal_thread, NULL);
	pthread_attr_destroy(&attr);
}

void cli_signals_set_window(struct frz_freeze *f)
{
	atomic_store(&sig.freeze, f);
	/* A signal taken just before the window was registered still closes it. */
	if (f && atomic_load(&sig.received))
		frz_freeze_abort(f);
}

void cli_signals_set_child_pgid(pid_t pgid)
{
	atomic_store(&sig.child_pgid, pgid);
}

bool cli_signal_received(void)
{
	return atomic_load(&sig.received);
}

const _Atomic bool *cli_signal_flag(void)
{
	return &sig.received;
}

int cli_exit_for_signal_or(int code)
{
	static bool said;
	int s = atomic_load(&sig.signo);

	if (!s)
		return code;
	if (!said) {
		fprintf(stderr, "freezeshim: stopped by SIG%s from pid %d\n",
			sigabbrev_np(s) ? sigabbrev_np(s) : "?", (int)atomic_load(&sig.sender));
		said = true;
	}
	return 128 + s;
}
