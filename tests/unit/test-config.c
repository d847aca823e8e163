/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the snapshot settings: freezeshim.conf, Azure's
 * VMSnapshotPluginConfig.json, Alibaba's --params, the setters, the final
 * checks, precedence, and --print-config's JSON as a freezeshim.conf again.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

/* The snapshot settings (autoconf's config.h is force-included). */
#include "snapshot-config.h"
#include "provider.h"

#define ALIBABA_EXAMPLE                                                                         \
	"--params=-RamRoleName=\"r\",-EnableFsFreeze=true,-TimeoutInSeconds=30,"              \
	"-PreScriptPath=\"/tmp/prescript.sh\",-PostScriptPath=\"/tmp/postscript.sh\","        \
	"-ExcludeDiskId=\"\",-Name=\"n\",-Description=\"d\",-ScriptTimeoutInSeconds=1800"

static const char *str_at(const struct ptrvec *v, size_t i)
{
	assert_true(i < v->n);
	return v->items[i];
}

static const struct snapshot_tag *tag_at(const struct config *c, size_t i)
{
	assert_true(i < c->tags.n);
	return c->tags.items[i];
}

static void apply_json_ok(struct config *c, const char *json)
{
	char *err = NULL;
	int r = config_apply_json(c, json, "test.conf", &err);

	if (r < 0)
		fail_msg("config_apply_json(%s): %d %s", json, r, err ? err : "(no message)");
	assert_null(err);
}

static void apply_params_ok(struct config *c, const char *params)
{
	char *err = NULL;
	int r = config_apply_alibaba_params(c, params, &err);

	if (r < 0)
		fail_msg("config_apply_alibaba_params(%s): %d %s", params, r,
			 err ? err : "(no message)");
	assert_null(err);
}

static void apply_azure_ok(struct config *c, const char *json)
{
	char *err = NULL;
	int r = config_apply_azure_json(c, json, "azure.json", &err);

	if (r < 0)
		fail_msg("config_apply_azure_json(%s): %d %s", json, r, err ? err : "(no message)");
	assert_null(err);
}

enum source { SRC_CONF, SRC_AZURE, SRC_PARAMS };

/*
 * INPUT must fail with -EINVAL and a one-line message holding NEEDLE (or
 * equal to it when EXACT), and leave the settings exactly as they were.
 */
static void expect_error(enum source src, const char *input, const char *needle, bool exact)
{
	struct config c;
	char *err = NULL, *before, *after;
	int r;

	config_init(&c);
	apply_json_ok(&c, "{\"name\": \"before\", \"exclude-disk\": [\"d-keep\"], \"timeout\": 7}");
	before = config_to_json(&c);
	assert_non_null(before);
	if (src == SRC_CONF)
		r = config_apply_json(&c, input, "test.conf", &err);
	else if (src == SRC_AZURE)
		r = config_apply_azure_json(&c, input, "azure.json", &err);
	else
		r = config_apply_alibaba_params(&c, input, &err);
	if (r != -EINVAL || !err)
		fail_msg("%s: expected -EINVAL with a message, got %d '%s'", input, r,
			 err ? err : "(none)");
	if (exact ? strcmp(err, needle) != 0 : !strstr(err, needle))
		fail_msg("%s:\n  got    '%s'\n  wanted '%s'", input, err, needle);
	assert_null(strchr(err, '\n'));
	after = config_to_json(&c);
	assert_non_null(after);
	assert_string_equal(before, after);
	free(err);
	free(before);
	free(after);
	config_clear(&c);
}

