#!/bin/bash
# Real-kernel test of `freezeshim snapshot` with the local and exec providers
# on loop filesystems made here: the verdict and its tag (report and
# manifest.json), the exit codes, the pre/post-scripts (order around the
# window, parameters, environment, every refusal of an untrusted script, a
# timeout with a child that ignores SIGTERM, 10 MiB of output, retries), the
# post phase after a failed provider, --no-freeze, the hook directory, the
# three configuration syntaxes, bad input, and the images of a snapshot taken
# while writers run pass the filesystem checkers.
#
# After every run: nothing is left frozen (a write to every test filesystem
# completes within a few seconds) and nothing half-made is left in the
# snapshot directory (no *.partial; a run that makes no snapshot adds
# nothing).
#
# Every run is bounded twice: `timeout` around each CLI call, and a watchdog
# that thaws every test filesystem, kills the test's processes (found by
# the FREEZESHIM_TEST_TAG environment variable, which the scripts inherit)
# and stops the test when it overruns.
#
# Environment: FREEZESHIM (the CLI).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# jq programs are single-quoted on purpose; undo_* run through eval.
# shellcheck disable=SC2016,SC2317

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"
export LC_ALL=C		# EPOCHREALTIME and awk with a '.' decimal point


[ "$(id -u)" = 0 ] || skip "needs root"
need_tools losetup truncate mount umount mkfs.ext4 mkfs.xfs mkfs.btrfs btrfs \
	   e2fsck debugfs xfs_repair fsfreeze jq timeout awk date cp find stat \
	   chown chmod head tr pgrep comm
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"
losetup -f >/dev/null 2>&1 || skip "no free loop device"
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null ||
	skip "no xfs in this kernel"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null ||
	skip "no btrfs in this kernel"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
