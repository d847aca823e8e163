#!/bin/bash
# Real-kernel test of `freezeshim freeze|thaw|status|run` on loop-backed
# filesystems made here: a stacked loop image plus a later bind mount of its
# host (the order that deadlocks reverse-mount-order freezers), a FUSE
# passthrough whose store is a loop xfs, a filesystem someone else froze
# (EBUSY), a freeze that cannot complete because the loop image's host is
# frozen by someone else, two runs on one lock, freeze/status/thaw and the
# deadline, a stale record, SIGINT and SIGKILL in the window, bad input, and
# run's exit status, and the CLI's output on a filesystem it freezes.
#
# Every freeze is bounded twice: each CLI call has its own time limit, and a
# watchdog process thaws every test filesystem and kills the test's processes
# when a step overruns, so a hang fails the test instead of hanging CI.
#
# Environment: FREEZESHIM (the CLI), FUSE_PASSTHROUGH (tests/fuse-passthrough).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# jq filters are single-quoted on purpose; undo_* run through eval.
# shellcheck disable=SC2016,SC2317,SC2153

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"
export LC_ALL=C		# EPOCHREALTIME and awk with a '.' decimal point


[ "$(id -u)" = 0 ] || skip "needs root"
need_tools losetup truncate mount umount mkfs.ext4 mkfs.xfs fusermount3 \
	   fsfreeze jq timeout awk setsid cmp dd date env
[ -c /dev/fuse ] || skip "/dev/fuse missing"
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"
# Background jobs of a script ignore SIGINT; the CLI must see it as from a
# terminal (check 8), which needs env --default-signal (coreutils 8.31).
env --default-signal=INT true 2>/dev/null || skip "env --default-signal not supported"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
FUSE_PASSTHROUGH=${FUSE_PASSTHROUGH:?set FUSE_PASSTHROUGH to tests/fuse-passthrough}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
[ -x "$FUSE_PASSTHROUGH" ] ||
	{ echo "# $FUSE_PASSTHROUGH is not executable" >&2; exit 1; }

# Time limits (seconds).  The kernel's hung-task detector fires after 120 s
# of a writer blocked on a frozen filesystem: stay well below.
STEP_LIMIT=25		# one step (one numbered part below)
TOTAL_LIMIT=100		# the whole test, setup included

MAIN_PID=$$

# --- Teardown bookkeeping --------------------------------------------------
#
# Every loop device, mount and FUSE daemon is recorded the moment it exists,
# as an undo command; the trap runs them newest first.  Filesystems that can
# be frozen are listed in $T/thaw.list in creation order (a host before the
# filesystem stacked on it: the safe thaw order), a file, so that the
# watchdog sees it grow.  Every process the test starts carries
# FREEZESHIM_TEST_TAG=$T in its environment, so the watchdog and the trap can
# find them (and their descendants: guardians, commands, blocked writers)
# without killing anything else.

T=
WATCHDOG_PID=
FUSE_PID=

# rescue: thaw_listed, stop every process of the test but the FUSE daemon
# (undo_fuse stops it after its unmount), thaw again.
rescue() {
	local fuse=

	[ -s "$T/fuse.pid" ] && fuse=$(<"$T/fuse.pid")
	rescue_tagged "$fuse"
}

undo_fuse() {
	local pid=$1 mnt=$2

	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" ||
			umount -l "$mnt"
	fi
	if ! wait_gone "$pid" 5; then
		kill_child TERM "$pid"
		wait_gone "$pid" 1 || kill_child KILL "$pid"
	fi
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local rc=$? i dev back

	set +e
	trap - EXIT INT TERM HUP
	if [ -n "$WATCHDOG_PID" ]; then
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$T" ]; then
		rescue
	fi
	undo_all
	if [ -n "$T" ]; then
		# Also a loop device created but killed before it was recorded.
		sweep_dir "$T" || rc=1
	fi
	exit "$rc"
}

# The trap may run inside a check, whose stdout is its log: report on fd 3,
# the test's stdout.
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

T=$(mktemp -d /var/tmp/freezeshim-test.XXXXXX)
export FREEZESHIM_TEST_TAG=$T
mkdir "$T/img" "$T/out" "$T/mnt"
: >"$T/thaw.list"
THAW_LIST=$T/thaw.list
LOG=$T/setup.log

# --- Watchdog --------------------------------------------------------------
#
# step WHAT [SEC] arms it for the next SEC seconds; past that, or past
# TOTAL_LIMIT, it thaws and kills everything and sends SIGTERM to this shell
# (whose trap reports the failure).

step() {
	echo "# --- $1"
	printf '%s %s\n' "$((EPOCHSECONDS + ${2:-$STEP_LIMIT}))" "$1" \
		>"$T/watchdog.deadline"
}

step "setup" 60
(
	set +e
	trap - EXIT INT TERM HUP
	total_end=$((EPOCHSECONDS + TOTAL_LIMIT))
	WATCHDOG_PID=$BASHPID
	while kill -0 "$MAIN_PID" 2>/dev/null; do
		read -r dl what <"$T/watchdog.deadline"
		case $dl in
		"" | *[!0-9]*) dl=$total_end ;;
		esac
		if [ "$EPOCHSECONDS" -ge "$total_end" ]; then
			what="the whole test exceeded ${TOTAL_LIMIT} s"
		elif [ "$EPOCHSECONDS" -ge "$dl" ]; then
			what="step '$what' exceeded its time"
		else
			sleep 0.25
			continue
		fi
		echo "$what" >"$T/watchdog.fired"
		echo "# WATCHDOG: $what; thawing every test filesystem," \
		     "killing the test's processes" >&2
		rescue
		kill -TERM "$MAIN_PID"
		exit 0
	done
) </dev/null &
WATCHDOG_PID=$!