static void test_defaults(void **state)
{
	struct config c;
	char *err = NULL;

	config_init(&c);
	assert_string_equal(c.provider, "local");
	assert_int_equal(c.timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
	assert_int_equal(c.script_timeout_ms, CONFIG_DEFAULT_SCRIPT_TIMEOUT_MS);
	assert_true(c.freeze);
	assert_false(c.require_app_consistent);
	assert_null(c.pre_script);
	assert_null(c.post_script);
	assert_string_equal(c.hook_dir, CONFIG_DEFAULT_HOOK_DIR);
	assert_string_equal(c.state_dir, "/run/freezeshim");
	assert_string_equal(c.snapshot_dir, CONFIG_DEFAULT_SNAPSHOT_DIR);
	assert_int_equal(c.pre_script_retries, 0);
	assert_int_equal(c.tags.n, 0);
	assert_int_equal(c.warnings.n, 0);
	assert_int_equal(config_validate(&c, &err), 0);
	assert_null(err);
	config_clear(&c);
	/* Clearing twice is harmless. */
	config_clear(&c);
}

static void test_conf_every_key(void **state)
{
	struct config c;

	config_init(&c);
	apply_json_ok(&c,
		      "{\n"
		      "  \"provider\": \"exec\",\n"
		      "  \"timeout\": 2.5,\n"
		      "  \"freeze\": false,\n"
		      "  \"pre-script\": \"/etc/freezeshim/pre.sh\",\n"
		      "  \"post-script\": \"/etc/freezeshim/post.sh\",\n"
		      "  \"pre-script-param\": [\"--db\", \"main\", \"\"],\n"
		      "  \"post-script-param\": [\"x\"],\n"
		      "  \"pre-script-retries\": 3,\n"
		      "  \"post-script-retries\": 10,\n"
		      "  \"script-timeout\": \"90.5\",\n"
		      "  \"hook-dir\": \"/srv/hooks\",\n"
		      "  \"require-app-consistent\": true,\n"
		      "  \"name\": \"nightly-db.1:a_b\",\n"
		      "  \"description\": \"Nächtliche Sicherung, \\\"db\\\"\",\n"
		      "  \"tag\": {\"env\": \"prod\", \"team\": \"\"},\n"
		      "  \"exclude-disk\": [\"d-1\", \"d-2\"],\n"
		      "  \"targets\": [\"/var/lib/postgresql\", \"d-3\"],\n"
		      "  \"disk-map\": {\"/dev/vdb\": \"d-3\", \"vdc\": \"d-4\"},\n"
		      "  \"include-spanning\": true,\n"
		      "  \"state-dir\": \"/run/fs-test\",\n"
		      "  \"snapshot-dir\": \"/srv/snaps\",\n"
		      "  \"exec-command\": [\"/usr/local/bin/snap\", \"--all\"],\n"
		      "  \"ram-role\": \"Snapshot-Role.1\"\n"
		      "}\n");
	assert_string_equal(c.provider, "exec");
	assert_int_equal(c.timeout_ms, 2500);
	assert_false(c.freeze);
	assert_string_equal(c.pre_script, "/etc/freezeshim/pre.sh");
	assert_string_equal(c.post_script, "/etc/freezeshim/post.sh");
	assert_int_equal(c.pre_script_params.n, 3);
	assert_string_equal(str_at(&c.pre_script_params, 0), "--db");
	assert_string_equal(str_at(&c.pre_script_params, 2), "");
	assert_string_equal(str_at(&c.post_script_params, 0), "x");
	assert_int_equal(c.pre_script_retries, 3);
	assert_int_equal(c.post_script_retries, 10);
	assert_int_equal(c.script_timeout_ms, 90500);
	assert_string_equal(c.hook_dir, "/srv/hooks");
	assert_true(c.require_app_consistent);
	assert_string_equal(c.name, "nightly-db.1:a_b");
	assert_string_equal(c.description, "Nächtliche Sicherung, \"db\"");
	assert_int_equal(c.tags.n, 2);
	assert_string_equal(tag_at(&c, 0)->key, "env");
	assert_string_equal(tag_at(&c, 0)->value, "prod");
	assert_string_equal(tag_at(&c, 1)->key, "team");
	assert_string_equal(tag_at(&c, 1)->value, "");
	assert_int_equal(c.exclude_disks.n, 2);
	assert_string_equal(str_at(&c.exclude_disks, 1), "d-2");
	assert_string_equal(str_at(&c.targets, 0), "/var/lib/postgresql");
	assert_int_equal(c.disk_map.n, 2);
	assert_string_equal(str_at(&c.disk_map, 0), "/dev/vdb=d-3");
	assert_string_equal(str_at(&c.disk_map, 1), "vdc=d-4");
	assert_true(c.include_spanning);
	assert_string_equal(c.state_dir, "/run/fs-test");
	assert_string_equal(c.snapshot_dir, "/srv/snaps");
	assert_int_equal(c.exec_command.n, 2);
	assert_string_equal(str_at(&c.exec_command, 0), "/usr/local/bin/snap");
	assert_string_equal(c.ram_role, "Snapshot-Role.1");
	assert_int_equal(c.warnings.n, 0);
	config_clear(&c);
}

static void test_conf_other_forms(void **state)
{
	struct config c;

	config_init(&c);
	/* Arrays of KEY=VALUE for tags and the disk map; timeout as a string; {} does nothing. */
	apply_json_ok(&c, "{}");
	apply_json_ok(&c, "\xef\xbb\xbf{\"freeze\": true}");
	apply_json_ok(&c, "{\"tag\": [\"a=1\", \"b=x=y\", \"c=\"], \"disk-map\": [\"vdb=d-1\"],"
			  " \"timeout\": \"0.001\", \"script-timeout\": 86400}");
	assert_int_equal(c.tags.n, 3);
	assert_string_equal(tag_at(&c, 1)->key, "b");
	assert_string_equal(tag_at(&c, 1)->value, "x=y");
	assert_string_equal(tag_at(&c, 2)->value, "");
	assert_string_equal(str_at(&c.disk_map, 0), "vdb=d-1");
	assert_int_equal(c.timeout_ms, 1);
	assert_int_equal(c.script_timeout_ms, 86400000);
	/* null and "" unset optional strings; "" is "no hook directory". */
	apply_json_ok(&c, "{\"pre-script\": \"/a\", \"name\": \"nm\", \"description\": \"dd\","
			  " \"ram-role\": \"r\", \"exec-command\": [\"/bin/true\"]}");
	apply_json_ok(&c, "{\"pre-script\": null, \"name\": \"\", \"description\": null,"
			  " \"ram-role\": \"\", \"hook-dir\": \"\", \"exec-command\": null}");
	assert_null(c.pre_script);
	assert_null(c.name);
	assert_null(c.description);
	assert_null(c.ram_role);
	assert_string_equal(c.hook_dir, "");
	assert_int_equal(c.exec_command.n, 0);
	apply_json_ok(&c, "{\"hook-dir\": null}");
	assert_string_equal(c.hook_dir, "");
	/* An empty list clears. */
	apply_json_ok(&c, "{\"tag\": {}, \"disk-map\": []}");
	assert_int_equal(c.tags.n, 0);
	assert_int_equal(c.disk_map.n, 0);
	config_clear(&c);
}

static void test_conf_errors(void **state)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		/* Keys. */
		{ "{\"pre_script\": \"/a\"}", "test.conf: unknown key 'pre_script'; did you mean "
					      "'pre-script'? See freezeshim.conf(5)" },
		{ "{\"timout\": 3}", "did you mean 'timeout'?" },
		{ "{\"Require_App_Consistent\": true}", "did you mean 'require-app-consistent'?" },
		{ "{\"bogus\": 1}", "test.conf: unknown key 'bogus'; see freezeshim.conf(5)" },
		{ "{\"preScriptLocation\": \"/a\"}",
		  "an Azure VMSnapshotPluginConfig.json key: write "
		  "'pre-script' here, or pass the Azure file "
		  "with --azure-config" },
		{ "{\"continueBackupOnFailure\": true}", "'require-app-consistent' (the opposite "
							"value)" },
		{ "{\"TimeoutInSeconds\": 3}", "an Alibaba --params name: write 'timeout' here" },
		{ "{\"no-freeze\": true}", "write \"freeze\": false" },
		{ "{\"timeout\": 3, \"timeout\": 4}", "test.conf: key 'timeout' is given twice" },
		/* The document. */
		{ "", "test.conf: is empty; write {} for no settings" },
		{ "[]", "test.conf: the top level must be a JSON object" },
		{ "\"x\"", "the top level must be a JSON object" },
		{ "// settings\n{}", "test.conf:1:1: not valid JSON: comments are not JSON" },
		{ "{\n  \"timeout\": 5, # seconds\n}", "test.conf:2:17: not valid JSON: comments" },
		{ "{\n  \"timeout\": 5 /* s */\n}", "test.conf:2:16: not valid JSON: comments" },
		{ "{} // end", "test.conf:1:4: not valid JSON: comments" },
		{ "{\"timeout\": 5", "test.conf:1:" },
		{ "{\"timeout\": 5", "ends too early" },
		{ "{\"timeout\": 5,}", "test.conf:1:15: not valid JSON" },
		{ "{\n\"a\": tru }", "test.conf:2:" },
		{ "{} {}", "test.conf:1:4: not valid JSON" },
		/* Types and values. */
		{ "{\"provider\": \"nope\"}", "test.conf: key 'provider': unknown provider 'nope'; "
					  "known: local, exec" },
		{ "{\"provider\": 1}", "key 'provider': expected a string, not a number" },
		{ "{\"freeze\": \"yes\"}", "key 'freeze': expected true or false, not a string" },
		{ "{\"freeze\": 1}", "expected true or false, not a number" },
		{ "{\"include-spanning\": null}", "expected true or false, not null" },
		{ "{\"require-app-consistent\": \"true\"}",
		  "expected true or false, not a string" },
		{ "{\"timeout\": 0}",
		  "key 'timeout': 0 is out of range; give seconds between 0.001 "
		  "and 86400" },
		{ "{\"timeout\": 86400.5}", "out of range" },
		{ "{\"timeout\": \"abc\"}", "key 'timeout': 'abc' is not a number of seconds; give "
					    "one between 0.001 and 86400" },
		{ "{\"timeout\": \"0.0004\"}", "0.0004 is out of range" },
		{ "{\"timeout\": true}", "test.conf: key 'timeout': expected a number of seconds "
					 "between 0.001 and 86400, not true" },
		{ "{\"script-timeout\": 0.5}", "key 'script-timeout': 0.5 is out of range; give "
					       "seconds between 1 and 86400" },
		{ "{\"script-timeout\": \"90000\"}", "90000 is out of range" },
		{ "{\"pre-script-retries\": 11}", "key 'pre-script-retries': 11 is not a number of "
						  "retries; give a whole number from 0 to 10" },
		{ "{\"post-script-retries\": 1.5}", "1.5 is not a number of retries" },
		{ "{\"post-script-retries\": -1}", "-1 is not a number of retries" },
		{ "{\"pre-script-retries\": \"3\"}", "expected a whole number from 0 to 10, not a "
						     "string" },
		{ "{\"pre-script\": \"pre.sh\"}", "key 'pre-script': 'pre.sh' is not an absolute "
						  "path" },
		{ "{\"post-script\": 5}", "key 'post-script': expected a string or null, not a "
					  "number" },
		{ "{\"hook-dir\": \"hooks.d\"}", "'hooks.d' is not an absolute path" },
		{ "{\"state-dir\": \"run\"}", "key 'state-dir': 'run' is not an absolute path" },
		{ "{\"snapshot-dir\": null}",
		  "key 'snapshot-dir': expected an absolute path, not null" },
		{ "{\"pre-script-param\": \"-x\"}", "expected an array of strings, not a string" },
		{ "{\"pre-script-param\": [1]}", "expected an array of strings, not one holding a "
						 "number" },
		{ "{\"exclude-disk\": [\"\"]}", "key 'exclude-disk': holds an empty string" },
		{ "{\"targets\": {}}",
		  "key 'targets': expected an array of strings, not an object" },
		{ "{\"exec-command\": []}", "key 'exec-command': the command is empty" },
		{ "{\"exec-command\": [\"\"]}", "the command's name is empty" },
		{ "{\"exec-command\": \"/bin/x\"}", "expected an array of strings, not a string" },
		{ "{\"name\": \"1abc\"}",
		  "key 'name': '1abc' is not a valid snapshot name: it must "
		  "start with a letter" },
		{ "{\"name\": \"a b\"}", "use letters, digits and . _ - : only" },
		{ "{\"name\": 7}", "expected a string or null, not a number" },
		{ "{\"description\": \"a\\nb\"}", "key 'description': not a valid description: it "
						  "holds control characters" },
		{ "{\"description\": \"\xff\xfe\"}", "not a valid description: it is not valid "
						  "UTF-8" },
		{ "{\"ram-role\": \"a/b\"}", "key 'ram-role': 'a/b' is not a RAM role name" },
		{ "{\"ram-role\": \"..\"}", "is not a RAM role name" },
		{ "{\"tag\": {\"aliyun-x\": \"1\"}}", "tag key 'aliyun-x' is reserved" },
		{ "{\"tag\": [\"acs:x=1\"]}", "tag key 'acs:x' is reserved" },
		{ "{\"tag\": {\"APPConsistent\": \"True\"}}",
		  "the consistency tag freezeshim sets" },
		{ "{\"tag\": [\"fsconsistent=1\"]}", "the consistency tag freezeshim sets" },
		{ "{\"tag\": [\"novalue\"]}",
		  "key 'tag': 'novalue' is not a tag: write KEY=VALUE" },
		{ "{\"tag\": [\"=v\"]}", "a tag key is empty" },
		{ "{\"tag\": [\"a=1\", \"a=2\"]}", "key 'tag': tag 'a' is given twice" },
		{ "{\"tag\": {\"a\": 1}}", "key 'tag': 'a': expected a string, not a number" },
		{ "{\"tag\": \"a=1\"}",
		  "expected an object of strings or an array of \"KEY=VALUE\" "
		  "strings, not a string" },
		{ "{\"tag\": [1]}", "expected \"KEY=VALUE\" strings, not a number" },
		{ "{\"disk-map\": [\"vdb\"]}",
		  "key 'disk-map': 'vdb' is not a disk map entry: write "
		  "DEVICE=DISKID" },
		{ "{\"disk-map\": [\"vdb=\"]}", "is not a disk map entry" },
		{ "{\"disk-map\": {\"vdb\": 3}}", "'vdb': expected a string, not a number" },
		{ "{\"disk-map\": [\"vdb=d-1\", \"vdb=d-2\"]}", "device 'vdb' is mapped twice" },
	};
	char long_name[200], json[400];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect_error(SRC_CONF, cases[i].json, cases[i].needle, false);

	/* Lengths: names 1-128, descriptions 1-256 characters (not bytes), tags 128, 20 tags. */
	memset(long_name, 'a', 129);
	long_name[129] = '\0';
	snprintf(json, sizeof(json), "{\"name\": \"%s\"}", long_name);
	expect_error(SRC_CONF, json, "it is longer than 128 characters", false);
	snprintf(json, sizeof(json), "{\"tag\": {\"%s\": \"v\"}}", long_name);
	expect_error(SRC_CONF, json, "tag key 'aaaa", false);
	snprintf(json, sizeof(json), "{\"tag\": {\"k\": \"%s\"}}", long_name);
	expect_error(SRC_CONF, json, "the value of tag 'k' is not valid: it is longer than 128",
		     false);
	expect_error(SRC_CONF,
		     "{\"tag\": [\"t1=\",\"t2=\",\"t3=\",\"t4=\",\"t5=\",\"t6=\",\"t7=\",\"t8=\","
		     "\"t9=\",\"t10=\",\"t11=\",\"t12=\",\"t13=\",\"t14=\",\"t15=\",\"t16=\","
		     "\"t17=\",\"t18=\",\"t19=\",\"t20=\",\"t21=\"]}",
		     "key 'tag': more than 20 tags", false);
}

