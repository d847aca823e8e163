/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The settings of `freezeshim snapshot`: freezeshim.conf, Azure's
 * VMSnapshotPluginConfig.json, Alibaba's --params string and the
 * command-line setters, their checks, and the JSON of --print-config.
 * Every source is applied to a copy that replaces the settings only when
 * the whole source was good.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>

#include "snapshot-config.h"
#include "freeze-internal.h"
#include "provider.h"
#include "scripts.h"

#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define TIMEOUT_MIN_MS 1ULL
#define SCRIPT_TIMEOUT_MIN_MS 1000ULL
#define TIMEOUT_MAX_MS 86400000ULL
#define RETRIES_MAX 10
#define NAME_MAX_CHARS 128
#define DESCRIPTION_MAX_CHARS 256
#define TAG_MAX_CHARS 128
#define TAGS_MAX 20
#define RAM_ROLE_MAX_CHARS 64

/* The freezeshim.conf keys, in the order --print-config shows them. */
enum conf_key {
	KEY_PROVIDER,
	KEY_TIMEOUT,
	KEY_FREEZE,
	KEY_PRE_SCRIPT,
	KEY_POST_SCRIPT,
	KEY_PRE_SCRIPT_PARAM,
	KEY_POST_SCRIPT_PARAM,
	KEY_PRE_SCRIPT_RETRIES,
	KEY_POST_SCRIPT_RETRIES,
	KEY_SCRIPT_TIMEOUT,
	KEY_HOOK_DIR,
	KEY_REQUIRE_APP_CONSISTENT,
	KEY_NAME,
	KEY_DESCRIPTION,
	KEY_TAG,
	KEY_EXCLUDE_DISK,
	KEY_TARGETS,
	KEY_DISK_MAP,
	KEY_INCLUDE_SPANNING,
	KEY_STATE_DIR,
	KEY_SNAPSHOT_DIR,
	KEY_EXEC_COMMAND,
	KEY_RAM_ROLE,
	_KEY_MAX,
};

static const char *const conf_key_names[_KEY_MAX] = {
	[KEY_PROVIDER] = "provider",
	[KEY_TIMEOUT] = "timeout",
	[KEY_FREEZE] = "freeze",
	[KEY_PRE_SCRIPT] = "pre-script",
	[KEY_POST_SCRIPT] = "post-script",
	[KEY_PRE_SCRIPT_PARAM] = "pre-script-param",
	[KEY_POST_SCRIPT_PARAM] = "post-script-param",
	[KEY_PRE_SCRIPT_RETRIES] = "pre-script-retries",
	[KEY_POST_SCRIPT_RETRIES] = "post-script-retries",
	[KEY_SCRIPT_TIMEOUT] = "script-timeout",
	[KEY_HOOK_DIR] = "hook-dir",
	[KEY_REQUIRE_APP_CONSISTENT] = "require-app-consistent",
	[KEY_NAME] = "name",
	[KEY_DESCRIPTION] = "description",
	[KEY_TAG] = "tag",
	[KEY_EXCLUDE_DISK] = "exclude-disk",
	[KEY_TARGETS] = "targets",
	[KEY_DISK_MAP] = "disk-map",
	[KEY_INCLUDE_SPANNING] = "include-spanning",
	[KEY_STATE_DIR] = "state-dir",
	[KEY_SNAPSHOT_DIR] = "snapshot-dir",
	[KEY_EXEC_COMMAND] = "exec-command",
	[KEY_RAM_ROLE] = "ram-role",
};

/* The other tools' names of the same settings, in their documentation's order. */
struct foreign_key {
	const char *name;
	enum conf_key key;
};

static const struct foreign_key alibaba_params[] = {
	{ "RamRoleName", KEY_RAM_ROLE },
	{ "EnableFsFreeze", KEY_FREEZE },
	{ "TimeoutInSeconds", KEY_TIMEOUT },
	{ "PreScriptPath", KEY_PRE_SCRIPT },
	{ "PostScriptPath", KEY_POST_SCRIPT },
	{ "ExcludeDiskId", KEY_EXCLUDE_DISK },
	{ "Name", KEY_NAME },
	{ "Description", KEY_DESCRIPTION },
	{ "ScriptTimeoutInSeconds", KEY_SCRIPT_TIMEOUT },
};

/* continueBackupOnFailure is require-app-consistent inverted. */
static const struct foreign_key azure_keys[] = {
	{ "preScriptLocation", KEY_PRE_SCRIPT },
	{ "postScriptLocation", KEY_POST_SCRIPT },
	{ "preScriptParams", KEY_PRE_SCRIPT_PARAM },
	{ "postScriptParams", KEY_POST_SCRIPT_PARAM },
	{ "preScriptNoOfRetries", KEY_PRE_SCRIPT_RETRIES },
	{ "postScriptNoOfRetries", KEY_POST_SCRIPT_RETRIES },
	{ "timeoutInSeconds", KEY_SCRIPT_TIMEOUT },
	{ "continueBackupOnFailure", KEY_REQUIRE_APP_CONSISTENT },
	{ "fsFreezeEnabled", KEY_FREEZE },
};

/* Set *RET_ERROR to a one-line message (control characters shown as '?'); return R. */
static int error_setv(char **ret_error, int r, const char *fmt, va_list ap) _printf_(3, 0);
static int error_setv(char **ret_error, int r, const char *fmt, va_list ap)
{
	char *msg;

	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (!msg)
		r = -ENOMEM;
	else
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	if (ret_error)
		*ret_error = msg;
	else
		free(msg);
	return r;
}

