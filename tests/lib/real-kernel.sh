# shellcheck shell=bash
# Shared by the real-kernel tests and the freeze benchmark: the teardown
# bookkeeping, loop devices and mounts, processes (children, tagged ones),
# skips and TAP checks.  Sourced after `set -eu`.
#
# Every loop device, mount and the like is recorded the moment it exists, as
# an undo command in UNDO; the caller's trap runs them newest first.
# run() appends the command's output to $LOG, which the caller sets.

UNDO=()
# The test mounts that may be frozen, in creation order (a host before what
# is stored on it: the safe thaw order): in THAW, and in the file THAW_LIST
# names when it is set (for a watchdog process that cannot see THAW).
THAW=()
THAW_LIST=

record() {
	UNDO+=("$(printf '%q ' "$@")")
}

# Is $1 a mountpoint?  Reads mountinfo only: never stats the path, which
# could hang on a dead FUSE mount.  Test paths contain no escaped characters.
is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' \
		/proc/self/mountinfo
}

undo_loop() {
	for _ in 1 2 3 4 5; do
		losetup -d "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "# teardown: losetup -d $1 failed" >&2
	return 1
}

undo_mount() {
	is_mounted "$1" || return 0
	for _ in 1 2 3 4 5; do
		umount "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	echo "# teardown: umount $1 failed, detaching lazily" >&2
	umount -l "$1"
}

undo_btrfs_forget() {
	command -v btrfs >/dev/null 2>&1 || return 0
	btrfs device scan --forget "$1" >/dev/null 2>&1
	return 0
}

# run CMD...: a setup step; on failure, say which and show the log's tail.
run() {
	if ! "$@" >>"$LOG" 2>&1; then
		echo "# setup failed: $*" >&2
		tail -n 20 "$LOG" | sed 's/^/#   /' >&2
		return 1
	fi
}

# new_loop VAR IMAGE SIZE [LOSETUP-OPTION...]: a loop device on IMAGE (made
# sparse at SIZE when missing), recorded for teardown, its path in VAR.
new_loop() {
	local var=$1 img=$2 size=$3 dev

	shift 3
	[ -e "$img" ] || truncate -s "$size" "$img"
	dev=$(losetup -f --show "$@" "$img")
	record undo_loop "$dev"
	printf -v "$var" '%s' "$dev"
}

# kill_child SIGNAL PID...: signal each PID only while it is still a child
# of this shell.  bash reaps finished children at once, and a reaped pid may
# already belong to another test's process (pid_max is 32768 here and the
# tests run in parallel): a stale kill has closed their freeze windows.
kill_child() {
	local sig=$1 p stat fields

	shift
	for p in "$@"; do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -r -a fields <<<"${stat##*) }"
		[ "${fields[1]}" = "$$" ] && kill "-$sig" "$p" 2>/dev/null
	done
	return 0
}

# child_alive PID: PID is still a running (not zombie) child of this shell.
child_alive() {
	local stat fields

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r -a fields <<<"${stat##*) }"
	[ "${fields[1]}" = "$$" ] && [ "${fields[0]}" != Z ] && [ "${fields[0]}" != X ]
}

# undo_all: run the recorded undo commands, newest first.
undo_all() {
	local i

	for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
		eval "${UNDO[i]}"
	done
}

# sweep_dir DIR: detach the loop devices still attached to images under
# DIR, then remove DIR, unless something is still mounted below it (then
# say so and fail: rm would reach into the mount).
sweep_dir() {
	local dir=$1 dev back

	losetup -n -O NAME,BACK-FILE 2>/dev/null |
	while read -r dev back; do
		case $back in
		"$dir"/*) losetup -d "$dev" ;;
		esac
	done
	if awk -v t="$dir/" 'index($5, t) == 1 { f = 1 } END { exit !f }' \
		/proc/self/mountinfo; then
		echo "# teardown: mounts left under $dir, not removing it" >&2
		return 1
	fi
	rm -rf --one-file-system "$dir"
}

# alive PID: some thread of PID is not yet dead.  Not kill -0: a zombie (an
# unreaped child, or an orphan where init does not reap) answers kill -0.
# Every thread, because a process whose leader exited while another thread
# sleeps in FIFREEZE has not ended for its parent.
alive() {
	local f st

	for f in /proc/"$1"/task/*/stat; do
		# Not st=$(<"$f"): a failed redirection there ends the shell
		# under set -e (bash 5.2), || or not.
		{ read -r st <"$f"; } 2>/dev/null || continue
		st=${st##*) }
		case ${st%% *} in
		Z | X) ;;
		*) return 0 ;;
		esac
	done 2>/dev/null
	return 1
}

