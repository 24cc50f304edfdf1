#!/usr/bin/env python3
"""End-to-end test of the meetings server over loopback, real processes.

kaigi (no ad-hoc rooms) + kaigictl-free REST calls + kaigi-clients:
  - join-info before its window: 403 not_yet with opens_at;
  - a host (host key, --admit-all) and two participants (PIN) with the
    waiting room on: both wait with no transport, get admitted, and see
    each other; media received while waiting is 0;
  - the host removes one: its report says removed;
  - the host locks: a late joiner is refused "locked", the host is told;
  - a one-time invite admits once, then is spent;
  - wrong PINs from 127.0.0.2 end in a lock-out, while a right PIN from
    127.0.0.3 still gets in;
  - a non-host's screen share is not forwarded under the "host" policy;
  - a removed participant's media stops reaching the others within 1 s;
  - kaigictl creates, lists, invites and deletes;
  - the audit log has the events, with nicknames and no addresses;
  - kill -9 and restart: every meeting is still there, and the database
    files hold no PIN, host key or invite token in clear.

Usage: meetings_test.py KAIGI KAIGI_CLIENT KAIGICTL
Only 127.0.0.1 is ever used.
"""
import argparse
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (HOST, Checks, Kaigi, MiniWs,  # noqa: E402
                        rfc3339)


def client(args, k, tmp, name, extra, duration=4):
    report = os.path.join(tmp, f"{name}.json")
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    cmd = [args.client, "--server", k.ws, "--name", name, "--duration",
           str(duration), "--report", report] + extra
    return name, report, subprocess.Popen(cmd, stdout=log,
                                          stderr=subprocess.STDOUT), log


def finish(procs, timeout=40):
    out = {}
    end = time.monotonic() + timeout
    for name, report, p, log in procs:
        try:
            p.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        try:
            with open(report) as f:
                out[name] = json.load(f)
        except (OSError, ValueError):
            out[name] = {}
        out[name]["exit"] = p.returncode
    return out


def notice_types(report):
    return [n.get("type") for n in report.get("notices", [])]


def test_early_close(check, k):
    """Connections that close before (or in the middle of) a request must
    not take kaigi down."""
    for payload in [b"", b"GET / HT", b"POST /api/meetings HTTP/1.1\r\n"
                    b"Content-Length: 100\r\n\r\n{"]:
        s = socket.create_connection((HOST, k.http), timeout=5)
        if payload:
            s.sendall(payload)
        s.close()
    time.sleep(0.2)
    st, _ = k.call("GET", "/api/stats", auth=None)
    check(k.proc.poll() is None and st == 200,
          "kaigi survives connections closed before or inside a request")


def test_keepalive(check, k):
    """Two POSTs on one keep-alive connection: each body is its own (a
    server that kept the first body would refuse or merge the second)."""
    import http.client
    conn = http.client.HTTPConnection(HOST, k.http, timeout=5)
    statuses = []
    for title in ["first", "second"]:
        body = json.dumps({"title": title, "start": rfc3339(int(time.time())),
                           "duration": 600})
        conn.request("POST", "/api/meetings", body,
                     {"Authorization": f"Bearer {k.token}",
                      "Content-Type": "application/json"})
        r = conn.getresponse()
        statuses.append((r.status, json.loads(r.read()).get("title")))
    conn.close()
    check(statuses == [(201, "first"), (201, "second")],
          f"two POSTs on one keep-alive connection ({statuses})")


