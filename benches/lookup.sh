#!/usr/bin/env bash
# Issue 23: a phone lookup over HTTP, as the console's search box makes it
# (GET /admin/v1/clients?q=PHONE), on a store holding 1,000 clients against
# one holding 10 million, same wrk, alternating (small big small big ...).
# Each store is filled with `dataport preload`; every request asks for a
# random stored client, and wrk's script counts the answers that did not
# find exactly that one. Each server is first warmed by an unmeasured run
# as long as a measured one: a fresh process takes a page fault at its first
# touch of each page of the map (~145,000 for 10 million clients, which cost
# the first 10 s about 15% of its rate), and an appliance that has run for
# a while has them all. Prints req/s and latency per run, then the ratio big
# / small of the median round: close to 1 is the point.
#
#   bash benches/lookup.sh                       # BIG=10000000 ROUNDS=2 DURATION=10 CONNS=16
#   BIG=1000000 DURATION=5 bash benches/lookup.sh
#   BIG_DIR=/path/to/preloaded bash benches/lookup.sh   # reuse a store of BIG clients
#   WARMUP=0 bash benches/lookup.sh              # measure fresh processes, faults and all
#
# A 10-million store takes ~17 GB and ~2 minutes to fill (preload).
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${BIG:-10000000}
BIG_DIR=${BIG_DIR:-}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-$DURATION}  # seconds of unmeasured lookups after each start; 0 = none
DP=127.0.0.1:18300
mkdir -p target
WORK=$(mktemp -d -p "$PWD/target" lookup.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q
BIN=target/release/dataport

sed -e 's/^map_size_mb = .*/map_size_mb = 65536/' data/dataport.toml >"$WORK/dataport.toml"
TOKEN=$(sed -n 's/^token = "\([^"]*\)".*/\1/p' "$WORK/dataport.toml" | head -1)

$BIN preload --data-dir "$WORK/small" --count 1000
if [ -z "$BIG_DIR" ]; then
  BIG_DIR="$WORK/big"
  $BIN preload --data-dir "$BIG_DIR" --count "$BIG"
  sync
fi

# The k-th preloaded phone, as src/preload.rs numbers them.
cat >"$WORK/lookup.lua" <<LUA
local count = 0
wrong = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) count = tonumber(args[1]) end
local function phone(k)
  if k < 8000000 then
    return string.format("97252%d%06d", 2 + math.floor(k / 1000000), k % 1000000)
  end
  local j = (k - 8000000) % 5000000
  return string.format("97258%d%06d", 3 + math.floor(j / 1000000), j % 1000000)
end
-- Any form intake accepts: the local form of the number, as an operator types it.
function request()
  local p = phone(math.random(0, count - 1))
  return wrk.format("GET", "/admin/v1/clients?q=0" .. p:sub(4), { ["Authorization"] = "Bearer $TOKEN" })
end
function response(status, headers, body)
  if status ~= 200 or not body:find('"scanned":1,', 1, true) then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local missed = 0
  for _, t in ipairs(threads) do missed = missed + t:get("wrong") end
  io.write(string.format("PCT %.3f %.3f %.3f %d\n", latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000, missed))
end
LUA

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://$1/health" 2>/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }

# One run: data dir, clients stored -> "rps p50 p99 p999 missed", where
# missed counts the answers that did not find exactly the client asked for.
run() {
  DATAPORT_LOG=warn $BIN serve --config "$WORK/dataport.toml" --listen $DP --data-dir "$1" >/dev/null 2>&1 &
  local pid=$!
  wait_up $DP
  local out rps pct
  [ "$WARMUP" = 0 ] || wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" --timeout 10s -s "$WORK/lookup.lua" "http://$DP" -- "$2" >/dev/null 2>&1
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$WORK/lookup.lua" "http://$DP" -- "$2" 2>&1)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  pct=$(echo "$out" | awk '/^PCT/ {print $2, $3, $4, $5}')
  kill $pid; wait $pid 2>/dev/null || true
  echo "$rps $pct"
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+changes') · $(nproc) cores · ${ROUNDS} rounds of ${DURATION} s after ${WARMUP} s of warm-up, wrk -t${THREADS} -c${CONNS}"
printf '%-6s %-12s %10s %9s %9s %9s %6s\n' round clients req/s p50_ms p99_ms p999_ms missed
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  read -r s_rps s50 s99 s999 s_ok <<<"$(run "$WORK/small" 1000)"
  printf '%-6s %-12s %10s %9s %9s %9s %6s\n' "$r" 1000 "$s_rps" "$s50" "$s99" "$s999" "$s_ok"
  read -r b_rps b50 b99 b999 b_ok <<<"$(run "$BIG_DIR" "$BIG")"
  printf '%-6s %-12s %10s %9s %9s %9s %6s\n' "$r" "$BIG" "$b_rps" "$b50" "$b99" "$b999" "$b_ok"
  ratios+=("$(awk -v a="$b_rps" -v b="$s_rps" 'BEGIN { printf "%.3f", a / b }')")
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "req/s ratio ${BIG} / 1000 clients, per round: ${ratios[*]}; median ${median}"
