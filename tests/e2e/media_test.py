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
import re
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, Checks, free_port, get_stats, wait_up, reap  # noqa: E402

# Seconds the clients stay in the room after publishing: kaigi's
# per-participant snapshot is made once a second, so the room's final
# counters can be read while everyone is still in it.
LINGER = 3

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
METRIC_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text):
    """Parses 'a="x",b="y\\"z"' strictly; returns (dict, rest after '}')."""
    labels = {}
    i = 0
    while True:
        if text[i] == "}":
            return labels, text[i + 1:]
        eq = text.index("=", i)
        name = text[i:eq]
        if not LABEL_NAME.match(name) or name in labels:
            raise ValueError(f"bad or repeated label name {name!r}")
        if text[eq + 1] != '"':
            raise ValueError("label value not quoted")
        j = eq + 2
        value = []
        while text[j] != '"':
            if text[j] == "\\":
                esc = text[j + 1]
                if esc not in '\\"n':
                    raise ValueError(f"bad escape \\{esc}")
                value.append("\n" if esc == "n" else esc)
                j += 2
            elif text[j] == "\n":
                raise ValueError("raw newline in a label value")
            else:
                value.append(text[j])
                j += 1
        labels[name] = "".join(value)
        i = j + 1
        if text[i] == ",":
            i += 1
        elif text[i] != "}":
            raise ValueError("expected , or } after a label")


def family_of(name, types):
    """The family a sample belongs to: a histogram's _bucket, _sum and
    _count samples belong to the histogram, a summary's _sum and _count
    to the summary."""
    for suffix, kinds in (("_bucket", ("histogram",)),
                          ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) in kinds:
            return base
    return name


def check_histogram(samples, name):
    """A histogram's buckets per label set: le ascending to +Inf, counts
    cumulative, +Inf equal to _count. Returns {labels: count}; raises
    ValueError."""
    series = {}
    for labels, v in samples.get(name + "_bucket", []):
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        series.setdefault(key, []).append((float(labels["le"]), v))
    counts = {tuple(sorted(labels.items())): v
              for labels, v in samples.get(name + "_count", [])}
    if not series or set(series) != set(counts):
        raise ValueError(f"{name}: buckets and _count disagree on series")
    for key, buckets in series.items():
        les = [le for le, _ in buckets]
        if les != sorted(les) or les[-1] != float("inf"):
            raise ValueError(f"{name}{key}: le not ascending to +Inf")
        vals = [v for _, v in buckets]
        if vals != sorted(vals) or vals[-1] != counts[key]:
            raise ValueError(f"{name}{key}: buckets not cumulative to _count")
    return counts


def parse_prometheus(text):
    """A strict reader of the Prometheus text format 0.0.4: HELP and TYPE
    once per family and before its samples, a family's samples together,
    valid names, escaped label values, float values. Returns
    {name: [(labels, value)]} and {name: type}; raises ValueError."""
    if not text.endswith("\n"):
        raise ValueError("the exposition does not end with a newline")
    samples, types, helps = {}, {}, set()
    done = set()  # families whose samples are over
    current = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        try:
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                    raise ValueError("a comment other than HELP or TYPE")
                name = parts[2]
                if not METRIC_NAME.match(name):
                    raise ValueError(f"bad metric name {name!r}")
                if name in samples:
                    raise ValueError(f"{parts[1]} after samples of {name}")
                if parts[1] == "HELP":
                    if name in helps:
                        raise ValueError(f"second HELP for {name}")
                    helps.add(name)
                else:
                    if name in types or parts[3] not in METRIC_TYPES:
                        raise ValueError(f"bad or second TYPE for {name}")
                    types[name] = parts[3]
                continue
            if not line:
                raise ValueError("empty line")
            brace = line.find("{")
            space = line.find(" ")
            if brace != -1 and brace < space:
                name = line[:brace]
                labels, rest = parse_labels(line[brace + 1:])
            else:
                name, rest, labels = line[:space], line[space:], {}
            if not METRIC_NAME.match(name):
                raise ValueError(f"bad metric name {name!r}")
            if not rest.startswith(" "):
                raise ValueError("no space before the value")
            fields = rest[1:].split(" ")
            if len(fields) > 2 or (len(fields) == 2 and
                                   not fields[1].lstrip("-").isdigit()):
                raise ValueError("bad value or timestamp")
            value = float(fields[0])
            family = family_of(name, types)
            if family != current:
                if family in done:
                    raise ValueError(f"samples of {family} are not together")
                if current:
                    done.add(current)
                current = family
            if family not in types:
                raise ValueError(f"sample of {name} before its TYPE")
            if name.endswith("_bucket") and family != name and \
                    "le" not in labels:
                raise ValueError(f"histogram bucket {name} without le")
            if types[family] == "counter" and (value < 0 or
                                             not name.endswith("_total")):
                raise ValueError(f"counter {name} negative or not _total")
            samples.setdefault(name, []).append((labels, value))
        except (ValueError, IndexError) as e:
            raise ValueError(f"line {n}: {e}: {line!r}")
    return samples, types