def test_window_and_meeting(check, k):
    now = int(time.time())
    st, later = k.call("POST", "/api/meetings", {
        "title": "Later", "start": rfc3339(now + 3600), "duration": 600})
    check(st == 201, f"create a meeting an hour ahead ({st})")
    st, body = k.call("GET", f"/api/meetings/{later['id']}/join-info",
                      auth=f"HostKey {later['host_key']}")
    check(st == 403 and body.get("error") == "not_yet"
          and body.get("opens_at") == rfc3339(now + 3600 - 300),
          f"join-info an hour early: {st} {body}")
    st, m = k.call("POST", "/api/meetings", {
        "title": "Now", "start": rfc3339(now - 60), "duration": 900})
    check(st == 201 and len(m["id"]) == 11, "create a meeting open now")
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info",
                      auth=f"HostKey {m['host_key']}")
    check(st == 200 and len(info.get("pin", "")) == 8,
          "join-info inside the window gives the PIN")
    return later, m, info["pin"]


def test_waiting_room(check, args, k, tmp, m, pin):
    """Host + three PIN participants, waiting room on. carol is held in
    the waiting room for 3 s while the others talk; mallory is removed;
    aiko (not host) tries to share a screen under the "host" policy while
    the host shares one."""
    host = client(args, k, tmp, "host",
                  ["--meeting", m["id"], "--host-key", m["host_key"],
                   "--admit-all", "--hold", "carol", "--hold-for", "3",
                   "--remove", "mallory", "--screen"], duration=7)
    time.sleep(0.5)
    procs = [host]
    for name, extra in [("aiko", ["--screen"]), ("mallory", []),
                        ("carol", [])]:
        procs.append(client(args, k, tmp, name,
                            ["--meeting", m["id"], "--pin", pin] + extra,
                            duration=7))
    r = finish(procs)
    h, a, x, c = r["host"], r["aiko"], r["mallory"], r["carol"]
    check(h.get("host") is True and h.get("admitted") is True,
          "the host is admitted at once and is host")
    for name, rep in [("aiko", a), ("mallory", x), ("carol", c)]:
        check(rep.get("waited") is True, f"{name} waited in the waiting room")
        check(rep.get("media_while_waiting") == 0,
              f"{name} received no media while waiting "
              f"({rep.get('media_while_waiting')})")
        check(rep.get("admitted") is True, f"{name} was admitted by the host")
    hid, aid, xid = h.get("participant"), a.get("participant"), \
        x.get("participant")
    # carol waited while the host and aiko talked, then decoded them
    talked = a.get("remotes", {}).get(hid, {}).get("video_frames_decoded", 0)
    got = c.get("remotes", {}).get(hid, {}).get("video_frames_decoded", 0)
    check(talked > got > 0,
          f"carol, held 3 s, decoded the host's video once admitted ({got} "
          f"frames, aiko {talked})")
    check("join_notice" in notice_types(h), "the host got join notices")
    check(a.get("srtp_profile") == "AEAD_AES_256_GCM",
          "an admitted participant is on AEAD_AES_256_GCM")
    # removal: mallory's media stops reaching the others within 1 s
    check(x.get("removed") is True, "mallory's report says removed")
    sent = [e["unix_ms"] for e in h.get("removes", [])
            if e.get("name") == "mallory"]
    last = a.get("remotes", {}).get(xid, {}).get("last_media_unix_ms")
    check(bool(sent) and last is not None and last - sent[0] < 1000,
          f"mallory's media stopped reaching aiko within 1 s of the remove "
          f"({(last - sent[0]) if sent and last else '?'} ms)")
    # screen share: the host's is forwarded, aiko's is not
    check((a.get("screen") or {}).get("error") == "share_denied",
          "a non-host's screen share is refused (share_denied)")
    for name, rep in [("host", h), ("carol", c)]:
        rr = rep.get("remotes", {}).get(aid, {})
        check(rr.get("screen_frames_decoded", -1) == 0
              and rr.get("video_frames_decoded", 0) > 0,
              f"{name} got aiko's camera but not her screen "
              f"({rr.get('video_frames_decoded')} / "
              f"{rr.get('screen_frames_decoded')})")
    hs = a.get("remotes", {}).get(hid, {}).get("screen_frames_decoded", 0)
    check(hs > 0, f"the host's screen is forwarded ({hs} frames at aiko)")


