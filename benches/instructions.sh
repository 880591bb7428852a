#!/usr/bin/env bash
# User-space instructions per post, counted by callgrind: a measure of the
# CPU dataport's own code spends on a request that does not move with this
# shared machine's noise (req/s and CPU time do; instruction counts repeat
# within ~1%). The kernel's share (loopback TCP, fsync) is not in it.
#
#   bash benches/instructions.sh                # dup, unknown and new, 3000 posts each
#   bash benches/instructions.sh --posts 10000 --scenarios "dup new"
#   bash benches/instructions.sh --bin path/to/another/dataport   # an older build, to compare
#   bash benches/instructions.sh --scenarios new --conns 32   # posts from 32 connections at once
#
# Each scenario starts dataport under callgrind on a fresh data dir, posts
# 500 warm-up requests on one keep-alive connection, zeroes the counters,
# posts N more, and divides the instructions counted by N (the writer's
# commits of those posts included). With one connection every new lead is
# its own commit; --conns N sends N posts at a time on N connections, so
# commits carry up to N leads as under load.
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS=3000
SCENARIOS="dup unknown new"
BIN=""
CONNS=1
while [ $# -gt 0 ]; do
  case "$1" in -h | --help) ;; *) [ $# -ge 2 ] || { echo "$1 needs a value" >&2; exit 2; } ;; esac
  case "$1" in
    --posts) POSTS=$2 ;;
    --scenarios) SCENARIOS=$2 ;;
    --bin) BIN=$2 ;;
    --conns) CONNS=$2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3; }
if [ -z "$BIN" ]; then
  cargo build --release -q
  BIN=target/release/dataport
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
ADDR=127.0.0.1:18500

# posts FORM N SCENARIO FIRST_PHONE CONNS: N posts of the 300-byte form
# benches/compare.sh sends, CONNS at a time (one on each of CONNS
# keep-alive connections, then their answers); "new" gives each post its
# own phone.
cat > "$WORK/post.py" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
form, n, unique, first = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "new", int(sys.argv[5])
socks = [socket.create_connection((host, int(port))) for _ in range(int(sys.argv[6]))]
answer, i = b"", 0
while i < n:
    sent = []
    for s in socks[: n - i]:
        phone = "053%07d" % (first + i) if unique else "0532222222"
        i += 1
        body = "FirstName=Load&LastName=Gen&Phone=%s&Email=lg%s@loadgen.example&Notes=%s" % (phone, phone, "x" * 170)
        s.sendall(("POST /%s HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s" % (form, len(body), body)).encode())
        sent.append(s)
    for s in sent:
        answer = b""
        while not answer.endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("server closed the connection")
            answer += chunk
print(answer.decode().split("\r\n")[-1])
PY

printf "%-8s %8s %14s %12s  %s\n" scenario posts instructions "per post" "last answer"
for scenario in $SCENARIOS; do
  case "$scenario" in
    dup) form=land_fb ;;
    new) form=land_fb ;;
    unknown) form=no_such_form ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  rm -rf "$WORK/data" "$WORK"/cg.*
  DATAPORT_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" \
    "$BIN" serve --listen $ADDR --data-dir "$WORK/data" >/dev/null 2>"$WORK/valgrind.log" &
  VPID=$!
  for _ in $(seq 1 200); do curl -s -o /dev/null "http://$ADDR/health" && break; sleep 0.2; done
  curl -s -o /dev/null -X POST -d "Phone=0532222222" "http://$ADDR/land_fb"
  python3 "$WORK/post.py" $ADDR $form 500 "$scenario" 0 "$CONNS" >/dev/null
  callgrind_control -z $VPID >/dev/null 2>&1
  last=$(python3 "$WORK/post.py" $ADDR $form "$POSTS" "$scenario" 500 "$CONNS")
  sleep 0.5 # the writer's last linger and commit
  callgrind_control -d $VPID >/dev/null 2>&1
  sleep 1
  dump=$(ls -t "$WORK"/cg.$VPID* | head -1)
  total=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  kill $VPID; wait $VPID 2>/dev/null || true
  printf "%-8s %8d %14d %12d  %s\n" "$scenario" "$POSTS" "$total" $((total / POSTS)) "$last"
done
