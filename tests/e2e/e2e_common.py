"""Helpers shared by the end-to-end tests. Only 127.0.0.1 is ever used."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

HOST = "127.0.0.1"


def free_port(kind):
    """A port on 127.0.0.1 that was free a moment ago (TCP or UDP)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Checks:
    """Prints one line per check and remembers the failures."""

    def __init__(self):
        self.failed = []

    def __call__(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failed.append(what)

    # the media test's older spelling
    def check(self, ok, what):
        self(ok, what)

    @property
    def items(self):
        return self.failed


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


def reap(name, report, p, log, end):
    """Waits for a kaigi-client until the monotonic deadline end (at least
    a second; killed past it), closes its log and returns its JSON report,
    or None. A client that failed or left no report has its log printed."""
    try:
        p.wait(timeout=max(1, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    log.close()
    try:
        with open(report) as f:
            out = json.load(f)
    except (OSError, ValueError):
        out = None
    if p.returncode != 0 or out is None:
        with open(log.name) as f:
            sys.stdout.write(f"--- {name} (exit {p.returncode}) log:\n"
                             f"{f.read()}")
    return out