def poll_file(path, text, timeout):
    """True once the file at path holds text, False at the deadline."""
    end = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                if text in f.read():
                    return True
        except OSError:
            pass
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def poll_audit(k, m, event, timeout):
    """True once the meeting's audit log has event, False at the
    deadline."""
    end = time.monotonic() + timeout
    while True:
        st, body = k.call("GET", f"/api/meetings/{m['id']}/audit")
        if st == 200 and event in [e["event"]
                                   for e in body.get("events", [])]:
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.1)


def test_lock_and_invite(check, args, k, tmp, m, pin):
    """The invitee waits before the host comes, so the host admits it as
    it joins (from the first waiting_list), long before its lock 2 s
    later however loaded the machine is; the late joiner starts once the
    lock is in the audit log, with the host in for 6 s more to be told."""
    st, inv = k.call("POST", f"/api/meetings/{m['id']}/invites",
                     {"count": 1}, auth=f"HostKey {m['host_key']}")
    check(st == 201, "the host makes a one-time invite")
    token = inv["invites"][0]["token"]
    k.invite_token = token
    ren = client(args, k, tmp, "ren", ["--invite", token], duration=2)
    check(poll_file(os.path.join(tmp, "ren.log"), "waiting (", 30),
          "the invitee is in the waiting room before the host comes "
          "(its log says so within 30 s)")
    host = client(args, k, tmp, "host2",
                  ["--meeting", m["id"], "--host-key", m["host_key"],
                   "--admit-all", "--lock-after", "2"], duration=8)
    check(poll_audit(k, m, "locked", 30),
          "the host's lock is in the audit log within 30 s")
    late = client(args, k, tmp, "late", ["--meeting", m["id"], "--pin", pin],
                  duration=1)
    r = finish([ren, late, host], timeout=40)
    check(r["ren"].get("admitted") is True, "an invite admits once")
    check(r["late"].get("error") == "locked",
          f"a join to a locked meeting is refused ({r['late'].get('error')})")
    check("lock_attempt" in notice_types(r["host2"]),
          "the host is told who tried the locked meeting")
    again = client(args, k, tmp, "ren2", ["--invite", token], duration=1)
    r2 = finish([again], timeout=20)
    check(r2["ren2"].get("error") == "wrong_credentials",
          f"a spent invite is refused ({r2['ren2'].get('error')})")


def ws_join(k, join):
    """Sends one join and returns kaigi's answer (joined, waiting or error)
    as a dict, or {} if the socket fails."""
    try:
        ws = MiniWs(k.http)
    except OSError:
        return {}
    ws.send(join)
    msg = ws.wait_for("joined", "waiting", "error")
    ws.close()
    return msg


def test_rename(check, k):
    """Renaming follows the allow_rename setting; the host may always."""
    st, m = k.call("POST", "/api/meetings", {
        "title": "Names", "start": rfc3339(int(time.time())),
        "duration": 600, "settings": {"waiting_room": False}})
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    host, guest = MiniWs(k.http), MiniWs(k.http)
    host.send({"type": "join", "meeting": m["id"], "host_key": m["host_key"],
               "name": "Host"})
    host.wait_for("joined")
    guest.send({"type": "join", "meeting": m["id"], "pin": info["pin"],
                "name": "Guest"})
    joined = guest.wait_for("joined")
    guest.send({"type": "rename", "name": "Aiko"})
    err = guest.wait_for("error")
    check(err.get("code") == "rename_off",
          f"renaming is refused while allow_rename is off ({err})")
    host.send({"type": "rename", "name": "Hana"})
    r = host.wait_for("renamed")
    check(r.get("name") == "Hana", f"the host may always rename ({r})")
    host.send({"type": "set", "allow_rename": True})
    guest.wait_for("settings")
    guest.send({"type": "rename", "name": "Aiko"})
    seen = host.wait_for("renamed")
    check(seen.get("name") == "Aiko"
          and seen.get("participant") == joined.get("participant"),
          f"with allow_rename on, a participant renames and others see it "
          f"({seen})")
    host.close()
    guest.close()


