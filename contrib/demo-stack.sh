#!/bin/bash
# The README's main job: build a throw-away stack of loop-device filesystems,
# run freezeshim on it, and remove it again, whatever happens.
#
#   contrib/demo-stack.sh FREEZESHIM [plan options...]
#
# The stack, in a temporary directory under /var/tmp:
#   lower  ext4 on loop A (disk "demo-lower", image lower.img)
#     upper  ext4 on loop B, whose image lives inside lower
#   data   xfs on loop C (disk "demo-data", image data.img)
#   lower-bind  a bind mount of lower, made after upper (the order that
#               deadlocks tools which freeze in reverse mount order)
# Only these filesystems are ever named as targets; the machine's own
# filesystems are never part of the demo.
#
# It shows the plan (with the plan options given), then takes a snapshot of
# the two disks with `freezeshim snapshot --provider local`: a demo hook's
# pre phase, the flush, the freeze of upper, data and lower in dependency
# order, the copy of the disk images lower.img and data.img into a snapshot
# directory inside the window (both live in the temporary directory, on no
# frozen filesystem, like the state directory), the thaw, the hook's post
# phase, and the manifest tagged APPConsistent:True.  Then it checks the
# snapshot's images: both filesystems clean (the XFS one once a mount has
# replayed its log), and upper's image inside the copy of lower clean too,
# holding the data written to upper just before, never synced.
# lower_dev, data_dev and upper_dev are set by attach, through printf -v.
# shellcheck disable=SC2154
set -eu

freezeshim=${1:?usage: demo-stack.sh FREEZESHIM [plan options...]}
shift

if [ "$(id -u)" != 0 ]; then
	echo "demo-stack: run as root: it attaches loop devices and mounts filesystems" >&2
	exit 77
fi
for tool in losetup mkfs.ext4 mkfs.xfs truncate fsfreeze e2fsck debugfs xfs_repair sha256sum; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo-stack: $tool is missing; install util-linux, e2fsprogs, xfsprogs and coreutils" >&2
		exit 77
	fi
done

