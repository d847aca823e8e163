/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The exec provider: a command of the user's makes the snapshot inside the
 * window (a storage array's API, an LVM or ZFS snapshot on a host, a test).
 * Its exit status decides: 0 is a snapshot.
 *
 * prepare resolves the command and forks it, held before exec until create
 * lets it go, so that nothing is forked inside the window.  The command's
 * process group is the window's (provider->window_pgid): it is killed when
 * the window closes early.  Its environment adds:
 *
 *   FREEZESHIM_GROUP_ID      "exec-20240501T120000Z-3fa9c1"
 *   FREEZESHIM_SNAPSHOT_NAME --name, when given
 *   FREEZESHIM_DISKS         the disk IDs, space-separated (excluded ones left out)
 *   FREEZESHIM_DEVICES       their devices, same order
 *   FREEZESHIM_MOUNTPOINTS   the first mountpoint of each filesystem of the freeze order,
 *                            newline-separated
 *   FREEZESHIM_FROZEN        1, or 0 with --no-freeze
 *   FREEZESHIM_TIMEOUT_MS    the I/O-pause limit
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "provider.h"
#include "scripts.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The longest piece of the command's output quoted in an error. */
#define QUOTE_MAX 200

struct exec_state {
	struct proc *proc;     /* forked, waiting for create; NULL once waited for */
	struct ptrvec argv;    /* char *, resolved argv[0] first */
	struct ptrvec env;     /* char * "K=V" */
	struct ptrvec disks;   /* const struct frz_disk *: not excluded */
	bool created;
};

static bool window_is_closed(const struct provider *p)
{
	return p->window_closed && atomic_load(p->window_closed);
}

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* argv[0] as an absolute path: as given (made absolute), or the first hit on $PATH. */
static int resolve_command(struct provider *p, const char *cmd, char **ret)
{
	const char *search;
	_cleanup_free_ char *copy = NULL;

	if (strchr(cmd, '/')) {
		char *abs;

		if (!is_executable_file(cmd))
			return provider_fail(p, SNAP_BAD_PARAM,
					     "exec command '%s' is not an executable file", cmd);
		abs = cmd[0] == '/' ? strdup(cmd) : realpath(cmd, NULL);
		if (!abs)
			return provider_fail(p, SNAP_BAD_PARAM, "exec command '%s': %s", cmd,
					     strerror(errno));
		*ret = abs;
		return SNAP_OK;
	}
	search = getenv("PATH");
	copy = strdup(search && *search ? search : DEFAULT_PATH);
	if (!copy)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	/* An empty PATH entry means the current directory, as in execvp(). */
	for (char *dir = copy, *end;; dir = end + 1) {
		_cleanup_free_ char *cand = NULL;
		bool last;

		end = strchrnul(dir, ':');
		last = !*end;
		if (xasprintf(&cand, "%.*s%s%s", (int)(end - dir), dir, end > dir ? "/" : "", cmd) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
		if (is_executable_file(cand)) {
			char *abs = cand[0] == '/' ? strdup(cand) : realpath(cand, NULL);

			if (!abs)
				return provider_fail(p, SNAP_UNKNOWN, "exec command '%s': %s", cand,
						     strerror(errno));
			*ret = abs;
			return SNAP_OK;
		}
		if (last)
			break;
	}
	return provider_fail(p, SNAP_BAD_PARAM, "exec command '%s' not found on PATH", cmd);
}

static int push_env(struct exec_state *s, const char *key, const char *value)
{
	char *kv;

	if (xasprintf(&kv, "%s=%s", key, value) < 0)
		return -ENOMEM;
	if (ptrvec_push(&s->env, kv) < 0) {
		free(kv);
		return -ENOMEM;
	}
	return 0;
}

static int build_env(struct provider *p, struct exec_state *s)
{
	const struct snapshot_request *req = p->req;
	const struct frz_plan *plan = req->plan;
	struct ptrvec ids = {}, devices = {}, mountpoints = {};
	_cleanup_free_ char *ids_s = NULL, *devices_s = NULL, *mountpoints_s = NULL;
	char timeout[32];
	int r = -ENOMEM;

	for (size_t i = 0; i < s->disks.n; i++) {
		const struct frz_disk *d = s->disks.items[i];

		if (ptrvec_push(&ids, (void *)frz_disk_get_id(d)) < 0 ||
		    ptrvec_push(&devices, (void *)frz_disk_get_device(d)) < 0)
			goto out;
	}
	for (size_t i = 0; i < frz_plan_get_n_freeze_order(plan); i++) {
		const struct frz_fs *fs = frz_plan_get_freeze_order(plan, i);

		if (frz_fs_get_n_mountpoints(fs) > 0 &&
		    ptrvec_push(&mountpoints, (void *)frz_fs_get_mountpoint(fs, 0)) < 0)
			goto out;
	}
	ids_s = ptrvec_join(&ids, " ", 0);
	devices_s = ptrvec_join(&devices, " ", 0);
	mountpoints_s = ptrvec_join(&mountpoints, "\n", 0);
	snprintf(timeout, sizeof(timeout), "%" PRIu64, req->timeout_ms);
	if (!ids_s || !devices_s || !mountpoints_s ||
	    push_env(s, "FREEZESHIM_GROUP_ID", p->group_id) < 0 ||
	    (req->name && push_env(s, "FREEZESHIM_SNAPSHOT_NAME", req->name) < 0) ||
	    push_env(s, "FREEZESHIM_DISKS", ids_s) < 0 ||
	    push_env(s, "FREEZESHIM_DEVICES", devices_s) < 0 ||
	    push_env(s, "FREEZESHIM_MOUNTPOINTS", mountpoints_s) < 0 ||
	    push_env(s, "FREEZESHIM_FROZEN", req->frozen ? "1" : "0") < 0 ||
	    push_env(s, "FREEZESHIM_TIMEOUT_MS", timeout) < 0 || ptrvec_push(&s->env, NULL) < 0)
		goto out;
	r = 0;
out:
	ptrvec_clear(&ids);
	ptrvec_clear(&devices);
	ptrvec_clear(&mountpoints);
	return r;
}

static int exec_prepare(struct provider *p)
{
	const struct snapshot_request *req = p->req;
	const struct frz_plan *plan = req->plan;
	struct exec_state *s;
	char *resolved = NULL;
	int r;

	if (p->priv)
		return provider_fail(p, SNAP_UNKNOWN, "the exec provider was prepared twice");
	s = calloc(1, sizeof(*s));
	if (!s)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	p->priv = s;

	r = provider_check_excludes(p);
	if (r != SNAP_OK)
		return r;
	if (!req->exec_command || !req->exec_command[0] || !*req->exec_command[0])
		return provider_fail(p, SNAP_BAD_PARAM,
				     "the exec provider needs a command: give it after `--` or as "
				     "exec-command in the configuration");
	for (size_t i = 0; i < frz_plan_get_n_disks(plan); i++) {
		const struct frz_disk *d = frz_plan_get_disk(plan, i);

		if (!provider_disk_excluded(p, d) && ptrvec_push(&s->disks, (void *)d) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	}
	if (frz_plan_get_n_disks(plan) == 0)
		return provider_fail(p, SNAP_NO_DISK, "the plan holds no disk to snapshot");
	if (s->disks.n == 0)
		return provider_fail(p, SNAP_NO_DISK,
				     "no disk left to snapshot: --exclude-disk leaves out every disk "
				     "of the plan");

	r = resolve_command(p, req->exec_command[0], &resolved);
	if (r != SNAP_OK)
		return r;
	if (ptrvec_push(&s->argv, resolved) < 0) {
		free(resolved);
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	}
	for (size_t i = 1; req->exec_command[i]; i++) {
		char *arg = strdup(req->exec_command[i]);

		if (!arg || ptrvec_push(&s->argv, arg) < 0) {
			free(arg);
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
		}
	}
	if (ptrvec_push(&s->argv, NULL) < 0 || provider_make_group_id("exec", &p->group_id) < 0 ||
	    build_env(p, s) < 0)
		return provider_fail(p, SNAP_UNKNOWN, "out of memory");

	r = proc_spawn(-1, (char *const *)s->argv.items, (char *const *)s->env.items, PROC_WAIT_GO,
		       &s->proc);
	if (r < 0)
		return provider_fail(p, SNAP_CREATE_FAILED, "cannot start the exec command %s: %s",
				     (char *)s->argv.items[0], strerror(-r));
	p->window_pgid = proc_pgid(s->proc);
	return SNAP_OK;
}

/* The last non-empty line of OUTPUT, at most QUOTE_MAX bytes of it, into BUF. */
static const char *last_line(const char *output, char *buf, size_t size)
{
	const char *end, *start;
	size_t len;

	if (!output)
		return NULL;
	end = output + strlen(output);
	while (end > output && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
				end[-1] == '\t'))
		end--;
	if (end == output)
		return NULL;
	start = end;
	while (start > output && start[-1] != '\n')
		start--;
	len = (size_t)(end - start);
	if (len >= size)
		len = size - 1;
	memcpy(buf, start, len);
	buf[len] = '\0';
	return buf;
}

/* Inside the window: release the child forked in prepare and wait for its verdict. */
static int exec_create(struct provider *p)
{
	struct exec_state *s = p->priv;
	struct proc_result res = {};
	char quote[QUOTE_MAX + 1];
	const char *line;
	int r;

	if (!s || !s->proc)
		return provider_fail(p, SNAP_CREATE_FAILED, "the exec provider was not prepared");
	r = proc_go(s->proc);
	if (r < 0) {
		proc_kill(TAKE_PTR(s->proc));
		return provider_fail(p, SNAP_CREATE_FAILED, "cannot start the exec command %s: %s",
				     (char *)s->argv.items[0], strerror(-r));
	}
	r = proc_wait(TAKE_PTR(s->proc), 0, p->window_closed, &res);
	free(p->output);
	p->output = TAKE_PTR(res.output);
	p->command_status = res.status;
	line = last_line(p->output, quote, sizeof(quote));
	/* Only scalars are left in RES: the output moved to p->output. */
	/* Closed early: whatever the command did may postdate the thaw. */
	if (res.aborted || window_is_closed(p))
		return provider_fail(p, SNAP_PAUSE_FAILED,
				     "the I/O-pause deadline passed while the exec command ran; %s",
				     res.aborted ? "it was killed" : "its snapshot is not consistent");
	if (r < 0)
		return provider_fail(p, SNAP_CREATE_FAILED,
				     "waiting for the exec command %s failed: %s",
				     (char *)s->argv.items[0], strerror(-r));
	if (res.spawn_failed)
		return provider_fail(p, SNAP_CREATE_FAILED, "cannot run the exec command %s: %s",
				     (char *)s->argv.items[0], strerror(res.spawn_errno));
	if (res.signal)
		return provider_fail(p, SNAP_CREATE_FAILED,
				     "the exec command was killed by signal %d%s%s", res.signal,
				     line ? ": " : "", line ? line : "");
	if (res.status != 0)
		return provider_fail(p, SNAP_CREATE_FAILED,
				     "the exec command exited with status %d%s%s", res.status,
				     line ? ": " : "", line ? line : "");
	s->created = true;
	return SNAP_OK;
}

static int exec_finish(struct provider *p)
{
	struct exec_state *s = p->priv;

	if (!s || !s->created)
		return provider_fail(p, SNAP_GROUP_STATE, "the exec snapshot was not created");
	if (p->n_items > 0)
		return SNAP_OK;
	for (size_t i = 0; i < s->disks.n; i++) {
		const struct frz_disk *d = s->disks.items[i];

		if (provider_add_item(p, frz_disk_get_id(d), frz_disk_get_device(d), p->group_id,
				      "completed", 0, NULL) < 0)
			return provider_fail(p, SNAP_UNKNOWN, "out of memory");
	}
	return SNAP_OK;
}

static int exec_tag(struct provider *p _unused_, enum snapshot_verdict verdict _unused_)
{
	/* The command saw the window; labels are its business. */
	return SNAP_OK;
}

static void exec_free(struct provider *p)
{
	struct exec_state *s = p->priv;

	if (!s)
		return;
	proc_kill(TAKE_PTR(s->proc));
	ptrvec_free_items(&s->argv);
	ptrvec_free_items(&s->env);
	ptrvec_clear(&s->disks);
	free(s);
	p->priv = NULL;
}

const struct provider_ops provider_exec_ops = {
	.name = "exec",
	.prepare = exec_prepare,
	.create = exec_create,
	.finish = exec_finish,
	.tag = exec_tag,
	.free = exec_free,
};
