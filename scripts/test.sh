#!/usr/bin/env bash
# `npm test`: lint and build (side by side), every test on the machine's Node and the default
# transport (uWS), then the tests that start a server again on the ws transport on Node 24 (the
# official binary of the npm package node@24, see .ci/node24; `scripts/test-files.mjs node24` says
# which and why). Node 24 is made ready meanwhile (mostly downloads and copies).
# TEST_NODE24=0 runs the second pass on the machine's Node instead (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
prep=
if [ "${TEST_NODE24:-1}" != 0 ]; then
  prep_log=$(mktemp)
  bash .ci/node24 prepare >"$prep_log" 2>&1 &
  prep=$!
fi
# Lint and build each keep one core busy for about a minute: side by side on two cores.
lint_log=$(mktemp)
npm run lint --silent >"$lint_log" 2>&1 &
lint=$!
rm -rf dist
build=0
npm run build --silent || build=$?
lint_status=0
wait "$lint" || lint_status=$?
cat "$lint_log"
rm -f "$lint_log"
[ "$lint_status" -eq 0 ] || exit "$lint_status"
[ "$build" -eq 0 ] || exit "$build"
if [ -z "$prep" ]; then
  npm run test:all --silent
  npm run test:ws --silent
  exit 0
fi
# shellcheck disable=SC2046 # one file name per line
node --test --test-concurrency=2 $(node scripts/test-files.mjs first)
status=0
wait "$prep" || status=$?
cat "$prep_log"
rm -f "$prep_log"
[ "$status" -eq 0 ] || exit "$status"
bash .ci/node24 test