# mount_fs DEV MNT [mount args...]: mount a block filesystem that the test
# may freeze.
# No lazy initialization: its background writes would reach the images
# while the test expects them quiet.
EXT4_OPTS=(-E "lazy_itable_init=0,lazy_journal_init=0")

# ext4_fs VAR_LOOP MNT IMAGE SIZE: ext4 on a new loop device, mounted.
ext4_fs() {
	local loopvar=$1 mnt=$2 img=$3 size=$4

	new_loop "$loopvar" "$img" "$size"
	run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "${!loopvar}"
	mount_fs "${!loopvar}" "$mnt" -t ext4
}

# dirty MNT NAME MIB: MIB MiB of random data, not synced (the page cache
# holds it dirty; the writeback delay is 30 s by default).
dirty() {
	dd if=/dev/urandom of="$1/$2" bs=1M count="$3" status=none
}

# Mountpoints.  No name is a prefix of another (the -v output checks grep).
M_A=$T/mnt/ahost	# ext4 holding images/b.img
M_B=$T/mnt/bstacked	# ext4 on the loop over b.img
M_ABIND=$T/mnt/abind	# bind mount of $M_A/images, made after $M_B
M_S=$T/mnt/sstore	# xfs holding the FUSE store
M_FUSE=$T/mnt/fuse
M_SCOPY=$T/mnt/scopy	# the copy of S's image, read-only
M_C=$T/mnt/cbusy	# frozen by "someone else" (EBUSY)
M_D=$T/mnt/dplain
M_H=$T/mnt/hhost	# ext4 holding e.img; frozen by "someone else"
M_E=$T/mnt/eupper	# ext4 on the loop over e.img
M_F=$T/mnt/fplain
M_G=$T/mnt/gplain

echo "# setting up in $T"

# 1) A on a loop device; B on a loop over an image in A; then a bind mount
#    of A's image directory.  Reverse mount order would freeze A first.
ext4_fs L_A "$M_A" "$T/img/a.img" 256M
mkdir "$M_A/images"
new_loop L_B "$M_A/images/b.img" 64M
run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "$L_B"
mount_fs "$L_B" "$M_B" -t ext4
mkdir "$M_ABIND"
run mount --bind "$M_A/images" "$M_ABIND"
record undo_mount "$M_ABIND"

# 2) xfs S holding the store of a FUSE passthrough.  Foreground in the
#    background, so $! is the daemon itself.
new_loop L_S "$T/img/s.img" 320M
run mkfs.xfs -q -f "$L_S"
mount_fs "$L_S" "$M_S" -t xfs
mkdir "$M_S/store" "$M_FUSE"
"$FUSE_PASSTHROUGH" -f "$M_S/store" "$M_FUSE" </dev/null >/dev/null 2>&1 &
FUSE_PID=$!
echo "$FUSE_PID" >"$T/fuse.pid"
record undo_fuse "$FUSE_PID" "$M_FUSE"
for i in $(seq 100); do
	is_mounted "$M_FUSE" && break
	alive "$FUSE_PID" ||
		{ echo "# setup failed: FUSE daemon exited" >&2; exit 1; }
	sleep 0.1
done
is_mounted "$M_FUSE" || { echo "# setup failed: FUSE not mounted" >&2; exit 1; }
echo fuse-marker >"$M_S/store/marker"
timeout 10 grep -qx fuse-marker "$M_FUSE/marker" ||
	{ echo "# setup failed: FUSE mount does not serve the store" >&2; exit 1; }

# 3) C and D.  4) H holding E's image.  5-11) F and G.
ext4_fs L_C "$M_C" "$T/img/c.img" 32M
ext4_fs L_D "$M_D" "$T/img/d.img" 32M
ext4_fs L_H "$M_H" "$T/img/h.img" 128M
new_loop L_E "$M_H/e.img" 64M
run mkfs.ext4 -q -F "${EXT4_OPTS[@]}" "$L_E"
mount_fs "$L_E" "$M_E" -t ext4
ext4_fs L_F "$M_F" "$T/img/f.img" 32M
ext4_fs L_G "$M_G" "$T/img/g.img" 32M

echo "# loops: A=$L_A B=$L_B S=$L_S C=$L_C D=$L_D H=$L_H E=$L_E F=$L_F G=$L_G"

# Runs inside a freeze window (as `run`'s COMMAND): saves `status --json`,
# then starts a write to each MNT and records whether it is still blocked
# after 0.5 s.  The writers run in their own sessions (setsid -w keeps the
# pid) so that whatever the CLI does to the command's process group, they
# finish after the thaw, creating .window-NAME in each MNT.
cat >"$T/out/window.sh" <<'EOF'
#!/bin/bash
# Usage: window.sh FREEZESHIM STATE_DIR OUT NAME MNT...
fz=$1 sd=$2 out=$3 name=$4
shift 4
"$fz" status --json --state-dir "$sd" >"$out.status" 2>"$out.status.err" </dev/null
echo $? >"$out.status.rc"
pids=()
for m; do
	setsid -w touch "$m/.window-$name" </dev/null >/dev/null 2>&1 &
	pids+=("$!")
