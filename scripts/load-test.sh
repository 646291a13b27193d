#!/usr/bin/env bash
# Load test of `mmada serve` with wrk: 64 connections for 30 s against /health, then against
# small chat requests on the tiny model. Reports p50/p99 latency, counts by status, and the
# server's RSS before and after; fails if the server dies or answers anything but 200/429/503.
#   MMADA_CLI (default build/mmada), MMADA_REFDATA (default ../shared/refdata),
#   DURATION (default 30s), CONNECTIONS (default 64)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cli="${MMADA_CLI:-$root/build/mmada}"
refdata="${MMADA_REFDATA:-$root/../shared/refdata}"
duration="${DURATION:-30s}"
conns="${CONNECTIONS:-64}"
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"; $sudo apt-get install -y wrk; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
"$cli" serve -m "$refdata/tiny/mmada_tiny" --tokenizer "$root/assets/llada-tokenizer" --port "$port" \
  --queue 16 --threads 80 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }

# wrk Lua: count statuses, print them and the latency percentiles at the end.
cat > "$work/report.lua" <<'LUA'
-- Per-thread counters are plain numbers: wrk's thread:get copies only scalars.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
n200, n429, n503, nother = 0, 0, 0, 0
response = function(status)
  if status == 200 then n200 = n200 + 1
  elseif status == 429 then n429 = n429 + 1
  elseif status == 503 then n503 = n503 + 1
  else nother = nother + 1 end
end
done = function(summary, latency)
  io.write(string.format("  requests %d, socket errors: connect %d read %d write %d timeout %d\n",
    summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
  io.write(string.format("  latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  local t = {n200 = 0, n429 = 0, n503 = 0, nother = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
  end
  io.write(string.format("  status 200: %d, 429: %d, 503: %d\n", t.n200, t.n429, t.n503))
  io.write(string.format("  unexpected statuses: %d\n", t.nother))
end
LUA
cat > "$work/chat.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"steps":4,"block_length":8}'
LUA
cat "$work/chat.lua" "$work/report.lua" > "$work/chat_report.lua"

fail=0
echo "RSS at start: $(rss)"
echo "== /health, $conns connections, $duration"
wrk -t4 -c"$conns" -d"$duration" --latency -s "$work/report.lua" "http://127.0.0.1:$port/health" | tee "$work/health.txt" | grep -E "^  (requests|latency|status|unexpected)"
echo "RSS after /health: $(rss)"
echo "== POST /v1/chat/completions (8 tokens, 4 steps), $conns connections, $duration"
wrk -t4 -c"$conns" -d"$duration" --timeout 30s --latency -s "$work/chat_report.lua" "http://127.0.0.1:$port/v1/chat/completions" | tee "$work/chat.txt" | grep -E "^  (requests|latency|status|unexpected)"
echo "RSS after chat: $(rss)"
grep -q "unexpected statuses: 0" "$work/health.txt" || fail=1
grep -q "unexpected statuses: 0" "$work/chat.txt" || fail=1
kill -0 $server 2>/dev/null || { echo "the server died"; fail=1; }
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "the server stopped answering"; fail=1; }
[ $fail = 0 ] && echo "load test passed" || echo "load test FAILED"
exit $fail
