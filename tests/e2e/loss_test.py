#!/usr/bin/env python3
"""End-to-end NACK loss recovery over loopback with real processes.

Three kaigi-clients in one room, three runs, each on a fresh kaigi:
  clean     no loss;
  lossy     every client drops 3 % of its outgoing RTP (--loss 3, first
            sends and retransmissions alike); kaigi NACKs the sender for
            what it lost, the receivers NACK kaigi;
  no-nack   the same loss with the clients' NACK recovery off
            (--no-nack), to show the test can fail.
Checks: in the lossy run every receiver decodes within 5 % of the share
of a sender's video frames it decoded in the clean run (shares, because
a starved sender on a loaded machine skips frames, which is not loss); kaigi's stats
show it NACKed the publishers and got the packets back, the receivers
NACKed kaigi, and the clients resent what kaigi asked for; without
recovery the frames fall by more than 5 %.

With --recv, the loss is at the receivers instead (--recv-loss: each
client drops that share of the RTP kaigi sends it, before SRTP and its
NACK generator see it), two runs:
  recv-lossy    the receivers NACK kaigi, which resends from its cache;
  recv-no-nack  the same loss with the receivers' --no-nack.
Checks: with NACK every receiver decodes at least RECV_MIN_SHARE of each
sender's frames; kaigi resent packets to every receiver, no more than it
was asked for, and each receiver counts most of them as NACKed packets
that came back (nack_recovered); without NACK the frames fall clearly
below that share. Only the receivers' NACKs to kaigi can bring the
packets back here, so this is what fails when kaigi stops answering them.

Usage: loss_test.py KAIGI KAIGI_CLIENT [--duration S] [--loss PERCENT]
                    [--worker-threads] [--recv]
Only 127.0.0.1 is ever used.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checks  # noqa: E402
from media_test import (LINGER, collect, scrape_while_running,  # noqa: E402
                        start_kaigi, stop_kaigi)

NAMES = ["alice", "bob", "carol"]
# More packets per frame than the default 500 kbit/s: a frame is lost
# when any of its packets is, so without recovery the loss shows.
VIDEO_KBPS = 1200


def run_clients(args, tmp, ws, extra):
    procs = []
    for i, name in enumerate(NAMES):
        report = os.path.join(tmp, f"{name}.json")
        cmd = [args.client, "--server", ws, "--room", "e2e", "--name", name,
               "--duration", str(args.duration), "--report", report,
               "--seed", str(i + 1), "--wait-remotes", "2",
               "--video-kbps", str(VIDEO_KBPS), "--linger", str(LINGER)]
        cmd += extra
        log = open(os.path.join(tmp, f"{name}.log"), "w")
        procs.append((name, report, subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT), log))
    return procs


def one_run(args, tmp, label, extra):
    """Returns (frames {(dst, src): decoded}, reports, kaigi's per-name
    participant stats, fail)."""
    fail = Checks()
    os.mkdir(tmp)
    proc, log, http_port, _ = start_kaigi(args, tmp)
    ws = f"ws://127.0.0.1:{http_port}/ws"
    procs = run_clients(args, tmp, ws, extra)
    with open(os.path.join(tmp, "data", "admin.token")) as f:
        token = f.read().strip()
    scraped = scrape_while_running(http_port, token, procs, "e2e")
    reports = collect(procs, args.duration + LINGER + 30)
    stop_kaigi(fail, proc, log)
    frames = {}
    by_pid = {reports[n]["participant"]: n for n in NAMES if reports[n]}
    for n in NAMES:
        r = reports[n]
        fail(r is not None, f"{label}: {n} wrote its report")
        if r is None:
            continue
        fail(r.get("srtp_unprotect_failures") == 0,
             f"{label}: {n} SRTP unprotect failures "
             f"{r.get('srtp_unprotect_failures')}")
        for pid, rr in r.get("remotes", {}).items():
            src = by_pid.get(pid)
            if src:
                frames[(n, src)] = (rr.get("video_frames_decoded", 0),
                                    reports[src]["sent"]["video_frames"])
    fail(len(frames) == 6, f"{label}: 6 receiver/sender pairs ({len(frames)})")
    parts = {}
    if scraped:
        _, _, stats = scraped
        parts = {p.get("name"): p for p in stats.get("participants", [])}
    fail(len(parts) == 3, f"{label}: kaigi's room stats read")
    if fail.items:
        with open(os.path.join(tmp, "kaigi.log")) as f:
            sys.stdout.write(f"--- kaigi log ({label}):\n" + f.read())
    return frames, reports, parts, fail


def total(d, key):
    return sum((x or {}).get(key, 0) for x in d.values())


def share(pairs):
    """Frames decoded over frames their senders sent."""
    got = sum(g for g, _ in pairs)
    sent = sum(s for _, s in pairs)
    return got / sent if sent else 0.0


def describe(label, frames, reports, parts):
    print(f"  {label}: frames decoded/sent "
          + ", ".join(f"{d}<-{s} {g}/{n}"
                      for (d, s), (g, n) in sorted(frames.items()))
          + f" ({100.0 * share(frames.values()):.1f} %)")
    print(f"  {label}: clients dropped {total(reports, 'loss_dropped')}, "
          f"NACKed {total(reports, 'nacks_sent')}, "
          f"were asked for {total(reports, 'nacks_in')}, "
          f"resent {total(reports, 'retransmits')}, "
          f"recovered {total(reports, 'packets_recovered')}, "
          f"gave up {total(reports, 'packets_given_up')}, "
          f"skipped {total(reports, 'reorder_skipped')}, "
          f"stream resets {total(reports, 'stream_resets')}, "
          f"SRTP replays (duplicates) {total(reports, 'srtp_replays')}")
    print(f"  {label}: kaigi NACKed publishers for "
          f"{total(parts, 'nacks_sent')}, recovered "
          f"{total(parts, 'nack_recovered')}, gave up "
          f"{total(parts, 'nack_given_up')}; receivers' NACKs "
          f"{total(parts, 'nacks_in')}, resent {total(parts, 'retransmits')}"
          f", not in cache {total(parts, 'retransmit_misses')}")


# --recv at 3 % loss: what each receiver must decode of its senders'
# frames with NACK (measured 98-100 % in 4 s runs; 89-96 % on a 2-core
# machine at load 14, whose starved clients NACK late), and what all
# decode without it at most (measured 80-87 %), and at least this much
# below the run with NACK (measured 12-20 points).
RECV_MIN_SHARE = 0.88
RECV_BARE_MAX_SHARE = 0.92
RECV_NACK_GAIN = 0.05


def by_receiver(frames):
    """{receiver: [(decoded, sent) from each sender]}"""
    out = {}
    for (dst, _), pair in frames.items():
        out.setdefault(dst, []).append(pair)
    return out


def recv_checks(fail, loss, frames, reports, parts):
    """With --recv-loss and NACK: what the receivers decoded, and kaigi's
    resends against what they NACKed and got back."""
    for n, pairs in sorted(by_receiver(frames).items()):
        got = share(pairs)
        fail(got >= RECV_MIN_SHARE,
             f"at {loss:g} % receive loss {n} decodes {100.0 * got:.1f} % "
             f"of the frames its senders sent (>= "
             f"{100.0 * RECV_MIN_SHARE:.0f} %)")
    for n in NAMES:
        r, p = reports.get(n) or {}, parts.get(n) or {}
        resent, recovered = p.get("retransmits", 0), r.get("nack_recovered", 0)
        asked, dropped = r.get("nacks_sent", 0), r.get("recv_loss_video", 0)
        dups = r.get("srtp_replays", 0)
        fail(dropped > 0, f"{n} dropped video on arrival ({dropped})")
        # kaigi resends only what was asked (its counter, per receiver);
        # each recovery is one of its resends (the client's counter).
        fail(0 < resent <= asked,
             f"kaigi resent to {n}: {resent} packets for {asked} NACKed")
        fail(0 < recovered <= resent,
             f"{n} got back {recovered} NACKed packets, kaigi resent "
             f"{resent}")
        # A resend that does not recover is a duplicate (a NACK retried
        # before the answer came: SRTP drops it as a replay) or lost
        # again; few are.
        fail(recovered + dups >= 0.6 * resent,
             f"{n}: {recovered} recovered + {dups} duplicates account for "
             f"the {resent} resends")
        fail(recovered >= 0.3 * dropped,
             f"{n} got back {recovered} of its {dropped} dropped video "
             f"packets")


def recv_main(args):
    loss = ["--recv-loss", str(args.loss)]
    with tempfile.TemporaryDirectory(prefix="kaigi-recv-loss-") as tmp:
        lossy, rl, pl, f1 = one_run(args, os.path.join(tmp, "lossy"),
                                    "recv-lossy", loss)
        bare, rb, pb, f2 = one_run(args, os.path.join(tmp, "bare"),
                                   "recv-no-nack", loss + ["--no-nack"])
    describe("recv-lossy", lossy, rl, pl)
    describe("recv-no-nack", bare, rb, pb)
    print("  recv-lossy: per receiver dropped (video) / NACKed / kaigi "
          "resent / recovered after NACK / duplicates: " + ", ".join(
              f"{n} {r.get('recv_loss_dropped')} ({r.get('recv_loss_video')})"
              f" / {r.get('nacks_sent')} / "
              f"{(pl.get(n) or {}).get('retransmits')} / "
              f"{r.get('nack_recovered')} / {r.get('srtp_replays')}"
              for n, r in sorted(rl.items()) if r))
    fail = Checks()
    recv_checks(fail, args.loss, lossy, rl, pl)
    # All pairs together: a few seconds of one pair is too few losses
    # to bound on its own.
    got, nack = share(bare.values()), share(lossy.values())
    fail(got <= RECV_BARE_MAX_SHARE and got <= nack - RECV_NACK_GAIN,
         f"without NACK the receivers decode {100.0 * got:.1f} % of the "
         f"frames (<= {100.0 * RECV_BARE_MAX_SHARE:.0f} %, and "
         f"{100.0 * RECV_NACK_GAIN:.0f} points below {100.0 * nack:.1f} % "
         f"with NACK)")
    fail(total(pb, "retransmits") == 0 and total(rb, "nacks_sent") == 0,
         "--no-nack receivers NACK nothing and kaigi resends nothing")
    items = f1.items + f2.items + fail.items
    if items:
        print(f"{len(items)} check(s) failed")
        return 1
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("--duration", type=int, default=6)
    ap.add_argument("--loss", type=float, default=3.0)
    # media_test.start_kaigi reads it: workers as threads, not processes
    ap.add_argument("--worker-threads", action="store_true")
    ap.add_argument("--recv", action="store_true",
                    help="the loss at the receivers (--recv-loss)")
    args = ap.parse_args()
    if args.recv:
        return recv_main(args)
    loss = ["--loss", str(args.loss)]
    with tempfile.TemporaryDirectory(prefix="kaigi-loss-") as tmp:
        clean, rc, pc, f1 = one_run(args, os.path.join(tmp, "clean"),
                                    "clean", [])
        lossy, rl, pl, f2 = one_run(args, os.path.join(tmp, "lossy"),
                                    "lossy", loss)
        bare, rb, pb, f3 = one_run(args, os.path.join(tmp, "bare"),
                                   "no-nack", loss + ["--no-nack"])
    describe("clean", clean, rc, pc)
    describe("lossy", lossy, rl, pl)
    describe("no-nack", bare, rb, pb)
    fail = Checks()
    # Compared as shares of the frames each sender sent in its own run: on
    # a loaded machine a starved sender skips frames (its capture clock
    # does not wait), which is not loss.
    for key, base in sorted(clean.items()):
        b = share([base])
        got = share([lossy.get(key, (0, 0))])
        fail(b > 0 and got >= 0.95 * b,
             f"at {args.loss:g} % loss {key[0]} <- {key[1]}: "
             f"{100.0 * got:.1f} % of the frames sent decoded vs "
             f"{100.0 * b:.1f} % clean")
    sum_clean, sum_lossy, sum_bare = (share(clean.values()),
                                      share(lossy.values()),
                                      share(bare.values()))
    fail(sum_lossy >= 0.95 * sum_clean,
         f"all frames at {args.loss:g} % loss: {100.0 * sum_lossy:.1f} % vs "
         f"{100.0 * sum_clean:.1f} % clean")
    fail(total(rl, "loss_dropped") > 0, "the clients did drop packets")
    fail(total(pl, "nacks_sent") > 0 and total(pl, "nack_recovered") > 0,
         "kaigi NACKed the publishers and got packets back "
         f"({total(pl, 'nacks_sent')} asked, "
         f"{total(pl, 'nack_recovered')} recovered)")
    fail(total(rl, "retransmits") > 0,
         f"the publishers resent ({total(rl, 'retransmits')})")
    # The loss is at the senders only: what receivers miss, kaigi missed
    # too, and they get it when kaigi's own NACK brings it back; kaigi's
    # resends from its cache answer downstream loss, which nack_test's
    # simulation covers.
    fail(total(pl, "nacks_in") > 0 and total(rl, "nacks_sent") > 0,
         f"the receivers NACKed kaigi ({total(pl, 'nacks_in')} NACK "
         f"packets)")
    fail(total(pl, "nacks_sent") <= 2 * total(rl, "loss_dropped"),
         "kaigi's upstream NACKs stay near the losses, not the receivers' "
         "count")
    # The test could fail: without recovery the same loss costs frames.
    fail(sum_bare < 0.95 * sum_clean,
         f"without NACK the frames drop more than 5 %: "
         f"{100.0 * sum_bare:.1f} % vs {100.0 * sum_clean:.1f} % clean")
    fail(total(rb, "retransmits") == 0 and total(rb, "nacks_sent") == 0,
         "--no-nack neither NACKs nor resends")
    items = f1.items + f2.items + f3.items + fail.items
    if items:
        print(f"{len(items)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