def test_joined_settings(check, k):
    st, m = k.call("POST", "/api/meetings", {
        "title": "Settings", "start": rfc3339(int(time.time())),
        "duration": 600, "settings": {"screen_share": "all", "chat": False}})
    check(st == 201, "create a meeting with screen share for all, no chat")
    j = ws_join(k, {"type": "join", "meeting": m["id"],
                    "host_key": m["host_key"], "name": "Host"})
    check(j.get("type") == "joined" and j.get("title") == "Settings"
          and j.get("settings") == {"locked": False, "screen_share": "all",
                                    "chat": False, "allow_rename": False},
          f"joined carries the meeting's settings ({j})")


def test_pin_outside_window(check, k):
    """Outside its window a meeting gives every PIN and host key the same
    answer, and a wrong one costs no try: the PIN cannot be confirmed
    before the meeting opens or after it ended."""
    now = int(time.time())
    st, m = k.call("POST", "/api/meetings", {
        "title": "Window", "start": rfc3339(now), "duration": 600,
        "settings": {"waiting_room": False, "join_before_host": True}})
    st2, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    pin = info["pin"]
    wrong = f"{(int(pin) + 1) % 10 ** len(pin):0{len(pin)}d}"
    st3, inv = k.call("POST", f"/api/meetings/{m['id']}/invites",
                      {"count": 1})
    token = inv["invites"][0]["token"]
    for label, start, code in [("30 days ahead", now + 30 * 86400,
                                "not_open"),
                               ("ended 2 days ago", now - 2 * 86400,
                                "ended")]:
        st, _ = k.call("PUT", f"/api/meetings/{m['id']}",
                       {"start": rfc3339(start)})
        fails = k.call("GET", "/api/stats", auth=None)[1]["signalling"][
            "credential_failures"]
        answers = [ws_join(k, {"type": "join", "meeting": m["id"],
                               cred: value, "name": "Early"})
                   for cred, value in [("pin", pin), ("pin", wrong),
                                       ("host_key", m["host_key"]),
                                       ("host_key", "x" * 26)]]
        after = k.call("GET", "/api/stats", auth=None)[1]["signalling"][
            "credential_failures"]
        codes = [a.get("code") for a in answers]
        check(st == 200 and codes == [code] * 4 and
              len({json.dumps(a, sort_keys=True) for a in answers}) == 1,
              f"{label}: right and wrong PIN and host key get the same "
              f"answer ({codes})")
        check(after == fails,
              f"{label}: the wrong ones cost no try ({after - fails})")
        early = ws_join(k, {"type": "join", "invite": token, "name": "Inv"})
        check(early.get("code") == code,
              f"{label}: an invite gets {code} ({early.get('code')})")
    k.call("PUT", f"/api/meetings/{m['id']}", {"start": rfc3339(now)})
    ok = ws_join(k, {"type": "join", "meeting": m["id"], "pin": pin,
                     "name": "OnTime"})
    check(ok.get("type") == "joined",
          f"back in its window the PIN gets in ({ok.get('type')})")
    used = ws_join(k, {"type": "join", "invite": token, "name": "Inv"})
    check(used.get("type") == "joined",
          f"the invite tried outside the window is still unspent "
          f"({used.get('type')} {used.get('code')})")


