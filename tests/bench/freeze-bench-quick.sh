#!/bin/sh
# make check runs the freeze benchmark at its smallest size (1 round, 16 MiB
# dirty, 4 empty filesystems): the harness must work.  It never fails on a
# figure.  Skipped (77) when not root or when a tool it drives is missing.
skip() {
	echo "# SKIP: $*"
	exit 77
}

[ "$(id -u)" = 0 ] || skip "needs root"
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"
for tool in losetup mkfs.ext4 mkfs.xfs mkfs.btrfs fsfreeze unshare \
	    "${QEMU_GA:-qemu-ga}" "${PYTHON:-python3}"; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done
exec "$(dirname "$0")/freeze-bench.sh" --quick
