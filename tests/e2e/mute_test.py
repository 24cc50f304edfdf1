#!/usr/bin/env python3
"""End-to-end test of host mute over loopback, real processes.

kaigi + a scheduled meeting (no waiting room) + three kaigi-clients:
  host   the meeting's host: mutes alice MUTE_AT s after joining
         (--mute), asks her to unmute ASK_AT s after (--ask-unmute);
  alice  sends a 660 Hz tone the whole time, muted or not (kaigi-client
         never stops its audio: what is tested is that kaigi does), and
         answers the host's request with unmute (--accept-unmute);
  bob    receives, and reports alice's media in 250 ms buckets
         (--timeline: audio frames decoded, 660 Hz energy, video frames).
Checks, on bob's timeline against the host's and alice's logged times:
before the mute, alice's audio and tone reach bob; from the mute + 0.5 s
to her unmute, not a single audio frame of hers and no tone energy,
while her video goes on; from the unmute + 1 s to the end, her audio and
tone are back.

Usage: mute_test.py KAIGI KAIGI_CLIENT
Only 127.0.0.1 is ever used.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checks  # noqa: E402
from meetings_test import Kaigi, client, finish, rfc3339  # noqa: E402

DURATION = 10
MUTE_AT = 4.0  # seconds after the host joined
ASK_AT = 6.5
TIMELINE_MS = 250
ALICE_HZ = 660
# "alice heard" in a window of buckets: this many audio frames of hers
# decoded (a second has 50; on a loaded machine starved clients send and
# decode in bursts, measured down to a third of that) and this share of
# the power at her tone in a bucket with audio (measured 0.99 or more).
MIN_FRAMES = 10
MIN_TONE = 0.5
SETTLE_MS = 500  # after the mute: packets already in flight
RESUME_MS = 1000  # after the unmute: the command reaches the worker


def first_time(log, kind):
    for e in log or []:
        if e.get("type") == kind:
            return e.get("unix_ms")
    return None


def window(timeline, lo, hi):
    """The buckets that lie wholly inside [lo, hi] (unix ms)."""
    return [b for b in timeline
            if b["start_unix_ms"] >= lo and b["unix_ms"] <= hi]


def tone(b):
    return b["tones"].get(str(ALICE_HZ), 0)


def heard(buckets):
    """Enough of alice's audio in buckets, and each bucket with audio is
    her tone."""
    frames = sum(b["audio_frames"] for b in buckets)
    return frames >= MIN_FRAMES and all(
        tone(b) >= MIN_TONE for b in buckets if b["audio_frames"])


def describe(timeline, t0):
    return " ".join(f"{(b['unix_ms'] - t0) / 1000:.2f}:{b['audio_frames']}"
                    f"/{tone(b):.2f}" for b in timeline)


def frames_tones(buckets):
    return [(b["audio_frames"], round(tone(b), 2)) for b in buckets]


def check_timeline(check, tl, mute, unmute, last):
    before = window(tl, mute - 2000, mute)
    check(heard(before),
          "alice's audio and tone reach bob in the 2 s before the mute "
          f"({frames_tones(before)})")
    muted = window(tl, mute + SETTLE_MS, unmute)
    frames = sum(b["audio_frames"] for b in muted)
    energy = max([tone(b) for b in muted] or [1])
    check(len(muted) >= 4 and frames == 0 and energy == 0,
          f"muted: bob decodes no audio of alice's in {len(muted)} buckets "
          f"({frames} frames, tone energy up to {energy:.3f})")
    video = sum(b["video_frames"] for b in muted)
    check(video > 0, f"muted: alice's video still reaches bob ({video} "
                     f"frames)")
    after = window(tl, unmute + RESUME_MS, last)
    check(heard(after),
          f"after the unmute + {RESUME_MS} ms alice's audio and tone are "
          f"back ({frames_tones(after)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-mute-") as tmp:
        k = Kaigi(args.kaigi, tmp)
        k.start()
        st, m = k.call("POST", "/api/meetings", {
            "title": "Mute", "start": rfc3339(int(time.time())),
            "duration": 600, "settings": {"waiting_room": False}})
        st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
        pin = info.get("pin", "")
        host = client(args, k, tmp, "host",
                      ["--meeting", m["id"], "--host-key", m["host_key"],
                       "--tone", "880", "--seed", "1",
                       "--mute", f"alice@{MUTE_AT}",
                       "--ask-unmute", f"alice@{ASK_AT}"], DURATION)
        procs = [host]
        for name, extra in [("alice", ["--tone", str(ALICE_HZ),
                                       "--accept-unmute"]),
                            ("bob", ["--tone", "440", "--timeline",
                                     str(TIMELINE_MS), "--expect-tones",
                                     str(ALICE_HZ)])]:
            procs.append(client(args, k, tmp, name,
                                ["--meeting", m["id"], "--pin", pin,
                                 "--seed", str(len(procs) + 1)] + extra,
                                DURATION))
        r = finish(procs, timeout=DURATION + 40)
        check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        h, a, b = r["host"], r["alice"], r["bob"]
        for name, rep in r.items():
            check(rep.get("exit") == 0 and rep.get("admitted") is True,
                  f"{name} joined and exits 0 ({rep.get('exit')}, "
                  f"{rep.get('error')})")
        mute = first_time(h.get("mute_log"), "mute")
        unmute = first_time(a.get("mute_log"), "unmute")
        check(mute is not None and first_time(h.get("mute_log"),
                                              "ask_unmute") is not None,
              f"the host sent mute and ask_unmute ({h.get('mute_log')})")
        check(first_time(a.get("mute_log"), "muted") is not None
              and unmute is not None,
              f"alice was told muted, and answered the request with unmute "
              f"({a.get('mute_log')})")
        sent = (a.get("sent") or {}).get("audio_frames", 0)
        # A starved client skips frames rather than bursting them out.
        check(sent >= 0.3 * 50 * DURATION,
              f"alice kept sending audio while muted ({sent} frames)")
        rb = (b.get("remotes") or {}).get(a.get("participant"), {})
        tl = rb.get("timeline") or []
        last = rb.get("last_media_unix_ms") or 0
        if mute and unmute and tl:
            print(f"  bob's timeline of alice (s from the mute: audio "
                  f"frames/{ALICE_HZ} Hz energy), unmute at "
                  f"{(unmute - mute) / 1000:.2f} s:\n  "
                  + describe(tl, mute))
            check_timeline(check, tl, mute, unmute, last)
        else:
            check(False, "bob's timeline of alice, and both times")
        if check.items:
            for name in ["kaigi", "host", "alice", "bob"]:
                with open(os.path.join(tmp, f"{name}.log")) as f:
                    print(f"--- {name}.log (tail)\n{f.read()[-2000:]}")
    if check.items:
        print(f"{len(check.items)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