static void test_conf_lengths(void **state)
{
	struct config c;
	char name[129], json[1200], *p;

	config_init(&c);
	memset(name, 'a', 128);
	name[128] = '\0';
	snprintf(json, sizeof(json), "{\"name\": \"%s\"}", name);
	apply_json_ok(&c, json);
	assert_int_equal(strlen(c.name), 128);
	/* 256 two-byte characters are 256 characters. */
	p = json + sprintf(json, "{\"description\": \"");
	for (int i = 0; i < 256; i++)
		p += sprintf(p, "\xc3\xa9");
	strcpy(p, "\"}");
	apply_json_ok(&c, json);
	strcpy(p - 2, "\xc3\xa9\xc3\xa9\"}");
	expect_error(SRC_CONF, json, "not a valid description: it is longer than 256 characters",
		     false);
	apply_json_ok(&c, "{\"tag\": [\"t1=\",\"t2=\",\"t3=\",\"t4=\",\"t5=\",\"t6=\",\"t7=\","
			  "\"t8=\",\"t9=\",\"t10=\",\"t11=\",\"t12=\",\"t13=\",\"t14=\",\"t15=\","
			  "\"t16=\",\"t17=\",\"t18=\",\"t19=\",\"t20=\"]}");
	assert_int_equal(c.tags.n, 20);
	config_clear(&c);
}

