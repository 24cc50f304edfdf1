#!/usr/bin/env python3
"""End-to-end test of the active speaker and --loudest, real processes.

Run 1, kaigi as is: three kaigi-clients in one room, "loud" with a tone
at amplitude 0.8 (about -5 dBov), "q1" and "q2" at 0.02 (about -37 dBov).
Each report must show the level it sent measured from its own PCM, and
every client must have received `speaker` events whose last names loud.
Nothing is suppressed: everyone decodes everyone's audio.

Run 2, kaigi --loudest 1: the same three. The quiet ones hear the loud
one (>= 80 % of its frames) and next to nothing of each other (at most
the fraction of a second before the first 300 ms window ranks them), and
kaigi counts the quiet ones' packets it did not forward.

Usage: speaker_test.py KAIGI KAIGI_CLIENT [--kaigictl KAIGICTL]
                       [--duration S]
Only 127.0.0.1 is ever used.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, Checks, free_port, get_stats, reap  # noqa: E402

LINGER = 2
PLAN = [("loud", 0.8, 440), ("q1", 0.02, 660), ("q2", 0.02, 880)]
# -20 log10(A / sqrt 2), rounded: RFC 6464 -dBov of the tone's RMS
EXPECTED_LEVEL = {"loud": 5, "q1": 37, "q2": 37}


def start_kaigi(args, tmp, extra):
    http_port = free_port(socket.SOCK_STREAM)
    log = open(os.path.join(tmp, "kaigi.log"), "w")
    proc = subprocess.Popen(
        [args.kaigi, "--listen", f"{HOST}:{http_port}", "--udp",
         f"{HOST}:0", "--data", os.path.join(tmp, "data"), "--workers", "1",
         "--node", "e2e-node", "--open-rooms"] + extra,
        stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"kaigi exited early with {proc.returncode}")
        try:
            get_stats(http_port)
            return proc, log, http_port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("kaigi did not answer /api/stats within 10 s")


def room_stats(http_port, token):
    """/api/rooms/spk/stats, or {}."""
    req = urllib.request.Request(
        f"http://{HOST}:{http_port}/api/rooms/spk/stats",
        headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.load(r)
    except (OSError, ValueError):
        return {}


def run_clients(args, tmp, http_port):
    """Runs the three; returns their reports, the last speaker that
    /api/rooms/spk/stats named while they ran, and its last reading with
    all three in the room."""
    ws = f"ws://{HOST}:{http_port}/ws"
    with open(os.path.join(tmp, "data", "admin.token")) as f:
        token = f.read().strip()
    procs = []
    for i, (name, amp, tone) in enumerate(PLAN):
        report = os.path.join(tmp, f"{name}.json")
        cmd = [args.client, "--server", ws, "--room", "spk", "--name", name,
               "--duration", str(args.duration), "--report", report,
               "--tone", str(tone), "--seed", str(i + 1),
               "--amplitude", str(amp), "--video-kbps", "100",
               "--wait-remotes", "2", "--linger", str(LINGER)]
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        procs.append((name, report, log, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT)))
    reports = {}
    end = time.monotonic() + args.duration + LINGER + 30
    seen = None
    full = {}
    while time.monotonic() < end and any(p.poll() is None
                                         for _, _, _, p in procs):
        st = room_stats(http_port, token)
        seen = st.get("speaker") or seen
        if len(st.get("participants", [])) == 3:
            full = st
        if seen and args.kaigictl and args.ctl_out is None:
            args.ctl_out = subprocess.run(
                [args.kaigictl, "--server", f"http://{HOST}:{http_port}",
                 "--token", token, "stats", "spk"], capture_output=True,
                text=True, timeout=10).stdout
        time.sleep(0.3)
    for name, report, log, p in procs:
        reports[name] = reap(name, report, p, log, end)
    return reports, seen, full


def stop_kaigi(fail, proc, log):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    fail(proc.returncode == 0, f"kaigi exits cleanly (exit {proc.returncode})")


def heard(reports, rx, tx):
    """(decoded audio frames, frames sent) of tx's audio at rx."""
    pid = reports[tx]["participant"]
    got = reports[rx].get("remotes", {}).get(pid, {})
    return got.get("audio_frames_decoded", 0), reports[tx]["sent"][
        "audio_frames"]