case $FREEZESHIM in
/*) ;;
*) FREEZESHIM=$PWD/$FREEZESHIM ;;
esac
unset FREEZESHIM_DEBUG_HOLD_AFTER

# Time limits (seconds).
RUN_SEC=40		# one freezeshim call (its I/O-pause limit is 10 s)
TOTAL_LIMIT=150		# the whole test, setup included (it needs ~30 s)
PROBE_SEC=5		# a write to a thawed filesystem completes within this
KILL_GRACE=5		# scripts.c: SIGTERM, then SIGKILL after this
CHECK_SEC=60		# one filesystem checker

MAIN_PID=$$

# --- Teardown bookkeeping ---------------------------------------------------
#
# Loop devices and mounts are recorded as undo commands the moment they
# exist, run newest first by the trap.  The mounts the test may freeze are
# listed in $T/thaw.list.  Every process the test starts carries
# FREEZESHIM_TEST_TAG=$T in its environment (freezeshim passes it on to the
# scripts, hooks and exec commands), so that the watchdog and the trap find
# them, and nothing else, by that tag.

T=
WATCHDOG_PID=
RUN_PID=
WRITER_PIDS=()
CHECK_LOOP=
CHECK_MOUNTED=

# rescue: tell the writers to stop, thaw, stop every process of the test,
# thaw again.
rescue() {
	[ -n "$T" ] && touch "$T/stop"
	rescue_tagged
}

cleanup() {
	local rc=$? i dev back p

	set +e
	trap - EXIT INT TERM HUP
	if [ -n "$WATCHDOG_PID" ]; then
		kill_child TERM "$WATCHDOG_PID"
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$RUN_PID" ]; then
		kill_child TERM "$RUN_PID"
		wait_gone "$RUN_PID" 5 || kill_child KILL "$RUN_PID"
		wait "$RUN_PID" 2>/dev/null
	fi
	if [ -n "$T" ]; then
		rescue		# also tells the writers to stop
		for p in "${WRITER_PIDS[@]}"; do
			wait_gone "$p" 10 || kill_child KILL "$p"
		done
		[ "${#WRITER_PIDS[@]}" = 0 ] || wait "${WRITER_PIDS[@]}" 2>/dev/null
	fi
	if [ -n "$CHECK_MOUNTED" ]; then
		umount "$CHECK_MOUNTED" 2>/dev/null || umount -l "$CHECK_MOUNTED"
	fi
	[ -z "$CHECK_LOOP" ] || undo_loop "$CHECK_LOOP"
	undo_all
	if [ -n "$T" ]; then
		sweep_dir "$T" || rc=1
	fi
	exit "$rc"
}

exec 3>&1
on_term() {
	if [ -n "$T" ] && [ -e "$T/watchdog.fired" ]; then
		echo "not ok - watchdog: $(cat "$T/watchdog.fired")" >&3
		exit 1
	fi
	exit 143
}

trap cleanup EXIT
trap 'exit 130' INT
trap on_term TERM
trap 'exit 129' HUP

T=$(mktemp -d /var/tmp/freezeshim-snapshot.XXXXXX)
export FREEZESHIM_TEST_TAG=$T
chmod 0700 "$T"
mkdir "$T/img" "$T/out" "$T/mnt" "$T/snaps" "$T/marks" "$T/chk"
mkdir -m 0700 "$T/state"
mkdir -m 0755 "$T/scripts"
: >"$T/thaw.list"
THAW_LIST=$T/thaw.list
LOG=$T/setup.log	# run()'s log
export LOG
O=$T/out
S=$T/state
SNAPS=$T/snaps
MARKS=$T/marks

# --- Watchdog ---------------------------------------------------------------
#
# Past TOTAL_LIMIT it thaws every test filesystem, sends SIGTERM to this
# shell first (so that it starts nothing more; its trap reports the failure
# and cleans up), then kills everything of the test.
(
	set +e
	trap - EXIT INT TERM HUP
	WATCHDOG_PID=$BASHPID
	end=$((EPOCHSECONDS + TOTAL_LIMIT))
	while kill -0 "$MAIN_PID" 2>/dev/null; do
		if [ "$EPOCHSECONDS" -lt "$end" ]; then
			sleep 0.25
			continue
		fi
		echo "the test exceeded ${TOTAL_LIMIT} s" >"$T/watchdog.fired"
		echo "# WATCHDOG: the test exceeded ${TOTAL_LIMIT} s; thawing every" \
		     "test filesystem, killing the test's processes" >&2
		thaw_listed
		kill -TERM "$MAIN_PID"
		rescue
		exit 0
	done
) </dev/null >/dev/null &
WATCHDOG_PID=$!

EXT4_OPTS=(-E "lazy_itable_init=0,lazy_journal_init=0")

echo "# setting up in $T"
# Two small ext4 targets for the workflow cases.
new_loop L_E1 "$T/img/e1.img" 32M
run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "$L_E1"
mount_fs "$L_E1" "$T/mnt/e1" -t ext4
new_loop L_E2 "$T/img/e2.img" 16M
run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "$L_E2"
mount_fs "$L_E2" "$T/mnt/e2" -t ext4
E1=$T/mnt/e1
E2=$T/mnt/e2
TARGETS=("$E1" "$E2")
# Three for the consistency case (14).
new_loop L_CE "$T/img/c-ext4.img" 64M
run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "$L_CE"
mount_fs "$L_CE" "$T/mnt/c-ext4" -t ext4
new_loop L_CX "$T/img/c-xfs.img" 300M	# xfsprogs 6.1 refuses less than 300 MiB
run mkfs.xfs -q -f "$L_CX"
mount_fs "$L_CX" "$T/mnt/c-xfs" -t xfs
new_loop L_CB "$T/img/c-btrfs.img" 128M
run mkfs.btrfs -q -f "$L_CB"
record undo_btrfs_forget "$L_CB"
mount_fs "$L_CB" "$T/mnt/c-btrfs" -t btrfs
echo "# loops: e1=$L_E1 e2=$L_E2 ext4=$L_CE xfs=$L_CX btrfs=$L_CB"

while read -r m; do
	if [ "$(stat -c %d "$T")" = "$(stat -c %d "$m")" ]; then
		echo "# setup failed: $T is on the target $m" >&2
		exit 1
	fi
done <"$T/thaw.list"

# The ancestors of the scripts must be root-owned and not writable by others
# (sticky allowed): /var/tmp is 1777, $T 0700.
for d in / /var /var/tmp; do
	if [ "$(stat -c %u "$d")" != 0 ]; then
		skip "$d is not owned by root: the scripts' ancestors would be refused"
	fi
done

# mkscript PATH: a root-owned 0700 script from stdin.
mkscript() {
	cat >"$1"
	chown 0:0 "$1"
	chmod 0700 "$1"
}

# A script's line in $MARKS/log: WHO, the time, its environment and args.
# Its argv[0] is /dev/fd/N (freezeshim execs the checked descriptor), so
# each script names itself.
LOGLINE='{ printf "%s %s phase=%s group=%s argc=%s" "$WHO" "$(date +%s.%N)" '\
'"$FREEZESHIM_PHASE" "$FREEZESHIM_GROUP_ID" "$#"; for a; do printf " [%s]" "$a"; done; '\
'echo; } >>'"$MARKS/log"

# pre.sh: logs, then writes a token into e1 (before the freeze: the
# snapshot holds it).
mkscript "$T/scripts/pre.sh" <<EOF
#!/bin/sh
WHO=pre
$LOGLINE
date +%s.%N >"$E1/pre-marker"
EOF
# post.sh: logs, then writes into e1 (possible only once thawed; the
# snapshot does not hold it).
mkscript "$T/scripts/post.sh" <<EOF
#!/bin/sh
WHO=post
$LOGLINE
date +%s.%N >"$E1/post-marker" && echo "post-wrote" >>"$MARKS/log"
EOF
mkscript "$T/scripts/post-fail.sh" <<EOF
#!/bin/sh
WHO=post-fail
$LOGLINE
echo "post-fail says no"
exit 1
EOF

# --- Checks -----------------------------------------------------------------

NTEST=0
NFAIL=0

# check WHAT CMD...: one TAP line; CMD's output (its reasons) as comments
# when it fails.
check() {
	local what=$1

	shift
	NTEST=$((NTEST + 1))
	if "$@" >"$O/check.log" 2>&1; then
		echo "ok $NTEST - $what"
	else
		echo "not ok $NTEST - $what"
		NFAIL=$((NFAIL + 1))
		sed -n '1,12s/^/#   /p' "$O/check.log"
	fi
}

# eq GOT WANT [WHAT]
eq() {
	[ "$1" = "$2" ] && return 0
	echo "${3:-value}: got '$1', want '$2'"
	return 1
}

le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# jr NAME FILTER: jq -r on run NAME's --json report.
jr() {
	jq -r "$2" "$O/$1.out" 2>/dev/null
}

# show NAME: the run's stderr, as comments.
show() {
	sed -n '1,15s/^/#     /p' "$O/$1.err"
}

# snap NAME ARG...: `freezeshim snapshot ARG...`, bounded; exit status in RC,
# seconds taken in ELAPSED, the snapshot directory's listing before it in
# $O/NAME.before.
snap() {
	local name=$1 t0

	shift
	find "$SNAPS" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort >"$O/$name.before"
	t0=$EPOCHREALTIME
	timeout -k 5 "$RUN_SEC" "$FREEZESHIM" snapshot "$@" \
		>"$O/$name.out" 2>"$O/$name.err" </dev/null &
	RUN_PID=$!
	RC=0
	wait "$RUN_PID" || RC=$?
	RUN_PID=
	ELAPSED=$(since "$t0")
}

# The options of most runs: no configuration file, private state and
# snapshot directories, no hook directory, a 10 s I/O-pause limit.
BASE=(--no-config --state-dir "$S" --snapshot-dir "$SNAPS" --hook-dir '' --timeout 10)

# writable_all: a write to every test filesystem completes within PROBE_SEC
# (all started at once).  A filesystem left frozen is named, thawed (so the
# test goes on) and fails the check.
writable_all() {
	local m p i=0 bad=0 pids=() mnts=()

	while read -r m; do
		is_mounted "$m" || continue
		touch "$m/.probe.$NTEST" >/dev/null 2>&1 &
		pids+=("$!")
		mnts+=("$m")
	done <"$T/thaw.list"
	for p in "${pids[@]}"; do
		if ! wait_gone "$p" "$PROBE_SEC"; then
			echo "${mnts[i]} is still frozen: a write did not complete in $PROBE_SEC s"
			fsfreeze -u "${mnts[i]}" 2>/dev/null
			bad=1
		fi
		wait "$p" 2>/dev/null
		rm -f "${mnts[i]}/.probe.$NTEST"
		i=$((i + 1))
	done
	return "$bad"
}

no_partial() {
	local p

	p=$(find "$SNAPS" -mindepth 1 -maxdepth 1 -name '*.partial' -printf '%f ')
	[ -z "$p" ] && return 0
	echo "half-made snapshots left: $p"
	return 1
}

# nothing_new NAME: the run added nothing to the snapshot directory.
nothing_new() {
	local now

	now=$(find "$SNAPS" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
	[ "$now" = "$(cat "$O/$1.before")" ] && return 0
	echo "new in $SNAPS: $(comm -13 "$O/$1.before" <(echo "$now") | tr '\n' ' ')"
	return 1
}

settled() {
	local r=0

	writable_all || r=1
	no_partial || r=1
	return "$r"
}

tag_of() {
	case $1 in
	app) echo APPConsistent:True ;;
	fs) echo FsConsistent:True ;;
	crash) echo CrashConsistent:True ;;
	*) echo null ;;
	esac
}

# manifest_is GID VERDICT: manifest.json of snapshot GID says VERDICT and
# carries exactly its consistency tag.
manifest_is() {
	local f=$SNAPS/$1/manifest.json r=0

	[ -n "$1" ] && [ -f "$f" ] || { echo "no manifest $f"; return 1; }
	eq "$(jq -r .verdict "$f")" "$2" "manifest verdict" || r=1
	eq "$(jq -r '[.tags | to_entries[] | select(.key | test("Consistent$")) |
		"\(.key):\(.value)"] | join(",")' "$f")" "$(tag_of "$2")" "manifest tags" || r=1
	[ -z "$(find "$SNAPS/$1" -name '*.partial')" ] || { echo "partial files in $1"; r=1; }
	return "$r"
}

# images_exist NAME: every image the report lists is a file of its size.
images_exist() {
	local id size r=0

	while read -r id size; do
		[ "$(stat -c %s "$id" 2>/dev/null)" = "$size" ] ||
			{ echo "image $id: not a file of $size bytes"; r=1; }
	done < <(jr "$1" '.snapshots[] | "\(.snapshot_id) \(.size)"')
	eq "$(jr "$1" '.snapshots | length')" "$(jr "$1" '[.filesystems[]] | length')" \
		"images (one disk per test filesystem)" || r=1
	return "$r"
}

# report_is NAME RC VERDICT MADE: the run's exit status and its --json
# report (exit_code, verdict, tag, snapshot_made); for a local snapshot the
# manifest too; a run that made none added nothing to the snapshot dir.
report_is() {
	local name=$1 rc=$2 verdict=$3 made=$4 r=0 gid

	eq "$RC" "$rc" "exit status" || r=1
	eq "$(jr "$name" .exit_code)" "$rc" "exit_code" || r=1
	eq "$(jr "$name" .verdict)" "$verdict" "verdict" || r=1
	eq "$(jr "$name" .tag)" "$(tag_of "$verdict")" "tag" || r=1
	eq "$(jr "$name" .snapshot_made)" "$made" "snapshot_made" || r=1
	gid=$(jr "$name" .group_id)
	if [ "$made" = true ] && [ "$(jr "$name" .provider)" = local ]; then
		manifest_is "$gid" "$verdict" || r=1
		images_exist "$name" || r=1
	elif [ "$made" = false ]; then
		nothing_new "$name" || r=1
	fi
	[ "$r" = 0 ] || sed -n '1,6s/^/stderr: /p' "$O/$name.err"
	return "$r"
}

# outcome NAME CASE RC VERDICT MADE: the two checks of every run.
outcome() {
	local name=$1 what=$2 rc=$3 verdict=$4 made=$5 extra=

	[ "$made" = true ] || extra=", no snapshot"
	check "$what: exit $rc, verdict $verdict ($(tag_of "$verdict"))$extra (report, manifest)" \
		report_is "$name" "$rc" "$verdict" "$made"
	check "$what: nothing left frozen, no *.partial" settled
	local p
	p=$(jr "$name" .io_pause_ms)
	[ -z "$p" ] || [ "$p" = null ] || echo "# $what: I/O pause $p ms, run ${ELAPSED} s"
}

# script_field NAME INDEX FIELD
sf() {
	jr "$1" ".scripts[$2].$3"
}

# logged WHO: the script WHO wrote its line to $MARKS/log.
logged() {
	grep -q "^$1 " "$MARKS/log" 2>/dev/null && return 0
	echo "$1 did not run (no line in the log: $(tr '\n' '|' <"$MARKS/log" 2>/dev/null))"
	return 1
}

fresh_log() {
	: >"$MARKS/log"
}

# iso_to_epoch ISO: seconds since the epoch, with fractions.
iso_to_epoch() {
	date -u -d "$(echo "$1" | sed 's/T/ /; s/Z$//')" +%s.%N
}

# in_image IMAGE PATH: PATH exists in the ext4 IMAGE.
in_image() {
	debugfs -R "stat $2" "$1" 2>&1 | grep -q '^Inode:'
}

# image_of NAME DEVICE: the snapshot's image path of the loop DEVICE.
image_of() {
	jr "$1" ".snapshots[] | select(.device == \"$2\") | .snapshot_id"
}

# ============================================================================
T_START=$SECONDS
set +e

# --- 1. No scripts: fs ------------------------------------------------------
echo "# --- 1. no scripts"
snap c1 "${BASE[@]}" --json "${TARGETS[@]}"
outcome c1 "1 no scripts (--json)" 0 fs true
snap c1p "${BASE[@]}" "${TARGETS[@]}"
plugin_line() {
	local line gid re r=0

	eq "$RC" 0 "exit status" || r=1
	eq "$(wc -l <"$O/c1p.out")" 1 "stdout lines" || { cat "$O/c1p.out"; r=1; }
	line=$(head -n 1 "$O/c1p.out")
	re='^\[snapshotgroup="(local-[^"]+)"\]\[message="FsConsistent:True; [^"]*"\]$'
	if ! [[ $line =~ $re ]]; then
		echo "stdout line: $line"
		return 1
	fi
	gid=${BASH_REMATCH[1]}
	manifest_is "$gid" fs || r=1
	return "$r"
}
check '1 no scripts: plugin line [snapshotgroup="local-..."][message="FsConsistent:True; ..."]' \
	plugin_line
check "1 no scripts, plugin line: nothing left frozen, no *.partial" settled

# --- 2. Good pre and post scripts: app --------------------------------------
echo "# --- 2. pre + post scripts"
fresh_log
rm -f "$E1/pre-marker" "$E1/post-marker"
sync -f "$E1"
snap c2 "${BASE[@]}" --json --script-timeout 5 \
	--pre-script "$T/scripts/pre.sh" --pre-script-param 'a b' --pre-script-param x \
	--post-script "$T/scripts/post.sh" --post-script-param post1 "${TARGETS[@]}"
outcome c2 "2 pre+post" 0 app true

order_around_window() {
	local frozen pre post img r=0 gid

	gid=$(jr c2 .group_id)
	frozen=$(iso_to_epoch "$(jr c2 .frozen_at)")
	pre=$(awk '$1 == "pre" { print $2 }' "$MARKS/log")
	post=$(awk '$1 == "post" { print $2 }' "$MARKS/log")
	[ -n "$pre" ] && [ -n "$post" ] && [ -n "$frozen" ] ||
		{ echo "pre '$pre' post '$post' frozen_at '$frozen'"; return 1; }
	lt "$pre" "$frozen" || { echo "pre-script at $pre, not before frozen_at $frozen"; r=1; }
	lt "$frozen" "$post" || { echo "post-script at $post, not after frozen_at $frozen"; r=1; }
	grep -qx post-wrote "$MARKS/log" ||
		{ echo "the post-script could not write to $E1"; r=1; }
	img=$(image_of c2 "$L_E1")
	[ -f "$img" ] || { echo "no image of $L_E1 in the report"; return 1; }
	in_image "$img" /pre-marker ||
		{ echo "the pre-script's file is not in the snapshot of $E1"; r=1; }
	in_image "$img" /post-marker &&
		{ echo "the post-script's file is in the snapshot of $E1"; r=1; }
	eq "$(debugfs -R 'cat /pre-marker' "$img" 2>/dev/null)" "$(cat "$E1/pre-marker")" \
		"pre-marker in the image" || r=1
	return "$r"
}
check "2 pre+post: pre ran before the freeze (its file is in the image), post after the thaw \
(it wrote to the target; its file is not in the image)" \
	order_around_window
params_env() {
	local r=0 gid

	gid=$(jr c2 .group_id)
	grep -q "^pre .* phase=pre group=$gid argc=2 \[a b\] \[x\]\$" "$MARKS/log" ||
		{ echo "pre line: $(grep '^pre ' "$MARKS/log")"; r=1; }
	grep -q "^post .* phase=post group=$gid argc=1 \[post1\]\$" "$MARKS/log" ||
		{ echo "post line: $(grep '^post ' "$MARKS/log")"; r=1; }
	eq "$(jr c2 '[.scripts[] | "\(.phase) \(.kind) \(.outcome) \(.attempts) \(.status)"] |
		join(",")')" \
		"pre script ok 1 0,post script ok 1 0" "scripts" || r=1
	return "$r"
}
check "2 pre+post: parameters, FREEZESHIM_PHASE, FREEZESHIM_GROUP_ID passed; both ok" \
	params_env

# --- 3. Pre-script refusals ---------------------------------------------------
echo "# --- 3. untrusted pre-scripts"
cp "$T/scripts/pre.sh" "$T/scripts/owner.sh"
chown 65534 "$T/scripts/owner.sh"
chmod 0700 "$T/scripts/owner.sh"
cp -p "$T/scripts/pre.sh" "$T/scripts/mode.sh"
chmod 0755 "$T/scripts/mode.sh"
ln -s "$T/scripts/pre.sh" "$T/scripts/link.sh"
mkdir "$T/wdir" "$T/sdir"
chmod 0777 "$T/wdir"
chmod 1777 "$T/sdir"
cp -p "$T/scripts/pre.sh" "$T/wdir/pre.sh"
cp -p "$T/scripts/pre.sh" "$T/sdir/pre.sh"

# refused NAME OUTCOME REASON-REGEX: the report's pre-script entry.
refused() {
	local r=0

	eq "$(sf "$1" 0 phase)/$(sf "$1" 0 outcome)" "pre/$2" "pre-script outcome" || r=1
	sf "$1" 0 reason | grep -Eq -- "$3" ||
		{ echo "reason: $(sf "$1" 0 reason) (want /$3/)"; r=1; }
	eq "$(sf "$1" 0 attempts)" 0 "attempts" || r=1
	logged post || r=1
	logged pre && { echo "the refused pre-script ran"; r=1; }
	return "$r"
}

# refused_warned NAME OUTCOME REASON-REGEX: refused, and a warning says so.
refused_warned() {
	local w r=0

	refused "$@" || r=1
	w=$(jr "$1" '.warnings | join("|")')
	echo "$w" | grep -q "pre-script" ||
		{ echo "no warning about the pre-script: '$w'"; r=1; }
	return "$r"
}

for v in "missing:$T/scripts/nope.sh:missing:does not exist" \
	 "owner 65534:$T/scripts/owner.sh:insecure:owned by uid 65534" \
	 "mode 0755:$T/scripts/mode.sh:insecure:mode 0755" \
	 "symlink:$T/scripts/link.sh:insecure:symlink" \
	 "parent 0777:$T/wdir/pre.sh:insecure:writable"; do
	IFS=: read -r what path want reason <<<"$v"
	n=c3-${what%% *}
	fresh_log
	snap "$n" "${BASE[@]}" --json --script-timeout 5 --pre-script "$path" \
		--post-script "$T/scripts/post.sh" "${TARGETS[@]}"
	outcome "$n" "3 pre-script $what, default policy" 0 fs true
	check "3 pre-script $what: outcome $want, post-script ran, a warning" \
		refused_warned "$n" "$want" "$reason"
	fresh_log
	snap "$n-req" "${BASE[@]}" --json --script-timeout 5 --pre-script "$path" \
		--post-script "$T/scripts/post.sh" --require-app-consistent "${TARGETS[@]}"
	outcome "$n-req" "3 pre-script $what, --require-app-consistent" 9 null false
	check "3 pre-script $what, --require-app-consistent: outcome $want, post-script still ran" \
		refused "$n-req" "$want" "$reason"
done
fresh_log
snap c3-sticky "${BASE[@]}" --json --script-timeout 5 --pre-script "$T/sdir/pre.sh" \
	--post-script "$T/scripts/post.sh" --require-app-consistent "${TARGETS[@]}"
outcome c3-sticky "3 pre-script in a sticky 1777 directory is accepted" 0 app true

# --- 4. Script timeout, a child ignoring SIGTERM -----------------------------
echo "# --- 4. script timeout"
# A unique number in the sleeper's argv: this test's pid.
SLEEPMARK=300.$$1
mkscript "$T/scripts/hang.sh" <<EOF
#!/bin/sh
WHO=hang
$LOGLINE
sh -c 'trap "" TERM; sleep $SLEEPMARK; echo not-killed' &
echo started
wait
EOF
# sleepers: pids of processes whose argv is "sleep $SLEEPMARK".
sleepers() {
	local p

	for p in $(pgrep -x -f "sleep $SLEEPMARK"); do
		alive "$p" && echo "$p"
	done
	return 0
}
# timed_out NAME: outcome timeout, the group gone, in bounded time.
timed_out() {
	local r=0 left p

	eq "$(sf "$1" 0 outcome)" timeout "pre-script outcome" || r=1
	eq "$(sf "$1" 0 attempts)" 1 "attempts" || r=1
	left=$(sleepers)
	if [ -n "$left" ]; then
		echo "sleep $SLEEPMARK still running: pids $left"
		r=1
		# Ours (unique argv and our tag): end them, by pid.
		for p in $left; do
			grep -qzxF -- "FREEZESHIM_TEST_TAG=$T" "/proc/$p/environ" 2>/dev/null &&
				kill -KILL "$p" 2>/dev/null
		done
	fi
	le 2 "$ELAPSED" || { echo "the run took $ELAPSED s, less than the script timeout"; r=1; }
	le "$ELAPSED" $((2 + KILL_GRACE + 4)) ||
		{ echo "the run took $ELAPSED s, over 2 + $KILL_GRACE + 4"; r=1; }
	logged post || r=1
	return "$r"
}
fresh_log
snap c4 "${BASE[@]}" --json --script-timeout 2 --pre-script "$T/scripts/hang.sh" \
	--post-script "$T/scripts/post.sh" "${TARGETS[@]}"
outcome c4 "4 pre-script timeout, default policy" 0 fs true
check "4 pre-script timeout: outcome timeout, no sleep $SLEEPMARK left, \
run ${ELAPSED} s <= 2 + ${KILL_GRACE} + 4, post ran" \
	timed_out c4
fresh_log
snap c4-req "${BASE[@]}" --json --script-timeout 2 --pre-script "$T/scripts/hang.sh" \
	--post-script "$T/scripts/post.sh" --require-app-consistent "${TARGETS[@]}"
outcome c4-req "4 pre-script timeout, --require-app-consistent" 9 null false
check "4 pre-script timeout, --require-app-consistent: outcome timeout, no sleeper left, \
run ${ELAPSED} s, post ran" \
	timed_out c4-req

# --- 5. 10 MiB of output ------------------------------------------------------
echo "# --- 5. 10 MiB of output"
mkscript "$T/scripts/loud.sh" <<EOF
#!/bin/sh
yes 'freezeshim real-snapshot output line, 64 bytes of text to fill.' | head -c 10485760
echo "LAST-MARKER-$$"
EOF
snap c5 "${BASE[@]}" --json --script-timeout 10 --pre-script "$T/scripts/loud.sh" \
	"${TARGETS[@]}"
outcome c5 "5 pre-script writing 10 MiB" 0 app true
loud() {
	local r=0 n

	eq "$(sf c5 0 outcome)" ok "outcome" || r=1
	n=$(sf c5 0 output_bytes)
	le 10485760 "$n" || { echo "output_bytes $n < 10485760"; r=1; }
	n=$(jr c5 '.scripts[0].output_tail | utf8bytelength')
	le "$n" 65536 || { echo "output_tail is $n bytes, over 65536"; r=1; }
	le 1000 "$n" || { echo "output_tail is only $n bytes"; r=1; }
	jq -e --arg m "LAST-MARKER-$$" '.scripts[0].output_tail | endswith("\n" + $m + "\n")' \
		"$O/c5.out" >/dev/null ||
		{ echo "output_tail ends with: $(jr c5 '.scripts[0].output_tail[-80:]')"; r=1; }
	return "$r"
}
check "5 10 MiB output: ok, output_bytes >= 10485760, tail <= 64 KiB ending with the last line" \
	loud
echo "# 5: the 10 MiB pre-script took $(sf c5 0 duration_ms) ms;" \
     "output_bytes $(sf c5 0 output_bytes)," \
     "output_tail $(jr c5 '.scripts[0].output_tail | utf8bytelength') bytes"

# --- 6. Retries --------------------------------------------------------------
echo "# --- 6. retries"
mkscript "$T/scripts/flaky.sh" <<EOF
#!/bin/sh
n=\$(cat "$MARKS/count" 2>/dev/null || echo 0)
n=\$((n + 1))
echo "\$n" >"$MARKS/count"
echo "attempt \$n"
[ "\$n" -gt 2 ]
EOF
rm -f "$MARKS/count"
snap c6a "${BASE[@]}" --json --script-timeout 5 --pre-script "$T/scripts/flaky.sh" \
	--pre-script-retries 2 "${TARGETS[@]}"
outcome c6a "6 pre-script failing twice, --pre-script-retries 2" 0 app true
attempts_are() {
	eq "$(sf "$1" 0 outcome)/$(sf "$1" 0 attempts)/$(sf "$1" 0 status)/$(cat "$MARKS/count")" \
		"$2" "outcome/attempts/status/runs"
}
check "6 --pre-script-retries 2: outcome ok after 3 attempts" attempts_are c6a ok/3/0/3
rm -f "$MARKS/count"
snap c6b "${BASE[@]}" --json --script-timeout 5 --pre-script "$T/scripts/flaky.sh" \
	--pre-script-retries 1 "${TARGETS[@]}"
outcome c6b "6 pre-script failing twice, --pre-script-retries 1" 0 fs true
check "6 --pre-script-retries 1: outcome failed after 2 attempts, status 1" \
	attempts_are c6b failed/2/1/2

# --- 7. Exec provider ----------------------------------------------------------
echo "# --- 7. exec provider"
fresh_log
snap c7 "${BASE[@]}" --json --script-timeout 5 --provider exec \
	--pre-script "$T/scripts/pre.sh" --post-script "$T/scripts/post.sh" \
	"${TARGETS[@]}" -- sh -c 'exit 3'
outcome c7 "7 exec provider, command exits 3" 4 null false
exec_failed() {
	logged pre && logged post && eq "$(jr c7 .exec.status)" 3 "exec status"
}
check "7 exec command failed: pre and post scripts both ran, exec status 3" exec_failed
fresh_log
# The disk map names the loop devices as disks (the exec provider, unlike
# the local one, would otherwise see the disk holding their images).
snap c7ok "${BASE[@]}" --json --script-timeout 5 --provider exec \
	--disk-map "$L_E1=test-e1" --disk-map "$L_E2=test-e2" "${TARGETS[@]}" -- \
	sh -c 'printf "%s\n" "$FREEZESHIM_DISKS" >"$0/disks"
	       printf "%s\n" "$FREEZESHIM_DEVICES" >"$0/devices"
	       printf "%s\n" "$FREEZESHIM_MOUNTPOINTS" >"$0/mountpoints"
	       echo "$FREEZESHIM_FROZEN" >"$0/frozen"' \
	"$MARKS"
outcome c7ok "7 exec provider, command succeeds" 0 fs true
exec_env() {
	local r=0

	eq "$(tr ' ' '\n' <"$MARKS/disks" | grep . | sort | tr '\n' ' ')" "test-e1 test-e2 " \
		FREEZESHIM_DISKS || r=1
	eq "$(tr ' ' '\n' <"$MARKS/devices" | grep . | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$L_E1" "$L_E2" | sort | tr '\n' ' ')" FREEZESHIM_DEVICES || r=1
	eq "$(jr c7ok '[.snapshots[].disk_id] | sort | join(" ")')" "test-e1 test-e2" \
		"the report's disks" || r=1
	eq "$(grep . "$MARKS/mountpoints" | sort | tr '\n' ' ')" \
		"$(printf '%s\n' "$E1" "$E2" | sort | tr '\n' ' ')" FREEZESHIM_MOUNTPOINTS || r=1
	eq "$(cat "$MARKS/frozen")" 1 FREEZESHIM_FROZEN || r=1
	return "$r"
}
check "7 exec command saw FREEZESHIM_DISKS (--disk-map IDs), _DEVICES, _MOUNTPOINTS, _FROZEN=1" \
	exec_env

# --- 8. Post-script failure -------------------------------------------------------
echo "# --- 8. post-script failure"
fresh_log
snap c8 "${BASE[@]}" --json --script-timeout 5 --pre-script "$T/scripts/pre.sh" \
	--post-script "$T/scripts/post-fail.sh" "${TARGETS[@]}"
outcome c8 "8 post-script fails" 10 app true
post_failed() {
	eq "$(sf c8 1 phase)/$(sf c8 1 outcome)/$(sf c8 1 status)" post/failed/1 "post entry" &&
		{ sf c8 1 output_tail | grep -q "post-fail says no" || { echo "no output"; false; }; }
}
check "8 post-script fails: its outcome failed, status 1, its output in the report" post_failed

# --- 9. --no-freeze --------------------------------------------------------------
echo "# --- 9. --no-freeze"
snap c9 "${BASE[@]}" --json --no-freeze "${TARGETS[@]}"
outcome c9 "9 --no-freeze" 0 crash true
not_frozen() {
	eq "$(jr c9 '[.filesystems[].outcome] | unique | join(",")')/$(jr c9 .frozen_at)" \
		not-frozen/null "filesystems' outcome/frozen_at"
}
check "9 --no-freeze: the filesystems are reported not frozen, frozen_at null" not_frozen

# --- 10. Hook directory ------------------------------------------------------------
echo "# --- 10. hooks"
mkdir -m 0755 "$T/hooks"
for h in 10-a:a 20-b:b x.dpkg-old:BAD-dpkg 'y~:BAD-tilde' z.rpmnew:BAD-rpmnew; do
	mkscript "$T/hooks/${h%%:*}" <<EOF
#!/bin/sh
echo "hook ${h#*:} \$1 phase=\$FREEZESHIM_PHASE" >>"$MARKS/log"
EOF
done
fresh_log
snap c10 --no-config --state-dir "$S" --snapshot-dir "$SNAPS" --json --script-timeout 5 \
	--hook-dir "$T/hooks" "${TARGETS[@]}"
outcome c10 "10 hooks" 0 app true
hooks_order() {
	local r=0

	eq "$(grep '^hook ' "$MARKS/log" | tr '\n' '|')" \
		"hook a pre phase=pre|hook b pre phase=pre|hook b post phase=post|hook a post phase=post|" \
		"hook log" || r=1
	eq "$(jr c10 '[.scripts[] | "\(.phase):\(.kind):\(.path | sub(".*/"; "")):\(.outcome)"] |
		join(",")')" \
		"pre:hook:10-a:ok,pre:hook:20-b:ok,post:hook:20-b:ok,post:hook:10-a:ok" "report" || r=1
	return "$r"
}
check "10 hooks: pre a, b; post b, a; the ignored names not run" hooks_order

