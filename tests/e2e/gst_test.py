#!/usr/bin/env python3
"""End-to-end test with a third-party client: GStreamer's webrtcbin
(Debian 12, GStreamer 1.22) as a "room system", over loopback.

The room system (gst_room_system.py, run with Debian's /usr/bin/python3
for python3-gi) publishes VP8 320x240 and a 440 Hz Opus tone from a
webrtcbin with bundle-policy=max-bundle, whose offer carries the audio as
"m=audio 0 ... a=bundle-only", and answers kaigi's subscribe offers with
a second webrtcbin that decodes what arrives. Its DTLS offers only
SRTP_AES128_CM_SHA1_80.

1. kaigi --allow-legacy-srtp, a meeting with a host (a bare WebSocket)
   and alice (kaigi-client, 660 Hz): alice decodes the room system's
   video (320x240) and its 440 Hz tone; the room system decodes alice's
   video and 660 Hz tone; kaigi's room stats show the room system on
   AES128_CM_SHA1_80 both ways and alice on AEAD_AES_256_GCM; the host's
   attendee list flags the room system legacy_srtp (and not alice);
   no SRTP unprotect failure anywhere.
2. kaigi without the flag: the room system gets error
   srtp_profile_unsupported, naming SRTP_AES128_CM_SHA1_80 and
   SRTP_AEAD_AES_256_GCM, before its socket closes; kaigi's log says what
   the client offered; /api/stats signalling.srtp_profile_refused counts
   it.

Skips (77) when GStreamer's pieces are missing, unless
KAIGI_GST_REQUIRED=1 (then that fails). tools/test installs them.

Usage: gst_test.py KAIGI KAIGI_CLIENT
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOM_SYSTEM = os.path.join(HERE, "gst_room_system.py")
# python3-gi is Debian's: the runner's python3 may be another (pyenv).
# KAIGI_GST_PYTHON names another interpreter (to try the skip path).
GST_PYTHON = os.environ.get("KAIGI_GST_PYTHON", "/usr/bin/python3")
RS_NAME = "Room System"
RS_HZ, ALICE_HZ = 440, 660
MEDIA_S = 6  # each side's media, counted from its publish connecting
# Enough to call it decoded on a loaded 2-core machine, far below what a
# clean run gives (15 fps video, 50 audio packets/s, over MEDIA_S):
MIN_VIDEO = 20
MIN_AUDIO = 50
MIN_TONE = 0.5  # share of power at the tone (measured 0.99 or more)
ACCEPTS = ("SRTP_AES128_CM_SHA1_80", "SRTP_AEAD_AES_256_GCM")


def probe():
    """None when GStreamer is usable, else why not."""
    if not os.access(GST_PYTHON, os.X_OK):
        return f"{GST_PYTHON} is missing (Debian's python3 with python3-gi)"
    p = subprocess.run([GST_PYTHON, ROOM_SYSTEM, "--probe"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=60, check=False)
    if p.returncode == 0:
        print(p.stdout.strip())
        return None
    return p.stdout.strip() or f"probe exit {p.returncode}"


def meeting(k, **settings):
    st, m = k.call("POST", "/api/meetings", {
        "title": "Room system", "start": rfc3339(int(time.time())),
        "duration": 600, "settings": dict(waiting_room=False, **settings)})
    if st != 201 and st != 200:
        raise SystemExit(f"meeting create: {st} {m}")
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    return m, info["pin"]


def room_system(tmp, k, m, pin, tag, expect_hz, deadline):
    report = os.path.join(tmp, f"rs-{tag}.json")
    log = open(os.path.join(tmp, f"rs-{tag}.log"), "w")
    cmd = [GST_PYTHON, ROOM_SYSTEM, "--http-port", str(k.http),
           "--meeting", m["id"], "--pin", pin, "--name", RS_NAME,
           "--tone", str(RS_HZ), "--expect-hz", str(expect_hz),
           "--duration", str(MEDIA_S), "--deadline", str(deadline),
           "--report", report]
    return report, log, subprocess.Popen(cmd, stdout=log,
                                         stderr=subprocess.STDOUT)


def reap_rs(report, log, p, end):
    try:
        p.wait(timeout=max(1, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    log.close()
    try:
        with open(report) as f:
            rep = json.load(f)
    except (OSError, ValueError):
        rep = None
    if p.returncode != 0 or rep is None:
        with open(log.name) as f:
            print(f"--- room system (exit {p.returncode}) output:\n{f.read()}")
    if rep:
        print("  room system log:\n    " + "\n    ".join(rep.get("log", [])))
    return rep or {}


def sections(sdp):
    """[(kind, port, bundle_only)] of an SDP's m-sections."""
    out = []
    for line in (sdp or "").splitlines():
        if line.startswith("m="):
            f = line[2:].split()
            out.append([f[0], int(f[1]), False])
        elif line.strip() == "a=bundle-only" and out:
            out[-1][2] = True
    return [tuple(s) for s in out]


