#!/bin/sh
# Runs the scenarios that carry cartwire's speed and memory goals, round after round (each
# scenario once per round, so that every scenario sees the machine's background load of the
# whole session), and prints for each run the time, the load average before it and the run's
# ratio table (each goal with its value and whether it was met). The full output of each run is
# kept in $OUT (default /tmp); the runs' result.json files are under its results/.
#
#   bench/goals.sh [rounds] [scenario...]      (default: 3 rounds of every goal scenario)
#   GOALS_MEMORY=1 bench/goals.sh 1            (also the 1,000,000-cart memory run, ~10 min)
#   bench/goals.sh 5 flash-sale checkout
#
# Needs a build (npm run build); the Redis peers' redis-server is installed by bench/setup.sh.
set -eu
cd "$(dirname "$0")/.."
sh bench/setup.sh
rounds=${1:-3}
[ $# -gt 0 ] && shift
out=${OUT:-/tmp}/goals-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"

# name|arguments of `node dist/bench/cli.js`
all='cart-mix|cart-mix --peers all
cart-mix-rate|cart-mix --rate 20000
checkout|checkout
flash-sale|flash-sale
push-fanout|push-fanout'
[ "${GOALS_MEMORY:-0}" = 1 ] && all="$all
memory|memory"
if [ $# -gt 0 ]; then
  picked=''
  for want in "$@"; do
    line=$(printf '%s\n' "$all" | grep "^$want|" || true)
    [ -n "$line" ] || { echo "unknown scenario: $want (one of: $(printf '%s\n' "$all" | cut -d'|' -f1 | tr '\n' ' '))" >&2; exit 2; }
    picked="$picked$line
"
  done
  all=$picked
fi

i=1
while [ "$i" -le "$rounds" ]; do
  printf '%s\n' "$all" | while IFS='|' read -r name args; do
    [ -n "$name" ] || continue
    log=$out/$name-$i.txt
    printf '%s round %d %s, %s\n' "$name" "$i" "$(date -u +%H:%M:%S)" "$(uptime | sed 's/.*load average/load average/')"
    # shellcheck disable=SC2086 # the arguments are words
    node dist/bench/cli.js $args --no-report --no-progress --results-dir "$out/results" </dev/null >"$log" 2>&1 || echo "  (exit $?)"
    # The ratio table (each goal, its value and whether it was met), then each step's figures.
    awk '/│ ratio /{on=1} on&&/^│/{print "  " $0} on&&/^└/{on=0}' "$log"
    res=$(sed -n 's/^results: //p' "$log" | tail -1)
    [ -n "$res" ] && node dist/bench/step-lines.js "$res" || true
  done
  i=$((i + 1))
done
echo "logs: $out"
