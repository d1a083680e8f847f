#!/usr/bin/env bash
# Runs deploy/kamailio/kamailio.cfg on loopback against sipp user agents and a small HTTP
# receiver standing in for callside, and prints the call events it receives:
#   1. a call answered and hung up by the caller      -> ringing, answered, ended
#   2. a call answered and hung up by the callee      -> ringing, answered, ended
#   3. a call to a busy number                        -> ringing, failed
#   4. a call not answered in time, sent to voicemail -> ringing, diverted, answered, ended
#      and one to a number nobody registered, sent to voicemail likewise
#   5. a call listed with dlg.list and ended with dlg.end_dlg (JSON-RPC over HTTP)
#   6. click-to-dial with dlg.bridge_dlg: A is called, referred to B, calls B
# then a load check (LOAD_RATE calls/s, LOAD_CALLS calls) with the notifications on, and the
# same with them off (-A NO_EVENTS).
#
# Needs: kamailio (+ kamailio-extra-modules, kamailio-utils-modules), sipp (sip-tester),
# python3, curl. Runs as any user; uses 127.0.0.1 and ports BASE_PORT..BASE_PORT+99.
# Environment: BASE_PORT (35000), LOAD_RATE (100), LOAD_CALLS (1000), SKIP_LOAD=1, KEEP=1
# (keep the work directory with all logs), RECEIVER_DELAY_MS (0: how long the stand-in takes to
# answer each event, to see that a slow callside does not slow calls down).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/kamailio.cfg
scn=$here/sipp
base=${BASE_PORT:-35000}
load_rate=${LOAD_RATE:-100}
load_calls=${LOAD_CALLS:-1000}
sip_port=$((base + 60))
rpc_port=$((base + 65))
http_port=$((base + 80))
token="cs_svc_try-$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/callside-kamailio.XXXXXX")
events=$work/events.jsonl
rpc="http://127.0.0.1:$rpc_port/RPC"

caller=+442079460001
n_answer=+442079460002    # uas.xml: answers, the caller hangs up
n_hangup=+442079460003    # uas-hangup.xml: answers and hangs up
n_busy=+442079460004      # uas-busy.xml: 486
n_noanswer=+442079460005  # uas-noanswer.xml: rings until the proxy gives up
n_nobody=+442079460009    # not registered
n_ctd_a=+442079460011     # uas-refer.xml: click-to-dial first party
n_ctd_b=+442079460012     # uas.xml: click-to-dial second party
vm_port=$((base + 86))    # uas-voicemail.xml

