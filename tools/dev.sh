#!/usr/bin/env bash
# pyprof developer entry point: install what is missing, build, then run the demo or the tests.
#   tools/dev.sh demo   install, build, profile examples/demo.py, show the hottest stacks
#   tools/dev.sh test   install, build, run every test suite; last line: "N passed, N failed, N skipped"
#   tools/dev.sh build  install and build only
# Works on a fresh Debian 12 machine as root (or with sudo available).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PYPROF_BUILD_DIR:-$here/build}
mode=${1:-demo}

apt_packages=(gcc pkg-config meson ninja-build libelf-dev libdw-dev libunwind-dev
              libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev zlib1g-dev python3)

install_missing() {
    local missing=()
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
}

do_build() {
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$here" --buildtype=debugoptimized
    fi
    ninja -C "$build"
}

do_demo() {
    local out="$build/demo.folded"
    echo "== pyprof record -d 3 -o $out -- python3 examples/demo.py"
    "$build/collector/pyprof" record -d 3 -o "$out" -- python3 "$here/examples/demo.py"
    echo "== the 5 hottest stacks (root first, sample count last):"
    awk '{print $NF "\t" $0}' "$out" | sort -rn | head -n 5 | cut -f2-
}

do_test() {
    local passed=0 failed=0 skipped=0 log="$build/meson-logs/testlog.json"
    echo "== unit tests"
    meson test -C "$build" --suite unit --print-errorlogs || true
    if [ -f "$log" ]; then
        read -r p f s < <(python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r == "OK": p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
)
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    else
        failed=$((failed + 1))
    fi
    echo "== functional tests"
    local flog="$build/functional.log" rc=0
    python3 "$here/tests/functional/run.py" --pyprof "$build/collector/pyprof" 2>&1 | tee "$flog" || rc=$?
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$flog" | tail -n 1 || true)
    if [ -n "$line" ]; then
        passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
        failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
        s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p'); skipped=$((skipped + ${s:-0}))
    else
        failed=$((failed + 1))
    fi
    [ "$rc" -ne 0 ] && [ -z "$line" ] && failed=$((failed + 1))
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
}

install_missing
do_build
case "$mode" in
    demo) do_demo ;;
    test) do_test ;;
    build) ;;
    *) echo "usage: $0 demo|test|build" >&2; exit 64 ;;
esac
