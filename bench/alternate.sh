#!/bin/sh
# Runs one bench scenario on two builds of cartwire in turn (before, after, before, after, ...),
# so that both see the same background load on a shared machine; compare the ratios of runs
# next to each other, not absolute figures. Each run's summary lines are printed with the time
# and the load average before it; the full output of each run is kept in $OUT (default /tmp).
#
#   bench/alternate.sh <before-dir> <after-dir> <rounds> <scenario> [bench options...]
#   bench/alternate.sh /work/cartwire-old . 3 cart-mix --duration 10
#
# Both directories need a build (npm run build); the runs use `node dist/bench/cli.js`.
# BEFORE_ARGS and AFTER_ARGS add options to one side only, so one build can be compared with
# itself under another setting:
#   BEFORE_ARGS="--server-env COMMIT_WINDOW_US=0" bench/alternate.sh . . 3 cart-mix --rate 20000
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 4 ] || { echo "usage: $0 <before-dir> <after-dir> <rounds> <scenario> [options...]" >&2; exit 1; }
before=$1; after=$2; rounds=$3; shift 3
out=${OUT:-/tmp}/alternate-$1-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
i=1
while [ "$i" -le "$rounds" ]; do
  for side in before after; do
    if [ "$side" = before ]; then dir=$before; extra=${BEFORE_ARGS:-}; else dir=$after; extra=${AFTER_ARGS:-}; fi
    log=$out/$side-$i.txt
    printf '%s run %d %s, %s\n' "$side" "$i" "$(date -u +%H:%M:%S)" "$(uptime | sed 's/.*load average/load average/')"
    (cd "$dir" && node dist/bench/cli.js "$@" $extra --no-report --no-progress --results-dir "$out/results-$side") >"$log" 2>&1 || echo "  (exit $?)"
    grep -E 'ops/s|sold out|oversold|rows/commit' "$log" | grep -v '^[┌├└│]' | sed 's/^/  /' || true
    # Each measured step: ops/s, p99, main thread and whole server CPU per answer, the rest of the machine.
    res=$(sed -n 's/^results: //p' "$log" | tail -1)
    [ -n "$res" ] && node "$here/dist/bench/step-lines.js" "$res" || true
  done
  i=$((i + 1))
done
echo "logs: $out"
