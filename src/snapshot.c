/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot workflow (see snapshot.h).  The rules it keeps:
 *
 *  - Refuse before touching the application: the plan, the provider's
 *    prepare and the freeze session's prepare (lock, open and check every
 *    filesystem, unsafe stacks, guardian) all happen before the first
 *    pre-script.
 *  - Once the pre-script phase was entered, the post-scripts run, whatever
 *    fails afterwards (a lock a pre-script took must be released).
 *  - Inside the window only provider.create runs; nothing is printed until
 *    the thaw.
 *  - The first failure decides the exit code; later ones are reported too.
 *  - The verdict says what the snapshot really is: app only when every
 *    pre-script succeeded and every filesystem was frozen.
 */
#include "config.h"

#include <errno.h>
#include <linux/major.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "freeze-internal.h"
#include "snapshot.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *snapshot_phase_to_string(enum snapshot_phase p)
{
	static const char *const names[_PHASE_MAX] = {
		[PHASE_PRE_SCRIPT] = "pre_script", [PHASE_FLUSH] = "flush",
		[PHASE_FREEZE] = "freeze",         [PHASE_CREATE] = "create",
		[PHASE_THAW] = "thaw",             [PHASE_POST_SCRIPT] = "post_script",
		[PHASE_FINISH] = "finish",         [PHASE_TAG] = "tag",
	};
	return p < _PHASE_MAX ? names[p] : "?";
}

/* V's strings as a NULL-terminated array (the strings are V's); NULL when out of memory. */
static char **strv_of(const struct ptrvec *v)
{
	char **strv = calloc(v->n + 1, sizeof(*strv));

	if (strv && v->n)
		memcpy(strv, v->items, v->n * sizeof(*strv));
	return strv;
}

/* The workflow's state while it runs. */
struct run {
	struct frz_ctx *ctx;
	const struct config *c;
	const struct snapshot_hooks *hooks;
	struct snapshot_result *res;
	struct frz_plan *plan;
	struct frz_freeze *freeze;
	struct provider *provider;
	struct snapshot_request req;
	struct ptrvec hooks_list;     /* char *: the hook directory's scripts */
	_Atomic bool window_closed;   /* set by the freeze session's close callback */
	bool app_ok;                  /* every pre-script ran and succeeded */
	bool any_pre;                 /* some pre-script or hook is configured */
	size_t n_hooks_run;           /* hooks whose pre ran: their post runs, in reverse */
	char **pre_params, **post_params, **exec_command, **exclude_disks;  /* NULL-terminated */
};

/* Record the first failure: its exit code and its one-line message. */
static int fail(struct run *r, int code, const char *fmt, ...) _printf_(3, 4);
static int fail(struct run *r, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (r->res->exit_code == SNAP_OK) {
		r->res->exit_code = code;
		free(r->res->message);
		r->res->message = msg;
	} else if (msg) {
		/* A later failure: a warning in the report, the first one decides. */
		ptrvec_push(&r->res->warnings, msg);
	}
	return code;
}

static void warn_line(struct run *r, const char *fmt, ...) _printf_(2, 3);
static void warn_line(struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ptrvec_push_vprintf(&r->res->warnings, fmt, ap);
	va_end(ap);
	fprintf(stderr, "freezeshim: warning: %s\n",
		(const char *)r->res->warnings.items[r->res->warnings.n - 1]);
}

static bool interrupted(const struct run *r)
{
	return r->hooks && r->hooks->interrupted && atomic_load(r->hooks->interrupted);
}

static void on_close(void *userdata, enum frz_close_reason reason)
{
	struct run *r = userdata;

	(void)reason;
	atomic_store(&r->window_closed, true);
}

/* ---- scripts ---------------------------------------------------------------- */

static struct snapshot_script *script_slot(struct run *r)
{
	struct snapshot_result *res = r->res;
	struct snapshot_script *s = realloc(res->scripts, (res->n_scripts + 1) * sizeof(*s));

	if (!s)
		return NULL;
	res->scripts = s;
	s = &res->scripts[res->n_scripts++];
	memset(s, 0, sizeof(*s));
	return s;
}

static bool script_ok(const struct snapshot_script *s)
{
	return s->run.outcome == SCRIPT_OK;
}