dir=$(mktemp -d /var/tmp/freezeshim-demo.XXXXXX)
mounts=()  # in mount order: every host before what is stored on it
undo=()
cleanup() {
	local i
	# A frozen filesystem would block its unmount, and a guardian still
	# holding a mountpoint open would make it busy: let freezeshim end any
	# window (it waits for the guardian), then thaw with fsfreeze, hosts
	# first (thawing ext4 writes its superblock, into the host's image).
	if [ -d "$dir/state" ]; then
		"$freezeshim" thaw --state-dir "$dir/state" >/dev/null 2>&1 || true
	fi
	for ((i = 0; i < ${#mounts[@]}; i++)); do
		fsfreeze -u "${mounts[i]}" >/dev/null 2>&1 || true
	done
	# Newest first.
	for ((i = ${#undo[@]} - 1; i >= 0; i--)); do
		eval "${undo[i]}" >/dev/null 2>&1 || true
	done
	rm -rf --one-file-system "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mount_fs() { # DEVICE MOUNTPOINT [OPTIONS]
	mkdir -p "$2"
	mount ${3:+-o "$3"} "$1" "$2"
	mounts+=("$2")
	undo+=("umount '$2'")
}
attach() { # IMAGE VARIABLE: attach IMAGE, store the loop device in VARIABLE
	local dev
	dev=$(losetup --find --show "$1")
	undo+=("losetup -d '$dev'")
	printf -v "$2" '%s' "$dev"
}

truncate -s 256M "$dir/lower.img"
truncate -s 320M "$dir/data.img"
mkfs.ext4 -q -F "$dir/lower.img"
mkfs.xfs -q -f "$dir/data.img"
attach "$dir/lower.img" lower_dev
attach "$dir/data.img" data_dev
mount_fs "$lower_dev" "$dir/lower"
mount_fs "$data_dev" "$dir/data"
truncate -s 64M "$dir/lower/upper.img"
mkfs.ext4 -q -F "$dir/lower/upper.img"
attach "$dir/lower/upper.img" upper_dev
mount_fs "$upper_dev" "$dir/upper"
mkdir -p "$dir/lower-bind"
mount --bind "$dir/lower" "$dir/lower-bind"
undo+=("umount '$dir/lower-bind'")

maps=(--disk-map "$lower_dev=demo-lower" --disk-map "$data_dev=demo-data")

echo "# demo stack in $dir: $lower_dev (demo-lower) holds upper ($upper_dev); $data_dev (demo-data)"
echo "# $freezeshim plan ${maps[*]} ${*:+$* }demo-lower demo-data"
"$freezeshim" plan "${maps[@]}" "$@" demo-lower demo-data

# Data the snapshot must hold: written to upper, the innermost filesystem,
# and left in the page cache (no sync): the freeze has to flush it through
# upper's image into lower.img.
head -c 4M /dev/urandom >"$dir/upper/payload"
head -c 4M /dev/urandom >"$dir/data/payload"
payload_sum=$(sha256sum <"$dir/upper/payload")

mkdir -m 0700 "$dir/state" "$dir/snapshots" "$dir/hooks" "$dir/copies"
# A demo hook in place of a database's: pre quiesces (here: notes the time
# on data, which is frozen next), post resumes.  Root-owned, mode 0700, in a
# root-owned directory: what freezeshim requires of anything it runs as root.
cat >"$dir/hooks/10-demo" <<'EOF_HOOK'
#!/bin/sh
# $1 is pre or post; FREEZESHIM_PHASE says the same.
echo "demo hook: $1"
[ "$1" = pre ] && date -u +%FT%TZ >"$DEMO_DATA/quiesced-at"
exit 0
EOF_HOOK
chmod 0700 "$dir/hooks/10-demo"
export DEMO_DATA=$dir/data

echo
echo "# $freezeshim -v snapshot --provider local --no-config --timeout 10 --state-dir $dir/state --snapshot-dir $dir/snapshots --hook-dir $dir/hooks --name demo ${maps[*]} demo-lower demo-data"
snap_status=0
"$freezeshim" -v snapshot --provider local --no-config --timeout 10 --state-dir "$dir/state" \
	--snapshot-dir "$dir/snapshots" --hook-dir "$dir/hooks" --name demo "${maps[@]}" \
	demo-lower demo-data || snap_status=$?
echo "# snapshot: exit status $snap_status"
echo "# $freezeshim status --state-dir $dir/state"
"$freezeshim" status --state-dir "$dir/state"
[ "$snap_status" = 0 ] || exit 1
snap=$(find "$dir/snapshots" -mindepth 1 -maxdepth 1 -type d -name 'local-*' | head -n 1)
echo "# $snap/manifest.json:"
cat "$snap/manifest.json"
grep -q '"APPConsistent":[[:space:]]*"True"' "$snap/manifest.json" || {
	echo "# the snapshot is not tagged APPConsistent:True" >&2
	exit 1
}
cp --sparse=always "$snap/demo-lower.img" "$dir/copies/lower.img"
cp --sparse=always "$snap/demo-data.img" "$dir/copies/data.img"

echo
echo "# checking the copies, as a snapshot would be restored"
failures=0
check() { # NAME COMMAND...: run a read-only check, print its verdict
	local name=$1 log
	shift
	if log=$("$@" 2>&1); then
		echo "ok: $name"
	else
		echo "FAILED: $name"
		printf '%s\n' "$log" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}
check "lower.img copy: e2fsck -fn clean" e2fsck -fn "$dir/copies/lower.img"
# A frozen XFS keeps its last metadata changes in its log (the superblock's
# counters among them): xfs_repair -n reports that log as dirty until a mount
# replays it, as restoring the snapshot does.  nouuid: the original is mounted.
mkdir "$dir/data-copy"
undo+=("umount '$dir/data-copy'")
replay_log() { # IMAGE DIR: mount the image (loop, detached again at umount)
	mount -o loop,nouuid "$1" "$2" && umount "$2"
}
check "data.img copy: mounted (its log replayed) and unmounted" \
	replay_log "$dir/copies/data.img" "$dir/data-copy"
check "data.img copy: xfs_repair -n clean" xfs_repair -n -f "$dir/copies/data.img"
extract() { # IMAGE PATH OUT: copy PATH out of the ext4 IMAGE (debugfs exits 0 regardless)
	debugfs -R "dump $2 $3" "$1" && test -s "$3"
}
check "upper.img inside the lower.img copy: extracted" \
	extract "$dir/copies/lower.img" /upper.img "$dir/copies/upper.img"
check "upper.img inside the lower.img copy: e2fsck -fn clean" e2fsck -fn "$dir/copies/upper.img"
check "upper.img inside the lower.img copy: payload extracted" \
	extract "$dir/copies/upper.img" /payload "$dir/copies/payload"
check "upper.img inside the lower.img copy: payload written before the freeze, never synced, intact" \
	test "$(sha256sum <"$dir/copies/payload" 2>/dev/null)" = "$payload_sum"
[ "$failures" = 0 ] || exit 1