def check_common(fail, reports, seen, label):
    ok = all(reports.get(n) for n, _, _ in PLAN)
    fail(ok, f"{label}: all three reports written")
    if not ok:
        return False
    loud = reports["loud"]["participant"]
    fail(seen == loud, f"{label}: /api/rooms/spk/stats speaker {seen}")
    for name, _, _ in PLAN:
        r = reports[name]
        fail(r.get("audio_level") == EXPECTED_LEVEL[name],
             f"{label}: {name} sent level {r.get('audio_level')} -dBov "
             f"(expected {EXPECTED_LEVEL[name]})")
        sp = r.get("speaker", {})
        fail(sp.get("events", 0) >= 1 and sp.get("last") == loud,
             f"{label}: {name} got {sp.get('events')} speaker event(s), "
             f"last {sp.get('last')} (loud is {loud})")
        # one change per room at most every 500 ms: a bound on the count
        fail(sp.get("events", 0) <= 3,
             f"{label}: {name}: no flapping ({sp.get('events')} events)")
    return True


def check_publisher_stats(fail, reports, stats):
    """Suppressed audio still counts as received from its publisher:
    kaigi's stats show every packet and no loss (kg_room_skip)."""
    by_id = {p.get("id"): p for p in stats.get("participants", [])}
    for name, _, _ in PLAN:
        p = by_id.get(reports[name]["participant"], {})
        audio = [t for t in p.get("tracks", []) if t.get("kind") == "audio"]
        got = audio[0].get("packets", 0) if audio else 0
        sent = reports[name]["sent"]["audio_packets"]
        fail(got >= 0.95 * sent,
             f"loudest 1: kaigi counts {got} of {name}'s {sent} audio "
             f"packets as received")
        lost = audio[0].get("packets_lost", -1) if audio else -1
        fail(0 <= lost <= 0.01 * sent,
             f"loudest 1: {name}'s audio shows {lost} lost")


def suppressed(http_port):
    return sum(w.get("audio_suppressed", 0)
               for w in get_stats(http_port).get("workers", []))


def run_all(args, tmp):
    fail = Checks()
    proc, log, http_port = start_kaigi(args, tmp, [])
    reports, seen, _ = run_clients(args, tmp, http_port)
    n_sup = suppressed(http_port)
    stop_kaigi(fail, proc, log)
    if check_common(fail, reports, seen, "all audio"):
        for rx, _, _ in PLAN:
            for tx, _, _ in PLAN:
                if rx == tx:
                    continue
                got, sent = heard(reports, rx, tx)
                fail(sent > 0 and got >= 0.8 * sent,
                     f"all audio: {rx} <- {tx}: {got}/{sent} audio frames")
    fail(n_sup == 0, f"all audio: nothing suppressed ({n_sup})")
    if args.kaigictl and reports.get("loud"):
        want = f"Active speaker: loud ({reports['loud']['participant']})"
        fail(want in (args.ctl_out or ""),
             f"kaigictl stats spk says '{want}'")
    first = list(fail.items)

    tmp2 = os.path.join(tmp, "loudest")
    os.mkdir(tmp2)
    fail = Checks()
    proc, log, http_port = start_kaigi(args, tmp2, ["--loudest", "1"])
    reports, seen, full = run_clients(args, tmp2, http_port)
    n_sup = suppressed(http_port)
    stop_kaigi(fail, proc, log)
    if check_common(fail, reports, seen, "loudest 1"):
        check_publisher_stats(fail, reports, full)
        for rx in ("q1", "q2"):
            got, sent = heard(reports, rx, "loud")
            fail(sent > 0 and got >= 0.8 * sent,
                 f"loudest 1: {rx} <- loud: {got}/{sent} audio frames")
        quiet_sent = 0
        for rx, tx in (("q1", "q2"), ("q2", "q1"), ("loud", "q1"),
                       ("loud", "q2")):
            got, sent = heard(reports, rx, tx)
            quiet_sent += sent if rx == "loud" else 0
            fail(got <= 0.1 * sent,
                 f"loudest 1: {rx} <- {tx}: only {got}/{sent} audio frames")
        fail(n_sup >= 0.8 * quiet_sent,
             f"loudest 1: {n_sup} packets suppressed (quiet ones sent "
             f"{quiet_sent})")
    if first or fail.items:
        for d in (tmp, tmp2):
            with open(os.path.join(d, "kaigi.log")) as f:
                sys.stdout.write(f"--- kaigi log ({d}):\n" + f.read())
    return first + fail.items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--kaigictl", help="also check kaigictl stats")
    args = ap.parse_args()
    args.ctl_out = None
    with tempfile.TemporaryDirectory(prefix="kaigi-e2e-spk-") as tmp:
        items = run_all(args, tmp)
    if items:
        print(f"{len(items)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
