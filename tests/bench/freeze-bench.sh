#!/bin/bash
# shellcheck disable=SC2034,SC2317,SC2059 # arrays read via namerefs; undo_* via eval; table formats
# freeze-bench.sh - the write stall a freeze costs applications, next to the peers.
#
# Usage: tests/bench/freeze-bench.sh [--quick]
#
# Builds 4 loop filesystems (ext4, xfs, btrfs, ext4) under a fresh
# /var/tmp/freezeshim-bench.XXXXXX and, for every round and every tool
# (freezeshim run, a hand-written `fsfreeze -f` loop, qemu-guest-agent's
# guest-fsfreeze-freeze-list + guest-fsfreeze-thaw; the order rotates per
# round), writes DIRTY MiB of unsynced data to each filesystem, starts
# tests/bench/stall-probe (4 KiB write + fdatasync back to back on every
# filesystem), lets the tool freeze all four, hold 200 ms and thaw, and
# reads the longest stall each probe saw.  Then, on 32 empty ext4 loop
# filesystems (images on a tmpfs of its own, so that flushes cost nothing),
# the time each tool takes to freeze and thaw them all.  A warm-up run per
# tool precedes each part and is not counted.
# Prints the medians side by side, the peer/freezeshim ratios and a verdict
# against the targets.  Never fails on a figure: exits non-zero only when
# something could not run (setup, a tool or the probe failed).
#
# --quick (or BENCH_QUICK=1, for a test harness that passes no arguments):
# 1 round, 16 MiB dirty per filesystem, 4 empty filesystems: a smoke test
# that the benchmark works.
#
# Needs root, losetup, mkfs.ext4, mkfs.xfs, mkfs.btrfs, fsfreeze, unshare,
# python3 and qemu-ga (Debian: qemu-guest-agent).  Freezes only the
# filesystems it creates; qemu-ga runs in a private mount namespace that
# holds no other filesystem, because its thaw thaws every filesystem it can
# see.  Builds nothing.  Environment:
#   FREEZESHIM        the CLI                          (default ./freezeshim)
#   STALL_PROBE       built stall-probe.c               (default ./tests/bench/stall-probe)
#   QEMU_GA           qemu-guest-agent's daemon         (default qemu-ga)
#   PYTHON            python3, talks to qemu-ga         (default /usr/bin/python3, else python3)
#   BENCH_TOOLS       tools to measure                  (default "freezeshim fsfreeze qemu-ga")
#   BENCH_ROUNDS      rounds                            (default 5; 1 with --quick)
#   BENCH_DIRTY_MIB   dirty data per filesystem         (default 128; 16 with --quick)
#   BENCH_EMPTY_FS    empty filesystems                 (default 32; 4 with --quick)
#   BENCH_WATCHDOG    seconds before the watchdog thaws and stops everything
#                                                       (default 300; 60 with --quick)
#   BENCH_EMPTY_ON_DISK=1  the empty filesystems' images in $T/img, not on tmpfs
#   BENCH_KEEP_LOG=1  keep the run's directory (logs, tool output) on success
set -euo pipefail
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/../lib/real-kernel.sh"
export LC_ALL=C	# EPOCHREALTIME and printf use '.' as the decimal point

FREEZESHIM=${FREEZESHIM:-./freezeshim}
STALL_PROBE=${STALL_PROBE:-./tests/bench/stall-probe}
QEMU_GA=${QEMU_GA:-qemu-ga}
# Debian's own python3 when there is one: a version manager's shim costs
# start-up time in the qemu-ga client's wall figure.
if [[ -z ${PYTHON:-} ]]; then
	PYTHON=python3
	[[ -x /usr/bin/python3 ]] && PYTHON=/usr/bin/python3
fi

HOLD_MS=200
HOLD_S=0.2
TARGET_STALL_MS=10	# freezeshim's stall over the hold
TARGET_RATIO=10		# the peers' stall over freezeshim's, at least
TARGET_EMPTY_MS=5	# freeze + thaw of the empty filesystems
SETTLE_S=0.3		# probe running before the tool starts
TAIL_S=0.15		# probe running after the tool returned
REST_S=0.3		# between two tools' runs on the empty filesystems

quick=0
[[ ${BENCH_QUICK:-0} == 1 ]] && quick=1
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
-h | --help)
	sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
*)
	echo "usage: $0 [--quick]" >&2
	exit 2
	;;
esac

if ((quick)); then
	rounds=${BENCH_ROUNDS:-1}
	dirty_mib=${BENCH_DIRTY_MIB:-16}
	n_empty=${BENCH_EMPTY_FS:-4}
	watchdog_s=${BENCH_WATCHDOG:-60}
else
	rounds=${BENCH_ROUNDS:-5}
	dirty_mib=${BENCH_DIRTY_MIB:-128}
	n_empty=${BENCH_EMPTY_FS:-32}
	watchdog_s=${BENCH_WATCHDOG:-300}
