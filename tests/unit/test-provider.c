/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot providers.  The registry and the exec provider run on the
 * fixture machine aliyun-ecs-virtio (no root needed: a plan is only read).
 * The local provider runs on loop devices this test makes under /var/tmp
 * (root): an ext4 disk mounted read-only, a raw disk with holes attached with
 * an offset and a size limit, and a disk whose image sits on an xfs mount
 * (reflink).  Nothing is frozen here: create runs with the window "open".
 * Without root only the first part runs, and the program exits 77.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "provider.h"

#define FIXTURE_MACHINE "aliyun-ecs-virtio"
#define FIXTURE_DISK "d-bp1fx0n8wq3k2h7dyc4a"

static const char *fixture_roots;

/* What the root tests set up; torn down by cleanup(), also at exit. */
static struct {
	char dir[128];          /* mkdtemp under /var/tmp */
	char loop_a[64];        /* ext4, mounted read-only at mnt_a */
	char loop_b[64];        /* raw with holes, --offset 4096 --sizelimit 16 MiB */
	char loop_x[64];        /* xfs holding c.img, mounted at mnt_x */
	char loop_c[64];        /* raw, its image on the xfs */
	char img_a[256], img_b[256], img_c[256];
	char mnt_a[256], mnt_x[256];
	char loop_d[64], mnt_d[256]; /* ext4 whose image is on a, while mounted_d */
	char snaps[256];        /* snapshot directories below here, on /var/tmp */
	char tiny[256];         /* a 1 MiB tmpfs, while mounted_tiny */
	char map_a[80], map_b[80], map_c[80]; /* "DEV=ID": loop devices are disks when mapped */
	bool mounted_a, mounted_x, mounted_tiny, mounted_d;
	bool have_xfs;
} env;

/* ---- helpers ---------------------------------------------------------- */

/* snprintf that fails the test instead of truncating. */
static void xsnprintf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void xsnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size);
}

static int sh(const char *fmt, ...) _printf_(1, 2);
static int sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return r == -1 ? -1 : WIFEXITED(r) ? WEXITSTATUS(r) : 128 + WTERMSIG(r);
}