def stopped(check, k, rc, what):
    """kaigi exits 0 on SIGTERM with nothing from the sanitizers (under
    ASan a leak makes the exit status non-zero)."""
    with open(os.path.join(k.tmp, "kaigi.log")) as f:
        log = f.read()
    bad = [w for w in ("AddressSanitizer", "LeakSanitizer", "runtime error")
           if w in log]
    check(rc == 0 and not bad, f"{what}: kaigi exits cleanly on SIGTERM "
                               f"(status {rc}, sanitizer reports {bad})")


def legacy_scenario(check, args, tmp):
    k = Kaigi(args.kaigi, tmp, ["--allow-legacy-srtp", "--workers", "1"])
    k.start()
    try:
        m, pin = meeting(k)
        host = MiniWs(k.http)
        host.send({"type": "join", "meeting": m["id"],
                   "host_key": m["host_key"], "name": "Host"})
        joined = host.wait_for("joined", timeout=10)
        check(joined.get("host") is True, "the host's bare WebSocket joins "
                                          "as host")
        alice_rep = os.path.join(tmp, "alice.json")
        alice_log = open(os.path.join(tmp, "alice.log"), "w")
        # alice publishes once the room system's tracks are in, for
        # MEDIA_S + 2 s: the room system hears her through its MEDIA_S.
        alice = subprocess.Popen(
            [args.client, "--server", k.ws, "--meeting", m["id"], "--pin",
             pin, "--name", "alice", "--tone", str(ALICE_HZ),
             "--expect-tones", str(RS_HZ), "--wait-remotes", "1",
             "--duration", str(MEDIA_S + 2), "--report", alice_rep],
            stdout=alice_log, stderr=subprocess.STDOUT)
        start = time.monotonic()
        rs = room_system(tmp, k, m, pin, "legacy", ALICE_HZ, deadline=26)
        # Room stats while both are in: keep the last snapshot that has
        # both with their transports up.
        snap = None
        end = start + 30
        while rs[2].poll() is None and time.monotonic() < end:
            st, stats = k.call("GET", f"/api/rooms/{m['id']}/stats")
            if st == 200:
                by = {p.get("name"): p for p in stats.get("participants", [])}
                if all(by.get(n, {}).get("dtls_state") ==
                       {"publish": "connected", "subscribe": "connected"}
                       for n in (RS_NAME, "alice")):
                    snap = by
            time.sleep(0.5)
        rsr = reap_rs(*rs, end)
        ar = reap("alice", alice_rep, alice, alice_log, end + 5) or {}
        print(f"  legacy scenario: {time.monotonic() - start:.1f} s")
        msgs = host.collect(1.0)
        host.close()
    finally:
        rc = k.stop()
    stopped(check, k, rc, "legacy")
    check_signalling(check, rsr)
    check_media(check, rsr, ar, alice.returncode)
    check_kaigi_view(check, snap or {}, ar, msgs)


def check_signalling(check, rsr):
    """What webrtcbin offered, what kaigi answered, what connected."""
    offer = sections(rsr.get("publish_offer"))
    answer = sections(rsr.get("publish_answer"))
    check(offer == [("video", 9, False), ("audio", 0, True)],
          f"webrtcbin offers audio as a bundle-only section ({offer})")
    took = ("refused it: " + rsr["publish_refused"]
            if "publish_refused" in rsr else "took it")
    check(len(answer) == 2 and all(p != 0 for _, p, _ in answer),
          f"kaigi's answer accepts both sections ({answer}; webrtcbin "
          f"{took})")
    check(rsr.get("states", {}).get("pub.final") == "connected" and
          rsr.get("states", {}).get("sub.final") == "connected",
          f"both webrtcbins connected ({rsr.get('states')})")
    cands = rsr.get("candidates", [])
    # "candidate:1 1 UDP 2015363327 127.0.0.1 41234 typ host"
    addrs = sorted({c.split()[5] for c in cands if len(c.split()) > 5})
    check(cands and addrs == ["127.0.0.1"],
          f"webrtcbin gathers on 127.0.0.1 only ({len(cands)} candidates, "
          f"addresses {addrs})")
    check(not rsr.get("errors"), f"no error to the room system "
                                 f"({rsr.get('errors')})")


def check_media(check, rsr, ar, alice_rc):
    """alice and the room system decode each other."""
    got = ar.get("remotes", {}).get(rsr.get("participant") or "?", {})
    check(alice_rc == 0, f"kaigi-client exits 0 ({alice_rc})")
    check(got.get("video_frames_decoded", 0) >= MIN_VIDEO and
          got.get("video_resolution", {}).get("width") == 320 and
          got.get("video_resolution", {}).get("height") == 240,
          f"alice decodes the room system's 320x240 video "
          f"({got.get('video_frames_decoded')} frames, "
          f"{got.get('video_resolution')}; it sent {rsr.get('sent')})")
    tone = got.get("tones", {}).get(str(RS_HZ), 0)
    check(got.get("audio_frames_decoded", 0) >= MIN_AUDIO and
          tone >= MIN_TONE,
          f"alice decodes the room system's {RS_HZ} Hz audio "
          f"({got.get('audio_frames_decoded')} frames, tone {tone:.3f}, "
          f"peak {got.get('audio_peak_hz')} Hz)")
    # the room system decodes alice
    heard = rsr.get("remotes", {}).get(ar.get("participant", "?"), {})
    check(heard.get("video_frames", 0) >= MIN_VIDEO,
          f"the room system decodes alice's video "
          f"({heard.get('video_frames')} frames)")
    check(heard.get("audio_buffers", 0) >= MIN_AUDIO and
          heard.get("tone_share", 0) >= MIN_TONE,
          f"the room system decodes alice's {ALICE_HZ} Hz audio "
          f"({heard.get('audio_buffers')} buffers, tone "
          f"{heard.get('tone_share')})")