static int error_set(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int error_set(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	r = error_setv(ret_error, r, fmt, ap);
	va_end(ap);
	return r;
}

/* The usual case: -EINVAL. */
static int invalid(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int invalid(char **ret_error, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = error_setv(ret_error, -EINVAL, fmt, ap);
	va_end(ap);
	return r;
}

static int error_oom(char **ret_error)
{
	return error_set(ret_error, -ENOMEM, "out of memory");
}

/* 30000 -> "30", 2500 -> "2.5", 1 -> "0.001": no locale, no rounding. */
static const char *ms_to_text(uint64_t ms, char buf[static 32])
{
	int n = snprintf(buf, 32, "%llu.%03llu", (unsigned long long)(ms / 1000),
			 (unsigned long long)(ms % 1000));

	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	return buf;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Seconds written as DIGITS[.DIGITS] ("30", "2.5") to milliseconds, the
 * range checked on the exact value ("86400.0001" is out of it).  -EINVAL
 * when malformed (or a fraction where WHOLE), -ERANGE outside [MIN, MAX].
 */
static int seconds_parse(const char *s, bool whole, uint64_t min_ms, uint64_t max_ms,
			 uint64_t *ret_ms)
{
	uint64_t sec = 0, frac_ms = 0, frac_digits = 0;
	bool beyond_ms = false, round_up = false, big = false;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		sec = sec * 10 + (uint64_t)(*p - '0');
		if (sec > max_ms)
			big = true, sec = max_ms;
	}
	if (*p == '.') {
		if (whole || !is_digit(p[1]))
			return -EINVAL;
		for (p++; is_digit(*p); p++, frac_digits++) {
			if (frac_digits < 3)
				frac_ms = frac_ms * 10 + (uint64_t)(*p - '0');
			else if (*p != '0')
				beyond_ms = true;
			if (frac_digits == 3 && *p >= '5')
				round_up = true;
		}
		for (; frac_digits < 3; frac_digits++)
			frac_ms *= 10;
	}
	if (*p)
		return -EINVAL;
	if (big || sec > max_ms / 1000)
		return -ERANGE;
	uint64_t ms = sec * 1000 + frac_ms;
	if (ms < min_ms || ms > max_ms || (ms == max_ms && beyond_ms))
		return -ERANGE;
	*ret_ms = ms + (round_up && ms < max_ms);
	return 0;
}

static uint64_t timeout_min_ms(const struct config *c, const uint64_t *field)
{
	return field == &c->script_timeout_ms ? SCRIPT_TIMEOUT_MIN_MS : TIMEOUT_MIN_MS;
}

/* A timeout from text; WHOLE: whole seconds only (Alibaba's and Azure's integers). */
static int set_seconds_text(struct config *c, uint64_t *field, const char *value, bool whole,
			    const char *origin, char **ret_error)
{
	uint64_t min_ms = timeout_min_ms(c, field), ms;
	char lo[32], hi[32];
	int r;

	if (whole && min_ms < 1000)
		min_ms = 1000;
	r = seconds_parse(value, whole, min_ms, TIMEOUT_MAX_MS, &ms);
	if (r == -EINVAL && whole && seconds_parse(value, false, 0, TIMEOUT_MAX_MS, &ms) != -EINVAL)
		return invalid(ret_error, "%s: '%.40s' is not a whole number of seconds", origin,
			       value);
	ms_to_text(min_ms, lo);
	ms_to_text(TIMEOUT_MAX_MS, hi);
	if (r == -EINVAL)
		return invalid(ret_error, "%s: '%.40s' is not a number of seconds; give one "
			       "between %s and %s", origin, value, lo, hi);
	if (r < 0)
		return invalid(ret_error, "%s: %.40s is out of range; give seconds between %s and "
			       "%s", origin, value, lo, hi);
	*field = ms;
	return 0;
}

int config_set_timeout(struct config *c, uint64_t *field, const char *value, const char *origin,
		       char **ret_error)
{
	return set_seconds_text(c, field, value ? value : "", false, origin, ret_error);
}

static int set_seconds_number(struct config *c, uint64_t *field, double sec, const char *origin,
			      char **ret_error)
{
	uint64_t min_ms = timeout_min_ms(c, field);
	char lo[32], hi[32];

	if (!(sec >= (double)min_ms / 1000.0 && sec <= (double)TIMEOUT_MAX_MS / 1000.0))
		return invalid(ret_error, "%s: %g is out of range; give seconds between %s and %s",
			       origin, sec, ms_to_text(min_ms, lo), ms_to_text(TIMEOUT_MAX_MS, hi));
	*field = (uint64_t)(sec * 1000.0 + 0.5);
	return 0;
}

static int set_retries_text(unsigned *field, const char *value, const char *origin,
			    char **ret_error)
{
	unsigned n = 0;
	const char *p;

	for (p = value; is_digit(*p) && n <= RETRIES_MAX; p++)
		n = n * 10 + (unsigned)(*p - '0');
	if (p == value || *p || n > RETRIES_MAX)
		return invalid(ret_error, "%s: '%.40s' is not a number of retries; give one from 0 "
			       "to %d", origin, value, RETRIES_MAX);
	*field = n;
	return 0;
}

static int set_retries_number(unsigned *field, double v, const char *origin, char **ret_error)
{
	if (!(v >= 0 && v <= RETRIES_MAX) || (double)(unsigned)v != v)
		return invalid(ret_error, "%s: %g is not a number of retries; give a whole number "
			       "from 0 to %d", origin, v, RETRIES_MAX);
	*field = (unsigned)v;
	return 0;
}

static int bool_parse(const char *s, bool *ret)
{
	if (strcasecmp(s, "true") == 0)
		*ret = true;
	else if (strcasecmp(s, "false") == 0)
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

static int set_bool_text(bool *field, const char *value, const char *origin, char **ret_error)
{
	if (bool_parse(value, field) < 0)
		return invalid(ret_error, "%s: '%.40s' is not true or false", origin, value);
	return 0;
}

/* Replace *FIELD with a copy of VALUE (NULL: unset). */
static int set_string(char **field, const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* A path that names something run or written as root: absolute, printable. */
static int check_path(const char *value, const char *origin, char **ret_error)
{
	if (value[0] != '/')
		return invalid(ret_error, "%s: '%s' is not an absolute path; give one "
			       "starting with /", origin, value);
	if (has_control_chars(value))
		return invalid(ret_error, "%s: the path holds control characters", origin);
	if (strlen(value) >= PATH_MAX)
		return invalid(ret_error, "%s: the path is longer than %d bytes", origin,
			       PATH_MAX - 1);
	return 0;
}

/* VALUE NULL or "": unset. */
static int set_path(char **field, const char *value, const char *origin, char **ret_error)
{
	int r;

	if (value && !*value)
		value = NULL;
	if (value && (r = check_path(value, origin, ret_error)) < 0)
		return r;
	return set_string(field, value) < 0 ? error_oom(ret_error) : 0;
}

/* The characters of UTF-8 S, or -1 when it is not valid UTF-8. */
static ssize_t utf8_length(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	ssize_t n = 0;

	while (*p) {
		unsigned len, cp;

		if (*p < 0x80)
			len = 1, cp = *p;
		else if ((*p & 0xe0) == 0xc0)
			len = 2, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			len = 3, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			len = 4, cp = *p & 0x07;
		else
			return -1;
		for (unsigned i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return -1;
		p += len;
		n++;
	}
	return n;
}

/* Why NAME breaks the name rules (see config.h), or NULL. */
static const char *name_problem(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return "it is empty";
	if (len > NAME_MAX_CHARS)
		return "it is longer than 128 characters";
	if (!is_ascii_letter(name[0]))
		return "it must start with a letter (A-Z, a-z)";
	if (startswith(name, "http://") || startswith(name, "https://"))
		return "it must not start with http:// or https://";
	for (const char *p = name; *p; p++)
		if (!is_ascii_letter(*p) && !is_digit(*p) && !strchr("._-:", *p))
			return "use letters, digits and . _ - : only";
	return NULL;
}

bool config_name_valid(const char *name)
{
	return name && !name_problem(name);
}

int config_set_name(struct config *c, const char *value, const char *origin, char **ret_error)
{
	const char *problem;

	if (value && *value && (problem = name_problem(value)))
		return invalid(ret_error, "%s: '%.140s' is not a valid snapshot name: %s",
			       origin, value, problem);
	return set_string(&c->name, value && *value ? value : NULL) < 0 ? error_oom(ret_error) : 0;
}

/* Printable UTF-8 text of at most MAX characters. */
static const char *text_problem(const char *s, ssize_t max)
{
	ssize_t n = utf8_length(s);

	if (n < 0)
		return "it is not valid UTF-8";
	if (n > max)
		return max == DESCRIPTION_MAX_CHARS ? "it is longer than 256 characters" :
						      "it is longer than 128 characters";
	if (has_control_chars(s))
		return "it holds control characters";
	return NULL;
}

int config_set_description(struct config *c, const char *value, const char *origin,
			   char **ret_error)
{
	const char *problem;

	if (value && *value && (problem = text_problem(value, DESCRIPTION_MAX_CHARS)))
		return invalid(ret_error, "%s: not a valid description: %s", origin,
			       problem);
	return set_string(&c->description, value && *value ? value : NULL) < 0 ?
		       error_oom(ret_error) : 0;
}

int config_set_provider(struct config *c, const char *value, const char *origin,
			char **ret_error)
{
	if (!value || !provider_find(value))
		return invalid(ret_error, "%s: unknown provider '%.40s'; known: %s", origin,
			       value ? value : "", provider_names());
	return set_string(&c->provider, value) < 0 ? error_oom(ret_error) : 0;
}

/* Alibaba's RAM role names: 1-64 letters, digits, '.', '-'.  It ends up in a URL path. */
static bool ram_role_valid(const char *role)
{
	bool ok = *role && strlen(role) <= RAM_ROLE_MAX_CHARS && !streq(role, ".") &&
		  !streq(role, "..");

	for (const char *p = role; ok && *p; p++)
		ok = is_ascii_letter(*p) || is_digit(*p) || *p == '.' || *p == '-';
	return ok;
}

static int ram_role_error(const char *role, const char *origin, char **ret_error)
{
	return invalid(ret_error, "%s: '%.70s' is not a RAM role name: use 1 to 64 "
		       "letters, digits, '.' and '-'", origin, role);
}

static int set_ram_role(struct config *c, const char *value, const char *origin,
			char **ret_error)
{
	if (value && *value && !ram_role_valid(value))
		return ram_role_error(value, origin, ret_error);
	return set_string(&c->ram_role, value && *value ? value : NULL) < 0 ? error_oom(ret_error) :
									       0;
}

static void tag_free(struct snapshot_tag *t)
{
	if (!t)
		return;
	free(t->key);
	free(t->value);
	free(t);
}

void config_list_reset(struct config *c, struct ptrvec *list)
{
	if (list == &c->tags) {
		for (size_t i = 0; i < list->n; i++)
			tag_free(list->items[i]);
		ptrvec_clear(list);
	} else {
		ptrvec_free_items(list);
	}
}

static int tag_push(struct ptrvec *tags, const char *key, const char *value)
{
	struct snapshot_tag *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->key = strdup(key);
	t->value = strdup(value);
	if (!t->key || !t->value || ptrvec_push(tags, t) < 0) {
		tag_free(t);
		return -ENOMEM;
	}
	return 0;
}

static int add_tag(struct config *c, const char *key, const char *value, const char *origin,
		   char **ret_error)
{
	static const enum snapshot_verdict verdicts[] = { VERDICT_CRASH, VERDICT_FS, VERDICT_APP };
	const char *problem;

	if (!*key)
		return invalid(ret_error, "%s: a tag key is empty", origin);
	if ((problem = text_problem(key, TAG_MAX_CHARS)))
		return invalid(ret_error, "%s: tag key '%.140s' is not valid: %s", origin,
			       key, problem);
	if (strncasecmp(key, "aliyun", 6) == 0 || strncasecmp(key, "acs:", 4) == 0)
		return invalid(ret_error, "%s: tag key '%.140s' is reserved: keys may not "
			       "start with 'aliyun' or 'acs:'", origin, key);
	for (size_t i = 0; i < ARRAY_SIZE(verdicts); i++)
		if (strcasecmp(key, snapshot_verdict_tag(verdicts[i])) == 0)
			return invalid(ret_error, "%s: tag key '%s' is the consistency tag "
				       "freezeshim sets itself; choose another key", origin, key);
	if ((problem = text_problem(value, TAG_MAX_CHARS)))
		return invalid(ret_error, "%s: the value of tag '%s' is not valid: %s",
			       origin, key, problem);
	for (size_t i = 0; i < c->tags.n; i++)
		if (streq(((struct snapshot_tag *)c->tags.items[i])->key, key))
			return invalid(ret_error, "%s: tag '%s' is given twice", origin,
				       key);
	if (c->tags.n >= TAGS_MAX)
		return invalid(ret_error, "%s: more than %d tags", origin, TAGS_MAX);
	return tag_push(&c->tags, key, value) < 0 ? error_oom(ret_error) : 0;
}

int config_add_tag(struct config *c, const char *key_eq_value, const char *origin,
		   char **ret_error)
{
	_cleanup_free_ char *key = NULL;
	const char *eq = key_eq_value ? strchr(key_eq_value, '=') : NULL;

	if (!eq)
		return invalid(ret_error, "%s: '%.140s' is not a tag: write KEY=VALUE",
			       origin, key_eq_value ? key_eq_value : "");
	key = strndup(key_eq_value, (size_t)(eq - key_eq_value));
	if (!key)
		return error_oom(ret_error);
	return add_tag(c, key, eq + 1, origin, ret_error);
}

/* One "DEVICE=DISKID" of the disk map; the plan checks the names themselves. */
static int add_disk_map(struct config *c, const char *device, const char *disk_id,
			const char *origin, char **ret_error)
{
	char *entry;

	if (!*device || strchr(device, '=') || !*disk_id || has_control_chars(device) ||
	    has_control_chars(disk_id))
		return invalid(ret_error, "%s: '%.70s=%.70s' is not a disk map entry: write "
			       "DEVICE=DISKID, e.g. /dev/vdb=d-bp1xxxxxxxxxxxxxxxxx", origin,
			       device, disk_id);
	for (size_t i = 0; i < c->disk_map.n; i++) {
		const char *other = c->disk_map.items[i];
		size_t len = strlen(device);

		if (strncmp(other, device, len) == 0 && other[len] == '=')
			return invalid(ret_error, "%s: device '%s' is mapped twice", origin,
				       device);
	}
	if (xasprintf(&entry, "%s=%s", device, disk_id) < 0)
		return error_oom(ret_error);
	if (ptrvec_push(&c->disk_map, entry) < 0) {
		free(entry);
		return error_oom(ret_error);
	}
	return 0;
}

static int add_disk_map_string(struct config *c, const char *device_eq_id, const char *origin,
			       char **ret_error)
{
	_cleanup_free_ char *device = NULL;
	const char *eq = strchr(device_eq_id, '=');

	if (!eq)
		return invalid(ret_error, "%s: '%.140s' is not a disk map entry: write "
			       "DEVICE=DISKID, e.g. /dev/vdb=d-bp1xxxxxxxxxxxxxxxxx", origin,
			       device_eq_id);
	device = strndup(device_eq_id, (size_t)(eq - device_eq_id));
	if (!device)
		return error_oom(ret_error);
	return add_disk_map(c, device, eq + 1, origin, ret_error);
}

static int push_string(struct ptrvec *v, const char *s, char **ret_error)
{
	char *copy = strdup(s);

	if (!copy || ptrvec_push(v, copy) < 0) {
		free(copy);
		return error_oom(ret_error);
	}
	return 0;
}

/* Alibaba's ExcludeDiskId: IDs separated by commas or spaces. */
static int set_disk_list_text(struct ptrvec *list, const char *value, const char *origin,
			      char **ret_error)
{
	struct ptrvec ids = {};
	const char *p = value;

	while (*p) {
		size_t len = strcspn(p, ", \t");
		char *id;

		if (len == 0) {
			p++;
			continue;
		}
		id = strndup(p, len);
		if (!id || ptrvec_push(&ids, id) < 0) {
			free(id);
			ptrvec_free_items(&ids);
			return error_oom(ret_error);
		}
		if (has_control_chars(id)) {
			ptrvec_free_items(&ids);
			return invalid(ret_error, "%s: a disk ID holds control characters",
				       origin);
		}
		p += len;
	}
	/* Separators only: as empty as "", so not set. */
	if (ids.n > 0) {
		ptrvec_free_items(list);
		*list = ids;
	}
	return 0;
}

static int strv_copy(struct ptrvec *dst, const struct ptrvec *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (push_string(dst, src->items[i], NULL) < 0)
			return -ENOMEM;
	return 0;
}

void config_init(struct config *c)
{
	/* Out of memory leaves a default NULL: config_validate says so. */
	*c = (struct config){
		.provider = strdup("local"),
		.timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS,
		.freeze = true,
		.script_timeout_ms = CONFIG_DEFAULT_SCRIPT_TIMEOUT_MS,
		.hook_dir = strdup(CONFIG_DEFAULT_HOOK_DIR),
		.state_dir = strdup(FRZ_DEFAULT_STATE_DIR),
		.snapshot_dir = strdup(CONFIG_DEFAULT_SNAPSHOT_DIR),
	};
}

void config_clear(struct config *c)
{
	free(c->provider);
	free(c->pre_script);
	free(c->post_script);
	free(c->hook_dir);
	free(c->name);
	free(c->description);
	free(c->state_dir);
	free(c->snapshot_dir);
	free(c->ram_role);
	ptrvec_free_items(&c->pre_script_params);
	ptrvec_free_items(&c->post_script_params);
	config_list_reset(c, &c->tags);
	ptrvec_free_items(&c->exclude_disks);
	ptrvec_free_items(&c->targets);
	ptrvec_free_items(&c->disk_map);
	ptrvec_free_items(&c->exec_command);
	ptrvec_free_items(&c->warnings);
	*c = (struct config){};
}

static int config_copy(struct config *dst, const struct config *src)
{
	*dst = (struct config){
		.timeout_ms = src->timeout_ms,
		.freeze = src->freeze,
		.pre_script_retries = src->pre_script_retries,
		.post_script_retries = src->post_script_retries,
		.script_timeout_ms = src->script_timeout_ms,
		.require_app_consistent = src->require_app_consistent,
		.include_spanning = src->include_spanning,
	};
	if (set_string(&dst->provider, src->provider) < 0 ||
	    set_string(&dst->pre_script, src->pre_script) < 0 ||
	    set_string(&dst->post_script, src->post_script) < 0 ||
	    set_string(&dst->hook_dir, src->hook_dir) < 0 ||
	    set_string(&dst->name, src->name) < 0 ||
	    set_string(&dst->description, src->description) < 0 ||
	    set_string(&dst->state_dir, src->state_dir) < 0 ||
	    set_string(&dst->snapshot_dir, src->snapshot_dir) < 0 ||
	    set_string(&dst->ram_role, src->ram_role) < 0 ||
	    strv_copy(&dst->pre_script_params, &src->pre_script_params) < 0 ||
	    strv_copy(&dst->post_script_params, &src->post_script_params) < 0 ||
	    strv_copy(&dst->exclude_disks, &src->exclude_disks) < 0 ||
	    strv_copy(&dst->targets, &src->targets) < 0 ||
	    strv_copy(&dst->disk_map, &src->disk_map) < 0 ||
	    strv_copy(&dst->exec_command, &src->exec_command) < 0 ||
	    strv_copy(&dst->warnings, &src->warnings) < 0)
		goto fail;
	for (size_t i = 0; i < src->tags.n; i++) {
		const struct snapshot_tag *t = src->tags.items[i];

		if (tag_push(&dst->tags, t->key, t->value) < 0)
			goto fail;
	}
	return 0;
fail:
	config_clear(dst);
	return -ENOMEM;
}

/* Apply a whole source to a copy of C, and keep the copy only when all of it was good. */
typedef int (*apply_fn)(struct config *c, const void *input, const char *origin,
			char **ret_error);

static int apply_whole(struct config *c, apply_fn fn, const void *input, const char *origin,
		       char **ret_error)
{
	struct config next;
	int r;

	if (config_copy(&next, c) < 0)
		return error_oom(ret_error);
	r = fn(&next, input, origin, ret_error);
	if (r < 0) {
		config_clear(&next);
		return r;
	}
	config_clear(c);
	*c = next;
	return 0;
}

/* The setters of the foreign formats, whose every value is text. */
static int apply_text(struct config *c, enum conf_key key, const char *value,
		      const char *origin, char **ret_error)
{
	switch (key) {
	case KEY_TIMEOUT:
		return set_seconds_text(c, &c->timeout_ms, value, true, origin, ret_error);
	case KEY_SCRIPT_TIMEOUT:
		return set_seconds_text(c, &c->script_timeout_ms, value, true, origin, ret_error);
	case KEY_FREEZE:
		return set_bool_text(&c->freeze, value, origin, ret_error);
	case KEY_PRE_SCRIPT:
		return set_path(&c->pre_script, value, origin, ret_error);
	case KEY_POST_SCRIPT:
		return set_path(&c->post_script, value, origin, ret_error);
	case KEY_PRE_SCRIPT_RETRIES:
		return set_retries_text(&c->pre_script_retries, value, origin, ret_error);
	case KEY_POST_SCRIPT_RETRIES:
		return set_retries_text(&c->post_script_retries, value, origin, ret_error);
	case KEY_NAME:
		return config_set_name(c, value, origin, ret_error);
	case KEY_DESCRIPTION:
		return config_set_description(c, value, origin, ret_error);
	case KEY_EXCLUDE_DISK:
		return set_disk_list_text(&c->exclude_disks, value, origin, ret_error);
	case KEY_RAM_ROLE:
		return set_ram_role(c, value, origin, ret_error);
	case KEY_REQUIRE_APP_CONSISTENT: {
		/* Only Azure's continueBackupOnFailure comes here: the inverse. */
		bool continue_on_failure;
		int r = set_bool_text(&continue_on_failure, value, origin, ret_error);

		if (r >= 0)
			c->require_app_consistent = !continue_on_failure;
		return r;
	}
	default:
		return invalid(ret_error, "%s: cannot be given as text", origin);
	}
}

/* ---- Alibaba's --params ---- */

static const struct foreign_key *alibaba_param_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(alibaba_params); i++)
		if (strlen(alibaba_params[i].name) == len &&
		    strncmp(alibaba_params[i].name, name, len) == 0)
			return &alibaba_params[i];
	return NULL;
}

static int alibaba_unknown(const char *name, size_t len, char **ret_error)
{
	char known[512] = "";

	for (size_t i = 0; i < ARRAY_SIZE(alibaba_params); i++) {
		strcat(known, i ? ", -" : "-");
		strcat(known, alibaba_params[i].name);
	}
	return invalid(ret_error, "--params: unknown parameter -%.*s (known: %s)",
		       (int)(len > 60 ? 60 : len), name, known);
}

/*
 * A value: "quoted" (\" and \\ escape; may hold commas), or bare up to the
 * comma that starts the next parameter (",-Name") so that the disk ID list
 * -ExcludeDiskId=d-1,d-2 needs no quotes, as a shell that ate the quotes
 * hands it over.  *P is left after the separating comma.
 */
static int alibaba_value(const char **p, const char *name, char **ret_value, char **ret_error)
{
	const char *s = *p;
	char *value, *o;

	value = o = malloc(strlen(s) + 1);
	if (!value)
		return error_oom(ret_error);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
				s++;
			*o++ = *s;
		}
		if (!*s) {
			free(value);
			return invalid(ret_error, "--params: unterminated quote after -%s=",
				       name);
		}
		for (s++; *s == ' ' || *s == '\t'; s++)
			;
		if (*s && *s != ',') {
			free(value);
			return invalid(ret_error, "--params: -%s: unexpected '%c' after the "
				       "closing quote; separate parameters with ','", name, *s);
		}
	} else {
		for (; *s; s++) {
			if (*s == ',') {
				const char *next = s + 1 + strspn(s + 1, " \t");

				if (*next == '-' || !*next)
					break;
			}
			*o++ = *s;
		}
		while (o > value && (o[-1] == ' ' || o[-1] == '\t'))
			o--;
	}
	*o = '\0';
	*p = *s == ',' ? s + 1 : s;
	*ret_value = value;
	return 0;
}

static int alibaba_apply(struct config *c, const void *input, const char *origin,
			 char **ret_error)
{
	const char *p = input;
	bool seen[ARRAY_SIZE(alibaba_params)] = {};

	p = startswith(p, "--params=") ?: p;
	for (;;) {
		const struct foreign_key *param;
		_cleanup_free_ char *value = NULL, *param_origin = NULL;
		const char *name;
		size_t len;
		int r;

		p += strspn(p, " \t");
		if (!*p)
			return 0;
		if (*p != '-')
			return invalid(ret_error, "--params: expected -NAME=VALUE at '%.40s'",
				       p);
		name = ++p;
		while (is_ascii_letter(*p) || is_digit(*p))
			p++;
		len = (size_t)(p - name);
		param = alibaba_param_find(name, len);
		if (!param)
			return alibaba_unknown(name, len ? len : strcspn(name, ",="), ret_error);
		if (*p != '=')
			return invalid(ret_error, "--params: -%s: expected '=' and a value",
				       param->name);
		p++;
		if (seen[param - alibaba_params])
			return invalid(ret_error, "--params: -%s is given twice",
				       param->name);
		seen[param - alibaba_params] = true;
		if ((r = alibaba_value(&p, param->name, &value, ret_error)) < 0)
			return r;
		/* The plugin's callers pass every parameter, empty for "not set". */
		if (!value || !*value)
			continue;
		if (xasprintf(&param_origin, "%s: -%s", origin, param->name) < 0)
			return error_oom(ret_error);
		if ((r = apply_text(c, param->key, value, param_origin, ret_error)) < 0)
			return r;
	}
}

int config_apply_alibaba_params(struct config *c, const char *params, char **ret_error)
{
	return apply_whole(c, alibaba_apply, params ? params : "", "--params", ret_error);
}

/* ---- JSON ---- */

static const char *json_type_name(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "something else";
}

static int type_error(const char *origin, const char *expected, const cJSON *v, char **ret_error)
{
	return invalid(ret_error, "%s: expected %s, not %s", origin, expected,
		       json_type_name(v));
}

static void line_column(const char *text, size_t pos, unsigned *ret_line, unsigned *ret_column)
{
	unsigned line = 1, column = 1;

	for (size_t i = 0; i < pos; i++) {
		if (text[i] == '\n')
			line++, column = 1;
		else
			column++;
	}
	*ret_line = line;
	*ret_column = column;
}

/* Where the first comment (//, slash-star or #) outside a string starts, or LEN. */
static size_t first_comment(const char *text, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (in_string && text[i] == '\\')
			i++;
		else if (text[i] == '"')
			in_string = !in_string;
		else if (!in_string && (text[i] == '#' ||
					(text[i] == '/' && i + 1 < len &&
					 (text[i + 1] == '/' || text[i + 1] == '*'))))
			return i;
	}
	return len;
}

