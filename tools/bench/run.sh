#!/usr/bin/env bash
# pyprof benchmark suite, side by side with Debian's austin 1.0.1.  A measurement, not a test.
#   tools/bench/run.sh --quick     about 7 minutes: CPython 3.9 and 3.12, 2 repeats
#   tools/bench/run.sh             about 45 minutes: every installed CPython 3.8-3.13 (+ Debian 3.11)
# Other options are passed to run.py (see tools/bench/run.py --help).  Results go to
# tools/bench/results/<date>-<host>[-quick].{md,json,png}.  Run it on an otherwise quiet machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
missing=()
command -v austin >/dev/null || missing+=(austin)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
command -v valgrind >/dev/null || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "== installing: ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi
pyprof=${PYPROF:-}
if [ -z "$pyprof" ]; then
    "$root/tools/dev.sh" build
    pyprof=${PYPROF_BUILD_DIR:-$root/build}/collector/pyprof
fi
exec python3 "$here/run.py" --pyprof "$pyprof" "$@"
