#!/usr/bin/env bash
# A/B benchmark: the bare may_minihttp responder (benches/bare_responder.rs)
# against dataport, same wrk, same 300-byte form body, alternating
# (A B A B ...) for each scenario and connection count. Prints req/s, the
# bare server's p99 (the floor this machine sets), each server's CPU time
# per request, the ratio to bare, dataport's latency percentiles and
# response codes, and where dataport's time went: its writer thread's and
# HTTP workers' share of the run on a core and waiting for one (run-queue
# wait: the cores were saturated), and its commits (jobs each, ms each, of
# which LMDB's page writes and fsync). Ends with a summary per scenario and
# connection count: the median round's ratio and p99, and how many rounds
# met issue 7's targets.
#
#   bash benches/compare.sh                 # ROUNDS=2 DURATION=5 CONNS="64 1024"
#   bash benches/compare.sh --rounds 3 --duration 10
#   bash benches/compare.sh --scenarios "new dup" --conns 64
#   bash benches/compare.sh --preload 10000000   # or --preload-dir an existing preloaded dir
#   bash benches/compare.sh --ceiling "nosync noapply"   # plus ceiling runs, below
#
# Every option can also be given as the environment variable of the same
# name in capitals (ROUNDS=3, PRELOAD=10000000, ...); an option wins.
#
# Scenarios: new (unique phones), dup (one phone, answered 006), unknown
# (no such form, 003), mixed (7 new : 2 dup : 1 unknown).
#
# Every dataport run starts on a fresh data dir (or the preloaded one) with
# LMDB's full sync; after each "new" run the script checks that the last
# acknowledged lead is stored.
#
# --ceiling "LIST ..." adds, after each default dataport run, one run per
# list of a measurement-only build (cargo feature `ceiling`, never served)
# with DATAPORT_CEILING=LIST, labelled scenario/LIST: `nosync` (commits not
# flushed: what new leads reach when the answer waits for no flush),
# `noapply` (a new lead answered 000 and not stored: what intake and HTTP
# cost alone), `nolog` (a duplicate's log entries dropped: whether a
# flood's tail latency is the writer's). Lists combine with commas
# ("nosync,nolog"). These rows have no target in the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
while [ $# -gt 0 ]; do
  case "$1" in -h | --help) ;; *) [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; } ;; esac
  case "$1" in
    --rounds) ROUNDS=$2 ;;
    --duration) DURATION=$2 ;;
    --conns) CONNS=$2 ;;
    --threads) THREADS=$2 ;;
    --scenarios) SCENARIOS=$2 ;;
    --preload) PRELOAD=$2 ;;
    --preload-dir) PRELOAD_DIR=$2 ;;
    --ceiling) CEILING=$2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"64 1024"}
