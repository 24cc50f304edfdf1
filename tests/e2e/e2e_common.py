"""Helpers shared by the end-to-end tests. Only 127.0.0.1 is ever used."""
import base64
import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HOST = "127.0.0.1"


def free_port(kind):
    """A port on 127.0.0.1 that was free a moment ago (TCP or UDP)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Checks:
    """Prints one line per check and remembers the failures."""

    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failed.append(what)

    # the media test's older spelling
    def check(self, ok, what):
        self(ok, what)

    @property
    def items(self):
        return self.failed

    def summary(self, log=None):
        """Prints the tail of log (a kaigi.log) if a check failed, then the
        closing line; returns the exit status."""
        if self.failed and log and os.path.exists(log):
            with open(log) as f:
                sys.stdout.write(f"--- {os.path.basename(log)}\n"
                                 + f.read()[-3000:])
        print(f"{len(self.failed)} check(s) failed" if self.failed else
              "all checks passed")
        return 1 if self.failed else 0


def get_stats(http_port):
    url = f"http://{HOST}:{http_port}/api/stats"
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.load(r)


def wait_up(http_port, proc, deadline_s=10):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"kaigi exited early with {proc.returncode}")
        try:
            return get_stats(http_port)
        except OSError:
            time.sleep(0.05)
    raise SystemExit("kaigi did not answer /api/stats within 10 s")


def reap(name, report, p, log, end):
    """Waits for a kaigi-client until the monotonic deadline end (at least
    a second; killed past it), closes its log and returns its JSON report,
    or None. A client that failed or left no report has its log printed."""
    try:
        p.wait(timeout=max(1, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    log.close()
    try:
        with open(report) as f:
            out = json.load(f)
    except (OSError, ValueError):
        out = None
    if p.returncode != 0 or out is None:
        with open(log.name) as f:
            sys.stdout.write(f"--- {name} (exit {p.returncode}) log:\n"
                             f"{f.read()}")
    return out


def rfc3339(t):
    return datetime.datetime.fromtimestamp(
        t, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Kaigi:
    """One kaigi process with the meetings store in tmp/data, HTTP on a
    free 127.0.0.1 port, and each media worker on an ephemeral UDP port of
    127.0.0.1 (its number is in /api/stats). Its output goes to
    tmp/kaigi.log."""

    def __init__(self, binary, tmp, extra=()):
        self.binary = binary
        self.tmp = tmp
        self.extra = list(extra)
        self.data = os.path.join(tmp, "data")
        self.http = free_port(socket.SOCK_STREAM)
        self.udp = 0  # each media worker takes an ephemeral port
        self.proc = None
        self.log = None

    def start(self):
        self.log = open(os.path.join(self.tmp, "kaigi.log"), "a")
        self.proc = subprocess.Popen(
            [self.binary, "--listen", f"{HOST}:{self.http}", "--udp",
             f"{HOST}:{self.udp}", "--data", self.data, "--node", "e2e"]
            + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        end = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"kaigi exited with {self.proc.returncode}")
            try:
                self.call("GET", "/api/stats", auth=None)
                break
            except OSError:
                if time.monotonic() > end:
                    raise SystemExit("kaigi did not answer within 10 s")
                time.sleep(0.05)
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode

    def call(self, method, path, body=None, auth="admin"):
        headers = {"Content-Type": "application/json"}
        if auth == "admin":
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth:
            headers["Authorization"] = auth
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{HOST}:{self.http}{path}",
                                     data=data, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                text = r.read()
                return r.status, json.loads(text) if text.strip() else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    @property
    def ws(self):
        return f"ws://{HOST}:{self.http}/ws"


class MiniWs:
    """A bare WebSocket client (RFC 6455; Debian's python3 has no
    WebSocket library): JSON text messages only. Every text message that
    arrives is kept as it came, in .texts, so that a test can scan what a
    socket was sent; every wait is bounded by a deadline."""

    def __init__(self, http_port, bind=HOST, timeout=5):
        self.sock = socket.create_connection((HOST, http_port),
                                             timeout=timeout,
                                             source_address=(bind, 0))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {HOST}:{http_port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        self.texts = []
        self.closed = False
        end = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if time.monotonic() > end or len(self.buf) > 65536:
                raise OSError("no WebSocket handshake")
            more = self.sock.recv(4096)
            if not more:
                raise OSError("closed during the handshake")
            self.buf += more
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("no WebSocket upgrade")

    def _frame(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            hdr = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4]
                                             for i, b in enumerate(data)))

    def send(self, obj):
        self._frame(0x1, json.dumps(obj).encode())

    def _need(self, count, end):
        while len(self.buf) < count:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message in time")
            self.sock.settimeout(left)
            more = self.sock.recv(65536)
            if not more:
                self.closed = True
                raise OSError("closed")
            self.buf += more

    def recv(self, timeout=10):
        """The next text message as a dict. Raises TimeoutError when none
        comes within timeout s, OSError when the socket closes (a close
        frame or EOF), ValueError for a message that is not JSON. A frame
        cut by the timeout stays buffered for the next call."""
        end = time.monotonic() + timeout
        text = b""
        for _ in range(1000):  # frames of one message; pings between
            self._need(2, end)
            op, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            off = 2
            if n == 126:
                self._need(4, end)
                n, off = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                self._need(10, end)
                n, off = int.from_bytes(self.buf[2:10], "big"), 10
            self._need(off + n, end)
            fin = self.buf[0] & 0x80
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            if op == 0x8:
                self.closed = True
                raise OSError("close frame")
            if op == 0x9:
                self._frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            text += payload
            if fin:
                self.texts.append(text.decode("utf-8", "replace"))
                return json.loads(text)
        raise ValueError("too many frames")

    def wait_for(self, *types, timeout=10):
        """The first message of one of types within timeout s, or {} (the
        deadline passed or the socket failed). Messages before it are
        kept in .texts."""
        end = time.monotonic() + timeout
        try:
            while True:
                msg = self.recv(max(0.0, end - time.monotonic()))
                if msg.get("type") in types:
                    return msg
        except (OSError, ValueError):
            return {}

    def collect(self, seconds):
        """Every message that arrives within seconds (fewer if the socket
        closes first)."""
        out = []
        end = time.monotonic() + seconds
        try:
            while True:
                out.append(self.recv(max(0.0, end - time.monotonic())))
        except (OSError, ValueError):
            return out

    def barrier(self, timeout=10):
        """Every message kaigi sends this socket before its answer to a
        message it does not know (error unknown_type): kaigi answers a
        socket's messages in order, so whatever it was going to send
        before it read this one has arrived. None if no answer came."""
        self.send({"type": "e2e_barrier"})
        out = []
        end = time.monotonic() + timeout
        try:
            while True:
                msg = self.recv(max(0.0, end - time.monotonic()))
                if msg.get("type") == "error" and \
                        msg.get("code") == "unknown_type":
                    return out
                out.append(msg)
        except (OSError, ValueError):
            return None

    def closes_within(self, timeout):
        """True if kaigi closes this socket within timeout s (whatever it
        sends before that is read and kept)."""
        end = time.monotonic() + timeout
        try:
            while True:
                self.recv(max(0.0, end - time.monotonic()))
        except TimeoutError:
            return False
        except (OSError, ValueError):
            return self.closed

    def close(self):
        self.sock.close()
