"""bench/janus-compare smoke test: a small load against kaigi and against
Janus VideoRoom; checks that both runs connect every client over
AEAD_AES_256_GCM, forward every packet of the same load, and that the CPU
ratio is the quotient of the two reports and not grossly against kaigi.
Skips (77) when Janus is not installed: it is needed only for this
comparison (Debian package `janus`), not by the build or the other tests,
and the test never installs it.

usage: janus_compare_test.py KAIGI KAIGI_BENCH
"""
import json
import os
import shutil
import subprocess
import sys

from e2e_common import Checks

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "bench", "janus-compare")


def main():
    kaigi, bench = sys.argv[1], sys.argv[2]
    if not shutil.which("janus"):
        print("janus is not installed (apt-get install janus): skipped")
        sys.exit(77)
    build = os.path.dirname(os.path.abspath(kaigi))
    if os.path.abspath(bench) != os.path.join(build, "bench", "kaigi-bench"):
        print("kaigi-bench is not BUILD/bench/kaigi-bench: skipped")
        sys.exit(77)
    check = Checks()
    p = subprocess.run([SCRIPT, "--build", build, "--rooms", "1",
                        "--participants", "3", "--duration", "3",
                        "--warmup", "2", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=150, check=False)
    sys.stderr.write(p.stderr)
    check(p.returncode == 0, f"janus-compare exits 0 (got {p.returncode})")
    rep = json.loads(p.stdout)
    for side in ("kaigi", "janus"):
        r = rep[side][0]
        check(r is not None and r["mode"] == side, f"{side}: a report")
        if r is None:
            continue
        check(r["clients_connected"] == 3 and r["clients_failed"] == 0,
              f"{side}: 3/3 clients connected")
        check(r["srtp_unprotect_failures"] == 0 and r["bad_payloads"] == 0,
              f"{side}: every packet decrypts and is ours")
        # 3 clients, each receiving 2 others: 2 x 50 audio + 2 x ~60 video/s.
        pps = r["forwarded_pps"]
        check(3 * 2 * 100 < pps < 3 * 2 * 140, f"{side}: {pps} pps is the load")
        lost, expected = r["packets_lost"], r["packets_expected"]
        check(expected > 0 and lost == 0,
              f"{side}: forwarded every packet ({lost} of {expected} lost)")
        check(r["cpu_us_per_packet"] is not None
              and r["cpu_us_per_packet"] > 0,
              f"{side}: {r['cpu_us_per_packet']} us of server CPU per packet")
    ratios = rep["ratio_kaigi_over_janus"]["median"]
    cpu = ratios["CPU us per forwarded packet"]
    # The ratio is kaigi's CPU per packet over Janus's: it must be the
    # quotient of the two reports (not a placeholder), and at this tiny
    # load both are dominated by wake-ups, so only a gross regression
    # (kaigi over 3x Janus's CPU per packet) fails here.
    k, j = rep["kaigi"][0], rep["janus"][0]
    want = (k["cpu_us_per_packet"] / j["cpu_us_per_packet"]
            if k and j and j["cpu_us_per_packet"] else None)
    check(cpu is not None and want is not None
          and abs(cpu - want) <= 0.01 * want and cpu < 3.0,
          f"CPU ratio kaigi/Janus is {cpu} (reports give {want}), < 3")
    check(rep["srtp_profile"] == {"kaigi": "AEAD_AES_256_GCM",
                                  "janus": "AEAD_AES_256_GCM"},
          f"both servers on AEAD_AES_256_GCM ({rep['srtp_profile']})")
    if check.failed:
        print(f"{len(check.failed)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