done
sleep 0.5
i=0
for m; do
	st=$(cat "/proc/${pids[i]}/stat" 2>/dev/null)
	st=${st##*) }
	case ${st%% *} in
	"" | Z | X) echo "wrote $m" ;;
	*) echo "blocked $m" ;;
	esac
	i=$((i + 1))
done >"$out.probes"
EOF

# --- Checks ----------------------------------------------------------------

NTEST=0
NFAIL=0

check() {
	local what=$1

	shift
	NTEST=$((NTEST + 1))
	if "$@" >"$T/out/check.log" 2>&1; then
		echo "ok $NTEST - $what"
	else
		echo "not ok $NTEST - $what"
		NFAIL=$((NFAIL + 1))
		sed -n '1,8s/^/#   /p' "$T/out/check.log"
	fi
}

# lt A B / le A B: numeric comparisons of decimals.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

# Writers.  probe MNT starts a write (a new file) to MNT in the background;
# its pid in PROBE.  frozen MNT: the write is still blocked after 0.5 s (the
# blocked writer's pid is left in PROBE, to be checked once thawed).
# writable MNT [SEC]: a write completes within SEC (default 2) seconds.
NPROBE=0
PROBE=
probe() {
	NPROBE=$((NPROBE + 1))
	touch "$1/.probe-$NPROBE" >/dev/null 2>&1 &
	PROBE=$!
}
frozen() {
	probe "$1"
	if wait_gone "$PROBE" 0.5; then
		echo "a write to $1 completed: not frozen"
		return 1
	fi
}
writable() {
	local pid rc=0

	probe "$1"
	pid=$PROBE
	wait_gone "$pid" "${2:-2}" ||
		{ echo "a write to $1 still blocked after ${2:-2} s"; return 1; }
	wait "$pid" 2>/dev/null || rc=$?
	[ "$rc" = 0 ] || { echo "write to $1 failed ($rc)"; return 1; }
}
# finishes PID SEC [WHAT]: a blocked writer ends within SEC seconds.
finishes() {
	wait_gone "$1" "$2" && return 0
	echo "${3:-writer $1} still blocked after $2 s"
	return 1
}

# The CLI.  cli_start NAME ARGS...: in the background (SIGINT at its
# default, as from a terminal), output in $T/out/NAME.{out,err}; its pid in
# PID_OF[NAME].  cli_finish NAME SEC: wait up to SEC seconds; exit status in
# RC ("hung" if it had to be killed or could not be), seconds since the
# start in ELAPSED.  cli NAME SEC ARGS...: both.
declare -A PID_OF START_OF
RC=
ELAPSED=
cli_start() {
	local name=$1

	shift
	START_OF[$name]=$EPOCHREALTIME
	env --default-signal=INT "$FREEZESHIM" "$@" >"$T/out/$name.out" \
		2>"$T/out/$name.err" </dev/null &
	PID_OF[$name]=$!
}
cli_finish() {
	local name=$1 limit=$2 pid=${PID_OF[$1]}

	if ! wait_gone "$pid" "$limit"; then
		ELAPSED=$(since "${START_OF[$name]}")
		echo "# $name: still running after $limit s; sending SIGTERM" >&2
		kill_child TERM "$pid"
		wait_gone "$pid" 3 || kill_child KILL "$pid"
		wait_gone "$pid" 3 ||
			echo "# $name: pid $pid cannot be killed (blocked in the kernel)" >&2
		RC=hung
		return 0
	fi
	ELAPSED=$(since "${START_OF[$name]}")
	RC=0
	wait "$pid" 2>/dev/null || RC=$?
}
cli() {
	local name=$1 limit=$2

	shift 2
	cli_start "$name" "$@"
	cli_finish "$name" "$limit"
}

# state_is DIR STATE [SEC]: `status --json` says STATE within SEC seconds
# (default: now); the last answer in $T/out/status.json, its exit in ST_RC.
ST_RC=
state_is() {
	local dir=$1 want=$2 end

	end=$(awk -v n="$EPOCHREALTIME" -v s="${3:-0}" 'BEGIN { printf "%.6f", n + s }')
	while :; do
		ST_RC=0
		timeout -k 1 5 "$FREEZESHIM" status --json --state-dir "$dir" \
			>"$T/out/status.json" 2>"$T/out/status.err" </dev/null ||
			ST_RC=$?
		jq -n -e --arg s "$want" 'input | .state == $s' "$T/out/status.json" \
			>/dev/null 2>&1 && return 0
		lt "$end" "$EPOCHREALTIME" && break
		sleep 0.05
	done
	echo "status --json --state-dir $dir (exit $ST_RC) is not '$want':"
	head -c 600 "$T/out/status.json" "$T/out/status.err"
	return 1
}

# devno MNT: MAJ:MIN of the mount from mountinfo.
devno() {
	awk -v m="$1" '$5 == m { print $3; exit }' /proc/self/mountinfo
}

JQLIB='
def fsd($d): [.filesystems[]? | select(.devno == $d)]
	| if length == 1 then .[0] else error("devno \($d): \(length) entries") end;
def fss($m): [.filesystems[]? | select(any(.mountpoints[]?; . == $m))];
def node($m): fss($m) | if length == 1 then .[0]
	else error("\($m): \(length) filesystems") end;