def http_get(http_port, path, token):
    req = urllib.request.Request(f"http://{HOST}:{http_port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=2) as r:
        return r.read().decode()


def scrape_while_running(http_port, token, procs, room):
    """Reads /metrics, /api/rooms and /api/rooms/ROOM/stats every 0.3 s
    while the room's clients run; returns the last set read while all
    three were in the room (their counters final by then, see LINGER)."""
    last = None
    end = time.monotonic() + 120
    while time.monotonic() < end and any(p.poll() is None
                                         for _, _, p, _ in procs):
        try:
            metrics = http_get(http_port, "/metrics", token)
            rooms = json.loads(http_get(http_port, "/api/rooms", token))
            stats = json.loads(http_get(http_port,
                                        f"/api/rooms/{room}/stats", token))
            if len(stats.get("participants", [])) == 3:
                last = (metrics, rooms, stats)
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    return last


def check_ops_stats(fail, http_port, token, scraped, reports, names, room):
    """The stats for ops agree with what the clients counted."""
    try:
        http_get(http_port, "/metrics", None)
        fail.check(False, "/metrics without the admin token is refused")
    except urllib.error.HTTPError as e:
        fail.check(e.code == 401, f"/metrics without the token: {e.code}")
    fail.check(scraped is not None,
               "stats read while the 3 clients were in the room")
    if scraped is None:
        return
    metrics, rooms, stats = scraped
    try:
        samples, _ = parse_prometheus(metrics)
        fail.check(True, f"/metrics parses as Prometheus text "
                         f"({len(samples)} families)")
    except ValueError as e:
        fail.check(False, f"/metrics parses as Prometheus text: {e}")
        return

    def room_value(name):
        for labels, v in samples.get(name, []):
            if labels.get("room") == room and "worker" in labels:
                return v
        return None

    for name in ("kaigi_rooms", "kaigi_participants",
                 "kaigi_resident_memory_bytes"):
        fail.check(name in samples and samples[name][0][1] >= 1,
                   f"/metrics has {name}")
    fail.check(len(samples.get("kaigi_worker_cpu_seconds_total", [])) >= 1,
               "/metrics has kaigi_worker_cpu_seconds_total per worker")
    try:
        delays = check_histogram(samples, "kaigi_worker_forward_delay_seconds")
        timed = sum(delays.values())
        fail.check(timed > 0, f"/metrics: forward delay histogram, {timed:.0f}"
                              f" datagrams timed")
    except ValueError as e:
        fail.check(False, f"/metrics: forward delay histogram: {e}")
    fail.check(room_value("kaigi_room_participants") == 3,
               f"/metrics: room {room} has 3 participants")
    ok = [reports[n] for n in names if reports[n]]
    sent = sum(r["sent"]["audio_packets"] + r["sent"]["video_packets"]
               for r in ok)
    got = sum(rr.get("audio_packets", 0) + rr.get("video_packets", 0) +
              rr.get("screen_packets", 0)
              for r in ok for rr in r.get("remotes", {}).values())
    pin = room_value("kaigi_room_packets_in_total") or 0
    pout = room_value("kaigi_room_packets_out_total") or 0
    print(f"  ops stats: packets in {pin:.0f} (clients sent {sent}), "
          f"out {pout:.0f} (clients received {got})")
    fail.check(sent > 0 and abs(pin - sent) <= 0.02 * sent,
               f"room packets_in {pin:.0f} within 2 % of {sent} sent")
    fail.check(got > 0 and abs(pout - got) <= 0.02 * got,
               f"room packets_out {pout:.0f} within 2 % of {got} received")
    listed = [r for r in rooms.get("rooms", []) if r.get("id") == room]
    fail.check(len(listed) == 1 and listed[0].get("participants") == 3,
               f"/api/rooms lists {room} with 3 participants")
    fields = ("id", "name", "packets_in", "bytes_in", "packets_out",
              "bytes_out", "bitrate_in_1s", "bitrate_in_10s",
              "bitrate_out_1s", "bitrate_out_10s", "packets_lost",
              "loss_fraction", "jitter_ms", "rtt_ms", "nacks_in", "plis_in",
              "srtp_unprotect_failures", "srtp_replays", "malformed",
              "srtp_profile", "dtls_state", "tracks_published",
              "tracks_subscribed", "tracks")
    by_name = {p.get("name"): p for p in stats.get("participants", [])}
    for n in names:
        p = by_name.get(n, {})
        missing = [f for f in fields if f not in p]
        fail.check(not missing, f"/api/rooms/{room}/stats: {n} has every "
                                f"field (missing {missing})")
        fail.check(p.get("srtp_profile") == {"publish": "AEAD_AES_256_GCM",
                                             "subscribe": "AEAD_AES_256_GCM"}
                   and p.get("dtls_state") == {"publish": "connected",
                                               "subscribe": "connected"},
                   f"{n}: GCM-256 and DTLS connected both ways")
        fail.check(p.get("tracks_published") == 2 and
                   p.get("tracks_subscribed") == 4,
                   f"{n}: tracks {p.get('tracks_published')}/"
                   f"{p.get('tracks_subscribed')}")
        check_rtcp_stats(fail, n, p, samples)
        r = reports.get(n)
        if r and p:
            fail.check(p.get("id") == r.get("participant"),
                       f"{n}: the participant id matches its report")




# RTT on loopback: kaigi's SR → the client's RR (LSR/DLSR) → kaigi, and
# the client's SR → kaigi's RR → the client. Far below 50 ms, never 0.
RTT_MAX_MS = 50


def check_rtcp_stats(fail, n, p, samples):
    """kaigi's RTCP reports as ops see them: an RTT for the participant's
    subscribe leg, in the JSON and in /metrics, and SR/RR both ways."""
    rtt = p.get("rtt_ms")
    print(f"  {n}: kaigi-side RTT {rtt} ms (latest {p.get('rtt_latest_ms')}),"
          f" SR sent {p.get('rtcp_sr_sent')}, RR sent "
          f"{p.get('rtcp_rr_sent')}, SR in {p.get('rtcp_sr_received')}, "
          f"RR in {p.get('rtcp_rr_received')}")
    fail.check(isinstance(rtt, float) and 0 < rtt < RTT_MAX_MS,
               f"{n}: rtt_ms {rtt} in (0, {RTT_MAX_MS}) on loopback")
    for key in ("rtcp_sr_sent", "rtcp_rr_sent", "rtcp_sr_received",
                "rtcp_rr_received"):
        fail.check(p.get(key, 0) > 0, f"{n}: {key} {p.get(key)} > 0")
    fail.check(p.get("receiver_loss_fraction", 1) <= 0.05,
               f"{n}: receiver-reported loss "
               f"{p.get('receiver_loss_fraction')} on loopback")
    fail.check(all(t.get("srs_received", 0) > 0 for t in p.get("tracks", [])),
               f"{n}: kaigi has SRs for each published track")
    prom = [v for labels, v in samples.get("kaigi_participant_rtt_seconds", [])
            if labels.get("participant") == p.get("id")]
    fail.check(len(prom) == 1 and 0 < prom[0] < RTT_MAX_MS / 1000,
               f"{n}: kaigi_participant_rtt_seconds {prom}")


def check_client_rtt(fail, reports, names):
    """Each client's own RTT of its publish leg, from kaigi's RRs about
    its SRs."""
    for n in names:
        rt = (reports.get(n) or {}).get("rtcp", {})
        rtt = rt.get("rtt_ms")
        print(f"  {n}: client-side RTT {rtt} ms (smoothed "
              f"{rt.get('rtt_smoothed_ms')}, {rt.get('rtt_samples')} "
              f"samples), SR sent {rt.get('sr_sent')}, RR sent "
              f"{rt.get('rr_sent')}, SR in {rt.get('sr_in')}, RR in "
              f"{rt.get('rr_in')}")
        fail.check(isinstance(rtt, float) and 0 < rtt < RTT_MAX_MS,
                   f"{n}: client-side rtt_ms {rtt} in (0, {RTT_MAX_MS})")
        fail.check(rt.get("sr_in", 0) > 0 and rt.get("rr_in", 0) > 0 and
                   rt.get("malformed", 1) == 0,
                   f"{n}: kaigi's SRs and RRs reach the client, well formed")


def cpu_seconds(pid):
    """utime + stime of kaigi and its media worker processes."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = [pid] + [int(c) for c in f.read().split()]
    except OSError:
        pids = [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def run_clients(args, tmp, ws, room_plan):
    """Starts clients: room_plan is a list of (room, name, tone, wait)."""
    procs = []
    for i, (room, name, tone, wait) in enumerate(room_plan):
        report = os.path.join(tmp, f"{name}.json")
        cmd = [args.client, "--server", ws, "--room", room, "--name", name,
               "--duration", str(args.duration), "--report", report,
               "--tone", str(tone), "--seed", str(i + 1),
               "--wait-remotes", str(wait), "--linger", str(LINGER)]
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        procs.append((name, report, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def collect(procs, timeout):
    reports = {}
    end = time.monotonic() + timeout
    for name, report, p, log in procs:
        reports[name] = reap(name, report, p, log, end)
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
         "--node", "e2e-node", "--open-rooms"] +
        (["--worker-threads"] if args.worker_threads else []),
        stdout=log, stderr=subprocess.STDOUT)
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
    try:
        return run_checks(args, tmp, garbage, fail, proc, log, http_port)
    finally:
        # A check that raised must not leave kaigi and its workers behind.
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_checks(args, tmp, garbage, fail, proc, log, http_port):
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
    with open(os.path.join(tmp, "data", "admin.token")) as f:
        token = f.read().strip()
    scraped = scrape_while_running(http_port, token, procs[:3], "e2e")
    reports = collect(procs, args.duration + LINGER + 30)
    if flood:
        flood.wait(timeout=30)
    stats = get_stats(http_port)
    names = ["alice", "bob", "carol"]
    frames = check_room(fail, reports, names, "")
    dave = reports.get("dave")
    fail.check(dave is not None and dave.get("remotes") == {},
               "dave (another room) receives nothing from room e2e")
    check_ops_stats(fail, http_port, token, scraped, reports, names, "e2e")
    check_client_rtt(fail, reports, names)
    cpu = stop_kaigi(fail, proc, log)
    if fail.items:
        with open(os.path.join(tmp, "kaigi.log")) as f:
            sys.stdout.write("--- kaigi log:\n" + f.read())
    return fail, reports, frames, stats, cpu


def check_delay_stats(fail, stats):
    """/api/stats times every datagram an SRTP datagram caused: at least
    every forwarded RTP packet, at most every datagram sent."""
    for w in stats["workers"]:
        d = w.get("forward_delay", {})
        bounds, counts = d.get("bounds_us", []), d.get("counts", [])
        fail.check(len(bounds) > 0 and len(counts) == len(bounds) + 1 and
                   bounds == sorted(bounds),
                   f"worker {w['index']}: forward_delay has "
                   f"{len(bounds)} bounds and {len(counts)} counts")
        timed = sum(counts)
        fail.check(w["rtp_forwarded"] <= timed <= w["tx_datagrams"],
                   f"worker {w['index']}: {timed} datagrams timed, between "
                   f"{w['rtp_forwarded']} forwarded and {w['tx_datagrams']} "
                   f"sent")
        if timed:
            below = 0
            for b, c in zip(bounds + [None], counts):
                below += c
                if below >= 0.99 * timed:
                    print(f"  worker {w['index']}: 99 % of forwards left "
                          f"within {b} us" if b else "  over the last bound")
                    break


def summary(reports, frames, stats, cpu):
    for n in ["alice", "bob", "carol"]:
        r = reports.get(n)
        if r:
            print(f"  {n}: sent {r['sent']['video_frames']} video frames, "
                  f"{r['sent']['audio_packets']} audio packets")
    for (dst, src), got in sorted(frames.items()):
        print(f"  {dst} decoded {got} frames from {src}")
    w = {k: sum(x[k] for x in stats["workers"])
         for k, v in stats["workers"][0].items()
         if k not in ("index", "udp_port") and isinstance(v, int)}
    print(f"  kaigi: {len(stats['workers'])} workers, "
          f"{w['rtp_forwarded']} RTP packets forwarded, "
          f"CPU {cpu:.2f} s for the run")
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--worker-threads", action="store_true",
                    help="run kaigi's media workers as threads")
    ap.add_argument("--duration", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaigi-e2e-") as tmp:
        if not args.garbage:
            fail, reports, frames, stats, cpu = one_run(args, tmp, False)
            summary(reports, frames, stats, cpu)
            check_delay_stats(fail, stats)
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
