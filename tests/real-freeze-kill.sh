#!/bin/bash
# Real-kernel test: kill -9 of the main freezeshim process at three points of
# the I/O-pause window must never leave a filesystem frozen.  The points:
# right after the first freeze, in the middle of the order (both reached
# with the FREEZESHIM_DEBUG_HOLD_AFTER testing aid), and while the command
# of `run` holds the window.  20 rounds each.  After every kill, each target
# must take a write (blocked writers woken, new fsync'ed writes done) within
# 1 s, `status` must say idle within 1 s, the guardian must be gone, and
# so must the command's process group (at the holds, when `run` had
# already spawned the command to wait for the window).
#
# The stack is a chain, so the order is sequential: ext4 A on a loop device;
# an image in A holding ext4 B; an image in B holding ext4 C (order C, B,
# A); plus an independent xfs D.  All four are targets.
#
# Environment: FREEZESHIM (the CLI).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# jq filters are single-quoted on purpose; undo_* run through eval; the
# command of `run` is single-quoted for the inner sh.
# shellcheck disable=SC2016,SC2317

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"
export LC_ALL=C		# EPOCHREALTIME and awk with a '.' decimal point


[ "$(id -u)" = 0 ] || skip "needs root"
need_tools losetup truncate mount umount mkfs.ext4 mkfs.xfs fsfreeze jq \
	   timeout awk dd touch pgrep ps sort stat
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
# The hold is asked for per round, never inherited.
unset FREEZESHIM_DEBUG_HOLD_AFTER

ROUNDS=20
# Harness bound: far above the ~30 s the test needs.
WATCHDOG_SEC=300
# Bounds of the polls.  A failure waits this long, a pass never does.
REACH_SEC=10		# the run reaching its point
SETTLE_SEC=1		# writes to not-yet-frozen targets completing
WRITABLE_SEC=1		# the pass condition after the kill
GIVEUP_SEC=5		# after which a blocked write is rescued by the test

# --- Teardown bookkeeping --------------------------------------------------
#
# As in real-plan.sh: every loop device and mount is recorded as an undo
# command the moment it exists; the trap runs them newest first.  Test
# mounts are also listed in THAW and in $T/mounts (for the watchdog), in
# creation order: a host before the filesystem stacked on it, which is the
# thaw order.  $T/pids holds the current round's freezeshim, guardian and
# window process group (as -PGID), for the watchdog and the trap.

T=
THAW=()
RUN_PID=
WATCHDOG_PID=
PENDING_IO=()		# background writers of the current round

# fsfreeze -u every test mount, hosts first; errors (not frozen) ignored.
thaw_all() {
	local m

	for m in "${THAW[@]}"; do
		if is_mounted "$m"; then
			fsfreeze -u "$m" 2>/dev/null || true
		fi
	done
	return 0
}

# Does process group $1 have a live member?
pgrp_alive() {
	local p

	for p in $(pgrep -g "$1" 2>/dev/null); do
		alive "$p" && return 0
	done
	return 1
}

# Kill what the current round started (by pid, by the window's group).
kill_round_processes() {
	local p

	[ -z "$RUN_PID" ] || kill_child KILL "$RUN_PID"
	if [ -n "$T" ] && [ -s "$T/pids" ]; then
		while read -r p; do
			[ -z "$p" ] || kill -9 -- "$p" 2>/dev/null || true
		done <"$T/pids"
	fi
	return 0
}

