/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guardian: a process forked before the first freeze that makes every
 * FIFREEZE and FITHAW of the window, and that alone.  Its threads:
 *
 *   monitor (the main thread)  polls the owner's commands, the owner's
 *                              pidfd, the deadline timer and signals, and
 *                              closes the window when one of them says so;
 *   sequencer                  runs the flush, the freeze levels and the
 *                              thaw, dispatching items to the workers;
 *   workers                    make the ioctls, one filesystem at a time.
 *
 * A FIFREEZE can block in the kernel for as long as something below it is
 * frozen by someone else; only the worker making it is stuck.  The monitor
 * still sees the deadline and the sequencer thaws everything else; the
 * stuck worker undoes its own freeze the moment the kernel lets it finish.
 * The sequencer never freezes itself, so it always remains free to thaw.
 *
 * Inside the window nothing here allocates, looks up a path or writes
 * anywhere but the shared page and the state record (pwrite on tmpfs).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>

#include "freeze-internal.h"

#define GUARDIAN_STACK_SIZE (128 * 1024)
#define GUARDIAN_MAX_WORKERS 64

enum item_op { ITEM_FLUSH, ITEM_FREEZE, ITEM_THAW };

struct guardian {
	struct frz_freeze *f;
	struct shared_window *sh;
	int sock;
	int timer_fd;
	int signal_fd;
	int wake_fd;              /* eventfd: the window closed or an operation ended after it */

	pthread_mutex_t mu;
	pthread_cond_t work_cv;   /* workers: a batch has items */
	pthread_cond_t done_cv;   /* sequencer: an item finished */
	pthread_cond_t seq_cv;    /* sequencer: a request or an abort */

	/* the current batch */
	enum item_op batch_op;
	size_t *batch_items;      /* preallocated: n_targets */
	size_t batch_n, batch_next, batch_done;
	unsigned batch_id;

	int request;              /* OP_FLUSH, OP_FREEZE, OP_THAW or 0 */
	int64_t request_arg;
	bool quit;
	bool detached;
	bool freezing_started;    /* the first freeze was dispatched */
	bool aborting;            /* close the window now */
	int abort_reason;
	bool freeze_failed;
	bool thaw_started;        /* from here on a late freeze is undone by its worker */
	bool window_closed;
	size_t running_items;     /* any ioctl or syncfs in progress, by any thread */
	size_t n_frozen_by_sequence;
	pid_t pgid;
	int owner_pidfd;
	bool owner_gone;
};

/* Let the monitor notice at once that it may be done. */
static void wake_monitor(struct guardian *g)
{
	uint64_t one = 1;

	(void)!write(g->wake_fd, &one, sizeof(one));
}