def test_brute_force(check, args, k, tmp, m):
    """A wrong-PIN storm from 127.0.0.2 is locked out; a correct join from
    127.0.0.3 still gets in."""
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    errors = []
    for i in range(7):
        c = client(args, k, tmp, f"guess{i}",
                   ["--bind", "127.0.0.2", "--meeting", m["id"], "--pin",
                    f"{i:08d}"], duration=1)
        errors.append(finish([c], timeout=15)[f"guess{i}"].get("error"))
    check(errors[:5] == ["wrong_credentials"] * 5,
          f"wrong PINs from 127.0.0.2 are refused ({errors[:5]})")
    check(errors[5:] == ["locked_out"] * 2,
          f"then 127.0.0.2 is locked out ({errors[5:]})")
    ok = client(args, k, tmp, "rightful",
                ["--bind", "127.0.0.3", "--meeting", m["id"], "--pin",
                 info["pin"]], duration=1)
    rep = finish([ok], timeout=20)["rightful"]
    check(rep.get("admitted") is True,
          f"a correct PIN from 127.0.0.3 still gets in ({rep.get('error')})")
    st, stats = k.call("GET", "/api/stats", auth=None)
    sig = stats["signalling"]
    check(sig["credential_failures"] >= 5 and sig["lockouts_source"] >= 1,
          "failures and lock-outs are counted")
    # The meeting's audit counts them, with no address; the operator's
    # log names the address locked out, never a PIN tried.
    st, body = k.call("GET", f"/api/meetings/{m['id']}/audit")
    events = [e["event"] for e in (body or {}).get("events", [])]
    text = json.dumps(body)
    check(events.count("credential_failed") == 5 and
          events.count("locked_out") == 1 and "127.0.0" not in text,
          f"the audit counts 5 failures and 1 lock-out, no address "
          f"({events.count('credential_failed')}, "
          f"{events.count('locked_out')})")
    with open(os.path.join(k.tmp, "kaigi.log")) as f:
        log = f.read()
    lines = [ln for ln in log.splitlines()
             if "lock-out" in ln and "127.0.0.2" in ln]
    guesses = [f"{i:08d}" for i in range(7)] + [info["pin"]]
    check(len(lines) == 1 and m["id"] in lines[0] and
          not any(g in log for g in guesses),
          f"kaigi's log names the address locked out, no PIN ({lines})")


def test_distributed_storm(check, args, k, tmp):
    """20 wrong PINs from five addresses put a meeting under attack: then
    each new address gets one wrong try before its own lock-out, and a
    right PIN from a fresh address still gets in."""
    st, m = k.call("POST", "/api/meetings", {
        "title": "Storm", "start": rfc3339(int(time.time())),
        "duration": 900, "settings": {"waiting_room": False,
                                      "join_before_host": True}})
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    procs = [client(args, k, tmp, f"storm{a}_{i}",
                    ["--bind", f"127.0.1.{a}", "--meeting", m["id"],
                     "--pin", f"9{a}{i:06d}"], duration=1)
             for a in range(1, 6) for i in range(4)]
    errs = [r.get("error") for r in finish(procs, timeout=60).values()]
    check(errs.count("wrong_credentials") == 20,
          f"20 wrong PINs from five addresses ({errs.count('wrong_credentials')})")
    first = finish([client(args, k, tmp, "lone1",
                           ["--bind", "127.0.1.9", "--meeting", m["id"],
                            "--pin", "00000001"], duration=1)])["lone1"]
    second = finish([client(args, k, tmp, "lone2",
                            ["--bind", "127.0.1.9", "--meeting", m["id"],
                             "--pin", info["pin"]], duration=1)])["lone2"]
    check(first.get("error") == "wrong_credentials"
          and second.get("error") == "locked_out",
          f"under attack a new address gets one wrong try "
          f"({first.get('error')}, then {second.get('error')})")
    ok = finish([client(args, k, tmp, "fresh",
                        ["--bind", "127.0.1.10", "--meeting", m["id"],
                         "--pin", info["pin"]], duration=1)])["fresh"]
    check(ok.get("admitted") is True,
          f"a right PIN from a fresh address still gets in ({ok.get('error')})")


def kaigictl(args, k, *argv):
    p = subprocess.run([args.kaigictl, "--server", f"http://{HOST}:{k.http}",
                        "--data", k.data, "--json"] + list(argv),
                       capture_output=True, text=True, timeout=20)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = None
    return p.returncode, out, p.stderr


