#!/usr/bin/env bash
# Intake latency while every peer is down: the same `dataport loadgen` run
# against dataport with no peers at all (no DNS checks, no alerts), with an
# email and a webhook alert on every new lead and both peers answering, and
# with the same alerts while the SMTP server and the webhook receiver hang
# (accept, never speak) and email domain checks ask a DNS that never
# replies.
#
#   bash benches/peers_down.sh            # CONNS=32 DURATION=10
#
# The peers are small python3 sockets on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-32}
DURATION=${DURATION:-10}
DP=127.0.0.1:18400
DNS_PORT=18453
SMTP_PORT=18425
HOOK_PORT=18480
SMTP_UP=18426
HOOK_UP=18481
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cargo build --release -q

# Peers on loopback: a silent DNS (UDP, never replies) and, for SMTP and the
# webhook, a pair each: one that accepts and never writes (down), one that
# answers (up: a minimal SMTP responder, an HTTP 200).
python3 - "$DNS_PORT" "$SMTP_PORT" "$HOOK_PORT" "$SMTP_UP" "$HOOK_UP" <<'PY' &
import socket, sys, threading
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("127.0.0.1", int(sys.argv[1])))
held = []
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(1024)
    return s
def hold(port):
    s = listen(port)
    while True:
        held.append(s.accept()[0])
def smtp_session(c):
    f = c.makefile("rb")
    c.sendall(b"220 sink\r\n")
    data = False
    for line in f:
        if data:
            if line in (b".\r\n", b".\n"):
                data = False
                c.sendall(b"250 ok\r\n")
            continue
        cmd = line[:4].upper()
        if cmd == b"DATA":
            data = True
            c.sendall(b"354 go\r\n")
        elif cmd == b"QUIT":
            c.sendall(b"221 bye\r\n")
            break
        elif cmd == b"EHLO":
            c.sendall(b"250 sink\r\n")
        else:
            c.sendall(b"250 ok\r\n")
    c.close()
def http_session(c):
    f = c.makefile("rb")
    while True:
        length = 0
        line = f.readline()
        if not line:
            break
        while line not in (b"\r\n", b"\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            line = f.readline()
        f.read(length)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    c.close()
def serve(port, session):
    s = listen(port)
    while True:
        c = s.accept()[0]
        threading.Thread(target=session, args=(c,), daemon=True).start()
for p in sys.argv[2:4]:
    threading.Thread(target=hold, args=(int(p),), daemon=True).start()
threading.Thread(target=serve, args=(int(sys.argv[4]), smtp_session), daemon=True).start()
threading.Thread(target=serve, args=(int(sys.argv[5]), http_session), daemon=True).start()
while True:
    dns.recvfrom(2048)
PY
sleep 0.5

# Three configurations: no checks and no alerts; an email and a webhook
# alert on every new lead with both peers answering; the same alerts with
# both peers hung, plus email domain checks against the silent DNS.
alerts() { # smtp-port hook-port
  cat <<TOML

[smtp]
host = "127.0.0.1"
port = $1
from = "dataport@example.com"
timeout_ms = 10000

[[alerts]]
event = "WebApi_New_Client_Reg"
action = "email"
to = "sales@example.com"

[[alerts]]
event = "WebApi_New_Client_Reg"
action = "webhook"
to = "http://127.0.0.1:$2/hook"
TOML
}
cp data/dataport.toml "$WORK/plain.toml"
{ cat data/dataport.toml; alerts $SMTP_UP $HOOK_UP; } > "$WORK/alerts_up.toml"
{ sed -e 's/^dns_check = .*/dns_check = true/' \
      -e "s/^dns_servers = .*/dns_servers = [\"127.0.0.1:$DNS_PORT\"]/" data/dataport.toml
  alerts $SMTP_PORT $HOOK_PORT; } > "$WORK/peers_down.toml"

for run in plain alerts_up peers_down; do
  rm -rf "$WORK/data"
  DATAPORT_LOG=warn target/release/dataport serve --config "$WORK/$run.toml" --listen $DP --data-dir "$WORK/data" >/dev/null 2>&1 &
  DPID=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://$DP/health" && break; sleep 0.1; done
  echo "== $run"
  target/release/dataport loadgen --url "http://$DP" -c "$CONNS" -d "$DURATION" --mix 80,10,10 | grep -E "requests:|latency|codes|verify"
  curl -s "http://$DP/metrics" | grep -E "^dataport_(dns_[a-z_]+|outbox_[a-z_]+)_total " | tr '\n' ' '
  echo
  kill $DPID; wait $DPID 2>/dev/null || true
done