# Wait (bounded) for the background writers; they finish once thawed.
reap_pending_io() {
	local p i

	# (wait with no pid would wait for every child, the watchdog too.)
	[ "${#PENDING_IO[@]}" -gt 0 ] || return 0

	for i in $(seq 50); do
		for p in "${PENDING_IO[@]}"; do
			alive "$p" && break
			p=
		done
		[ -z "${p:-}" ] && break
		sleep 0.1
	done
	for p in "${PENDING_IO[@]}"; do
		alive "$p" && echo "# teardown: writer $p still blocked" >&2
	done
	wait "${PENDING_IO[@]}" 2>/dev/null || true
	PENDING_IO=()
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
	# Thaw before killing: the guardian of a killed run thaws too, a
	# second fsfreeze -u finds nothing frozen (EINVAL, ignored).  Thaw
	# again after the kills in case a guardian froze in between.
	thaw_all
	kill_round_processes 2>/dev/null
	thaw_all
	[ -n "$RUN_PID" ] && wait "$RUN_PID" 2>/dev/null
	reap_pending_io
	undo_all
	if [ -n "$T" ]; then
		sweep_dir "$T" || rc=1
	fi
	exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

T=$(mktemp -d /var/tmp/freezeshim-test.XXXXXX)
mkdir "$T/img" "$T/out" "$T/mnt"
: >"$T/mounts"
THAW_LIST=$T/mounts
: >"$T/pids"
LOG=$T/setup.log

# The harness watchdog: after WATCHDOG_SEC, thaw every test mount (hosts
# first), kill what the round started and stop the test, so that an engine
# bug fails the test instead of hanging CI.  Its sleep is killed with it.
(
	set +e
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$WATCHDOG_SEC" >/dev/null 2>&1 &
	sleeper=$!
	wait "$sleeper"
	echo "not ok - harness watchdog: test still running after ${WATCHDOG_SEC} s; thawing and stopping it" >&2
	while read -r m; do
		fsfreeze -u "$m" 2>/dev/null
	done <"$T/mounts"
	while read -r p; do
		[ -n "$p" ] && kill -9 -- "$p" 2>/dev/null
	done <"$T/pids"
	kill -TERM $$
) &
WATCHDOG_PID=$!

M_A=$T/mnt/a		# ext4 on a loop over $T/img/a.img
M_B=$T/mnt/b		# ext4 on a loop over $M_A/b.img
M_C=$T/mnt/c		# ext4 on a loop over $M_B/c.img
M_D=$T/mnt/d		# xfs on a loop over $T/img/d.img (independent)
S=$T/state

echo "# setting up in $T"
new_loop L_A "$T/img/a.img" 256M
run mkfs.ext4 -q -F "$L_A"
mount_fs "$L_A" "$M_A" -t ext4
new_loop L_D "$T/img/d.img" 300M	# xfsprogs 6.1 refuses less than 300 MiB
run mkfs.xfs -q -f "$L_D"
mount_fs "$L_D" "$M_D" -t xfs
new_loop L_B "$M_A/b.img" 128M
run mkfs.ext4 -q -F "$L_B"
mount_fs "$L_B" "$M_B" -t ext4
new_loop L_C "$M_B/c.img" 48M
run mkfs.ext4 -q -F "$L_C"
mount_fs "$L_C" "$M_C" -t ext4
mkdir -m 0700 "$S"

TARGETS=("$M_A" "$M_B" "$M_C" "$M_D")
NAMES=(A B C D)
echo "# loops: A=$L_A B=$L_B C=$L_C D=$L_D"

# The marker, the state dir and the writers' result files live in $T,
# which must not be on a target (a write there would block in the window).
for m in "${TARGETS[@]}"; do
	if [ "$(stat -c %d "$T")" = "$(stat -c %d "$m")" ]; then
		echo "# setup failed: $T is on the target $m" >&2
		exit 1
	fi
done

# --- Checks ----------------------------------------------------------------

# ok_if: tests/lib/real-kernel.sh.

# The plan orders the chain C, B, A; D anywhere.
PLAN_RC=0
timeout -k 2 30 "$FREEZESHIM" plan --json "${TARGETS[@]}" \
	>"$T/out/plan.json" 2>"$T/out/plan.err" || PLAN_RC=$?
c=0
jq -e --arg a "$M_A" --arg b "$M_B" --arg c "$M_C" --arg d "$M_D" '
	def pos($m): [.freeze_order | to_entries[] | select(.value == $m) | .key]
		| if length == 1 then .[0] else error("\($m) not once") end;
	(.freeze_order | length) == 4 and pos($c) < pos($b) and pos($b) < pos($a)
	and pos($d) >= 0' "$T/out/plan.json" >/dev/null 2>&1 || c=1
[ "$PLAN_RC" = 0 ] || c=1
ok_if "setup: plan orders the chain C, B, A (and D) (plan exit $PLAN_RC)" "$c"
[ "$c" = 0 ] || sed 's/^/#   /' "$T/out/plan.json" "$T/out/plan.err" | head -n 20

# status_json FILE: `status --json` into FILE; its exit status in SRC.
status_json() {
	SRC=0
	timeout -k 2 5 "$FREEZESHIM" status --json --state-dir "$S" \
		>"$1" 2>"$1.err" </dev/null || SRC=$?
}

status_json "$T/out/status-start"
c=0
jq -e '.state == "idle" and .filesystems == []' "$T/out/status-start" \
	>/dev/null 2>&1 || c=1
[ "$SRC" = 0 ] || c=1
ok_if "status --json on an unused state dir: idle, no filesystems, exit 0 (exit $SRC)" "$c"

# usec: microseconds since the epoch, an integer.
usec() {
	printf '%s' "${EPOCHREALTIME/./}"
}

# now: seconds since the epoch, microseconds.
now() {
	printf '%s' "$EPOCHREALTIME"
}

# elapsed FROM [TO]: seconds, 3 decimals.
elapsed() {
	awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'
}

# le A B: A <= B (decimals).
le() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'
}

