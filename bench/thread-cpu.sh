#!/bin/sh
# CPU of each thread of a running process over a window, user and system time as % of one core
# (from /proc/<pid>/task/*/stat), busiest first. Run it beside a bench run on the server's pid:
#   bench/thread-cpu.sh <pid> [seconds]
# The server's threads are all named "node"; the main thread's id is the pid, and the shard
# threads start after the V8 and libuv helpers.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 <pid> [seconds]" >&2; exit 1; }
pid=$1; secs=${2:-5}
snap() {
  for t in /proc/"$pid"/task/*; do
    # utime and stime are fields 14 and 15; fields after the ")" of comm, which may hold spaces.
    printf '%s %s\n' "$(basename "$t")" "$(sed 's/.*) //' "$t/stat" | awk '{print $12, $13}')"
  done | sort
}
hz=$(getconf CLK_TCK)
a=$(snap); sleep "$secs"; b=$(snap)
printf '%s\n' "$a" >"${TMPDIR:-/tmp}/thread-cpu-a.$$"
printf '%s\n' "$b" | join "${TMPDIR:-/tmp}/thread-cpu-a.$$" - |
  awk -v s="$secs" -v hz="$hz" -v main="$pid" '{u=($4-$2)/hz/s*100; y=($5-$3)/hz/s*100; if (u+y>0) printf "%6.1f%%  user %5.1f%%  sys %5.1f%%  thread %s%s\n", u+y, u, y, $1, ($1==main?" (main)":"")}' |
  sort -rn
rm -f "${TMPDIR:-/tmp}/thread-cpu-a.$$"
