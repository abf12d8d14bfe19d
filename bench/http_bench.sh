#!/usr/bin/env bash
# http_bench.sh - the HTTP client (orchestrator/http.c) against the fake
# chat server (tests/fakes/chat_server.py) on loopback.
#
#   bash bench/http_bench.sh [N] [CONCURRENCY] [LATENCY_MS]     (10000 64 20)
#
# 1. http_bench: N requests at CONCURRENCY against a server that answers
#    after LATENCY_MS; the floor is N * LATENCY_MS / CONCURRENCY.
# 2. Which side limits: the server alone with no latency, driven by wrk
#    (apt-get install wrk) or else by `curl --parallel`, against http_bench
#    at no latency (both raw and with retries + validation). If wrk gets
#    about as far as http_bench, the Python server is the limit.
# Builds build/ (Release) if needed; BUILD=dir to use another build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../build}
n=${1:-10000}; conc=${2:-64}; lat=${3:-20}
bench=$build/tests/orchestrator/http_bench
if [ ! -x "$bench" ]; then
  cmake -S "$here/.." -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target http_bench >/dev/null
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/http-bench.XXXXXX")
pid=
# CPU seconds the server has used (user + system), from /proc.
server_cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid/stat"; }
stop_server() { if [ -n "$pid" ]; then echo "  (server cpu $(server_cpu) s)"; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; fi; }
trap 'stop_server; rm -rf "$dir"' EXIT

start_server() { # LATENCY_MS
  python3 "$here/../tests/fakes/chat_server.py" --latency-ms "$1" --max-seconds 300 >"$dir/port" &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
  port=$(head -1 "$dir/port")
  url=http://127.0.0.1:$port/v1/chat/completions
}

echo "== client: $n requests, concurrency $conc, server latency $lat ms (CPUs: $(nproc))"
start_server "$lat"
"$bench" "$url" "$n" "$conc" --latency-ms "$lat"
stop_server

body='{"model":"fake-1","messages":[{"role":"user","content":"bench"}],"temperature":0,"max_tokens":16,"seed":1}'
if command -v wrk >/dev/null; then
  cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA
  echo "== server alone (wrk -t2 -c$conc, 5 s), latency $lat ms"
  start_server "$lat"
  wrk -t2 -c"$conc" -d5s -s "$dir/post.lua" "$url" | grep -E "Requests/sec|Latency"
  stop_server
  echo "== server alone (wrk -t2 -c$conc, 5 s), no latency"
  start_server 0
  wrk -t2 -c"$conc" -d5s -s "$dir/post.lua" "$url" | grep -E "Requests/sec|Latency"
  stop_server
else
  echo "== server alone (curl --parallel --parallel-max $conc, $n requests), no latency"
  start_server 0
  for _ in $(seq "$n"); do printf 'url = "%s"\n' "$url"; done >"$dir/curl.cfg"
  t0=$(date +%s.%N)
  curl -s -o /dev/null --parallel --parallel-max "$conc" -H 'Content-Type: application/json' \
       -d "$body" -K "$dir/curl.cfg"
  t1=$(date +%s.%N)
  echo "  $(echo "$n / ($t1 - $t0)" | bc -l | cut -d. -f1) req/s"
  stop_server
fi
echo "== client at no latency (its own ceiling against this server)"
start_server 0
"$bench" "$url" "$n" "$conc" --raw
"$bench" "$url" "$n" "$conc"
stop_server