# --- 11. Three configuration syntaxes ------------------------------------------------
echo "# --- 11. configuration syntaxes"
cat >"$T/freezeshim.conf" <<EOF
{
	"pre-script": "$T/scripts/pre.sh",
	"post-script": "$T/scripts/post.sh",
	"script-timeout": 7,
	"timeout": 30,
	"freeze": true,
	"require-app-consistent": false
}
EOF
chmod 0644 "$T/freezeshim.conf"
cat >"$T/azure.json" <<EOF
{
	"pluginName": "ScriptRunner",
	"preScriptLocation": "$T/scripts/pre.sh",
	"postScriptLocation": "$T/scripts/post.sh",
	"preScriptParams": ["", ""],
	"postScriptParams": ["", ""],
	"preScriptNoOfRetries": 0,
	"postScriptNoOfRetries": 0,
	"timeoutInSeconds": 7,
	"continueBackupOnFailure": true,
	"fsFreezeEnabled": true
}
EOF
chmod 0600 "$T/azure.json"
PARAMS="-EnableFsFreeze=true,-TimeoutInSeconds=30,-PreScriptPath=\"$T/scripts/pre.sh\","
PARAMS+="-PostScriptPath=\"$T/scripts/post.sh\",-ScriptTimeoutInSeconds=7"
# cfg_src SOURCE: its options in SRCARGS.
cfg_src() {
	case $1 in
	conf) SRCARGS=(--config "$T/freezeshim.conf") ;;
	azure) SRCARGS=(--no-config --azure-config "$T/azure.json") ;;
	params) SRCARGS=(--no-config "--params=$PARAMS") ;;
	esac
}
COMMON='{freeze, "pre-script", "post-script", "pre-script-param", "post-script-param",
	"pre-script-retries", "post-script-retries", "script-timeout", "timeout",
	"require-app-consistent"}'
