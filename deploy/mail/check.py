#!/usr/bin/env python3
"""Hand check of a running mail instance (scripts/peers mail-start): sends callside's validation
mail to alice over SMTP and reads it back over IMAP, as callside and the client SDK will.

    python3 deploy/mail/check.py <dir>/ports.env

Prints the timings and exits 0 if the token came back; standard library only.
"""
import glob
import imaplib
import os
import smtplib
import sys
import time
from email.message import EmailMessage

env = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[1]) if "=" in line)
host, domain, alice = env["MAIL_HOST"], env["MAIL_DOMAIN"], env["MAIL_ALICE_ADDRESS"]
smtp_port, imap_port = int(env["MAIL_SMTP_PORT"]), int(env["MAIL_IMAP_PORT"])
new_files = f'{env["MAIL_DIR"]}/alice/Maildir/new/*'

token = "ABCdef123-_" + os.urandom(4).hex()
msg = EmailMessage()
msg["From"], msg["To"] = f"noreply@{domain}", alice
msg["Subject"] = "Confirm your email for callside"
msg.set_content(f"Hello,\n\nconfirm your address for callside.\n\nToken: {token}\n")
criteria = ("FROM", f'"noreply@{domain}"', "SUBJECT", '"Confirm your email for callside"',
            "TO", f'"{alice}"')

# A session already sitting in INBOX before the mail arrives (like a polling SDK).
waiting = imaplib.IMAP4(host, imap_port)
waiting.login("alice", env["MAIL_ALICE_PASSWORD"])
waiting.select("INBOX")
before = set(glob.glob(new_files))

t0 = time.monotonic()
with smtplib.SMTP(host, smtp_port) as smtp:
    refused = smtp.send_message(msg)  # returns once DATA got "250 Message accepted for delivery"
    t_accepted = time.monotonic()
assert refused == {}, refused
while not set(glob.glob(new_files)) - before:
    assert time.monotonic() - t0 < 10, "not in alice's Maildir/new after 10 s"
    time.sleep(0.002)
t_file = time.monotonic()

seen_before_noop = waiting.search(None, *criteria)[1][0].split()
waiting.noop()
seen_after_noop = waiting.search(None, *criteria)[1][0].split()
waiting.logout()

imap = imaplib.IMAP4(host, imap_port)
assert imap.welcome.startswith(b"* OK"), imap.welcome
imap.login("alice", env["MAIL_ALICE_PASSWORD"])
imap.select("INBOX")
ids = imap.search(None, *criteria)[1][0].split()
assert ids, "SEARCH found nothing"
raw = imap.fetch(ids[-1], "(BODY[])")[1][0][1].decode()  # BODY[] sets \Seen; BODY.PEEK[] would not
t_fetched = time.monotonic()
imap.logout()
assert f"Token: {token}" in raw, raw

print(f"OK: Token: {token} fetched over IMAP (message {ids[-1].decode()} of {len(ids)} matching)")
print(f"  SMTP accepted after {1000 * (t_accepted - t0):.1f} ms; in Maildir/new "
      f"{1000 * (t_file - t_accepted):.1f} ms later; fetched {1000 * (t_fetched - t0):.1f} ms after connecting")
print(f"  session selected beforehand: SEARCH before NOOP {len(seen_before_noop)} match(es), "
      f"after NOOP {len(seen_after_noop)}")