static int json_syntax_error(const char *text, size_t len, size_t pos, const char *origin,
			     char **ret_error)
{
	size_t comment = first_comment(text, len);
	unsigned line, column;
	const char *hint = "";

	if (pos > len)
		pos = len;
	/* cJSON reports a position at or just past the character it stumbled on. */
	if (comment < len && comment <= pos + 1) {
		pos = comment;
		hint = ": comments are not JSON, remove them";
	} else if (pos + 1 >= len) {
		hint = ": it ends too early (a '}' or ']' missing?)";
	}
	line_column(text, pos, &line, &column);
	if (!*hint && pos < len) {
		size_t near = strcspn(text + pos, "\r\n");

		return invalid(ret_error, "%s:%u:%u: not valid JSON near '%.*s'", origin,
			       line, column, (int)(near < 20 ? near : 20), text + pos);
	}
	return invalid(ret_error, "%s:%u:%u: not valid JSON%s", origin, line, column,
		       hint);
}

/* Parse TEXT into an object; errors name the line and column. */
static int json_parse_object(const char *text, size_t len, const char *origin, cJSON **ret,
			     char **ret_error)
{
	const char *end = NULL;
	cJSON *root;
	size_t pos;

	if (memchr(text, '\0', len))
		return invalid(ret_error, "%s: holds a NUL byte: not a JSON text", origin);
	if (strspn(text, " \t\r\n") == len)
		return invalid(ret_error, "%s: is empty; write {} for no settings", origin);
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	pos = end ? (size_t)(end - text) : 0;
	if (!root)
		return json_syntax_error(text, len, pos, origin, ret_error);
	pos += strspn(text + pos, " \t\r\n");
	if (pos < len) {
		cJSON_Delete(root);
		return json_syntax_error(text, len, pos, origin, ret_error);
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return invalid(ret_error, "%s: the top level must be a JSON object: "
			       "{\"key\": value, ...}", origin);
	}
	*ret = root;
	return 0;
}

