#!/usr/bin/env bash
# Runs baresip as the voice part of a voicemail system behind deploy/kamailio on loopback:
#   Kamailio (scripts/peers kamailio-start, VOICEMAIL_URI = this baresip, 1.5 s ring timeout),
#   baresip (deploy/voicemail/baresip/*.in filled with sed): auto-answers, plays the greeting,
#     records the caller (sndfile), is controlled over ctrl_tcp,
#   vmctl.py: the controller (ctrl_tcp client), prints every message in and out,
#   a sipp callee that rings and never answers (+442079460005), so calls go to voicemail,
# and three callers that speak (sipp plays sip-tester's g711a.pcap: 7 s of PCMA RTP):
#   1. the voicemail hangs up: vmctl.py lists the call, waits 3 s, sends callfind + hangup;
#      the caller must get the BYE (uac-speak.xml exits 0 only then)
#   2. the caller hangs up after 4 s (uac-speak-hangup.xml)
#   3. nobody hangs up: baresip ends the call itself when the greeting file (greeting.wav padded
#      with silence to MAX_MESSAGE_SECONDS) runs out; the caller gets the BYE
#   4. two calls at once: A hangs up after 6 s; B is hung up by vmctl.py after 3 s (callfind
#      picks the right call), each recording belongs to its call
# Checks: each call has a recording vm-<Call-ID>.wav that is not silent (RMS) and as long as the
# caller spoke, the greeting was sent (vm-<Call-ID>.sent.wav not silent), the callers got their
# BYEs, and the ctrl_tcp events of each call were seen.
#
# Needs: baresip-core (1.0.0), kamailio (+ kamailio-extra-modules, kamailio-utils-modules),
# sip-tester (sipp, /usr/share/sip-tester/g711a.pcap), python3. Uses 127.0.0.1 only: ports
# BASE_PORT..BASE_PORT+59 (35100) and the two Kamailio picks (free ones).
# Environment: BASE_PORT (35100), MAX_MESSAGE_SECONDS (12), KEEP=1 (keep the work directory:
# logs, recordings, sipp traces).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${BASE_PORT:-35100}
max_secs=${MAX_MESSAGE_SECONDS:-12}
vm_sip=$((base + 10))      # baresip SIP (UDP+TCP); it also takes $((base + 11)) for SIP over TLS
uas_port=$((base + 12))    # sipp callee that never answers
caller_port=$((base + 13)) # sipp callers (and $((base + 16)) for a second one at the same time)
ctrl_port=$((base + 15))   # baresip ctrl_tcp
rtp_ports="$((base + 20))-$((base + 39))"
vm_user=+442079460900
vm_uri="sip:$vm_user@127.0.0.1:$vm_sip"
callee=+442079460005
work=$(mktemp -d "${TMPDIR:-/tmp}/callside-voicemail.XXXXXX")
rec=$work/recordings
mkdir -p "$rec" "$work/baresip"

pids=()
kam_started=
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$kam_started" ] && "$root/scripts/peers" stop "$work/kamailio" || true
  if [ "${KEEP:-0}" = 1 ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  [ -f "$work/vmctl.log" ] && { echo "--- vmctl.log" >&2; tail -20 "$work/vmctl.log" >&2; }
  [ -f "$work/baresip.log" ] && { echo "--- baresip.log" >&2; tail -20 "$work/baresip.log" >&2; }
  exit 1
}

for p in baresip sipp kamailio python3; do
  command -v "$p" >/dev/null || fail "$p not found (see README.md: apt-get install baresip-core sip-tester kamailio ...)"
done
pcap=/usr/share/sip-tester/g711a.pcap
[ -f "$pcap" ] || fail "$pcap not found (Debian package sip-tester)"

wait_port() { # proto port
  local i
  for i in $(seq 100); do
    if ss -Hln"${1:0:1}" "sport = :$2" | grep -q .; then return 0; fi
    sleep 0.1
  done
  fail "nothing listening on $1 port $2"
}

