#!/usr/bin/env bash
# Fuzz the parsers of untrusted bytes (libFuzzer, tests/fuzz/fuzz-*.c), and run the unit tests
# under ASan/UBSan or valgrind.
#   tools/fuzz.sh [--seconds N] [--report] [TARGET...]   fuzz each TARGET (default: all) N s
#   tools/fuzz.sh --asan-units                           unit suite in a gcc ASan+UBSan build
#   tools/fuzz.sh --valgrind-units BUILD_DIR             unit suite of BUILD_DIR under memcheck
#   tools/fuzz.sh --list                                 print the target names
# Fuzz build dir: $PYPROF_FUZZ_BUILD (default /tmp/pyprof-fuzz-build), configured with clang,
# -Dfuzz=true -Db_sanitize=address,undefined. Seeds: tests/fuzz/corpus/TARGET/ (copied into a
# scratch corpus per run; *.img.gz memory images are gunzipped there; tests/fuzz/gen-corpus.py
# and tools/memimage-record.sh write some of them); crashes found earlier:
# tests/fuzz/regressions/TARGET/ (replayed first).
# Prints one line per target: "PASS fuzz-T: N execs in S s", "FAIL fuzz-T: ..." or "SKIP ...";
# (--report: only those lines and failure details.) With --asan-units one "PASS|FAIL|SKIP
# asan-TEST" line per unit test; with --valgrind-units one "PASS|FAIL|SKIP valgrind-TEST" line
# (a definite, indirect or possible leak is a failure). Exits 1 on any failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fbuild=${PYPROF_FUZZ_BUILD:-/tmp/pyprof-fuzz-build}
abuild=${PYPROF_ASAN_BUILD:-/tmp/pyprof-asan-build}
# Seconds one input may run before it counts as a hang. The clock is wall time: a long run at
# nice 19 on a busy machine can be starved that long without any bug (PYPROF_FUZZ_TIMEOUT=60).
timeout=${PYPROF_FUZZ_TIMEOUT:-10}

# A build dir configured from another checkout would test that checkout: start it afresh.
for b in "$fbuild" "$abuild"; do
    if [ -f "$b/meson-info/meson-info.json" ] &&
       ! grep -q "\"source\": \"$here\"" "$b/meson-info/meson-info.json"; then
        rm -rf "$b"
    fi
done
seconds=60 report=0 asan=0 list=0 valgrind="" targets=()

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --seconds=*) seconds=${1#*=}; shift ;;
        --report) report=1; shift ;;
        --asan-units) asan=1; shift ;;
        --list) list=1; shift ;;
        --valgrind-units) valgrind=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 64 ;;
        *) targets+=("$1"); shift ;;
    esac
done

