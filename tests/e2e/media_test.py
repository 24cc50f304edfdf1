#!/usr/bin/env python3
"""End-to-end media test over loopback with real processes.

kaigi + three kaigi-clients in one room for a few seconds: each client
must decode at least 80 % of the video frames the two others sent and hear
both their tones, with zero SRTP failures and AEAD_AES_256_GCM on every
transport. A fourth client in another room must receive nothing.

With --garbage, a fourth process floods kaigi's media port with malformed
datagrams while the three run (random bytes, truncated STUN, STUN with a
wrong MESSAGE-INTEGRITY, DTLS and SRTP from unknown sources, SRTP with a
corrupt tag from a validated source): kaigi must stay up, count them, and
the clients' decoded frames must stay within 10 % of a clean run.

Usage: media_test.py KAIGI KAIGI_CLIENT [--garbage] [--duration S]
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
from e2e_common import HOST, Checks, free_port  # noqa: E402




def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


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



def run_clients(args, tmp, ws, room_plan):
    """Starts clients: room_plan is a list of (room, name, tone, wait)."""
    procs = []
    for i, (room, name, tone, wait) in enumerate(room_plan):
        report = os.path.join(tmp, f"{name}.json")
        cmd = [args.client, "--server", ws, "--room", room, "--name", name,
               "--duration", str(args.duration), "--report", report,
               "--tone", str(tone), "--seed", str(i + 1),
               "--wait-remotes", str(wait)]
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        procs.append((name, report, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def collect(procs, timeout):
    reports = {}
    end = time.monotonic() + timeout
    for name, report, p, log in procs:
        try:
            p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        rc = p.returncode
        try:
            with open(report) as f:
                reports[name] = json.load(f)
        except (OSError, ValueError):
            reports[name] = None
        if rc != 0 or reports[name] is None:
            with open(log.name) as f:
                sys.stdout.write(f"--- {name} (exit {rc}) log:\n{f.read()}")
    return reports


def check_room(fail, reports, names, label):
    by_pid = {reports[n]["participant"]: n for n in names if reports[n]}
    frames = {}
    for n in names:
        r = reports[n]
        fail.check(r is not None, f"{label}{n}: report written")
        if r is None:
            continue
        fail.check(r.get("srtp_profile") == "AEAD_AES_256_GCM",
                   f"{label}{n}: publish SRTP profile "
                   f"{r.get('srtp_profile')}")
        fail.check(r.get("subscribe_srtp_profile") == "AEAD_AES_256_GCM",
                   f"{label}{n}: subscribe SRTP profile "
                   f"{r.get('subscribe_srtp_profile')}")
        fail.check(r.get("srtp_unprotect_failures") == 0,
                   f"{label}{n}: SRTP unprotect failures "
                   f"{r.get('srtp_unprotect_failures')}")
        remotes = r.get("remotes", {})
        others = [m for m in names if m != n and reports[m]]
        fail.check(set(remotes) == {reports[m]["participant"] for m in others},
                   f"{label}{n}: receives exactly the {len(others)} others")
        for pid, rr in remotes.items():
            src = by_pid.get(pid)
            if src is None:
                continue
            sent = reports[src]["sent"]["video_frames"]
            got = rr.get("video_frames_decoded", 0)
            frames[(n, src)] = got
            fail.check(sent > 0 and got >= 0.8 * sent,
                       f"{label}{n} <- {src}: video {got}/{sent} frames "
                       f"decoded ({100.0 * got / max(sent, 1):.1f} %)")
            fail.check(rr.get("decode_errors", 1) == 0,
                       f"{label}{n} <- {src}: decode errors "
                       f"{rr.get('decode_errors')}")
            tone = reports[src]["tone_hz"]
            peak = rr.get("audio_peak_hz", 0)
            fail.check(abs(peak - tone) <= 15,
                       f"{label}{n} <- {src}: hears {peak} Hz, sent {tone} Hz"
                       f" ({rr.get('audio_frames_decoded')} audio frames)")
    return frames


def start_kaigi(args, tmp):
    http_port = free_port(socket.SOCK_STREAM)
    udp_port = 0  # each media worker takes an ephemeral port
    log = open(os.path.join(tmp, "kaigi.log"), "w")
    proc = subprocess.Popen(
        [args.kaigi, "--listen", f"{HOST}:{http_port}", "--udp",
         f"{HOST}:{udp_port}", "--data", os.path.join(tmp, "data"),
         "--node", "e2e-node", "--open-rooms"], stdout=log, stderr=subprocess.STDOUT)
    wait_up(http_port, proc)
    return proc, log, http_port, udp_port


def stop_kaigi(fail, proc, log):
    cpu = cpu_seconds(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
    fail.check(proc.returncode == 0,
               f"kaigi exits cleanly on SIGTERM (exit {proc.returncode})")
    return cpu


def one_run(args, tmp, garbage):
    fail = Checks()
    proc, log, http_port, udp_port = start_kaigi(args, tmp)
    ws = f"ws://{HOST}:{http_port}/ws"
    plan = [("e2e", "alice", 440, 2), ("e2e", "bob", 660, 2),
            ("e2e", "carol", 880, 2), ("elsewhere", "dave", 550, 0)]
    procs = run_clients(args, tmp, ws, plan)
    flood = None
    if garbage:
        time.sleep(1.0)  # let the clients connect first
        flood = subprocess.Popen(
            [args.client, "--server", ws, "--room", "e2e-attack", "--name",
             "mallory", "--garbage", "3000", "--duration", "2", "--report",
             os.path.join(tmp, "mallory.json")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reports = collect(procs, args.duration + 30)
    if flood:
        flood.wait(timeout=30)
    stats = get_stats(http_port)
    names = ["alice", "bob", "carol"]
    frames = check_room(fail, reports, names, "")
    dave = reports.get("dave")
    fail.check(dave is not None and dave.get("remotes") == {},
               "dave (another room) receives nothing from room e2e")
    cpu = stop_kaigi(fail, proc, log)
    if fail.items:
        with open(os.path.join(tmp, "kaigi.log")) as f:
            sys.stdout.write("--- kaigi log:\n" + f.read())
    return fail, reports, frames, stats, cpu


def summary(reports, frames, stats, cpu):
    for n in ["alice", "bob", "carol"]:
        r = reports.get(n)
        if r:
            print(f"  {n}: sent {r['sent']['video_frames']} video frames, "
                  f"{r['sent']['audio_packets']} audio packets")
    for (dst, src), got in sorted(frames.items()):
        print(f"  {dst} decoded {got} frames from {src}")
    w = {k: sum(x[k] for x in stats["workers"])
         for k in stats["workers"][0] if k not in ("index", "udp_port")}
    print(f"  kaigi: {len(stats['workers'])} workers, "
          f"{w['rtp_forwarded']} RTP packets forwarded, "
          f"CPU {cpu:.2f} s for the run")
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaigi-e2e-") as tmp:
        if not args.garbage:
            fail, reports, frames, stats, cpu = one_run(args, tmp, False)
            summary(reports, frames, stats, cpu)
            items = fail.items
        else:
            clean_dir = os.path.join(tmp, "clean")
            dirty_dir = os.path.join(tmp, "dirty")
            os.mkdir(clean_dir)
            os.mkdir(dirty_dir)
            f1, _, clean, _, _ = one_run(args, clean_dir, False)
            f2, reports, dirty, stats, cpu = one_run(args, dirty_dir, True)
            w = summary(reports, dirty, stats, cpu)
            items = f1.items + f2.items
            fail = Checks()
            for key, got in dirty.items():
                base = clean.get(key, 0)
                fail.check(base > 0 and got >= 0.9 * base,
                           f"under garbage {key[0]} <- {key[1]}: {got} frames"
                           f" vs {base} clean")
            print(f"  counted: unknown_source {w['unknown_source']}, "
                  f"malformed {w['malformed']}, stun_bad {w['stun_bad']}, "
                  f"srtp_auth_fail {w['srtp_auth_fail']}")
            fail.check(w["unknown_source"] >= 1000,
                       "datagrams from unknown sources counted")
            fail.check(w["malformed"] >= 100, "malformed datagrams counted")
            fail.check(w["stun_bad"] >= 100,
                       "STUN with a bad integrity counted")
            fail.check(w["srtp_auth_fail"] >= 100,
                       "SRTP with a corrupt tag from a known source counted")
            items += fail.items
    if items:
        print(f"{len(items)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
