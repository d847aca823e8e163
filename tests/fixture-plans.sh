#!/bin/bash
# Runs `freezeshim plan` on every fixture machine's cases and diffs stdout,
# stderr and the exit code against the expected files checked in beside them.
# FRZ_UPDATE_EXPECTED=1 rewrites the expected files instead (review the diff!).
# Cases and expected files come from FIXTURES; the machines' roots, with their
# symlinks made, from FIXTURE_ROOTS (made here when not given).
set -u
: "${FREEZESHIM:?set FREEZESHIM to the freezeshim binary}"
: "${FIXTURES:=$(dirname "$0")/fixtures}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "${FIXTURE_ROOTS:-}" ]; then
	FIXTURE_ROOTS=$tmp/roots
	"$FIXTURES/materialize.sh" "$FIXTURES" "$FIXTURE_ROOTS" || exit 99
fi
pass=0 fail=0

for casefile in "$FIXTURES"/*/cases/*.args; do
	machine=$(basename "$(dirname "$(dirname "$casefile")")")
	name=${casefile%.args}
	args=()
	while IFS= read -r line || [ -n "$line" ]; do
		[ -n "$line" ] && args+=("$line")
	done < "$casefile"
	# Messages name the sysroot; print it as @ROOT@ so expected files are portable.
	root="$FIXTURE_ROOTS/$machine/root"
	LC_ALL=C "$FREEZESHIM" plan --sysroot "$root" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
	echo $? >"$tmp/rc"
	realroot=$(cd "$root" && pwd -P)
	sed -i "s|$realroot|@ROOT@|g" "$tmp/out" "$tmp/err"
	if [ "${FRZ_UPDATE_EXPECTED:-0}" = 1 ]; then
		cp "$tmp/out" "$name.out"; cp "$tmp/err" "$name.err"; cp "$tmp/rc" "$name.rc"
	fi
	ok=1
	for part in out err rc; do
		if ! diff -u "$name.$part" "$tmp/$part" >"$tmp/diff" 2>&1; then
			ok=0
			echo "--- $machine/$(basename "$name").$part differs:"
			cat "$tmp/diff"
		fi
	done
	if [ $ok = 1 ]; then
		echo "ok - $machine $(basename "$name")"
		pass=$((pass + 1))
	else
		echo "not ok - $machine $(basename "$name")"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