/* The first script of PHASE ("pre", "post") that did not succeed, or NULL. */
static const struct snapshot_script *first_failed(const struct run *r, const char *phase)
{
	for (size_t i = 0; i < r->res->n_scripts; i++)
		if (streq(r->res->scripts[i].phase, phase) && !script_ok(&r->res->scripts[i]))
			return &r->res->scripts[i];
	return NULL;
}

/* Run one script of PHASE; its argv is PATH then ARGS.  False when it failed. */
static bool run_one(struct run *r, const char *phase, bool hook, const char *path,
		    char *const *args, unsigned retries)
{
	struct snapshot_script *s = script_slot(r);
	char env_phase[32], env_group[256] = "FREEZESHIM_GROUP_ID=";
	_cleanup_free_ char *env_hook = NULL;
	char *env[] = { env_phase, env_group, NULL, NULL };
	char *hook_args[] = { (char *)phase, NULL };

	if (!s) {
		fail(r, SNAP_UNKNOWN, "out of memory");
		return false;
	}
	s->phase = phase;
	s->hook = hook;
	snprintf(env_phase, sizeof(env_phase), "FREEZESHIM_PHASE=%s", phase);
	/* Its own path: run from a descriptor, its $0 is /dev/fd/N. */
	if (xasprintf(&env_hook, "FREEZESHIM_HOOK=%s", path) >= 0)
		env[2] = env_hook;
	if (r->provider && r->provider->group_id)
		strncat(env_group, r->provider->group_id, sizeof(env_group) - strlen(env_group) - 1);
	/* A signal kills a pre-script; post-scripts run to their end (they release locks). */
	script_run(path, hook ? hook_args : args, env, r->c->script_timeout_ms, retries,
		   streq(phase, "pre") && r->hooks ? r->hooks->interrupted : NULL, &s->run);
	fprintf(stderr, "freezeshim: %s-%s %s: %s%s%s (%.3f s%s)\n", phase, hook ? "hook" : "script",
		path, script_outcome_to_string(s->run.outcome), s->run.reason ? ": " : "",
		s->run.reason ? s->run.reason : "", (double)s->run.duration_ns / 1e9,
		s->run.attempts > 1 ? ", after retries" : "");
	if (!script_ok(s) && s->run.last.output_len) {
		/* The end of what it said, for the operator. */
		const char *out = s->run.last.output, *p = out + s->run.last.output_len;
		int lines = 0;
		while (p > out && lines < 4)
			if (*--p == '\n' && p + 1 < out + s->run.last.output_len)
				lines++;
		fprintf(stderr, "freezeshim:   its last output: %.*s%s", (int)(out + s->run.last.output_len - p), p,
			out[s->run.last.output_len - 1] == '\n' ? "" : "\n");
	}
	return script_ok(s);
}

/*
 * The pre phase: the pre-script, then each hook in name order.  The first
 * failure stops the phase (the snapshot cannot be application-consistent
 * any more); the post phase still runs for everything attempted.
 */
static void run_pre_scripts(struct run *r)
{
	const struct config *c = r->c;
	uint64_t t0 = mono_ns();
	bool ok = true;

	r->res->phase_done[PHASE_PRE_SCRIPT] = true;
	if (c->pre_script)
		ok = run_one(r, "pre", false, c->pre_script, r->pre_params,
			     c->pre_script_retries);
	for (size_t i = 0; ok && i < r->hooks_list.n && !interrupted(r); i++) {
		r->n_hooks_run++;
		ok = run_one(r, "pre", true, r->hooks_list.items[i], NULL, c->pre_script_retries);
	}
	r->app_ok = ok && r->any_pre && !interrupted(r);
	r->res->phase_ns[PHASE_PRE_SCRIPT] = mono_ns() - t0;
}

/* The post phase: the hooks whose pre ran, in reverse, then the post-script. */
static void run_post_scripts(struct run *r)
{
	const struct config *c = r->c;
	uint64_t t0 = mono_ns();
	const struct snapshot_script *s;

	r->res->phase_done[PHASE_POST_SCRIPT] = true;
	for (size_t i = r->n_hooks_run; i-- > 0;)
		(void)run_one(r, "post", true, r->hooks_list.items[i], NULL, c->post_script_retries);
	if (c->post_script)
		(void)run_one(r, "post", false, c->post_script, r->post_params,
			      c->post_script_retries);
	r->res->phase_ns[PHASE_POST_SCRIPT] = mono_ns() - t0;
	s = first_failed(r, "post");
	if (s)
		fail(r, SNAP_POSTSCRIPT_FAILED, "post-%s %s %s: %s; the application may still be "
		     "quiesced", s->hook ? "hook" : "script", s->run.path,
		     script_outcome_to_string(s->run.outcome), s->run.reason ? s->run.reason : "failed");
}

