#!/bin/bash
# plan-bench.sh - cost of `freezeshim plan --json` next to its peers.
#
# Usage: tests/bench/plan-bench.sh [--quick]
#
# Generates fake Alibaba ECS machine roots (tests/bench/gen-machine) of
# 64 disks/1k mounts, 256/4k and 1024/16k, and measures on each, in one
# table: `freezeshim plan --json --sysroot DIR` and the discovery the peers
# do (lsblk over sysfs, findmnt over mountinfo).  Prints the growth per 4x
# step and whether the targets (<= 50 ms, <= 16 MiB peak RSS at 256/4k)
# are met.  Never fails on a figure: exits non-zero only when something
# could not run (bad setup, a measured command failed).
#
# --quick (or BENCH_QUICK=1, for a test harness that passes no arguments):
# only 64/1k, 3 runs: a smoke test that the benchmark works.
#
# Builds nothing. Environment:
#   FREEZESHIM   the CLI                 (default ./freezeshim)
#   GEN_MACHINE  built gen-machine.c     (default ./tests/bench/gen-machine)
#   MEASURE      built measure.c         (default ./tests/bench/measure)
#   BENCH_RUNS   runs per measurement    (default 15; 3 with --quick)
#   BENCH_TMPDIR where machines go       (default /dev/shm when it is a
#                                         writable tmpfs, else $TMPDIR, /tmp)
set -euo pipefail

FREEZESHIM=${FREEZESHIM:-./freezeshim}
GEN_MACHINE=${GEN_MACHINE:-./tests/bench/gen-machine}
MEASURE=${MEASURE:-./tests/bench/measure}

TARGET_MS=50
TARGET_MIB=16

quick=0
[[ ${BENCH_QUICK:-0} == 1 ]] && quick=1
case "${1:-}" in
--quick) quick=1 ;;
"") ;;
-h | --help)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
	exit 0
	;;
*)
	echo "usage: $0 [--quick]" >&2
	exit 2
	;;
esac

if ((quick)); then
	sizes=("64 1024")
	runs=${BENCH_RUNS:-3}
else
	sizes=("64 1024" "256 4096" "1024 16384")
	runs=${BENCH_RUNS:-15}
fi

die() {
	echo "plan-bench: $*" >&2
	exit 1
}

runnable() {
	[[ $1 == */* ]] && [[ -x $1 && ! -d $1 ]] && return 0
	[[ $1 != */* ]] && command -v -- "$1" >/dev/null 2>&1
}

runnable "$GEN_MACHINE" || die "GEN_MACHINE=$GEN_MACHINE is not executable (build tests/bench/gen-machine.c or set GEN_MACHINE)"
runnable "$MEASURE" || die "MEASURE=$MEASURE is not executable (build tests/bench/measure.c or set MEASURE)"
runnable "$FREEZESHIM" || die "FREEZESHIM=$FREEZESHIM is not executable (build freezeshim or set FREEZESHIM)"

# The peers: lsblk reads a foreign sysfs only with --sysroot (util-linux
# >= 2.35); findmnt reads any mountinfo file with --tab-file.
have_lsblk=0
if command -v lsblk >/dev/null 2>&1 && lsblk --help 2>&1 | grep -q -- '--sysroot'; then
	have_lsblk=1
fi
have_findmnt=0
if command -v findmnt >/dev/null 2>&1 && findmnt --help 2>&1 | grep -q -- '--tab-file'; then
	have_findmnt=1
fi

# sysfs and procfs live in memory: so do the fixtures, when we can.
base=${BENCH_TMPDIR:-}
if [[ -z $base ]]; then
	if [[ -d /dev/shm && -w /dev/shm ]] &&
		[[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]]; then
		base=/dev/shm
	else
		base=${TMPDIR:-/tmp}
	fi