def pos($m): node($m).mountpoints as $mps
	| [.freeze_order | to_entries[] | select(.value as $v | any($mps[]; . == $v))
	   | .key]
	| if length == 1 then .[0] else error("\($m): \(length) times in freeze_order") end;
'

# jqcheck WHAT FILE [jq options...] FILTER.  Through `jq -n 'input | F'`:
# plain `jq -e F` passes on an empty file (jq 1.6).
jqcheck() {
	local what=$1 file=$2

	shift 2
	local filter=${*: -1}
	set -- "${@:1:$#-1}"
	check "$what" jq -n -e "$@" "$JQLIB input | ($filter)" "$file"
}

# fs_state_is FILE MNT STATE: the status record lists MNT's filesystem (by
# devno) in STATE.
fs_state_is() {
	jq -n -e --arg d "$(devno "$2")" --arg s "$3" \
		"$JQLIB"' input | fsd($d).state == $s' "$1"
}

# mentions FILE PATH: PATH appears in FILE, not followed by more path.
mentions() {
	local re

	re=$(printf '%s' "$2" | sed 's/[][\.*^$()+?{}|]/\\&/g')
	grep -Eq -- "$re([^[:alnum:]_./-]|\$)" "$1"
}

# one_error FILE: exactly one line, "freezeshim: ...".
one_error() {
	awk 'NR == 1 && !/^freezeshim: / { bad = 1 } END { exit bad || NR != 1 }' \
		"$1"
}

is_rc() {
	[ "$1" = "$2" ] && return 0
	echo "exit status $1, expected $2"
	return 1
}

# show NAME: the CLI's output as comments (stdout, stderr).
show() {
	local f

	for f in "$T/out/$1.out" "$T/out/$1.err"; do
		[ -s "$f" ] && sed "s|^|# ${f##*/}: |" "$f" | head -n 20
	done
	return 0
}

# vline FILE MNT: number of the first line of FILE that reports a freeze of
# the filesystem mounted at MNT ("freeze"/"froze" and the mountpoint, not
# followed by more path).
vline() {
	awk -v m="$2" '
	function has(s, m,   i, c) {
		while ((i = index(s, m)) > 0) {
			c = substr(s, i + length(m), 1)
			if (c == "" || c !~ /[[:alnum:]_.\/-]/)
				return 1
			s = substr(s, i + 1)
		}
		return 0
	}
	tolower($0) ~ /fr(ee|o)z/ && has($0, m) { print NR; exit }' "$1"
}
# v_before FILE M1 M2...: the freeze of M1 is reported before that of M2 (or
# of any of the other mountpoints of M2's filesystem given).  The lines come
# in freeze order; when they carry "level N" (filesystems of one level are
# frozen in parallel), M1's level must also be lower.
v_before() {
	local file=$1 first=$2 a b='' la lb

	shift 2
	a=$(vline "$file" "$first")
	for m; do
		b=$(vline "$file" "$m")
		[ -n "$b" ] && break
	done
	if [ -z "$a" ] || [ -z "$b" ] || [ "$a" -ge "$b" ]; then
		echo "freeze of $first reported at line '${a:-none}'," \
		     "of $* at line '${b:-none}'"
		return 1
	fi
	la=$(sed -n "${a}s/.*[^[:alnum:]]level \([0-9][0-9]*\).*/\1/p" "$file")
	lb=$(sed -n "${b}s/.*[^[:alnum:]]level \([0-9][0-9]*\).*/\1/p" "$file")
	if [ -n "$la" ] && [ -n "$lb" ] && [ "$la" -ge "$lb" ]; then
		echo "$first frozen at level $la, $* at level $lb: not before"
		return 1
	fi
}

# window_ok OUT MNT...: the window script saw a write to every MNT blocked.
window_ok() {
	local out=$1 m

	shift
	for m; do
		grep -qxF "blocked $m" "$out.probes" ||
			{ echo "in the window, a write to $m was not blocked:"
			  cat "$out.probes"; return 1; }
	done
}
# window_writes_done NAME SEC MNT...: the writes the window script started
# are done (the files exist) within SEC seconds.
window_writes_done() {
	local name=$1 sec=$2 end m

	shift 2
	end=$(awk -v n="$EPOCHREALTIME" -v s="$sec" 'BEGIN { printf "%.6f", n + s }')
	for m; do
		until [ -e "$m/.window-$name" ]; do
			lt "$end" "$EPOCHREALTIME" &&
				{ echo "write to $m from the window not done"; return 1; }
			sleep 0.05
		done
	done
}

ID_UNKNOWN='d-nosuchdisk00000000'

# =========================================================================
step "1: stacked loop with a later bind mount of its host"
# Freezing A first would block B's freeze until the deadline: its sync and
# its journal writes go into the frozen A.  Dirty data on B makes sure.
dirty "$M_B" dirty1 4
SD1=$T/state1
cli run1 20 -v run --timeout 10 --state-dir "$SD1" "$M_B" "$M_A" -- \
	bash "$T/out/window.sh" "$FREEZESHIM" "$SD1" "$T/out/win1" w1 "$M_B" "$M_A"
check "1: run B A (B dirty, A bind-mounted later) exits 0" is_rc "$RC" 0
check "1: run took less than the 10 s deadline ($ELAPSED s)" lt "$ELAPSED" 8
check "1: in the window, writes to B and A were blocked" \
	window_ok "$T/out/win1" "$M_B" "$M_A"