THREADS=${THREADS:-2}
PRELOAD=${PRELOAD:-0}      # leads stored before every dataport run (dataport preload)
PRELOAD_DIR=${PRELOAD_DIR:-} # or: an existing preloaded data dir, used in place
CEILING=${CEILING:-}       # extra runs of a `ceiling` build, one per switch list
BARE=127.0.0.1:18100
DP=127.0.0.1:18200
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q
CEILING_BIN=target/ceiling/release/dataport
# Measurement only: a build whose DATAPORT_CEILING switches take a part of
# the storage out (src/store/ceiling.rs), in its own target dir so that
# target/release/dataport stays the real one.
[ -z "$CEILING" ] || cargo build --release -q --features ceiling --target-dir target/ceiling
# The reference is run as its own executable, so that killing it stops it:
# killed through `cargo bench`, the responder lived on, and with the
# runtime's SO_REUSEPORT every later "bare" run was served by all of them.
BARE_BIN=$(cargo bench --bench bare_responder --no-run --message-format=json 2>/dev/null |
  grep '"name":"bare_responder"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$BARE_BIN" ] || { echo "bare_responder did not build" >&2; exit 1; }
# 1,024 connections need more descriptors than some shells allow; where the
# limit cannot be raised the runs go on, and wrk reports any socket errors.
ulimit -n 65536 2>/dev/null || echo "note: open-files limit stays $(ulimit -n)" >&2

# A 300-byte urlencoded lead; "new" gets a unique phone per request.
PAD=$(printf 'x%.0s' $(seq 1 170))
cat > "$WORK/common.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local pad = "$PAD"
function body_for(phone) return "FirstName=Load&LastName=Gen&Phone=" .. phone .. "&Email=lg" .. phone .. "@loadgen.example&Notes=" .. pad end
-- RUN keeps each run's phones apart when runs share a (preloaded) store:
-- run k posts phones k*200000 + 0, 1, 2, ... (one prefix per thread parity).
local run = tonumber(os.getenv("RUN") or "0")
-- The n-th new phone of this thread ("tid" is the global thread:set gives
-- each thread's state).
function new_phone(n)
  local t = rawget(_G, "tid") or 1
  return string.format("05%d%07d", (t % 2 == 0) and 3 or 6, ((run % 50) * 200000 + n + math.floor((t - 1) / 2) * 100000) % 10000000)
end
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function done(summary, latency, requests)
  io.write(string.format("PCT %.3f %.3f %.3f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
LUA
cat > "$WORK/new.lua" <<LUA
dofile("$WORK/common.lua")
local n = 0
function request()
  n = n + 1
  return wrk.format(nil, "/land_fb", nil, body_for(new_phone(n)))
end
LUA
cat > "$WORK/dup.lua" <<LUA
dofile("$WORK/common.lua")
local b = body_for("0532222222")
function request() return wrk.format(nil, "/land_fb", nil, b) end
LUA
cat > "$WORK/mixed.lua" <<LUA
dofile("$WORK/common.lua")
local dupb = body_for("0532222222")
local n = 0
-- Out of every 10 posts: 7 new leads, 2 duplicates, 1 to an unknown form.
function request()
  n = n + 1
  local k = n % 10
  if k < 2 then return wrk.format(nil, "/land_fb", nil, dupb) end
  if k == 2 then return wrk.format(nil, "/no_such_form", nil, dupb) end
  return wrk.format(nil, "/land_fb", nil, body_for(new_phone(n)))
end
LUA
cat > "$WORK/unknown.lua" <<LUA
dofile("$WORK/common.lua")
local b = body_for("0532222222")
function request() return wrk.format(nil, "/no_such_form", nil, b) end
LUA

wait_up() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://$1/" 2>/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; exit 1; }

# CPU time the server process spent (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# Server CPU per answered request, in microseconds: steadier than req/s on
# a shared machine, since wrk's share of the same cores drops out.
us_per_req() { awk -v t="$1" -v hz="$HZ" -v r="$2" -v d="$DURATION" 'BEGIN { if (r > 0) printf "%.1f", t * 1e6 / hz / (r * d); else print "-" }'; }

# Per thread of PID: comm, ns on a core, ns runnable but waiting for one.
sched_snapshot() {
  for t in /proc/"$1"/task/*; do
    printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(cut -d' ' -f1,2 "$t/schedstat")"
  done 2>/dev/null
}
# "writer cpu/wait  http cpu/wait" in % of the run's wall time, from two
# snapshots (the writer is the dataport-writer thread; the HTTP workers
# are the threads without a dataport- name).
sched_share() {
  awk -v d="$DURATION" 'FNR == NR { a[$1 " " FNR] = $2; w[$1 " " FNR] = $3; next }
    { k = $1 " " FNR; role = ($1 == "dataport-writer") ? "writer" : ($1 ~ /^dataport-/ ? "" : "http")
      if (role != "") { cpu[role] += $2 - a[k]; wait[role] += $3 - w[k] } }
    END { printf "writer %.0f/%.0f%% http %.0f/%.0f%%", cpu["writer"] / d / 1e7, wait["writer"] / d / 1e7, cpu["http"] / d / 1e7, wait["http"] / d / 1e7 }' "$1" "$2"
}
# "jobs per commit, ms per commit (of which sync ms)" since the server started.
commit_shape() {
  curl -s "http://$1/metrics" | awk '/^dataport_commit_batch_jobs_sum/ {j = $2} /^dataport_commit_batch_jobs_count/ {n = $2}
    /^dataport_commit_duration_seconds_sum/ {t = $2} /^dataport_commit_sync_seconds_sum/ {s = $2}
    END { if (n > 0) printf "commits %.0f jobs %.2f ms (sync %.2f)", j / n, 1000 * t / n, 1000 * s / n }'
}

run_wrk() { # addr script conns -> "rps p50 p99 p999 non2xx"
  local out
  out=$(wrk -t"$THREADS" -c"$3" -d"${DURATION}s" --timeout 10s -s "$WORK/$2.lua" "http://$1" 2>&1)
  local rps pct non
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  pct=$(echo "$out" | awk '/^PCT/ {print $2, $3, $4}')
  non=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$rps $pct ${non:-0}"
}

# The embedded default configuration, with a map big enough for a preload
# (10 million leads take ~17 GB; the default map is 16 GiB).
# The email-domain check is off: loadgen's addresses are at example domains,
# and the figures measure dataport, not a resolver.
sed -e 's/^map_size_mb = .*/map_size_mb = 65536/' -e 's/^dns_check = .*/dns_check = false/' \
  data/dataport.toml > "$WORK/dataport.toml"
RUNS=0
PRE=""
if [ -n "$PRELOAD_DIR" ]; then
  PRE="$PRELOAD_DIR"
elif [ "$PRELOAD" -gt 0 ]; then
  PRE="$WORK/preloaded"
  target/release/dataport preload --data-dir "$PRE" --count "$PRELOAD"
  # Anything the preload left unwritten is flushed before the measured runs,
  # so no writeback shares the disk with them. (LMDB's commits sync as they
  # go, so this takes ~0 s; the slow 10M runs are not writeback.)
  t=$(date +%s); sync; echo "preload flushed to disk in $(($(date +%s) - t)) s"
fi
# What the figures belong to: when, which build, on what.
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo '+changes') · $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1) · $(uname -r) · ${ROUNDS} rounds of ${DURATION} s, wrk -t${THREADS}"
# One dataport run of the current scenario, connection count and round
# against the reference's figures just measured: BIN [CEILING SWITCHES].
# With switches (a `ceiling` build, --ceiling) the row is labelled
# scenario/switches and has no target in the summary.
dp_run() {
  local label=$scenario
  [ -z "$2" ] || label="$scenario/$2"
  # A fresh store per run; a preloaded one is reused in place (copying
  # gigabytes per run would measure the copy's cold pages, not dataport).
  DATA="$WORK/data"
  # The previous run's store is deleted and its discards flushed before
  # the next starts, so no run shares the disk with that cleanup.
  if [ -n "$PRE" ]; then DATA="$PRE"; else rm -rf "$DATA"; sync; fi
  RUNS=$((RUNS + 1)); export RUN=$RUNS
  if [ -n "$PRE" ]; then
    # Runs on a kept store count on across invocations of this script,
    # so no run posts a phone an earlier one stored.
    RUN=$(( $(cat "$PRE.runs" 2>/dev/null || echo 0) + 1 )); echo "$RUN" > "$PRE.runs"
  fi
  DATAPORT_CEILING="$2" DATAPORT_LOG=warn "$1" serve --config "$WORK/dataport.toml" --listen $DP --data-dir "$DATA" >/dev/null 2>&1 &
  DPID=$!; wait_up $DP
  [ "$scenario" = dup ] || [ "$scenario" = mixed ] && curl -s -o /dev/null -X POST -d "Phone=0532222222" "http://$DP/land_fb"
  t0=$(cpu_ticks $DPID)
  sched_snapshot $DPID >"$WORK/sched0"
  read -r drps p50 p99 p999 _ <<<"$(run_wrk $DP "$scenario" "$c")"
  dcpu=$(us_per_req $(( $(cpu_ticks $DPID) - t0 )) "$drps")
  sched_snapshot $DPID >"$WORK/sched1"
  shape="$(commit_shape $DP) | $(sched_share "$WORK/sched0" "$WORK/sched1")"
  codes=$(curl -s "http://$DP/metrics" | awk -F'[{}" ]+' '/^dataport_intake_responses_total/ && $NF > 0 {print $(NF-1) "=" $NF}' | sed 's/code=//' | tr '\n' ' ')
  if [ "$scenario" = new ] && [[ "$2" != *noapply* ]]; then
    # Ids follow commit order: the client before one more fresh lead is
    # the last one the run had acknowledged.
    next=$(curl -s "http://$DP/land_fb?Phone=0507$(printf %06d $(( (RANDOM * 32768 + RANDOM) % 1000000 )))" | sed -n 's/.*"RecordId":\([0-9]*\).*/\1/p')
    stored=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer change-me' "http://$DP/admin/v1/clients/$((${next:-1} - 1))")
    codes="$codes| last acked lead stored: $stored"
  fi
  # Resident memory: the process's own (anonymous) and LMDB's mapped
  # file pages (page cache the kernel can drop), apart.
  rss=$(awk '/RssAnon/ {a = $2} /RssFile/ {f = $2} END {printf "anon %.0f + file %.0f", a / 1024, f / 1024}' /proc/$DPID/status)
  codes="$codes| rss ${rss} MiB | $shape"
  kill $DPID; wait $DPID 2>/dev/null || true
  ratio=$(awk -v a="$drps" -v b="$brps" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }')
  printf "%-16s %5s %5s | %10s %8s %7s | %10s %6s %7s | %8s %8s %8s | %s\n" "$label" "$c" "$r" "$brps" "$bp99" "$bcpu" "$drps" "$ratio" "$dcpu" "$p50" "$p99" "$p999" "$codes"
  echo "$label $c ${ratio%\%} $p99" >>"$WORK/rounds"
}

printf "%-16s %5s %5s | %10s %8s %7s | %10s %6s %7s | %8s %8s %8s | %s\n" scenario conns round "bare r/s" "bare p99" "us/req" "dp r/s" ratio "us/req" "p50 ms" "p99 ms" "p999 ms" "dataport codes"
for scenario in ${SCENARIOS:-new dup unknown mixed}; do
  for c in $CONNS; do
    for r in $(seq 1 "$ROUNDS"); do
      "$BARE_BIN" --serve $BARE >/dev/null 2>&1 &
      BPID=$!; wait_up $BARE
      t0=$(cpu_ticks $BPID)
      read -r brps _ bp99 _ _ <<<"$(run_wrk $BARE "$scenario" "$c")"
      bcpu=$(us_per_req $(( $(cpu_ticks $BPID) - t0 )) "$brps")
      kill $BPID; wait $BPID 2>/dev/null || true

      dp_run target/release/dataport ""
      for sw in $CEILING; do dp_run "$CEILING_BIN" "$sw"; done
    done
  done
done

# Per scenario and connection count: the median round and how many rounds
# met issue 7's targets (ratio: new 50%, dup 80%, unknown 90%; p99: 5 ms
# at 64 connections, 30 ms at 1,024). One round is this machine's noise;
# the median of several is the figure to quote.
echo
echo "summary: median ratio (range), rounds at the ratio target; median p99, rounds at the p99 target"
awk '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  {
    k = $1 " " $2; if (!(k in seen)) { seen[k] = 1; order[++keys] = k }
    ratios[k] = ratios[k] " " $3; p99s[k] = p99s[k] " " $4; n[k]++
    if (n[k] == 1 || $3 + 0 < lo[k] + 0) lo[k] = $3
    if (n[k] == 1 || $3 + 0 > hi[k] + 0) hi[k] = $3
    want = ($1 == "new") ? 50 : ($1 == "dup") ? 80 : ($1 == "unknown") ? 90 : 0
    limit = ($1 ~ /\//) ? 0 : ($2 <= 64) ? 5 : ($2 <= 1024) ? 30 : 0
    if (want && $3 >= want) at_ratio[k]++
    if (limit && $4 <= limit) at_p99[k]++
    wants[k] = want; limits[k] = limit
  }
  END {
    for (i = 1; i <= keys; i++) {
      k = order[i]; split(k, f, " ")
      r = sprintf("%s%% (%s-%s%%)", median(ratios[k]), lo[k], hi[k])
      rt = wants[k] ? sprintf("%d of %d at >= %d%%", at_ratio[k], n[k], wants[k]) : "no target"
      pt = limits[k] ? sprintf("%d of %d at <= %d ms", at_p99[k], n[k], limits[k]) : "no target"
      printf "%-16s %5s | ratio %-14s %-18s | p99 %8.3f ms, %s\n", f[1], f[2], r, rt, median(p99s[k]), pt
    }
  }' "$WORK/rounds"
