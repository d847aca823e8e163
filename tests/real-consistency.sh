#!/bin/bash
# Real-kernel test: images copied inside a freezeshim window are consistent.
# Writers hammer three loop filesystems (ext4, xfs, btrfs) with metadata
# churn; each round, `freezeshim run ... -- cp` copies the three images
# inside the window, then every copy is checked.  20 rounds.  The control
# copies the images the same way without freezing, and is reported, not
# judged.
#
# What "clean" means, per filesystem (exact, and the same for the control):
#   ext4   no journal recovery needed (the needs_recovery feature is clear:
#          a frozen ext4 has flushed its journal and cleared it) and
#          `e2fsck -fn` exits 0.
#   xfs    the kernel's log recovery of the copy succeeds (a loop mount of
#          the copy with -o nouuid, then umount) and `xfs_repair -n -f` then
#          exits 0.  Log recovery first because a frozen xfs leaves its log
#          dirty on purpose (it logs the superblock at freeze time so that a
#          mount of the image processes the unlinked inode lists; xfs_freeze(8)
#          says such files are only gone after "a clean mount of the
#          snapshot"): `xfs_repair -n` on a raw copy of a frozen xfs prints
#          "ALERT: The filesystem has valuable metadata changes in a log" and
#          finds the lazy superblock free-block counter behind, exit 1 (seen
#          with kernel 6.18 and xfsprogs 6.1 after plain fsfreeze too).  The
#          first round reports that raw result for the record.  Restoring a
#          snapshot mounts it, which is this recovery.
#   btrfs  no log tree to replay (log_root 0 in the superblock: the freeze
#          commits the transaction, which drops the log trees) and
#          `btrfs check` (read-only) exits 0.
# And, for the frozen copies, nothing was written to the filesystems' loop
# devices while the copy ran: the write and discard counters of
# /sys/block/loopN/stat, read inside the window before and after the cp,
# are equal.  (A byte compare of the sparse images would read 500 MiB of
# holes per round.)
#
# The writers never delete a file that another process holds open: an
# inode unlinked while open sits on the orphan list (ext4) or an AGI
# unlinked list (xfs) of a frozen image, which is consistent (mount and
# `e2fsck -p` release it) but which the read-only checkers report as
# errors ("Deleted inode N has zero dtime", bitmap differences).  Each
# writer works alone in its own directory, one operation at a time.
#
# Environment: FREEZESHIM (the CLI).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# jq/awk programs are single-quoted on purpose; undo_* run through eval.
# shellcheck disable=SC2016,SC2317

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"
export LC_ALL=C		# EPOCHREALTIME and awk with a '.' decimal point


[ "$(id -u)" = 0 ] || skip "needs root"
need_tools losetup truncate mount umount mkfs.ext4 mkfs.xfs mkfs.btrfs \
	   btrfs e2fsck dumpe2fs debugfs xfs_repair xfs_db fsfreeze timeout \
	   awk cp dd mv rm ln mkdir truncate sort uniq paste
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"
grep -qw xfs /proc/filesystems || modprobe xfs 2>/dev/null ||
	skip "no xfs in this kernel"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null ||
	skip "no btrfs in this kernel"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
unset FREEZESHIM_DEBUG_HOLD_AFTER

ROUNDS=20
WRITERS=3		# per filesystem
WATCHDOG_SEC=600	# harness bound: far above the ~2 min the test needs
RUN_SEC=60		# bound of one freezeshim run (its own timeout is 30 s)
CHECK_SEC=120		# bound of one checker
FSTYPES=(ext4 xfs btrfs)

# --- Teardown bookkeeping (as in real-plan.sh) ------------------------------
#
# Loop devices and mounts are recorded as undo commands the moment they
# exist, run newest first by the trap.  The test mounts that can be frozen
# are in THAW and $T/mounts (for the watchdog).  CHECK_LOOP/CHECK_MNT: the
# loop mount of an xfs copy during its log recovery.

T=
THAW=()
RUN_PID=
WATCHDOG_PID=
WRITER_PIDS=()
CHECK_LOOP=
CHECK_MOUNTED=

thaw_all() {
	local m

	for m in "${THAW[@]}"; do
		if is_mounted "$m"; then
			fsfreeze -u "$m" 2>/dev/null || true
		fi
	done
	return 0
}