/* ---- steps ---------------------------------------------------------------------- */

static bool disk_mapped(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->disk_map.n; i++) {
		const char *e = c->disk_map.items[i], *eq = strchr(e, '=');
		const char *dev = startswith(e, "/dev/") ? e + 5 : e;
		if (eq && (size_t)(eq - dev) == strlen(name) && strncmp(dev, name, strlen(name)) == 0)
			return true;
	}
	return false;
}

/*
 * For the local provider a loop device is a disk: its image is what gets
 * copied.  Each attached one the disk map does not name becomes disk
 * "loopN", so that a target on it plans that loop device and not the disk
 * holding its image, unless its image lies in another loop device's
 * filesystem: then it is a layer of that disk, as a partition would be.
 */
static int map_loop_disks(struct run *r)
{
	_cleanup_closedir_ DIR *d = opendir("/sys/block");
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[300];
		if (!startswith(de->d_name, "loop") || disk_mapped(r->c, de->d_name))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", de->d_name);
		_cleanup_fclose_ FILE *in = fopen(path, "re");
		char image[4096];
		struct stat st;
		if (!in || !fgets(image, sizeof(image), in))
			continue;   /* not attached */
		strstrip_trailing(image);
		/* An image inside another loop device's filesystem is copied with that one. */
		if (stat(image, &st) == 0 && major(st.st_dev) == LOOP_MAJOR)
			continue;
		int err = ctx_add_disk_map_implicit(r->ctx, de->d_name, de->d_name);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Plan, provider and the freeze session: everything that may refuse, before any script. */
static int prepare(struct run *r)
{
	const struct config *c = r->c;
	const struct provider_ops *ops;
	int err;

	for (size_t i = 0; i < c->disk_map.n; i++) {
		err = frz_ctx_add_disk_map_string(r->ctx, c->disk_map.items[i]);
		if (err < 0)
			return fail(r, SNAP_BAD_PARAM, "%s", frz_ctx_get_error(r->ctx) ?
				    frz_ctx_get_error(r->ctx) : frz_strerror(err));
	}
	if (streq(c->provider, "local") && (err = map_loop_disks(r)) < 0)
		return fail(r, SNAP_UNKNOWN, "cannot name the loop devices: %s", strerror(-err));
	err = frz_plan_new(r->ctx, (const char *const *)c->targets.items, c->targets.n,
			   c->include_spanning ? FRZ_PLAN_INCLUDE_SPANNING : 0, &r->plan);
	if (err < 0) {
		int code = frz_error_to_exit_code(err);
		return fail(r, code == 2 ? SNAP_BAD_PARAM : code == 1 ? SNAP_PRECONDITION : SNAP_UNKNOWN,
			    "%s", frz_ctx_get_error(r->ctx) ? frz_ctx_get_error(r->ctx) : frz_strerror(err));
	}
	/* From here messages are about this run, not about discovery. */
	if (frz_ctx_get_log_priority(r->ctx) < LOG_WARNING)
		frz_ctx_set_log_priority(r->ctx, LOG_WARNING);

	r->pre_params = strv_of(&c->pre_script_params);
	r->post_params = strv_of(&c->post_script_params);
	r->exec_command = strv_of(&c->exec_command);
	r->exclude_disks = strv_of(&c->exclude_disks);
	if (!r->pre_params || !r->post_params || !r->exec_command || !r->exclude_disks)
		return fail(r, SNAP_UNKNOWN, "out of memory");

	ops = provider_find(c->provider);
	if (!ops)
		return fail(r, SNAP_BAD_PARAM, "unknown provider '%s'; known: %s", c->provider,
			    provider_names());
	r->req = (struct snapshot_request){
		.ctx = r->ctx,
		.plan = r->plan,
		.name = c->name,
		.description = c->description,
		.tags = NULL,
		.n_tags = 0,
		.exclude_disks = r->exclude_disks,
		.timeout_ms = c->timeout_ms,
		.frozen = c->freeze,
		.snapshot_dir = c->snapshot_dir ? c->snapshot_dir : CONFIG_DEFAULT_SNAPSHOT_DIR,
		.exec_command = c->exec_command.n ? r->exec_command : NULL,
	};
	/* The tags as an array of structs, as the providers want them. */
	if (c->tags.n) {
		struct snapshot_tag *tags = calloc(c->tags.n, sizeof(*tags));
		if (!tags)
			return fail(r, SNAP_UNKNOWN, "out of memory");
		for (size_t i = 0; i < c->tags.n; i++)
			tags[i] = *(struct snapshot_tag *)c->tags.items[i];
		r->req.tags = tags;
		r->req.n_tags = c->tags.n;
	}
	err = provider_new(ops, &r->req, &r->window_closed, &r->provider);
	if (err < 0)
		return fail(r, SNAP_UNKNOWN, "cannot set up the %s provider: %s", ops->name,
			    strerror(-err));

	if (c->freeze) {
		if ((err = frz_freeze_new(r->plan, &r->freeze)) < 0)
			return fail(r, SNAP_UNKNOWN, "%s", frz_strerror(err));
		frz_freeze_set_timeout(r->freeze, c->timeout_ms);
		frz_freeze_set_state_dir(r->freeze, c->state_dir ? c->state_dir : FRZ_DEFAULT_STATE_DIR);
		frz_freeze_set_close_fn(r->freeze, on_close, r);
	}

	err = r->provider->ops->prepare(r->provider);
	if (err != SNAP_OK)
		return fail(r, err, "%s", r->provider->error ? r->provider->error : "the provider refused");
	free(r->res->group_id);
	r->res->group_id = strdup_or_null(r->provider->group_id);
	if (r->provider->window_pgid > 0) {
		if (r->freeze)
			frz_freeze_set_window_pgid(r->freeze, r->provider->window_pgid);
		if (r->hooks && r->hooks->window_pgid)
			r->hooks->window_pgid(r->hooks->userdata, r->provider->window_pgid);
	}

	if (r->freeze) {
		err = frz_freeze_prepare(r->freeze);
		if (err < 0) {
			int code = frz_error_to_exit_code(err);
			if (err == -EPERM || err == -EACCES)
				code = 1;   /* not root: a precondition */
			return fail(r, code == 2 ? SNAP_BAD_PARAM : code == 1 ? SNAP_PRECONDITION : SNAP_UNKNOWN,
				    "%s", frz_ctx_get_error(r->ctx) ? frz_ctx_get_error(r->ctx) : frz_strerror(err));
		}
		if (r->hooks && r->hooks->window)
			r->hooks->window(r->hooks->userdata, r->freeze);
	}
	for (size_t i = 0; i < frz_plan_get_n_warnings(r->plan); i++)
		warn_line(r, "%s", frz_plan_get_warning(r->plan, i));
	return SNAP_OK;
}

/* The hook directory, listed before anything runs (a listing error is a script failure). */
static void list_hooks(struct run *r)
{
	const struct config *c = r->c;
	_cleanup_free_ char *reason = NULL;
	bool given = c->hook_dir && !streq(c->hook_dir, CONFIG_DEFAULT_HOOK_DIR);
	int err;

	r->any_pre = c->pre_script != NULL;
	if (!c->hook_dir || !c->hook_dir[0])
		return;
	err = hook_dir_list(c->hook_dir, &r->hooks_list, &reason);
	if (err == -ENOENT && !given)
		return;   /* the default directory is optional */
	/* An empty directory is no pre-script: it makes nothing application-consistent. */
	if (err < 0 || r->hooks_list.n > 0)
		r->any_pre = true;
	if (err < 0) {
		/* Counted like a pre-script that cannot run. */
		struct snapshot_script *s = script_slot(r);
		if (s) {
			s->phase = "pre";
			s->hook = true;
			s->run.path = strdup_or_null(c->hook_dir);
			s->run.outcome = err == -ENOENT ? SCRIPT_MISSING : SCRIPT_INSECURE;
			s->run.reason = TAKE_PTR(reason);
		}
		fprintf(stderr, "freezeshim: hook directory %s: %s\n", c->hook_dir,
			s && s->run.reason ? s->run.reason : strerror(-err));
		r->app_ok = false;
	}
}


/* The window: freeze, create, thaw.  Returns whether the point in time was fixed. */
static bool window(struct run *r)
{
	struct snapshot_result *res = r->res;
	uint64_t t0, t1;
	int err, code;
	bool created = false, closed_before = false;

	if (r->freeze) {
		t0 = mono_ns();
		err = frz_freeze_freeze(r->freeze);
		t1 = mono_ns();
		res->phase_ns[PHASE_FLUSH] = frz_freeze_get_flush_ns(r->freeze);
		res->phase_done[PHASE_FLUSH] = true;
		res->phase_ns[PHASE_FREEZE] = t1 - t0 > res->phase_ns[PHASE_FLUSH] ?
			t1 - t0 - res->phase_ns[PHASE_FLUSH] : 0;
		res->phase_done[PHASE_FREEZE] = true;
		if (err < 0) {
			fail(r, SNAP_PAUSE_FAILED, "%s; no snapshot was taken",
			     frz_ctx_get_error(r->ctx) ? frz_ctx_get_error(r->ctx) : frz_strerror(err));
			return false;
		}
		res->frozen_at_us = real_us();
	}

	if (!interrupted(r)) {
		t0 = mono_ns();
		code = r->provider->ops->create(r->provider);
		res->phase_ns[PHASE_CREATE] = mono_ns() - t0;
		res->phase_done[PHASE_CREATE] = true;
		/*
		 * The guardian closes the window (and kills the exec command) before
		 * the watchdog calls back: its close reason is the earlier sign.
		 */
		closed_before = atomic_load(&r->window_closed) ||
			(r->freeze && frz_freeze_get_close_reason(r->freeze) != FRZ_CLOSE_NONE);
		created = code == SNAP_OK && !closed_before;
		/* Whatever create said, a window closed under it means no consistent snapshot. */
		if (closed_before)
			code = SNAP_PAUSE_FAILED;
	} else {
		code = SNAP_UNKNOWN;
	}

	if (r->freeze) {
		t0 = mono_ns();
		err = frz_freeze_thaw(r->freeze);
		res->phase_ns[PHASE_THAW] = mono_ns() - t0;
		res->phase_done[PHASE_THAW] = true;
		res->pause_ns = frz_freeze_get_pause_ns(r->freeze);
		if (r->hooks && r->hooks->window)
			r->hooks->window(r->hooks->userdata, NULL);
		if (r->hooks && r->hooks->window_pgid)
			r->hooks->window_pgid(r->hooks->userdata, 0);
		/*
		 * Messages buffered in the window come out now; the create's
		 * failure is reported first: it is what happened first.
		 */
		if (!created && code != SNAP_UNKNOWN)
			fail(r, code, "%s", code == SNAP_PAUSE_FAILED ?
			     (frz_ctx_get_error(r->ctx) && err < 0 ? frz_ctx_get_error(r->ctx) :
			      "the I/O-pause deadline passed before the snapshot was taken; everything was thawed") :
			     r->provider->error ? r->provider->error : "the snapshot could not be created");
		if (err == -FRZ_ERR_RESUME_FAILED)
			fail(r, SNAP_RESUME_FAILED, "%s", frz_ctx_get_error(r->ctx) ?
			     frz_ctx_get_error(r->ctx) : frz_strerror(err));
		else if (err < 0 && created)
			/* Closed at the deadline after create returned: the snapshot stands. */
			warn_line(r, "%s (after the snapshot was taken)",
				  frz_ctx_get_error(r->ctx) ? frz_ctx_get_error(r->ctx) : frz_strerror(err));
	} else if (!created && code != SNAP_UNKNOWN) {
		if (r->hooks && r->hooks->window_pgid)
			r->hooks->window_pgid(r->hooks->userdata, 0);
		fail(r, code, "%s", r->provider->error ? r->provider->error : "the snapshot could not be created");
	}
	return created;
}

static enum snapshot_verdict verdict_of(const struct run *r)
{
	if (!r->freeze)
		return VERDICT_CRASH;
	for (size_t i = 0; i < frz_freeze_get_n_filesystems(r->freeze); i++)
		if (frz_freeze_get_consistency(r->freeze, i) < FRZ_CONSISTENCY_FS)
			return VERDICT_CRASH;
	return r->app_ok ? VERDICT_APP : VERDICT_FS;
}

/* ---- the report ----------------------------------------------------------------- */

static void add_time(cJSON *o, const char *key, int64_t us)
{
	char buf[64];
	struct tm tm;
	time_t t = (time_t)(us / 1000000);

	if (!us) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	gmtime_r(&t, &tm);
	size_t l = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + l, sizeof(buf) - l, ".%06dZ", (int)(us % 1000000));
	cJSON_AddStringToObject(o, key, buf);
}

