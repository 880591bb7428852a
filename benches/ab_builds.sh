#!/usr/bin/env bash
# A/B of two dataport builds on the flood paths: duplicates (one phone,
# answered 006) and new leads (unique phones), same wrk, same 300-byte body,
# alternating A B A B on a fresh data dir each run. Prints req/s and the
# server's CPU time per request (steadier than req/s on a shared machine).
#
#   git worktree add /tmp/old OLD_COMMIT && (cd /tmp/old && cargo build --release --target-dir "$PWD/target/ab")
#   cargo build --release
#   bash benches/ab_builds.sh target/ab/release/dataport target/release/dataport
#   ROUNDS=5 SCEN=dup CONNS=1024 bash benches/ab_builds.sh A B
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1
B=$2
ROUNDS=${ROUNDS:-3}
SCEN=${SCEN:-"dup new"}
CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
ADDR=127.0.0.1:18400
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cat >"$WORK/dup.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local b = "FirstName=Dana&LastName=Levi&Phone=0532222222&Email=dana%40example.com&City=Tel%20Aviv&Notes=" .. string.rep("x", 180)
function request() return wrk.format(nil, "/land_fb", nil, b) end
LUA
cat >"$WORK/new.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local counter, threads = 0, 0
tid = 0 -- set per thread by setup(), a global of the thread's state
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function request()
  counter = counter + 1
  local p = string.format("0547%06d", (tid * 500000 + counter) % 1000000)
  return wrk.format(nil, "/land_fb", nil, "FirstName=Dana&LastName=Levi&Phone=" .. p ..
    "&Email=d" .. p .. "%40example.com&Notes=" .. string.rep("x", 180))
end
LUA
sed -e 's/^dns_check = .*/dns_check = false/' data/dataport.toml >"$WORK/dataport.toml"
HZ=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · A=$A · B=$B · $(nproc) cores · ${ROUNDS} rounds of ${DURATION} s, wrk -t2 -c${CONNS}"
for scen in $SCEN; do
  for r in $(seq 1 "$ROUNDS"); do
    for which in A B; do
      bin=$A
      [ "$which" = B ] && bin=$B
      rm -rf "$WORK/data"
      DATAPORT_LOG=warn "$bin" serve --config "$WORK/dataport.toml" --listen $ADDR --data-dir "$WORK/data" >/dev/null 2>&1 &
      pid=$!
      for _ in $(seq 1 50); do curl -s -o /dev/null "http://$ADDR/health" && break; sleep 0.1; done
      curl -s -o /dev/null -X POST -d "Phone=0532222222&Email=dana%40example.com" "http://$ADDR/land_fb"
      t0=$(cpu $pid)
      rps=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$WORK/$scen.lua" "http://$ADDR" 2>&1 | awk '/Requests\/sec/ {print $2}')
      t1=$(cpu $pid)
      us=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v r="$rps" -v d="$DURATION" 'BEGIN { printf "%.1f", t * 1e6 / hz / (r * d) }')
      printf '%-4s round %d %s  %10s req/s  %6s us/req\n' "$scen" "$r" "$which" "$rps" "$us"
      kill $pid
      wait $pid 2>/dev/null || true
    done
  done
done