# wait_gone PID SEC: PID ends within SEC seconds.  Fails, leaving it
# running, otherwise.  Does not reap it: `wait PID` still gives its status.
wait_gone() {
	local pid=$1 end

	end=$(awk -v n="$EPOCHREALTIME" -v s="$2" 'BEGIN { printf "%.6f", n + s }')
	while alive "$pid"; do
		awk -v n="$EPOCHREALTIME" -v e="$end" 'BEGIN { exit !(n > e) }' &&
			return 1
		sleep 0.05
	done
	return 0
}

# since T: seconds from EPOCHREALTIME T to now, 3 decimals (LC_ALL=C).
since() { awk -v n="$EPOCHREALTIME" -v t="$1" 'BEGIN { printf "%.3f", n - t }'; }

# ok_if WHAT STATUS: one TAP line, "ok" when STATUS is 0; NTEST and NFAIL
# count them.
NTEST=0
NFAIL=0
ok_if() {
	NTEST=$((NTEST + 1))
	if [ "$2" = 0 ]; then
		echo "ok $NTEST - $1"
	else
		echo "not ok $NTEST - $1"
		NFAIL=$((NFAIL + 1))
	fi
}

# mount_fs DEV MNT [MOUNT-OPTION...]: mount DEV on MNT (made if missing),
# recorded for teardown and listed as a mount that may be frozen.
mount_fs() {
	local dev=$1 mnt=$2

	shift 2
	mkdir -p "$mnt"
	run mount "$@" "$dev" "$mnt"
	record undo_mount "$mnt"
	THAW+=("$mnt")
	[ -z "$THAW_LIST" ] || printf '%s\n' "$mnt" >>"$THAW_LIST"
}

# For tests that tag every process they start with FREEZESHIM_TEST_TAG=$T
# (freezeshim passes it on to its guardian, scripts and commands).
#
# tagged PID: PID carries this test's tag in its environment.
tagged() {
	grep -qzxF -- "FREEZESHIM_TEST_TAG=$T" "/proc/$1/environ" 2>/dev/null
}

# tagged_pids [PID...]: the live processes of this test, but this shell, the
# calling subshell, WATCHDOG_PID and the PIDs given.
tagged_pids() {
	local f p x skip

	for f in $(grep -lzxF -- "FREEZESHIM_TEST_TAG=$T" /proc/[0-9]*/environ 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/environ}
		skip=
		for x in "$$" "$BASHPID" "${WATCHDOG_PID:-}" "$@"; do
			[ "$p" = "$x" ] && skip=yes
		done
		[ -n "$skip" ] || ! alive "$p" || echo "$p"
	done
	return 0
}

# thaw_listed: fsfreeze -u every mount of THAW_LIST still mounted, hosts
# first, each bounded (a thaw can wait for a freeze in progress).
thaw_listed() {
	local m p

	[ -n "$THAW_LIST" ] && [ -s "$THAW_LIST" ] || return 0
	while read -r m; do
		is_mounted "$m" || continue
		fsfreeze -u "$m" >/dev/null 2>&1 </dev/null &
		p=$!
		wait_gone "$p" 3 ||
			echo "# rescue: fsfreeze -u $m still blocked after 3 s" >&2
	done <"$THAW_LIST"
}

# rescue_tagged [PID...]: thaw, stop every tagged process but the PIDs given
# (its tag checked again just before each signal: a pid that ended and was
# reused is not signalled), thaw again (a guardian killed in the middle of
# a late FIFREEZE leaves it frozen).
rescue_tagged() {
	local sig p

	thaw_listed
	for sig in TERM KILL; do
		for p in $(tagged_pids "$@"); do
			alive "$p" && tagged "$p" && kill -"$sig" "$p" 2>/dev/null
		done
		sleep 0.3
	done
	thaw_listed
}

# skip REASON: the test cannot run here (exit 77, automake's SKIP).
skip() {
	echo "# SKIP: $*"
	exit 77
}

# need_tools TOOL...: skip unless every TOOL is on PATH.
need_tools() {
	local tool

	for tool; do
		command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
	done
}