pids=()
kam_pid=
cleanup() {
  local p
  [ -n "$kam_pid" ] && kill "$kam_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# -- the callside stand-in: logs every POST (path, Authorization, body) as a JSON line --------
cat >"$work/receiver.py" <<'EOF'
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = open(sys.argv[2], "a", buffering=1)
delay = float(sys.argv[3]) / 1000
lock = threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY, or each reply waits ~40 ms

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body.decode(errors="replace")
        rec = {"path": self.path, "authorization": self.headers.get("Authorization"),
               "content_type": self.headers.get("Content-Type"), "body": parsed}
        with lock:
            log.write(json.dumps(rec) + "\n")
        time.sleep(delay)
        out = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass

class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # Kamailio stopping mid-request

Server(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF

wait_port() { # proto port
  local i
  for i in $(seq 100); do
    if ss -Hln"${1:0:1}" "sport = :$2" | grep -q .; then return 0; fi
    sleep 0.1
  done
  fail "nothing listening on $1 port $2"
}

start_kamailio() { # name, extra kamailio args...
  local name=$1; shift
  mkdir -p "$work/$name"
  kamailio -f "$cfg" -DD -E -P "$work/$name/kamailio.pid" -Y "$work/$name" -w "$work/$name" \
    -A SIP_IP=127.0.0.1 -A "SIP_PORT=$sip_port" -A "RPC_PORT=$rpc_port" \
    -A "CALLSIDE_URL=\"http://127.0.0.1:$http_port/v1/network/calls\"" \
    -A "CALLSIDE_TOKEN=\"$token\"" "$@" >"$work/$name/kamailio.log" 2>&1 &
  kam_pid=$!
  wait_port tcp "$rpc_port"
  wait_port udp "$sip_port"
}

stop_kamailio() {
  kill "$kam_pid"
  wait "$kam_pid" 2>/dev/null || true
  kam_pid=
}

# sipp in the work directory (its -trace_* files land there), never reading stdin
sipp_run() { (cd "$work" && sipp -nostdin -i 127.0.0.1 "$@"); }

uas() { # name scenario port [sipp args]
  local name=$1 sc=$2 port=$3; shift 3
  (cd "$work" && exec sipp -nostdin -i 127.0.0.1 -p "$port" -sf "$scn/$sc" -trace_err -trace_logs "$@" \
    >"$work/$name.out" 2>&1) &
  pids+=($!)
  wait_port udp "$port"
}

register() { # number port
  sipp_run -sf "$scn/register.xml" -s "$1" -key contact_port "$2" -m 1 -timeout 10 -timeout_error \
    "127.0.0.1:$sip_port" >"$work/register-$1.out" 2>&1 || fail "REGISTER $1"
}

call() { # label scenario callee [sipp args]
  local label=$1 sc=$2 callee=$3; shift 3
  echo "-- $label: $caller -> $callee ($sc)"
  sipp_run -sf "$scn/$sc" -s "$callee" -key caller "$caller" -m 1 -timeout 60 -timeout_error \
    -cid_str "$label-%u-%p@%s" -trace_err "$@" "127.0.0.1:$sip_port" >"$work/call-$label.out" 2>&1 || {
      tail -5 "$work/call-$label.out"; fail "call $label"; }
}

rpc() { # method [params as JSON array]
  curl -sS --fail -H 'Content-Type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":${2:-[]},\"id\":1}" "$rpc"
}

# the events of one call as received: body | Authorization as expected? | Content-Type
events_of() { # call_ref-substring
  python3 - "$events" "$1" "Bearer $token" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    b = r["body"]
    if isinstance(b, dict) and sys.argv[2] in b.get("call_ref", ""):
        auth = "auth ok" if r["authorization"] == sys.argv[3] else "AUTH WRONG: %r" % r["authorization"]
        print("   ", json.dumps(b), "|", auth, "|", r["content_type"])
EOF
}

expect_events() { # call_ref-substring expected-events...
  local ref=$1; shift
  local want="$*" got i
  for i in $(seq 50); do
    got=$(python3 -c '
import json, sys
print(" ".join(json.loads(l)["body"]["event"] for l in open(sys.argv[1])
               if sys.argv[2] in json.loads(l)["body"].get("call_ref", "")))' "$events" "$ref")
    [ "$got" = "$want" ] && break
    sleep 0.1
  done
  events_of "$ref"
  [ "$got" = "$want" ] || fail "events for $ref: got '$got', want '$want'"
}

# -- 1..6: behaviour ------------------------------------------------------------------------
python3 "$work/receiver.py" "$http_port" "$events" "${RECEIVER_DELAY_MS:-0}" &
pids+=($!)
wait_port tcp "$http_port"

say "$(kamailio -v | head -1 | cut -d' ' -f2-3) on udp:127.0.0.1:$sip_port, JSON-RPC on $rpc"
# busy (486) is left out of VOICEMAIL_ON here so that call 3 fails rather than go to voicemail
start_kamailio main -A "VOICEMAIL_URI=\"sip:voicemail@127.0.0.1:$vm_port\"" \
  -A 'VOICEMAIL_ON="408|480"' -A RING_TIMEOUT=2000

uas answer uas.xml $((base + 82)) -d 300
uas hangup uas-hangup.xml $((base + 83)) -d 300
uas busy uas-busy.xml $((base + 84))
uas noanswer uas-noanswer.xml $((base + 85))
uas voicemail uas-voicemail.xml "$vm_port"
uas ctd-a uas-refer.xml $((base + 91)) -s "$n_ctd_a" -d 500
uas ctd-b uas.xml $((base + 92)) -d 200
register "$n_answer" $((base + 82))
register "$n_hangup" $((base + 83))
register "$n_busy" $((base + 84))
register "$n_noanswer" $((base + 85))
register "$n_ctd_a" $((base + 91))
register "$n_ctd_b" $((base + 92))
echo "registered (ul.dump): $(rpc ul.dump | tr -d '\t' | grep -o '"AoR":"[^"]*"' | cut -d'"' -f4 | tr '\n' ' ')"

say "1. answered, the caller hangs up"
call answered uac.xml "$n_answer" -d 500
expect_events "answered-" ringing answered ended

say "2. answered, the callee hangs up"
call callee-hangup uac-hangup-received.xml "$n_hangup"
expect_events "callee-hangup-" ringing answered ended

say "3. busy"
call busy uac-busy.xml "$n_busy"
expect_events "busy-" ringing failed

say "4. not answered within RING_TIMEOUT (2 s): forwarded to voicemail"
call voicemail uac.xml "$n_noanswer" -d 500
expect_events "voicemail-" ringing diverted answered ended
call unregistered uac.xml "$n_nobody" -d 200
expect_events "unregistered-" ringing diverted answered ended
grep -h 'Diversion:' "$work"/uas-voicemail_*_logs.log | sed 's/^/    voicemail got /'

say "5. JSON-RPC: dlg.list during a call, then dlg.end_dlg"
# the caller waits for a BYE: the one dlg.end_dlg makes the proxy send
sipp_run -sf "$scn/uac-hangup-received.xml" -s "$n_answer" -key caller "$caller" -m 1 \
  -timeout 60 -timeout_error -cid_str "rpc-%u-%p@%s" "127.0.0.1:$sip_port" >"$work/call-rpc.out" 2>&1 &
rpc_call=$!
for i in $(seq 50); do
  list=$(rpc dlg.list)
  grep -q '"state": 4' <<<"$list" && break
  sleep 0.1
done
echo "\$ curl -d '{\"jsonrpc\":\"2.0\",\"method\":\"dlg.list\",\"id\":1}' $rpc"
echo "$list"
# the confirmed dialog (state 4) of that call
read -r h_entry h_id callid < <(python3 -c '
import json, sys
d = [d for d in json.load(sys.stdin)["result"] if d["state"] == 4][0]
print(d["h_entry"], d["h_id"], d["call-id"])' <<<"$list")
echo "\$ curl -d '{\"jsonrpc\":\"2.0\",\"method\":\"dlg.end_dlg\",\"params\":[$h_entry,$h_id],\"id\":1}' $rpc"
rpc dlg.end_dlg "[$h_entry,$h_id]"
echo
wait "$rpc_call" || fail "the caller did not get the BYE of dlg.end_dlg"
expect_events "$callid" ringing answered ended

say "6. click-to-dial: dlg.bridge_dlg A=$n_ctd_a B=$n_ctd_b"
params="[\"sip:$n_ctd_a@127.0.0.1:$sip_port\",\"sip:$n_ctd_b@127.0.0.1:$sip_port\",\"sip:127.0.0.1:$sip_port\"]"
echo "\$ curl -d '{\"jsonrpc\":\"2.0\",\"method\":\"dlg.bridge_dlg\",\"params\":$params,\"id\":1}' $rpc"
rpc dlg.bridge_dlg "$params"
echo
expect_events "ctd///" ringing answered ended
grep -c '"caller": "click2dial"' "$events" >/dev/null && fail "the controller's own leg was reported"

say "events received for 1-6"
wc -l <"$events"

[ "${SKIP_LOAD:-0}" = 1 ] && exit 0

# -- load -----------------------------------------------------------------------------------
# CPU seconds (user+system) used so far by kamailio and its children
kam_cpu() {
  local p t=0 f
  for p in "$kam_pid" $(pgrep -P "$kam_pid"); do
    f=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    t=$((t + ${f% *} + ${f#* }))
  done
  echo "$t"
}

load() { # label
  local label=$1 before cpu0 cpu1
  before=$(wc -l <"$events")
  cpu0=$(kam_cpu)
  sipp_run -sf "$scn/uac.xml" -s "$n_answer" -key caller "$caller" -r "$load_rate" -m "$load_calls" \
    -d 100 -l 2000 -timeout 300 -cid_str "$label-%u-%p@%s" -trace_stat -stf "load-$label.csv" -fd 1 \
    -trace_err "127.0.0.1:$sip_port" >"$work/load-$label.out" 2>&1 || true
  sleep 2  # let the last events drain
  cpu1=$(kam_cpu)
  python3 - "$work/load-$label.csv" "$label" "$events" "$before" "$((cpu1 - cpu0))" \
    "$(getconf CLK_TCK)" <<'EOF'
import csv, json, sys, collections
path, label, events, before, ticks, hz = sys.argv[1:]
rows = list(csv.reader(open(path), delimiter=";"))
v = dict(zip(rows[0], rows[-1]))
ok, failed = int(v["SuccessfulCall(C)"]), int(v["FailedCall(C)"])
print("%s: %d calls ok, %d failed, %s calls/s created, INVITE-to-200 average %s "
      "(the callee rings 300 ms), kamailio CPU %.1f s"
      % (label, ok, failed, v["CallRate(C)"], v.get("ResponseTimesetup(C)", "?"),
         int(ticks) / int(hz)))
per = collections.defaultdict(list)
for i, line in enumerate(open(events)):
    if i >= int(before):
        b = json.loads(line)["body"]
        per[b["call_ref"]].append(b["event"])
n = sum(len(e) for e in per.values())
full = sum(1 for e in per.values() if e == ["ringing", "answered", "ended"])
print("%s: %d events for %d calls; %d calls with exactly ringing, answered, ended in that order"
      % (label, n, len(per), full))
EOF
}

say "load: $load_calls calls at $load_rate calls/s (ring 300 ms, talk 100 ms), notifications on"
load events-on
stop_kamailio

say "load: the same with -A NO_EVENTS"
start_kamailio noevents -A NO_EVENTS
register "$n_answer" $((base + 82))
load events-off