/* The first line a command prints, or false. */
static bool sh_line(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static bool sh_line(char *buf, size_t size, const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	FILE *f;
	bool ok;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (!f)
		return false;
	ok = fgets(buf, (int)size, f) != NULL;
	if (pclose(f) != 0)
		ok = false;
	if (ok)
		strstrip_trailing(buf);
	return ok && *buf;
}

static char *read_text(const char *path)
{
	char *text = NULL;
	FILE *f = fopen(path, "re");
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (text = calloc(1, (size_t)len + 1)) && fread(text, 1, (size_t)len, f) != (size_t)len) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* Entries of DIR other than "." and "..", -1 when it cannot be read. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void write_pattern(int fd, off_t off, size_t len, unsigned seed)
{
	uint8_t *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	free(buf);
}

/* A SIZE-byte sparse image with random data at the given offsets. */
static void make_image(const char *path, off_t size, const off_t *offs, const size_t *lens, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	for (size_t i = 0; i < n; i++)
		write_pattern(fd, offs[i], lens[i], (unsigned)(i + 1) * 7919u);
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

/*
 * What the running case holds, freed by the case's teardown when an assertion
 * left the case early (the open directories would keep the mounts busy).
 */
static struct {
	struct provider *p;
	struct frz_plan *plan;
	struct frz_ctx *ctx;
} live;

struct run {
	struct snapshot_request req;
	struct frz_ctx *ctx;
	struct frz_plan *plan;
	_Atomic bool closed;
	struct provider *p;
};

/* A plan of TARGETS on SYSROOT (NULL: this machine) with DISK_MAP ("DEV=ID", may be NULL). */
static void run_init(struct run *run, const char *sysroot, const char *const *disk_map,
		     const struct provider_ops *ops, const char *const *targets, size_t n_targets)
{
	int r;

	memset(run, 0, sizeof(*run));
	atomic_init(&run->closed, false);
	assert_int_equal(frz_ctx_new(&run->ctx), 0);
	live.ctx = run->ctx;
	if (sysroot)
		assert_int_equal(frz_ctx_set_sysroot(run->ctx, sysroot), 0);
	for (size_t i = 0; disk_map && disk_map[i]; i++)
		if (frz_ctx_add_disk_map_string(run->ctx, disk_map[i]) < 0)
			fail_msg("disk map %s: %s", disk_map[i], frz_ctx_get_error(run->ctx));
	r = frz_plan_new(run->ctx, targets, n_targets, 0, &run->plan);
	live.plan = run->plan;
	if (r < 0)
		fail_msg("plan of %s: %s", targets[0], frz_ctx_get_error(run->ctx) ?: frz_strerror(r));
	run->req.ctx = run->ctx;
	run->req.plan = run->plan;
	run->req.timeout_ms = 10000;
	run->req.frozen = false;
	assert_int_equal(provider_new(ops, &run->req, &run->closed, &run->p), 0);
	live.p = run->p;
	live.plan = run->plan;
	live.ctx = run->ctx;
}


static void run_done(struct run *run)
{
	provider_free(run->p);
	frz_plan_unref(run->plan);
	frz_ctx_unref(run->ctx);
	memset(&live, 0, sizeof(live));
}

static int release_live(void **state _unused_)
{
	/* The provider's free touches its own state only, not the request that is gone. */
	provider_free(live.p);
	frz_plan_unref(live.plan);
	frz_ctx_unref(live.ctx);
	memset(&live, 0, sizeof(live));
	return 0;
}

/* Run STEP's result against WANT, showing the provider's message on a mismatch. */
#define assert_step(run, expr, want)                                                           \
	do {                                                                                   \
		int _r = (expr);                                                               \
		if (_r != (want))                                                              \
			fail_msg("%s: %d, expected %d: %s", #expr, _r, (want),                 \
				 (run)->p->error ?: "no message");                             \
	} while (0)

static void fixture_root(char *buf, size_t size)
{
	xsnprintf(buf, size, "%s/%s/root", fixture_roots, FIXTURE_MACHINE);
}

/* ---- registry --------------------------------------------------------- */

static void test_registry(void **state _unused_)
{
	struct snapshot_request req = {};
	struct provider *p = NULL;

	assert_ptr_equal(provider_find("local"), &provider_local_ops);
	assert_ptr_equal(provider_find("exec"), &provider_exec_ops);
	assert_null(provider_find("aliyun"));
	assert_null(provider_find(NULL));
	assert_string_equal(provider_names(), "local, exec");

	assert_string_equal(snapshot_verdict_to_string(VERDICT_APP), "app");
	assert_string_equal(snapshot_verdict_to_string(VERDICT_FS), "fs");
	assert_string_equal(snapshot_verdict_to_string(VERDICT_CRASH), "crash");
	assert_string_equal(snapshot_verdict_tag(VERDICT_APP), "APPConsistent");
	assert_string_equal(snapshot_verdict_tag(VERDICT_FS), "FsConsistent");
	assert_string_equal(snapshot_verdict_tag(VERDICT_CRASH), "CrashConsistent");

	assert_int_equal(provider_new(&provider_local_ops, &req, NULL, &p), 0);
	assert_ptr_equal(p->ops, &provider_local_ops);
	assert_int_equal(provider_fail(p, SNAP_QUOTA, "first %d", 1), SNAP_QUOTA);
	assert_string_equal(p->error, "first 1");
	assert_int_equal(provider_fail(p, SNAP_NO_ROLE, "second %s", "x"), SNAP_NO_ROLE);
	assert_string_equal(p->error, "second x");
	assert_int_equal(provider_add_item(p, "d-1", "/dev/vdb", "s-1", "completed", 42, NULL), 0);
	assert_int_equal(provider_add_item(p, NULL, NULL, NULL, NULL, 0, "copy"), 0);
	assert_int_equal(p->n_items, 2);
	assert_string_equal(p->items[0].disk_id, "d-1");
	assert_string_equal(p->items[0].device, "/dev/vdb");
	assert_string_equal(p->items[0].snapshot_id, "s-1");
	assert_string_equal(p->items[0].state, "completed");
	assert_int_equal(p->items[0].size, 42);
	assert_null(p->items[0].method);
	assert_null(p->items[1].disk_id);
	assert_string_equal(p->items[1].method, "copy");
	/* Never prepared: free has nothing to undo. */
	provider_free(p);
	provider_free(NULL);

	assert_int_equal(provider_new(&provider_exec_ops, &req, NULL, &p), 0);
	provider_free(p);
}

static bool group_id_matches(const char *id, const char *prefix)
{
	const char *s = startswith(id, prefix);

	/* PREFIX-YYYYmmddTHHMMSSZ-xxxxxx */
	if (!s || strlen(s) != 1 + 16 + 1 + 6 || s[0] != '-' || s[9] != 'T' || s[16] != 'Z' ||
	    s[17] != '-')
		return false;
	for (int i = 1; i < 16; i++)
		if (i != 9 && (s[i] < '0' || s[i] > '9'))
			return false;
	for (int i = 18; i < 24; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

/* ---- local provider on the fixture: refusals before anything is made ---- */

static void test_local_refuses_non_loop(void **state _unused_)
{
	const char *targets[] = { "/dev/vdb1" };
	char root[PATH_MAX], tmp[] = "/tmp/frz-provider.XXXXXX";
	struct run run;

	if (!fixture_roots)
		skip();
	fixture_root(root, sizeof(root));
	assert_non_null(mkdtemp(tmp));
	run_init(&run, root, NULL, &provider_local_ops, targets, 1);
	run.req.snapshot_dir = tmp;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_NO_DISK);
	assert_string_equal(run.p->error,
			    "the local provider copies loop-device disks only; /dev/vdb is not one "
			    "(exclude it with --exclude-disk " FIXTURE_DISK
			    " or use another provider)");
	run_done(&run);
	assert_int_equal(count_entries(tmp), 0);

	/* Every disk excluded: nothing left. */
	run_init(&run, root, NULL, &provider_local_ops, targets, 1);
	run.req.snapshot_dir = tmp;
	run.req.exclude_disks = (char *const[]){ (char *)FIXTURE_DISK, NULL };
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_NO_DISK);
	assert_non_null(strstr(run.p->error, "no disk left"));
	run_done(&run);

	/* An exclusion that names no disk of the plan is a mistake. */
	run_init(&run, root, NULL, &provider_local_ops, targets, 1);
	run.req.snapshot_dir = tmp;
	run.req.exclude_disks = (char *const[]){ (char *)"d-nosuchdisk", NULL };
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_BAD_PARAM);
	assert_non_null(strstr(run.p->error, "d-nosuchdisk"));
	run_done(&run);
	assert_int_equal(count_entries(tmp), 0);
	assert_int_equal(rmdir(tmp), 0);
}

/* ---- exec provider, on the fixture plan --------------------------------- */

static char exec_tmp[] = "/tmp/frz-provider-exec.XXXXXX";

static void exec_run(struct run *run, char *const *argv)
{
	const char *targets[] = { "/dev/vdb1" };
	char root[PATH_MAX];

	fixture_root(root, sizeof(root));
	run_init(run, root, NULL, &provider_exec_ops, targets, 1);
	run->req.exec_command = argv;
}

static void test_exec_env(void **state _unused_)
{
	char out[PATH_MAX], *text, *want;
	struct run run;
	char *argv[] = {
		(char *)"sh", (char *)"-c",
		(char *)"{ for v in GROUP_ID SNAPSHOT_NAME DISKS DEVICES MOUNTPOINTS FROZEN "
			"TIMEOUT_MS; do eval \"printf '%s=[%s]\\n' $v \\\"\\$FREEZESHIM_$v\\\"\"; done; "
			"printf 'cwd=%s\\n' \"$(pwd)\"; } >\"$1\"; echo snapshot made",
		(char *)"sh", out, NULL,
	};

	if (!fixture_roots)
		skip();
	xsnprintf(out, sizeof(out), "%s/env", exec_tmp);
	exec_run(&run, argv);
	run.req.name = "nightly";
	run.req.timeout_ms = 12345;
	run.req.frozen = true;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_true(group_id_matches(run.p->group_id, "exec"));
	assert_true(run.p->window_pgid > 0);
	/* Held until create: nothing ran yet. */
	usleep(100 * 1000);
	assert_int_equal(access(out, F_OK), -1);
	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	assert_int_equal(run.p->command_status, 0);
	assert_non_null(run.p->output);
	assert_non_null(strstr(run.p->output, "snapshot made"));
	assert_step(&run, run.p->ops->finish(run.p), SNAP_OK);
	assert_int_equal(run.p->n_items, 1);
	assert_string_equal(run.p->items[0].disk_id, FIXTURE_DISK);
	assert_string_equal(run.p->items[0].device, "/dev/vdb");
	assert_string_equal(run.p->items[0].snapshot_id, run.p->group_id);
	assert_string_equal(run.p->items[0].state, "completed");
	assert_step(&run, run.p->ops->tag(run.p, VERDICT_APP), SNAP_OK);

	text = read_text(out);
	assert_non_null(text);
	assert_true(asprintf(&want,
			     "GROUP_ID=[%s]\nSNAPSHOT_NAME=[nightly]\nDISKS=[" FIXTURE_DISK "]\n"
			     "DEVICES=[/dev/vdb]\nMOUNTPOINTS=[/data]\nFROZEN=[1]\n"
			     "TIMEOUT_MS=[12345]\ncwd=/\n", run.p->group_id) > 0);
	assert_string_equal(text, want);
	free(text);
	free(want);
	run_done(&run);
	unlink(out);

	/* No name, no freeze: the name is left out, FROZEN says 0. */
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	text = read_text(out);
	assert_non_null(text);
	assert_non_null(strstr(text, "SNAPSHOT_NAME=[]\n"));
	assert_non_null(strstr(text, "FROZEN=[0]\n"));
	free(text);
	run_done(&run);
	unlink(out);
}

static void test_exec_failure(void **state _unused_)
{
	struct run run;
	char *argv[] = { (char *)"sh", (char *)"-c",
			 (char *)"echo first; echo 'last words' >&2; exit 3", NULL };

	if (!fixture_roots)
		skip();
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->create(run.p), SNAP_CREATE_FAILED);
	assert_string_equal(run.p->error, "the exec command exited with status 3: last words");
	assert_int_equal(run.p->command_status, 3);
	assert_non_null(strstr(run.p->output, "first\n"));
	/* Nothing to finish. */
	assert_step(&run, run.p->ops->finish(run.p), SNAP_GROUP_STATE);
	run_done(&run);
}