def test_kaigictl(check, args, k):
    rc, m, err = kaigictl(args, k, "meeting", "create", "--title", "ctl",
                          "--start", "+1h", "--duration", "30m")
    check(rc == 0 and m and len(m.get("id", "")) == 11,
          f"kaigictl meeting create ({rc} {err.strip()})")
    if not m:
        return
    rc, lst, _ = kaigictl(args, k, "meeting", "list")
    check(rc == 0 and m["id"] in json.dumps(lst), "kaigictl meeting list")
    rc, _, err = kaigictl(args, k, "meeting", "join-info", m["id"])
    check(rc == 1 and "not_yet" in err,
          f"kaigictl meeting join-info before the window fails clearly "
          f"({err.strip()})")
    rc, inv, _ = kaigictl(args, k, "meeting", "invite", m["id"], "--count",
                          "2")
    check(rc == 0 and len((inv or {}).get("invites", [])) == 2,
          "kaigictl meeting invite --count 2")
    rc, _, _ = kaigictl(args, k, "meeting", "delete", m["id"])
    check(rc == 0, "kaigictl meeting delete")
    rc, _, err = kaigictl(args, k, "meeting", "show", m["id"])
    check(rc == 1 and "not_found" in err, "a deleted meeting is gone")


def test_audit(check, k, m):
    st, body = k.call("GET", f"/api/meetings/{m['id']}/audit")
    events = [e["event"] for e in body.get("events", [])]
    for ev in ["host_joined", "admitted", "removed", "locked"]:
        check(ev in events, f"audit log has '{ev}'")
    text = json.dumps(body)
    check("127.0.0.1" not in text, "audit log holds no address")


def test_restart(check, k, secrets):
    st, before = k.call("GET", "/api/meetings")
    ids = sorted(x["id"] for x in before["meetings"])
    k.stop(signal.SIGKILL)
    k.start()
    st, after = k.call("GET", "/api/meetings")
    check(sorted(x["id"] for x in after["meetings"]) == ids,
          f"after kill -9 all {len(ids)} meetings are there")
    blobs = b""
    for path in glob.glob(os.path.join(k.data, "kaigi.db*")):
        with open(path, "rb") as f:
            blobs += f.read()
    leaked = [s for s in secrets if s.encode() in blobs]
    check(blobs and not leaked,
          f"no PIN, host key or token in the database files ({len(leaked)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("client")
    ap.add_argument("kaigictl")
    args = ap.parse_args()
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-mtg-") as tmp:
        k = Kaigi(args.kaigi, tmp)
        k.start()
        try:
            test_early_close(check, k)
            test_keepalive(check, k)
            later, m, pin = test_window_and_meeting(check, k)
            test_waiting_room(check, args, k, tmp, m, pin)
            test_lock_and_invite(check, args, k, tmp, m, pin)
            test_joined_settings(check, k)
            test_pin_outside_window(check, k)
            st, m2 = k.call("POST", "/api/meetings", {
                "title": "Target", "start": rfc3339(int(time.time())),
                "duration": 900, "settings": {"waiting_room": False,
                                              "join_before_host": True}})
            test_brute_force(check, args, k, tmp, m2)
            test_audit(check, k, m)
            test_kaigictl(check, args, k)
            test_rename(check, k)
            test_distributed_storm(check, args, k, tmp)
            secrets = [pin, m["host_key"], later["host_key"], m2["host_key"],
                       k.invite_token]
            test_restart(check, k, secrets)
            check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        finally:
            if k.proc and k.proc.poll() is None:
                k.proc.kill()
        if check.failed:
            for path in sorted(glob.glob(os.path.join(tmp, "*.log"))):
                with open(path) as f:
                    sys.stdout.write(f"--- {os.path.basename(path)}\n"
                                     + f.read()[-3000:])
    print(f"{len(check.failed)} check(s) failed" if check.failed else
          "all checks passed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