static void test_names(void **state)
{
	char name[130];

	assert_true(config_name_valid("n"));
	assert_true(config_name_valid("a.b_c-d:e9"));
	assert_true(config_name_valid("httpd"));
	assert_false(config_name_valid(""));
	assert_false(config_name_valid(NULL));
	assert_false(config_name_valid("9a"));
	assert_false(config_name_valid("-a"));
	assert_false(config_name_valid("a b"));
	assert_false(config_name_valid("a/b"));
	assert_false(config_name_valid("http://x"));
	assert_false(config_name_valid("https://x"));
	assert_false(config_name_valid("é"));
	memset(name, 'z', 128);
	name[128] = '\0';
	assert_true(config_name_valid(name));
	name[128] = 'z';
	name[129] = '\0';
	assert_false(config_name_valid(name));
}

static void test_setters(void **state)
{
	static const struct {
		const char *value;
		uint64_t ms; /* 0: refused */
	} timeouts[] = {
		{ "30", 30000 },      { "2.5", 2500 },   { "0.001", 1 },      { "86400", 86400000 },
		{ "86400.000", 86400000 }, { "007", 7000 }, { "1.0004", 1000 }, { "1.0005", 1001 },
		{ "86399.9996", 86400000 }, { "0.0005", 0 }, { "0", 0 }, { "86400.001", 0 },
		{ "86400.0001", 0 }, { "1e3", 0 },       { " 30", 0 },        { "30 ", 0 },
		{ "30s", 0 },         { "", 0 },          { ".5", 0 },         { "5.", 0 },
		{ "-1", 0 },          { "+1", 0 },        { "inf", 0 },        { "nan", 0 },
		{ "0x10", 0 },        { "99999999999999999999999", 0 },
	};
	struct config c;
	char *err = NULL;

	config_init(&c);
	for (size_t i = 0; i < ARRAY_SIZE(timeouts); i++) {
		int r = config_set_timeout(&c, &c.timeout_ms, timeouts[i].value, "--timeout", &err);

		if (timeouts[i].ms) {
			if (r < 0)
				fail_msg("--timeout '%s': %s", timeouts[i].value, err);
			assert_int_equal(c.timeout_ms, timeouts[i].ms);
		} else {
			if (r != -EINVAL)
				fail_msg("--timeout '%s' accepted as %llu ms", timeouts[i].value,
					 (unsigned long long)c.timeout_ms);
			assert_non_null(strstr(err, "--timeout: "));
			free(err);
			err = NULL;
		}
	}
	assert_int_equal(config_set_timeout(&c, &c.script_timeout_ms, "0.999", "--script-timeout",
					    &err), -EINVAL);
	assert_string_equal(err, "--script-timeout: 0.999 is out of range; give seconds between 1 "
				 "and 86400");
	free(err);
	err = NULL;
	assert_int_equal(config_set_timeout(&c, &c.script_timeout_ms, "1", "--script-timeout",
					    &err), 0);
	assert_int_equal(c.script_timeout_ms, 1000);

	assert_int_equal(config_set_provider(&c, "exec", "--provider", &err), 0);
	assert_string_equal(c.provider, "exec");
	assert_int_equal(config_set_provider(&c, "aws-typo", "--provider", &err), -EINVAL);
	assert_string_equal(err, "--provider: unknown provider 'aws-typo'; known: local, exec");
	free(err);
	err = NULL;
	assert_string_equal(c.provider, "exec");

	assert_int_equal(config_set_name(&c, "n", "--name", &err), 0);
	assert_string_equal(c.name, "n");
	assert_int_equal(config_set_name(&c, "", "--name", &err), 0);
	assert_null(c.name);
	assert_int_equal(config_set_name(&c, "x y", "--name", &err), -EINVAL);
	assert_string_equal(err, "--name: 'x y' is not a valid snapshot name: use letters, digits "
				 "and . _ - : only");
	free(err);
	err = NULL;
	assert_int_equal(config_set_description(&c, "d", "--description", &err), 0);
	assert_string_equal(c.description, "d");
	assert_int_equal(config_set_description(&c, "tab\there", "--description", &err), -EINVAL);
	assert_string_equal(err, "--description: not a valid description: it holds control "
				 "characters");
	free(err);
	err = NULL;
	assert_int_equal(config_set_description(&c, "bad \xc3", "--description", &err), -EINVAL);
	assert_non_null(strstr(err, "not valid UTF-8"));
	free(err);
	err = NULL;

	assert_int_equal(config_add_tag(&c, "k=v", "--tag", &err), 0);
	assert_int_equal(config_add_tag(&c, "k=w", "--tag", &err), -EINVAL);
	assert_string_equal(err, "--tag: tag 'k' is given twice");
	free(err);
	err = NULL;
	/* Messages stay on one line whatever the value holds. */
	assert_int_equal(config_add_tag(&c, "a\nb", "--tag", &err), -EINVAL);
	assert_null(strchr(err, '\n'));
	free(err);
	err = NULL;
	/* ret_error may be NULL. */
	assert_int_equal(config_add_tag(&c, "nokey", "--tag", NULL), -EINVAL);
	config_list_reset(&c, &c.tags);
	assert_int_equal(c.tags.n, 0);
	assert_int_equal(config_add_tag(&c, "k=w", "--tag", &err), 0);
	assert_string_equal(tag_at(&c, 0)->value, "w");
	config_clear(&c);
}