for src in conf azure params; do
	cfg_src "$src"
	snap "c11-$src-print" "${SRCARGS[@]}" --hook-dir '' --print-config
	jq -S "$COMMON" "$O/c11-$src-print.out" >"$O/c11-$src.cfg" 2>&1
	echo "$RC" >"$O/c11-$src-print.rc"
	fresh_log
	snap "c11-$src" "${SRCARGS[@]}" --hook-dir '' --state-dir "$S" --snapshot-dir "$SNAPS" \
		--json "${TARGETS[@]}"
	outcome "c11-$src" "11 configuration from $src" 0 app true
	jq -S '{exit_code, verdict, tag, scripts: [.scripts[] | {phase, path, outcome}]}' \
		"$O/c11-$src.out" >"$O/c11-$src.run" 2>&1
done
same_config() {
	local r=0 s

	for s in conf azure params; do
		eq "$(cat "$O/c11-$s-print.rc")" 0 "--print-config exit ($s)" || r=1
	done
	jq -e '."script-timeout" == 7 and ."pre-script" != null and .freeze == true and
		."require-app-consistent" == false' "$O/c11-conf.cfg" >/dev/null ||
		{ echo "conf: $(tr -d '\n\t' <"$O/c11-conf.cfg")"; r=1; }
	for s in azure params; do
		cmp -s "$O/c11-conf.cfg" "$O/c11-$s.cfg" ||
			{ echo "$s differs:"; diff "$O/c11-conf.cfg" "$O/c11-$s.cfg"; r=1; }
	done
	return "$r"
}
check "11 --print-config: freezeshim.conf, Azure file and --params give the same settings" \
	same_config
