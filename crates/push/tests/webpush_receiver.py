#!/usr/bin/env python3
"""A stand-in Web Push service and browser for tests/webpush.rs, independent of callside's code.

It makes a browser's subscription keys (P-256 key pair and auth secret), listens on loopback,
and for each POST checks what a push service and a browser would: the VAPID JWT's ES256 signature
against the `k=` key, its `aud` (this server's origin), `exp` (in the future, within 24 hours)
and `sub`; the headers; and it decrypts the body per RFC 8291 with `http_ece` (PyPI, the Web Push
libraries' reference implementation) over `cryptography`.

Output, one JSON object a line on stdout: first {"port", "p256dh", "auth"}, then one report per
request: {"path", "status", "k", "claims", "headers", "payload", "errors"}. It answers each
request with the next of --statuses (the last one repeats).

Needs: pip install http-ece cryptography (scripts/install-deps does).
"""

import argparse
import base64
import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check_vapid(authorization, origin, errors):
    """Verifies the VAPID header (RFC 8292 §3); returns (k, claims)."""
    match = re.fullmatch(r"vapid t=([A-Za-z0-9_.-]+),\s*k=([A-Za-z0-9_-]+)", authorization or "")
    if not match:
        errors.append(f"Authorization is not 'vapid t=..., k=...': {authorization!r}")
        return None, None
    token, k = match.groups()
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64d(header_b64))
        claims = json.loads(b64d(claims_b64))
        signature = b64d(signature_b64)
    except ValueError as e:
        errors.append(f"the JWT does not parse: {e}")
        return k, None
    if header.get("alg") != "ES256":
        errors.append(f"JWT alg is {header.get('alg')!r}, not ES256")
    try:
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(k))
        if len(signature) != 64:
            raise InvalidSignature()
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as e:
        errors.append(f"the JWT signature does not verify with k: {e!r}")
    now = time.time()
    if claims.get("aud") != origin:
        errors.append(f"aud is {claims.get('aud')!r}, not {origin!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or not (now < exp <= now + 24 * 3600):
        errors.append(f"exp {exp!r} is not within the next 24 hours")
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        errors.append(f"sub {sub!r} is not a mailto: or https: URL")
    return k, claims


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--statuses", default="201")
    parser.add_argument("--retry-after")
    args = parser.parse_args()
    statuses = [int(s) for s in args.statuses.split(",")]
    lock = Lock()

    ua_private = ec.generate_private_key(ec.SECP256R1())
    ua_public = ua_private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth_secret = os.urandom(16)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def do_POST(self):
            errors = []
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            origin = f"http://127.0.0.1:{self.server.server_address[1]}"
            k, claims = check_vapid(self.headers.get("Authorization"), origin, errors)
            if self.headers.get("Content-Encoding") != "aes128gcm":
                errors.append(f"Content-Encoding is {self.headers.get('Content-Encoding')!r}")
            if not (self.headers.get("TTL") or "").isdigit():
                errors.append(f"TTL is {self.headers.get('TTL')!r}")
            payload = None
            try:
                payload = http_ece.decrypt(
                    body, private_key=ua_private, auth_secret=auth_secret, version="aes128gcm"
                ).decode()
            except Exception as e:  # any failure to decrypt is the finding
                errors.append(f"the body does not decrypt: {e!r}")
            with lock:
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
            report = {
                "path": self.path,
                "status": status,
                "k": k,
                "claims": claims,
                "headers": {
                    name: self.headers.get(name) for name in ("TTL", "Urgency", "Content-Type")
                },
                "body_len": len(body),
                "payload": payload,
                "errors": errors,
            }
            print(json.dumps(report), flush=True)
            self.send_response(status)
            if status == 201:
                self.send_header("Location", f"{origin}/message/{len(body)}")
            if args.retry_after is not None and status in (429, 503):
                self.send_header("Retry-After", args.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(
        json.dumps(
            {"port": server.server_address[1], "p256dh": b64e(ua_public), "auth": b64e(auth_secret)}
        ),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
