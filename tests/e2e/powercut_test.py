#!/usr/bin/env python3
"""A power cut loses no committed meeting: tested by dropping every write
kaigi did not make durable.

kill -9 alone proves little, because the page cache keeps every write,
synced or not. Here kaigi runs with tests/powercut/powercut.c preloaded:
each fsync/fdatasync of a file in its data directory copies that file, as
it is then, to a second directory. After kill -9, kaigi starts again on a
copy of that second directory, i.e. on exactly what was on the disk at
the last sync of each file. Then:
  - /api/stats says the live store runs journal_mode wal, synchronous full;
  - every meeting whose creation was answered 201 is there, with its
    update (PUT answered 200), and every deletion answered 204 holds;
  - each meeting's PIN reads back the same (secret.key survived too), and
    the admin token is the same;
  - a self-check shows the harness really drops unsynced writes: a file
    written without fsync has no copy, one written with fsync has.
With synchronous=NORMAL or OFF the newest commits are missing and this
test fails (checked by planting it).

Usage: powercut_test.py KAIGI POWERCUT_SO
Only 127.0.0.1 is ever used.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, Checks, free_port, wait_up  # noqa: E402

MEETINGS = 24


def rfc3339(t):
    return datetime.datetime.fromtimestamp(
        t, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def preload_env(so, data, save):
    env = dict(os.environ)
    env["LD_PRELOAD"] = os.path.abspath(so)
    env["KAIGI_POWERCUT_DIR"] = data
    env["KAIGI_POWERCUT_SAVE"] = save
    # Under AddressSanitizer the preload comes before ASan's runtime,
    # which is harmless here (it intercepts none of the same functions).
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "verify_asan_link_order=0"
    return env


def self_check(check, so, tmp):
    """The harness drops what was not synced and keeps what was."""
    data, save = os.path.join(tmp, "sc-data"), os.path.join(tmp, "sc-save")
    os.makedirs(data)
    os.makedirs(save)
    code = ("import os,sys\n"
            "d=sys.argv[1]\n"
            "for name, sync in (('synced', True), ('unsynced', False)):\n"
            "    fd=os.open(os.path.join(d, name), os.O_CREAT|os.O_WRONLY)\n"
            "    os.write(fd, b'x' * 100)\n"
            "    if sync: os.fsync(fd)\n"
            "    os.write(fd, b'y')\n"
            "    os.close(fd)\n")
    subprocess.run([sys.executable, "-c", code, data], check=True,
                   env=preload_env(so, data, save), timeout=20)
    got = sorted(os.listdir(save))
    size = os.path.getsize(os.path.join(save, "synced")) \
        if "synced" in got else -1
    check(got == ["synced"] and size == 100,
          f"harness: only synced bytes survive ({got}, {size} bytes)")


class Kaigi:
    def __init__(self, binary, data, log, env=None):
        self.http = free_port(socket.SOCK_STREAM)
        self.data = data
        self.proc = subprocess.Popen(
            [binary, "--listen", f"{HOST}:{self.http}", "--udp",
             f"{HOST}:0", "--data", data, "--node", "powercut"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_up(self.http, self.proc)
        with open(os.path.join(data, "admin.token")) as f:
            self.token = f.read().strip()

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://{HOST}:{self.http}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                text = r.read()
                return r.status, json.loads(text) if text.strip() else None
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stats(self):
        with urllib.request.urlopen(f"http://{HOST}:{self.http}/api/stats",
                                    timeout=5) as r:
            return json.load(r)


def write_load(check, k):
    """Creates, updates and deletes meetings; returns what was committed:
    {id: (title, pin)} of the meetings that must survive, and the ids
    deleted."""
    now = int(time.time())
    kept, deleted = {}, []
    for i in range(MEETINGS):
        st, m = k.call("POST", "/api/meetings", {
            "title": f"m{i}", "start": rfc3339(now - 60), "duration": 3600})
        if st != 201:
            check(False, f"create meeting {i} ({st} {m})")
            return kept, deleted
        st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
        kept[m["id"]] = [f"m{i}", info.get("pin") if st == 200 else None]
    ids = list(kept)
    for mid in ids[:3]:
        st, _ = k.call("DELETE", f"/api/meetings/{mid}")
        if st == 204:
            kept.pop(mid)
            deleted.append(mid)
    # The very last write before the cut is an update: the newest commit
    # is the one a lax synchronous setting loses first.
    last = ids[-1]
    st, _ = k.call("PUT", f"/api/meetings/{last}", {"title": "renamed"})
    if st == 200:
        kept[last][0] = "renamed"
    check(len(kept) == MEETINGS - 3 and len(deleted) == 3 and
          kept[last][0] == "renamed",
          f"{MEETINGS} meetings created, 3 deleted, 1 renamed "
          f"(all answered)")
    return kept, deleted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("powercut")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-powercut-") as tmp:
        self_check(check, args.powercut, tmp)
        data, save = os.path.join(tmp, "data"), os.path.join(tmp, "save")
        os.makedirs(save)
        log = open(os.path.join(tmp, "kaigi.log"), "a")
        k = Kaigi(args.kaigi, data, log,
                  env=preload_env(args.powercut, data, save))
        try:
            store = k.stats().get("store")
            check(store == {"journal_mode": "wal", "synchronous": "full"},
                  f"the live store runs WAL with synchronous=full ({store})")
            kept, deleted = write_load(check, k)
            token = k.token
        finally:
            k.proc.send_signal(signal.SIGKILL)
            k.proc.wait(timeout=10)
        # The power cut: only what was synced is left.
        after = os.path.join(tmp, "after")
        shutil.copytree(save, after)
        os.chmod(after, 0o700)
        check(not os.path.exists(os.path.join(after, "kaigi.db-shm")),
              "the cut leaves no -shm index (never synced)")
        k2 = Kaigi(args.kaigi, after, log)
        try:
            check(k2.token == token,
                  "the admin token survives the cut")
            st, lst = k2.call("GET", "/api/meetings")
            have = {m["id"]: m["title"] for m in (lst or {}).get(
                "meetings", [])}
            lost = [mid for mid in kept if mid not in have]
            check(st == 200 and not lost,
                  f"every committed meeting survives the cut "
                  f"({len(kept) - len(lost)}/{len(kept)})")
            back = [mid for mid in deleted if mid in have]
            check(not back, f"no deleted meeting comes back ({back})")
            stale = [mid for mid, (title, _) in kept.items()
                     if mid in have and have[mid] != title]
            check(not stale, f"the last update survives ({stale})")
            wrong = []
            for mid, (_, pin) in kept.items():
                st, info = k2.call("GET", f"/api/meetings/{mid}/join-info")
                if st != 200 or info.get("pin") != pin:
                    wrong.append(mid)
            check(not wrong, f"every PIN reads back the same after the cut "
                  f"({len(kept) - len(wrong)}/{len(kept)})")
        finally:
            k2.proc.send_signal(signal.SIGTERM)
            k2.proc.wait(timeout=10)
            log.close()
        return check.summary(os.path.join(tmp, "kaigi.log"))


if __name__ == "__main__":
    sys.exit(main())
