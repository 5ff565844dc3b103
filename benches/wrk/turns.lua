-- wrk script for benches/wrk/run.py: every request is one shopper turn, a FAQ phrasing
-- (Chinese or English) posted to one of the conversations run.py opened, with a fresh
-- client_msg_id. Conversations and phrasings come from the Lua files run.py writes
-- (WRK_CONVERSATIONS, WRK_PHRASINGS); WRK_RUN keeps the ids of a warm-up and the measured
-- run apart; WRK_THREADS is wrk's `-t`. `done` prints one JSON line that run.py reads.

local conversations = dofile(os.getenv("WRK_CONVERSATIONS"))
local phrasings = dofile(os.getenv("WRK_PHRASINGS"))
local run = os.getenv("WRK_RUN") or "run"
local thread_count = tonumber(os.getenv("WRK_THREADS") or "1")

local started = 0

function setup(thread)
    started = started + 1
    thread:set("tid", started)
end

local sent = 0

function init(args)
    math.randomseed(tid * 7919)
end

-- Each thread walks its own share of the conversations in turn, so two of its connections
-- rarely write to the same conversation at once (which would only wait on its lock).
function request()
    sent = sent + 1
    local shares = math.max(1, math.floor(#conversations / thread_count))
    local c = conversations[((tid - 1) * shares + sent % shares) % #conversations + 1]
    local body = string.format(
        '{"text":%s,"client_msg_id":"%s-%d-%d"}',
        phrasings[math.random(#phrasings)], run, tid, sent
    )
    return wrk.format("POST", "/v1/conversations/" .. c.id .. "/messages", {
        ["authorization"] = "Bearer " .. c.token,
        ["content-type"] = "application/json",
    }, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        '{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
            .. '"non_2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.status, e.connect, e.read, e.write, e.timeout
    ))
end