fi
read -r -a TOOLS <<<"${BENCH_TOOLS:-freezeshim fsfreeze qemu-ga}"

die() {
	echo "freeze-bench: $*" >&2
	exit 1
}

for v in rounds dirty_mib n_empty watchdog_s; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "bad $v '${!v}' (a positive integer)"
done
((${#TOOLS[@]})) || die "BENCH_TOOLS names no tool"
for tool in "${TOOLS[@]}"; do
	case $tool in
	freezeshim | fsfreeze | qemu-ga) ;;
	*) die "unknown tool '$tool' in BENCH_TOOLS (freezeshim, fsfreeze, qemu-ga)" ;;
	esac
done
has_tool() {
	local t
	for t in "${TOOLS[@]}"; do [[ $t == "$1" ]] && return 0; done
	return 1
}

runnable() {
	[[ $1 == */* ]] && [[ -x $1 && ! -d $1 ]] && return 0
	[[ $1 != */* ]] && command -v -- "$1" >/dev/null 2>&1
}

[[ $(id -u) == 0 ]] || die "needs root (loop devices, mounts, FIFREEZE)"
for t in losetup truncate mount umount mkfs.ext4 mkfs.xfs mkfs.btrfs fsfreeze \
	unshare dd sync awk sort; do
	runnable "$t" || die "$t not found"
done
[[ -e /dev/loop-control ]] || die "/dev/loop-control missing"
runnable "$STALL_PROBE" || die "STALL_PROBE=$STALL_PROBE is not executable (build tests/bench/stall-probe.c or set STALL_PROBE)"
if has_tool freezeshim; then
	runnable "$FREEZESHIM" || die "FREEZESHIM=$FREEZESHIM is not executable (build freezeshim or set FREEZESHIM)"
	"$FREEZESHIM" run --help >/dev/null 2>&1 ||
		die "$FREEZESHIM has no working 'run' subcommand"
fi
if has_tool qemu-ga; then
	runnable "$QEMU_GA" || die "QEMU_GA=$QEMU_GA not found (apt-get install qemu-guest-agent, or leave qemu-ga out of BENCH_TOOLS)"
	runnable "$PYTHON" || die "PYTHON=$PYTHON not found (it talks to qemu-ga)"
fi

# --- Teardown bookkeeping (as in tests/real-plan.sh) -------------------------
#
# Every loop device and mount is recorded as an undo command the moment it
# exists; the trap runs them newest first.  Every mount is also listed in
# $T/mounts, which the watchdog reads (it was forked before they existed).

T=
MOUNTS=()
CHILD=		# the tool being measured
PROBE_PID=
QGA_PID=
WATCHDOG_PID=
ok_exit=0

# reap PID SECONDS: wait for a process we started, SIGKILL it when it is
# still there after SECONDS (a process in FIFREEZE finishes its sync first).
reap() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill_child KILL "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

thaw_all() {
	local m
	for m in "${MOUNTS[@]}"; do
		is_mounted "$m" && fsfreeze -u "$m" 2>/dev/null
	done
	return 0
}

cleanup() {
	local rc=$? i dev back

	set +e
	trap - EXIT INT TERM HUP
	# Stop the tools first (a freeze in progress finishes its sync),
	# then thaw: freezeshim's own record, then each of our mounts once.
	[[ -n $CHILD ]] && kill_child TERM "$CHILD"
	[[ -n $QGA_PID ]] && kill_child TERM "$QGA_PID"
	reap "$CHILD" 15
	reap "$QGA_PID" 15
	if [[ -n $T && -d $T/state ]] && has_tool freezeshim; then
		timeout 10 "$FREEZESHIM" thaw --state-dir "$T/state" >/dev/null 2>&1
	fi
	thaw_all
	if [[ -n $PROBE_PID ]]; then
		kill -TERM "$PROBE_PID" 2>/dev/null
		reap "$PROBE_PID" 10
	fi
	if [[ -n $WATCHDOG_PID ]]; then
		kill -TERM "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	undo_all
	if [[ -n $T ]]; then
		# Safety net: a loop device attached but not yet recorded.
		losetup -n -O NAME,BACK-FILE 2>/dev/null |
			while read -r dev back; do
				case $back in
				"$T"/*) losetup -d "$dev" ;;
				esac
			done
		if awk -v t="$T/" 'index($5, t) == 1 { f = 1 } END { exit !f }' \
			/proc/self/mountinfo; then
			echo "freeze-bench: teardown: mounts left under $T, not removing it" >&2
			rc=1
		elif ((rc != 0)); then
			echo "freeze-bench: failed; logs kept in $T" >&2
			rm -rf --one-file-system "${T:?}/img" "${T:?}/mnt"
		elif [[ ${BENCH_KEEP_LOG:-0} == 1 ]]; then
			echo "freeze-bench: logs kept in $T" >&2
			rm -rf --one-file-system "${T:?}/img" "${T:?}/mnt"
		else
			rm -rf --one-file-system "$T"
		fi
	fi
	((ok_exit)) || ((rc)) || rc=1
	exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

T=$(mktemp -d /var/tmp/freezeshim-bench.XXXXXX)
T=$(cd "$T" && pwd -P)	# qemu-ga matches mountpoints as mountinfo spells them
mkdir "$T/img" "$T/mnt" "$T/state" "$T/qga" "$T/qga/state" "$T/run"
: >"$T/mounts"
LOG=$T/setup.log

# --- Watchdog: after BENCH_WATCHDOG seconds, thaw our mounts and stop us -----
(
	set +e
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$watchdog_s" &
	sleeper=$!
	wait "$sleeper"
	echo "freeze-bench: watchdog: still running after ${watchdog_s} s; thawing and stopping" >&2
	while read -r m; do
		fsfreeze -u "$m" 2>/dev/null
	done <"$T/mounts"
	kill -TERM $$ 2>/dev/null
) &
WATCHDOG_PID=$!

# run CMD...: a setup command, quiet; on failure its output and stop.
run() {
	if ! "$@" >>"$LOG" 2>&1; then
		echo "freeze-bench: setup failed: $*" >&2
		tail -n 20 "$LOG" | sed 's/^/  /' >&2
		exit 1
	fi
}

# new_fs NAME FSTYPE SIZE IMGDIR: image, loop device, filesystem, mount on
# $T/mnt/NAME.
new_fs() {
	local name=$1 fstype=$2 size=$3 img=$4/$1.img mnt=$T/mnt/$1 dev

	truncate -s "$size" "$img"
	dev=$(losetup -f --show "$img") || die "losetup -f $img failed"
	record undo_loop "$dev"
	case $fstype in
	# No lazy inode-table or journal init: nothing writes behind our back.
	ext4) run mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) run mkfs.xfs -q -f "$dev" ;;
	btrfs)
		record undo_btrfs_forget "$dev"
		run mkfs.btrfs -q -f "$dev"
		;;
	esac
	mkdir -p "$mnt"
	run mount -t "$fstype" "$dev" "$mnt"
	record undo_mount "$mnt"
	MOUNTS+=("$mnt")
	echo "$mnt" >>"$T/mounts"
}

# --- The helper that talks to qemu-ga and confines it ------------------------
cat >"$T/qga-helper.py" <<'EOF'
"""freeze-bench's qemu-ga helper.

ns-exec NS_BEFORE KEEP -- CMD...: run inside `unshare --mount --propagation
  private`; detach every mount but /, /proc, /sys, /dev, KEEP's ancestors and
  the mounts under KEEP, then exec CMD.  qemu-ga's guest-fsfreeze-thaw calls
  FITHAW on every mount it sees, again and again until it fails, so it must
  see only the benchmark's filesystems.
freeze SOCKET HOLD_S MOUNT...: guest-sync, then guest-fsfreeze-freeze-list
  on MOUNTs, sleep HOLD_S, guest-fsfreeze-thaw; prints
  freeze_ms=F thaw_ms=T pause_ms=P frozen=N thawed=M.
"""
import ctypes
import json
import os
import re
import socket
import sys
import time

MNT_DETACH = 2


def fail(msg):
    print("freeze-bench qga-helper: " + msg, file=sys.stderr)
    sys.exit(1)


def mountinfo():
    """(mountpoint, optional fields) per line, octal escapes decoded."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            path = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            out.append((path, fields[6:sep]))
    return out


def ns_exec(ns_before, keep, argv):
    if os.readlink("/proc/self/ns/mnt") == ns_before:
        fail("ns-exec: not in a new mount namespace")
    if any(tag.startswith("shared:") for _, opt in mountinfo() for tag in opt):
        fail("ns-exec: a mount is still shared: unmounting would propagate")
    keep = keep.rstrip("/")

    def kept(m):
        return (m in ("/", "/proc", "/sys", "/dev") or m == keep
                or m.startswith(keep + "/") or keep.startswith(m.rstrip("/") + "/"))

    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(20):
        todo = sorted({m for m, _ in mountinfo() if not kept(m)},
                      key=lambda p: p.count("/"), reverse=True)
        if not todo:
            break
        for m in todo:
            libc.umount2(m.encode(), MNT_DETACH)
    left = [m for m, _ in mountinfo() if not kept(m)]
    if left:
        fail("ns-exec: cannot detach " + " ".join(left[:5]))
    os.execvp(argv[0], argv)


def freeze(sock_path, hold, mounts):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sock_path)
    rf = s.makefile("rb")

    def send(cmd, args=None):
        req = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        s.sendall(json.dumps(req).encode() + b"\n")

    def reply(cmd):
        while True:
            line = rf.readline()
            if not line:
                fail(cmd + ": qemu-ga closed the connection")
            line = line.strip(b"\xff \t\r\n")
            if not line:
                continue
            resp = json.loads(line)
            if "error" in resp:
                raise RuntimeError("%s: %s" % (cmd, resp["error"]))
            if "return" in resp:
                return resp["return"]

    def call(cmd, args=None):
        send(cmd, args)
        return reply(cmd)

    # Drop whatever a previous client left in the channel.
    sync_id = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
    send("guest-sync", {"id": sync_id})
    while reply("guest-sync") != sync_id:
        pass
    if call("guest-fsfreeze-status") != "thawed":
        fail("qemu-ga says it is already frozen")

    frozen = thawed = None
    t0 = t1 = time.monotonic()
    try:
        frozen = call("guest-fsfreeze-freeze-list", {"mountpoints": mounts})
        t1 = time.monotonic()
        if hold > 0:
            time.sleep(hold)
    finally:
        t2 = time.monotonic()
        thawed = call("guest-fsfreeze-thaw")
        t3 = time.monotonic()
    print("freeze_ms=%.3f thaw_ms=%.3f pause_ms=%.3f frozen=%s thawed=%s"
          % ((t1 - t0) * 1e3, (t3 - t2) * 1e3, (t3 - t0) * 1e3, frozen, thawed))
    if frozen != len(mounts) or thawed != len(mounts):
        fail("froze %s and thawed %s of %d filesystems" % (frozen, thawed, len(mounts)))


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "ns-exec" and a[3] == "--":
        ns_exec(a[1], a[2], a[4:])
    elif len(a) >= 4 and a[0] == "freeze":
        try:
            freeze(a[1], float(a[2]), a[3:])
        except (OSError, RuntimeError, ValueError) as e:
            fail(str(e))
    else:
        fail("usage: ns-exec NS KEEP -- CMD... | freeze SOCKET HOLD MOUNT...")


main()
EOF

# --- Setup -------------------------------------------------------------------
FS_NAMES=(ext4-a xfs btrfs ext4-b)
FS_TYPES=(ext4 xfs btrfs ext4)
# xfsprogs 6.x wants at least 300 MiB; the image is sparse.
big_size=$((dirty_mib * 4 + 512))M
echo "freeze-bench: setting up in $T" >&2
for i in "${!FS_NAMES[@]}"; do
	new_fs "${FS_NAMES[i]}" "${FS_TYPES[i]}" "$big_size" "$T/img"
done
BIG=("${MOUNTS[@]}")
# The empty filesystems' images live on a tmpfs of ours: every ext4 freeze
# and thaw writes its superblock with FUA, which a loop device turns into an
# fsync() of the image file; on tmpfs that costs nothing, so the figure is
# the tool's and the kernel's, not the host disk's.
# BENCH_EMPTY_ON_DISK=1 puts them in $T/img instead.
EMPTY=()
empty_img=$T/img
if [[ ${BENCH_EMPTY_ON_DISK:-0} != 1 ]]; then
	empty_img=$T/img-tmpfs
	mkdir "$empty_img"
	run mount -t tmpfs -o "size=$((n_empty * 20 + 16))M,mode=0700" freezeshim-bench "$empty_img"
	record undo_mount "$empty_img"
fi
for ((i = 1; i <= n_empty; i++)); do
	name=$(printf 'empty%02d' "$i")
	new_fs "$name" ext4 16M "$empty_img"
	EMPTY+=("$T/mnt/$name")
done
for m in "${MOUNTS[@]}"; do sync -f "$m"; done

if has_tool qemu-ga; then
	# No site configuration (it could turn the freeze hook on), no hook,
	# state and pidfile under $T.
	: >"$T/qga/qemu-ga.conf"
	export QGA_CONF=$T/qga/qemu-ga.conf
	qga_args=(-m unix-listen -p "$T/qga/qga.sock" -t "$T/qga/state"
		-f "$T/qga/qemu-ga.pid" -l "$T/qga/qemu-ga.log")
	conf=$("$QEMU_GA" "${qga_args[@]}" -D) || die "$QEMU_GA -D failed"
	grep -q '^fsfreeze-hook' <<<"$conf" && die "qemu-ga would run an fsfreeze hook: $conf"
	unshare --mount --propagation private -- "$PYTHON" "$T/qga-helper.py" \
		ns-exec "$(readlink /proc/$$/ns/mnt)" "$T/mnt" -- \
		"$QEMU_GA" "${qga_args[@]}" >"$T/qga/stdout" 2>"$T/qga/stderr" &
	QGA_PID=$!
	for ((i = 0; i < 100; i++)); do
		[[ -S $T/qga/qga.sock ]] && break
		kill -0 "$QGA_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [[ ! -S $T/qga/qga.sock ]]; then
		cat "$T/qga/stderr" >&2
		die "qemu-ga did not start"
	fi
	# What its guest-fsfreeze-thaw will walk: our filesystems, /, the
	# kernel's /proc, /sys, /dev and $T's ancestors, nothing else.
	qga_view=$(awk '{ print $5 }' "/proc/$QGA_PID/mountinfo")
	foreign=$(grep -v -x -F -e / -e /proc -e /sys -e /dev <<<"$qga_view" |
		grep -v -F "$T/mnt/" | awk -v t="$T" 'index(t "/", $0 "/") != 1' || true)
	[[ -z $foreign ]] || die "qemu-ga sees mounts that are not ours: $foreign"
	echo "freeze-bench: qemu-ga $("$QEMU_GA" -V 2>&1 | head -n1 | awk '{ print $NF }' | tr -d '()') runs in a mount namespace of $(wc -l <<<"$qga_view") mounts" >&2
fi

# --- Measurement helpers ------------------------------------------------------
now_us() { local t=$EPOCHREALTIME; echo "${t//[.,]/}"; }
us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# start_tool LOG HOLD_S MOUNT...: start the current tool in the background
# as CHILD, with its stdout and stderr in LOG.out and LOG.err.
start_tool() {
	local log=$1 hold=$2
	shift 2
	case $tool in
	freezeshim)
		if [[ $hold == 0 ]]; then
			"$FREEZESHIM" -v run --state-dir "$T/state" --timeout 30 "$@" -- true \
				>"$log.out" 2>"$log.err" &
		else
			"$FREEZESHIM" -v run --state-dir "$T/state" --timeout 30 "$@" -- sleep "$hold" \
				>"$log.out" 2>"$log.err" &
		fi
		;;
	fsfreeze) fsfreeze_loop "$hold" "$@" >"$log.out" 2>"$log.err" & ;;
	qemu-ga) "$PYTHON" "$T/qga-helper.py" freeze "$T/qga/qga.sock" "$hold" "$@" \
		>"$log.out" 2>"$log.err" & ;;
	esac
	CHILD=$!
}

# The naive script: freeze each in turn, hold, thaw in reverse.  It undoes
# its own freezes when one fails (the trap would too).
fsfreeze_loop() {
	local hold=$1 t0 t1 t2 t3 i rc=0 frozen=()
	shift
	t0=$(now_us)
	for m in "$@"; do
		fsfreeze -f "$m" || { rc=1; break; }
		frozen+=("$m")
	done
	t1=$(now_us)
	((rc == 0)) && [[ $hold != 0 ]] && sleep "$hold"
	t2=$(now_us)
	for ((i = ${#frozen[@]} - 1; i >= 0; i--)); do
		fsfreeze -u "${frozen[i]}" || rc=1
	done
	t3=$(now_us)
	echo "freeze_ms=$(us_to_ms $((t1 - t0))) thaw_ms=$(us_to_ms $((t3 - t2))) pause_ms=$(us_to_ms $((t3 - t0)))"
	return "$rc"
}

# finish_tool LOG: wait for CHILD; its wall time in WALL_MS; fails the
# benchmark when the tool failed.  Sets PH_FREEZE, PH_THAW, PH_PAUSE and
# PH_FLUSH: the tool's own phase times, "n/a" when not known.  freezeshim:
# from its -v lines (pause; freeze and thaw from the pause line when it has
# them, else the longest of the per-filesystem figures, which run in
# parallel; its flush before the window); the others: timed around their
# freeze and thaw calls, pause from the start of the first freeze to the end
# of the last thaw.
finish_tool() {
	local log=$1 rc=0 t1 line
	if wait "$CHILD"; then rc=0; else rc=$?; fi
	t1=$(now_us)
	CHILD=
	WALL_MS=$(us_to_ms $((t1 - TOOL_T0)))
	if ((rc != 0)); then
		echo "freeze-bench: $tool exited $rc; its output:" >&2
		cat "$log.out" "$log.err" | sed 's/^/  /' >&2
		exit 1
	fi
	PH_FREEZE=n/a PH_THAW=n/a PH_PAUSE=n/a PH_FLUSH=n/a
	case $tool in
	freezeshim)
		# freezeshim: pause 3.2 ms (freeze 1.1 ms, thaw 0.9 ms)
		# freezeshim: pause 241.561 ms (flush before the window 78.386 ms)
		# freezeshim: /m (ext4): frozen, level 0, flush 78.3 ms, freeze 39.6 ms, thaw 0.6 ms
		line=$(grep -m1 '^freezeshim: pause ' "$log.err" || true)
		if [[ $line =~ pause\ ([0-9.]+)\ ms ]]; then PH_PAUSE=${BASH_REMATCH[1]}; fi
		if [[ $line =~ [\(,]\ ?freeze\ ([0-9.]+)\ ms ]]; then PH_FREEZE=${BASH_REMATCH[1]}; fi
		if [[ $line =~ thaw\ ([0-9.]+)\ ms ]]; then PH_THAW=${BASH_REMATCH[1]}; fi
		if [[ $line =~ flush[a-z\ ]*\ ([0-9.]+)\ ms ]]; then PH_FLUSH=${BASH_REMATCH[1]}; fi
		if [[ $PH_FREEZE == n/a ]]; then PH_FREEZE=$(per_fs_max freeze "$log.err"); fi
		if [[ $PH_THAW == n/a ]]; then PH_THAW=$(per_fs_max thaw "$log.err"); fi
		if [[ $PH_FLUSH == n/a ]]; then PH_FLUSH=$(per_fs_max flush "$log.err"); fi
		;;
	*)
		line=$(cat "$log.out")
		if [[ $line =~ freeze_ms=([0-9.]+) ]]; then PH_FREEZE=${BASH_REMATCH[1]}; fi
		if [[ $line =~ thaw_ms=([0-9.]+) ]]; then PH_THAW=${BASH_REMATCH[1]}; fi
		if [[ $line =~ pause_ms=([0-9.]+) ]]; then PH_PAUSE=${BASH_REMATCH[1]}; fi
		;;
	esac
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b + 0 > a + 0) ? b : a }'; }

# per_fs_max WORD FILE: the largest "WORD N ms" of freezeshim's
# per-filesystem -v lines, n/a when there is none.
per_fs_max() {
	awk -v w="$1" '/^freezeshim: .*: (frozen|busy|flushed|thawed)/ {
			for (i = 1; i < NF; i++)
				if ($i == w && $(i + 2) ~ /^ms/) {
					v = $(i + 1) + 0; n++
					if (v > m) m = v
				}
		}
		END { if (n) printf "%.3f\n", m; else print "n/a" }' "$2"
}

dirty_kib() { awk '/^Dirty:/ { print $2 }' /proc/meminfo; }

median() {
	printf '%s\n' "$@" | { grep -v '^n/a$' || true; } | sort -g | awk '
		{ a[NR] = $1 }
		END {
			if (NR == 0) { print "n/a"; exit }
			if (NR % 2) printf "%.1f\n", a[(NR + 1) / 2]
			else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2
		}'
}

# tool_order ROUND: the tools, rotated by the round.
tool_order() {
	local n=${#TOOLS[@]} k
	for ((k = 0; k < n; k++)); do
		printf '%s ' "${TOOLS[(k + $1) % n]}"
	done
}

label() {
	case $1 in
	freezeshim) echo "freezeshim run" ;;
	fsfreeze) echo "fsfreeze loop" ;;
	qemu-ga) echo "qemu-ga" ;;
	esac
}

declare -A STALL FS_STALL BASE PHASE_FL PHASE_F PHASE_T PHASE_P WALL DIRTY_AT
declare -A E_WALL E_PAUSE E_FREEZE E_THAW
NOTES=()

# --- 1. Write stall under dirty data ------------------------------------------
stall_run() { # ROUND
	local r=$1 i m log=$T/run/stall-$tool-$1 worst=0 s b base from to span tag line dirty
	local -a f probe_files

	for m in "${BIG[@]}"; do
		rm -f "$m/dirty"
		sync -f "$m"
	done
	for m in "${BIG[@]}"; do
		run dd if=/dev/zero of="$m/dirty" bs=1M count="$dirty_mib" status=none
	done
	rm -f "$T/run/ready"
	probe_files=()
	for m in "${BIG[@]}"; do probe_files+=("$m/probe"); done
	"$STALL_PROBE" -r "$T/run/ready" "${probe_files[@]}" >"$log.probe" 2>"$log.probe-err" &
	PROBE_PID=$!
	for ((i = 0; i < 1000; i++)); do
		[[ -e $T/run/ready ]] && break
		kill -0 "$PROBE_PID" 2>/dev/null || break
		sleep 0.01
	done
	if [[ ! -e $T/run/ready ]]; then
		cat "$log.probe-err" >&2
		die "stall-probe did not start"
	fi
	sleep "$SETTLE_S"
	dirty=$(($(dirty_kib) / 1024))
	DIRTY_AT[$tool,$r]=$dirty
	if ((r && dirty * 10 < dirty_mib * ${#BIG[@]} * 9)); then
		NOTES+=("round $r $(label "$tool"): only $dirty MiB dirty when it started, not $((dirty_mib * ${#BIG[@]})): writeback began early")
	fi
	kill -USR1 "$PROBE_PID"
	TOOL_T0=$(now_us)
	start_tool "$log" "$HOLD_S" "${BIG[@]}"
	finish_tool "$log"
	sleep "$TAIL_S"
	kill -TERM "$PROBE_PID"
	if ! wait "$PROBE_PID"; then
		cat "$log.probe-err" >&2
		die "stall-probe failed"
	fi
	PROBE_PID=

	# path max_stall_ms ops baseline_max_ms from_ms to_ms, in BIG's order
	mapfile -t f < <(grep -v '^#' "$log.probe")
	((${#f[@]} == ${#BIG[@]})) || die "stall-probe printed ${#f[@]} lines, not ${#BIG[@]}"
	tag="round $r"
	((r)) || tag=warm-up
	line="$tag $(printf '%-15s' "$(label "$tool")") stall-hold:"
	b=0
	for i in "${!BIG[@]}"; do
		read -r _ s _ base from to <<<"${f[i]}"
		s=$(awk -v s="$s" -v h="$HOLD_MS" 'BEGIN { printf "%.1f", s - h }')
		FS_STALL[$tool,$r,$i]=$s
		if ((i == 0)) || [[ $(max "$worst" "$s") != "$worst" ]]; then
			worst=$s
			# when, from the tool's start, the worst stall began and ended
			span=$(printf '%+.0f..%+.0f ms' "$from" "$to")
		fi
		b=$(max "$b" "$base")
		line+=" ${FS_NAMES[i]} $s"
	done
	STALL[$tool,$r]=$worst
	BASE[$tool,$r]=$b
	PHASE_FL[$tool,$r]=$PH_FLUSH
	PHASE_F[$tool,$r]=$PH_FREEZE
	PHASE_P[$tool,$r]=$PH_PAUSE
	PHASE_T[$tool,$r]=$PH_THAW
	WALL[$tool,$r]=$WALL_MS
	echo "$line | worst $worst ms at $span | tool flush $PH_FLUSH freeze $PH_FREEZE thaw $PH_THAW pause $PH_PAUSE wall $WALL_MS ms | dirty ${DIRTY_AT[$tool,$r]} MiB | baseline gap $b ms"
}

# --- 2. Freeze + thaw of empty filesystems ------------------------------------
empty_run() { # ROUND (0 = warm-up, not counted)
	local r=$1 log=$T/run/empty-$tool-$1
	# After a thaw the kernel keeps a filesystem's freeze locks primed for
	# about one RCU grace period, and a freeze in that time skips the
	# grace periods it would otherwise wait for: let that pass, so that no
	# tool profits from the one before it.
	sleep "$REST_S"
	TOOL_T0=$(now_us)
	start_tool "$log" 0 "${EMPTY[@]}"
	finish_tool "$log"
	((r == 0)) && return 0
	E_WALL[$tool,$r]=$WALL_MS
	E_PAUSE[$tool,$r]=$PH_PAUSE
	E_FREEZE[$tool,$r]=$PH_FREEZE
	E_THAW[$tool,$r]=$PH_THAW
	echo "round $r $(printf '%-15s' "$(label "$tool")") $n_empty empty: wall $WALL_MS ms, freeze+thaw $PH_PAUSE ms (freeze $PH_FREEZE, thaw $PH_THAW)"
}

echo "freeze-bench: tools: ${TOOLS[*]}; $rounds round(s); $dirty_mib MiB dirty per filesystem; $n_empty empty filesystems; kernel $(uname -r)"
echo
echo "== 1. write stall: ${#BIG[@]} loop filesystems (${FS_NAMES[*]}), $dirty_mib MiB dirty each, hold $HOLD_MS ms =="
# A warm-up round first, not counted: the first data written to a fresh
# filesystem also allocates its sparse image's blocks on the host, which
# makes the first flush several times slower than any later one.
for tool in "${TOOLS[@]}"; do stall_run 0; done
for ((r = 1; r <= rounds; r++)); do
	for tool in $(tool_order $((r - 1))); do
		stall_run "$r"
	done
done
echo
echo "== 2. freeze + thaw of $n_empty empty ext4 loop filesystems =="
for tool in "${TOOLS[@]}"; do empty_run 0; done
for ((r = 1; r <= rounds; r++)); do
	for tool in $(tool_order $((r - 1))); do
		empty_run "$r"
	done
done

# --- Tables -------------------------------------------------------------------
med_of() { # ARRAY-NAME TOOL [SUFFIX]
	local -n arr=$1
	local v=() r
	for ((r = 1; r <= rounds; r++)); do v+=("${arr[$2,$r${3:-}]:-n/a}"); done
	median "${v[@]}"
}
ratio() { # PEER FREEZESHIM
	awk -v p="$1" -v f="$2" 'BEGIN {
		if (p == "n/a" || f == "n/a") print "n/a"
		else if (f <= 0) print "inf"
		else printf "%.1fx", p / f }'
}

declare -A M_STALL M_EWALL M_EPAUSE
fmt1='%-15s | %10s | %7s %7s %7s %7s | %7s %7s %7s %7s %7s | %8s | %s\n'
fmt2='%-15s | %8s | %11s %8s %8s | %s\n'
echo
echo "Figures: medians of $rounds round(s), in ms."
echo
echo "1. Longest stall of a 4 KiB write+fdatasync minus the ${HOLD_MS} ms hold, $dirty_mib MiB dirty per filesystem"
printf "$fmt1" tool "stall-hold" "${FS_NAMES[@]}" flush freeze thaw pause wall baseline "peer/freezeshim"
for tool in "${TOOLS[@]}"; do
	M_STALL[$tool]=$(med_of STALL "$tool")
	per=()
	for i in "${!BIG[@]}"; do per+=("$(med_of FS_STALL "$tool" ",$i")"); done
	rt=-
	[[ $tool != freezeshim ]] && has_tool freezeshim &&
		rt=$(ratio "${M_STALL[$tool]}" "${M_STALL[freezeshim]}")
	printf "$fmt1" "$(label "$tool")" "${M_STALL[$tool]}" "${per[@]}" \
		"$(med_of PHASE_FL "$tool")" "$(med_of PHASE_F "$tool")" "$(med_of PHASE_T "$tool")" \
		"$(med_of PHASE_P "$tool")" "$(med_of WALL "$tool")" "$(med_of BASE "$tool")" "$rt"
done
cat <<'NOTE'
   stall-hold: the worst filesystem's longest stall minus the hold; then each filesystem's.
   The tool's own phases: flush: freezeshim's syncfs() of every target before its window
   (writers still run); freeze, thaw, pause (first freeze to last thaw, hold included):
   freezeshim's -v figures, the fsfreeze loop's two loops and qemu-ga's two calls timed around
   them.  wall: start to exit of the tool's command.  baseline: the probe's longest gap in the
   300 ms before the tool started (what a stall is measured against).
NOTE
echo
echo "2. Freeze + thaw of $n_empty empty ext4 filesystems (no hold)"
printf "$fmt2" tool wall freeze+thaw freeze thaw "peer/freezeshim (wall, freeze+thaw)"
for tool in "${TOOLS[@]}"; do
	M_EWALL[$tool]=$(med_of E_WALL "$tool")
	M_EPAUSE[$tool]=$(med_of E_PAUSE "$tool")
	rt=-
	if [[ $tool != freezeshim ]] && has_tool freezeshim; then
		rt="$(ratio "${M_EWALL[$tool]}" "${M_EWALL[freezeshim]}"), $(ratio "${M_EPAUSE[$tool]}" "${M_EPAUSE[freezeshim]}")"
	fi
	printf "$fmt2" "$(label "$tool")" "${M_EWALL[$tool]}" "${M_EPAUSE[$tool]}" \
		"$(med_of E_FREEZE "$tool")" "$(med_of E_THAW "$tool")" "$rt"
done
cat <<'NOTE'
   wall: start to exit of the tool's command (freezeshim and fsfreeze: process start-up and, for
   freezeshim, its discovery included; qemu-ga: the client's, python start-up included, while the
   agent itself is already running).  freeze+thaw: freezeshim's -v pause figure, the fsfreeze
   loop's two loops, qemu-ga's two calls, first freeze to last thaw.
NOTE

# --- Verdict ------------------------------------------------------------------
if ((${#NOTES[@]})); then
	printf 'note: %s\n' "${NOTES[@]}"
	echo
fi
met() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else if (a + 0 <= b + 0) print "target met"; else print "target MISSED" }'; }
echo
if ((quick)); then
	echo "targets: not evaluated by --quick (1 round, $dirty_mib MiB, $n_empty empty filesystems)"
elif ((dirty_mib != 128 || n_empty != 32)); then
	echo "targets: not evaluated ($dirty_mib MiB dirty, $n_empty empty filesystems: the targets are for 128 MiB and 32)"
elif ! has_tool freezeshim; then
	echo "targets: not evaluated (freezeshim not measured)"
else
	fs=${M_STALL[freezeshim]}
	verdict="targets: stall $fs ms over the hold <= $TARGET_STALL_MS ms: $(met "$fs" "$TARGET_STALL_MS")"
	for tool in fsfreeze qemu-ga; do
		has_tool "$tool" || continue
		rt=$(ratio "${M_STALL[$tool]}" "$fs")
		ok=$(awk -v r="${rt%x}" -v t="$TARGET_RATIO" 'BEGIN { if (r == "n/a") print "n/a"; else if (r == "inf" || r + 0 >= t) print "target met"; else print "target MISSED" }')
		verdict+="; $(label "$tool") $rt >= ${TARGET_RATIO}x: $ok"
	done
	e=${M_EPAUSE[freezeshim]}
	[[ $e == n/a ]] && e=${M_EWALL[freezeshim]}
	verdict+="; $n_empty empty freeze+thaw $e ms <= $TARGET_EMPTY_MS ms: $(met "$e" "$TARGET_EMPTY_MS") (wall ${M_EWALL[freezeshim]} ms)"
	echo "$verdict"
fi
ok_exit=1
