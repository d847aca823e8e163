#!/bin/bash
# The README's main job: build a throw-away stack of loop-device filesystems,
# run freezeshim on it, and remove it again, whatever happens.
#
#   contrib/demo-stack.sh FREEZESHIM [plan options...]
#
# The stack, in a temporary directory under /var/tmp:
#   lower  ext4 on loop A (disk "demo-lower")
#     upper  ext4 on loop B, whose image lives inside lower
#   data   xfs on loop C (disk "demo-data")
#   lower-bind  a bind mount of lower, made after upper (the order that
#               deadlocks tools which freeze in reverse mount order)
# Only these filesystems are ever named as targets; the machine's own
# filesystems are never part of the demo.
set -eu

freezeshim=${1:?usage: demo-stack.sh FREEZESHIM [plan options...]}
shift

if [ "$(id -u)" != 0 ]; then
	echo "demo-stack: run as root: it attaches loop devices and mounts filesystems" >&2
	exit 77
fi
for tool in losetup mkfs.ext4 mkfs.xfs truncate; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo-stack: $tool is missing; install util-linux, e2fsprogs and xfsprogs" >&2
		exit 77
	fi
done

dir=$(mktemp -d /var/tmp/freezeshim-demo.XXXXXX)
undo=()
cleanup() {
	local i
	# Newest first; a frozen filesystem would block its unmount: thaw first.
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
	undo+=("fsfreeze -u '$2'; umount '$2'")
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

echo "# demo stack in $dir: $lower_dev (demo-lower) holds upper ($upper_dev); $data_dev (demo-data)"
echo "# $freezeshim plan --disk-map $lower_dev=demo-lower --disk-map $data_dev=demo-data $* demo-lower demo-data"
"$freezeshim" plan --disk-map "$lower_dev=demo-lower" --disk-map "$data_dev=demo-data" "$@" \
	demo-lower demo-data