static void test_exec_not_found(void **state _unused_)
{
	struct run run;
	char *argv[] = { (char *)"no-such-command-for-freezeshim", NULL };
	char *argv_path[] = { (char *)"/nonexistent/cmd", NULL };
	char *argv_dir[] = { (char *)"/tmp", NULL };

	if (!fixture_roots)
		skip();
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_BAD_PARAM);
	assert_string_equal(run.p->error,
			    "exec command 'no-such-command-for-freezeshim' not found on PATH");
	assert_int_equal(run.p->window_pgid, 0);
	run_done(&run);

	exec_run(&run, argv_path);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_BAD_PARAM);
	run_done(&run);

	exec_run(&run, argv_dir);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_BAD_PARAM);
	run_done(&run);

	exec_run(&run, (char *[]){ NULL });
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_BAD_PARAM);
	run_done(&run);
}

/* A process that is gone or a zombie waiting for its reaper. */
static bool process_gone(pid_t pid)
{
	char path[64], *stat, *close_paren;
	bool gone;

	xsnprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat = read_text(path);
	if (!stat)
		return true;
	close_paren = strrchr(stat, ')');
	gone = close_paren && (close_paren[2] == 'Z' || close_paren[2] == 'X');
	free(stat);
	return gone;
}

static void *close_window_later(void *arg)
{
	struct run *run = arg;

	usleep(300 * 1000);
	atomic_store(&run->closed, true);
	return NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_exec_window_closes(void **state _unused_)
{
	char marker[PATH_MAX];
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"sleep 30; touch \"$1\"", (char *)"sh",
			 marker, NULL };
	struct run run;
	pthread_t thread;
	uint64_t start, elapsed;
	pid_t pgid;

	if (!fixture_roots)
		skip();
	xsnprintf(marker, sizeof(marker), "%s/marker", exec_tmp);
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	pgid = run.p->window_pgid;
	assert_int_equal(pthread_create(&thread, NULL, close_window_later, &run), 0);
	start = now_ms();
	assert_step(&run, run.p->ops->create(run.p), SNAP_PAUSE_FAILED);
	elapsed = now_ms() - start;
	/* Closed at 300 ms, polled every 50 ms, killed at once. */
	if (elapsed >= 2000)
		fail_msg("create returned %" PRIu64 " ms after it began: not promptly", elapsed);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_non_null(strstr(run.p->error, "deadline passed while the exec command ran"));
	assert_int_equal(run.p->command_status, 128 + SIGKILL);
	assert_true(process_gone(pgid));
	run_done(&run);

	/* Closed before create: refused as well. */
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	atomic_store(&run.closed, true);
	assert_step(&run, run.p->ops->create(run.p), SNAP_PAUSE_FAILED);
	run_done(&run);
	assert_int_equal(access(marker, F_OK), -1);
}