# fill <template> <output> NAME=VALUE...: replaces every @NAME@; fails if one is left
fill() {
  local template=$1 out=$2 expr=() kv
  shift 2
  for kv in "$@"; do
    expr+=(-e "s|@${kv%%=*}@|$(printf '%s' "${kv#*=}" | sed -e 's/[\\&|]/\\&/g')|g")
  done
  sed "${expr[@]}" "$template" >"$out"
  if grep -n '@[A-Z_][A-Z_]*@' "$out" | grep -v '^[0-9]*:#' >&2; then
    fail "unfilled placeholders in $out"
  fi
}

# -- the greeting: greeting.wav, then silence up to MAX_MESSAGE_SECONDS ----------------------
# baresip's aufile source ends the call when its file runs out, so the padded length is the
# longest message a caller can leave.
python3 - "$here/baresip/greeting.wav" "$work/greeting.wav" "$max_secs" <<'EOF'
import sys, wave
src = wave.open(sys.argv[1])
assert (src.getframerate(), src.getnchannels(), src.getsampwidth()) == (8000, 1, 2), \
    "the greeting must be 8000 Hz mono 16-bit"
frames = src.readframes(src.getnframes())
pad = max(0, int(float(sys.argv[3]) * 8000) - src.getnframes())
out = wave.open(sys.argv[2], "wb")
out.setnchannels(1); out.setsampwidth(2); out.setframerate(8000)
out.writeframes(frames + b"\0\0" * pad)
out.close()
EOF

fill "$here/baresip/config.in" "$work/baresip/config" \
  SIP_PORT="$vm_sip" CTRL_PORT="$ctrl_port" RTP_PORTS="$rtp_ports" RECORD_DIR="$rec" \
  GREETING="$work/greeting.wav" MAX_CALLS=4
fill "$here/baresip/accounts.in" "$work/baresip/accounts" SIP_PORT="$vm_sip" VOICEMAIL_USER="$vm_user"

# -- Kamailio ------------------------------------------------------------------------------
say "Kamailio (scripts/peers), voicemail $vm_uri, ring timeout 1.5 s"
kam_started=1
PEERS_KAMAILIO_RING_TIMEOUT=1500 "$root/scripts/peers" kamailio-start "$work/kamailio" \
  http://127.0.0.1:1/v1/network/calls "vm-try-$$" "$vm_uri"
# shellcheck disable=SC1091
. "$work/kamailio/ports.env"
proxy=127.0.0.1:$KAMAILIO_SIP_PORT

# -- baresip -------------------------------------------------------------------------------
say "$(baresip -h 2>&1 | head -1 | cut -d' ' -f1-2): SIP udp:127.0.0.1:$vm_sip, ctrl_tcp 127.0.0.1:$ctrl_port, recordings in $rec"
# -s: SIP trace in the log (only to show what arrives; not needed otherwise)
(cd "$work" && exec baresip -s -f "$work/baresip" </dev/null >"$work/baresip.log" 2>&1) &
pids+=($!)
wait_port udp "$vm_sip"
wait_port tcp "$ctrl_port"

python3 "$here/vmctl.py" --port "$ctrl_port" --record-dir "$rec" --hangup +442079460001=3 \
  --calls 5 --timeout $((80 + 2 * max_secs)) >"$work/vmctl.log" 2>&1 &
vmctl_pid=$!
pids+=($vmctl_pid)
for i in $(seq 50); do grep -q connected "$work/vmctl.log" && break; sleep 0.1; done
grep -q connected "$work/vmctl.log" || fail "vmctl.py did not connect"

# -- the callee that never answers ---------------------------------------------------------
(cd "$work" && exec sipp -nostdin -i 127.0.0.1 -p "$uas_port" -sf "$root/deploy/kamailio/sipp/uas-noanswer.xml" \
  -trace_err >"$work/uas-noanswer.out" 2>&1) &
pids+=($!)
wait_port udp "$uas_port"
(cd "$work" && sipp -nostdin -i 127.0.0.1 -sf "$root/deploy/kamailio/sipp/register.xml" -s "$callee" \
  -key contact_port "$uas_port" -m 1 -timeout 10 -timeout_error "$proxy" >"$work/register.out" 2>&1) ||
  fail "REGISTER $callee"

# -- the callers ---------------------------------------------------------------------------
call() { # label scenario caller media_port [sipp args]: the Call-ID is <label>-1-<pid>@127.0.0.1
  local label=$1 sc=$2 caller=$3 mp=$4
  shift 4
  echo "-- $label: $caller -> $callee ($sc), forwarded to voicemail after 1.5 s of ringing"
  (cd "$work" && sipp -nostdin -i 127.0.0.1 -p "${CALLER_PORT:-$caller_port}" -mp "$mp" -sf "$here/sipp/$sc" \
    -s "$callee" -key caller "$caller" -m 1 -timeout $((30 + max_secs)) -timeout_error \
    -cid_str "$label-%u-%p@%s" -trace_err "$@" "$proxy" >"$work/call-$label.out" 2>&1) || {
    local rc=$?
    tail -5 "$work/call-$label.out"; fail "call $label (sipp exit code $rc)"; }
}

# wait until vmctl.py has seen the call closed (it writes vm-<Call-ID>.json then)
wait_closed() { # label
  local i
  for i in $(seq 100); do
    compgen -G "$rec/vm-$1-*.json" >/dev/null && return 0
    sleep 0.1
  done
  fail "vmctl.py did not see call $1 closed"
}

say "1. the voicemail hangs up (ctrl_tcp: callfind + hangup after 3 s)"
call hangup-by-vm uac-speak.xml +442079460001 $((base + 40))
echo "   sipp exited 0: the caller got the voicemail's BYE"
wait_closed hangup-by-vm

say "2. the caller hangs up after 4 s"
call hangup-by-caller uac-speak-hangup.xml +442079460003 $((base + 44)) -d 4000
wait_closed hangup-by-caller

say "3. nobody hangs up: baresip ends the call when the greeting file ends (${max_secs} s)"
call max-length uac-speak.xml +442079460004 $((base + 48))
wait_closed max-length

say "4. two calls at once: A hangs up itself after 6 s; B, 1.2 s later, is hung up by the voicemail after 3 s"
call concurrent-a uac-speak-hangup.xml +442079460006 $((base + 52)) -d 6000 &
call_a=$!
sleep 1.2  # a second apart at least: sndfile names files by the second (see README.md)
CALLER_PORT=$((base + 16)) call concurrent-b uac-speak.xml +442079460001 $((base + 56))
wait "$call_a" || fail "call concurrent-a"
wait_closed concurrent-a
wait_closed concurrent-b

wait "$vmctl_pid" || fail "vmctl.py exited with an error"

say "ctrl_tcp transcript (vmctl.py; -> sent, <- received; seconds since it connected)"
cat "$work/vmctl.log"

say "recordings"
ls -l "$rec"
python3 - "$rec" <<'EOF' || fail "recordings"
import glob, json, math, os, struct, sys, wave

def stats(path):
    w = wave.open(path)
    assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), w.getparams()
    n = w.getnframes()
    s = struct.unpack("<%dh" % n, w.readframes(n))
    rms = math.sqrt(sum(x * x for x in s) / n) if n else 0.0
    # 20 ms blocks with some energy: how much of it is sound
    blocks = [s[i:i + 160] for i in range(0, n, 160)]
    loud = sum(1 for b in blocks if b and math.sqrt(sum(x * x for x in b) / len(b)) > 100)
    return n / 8000, rms, loud * 0.02

# expected per call: baresip's reason for closing, and the length of the recording (s). sndfile
# writes only what arrives: the caller speaks 7 s (g711a.pcap) and sends nothing after that.
want = {"hangup-by-vm": ("Connection reset by user", 2.5, 3.5),
        "hangup-by-caller": ("Connection reset by peer", 3.5, 4.5),
        "max-length": ("end of file", 6.5, 7.5),
        "concurrent-a": ("Connection reset by peer", 5.5, 6.5),
        "concurrent-b": ("Connection reset by user", 2.5, 3.5)}
bad = 0
for meta in sorted(glob.glob(os.path.join(sys.argv[1], "vm-*.json"))):
    m = json.load(open(meta))
    label = os.path.basename(meta)[3:].split("-1-")[0]
    secs, rms, loud = stats(m["recording"])
    ssecs, srms, sloud = stats(m["recording"][:-4] + ".sent.wav")
    reason, lo, hi = want[label]
    ok = (rms > 500 and loud > secs / 2 and lo <= secs <= hi and srms > 500 and sloud > 0.5
          and m["closed"] == reason)
    bad += not ok
    print("%-4s %s" % ("ok" if ok else "BAD", label))
    print("     call %s from %s, dialled %s, closed: %r" % (m["call_id"], m["caller"], m.get("mailbox"), m["closed"]))
    print("     heard %s: %.2f s (want %.1f-%.1f), RMS %.0f, %.2f s of it sound"
          % (os.path.basename(m["recording"]), secs, lo, hi, rms, loud))
    print("     sent  %s: %.2f s, RMS %.0f, %.2f s of it sound (the greeting)"
          % (os.path.basename(m["recording"][:-4] + ".sent.wav"), ssecs, srms, sloud))
found = len(glob.glob(os.path.join(sys.argv[1], "vm-*.json")))
if found != 5:
    print("expected 5 calls, found %d" % found)
    bad += 1
sys.exit(1 if bad else 0)
EOF

say "what baresip got (its SIP trace, -s): the first INVITE's To and Diversion"
grep -m1 -A20 '^INVITE ' "$work/baresip.log" | grep -E '^(INVITE |To:|From:|Call-ID:|Diversion:)' || true
echo
echo "all good"