same_run() {
	local r=0 s

	for s in azure params; do
		cmp -s "$O/c11-conf.run" "$O/c11-$s.run" ||
			{ echo "$s run differs:"; diff "$O/c11-conf.run" "$O/c11-$s.run"; r=1; }
	done
	eq "$(jq -r '[.scripts[] | "\(.phase):\(.outcome)"] | join(",")' "$O/c11-conf.run")" \
		"pre:ok,post:ok" "scripts" || r=1
	return "$r"
}
check "11 the three runs' reports agree (exit_code, verdict, tag, scripts' phase/path/outcome)" \
	same_run
# Exactly the issue's string, split for the line length.
ISSUE_PARAMS='--params=-RamRoleName="r",-EnableFsFreeze=true,-TimeoutInSeconds=30,'\
'-PreScriptPath="/tmp/prescript.sh",-PostScriptPath="/tmp/postscript.sh",-ExcludeDiskId="",'\
'-Name="n",-Description="d",-ScriptTimeoutInSeconds=1800'
snap c11-issue --no-config "$ISSUE_PARAMS" --print-config
issue_params() {
	eq "$RC" 0 "exit status" &&
		eq "$(jr c11-issue '[."pre-script", ."post-script", ."script-timeout", .timeout, .name,
			.description, ."ram-role"] | map(tostring) | join(",")')" \
			"/tmp/prescript.sh,/tmp/postscript.sh,1800,30,n,d,r" "settings"
}
check "11 the issue's example --params string is accepted by --print-config" issue_params