def check_kaigi_view(check, snap, ar, msgs):
    """kaigi's room stats (snap: by name) and the host's attendee list
    (msgs: what the host's socket got)."""
    prs, pal = snap.get(RS_NAME, {}), snap.get("alice", {})
    check(prs.get("srtp_profile") == {"publish": "AES_CM_128_HMAC_SHA1_80",
                                      "subscribe": "AES_CM_128_HMAC_SHA1_80"},
          f"kaigi's stats: the room system on AES-CM both ways "
          f"({prs.get('srtp_profile')})")
    check(pal.get("srtp_profile") == {"publish": "AEAD_AES_256_GCM",
                                      "subscribe": "AEAD_AES_256_GCM"} and
          ar.get("srtp_profile") == "AEAD_AES_256_GCM",
          f"kaigi's stats: alice on AEAD_AES_256_GCM "
          f"({pal.get('srtp_profile')}, her report "
          f"{ar.get('srtp_profile')})")
    fails = (prs.get("srtp_unprotect_failures"),
             pal.get("srtp_unprotect_failures"),
             ar.get("srtp_unprotect_failures"))
    check(fails == (0, 0, 0), f"0 SRTP unprotect failures (kaigi: room "
                              f"system, alice; alice's own: {fails})")
    # The list is sent again when a legacy transport connects; the last
    # one with the room system in it tells how it ended up flagged.
    lists = [msg.get("attendees") or [] for msg in msgs
             if msg.get("type") == "attendees"]
    with_rs = [a for a in lists if any(e.get("name") == RS_NAME for e in a)]
    flags = {e.get("name"): e.get("legacy_srtp")
             for e in (with_rs[-1] if with_rs else [])}
    check(flags.get(RS_NAME) is True and flags.get("alice") is False and
          flags.get("Host") is False,
          f"the host's attendee list flags the room system legacy_srtp "
          f"({flags}; {len(lists)} lists, {len(with_rs)} with it)")


def refused_scenario(check, args, tmp):
    k = Kaigi(args.kaigi, tmp, ["--workers", "1"])
    k.start()
    try:
        m, pin = meeting(k, join_before_host=True)
        start = time.monotonic()
        rs = room_system(tmp, k, m, pin, "refused", 0, deadline=20)
        rsr = reap_rs(*rs, start + 25)
        print(f"  refusal scenario: {time.monotonic() - start:.1f} s")
        stats = k.call("GET", "/api/stats")[1] or {}
    finally:
        rc = k.stop()
    stopped(check, k, rc, "refusal")
    errs = [e for e in rsr.get("errors", [])
            if e.get("code") == "srtp_profile_unsupported"]
    err = errs[0] if errs else {}
    at, closed = rsr.get("error_at_s"), rsr.get("closed_at_s")
    check(bool(err) and closed is not None and at is not None and
          at <= closed,
          f"the room system gets srtp_profile_unsupported before its "
          f"socket closes (error at {at} s, closed at {closed} s; "
          f"errors {rsr.get('errors')})")
    text = err.get("message", "")
    check(all(n in text for n in ACCEPTS),
          f"the error names {' and '.join(ACCEPTS)} ({text!r})")
    with open(os.path.join(tmp, "kaigi.log")) as f:
        log = f.read()
    check("the client offered SRTP_AES128_CM_SHA1_80" in log,
          "kaigi's log says what the client offered")
    refused = stats.get("signalling", {}).get("srtp_profile_refused")
    check(refused is not None and refused >= 1,
          f"/api/stats signalling.srtp_profile_refused counts it "
          f"({refused})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    args = ap.parse_args()
    why = probe()
    if why:
        if os.environ.get("KAIGI_GST_REQUIRED") == "1":
            print(f"GStreamer is required (KAIGI_GST_REQUIRED=1): {why}")
            sys.exit(1)
        print(f"skipped: {why}")
        sys.exit(77)
    check = Checks()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kaigi-gst-") as tmp:
        for name, fn in (("refused", refused_scenario),
                         ("legacy", legacy_scenario)):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            fn(check, args, d)
        if check.failed:
            with open(os.path.join(tmp, "legacy", "kaigi.log")) as f:
                print(f"--- kaigi (legacy) log:\n{f.read()}")
    print(f"total {time.monotonic() - t0:.1f} s")
    if check.failed:
        print(f"{len(check.failed)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
