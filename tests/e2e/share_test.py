#!/usr/bin/env python3
"""Host-only screen sharing is enforced by kaigi while a screen flows, not
only when it is offered, through the real kaigi over loopback.

  1. Policy narrowed: screen sharing is "all"; aiko (not host) shares her
     screen and bob receives it. The host (a bare WebSocket client) sets
     screen_share to "host": kaigi stops forwarding aiko's screen although
     her client keeps sending it (kaigi-client never stops on its own),
     aiko is told share_denied, and her camera still reaches bob.
  2. Role handed over: under "host", the host (kaigi-client) shares its
     screen, then hands the role to carol: kaigi stops forwarding the old
     host's screen, its camera keeps coming.

bob's --timeline (250 ms buckets of screen and camera frames per remote)
is lined up with the wall clock of the change.

Usage: share_test.py KAIGI KAIGI_CLIENT
Only 127.0.0.1 is ever used.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checks, Kaigi, MiniWs, reap, rfc3339  # noqa: E402

SETTLE_MS = 500  # what is in flight when the change lands


def client(args, k, tmp, name, extra, duration):
    report = os.path.join(tmp, f"{name}.json")
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    cmd = [args.client, "--server", f"ws://127.0.0.1:{k.http}/ws", "--name",
           name, "--duration", str(duration), "--report", report] + extra
    return (name, report,
            subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)


def meeting(k, share):
    st, m = k.call("POST", "/api/meetings", {
        "title": f"share-{share}", "start": rfc3339(int(time.time())),
        "duration": 600,
        "settings": {"waiting_room": False, "join_before_host": True,
                     "screen_share": share}})
    st2, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    if st != 201 or st2 != 200:
        raise SystemExit(f"cannot create a meeting ({st}, {st2})")
    return m, info["pin"]


def split(timeline, at_ms):
    """(screen frames, camera frames) of the buckets wholly before at_ms,
    and of those starting SETTLE_MS after it."""
    before = [e for e in timeline if e["unix_ms"] <= at_ms]
    after = [e for e in timeline if e["start_unix_ms"] >= at_ms + SETTLE_MS]
    s = lambda es, f: sum(e[f] for e in es)  # noqa: E731
    return ((s(before, "screen_frames"), s(before, "video_frames")),
            (s(after, "screen_frames"), s(after, "video_frames")),
            len(after))


def remote_of(rep, pid):
    return (rep or {}).get("remotes", {}).get(pid, {})


def narrowed(check, args, k, tmp):
    m, pin = meeting(k, "all")
    host = MiniWs(k.http)
    host.send({"type": "join", "meeting": m["id"], "host_key": m["host_key"],
               "name": "Host"})
    check(host.wait_for("joined").get("host") is True, "1: the host is in")
    procs = [client(args, k, tmp, "aiko", ["--meeting", m["id"], "--pin", pin,
                                           "--screen", "--seed", "1"], 9),
             client(args, k, tmp, "bob", ["--meeting", m["id"], "--pin", pin,
                                          "--timeline", "250", "--seed", "2"],
                    9)]
    # Narrow once bob has had aiko's screen for a while: kaigi's stats
    # show two publishers, then give the screen ~3 s.
    end = time.monotonic() + 20
    while time.monotonic() < end:
        st, rooms = k.call("GET", f"/api/rooms/{m['id']}/stats")
        parts = (rooms or {}).get("participants", []) if st == 200 else []
        if sum(1 for p in parts if p.get("tracks_published", 0) >= 2) >= 1:
            break
        time.sleep(0.2)
    time.sleep(3)
    host.send({"type": "set", "screen_share": "host"})
    at_ms = int(time.time() * 1000)
    settings = host.wait_for("settings")
    check(settings.get("screen_share") == "host",
          f"1: the host narrows screen sharing to the host ({settings})")
    out = {n: reap(n, r, p, log, time.monotonic() + 30)
           for n, r, p, log in procs}
    host.close()
    a, b = out["aiko"], out["bob"]
    aid = (a or {}).get("participant")
    tl = remote_of(b, aid).get("timeline") or []
    (s0, c0), (s1, c1), n_after = split(tl, at_ms)
    check(s0 > 10, f"1: bob decoded aiko's screen before ({s0} frames)")
    check(n_after >= 8 and s1 == 0,
          f"1: no screen frame of aiko's reaches bob from 0.5 s after the "
          f"change ({s1} in {n_after} buckets), though she keeps sending")
    check(c1 > 10, f"1: aiko's camera still reaches bob ({c1} frames)")
    check(((a or {}).get("screen") or {}).get("error") == "share_denied",
          f"1: aiko is told share_denied ({(a or {}).get('screen')})")
    sent = ((a or {}).get("screen") or {}).get("sent_frames", 0)
    got = remote_of(b, aid).get("screen_frames_decoded", 0)
    check(sent > got + 40,
          f"1: aiko's client sent on ({sent} screen frames sent, {got} "
          f"decoded by bob)")


def handed_over(check, args, k, tmp):
    m, pin = meeting(k, "host")
    procs = [client(args, k, tmp, "host2",
                    ["--meeting", m["id"], "--host-key", m["host_key"],
                     "--screen", "--handover", "carol@5", "--seed", "3"], 9)]
    time.sleep(0.5)
    procs += [client(args, k, tmp, "carol", ["--meeting", m["id"], "--pin",
                                             pin, "--seed", "4"], 9),
              client(args, k, tmp, "bob2", ["--meeting", m["id"], "--pin",
                                            pin, "--timeline", "250",
                                            "--seed", "5"], 9)]
    out = {n: reap(n, r, p, log, time.monotonic() + 40)
           for n, r, p, log in procs}
    h, b = out["host2"], out["bob2"]
    hid = (h or {}).get("participant")
    steps = [e for e in (h or {}).get("mute_log", [])
             if e.get("type") == "handover"]
    check(bool(steps), f"2: the host handed over to carol ({steps})")
    if not steps:
        return
    tl = remote_of(b, hid).get("timeline") or []
    (s0, c0), (s1, c1), n_after = split(tl, steps[0]["unix_ms"])
    check(s0 > 10, f"2: bob decoded the host's screen before ({s0} frames)")
    check(n_after >= 8 and s1 == 0,
          f"2: the old host's screen stops reaching bob once carol is host "
          f"({s1} frames in {n_after} buckets)")
    check(c1 > 10, f"2: the old host's camera still reaches bob ({c1})")
    check(((h or {}).get("screen") or {}).get("error") == "share_denied",
          f"2: the old host is told share_denied ({(h or {}).get('screen')})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-share-") as tmp:
        k = Kaigi(args.kaigi, tmp)
        k.start()
        try:
            narrowed(check, args, k, tmp)
            handed_over(check, args, k, tmp)
            check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        finally:
            if k.proc and k.proc.poll() is None:
                k.proc.kill()
        return check.summary(os.path.join(tmp, "kaigi.log"))


if __name__ == "__main__":
    sys.exit(main())
