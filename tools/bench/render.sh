#!/usr/bin/env bash
# Render benchmark (not a test): folded -> each output format on a large generated input.
# Reports MB/s of folded input per format (median of N interleaved runs) and peak RSS.
#   tools/bench/render.sh [PYPROF] [RUNS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pyprof=${1:-$here/../../build/collector/pyprof}
runs=${2:-5}
work=${PYPROF_BENCH_DIR:-/tmp/pyprof-bench}
mkdir -p "$work"
input="$work/big.folded"
[ -f "$input" ] || python3 "$here/gen-folded.py" "$input"
size=$(stat -c %s "$input")
stacks=$(wc -l < "$input")
formats=(flamegraph folded pprof speedscope chrometrace)
declare -A secs rss
for ((i = 0; i < runs; i++)); do
    # Interleave formats, in a rotated order each round, so drift hits them all alike.
    for ((j = 0; j < ${#formats[@]}; j++)); do
        f=${formats[$(((i + j) % ${#formats[@]}))]}
        out=$( { /usr/bin/time -f '%e %M' "$pyprof" convert "$input" -f "$f" -o "$work/out.$f" >/dev/null; } 2>&1 | tail -n 1)
        secs[$f]="${secs[$f]:-} ${out%% *}"
        rss[$f]="${rss[$f]:-} ${out##* }"
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf 'input: %s (%.1f MB, %d distinct stacks), %d runs each\n' "$input" "$(echo "$size/1000000" | bc -l)" "$stacks" "$runs"
printf '| format | median s | MB/s | peak RSS MB | output MB |\n|---|---|---|---|---|\n'
for f in "${formats[@]}"; do
    s=$(echo "${secs[$f]}" | median)
    m=$(echo "${rss[$f]}" | median)
    o=$(stat -c %s "$work/out.$f")
    printf '| %s | %.2f | %.0f | %.0f | %.1f |\n' "$f" "$s" "$(echo "$size/1000000/$s" | bc -l)" "$(echo "$m/1024" | bc -l)" "$(echo "$o/1000000" | bc -l)"
done