stop_writers() {
	local p i

	[ "${#WRITER_PIDS[@]}" -gt 0 ] || return 0
	[ -z "$T" ] || touch "$T/stop"
	for i in $(seq 100); do
		for p in "${WRITER_PIDS[@]}"; do
			kill -0 "$p" 2>/dev/null && break
			p=
		done
		[ -z "${p:-}" ] && break
		sleep 0.1
	done
	kill_child KILL "${WRITER_PIDS[@]}"
	wait "${WRITER_PIDS[@]}" 2>/dev/null || true
	WRITER_PIDS=()
}

cleanup() {
	local rc=$? i dev back

	set +e
	trap - EXIT INT TERM HUP
	if [ -n "$WATCHDOG_PID" ]; then
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$RUN_PID" ]; then
		kill_child TERM "$RUN_PID"
		sleep 0.2
		kill_child KILL "$RUN_PID"
		wait "$RUN_PID" 2>/dev/null
	fi
	# Writers blocked on a frozen filesystem only leave once it is thawed.
	thaw_all
	stop_writers
	thaw_all
	if [ -n "$CHECK_MOUNTED" ]; then
		umount "$CHECK_MNT" 2>/dev/null || umount -l "$CHECK_MNT"
	fi
	[ -z "$CHECK_LOOP" ] || undo_loop "$CHECK_LOOP"
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
mkdir "$T/img" "$T/out" "$T/mnt" "$T/copies" "$T/bad" "$T/ops"
: >"$T/mounts"
THAW_LIST=$T/mounts
: >"$T/pids"
LOG=$T/setup.log
CHECK_MNT=$T/mnt/check
mkdir "$CHECK_MNT"

# The harness watchdog: after WATCHDOG_SEC, thaw every test mount, kill the
# freezeshim run and the writers, stop the test.
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
	touch "$T/stop"
	while read -r p; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
	done <"$T/pids"
	kill -TERM $$
) &
WATCHDOG_PID=$!

# Images in $T/img (on the machine's /var/tmp, never a target); sparse.
declare -A IMG MNT
for fs in "${FSTYPES[@]}"; do
	IMG[$fs]=$T/img/$fs.img
	MNT[$fs]=$T/mnt/$fs
done

echo "# setting up in $T"
new_loop L_EXT4 "${IMG[ext4]}" 64M
run mkfs.ext4 -q -F "$L_EXT4"
mount_fs "$L_EXT4" "${MNT[ext4]}" -t ext4
new_loop L_XFS "${IMG[xfs]}" 300M	# xfsprogs 6.1 refuses less than 300 MiB
run mkfs.xfs -q -f "$L_XFS"
mount_fs "$L_XFS" "${MNT[xfs]}" -t xfs
new_loop L_BTRFS "${IMG[btrfs]}" 128M
run mkfs.btrfs -q -f "$L_BTRFS"
record undo_btrfs_forget "$L_BTRFS"
mount_fs "$L_BTRFS" "${MNT[btrfs]}" -t btrfs
TARGETS=("${MNT[ext4]}" "${MNT[xfs]}" "${MNT[btrfs]}")
S=$T/state
mkdir -m 0700 "$S"
echo "# loops: ext4=$L_EXT4 xfs=$L_XFS btrfs=$L_BTRFS"

for m in "${TARGETS[@]}"; do
	if [ "$(stat -c %d "$T")" = "$(stat -c %d "$m")" ]; then
		echo "# setup failed: $T is on the target $m" >&2
		exit 1
	fi
done

# --- Writers -----------------------------------------------------------------
#
# Each writer loops over create/overwrite (with and without fsync),
# append, rename, delete, hard link, in-place overwrite with fdatasync,
# truncate, mkdir/rmdir of small trees, in its own directory, until
# $T/stop exists.  Its operation count goes to $T/ops/FS.I every few
# operations, so the test sees that it keeps going.  Errors (ENOSPC, a
# rename of a file deleted before) are part of the churn and ignored.

