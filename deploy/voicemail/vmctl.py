#!/usr/bin/env python3
"""A small ctrl_tcp client for baresip 1.0.0 playing voicemail (see README.md).

Connects to baresip's ctrl_tcp (JSON in netstrings), prints every message in and out
("-> {...}" sent, "<- {...}" received), and for every incoming call:

  * when it is answered (CALL_LOCAL_SDP "answer"; sndfile has just opened the call's two WAV
    files), renames the oldest unclaimed dump-<time>-dec.wav / -enc.wav in --record-dir to
    vm-<Call-ID>.wav (what the caller said) and vm-<Call-ID>.sent.wav (what baresip sent);
  * when it is established, sends "listcalls", and "callfind <Call-ID>" + "callstat" in one
    write to learn the To URI of the INVITE (the number the caller dialled: the mailbox);
  * if --hangup USER=SECONDS names the caller's user part, hangs the call up after SECONDS with
    "callfind <Call-ID>" + "hangup" in one write (baresip then sends the caller a BYE);
  * when it is closed, writes vm-<Call-ID>.json next to the recording: call_id, caller (From
    URI), mailbox (To URI), recording, closed (baresip's reason), times.

Exits after --calls closed calls (0: never) or --timeout seconds. ctrl_tcp takes one
connection at a time: a new one replaces this one.
"""
import argparse
import json
import os
import re
import socket
import sys
import threading
import time


class Ctrl:
    def __init__(self, port, log):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.settimeout(0.2)
        self.buf = b""
        self.lock = threading.Lock()
        self.log = log
        self.n = 0
        self.waiting = {}  # token -> function(response), called from messages()

    def frame(self, command, params=None):
        self.n += 1
        msg = {"command": command, "token": "t%d" % self.n}
        if params is not None:
            msg["params"] = params
        body = json.dumps(msg).encode()
        self.out(msg)
        return msg["token"], b"%d:%s," % (len(body), body)

    def send(self, *commands, replies=None):
        """Sends commands (command or (command, params)) in ONE write: baresip handles all
        netstrings of one TCP read in one go, so nothing else runs between them. replies:
        {index of a command: function(response)}."""
        with self.lock:
            frames = [self.frame(*(c if isinstance(c, tuple) else (c,))) for c in commands]
            for i, h in (replies or {}).items():
                self.waiting[frames[i][0]] = h
            self.sock.sendall(b"".join(f for _, f in frames))

    def out(self, msg):
        self.log("-> " + json.dumps(msg))

    def messages(self):
        """Yields received messages; None now and then (on a read timeout)."""
        while True:
            while True:
                m = re.match(rb"(\d+):", self.buf)
                if not m:
                    break
                n, start = int(m.group(1)), m.end()
                if len(self.buf) < start + n + 1:
                    break
                body, self.buf = self.buf[start:start + n], self.buf[start + n + 1:]
                msg = json.loads(body) if body else {}
                self.log("<- " + json.dumps(msg))
                if msg.get("response"):
                    h = self.waiting.pop(msg.get("token"), None)
                    if h:
                        h(msg)
                yield msg
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                yield None
                continue
            if not data:
                return
            self.buf += data