/* A duplicate of an earlier member's key (cJSON keeps both). */
static const cJSON *json_duplicate_key(const cJSON *object)
{
	for (const cJSON *a = object->child; a; a = a->next)
		for (const cJSON *b = object->child; b != a; b = b->next)
			if (streq(a->string, b->string))
				return a;
	return NULL;
}

/* Replace LIST with the strings of array V; NON_EMPTY: no "" items. */
static int json_set_strings(struct ptrvec *list, const cJSON *v, bool non_empty,
			    const char *origin, char **ret_error)
{
	const cJSON *item;
	int r;

	if (!cJSON_IsArray(v))
		return type_error(origin, "an array of strings", v, ret_error);
	cJSON_ArrayForEach(item, v) {
		if (!cJSON_IsString(item))
			return invalid(ret_error, "%s: expected an array of strings, not "
				       "one holding %s", origin, json_type_name(item));
		if (non_empty && !*item->valuestring)
			return invalid(ret_error, "%s: holds an empty string", origin);
	}
	ptrvec_free_items(list);
	cJSON_ArrayForEach(item, v)
		if ((r = push_string(list, item->valuestring, ret_error)) < 0)
			return r;
	return 0;
}

/* {"k": "v"} or ["k=v"]: the tags or the disk map. */
static int json_set_pairs(struct config *c, enum conf_key key, const cJSON *v, const char *origin,
			  char **ret_error)
{
	const char *what = key == KEY_TAG ? "KEY=VALUE" : "DEVICE=DISKID";
	const cJSON *item;
	int r;

	config_list_reset(c, key == KEY_TAG ? &c->tags : &c->disk_map);
	if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(item, v) {
			if (!cJSON_IsString(item))
				return invalid(ret_error, "%s: '%s': expected a string, not %s",
					       origin, item->string, json_type_name(item));
			if (key == KEY_TAG)
				r = add_tag(c, item->string, item->valuestring, origin, ret_error);
			else
				r = add_disk_map(c, item->string, item->valuestring, origin,
						 ret_error);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!cJSON_IsArray(v))
		return invalid(ret_error, "%s: expected an object of strings or an array "
			       "of \"%s\" strings, not %s", origin, what, json_type_name(v));
	cJSON_ArrayForEach(item, v) {
		if (!cJSON_IsString(item))
			return invalid(ret_error, "%s: expected \"%s\" strings, not %s", origin,
				       what, json_type_name(item));
		r = key == KEY_TAG ? config_add_tag(c, item->valuestring, origin, ret_error) :
				     add_disk_map_string(c, item->valuestring, origin, ret_error);
		if (r < 0)
			return r;
	}
	return 0;
}