check "1: in the window, status --json exited 0" \
	grep -qx 0 "$T/out/win1.status.rc"
jqcheck "1: in the window, status is active" "$T/out/win1.status" \
	'.state == "active"'
check "1: in the window, status lists B frozen" \
	fs_state_is "$T/out/win1.status" "$M_B" frozen
check "1: in the window, status lists A frozen" \
	fs_state_is "$T/out/win1.status" "$M_A" frozen
check "1: the writes blocked in the window finish after the thaw" \
	window_writes_done w1 3 "$M_B" "$M_A"
check "1: B writable after the run" writable "$M_B"
check "1: A writable after the run" writable "$M_A"
check "1: status idle after the run" state_is "$SD1" idle 2
check "1: -v reports the freeze of B before that of A" \
	v_before "$T/out/run1.err" "$M_B" "$M_A" "$M_ABIND"
show run1
# Targets in the other order, A named by its later bind mount.
dirty "$M_B" dirty2 4
cli run1b 20 -v run --timeout 10 --state-dir "$SD1" "$M_ABIND" "$M_B" -- true
check "1: run A-bind B (B dirty) exits 0" is_rc "$RC" 0
check "1: -v (targets A-bind B) reports the freeze of B before that of A" \
	v_before "$T/out/run1b.err" "$M_B" "$M_A" "$M_ABIND"
check "1: B and A writable after the second run" \
	eval 'writable "$M_B" && writable "$M_A"'
cli plan1 10 plan --json "$M_B" "$M_A"
check "1: plan --json B A exits 0" is_rc "$RC" 0
jqcheck "1: plan freeze_order has B before A" "$T/out/plan1.out" \
	--arg b "$M_B" --arg a "$M_A" 'pos($b) < pos($a)'

# =========================================================================
step "2: FUSE passthrough whose store is a loop xfs"
dd if=/dev/urandom of="$T/out/fuse-data.bin" bs=1M count=4 status=none
# Through FUSE, no sync: the data is in the page caches, not on S's disk.
timeout 10 cp "$T/out/fuse-data.bin" "$M_FUSE/data"
echo written-through-fuse | timeout 10 tee "$M_FUSE/note" >/dev/null
SD2=$T/state2
cli run2 20 -v run --timeout 10 --state-dir "$SD2" "$M_FUSE" "$M_S" -- \
	cp --sparse=always "$T/img/s.img" "$T/img/s-copy.img"
check "2: run FUSE S -- cp S's image exits 0" is_rc "$RC" 0
check "2: run finished well within its deadline ($ELAPSED s)" lt "$ELAPSED" 8
show run2
check "2: FUSE mount still serves files after the run" \
	timeout 5 grep -qx fuse-marker "$M_FUSE/marker"
check "2: S writable after the run" writable "$M_S"
check "2: status idle after the run" state_is "$SD2" idle 2
if [ -s "$T/img/s-copy.img" ]; then
	new_loop L_SCOPY "$T/img/s-copy.img" 0 -r
	mkdir -p "$M_SCOPY"
	if mount -t xfs -o ro,norecovery,nouuid "$L_SCOPY" "$M_SCOPY" \
		>>"$LOG" 2>&1; then
		record undo_mount "$M_SCOPY"
		check "2: the copy holds the data written through FUSE" \
			cmp "$T/out/fuse-data.bin" "$M_SCOPY/store/data"
		check "2: the copy holds the small file written through FUSE" \
			grep -qx written-through-fuse "$M_SCOPY/store/note"
	else
		check "2: the copy of S's image mounts (ro,norecovery)" false
	fi
else
	check "2: the copy of S's image was made" false
fi

# =========================================================================
step "3: a filesystem frozen beforehand by someone else (EBUSY)"
fsfreeze -f "$M_C"
SD3=$T/state3
cli run3 20 -v run --timeout 10 --state-dir "$SD3" "$M_C" "$M_D" -- \
	bash "$T/out/window.sh" "$FREEZESHIM" "$SD3" "$T/out/win3" w3 "$M_C" "$M_D"
check "3: run C(frozen by another) D exits 0" is_rc "$RC" 0
show run3
check "3: in the window, writes to C and D were blocked" \
	window_ok "$T/out/win3" "$M_C" "$M_D"
check "3: in the window, status lists C busy" \
	fs_state_is "$T/out/win3.status" "$M_C" busy
check "3: in the window, status lists D frozen" \
	fs_state_is "$T/out/win3.status" "$M_D" frozen
check "3: D's write from the window finished after the thaw" \
	window_writes_done w3 3 "$M_D"
check "3: D writable after the run" writable "$M_D"
check "3: C still frozen after the run (not thawed by freezeshim)" frozen "$M_C"
P_C=$PROBE
check "3: C's write from the window still blocked after the run" \
	eval '! window_writes_done w3 0 "$M_C"'
check "3: status idle after the run" state_is "$SD3" idle 2
fsfreeze -u "$M_C"
check "3: after fsfreeze -u C, the blocked write to C finishes" \
	finishes "$P_C" 2
check "3: ... and so does the window's" window_writes_done w3 2 "$M_C"