def safe(call_id):
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", call_id)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True, help="ctrl_tcp port on 127.0.0.1")
    ap.add_argument("--record-dir", help="baresip's snd_path: claim and rename recordings")
    ap.add_argument("--hangup", action="append", default=[], metavar="USER=SECONDS",
                    help="hang up calls from this caller (user part of From) after SECONDS")
    ap.add_argument("--calls", type=int, default=0, help="exit after this many closed calls")
    ap.add_argument("--timeout", type=float, default=0, help="exit after this many seconds")
    ap.add_argument("--connect-timeout", type=float, default=10)
    args = ap.parse_args()

    hangups = {}
    for h in args.hangup:
        user, _, secs = h.partition("=")
        hangups[user] = float(secs)

    t0 = time.time()

    def log(line):
        print("%7.3f %s" % (time.time() - t0, line), flush=True)

    ctrl = None
    while ctrl is None:
        try:
            ctrl = Ctrl(args.port, log)
        except OSError:
            if time.time() - t0 > args.connect_timeout:
                raise
            time.sleep(0.1)
    log("connected to 127.0.0.1:%d" % args.port)

    calls = {}       # Call-ID -> info
    claimed = set()  # dump files already given to a call
    closed = 0

    def claim(call_id):
        """The oldest unclaimed dump pair is this call's: sndfile opens the files while the
        call is answered, in the main thread, right before the CALL_LOCAL_SDP event."""
        if not args.record_dir or calls[call_id].get("recording"):
            return
        decs = sorted(f for f in os.listdir(args.record_dir)
                      if re.fullmatch(r"dump-[\d-]+-dec\.wav", f) and f not in claimed)
        if not decs:
            log("!! no recording found for %s" % call_id)
            return
        dec = decs[0]
        enc = dec[:-len("dec.wav")] + "enc.wav"
        claimed.update((dec, enc))
        base = os.path.join(args.record_dir, "vm-" + safe(call_id))
        os.rename(os.path.join(args.record_dir, dec), base + ".wav")
        if os.path.exists(os.path.join(args.record_dir, enc)):
            os.rename(os.path.join(args.record_dir, enc), base + ".sent.wav")
        calls[call_id]["recording"] = base + ".wav"
        calls[call_id]["dump_name"] = dec
        log("   recording of %s: %s -> %s.wav" % (call_id, dec, base))

    def mailbox(call_id):
        def h(msg):
            m = re.search(r"local_uri:\s*(?:\S+\s+)?<([^>]*)>", msg.get("data", ""))
            if m and call_id in calls:
                calls[call_id]["mailbox"] = m.group(1)
                log("   %s dialled %s" % (call_id, m.group(1)))
        return h

    def found(call_id):
        def h(msg):
            if not msg.get("data", "").startswith("setting current call"):
                # baresip 1.0.0 "hangup" takes no Call-ID: it ends the current call, which is
                # not call_id now (gone meanwhile): whatever call is current was hung up
                log("!! callfind %s failed (%r): the hangup hit the current call, if any"
                    % (call_id, msg.get("data")))
        return h

    def hangup_later(call_id, secs):
        time.sleep(secs)
        if call_id in calls and "closed" not in calls[call_id]:
            log("   hanging up %s after %.1f s" % (call_id, secs))
            ctrl.send(("callfind", call_id), "hangup", replies={0: found(call_id)})

    for msg in ctrl.messages():
        if args.timeout and time.time() - t0 > args.timeout:
            log("!! timeout")
            return 1
        if msg is None:
            continue
        if not msg.get("event"):
            continue
        cid, typ = msg.get("id"), msg.get("type")
        if not cid or msg.get("direction") != "incoming":
            continue
        call = calls.setdefault(cid, {"call_id": cid, "caller": msg.get("peeruri"), "t_first_event": time.time()})
        if typ == "CALL_LOCAL_SDP" and msg.get("param") == "answer":
            claim(cid)
        elif typ == "CALL_ESTABLISHED":
            claim(cid)
            call["t_established"] = time.time()
            ctrl.send("listcalls")
            ctrl.send(("callfind", cid), "callstat", replies={1: mailbox(cid)})
            user = re.sub(r"^sips?:([^@;]*).*", r"\1", msg.get("peeruri", ""))
            if user in hangups:
                threading.Thread(target=hangup_later, args=(cid, hangups[user]), daemon=True).start()
        elif typ == "CALL_CLOSED":
            call["closed"] = msg.get("param", "")
            call["t_closed"] = time.time()
            if call.get("recording"):
                with open(call["recording"][:-len(".wav")] + ".json", "w") as f:
                    json.dump(call, f, indent=1)
            log("   call %s from %s to %s closed (%s); recording %s"
                % (cid, call.get("caller"), call.get("mailbox"), call["closed"], call.get("recording")))
            closed += 1
            if args.calls and closed >= args.calls:
                return 0
    log("!! connection closed by baresip")
    return 1


if __name__ == "__main__":
    sys.exit(main())