# start_writer TAG I CMD...: run CMD in the background; when it ends, its
# exit status and end time go to $OUT.TAG.I.  Its pid joins PENDING_IO.
start_writer() {
	local file=$OUT.$1.$2

	shift 2
	rm -f "$file"
	( "$@" 2>/dev/null; echo "$? $EPOCHREALTIME" >"$file" ) &
	PENDING_IO+=($!)
}

writer_done() {
	[ -s "$OUT.$1.$2" ]
}

# FAIL: the reasons of the current round.
fail() {
	FAIL+=("$*")
}

# Rescue after a failed round: thaw, kill what the round left, and give
# the next round a fresh state dir if this one still holds a record.
rescue() {
	local i

	thaw_all
	kill_round_processes
	thaw_all
	for i in $(seq 30); do
		status_json "$OUT.rescue"
		jq -e '.state == "idle"' "$OUT.rescue" >/dev/null 2>&1 && break
		timeout -k 2 10 "$FREEZESHIM" thaw --state-dir "$S" \
			>/dev/null 2>&1 </dev/null || true
		sleep 0.1
	done
	if ! jq -e '.state == "idle"' "$OUT.rescue" >/dev/null 2>&1; then
		S=$T/state.$POINT.$R
		mkdir -m 0700 "$S"
		echo "# round $R: the state dir keeps a record; next rounds use $S"
	fi
}

