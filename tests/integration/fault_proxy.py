#!/usr/bin/env python3
"""An HTTP/1.1 proxy that breaks chosen requests, for push-faults.sh.

It listens on 127.0.0.1 (--port 0: the kernel picks a port, written to
--port-file once it listens) and forwards each request to a plain-HTTP
registry at --upstream HOST:PORT, the Host header unchanged, so the
Locations the registry answers with point back at the proxy. Client
connections are kept alive (HTTP/1.1 unless `Connection: close`); request
bodies come with Content-Length or chunked and go upstream with
Content-Length; the upstream's answer (Content-Length, chunked or to EOF)
is read whole and sent on with Content-Length (a HEAD's headers as they
are). A TLS ClientHello (a client that tries HTTPS first, as distill does
with --tls-verify=false) is logged and its connection closed.

--rules FILE: a JSON list of rules, each
  {"method": "PUT", "path": "REGEX", "times": [1, 2] | "all", "fault": F}
The REGEX is searched in the request target (path and query). Each rule
counts the requests it matches, from 1; it breaks those whose number is in
"times" ("all": every one). The first rule that breaks a request decides
what happens to it. F is one of:
  {"status": 503}             answer that status without asking upstream
                              (the request body read first), with a
                              registry-style {"errors": [...]} body;
                              "retry_after": "1" adds a Retry-After header
  {"reset": N}                read N bytes of the body (all when it is
                              shorter), then close the connection with a
                              TCP RST (SO_LINGER 0), answering nothing;
                              "upstream": true sends the headers and those
                              N bytes to the registry first, then ends
                              that connection too, waiting until the
                              registry is done with them (a registry that
                              saw part of an upload)
  {"slow": S}                 forward, then send the answer in small
                              pieces spread over S seconds
  {"cut": N}                  forward, then send the answer's headers
                              (its whole Content-Length) and the first N
                              bytes of its body, then close the connection
                              with a TCP RST (a download broken midway)
Every request is logged to --log as one line, written before the client
gets an answer (so a client that has finished has all its lines there):
  SEQ CONN METHOD TARGET ACTION STATUS
CONN names the client connection (c1, c2, ...: a new one each accept).
ACTION is "forward", "status", "reset", "reset-upstream", "slow" or "cut" (with
the rule's number and the match count, e.g. "status#0.1"); STATUS the
status sent to the client, or "-" when none was. Only the Python standard
library is used.
"""
import argparse
import http.client
import json
import os
import re
import socket
import socketserver
import struct
import sys
import threading
import time

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authenticate", "proxy-authorization", "content-length", "expect"}
REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
CODES = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "UNAVAILABLE"}


class BadRequest(Exception):
    pass


class Rule:
    def __init__(self, number, spec):
        self.number = number
        self.method = spec.get("method")
        self.path = re.compile(spec.get("path", ""))
        self.times = spec.get("times", "all")
        self.fault = spec["fault"]
        self.seen = 0

    def matches(self, method, target):
        return (self.method is None or self.method == method) and self.path.search(target) is not None


class State:
    def __init__(self, rules, log, upstream):
        self.rules = rules
        self.upstream = upstream
        self.lock = threading.Lock()
        self.seq = 0
        self.conns = 0
        self.log = open(log, "a", buffering=1)

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def decide(self, method, target):
        """The rule that breaks this request and its match count, or None."""
        with self.lock:
            self.seq += 1
            chosen = None
            for rule in self.rules:
                if rule.matches(method, target):
                    rule.seen += 1
                    if chosen is None and (rule.times == "all" or rule.seen in rule.times):
                        chosen = (rule, rule.seen)
            return self.seq, chosen

    def record(self, seq, conn, method, target, action, status):
        with self.lock:
            self.log.write(f"{seq} {conn} {method} {target} {action} {status}\n")
            self.log.flush()


def read_line(rfile):
    line = rfile.readline(65537)
    if len(line) > 65536:
        raise BadRequest("line too long")
    return line


def read_headers(rfile):
    headers = []
    while True:
        line = read_line(rfile)
        if not line:
            raise BadRequest("EOF in headers")
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))


def header(headers, name):
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def read_chunked(rfile, limit=None):
    """A chunked body, whole; with `limit`, stop once that many bytes are read."""
    out = bytearray()
    while True:
        size_line = read_line(rfile)
        if not size_line:
            raise BadRequest("EOF in chunked body")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            read_headers(rfile)  # trailers
            return bytes(out)
        data = rfile.read(size)
        out += data
        if len(data) < size:
            raise BadRequest("EOF in chunk")
        rfile.readline()
        if limit is not None and len(out) >= limit:
            return bytes(out[:limit])