static int json_set_bool(bool *field, const cJSON *v, const char *origin, char **ret_error)
{
	if (!cJSON_IsBool(v))
		return type_error(origin, "true or false", v, ret_error);
	*field = cJSON_IsTrue(v);
	return 0;
}

/* A string, or null for none; "" is none too. */
static int json_optional_string(const cJSON *v, const char **ret, const char *origin,
				char **ret_error)
{
	if (cJSON_IsNull(v)) {
		*ret = NULL;
		return 0;
	}
	if (!cJSON_IsString(v))
		return type_error(origin, "a string or null", v, ret_error);
	*ret = v->valuestring;
	return 0;
}

static int json_set_seconds(struct config *c, uint64_t *field, const cJSON *v, const char *origin,
			    char **ret_error)
{
	char lo[32], hi[32];

	if (cJSON_IsNumber(v))
		return set_seconds_number(c, field, v->valuedouble, origin, ret_error);
	if (cJSON_IsString(v))
		return config_set_timeout(c, field, v->valuestring, origin, ret_error);
	return invalid(ret_error, "%s: expected a number of seconds between %s and %s, "
		       "not %s", origin, ms_to_text(timeout_min_ms(c, field), lo),
		       ms_to_text(TIMEOUT_MAX_MS, hi), json_type_name(v));
}