writer() {
	local dir=$1 ops=$2 n=0 f g d

	set +e
	mkdir -p "$dir"
	while [ ! -e "$T/stop" ]; do
		n=$((n + 1))
		f=$dir/f$((n % 16))
		g=$dir/g$((n % 16))
		d=$dir/d$((n % 4))
		case $((n % 10)) in
		0) dd if=/dev/urandom of="$f" bs=4k count=$((n % 8 + 1)) status=none ;;
		1) dd if=/dev/zero of="$f" bs=4k count=$((n % 4 + 1)) conv=fsync status=none ;;
		2) printf '%s %s\n' "$n" "$dir" >>"$f" ;;
		3) mv -f "$f" "$g" ;;
		4) rm -f "$g" ;;
		5) mkdir -p "$d/e" && printf '%s\n' "$n" >"$d/e/x$n" ;;
		6) rm -rf "$dir/d$(((n + 2) % 4))" ;;
		7) ln -f "$f" "$dir/h$((n % 16))" ;;
		8) dd if=/dev/urandom of="$dir/h$((n % 16))" bs=1k count=2 seek=$((n % 7)) \
			conv=notrunc,fdatasync status=none ;;
		9) truncate -s $((n % 5 * 1000)) "$f" ;;
		esac 2>/dev/null
		[ $((n % 4)) != 0 ] || echo "$n" >"$ops"
	done
	echo "$n" >"$ops"
}

for fs in "${FSTYPES[@]}"; do
	for i in $(seq "$WRITERS"); do
		echo 0 >"$T/ops/$fs.$i"
		writer "${MNT[$fs]}/w$i" "$T/ops/$fs.$i" </dev/null >/dev/null 2>&1 &
		WRITER_PIDS+=($!)
		echo "$!" >>"$T/pids"
	done
done