static void test_exec_free_unstarted(void **state _unused_)
{
	char marker[PATH_MAX];
	char *argv[] = { (char *)"sh", (char *)"-c", (char *)"touch \"$1\"", (char *)"sh", marker,
			 NULL };
	struct run run;
	pid_t pgid;

	if (!fixture_roots)
		skip();
	xsnprintf(marker, sizeof(marker), "%s/never", exec_tmp);
	exec_run(&run, argv);
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	pgid = run.p->window_pgid;
	run_done(&run);
	assert_true(process_gone(pgid));
	usleep(100 * 1000);
	assert_int_equal(access(marker, F_OK), -1);
}

/* ---- local provider on loop devices (root) ------------------------------ */

static void cleanup_d(void)
{
	if (env.mounted_d && sh("umount '%s'", env.mnt_d) == 0)
		env.mounted_d = false;
	if (*env.loop_d && sh("losetup -d %s", env.loop_d) == 0)
		*env.loop_d = '\0';
}

static void cleanup(void)
{
	cleanup_d();
	/* Idempotent: called by the group teardown and at exit. */
	if (env.mounted_tiny && sh("umount '%s'", env.tiny) == 0)
		env.mounted_tiny = false;
	if (env.mounted_a && sh("umount '%s'", env.mnt_a) == 0)
		env.mounted_a = false;
	if (*env.loop_a && sh("losetup -d %s", env.loop_a) == 0)
		*env.loop_a = '\0';
	if (*env.loop_b && sh("losetup -d %s", env.loop_b) == 0)
		*env.loop_b = '\0';
	if (*env.loop_c && sh("losetup -d %s", env.loop_c) == 0)
		*env.loop_c = '\0';
	if (env.mounted_x && sh("umount '%s'", env.mnt_x) == 0)
		env.mounted_x = false;
	if (*env.loop_x && sh("losetup -d %s", env.loop_x) == 0)
		*env.loop_x = '\0';
	if (*env.dir && !env.mounted_a && !env.mounted_x && !env.mounted_tiny && !env.mounted_d &&
	    sh("rm -rf '%s'", env.dir) == 0)
		*env.dir = '\0';
}