static void add_string_or_null(cJSON *o, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);
}

static char *report_json(const struct run *r)
{
	const struct snapshot_result *res = r->res;
	cJSON *root = cJSON_CreateObject(), *o, *list;
	char *text;

	cJSON_AddNumberToObject(root, "exit_code", res->exit_code);
	add_string_or_null(root, "message", res->message);
	add_string_or_null(root, "provider", r->c->provider);
	add_string_or_null(root, "group_id", res->group_id);
	cJSON_AddBoolToObject(root, "snapshot_made", res->snapshot_made);
	if (res->has_verdict) {
		char tag[64];
		cJSON_AddStringToObject(root, "verdict", snapshot_verdict_to_string(res->verdict));
		snprintf(tag, sizeof(tag), "%s:True", snapshot_verdict_tag(res->verdict));
		cJSON_AddStringToObject(root, "tag", tag);
	} else {
		cJSON_AddNullToObject(root, "verdict");
		cJSON_AddNullToObject(root, "tag");
	}
	add_string_or_null(root, "name", r->c->name);
	add_time(root, "frozen_at", res->frozen_at_us);

	o = cJSON_AddObjectToObject(root, "phases_ms");
	for (int p = 0; p < _PHASE_MAX; p++)
		if (res->phase_done[p])
			cJSON_AddNumberToObject(o, snapshot_phase_to_string(p), (double)res->phase_ns[p] / 1e6);
	cJSON_AddNumberToObject(root, "io_pause_ms", (double)res->pause_ns / 1e6);
	cJSON_AddNumberToObject(root, "total_ms", (double)res->total_ns / 1e6);

	list = cJSON_AddArrayToObject(root, "scripts");
	for (size_t i = 0; i < res->n_scripts; i++) {
		const struct snapshot_script *s = &res->scripts[i];
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "phase", s->phase);
		cJSON_AddStringToObject(o, "kind", s->hook ? "hook" : "script");
		add_string_or_null(o, "path", s->run.path);
		cJSON_AddStringToObject(o, "outcome", script_outcome_to_string(s->run.outcome));
		add_string_or_null(o, "reason", s->run.reason);
		cJSON_AddNumberToObject(o, "attempts", s->run.attempts);
		if (s->run.attempts)
			cJSON_AddNumberToObject(o, "status", s->run.last.status);
		else
			cJSON_AddNullToObject(o, "status");
		cJSON_AddNumberToObject(o, "duration_ms", (double)s->run.duration_ns / 1e6);
		cJSON_AddNumberToObject(o, "output_bytes", (double)s->run.last.output_total);
		add_string_or_null(o, "output_tail", s->run.last.output);
		cJSON_AddItemToArray(list, o);
	}

	list = cJSON_AddArrayToObject(root, "filesystems");
	if (r->freeze) {
		for (size_t i = 0; i < frz_freeze_get_n_filesystems(r->freeze); i++) {
			const struct frz_fs *fs = frz_freeze_get_filesystem(r->freeze, i);
			uint64_t fl, fr, th;
			frz_freeze_get_times(r->freeze, i, &fl, &fr, &th);
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "mountpoint", frz_fs_get_mountpoint(fs, 0));
			cJSON_AddStringToObject(o, "fstype", frz_fs_get_fstype(fs));
			cJSON_AddStringToObject(o, "outcome",
						frz_outcome_to_string(frz_freeze_get_outcome(r->freeze, i)));
			cJSON_AddStringToObject(o, "consistency",
						frz_consistency_to_string(frz_freeze_get_consistency(r->freeze, i)));
			cJSON_AddNumberToObject(o, "level", frz_freeze_get_level(r->freeze, i));
			cJSON_AddNumberToObject(o, "flush_ms", (double)fl / 1e6);
			cJSON_AddNumberToObject(o, "freeze_ms", (double)fr / 1e6);
			cJSON_AddNumberToObject(o, "thaw_ms", (double)th / 1e6);
			cJSON_AddItemToArray(list, o);
		}
	} else if (r->plan) {
		for (size_t i = 0; i < frz_plan_get_n_freeze_order(r->plan); i++) {
			const struct frz_fs *fs = frz_plan_get_freeze_order(r->plan, i);
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "mountpoint", frz_fs_get_mountpoint(fs, 0));
			cJSON_AddStringToObject(o, "fstype", frz_fs_get_fstype(fs));
			cJSON_AddStringToObject(o, "outcome", "not-frozen");
			cJSON_AddStringToObject(o, "consistency", "crash");
			cJSON_AddItemToArray(list, o);
		}
	}

	list = cJSON_AddArrayToObject(root, "snapshots");
	if (r->provider)
		for (size_t i = 0; i < r->provider->n_items; i++) {
			const struct snapshot_item *it = &r->provider->items[i];
			o = cJSON_CreateObject();
			add_string_or_null(o, "disk_id", it->disk_id);
			add_string_or_null(o, "device", it->device);
			add_string_or_null(o, "snapshot_id", it->snapshot_id);
			add_string_or_null(o, "state", it->state);
			cJSON_AddNumberToObject(o, "size", (double)it->size);
			add_string_or_null(o, "method", it->method);
			cJSON_AddItemToArray(list, o);
		}
	if (r->provider && r->provider->output) {
		o = cJSON_AddObjectToObject(root, "exec");
		cJSON_AddNumberToObject(o, "status", r->provider->command_status);
		cJSON_AddStringToObject(o, "output_tail", r->provider->output);
	}

	list = cJSON_AddArrayToObject(root, "warnings");
	for (size_t i = 0; i < res->warnings.n; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(res->warnings.items[i]));

	text = cJSON_Print(root);
	cJSON_Delete(root);
	return text;
}