static int conf_apply_key(struct config *c, enum conf_key key, const cJSON *v, const char *origin,
			  char **ret_error)
{
	const char *s;
	int r;

	switch (key) {
	case KEY_PROVIDER:
		if (!cJSON_IsString(v))
			return type_error(origin, "a string", v, ret_error);
		return config_set_provider(c, v->valuestring, origin, ret_error);
	case KEY_TIMEOUT:
		return json_set_seconds(c, &c->timeout_ms, v, origin, ret_error);
	case KEY_SCRIPT_TIMEOUT:
		return json_set_seconds(c, &c->script_timeout_ms, v, origin, ret_error);
	case KEY_FREEZE:
		return json_set_bool(&c->freeze, v, origin, ret_error);
	case KEY_REQUIRE_APP_CONSISTENT:
		return json_set_bool(&c->require_app_consistent, v, origin, ret_error);
	case KEY_INCLUDE_SPANNING:
		return json_set_bool(&c->include_spanning, v, origin, ret_error);
	case KEY_PRE_SCRIPT:
	case KEY_POST_SCRIPT:
		if ((r = json_optional_string(v, &s, origin, ret_error)) < 0)
			return r;
		return set_path(key == KEY_PRE_SCRIPT ? &c->pre_script : &c->post_script, s, origin,
				ret_error);
	case KEY_PRE_SCRIPT_PARAM:
		return json_set_strings(&c->pre_script_params, v, false, origin, ret_error);
	case KEY_POST_SCRIPT_PARAM:
		return json_set_strings(&c->post_script_params, v, false, origin, ret_error);
	case KEY_PRE_SCRIPT_RETRIES:
	case KEY_POST_SCRIPT_RETRIES:
		if (!cJSON_IsNumber(v))
			return type_error(origin, "a whole number from 0 to 10", v, ret_error);
		return set_retries_number(key == KEY_PRE_SCRIPT_RETRIES ? &c->pre_script_retries :
									  &c->post_script_retries,
					  v->valuedouble, origin, ret_error);
	case KEY_HOOK_DIR:
		if ((r = json_optional_string(v, &s, origin, ret_error)) < 0)
			return r;
		if (s && *s && (r = check_path(s, origin, ret_error)) < 0)
			return r;
		return set_string(&c->hook_dir, s ? s : "") < 0 ? error_oom(ret_error) : 0;
	case KEY_NAME:
	case KEY_DESCRIPTION:
	case KEY_RAM_ROLE:
		if ((r = json_optional_string(v, &s, origin, ret_error)) < 0)
			return r;
		if (key == KEY_NAME)
			return config_set_name(c, s, origin, ret_error);
		if (key == KEY_DESCRIPTION)
			return config_set_description(c, s, origin, ret_error);
		return set_ram_role(c, s, origin, ret_error);
	case KEY_TAG:
	case KEY_DISK_MAP:
		return json_set_pairs(c, key, v, origin, ret_error);
	case KEY_EXCLUDE_DISK:
		return json_set_strings(&c->exclude_disks, v, true, origin, ret_error);
	case KEY_TARGETS:
		return json_set_strings(&c->targets, v, true, origin, ret_error);
	case KEY_STATE_DIR:
	case KEY_SNAPSHOT_DIR:
		if (!cJSON_IsString(v))
			return type_error(origin, "an absolute path", v, ret_error);
		if ((r = check_path(v->valuestring, origin, ret_error)) < 0)
			return r;
		return set_string(key == KEY_STATE_DIR ? &c->state_dir : &c->snapshot_dir,
				  v->valuestring) < 0 ? error_oom(ret_error) : 0;
	case KEY_EXEC_COMMAND:
		if (cJSON_IsNull(v)) {
			ptrvec_free_items(&c->exec_command);
			return 0;
		}
		if (cJSON_IsArray(v) && !v->child)
			return invalid(ret_error, "%s: the command is empty; give "
				       "[\"/path/to/command\", \"arg\", ...], or null for none",
				       origin);
		if ((r = json_set_strings(&c->exec_command, v, false, origin, ret_error)) < 0)
			return r;
		if (!*(char *)c->exec_command.items[0])
			return invalid(ret_error, "%s: the command's name is empty", origin);
		return 0;
	case _KEY_MAX:
		break;
	}
	return -EINVAL;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= ARRAY_SIZE(row) || lb >= ARRAY_SIZE(row))
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diagonal = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diagonal + (tolower((unsigned char)a[i - 1]) !=
								tolower((unsigned char)b[j - 1]));

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diagonal = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* The freezeshim.conf key closest to KEY, if one is close enough to be a typo. */
static const char *closest_key(const char *key)
{
	char normalized[64];
	size_t best = SIZE_MAX, i;
	const char *found = NULL;

	for (i = 0; key[i] && i + 1 < sizeof(normalized); i++)
		normalized[i] = key[i] == '_' || key[i] == ' ' ? '-' : key[i];
	normalized[i] = '\0';
	for (size_t k = 0; k < _KEY_MAX; k++) {
		size_t d = edit_distance(normalized, conf_key_names[k]);

		if (d < best)
			best = d, found = conf_key_names[k];
	}
	if (best <= 2 || (best <= 3 && strlen(key) >= 10))
		return found;
	/* An abbreviation of one key: "desc". */
	found = NULL;
	for (size_t k = 0; k < _KEY_MAX && strlen(key) >= 3; k++)
		if (strncasecmp(conf_key_names[k], normalized, strlen(normalized)) == 0) {
			if (found)
				return NULL;
			found = conf_key_names[k];
		}
	return found;
}

static const struct foreign_key *foreign_find(const struct foreign_key *table, size_t n,
					      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(table[i].name, name))
			return &table[i];
	return NULL;
}

static int conf_unknown_key(const char *key, const char *origin, char **ret_error)
{
	const struct foreign_key *f;
	const char *suggestion;

	if ((f = foreign_find(azure_keys, ARRAY_SIZE(azure_keys), key)))
		return invalid(ret_error, "%s: unknown key '%s', an Azure "
			       "VMSnapshotPluginConfig.json key: write '%s'%s here, or pass the "
			       "Azure file with --azure-config; see freezeshim.conf(5)", origin,
			       key, conf_key_names[f->key], f->key == KEY_REQUIRE_APP_CONSISTENT ?
			       " (the opposite value)" : "");
	if ((f = foreign_find(alibaba_params, ARRAY_SIZE(alibaba_params), key)))
		return invalid(ret_error, "%s: unknown key '%s', an Alibaba --params name: "
			       "write '%s' here, or pass it with --params; see freezeshim.conf(5)",
			       origin, key, conf_key_names[f->key]);
	if (streq(key, "no-freeze") || streq(key, "no_freeze"))
		return invalid(ret_error, "%s: unknown key '%s': write \"freeze\": false; "
			       "see freezeshim.conf(5)", origin, key);
	if ((suggestion = closest_key(key)))
		return invalid(ret_error, "%s: unknown key '%.64s'; did you mean '%s'? "
			       "See freezeshim.conf(5)", origin, key, suggestion);
	return invalid(ret_error, "%s: unknown key '%.64s'; see freezeshim.conf(5)",
		       origin, key);
}

static int conf_apply(struct config *c, const void *input, const char *origin, char **ret_error)
{
	const cJSON *root = input, *twice, *item;

	if ((twice = json_duplicate_key(root)))
		return invalid(ret_error, "%s: key '%.64s' is given twice", origin,
			       twice->string);
	cJSON_ArrayForEach(item, root) {
		_cleanup_free_ char *key_origin = NULL;
		size_t k;
		int r;

		for (k = 0; k < _KEY_MAX; k++)
			if (streq(item->string, conf_key_names[k]))
				break;
		if (k == _KEY_MAX)
			return conf_unknown_key(item->string, origin, ret_error);
		if (xasprintf(&key_origin, "%s: key '%s'", origin, item->string) < 0)
			return error_oom(ret_error);
		if ((r = conf_apply_key(c, (enum conf_key)k, item, key_origin, ret_error)) < 0)
			return r;
	}
	return 0;
}

