#!/bin/bash
# Real-kernel test of `freezeshim plan`: builds loop-backed ext4/xfs/btrfs
# filesystems, a loop image nested in one of them plus a later bind mount of
# its host, a loop image in a btrfs subvolume, a FUSE passthrough whose store
# is on xfs, an ext4 with an external journal and an xfs with an external
# log, then checks the plan (JSON and human) and the bad-input errors; last,
# a loop image whose host filesystem is lazily unmounted.  Plan only: nothing
# is ever frozen.
#
# Environment: FREEZESHIM (the CLI), FUSE_PASSTHROUGH (tests/fuse-passthrough).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# jq filters are single-quoted on purpose; undo_* run through eval.
# shellcheck disable=SC2016,SC2317,SC2153

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"


[ "$(id -u)" = 0 ] || skip "needs root"
need_tools losetup truncate mount umount mke2fs mkfs.ext4 mkfs.xfs \
	   mkfs.btrfs btrfs fusermount3 fsfreeze jq timeout awk
[ -c /dev/fuse ] || skip "/dev/fuse missing"
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
FUSE_PASSTHROUGH=${FUSE_PASSTHROUGH:?set FUSE_PASSTHROUGH to tests/fuse-passthrough}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
[ -x "$FUSE_PASSTHROUGH" ] ||
	{ echo "# $FUSE_PASSTHROUGH is not executable" >&2; exit 1; }

# --- Teardown bookkeeping --------------------------------------------------
#
# Every loop device, mount and FUSE daemon is recorded the moment it exists,
# as an undo command; the trap runs them newest first.  Filesystems that
# could be frozen are also listed in THAW (creation order: a host before the
# filesystem stacked on it, which is the safe thaw order).

T=
CLI_PID=
THAW=()