fi
tmp=$(mktemp -d "$base/plan-bench.XXXXXX") || die "cannot make a directory in $base"
cleanup() { rm -rf -- "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# measure LABEL CMD ARGS...: sets med, min, rss.  A first run warms the
# caches; a command whose run takes more than SLOW_MS is then measured
# SLOW_RUNS times instead of $runs, so a slow peer cannot stretch the
# benchmark to many minutes.
SLOW_MS=1000
SLOW_RUNS=3
declare -a NOTES=()
measure() {
	local label=$1 n=1 pass out a b c
	shift
	for pass in warm real; do
		if ! out=$("$MEASURE" -n "$n" -- "$@"); then
			die "this command failed: $*"
		fi
		read -r a b c <<<"$out"
		[[ $a == median_ms=* && $b == min_ms=* && $c == maxrss_mib=* ]] ||
			die "unexpected output from $MEASURE: $out"
		med=${a#median_ms=}
		min=${b#min_ms=}
		rss=${c#maxrss_mib=}
		if [[ $pass == warm ]]; then
			n=$runs
			if ((runs > SLOW_RUNS)) && awk "BEGIN { exit !($med > $SLOW_MS) }"; then
				n=$SLOW_RUNS
				NOTES+=("$label: $n runs, not $runs (one takes ${med} ms)")
			fi
		fi
	done
}

calc() { awk "BEGIN { printf \"%.2f\", $* }"; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

row() {
	printf '%5s %6s %6s | %8s %8s %7s | %8s %8s %7s | %8s %8s %7s | %8s %7s\n' "$@"
}
echo "freezeshim plan --json over generated machines: median/min of $runs runs after a warm-up run; ms, peak RSS MiB"
echo "fixtures in $base; peers = lsblk + findmnt, the discovery they do (time summed, RSS max)"
echo
printf "%5s %6s %6s | %-25s | %-25s | %-25s | %s\n" "" "" "" \
	"freezeshim plan --json" "lsblk --sysroot" "findmnt --tab-file" "peers (sum)"
row disks mounts gen_ms median min MiB median min MiB median min MiB median MiB

declare -a F_MED F_RSS P_MED P_RSS LABEL
i=0
for size in "${sizes[@]}"; do
	read -r disks mounts <<<"$size"
	dir=$tmp/m$disks
	t0=$(now_ms)
	"$GEN_MACHINE" "$dir" "$disks" "$mounts" || die "gen-machine $disks $mounts failed"
	gen_ms=$(($(now_ms) - t0))

	# the peers must really read the fixture (not the host)
	if ((have_lsblk)); then
		seen=$(lsblk --sysroot "$dir" -d -n -r -o NAME | grep -c '^vd' || true)
		((seen == disks)) ||
			echo "plan-bench: warning: lsblk --sysroot lists $seen of $disks generated disks" >&2
	fi
	if ((have_findmnt)); then
		seen=$(findmnt -n -r --tab-file "$dir/proc/self/mountinfo" | wc -l)
		((seen == mounts)) ||
			echo "plan-bench: warning: findmnt --tab-file lists $seen of $mounts mounts" >&2
	fi

	measure "freezeshim at $disks/$mounts" "$FREEZESHIM" plan --json --sysroot "$dir"
	f_med=$med f_min=$min f_rss=$rss

	l_med=n/a l_min=n/a l_rss=n/a
	if ((have_lsblk)); then
		measure "lsblk at $disks/$mounts" lsblk --sysroot "$dir" --json -o NAME,MAJ:MIN,SERIAL,TYPE
		l_med=$med l_min=$min l_rss=$rss
	fi
	m_med=n/a m_min=n/a m_rss=n/a
	if ((have_findmnt)); then
		measure "findmnt at $disks/$mounts" findmnt -J --tab-file "$dir/proc/self/mountinfo"
		m_med=$med m_min=$min m_rss=$rss
	fi
	p_med=n/a p_rss=n/a
	if ((have_lsblk && have_findmnt)); then
		p_med=$(calc "$l_med + $m_med")
		p_rss=$(calc "($l_rss > $m_rss ? $l_rss : $m_rss)")
	fi

	row "$disks" "$mounts" "$gen_ms" "$f_med" "$f_min" "$f_rss" \
		"$l_med" "$l_min" "$l_rss" "$m_med" "$m_min" "$m_rss" "$p_med" "$p_rss"

	LABEL[i]="$disks/$((mounts / 1024))k"
	F_MED[i]=$f_med F_RSS[i]=$f_rss P_MED[i]=$p_med P_RSS[i]=$p_rss
	rm -rf -- "$dir"
	i=$((i + 1))
done

ratio() { # new old
	[[ $1 == n/a || $2 == n/a ]] && { echo n/a; return; }
	awk "BEGIN { if ($2 > 0) printf \"%.2fx\", $1 / $2; else print \"n/a\" }"
}
verdict() { # time-ratio rss-ratio
	awk -v t="${1%x}" -v r="${2%x}" 'BEGIN {
		if (t == "n/a" || r == "n/a") print "n/a";
		else if (t + 0 <= 4 && r + 0 <= 4) print "linear or better";
		else print "WORSE than linear" }'
}

echo
if ((${#NOTES[@]})); then
	printf 'note: %s\n' "${NOTES[@]}"
	echo
fi
if ((${#LABEL[@]} > 1)); then
	echo "growth per 4x step (ratio of medians and of peak RSS; linear = 4.00x):"
	for ((j = 1; j < ${#LABEL[@]}; j++)); do
		ft=$(ratio "${F_MED[j]}" "${F_MED[j - 1]}")
		fr=$(ratio "${F_RSS[j]}" "${F_RSS[j - 1]}")
		pt=$(ratio "${P_MED[j]}" "${P_MED[j - 1]}")
		pr=$(ratio "${P_RSS[j]}" "${P_RSS[j - 1]}")
		printf "  %-9s -> %-9s freezeshim time %7s rss %7s  %-18s | peers time %7s rss %7s\n" \
			"${LABEL[j - 1]}" "${LABEL[j]}" "$ft" "$fr" "$(verdict "$ft" "$fr")" "$pt" "$pr"
	done
	echo
fi

t=-1
for ((j = 0; j < ${#LABEL[@]}; j++)); do
	[[ ${LABEL[j]} == 256/4k ]] && t=$j
done
if ((t < 0)); then
	echo "targets (256 disks / 4k mounts): not evaluated by --quick"
else
	ok() { awk "BEGIN { exit !($1 <= $2) }" && echo "target met" || echo "target MISSED"; }
	echo "targets at 256 disks / 4k mounts:"
	printf "  time  median %8s ms  <= %s ms:  %s\n" "${F_MED[t]}" "$TARGET_MS" "$(ok "${F_MED[t]}" "$TARGET_MS")"
	printf "  RSS   peak   %8s MiB <= %s MiB: %s\n" "${F_RSS[t]}" "$TARGET_MIB" "$(ok "${F_RSS[t]}" "$TARGET_MIB")"
fi