static void test_alibaba_example(void **state)
{
	struct config c;

	config_init(&c);
	apply_json_ok(&c, "{\"exclude-disk\": [\"d-from-file\"]}");
	/* Exactly as the plugin's documentation gives it, with and without "--params=". */
	apply_params_ok(&c, ALIBABA_EXAMPLE);
	assert_string_equal(c.ram_role, "r");
	assert_true(c.freeze);
	assert_int_equal(c.timeout_ms, 30000);
	assert_string_equal(c.pre_script, "/tmp/prescript.sh");
	assert_string_equal(c.post_script, "/tmp/postscript.sh");
	/* ExcludeDiskId="" leaves the setting as it was. */
	assert_int_equal(c.exclude_disks.n, 1);
	assert_string_equal(str_at(&c.exclude_disks, 0), "d-from-file");
	assert_string_equal(c.name, "n");
	assert_string_equal(c.description, "d");
	assert_int_equal(c.script_timeout_ms, 1800000);
	config_clear(&c);

	config_init(&c);
	apply_params_ok(&c, ALIBABA_EXAMPLE + strlen("--params="));
	assert_string_equal(c.name, "n");
	assert_int_equal(c.timeout_ms, 30000);
	config_clear(&c);

	/* The same after a shell ate the quotes. */
	config_init(&c);
	apply_params_ok(&c, "-RamRoleName=r,-EnableFsFreeze=false,-TimeoutInSeconds=12,"
			    "-PreScriptPath=/tmp/prescript.sh,-PostScriptPath=/tmp/postscript.sh,"
			    "-ExcludeDiskId=,-Name=n,-Description=d,-ScriptTimeoutInSeconds=60");
	assert_string_equal(c.ram_role, "r");
	assert_false(c.freeze);
	assert_int_equal(c.timeout_ms, 12000);
	assert_string_equal(c.post_script, "/tmp/postscript.sh");
	assert_int_equal(c.exclude_disks.n, 0);
	assert_string_equal(c.description, "d");
	assert_int_equal(c.script_timeout_ms, 60000);
	assert_int_equal(config_validate(&c, NULL), 0);
	config_clear(&c);
}

static void test_alibaba_values(void **state)
{
	struct config c;

	config_init(&c);
	/* A bare disk list runs to the comma that starts the next parameter. */
	apply_params_ok(&c, "-ExcludeDiskId=d-1,d-2,-Name=x1");
	assert_int_equal(c.exclude_disks.n, 2);
	assert_string_equal(str_at(&c.exclude_disks, 0), "d-1");
	assert_string_equal(str_at(&c.exclude_disks, 1), "d-2");
	assert_string_equal(c.name, "x1");
	/* Quoted: commas and spaces separate IDs; a later source replaces the list. */
	apply_params_ok(&c, "-ExcludeDiskId=\"d-3 d-4, d-5\"");
	assert_int_equal(c.exclude_disks.n, 3);
	assert_string_equal(str_at(&c.exclude_disks, 2), "d-5");
	/* Separators only are as empty as "". */
	apply_params_ok(&c, "-ExcludeDiskId=\" , \"");
	assert_int_equal(c.exclude_disks.n, 3);
	/* Escapes, commas inside quotes, spaces around, a trailing comma, case of true/false. */
	apply_params_ok(&c, " -Description=\"a \\\"b\\\", c\\\\d \\n\" , -EnableFsFreeze=FALSE,");
	assert_string_equal(c.description, "a \"b\", c\\d \\n");
	assert_false(c.freeze);
	apply_params_ok(&c, "-EnableFsFreeze=True");
	assert_true(c.freeze);
	/* Nothing at all is fine. */
	apply_params_ok(&c, "");
	apply_params_ok(&c, "--params=");
	/* Bare values lose trailing blanks. */
	apply_params_ok(&c, "-Name=abc  ,-TimeoutInSeconds=86400");
	assert_string_equal(c.name, "abc");
	assert_int_equal(c.timeout_ms, 86400000);
	config_clear(&c);
}

