"""kaigi-bench smoke test: a small run against a kaigi it starts, and a
--ceiling run; checks that the JSON reports are complete and sane.

usage: bench_test.py KAIGI KAIGI_BENCH
"""
import json
import subprocess
import sys

from e2e_common import Checks

FIELDS = [
    "mode", "rooms", "participants", "clients", "video_kbps", "duration_s",
    "warmup_s", "processes", "clients_connected", "clients_failed",
    "clients_late", "packets_sent", "packets_received", "forwarded_pps",
    "forwarded_mbps", "cpu_s", "cpu_pct", "cpu_us_per_packet", "latency_ms",
    "loss_pct", "packets_expected", "packets_lost", "rss_kb_before",
    "rss_kb_after", "rss_kb_per_participant", "join_ms",
    "srtp_unprotect_failures", "bad_payloads", "bench_cpu_pct",
    "bench_cpu_max_pct", "load_generator_bottleneck", "server_delay_ms",
    "send_lateness_ms",
]


def run(args, timeout):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, text=True)
    sys.stderr.write(p.stderr)
    return p.returncode, p.stdout


def check_run(check, r, name, clients, kaigi):
    missing = [f for f in FIELDS if f not in r]
    check(not missing, f"{name}: every field present (missing {missing})")
    check(r["clients_connected"] == clients and r["clients_failed"] == 0,
          f"{name}: {r['clients_connected']}/{clients} clients connected")
    check(r["srtp_unprotect_failures"] == 0,
          f"{name}: zero SRTP unprotect failures")
    check(r["bad_payloads"] == 0, f"{name}: every payload is ours")
    check(r["forwarded_pps"] > 0, f"{name}: forwarded {r['forwarded_pps']} pps")
    check(r["loss_pct"] is not None and r["loss_pct"] < 1.0,
          f"{name}: loss {r['loss_pct']} % < 1 %")
    check(r["cpu_us_per_packet"] is not None and r["cpu_us_per_packet"] > 0,
          f"{name}: {r['cpu_us_per_packet']} us of CPU per packet")
    lat = r["latency_ms"]
    check(lat["p99"] is not None and lat["p99"] > 0 and lat["samples"] > 0
          and lat["p50"] <= lat["p99"] <= lat["max"],
          f"{name}: latency p50 {lat['p50']} p99 {lat['p99']} max "
          f"{lat['max']} ms")
    # The server's own delay (kaigi's /api/stats histogram, the ceiling
    # loop's own): every forwarded copy is one sample, so the count is at
    # least what the clients received in the window, give or take the
    # second by which kaigi's worker counters lag.
    d = r["server_delay_ms"]
    check(d is not None and d["samples"] >= 0.5 * r["packets_received"]
          and 0 < d["p50"] <= d["p99"] < 1000,
          f"{name}: server's own delay p50 {d and d['p50']} p99 "
          f"{d and d['p99']} ms over {d and d['samples']} copies")
    late = r["send_lateness_ms"]
    check(late["p50"] is not None and 0 <= late["p50"] <= late["p99"],
          f"{name}: clients' send lateness p50 {late['p50']} p99 "
          f"{late['p99']} ms")
    # Each client receives everyone else's audio and video: the expected
    # packet count is known from the rates within a few per cent.
    check(r["packets_expected"] > 0 and r["packets_received"] > 0,
          f"{name}: {r['packets_received']} packets received in the window")
    if kaigi:
        joins = r["join_ms"]
        check(joins["count"] == clients and joins["p50"] > 0
              and joins["max"] >= joins["p50"],
              f"{name}: join times p50 {joins['p50']} max {joins['max']} ms")
        check(r["rss_kb_before"] > 0 and r["rss_kb_after"] > 0,
              f"{name}: RSS {r['rss_kb_before']} -> {r['rss_kb_after']} kB")
        check(r["cpu_s"] > 0, f"{name}: kaigi CPU {r['cpu_s']} s")


def main():
    kaigi, bench = sys.argv[1], sys.argv[2]
    check = Checks()
    small = ["--rooms", "1", "--participants", "3", "--duration", "3",
             "--warmup", "2", "--json"]
    rc, out = run([bench, "--kaigi", kaigi] + small, 60)
    check(rc == 0, f"kaigi run exits 0 (got {rc})")
    rep = json.loads(out)
    check(rep["ceiling"] is None and rep["ratio"] is None,
          "kaigi run: no ceiling asked, none reported")
    check_run(check, rep["kaigi"], "kaigi", 3, True)
    # 3 clients, each receiving 2 others: 2 x 50 audio + 2 x ~60 video/s.
    pps = rep["kaigi"]["forwarded_pps"]
    check(3 * 2 * 100 < pps < 3 * 2 * 140, f"kaigi: {pps} pps is the load")

    rc, out = run([bench, "--ceiling"] + small, 60)
    check(rc == 0, f"ceiling run exits 0 (got {rc})")
    rep = json.loads(out)
    check(rep["kaigi"] is None, "ceiling run: no kaigi run")
    check_run(check, rep["ceiling"], "ceiling", 3, False)

    # A threshold nobody can meet makes the run fail.
    rc, _ = run([bench, "--ceiling", "--max-p99-ms", "0"] + small, 60)
    check(rc == 1, f"--max-p99-ms 0 exits 1 (got {rc})")
    if check.failed:
        print(f"{len(check.failed)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
