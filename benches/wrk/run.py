#!/usr/bin/env python3
"""Shopper turns against a `baton serve` process with wrk, the standard HTTP load tool.

    python3 benches/wrk/run.py [--binary target/release/baton] [--no-encoder]
        [--seconds 15] [--warm-up 5] [--connections 32] [--threads 2]
        [--conversations 2000] [--kb DIR --intents DIR]

The other way of measuring a node, beside `cargo bench --bench load`: nothing of Baton's own
makes the requests, so its figures read the same as any HTTP service's. Every request is one
shopper turn: a phrasing of the sample knowledge base's FAQs (Chinese and English, drawn
uniformly) posted with a fresh `client_msg_id` to one of `--conversations` conversations
opened beforehand. Server and wrk share this machine's cores.

    start the binary on a fresh data directory (SQLite, `synchronous = full`, rates off)
    ─► wait for /readyz ─► open the conversations ─► wrk for --warm-up seconds (not counted)
    ─► wrk for --seconds ─► one JSON line: turns/s, p50/p90/p99 ms, errors, server CPU/turn

`--binary` may be an older build: a build without rate limits rejects the `[limits]` table,
and the server is started again without it. `--kb`/`--intents` give such a build the
content it shipped with (the phrasings always come from this repository's `kb/`).
Needs `wrk` (Debian's package) and Python 3's standard library only.
"""

import argparse
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "turns.lua"


def rates():
    """The names of every rate limit, read from the one list of them in the configuration's
    source, so a limit added there is turned off here too."""
    source = (REPO / "src" / "config" / "mod.rs").read_text()
    body = source[source.index("fn rates_mut") :]
    body = body[: body.index("\n    }\n")]
    return re.findall(r'"limits\.(\w+)"', body)


def arguments():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", type=Path, default=REPO / "target/release/baton")
    p.add_argument("--kb", type=Path, default=REPO / "kb")
    p.add_argument("--intents", type=Path, default=REPO / "intents")
    p.add_argument("--models", type=Path, default=REPO / "models")
    p.add_argument("--no-encoder", action="store_true")
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--warm-up", type=int, default=5)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--conversations", type=int, default=2000)
    return p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_string(value):
    return json.dumps(str(value))


def write_config(args, data, port, with_limits):
    # One model cache per build: a cache written by one build is not read by another.
    stat = args.binary.stat()
    build = hashlib.sha256(f"{args.binary.resolve()}:{stat.st_size}:{stat.st_mtime}".encode())
    cache = REPO / "target" / "wrk-model-cache" / build.hexdigest()[:16]
    lines = [
        f"addr = {toml_string(f'127.0.0.1:{port}')}",
        f"data_dir = {toml_string(data)}",
        f"kb = {toml_string(args.kb.resolve())}",
        f"intents = {toml_string(args.intents.resolve())}",
        f"models = {toml_string(args.models.resolve())}",
        "[store]",
        'synchronous = "full"',
        "[nlu]",
        f"cache_dir = {toml_string(cache)}",
    ]
    if args.no_encoder:
        lines.append('encoder = ""')
    if with_limits:
        # Capacity: every connection shares this machine's address and sends back to back,
        # which the per-address and per-conversation limits are there to stop.
        lines.append("[limits]")
        lines += [f"{rate} = {{ per_minute = 0, burst = 0 }}" for rate in rates()]
    path = data / "baton.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ready(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/readyz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def start(args, data, port):
    """The server, ready to serve; exits with the end of the server's log when it is not."""
    for with_limits in (True, False):
        config = write_config(args, data, port, with_limits)
        with open(data / "server.log", "w") as log:
            server = subprocess.Popen(
                [str(args.binary), "--config", str(config), "serve"],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.time() + 900
        while time.time() < deadline:
            if server.poll() is not None:
                break
            try:
                if ready(port):
                    return server
            except OSError:
                pass
            time.sleep(0.2)
        server.kill()
        server.wait()
        text = (data / "server.log").read_text(errors="replace")
        if not (with_limits and "found `limits`" in text):
            sys.exit(f"the server did not become ready:\n{text[-2000:]}")


def phrasings():
    """Every FAQ question and alternate of this repository's kb/, as JSON strings."""
    found = []
    for path in sorted((REPO / "kb").rglob("*.md")):
        front = path.read_text().split("---")[1]
        for line in front.splitlines():
            m = re.match(r"^(?:question:|\s+-)\s*(.+)$", line)
            if m and not line.startswith("tags"):
                found.append(m.group(1).strip())
    # Lua long strings: the JSON text, quotes included, is the Lua string's content.
    return [f"[==[{json.dumps(p, ensure_ascii=False)}]==]" for p in found]


def lua_table(rows):
    return "return {\n" + ",\n".join(rows) + "\n}\n"


def open_conversations(port, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    rows = []
    for i in range(count):
        locale = "zh-CN" if i % 2 == 0 else "en-US"
        body = json.dumps({"channel": "web", "locale": locale})
        conn.request("POST", "/v1/conversations", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        created = json.loads(response.read())
        if response.status not in (200, 201):
            sys.exit(f"opening a conversation: {response.status} {created}")
        rows.append(f'{{id="{created["conversation_id"]}", token="{created["token"]}"}}')
    conn.close()
    return rows


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wrk(args, port, seconds, run, files):
    env = dict(os.environ, WRK_RUN=run, WRK_THREADS=str(args.threads), **files)
    out = subprocess.run(
        ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(SCRIPT), f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    args = arguments()
    with tempfile.TemporaryDirectory(prefix="baton-wrk-") as tmp:
        data = Path(tmp)
        port = free_port()
        server = start(args, data, port)
        try:
            files = {
                "WRK_PHRASINGS": str(data / "phrasings.lua"),
                "WRK_CONVERSATIONS": str(data / "conversations.lua"),
            }
            Path(files["WRK_PHRASINGS"]).write_text(lua_table(phrasings()))
            Path(files["WRK_CONVERSATIONS"]).write_text(
                lua_table(open_conversations(port, args.conversations))
            )
            if args.warm_up > 0:
                wrk(args, port, args.warm_up, "warm", files)
            cpu_before = cpu_seconds(server.pid)
            result = wrk(args, port, args.seconds, "run", files)
            cpu = cpu_seconds(server.pid) - cpu_before
            turns = result["requests"]
            errors = sum(result[k] for k in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts"))
            report = {
                "binary": str(args.binary),
                "encoder": not args.no_encoder,
                "connections": args.connections,
                "seconds": args.seconds,
                "turns": turns,
                "turns_per_second": round(turns / (result["duration_us"] / 1e6)),
                "latency_ms": {k: round(result[f"{k}_us"] / 1000, 1) for k in ("p50", "p90", "p99", "max")},
                "errors": errors,
                "server_cpu_ms_per_turn": round(1000 * cpu / max(turns, 1), 3),
                "server_rss_mib": round(rss_mib(server.pid)),
            }
            print(json.dumps(report))
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
