#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Server load benchmark (not a test): concurrent uploads of realistic 10-second pprof profiles
# with wrk, then render times over 1 h and 24 h of stored data.
#   tools/bench/server-load.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
# Reports uploads/s, p50/p99 latency (wrk --latency), server CPU (s and % of one core) and peak
# RSS, then loads 24 h of data (8640 windows x SERIES hosts, BACKFILL_SECONDS of wrk) and times
# /render over now-1h and now-24h (median of 5, json and svg).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
secs=${2:-20}
conns=${3:-32}
series=${SERIES:-50}
backfill_secs=${BACKFILL_SECONDS:-60}
server=$build/server/pyprof-server
pyprof=$build/collector/pyprof
work=$(mktemp -d /tmp/pyprof-server-load.XXXXXX)
trap 'kill $spid 2>/dev/null || true; wait $spid 2>/dev/null || true; rm -rf "$work"' EXIT

# A realistic 10 s profile at 100 Hz: ~1000 samples over ~150 distinct stacks 8-30 frames deep.
python3 - "$work/p.folded" <<'PY'
import random, sys
r = random.Random(7)
mods = ["app/views.py", "app/models.py", "django/db/models/query.py", "json/decoder.py",
        "app/services/billing.py", "requests/sessions.py", "urllib3/connectionpool.py"]
funcs = ["handle", "get", "filter", "_fetch_all", "execute", "decode", "raw_decode", "compute",
         "render", "send", "urlopen", "_make_request", "serialize", "validate", "__iter__"]
frames = ["%s (%s:%d)" % (r.choice(funcs), r.choice(mods), r.randrange(1, 900)) for _ in range(400)]
lines = {}
for _ in range(150):
    depth = r.randrange(8, 30)
    st = ["<module> (manage.py:22)", "main (manage.py:18)"] + [r.choice(frames) for _ in range(depth)]
    lines[";".join(st)] = lines.get(";".join(st), 0) + r.randrange(1, 14)
with open(sys.argv[1], "w") as f:
    for k, v in lines.items():
        f.write("%s %d\n" % (k, v))
PY
"$pyprof" convert "$work/p.folded" -f pprof -o "$work/p.pb.gz" 2>/dev/null
printf 'profile: %d bytes gzipped pprof, %d stacks, %d samples\n' "$(stat -c %s "$work/p.pb.gz")" \
    "$(wc -l < "$work/p.folded")" "$(awk '{s += $NF} END {print s}' "$work/p.folded")"

"$server" --listen 127.0.0.1:0 --data "$work/data" --quiet --retention 0 --max-disk 0 \
    --retention-interval 5 > "$work/out" 2> "$work/err" &
spid=$!
for _ in $(seq 50); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/out")
cpu() { awk '{print $14 + $15}' "/proc/$spid/stat"; }
tck=$(getconf CLK_TCK)

echo "== live uploads: ${secs}s, $conns connections, $series series"
c0=$(cpu)
BODY=$work/p.pb.gz MODE=live SERIES=$series wrk -t2 -c"$conns" -d"${secs}s" --latency \
    -s "$here/server-load.lua" "$url" | tee "$work/wrk.txt" | grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors' || true
c1=$(cpu)
awk -v a="$c0" -v b="$c1" -v t="$tck" -v s="$secs" 'BEGIN {printf "server CPU: %.1f s (%.0f%% of one core)\n", (b-a)/t, 100*(b-a)/t/s}'
grep -E 'VmHWM|VmRSS' "/proc/$spid/status"

echo "== backfill: 24 h of 10 s windows (${backfill_secs}s of wrk)"
BODY=$work/p.pb.gz MODE=backfill SERIES=$series wrk -t2 -c"$conns" -d"${backfill_secs}s" \
    -s "$here/server-load.lua" "$url" | grep -E 'Requests/sec|requests in' || true
sleep 12   # let the retention pass (every 5 s) compact the roll-ups
curl -s "$url/metrics" | grep -E '^pyprof_store_(disk_bytes|profiles|series)'

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for range in 1h 24h; do
    for fmt in json svg; do
        t=$(for _ in 1 2 3 4 5; do
                curl -s -o /dev/null -w '%{time_total}\n' "$url/render?query=bench.cpu&from=now-$range&until=now&format=$fmt"
            done | median)
        printf 'render %-3s %-4s median %.1f ms\n' "$range" "$fmt" "$(echo "$t * 1000" | bc -l)"
    done
done
grep -E 'VmHWM' "/proc/$spid/status"