static int loop_setup(void **state _unused_)
{
	static const off_t b_offs[] = { 0, 9 << 20, 20 << 20 };
	static const size_t b_lens[] = { 1 << 20, 256 << 10, 4096 };
	static const off_t c_offs[] = { 0, 3 << 20 };
	static const size_t c_lens[] = { 512 << 10, 1 << 20 };
	char path[PATH_MAX];

	xsnprintf(env.dir, sizeof(env.dir), "/var/tmp/frz-provider.XXXXXX");
	if (!mkdtemp(env.dir)) {
		*env.dir = '\0';
		return -1;
	}
	atexit(cleanup);
	xsnprintf(env.img_a, sizeof(env.img_a), "%s/a.img", env.dir);
	xsnprintf(env.img_b, sizeof(env.img_b), "%s/b.img", env.dir);
	xsnprintf(env.mnt_a, sizeof(env.mnt_a), "%s/mnt-a", env.dir);
	xsnprintf(env.mnt_x, sizeof(env.mnt_x), "%s/mnt-x", env.dir);
	xsnprintf(env.snaps, sizeof(env.snaps), "%s/snaps", env.dir);
	if (mkdir(env.mnt_a, 0755) < 0 || mkdir(env.mnt_x, 0755) < 0 || mkdir(env.snaps, 0755) < 0)
		return -1;

	/* a: ext4, no lazy init (no writes behind our back), read-only once set up. */
	make_image(env.img_a, 48 << 20, NULL, NULL, 0);
	if (sh("mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 '%s' >/dev/null 2>&1",
	       env.img_a) != 0 ||
	    !sh_line(env.loop_a, sizeof(env.loop_a), "losetup --find --show '%s'", env.img_a) ||
	    sh("mount -t ext4 %s '%s'", env.loop_a, env.mnt_a) != 0)
		return -1;
	env.mounted_a = true;
	xsnprintf(path, sizeof(path), "%s/snaps", env.mnt_a);
	if (mkdir(path, 0700) < 0 || sh("echo hello >'%s/file'", env.mnt_a) != 0 ||
	    sh("mount -o remount,ro '%s'", env.mnt_a) != 0)
		return -1;

	/* b: raw with holes, seen through an offset and a size limit. */
	make_image(env.img_b, 24 << 20, b_offs, b_lens, ARRAY_SIZE(b_offs));
	if (!sh_line(env.loop_b, sizeof(env.loop_b),
		     "losetup --find --show --offset 4096 --sizelimit 16777216 '%s'", env.img_b))
		return -1;

	/* c: on xfs, which can share extents. */
	xsnprintf(path, sizeof(path), "%s/x.img", env.dir);
	make_image(path, 320 << 20, NULL, NULL, 0);
	if (sh("mkfs.xfs -q -f -m reflink=1 '%s' >/dev/null 2>&1", path) == 0 &&
	    sh_line(env.loop_x, sizeof(env.loop_x), "losetup --find --show '%s'", path) &&
	    sh("mount -t xfs %s '%s'", env.loop_x, env.mnt_x) == 0) {
		env.mounted_x = true;
		xsnprintf(env.img_c, sizeof(env.img_c), "%s/c.img", env.mnt_x);
		make_image(env.img_c, 6 << 20, c_offs, c_lens, ARRAY_SIZE(c_offs));
		env.have_xfs = sh_line(env.loop_c, sizeof(env.loop_c), "losetup --find --show '%s'",
				       env.img_c);
	}
	if (!env.have_xfs)
		fprintf(stderr, "no xfs with reflink here: the reflink case is skipped\n");
	xsnprintf(env.map_a, sizeof(env.map_a), "%s=test-a", env.loop_a);
	xsnprintf(env.map_b, sizeof(env.map_b), "%s=test-b", env.loop_b);
	if (env.have_xfs)
		xsnprintf(env.map_c, sizeof(env.map_c), "%s=test-c", env.loop_c);
	return 0;
}

static int loop_teardown(void **state _unused_)
{
	cleanup();
	return 0;
}

static cJSON *read_manifest(const char *snapshot)
{
	char path[PATH_MAX];
	char *text;
	cJSON *json;

	xsnprintf(path, sizeof(path), "%s/manifest.json", snapshot);
	text = read_text(path);
	assert_non_null(text);
	json = cJSON_Parse(text);
	free(text);
	assert_non_null(json);
	return json;
}

static const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	assert_non_null(item);
	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static double json_num(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	assert_true(cJSON_IsNumber(item));
	return item->valuedouble;
}

static void loop_run(struct run *run, const char *const *targets, size_t n_targets)
{
	const char *map[] = { env.map_a, env.map_b, *env.map_c ? env.map_c : NULL, NULL };

	run_init(run, NULL, map, &provider_local_ops, targets, n_targets);
}

static const struct snapshot_item *item_of(const struct provider *p, const char *disk_id)
{
	for (size_t i = 0; i < p->n_items; i++)
		if (streq_ptr(p->items[i].disk_id, disk_id))
			return &p->items[i];
	fail_msg("no item for %s", disk_id);
	return NULL;
}

static const cJSON *manifest_disk(const cJSON *m, const char *disk_id)
{
	const cJSON *d;

	cJSON_ArrayForEach(d, cJSON_GetObjectItem(m, "disks"))
		if (streq(json_str(d, "disk_id"), disk_id))
			return d;
	fail_msg("no disk %s in the manifest", disk_id);
	return NULL;
}