# ops_snapshot: every writer's count, one line.
ops_snapshot() {
	local f n out=

	for f in "$T"/ops/*; do
		# A writer rewrites its file in place: read again if caught
		# between the truncation and the write.
		for _ in 1 2 3; do
			n=
			{ read -r n <"$f"; } 2>/dev/null || true
			[ -z "$n" ] || break
		done
		out="$out ${n:-0}"
	done
	echo "$out"
}

# wait_progress BEFORE: wait (at most 20 s) until every writer's count
# exceeds the one in BEFORE.  0 when they all did.
wait_progress() {
	local before=$1 now_ops i t0=$SECONDS

	while :; do
		now_ops=$(ops_snapshot)
		if awk -v a="$before" -v b="$now_ops" 'BEGIN {
			n = split(a, x); split(b, y)
			for (i = 1; i <= n; i++) if (y[i] + 0 <= x[i] + 0) exit 1 }'; then
			return 0
		fi
		[ $((SECONDS - t0)) -lt 20 ] || return 1
		sleep 0.05
	done
}

# --- Checks ------------------------------------------------------------------

# ok_if: tests/lib/real-kernel.sh.

# Checkers: check_FS COPY OUT; 0 when clean (criteria in the header).  The
# checker runs even when recovery is needed, so that the control's report
# says both; every reason is a "REASON ..." line of OUT.

check_ext4() {
	local copy=$1 out=$2 rc=0 clean=yes

	: >"$out"
	if ! timeout "$CHECK_SEC" dumpe2fs -h "$copy" >"$out.super" 2>&1; then
		echo "REASON dumpe2fs failed" >>"$out"
		return 1
	fi
	if grep '^Filesystem features:' "$out.super" | grep -qw needs_recovery; then
		echo "REASON journal needs recovery" >>"$out"
		clean=no
	fi
	timeout "$CHECK_SEC" e2fsck -fn "$copy" >>"$out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "REASON e2fsck -fn exit $rc" >>"$out"
		clean=no
	fi
	[ "$clean" = yes ]
}

# xfs_replay_log COPY OUT: the kernel's log recovery, on a loop mount.
xfs_replay_log() {
	local copy=$1 out=$2 ok=yes

	CHECK_LOOP=$(losetup -f --show "$copy" 2>>"$out") || {
		CHECK_LOOP=
		echo "REASON losetup of the copy failed" >>"$out"
		return 1
	}
	if timeout "$CHECK_SEC" mount -t xfs -o nouuid "$CHECK_LOOP" "$CHECK_MNT" \
		>>"$out" 2>&1; then
		CHECK_MOUNTED=yes
		if ! umount "$CHECK_MNT" >>"$out" 2>&1; then
			echo "# umount of the xfs copy failed; detaching lazily" >&2
			umount -l "$CHECK_MNT"
			ok=no
		fi
		CHECK_MOUNTED=
	else
		echo "REASON log recovery (mount of the copy) failed" >>"$out"
		ok=no
	fi
	undo_loop "$CHECK_LOOP" || ok=no
	CHECK_LOOP=
	[ "$ok" = yes ]
}

check_xfs() {
	local copy=$1 out=$2 rc=0

	: >"$out"
	xfs_replay_log "$copy" "$out" || return 1
	timeout "$CHECK_SEC" xfs_repair -n -f "$copy" >>"$out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "REASON xfs_repair -n exit $rc after log recovery" >>"$out"
		return 1
	fi
	return 0
}

check_btrfs() {
	local copy=$1 out=$2 rc=0 logroot clean=yes

	: >"$out"
	if ! timeout "$CHECK_SEC" btrfs inspect-internal dump-super "$copy" \
		>"$out.super" 2>&1; then
		echo "REASON dump-super failed" >>"$out"
		clean=no
	fi
	logroot=$(awk '$1 == "log_root" { print $2 }' "$out.super")
	if [ "$logroot" != 0 ]; then
		echo "log_root: ${logroot:-missing}" >>"$out"
		echo "REASON log tree to replay" >>"$out"
		clean=no
	fi
	timeout "$CHECK_SEC" btrfs check "$copy" >>"$out" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		echo "REASON btrfs check exit $rc" >>"$out"
		clean=no
	fi
	[ "$clean" = yes ]
}

# reason OUT: the reasons of a failed check, joined by " + ".
reason() {
	sed -n 's/^REASON //p' "$1" 2>/dev/null | paste -sd + - | sed 's/+/ + /g'
}

# The copy, as run inside the window: the write/discard counters of
# each loop device, the cp of the three images, the counters again.  A
# filesystem whose device was written meanwhile is named in CHANGED.
cat >"$T/copy.sh" <<'EOF_COPY'
# copy.sh CHANGED COPIES [NAME IMAGE LOOPDEV]...
set -u
changed=$1 copies=$2
shift 2
names=() imgs=() loops=() before=()
while [ $# -ge 3 ]; do
	names+=("$1") imgs+=("$2") loops+=("${3#/dev/}")
	shift 3
done
writes() {
	local s

	read -r -a s <"/sys/block/$1/stat"
	# Writes and discards, not flushes: a cache flush carries no data, and
	# a sync(2) by any process sends one to every filesystem's device,
	# frozen or not (ext4's sync_fs issues it even while frozen).
	echo "${s[4]} ${s[5]} ${s[6]} ${s[11]:-} ${s[12]:-} ${s[13]:-}"
}
for i in "${!names[@]}"; do
	before[i]=$(writes "${loops[i]}")
done
cp --sparse=always "${imgs[@]}" "$copies/" || exit 2
for i in "${!names[@]}"; do
	[ "$(writes "${loops[i]}")" = "${before[i]}" ] || echo "${names[i]}" >>"$changed"
done
exit 0
EOF_COPY
COPY_ARGS=(ext4 "${IMG[ext4]}" "$L_EXT4" xfs "${IMG[xfs]}" "$L_XFS"
	   btrfs "${IMG[btrfs]}" "$L_BTRFS")

# Tallies, per mode (frozen, control) and fs type.
declare -A CLEAN CHANGED REASONS
for mode in frozen control; do
	for fs in "${FSTYPES[@]}"; do
		CLEAN[$mode.$fs]=0
		CHANGED[$mode.$fs]=0
		REASONS[$mode.$fs]=
	done
done
RUN_OK=0
RUN_FAILS=
PROGRESS_OK=0
PAUSES=()

# one_round MODE R
one_round() {
	local mode=$1 r=$2 rc=0 fs out t0 t pause

	rm -f "$T"/copies/* "$T/out/changed"
	: >"$T/out/changed"
	t0=$EPOCHREALTIME
	if [ "$mode" = frozen ]; then
		timeout -k 5 "$RUN_SEC" "$FREEZESHIM" -v run --timeout 30 \
			--state-dir "$S" "${TARGETS[@]}" -- \
			bash "$T/copy.sh" "$T/out/changed" "$T/copies" "${COPY_ARGS[@]}" \
			>"$T/out/run.$r.out" 2>"$T/out/run.$r.err" </dev/null &
		RUN_PID=$!
		echo "$RUN_PID" >>"$T/pids"
		wait "$RUN_PID" || rc=$?
		RUN_PID=
		if [ "$rc" = 0 ]; then
			RUN_OK=$((RUN_OK + 1))
		else
			RUN_FAILS="$RUN_FAILS round $r: exit $rc $(grep -v ": warning: " "$T/out/run.$r.err" | tail -n 2 | head -c 400 | tr '\n' ' ');"
		fi
		t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
		if awk -v t="$t" 'BEGIN { exit !(t > 5) }'; then
			echo "# round $r: freezeshim run took $t s:"
			sed 's/^/#   /' "$T/out/run.$r.err"
		fi
		pause=$(sed -n 's/.*pause \([0-9.]*\) ms.*/\1/p' "$T/out/run.$r.err" | tail -n 1)
		[ -z "$pause" ] || PAUSES+=("$pause")
	else
		bash "$T/copy.sh" "$T/out/changed" "$T/copies" "${COPY_ARGS[@]}" \
			>"$T/out/control.$r.out" 2>&1 </dev/null || rc=$?
		[ "$rc" = 0 ] || echo "# control round $r: copy exit $rc"
	fi
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }' \
		>>"$T/out/$mode.copy-time"

	# For the record: the raw xfs copy of the first window, before any
	# log recovery (the checker's recovery writes to the copy).
	if [ "$mode" = frozen ] && [ "$r" = 1 ] && [ -e "$T/copies/xfs.img" ]; then
		cp --sparse=always "$T/copies/xfs.img" "$T/bad/xfs-raw.img" || true
		rc=0
		timeout "$CHECK_SEC" xfs_repair -n -f "$T/bad/xfs-raw.img" \
			>"$T/out/xfs-raw" 2>&1 || rc=$?
		echo "# round 1: raw xfs copy, no log recovery: xfs_repair -n exit $rc," \
		     "log $(grep -q 'metadata changes in a log' "$T/out/xfs-raw" &&
			echo dirty || echo clean)"
		rm -f "$T/bad/xfs-raw.img"
	fi
	for fs in "${FSTYPES[@]}"; do
		out=$T/out/$mode.$r.$fs
		if grep -qx "$fs" "$T/out/changed"; then
			CHANGED[$mode.$fs]=$((CHANGED[$mode.$fs] + 1))
		fi
		if [ -e "$T/copies/$fs.img" ] && "check_$fs" "$T/copies/$fs.img" "$out"; then
			CLEAN[$mode.$fs]=$((CLEAN[$mode.$fs] + 1))
		else
			[ -s "$out" ] || echo "REASON no copy" >"$out"
			REASONS[$mode.$fs]="${REASONS[$mode.$fs]}$(reason "$out");"
		fi
	done
	# Keep the first frozen round's copies for the self-test.
	if [ "$mode" = frozen ] && [ "$r" = 1 ]; then
		cp --sparse=always "$T"/copies/*.img "$T/bad/" || true
	fi
}

T_START=$SECONDS
before=$(ops_snapshot)
c=0
wait_progress "$before" || c=1
ok_if "setup: $((WRITERS * ${#FSTYPES[@]})) writers are hammering ext4, xfs and btrfs (ops:$(ops_snapshot))" "$c"

for R in $(seq "$ROUNDS"); do
	for mode in frozen control; do
		before=$(ops_snapshot)
		one_round "$mode" "$R"
		# The writers go on after the window: the thaw happened.
		if wait_progress "$before"; then
			[ "$mode" = control ] || PROGRESS_OK=$((PROGRESS_OK + 1))
		else
			echo "# round $R ($mode): writers made no progress in 20 s:$(ops_snapshot)"
		fi
	done
done
T_ROUNDS=$((SECONDS - T_START))

stop_writers
OPS_TOTAL=$(ops_snapshot)

ok_if "freezeshim run ... -- cp exited 0 in $RUN_OK/$ROUNDS rounds" \
	"$([ "$RUN_OK" = "$ROUNDS" ] && echo 0 || echo 1)"
[ -z "$RUN_FAILS" ] || echo "#  ${RUN_FAILS:0:2000}"
ok_if "writers wrote again after every window ($PROGRESS_OK/$ROUNDS)" \
	"$([ "$PROGRESS_OK" = "$ROUNDS" ] && echo 0 || echo 1)"
for fs in "${FSTYPES[@]}"; do
	n=${CHANGED[frozen.$fs]}
	n=$((ROUNDS - n))
	ok_if "$fs: no write reached its loop device during the copy in the window in $n/$ROUNDS rounds" \
		"$([ "$n" = "$ROUNDS" ] && echo 0 || echo 1)"
done
declare -A WHAT=(
	[ext4]="no journal recovery needed, e2fsck -fn exit 0"
	[xfs]="log recovery by mount, then xfs_repair -n exit 0"
	[btrfs]="no log tree, btrfs check exit 0"
)
for fs in "${FSTYPES[@]}"; do
	n=${CLEAN[frozen.$fs]}
	ok_if "$fs: $n/$ROUNDS copies made in the window are clean (${WHAT[$fs]})" \
		"$([ "$n" = "$ROUNDS" ] && echo 0 || echo 1)"
	if [ "$n" != "$ROUNDS" ]; then
		echo "#   reasons: ${REASONS[frozen.$fs]:0:1000}"
		for r in $(seq "$ROUNDS"); do
			f=$T/out/frozen.$r.$fs
			if grep -q '^REASON' "$f" 2>/dev/null; then
				echo "#   first failing copy (round $r), checker output:"
				grep -v '^REASON' "$f" | grep -iv '^ *- \|^Phase\|^Pass\|^\[' |
					head -n 15 | sed 's/^/#     /'
				break
			fi
		done
	fi
done

# Self-test of the checkers: a deliberately damaged copy of a clean one
# must not pass (so the checkers really read the copies).
#   ext4: root inode cleared (debugfs clri <2>)
#   xfs: AG 0's free inode count made wrong (xfs_db, CRC recomputed)
#   btrfs: the superblock checksum zeroed
for fs in "${FSTYPES[@]}"; do
	bad=$T/bad/$fs.img
	c=1
	msg="no clean copy from round 1 to damage"
	if [ -e "$bad" ] && "check_$fs" "$bad" "$T/out/bad-orig.$fs"; then
		case $fs in
		ext4) debugfs -w -R 'clri <2>' "$bad" >"$T/out/bad.$fs.log" 2>&1 || true ;;
		xfs)
			n=$(xfs_db -f -c 'agi 0' -c 'print freecount' "$bad" |
				awk '$1 == "freecount" { print $3 }')
			n=${n:-0}
			xfs_db -x -f -c 'agi 0' \
				-c "write freecount $((n > 0 ? n - 1 : n + 1))" "$bad" \
				>"$T/out/bad.$fs.log" 2>&1 || true
			;;
		btrfs) dd if=/dev/zero of="$bad" bs=1 count=32 seek=65536 \
			conv=notrunc status=none || true ;;
		esac
		if "check_$fs" "$bad" "$T/out/bad.$fs"; then
			msg="the damaged copy passed"
		else
			c=0
			msg=$(reason "$T/out/bad.$fs")
		fi
	fi
	ok_if "self-test: the $fs checker flags a damaged copy ($msg)" "$c"
done

for fs in "${FSTYPES[@]}"; do
	[ -z "${REASONS[control.$fs]}" ] ||
		echo "# control $fs reasons: $(echo "${REASONS[control.$fs]}" |
			tr ';' '\n' | grep -v '^$' | sort | uniq -c |
			awk '{ $1 = $1 "x"; print }' |
			paste -sd ';' -)"
done
echo "# control (no freeze): ext4 ${CLEAN[control.ext4]}/$ROUNDS clean," \
     "xfs ${CLEAN[control.xfs]}/$ROUNDS, btrfs ${CLEAN[control.btrfs]}/$ROUNDS;" \
     "device written during the copy: ext4 ${CHANGED[control.ext4]}," \
     "xfs ${CHANGED[control.xfs]}, btrfs ${CHANGED[control.btrfs]}"
echo "# frozen: ext4 ${CLEAN[frozen.ext4]}/$ROUNDS clean," \
     "xfs ${CLEAN[frozen.xfs]}/$ROUNDS, btrfs ${CLEAN[frozen.btrfs]}/$ROUNDS"
if [ "${#PAUSES[@]}" -gt 0 ]; then
	echo "# I/O pause per window (freezeshim -v, ms): $(printf '%s\n' "${PAUSES[@]}" |
		sort -g | awk '{ v[NR] = $1 } END { printf "min %s, median %s, max %s",
			v[1], v[int((NR + 1) / 2)], v[NR] }')"
fi
for mode in frozen control; do
	echo "# $mode copy time (s): $(sort -g "$T/out/$mode.copy-time" |
		awk '{ v[NR] = $1 } END { printf "median %s, max %s", v[int((NR + 1) / 2)], v[NR] }')"
done
echo "# writer operations (per writer, $(cd "$T/ops" && echo *)):$OPS_TOTAL"
echo "# rounds took ${T_ROUNDS} s"

echo "# $NTEST checks, $NFAIL failed"
[ "$NFAIL" = 0 ] || exit 1
exit 0