# --- 12. Azure file permissions ----------------------------------------------------------
echo "# --- 12. Azure file mode 0644"
# one_error NAME: exactly one line on stderr, "freezeshim: ...".
one_error() {
	awk 'NR == 1 && !/^freezeshim: / { bad = 1 } END { exit bad || NR != 1 }' \
		"$O/$1.err" && return 0
	echo "stderr ($(wc -l <"$O/$1.err") lines):"
	sed -n '1,4p' "$O/$1.err"
	return 1
}
refused_input() {
	local r=0

	eq "$RC" 2 "exit status" || r=1
	one_error "$1" || r=1
	nothing_new "$1" || r=1
	return "$r"
}
cp -p "$T/azure.json" "$T/azure-0644.json"
chmod 0644 "$T/azure-0644.json"
snap c12 --no-config --azure-config "$T/azure-0644.json" --hook-dir '' --state-dir "$S" \
	--snapshot-dir "$SNAPS" "${TARGETS[@]}"
check "12 an Azure file of mode 0644: exit 2, one line on stderr, nothing made" refused_input c12
check "12 Azure file 0644: nothing left frozen, no *.partial" settled

# --- 13. Bad input ------------------------------------------------------------------------
echo "# --- 13. bad input"
printf '{ "timeout": 3,\n' >"$T/bad-syntax.conf"
printf '{ "timeoutt": 3 }\n' >"$T/bad-key.conf"
chmod 0644 "$T/bad-syntax.conf" "$T/bad-key.conf"
BAD_CASES=(
	"unknown option|--no-config|--frobnicate"
	"--params unterminated quote|--no-config|--params=-PreScriptPath=\"/x,-EnableFsFreeze=true"
	"--params unknown parameter|--no-config|--params=-Frobnicate=1"
	"malformed JSON config|--config|$T/bad-syntax.conf"
	"unknown key in config|--config|$T/bad-key.conf"
	"unknown provider|--no-config|--provider=nope"
	"--name 'bad name!'|--no-config|--name=bad name!"
	"--name 1abc|--no-config|--name=1abc"
	"--timeout abc|--no-config|--timeout=abc"
)
refused_settled() {
	local r=0

	refused_input "$1" || r=1
	settled || r=1
	return "$r"
}
i=0
for b in "${BAD_CASES[@]}"; do
	IFS='|' read -r what a1 a2 <<<"$b"
	i=$((i + 1))
	snap "c13-$i" "$a1" "$a2" --hook-dir '' --state-dir "$S" --snapshot-dir "$SNAPS" \
		--pre-script "$T/scripts/pre.sh" "${TARGETS[@]}"
	check "13 $what: exit 2, one line on stderr, nothing made, nothing frozen" \
		refused_settled "c13-$i"