static void test_local_snapshot(void **state _unused_)
{
	const char *targets[] = { env.loop_a, env.loop_b };
	const char *ids[] = { "test-a", "test-b" }, *images[] = { env.img_a, env.img_b };
	const struct snapshot_tag tags[] = { { (char *)"owner", (char *)"db-team" } };
	char dir[PATH_MAX], snapshot[PATH_MAX], path[PATH_MAX], created[32];
	const struct snapshot_item *it;
	const cJSON *d, *fss;
	struct stat st_src, st_dst;
	struct run run;
	cJSON *m;

	/* Made by prepare, 0700 for what it makes. */
	xsnprintf(dir, sizeof(dir), "%s/snaps/nested/deeper", env.dir);
	loop_run(&run, targets, 2);
	run.req.snapshot_dir = dir;
	run.req.name = "nightly";
	run.req.tags = tags;
	run.req.n_tags = 1;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_true(group_id_matches(run.p->group_id, "local"));
	assert_int_equal(stat(dir, &st_dst), 0);
	assert_int_equal(st_dst.st_mode & 07777, 0700);
	xsnprintf(path, sizeof(path), "%s/%s.partial", dir, run.p->group_id);
	assert_int_equal(stat(path, &st_dst), 0);
	assert_int_equal(st_dst.st_mode & 07777, 0700);
	/* The two images and the owner file (pid and start time of this run). */
	assert_int_equal(count_entries(path), 3);

	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->finish(run.p), SNAP_OK);
	assert_int_equal(access(path, F_OK), -1);
	xsnprintf(snapshot, sizeof(snapshot), "%s/%s", dir, run.p->group_id);
	assert_int_equal(count_entries(snapshot), 3);

	/* The items: one per disk, the image's absolute path. */
	assert_int_equal(run.p->n_items, 2);
	for (size_t i = 0; i < 2; i++) {
		it = item_of(run.p, ids[i]);
		assert_string_equal(it->device, targets[i]);
		xsnprintf(path, sizeof(path), "%s/%s.img", snapshot, ids[i]);
		assert_string_equal(it->snapshot_id, path);
		assert_string_equal(it->state, "completed");
		/* /var/tmp: ext4 here, which shares no extents, but be ready for anything. */
		assert_true(streq(it->method, "copy") || streq(it->method, "reflink"));
		assert_int_equal(stat(images[i], &st_src), 0);
		assert_int_equal(stat(path, &st_dst), 0);
		assert_int_equal(it->size, (uint64_t)st_src.st_size);
		assert_int_equal(st_dst.st_size, st_src.st_size);
		assert_int_equal(st_dst.st_mode & 07777, 0600);
		if (sh("cmp -s '%s' '%s'", images[i], path) != 0)
			fail_msg("%s differs from %s", path, images[i]);
		/* Holes stay holes. */
		if ((uint64_t)st_dst.st_blocks >
		    (uint64_t)st_src.st_blocks + (uint64_t)st_src.st_blocks / 10 + 64)
			fail_msg("%s: %ju blocks, its source %ju: not sparse", path,
				 (uintmax_t)st_dst.st_blocks, (uintmax_t)st_src.st_blocks);
	}
	/* The image of b holds its 1.3 MiB of data, not 24 MiB. */
	assert_int_equal(stat(item_of(run.p, "test-b")->snapshot_id, &st_dst), 0);
	assert_true((uint64_t)st_dst.st_blocks * 512 < (4u << 20));

	/* The manifest before the tag. */
	m = read_manifest(snapshot);
	assert_int_equal(json_num(m, "format"), 1);
	assert_string_equal(json_str(m, "id"), run.p->group_id);
	assert_string_equal(json_str(m, "provider"), "local");
	assert_string_equal(json_str(m, "name"), "nightly");
	assert_null(json_str(m, "description"));
	assert_null(json_str(m, "verdict"));
	assert_non_null(json_str(m, "created"));
	assert_int_equal(strlen(json_str(m, "created")), strlen("2024-05-01T12:00:00.123Z"));
	assert_int_equal(json_str(m, "created")[23], 'Z');
	xsnprintf(created, sizeof(created), "%.4s-%.2s-%.2sT%.2s:%.2s", run.p->group_id + 6,
		  run.p->group_id + 10, run.p->group_id + 12, run.p->group_id + 15,
		  run.p->group_id + 17);
	/* Same minute as the ID, give or take a minute boundary: prepare and create were close. */
	if (!startswith(json_str(m, "created"), created))
		print_message("created %s, ID %s: a minute boundary, presumably\n",
			      json_str(m, "created"), run.p->group_id);
	assert_string_equal(json_str(cJSON_GetObjectItem(m, "tags"), "owner"), "db-team");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "tags"), "FsConsistent"));
	cJSON_Delete(m);

	assert_step(&run, run.p->ops->tag(run.p, VERDICT_FS), SNAP_OK);
	m = read_manifest(snapshot);
	assert_string_equal(json_str(m, "verdict"), "fs");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "tags")), 2);
	assert_string_equal(json_str(cJSON_GetObjectItem(m, "tags"), "owner"), "db-team");
	assert_string_equal(json_str(cJSON_GetObjectItem(m, "tags"), "FsConsistent"), "True");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "disks")), 2);

	d = manifest_disk(m, "test-a");
	assert_string_equal(json_str(d, "device"), env.loop_a);
	assert_string_equal(json_str(d, "source"), env.img_a);
	assert_int_equal(json_num(d, "offset"), 0);
	assert_int_equal(json_num(d, "size_limit"), 0);
	assert_string_equal(json_str(d, "image"), "test-a.img");
	assert_int_equal(json_num(d, "size"), 48 << 20);
	assert_string_equal(json_str(d, "method"), item_of(run.p, "test-a")->method);
	assert_true(json_num(d, "copy_ms") >= 0);
	fss = cJSON_GetObjectItem(d, "filesystems");
	assert_int_equal(cJSON_GetArraySize(fss), 1);
	assert_string_equal(json_str(cJSON_GetArrayItem(fss, 0), "mountpoint"), env.mnt_a);
	assert_string_equal(json_str(cJSON_GetArrayItem(fss, 0), "fstype"), "ext4");

	d = manifest_disk(m, "test-b");
	assert_string_equal(json_str(d, "device"), env.loop_b);
	assert_string_equal(json_str(d, "source"), env.img_b);
	assert_int_equal(json_num(d, "offset"), 4096);
	assert_int_equal(json_num(d, "size_limit"), 16777216);
	assert_string_equal(json_str(d, "image"), "test-b.img");
	assert_int_equal(json_num(d, "size"), 24 << 20);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "filesystems")), 0);
	cJSON_Delete(m);

	/* A finished snapshot survives free. */
	run_done(&run);
	assert_int_equal(count_entries(snapshot), 3);
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(sh("rm -rf '%s/snaps/nested'", env.dir), 0);
}

