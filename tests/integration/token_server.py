#!/usr/bin/env python3
"""A token server for a distribution registry's `auth: token:`, for tests.

It follows https://distribution.github.io/distribution/spec/auth/token/:
the registry answers 401 with `WWW-Authenticate: Bearer realm=...,
service=..., scope=...`; the client asks the realm
(`GET REALM?service=S&scope=repository:NAME:pull,push`, its Basic
credentials in Authorization) and sends the token it gets back as
`Authorization: Bearer TOKEN`. The OAuth2 form of the same request
(`POST REALM` with grant_type=password, username, password, service,
scope: https://distribution.github.io/distribution/spec/auth/oauth/) is
answered too.

The token is a JWT (RFC 7519) signed ES256 (RFC 7515/7518: the signature
is r || s, 32 bytes each) with a key whose self-signed certificate is the
registry's `rootcertbundle`. Debian's docker-registry 2.8 finds the key in
the JWS header by, in this order: `x5c` (a chain verified against
rootcertbundle), `jwk`, `kid` (the libtrust key id of a rootcertbundle
certificate's public key); --header picks x5c or kid. Its claims: iss
(the registry's `issuer`), sub, aud (the registry's `service`, a string:
2.8 compares it as one), exp, nbf, iat, jti, and access: one
{type, name, actions} per scope asked for.

Only one account exists (--user, its password read from --password-file);
a request without it, or with another password, is answered 401 with a
registry-style {"errors": [{"code": "UNAUTHORIZED", ...}]}. A request
whose service is not --service is answered 400. Every request is logged
as one JSON line to --log (method, path, account, service, scopes,
status, and the access granted), so tests can see the bearer flow
happened. The port, bound here (0: the kernel picks a free one), is
written to --port-file once the server listens.
"""
import argparse
import base64
import datetime
import hashlib
import http.server
import json
import os
import secrets
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

LIFETIME = 300  # seconds a token is good for (expires_in)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key):
    """libtrust's KeyID: the SHA-256 of the DER SubjectPublicKeyInfo, its
    first 240 bits in base32, in 12 groups of 4 joined by ':'."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(text[i:i + 4] for i in range(0, len(text), 4))


def parse_scopes(values):
    """TYPE:NAME:ACTIONS, as repository:distill/curl:pull,push (the type
    up to the first ':', the actions after the last); several per value
    when space-separated, as OAuth2 scopes are."""
    access = []
    for value in values:
        for scope in value.split():
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind and name and actions:
                access.append({"type": kind, "name": name, "actions": sorted(set(actions.split(",")))})
    return access


class Signer:
    def __init__(self, key_file, cert_file, header):
        with open(key_file, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        if not isinstance(self.key, ec.EllipticCurvePrivateKey) or self.key.curve.name != "secp256r1":
            sys.exit("token_server: the signing key must be EC P-256 (ES256)")
        with open(cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.header = {"typ": "JWT", "alg": "ES256"}
        if header == "x5c":  # standard base64 of the DER, not base64url (RFC 7515 4.1.6)
            self.header["x5c"] = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        else:
            self.header["kid"] = libtrust_key_id(cert.public_key())

    def token(self, claims):
        signing_input = (b64url(json.dumps(self.header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = utils.decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def make_handler(args, signer, password):
    log = open(args.log, "a", buffering=1, encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # the JSON log below says it all
            pass

        def reply(self, status, body, record, extra_headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra_headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            record["status"] = status
            log.write(json.dumps(record, sort_keys=True) + "\n")

        def basic_credentials(self):
            value = self.headers.get("Authorization", "")
            scheme, _, encoded = value.partition(" ")
            if scheme.lower() != "basic":
                return None, None
            try:
                user, sep, pw = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, None
            return (user, pw) if sep else (None, None)

        def answer(self, method, query, user, pw):
            record = {"method": method, "path": self.path.split("?")[0], "account": user,
                      "service": query.get("service", [None])[0], "scopes": query.get("scope", [])}
            if urllib.parse.urlsplit(self.path).path != "/token":
                return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such path"}]}, record)
            if user != args.user or not secrets.compare_digest(pw or "", password):
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required",
                                                    "detail": "bad or missing credentials"}]}, record,
                                  [("WWW-Authenticate", 'Basic realm="distill-test-token"')])
            if record["service"] != args.service:
                return self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service",
                                                    "detail": record["service"]}]}, record)
            now = int(time.time())
            access = parse_scopes(record["scopes"])
            claims = {"iss": args.issuer, "sub": user, "aud": args.service, "exp": now + LIFETIME,
                      "nbf": now - 10, "iat": now, "jti": secrets.token_hex(16), "access": access}
            token = signer.token(claims)
            record["granted"] = access
            issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"token": token, "access_token": token, "expires_in": LIFETIME, "issued_at": issued}
            return self.reply(200, body, record)

        def do_GET(self):
            user, pw = self.basic_credentials()
            self.answer("GET", urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query), user, pw)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            if form.get("grant_type", [""])[0] == "password":
                user, pw = form.get("username", [None])[0], form.get("password", [None])[0]
            else:  # refresh tokens are never issued, so only Basic is left
                user, pw = self.basic_credentials()
            self.answer("POST", form, user, pw)

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--sign-key", required=True, help="PEM EC P-256 private key")
    p.add_argument("--sign-cert", required=True, help="its certificate, in the registry's rootcertbundle")
    p.add_argument("--header", choices=["x5c", "kid"], default="x5c", help="how the JWS header names the key")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (else plain HTTP)")
    p.add_argument("--tls-key")
    args = p.parse_args()
    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().strip()
    signer = Signer(args.sign_key, args.sign_cert, args.header)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args, signer, password))
    server.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        # the handshake in the request's thread, so a client that never
        # finishes one does not stop the others
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(tmp, args.port_file)  # whole or absent for the shell polling it
    server.serve_forever()


if __name__ == "__main__":
    main()