done

# --- 14. Images of a snapshot taken under writes pass the checkers -------------------------
echo "# --- 14. consistency of the images"
writer() {
	local dir=$1 ops=$2 n=0 f

	set +e
	mkdir -p "$dir"
	while [ ! -e "$T/stop" ]; do
		n=$((n + 1))
		f=$dir/f$((n % 8))
		case $((n % 6)) in
		0) dd if=/dev/urandom of="$f" bs=4k count=$((n % 4 + 1)) status=none ;;
		1) dd if=/dev/zero of="$f" bs=4k count=2 conv=fsync status=none ;;
		2) printf '%s\n' "$n" >>"$f" ;;
		3) mv -f "$f" "$dir/g$((n % 8))" ;;
		4) mkdir -p "$dir/d$((n % 3))" && printf '%s\n' "$n" >"$dir/d$((n % 3))/x" ;;
		5) rm -rf "$dir/g$(((n + 3) % 8))" "$dir/d$(((n + 1) % 3))" ;;
		esac 2>/dev/null
		echo "$n" >"$ops"
	done
}
declare -A CDEV=([ext4]=$L_CE [xfs]=$L_CX [btrfs]=$L_CB)
for fs in ext4 xfs btrfs; do
	echo 0 >"$MARKS/ops.$fs"
	writer "$T/mnt/c-$fs/w" "$MARKS/ops.$fs" </dev/null >/dev/null 2>&1 &
	WRITER_PIDS+=("$!")
