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
# Rate limits are off for the run (they have tests of their own): schemathesis sends far
# more requests per conversation than a shopper would, and would otherwise mostly see 429.
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
export BATON_CONFIG="$work/baton.toml"
{
    # Open around the clock, so a handoff is queued whatever the hour of the run.
    printf '[hours.default]\nopen = "00:00"\nclose = "24:00"\n\n'
    echo "[limits]"
    for rate in ip_conversations ip_messages ip_handoffs ip_tickets ip_auth_failures \
        conversation_messages conversation_handoffs conversation_tickets conversation_typing; do
        echo "$rate = { per_minute = 0, burst = 0 }"
    done
} > "$BATON_CONFIG"
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

# Real ids, so that generated requests reach the handlers' logic rather than stopping at 404:
# one conversation for the shopper API, one the agent holds for the agent API, one for the
# admin's "forget", and a FAQ of the sample knowledge base for the FAQ editor.
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }
start_conversation() {
    curl -fsS -X POST "$base/v1/conversations" -H 'content-type: application/json' \
        -d '{"channel":"web","locale":"en"}'
}
shopper=$(start_conversation)
shopper_id=$(echo "$shopper" | json_field conversation_id)
shopper_token=$(echo "$shopper" | json_field token)

held=$(start_conversation)
held_id=$(echo "$held" | json_field conversation_id)
curl -fsS -X POST "$base/v1/agent/status" -H "authorization: Bearer $agent_token" \
    -H 'content-type: application/json' -d '{"status":"online"}' > /dev/null
curl -fsS -X POST "$base/v1/conversations/$held_id/handoff" \
    -H "authorization: Bearer $(echo "$held" | json_field token)" \
    -H 'content-type: application/json' -d '{}' > /dev/null
accepted=""
for _ in $(seq 1 20); do
    answer=$(curl -sS -o /dev/stderr -w '%{http_code}' -X POST \
        "$base/v1/agent/conversations/$held_id/accept" \
        -H "authorization: Bearer $agent_token" 2> "$work/accept.json")
    if [ "$answer" = 200 ]; then
        accepted=yes
        break
    fi
    sleep 0.5
done
if [ -z "$accepted" ]; then
    echo "the agent could not accept the handed-over conversation: $(cat "$work/accept.json")" >&2
    exit 1
fi

forgotten_id=$(start_conversation | json_field conversation_id)
faq_id=$(sed -n 's/^id: *//p' "$(ls kb/*/*.en.md | head -n 1)" | head -n 1)

cat > "$work/schemathesis.toml" <<TOML
[[operations]]
include-path-regex = "^/v1/conversations/"
parameters = { "path.id" = "$shopper_id" }

[[operations]]
include-path-regex = "^/v1/agent/conversations/"
parameters = { "path.id" = "$held_id" }

[[operations]]
include-path-regex = "^/v1/admin/conversations/"
parameters = { "path.id" = "$forgotten_id" }

[[operations]]
include-path-regex = "^/v1/admin/faqs/"
parameters = { "path.id" = "$faq_id", "path.lang" = "en" }
TOML

run() {
    local token=$1
    shift
    "$VENV/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
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
echo "== schemathesis: admin API, quality review and probes (admin token)"
run "$BATON_ADMIN_TOKEN" --include-path-regex '^/(v1/admin/|v1/quality/|healthz|readyz)' || status=1

if [ "$status" -ne 0 ]; then
    echo "schemathesis found problems; the server's log:" >&2
    tail -n 50 "$work/server.log" >&2
fi
exit "$status"
