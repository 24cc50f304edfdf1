#!/usr/bin/env python3
"""Exactly one well-formed response per HTTP request to the REST API
(issue 12, item 2), through the real kaigi over loopback, on one
keep-alive connection:

  - GET, DELETE and PUT with a body are answered once, after the body
    (they were answered at the headers and again at the body, the second
    response leaking the first and answering the next request out of turn);
  - PUT with Content-Length: 0 is answered (it never was);
  - a chunked POST, or one without Content-Length, gets 411 and the
    connection closes (it was closed with no answer);
  - a malformed Content-Length gets 400;
  - 5,000 GETs with a body on one connection get 5,000 responses, in
    order, and kaigi's memory does not grow with them (under ASan, whose
    quarantine makes RSS meaningless, LeakSanitizer fails kaigi's exit on
    a leak instead).

Usage: http_test.py KAIGI
Only 127.0.0.1 is ever used.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, Checks, Kaigi, rfc3339  # noqa: E402


class Conn:
    """One keep-alive HTTP/1.1 connection that reads whole responses."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.buf = b""

    def send(self, raw):
        self.sock.sendall(raw)

    def response(self, timeout=3):
        """(status, body) of the next response, or None if none comes
        within timeout s; 'closed' if the connection closed."""
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._more(end):
                return "closed" if self.closed else None
        head, rest = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        self.buf = rest
        while len(self.buf) < length:
            if not self._more(end):
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, body

    def _more(self, end):
        self.closed = False
        self.sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            more = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not more:
            self.closed = True
            return False
        self.buf += more
        return True

    def close(self):
        self.sock.close()


def req(method, path, token, body=b"", length=None, extra=""):
    hdr = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
           f"Authorization: Bearer {token}\r\n{extra}")
    if length is None:
        length = len(body)
    if length != "none":
        hdr += f"Content-Length: {length}\r\n"
    return (hdr + "\r\n").encode() + body


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def asan(pid):
    """Whether process pid runs with AddressSanitizer's runtime."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-http-") as tmp:
        k = Kaigi(args.kaigi, tmp)
        k.start()
        try:
            st, m = k.call("POST", "/api/meetings", {
                "title": "Http", "start": rfc3339(int(time.time()) + 3600),
                "duration": 600})
            t = k.token
            c = Conn(k.http)
            shapes = [
                ("GET with a body", req("GET", "/api/meetings", t, b"{}"),
                 200),
                ("DELETE with a body",
                 req("DELETE", "/api/meetings/00000000000", t, b"{}"), 404),
                ("PUT with a body", req("PUT", f"/api/meetings/{m['id']}", t,
                                        b'{"title": "renamed"}'), 200),
                ("PUT with Content-Length: 0",
                 req("PUT", f"/api/meetings/{m['id']}", t), 400),
            ]
            for what, raw, want in shapes:
                c.send(raw)
                first = c.response()
                extra = c.response(timeout=0.5)
                check(first is not None and first != "closed" and
                      first[0] == want and extra is None,
                      f"{what}: one response, {want} "
                      f"({first and first[0] if first != 'closed' else first}"
                      f", then {extra})")
            c.close()
            for what, raw in [
                    ("chunked POST", req("POST", "/api/meetings", t, b"",
                                         length="none",
                                         extra="Transfer-Encoding: chunked"
                                               "\r\n") + b"2\r\n{}\r\n0\r\n\r\n"),
                    ("POST without Content-Length",
                     req("POST", "/api/meetings", t, b"", length="none")),
                    ("malformed Content-Length",
                     req("POST", "/api/meetings", t, b"", length="-5"))]:
                c = Conn(k.http)
                c.send(raw)
                r = c.response()
                codes = (411,) if "Length" not in what or "without" in what \
                    else (400, 411)
                if what == "malformed Content-Length":
                    codes = (400,)
                gone = c.response(timeout=2)
                check(r not in (None, "closed") and r[0] in codes and
                      gone == "closed",
                      f"{what}: {codes} and the connection closes "
                      f"({r if r in (None, 'closed') else r[0]}, then {gone})")
                c.close()
            # Many on one connection: one response each, memory flat.
            c = Conn(k.http)
            n = 5000
            before = rss_kb(k.proc.pid)
            got = 0
            for i in range(n):
                c.send(req("GET", "/api/meetings", t, b'{"x": 1}'))
                r = c.response()
                if r in (None, "closed") or r[0] != 200:
                    break
                got += 1
            late = c.response(timeout=0.5)
            after = rss_kb(k.proc.pid)
            c.close()
            check(got == n and late is None,
                  f"{n} GETs with a body on one connection: {got} answered "
                  f"in turn, nothing extra ({late})")
            if asan(k.proc.pid):
                # ASan keeps freed memory in quarantine (up to 256 MB), so
                # RSS says nothing here; LeakSanitizer checks for leaks
                # when kaigi exits, and "exits cleanly" below fails then.
                print(f"     ASan build: RSS grew {after - before} kB "
                      f"(quarantine); leaks are LeakSanitizer's at exit")
            else:
                check(after - before < 400,
                      f"kaigi's memory over them: {after - before} kB (the "
                      f"old leak, ~112 B each, was ~550 kB per 5,000)")
            st, lst = k.call("GET", "/api/meetings")
            titles = [x["title"] for x in (lst or {}).get("meetings", [])]
            check(st == 200 and "renamed" in titles,
                  f"the API still answers, the PUT applied ({titles})")
            check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        finally:
            if k.proc and k.proc.poll() is None:
                k.proc.kill()
        return check.summary(os.path.join(tmp, "kaigi.log"))


if __name__ == "__main__":
    sys.exit(main())