# =========================================================================
# E's loop image lives on H, which "someone else" freezes (fsfreeze -f), so
# nothing written to E reaches its disk until H is thawed.  Two ways:
# - dirty: E holds unwritten data, so flushing it (the engine's syncfs
#   before the window, or the sync inside FIFREEZE) blocks;
# - clean: E was synced before H was frozen, so a flush has little to do but
#   FIFREEZE still writes E's journal and superblock into H and blocks.  That
#   is the contract's "freeze that blocks": the guardian finishes the late
#   freeze and undoes it once H is thawed, keeping the lock meanwhile.
# Either way: exit 11 within timeout + 1 s, H left frozen, and E writable
# and the state idle soon after H is thawed.
# cannot_freeze SUBCMD MODE: SUBCMD run|freeze, MODE dirty|clean.
cannot_freeze() {
	local sub=$1 mode=$2 name=4$1-$2 sd=$T/state4$1-$2 what p_h p_e

	what="4 $sub $mode"
	if [ "$mode" = dirty ]; then
		dirty "$M_E" "dirty-$sub" 4
	else
		sync -f "$M_E"
	fi
	fsfreeze -f "$M_H"
	if [ "$sub" = run ]; then
		cli "$name" 10 run --timeout 2 --state-dir "$sd" "$M_E" -- true
	else
		cli "$name" 10 freeze --timeout 2 --state-dir "$sd" "$M_E"
	fi
	check "$what: $sub --timeout 2 E ($mode, H frozen by another) exits 11" \
		is_rc "$RC" 11
	check "$what: ... within 3 s ($ELAPSED s)" lt "$ELAPSED" 3
	show "$name"
	check "$what: H still frozen (the other freeze left alone)" frozen "$M_H"
	p_h=$PROBE
	if [ "$mode" = clean ]; then
		check "$what: (scenario) E's FIFREEZE is stuck: a write to E blocks" \
			frozen "$M_E"
		p_e=$PROBE
		check "$what: while the late freeze is pending, status says active" \
			state_is "$sd" active
		cli "$name-again" 5 run --timeout 5 --state-dir "$sd" "$M_F" -- true
		check "$what: ... and a new run on the same state dir exits 1" \
			is_rc "$RC" 1
		check "$what: ... at once ($ELAPSED s)" lt "$ELAPSED" 1
		check "$what: ... and F was not left frozen" writable "$M_F"
	else
		probe "$M_E"	# may block or not: E is not frozen, its disk is
		p_e=$PROBE
	fi
	fsfreeze -u "$M_H"
	check "$what: after H is thawed, the write to H finishes" \
		finishes "$p_h" 2
	check "$what: ... and the write to E finishes within 5 s" \
		finishes "$p_e" 5
	check "$what: E writable" writable "$M_E"
	check "$what: status idle within 5 s" state_is "$sd" idle 5
	check "$what: H writable" writable "$M_H"
}
for sub in run freeze; do
	for mode in dirty clean; do
		step "4: $sub on E while the host of its image is frozen ($mode)"
		cannot_freeze "$sub" "$mode"
	done
done

# =========================================================================
step "5: a second concurrent run on the same lock"
SD5=$T/shared
cli_start run5a run --timeout 20 --state-dir "$SD5" "$M_F" -- sleep 2
check "5: the first run becomes active" state_is "$SD5" active 5
OTHER=$(jq -r '[.pid, .guardian] | map(numbers | tostring) | join(" ")' \
	"$T/out/status.json" 2>/dev/null || true)
cli run5b 5 run --timeout 20 --state-dir "$SD5" "$M_G" -- true
check "5: a second run exits 1" is_rc "$RC" 1
check "5: ... at once ($ELAPSED s)" lt "$ELAPSED" 1
check "5: ... with one line 'freezeshim: ...' on stderr" one_error \
	"$T/out/run5b.err"
other_pid_named() {
	local p

	for p in ${PID_OF[run5a]} $OTHER; do
		grep -Eq "(^|[^0-9])$p([^0-9]|\$)" "$T/out/run5b.err" && return 0
	done
	echo "no pid of the first run (${PID_OF[run5a]} $OTHER) in:"
	cat "$T/out/run5b.err"
	return 1
}
check "5: ... naming the first run's pid" other_pid_named
show run5b
check "5: G was not frozen by the second run" writable "$M_G"
cli_finish run5a 10
check "5: the first run exits 0" is_rc "$RC" 0
check "5: F writable" writable "$M_F"
check "5: status idle" state_is "$SD5" idle 2

# =========================================================================
step "6: freeze / status / thaw, and the deadline"
SD6=$T/state6
cli freeze6 10 freeze --timeout 20 --state-dir "$SD6" "$M_F" "$M_G"
check "6: freeze --timeout 20 F G exits 0" is_rc "$RC" 0
show freeze6
check "6: F frozen" frozen "$M_F"
P_F=$PROBE
check "6: G frozen" frozen "$M_G"
P_G=$PROBE
check "6: status exits 0 and says active" \
	eval 'state_is "$SD6" active && [ "$ST_RC" = 0 ]'