/* Parse JSON (an object) and apply it whole with FN. */
static int apply_json_text(struct config *c, apply_fn fn, const char *json, const char *origin,
			   char **ret_error)
{
	cJSON *root;
	int r;

	if ((r = json_parse_object(json ? json : "", json ? strlen(json) : 0, origin, &root,
				   ret_error)) < 0)
		return r;
	r = apply_whole(c, fn, root, origin, ret_error);
	cJSON_Delete(root);
	return r;
}

int config_apply_json(struct config *c, const char *json, const char *origin, char **ret_error)
{
	return apply_json_text(c, conf_apply, json, origin ? origin : "freezeshim.conf", ret_error);
}

/* ---- Azure's VMSnapshotPluginConfig.json ---- */

static int azure_apply_key(struct config *c, enum conf_key key, const cJSON *v,
			   const char *origin, char **ret_error)
{
	struct ptrvec *list;
	const cJSON *item;
	int r;

	/* Azure's template carries every key: null or "" means "not set". */
	if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring))
		return 0;
	switch (key) {
	case KEY_PRE_SCRIPT_PARAM:
	case KEY_POST_SCRIPT_PARAM:
		list = key == KEY_PRE_SCRIPT_PARAM ? &c->pre_script_params : &c->post_script_params;
		if (!cJSON_IsArray(v))
			return type_error(origin, "an array of strings", v, ret_error);
		cJSON_ArrayForEach(item, v)
			if (!cJSON_IsString(item))
				return invalid(ret_error, "%s: expected an array of strings, "
					       "not one holding %s", origin, json_type_name(item));
		/* The template's ["", ""]: empty entries are no parameters; none: not set. */
		cJSON_ArrayForEach(item, v)
			if (*item->valuestring)
				break;
		if (!item)
			return 0;
		ptrvec_free_items(list);
		cJSON_ArrayForEach(item, v)
			if (*item->valuestring && (r = push_string(list, item->valuestring,
								   ret_error)) < 0)
				return r;
		return 0;
	default:
		break;
	}
	/* Every other value may come as text: "3", "true". */
	if (cJSON_IsString(v))
		return apply_text(c, key, v->valuestring, origin, ret_error);
	switch (key) {
	case KEY_PRE_SCRIPT_RETRIES:
	case KEY_POST_SCRIPT_RETRIES:
		if (!cJSON_IsNumber(v))
			return type_error(origin, "a whole number from 0 to 10", v, ret_error);
		return set_retries_number(key == KEY_PRE_SCRIPT_RETRIES ? &c->pre_script_retries :
									  &c->post_script_retries,
					  v->valuedouble, origin, ret_error);
	case KEY_SCRIPT_TIMEOUT:
		if (!cJSON_IsNumber(v))
			return type_error(origin, "a number of seconds", v, ret_error);
		return set_seconds_number(c, &c->script_timeout_ms, v->valuedouble, origin,
					  ret_error);
	case KEY_FREEZE:
		return json_set_bool(&c->freeze, v, origin, ret_error);
	case KEY_REQUIRE_APP_CONSISTENT:
		if (!cJSON_IsBool(v))
			return type_error(origin, "true or false", v, ret_error);
		c->require_app_consistent = !cJSON_IsTrue(v);
		return 0;
	default:
		return type_error(origin, "a string", v, ret_error);
	}
}

static int azure_apply(struct config *c, const void *input, const char *origin,
		       char **ret_error)
{
	const cJSON *root = input, *twice, *item;

	if ((twice = json_duplicate_key(root)))
		return invalid(ret_error, "%s: key '%.64s' is given twice", origin,
			       twice->string);
	cJSON_ArrayForEach(item, root) {
		const struct foreign_key *f = foreign_find(azure_keys, ARRAY_SIZE(azure_keys),
							   item->string);
		_cleanup_free_ char *key_origin = NULL;
		int r;

		if (streq(item->string, "pluginName"))
			continue;
		if (!f) {
			const char *suggestion = NULL;

			/* A wrong case drops a script silently in Azure: name the key it meant. */
			for (size_t i = 0; i < ARRAY_SIZE(azure_keys) && !suggestion; i++)
				if (edit_distance(item->string, azure_keys[i].name) <= 2)
					suggestion = azure_keys[i].name;
			if (!ptrvec_push_printf(&c->warnings,
						"%s: ignoring unknown key '%.64s'%s%s%s", origin,
						item->string, suggestion ? " (did you mean '" : "",
						suggestion ? suggestion : "",
						suggestion ? "'?)" : ""))
				return error_oom(ret_error);
			continue;
		}
		if (xasprintf(&key_origin, "%s: key '%s'", origin, item->string) < 0)
			return error_oom(ret_error);
		if ((r = azure_apply_key(c, f->key, item, key_origin, ret_error)) < 0)
			return r;
	}
	return 0;
}

int config_apply_azure_json(struct config *c, const char *json, const char *origin,
			    char **ret_error)
{
	return apply_json_text(c, azure_apply, json,
			       origin ? origin : "VMSnapshotPluginConfig.json", ret_error);
}

/* ---- Files ---- */

/*
 * Read PATH whole through trusted_open (KIND).  *RET_TEXT stays NULL when
 * the file is missing and MISSING_OK.
 */
static int read_trusted(const char *path, enum trust_kind kind, bool missing_ok,
			const char *rule, char **ret_text, size_t *ret_len, char **ret_error)
{
	_cleanup_free_ char *reason = NULL, *absolute = NULL, *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0;

	*ret_text = NULL;
	*ret_len = 0;
	/* trusted_open checks every directory from "/": give it the whole path. */
	if (path[0] != '/') {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);

		if (!cwd)
			return error_set(ret_error, -errno, "%s: cannot tell the current "
					 "directory: %m", path);
		if (xasprintf(&absolute, "%s/%s", cwd, path) < 0)
			return error_oom(ret_error);
	}
	fd = trusted_open(absolute ? absolute : path, kind, &reason);
	if (fd == -ENOENT && missing_ok)
		return 0;
	if (fd == -ENOENT)
		return error_set(ret_error, fd, "%s: does not exist", path);
	if (fd == -EPERM)
		return error_set(ret_error, fd, "%s: not trusted: %s (%s)", path,
				 reason ? reason : "refused", rule);
	if (fd < 0)
		return error_set(ret_error, fd, "%s: cannot open it: %s", path,
				 reason ? reason : strerror(-fd));
	text = malloc(CONFIG_MAX_FILE_SIZE + 2);
	if (!text)
		return error_oom(ret_error);
	for (;;) {
		ssize_t n = read(fd, text + len, CONFIG_MAX_FILE_SIZE + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return error_set(ret_error, -errno, "%s: cannot read it: %m", path);
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE_SIZE)
			return error_set(ret_error, -EFBIG, "%s: larger than 1 MiB: not a "
					 "configuration file", path);
	}
	text[len] = '\0';
	*ret_text = TAKE_PTR(text);
	*ret_len = len;
	return 0;
}

int config_apply_file(struct config *c, const char *path, bool missing_ok, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	cJSON *root;
	size_t len;
	int r;

	path = path ? path : CONFIG_DEFAULT_PATH;
	r = read_trusted(path, TRUST_CONFIG, missing_ok,
			 "it names scripts that run as root", &text, &len, ret_error);
	if (r < 0 || !text)
		return r;
	if ((r = json_parse_object(text, len, path, &root, ret_error)) < 0)
		return r;
	r = apply_whole(c, conf_apply, root, path, ret_error);
	cJSON_Delete(root);
	return r;
}

