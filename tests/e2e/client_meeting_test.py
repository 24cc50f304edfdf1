#!/usr/bin/env python3
"""kaigi-client against a scripted signalling server: the meeting side.

A tiny WebSocket server (stdlib only, one connection per scenario) plays
kaigi's part of signalling/PROTOCOL.md message by message, so that every
outcome the client must handle is exercised whatever the real server
does today: the waiting room then denied (exit 3), join errors with their
extra fields (exit 1), removed and ended (exit 0), and host mode
(--admit-all, --remove, --lock-after, the notice log). The client's join
message must carry exactly the credential it was given.

No media flows: kaigi's publish answer never comes, so these runs end
before the transports connect. Only 127.0.0.1 is used.

Usage: client_meeting_test.py KAIGI_CLIENT
"""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
    """The server side of one WebSocket connection."""

    def __init__(self, conn):
        self.conn = conn
        self.buf = b""
        self.closed = False
        self._handshake()

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _handshake(self):
        while b"\r\n\r\n" not in self.buf:
            chunk = self.conn.recv(4096)
            if not chunk:
                raise EOFError
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        headers = {}
        for line in head.decode().split("\r\n")[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        key = headers["sec-websocket-key"]
        acc = base64.b64encode(
            hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n")
        proto = headers.get("sec-websocket-protocol")
        if proto:
            resp += f"Sec-WebSocket-Protocol: {proto.split(',')[0]}\r\n"
        self.conn.sendall((resp + "\r\n").encode())

    def _frame(self, opcode, payload):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.conn.sendall(head + payload)

    def send(self, obj):
        self._frame(1, json.dumps(obj).encode())

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self._frame(8, struct.pack("!H", 1000))
            except OSError:
                pass

    def recv(self, timeout=5.0):
        """The next text message as JSON, or None on close or timeout."""
        self.conn.settimeout(timeout)
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read(n)))
                op = b0 & 0x0F
                if op == 8:
                    self.close()
                    return None
                if op == 9:
                    self._frame(10, data)
                elif op == 1:
                    return json.loads(data)
        except (EOFError, OSError, socket.timeout):
            return None

    def expect(self, mtype, timeout=5.0):
        """Skips other messages until one of type mtype; None if none."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.recv(max(0.05, end - time.monotonic()))
            if m is None:
                return None
            if m.get("type") == mtype:
                return m
        return None


class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.items.append(what)


def run(client, tmp, name, args, script):
    """Runs the client against script(peer) -> checks; returns
    (exit code, report, what script returned)."""
    lsock = socket.socket()
    lsock.bind((HOST, 0))
    lsock.listen(1)
    lsock.settimeout(10)
    port = lsock.getsockname()[1]
    report = os.path.join(tmp, name + ".json")
    log = open(os.path.join(tmp, name + ".log"), "w")
    cmd = [client, "--server", f"ws://{HOST}:{port}/ws", "--name", name,
           "--duration", "1", "--report", report] + args
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    got = None
    try:
        conn, _ = lsock.accept()
        peer = Peer(conn)
        got = script(peer)
        peer.close()
        rc = proc.wait(timeout=30)
    except Exception as e:  # keep going: the checks below say what broke
        print(f"FAIL {name}: {e!r}")
        proc.kill()
        rc = proc.wait()
    lsock.close()
    log.close()
    try:
        with open(report) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        rep = {}
    if rc not in (0, 1, 3) or not rep:
        with open(os.path.join(tmp, name + ".log")) as f:
            sys.stdout.write(f"--- {name} (exit {rc}) log:\n{f.read()}")
    return rc, rep, got


def check_waiting_clean(fail, who, rep):
    fail.check(rep.get("transports_while_waiting") == 0 and
               rep.get("media_while_waiting") == 0,
               f"{who}: no transport and no media while waiting")


def denied(client, tmp, fail):
    def script(p):
        join = p.expect("join")
        p.send({"type": "waiting", "reason": "waiting_room",
                "meeting": {"id": "48213377019", "title": "T"}})
        # No publish may come while waiting.
        extra = p.recv(timeout=0.5)
        p.send({"type": "denied"})
        p.close()
        return join, extra

    rc, rep, got = run(client, tmp, "denied",
                       ["--meeting", "48213377019", "--pin", "60417283"],
                       script)
    join, extra = got or (None, None)
    fail.check(join == {"type": "join", "meeting": "48213377019",
                        "pin": "60417283", "name": "denied"},
               f"denied: join carries meeting+pin only ({join})")
    fail.check(extra is None, f"denied: nothing sent while waiting ({extra})")
    fail.check(rc == 3, f"denied: exit 3 (got {rc})")
    fail.check(rep.get("denied") is True and rep.get("waited") is True and
               rep.get("waiting_reason") == "waiting_room" and
               rep.get("admitted") is False and rep.get("joined") is False,
               "denied: report says denied after waiting")
    check_waiting_clean(fail, "denied", rep)


def join_error(client, tmp, fail, name, args, err, field=None):
    def script(p):
        join = p.expect("join")
        p.send(dict({"type": "error", "code": err, "message": "no"}, **err_extra))
        p.close()
        return join

    err_extra = {field[0]: field[1]} if field else {}
    rc, rep, join = run(client, tmp, name, args, script)
    fail.check(rc == 1, f"{name}: exit 1 (got {rc})")
    fail.check(rep.get("error") == err, f"{name}: error {rep.get('error')}")
    if field:
        fail.check(rep.get(field[0]) == field[1],
                   f"{name}: {field[0]} {rep.get(field[0])}")
    return join


def errors(client, tmp, fail):
    join = join_error(client, tmp, fail, "invite", ["--invite", "Qm4tok"],
                      "wrong_credentials")
    fail.check(join == {"type": "join", "invite": "Qm4tok", "name": "invite"},
               f"invite: join carries the invite only ({join})")
    join_error(client, tmp, fail, "not_open",
               ["--meeting", "48213377019", "--pin", "1"], "not_open",
               ("opens_at", "2026-11-23T08:55:00Z"))
    join_error(client, tmp, fail, "locked_out",
               ["--meeting", "48213377019", "--pin", "1"], "locked_out",
               ("retry_after", 30))


def removed(client, tmp, fail):
    def script(p):
        p.expect("join")
        p.send({"type": "waiting", "reason": "no_host",
                "meeting": {"id": "48213377019", "title": "T"}})
        p.send({"type": "joined", "participant": "pA", "room": "48213377019",
                "node": "fake", "host": False, "host_id": "pH",
                "participants": [{"id": "pH", "name": "Host"}]})
        pub = p.expect("publish")
        p.send({"type": "removed"})
        p.close()
        return pub

    rc, rep, pub = run(client, tmp, "removed",
                       ["--meeting", "48213377019", "--pin", "1"], script)
    fail.check(pub is not None, "removed: publishes once joined")
    fail.check(rc == 0, f"removed: exit 0 (got {rc})")
    fail.check(rep.get("removed") is True and rep.get("waited") is True and
               rep.get("waiting_reason") == "no_host" and
               rep.get("admitted") is True and rep.get("host") is False and
               rep.get("host_id") == "pH",
               "removed: report says admitted after waiting, then removed")
    check_waiting_clean(fail, "removed", rep)


def collect(p, seconds):
    """Every message p receives for the next seconds."""
    end = time.monotonic() + seconds
    out = []
    while time.monotonic() < end:
        m = p.recv(max(0.05, end - time.monotonic()))
        if m is None:
            break
        out.append(m)
    return out


def host_script(p):
    """Plays kaigi toward a host: returns what the host sent."""
    join = p.expect("join")
    p.send({"type": "joined", "participant": "pH", "room": "48213377019",
            "node": "fake", "host": True, "host_id": "pH",
            "participants": []})
    p.expect("publish")
    p.send({"type": "waiting_list", "waiting": [
        {"id": "pA", "name": "Aiko", "generic": False},
        {"id": "pB", "name": "Bob", "generic": False}]})
    p.send({"type": "join_notice", "participant": {"id": "pB", "name": "Bob"}})
    p.send({"type": "participant_joined",
            "participant": {"id": "pB", "name": "Bob"}})
    # --lock-after 0.5 s, the remove 1 s after Bob is in.
    sent = collect(p, 2.0)
    p.send({"type": "lock_attempt", "name": "Mallory"})
    p.send({"type": "under_attack", "message": "many PINs"})
    p.send({"type": "settings", "locked": True, "screen_share": "host",
            "chat": True, "allow_rename": False})
    p.send({"type": "host", "participant": "pA"})
    p.send({"type": "ended"})
    p.close()
    return join, sent


def host(client, tmp, fail):
    rc, rep, got = run(client, tmp, "host",
                       ["--meeting", "48213377019", "--host-key", "Xy",
                        "--admit-all", "--remove", "Bob", "--lock-after",
                        "0.5"], host_script)
    join, sent = got or (None, [])
    admits = [m for m in sent if m["type"] == "admit"]
    sent = [m for m in sent if m["type"] != "admit"]
    fail.check(join == {"type": "join", "meeting": "48213377019",
                        "host_key": "Xy", "name": "host"},
               f"host: join carries meeting+host_key only ({join})")
    fail.check(admits == [{"type": "admit", "participant": "pA"},
                          {"type": "admit", "participant": "pB"}],
               f"host: admits everyone waiting ({admits})")
    types = sorted(m["type"] for m in sent)
    fail.check(types == ["lock", "remove"] and
               any(m.get("participant") == "pB" for m in sent),
               f"host: sends lock and remove pB ({sent})")
    fail.check(rc == 0, f"host: exit 0 on ended (got {rc})")
    notices = [n.get("type") for n in rep.get("notices", [])]
    fail.check(notices == ["waiting_list", "join_notice", "lock_attempt",
                           "under_attack", "settings", "host", "ended"],
               f"host: notice log ({notices})")
    fail.check(rep.get("ended") is True and rep.get("host") is False and
               rep.get("host_id") == "pA" and rep.get("admitted") is True,
               "host: report says ended, host handed to pA")


def end_after(client, tmp, fail):
    def script(p):
        p.expect("join")
        p.send({"type": "joined", "participant": "pH", "room": "1",
                "node": "fake", "host": True, "host_id": "pH",
                "participants": [{"id": "pA", "name": "Aiko"}]})
        end = p.expect("end", timeout=3)
        p.send({"type": "ended"})
        p.close()
        return end

    rc, rep, end = run(client, tmp, "ender",
                       ["--invite", "tok", "--end-after", "0.3"], script)
    fail.check(end == {"type": "end"}, f"end-after: sends end ({end})")
    fail.check(rc == 0 and rep.get("ended") is True and
               rep.get("host") is True and rep.get("waited") is False,
               f"end-after: exit 0 (got {rc}), report says ended as host")


def mute_host(client, tmp, fail):
    """--mute waits for its target to come in; --ask-unmute follows."""
    def script(p):
        p.expect("join")
        p.send({"type": "joined", "participant": "pH", "room": "48213377019",
                "node": "fake", "host": True, "host_id": "pH",
                "participants": [{"id": "pA", "name": "Aiko"}]})
        p.expect("publish")
        early = collect(p, 0.6)  # both due at 0.2 s; Bob is not in yet
        p.send({"type": "participant_joined",
                "participant": {"id": "pB", "name": "Bob"}})
        late = collect(p, 0.5)
        p.send({"type": "ended"})
        p.close()
        return early, late

    rc, rep, got = run(client, tmp, "mute_host",
                       ["--meeting", "48213377019", "--host-key", "Xy",
                        "--mute", "Bob@0.2", "--ask-unmute", "Bob@0.2"],
                       script)
    early, late = got or ([], [])
    fail.check(early == [], f"mute_host: nothing sent before Bob is in "
                            f"({early})")
    fail.check(late == [{"type": "mute", "participant": "pB"},
                        {"type": "ask_unmute", "participant": "pB"}],
               f"mute_host: mute, then ask_unmute, once Bob is in ({late})")
    log = [(e.get("type"), e.get("name")) for e in rep.get("mute_log", [])]
    fail.check(rc == 0 and log == [("mute", "Bob"), ("ask_unmute", "Bob")],
               f"mute_host: exit 0, mute_log ({rc}, {log})")


def mute_participant(client, tmp, fail):
    """--accept-unmute answers unmute_request with unmute."""
    def script(p):
        p.expect("join")
        p.send({"type": "joined", "participant": "pA", "room": "48213377019",
                "node": "fake", "host": False, "host_id": "pH",
                "participants": [{"id": "pH", "name": "Host"}]})
        p.expect("publish")
        p.send({"type": "muted"})
        p.send({"type": "unmute_request"})
        got = p.expect("unmute", timeout=3)
        p.send({"type": "ended"})
        p.close()
        return got

    rc, rep, got = run(client, tmp, "mute_part",
                       ["--meeting", "48213377019", "--pin", "1",
                        "--accept-unmute"], script)
    fail.check(got == {"type": "unmute"},
               f"mute_participant: answers unmute_request ({got})")
    log = [e.get("type") for e in rep.get("mute_log", [])]
    fail.check(rc == 0 and log == ["muted", "unmute_request", "unmute"],
               f"mute_participant: exit 0, mute_log ({rc}, {log})")


def bad_args(client, tmp, fail):
    """The new test aids refuse bad values with exit 2 and a message."""
    for arg in (["--mute", "Bob"], ["--mute", "@3"], ["--mute", "Bob@x"],
                ["--ask-unmute", "Bob@-1"], ["--remb-drop", "5:3:100"],
                ["--remb-drop", "1:2"], ["--remb-drop", "1:2:5"],
                ["--recv-loss", "101"], ["--timeline", "10"]):
        p = subprocess.run([client, "--room", "r", "--name", "x"] + arg,
                           capture_output=True, text=True, timeout=10)
        first = (p.stderr.splitlines() or [""])[0]
        fail.check(p.returncode == 2 and "bad value" in first,
                   f"{' '.join(arg)}: exit 2 with a message "
                   f"({p.returncode}, {first})")


def main():
    client = sys.argv[1]
    fail = Failures()
    with tempfile.TemporaryDirectory(prefix="kaigi-meet-") as tmp:
        for scenario in (denied, errors, removed, host, end_after,
                         mute_host, mute_participant, bad_args):
            scenario(client, tmp, fail)
    if fail.items:
        print(f"{len(fail.items)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