cp "$T/out/status.json" "$T/out/status6.json"
check "6: status lists F frozen" fs_state_is "$T/out/status6.json" "$M_F" frozen
check "6: status lists G frozen" fs_state_is "$T/out/status6.json" "$M_G" frozen
jqcheck "6: status has pid, guardian (numbers), started and deadline (RFC3339)" \
	"$T/out/status6.json" \
	'(.pid | type) == "number" and (.guardian | type) == "number" and
	 (.started | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")) and
	 (.deadline | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"))'
deadline_in() {
	local d left

	d=$(jq -r .deadline "$1") && d=$(date -d "$d" +%s.%N) || return 1
	left=$(awk -v d="$d" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.1f", d - n }')
	le "$2" "$left" && le "$left" "$3" && return 0
	echo "deadline $(jq -r .deadline "$1") is $left s away"
	return 1
}
check "6: the deadline is about 20 s away" \
	deadline_in "$T/out/status6.json" 15 20.5
status_human() {
	timeout -k 1 5 "$FREEZESHIM" status --state-dir "$SD6" \
		>"$T/out/status6.txt" 2>&1 </dev/null || return 1
	mentions "$T/out/status6.txt" "$M_F" && mentions "$T/out/status6.txt" "$M_G"
}
check "6: status (human) exits 0 and mentions F and G" status_human
cli thaw6 10 thaw --state-dir "$SD6"
check "6: thaw exits 0" is_rc "$RC" 0
show thaw6
check "6: the write blocked on F finishes" finishes "$P_F" 2
check "6: the write blocked on G finishes" finishes "$P_G" 2
check "6: F and G writable" eval 'writable "$M_F" && writable "$M_G"'
check "6: status idle" state_is "$SD6" idle 2
cli thaw6b 5 thaw --state-dir "$SD6"
check "6: thaw with nothing recorded exits 0" is_rc "$RC" 0

T6=$EPOCHREALTIME
cli freeze6c 10 freeze --timeout 1.5 --state-dir "$SD6" "$M_F"
check "6: freeze --timeout 1.5 F exits 0" is_rc "$RC" 0
check "6: F frozen" frozen "$M_F"
P_F=$PROBE
check "6: without thaw, the write blocked on F finishes" finishes "$P_F" 3
T6=$(since "$T6")
check "6: ... within 2.5 s of the freeze ($T6 s)" le "$T6" 2.5
check "6: ... but not before the 1.5 s deadline" le 1.4 "$T6"
check "6: status idle soon after the deadline" state_is "$SD6" idle 1

# =========================================================================
step "7: a stale record (guardian killed)"
SD7=$T/state7
cli freeze7 10 freeze --timeout 20 --state-dir "$SD7" "$M_F"
check "7: freeze --timeout 20 F exits 0" is_rc "$RC" 0
check "7: F frozen" frozen "$M_F"
P_F=$PROBE
cli thaw7a 5 thaw --stale --state-dir "$SD7"
check "7: thaw --stale with a live guardian leaves F frozen" \
	eval 'alive "$P_F" || { echo "F was thawed"; false; }'
check "7: status active" state_is "$SD7" active
GUARDIAN=$(jq -r '.guardian // empty' "$T/out/status.json" 2>/dev/null || true)
is_guardian() {
	[ -n "$GUARDIAN" ] && [ "$(cat "/proc/$GUARDIAN/comm" 2>/dev/null)" = \
		frz-guardian ] && return 0
	echo "guardian '$GUARDIAN' is no frz-guardian process"
	return 1
}
check "7: status names the guardian, a live frz-guardian process" is_guardian
if [ -n "$GUARDIAN" ] && alive "$GUARDIAN"; then
	kill -9 "$GUARDIAN" || true
fi
check "7: after kill -9 of the guardian, status says stale" \
	state_is "$SD7" stale 2
check "7: ... and exits 1" is_rc "$ST_RC" 1
check "7: F still frozen" eval 'alive "$P_F" || { echo "F was thawed"; false; }'
cli thaw7 10 thaw --stale --state-dir "$SD7"
check "7: thaw --stale exits 0" is_rc "$RC" 0
show thaw7
check "7: the write blocked on F finishes" finishes "$P_F" 2
check "7: F writable" writable "$M_F"
check "7: status idle" state_is "$SD7" idle 2

# =========================================================================
step "8: SIGINT during the window"
SD8=$T/state8
cli_start run8 run --timeout 20 --state-dir "$SD8" "$M_F" -- \
	sh -c 'echo $$ >"$1"; exec sleep 10' sh "$T/out/run8.child"
check "8: run F -- sleep 10 becomes active" state_is "$SD8" active 5
check "8: F frozen" frozen "$M_F"
P_F=$PROBE
for i in $(seq 40); do
	[ -s "$T/out/run8.child" ] && break
	sleep 0.05
done
CHILD8=$(cat "$T/out/run8.child" 2>/dev/null || true)
T8=$EPOCHREALTIME
kill_child INT "${PID_OF[run8]}"
cli_finish run8 5
check "8: SIGINT: run exits 130" is_rc "$RC" 130
check "8: ... within 1 s of the signal ($(since "$T8") s)" lt "$(since "$T8")" 1
show run8
check "8: the write blocked on F finishes" finishes "$P_F" 2
check "8: F writable" writable "$M_F"
check "8: status idle" state_is "$SD8" idle 2
check "8: the command (sleep, pid ${CHILD8:-unknown}) is gone" \
	eval '[ -n "$CHILD8" ] && wait_gone "$CHILD8" 1'

# =========================================================================
step "9: bad input leaves nothing frozen"
SD9=$T/state9
mkdir -p "$M_F/notamountpoint"
set -- \
	freeze-none "freeze with no target" \
	freeze --state-dir "$SD9" -- \
	run-none "run with no target" \
	run --state-dir "$SD9" -- -- true -- \
	timeout-abc "freeze --timeout abc" \
	freeze --timeout abc --state-dir "$SD9" "$M_F" -- \
	run-timeout-abc "run --timeout abc" \
	run --timeout abc --state-dir "$SD9" "$M_F" -- -- true -- \
	timeout-neg "freeze --timeout=-1" \
	freeze --timeout=-1 --state-dir "$SD9" "$M_F" -- \
	sysroot "freeze --sysroot" \
	freeze --sysroot / --state-dir "$SD9" "$M_F" -- \
	unknown-id "freeze of an unknown disk ID" \
	freeze --state-dir "$SD9" "$M_F" "$ID_UNKNOWN" -- \
	not-mountpoint "freeze of a path that is not a mountpoint" \
	freeze --state-dir "$SD9" "$M_G" "$M_F/notamountpoint" --
while [ $# -gt 0 ]; do
	name=$1 what=$2
	shift 2
	args=()
	# Arguments up to a lone "--"; a run's own "--" is written "-- --".
	while :; do
		if [ "$1" = -- ]; then
			if [ "${2-}" = -- ]; then
				args+=(--)
				shift 2
				continue
			fi
			break
		fi
		args+=("$1")
		shift
	done
	shift
	cli "9-$name" 10 "${args[@]}"
	check "9: $what: exits 2" is_rc "$RC" 2
	check "9: $what: one stderr line 'freezeshim: ...'" one_error \
		"$T/out/9-$name.err"
done
check "9: F and G writable after the bad calls" \
	eval 'writable "$M_F" && writable "$M_G"'
check "9: status idle, exit 0" eval 'state_is "$SD9" idle && is_rc "$ST_RC" 0'
jqcheck "9: status --json with no record is exactly {state: idle, filesystems: []}" \
	"$T/out/status.json" '. == {"state": "idle", "filesystems": []}'

# =========================================================================
step "10: run's exit status is the command's"
SD10=$T/state10
cli run10 10 run --state-dir "$SD10" "$M_F" -- sh -c 'exit 7'
check "10: run -- sh -c 'exit 7' exits 7" is_rc "$RC" 7
cli run10b 10 run --state-dir "$SD10" "$M_F" -- sh -c 'kill -TERM $$'
check "10: run -- (command killed by SIGTERM) exits 143" is_rc "$RC" 143
check "10: F writable" writable "$M_F"
check "10: status idle" state_is "$SD10" idle 2

# =========================================================================
step "11: SIGKILL of the CLI during the window"
SD11=$T/state11
cli_start run11 run --timeout 20 --state-dir "$SD11" "$M_F" -- \
	sh -c 'echo $$ >"$1"; exec sleep 10' sh "$T/out/run11.child"
# Its status is of no interest (SIGKILL), nor bash's "Killed" notice.
disown "${PID_OF[run11]}"
check "11: run F -- sleep 10 becomes active" state_is "$SD11" active 5
check "11: F frozen" frozen "$M_F"
P_F=$PROBE
T11=$EPOCHREALTIME
kill_child KILL "${PID_OF[run11]}"
check "11: the guardian thaws F at once (the blocked write finishes within 0.5 s)" \
	finishes "$P_F" 0.5
echo "# 11: F thawed $(since "$T11") s after the SIGKILL"
check "11: status idle (record removed)" state_is "$SD11" idle 1
CHILD11=$(cat "$T/out/run11.child" 2>/dev/null || true)
# (Only while it still is that sleep: a pid that ended may be reused.)
if [ -n "$CHILD11" ] && alive "$CHILD11" &&
	[ "$(cat "/proc/$CHILD11/comm" 2>/dev/null)" = sleep ]; then
	echo "# 11: the command (pid $CHILD11) outlived the CLI; killing it"
	kill "$CHILD11" 2>/dev/null || true
fi

# =========================================================================
step "12: the CLI's output goes to a file on a filesystem it freezes"
# Like a log on /var while /var is frozen: a write to it in the window would
# block the CLI until the deadline.  Messages wait for the thaw.
SD12=$T/state12
START_OF[run12]=$EPOCHREALTIME
env --default-signal=INT "$FREEZESHIM" -v run --timeout 5 --state-dir "$SD12" \
	"$M_G" -- true >"$M_G/run12.out" 2>"$M_G/run12.err" </dev/null &
PID_OF[run12]=$!
cli_finish run12 10
check "12: -v run G -- true, stdout and stderr on G, exits 0" is_rc "$RC" 0
check "12: ... well before the 5 s deadline ($ELAPSED s)" lt "$ELAPSED" 3
check "12: the -v report of G's freeze is in the file, written after the thaw" \
	eval 'vline "$M_G/run12.err" "$M_G" | grep -q .'
check "12: G writable" writable "$M_G"
check "12: status idle" state_is "$SD12" idle 2

# =========================================================================
step "end"
leftover_guardians() {
	local p bad=

	for p in $(tagged_pids); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = frz-guardian ] &&
			bad="$bad $p"
	done
	[ -z "$bad" ] && return 0
	echo "frz-guardian processes still running:$bad"
	return 1
}
check "no frz-guardian of this test left running" leftover_guardians

echo "# $NTEST checks, $NFAIL failed"
[ "$NFAIL" -eq 0 ] || exit 1
exit 0
