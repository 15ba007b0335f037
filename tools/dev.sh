#!/usr/bin/env bash
# pyprof developer entry point: install what is missing, build, then run the demo or the tests.
#   tools/dev.sh demo   install, build, profile examples/demo.py, show the hottest stacks
#   tools/dev.sh test   install, build, run every test suite; last line: "N passed, N failed, N skipped"
#   tools/dev.sh build  install and build only
# Works on a fresh Debian 12 machine as root (or with sudo available).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PYPROF_BUILD_DIR:-$here/build}
# The gcc -Db_sanitize=address,undefined build that `tools/fuzz.sh --asan-units` makes.
export PYPROF_ASAN_BUILD=${PYPROF_ASAN_BUILD:-/tmp/pyprof-asan-build}
mode=${1:-demo}

apt_packages=(gcc pkg-config meson ninja-build libelf-dev libdw-dev libunwind-dev
              libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev zlib1g-dev python3
              libmicrohttpd-dev libsqlite3-dev libsystemd-dev systemd curl)
# Third-party readers the test suite checks our outputs with.
test_packages=(chromium golang-go golang-github-google-pprof-dev libxml2-utils)
# Fuzzing (tools/fuzz.sh: libFuzzer needs clang and its runtime); memcheck over the unit tests.
test_packages+=(clang libclang-rt-14-dev valgrind)
# Native-stack tests build a C extension for Debian's python3.11 too (tests/functional/test_native.py).
test_packages+=(libpython3.11-dev)

install_missing() {
    local missing=() want=("${apt_packages[@]}")
    [ "$mode" = test ] && want+=("${test_packages[@]}")
    # Node.js usually comes with the machine (nodesource); Debian's own only when there is none.
    [ "$mode" = test ] && ! command -v node >/dev/null && want+=(nodejs npm)
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
}