all_targets() {
    local f
    for f in "$here"/tests/fuzz/fuzz-*.c; do
        f=${f##*/fuzz-}; echo "${f%.c}"
    done
}

log() { [ "$report" -eq 1 ] || echo "$@"; }

# One "PASS|FAIL|SKIP PREFIX-TEST" line per test of a meson test log; exits 1 if any failed.
report_testlog() {
    python3 - "$1" "$2" <<'PY'
import json, sys
prefix, bad = sys.argv[1], 0
for line in open(sys.argv[2]):
    r = json.loads(line)
    name, res = r["name"].split(" / ")[-1], r["result"]
    if res == "OK":
        print(f"PASS {prefix}-{name}")
    elif res == "SKIP":
        print(f"SKIP {prefix}-{name}")
    else:
        bad += 1
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
        why = [l for l in out.splitlines() if "ERROR: AddressSanitizer" in l or "runtime error" in l
               or "ERROR: LeakSanitizer" in l or "SUMMARY:" in l or "lost in" in l
               or "Invalid " in l or "uninitialised" in l or "ERROR SUMMARY" in l][:3]
        print(f"FAIL {prefix}-{name}: {res}" + (": " + " | ".join(why) if why else ""))
sys.exit(1 if bad else 0)
PY
}

# ---- ASan/UBSan unit tests (gcc) ----------------------------------------------------------------
do_asan_units() {
    local out rc=0
    if ! command -v gcc >/dev/null; then
        echo "SKIP asan-units: gcc not installed"; return 0
    fi
    if ! echo 'int main(void){return 0;}' |
         gcc -fsanitize=address,undefined -x c - -o "${TMPDIR:-/tmp}/pp-asan-probe.$$" 2>/dev/null; then
        echo "SKIP asan-units: gcc cannot link -fsanitize=address,undefined (libasan/libubsan missing)"
        return 0
    fi
    rm -f "${TMPDIR:-/tmp}/pp-asan-probe.$$"
    if [ ! -f "$abuild/build.ninja" ]; then
        out=$(CC=gcc meson setup "$abuild" "$here" --buildtype=debug \
              -Db_sanitize=address,undefined -Db_lundef=false 2>&1) || {
            echo "$out" | tail -n 20
            echo "FAIL asan-units: meson setup failed"; return 1; }
    fi
    out=$(ninja -C "$abuild" 2>&1) || {
        echo "$out" | grep -E 'error|FAILED' | head -n 20
        echo "FAIL asan-units: build failed"; return 1; }
    rm -f "$abuild/meson-logs/testlog.json"
    meson test -C "$abuild" --suite unit --no-rebuild --print-errorlogs --timeout-multiplier 4 \
        >"$abuild/asan-units.log" 2>&1 || rc=$?
    if [ ! -f "$abuild/meson-logs/testlog.json" ]; then
        tail -n 20 "$abuild/asan-units.log"
        echo "FAIL asan-units: meson test wrote no log (exit $rc)"; return 1
    fi
    report_testlog asan "$abuild/meson-logs/testlog.json"
}

# ---- valgrind memcheck over the unit tests of an existing build --------------------------------
do_valgrind_units() {
    local b=$1 rc=0 vg log skip=store tests
    if ! command -v valgrind >/dev/null; then
        echo "SKIP valgrind-units: valgrind not installed (apt-get install valgrind)"; return 0
    fi
    if [ ! -f "$b/build.ninja" ]; then
        echo "FAIL valgrind-units: $b is not a meson build dir"; return 1
    fi
    # Still-reachable blocks (globals, libc/sqlite caches) are not leaks; everything else is.
    vg="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible"
    vg+=" --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1"
    # Left out, with a SKIP line: store (SQLite's B-tree work takes ~5 minutes under memcheck;
    # the asan-units run covers it).
    mapfile -t tests < <(meson test -C "$b" --suite unit --list 2>/dev/null |
                         sed -nE 's#^.* / ([^ ]+)$#\1#p' | grep -vxE "$skip")
    rm -f "$b"/meson-logs/vg-*.json
    meson test -C "$b" --suite unit --no-rebuild --print-errorlogs --timeout-multiplier 10 \
        --logbase vg --wrap="$vg" "${tests[@]}" >"$b/valgrind-units.log" 2>&1 || rc=$?
    log=$(ls "$b"/meson-logs/vg-*.json 2>/dev/null | head -n 1)
    if [ -z "$log" ]; then
        tail -n 20 "$b/valgrind-units.log"
        echo "FAIL valgrind-units: meson test wrote no log (exit $rc)"; return 1
    fi
    echo "SKIP valgrind-$skip: ~5 minutes under memcheck (asan-$skip runs it)"
    report_testlog valgrind "$log"
}

# ---- libFuzzer ----------------------------------------------------------------------------------
fuzz_probe() {
    local probe="${TMPDIR:-/tmp}/pp-fuzz-probe.$$"
    command -v clang >/dev/null || { why="clang not installed"; return 1; }
    if ! printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' |
         clang -fsanitize=fuzzer,address,undefined -x c - -o "$probe" 2>/dev/null; then
        why="clang cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing)"; return 1
    fi
    rm -f "$probe"
}

fuzz_build() {
    local out t ninja_targets=()
    if [ ! -f "$fbuild/build.ninja" ]; then
        out=$(CC=clang meson setup "$fbuild" "$here" --buildtype=debugoptimized -Dfuzz=true \
              -Db_sanitize=address,undefined -Db_lundef=false \
              -Dc_args=-fsanitize=fuzzer-no-link -Dtrace_errors=false 2>&1) || {
            echo "$out" | tail -n 20; why="meson setup failed"; return 1; }
    fi
    # Only the targets meson defined (labels, ingest, multipart, speedscope and query need the
    # server's libraries).
    defined=$(ninja -C "$fbuild" -t targets all 2>/dev/null |
              sed -nE 's#^tests/fuzz/(fuzz-[a-z0-9_-]+): .*#\1#p' | sort -u)
    for t in "${targets[@]}"; do
        grep -qx "fuzz-$t" <<<"$defined" && ninja_targets+=("tests/fuzz/fuzz-$t")
    done
    [ ${#ninja_targets[@]} -eq 0 ] && return 0
    out=$(ninja -C "$fbuild" "${ninja_targets[@]}" 2>&1) || {
        echo "$out" | grep -E 'error|FAILED' | head -n 20; why="build failed"; return 1; }
}

# Replay tests/fuzz/regressions/T/* (crashes found before): each must now run clean.
fuzz_regressions() {
    local t=$1 exe=$2 dir="$here/tests/fuzz/regressions/$1" f n=0 out
    [ -d "$dir" ] || return 0
    for f in "$dir"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        if ! out=$("$exe" -runs=1 -timeout=10 -rss_limit_mb=2048 "$f" 2>&1); then
            echo "$out" | grep -E 'ERROR:|SUMMARY:|#[0-9]+ 0x' | head -n 12
            echo "FAIL fuzz-$t: regression ${f#"$here"/} crashes again"
            return 1
        fi
    done
    log "fuzz-$t: $n regression inputs replayed clean"
}

fuzz_one() {
    local t=$1 exe="$fbuild/tests/fuzz/fuzz-$t" work flog rc=0 execs secs art
    if [ ! -x "$exe" ]; then
        echo "SKIP fuzz-$t: not built (needs the server's libraries: libmicrohttpd-dev, libsqlite3-dev)"
        return 0
    fi
    fuzz_regressions "$t" "$exe" || return 1
    work=$(mktemp -d "$fbuild/run-$t.XXXXXX")
    mkdir -p "$work/corpus" "$fbuild/artifacts/$t"
    [ -d "$here/tests/fuzz/corpus/$t" ] && cp -r "$here/tests/fuzz/corpus/$t/." "$work/corpus/"
    # Memory images (fuzz-walk) are stored gzipped; the target reads them raw.
    for f in "$work/corpus"/*.img.gz; do
        [ -f "$f" ] && gzip -d "$f"
    done
    flog="$fbuild/fuzz-$t.log"
    log "== fuzz-$t: ${seconds}s, log $flog"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$timeout" -print_final_stats=1 \
        -artifact_prefix="$fbuild/artifacts/$t/" "$work/corpus" >"$flog" 2>&1 || rc=$?
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$flog" | tail -n 1)
    secs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\2/p' "$flog" | tail -n 1)
    [ -n "${PYPROF_FUZZ_KEEP_CORPUS:-}" ] || rm -rf "$work"
    if [ "$rc" -ne 0 ]; then
        art=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$flog" | tail -n 1)
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY:|^ +#[0-9]+ 0x' \
            "$flog" | head -n 16
        if [ -n "$art" ] && [ -f "$art" ]; then
            echo "input ($(stat -c %s "$art") bytes): $(head -c 256 "$art" | od -An -tx1 | tr -d ' \n')"
        fi
        echo "FAIL fuzz-$t: crash after ${execs:-?} execs (exit $rc); input $art; log $flog"
        return 1
    fi
    echo "PASS fuzz-$t: ${execs:-?} execs in ${secs:-$seconds} s"
}

do_fuzz() {
    local t why="" fails=0
    [ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(all_targets)
    for t in "${targets[@]}"; do
        [ -f "$here/tests/fuzz/fuzz-$t.c" ] || { echo "FAIL fuzz-$t: no tests/fuzz/fuzz-$t.c"; return 1; }
    done
    if ! fuzz_probe || ! fuzz_build; then
        case "$why" in
            clang*) for t in "${targets[@]}"; do echo "SKIP fuzz-$t: $why"; done; return 0 ;;
            *) echo "FAIL fuzz: $why"; return 1 ;;
        esac
    fi
    for t in "${targets[@]}"; do
        fuzz_one "$t" || fails=$((fails + 1))
    done
    [ "$fails" -eq 0 ]
}

if [ "$list" -eq 1 ]; then all_targets; exit 0; fi
if [ "$asan" -eq 1 ]; then do_asan_units; exit; fi
if [ -n "$valgrind" ]; then do_valgrind_units "$valgrind"; exit; fi
do_fuzz