static void msg_send(struct guardian *g, int op, int result)
{
	struct guardian_msg m = { .op = op, .result = result };

	(void)!send(g->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void set_state(struct guardian *g, size_t i, enum fs_state s)
{
	atomic_store(&g->sh->fs[i].state, s);
	record_set_fs_state(g->f, i, s);
}

static void set_phase(struct guardian *g, enum window_phase p)
{
	atomic_store(&g->sh->phase, p);
	record_set_phase(g->f, p);
}

static void thaw_item(struct guardian *g, size_t i)
{
	struct shared_fs *s = &g->sh->fs[i];
	int r;

	s->thaw_start = now_ns();
	r = ioctl(g->f->targets[i].fd, FITHAW, 0);
	s->thaw_end = now_ns();
	if (r == 0 || errno == EINVAL) {
		/* EINVAL: not frozen any more; someone thawed it (sysrq-j, fsfreeze -u). */
		if (r < 0)
			s->error = EINVAL;
		set_state(g, i, FS_THAWED);
	} else {
		s->error = errno;
		atomic_fetch_add(&g->sh->thaw_failures, 1);
		set_state(g, i, FS_FROZEN);
	}
}

static void freeze_item(struct guardian *g, size_t i)
{
	const struct freeze_target *t = &g->f->targets[i];
	struct shared_fs *s = &g->sh->fs[i];
	int r, err;

	if (t->method != FRZ_METHOD_FIFREEZE) {
		/* No freeze support: flush right before the filesystems it is stored on freeze. */
		s->freeze_start = now_ns();
		r = syncfs(t->fd);
		s->freeze_end = now_ns();
		if (r < 0)
			s->error = errno;
		set_state(g, i, FS_FLUSHED);
		return;
	}

	pthread_mutex_lock(&g->mu);
	if (g->thaw_started) {
		pthread_mutex_unlock(&g->mu);
		return;
	}
	set_state(g, i, FS_FREEZING);
	pthread_mutex_unlock(&g->mu);

	s->freeze_start = now_ns();
	r = ioctl(t->fd, FIFREEZE, 0);
	err = r < 0 ? errno : 0;
	s->freeze_end = now_ns();

	pthread_mutex_lock(&g->mu);
	if (r == 0) {
		if (g->thaw_started) {
			/* The window closed while the kernel held us: undo at once. */
			set_state(g, i, FS_THAWING);
			pthread_mutex_unlock(&g->mu);
			thaw_item(g, i);
			return;
		}
		set_state(g, i, FS_FROZEN);
		g->n_frozen_by_sequence++;
	} else if (err == EBUSY) {
		s->error = EBUSY;
		set_state(g, i, FS_BUSY);
	} else if (err == EOPNOTSUPP || err == ENOTTY) {
		s->unsupported = true;
		pthread_mutex_unlock(&g->mu);
		s->freeze_start = now_ns();
		(void)syncfs(t->fd);
		s->freeze_end = now_ns();
		pthread_mutex_lock(&g->mu);
		set_state(g, i, FS_FLUSHED);
	} else {
		s->error = err;
		set_state(g, i, FS_FAILED);
		g->freeze_failed = true;
	}
	pthread_mutex_unlock(&g->mu);
}

static void flush_item(struct guardian *g, size_t i)
{
	struct shared_fs *s = &g->sh->fs[i];

	s->flush_start = now_ns();
	if (syncfs(g->f->targets[i].fd) < 0)
		s->error = errno;
	s->flush_end = now_ns();
}

static void run_item(struct guardian *g, enum item_op op, size_t i)
{
	switch (op) {
	case ITEM_FLUSH:
		flush_item(g, i);
		break;
	case ITEM_FREEZE:
		freeze_item(g, i);
		break;
	case ITEM_THAW:
		thaw_item(g, i);
		break;
	}
}

/*
 * Under g->mu: take the next item of the batch and run it with the lock
 * dropped.  An item finished after its batch was replaced (a thaw batch
 * started while a FIFREEZE was still in the kernel) does not count for the
 * new one.
 */
static void batch_run_next(struct guardian *g)
{
	size_t i = g->batch_items[g->batch_next++];
	enum item_op op = g->batch_op;
	unsigned id = g->batch_id;

	g->running_items++;
	pthread_mutex_unlock(&g->mu);
	run_item(g, op, i);
	pthread_mutex_lock(&g->mu);
	g->running_items--;
	if (id == g->batch_id)
		g->batch_done++;
	if (g->window_closed && g->running_items == 0)
		wake_monitor(g);
}

static void *worker_main(void *arg)
{
	struct guardian *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->quit && g->batch_next >= g->batch_n)
			pthread_cond_wait(&g->work_cv, &g->mu);
		if (g->quit)
			break;
		batch_run_next(g);
		pthread_cond_broadcast(&g->done_cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Under g->mu: start a batch of N items. */
static void batch_start(struct guardian *g, enum item_op op, size_t n)
{
	g->batch_op = op;
	g->batch_n = n;
	g->batch_next = 0;
	g->batch_done = 0;
	g->batch_id++;
	pthread_cond_broadcast(&g->work_cv);
}

/*
 * Under g->mu: wait for the batch.  With PARTICIPATE the sequencer takes
 * items itself (flush and thaw), so a thaw completes even when every worker
 * is stuck in a FIFREEZE; a freeze batch also ends on abort or failure.
 */
static void batch_wait(struct guardian *g, bool participate)
{
	while (g->batch_done < g->batch_n) {
		if (!participate && (g->aborting || g->freeze_failed))
			break;
		if (participate && g->batch_next < g->batch_n) {
			batch_run_next(g);
			continue;
		}
		pthread_cond_wait(&g->done_cv, &g->mu);
	}
	/* Items not taken yet are dropped: a new batch replaces them. */
	g->batch_n = g->batch_next;
}

static void kill_window_pgid(struct guardian *g)
{
	if (g->pgid > 0)
		kill(-g->pgid, SIGKILL);
}

/* Under g->mu: thaw everything we froze, highest level (the hosts) first. */
static void thaw_all(struct guardian *g, int reason)
{
	struct frz_freeze *f = g->f;

	if (g->window_closed)
		return;
	g->thaw_started = true;
	if (reason != FRZ_CLOSE_NONE) {
		int expected = FRZ_CLOSE_NONE;
		atomic_compare_exchange_strong(&g->sh->close_reason, &expected, reason);
		kill_window_pgid(g);
	}
	set_phase(g, PHASE_THAWING);
	for (unsigned level = f->n_levels; level-- > 0;) {
		size_t n = 0;
		for (size_t k = f->n_targets; k-- > 0;) {
			if (f->targets[k].level != level)
				continue;
			if (atomic_load(&g->sh->fs[k].state) != FS_FROZEN)
				continue;
			set_state(g, k, FS_THAWING);
			g->batch_items[n++] = k;
		}
		if (!n)
			continue;
		batch_start(g, ITEM_THAW, n);
		batch_wait(g, true);
	}
	md_sync_restore(f->md, f->n_md);
	rcu_restore(f);
	g->sh->window_end = now_ns();
	g->window_closed = true;
	set_phase(g, PHASE_CLOSED);
	wake_monitor(g);
}

static int close_reason_to_error(int reason)
{
	switch (reason) {
	case FRZ_CLOSE_DEADLINE:
		return -FRZ_ERR_DEADLINE;
	case FRZ_CLOSE_FREEZE_FAILED:
		return -FRZ_ERR_PAUSE_FAILED;
	case FRZ_CLOSE_NONE:
		return 0;
	default:
		return -FRZ_ERR_ABORTED;
	}
}

static void arm_deadline(struct guardian *g, uint64_t deadline)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(deadline / 1000000000u),
			      .tv_nsec = (long)(deadline % 1000000000u) },
	};

	timerfd_settime(g->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	atomic_store(&g->sh->deadline, deadline);
	record_set_deadline(g->f, deadline);
}

/* Under g->mu. */
static int run_flush(struct guardian *g)
{
	struct frz_freeze *f = g->f;
	size_t n = 0;

	set_phase(g, PHASE_FLUSHING);
	g->sh->flush_start = now_ns();
	for (size_t i = 0; i < f->n_targets; i++)
		g->batch_items[n++] = i;
	batch_start(g, ITEM_FLUSH, n);
	batch_wait(g, true);
	g->sh->flush_end = now_ns();
	set_phase(g, PHASE_PREPARED);
	return g->window_closed ? close_reason_to_error(atomic_load(&g->sh->close_reason)) : 0;
}

/* Under g->mu.  Returns once frozen, or after thawing on failure. */
static int run_freeze(struct guardian *g, uint64_t deadline)
{
	struct frz_freeze *f = g->f;

	if (g->window_closed || g->aborting)
		return close_reason_to_error(g->abort_reason ? g->abort_reason : FRZ_CLOSE_ABORT);
	arm_deadline(g, deadline);
	g->freezing_started = true;
	set_phase(g, PHASE_FREEZING);
	(void)md_sync_freeze(f->md, f->n_md);
	rcu_expedite(f);
	g->sh->window_start = now_ns();

	for (unsigned level = 0; level < f->n_levels && !g->aborting && !g->freeze_failed; level++) {
		size_t n = 0;
		for (size_t i = 0; i < f->n_targets; i++)
			if (f->targets[i].level == level)
				g->batch_items[n++] = i;
		if (f->hold_after) {
			/* Testing aid: one at a time, and stop after hold_after freezes. */
			for (size_t k = 0; k < n && !g->aborting && !g->freeze_failed; k++) {
				if (g->n_frozen_by_sequence >= f->hold_after)
					break;
				size_t item = g->batch_items[k];
				g->batch_items[0] = item;
				batch_start(g, ITEM_FREEZE, 1);
				batch_wait(g, false);
			}
			if (g->n_frozen_by_sequence >= f->hold_after) {
				while (!g->aborting)
					pthread_cond_wait(&g->seq_cv, &g->mu);
			}
			continue;
		}
		batch_start(g, ITEM_FREEZE, n);
		batch_wait(g, false);
	}
	if (g->freeze_failed && !g->aborting) {
		g->aborting = true;
		g->abort_reason = FRZ_CLOSE_FREEZE_FAILED;
	}
	if (g->aborting) {
		thaw_all(g, g->abort_reason);
		return close_reason_to_error(atomic_load(&g->sh->close_reason));
	}
	/* Thaws need no grace period: back to normal for the rest of the window. */
	rcu_restore(f);
	set_phase(g, PHASE_FROZEN);
	return 0;
}

static void *sequencer_main(void *arg)
{
	struct guardian *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->quit && !g->request && !(g->aborting && !g->window_closed))
			pthread_cond_wait(&g->seq_cv, &g->mu);
		if (g->quit)
			break;
		if (g->aborting && !g->window_closed && !g->request) {
			thaw_all(g, g->abort_reason);
			pthread_cond_broadcast(&g->done_cv);
			continue;
		}
		int op = g->request;
		int64_t arg64 = g->request_arg;
		int r = 0;
		g->request = 0;
		switch (op) {
		case OP_FLUSH:
			r = run_flush(g);
			break;
		case OP_FREEZE:
			r = run_freeze(g, (uint64_t)arg64);
			break;
		case OP_THAW:
			if (g->window_closed) {
				r = close_reason_to_error(atomic_load(&g->sh->close_reason));
			} else {
				thaw_all(g, FRZ_CLOSE_NONE);
				r = 0;
			}
			if (atomic_load(&g->sh->thaw_failures) > 0)
				r = -FRZ_ERR_RESUME_FAILED;
			break;
		}
		msg_send(g, op, r);
		pthread_cond_broadcast(&g->done_cv);
		/* A request answered after the window closed may be the last thing it waited for. */
		if (g->window_closed)
			wake_monitor(g);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Under g->mu. */
static void request_abort(struct guardian *g, int reason)
{
	if (g->window_closed || g->aborting)
		return;
	if (!g->freezing_started) {
		/* Nothing frozen yet: the window is over before it began. */
		int expected = FRZ_CLOSE_NONE;
		atomic_compare_exchange_strong(&g->sh->close_reason, &expected, reason);
		kill_window_pgid(g);
		g->window_closed = true;
		g->thaw_started = true;
		g->aborting = true;
		g->abort_reason = reason;
		atomic_store(&g->sh->phase, PHASE_CLOSED);
		record_set_phase(g->f, PHASE_CLOSED);
		pthread_cond_broadcast(&g->seq_cv);
		pthread_cond_broadcast(&g->done_cv);
		return;
	}
	g->aborting = true;
	g->abort_reason = reason;
	pthread_cond_broadcast(&g->seq_cv);
	pthread_cond_broadcast(&g->done_cv);
}

static void handle_command(struct guardian *g, const struct guardian_msg *m)
{
	pthread_mutex_lock(&g->mu);
	switch (m->op) {
	case OP_FLUSH:
	case OP_FREEZE:
	case OP_THAW:
		g->request = m->op;
		g->request_arg = m->arg;
		pthread_cond_broadcast(&g->seq_cv);
		break;
	case OP_ABORT:
		request_abort(g, (int)m->arg);
		break;
	case OP_DETACH:
		/* A window a signal or the deadline already closed cannot be handed over. */
		if (g->window_closed || g->aborting) {
			msg_send(g, OP_DETACH, -FRZ_ERR_ABORTED);
			break;
		}
		g->detached = true;
		msg_send(g, OP_DETACH, 0);
		break;
	case OP_SET_PGID:
		g->pgid = (pid_t)m->arg;
		msg_send(g, OP_SET_PGID, 0);
		break;
	case OP_QUIT:
		if (!g->window_closed)
			request_abort(g, FRZ_CLOSE_ABORT);
		break;
	}
	pthread_mutex_unlock(&g->mu);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Close every inherited descriptor but ours: an embedder's sockets must not live on in us. */
static void close_other_fds(struct frz_freeze *f, int sock)
{
	size_t n = 0, cap = f->n_targets + f->n_md + 8;
	int keep[cap];
	int lo = 3;

	keep[n++] = sock;
	keep[n++] = f->owner_pidfd;
	keep[n++] = f->state_dir_fd;
	keep[n++] = f->lock_fd;
	keep[n++] = f->record_fd;
	keep[n++] = f->rcu_fd;
	for (size_t i = 0; i < f->n_targets; i++)
		keep[n++] = f->targets[i].fd;
	for (size_t i = 0; i < f->n_md; i++)
		keep[n++] = f->md[i].fd;
	qsort(keep, n, sizeof(int), cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < lo)
			continue;
		if (keep[i] > lo)
			syscall(SYS_close_range, (unsigned)lo, (unsigned)keep[i] - 1, 0u);
		lo = keep[i] + 1;
	}
	syscall(SYS_close_range, (unsigned)lo, ~0u, 0u);
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, GUARDIAN_STACK_SIZE);
	r = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -r;
}

