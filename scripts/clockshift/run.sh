#!/usr/bin/env bash
# Run a command (default: the README's test command) with the wall clock moved by OFFSET,
# e.g. `scripts/clockshift/run.sh +6y` or `scripts/clockshift/run.sh -4y -- pytest tests/core`.
# OFFSET: [+-]N followed by y (365 days), d, h or s. Monotonic time, sleeps and timeouts are
# untouched (see clockshift.c for why not libfaketime). Subprocesses inherit the shift.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
offset="${1:?usage: run.sh OFFSET [-- command ...], OFFSET like +6y or -400d}"; shift
[ "${1:-}" = "--" ] && shift
case "$offset" in
  *y) unit=31536000 ;; *d) unit=86400 ;; *h) unit=3600 ;; *s) unit=1 ;;
  *) echo "run.sh: bad offset '$offset' (want e.g. +6y, -400d)" >&2; exit 2 ;;
esac
number="${offset%?}"
seconds=$(( number * unit ))
lib="${TMPDIR:-/tmp}/annosync-clockshift-$(id -u).so"
gcc -shared -fPIC -O2 -Wall -Werror -o "$lib" "$here/clockshift.c" -ldl
if [ "$#" -eq 0 ]; then
  set -- "$root/.venv/bin/python" -m pytest -n 2 -p no:cacheprovider
fi
echo "clockshift: wall clock moved by $offset ($seconds s): $(CLOCKSHIFT_SECONDS=$seconds LD_PRELOAD=$lib date -u)" >&2
cd "$root"
CLOCKSHIFT_SECONDS=$seconds LD_PRELOAD="$lib" exec "$@"