int config_apply_azure_file(struct config *c, const char *path, char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	cJSON *root;
	size_t len;
	int r;

	r = read_trusted(path, TRUST_CONFIG_PRIVATE, false,
			 "Azure's rule too: owned by root, mode 0600", &text, &len, ret_error);
	if (r < 0)
		return r;
	if ((r = json_parse_object(text, len, path, &root, ret_error)) < 0)
		return r;
	r = apply_whole(c, azure_apply, root, path, ret_error);
	cJSON_Delete(root);
	return r;
}

/* ---- Checks and output ---- */

int config_validate(const struct config *c, char **ret_error)
{
	static const struct {
		const char *option;
		size_t offset;
	} paths[] = {
		{ "--pre-script", offsetof(struct config, pre_script) },
		{ "--post-script", offsetof(struct config, post_script) },
		{ "--hook-dir", offsetof(struct config, hook_dir) },
		{ "--state-dir", offsetof(struct config, state_dir) },
		{ "--snapshot-dir", offsetof(struct config, snapshot_dir) },
	};
	const uint64_t *timeouts[] = { &c->timeout_ms, &c->script_timeout_ms };
	bool exec;
	int r;

	if (!c->provider || !c->hook_dir || !c->state_dir || !c->snapshot_dir)
		return error_oom(ret_error);
	if (!provider_find(c->provider))
		return invalid(ret_error, "unknown provider '%s'; known: %s", c->provider,
			       provider_names());
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		const char *path = *(char *const *)((const char *)c + paths[i].offset);

		if (path && *path && (r = check_path(path, paths[i].option, ret_error)) < 0)
			return r;
	}
	if (!*c->state_dir || !*c->snapshot_dir)
		return invalid(ret_error, "%s is empty; give an absolute path",
			       *c->state_dir ? "--snapshot-dir" : "--state-dir");
	for (size_t i = 0; i < ARRAY_SIZE(timeouts); i++) {
		uint64_t min_ms = timeout_min_ms(c, timeouts[i]);
		char lo[32], hi[32];

		if (*timeouts[i] < min_ms || *timeouts[i] > TIMEOUT_MAX_MS)
			return invalid(ret_error, "%s is out of range; give seconds between "
				       "%s and %s", i ? "--script-timeout" : "--timeout",
				       ms_to_text(min_ms, lo), ms_to_text(TIMEOUT_MAX_MS, hi));
	}
	if (c->pre_script_retries > RETRIES_MAX || c->post_script_retries > RETRIES_MAX)
		return invalid(ret_error, "script retries are out of range; give 0 to %d",
			       RETRIES_MAX);
	if (c->name && !config_name_valid(c->name))
		return invalid(ret_error, "'%.140s' is not a valid snapshot name: %s",
			       c->name, name_problem(c->name));
	if (c->ram_role && !ram_role_valid(c->ram_role))
		return ram_role_error(c->ram_role, "--ram-role", ret_error);
	exec = streq(c->provider, "exec");
	if (exec && c->exec_command.n == 0)
		return invalid(ret_error, "the exec provider needs a command: give it after "
			       "-- (freezeshim snapshot --provider exec -- COMMAND ARG...) or as "
			       "\"exec-command\" in freezeshim.conf");
	if (!exec && c->exec_command.n > 0)
		return invalid(ret_error, "a command (after -- or \"exec-command\") is run "
			       "only by the exec provider, not by '%s': add --provider exec or "
			       "drop the command", c->provider);
	if (c->require_app_consistent && !c->pre_script && !*c->hook_dir)
		return invalid(ret_error, "--require-app-consistent needs a pre-script or "
			       "a hook directory");
	if (c->require_app_consistent && !c->freeze)
		return invalid(ret_error, "--require-app-consistent cannot be met with "
			       "--no-freeze: a snapshot without a freeze is crash-consistent; drop "
			       "one of the two");
	return 0;
}

static bool json_add_string_or_null(cJSON *o, const char *key, const char *value)
{
	return value ? !!cJSON_AddStringToObject(o, key, value) : !!cJSON_AddNullToObject(o, key);
}

static bool json_add_strings(cJSON *o, const char *key, const struct ptrvec *v)
{
	cJSON *array = cJSON_AddArrayToObject(o, key);

	if (!array)
		return false;
	for (size_t i = 0; i < v->n; i++) {
		cJSON *s = cJSON_CreateString(v->items[i]);

		if (!s || !cJSON_AddItemToArray(array, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return true;
}

static bool json_add_key(cJSON *o, const struct config *c, enum conf_key key)
{
	const char *name = conf_key_names[key];

	switch (key) {
	case KEY_PROVIDER:
		return json_add_string_or_null(o, name, c->provider);
	case KEY_TIMEOUT:
		return cJSON_AddNumberToObject(o, name, (double)c->timeout_ms / 1000.0);
	case KEY_FREEZE:
		return cJSON_AddBoolToObject(o, name, c->freeze);
	case KEY_PRE_SCRIPT:
		return json_add_string_or_null(o, name, c->pre_script);
	case KEY_POST_SCRIPT:
		return json_add_string_or_null(o, name, c->post_script);
	case KEY_PRE_SCRIPT_PARAM:
		return json_add_strings(o, name, &c->pre_script_params);
	case KEY_POST_SCRIPT_PARAM:
		return json_add_strings(o, name, &c->post_script_params);
	case KEY_PRE_SCRIPT_RETRIES:
		return cJSON_AddNumberToObject(o, name, c->pre_script_retries);
	case KEY_POST_SCRIPT_RETRIES:
		return cJSON_AddNumberToObject(o, name, c->post_script_retries);
	case KEY_SCRIPT_TIMEOUT:
		return cJSON_AddNumberToObject(o, name, (double)c->script_timeout_ms / 1000.0);
	case KEY_HOOK_DIR:
		return cJSON_AddStringToObject(o, name, c->hook_dir ? c->hook_dir : "");
	case KEY_REQUIRE_APP_CONSISTENT:
		return cJSON_AddBoolToObject(o, name, c->require_app_consistent);
	case KEY_NAME:
		return json_add_string_or_null(o, name, c->name);
	case KEY_DESCRIPTION:
		return json_add_string_or_null(o, name, c->description);
	case KEY_TAG: {
		cJSON *tags = cJSON_AddObjectToObject(o, name);

		for (size_t i = 0; tags && i < c->tags.n; i++) {
			const struct snapshot_tag *t = c->tags.items[i];

			if (!cJSON_AddStringToObject(tags, t->key, t->value))
				return false;
		}
		return tags;
	}
	case KEY_EXCLUDE_DISK:
		return json_add_strings(o, name, &c->exclude_disks);
	case KEY_TARGETS:
		return json_add_strings(o, name, &c->targets);
	case KEY_DISK_MAP:
		return json_add_strings(o, name, &c->disk_map);
	case KEY_INCLUDE_SPANNING:
		return cJSON_AddBoolToObject(o, name, c->include_spanning);
	case KEY_STATE_DIR:
		return json_add_string_or_null(o, name, c->state_dir);
	case KEY_SNAPSHOT_DIR:
		return json_add_string_or_null(o, name, c->snapshot_dir);
	case KEY_EXEC_COMMAND:
		if (c->exec_command.n == 0)
			return cJSON_AddNullToObject(o, name);
		return json_add_strings(o, name, &c->exec_command);
	case KEY_RAM_ROLE:
		return json_add_string_or_null(o, name, c->ram_role);
	case _KEY_MAX:
		break;
	}
	return false;
}

char *config_to_json(const struct config *c)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	size_t k;

	if (!o)
		return NULL;
	for (k = 0; k < _KEY_MAX; k++)
		if (!json_add_key(o, c, (enum conf_key)k))
			break;
	if (k == _KEY_MAX)
		text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}