install_npm() {
    # node and npm may come from the machine rather than apt; skip only if neither exists.
    command -v npm >/dev/null || return 0
    if [ ! -d "$here/tests/formats/node_modules/ajv" ] ||
       [ ! -d "$here/tests/formats/node_modules/playwright-core" ]; then
        echo "== npm install (tests/formats)"
        (cd "$here/tests/formats" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

do_build() {
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$here" --buildtype=debugoptimized
    fi
    ninja -C "$build"
}

do_demo() {
    local out="$build/demo.svg" data="$build/demo-data" port=${PYPROF_DEMO_PORT:-4040} url
    echo "== pyprof record -d 3 -o $out -- python3 examples/demo.py"
    "$build/collector/pyprof" record -d 3 -o "$out" -- python3 "$here/examples/demo.py"
    if [ ! -x "$build/server/pyprof-server" ]; then
        echo "(pyprof-server was not built; the continuous-profiling part of the demo is skipped)"
        return 0
    fi
    url="http://127.0.0.1:$port"
    if ! curl -fsS "$url/healthz" >/dev/null 2>&1; then
        echo "== pyprof-server --listen 127.0.0.1:$port --data $data (left running)"
        mkdir -p "$data"
        nohup "$build/server/pyprof-server" --listen "127.0.0.1:$port" --data "$data" \
            >"$build/demo-server.log" 2>&1 &
        for _ in $(seq 50); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    echo "== pyprof agent --server $url --app demo --window 2s, beside examples/demo.py for 7 s"
    python3 "$here/examples/demo.py" 7 >/dev/null &
    local target=$!
    "$build/collector/pyprof" agent --server "$url" --app demo --pid "$target" --window 2s \
        --state-dir "$build/demo-agent" 2>"$build/demo-agent.log" &
    local agent=$!
    wait "$target" || true
    sleep 1
    kill -TERM "$agent" 2>/dev/null || true
    wait "$agent" 2>/dev/null || true
    sed 's/^/  agent: /' "$build/demo-agent.log"
    echo "== the 5 hottest stacks the server holds for demo.cpu (last 5 minutes):"
    curl -fsS "$url/render?query=demo.cpu&from=now-5m&until=now&format=folded" |
        awk '{print $NF "\t" $0}' | sort -rn | head -n 5 | cut -f2-
    echo
    echo "Flame graph of the recording: $out"
    echo "Server: $url/ (pid $(pgrep -f "pyprof-server --listen 127.0.0.1:$port" | head -1); stop it with kill)"
}

# Run one suite script that ends with "N passed, N failed[, N skipped]"; add its counts.
run_suite() {
    local name=$1 log="$build/$1.log" rc=0 line s t0=$SECONDS
    shift
    echo "== $name"
    "$@" 2>&1 | tee "$log" || rc=$?
    echo "== $name: $((SECONDS - t0)) s"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        echo "FAIL $name: no summary line (exit $rc)"
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + $(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')))
    failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
    s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
    skipped=$((skipped + ${s:-0}))
}

# Run one checker that prints PASS/FAIL/SKIP lines (no summary of its own); add them up.
run_checker() {
    local name=$1 log="$build/$1.log" rc=0 p f s t0=$SECONDS
    shift
    echo "== $name"
    "$@" 2>&1 | tee "$log" || rc=$?
    echo "== $name: $((SECONDS - t0)) s"
    p=$(grep -c '^PASS ' "$log" || true)
    f=$(grep -c '^FAIL ' "$log" || true)
    s=$(grep -c '^SKIP ' "$log" || true)
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exit $rc without reporting a failure"
        f=1
    elif [ $((p + f + s)) -eq 0 ]; then
        echo "FAIL $name: reported no checks"
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# Run a suite (RUNNER run_suite) or a checker (run_checker) against the ASan+UBSan build. Any
# sanitizer report fails it, whatever it made of the exit status (a process killed by the test, an
# expected non-zero exit): every report goes to a file of its own (log_path), and each file found
# afterwards counts as one failure.
run_asan() {
    local runner=$1 name=$2 logs f
    shift 2
    logs=$(mktemp -d)
    "$runner" "$name" env \
        ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:log_path=$logs/asan" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" "$@"
    for f in "$logs"/*; do
        [ -f "$f" ] || continue
        echo "FAIL $name: sanitizer report ${f##*/}:"
        grep -E 'ERROR:|runtime error|SUMMARY:|^ +#[0-9]+ 0x' "$f" | head -n 12
        failed=$((failed + 1))
    done
    rm -rf "$logs"
}
run_asan_suite() { run_asan run_suite "$@"; }
run_asan_checker() { run_asan run_checker "$@"; }

do_test() {
    local log="$build/meson-logs/testlog.json" p f s t0=$SECONDS
    passed=0 failed=0 skipped=0
    install_npm
    echo "== unit tests"
    rm -f "$log"
    meson test -C "$build" --suite unit --print-errorlogs || true
    echo "== unit tests: $((SECONDS - t0)) s"
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
    run_suite functional python3 "$here/tests/functional/run.py" --pyprof "$build/collector/pyprof"
    run_suite formats python3 "$here/tests/formats/run.py" --pyprof "$build/collector/pyprof"
    run_suite views python3 "$here/tests/functional/test_views.py" --pyprof "$build/collector/pyprof"
    run_suite subprocesses python3 "$here/tests/functional/test_subprocesses.py" --pyprof "$build/collector/pyprof"
    run_suite threads python3 "$here/tests/functional/test_threads.py" --pyprof "$build/collector/pyprof"
    run_suite gil python3 "$here/tests/functional/test_gil.py" --pyprof "$build/collector/pyprof"
    run_suite native python3 "$here/tests/functional/test_native.py" --pyprof "$build/collector/pyprof"
    run_suite faults python3 "$here/tests/functional/test_faults.py" --pyprof "$build/collector/pyprof"
    run_suite agent python3 "$here/tests/agent/run.py" --pyprof "$build/collector/pyprof" \
        --server "$build/server/pyprof-server"
    if [ -x "$build/server/pyprof-server" ]; then
        run_suite server python3 "$here/tests/server/run.py" --server "$build/server/pyprof-server" \
            --pyprof "$build/collector/pyprof"
        local web_work
        web_work=$(mktemp -d)
        run_checker web python3 "$here/tests/server/check_web.py" \
            --server "$build/server/pyprof-server" --work "$web_work"
        rm -rf "$web_work"
    else
        echo "SKIP server: pyprof-server was not built (libmicrohttpd-dev / libsqlite3-dev missing)"
        skipped=$((skipped + 1))
    fi
    # Hostile input: every fuzz target 10 s (SKIP without clang/libclang-rt-14-dev), then the unit
    # tests again in a gcc -Db_sanitize=address,undefined build (separate build dirs in /tmp).
    run_checker fuzz "$here/tools/fuzz.sh" --seconds 10 --report
    run_checker asan "$here/tools/fuzz.sh" --asan-units
    # The suites that run our binaries, again against that ASan+UBSan build (~4.5 minutes): the
    # functional suite with one interpreter per frame model (3.10 heap frames, 3.12 datastack
    # chunks), the formats suite, the server suite, the web page, the agent suite.
    local abin=$PYPROF_ASAN_BUILD pys="" v p
    if [ -x "$abin/collector/pyprof" ]; then
        for v in 3.10 3.12; do
            p=$(pyenv prefix "$v" 2>/dev/null)/bin/python3 && [ -x "$p" ] && pys+="$p "
        done
        if [ -n "$pys" ]; then
            PYPROF_TEST_PYTHONS=$pys run_asan_suite asan-functional \
                python3 "$here/tests/functional/run.py" --pyprof "$abin/collector/pyprof"
            # The other collector suites, on the newest of those (the chunked frame model): dump,
            # top, -s, thread names and the GIL, native stacks. views picks its own three.
            local s newest=""
            for p in $pys; do newest=$p; done
            for s in views subprocesses threads gil native; do
                PYPROF_TEST_PYTHONS=$newest run_asan_suite "asan-$s" \
                    python3 "$here/tests/functional/test_$s.py" --pyprof "$abin/collector/pyprof"
            done
            # Faults on both frame models (torn walks differ most between them), and exec-python
            # needs a second version to exec into.
            PYPROF_TEST_PYTHONS=$pys run_asan_suite asan-faults \
                python3 "$here/tests/functional/test_faults.py" --pyprof "$abin/collector/pyprof"
        else
            echo "SKIP asan-functional: pyenv has neither 3.10 nor 3.12"
            skipped=$((skipped + 1))
        fi
        # Every output format read back by third-party readers (record picks its own interpreter).
        run_asan_suite asan-formats python3 "$here/tests/formats/run.py" \
            --pyprof "$abin/collector/pyprof"
        if [ -x "$abin/server/pyprof-server" ]; then
            run_asan_suite asan-server python3 "$here/tests/server/run.py" \
                --server "$abin/server/pyprof-server" --pyprof "$abin/collector/pyprof"
            local asan_web_work
            asan_web_work=$(mktemp -d)
            run_asan_checker asan-web python3 "$here/tests/server/check_web.py" \
                --server "$abin/server/pyprof-server" --work "$asan_web_work"
            rm -rf "$asan_web_work"
            run_asan_suite asan-agent python3 "$here/tests/agent/run.py" \
                --pyprof "$abin/collector/pyprof" --server "$abin/server/pyprof-server"
        else
            echo "SKIP asan-server, asan-web, asan-agent: the ASan build has no pyprof-server"
            skipped=$((skipped + 3))
        fi
    else
        echo "SKIP asan-functional, asan-formats, asan-server, asan-web, asan-agent: no ASan build" \
             "(see the asan checker)"
        skipped=$((skipped + 5))
    fi
    # valgrind memcheck over the unit tests of the normal build: no leaks, no invalid accesses.
    run_checker valgrind "$here/tools/fuzz.sh" --valgrind-units "$build"
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
