#!/usr/bin/env python3
"""ICE-TCP (RFC 6544, RFC 4571 framing) and IPv6 media, end to end.

Default: kaigi + three kaigi-clients with --tcp in one room. Each must
decode at least 80 % of the others' video frames over TCP on
AEAD_AES_256_GCM, and kaigi's /api/rooms/ROOM/stats must say "tcp" for
both transports of each. Meanwhile raw sockets poke kaigi's TCP port:
junk (an HTTP request, a zero-length frame, DTLS before any STUN) is
closed at once and counted; an idle connection is closed after kaigi's
5 s deadline; past 64 unauthenticated connections new ones are refused.
kaigi stays up and exits cleanly.

--stall: a receiver that stops reading its TCP connection must not slow
the others. Two runs of three --tcp clients, the second with a fourth
client (--tcp-stall 1: stops reading its subscribe connection 1 s in):
the three's decoded frames from each other stay within 10 % of the first
run, and kaigi counts packets its full send buffer for the staller
dropped (so the buffer really filled).

--ipv6: clients --bind ::1 (the WebSocket stays on 127.0.0.1) against
kaigi --udp [::1]:0 over UDP, and kaigi --udp [::]:0 --public-ip ::1
over TCP: media decodes and kaigi's SDP carries ::1 (c=IN IP6, the UDP
and TCP candidates).

Usage: tcp_test.py KAIGI KAIGI_CLIENT [--stall | --ipv6]
Only 127.0.0.1 and ::1 are ever used.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, Checks, Kaigi, MiniWs, reap  # noqa: E402

LINGER = 3
DEADLINE_S = 5  # kaigi's TCP_AUTH_DEADLINE
UNAUTH_MAX = 64  # kaigi's TCP_UNAUTH_MAX


def room_stats(k, room):
    req = urllib.request.Request(
        f"http://{HOST}:{k.http}/api/rooms/{room}/stats",
        headers={"Authorization": f"Bearer {k.token}"})
    with urllib.request.urlopen(req, timeout=2) as r:
        return json.load(r)


def api_stats(k):
    with urllib.request.urlopen(f"http://{HOST}:{k.http}/api/stats",
                                timeout=2) as r:
        return json.load(r)


def worker_sum(stats, key):
    return sum(w.get(key, 0) for w in stats["workers"])


def start_clients(args, tmp, k, plan, extra=()):
    """plan: (name, wait_remotes, more args). Returns [(name, report, p, log)]."""
    procs = []
    for i, (name, wait, more) in enumerate(plan):
        report = os.path.join(tmp, f"{name}.json")
        cmd = [args.client, "--server", f"ws://{HOST}:{k.http}/ws",
               "--room", "tcp", "--name", name, "--duration",
               str(args.duration), "--report", report, "--seed", str(i + 1),
               "--tone", str(440 + 110 * i), "--wait-remotes", str(wait),
               "--linger", str(LINGER)] + list(extra) + list(more)
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        procs.append((name, report, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def watch_protocols(k, procs, names):
    """Polls the room's stats while the clients run; returns the last
    {name: protocol-by-role} seen with every name present."""
    seen = None
    end = time.monotonic() + args_duration_cap
    while time.monotonic() < end and any(p.poll() is None
                                         for _, _, p, _ in procs):
        try:
            st = room_stats(k, "tcp")
            got = {p.get("name"): (p.get("protocol"), p.get("srtp_profile"),
                                   p.get("tcp_tx_dropped"))
                   for p in st.get("participants", [])}
            if all(n in got for n in names):
                seen = got
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    return seen


args_duration_cap = 120


def frames_between(fail, reports, names, label, min_share=0.8):
    """Checks the reports; returns {(dst, src): frames decoded}."""
    by_pid = {reports[n]["participant"]: n for n in names if reports.get(n)}
    frames = {}
    for n in names:
        r = reports.get(n)
        fail(r is not None, f"{label}{n}: report written")
        if not r:
            continue
        fail(r.get("srtp_profile") == "AEAD_AES_256_GCM" and
             r.get("subscribe_srtp_profile") == "AEAD_AES_256_GCM",
             f"{label}{n}: AEAD_AES_256_GCM both ways "
             f"({r.get('srtp_profile')}, {r.get('subscribe_srtp_profile')})")
        fail(r.get("srtp_unprotect_failures") == 0,
             f"{label}{n}: SRTP failures {r.get('srtp_unprotect_failures')}")
        for pid, rr in r.get("remotes", {}).items():
            src = by_pid.get(pid)
            if src not in names or src == n:
                continue
            sent = reports[src]["sent"]["video_frames"]
            got = rr.get("video_frames_decoded", 0)
            frames[(n, src)] = (got, sent)
            fail(sent > 0 and got >= min_share * sent,
                 f"{label}{n} <- {src}: {got}/{sent} video frames decoded")
        want = {m for m in names if m != n and reports.get(m)}
        fail(want <= {by_pid.get(p) for p in r.get("remotes", {})},
             f"{label}{n}: receives from {sorted(want)}")
    return frames


# --- raw sockets against the TCP port ------------------------------------

def closed_within(s, seconds):
    """True if the peer closes (EOF or reset) within seconds."""
    s.settimeout(min(0.2, seconds))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if s.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def junk_checks(fail, k, port):
    """Junk is closed at once; the worker keeps serving."""
    cases = [("an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
             ("a zero-length frame", b"\x00\x00\x00\x05hello"),
             ("DTLS before STUN", struct.pack(">H", 13) + b"\x16\xfe\xfd" +
              b"\x00" * 10),
             ("a STUN header with garbage", struct.pack(">H", 20) +
              b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\xff" * 12)]
    for what, data in cases:
        s = socket.create_connection((HOST, port), timeout=2)
        s.sendall(data)
        if what.startswith("a STUN"):
            # parsed, refused (no such ufrag), then left to the deadline
            fail(not closed_within(s, 1.0),
                 f"TCP: {what}: kept until the deadline, not closed at once")
        else:
            fail(closed_within(s, 2.0), f"TCP: {what}: closed by kaigi")
        s.close()


def idle_and_cap_checks(fail, k, port):
    """An idle connection is closed after the deadline; the cap refuses
    connections past UNAUTH_MAX."""
    before = api_stats(k)
    idle = socket.create_connection((HOST, port), timeout=2)
    t0 = time.monotonic()
    early = closed_within(idle, DEADLINE_S - 1.5)
    fail(not early, "TCP: an idle connection stays open before the deadline")
    late = closed_within(idle, 6.0)
    took = time.monotonic() - t0
    fail(late and took <= DEADLINE_S + 3,
         f"TCP: an idle connection is closed after {took:.1f} s "
         f"(deadline {DEADLINE_S} s)")
    idle.close()
    conns = []
    try:
        for _ in range(UNAUTH_MAX + 8):
            conns.append(socket.create_connection((HOST, port), timeout=2))
        time.sleep(0.3)
        # well inside the deadline: only those past the cap are closed
        refused = sum(closed_within(c, 0.02) for c in conns[UNAUTH_MAX:])
        kept = sum(not closed_within(c, 0.01) for c in conns[:UNAUTH_MAX])
        fail(refused == 8 and kept == UNAUTH_MAX,
             f"TCP: the first {kept} idle connections kept, {refused} of the "
             f"8 past the cap of {UNAUTH_MAX} refused")
    finally:
        for c in conns:
            c.close()
    after = api_stats(k)
    d = {key: worker_sum(after, key) - worker_sum(before, key)
         for key in ("tcp_timeouts", "tcp_refused")}
    print(f"  counted: {d}")
    fail(d["tcp_timeouts"] >= 1 and d["tcp_refused"] >= 8,
         f"TCP: timeouts {d['tcp_timeouts']} and refusals "
         f"{d['tcp_refused']} counted")


def run_tcp(args, tmp):
    fail = Checks()
    k = Kaigi(args.kaigi, tmp, ["--open-rooms", "--workers", "1"])
    k.start()
    try:
        st = api_stats(k)
        port = st["workers"][0].get("tcp_port", 0)
        udp = st["workers"][0].get("udp_port", 0)
        fail(port == udp and port > 0,
             f"kaigi listens on TCP {port}, its UDP port number {udp}")
        ws = MiniWs(k.http)
        ws.send({"type": "join", "room": "probe", "name": "probe"})
        sdp = ws.wait_for("subscribe")["sdp"]
        ws.close()
        cands = [l for l in sdp.split("\r\n") if l.startswith("a=candidate")]
        print("  " + "\n  ".join(cands[:2]))
        tcp = [c for c in cands if " tcp " in c and "tcptype passive" in c]
        udpc = [c for c in cands if " udp " in c]
        fail(tcp and udpc and int(tcp[0].split()[3]) < int(udpc[0].split()[3]),
             "kaigi's SDP: a passive TCP host candidate, priority below UDP's")
        names = ["alice", "bob", "carol"]
        procs = start_clients(args, tmp, k,
                              [(n, 2, []) for n in names], ["--tcp"])
        time.sleep(1.0)
        junk_checks(fail, k, port)
        seen = watch_protocols(k, procs, names)
        end = time.monotonic() + args.duration + LINGER + 30
        reports = {n: reap(n, r, p, log, end) for n, r, p, log in procs}
        frames_between(fail, reports, names, "")
        for n in names:
            proto = (seen or {}).get(n, (None,))[0]
            fail(proto == {"publish": "tcp", "subscribe": "tcp"},
                 f"{n}: kaigi's stats say protocol {proto}")
        idle_and_cap_checks(fail, k, port)
        st = api_stats(k)
        print(f"  TCP: accepted {worker_sum(st, 'tcp_accepted')}, bad streams"
              f" {worker_sum(st, 'tcp_bad_stream')}, timeouts "
              f"{worker_sum(st, 'tcp_timeouts')}, refused "
              f"{worker_sum(st, 'tcp_refused')}")
        fail(worker_sum(st, "tcp_bad_stream") >= 3,
             "junk streams counted (tcp_bad_stream)")
        rc = k.stop()
        fail(rc == 0, f"kaigi exits cleanly (exit {rc})")
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
            k.proc.wait()
    return fail


def stall_run(args, tmp, with_staller):
    fail = Checks()
    k = Kaigi(args.kaigi, tmp, ["--open-rooms", "--workers", "1"])
    k.start()
    dropped = 0
    try:
        names = ["alice", "bob", "carol"]
        # Everyone publishes only once all four are in: the stall then
        # falls inside the publishing time of every sender.
        plan = [(n, 3, []) for n in names]
        procs = start_clients(args, tmp, k, plan, ["--tcp"])
        # A fourth client in both runs, so that both load the machine the
        # same; only in the second does it stop reading.
        procs += start_clients(args, tmp, k, [
            ("slow", 3, ["--tcp-stall", "1"] if with_staller else [])],
            ["--tcp"])
        seen = watch_protocols(k, procs, names)
        end = time.monotonic() + args.duration + LINGER + 30
        reports = {n: reap(n, r, p, log, end) for n, r, p, log in procs
                   if n in names}
        for n, r, p, log in procs:
            if n not in names:  # the staller may fail its own checks
                try:
                    p.wait(timeout=max(1, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                log.close()
        frames = frames_between(fail, reports, names,
                                "stalled run: " if with_staller else "")
        if with_staller:
            slow = (seen or {}).get("slow")
            print(f"  staller as kaigi saw it: {slow}")
            st = api_stats(k)
            dropped = worker_sum(st, "tcp_tx_dropped")
            fail(dropped > 0, f"kaigi dropped {dropped} packets for the "
                              f"staller's full TCP send buffer")
        k.stop()
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
            k.proc.wait()
    return fail, frames


def run_stall(args, tmp):
    os.mkdir(os.path.join(tmp, "clean"))
    os.mkdir(os.path.join(tmp, "stall"))
    f1, clean = stall_run(args, os.path.join(tmp, "clean"), False)
    f2, stalled = stall_run(args, os.path.join(tmp, "stall"), True)
    fail = Checks()
    fail.failed = f1.failed + f2.failed
    # What a receiver decodes of what was sent: the senders' own frame
    # counts swing with this shared machine's load, which is not kaigi's.
    for key, (base, base_sent) in sorted(clean.items()):
        got, sent = stalled.get(key, (0, 1))
        share, base_share = got / max(sent, 1), base / max(base_sent, 1)
        fail(base > 0 and share >= 0.9 * base_share,
             f"with a stalled receiver {key[0]} <- {key[1]}: {got}/{sent} "
             f"frames ({100 * share:.0f} %) vs {base}/{base_sent} "
             f"({100 * base_share:.0f} %) without")
    return fail


def run_ipv6(args, tmp):
    fail = Checks()
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
    except OSError as e:
        print(f"SKIP: no IPv6 loopback here ({e})")
        sys.exit(77)
    for mode in ("udp", "tcp"):
        sub = os.path.join(tmp, mode)
        os.mkdir(sub)
        k = Kaigi(args.kaigi, sub, ["--open-rooms", "--workers", "1"])
        k.udp = 0
        # --udp [::1]:0 (the Kaigi helper passes 127.0.0.1; a later flag
        # wins in kaigi's getopt loop)
        # over TCP: [::] (every address) with --public-ip ::1
        k.extra += (["--udp", "[::1]:0"] if mode == "udp" else
                    ["--udp", "[::]:0", "--public-ip", "::1"])
        k.start()
        try:
            ws = MiniWs(k.http)
            ws.send({"type": "join", "room": "probe6", "name": "probe"})
            sdp = ws.wait_for("subscribe")["sdp"]
            ws.close()
            fail("c=IN IP6 ::1" in sdp and
                 " udp 2130706431 ::1 " in sdp and
                 " tcp 2124414975 ::1 " in sdp,
                 f"{mode}: kaigi's SDP offers ::1 (c=IN IP6, UDP and TCP "
                 f"candidates)")
            names = ["alice", "bob"]
            extra = ["--bind", "::1"] + (["--tcp"] if mode == "tcp" else [])
            procs = start_clients(args, sub, k, [(n, 1, []) for n in names],
                                  extra)
            seen = watch_protocols(k, procs, names)
            end = time.monotonic() + args.duration + LINGER + 30
            reports = {n: reap(n, r, p, log, end) for n, r, p, log in procs}
            frames_between(fail, reports, names, f"{mode} over ::1: ")
            for n in names:
                proto = (seen or {}).get(n, (None,))[0]
                fail(proto == {"publish": mode, "subscribe": mode},
                     f"{mode} over ::1: {n}: protocol {proto}")
            rc = k.stop()
            fail(rc == 0, f"kaigi exits cleanly (exit {rc})")
        finally:
            if k.proc.poll() is None:
                k.proc.kill()
                k.proc.wait()
    return fail


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("--stall", action="store_true")
    ap.add_argument("--ipv6", action="store_true")
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaigi-tcp-") as tmp:
        if args.stall:
            fail = run_stall(args, tmp)
        elif args.ipv6:
            fail = run_ipv6(args, tmp)
        else:
            fail = run_tcp(args, tmp)
        if fail.failed:
            log = os.path.join(tmp, "kaigi.log")
            if os.path.exists(log):
                with open(log) as f:
                    sys.stdout.write("--- kaigi log:\n" + f.read()[-4000:])
    if fail.failed:
        print(f"{len(fail.failed)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
