#!/usr/bin/env python3
"""Idle WebSockets cannot lock a meeting out (issue 12, item 1), through
the real kaigi over loopback.

2,000 WebSockets from 10 addresses (127.0.0.10-19) upgrade and then never
send `join`. Before the fix each took a participant slot and 1,000 of
them made every real join `room_full`. Now, with kaigi --max-unjoined 100
--max-participants 2:
  - a socket holds no participant slot until kaigi accepts its join;
  - at most 100 unjoined sockets are kept; the flood's others are closed
    at once and counted (refused);
  - a right PIN from a fresh address (127.0.0.50) gets in during the
    flood: its socket takes the place of the oldest one of the source
    holding the most (counted as evicted); so does a second one;
  - --max-participants counts joined participants only;
  - every idle socket is closed after the 10 s join deadline (counted as
    join_timeouts), and the joined ones stay;
  - with the default pool, 150 sockets at once from one address (a NAT'd
    office, kaigi-bench) are all kept.

Usage: flood_test.py KAIGI
Only 127.0.0.0/8 is ever used.
"""
import argparse
import base64
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checks, Kaigi, MiniWs, rfc3339  # noqa: E402

SOURCES = [f"127.0.0.{10 + i}" for i in range(10)]
PER_SOURCE = 200
POOL = 100           # --max-unjoined
DEADLINE_S = 10       # KG_JOIN_DEADLINE


def open_idle(port, src):
    """A WebSocket upgrade from src that will never join; the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    return s


def closed_by_server(s, timeout):
    """True if the server closes s within timeout (reads past whatever it
    sent first: the upgrade's answer, an error frame)."""
    s.settimeout(timeout)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


def office(check, binary, tmp):
    """150 sockets at once from one address, as from a NAT'd office or
    kaigi-bench, with the default pool (1024): all are kept (a hard
    per-address cap would refuse them; 16 refused 144 of kaigi-bench's
    160 clients)."""
    k = Kaigi(binary, os.path.join(tmp, "office"))
    os.makedirs(k.tmp, exist_ok=True)
    k.start()
    socks = []
    try:
        socks = [MiniWs(k.http, bind="127.0.0.60") for _ in range(150)]
        sig = signalling(k)
        check(sig["unjoined"] == 150 and sig["unjoined_refused"] == 0,
              f"150 sockets at once from one address are all kept "
              f"({sig['unjoined']} unjoined, {sig['unjoined_refused']} "
              f"refused)")
    finally:
        for w in socks:
            w.close()
        k.stop()


def signalling(k):
    return k.call("GET", "/api/stats", auth=None)[1]["signalling"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-flood-") as tmp:
        k = Kaigi(args.kaigi, tmp, extra=["--max-participants", "2",
                                          "--max-unjoined", str(POOL)])
        k.start()
        socks = []
        try:
            st, m = k.call("POST", "/api/meetings", {
                "title": "Flood", "start": rfc3339(int(time.time())),
                "duration": 600,
                "settings": {"waiting_room": False,
                             "join_before_host": True}})
            st2, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
            t0 = time.monotonic()
            for src in SOURCES:
                for _ in range(PER_SOURCE):
                    socks.append(open_idle(k.http, src))
            opened = time.monotonic() - t0
            # kaigi has taken them all in once it counted each one
            end = time.monotonic() + 15
            sig = signalling(k)
            while time.monotonic() < end and \
                    sig["unjoined"] + sig["unjoined_refused"] + \
                    sig["unjoined_evicted"] < len(socks):
                time.sleep(0.1)
                sig = signalling(k)
            held = POOL
            check(0 < sig["unjoined"] <= held and
                  sig["unjoined_refused"] + sig["unjoined_evicted"] >=
                  len(socks) - held,
                  f"{len(socks)} idle sockets from {len(SOURCES)} addresses "
                  f"(opened in {opened:.1f} s): {sig['unjoined']} held, "
                  f"{sig['unjoined_refused']} refused, "
                  f"{sig['unjoined_evicted']} evicted (pool of {POOL})")
            ws = MiniWs(k.http, bind="127.0.0.50")
            ws.send({"type": "join", "meeting": m["id"], "pin": info["pin"],
                     "name": "Rightful"})
            got = ws.wait_for("joined", "error")
            check(got.get("type") == "joined",
                  f"a right PIN from a fresh address gets in during the "
                  f"flood ({got.get('type')} {got.get('code', '')})")
            ws2 = MiniWs(k.http, bind="127.0.0.51")
            ws2.send({"type": "join", "meeting": m["id"], "pin": info["pin"],
                      "name": "Second"})
            got2 = ws2.wait_for("joined", "error")
            ws3 = MiniWs(k.http, bind="127.0.0.52")
            ws3.send({"type": "join", "meeting": m["id"], "pin": info["pin"],
                      "name": "Third"})
            got3 = ws3.wait_for("joined", "error")
            check(got2.get("type") == "joined" and
                  got3.get("code") == "room_full",
                  f"--max-participants 2 counts joined participants only "
                  f"({got2.get('type')}, then {got3.get('code')})")
            evicted = sig["unjoined_evicted"]
            sig = signalling(k)
            # the first newcomer finds the pool full; once it joined, its
            # place and the evicted one's leave room for the others
            check(sig["unjoined_evicted"] >= evicted + 1,
                  f"the newcomers took the flood's places "
                  f"({sig['unjoined_evicted']} evicted)")
            # The deadline: every held socket is closed by kaigi.
            end = time.monotonic() + DEADLINE_S + 5
            while time.monotonic() < end and signalling(k)["unjoined"] > 0:
                time.sleep(0.2)
            sig = signalling(k)
            check(sig["unjoined"] == 0 and sig["join_timeouts"] >= held - 5,
                  f"idle sockets are closed after the {DEADLINE_S} s join "
                  f"deadline ({sig['unjoined']} left, "
                  f"{sig['join_timeouts']} timed out)")
            sample = socks[:3] + socks[PER_SOURCE:PER_SOURCE + 3]
            check(all(closed_by_server(s, 2) for s in sample),
                  "the idle sockets see kaigi close them")
            check(ws.barrier() is not None,
                  "the joined participant is still connected")
            for w in (ws, ws2, ws3):
                w.close()
            check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        finally:
            for s in socks:
                s.close()
            if k.proc and k.proc.poll() is None:
                k.proc.kill()
        office(check, args.kaigi, tmp)
        return check.summary(os.path.join(tmp, "kaigi.log"))


if __name__ == "__main__":
    sys.exit(main())