/* "[snapshotgroup="ID"][message="TEXT"]", quotes and backslashes in TEXT escaped. */
char *snapshot_plugin_line(const struct snapshot_result *res)
{
	char msg[1024], esc[2100], *line = NULL;
	size_t j = 0;

	if (res->exit_code == SNAP_OK && res->has_verdict)
		snprintf(msg, sizeof(msg), "%s:True; %s", snapshot_verdict_tag(res->verdict),
			 res->message ? res->message : "snapshot group created");
	else
		snprintf(msg, sizeof(msg), "%s", res->message ? res->message : "failed");
	for (size_t i = 0; msg[i] && j + 3 < sizeof(esc); i++) {
		if (msg[i] == '"' || msg[i] == '\\')
			esc[j++] = '\\';
		esc[j++] = (msg[i] == '\n') ? ' ' : msg[i];
	}
	esc[j] = 0;
	if (xasprintf(&line, "[snapshotgroup=\"%s\"][message=\"%s\"]",
		      res->snapshot_made && res->group_id ? res->group_id : "", esc) < 0)
		return NULL;
	return line;
}

/* ---- the workflow ---------------------------------------------------------------- */

int snapshot_run(struct frz_ctx *ctx, const struct config *c, const struct snapshot_hooks *hooks,
		 struct snapshot_result *res)
{
	struct run r = { .ctx = ctx, .c = c, .hooks = hooks, .res = res };
	uint64_t t_start = mono_ns(), t0;
	bool pre_entered = false, created = false;
	int code;