static void test_local_reflink(void **state _unused_)
{
	const char *targets[] = { env.loop_c };
	char dir[PATH_MAX], snapshot[PATH_MAX];
	struct run run;
	cJSON *m;

	if (!env.have_xfs)
		skip();
	xsnprintf(dir, sizeof(dir), "%s/snaps", env.mnt_x);
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = dir;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->finish(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->tag(run.p, VERDICT_CRASH), SNAP_OK);
	assert_int_equal(run.p->n_items, 1);
	assert_string_equal(run.p->items[0].method, "reflink");
	if (sh("cmp -s '%s' '%s'", env.img_c, run.p->items[0].snapshot_id) != 0)
		fail_msg("%s differs from %s", run.p->items[0].snapshot_id, env.img_c);
	xsnprintf(snapshot, sizeof(snapshot), "%s/%s", dir, run.p->group_id);
	m = read_manifest(snapshot);
	assert_string_equal(json_str(m, "verdict"), "crash");
	assert_string_equal(json_str(cJSON_GetObjectItem(m, "tags"), "CrashConsistent"), "True");
	assert_string_equal(json_str(manifest_disk(m, "test-c"), "method"), "reflink");
	cJSON_Delete(m);
	run_done(&run);
	assert_int_equal(sh("rm -rf '%s'", dir), 0);
}

static void test_local_dir_on_frozen_fs(void **state _unused_)
{
	const char *targets[] = { env.loop_a };
	char dir[PATH_MAX], want[2 * PATH_MAX], want_below[3 * PATH_MAX];
	struct run run;

	/* Read-only, it would not be frozen: writable for this case, nothing writes to it. */
	assert_int_equal(sh("mount -o remount,rw '%s'", env.mnt_a), 0);
	xsnprintf(dir, sizeof(dir), "%s/snaps", env.mnt_a);
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = dir;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_PRECONDITION);
	xsnprintf(want, sizeof(want),
		 "the snapshot directory %s is on %s, which this snapshot freezes; "
		 "choose --snapshot-dir on another filesystem", dir, env.mnt_a);
	assert_string_equal(run.p->error, want);
	run_done(&run);
	assert_int_equal(count_entries(dir), 0);

	/* A filesystem whose image is on the frozen one: its writes would block as well. */
	xsnprintf(env.mnt_d, sizeof(env.mnt_d), "%s/mnt-d", env.dir);
	assert_int_equal(mkdir(env.mnt_d, 0755), 0);
	assert_int_equal(sh("truncate -s 16M '%s/d.img' && mkfs.ext4 -q -F '%s/d.img' >/dev/null 2>&1",
			    env.mnt_a, env.mnt_a), 0);
	assert_true(sh_line(env.loop_d, sizeof(env.loop_d), "losetup --find --show '%s/d.img'",
			    env.mnt_a));
	assert_int_equal(sh("mount -t ext4 %s '%s'", env.loop_d, env.mnt_d), 0);
	env.mounted_d = true;
	xsnprintf(dir, sizeof(dir), "%s/snaps", env.mnt_d);
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = dir;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_PRECONDITION);
	/* The plan freezes it too (its image is on the disk), or at least what it is stored on. */
	xsnprintf(want, sizeof(want),
		  "the snapshot directory %s is on %s, which this snapshot freezes; "
		  "choose --snapshot-dir on another filesystem", dir, env.mnt_d);
	xsnprintf(want_below, sizeof(want_below),
		  "the snapshot directory %s is on %s, which is stored on %s, which this snapshot "
		  "freezes; choose --snapshot-dir on another filesystem", dir, env.mnt_d, env.mnt_a);
	if (!streq(run.p->error, want) && !streq(run.p->error, want_below))
		fail_msg("unexpected: %s", run.p->error);
	run_done(&run);
	assert_int_equal(count_entries(dir), 0);
	cleanup_d();
	assert_int_equal(sh("rm '%s/d.img' && mount -o remount,ro '%s'", env.mnt_a, env.mnt_a), 0);
}

static void test_local_window_closed(void **state _unused_)
{
	const char *targets[] = { env.loop_a, env.loop_b };
	struct run run;

	loop_run(&run, targets, 2);
	run.req.snapshot_dir = env.snaps;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_int_equal(count_entries(env.snaps), 1);
	atomic_store(&run.closed, true);
	assert_step(&run, run.p->ops->create(run.p), SNAP_PAUSE_FAILED);
	assert_non_null(strstr(run.p->error, "the I/O-pause deadline passed"));
	assert_non_null(strstr(run.p->error, "test-a"));
	assert_non_null(strstr(run.p->error, "the copy is discarded"));
	/* A workflow that went on anyway gets no snapshot out of it. */
	assert_step(&run, run.p->ops->finish(run.p), SNAP_GROUP_STATE);
	assert_int_equal(run.p->n_items, 0);
	run_done(&run);
	/* Nothing half-made left behind. */
	assert_int_equal(count_entries(env.snaps), 0);
}

static void test_local_unfinished(void **state _unused_)
{
	const char *targets[] = { env.loop_b };
	struct run run;

	/* Created but never finished (the thaw failed, say): removed by free. */
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = env.snaps;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->tag(run.p, VERDICT_FS), SNAP_TAG_FAILED);
	run_done(&run);
	assert_int_equal(count_entries(env.snaps), 0);

	/* Prepared only. */
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = env.snaps;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	run_done(&run);
	assert_int_equal(count_entries(env.snaps), 0);
}