done
ops_all() {
	local fs n out=

	for fs in ext4 xfs btrfs; do
		# A writer rewrites its file in place: read again if caught
		# between the truncation and the write.
		for _ in 1 2 3 4 5; do
			n=
			{ read -r n <"$MARKS/ops.$fs"; } 2>/dev/null
			[ -z "$n" ] || break
			sleep 0.01
		done
		out="$out ${n:-0}"
	done
	echo "$out"
}
# wait_ops MIN...: every writer's count above MIN (at most 15 s).
wait_ops() {
	local t0=$SECONDS

	while :; do
		awk -v a="$1" -v b="$(ops_all)" 'BEGIN { n = split(a, x); split(b, y)
			for (i = 1; i <= n; i++) if (y[i] + 0 <= x[i] + 0) exit 1 }' && return 0
		[ $((SECONDS - t0)) -lt 15 ] || return 1
		sleep 0.05
	done
}
wait_ops " 5 5 5"
before=$(ops_all)
snap c14 --no-config --state-dir "$S" --snapshot-dir "$SNAPS" --hook-dir '' --json --timeout 10 \
	"$T/mnt/c-ext4" "$T/mnt/c-xfs" "$T/mnt/c-btrfs"
check "14 writers kept writing after the snapshot (ops before:$before, now:$(ops_all))" \
	wait_ops "$(ops_all)"
touch "$T/stop"
for p in "${WRITER_PIDS[@]}"; do
	wait_gone "$p" 10 || kill_child KILL "$p"
done
wait "${WRITER_PIDS[@]}" 2>/dev/null
WRITER_PIDS=()
rm -f "$T/stop"
outcome c14 "14 ext4+xfs+btrfs under writes" 0 fs true

check_ext4() {
	timeout "$CHECK_SEC" e2fsck -fn "$1" >"$O/c14.ext4.chk" 2>&1 && return 0
	echo "e2fsck -fn exit $?:"
	grep -v '^Pass\|^ *$' "$O/c14.ext4.chk" | head -n 6
	return 1
}
check_xfs() {
	local copy=$T/chk/xfs.img r=0

	cp --sparse=always "$1" "$copy" || return 1
	CHECK_LOOP=$(losetup -f --show "$copy") || { CHECK_LOOP=; return 1; }
	mkdir -p "$T/chk/mnt"
	if timeout "$CHECK_SEC" mount -t xfs -o nouuid "$CHECK_LOOP" "$T/chk/mnt"; then
		CHECK_MOUNTED=$T/chk/mnt
		umount "$T/chk/mnt" || { umount -l "$T/chk/mnt"; r=1; }
		CHECK_MOUNTED=
	else
		echo "log recovery (mount of the copy) failed"
		r=1
	fi
	undo_loop "$CHECK_LOOP" || r=1
	CHECK_LOOP=
	[ "$r" = 0 ] || return 1
	timeout "$CHECK_SEC" xfs_repair -n -f "$copy" >"$O/c14.xfs.chk" 2>&1 || r=$?
	if [ "$r" = 0 ]; then
		rm -f "$copy"
		return 0
	fi
	echo "xfs_repair -n exit $r after log recovery:"
	grep -v '^Phase\|^ *- \|^ *$' "$O/c14.xfs.chk" | head -n 6
	return 1
}
check_btrfs() {
	timeout "$CHECK_SEC" btrfs check "$1" >"$O/c14.btrfs.chk" 2>&1 && return 0
	echo "btrfs check exit $?:"
	grep -iv '^\[\|^checking\|^ *$' "$O/c14.btrfs.chk" | head -n 6
	return 1
}
image_passes() {
	[ -n "$2" ] && [ -f "$2" ] || { echo "no image of ${CDEV[$1]}: $(jr c14 .snapshots)"; return 1; }
	"check_$1" "$2"
}
declare -A WHAT=(
	[ext4]="e2fsck -fn"
	[xfs]="log recovery by a loop mount of a copy, then xfs_repair -n"
	[btrfs]="btrfs check"
)
for fs in ext4 xfs btrfs; do
	img=$(image_of c14 "${CDEV[$fs]}")
	check "14 the $fs image of the snapshot passes ${WHAT[$fs]}" image_passes "$fs" "$img"
done
echo "# 14: writer operations (ext4 xfs btrfs):$(ops_all)"

echo "# cases took $((SECONDS - T_START)) s"
echo "# $NTEST checks, $NFAIL failed"
[ "$NFAIL" = 0 ] || exit 1
exit 0
