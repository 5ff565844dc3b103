#!/usr/bin/env bash
# Runs the parsers' property tests (every test named fuzz_*) again and again, each round with
# a fresh random seed and PROPTEST_CASES cases per property, until SECONDS have passed; then
# prints the rounds, the inputs tried and the failures. A failing round keeps its output
# (and proptest records the seed under proptest-regressions/).
#
#   .ci/fuzz-for.sh 3600                 # one hour
#   PROPTEST_CASES=20000 .ci/fuzz-for.sh 600
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-3600}
cases=${PROPTEST_CASES:-10000}
log_dir=${FUZZ_LOG_DIR:-target/fuzz-for}
mkdir -p "$log_dir"

# Build once; the loop then runs the test binary itself (no cargo, no build lock held).
# FUZZ_BINARY names an already built one instead.
binary=${FUZZ_BINARY:-$(cargo test --lib --no-run --message-format=json 2> /dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])')}
if [ -z "$binary" ]; then
    echo "the lib tests do not build" >&2
    exit 1
fi
properties=$("$binary" --list fuzz_ 2> /dev/null | grep -c ': test$')

end=$((SECONDS + seconds))
rounds=0
failures=0
while [ "$SECONDS" -lt "$end" ]; do
    rounds=$((rounds + 1))
    if ! PROPTEST_CASES="$cases" "$binary" -q fuzz_ --test-threads=1 \
        > "$log_dir/round-$rounds.log" 2>&1; then
        failures=$((failures + 1))
        echo "round $rounds failed: $log_dir/round-$rounds.log" >&2
    else
        rm -f "$log_dir/round-$rounds.log"
    fi
done
echo "rounds=$rounds properties=$properties cases_per_property=$cases" \
    "inputs=$((rounds * properties * cases)) failed_rounds=$failures seconds=$SECONDS"
[ "$failures" -eq 0 ]
