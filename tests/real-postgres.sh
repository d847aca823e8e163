#!/bin/bash
# Real-kernel test: snapshots of a live PostgreSQL cluster are correct, with
# and without the PostgreSQL hook (contrib/hooks/postgresql).
#
# A PostgreSQL server of this machine's installation (the newest
# /usr/lib/postgresql/*/bin) runs a fresh cluster whose data directory is an
# ext4 on a loop device, with fsync on, on a private socket directory and
# port (never the machine's own cluster: no pg_ctlcluster, no default
# socket).  An inserter commits one row at a time and logs each id the
# server acknowledged, with the time, outside the loop filesystem.  While it
# runs, `freezeshim snapshot --provider local` copies the loop image twice:
#   nohook  with no hooks (--hook-dir ''): verdict "fs"
#   hook    with a hook directory holding a copy of contrib/hooks/postgresql
#           (root, mode 0700): CHECKPOINT + backup mode, verdict "app"
# And once more with the hook pointed at a port where no server listens:
# the hook's pre fails with its one-line error, the snapshot is still made,
# verdict "fs" (freezeshim downgrades), and nothing is left behind.
# Each snapshot image is then checked: `e2fsck -fn` exits 0, and a second
# server started on a loop mount of a copy of the image recovers, accepts
# connections and holds every id acknowledged before the point in time:
# the report's frozen_at (every filesystem frozen, the copy about to
# start), else its window_start_realtime (the first freeze), else the
# command's start.  An acknowledged commit has its WAL flushed to the loop
# device, and nothing a freeze lets through is lost from the image, so each
# of these times is safe, the later the stronger.  A crash-consistent copy
# must be as correct as an application-consistent one; the hook shortens
# the recovery.  The WAL each
# copy replayed ("redo starts at" .. "redo done at" in its log) is reported
# as "# " lines, not judged.
#
# The copy's postmaster.pid names the live primary's pid, on this machine:
# it is removed before the second server starts (on a restore elsewhere the
# pid would be dead and PostgreSQL would ignore the file).
#
# Environment: FREEZESHIM (the CLI), top_srcdir (for contrib/hooks).
# Exit: 0 all checks passed, 1 a check or the setup failed, 77 skipped.

# undo_* and cleanup steps run through eval; jq filters are single-quoted.
# shellcheck disable=SC2016,SC2317

set -eu
# The shared helpers: teardown, loops, processes, checks.
# shellcheck source=tests/lib/real-kernel.sh
. "$(dirname "$0")/lib/real-kernel.sh"
export LC_ALL=C		# EPOCHREALTIME and awk with a '.' decimal point


[ "$(id -u)" = 0 ] || skip "needs root"
PGBIN=$(for p in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$p" ] && echo "${p%/postgres}"
	done | sort -V | tail -n 1)
[ -n "$PGBIN" ] || skip "no /usr/lib/postgresql/*/bin/postgres"
for t in initdb pg_ctl psql pg_controldata; do
	[ -x "$PGBIN/$t" ] || skip "$PGBIN/$t missing"
done
need_tools losetup truncate mount umount mkfs.ext4 e2fsck dumpe2fs fsfreeze jq \
	   runuser setpriv timeout awk sort comm cp date install flock mkfifo setsid
[ -e /dev/loop-control ] || skip "/dev/loop-control missing"
id -u postgres >/dev/null 2>&1 || skip "no postgres system user"

FREEZESHIM=${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}
[ -x "$FREEZESHIM" ] || { echo "# $FREEZESHIM is not executable" >&2; exit 1; }
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
HOOK_SRC=$top_srcdir/contrib/hooks/postgresql
[ -r "$HOOK_SRC" ] || { echo "# $HOOK_SRC missing" >&2; exit 1; }
unset FREEZESHIM_DEBUG_HOLD_AFTER

WATCHDOG_SEC=240	# harness bound: far above the ~20 s the test needs
SNAP_SEC=90		# bound of one freezeshim snapshot (its own timeout is 30 s)
START_SEC=60		# bound of a server start (the copies run crash recovery)
MIN_ACKS=300		# rows acknowledged before each snapshot starts
PORT1=$((50000 + $$ % 5000))	# the primary; sockets are private anyway
PORT2=$((PORT1 + 1))		# the servers on the copies, one at a time
MODES=(nohook hook)

# --- Teardown -------------------------------------------------------------------

T=
MNT=
HOOK_ENV=()
WATCHDOG_PID=
INSERTER_PID=
SNAP_PID=
PRIMARY_UP=
COPY_DATA=
COPY_LOOP=
COPY_MNT=