static void test_alibaba_errors(void **state)
{
	static const struct {
		const char *params, *message;
		bool exact;
	} cases[] = {
		{ "--params=-TimeoutInSeconds=abc",
		  "--params: -TimeoutInSeconds: 'abc' is not a number of seconds; give one between "
		  "1 and 86400", true },
		{ "-Foo=1",
		  "--params: unknown parameter -Foo (known: -RamRoleName, -EnableFsFreeze, "
		  "-TimeoutInSeconds, -PreScriptPath, -PostScriptPath, -ExcludeDiskId, "
		  "-Name, -Description, -ScriptTimeoutInSeconds)", true },
		{ "-Name=\"abc", "--params: unterminated quote after -Name=", true },
		{ "-Name=\"abc\\\"", "--params: unterminated quote after -Name=", true },
		{ "-ramrolename=r", "--params: unknown parameter -ramrolename (known: -RamRoleName",
		  false },
		{ "-TimeoutInSeconds=1.5",
		  "--params: -TimeoutInSeconds: '1.5' is not a whole number "
		  "of seconds", true },
		{ "-TimeoutInSeconds=0",
		  "--params: -TimeoutInSeconds: 0 is out of range; give seconds "
		  "between 1 and 86400", true },
		{ "-TimeoutInSeconds=86401", "86401 is out of range", false },
		{ "-ScriptTimeoutInSeconds=-5", "--params: -ScriptTimeoutInSeconds: '-5' is not a "
						"number of seconds", false },
		{ "-EnableFsFreeze=yes",
		  "--params: -EnableFsFreeze: 'yes' is not true or false", true },
		{ "-Name=a,-Name=b", "--params: -Name is given twice", true },
		{ "-Name", "--params: -Name: expected '=' and a value", true },
		{ "-Name:x", "--params: -Name: expected '=' and a value", true },
		{ "Name=x", "--params: expected -NAME=VALUE at 'Name=x'", true },
		{ "-Name=\"x\"y",
		  "--params: -Name: unexpected 'y' after the closing quote; separate "
		  "parameters with ','", true },
		{ "-Name=1x", "--params: -Name: '1x' is not a valid snapshot name", false },
		{ "-Name=n,-Bad=1", "unknown parameter -Bad", false },
		{ "-PreScriptPath=prescript.sh",
		  "--params: -PreScriptPath: 'prescript.sh' is not an "
		  "absolute path", false },
		{ "-RamRoleName=\"a b\"",
		  "--params: -RamRoleName: 'a b' is not a RAM role name", false },
		{ "-=1", "--params: unknown parameter - (known:", false },
		{ "--params=--Name=x", "unknown parameter -", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect_error(SRC_PARAMS, cases[i].params, cases[i].message, cases[i].exact);
}

#define AZURE_TEMPLATE                                                                          \
	"{\n"                                                                                   \
	"    \"pluginName\" : \"ScriptRunner\",\n"                                              \
	"    \"preScriptLocation\" : \"/etc/azure/prescript.sh\",\n"                            \
	"    \"postScriptLocation\" : \"/etc/azure/postscript.sh\",\n"                          \
	"    \"preScriptParams\" : [\"a\", \"\"],\n"                                             \
	"    \"postScriptParams\" : [\"\", \"\"],\n"                                             \
	"    \"preScriptNoOfRetries\" : 2,\n"                                                   \
	"    \"postScriptNoOfRetries\" : \"3\",\n"                                              \
	"    \"timeoutInSeconds\" : \"60\",\n"                                                  \
	"    \"continueBackupOnFailure\" : false,\n"                                            \
	"    \"fsFreezeEnabled\" : \"false\",\n"                                                \
	"    \"scriptsExecutionPollTimeSeconds\" : 5,\n"                                        \
	"    \"PreScriptLocation\" : \"/x\"\n"                                                  \
	"}\n"

static void test_azure(void **state)
{
	struct config c;

	config_init(&c);
	apply_json_ok(&c, "{\"post-script-param\": [\"from-file\"], \"freeze\": true}");
	apply_azure_ok(&c, AZURE_TEMPLATE);
	assert_string_equal(c.pre_script, "/etc/azure/prescript.sh");
	assert_string_equal(c.post_script, "/etc/azure/postscript.sh");
	assert_int_equal(c.pre_script_params.n, 1);
	assert_string_equal(str_at(&c.pre_script_params, 0), "a");
	/* Empty entries only: not set, the file's stay. */
	assert_int_equal(c.post_script_params.n, 1);
	assert_string_equal(str_at(&c.post_script_params, 0), "from-file");
	assert_int_equal(c.pre_script_retries, 2);
	assert_int_equal(c.post_script_retries, 3);
	assert_int_equal(c.script_timeout_ms, 60000);
	assert_int_equal(c.timeout_ms, CONFIG_DEFAULT_TIMEOUT_MS);
	assert_true(c.require_app_consistent);
	assert_false(c.freeze);
	/* Unknown keys are warnings, a wrong case says what it meant. */
	assert_int_equal(c.warnings.n, 2);
	assert_string_equal(str_at(&c.warnings, 0),
			    "azure.json: ignoring unknown key 'scriptsExecutionPollTimeSeconds'");
	assert_string_equal(str_at(&c.warnings, 1), "azure.json: ignoring unknown key "
						    "'PreScriptLocation' (did you mean "
						    "'preScriptLocation'?)");
	config_clear(&c);

	/* Typed values, "" and null leave things as they were. */
	config_init(&c);
	apply_json_ok(&c, "{\"pre-script\": \"/keep\", \"pre-script-retries\": 4}");
	apply_azure_ok(&c, "{\"preScriptLocation\": \"\", \"postScriptLocation\": null,"
			   " \"preScriptNoOfRetries\": \"\", \"timeoutInSeconds\": 120,"
			   " \"continueBackupOnFailure\": \"TRUE\", \"fsFreezeEnabled\": true,"
			   " \"pluginName\": 42}");
	assert_string_equal(c.pre_script, "/keep");
	assert_null(c.post_script);
	assert_int_equal(c.pre_script_retries, 4);
	assert_int_equal(c.script_timeout_ms, 120000);
	assert_false(c.require_app_consistent);
	assert_true(c.freeze);
	assert_int_equal(c.warnings.n, 0);
	config_clear(&c);
}

static void test_azure_errors(void **state)
{
	static const struct {
		const char *json, *needle;
	} cases[] = {
		{ "[]", "azure.json: the top level must be a JSON object" },
		{ "{\"preScriptLocation\": \"/a\",}", "azure.json:1:" },
		{ "{\"preScriptLocation\": \"pre.sh\"}", "azure.json: key 'preScriptLocation': "
							 "'pre.sh' is not an absolute path" },
		{ "{\"preScriptLocation\": 1}", "key 'preScriptLocation': expected a string, not a "
						"number" },
		{ "{\"preScriptParams\": \"a\"}", "key 'preScriptParams': expected an array of "
						  "strings, not a string" },
		{ "{\"preScriptParams\": [1]}", "expected an array of strings, not one holding a "
						"number" },
		{ "{\"preScriptNoOfRetries\": \"11\"}",
		  "key 'preScriptNoOfRetries': '11' is not a number of retries; give one from 0 to "
		  "10" },
		{ "{\"postScriptNoOfRetries\": 2.5}", "2.5 is not a number of retries" },
		{ "{\"postScriptNoOfRetries\": true}", "expected a whole number from 0 to 10, not "
						       "true" },
		{ "{\"timeoutInSeconds\": \"abc\"}",
		  "key 'timeoutInSeconds': 'abc' is not a number "
		  "of seconds" },
		{ "{\"timeoutInSeconds\": 0}", "key 'timeoutInSeconds': 0 is out of range; give "
					       "seconds between 1 and 86400" },
		{ "{\"timeoutInSeconds\": [1]}", "expected a number of seconds, not an array" },
		{ "{\"continueBackupOnFailure\": \"maybe\"}", "'maybe' is not true or false" },
		{ "{\"fsFreezeEnabled\": 1}",
		  "key 'fsFreezeEnabled': expected true or false, not a "
		  "number" },
		{ "{\"fsFreezeEnabled\": true, \"fsFreezeEnabled\": false}",
		  "key 'fsFreezeEnabled' "
		  "is given twice" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect_error(SRC_AZURE, cases[i].json, cases[i].needle, false);
}

/* file < azure < params < command line; a later list replaces an earlier one. */
static void test_precedence(void **state)
{
	struct config c;
	char *err = NULL;

	config_init(&c);
	apply_json_ok(&c, "{\"pre-script\": \"/file/pre\", \"post-script\": \"/file/post\","
			  " \"timeout\": 5, \"script-timeout\": 100, \"name\": \"fromfile\","
			  " \"description\": \"file\", \"pre-script-param\": [\"f1\", \"f2\"],"
			  " \"exclude-disk\": [\"d-f1\", \"d-f2\"],"
			  " \"tag\": {\"a\": \"1\", \"b\": \"2\"},"
			  " \"freeze\": true, \"pre-script-retries\": 1}");
	apply_azure_ok(&c, "{\"preScriptLocation\": \"/azure/pre\", \"timeoutInSeconds\": 200,"
			   " \"preScriptParams\": [\"z1\"], \"preScriptNoOfRetries\": 2}");
	assert_string_equal(c.pre_script, "/azure/pre");
	assert_string_equal(c.post_script, "/file/post");
	assert_int_equal(c.script_timeout_ms, 200000);
	assert_int_equal(c.pre_script_params.n, 1);
	assert_string_equal(str_at(&c.pre_script_params, 0), "z1");
	apply_params_ok(&c, "-PreScriptPath=\"/params/pre\",-ScriptTimeoutInSeconds=300,"
			    "-ExcludeDiskId=d-p1,-Name=\"fromparams\",-TimeoutInSeconds=9,"
			    "-EnableFsFreeze=false");
	assert_string_equal(c.pre_script, "/params/pre");
	assert_int_equal(c.script_timeout_ms, 300000);
	assert_int_equal(c.exclude_disks.n, 1);
	assert_string_equal(str_at(&c.exclude_disks, 0), "d-p1");
	assert_string_equal(c.name, "fromparams");
	assert_int_equal(c.timeout_ms, 9000);
	assert_false(c.freeze);
	/* Values no later source gave stay. */
	assert_string_equal(c.description, "file");
	assert_int_equal(c.pre_script_retries, 2);
	assert_int_equal(c.tags.n, 2);
	/* The command line last: its --tag replaces the file's tags. */
	assert_int_equal(config_set_timeout(&c, &c.timeout_ms, "1.5", "--timeout", &err), 0);
	assert_int_equal(config_set_name(&c, "fromcli", "--name", &err), 0);
	config_list_reset(&c, &c.tags);
	assert_int_equal(config_add_tag(&c, "c=3", "--tag", &err), 0);
	assert_null(err);
	assert_int_equal(c.timeout_ms, 1500);
	assert_string_equal(c.name, "fromcli");
	assert_int_equal(c.tags.n, 1);
	assert_string_equal(tag_at(&c, 0)->key, "c");
	config_clear(&c);
}

/* One setup in the three syntaxes: the same settings. */
static void test_three_syntaxes(void **state)
{
	struct config conf, azure, params;
	char *a, *b, *c;

	config_init(&conf);
	config_init(&azure);
	config_init(&params);
	apply_json_ok(&conf, "{\"pre-script\": \"/tmp/prescript.sh\", \"post-script\": "
			     "\"/tmp/postscript.sh\", \"script-timeout\": 600, \"freeze\": true,"
			     " \"require-app-consistent\": false}");
	apply_azure_ok(&azure, "{\"pluginName\": \"ScriptRunner\", \"preScriptLocation\": "
			       "\"/tmp/prescript.sh\","
			       " \"postScriptLocation\": \"/tmp/postscript.sh\","
			       " \"preScriptParams\": [\"\", \"\"],"
			       " \"postScriptParams\": [\"\", \"\"],"
			       " \"preScriptNoOfRetries\": 0, \"postScriptNoOfRetries\": 0,"
			       " \"timeoutInSeconds\": 600, \"continueBackupOnFailure\": true,"
			       " \"fsFreezeEnabled\": true}");
	apply_params_ok(&params, "--params=-RamRoleName=\"\",-EnableFsFreeze=true,"
				 "-TimeoutInSeconds=30,-PreScriptPath=\"/tmp/prescript.sh\","
				 "-PostScriptPath=\"/tmp/postscript.sh\",-ExcludeDiskId=\"\","
				 "-Name=\"\","
				 "-Description=\"\",-ScriptTimeoutInSeconds=600");
	a = config_to_json(&conf);
	b = config_to_json(&azure);
	c = config_to_json(&params);
	assert_non_null(a);
	assert_string_equal(a, b);
	assert_string_equal(a, c);
	assert_non_null(strstr(a, "\"script-timeout\":\t600"));
	free(a);
	free(b);
	free(c);
	config_clear(&conf);
	config_clear(&azure);
	config_clear(&params);
}

static void assert_round_trip(const struct config *c)
{
	struct config again;
	char *first = config_to_json(c), *second, *err = NULL;

	assert_non_null(first);
	config_init(&again);
	if (config_apply_json(&again, first, "print-config", &err) < 0)
		fail_msg("--print-config output is no freezeshim.conf: %s\n%s", err, first);
	second = config_to_json(&again);
	assert_non_null(second);
	assert_string_equal(first, second);
	free(first);
	free(second);
	config_clear(&again);
}

static const char *const every_key[] = {
	"provider", "timeout", "freeze", "pre-script", "post-script", "pre-script-param",
	"post-script-param", "pre-script-retries", "post-script-retries", "script-timeout",
	"hook-dir", "require-app-consistent", "name", "description", "tag", "exclude-disk",
	"targets", "disk-map", "include-spanning", "state-dir", "snapshot-dir", "exec-command",
	"ram-role",
};

static void test_round_trip(void **state)
{
	struct config c;
	cJSON *root;
	char *json;

	config_init(&c);
	assert_round_trip(&c);
	json = config_to_json(&c);
	/* Every key, unset ones as null, and nothing else. */
	root = cJSON_Parse(json);
	assert_non_null(root);
	assert_int_equal(cJSON_GetArraySize(root), ARRAY_SIZE(every_key));
	cJSON_Delete(root);
	for (size_t i = 0; i < ARRAY_SIZE(every_key); i++) {
		char quoted[64];

		snprintf(quoted, sizeof(quoted), "\"%s\":", every_key[i]);
		if (!strstr(json, quoted))
			fail_msg("%s missing in\n%s", every_key[i], json);
	}
	assert_non_null(strstr(json, "\"pre-script\":\tnull"));
	assert_non_null(strstr(json, "\"timeout\":\t30,"));
	free(json);

	apply_json_ok(&c, "{\"provider\": \"exec\", \"timeout\": 0.001, \"freeze\": false,"
			  " \"pre-script\": \"/a b/pre\", \"post-script\": \"/post\","
			  " \"pre-script-param\": [\"\", \"x y\", \"\\\"q\\\"\"],"
			  " \"post-script-param\": [\"p\"], \"pre-script-retries\": 10,"
			  " \"post-script-retries\": 1, \"script-timeout\": \"86399.999\","
			  " \"hook-dir\": \"\", \"require-app-consistent\": true, \"name\": \"N1\","
			  " \"description\": \"ünïcode, \\\\ and \\\"quotes\\\"\","
			  " \"tag\": [\"k=v=w\", \"e=\"], \"exclude-disk\": [\"d-1\"],"
			  " \"targets\": [\"/\", \"d-2\"], \"disk-map\": {\"/dev/vdb\": \"d-2\"},"
			  " \"include-spanning\": true, \"state-dir\": \"/run/x\","
			  " \"snapshot-dir\": \"/s\", \"exec-command\": [\"/bin/echo\", \"a\"],"
			  " \"ram-role\": \"role\"}");
	assert_int_equal(c.script_timeout_ms, 86399999);
	assert_round_trip(&c);
	json = config_to_json(&c);
	assert_non_null(strstr(json, "\"timeout\":\t0.001,"));
	assert_non_null(strstr(json, "\"script-timeout\":\t86399.999,"));
	assert_non_null(strstr(json, "\"hook-dir\":\t\"\","));
	free(json);
	/* A timeout of odd milliseconds survives too. */
	assert_int_equal(config_set_timeout(&c, &c.timeout_ms, "2.345", "--timeout", NULL), 0);
	assert_round_trip(&c);
	config_clear(&c);
}

static void expect_invalid(const struct config *c, const char *message)
{
	char *err = NULL;

	assert_int_equal(config_validate(c, &err), -EINVAL);
	if (!err || !strstr(err, message))
		fail_msg("validate: got '%s', wanted '%s'", err ? err : "(none)", message);
	free(err);
}

static void test_validate(void **state)
{
	struct config c;
	char *err = NULL;

	config_init(&c);
	apply_json_ok(&c, "{\"provider\": \"exec\"}");
	expect_invalid(&c, "the exec provider needs a command");
	apply_json_ok(&c, "{\"exec-command\": [\"/bin/true\"]}");
	assert_int_equal(config_validate(&c, &err), 0);
	apply_json_ok(&c, "{\"provider\": \"local\"}");
	expect_invalid(&c, "is run only by the exec provider, not by 'local'");
	apply_json_ok(&c, "{\"exec-command\": null}");
	assert_int_equal(config_validate(&c, &err), 0);

	/* The default hook directory counts as a way to be app-consistent. */
	apply_json_ok(&c, "{\"require-app-consistent\": true}");
	assert_int_equal(config_validate(&c, &err), 0);
	apply_json_ok(&c, "{\"hook-dir\": \"\"}");
	expect_invalid(&c, "--require-app-consistent needs a pre-script or a hook directory");
	apply_json_ok(&c, "{\"pre-script\": \"/pre\"}");
	assert_int_equal(config_validate(&c, &err), 0);
	apply_json_ok(&c, "{\"freeze\": false}");
	expect_invalid(&c, "--require-app-consistent cannot be met with --no-freeze");
	apply_json_ok(&c, "{\"freeze\": true}");

	/* Fields the command line sets directly are checked here. */
	free(c.pre_script);
	c.pre_script = strdup("pre.sh");
	expect_invalid(&c, "--pre-script: 'pre.sh' is not an absolute path");
	free(c.pre_script);
	c.pre_script = NULL;
	free(c.state_dir);
	c.state_dir = strdup("");
	expect_invalid(&c, "--state-dir is empty");
	free(c.state_dir);
	c.state_dir = strdup("/run/ok");
	c.timeout_ms = 0;
	expect_invalid(&c, "--timeout is out of range");
	c.timeout_ms = 1000;
	c.post_script_retries = 11;
	expect_invalid(&c, "script retries are out of range");
	c.post_script_retries = 0;
	c.ram_role = strdup("../x");
	expect_invalid(&c, "--ram-role: '../x' is not a RAM role name");
	free(c.ram_role);
	c.ram_role = NULL;
	free(c.provider);
	c.provider = strdup("gcp");
	expect_invalid(&c, "unknown provider 'gcp'; known: local, exec");
	free(c.provider);
	c.provider = NULL;
	assert_int_equal(config_validate(&c, &err), -ENOMEM);
	free(err);
	config_clear(&c);
}

/* ---- Files: need root, to make files owned by root. ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int files_setup(void **state)
{
	if (geteuid() != 0)
		return 0;
	strcpy(tmpdir, "/tmp/test-config.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int files_teardown(void **state)
{
	char cmd[128];

	if (geteuid() != 0 || !tmpdir[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
	char *path;

	assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	return path;
}

static void test_files(void **state)
{
	char *conf, *azure, *missing, *link, *err = NULL;
	struct config c;
	int r;

	if (geteuid() != 0) {
		print_message("not root: the file tests need root-owned files\n");
		skip();
	}
	conf = tmp_path("freezeshim.conf");
	azure = tmp_path("VMSnapshotPluginConfig.json");
	missing = tmp_path("missing.conf");
	link = tmp_path("link.conf");
	config_init(&c);

	/* A missing default file is no error; a missing --config file is. */
	assert_int_equal(config_apply_file(&c, missing, true, &err), 0);
	assert_null(err);
	assert_int_equal(config_apply_file(&c, missing, false, &err), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));
	free(err);
	err = NULL;

	write_file(conf, "{\"timeout\": 12, \"pre-script\": \"/p\"}\n", 0644);
	assert_int_equal(config_apply_file(&c, conf, false, &err), 0);
	assert_int_equal(c.timeout_ms, 12000);
	write_file(azure, "{\"preScriptLocation\": \"/azure/p\", \"timeoutInSeconds\": 9,"
			  " \"extra\": 1}", 0600);
	assert_int_equal(config_apply_azure_file(&c, azure, &err), 0);
	assert_string_equal(c.pre_script, "/azure/p");
	assert_int_equal(c.script_timeout_ms, 9000);
	assert_int_equal(c.warnings.n, 1);
	assert_non_null(strstr(str_at(&c.warnings, 0), "VMSnapshotPluginConfig.json: ignoring "
						       "unknown key 'extra'"));

	/* A relative path works from the current directory. */
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(config_apply_file(&c, "freezeshim.conf", false, &err), 0);
	assert_int_equal(chdir("/"), 0);

	/* Errors name the file and the line. */
	write_file(conf, "{\n  // no comments\n}\n", 0644);
	assert_int_equal(config_apply_file(&c, conf, false, &err), -EINVAL);
	assert_non_null(strstr(err, "freezeshim.conf:2:3: not valid JSON: comments"));
	assert_true(strncmp(err, conf, strlen(conf)) == 0);
	free(err);
	err = NULL;

	/* Writable by others: refused, as is Azure's file readable by others, and a symlink. */
	write_file(conf, "{}", 0666);
	r = config_apply_file(&c, conf, false, &err);
	assert_int_equal(r, -EPERM);
	assert_non_null(strstr(err, "not trusted"));
	free(err);
	err = NULL;
	write_file(conf, "{}", 0644);
	write_file(azure, "{}", 0644);
	assert_int_equal(config_apply_azure_file(&c, azure, &err), -EPERM);
	assert_non_null(strstr(err, "Azure's rule too: owned by root, mode 0600"));
	free(err);
	err = NULL;
	assert_int_equal(symlink(conf, link), 0);
	assert_int_equal(config_apply_file(&c, link, false, &err), -EPERM);
	free(err);
	err = NULL;

	/* Over 1 MiB: refused before parsing. */
	{
		size_t size = 1024 * 1024 + 10;
		char *big = malloc(size + 1);

		assert_non_null(big);
		memset(big, ' ', size);
		big[0] = '{';
		big[size - 1] = '}';
		big[size] = '\0';
		write_file(conf, big, 0644);
		free(big);
	}
	assert_int_equal(config_apply_file(&c, conf, false, &err), -EFBIG);
	assert_non_null(strstr(err, "larger than 1 MiB"));
	free(err);
	err = NULL;

	/* None of the failures changed anything. */
	assert_string_equal(c.pre_script, "/p");
	assert_int_equal(c.timeout_ms, 12000);
	config_clear(&c);
	free(conf);
	free(azure);
	free(missing);
	free(link);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_conf_every_key),
		cmocka_unit_test(test_conf_other_forms),
		cmocka_unit_test(test_conf_errors),
		cmocka_unit_test(test_conf_lengths),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_alibaba_example),
		cmocka_unit_test(test_alibaba_values),
		cmocka_unit_test(test_alibaba_errors),
		cmocka_unit_test(test_azure),
		cmocka_unit_test(test_azure_errors),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_three_syntaxes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_validate),
		cmocka_unit_test_setup_teardown(test_files, files_setup, files_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