static unsigned count_workers(const struct frz_freeze *f)
{
	unsigned widest = 1;

	for (unsigned level = 0; level < f->n_levels; level++) {
		unsigned n = 0;
		for (size_t i = 0; i < f->n_targets; i++)
			n += f->targets[i].level == level;
		if (n > widest)
			widest = n;
	}
	/* The pre-freeze flush of every filesystem runs on the same pool. */
	if (f->n_targets > widest)
		widest = (unsigned)f->n_targets;
	return widest < GUARDIAN_MAX_WORKERS ? widest : GUARDIAN_MAX_WORKERS;
}

_Noreturn void guardian_main(struct frz_freeze *f, int sock)
{
	struct guardian g = {
		.f = f, .sh = f->shared, .sock = sock, .timer_fd = -1, .signal_fd = -1,
		.owner_pidfd = f->owner_pidfd,
	};
	pthread_t workers[GUARDIAN_MAX_WORKERS], sequencer;
	unsigned n_workers = count_workers(f);
	struct rlimit no_core = { 0, 0 };
	sigset_t mask;
	int status = 0, fd;

	/* Away from the caller's terminal, its signals and its descriptors. */
	setsid();
	prctl(PR_SET_NAME, "frz-guardian");
	setrlimit(RLIMIT_CORE, &no_core);   /* a core dump could land on a frozen filesystem */
	sigfillset(&mask);
	sigdelset(&mask, SIGSEGV);
	sigdelset(&mask, SIGBUS);
	sigdelset(&mask, SIGFPE);
	sigdelset(&mask, SIGILL);
	sigdelset(&mask, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (f->devnull_fd >= 0) {
		dup2(f->devnull_fd, 0);
		dup2(f->devnull_fd, 1);
		dup2(f->devnull_fd, 2);
	}
	close_other_fds(f, sock);
	if (fchdir(f->state_dir_fd) < 0)
		_exit(70);
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, "-1000", 5);
		close(fd);
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
		status = 71;  /* go on: unlocked is still better than no guardian */

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	g.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	g.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	g.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	g.batch_items = f->batch_items;   /* allocated before the fork: nothing is allocated here */
	if (g.signal_fd < 0 || g.timer_fd < 0 || g.wake_fd < 0 || !g.batch_items)
		_exit(72);
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.work_cv, NULL);
	pthread_cond_init(&g.done_cv, NULL);
	pthread_cond_init(&g.seq_cv, NULL);
	for (unsigned i = 0; i < n_workers; i++)
		if (start_thread(&workers[i], worker_main, &g) < 0)
			_exit(73);
	if (start_thread(&sequencer, sequencer_main, &g) < 0)
		_exit(73);

	/* Tell the owner we are ready: it writes our pid into the record. */
	msg_send(&g, 0, 0);

	for (;;) {
		struct pollfd pfd[5];
		nfds_t n = 0;
		int idx_sock = -1, idx_owner = -1, idx_timer, idx_signal, idx_wake;

		pthread_mutex_lock(&g.mu);
		/*
		 * Stay while any syncfs or ioctl is in the kernel: the lock and the
		 * record must outlive every operation on the filesystems.
		 */
		bool done = g.window_closed && g.running_items == 0 && g.request == 0;
		bool sock_open = g.sock >= 0;
		bool watch_owner = !g.detached && !g.owner_gone;
		pthread_mutex_unlock(&g.mu);
		if (done)
			break;

		if (sock_open) {
			idx_sock = (int)n;
			pfd[n++] = (struct pollfd){ .fd = g.sock, .events = POLLIN };
		}
		if (watch_owner && g.owner_pidfd >= 0) {
			idx_owner = (int)n;
			pfd[n++] = (struct pollfd){ .fd = g.owner_pidfd, .events = POLLIN };
		}
		idx_timer = (int)n;
		pfd[n++] = (struct pollfd){ .fd = g.timer_fd, .events = POLLIN };
		idx_signal = (int)n;
		pfd[n++] = (struct pollfd){ .fd = g.signal_fd, .events = POLLIN };
		idx_wake = (int)n;
		pfd[n++] = (struct pollfd){ .fd = g.wake_fd, .events = POLLIN };

		if (poll(pfd, n, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[idx_wake].revents) {
			uint64_t count;
			(void)!read(g.wake_fd, &count, sizeof(count));
		}

		if (idx_sock >= 0 && pfd[idx_sock].revents) {
			struct guardian_msg m;
			ssize_t len = recv(g.sock, &m, sizeof(m), MSG_DONTWAIT);
			if (len == (ssize_t)sizeof(m)) {
				handle_command(&g, &m);
			} else if (len == 0 || (len < 0 && errno != EAGAIN && errno != EINTR)) {
				/* The owner closed its end: detached, finished or dead. */
				pthread_mutex_lock(&g.mu);
				close(g.sock);
				g.sock = -1;
				if (!g.detached) {
					g.owner_gone = true;
					request_abort(&g, FRZ_CLOSE_OWNER_DIED);
				}
				pthread_mutex_unlock(&g.mu);
			}
		}
		if (idx_owner >= 0 && pfd[idx_owner].revents) {
			pthread_mutex_lock(&g.mu);
			g.owner_gone = true;
			request_abort(&g, FRZ_CLOSE_OWNER_DIED);
			pthread_mutex_unlock(&g.mu);
		}
		if (pfd[idx_timer].revents) {
			uint64_t ticks;
			(void)!read(g.timer_fd, &ticks, sizeof(ticks));
			pthread_mutex_lock(&g.mu);
			request_abort(&g, FRZ_CLOSE_DEADLINE);
			pthread_mutex_unlock(&g.mu);
		}
		if (pfd[idx_signal].revents) {
			struct signalfd_siginfo si;
			int none = 0;
			if (read(g.signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    atomic_compare_exchange_strong(&g.sh->abort_signo, &none, (int)si.ssi_signo))
				atomic_store(&g.sh->abort_pid, (int)si.ssi_pid);
			pthread_mutex_lock(&g.mu);
			request_abort(&g, FRZ_CLOSE_ABORT);
			pthread_mutex_unlock(&g.mu);
		}
	}

	/* The window is closed and no freeze is in flight: nothing of ours is frozen. */
	if (atomic_load(&g.sh->thaw_failures) == 0)
		record_remove(f);
	else
		status = 12;
	_exit(status);
}
