#!/usr/bin/env bash
# The main job end to end on captures shipped in tests/data, with no database server:
#   flowmeter (pcap -> biflows + DNS -> YAF-compatible IPFIX, sent over TCP)
#   -> mediator (TCP session journaled to its spool, loaded into the embedded SQLite store)
#   -> answers to a few analyst questions, printed as tables.
# Usage: scripts/demo.sh [CAPTURE...]   (default: four real captures from tests/data)
set -euo pipefail
cd "$(dirname "$0")/.."
data=tests/data/pcap
if [ $# -eq 0 ]; then
  set -- "$data/zeek+zeek/testing/btest/Traces/wikipedia.pcap" \
         "$data/zeek+zeek/testing/btest/Traces/dns-edns-ecs.pcap" \
         "$data/OISF+suricata-verify/tests/dns/bug-1158/input.pcap" \
         "$data/dns-stats+compactor/test-scripts/gold.pcap"
fi

if ! dpkg-query -W -f='${Status}' libpcap-dev 2>/dev/null | grep -q 'install ok installed'; then
  echo "== installing libpcap-dev (the flowmeter links libpcap for live capture)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libpcap-dev >/dev/null
fi
echo "== building flowmeter and mediator"
cargo build --quiet --locked -p flowmeter -p mediator
bin=${CARGO_TARGET_DIR:-target}/debug

work=$(mktemp -d "${TMPDIR:-/tmp}/pdns-demo.XXXXXX")
mediator_pid=""
cleanup() { [ -n "$mediator_pid" ] && kill "$mediator_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
db="$work/pdns.sqlite3"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

echo "== mediator listening on 127.0.0.1:$port, store: embedded SQLite ($db)"
"$bin/mediator" run --sqlite "$db" --in-host 127.0.0.1 --in-port "$port" \
  --spool-dir "$work/spool" --rotate-seconds 1 --poll-interval 0.2 >"$work/mediator.log" 2>&1 &
mediator_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

echo "== flowmeter reading $# capture(s), exporting IPFIX over TCP"
"$bin/flowmeter" --in "$@" --ipfix tcp --out 127.0.0.1 --ipfix-port "$port" \
  --spool-dir "$work/flowmeter-spool"

# The flowmeter has closed its TCP session; the mediator closes that session's journal file
# (fsync, then the .lock goes) once it has read everything. Wait for that, stop the daemon
# (SIGTERM: it finishes the batch in flight), then load whatever is still journaled with a
# cron-style pass over the spool, so the tables below are complete however fast the machine is.
for _ in $(seq 1 100); do
  ls "$work/spool"/*.lock >/dev/null 2>&1 || break
  sleep 0.1
done
kill -TERM "$mediator_pid"
wait "$mediator_pid" || { echo "mediator failed:"; cat "$work/mediator.log"; exit 1; }
mediator_pid=""
"$bin/mediator" run --sqlite "$db" --in-dir "$work/spool" --once >>"$work/mediator.log" 2>&1 \
  || { echo "mediator failed:"; cat "$work/mediator.log"; exit 1; }

q() { echo; echo "## $1"; shift; "$bin/mediator" query --sqlite "$db" --limit 10 "$@"; }
q "Who resolved upload.wikimedia.org, and when?" who-resolved upload.wikimedia.org
q "Which addresses did upload.wikimedia.org map to?" ips-of upload.wikimedia.org
q "Subdomains of tunnel.com (a DNS tunnel in bug-1158.pcap)" subdomains tunnel.com
q "When was weberdns.de first seen, how often, by whom?" first-seen weberdns.de
q "Rarest top-level domains" rare-tlds
q "Clients using a resolver other than 141.142.2.2" resolvers --allow 141.142.2.2
