#!/usr/bin/env bash
# Record the walk test images: for each CPython VERSION (default 3.9 3.10 3.11 3.12 3.13, from
# `pyenv prefix`), run tools/memimage_target.py, record it with the memimage tool into
# tests/fuzz/corpus/walk/py3.X.img.gz, and write the stacks the tool saw (live, full image and
# trimmed image agreeing) to tests/fuzz/walk-expected/py3.X.folded. Review the .folded diffs
# against the "# L:" lines of memimage_target.py before committing them.
#   tools/memimage-record.sh [-b BUILD_DIR] [VERSION...]    (BUILD_DIR default: build)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$here/build
if [ "${1:-}" = -b ]; then build=$2; shift 2; fi
[ $# -gt 0 ] || set -- 3.9 3.10 3.11 3.12 3.13
tool=$build/tests/memimage
if [ ! -x "$tool" ]; then
    echo "memimage-record: $tool not built (ninja -C $build tests/memimage)" >&2
    exit 1
fi
mkdir -p "$here/tests/fuzz/corpus/walk" "$here/tests/fuzz/walk-expected"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for v in "$@"; do
    py=$(pyenv prefix "$v")/bin/python3
    ready=$work/ready-$v
    "$py" "$here/tools/memimage_target.py" "$ready" &
    target=$!
    for _ in $(seq 100); do [ -f "$ready" ] && break; sleep 0.1; done
    if [ ! -f "$ready" ] ||
       ! "$tool" --pid "$target" -o "$here/tests/fuzz/corpus/walk/py$v.img.gz" \
            >"$here/tests/fuzz/walk-expected/py$v.folded"; then
        echo "memimage-record: $v failed" >&2
        kill "$target" 2>/dev/null || true
        exit 1
    fi
    kill "$target"
    wait "$target" 2>/dev/null || true
    echo "py$v: $(stat -c %s "$here/tests/fuzz/corpus/walk/py$v.img.gz") bytes"
done