undo_fuse() {
	local pid=$1 mnt=$2 i

	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" ||
			umount -l "$mnt"
	fi
	# kill_child: once the daemon is gone its pid may be another
	# test's process.
	for i in $(seq 50); do
		child_alive "$pid" || break
		sleep 0.1
	done
	if child_alive "$pid"; then
		kill_child TERM "$pid"
		sleep 0.5
		kill_child KILL "$pid"
	fi
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local rc=$? i dev back

	set +e
	trap - EXIT INT TERM HUP
	# A CLI run interrupted by a signal: stop it (timeout passes the
	# signal on) before touching what it may be looking at.
	if [ -n "$CLI_PID" ]; then
		kill_child TERM "$CLI_PID"
		wait "$CLI_PID" 2>/dev/null
	fi
	# Plan only, so nothing should be frozen; if something is, thaw it
	# (once, host first) or unmounting would leave it frozen for good.
	for i in "${THAW[@]}"; do
		is_mounted "$i" && fsfreeze -u "$i" 2>/dev/null
	done
	undo_all
	if [ -n "$T" ]; then
		# Also a loop device created but killed before it was recorded.
		sweep_dir "$T" || rc=1
	fi
	exit "$rc"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

T=$(mktemp -d /tmp/freezeshim-real.XXXXXX)
mkdir "$T/img" "$T/out" "$T/mnt"
LOG=$T/setup.log

# mount_fs DEV MNT [mount args...]: mount a block filesystem.
# Mountpoints.  No name is a prefix of another (the human-output check greps).
M_LOWER=$T/mnt/lower		# ext4 holding nested.img
M_UPPER=$T/mnt/upper		# ext4 on the loop over nested.img
M_HOST=$T/mnt/host		# bind mount of M_LOWER, made last
M_XFS=$T/mnt/xfsstore		# xfs holding the FUSE store
M_BTRFS=$T/mnt/btrfs
M_FUSE=$T/mnt/fuse
M_JFS=$T/mnt/jfsdata		# ext4 with an external journal
M_XLOG=$T/mnt/xlogdata		# xfs with an external log
M_SUBV=$T/mnt/subvolfs		# ext4 on a loop over an image in a btrfs subvolume
M_GONE=$T/mnt/gonehost		# ext4 holding orphan.img, lazily unmounted
M_ORPH=$T/mnt/orphanfs		# ext4 on the loop over orphan.img

# Cloud disk IDs: d- + 20 lowercase alphanumerics (Alibaba style), here the
# role padded with zeros.
mkid() {
	local s=${1}00000000000000000000

	printf 'd-%s' "${s:0:20}"
}
ID_LOWER=$(mkid lower)
ID_XFS=$(mkid xfsstore)
ID_BTRFS=$(mkid btrfs)
ID_JFS=$(mkid jfsdata)
ID_JDEV=$(mkid jfsjournal)
ID_XLOG=$(mkid xlogdata)
ID_XLDEV=$(mkid xlogdev)
ID_GONE=$(mkid gonehost)
ID_UNKNOWN=$(mkid nosuchdisk)

echo "# setting up in $T"

# a) ext4, xfs, btrfs on loop devices.
new_loop L_LOWER "$T/img/lower.img" 320M
run mkfs.ext4 -q -F "$L_LOWER"
mount_fs "$L_LOWER" "$M_LOWER" -t ext4

new_loop L_XFS "$T/img/xfs.img" 320M
run mkfs.xfs -q -f "$L_XFS"
mount_fs "$L_XFS" "$M_XFS" -t xfs

new_loop L_BTRFS "$T/img/btrfs.img" 320M
run mkfs.btrfs -q -f "$L_BTRFS"
record undo_btrfs_forget "$L_BTRFS"	# runs after the unmount
mount_fs "$L_BTRFS" "$M_BTRFS" -t btrfs

# b) loop image inside the lower ext4, ext4 on it; then a later bind mount of
#    the lower one (reverse mount order would freeze the host first).
new_loop L_UPPER "$M_LOWER/nested.img" 64M
run mkfs.ext4 -q -F "$L_UPPER"
mount_fs "$L_UPPER" "$M_UPPER" -t ext4
echo upper >"$M_UPPER/file"
mkdir "$M_HOST"
run mount --bind "$M_LOWER" "$M_HOST"
record undo_mount "$M_HOST"

# c) FUSE passthrough with its store on the xfs.  Foreground in the
#    background, so $! is the daemon itself; no fd of it points at files
#    other than the store.
mkdir "$M_XFS/store" "$M_FUSE"
echo store >"$M_XFS/store/file"
"$FUSE_PASSTHROUGH" -f "$M_XFS/store" "$M_FUSE" </dev/null >/dev/null 2>&1 &
FUSE_PID=$!
record undo_fuse "$FUSE_PID" "$M_FUSE"
for i in $(seq 100); do
	is_mounted "$M_FUSE" && break
	kill -0 "$FUSE_PID" 2>/dev/null ||
		{ echo "# setup failed: FUSE daemon exited" >&2; exit 1; }
	sleep 0.1
done
is_mounted "$M_FUSE" || { echo "# setup failed: FUSE not mounted" >&2; exit 1; }
timeout 10 grep -qx store "$M_FUSE/file" ||
	{ echo "# setup failed: FUSE mount does not serve the store" >&2; exit 1; }

# d) ext4 with an external journal; xfs with an external log.
new_loop L_JDEV "$T/img/jfsjournal.img" 16M
new_loop L_JFS "$T/img/jfsdata.img" 64M
run mke2fs -q -F -b 4096 -O journal_dev "$L_JDEV"
run mkfs.ext4 -q -F -b 4096 -J device="$L_JDEV" "$L_JFS"
mount_fs "$L_JFS" "$M_JFS" -t ext4

new_loop L_XLDEV "$T/img/xlogdev.img" 64M
new_loop L_XLOG "$T/img/xlogdata.img" 320M
run mkfs.xfs -q -f -l logdev="$L_XLDEV" "$L_XLOG"
mount_fs "$L_XLOG" "$M_XLOG" -t xfs -o logdev="$L_XLDEV"

# e) loop image in a btrfs subvolume, ext4 on it.  The subvolume goes away
#    with the btrfs; its files report the subvolume's own st_dev, which no
#    mountinfo line shows.
run btrfs subvolume create "$M_BTRFS/sub"
new_loop L_SUBV "$M_BTRFS/sub/subvol.img" 64M
run mkfs.ext4 -q -F "$L_SUBV"
mount_fs "$L_SUBV" "$M_SUBV" -t ext4

DISKMAP=(
	--disk-map "$L_LOWER=$ID_LOWER"
	--disk-map "$L_XFS=$ID_XFS"
	--disk-map "$L_BTRFS=$ID_BTRFS"
	--disk-map "$L_JFS=$ID_JFS"
	--disk-map "$L_JDEV=$ID_JDEV"
	--disk-map "$L_XLOG=$ID_XLOG"
	--disk-map "$L_XLDEV=$ID_XLDEV"
)
ALL_IDS=("$ID_LOWER" "$ID_XFS" "$ID_BTRFS" "$ID_JFS" "$ID_JDEV" "$ID_XLOG"
	 "$ID_XLDEV")
# Every disk, plus the stacked mounts named explicitly.
ALL_TARGETS=("${ALL_IDS[@]}" "$M_UPPER" "$M_HOST" "$M_FUSE")

echo "# loops: lower=$L_LOWER upper=$L_UPPER xfs=$L_XFS btrfs=$L_BTRFS" \
     "jfs=$L_JFS jdev=$L_JDEV xlog=$L_XLOG xldev=$L_XLDEV subvol=$L_SUBV"

# --- Checks ----------------------------------------------------------------

NTEST=0
NFAIL=0

check() {
	local what=$1

	shift
	NTEST=$((NTEST + 1))
	if "$@" >"$T/out/check.log" 2>&1; then
		echo "ok - $what"
	else
		echo "not ok - $what"
		NFAIL=$((NFAIL + 1))
		# Diagnostics (jq's error, say) as comments.
		sed -n '1,5s/^/#   /p' "$T/out/check.log"
	fi
}

# Helpers for jq filters.  node($m): the one filesystem having mountpoint $m
# (error unless exactly one); pos($m): index in freeze_order of that
# filesystem (error unless exactly one of its mountpoints is listed once).
JQLIB='
def fss($m): [.filesystems[]? | select(any(.mountpoints[]?; . == $m))];
def node($m): fss($m) | if length == 1 then .[0]
	else error("\($m): \(length) filesystems") end;
def pos($m): node($m).mountpoints as $mps
	| [.freeze_order | to_entries[] | select(.value as $v | any($mps[]; . == $v))
	   | .key]
	| if length == 1 then .[0] else error("\($m): \(length) times in freeze_order") end;
def hasdisk($id): any(.disks[]?; . == $id);
'

# jqcheck WHAT FILE [jq options...] FILTER
jqcheck() {
	local what=$1 file=$2

	shift 2
	local filter=${*: -1}
	set -- "${@:1:$#-1}"
	# -n with input: an empty file fails instead of passing (jq 1.6's -e
	# exits 0 when there is no input at all).
	check "$what" jq -en "$@" "$JQLIB input | $filter" "$file"
}

# plan NAME ARGS...: run the CLI (bounded in time), output in
# $T/out/NAME.{out,err}; exit status in RC.
plan() {
	local name=$1

	shift
	RC=0
	# In the background so that a signal to this script is handled at
	# once (bash defers traps until a foreground command ends).
	timeout -k 5 60 "$FREEZESHIM" "$@" >"$T/out/$name.out" \
		2>"$T/out/$name.err" &
	CLI_PID=$!
	wait "$CLI_PID" || RC=$?
	CLI_PID=
}

# devno MNT: MAJ:MIN of the mount from mountinfo.
devno() {
	awk -v m="$1" '$5 == m { print $3; exit }' /proc/self/mountinfo
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

# Main plan.
plan main plan --json "${DISKMAP[@]}" "${ALL_TARGETS[@]}"
J=$T/out/main.out
check "plan --json (all disks) exits 0" test "$RC" = 0
jqcheck "JSON has disks, filesystems, freeze_order, warnings arrays" "$J" \
	'(.disks | type) == "array" and (.filesystems | type) == "array" and
	 (.freeze_order | type) == "array" and (.warnings | type) == "array"'

set -- "$L_LOWER" "$ID_LOWER" "$L_XFS" "$ID_XFS" "$L_BTRFS" "$ID_BTRFS" \
	"$L_JFS" "$ID_JFS" "$L_JDEV" "$ID_JDEV" "$L_XLOG" "$ID_XLOG" \
	"$L_XLDEV" "$ID_XLDEV"
while [ $# -gt 0 ]; do
	jqcheck "disk $2 listed for $1 with provider aliyun" "$J" \
		--arg id "$2" --arg dev "$1" \
		'any(.disks[]; .id == $id and .provider == "aliyun" and
		     (.device == $dev or "/dev/" + .device == $dev))'
	shift 2
done

# Bind mount merged into the lower filesystem.
jqcheck "lower ext4 is one filesystem with both mountpoints" "$J" \
	--arg l "$M_LOWER" --arg h "$M_HOST" \
	'([.filesystems[] | select(any(.mountpoints[]; . == $l or . == $h))]
	  | length) == 1 and (node($l).mountpoints | index([$h]) != null)'
jqcheck "lower ext4 appears once in freeze_order" "$J" --arg l "$M_LOWER" \
	'pos($l) >= 0'
jqcheck "freeze_order: upper (loop image) before lower (its host)" "$J" \
	--arg u "$M_UPPER" --arg l "$M_LOWER" 'pos($u) < pos($l)'
jqcheck "upper appears once in filesystems" "$J" --arg u "$M_UPPER" \
	'fss($u) | length == 1'

# FUSE.
jqcheck "FUSE mount: fstype fuse*, method flush, consistency crash" "$J" \
	--arg f "$M_FUSE" \
	'node($f) | (.fstype | startswith("fuse")) and .method == "flush" and
	 .consistency == "crash"'
jqcheck "FUSE mount depends_on contains the xfs store mountpoint" "$J" \
	--arg f "$M_FUSE" --arg x "$M_XFS" 'node($f).depends_on | index([$x]) != null'
jqcheck "freeze_order: FUSE before its store's xfs" "$J" \
	--arg f "$M_FUSE" --arg x "$M_XFS" 'pos($f) < pos($x)'

# Block filesystems.
set -- "$M_LOWER" ext4 "$M_UPPER" ext4 "$M_XFS" xfs "$M_BTRFS" btrfs \
	"$M_JFS" ext4 "$M_XLOG" xfs
while [ $# -gt 0 ]; do
	jqcheck "$2 at $1: method fifreeze, consistency fs" "$J" \
		--arg m "$1" --arg t "$2" \
		'node($m) | .fstype == $t and .method == "fifreeze" and
		 .consistency == "fs"'
	shift 2
done
for m in "$M_LOWER" "$M_UPPER" "$M_XFS" "$M_BTRFS" "$M_FUSE" "$M_JFS" \
	 "$M_XLOG"; do
	jqcheck "devno of $m matches mountinfo" "$J" --arg m "$m" \
		--arg d "$(devno "$m")" 'node($m).devno == $d'
done

# External journal / log: both disks listed.
jqcheck "ext4 external journal: disks has $ID_JFS and $ID_JDEV" "$J" \
	--arg m "$M_JFS" --arg a "$ID_JFS" --arg b "$ID_JDEV" \
	'node($m) | hasdisk($a) and hasdisk($b)'
jqcheck "xfs logdev: disks has $ID_XLOG and $ID_XLDEV" "$J" \
	--arg m "$M_XLOG" --arg a "$ID_XLOG" --arg b "$ID_XLDEV" \
	'node($m) | hasdisk($a) and hasdisk($b)'

# Group closure: selecting only the data disk fails, naming the other one;
# --include-spanning pulls it in.
set -- jfs "$M_JFS" "$ID_JFS" "$ID_JDEV" "ext4 external journal" \
	xlog "$M_XLOG" "$ID_XLOG" "$ID_XLDEV" "xfs logdev"
while [ $# -gt 0 ]; do
	name=$1 mnt=$2 id=$3 other=$4 what=$5
	shift 5
	plan "$name-only" plan --json "${DISKMAP[@]}" "$id"
	check "$what: plan of $id alone exits 1" test "$RC" = 1
	check "$what: error names $other" grep -qF -- "$other" \
		"$T/out/$name-only.err"
	plan "$name-span" plan --json --include-spanning "${DISKMAP[@]}" "$id"
	check "$what: --include-spanning $id exits 0" test "$RC" = 0
	jqcheck "$what: --include-spanning includes $other and the filesystem" \
		"$T/out/$name-span.out" --arg m "$mnt" --arg o "$other" \
		'any(.disks[]; .id == $o) and (node($m) | hasdisk($o)) and
		 pos($m) >= 0'
done

# Human output.
plan human plan "${DISKMAP[@]}" "${ALL_TARGETS[@]}"
check "plan (human) exits 0" test "$RC" = 0
for m in "$M_LOWER" "$M_HOST" "$M_UPPER" "$M_XFS" "$M_BTRFS" "$M_FUSE" \
	 "$M_JFS" "$M_XLOG"; do
	check "human output mentions $m" mentions "$T/out/human.out" "$m"
done

# Bad input: exit 2, one line on stderr.
mkdir "$M_LOWER/notamountpoint"
set -- unknown-id "unknown disk ID" \
	plan --json "${DISKMAP[@]}" "$ID_UNKNOWN" -- \
	not-mountpoint "path that is not a mountpoint" \
	plan --json "${DISKMAP[@]}" "$M_LOWER/notamountpoint" -- \
	sysroot "--sysroot /nonexistent" \
	plan --json --sysroot /nonexistent "$ID_LOWER" -- \
	bad-map "malformed --disk-map foo" \
	plan --json --disk-map foo "$M_LOWER" --
while [ $# -gt 0 ]; do
	name=$1 what=$2
	shift 2
	args=()
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	plan "$name" "${args[@]}"
	check "$what: exits 2" test "$RC" = 2
	check "$what: one stderr line 'freezeshim: ...'" one_error \
		"$T/out/$name.err"
done

# Loop image in a btrfs subvolume: the loop's backing device number is the
# subvolume's, not the one mountinfo shows for the btrfs; the image's path
# must decide.  Targeting the btrfs disk plans both, the image's filesystem
# first; targeting the image's filesystem plans it alone (its host is another
# filesystem on the same disk, named in a warning).
echo "# btrfs subvolume image: losetup: $(losetup --list -n \
	-O NAME,MAJ:MIN,BACK-MAJ:MIN "$L_SUBV" | awk '{ $1 = $1; print }')" \
	"(NAME MAJ:MIN BACK-MAJ:MIN); btrfs $M_BTRFS mountinfo MAJ:MIN" \
	"$(devno "$M_BTRFS")"
set -- subvol-id "$ID_BTRFS" subvol-mnt "$M_SUBV"
while [ $# -gt 0 ]; do
	name=$1 tgt=$2
	shift 2
	plan "$name" plan --json "${DISKMAP[@]}" "$tgt"
	J=$T/out/$name.out
	what="btrfs subvolume image, target $tgt"
	check "$what: exits 0" test "$RC" = 0
	jqcheck "$what: $M_SUBV depends_on has $M_BTRFS" "$J" \
		--arg s "$M_SUBV" --arg b "$M_BTRFS" \
		'node($s).depends_on | index([$b]) != null'
	jqcheck "$what: disks of $M_SUBV has $ID_BTRFS" "$J" \
		--arg s "$M_SUBV" --arg id "$ID_BTRFS" 'node($s) | hasdisk($id)'
	if [ "$tgt" = "$ID_BTRFS" ]; then
		jqcheck "$what: freeze_order has $M_SUBV before $M_BTRFS" "$J" \
			--arg s "$M_SUBV" --arg b "$M_BTRFS" 'pos($s) < pos($b)'
	else
		jqcheck "$what: freeze_order is exactly [$M_SUBV], $M_BTRFS not planned" \
			"$J" --arg s "$M_SUBV" --arg b "$M_BTRFS" \
			'.freeze_order == [$s] and fss($b) == []'
		jqcheck "$what: warning that $ID_BTRFS also holds $M_BTRFS, not in the plan" \
			"$J" --arg b "$M_BTRFS" --arg id "$ID_BTRFS" \
			'any(.warnings[]; contains($id) and contains($b) and
			     contains("not in the plan"))'
	fi
done

# A loop image whose host filesystem is no longer mounted here: its path now
# looks like a path on the filesystem holding $T (the machine's), which must
# not be taken for its host.  Teardown: the mount on the loop, the loop, then
# the host's loop device (the host is already gone from the mount table).
new_loop L_GONE "$T/img/gonehost.img" 64M
run mkfs.ext4 -q -F "$L_GONE"
mount_fs "$L_GONE" "$M_GONE" -t ext4
new_loop L_ORPH "$M_GONE/orphan.img" 32M
run mkfs.ext4 -q -F "$L_ORPH"
mount_fs "$L_ORPH" "$M_ORPH" -t ext4
run umount -l "$M_GONE"
if is_mounted "$M_GONE"; then
	echo "# setup failed: $M_GONE still mounted" >&2
	exit 1
fi
echo "# unmounted host: $L_GONE (was $M_GONE) holds the image of $L_ORPH" \
     "($M_ORPH), whose backing file now reads" \
     "$(losetup -n -O BACK-FILE "$L_ORPH")"
plan gone plan --json "${DISKMAP[@]}" --disk-map "$L_GONE=$ID_GONE" "$M_ORPH"
J=$T/out/gone.out
check "image on an unmounted host, target $M_ORPH: exits 0" test "$RC" = 0
jqcheck "image on an unmounted host: $M_ORPH depends_on is empty" "$J" \
	--arg m "$M_ORPH" 'node($m).depends_on == []'
jqcheck "image on an unmounted host: freeze_order is exactly [$M_ORPH]" "$J" \
	--arg m "$M_ORPH" '.freeze_order == [$m]'
jqcheck "image on an unmounted host: warning that the image of ${L_ORPH#/dev/} is on no filesystem mounted here" \
	"$J" --arg l "${L_ORPH#/dev/}" \
	'any(.warnings[]; test("\\bimage of (/dev/)?\($l)\\b.*\\bon no filesystem mounted here"))'
# The machine's own disks (its whole disks but loop devices, by kernel name,
# the ID of a local disk) must not be reached; nor any ID but the test's own.
MACHINE_DISKS=()
for d in /sys/block/*; do
	case ${d##*/} in
	loop*) ;;
	*) MACHINE_DISKS+=("${d##*/}") ;;
	esac
done
jqcheck "image on an unmounted host: disks of $M_ORPH has no disk of the machine (${MACHINE_DISKS[*]}), only test disks" \
	"$J" --arg m "$M_ORPH" \
	--argjson mach "$(printf '%s\n' "${MACHINE_DISKS[@]}" | jq -Rsc 'split("\n") - [""]')" \
	--argjson ours "$(printf '%s\n' "${ALL_IDS[@]}" "$ID_GONE" | jq -Rsc 'split("\n") - [""]')" \
	'node($m).disks | (. - $mach) == . and (. - $ours) == []'

echo "# $NTEST checks, $NFAIL failed"
if [ "$NFAIL" -ne 0 ]; then
	for f in "$T"/out/*.err; do
		if [ -s "$f" ]; then
			sed "s|^|# ${f##*/}: |" "$f"
		fi
	done
	exit 1
fi
exit 0