# One round at point POINT: HOLD is the number of freezes to hold after,
# empty for the window of the command.  Results: FAIL (reasons),
# T_WRITABLE, T_IDLE.
round() {
	local want i m t0 t_kill t_end line rcw tw nfrozen frozen_list
	local guardian=0 pgid=0 run_rc ready state t_idle t_guardian c pg
	local groups='' t_obs json

	FAIL=()
	T_WRITABLE=
	T_IDLE=
	OUT=$T/out/$POINT.$R
	rm -f "$T/in-window" "$T/in-window.tmp"
	if [ -n "$HOLD" ]; then
		want=$HOLD
		FREEZESHIM_DEBUG_HOLD_AFTER=$HOLD "$FREEZESHIM" run --timeout 30 \
			--state-dir "$S" "${TARGETS[@]}" -- sleep 30 \
			>"$OUT.run.out" 2>"$OUT.run.err" </dev/null &
	else
		want=4
		"$FREEZESHIM" run --timeout 30 --state-dir "$S" "${TARGETS[@]}" -- \
			sh -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1"; sleep 30' \
			sh "$T/in-window" \
			>"$OUT.run.out" 2>"$OUT.run.err" </dev/null &
	fi
	RUN_PID=$!
	echo "$RUN_PID" >"$T/pids"

	# Reach the point: WANT filesystems frozen (and, without the hold,
	# the command started).  Bounded.
	t0=$(now)
	ready=no
	while le "$(elapsed "$t0")" "$REACH_SEC"; do
		if [ -z "$HOLD" ] && [ ! -s "$T/in-window" ]; then
			:
		else
			status_json "$OUT.status"
			nfrozen=$(jq '[.filesystems[] | select(.state == "frozen")]
				| length' "$OUT.status" 2>/dev/null) || nfrozen=0
			case $nfrozen in
			'' | *[!0-9]*) nfrozen=0 ;;
			esac
			if [ "$nfrozen" -ge "$want" ]; then
				ready=yes
				break
			fi
		fi
		alive "$RUN_PID" || break
		sleep 0.01
	done
	if [ "$ready" != yes ]; then
		if alive "$RUN_PID"; then
			fail "point not reached within ${REACH_SEC} s (frozen per status: ${nfrozen:-?}, want $want; marker: $([ -s "$T/in-window" ] && echo yes || echo no))"
		else
			wait "$RUN_PID" 2>/dev/null && run_rc=0 || run_rc=$?
			fail "run exited before the point (exit $run_rc): $(head -c 300 "$OUT.run.err" | tr '\n' ' ')"
		fi
		{
			kill -9 "$RUN_PID"
			wait "$RUN_PID"
		} 2>/dev/null || true
		RUN_PID=
		rescue
		return 0
	fi

	# At the point: the record is active, names this run, and exactly
	# WANT filesystems are frozen, a dependency-closed set (a host frozen
	# only after what is stacked on it).
	guardian=$(jq -r '.guardian // 0' "$OUT.status" 2>/dev/null) || guardian=0
	case $guardian in
	'' | *[!0-9]*) guardian=0 ;;
	esac
	[ "$guardian" -gt 0 ] && echo "$guardian" >>"$T/pids"
	state=$(jq -r '.state' "$OUT.status" 2>/dev/null) || state=unreadable
	[ "$state" = active ] || fail "status state '$state' at the point, want active"
	[ "$SRC" = 0 ] || fail "status exit $SRC at the point, want 0"
	jq -e --argjson p "$RUN_PID" '.pid == $p' "$OUT.status" >/dev/null 2>&1 ||
		fail "status pid $(jq -c .pid "$OUT.status" 2>/dev/null) is not the run's pid $RUN_PID"
	{ [ "$guardian" -gt 0 ] && alive "$guardian"; } ||
		fail "status guardian '$guardian' is not a live process"
	[ "$nfrozen" = "$want" ] ||
		fail "$nfrozen filesystems frozen at the point, want $want"
	frozen_list=$(jq -r '[.filesystems[] | select(.state == "frozen")
		| .mountpoint] | join(" ")' "$OUT.status" 2>/dev/null) || frozen_list=
	jq -e --arg a "$M_A" --arg b "$M_B" --arg c "$M_C" '
		[.filesystems[] | select(.state == "frozen") | .mountpoint] as $f
		| def fz($m): any($f[]; . == $m);
		((fz($a) | not) or fz($b)) and ((fz($b) | not) or fz($c))' \
		"$OUT.status" >/dev/null 2>&1 ||
		fail "frozen set [$frozen_list] is not dependency-closed (C before B before A)"
	if [ -z "$HOLD" ]; then
		{ read -r pgid <"$T/in-window"; } 2>/dev/null || pgid=0
		case $pgid in
		'' | *[!0-9]*) pgid=0 ;;
		esac
		if [ "$pgid" -gt 0 ]; then
			echo "-$pgid" >>"$T/pids"
			line=$(cat "/proc/$pgid/stat" 2>/dev/null) || line=
			line=${line##*) }
			# shellcheck disable=SC2086
			set -- $line
			[ "${3:-}" = "$pgid" ] ||
				fail "the command (pid $pgid) is not in its own process group (pgrp ${3:-?})"
		else
			fail "the command's marker holds no pid"
		fi
	fi
	# The command's process group: `run` may spawn the command before
	# the freeze (waiting for the go) or start it in the window; either
	# way it is a child of the run other than the guardian, in a group of
	# its own, and must not outlive the run.
	groups=
	[ "$pgid" -gt 0 ] && groups=$pgid
	for c in $(pgrep -P "$RUN_PID" 2>/dev/null); do
		[ "$c" != "$guardian" ] || continue
		line=$(cat "/proc/$c/stat" 2>/dev/null) || continue
		line=${line##*) }
		# shellcheck disable=SC2086
		set -- $line
		pg=${3:-0}
		case " $groups " in
		*" $pg "*) ;;
		*)
			if [ "$pg" = "$OWN_PGID" ]; then
				fail "a child ($c) of the run is in the test's own process group"
			else
				groups="${groups:+$groups }$pg"
				echo "-$pg" >>"$T/pids"
			fi
			;;
		esac
	done

	# The freeze is real: a write to each filesystem status calls frozen
	# blocks, a write to each other target completes.
	PENDING_IO=()
	for i in 0 1 2 3; do
		start_writer pre "$i" touch "${TARGETS[i]}/probe"
	done
	t0=$(now)
	while :; do
		ready=yes
		for i in 0 1 2 3; do
			case " $frozen_list " in
			*" ${TARGETS[i]} "*) ;;
			*) writer_done pre "$i" || ready=no ;;
			esac
		done
		[ "$ready" = yes ] && le 0.1 "$(elapsed "$t0")" && break
		le "$SETTLE_SEC" "$(elapsed "$t0")" && break
		sleep 0.01
	done
	for i in 0 1 2 3; do
		case " $frozen_list " in
		*" ${TARGETS[i]} "*)
			writer_done pre "$i" &&
				fail "${NAMES[i]} is frozen per status but a write to it completed"
			;;
		*)
			writer_done pre "$i" ||
				fail "${NAMES[i]} is not frozen per status but a write to it did not complete in ${SETTLE_SEC} s"
			;;
		esac
	done
	status_json "$OUT.status2"
	jq -e --argjson n "$want" '[.filesystems[] | select(.state == "frozen")]
		| length == $n' "$OUT.status2" >/dev/null 2>&1 ||
		fail "the hold did not hold: $(jq -c '[.filesystems[].state]' "$OUT.status2" 2>/dev/null)"

	# The kill; then a new fsync'ed write to every target.  (The shell's
	# "Killed" notice for the run is not wanted: stderr off meanwhile.)
	{
		t_kill=$(now)
		kill -9 "$RUN_PID" || fail "kill -9 $RUN_PID failed"
		for i in 0 1 2 3; do
			start_writer post "$i" dd if=/dev/zero \
				of="${TARGETS[i]}/after" bs=4k count=1 conv=fsync \
				status=none
		done
		wait "$RUN_PID" && run_rc=0 || run_rc=$?
	} 2>/dev/null
	RUN_PID=
	[ "$run_rc" = 137 ] ||
		fail "run exit $run_rc, want 137 (SIGKILL): it was not alive at the kill"

	# Then, polled together, each with its own time since the kill:
	# every target writable (all writers, the blocked ones and the new
	# ones, finished), status idle with no stale record, the guardian
	# gone, the command's process group gone.  After GIVEUP_SEC the test
	# gives up and thaws the targets itself.
	t_idle=
	t_guardian=
	[ "$guardian" -gt 0 ] || t_guardian=-
	GROUP_GONE=
	[ -n "$groups" ] || GROUP_GONE=-
	while :; do
		ready=yes
		for i in 0 1 2 3; do
			{ writer_done pre "$i" && writer_done post "$i"; } || ready=no
		done
		# Each time is taken right after its observation; jq (slow to
		# start) only confirms an answer that looks idle.
		if [ -z "$t_idle" ]; then
			status_json "$OUT.status3"
			t_obs=$EPOCHREALTIME
			{ read -r -d '' json <"$OUT.status3"; } 2>/dev/null || true
			if [ "$SRC" = 0 ] && [[ $json == *'"idle"'* ]] &&
				jq -e '.state == "idle" and .filesystems == []' \
				"$OUT.status3" >/dev/null 2>&1; then
				t_idle=$(elapsed "$t_kill" "$t_obs")
			else
				ready=no
			fi
		fi
		if [ -z "$t_guardian" ]; then
			if alive "$guardian"; then
				ready=no
			else
				t_guardian=$(elapsed "$t_kill")
			fi
		fi
		if [ -z "$GROUP_GONE" ]; then
			c=
			for pg in $groups; do
				pgrp_alive "$pg" && c=alive
			done
			if [ -n "$c" ]; then
				ready=no
			else
				GROUP_GONE=$(elapsed "$t_kill")
			fi
		fi
		[ "$ready" = yes ] && break
		[ "$(usec)" -lt $((${t_kill/./} + GIVEUP_SEC * 1000000)) ] || break
		sleep 0.005
	done

	line=
	for i in 0 1 2 3; do
		{ writer_done pre "$i" && writer_done post "$i"; } ||
			line="$line ${NAMES[i]}"
	done
	if [ -n "$line" ]; then
		fail "not writable ${GIVEUP_SEC} s after the kill:$line (thawing with fsfreeze -u)"
		thaw_all
	fi
	reap_pending_io
	# The time of the last write to finish; a writer that never finished
	# (even after the test's own thaw) counts as now.
	t_end=
	for i in 0 1 2 3; do
		for tw in pre post; do
			if read -r rcw line <"$OUT.$tw.$i" 2>/dev/null; then
				[ "$rcw" = 0 ] ||
					fail "write ($tw) to ${NAMES[i]} failed: exit $rcw"
			else
				line=$EPOCHREALTIME
			fi
			if [ -z "$t_end" ] || le "$t_end" "$line"; then
				t_end=$line
			fi
		done
	done
	T_WRITABLE=$(elapsed "$t_kill" "$t_end")
	le "$T_WRITABLE" "$WRITABLE_SEC" ||
		fail "targets writable only ${T_WRITABLE} s after the kill"

	if [ -z "$t_idle" ]; then
		fail "status not idle ${GIVEUP_SEC} s after the kill: exit $SRC, $(head -c 300 "$OUT.status3" | tr '\n' ' ')"
	elif ! le "$t_idle" "$WRITABLE_SEC"; then
		fail "status idle only ${t_idle} s after the kill"
	fi
	T_IDLE=$t_idle
	if [ -z "$t_guardian" ]; then
		fail "guardian $guardian still alive ${GIVEUP_SEC} s after the kill"
	elif [ "$t_guardian" != - ] && ! le "$t_guardian" 1; then
		fail "guardian $guardian gone only ${t_guardian} s after the kill"
	fi
	if [ -z "$GROUP_GONE" ]; then
		fail "the command's process group ($groups) still alive ${GIVEUP_SEC} s after the kill: $(for pg in $groups; do pgrep -a -g "$pg"; done | tr '\n' ';')"
	elif [ "$GROUP_GONE" != - ] && ! le "$GROUP_GONE" 1; then
		fail "the command's process group ($groups) gone only ${GROUP_GONE} s after the kill"
	fi

	[ "${#FAIL[@]}" = 0 ] || rescue
	: >"$T/pids"
	return 0
}