def reset(sock):
    """Close with an RST: no FIN, no answer."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Handler(socketserver.StreamRequestHandler):
    timeout = 120  # an idle client connection is dropped after this

    def setup(self):
        super().setup()
        self.up = None
        with self.server.state.lock:
            self.server.state.conns += 1
            self.conn_id = f"c{self.server.state.conns}"

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        if self.up is not None:
            self.up.close()

    def upstream(self):
        if self.up is None:
            host, port = self.server.state.upstream
            self.up = http.client.HTTPConnection(host, port, timeout=120)
        return self.up

    def handle(self):
        st = self.server.state
        while True:
            try:
                first = self.rfile.peek(1)[:1]
            except OSError:
                return
            if not first:
                return
            if first[0] == 0x16:  # a TLS handshake record: no TLS here
                seq = st.next_seq()
                st.record(seq, self.conn_id, "TLS", "-", "closed", "-")
                return
            try:
                if not self.one_request():
                    return
            except (BadRequest, ValueError) as e:
                print(f"fault_proxy: bad request: {e}", file=sys.stderr)
                return
            except (OSError, http.client.HTTPException) as e:
                print(f"fault_proxy: {e!r}", file=sys.stderr)
                return

    def one_request(self):
        """One request answered (or broken); whether the connection stays."""
        st = self.server.state
        line = read_line(self.rfile)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise BadRequest(f"bad request line {line!r}")
        method, target, version = parts
        headers = read_headers(self.rfile)
        conn_hdr = (header(headers, "connection") or "").lower()
        keep = (version == "HTTP/1.1" and "close" not in conn_hdr) or "keep-alive" in conn_hdr
        chunked = "chunked" in (header(headers, "transfer-encoding") or "").lower()
        length = 0 if chunked else int(header(headers, "content-length") or 0)
        seq, chosen = st.decide(method, target)
        fault = chosen[0].fault if chosen else {}
        tag = f"#{chosen[0].number}.{chosen[1]}" if chosen else ""
        if (header(headers, "expect") or "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()

        if "reset" in fault:
            n = fault["reset"]
            body = read_chunked(self.rfile, n) if chunked else self.rfile.read(min(n, length))
            action = "reset"
            if fault.get("upstream"):
                action = "reset-upstream"
                # a chunked body's length is not known: one byte more than the part
                self.partial_upstream(method, target, headers, body, len(body) + 1 if chunked else length)
            st.record(seq, self.conn_id, method, target, action + tag, "-")
            self.wfile.flush()
            reset(self.connection)
            return False

        body = read_chunked(self.rfile) if chunked else self.rfile.read(length)
        if len(body) < length:
            raise BadRequest("EOF in body")

        if "status" in fault:
            status = fault["status"]
            payload = json.dumps({"errors": [{"code": CODES.get(status, "UNKNOWN"),
                                              "message": "injected by fault_proxy", "detail": None}]}).encode()
            out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", "Content-Type: application/json",
                   f"Content-Length: {0 if method == 'HEAD' else len(payload)}"]
            if "retry_after" in fault:
                out.append(f"Retry-After: {fault['retry_after']}")
            if not keep:
                out.append("Connection: close")
            st.record(seq, self.conn_id, method, target, "status" + tag, status)
            self.wfile.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            if method != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
            return keep

        status, reason, rheaders, rbody, up_closes = self.forward(method, target, headers, body)
        out = [f"HTTP/1.1 {status} {reason}"]
        for k, v in rheaders:
            if k.lower() not in HOP:
                out.append(f"{k}: {v}")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            cl = header(rheaders, "content-length")
            if cl is not None and method == "HEAD":
                out.append(f"Content-Length: {cl}")
        else:
            out.append(f"Content-Length: {len(rbody)}")
        if not keep:
            out.append("Connection: close")
        head = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        raw = head + (b"" if method == "HEAD" else rbody)
        if "cut" in fault:
            st.record(seq, self.conn_id, method, target, "cut" + tag, status)
            self.wfile.write(raw[:len(head) + fault["cut"]])
            self.wfile.flush()
            reset(self.connection)
            return False
        if "slow" in fault:
            st.record(seq, self.conn_id, method, target, "slow" + tag, status)
            pieces = 16
            step = max(1, -(-len(raw) // pieces))
            for i in range(0, len(raw), step):
                time.sleep(fault["slow"] / pieces)
                self.wfile.write(raw[i:i + step])
                self.wfile.flush()
        else:
            st.record(seq, self.conn_id, method, target, "forward", status)
            self.wfile.write(raw)
            self.wfile.flush()
        return keep

    def send_upstream_head(self, up, method, target, headers, length):
        up.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers:
            if k.lower() not in HOP:
                up.putheader(k, v)
        if length or method in ("POST", "PUT", "PATCH"):
            up.putheader("Content-Length", str(length))
        up.endheaders()

    def forward(self, method, target, headers, body):
        for attempt in (1, 2):
            up = self.upstream()
            reused = up.sock is not None
            try:
                self.send_upstream_head(up, method, target, headers, len(body))
            except (BrokenPipeError, ConnectionResetError):
                up.close()  # a kept-alive upstream connection that closed meanwhile
                if attempt == 2 or not reused:
                    raise
                continue
            try:
                if body:
                    up.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the registry answered before reading it all, and closed: its answer is there to read
            try:
                resp = up.getresponse()
            except http.client.RemoteDisconnected:
                up.close()
                if attempt == 2 or not reused:
                    raise
                continue
            rbody = resp.read()
            rheaders = resp.getheaders()
            if resp.will_close:
                up.close()
            return resp.status, resp.reason, rheaders, rbody, resp.will_close

    def partial_upstream(self, method, target, headers, part, length):
        """Headers saying `length` bytes, then only `part`, then the connection closed."""
        host, port = self.server.state.upstream
        up = http.client.HTTPConnection(host, port, timeout=30)
        try:
            self.send_upstream_head(up, method, target, headers, length)
            up.send(part)
            # EOF where the rest should be: the registry reads all that came
            # before it, then answers (to nobody) or closes; waited for, so
            # the registry has done with the part before the client hears
            up.sock.shutdown(socket.SHUT_WR)
            try:
                up.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass
        finally:
            up.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--upstream", required=True, help="HOST:PORT of a plain-HTTP registry")
    ap.add_argument("--rules", help="a JSON file of rules (none: forward everything)")
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    spec = []
    if a.rules:
        with open(a.rules) as f:
            spec = json.load(f)
    rules = [Rule(i, r) for i, r in enumerate(spec)]
    host, _, port = a.upstream.rpartition(":")
    server = Server(("127.0.0.1", a.port), Handler)
    server.state = State(rules, a.log, (host, int(port)))
    with open(a.port_file + ".new", "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.rename(a.port_file + ".new", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
