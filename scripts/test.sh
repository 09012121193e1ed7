#!/usr/bin/env bash
# `npm test`: lint, build, every test on the machine's Node and the default transport (uWS), then
# the tests that start a server again on the ws transport on Node 24 (the official binary of the
# npm package node@24, see .ci/node24; `scripts/test-files.mjs node24` says which and why). Node 24
# is made ready while the first pass runs (mostly downloads and copies).
# TEST_NODE24=0 runs the second pass on the machine's Node instead (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run lint --silent
prep=
if [ "${TEST_NODE24:-1}" != 0 ]; then
  prep_log=$(mktemp)
  bash .ci/node24 prepare >"$prep_log" 2>&1 &
  prep=$!
fi
rm -rf dist
npm run build --silent
npm run test:all --silent
if [ -z "$prep" ]; then
  npm run test:ws --silent
  exit 0
fi
status=0
wait "$prep" || status=$?
cat "$prep_log"
rm -f "$prep_log"
[ "$status" -eq 0 ] || exit "$status"
bash .ci/node24 test
