#!/bin/bash
# The application hooks of contrib/hooks parse (bash -n): the MySQL and
# service hooks have no real server here to run against.
# Environment: top_srcdir.  Exit: 0 all parse, 1 one does not.
set -eu
rc=0
for hook in "${top_srcdir:?}"/contrib/hooks/*; do
	case $hook in */README) continue ;; esac
	if bash -n "$hook"; then
		echo "ok - $(basename "$hook") parses"
	else
		echo "not ok - $(basename "$hook") does not parse"
		rc=1
	fi
done
exit "$rc"