/* A partial snapshot whose run died is removed by the next run; a live run's is kept. */
static void test_local_sweeps_stale_partials(void **state _unused_)
{
	const char *targets[] = { env.loop_b };
	char dead[PATH_MAX], live[PATH_MAX];
	struct run run;

	xsnprintf(dead, sizeof(dead), "%s/local-dead.partial", env.snaps);
	xsnprintf(live, sizeof(live), "%s/local-live.partial", env.snaps);
	assert_int_equal(sh("mkdir -p '%s' '%s' && head -c 65536 /dev/zero >'%s/loop9.img' && "
			    "echo '999999 1' >'%s/owner'", dead, live, dead, dead), 0);
	/* This test process is the live run. */
	assert_int_equal(sh("echo \"%d $(awk '{ print $22 }' /proc/%d/stat)\" >'%s/owner'",
			    (int)getpid(), (int)getpid(), live), 0);
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = env.snaps;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	run_done(&run);
	assert_int_equal(sh("rm -rf '%s'", live), 0);
	assert_int_equal(count_entries(env.snaps), 0);
}

static void test_local_no_space(void **state _unused_)
{
	const char *targets[] = { env.loop_a };
	struct run run;

	/* A 1 MiB tmpfs cannot take a 48 MiB disk's allocated blocks. */
	xsnprintf(env.tiny, sizeof(env.tiny), "%s/tiny", env.dir);
	assert_int_equal(mkdir(env.tiny, 0700), 0);
	assert_int_equal(sh("mount -t tmpfs -o size=1m,mode=0700 tmpfs '%s'", env.tiny), 0);
	env.mounted_tiny = true;
	loop_run(&run, targets, 1);
	run.req.snapshot_dir = env.tiny;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_PRECONDITION);
	assert_non_null(strstr(run.p->error, "free, the images need up to"));
	run_done(&run);
	assert_int_equal(count_entries(env.tiny), 0);
	assert_int_equal(sh("umount '%s'", env.tiny), 0);
	env.mounted_tiny = false;
	assert_int_equal(rmdir(env.tiny), 0);
}

/* Two disks whose IDs make the same file name get distinct images. */
static void test_local_name_collision(void **state _unused_)
{
	const char *targets[] = { env.loop_a, env.loop_b };
	char map_a[128], map_b[128];
	const char *map[] = { map_a, map_b, NULL };
	bool first = false, second = false;
	struct run run;

	xsnprintf(map_a, sizeof(map_a), "%s=my:disk", env.loop_a);
	xsnprintf(map_b, sizeof(map_b), "%s=my_disk", env.loop_b);
	run_init(&run, NULL, map, &provider_local_ops, targets, 2);
	run.req.snapshot_dir = env.snaps;
	assert_step(&run, run.p->ops->prepare(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->create(run.p), SNAP_OK);
	assert_step(&run, run.p->ops->finish(run.p), SNAP_OK);
	assert_int_equal(run.p->n_items, 2);
	for (size_t i = 0; i < 2; i++) {
		const char *name = strrchr(run.p->items[i].snapshot_id, '/') + 1;

		first |= streq(name, "my_disk.img");
		second |= streq(name, "my_disk-2.img");
	}
	assert_true(first && second);
	run_done(&run);
	assert_int_equal(sh("rm -rf '%s'/local-*", env.snaps), 0);
}

int main(void)
{
	const struct CMUnitTest plain_tests[] = {
		cmocka_unit_test_teardown(test_registry, release_live),
		cmocka_unit_test_teardown(test_local_refuses_non_loop, release_live),
		cmocka_unit_test_teardown(test_exec_env, release_live),
		cmocka_unit_test_teardown(test_exec_failure, release_live),
		cmocka_unit_test_teardown(test_exec_not_found, release_live),
		cmocka_unit_test_teardown(test_exec_window_closes, release_live),
		cmocka_unit_test_teardown(test_exec_free_unstarted, release_live),
	};
	const struct CMUnitTest loop_tests[] = {
		cmocka_unit_test_teardown(test_local_snapshot, release_live),
		cmocka_unit_test_teardown(test_local_reflink, release_live),
		cmocka_unit_test_teardown(test_local_dir_on_frozen_fs, release_live),
		cmocka_unit_test_teardown(test_local_window_closed, release_live),
		cmocka_unit_test_teardown(test_local_unfinished, release_live),
		cmocka_unit_test_teardown(test_local_sweeps_stale_partials, release_live),
		cmocka_unit_test_teardown(test_local_no_space, release_live),
		cmocka_unit_test_teardown(test_local_name_collision, release_live),
	};
	int failed;

	fixture_roots = getenv("FIXTURE_ROOTS");
	if (!fixture_roots)
		fprintf(stderr, "FIXTURE_ROOTS is not set: the fixture cases are skipped\n");
	if (!mkdtemp(exec_tmp))
		return 1;
	failed = cmocka_run_group_tests_name("provider", plain_tests, NULL, NULL);
	(void)sh("rm -rf '%s'", exec_tmp);
	if (failed)
		return 1;
	if (geteuid() != 0) {
		fprintf(stderr, "not root: the loop-device cases are skipped\n");
		return 77;
	}
	return cmocka_run_group_tests_name("local provider on loop devices", loop_tests, loop_setup,
					   loop_teardown) ? 1 : 0;
}