as_pg() {
	runuser -u postgres -- "$@"
}

# stop_server DATADIR: immediate shutdown; kill -9 of the postmaster if
# pg_ctl fails (its children follow their postmaster).
stop_server() {
	local data=$1 pid

	[ -e "$data/postmaster.pid" ] || return 0
	if ! (cd / && as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w -t 10 stop) \
		>/dev/null 2>&1; then
		read -r pid <"$data/postmaster.pid" 2>/dev/null || pid=
		[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null
		sleep 0.5
	fi
	return 0
}

stop_inserter() {
	[ -n "$INSERTER_PID" ] || return 0
	[ -z "$T" ] || touch "$T/stop"
	for _ in $(seq 50); do
		kill -0 "$INSERTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill_child KILL "$INSERTER_PID"
	wait "$INSERTER_PID" 2>/dev/null || true
	INSERTER_PID=
}

cleanup() {
	local rc=$? i

	set +e
	trap - EXIT INT TERM HUP
	if [ -n "$WATCHDOG_PID" ]; then
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$SNAP_PID" ]; then
		kill_child TERM "$SNAP_PID"
		sleep 0.5
		kill_child KILL "$SNAP_PID"
		wait "$SNAP_PID" 2>/dev/null
	fi
	# Writers blocked on a frozen filesystem only leave once it is thawed
	# (freezeshim's guardian thaws; this is for a test killed meanwhile).
	if [ -n "$MNT" ] && is_mounted "$MNT"; then
		fsfreeze -u "$MNT" 2>/dev/null
	fi
	# The hook's holder, if a snapshot died between pre and post: its post
	# ends the backup; the server's immediate stop would end it too.
	if [ -n "$T" ] && [ -e "$T/hookrun/holder.pid" ] && [ -n "$PRIMARY_UP" ]; then
		timeout 20 env "${HOOK_ENV[@]}" "$HOOK_SRC" post >/dev/null 2>&1
	fi
	stop_inserter
	[ -z "$COPY_DATA" ] || stop_server "$COPY_DATA"
	[ -z "$PRIMARY_UP" ] || stop_server "$MNT/data"
	if [ -n "$COPY_MNT" ] && is_mounted "$COPY_MNT"; then
		undo_mount "$COPY_MNT"
	fi
	[ -z "$COPY_LOOP" ] || undo_loop "$COPY_LOOP"
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

T=$(mktemp -d /var/tmp/freezeshim-pgtest.XXXXXX)
# postgres must reach the sockets, logs and the data directory below.
chmod 0711 "$T"
mkdir "$T/img" "$T/mnt" "$T/snap" "$T/out" "$T/work"
mkdir -m 0700 "$T/state" "$T/hooks"
install -d -o postgres -g postgres -m 0700 "$T/sock1" "$T/sock2" "$T/log"
LOG=$T/setup.log
MNT=$T/mnt/pg
COPY_MNT=$T/mnt/copy
mkdir "$MNT" "$COPY_MNT"
ACKS=$T/acks
: >"$ACKS"

# The hook's environment, for freezeshim (which passes its own on to hooks)
# and the teardown: the primary, a private runtime directory, no
# configuration file of the machine.
HOOK_ENV=(PGHOST="$T/sock1" PGPORT="$PORT1" PGUSER=postgres PGDATABASE=postgres
	  FREEZESHIM_PG_OS_USER=postgres FREEZESHIM_PG_PSQL="$PGBIN/psql"
	  FREEZESHIM_PG_RUNTIME_DIR="$T/hookrun" FREEZESHIM_PG_HOLD_MAX=120
	  FREEZESHIM_PG_START_TIMEOUT=30 FREEZESHIM_PG_STOP_TIMEOUT=30
	  FREEZESHIM_PG_WAIT_ARCHIVE=false FREEZESHIM_HOOKS_CONF_DIR=)
install -o root -g root -m 0700 "$HOOK_SRC" "$T/hooks/50-postgresql"

(
	set +e
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$WATCHDOG_SEC" >/dev/null 2>&1 &
	sleeper=$!
	wait "$sleeper"
	echo "not ok - harness watchdog: test still running after ${WATCHDOG_SEC} s; thawing and stopping it" >&2
	fsfreeze -u "$MNT" 2>/dev/null
	touch "$T/stop"
	kill -TERM $$
) &
WATCHDOG_PID=$!

# ok_if: tests/lib/real-kernel.sh.

# psql_at SOCKDIR PORT SQL: one statement as postgres, unaligned tuples.
psql_at() {
	"$PGBIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres \
		-d postgres -c "$3"
}

# --- The primary ------------------------------------------------------------------

echo "# setting up in $T with $PGBIN"
new_loop L_PG "$T/img/pg.img" 256M
run mkfs.ext4 -q -F "$L_PG"
run mount -t ext4 "$L_PG" "$MNT"
record undo_mount "$MNT"
if [ "$(stat -c %d "$T")" = "$(stat -c %d "$MNT")" ]; then
	echo "# setup failed: $T is on the target $MNT" >&2
	exit 1
fi
install -d -o postgres -g postgres -m 0700 "$MNT/data"
run as_pg "$PGBIN/initdb" -N -A trust -U postgres -E UTF8 -D "$MNT/data"
# start_server DATADIR LOG SOCKDIR PORT: a server on a private socket, no
# TCP; no checkpoint of its own during the test (checkpoint_timeout,
# max_wal_size), so that the replay of a copy without the hook goes back to
# the server's start.
start_server() {
	(cd / && as_pg "$PGBIN/pg_ctl" -D "$1" -l "$2" -w -t "$START_SEC" -o "-k $3 -p $4 \
		-c listen_addresses='' -c fsync=on -c synchronous_commit=on \
		-c full_page_writes=on -c shared_buffers=32MB -c checkpoint_timeout=1h \
		-c max_wal_size=1GB -c log_checkpoints=on" start)
}
run start_server "$MNT/data" "$T/log/primary.log" "$T/sock1" "$PORT1"
PRIMARY_UP=yes
run psql_at "$T/sock1" "$PORT1" \
	"CREATE TABLE acked (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), pad text)"

# The inserter: one session, one row per statement (autocommit, so each
# answer is a durable commit); the id and the time of its answer go to
# ACKS, off the loop filesystem.
inserter() {
	local id

	set +e
	coproc DB { "$PGBIN/psql" -X -A -t -q -h "$T/sock1" -p "$PORT1" -U postgres \
		-d postgres 2>>"$T/out/inserter.err"; }
	exec 4>>"$ACKS"
	while [ ! -e "$T/stop" ]; do
		echo "INSERT INTO acked (pad) VALUES (repeat('x', 300)) RETURNING id;" \
			>&"${DB[1]}" || break
		read -r id <&"${DB[0]}" || break
		echo "$EPOCHREALTIME $id" >&4
	done
	echo '\q' >&"${DB[1]}"
	wait
}
inserter </dev/null >/dev/null 2>&1 &
INSERTER_PID=$!

acks() {
	wc -l <"$ACKS"
}

# wait_acks N: until N more acknowledgements than now (at most 20 s).
wait_acks() {
	local target=$(($(acks) + $1)) t0=$SECONDS

	while [ "$(acks)" -lt "$target" ]; do
		[ $((SECONDS - t0)) -lt 20 ] || return 1
		kill -0 "$INSERTER_PID" 2>/dev/null || return 1
		sleep 0.05
	done
}

c=0
wait_acks "$MIN_ACKS" || c=1
ok_if "setup: PostgreSQL $(psql_at "$T/sock1" "$PORT1" 'SHOW server_version' 2>/dev/null || echo '?') on ext4 on $L_PG, inserter running ($(acks) rows acknowledged)" "$c"
[ "$c" = 0 ] || { tail -n 5 "$T/out/inserter.err" "$T/log/primary.log" | sed 's/^/#   /'; exit 1; }

# --- The snapshots ----------------------------------------------------------------

# to_epoch RFC3339: seconds since the epoch, with microseconds.
to_epoch() {
	date -u -d "$1" +%s.%6N 2>/dev/null
}

declare -A VERDICT WINDOW IMAGE SNAP_RC SNAP_MS

snapshot() {
	local mode=$1 hookdir='' rc=0 t0 ts img dir key

	[ "$mode" = nohook ] || hookdir=$T/hooks
	mkdir "$T/snap/$mode"
	t0=$EPOCHREALTIME
	env "${HOOK_ENV[@]}" timeout -k 5 "$SNAP_SEC" "$FREEZESHIM" snapshot --no-config \
		--provider local --snapshot-dir "$T/snap/$mode" --state-dir "$T/state" \
		--timeout 30 --script-timeout 60 --hook-dir "$hookdir" --json "$MNT" \
		>"$T/out/$mode.json" 2>"$T/out/$mode.err" </dev/null &
	SNAP_PID=$!
	wait "$SNAP_PID" || rc=$?
	SNAP_PID=
	SNAP_RC[$mode]=$rc
	SNAP_MS[$mode]=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
	VERDICT[$mode]=$(jq -r '.verdict // "none"' "$T/out/$mode.json" 2>/dev/null) ||
		VERDICT[$mode]=unreadable
	WINDOW[$mode]=
	for key in frozen_at window_start_realtime; do
		ts=$(jq -r --arg k "$key" '.[$k] // empty' "$T/out/$mode.json" 2>/dev/null)
		[ -z "$ts" ] || WINDOW[$mode]=$(to_epoch "$ts")
		[ -z "${WINDOW[$mode]}" ] || break
	done
	if [ -z "${WINDOW[$mode]}" ]; then
		echo "# $mode: no frozen_at or window_start_realtime in the report; using the command's start"
		WINDOW[$mode]=$t0
	else
		echo "# $mode: the acknowledgements before $key $ts count"
	fi
	# The image of our loop device, from the manifest.
	IMAGE[$mode]=
	for dir in "$T/snap/$mode"/*/; do
		[ -e "$dir/manifest.json" ] || continue
		img=$(jq -r --arg dev "$L_PG" \
			'.disks[] | select(.device == $dev) | .image' "$dir/manifest.json" 2>/dev/null)
		[ -z "$img" ] || IMAGE[$mode]=${dir%/}/$img
	done
}

for mode in "${MODES[@]}"; do
	wait_acks 100 || true
	snapshot "$mode"
	c=0
	[ "${SNAP_RC[$mode]}" = 0 ] && [ -n "${IMAGE[$mode]}" ] && [ -f "${IMAGE[$mode]}" ] || c=1
	img=${IMAGE[$mode]#"$T"/}
	ok_if "$mode: freezeshim snapshot exit ${SNAP_RC[$mode]}, image ${img:-missing} (${SNAP_MS[$mode]} ms)" "$c"
	if [ "$c" != 0 ]; then
		sed 's/^/#   /' "$T/out/$mode.err" | tail -n 15
		head -c 2000 "$T/out/$mode.json" | sed 's/^/#   /'
	fi
	want=fs
	[ "$mode" = nohook ] || want=app
	[ "$mode" = nohook ] ||
		jq -r '.scripts[] | "\(.phase) \(.outcome): \(.output_tail // "" | rtrimstr("\n"))"' \
			"$T/out/$mode.json" 2>/dev/null | head -n 10 | sed 's/^/#   /'
	ok_if "$mode: verdict ${VERDICT[$mode]} (want $want)" \
		"$([ "${VERDICT[$mode]}" = "$want" ] && echo 0 || echo 1)"
	# The inserter goes on after the thaw.
	c=0
	wait_acks 50 || c=1
	ok_if "$mode: inserts go on after the snapshot" "$c"
done

# A hook that cannot reach its server downgrades the snapshot.
mkdir "$T/snap/broken"
rc=0
env "${HOOK_ENV[@]}" PGPORT=$((PORT1 + 2)) timeout -k 5 "$SNAP_SEC" "$FREEZESHIM" snapshot \
	--no-config --provider local --snapshot-dir "$T/snap/broken" --state-dir "$T/state" \
	--timeout 30 --script-timeout 60 --hook-dir "$T/hooks" --json "$MNT" \
	>"$T/out/broken.json" 2>"$T/out/broken.err" </dev/null || rc=$?
v=$(jq -r '.verdict // "none"' "$T/out/broken.json" 2>/dev/null) || v=unreadable
c=0
[ "$v" = fs ] && grep -q 'cannot reach PostgreSQL' "$T/out/broken.err" "$T/out/broken.json" || c=1
ok_if "broken hook (no server on its port): exit $rc, verdict $v (want fs), the hook's error reported" "$c"
[ "$c" = 0 ] || sed 's/^/#   /' "$T/out/broken.err" | tail -n 8

# The hook left nothing behind: no holder, no session, no backup.
c=0
left=$(psql_at "$T/sock1" "$PORT1" \
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'freezeshim-hook'") || left=error
[ "$left" = 0 ] || c=1
[ ! -e "$T/hookrun/holder.pid" ] || c=1
ok_if "hook: after post no holder process and no hook session left ($left sessions)" "$c"
grep -q 'checkpoint starting: immediate force wait' "$T/log/primary.log" &&
	echo "# hook: the primary's log shows the hook's checkpoints"

stop_inserter
echo "# inserter: $(acks) rows acknowledged in all"

# --- The copies ---------------------------------------------------------------------

# lsn_bytes FROM TO: the WAL bytes between two LSNs (asked of the copy's
# server).
lsn_bytes() {
	psql_at "$T/sock2" "$PORT2" "SELECT pg_wal_lsn_diff('$2', '$1')::bigint"
}

declare -A REPLAY

check_copy() {
	local mode=$1 img=${IMAGE[$1]} copy=$T/work/$1.img rc=0 log=$T/log/copy-$1.log
	local from to bytes n missing expected

	if [ -z "$img" ] || [ ! -f "$img" ]; then
		ok_if "$mode: copy checks (no image)" 1
		return 0
	fi
	# The image as made, before anything mounts it.
	timeout 120 e2fsck -fn "$img" >"$T/out/$mode.fsck" 2>&1 || rc=$?
	ok_if "$mode: e2fsck -fn of the snapshot image exit $rc" "$rc"
	[ "$rc" = 0 ] || grep -v '^Pass\|^e2fsck' "$T/out/$mode.fsck" | head -n 8 | sed 's/^/#   /'

	cp --sparse=always "$img" "$copy"
	COPY_LOOP=$(losetup -f --show "$copy")
	run mount -t ext4 "$COPY_LOOP" "$COPY_MNT"
	COPY_DATA=$COPY_MNT/data
	echo "# $mode: copy's pg_control: $(as_pg "$PGBIN/pg_controldata" -D "$COPY_DATA" 2>/dev/null |
		awk -F': *' '/^Database cluster state/ { s = $2 }
			/^Latest checkpoint.s REDO location/ { r = $2 }
			END { printf "state \"%s\", REDO at %s", s, r }')"
	rm -f "$COPY_DATA/postmaster.pid"
	rc=0
	start_server "$COPY_DATA" "$log" "$T/sock2" "$PORT2" >"$T/out/$mode.start" 2>&1 || rc=$?
	ok_if "$mode: a server on a copy of the image recovers and accepts connections" "$rc"
	if [ "$rc" != 0 ]; then
		tail -n 10 "$log" | sed 's/^/#   /'
		return 0
	fi

	# Every id acknowledged before the window is in the copy.
	psql_at "$T/sock2" "$PORT2" "SELECT id FROM acked" | sort >"$T/out/$mode.present"
	awk -v w="${WINDOW[$mode]}" '$1 < w { print $2 }' "$ACKS" | sort >"$T/out/$mode.expected"
	expected=$(wc -l <"$T/out/$mode.expected")
	n=$(wc -l <"$T/out/$mode.present")
	missing=$(comm -23 "$T/out/$mode.expected" "$T/out/$mode.present" | wc -l)
	c=0
	[ "$missing" = 0 ] && [ "$expected" -gt 0 ] || c=1
	ok_if "$mode: the copy holds all $expected rows acknowledged before the freeze ($missing missing; $n rows in all)" "$c"

	# The WAL it replayed.
	from=$(sed -n 's/.*redo starts at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$log" | head -n 1)
	to=$(sed -n 's/.*redo done at \([0-9A-F]*\/[0-9A-F]*\).*/\1/p' "$log" | head -n 1)
	if [ -n "$from" ] && [ -n "$to" ] && bytes=$(lsn_bytes "$from" "$to"); then
		REPLAY[$mode]="$bytes bytes of WAL ($from to $to)"
	elif grep -q 'redo is not required' "$log"; then
		REPLAY[$mode]="none (redo is not required)"
	else
		REPLAY[$mode]="unknown (no redo lines in the log)"
	fi
	echo "# $mode: crash recovery of the copy replayed ${REPLAY[$mode]}"

	stop_server "$COPY_DATA"
	COPY_DATA=
	undo_mount "$COPY_MNT"
	undo_loop "$COPY_LOOP"
	COPY_LOOP=
	rm -f "$copy"
}

for mode in "${MODES[@]}"; do
	check_copy "$mode"
done

for mode in "${MODES[@]}"; do
	echo "# $mode: snapshot ${SNAP_MS[$mode]} ms, I/O pause $(jq -r '.io_pause_ms // "?"' \
		"$T/out/$mode.json" 2>/dev/null) ms, verdict ${VERDICT[$mode]}, WAL replayed: ${REPLAY[$mode]:-?}"
done
echo "# $NTEST checks, $NFAIL failed"
[ "$NFAIL" = 0 ] || exit 1
exit 0
