#!/usr/bin/env python3
"""kaigi's media workers as child processes, from the outside.

1. `kaigi --workers 3` has exactly three child processes, each with its
   own UDP port (from /api/stats), and SIGTERM leaves none behind.
2. A worker killed with SIGKILL stops kaigi with exit status 1 and a line
   that says which worker died: its rooms' transports and keys went with
   it, and a supervisor must restart kaigi rather than let it black-hole
   media.
3. kaigi killed with SIGKILL takes its workers with it (PR_SET_PDEATHSIG):
   no orphan keeps the UDP ports or the keys.

Usage: workers_test.py KAIGI
"""
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


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def start(kaigi, tmp, name, workers):
    port = free_port(socket.SOCK_STREAM)
    log = open(os.path.join(tmp, f"{name}.log"), "w+")
    proc = subprocess.Popen(
        [kaigi, "--listen", f"{HOST}:{port}", "--udp", f"{HOST}:0",
         "--data", os.path.join(tmp, name), "--open-rooms",
         "--workers", str(workers)],
        stdout=log, stderr=subprocess.STDOUT)
    stats = None
    end = time.monotonic() + 10
    while time.monotonic() < end and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/api/stats",
                                        timeout=2) as r:
                stats = json.load(r)
            break
        except OSError:
            time.sleep(0.05)
    if stats is None:
        proc.kill()
        raise SystemExit(f"{name}: kaigi did not come up")
    return proc, log, stats


def main():
    kaigi = sys.argv[1]
    fail = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-workers-") as tmp:
        # 1. three workers, three processes, three ports; clean stop
        proc, log, stats = start(kaigi, tmp, "three", 3)
        kids = children(proc.pid)
        fail.check(len(kids) == 3, f"3 worker processes (found {kids})")
        ports = {w.get("udp_port") for w in stats.get("workers", [])}
        fail.check(len(ports) == 3 and 0 not in ports,
                   f"3 distinct UDP ports ({sorted(map(str, ports))})")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        fail.check(proc.returncode == 0,
                   f"SIGTERM: kaigi exits 0 (exit {proc.returncode})")
        fail.check(wait_for(lambda: not any(alive(k) for k in kids), 5),
                   "SIGTERM: no worker process left")

        # 2. a worker dies: kaigi stops, says so, exits 1
        proc, log, _ = start(kaigi, tmp, "dies", 2)
        kids = children(proc.pid)
        fail.check(len(kids) == 2, f"2 worker processes (found {kids})")
        if kids:
            os.kill(kids[0], signal.SIGKILL)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            fail.check(proc.returncode == 1,
                       f"a killed worker stops kaigi with exit 1 "
                       f"(exit {proc.returncode})")
            log.seek(0)
            text = log.read()
            fail.check(f"pid {kids[0]}) exited" in text,
                       "kaigi says which worker died")
            fail.check(wait_for(lambda: not any(alive(k) for k in kids), 5),
                       "the other worker went with it")

        # 3. kaigi dies: its workers follow
        proc, log, _ = start(kaigi, tmp, "orphans", 2)
        kids = children(proc.pid)
        fail.check(len(kids) == 2, f"2 worker processes (found {kids})")
        proc.kill()
        proc.wait()
        fail.check(wait_for(lambda: not any(alive(k) for k in kids), 5),
                   "SIGKILL of kaigi: no orphaned worker")
    if fail.items:
        print(f"{len(fail.items)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main()
