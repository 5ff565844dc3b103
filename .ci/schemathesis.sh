#!/usr/bin/env bash
# Fuzzes a running Baton against its own OpenAPI document (GET /openapi.json) with
# schemathesis: any 5xx answer, or any response that does not match the documented schema,
# fails the run.
#
# Starts `baton serve` on a free port with a temporary data directory and copies of kb/ and
# intents/ (the admin API edits FAQ files), adds an agent with the CLI and starts a
# conversation, then runs schemathesis once per principal: the shopper API with the
# conversation's token, the agent API with the agent's token, the admin API and the probes
# with the admin token. The server is stopped and the temporary files removed on exit.
#
#   .ci/schemathesis.sh [path/to/baton]     (default: target/debug/baton, built if missing)
#
# SCHEMATHESIS_MAX_EXAMPLES (default 20) bounds the test cases per operation and phase.
set -euo pipefail
cd "$(dirname "$0")/.."

BATON=${1:-target/debug/baton}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-20}
VENV=${SCHEMATHESIS_VENV:-target/schemathesis-venv}
SCHEMATHESIS_VERSION=4.32.5

if [ ! -x "$BATON" ]; then
    cargo build --bin baton
fi

if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cp -r kb "$work/kb"
cp -r intents "$work/intents"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

export BATON_DATA_DIR="$work/data"
export BATON_KB="$work/kb"
export BATON_INTENTS="$work/intents"
export BATON_ADMIN_TOKEN="schemathesis-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
export BATON_LOG=${BATON_LOG:-warn}

# The agent goes in before the server starts, through the same store.
agent_token=$("$BATON" agent add --name fuzz-agent --skills general,orders,after_sales,billing,shipping,account,complaints | tail -n 1)

"$BATON" serve --addr "127.0.0.1:$port" > "$work/server.log" 2>&1 &
server=$!

# The first start trains the classifier; give it time.
for _ in $(seq 1 300); do
    if curl -fsS "$base/readyz" > /dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "baton exited during start-up:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 1
done
curl -fsS "$base/readyz" > /dev/null

shopper_token=$(curl -fsS -X POST "$base/v1/conversations" -H 'content-type: application/json' \
    -d '{"channel":"web","locale":"en"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')

run() {
    local token=$1
    shift
    "$VENV/bin/schemathesis" run "$base/openapi.json" \
        --checks not_a_server_error,response_schema_conformance \
        --phases examples,coverage,fuzzing \
        --max-examples "$MAX_EXAMPLES" \
        --seed 1 \
        --no-color \
        --suppress-health-check all \
        --generation-database none \
        -H "Authorization: Bearer $token" \
        "$@"
}

status=0
echo "== schemathesis: shopper API (conversation token)"
run "$shopper_token" --include-path-regex '^/v1/conversations' || status=1
echo "== schemathesis: agent API (agent token)"
run "$agent_token" --include-path-regex '^/v1/agent/' || status=1
echo "== schemathesis: admin API and probes (admin token)"
run "$BATON_ADMIN_TOKEN" --include-path-regex '^/(v1/admin/|healthz|readyz)' || status=1

if [ "$status" -ne 0 ]; then
    echo "schemathesis found problems; the server's log:" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