	memset(res, 0, sizeof(*res));
	if (c->require_app_consistent && !c->freeze) {
		fail(&r, SNAP_BAD_PARAM, "--require-app-consistent cannot be met with --no-freeze: an "
		     "application-consistent snapshot needs frozen filesystems");
		goto report;
	}

	if (prepare(&r) != SNAP_OK)
		goto cleanup;
	if (interrupted(&r)) {
		fail(&r, SNAP_UNKNOWN, "interrupted before the first script; nothing was frozen");
		goto cleanup;
	}
	list_hooks(&r);

	/* Pre-scripts.  Their failure downgrades, or fails with --require-app-consistent. */
	pre_entered = true;
	run_pre_scripts(&r);
	if (interrupted(&r)) {
		fail(&r, SNAP_UNKNOWN, "interrupted; no snapshot was taken");
		goto post;
	}
	{
		const struct snapshot_script *s = first_failed(&r, "pre");

		if (s && c->require_app_consistent) {
			fail(&r, SNAP_PRESCRIPT_FAILED, "pre-%s %s %s: %s; no snapshot was taken "
			     "(--require-app-consistent)", s->hook ? "hook" : "script", s->run.path,
			     script_outcome_to_string(s->run.outcome),
			     s->run.reason ? s->run.reason : "failed");
			goto post;
		}
		if (s)
			warn_line(&r, "pre-%s %s %s: %s; the snapshot is filesystem-consistent only",
				  s->hook ? "hook" : "script", s->run.path,
				  script_outcome_to_string(s->run.outcome),
				  s->run.reason ? s->run.reason : "failed");
		else if (c->require_app_consistent && !r.any_pre) {
			fail(&r, SNAP_PRESCRIPT_FAILED, "--require-app-consistent: no pre-script or "
			     "hook is configured; no snapshot was taken");
			goto post;
		}
	}