# median/max of numbers on stdin.
stats() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f %.3f\n", v[NR], m }'
}

OWN_PGID=$(ps -o pgid= -p $$ | tr -d ' ')
T_START=$(now)
for spec in after-first-freeze:1 middle-of-order:2 in-command:; do
	POINT=${spec%%:*}
	HOLD=${spec#*:}
	n_ok=0 n_writable=0 n_idle=0 n_group=0 n_nogroup=0
	: >"$T/out/$POINT.writable"
	: >"$T/out/$POINT.idle"
	: >"$T/out/$POINT.fail"
	tp=$(now)
	for R in $(seq "$ROUNDS"); do
		GROUP_GONE=
		round
		if [ "${#FAIL[@]}" = 0 ]; then
			n_ok=$((n_ok + 1))
		else
			for line in "${FAIL[@]}"; do
				echo "round $R: $line"
			done >>"$T/out/$POINT.fail"
		fi
		if [ -n "$T_WRITABLE" ]; then
			echo "$T_WRITABLE" >>"$T/out/$POINT.writable"
			le "$T_WRITABLE" "$WRITABLE_SEC" && n_writable=$((n_writable + 1))
		fi
		if [ -n "$T_IDLE" ]; then
			echo "$T_IDLE" >>"$T/out/$POINT.idle"
			le "$T_IDLE" "$WRITABLE_SEC" && n_idle=$((n_idle + 1))
		fi
		if [ "$GROUP_GONE" = - ]; then
			n_nogroup=$((n_nogroup + 1))
		elif [ -n "$GROUP_GONE" ] && le "$GROUP_GONE" 1; then
			n_group=$((n_group + 1))
		fi
	done
	read -r wmax wmed < <(stats <"$T/out/$POINT.writable")
	read -r imax imed < <(stats <"$T/out/$POINT.idle")
	echo "# point $POINT: $n_writable/$ROUNDS writable within ${WRITABLE_SEC} s," \
	     "max $wmax s, median $wmed s; status idle $n_idle/$ROUNDS," \
	     "max $imax s, median $imed s; $(elapsed "$tp") s"
	ok_if "point $POINT: every target writable within ${WRITABLE_SEC} s of kill -9 in $n_writable/$ROUNDS rounds (max $wmax s)" \
		"$([ "$n_writable" = "$ROUNDS" ] && echo 0 || echo 1)"
	ok_if "point $POINT: status idle (no stale record) within ${WRITABLE_SEC} s in $n_idle/$ROUNDS rounds (max $imax s)" \
		"$([ "$n_idle" = "$ROUNDS" ] && echo 0 || echo 1)"
	if [ -z "$HOLD" ]; then
		ok_if "point $POINT: the command's process group gone within 1 s in $n_group/$ROUNDS rounds" \
			"$([ "$n_group" = "$ROUNDS" ] && echo 0 || echo 1)"
	else
		# The command may or may not be spawned yet at a hold.
		ok_if "point $POINT: the command's process group (spawned before the window in $((ROUNDS - n_nogroup)) rounds) gone within 1 s in $n_group/$((ROUNDS - n_nogroup))" \
			"$([ $((n_group + n_nogroup)) = "$ROUNDS" ] && echo 0 || echo 1)"
	fi
	ok_if "point $POINT: all checks of the round passed in $n_ok/$ROUNDS rounds" \
		"$([ "$n_ok" = "$ROUNDS" ] && echo 0 || echo 1)"
	if [ -s "$T/out/$POINT.fail" ]; then
		head -n 8 "$T/out/$POINT.fail" | sed 's/^/#   /'
	fi
done
echo "# kill rounds took $(elapsed "$T_START") s"

echo "# $NTEST checks, $NFAIL failed"
[ "$NFAIL" = 0 ] || exit 1
exit 0