	created = window(&r);
	res->snapshot_made = created;
	if (r.freeze || res->phase_done[PHASE_CREATE]) {
		fprintf(stderr, "freezeshim: flush %.1f ms, freeze %.1f ms, create %.1f ms, thaw %.1f ms: "
			"I/O pause %.1f ms\n", (double)res->phase_ns[PHASE_FLUSH] / 1e6,
			(double)res->phase_ns[PHASE_FREEZE] / 1e6, (double)res->phase_ns[PHASE_CREATE] / 1e6,
			(double)res->phase_ns[PHASE_THAW] / 1e6, (double)res->pause_ns / 1e6);
	}

post:
	if (pre_entered)
		run_post_scripts(&r);

	if (created) {
		res->has_verdict = true;
		res->verdict = verdict_of(&r);
		t0 = mono_ns();
		code = r.provider->ops->finish(r.provider);
		res->phase_ns[PHASE_FINISH] = mono_ns() - t0;
		res->phase_done[PHASE_FINISH] = true;
		if (code != SNAP_OK) {
			fail(&r, code, "%s", r.provider->error ? r.provider->error : "the snapshot did not complete");
		} else {
			t0 = mono_ns();
			code = r.provider->ops->tag(r.provider, res->verdict);
			res->phase_ns[PHASE_TAG] = mono_ns() - t0;
			res->phase_done[PHASE_TAG] = true;
			if (code != SNAP_OK)
				fail(&r, code, "%s", r.provider->error ? r.provider->error : "tagging failed");
		}
		free(res->group_id);
		res->group_id = strdup_or_null(r.provider->group_id);
		if (res->exit_code == SNAP_OK) {
			free(res->message);
			res->message = NULL;
			if (xasprintf(&res->message, "snapshot group %s of %zu disk%s created",
				      res->group_id ? res->group_id : "?", r.provider->n_items,
				      r.provider->n_items == 1 ? "" : "s") < 0)
				res->message = NULL;
		}
		fprintf(stderr, "freezeshim: snapshot %s: %s-consistent (%s:True)\n",
			res->group_id ? res->group_id : "?", snapshot_verdict_to_string(res->verdict),
			snapshot_verdict_tag(res->verdict));
	}
	if (interrupted(&r))
		fail(&r, SNAP_UNKNOWN, "interrupted");

cleanup:
	if (r.freeze && hooks && hooks->window)
		hooks->window(hooks->userdata, NULL);
report:
	res->total_ns = mono_ns() - t_start;
	if (hooks && hooks->final_exit)
		res->exit_code = hooks->final_exit(res->exit_code);
	res->json = report_json(&r);
	provider_free(r.provider);
	free((void *)r.req.tags);
	frz_freeze_unref(r.freeze);
	frz_plan_unref(r.plan);
	ptrvec_free_items(&r.hooks_list);
	free(r.pre_params);
	free(r.post_params);
	free(r.exec_command);
	free(r.exclude_disks);
	return res->exit_code;
}

void snapshot_result_clear(struct snapshot_result *res)
{
	free(res->message);
	free(res->group_id);
	for (size_t i = 0; i < res->n_scripts; i++)
		script_run_clear(&res->scripts[i].run);
	free(res->scripts);
	ptrvec_free_items(&res->warnings);
	free(res->json);
	memset(res, 0, sizeof(*res));
}
