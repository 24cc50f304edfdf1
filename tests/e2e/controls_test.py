#!/usr/bin/env python3
"""End-to-end test of the waiting room's "no media transport" rule and of
the host controls, through the real kaigi over loopback, with bare
WebSocket clients (MiniWs) and hand-built STUN:

  - a participant held in the waiting room for a few seconds, while the
    host is in and an admitted participant publishes, is sent no SDP, no
    ICE credentials and no DTLS fingerprint; STUN Binding requests to
    kaigi's media ports with every credential it could know (its ID, the
    meeting ID, PIN, nickname, title; and a live transport's ufrags with
    those as the key) get no answer, while a check with an admitted
    participant's real credentials does;
  - the host leaves naming a new host: everyone is told, the new host
    may lock, the old one (back as a participant) may not;
  - the host's connection drops: for the 15 s grace nobody else is host,
    then the longest-present participant is, and everyone is told;
  - end: everyone gets `ended` and is disconnected; a new join gets
    `ended`;
  - chat is relayed with from/name/text, and refused for everyone when
    the host turns it off; a recording announcement reaches everyone;
    mute and ask_unmute reach their target only, from the host only.

Checks that something did NOT arrive use MiniWs.barrier() after the
action's own answer, so they wait for nothing but kaigi's replies.

Usage: controls_test.py KAIGI
Only 127.0.0.1 is ever used.
"""
import argparse
import glob
import hashlib
import hmac
import itertools
import json
import os
import re
import select
import socket
import struct
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import (HOST, Checks, Kaigi, MiniWs,  # noqa: E402
                        get_stats, rfc3339)

# KG_HOST_GRACE in signalling/policy.h; kaigi's policy timer ticks every
# 0.5 s, so the hand-over comes between 15 and about 15.5 s after the drop.
HOST_GRACE_S = 15

# --- STUN (RFC 5389 / 8489), short-term credentials --------------------

STUN_MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS, BINDING_ERROR = 0x0001, 0x0101, 0x0111
ATTR_USERNAME, ATTR_MESSAGE_INTEGRITY = 0x0006, 0x0008
ATTR_PRIORITY, ATTR_USE_CANDIDATE = 0x0024, 0x0025
ATTR_FINGERPRINT, ATTR_ICE_CONTROLLING = 0x8028, 0x802A


def stun_attr(atype, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("!HH", atype, len(value)) + value + b"\0" * pad


def stun_binding(txid, username, key):
    """A Binding request as a controlling ICE agent sends it (PRIORITY,
    ICE-CONTROLLING, USE-CANDIDATE), with USERNAME, MESSAGE-INTEGRITY
    (HMAC-SHA1 keyed with key; none if key is None) and FINGERPRINT."""
    body = b""
    if username is not None:
        body += stun_attr(ATTR_USERNAME, username.encode())
    body += stun_attr(ATTR_PRIORITY, struct.pack("!I", 0x6E7FFFFF))
    body += stun_attr(ATTR_ICE_CONTROLLING, os.urandom(8))
    body += stun_attr(ATTR_USE_CANDIDATE, b"")

    def header(length):
        return struct.pack("!HHI", BINDING_REQUEST, length, STUN_MAGIC) + txid

    if key is not None:
        # the length counts up to and including MESSAGE-INTEGRITY
        mac = hmac.new(key.encode(), header(len(body) + 24) + body,
                       hashlib.sha1).digest()
        body += stun_attr(ATTR_MESSAGE_INTEGRITY, mac)
    crc = zlib.crc32(header(len(body) + 8) + body) ^ 0x5354554E
    body += stun_attr(ATTR_FINGERPRINT, struct.pack("!I", crc))
    return header(len(body)) + body


def stun_parse(pkt):
    """(type, txid, {attr: (offset, value)}) or None if not STUN."""
    if len(pkt) < 20:
        return None
    mtype, length, magic = struct.unpack("!HHI", pkt[:8])
    if magic != STUN_MAGIC or length + 20 != len(pkt):
        return None
    attrs, off = {}, 20
    while off + 4 <= len(pkt):
        atype, alen = struct.unpack("!HH", pkt[off:off + 4])
        attrs.setdefault(atype, (off, pkt[off + 4:off + 4 + alen]))
        off += 4 + alen + (4 - alen % 4) % 4
    return mtype, pkt[8:20], attrs


def stun_integrity_ok(pkt, attrs, key):
    """MESSAGE-INTEGRITY of a received message checks out with key."""
    if ATTR_MESSAGE_INTEGRITY not in attrs:
        return False
    off, mac = attrs[ATTR_MESSAGE_INTEGRITY]
    head = pkt[:2] + struct.pack("!H", off + 24 - 20) + pkt[4:20]
    want = hmac.new(key.encode(), head + pkt[20:off], hashlib.sha1).digest()
    return hmac.compare_digest(mac, want)


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.setblocking(False)
    return s


def read_datagrams(s, seconds):
    """Every datagram that arrives on s within seconds."""
    got = []
    end = time.monotonic() + seconds
    while len(got) < 10000:
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if r:
            got.append(s.recv(2048))
    return got


def stun_counters(http):
    """STUN datagrams kaigi's workers received and refused, all told."""
    return sum(w.get("stun_bad", 0) + w.get("unknown_source", 0)
               for w in get_stats(http).get("workers", []))


# --- meetings and participants -----------------------------------------

def new_meeting(check, k, title, **settings):
    st, m = k.call("POST", "/api/meetings", {
        "title": title, "start": rfc3339(int(time.time()) - 60),
        "duration": 900, "settings": settings})
    if st != 201:
        raise SystemExit(f"cannot create meeting {title}: {st} {m}")
    st, info = k.call("GET", f"/api/meetings/{m['id']}/join-info")
    m["pin"] = info["pin"]
    return m


def join(k, m, name, host_key=False):
    """A MiniWs that sent its join; .first is kaigi's answer (joined,
    waiting or error; {} if none), .pid its participant ID once known."""
    ws = MiniWs(k.http)
    cred = {"host_key": m["host_key"]} if host_key else {"pin": m["pin"]}
    ws.send(dict({"type": "join", "meeting": m["id"], "name": name}, **cred))
    ws.first = ws.wait_for("joined", "waiting", "error")
    ws.pid = ws.first.get("participant")
    ws.name = name
    return ws


def waiting_id(host, name, timeout=10):
    """The ID of name on the host's waiting list (None by the deadline)."""
    end = time.monotonic() + timeout
    while True:
        msg = host.wait_for("waiting_list",
                            timeout=max(0.0, end - time.monotonic()))
        if not msg:
            return None
        for w in msg.get("waiting", []):
            if w.get("name") == name:
                return w.get("id")


def admitted(check, k, m, host, name):
    """name joins with the PIN, waits, and the host admits it."""
    ws = join(k, m, name)
    if ws.first.get("type") == "waiting":
        wid = waiting_id(host, name)
        host.send({"type": "admit", "participant": wid})
        ws.first = ws.wait_for("joined", "error")
        ws.pid = ws.first.get("participant")
    check(ws.first.get("type") == "joined" and ws.pid,
          f"{name} is in the meeting ({brief(ws.first)})")
    return ws


def in_meeting(check, k, name, **settings):
    """A meeting with a host (MiniWs with the host key) and two
    participants Aiko and Ben, admitted in that order."""
    m = new_meeting(check, k, name, **settings)
    host = join(k, m, "Host", host_key=True)
    check(host.first.get("type") == "joined" and host.first.get("host"),
          f"{name}: the host key joins as host ({brief(host.first)})")
    aiko = admitted(check, k, m, host, "Aiko")
    ben = admitted(check, k, m, host, "Ben")
    for ws in (host, aiko, ben):
        ws.barrier()  # what joining brought (subscribe offers, notices)
    return m, host, aiko, ben


def brief(msg):
    """A joined message without its long parts, for a check's text."""
    return {f: msg.get(f) for f in ("type", "code", "participant", "host",
                                    "host_id") if f in msg}


def of_type(msgs, mtype, **fields):
    """The messages in msgs (None: the socket failed) of mtype whose
    fields have these values."""
    return [x for x in msgs or [] if x.get("type") == mtype and
            all(x.get(f) == v for f, v in fields.items())]


def act(ws, msg):
    """ws sends msg; returns what ws was sent up to kaigi's handling of
    it (errors included). After this, a barrier on any other socket
    holds everything msg caused there."""
    ws.send(msg)
    return ws.barrier()


def close_all(*sockets):
    for ws in sockets:
        ws.close()


# --- A. the waiting room has no media transport ------------------------

FORBIDDEN = ["v=0", "a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "candidate",
             "ice-ufrag", "ice-pwd", "fingerprint", '"sdp"']


def sdp_field(sdp, name):
    found = re.search(r"^a=" + name + r":(\S+)", sdp or "", re.M)
    return found.group(1) if found else None


def publish_offer(ufrag, pwd):
    """A minimal publish offer kaigi accepts: one sendonly Opus section."""
    fpr = ":".join(f"{b:02X}" for b in hashlib.sha256(ufrag.encode())
                   .digest())
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
            "a=group:BUNDLE 0\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"
            f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n"
            f"a=fingerprint:sha-256 {fpr}\r\na=setup:actpass\r\n"
            "a=mid:0\r\na=sendonly\r\na=msid:e2e e2e-mic\r\na=rtcp-mux\r\n"
            "a=rtpmap:111 opus/48000/2\r\na=ssrc:11111111 cname:e2e\r\n")


def subscribe_answer(offer, ufrag, pwd):
    """A minimal answer to kaigi's first subscribe offer (its one
    inactive audio section), so that kaigi may send the next offer."""
    fpr = ":".join(f"{b:02X}" for b in hashlib.sha256(ufrag.encode())
                   .digest())
    mid = sdp_field(offer, "mid") or "0"
    return ("v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
            f"a=group:BUNDLE {mid}\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 127.0.0.1\r\n"
            f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n"
            f"a=fingerprint:sha-256 {fpr}\r\na=setup:active\r\n"
            f"a=mid:{mid}\r\na=inactive\r\na=rtcp-mux\r\n"
            "a=rtpmap:111 opus/48000/2\r\n")


def stun_answered(port, username, key, timeout=10):
    """Sends a Binding request every 0.2 s until a success response
    whose MESSAGE-INTEGRITY checks with key arrives (True) or timeout."""
    s = udp_socket()
    txid = os.urandom(12)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            s.sendto(stun_binding(txid, username, key), (HOST, port))
            for pkt in read_datagrams(s, 0.2):
                p = stun_parse(pkt)
                if p and p[0] == BINDING_SUCCESS and p[1] == txid and \
                        stun_integrity_ok(pkt, p[2], key):
                    return True
        return False
    finally:
        s.close()


def probe_unanswered(check, k, ports, usernames, keys, what):
    """Sends one Binding request for each USERNAME x key (None: no
    MESSAGE-INTEGRITY) to every port from a fresh socket; checks that
    kaigi counted them all as refused and answered none."""
    s = udp_socket()
    sent = {}
    before = stun_counters(k.http)
    for i, (user, key) in enumerate(itertools.product(usernames, keys)):
        txid = os.urandom(12)
        sent[txid] = f"USERNAME {user!r} key {key!r}"
        for port in ports:
            s.sendto(stun_binding(txid, user, key), (HOST, port))
        if i % 16 == 15:
            time.sleep(0.002)  # no burst past a socket buffer
    answers = read_datagrams(s, 1.0)
    # Once kaigi has counted every probe it has handled them all, so an
    # answer, if any, is on its way (loopback): a last short read.
    n = len(sent) * len(ports)
    end = time.monotonic() + 10
    counted = stun_counters(k.http) - before
    while counted < n and time.monotonic() < end:
        time.sleep(0.1)
        counted = stun_counters(k.http) - before
    answers += read_datagrams(s, 0.3)
    s.close()
    check(counted >= n,
          f"kaigi received and refused the {n} STUN probes ({what}; "
          f"stun_bad + unknown_source went up by {counted})")
    which = [sent.get(stun_parse(a)[1] if stun_parse(a) else b"", "?")
             for a in answers]
    check(not answers,
          f"no answer to {n} STUN probes ({what}) within 1.3 s and "
          f"after kaigi counted them ({len(answers)} answers: {which[:3]})")


def test_waiting_no_transport(check, k):
    m = new_meeting(check, k, "Lobby", waiting_room=True)
    host = join(k, m, "Host", host_key=True)
    # The host answers its first subscribe offer, so that kaigi sends it
    # the next one (with Aiko's track) while Carol waits.
    offer = host.wait_for("subscribe")
    got = act(host, {"type": "subscribe_answer",
                     "version": offer.get("version"),
                     "sdp": subscribe_answer(offer.get("sdp"), "e2eHost",
                                             "e2eHostPassword01234567")})
    check(bool(offer) and got is not None and not of_type(got, "error"),
          f"the host answers kaigi's first subscribe offer ({got})")
    aiko = admitted(check, k, m, host, "Aiko")
    carol = join(k, m, "Carol")
    t_wait = time.monotonic()
    check(carol.first.get("type") == "waiting"
          and carol.first.get("reason") == "waiting_room",
          f"Carol waits in the waiting room ({carol.first})")
    carol_id = waiting_id(host, "Carol")
    check(bool(carol_id), "the host sees Carol on the waiting list")

    # While Carol waits: Aiko publishes (the host gets a new subscribe
    # offer), the host chats and changes a setting (admitted only).
    pub = publish_offer("e2eAiko", "e2eAikoPassword0123456")
    answer = act(aiko, {"type": "publish", "sdp": pub})
    pa = (of_type(answer, "publish_answer") or [{}])[0].get("sdp", "")
    ufrag, pwd = sdp_field(pa, "ice-ufrag"), sdp_field(pa, "ice-pwd")
    fpr = re.search(r"^a=fingerprint:sha-256 (\S+)", pa, re.M)
    cand = re.search(r"^a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host",
                     pa, re.M)
    check(bool(ufrag and pwd and fpr and cand),
          f"Aiko gets a publish answer with ICE credentials, a fingerprint "
          f"and a candidate ({pa[:60]!r}...)")
    if not (ufrag and pwd and fpr and cand):
        return
    got = host.barrier()
    offers = [x["sdp"] for x in of_type(got, "subscribe")]
    check(any(f"a=msid:{aiko.pid} " in o for o in offers),
          "the host, admitted, gets a subscribe offer with Aiko's track")
    act(host, {"type": "chat", "text": "Carol must not see this"})
    act(host, {"type": "set", "allow_rename": True})

    # A. positive control: kaigi answers a check with Aiko's credentials
    # (USERNAME "kaigi's ufrag:client's ufrag", keyed with kaigi's pwd).
    ports = [w["udp_port"] for w in get_stats(k.http)["workers"]]
    port = int(cand.group(1))
    check(port in ports, f"the candidate's port {port} is a worker's "
          f"({ports})")
    check(stun_answered(port, f"{ufrag}:e2eAiko", pwd),
          "a STUN check with an admitted participant's credentials is "
          "answered, with MESSAGE-INTEGRITY keyed with kaigi's ice-pwd")

    # Everything Carol could know, in every combination.
    known = [carol_id, m["id"], m["pin"], "Carol", m["title"]]
    users = [f"{a}:{b}" for a in known for b in known] + known
    keys = known + [None]
    probe_unanswered(check, k, ports, users, keys,
                     "Carol's ID, meeting ID, PIN, nickname, title")
    # Ufrags are not secret (they are in every SDP): even with a live
    # transport's, nothing Carol knows passes MESSAGE-INTEGRITY.
    probe_unanswered(check, k, ports,
                     [f"{ufrag}:e2eAiko", f"{ufrag}:{carol_id}",
                      f"{ufrag}:Carol"], keys,
                     "a live transport's ufrags with Carol's keys")

    # Carol has waited at least 3 s; what kaigi sent her, scanned raw.
    carol.collect(max(0.0, 3.0 - (time.monotonic() - t_wait)))
    check(carol.barrier() is not None, "Carol's socket is still open")
    texts = carol.texts
    check(any('"waiting"' in t for t in texts),
          f"the scan saw Carol's waiting message ({len(texts)} messages)")
    secrets = FORBIDDEN + [ufrag, pwd, fpr.group(1)]
    leaked = [(s, t[:80]) for t in texts for s in secrets if s in t]
    check(not leaked, f"Carol, waiting {time.monotonic() - t_wait:.1f} s, "
          f"got no SDP, ICE credentials or fingerprint ({leaked[:3]})")
    types = sorted({json.loads(t).get("type") for t in texts})
    check(set(types) <= {"waiting", "error"},
          f"Carol got only waiting and the barrier's error ({types})")

    # The scan's own control: once admitted, Carol does get SDP.
    host.send({"type": "admit", "participant": carol_id})
    sub = carol.wait_for("subscribe")
    check("a=ice-ufrag:" in sub.get("sdp", "")
          and any("a=ice-pwd:" in t for t in carol.texts),
          "admitted, Carol gets a subscribe offer with ICE credentials "
          "(the scan would see them)")
    close_all(host, aiko, carol)


# --- B. host controls ----------------------------------------------------

def test_leave_handover(check, k):
    m, host, aiko, ben = in_meeting(check, k, "Handover",
                                    waiting_room=False)
    got = act(host, {"type": "leave"})
    check(bool(of_type(got, "error", code="new_host_required")),
          "the host cannot leave others behind without naming a new host")
    host.send({"type": "leave", "new_host": aiko.pid})
    check(host.closes_within(5), "the host's socket closes after leave")
    for ws in (aiko, ben):
        got = ws.barrier()
        check(of_type(got, "host", participant=aiko.pid) != [],
              f"{ws.name} is told Aiko is host ({of_type(got, 'host')})")
    got = act(aiko, {"type": "lock"})
    check(not of_type(got, "error") and of_type(got, "settings", locked=True),
          f"the new host may lock ({[x.get('type') for x in got or []]})")
    check(of_type(ben.barrier(), "settings", locked=True) != [],
          "Ben sees the meeting locked")
    act(aiko, {"type": "unlock"})
    check(of_type(ben.barrier(), "settings", locked=False) != [],
          "Ben sees the meeting unlocked")
    old = join(k, m, "Host")
    check(old.first.get("type") == "joined"
          and old.first.get("host") is False
          and old.first.get("host_id") == aiko.pid,
          f"the old host rejoins with the PIN, not as host "
          f"({brief(old.first)})")
    old.barrier()
    got = act(old, {"type": "lock"})
    check(of_type(got, "error", code="not_host") != [],
          "the old host may no longer lock (not_host)")
    check(not of_type(ben.barrier(), "settings"),
          "the old host's lock changed nothing for Ben")
    close_all(aiko, ben, old)


def test_host_grace(check, k):
    m, host, aiko, ben = in_meeting(check, k, "Grace", waiting_room=False)
    host.sock.close()  # the connection drops: no leave, no close frame
    t0 = time.monotonic()
    early = []
    for ws in (aiko, ben):
        got = act(ws, {"type": "lock"})
        early += of_type(got, "host")
        check(of_type(got, "error", code="not_host") != [],
              f"in the grace {ws.name} is not host (not_host)")
    # Nobody is made host for most of the grace.
    quiet_until = t0 + HOST_GRACE_S - 2
    early += [aiko.wait_for("host", timeout=quiet_until - time.monotonic())]
    got = act(aiko, {"type": "lock"})
    early += of_type(got, "host")
    check(of_type(got, "error", code="not_host") != [],
          f"{time.monotonic() - t0:.1f} s into the grace Aiko is still not "
          "host (not_host)")
    check(not any(early), f"no host message in the first "
          f"{HOST_GRACE_S - 2} s of the grace ({[x for x in early if x]})")
    msg = aiko.wait_for("host", timeout=t0 + HOST_GRACE_S + 10
                        - time.monotonic())
    took = time.monotonic() - t0
    check(msg.get("participant") == aiko.pid
          and HOST_GRACE_S - 1 <= took <= HOST_GRACE_S + 10,
          f"after the grace the longest-present participant, Aiko, is host "
          f"({took:.1f} s after the drop: {msg})")
    check(of_type(ben.barrier(), "host", participant=aiko.pid) != [],
          "Ben is told Aiko is host")
    got = act(aiko, {"type": "lock"})
    check(not of_type(got, "error") and of_type(got, "settings", locked=True),
          "Aiko, now host, may lock")
    check(of_type(act(ben, {"type": "unlock"}), "error", code="not_host")
          != [], "Ben still may not (not_host)")
    close_all(aiko, ben)


def test_end(check, k):
    m = new_meeting(check, k, "End", waiting_room=True)
    host = join(k, m, "Host", host_key=True)
    aiko = admitted(check, k, m, host, "Aiko")
    ben = admitted(check, k, m, host, "Ben")
    dora = join(k, m, "Dora")
    check(dora.first.get("type") == "waiting", "Dora waits")
    got = act(aiko, {"type": "end"})
    check(of_type(got, "error", code="not_host") != [],
          "a participant may not end the meeting (not_host)")
    host.send({"type": "end"})
    for ws in (host, aiko, ben, dora):
        msg = ws.wait_for("ended", timeout=5)
        check(msg.get("type") == "ended" and ws.closes_within(5),
              f"{ws.name} gets ended and is disconnected")
    for key in (False, True):
        late = join(k, m, "Late", host_key=key)
        check(late.first.get("type") == "error"
              and late.first.get("code") == "ended",
              f"a join with the {'host key' if key else 'PIN'} after the "
              f"end gets ended ({late.first})")
        late.close()
    close_all(host, aiko, ben, dora)


def test_chat(check, k):
    m, host, aiko, ben = in_meeting(check, k, "Chat", waiting_room=False)
    act(aiko, {"type": "chat", "text": "hello from Aiko"})
    for ws in (host, ben):
        got = of_type(ws.barrier(), "chat")
        check(got == [{"type": "chat", "from": aiko.pid, "name": "Aiko",
                       "text": "hello from Aiko"}],
              f"{ws.name} gets Aiko's chat with from, name and text ({got})")
    got = act(ben, {"type": "set", "chat": False})
    check(of_type(got, "error", code="not_host") != [],
          "a participant may not turn chat off (not_host)")
    got = act(host, {"type": "set", "chat": False})
    check(of_type(got, "settings", chat=False) != [],
          "the host turns chat off")
    for ws in (aiko, ben):
        check(of_type(ws.barrier(), "settings", chat=False) != [],
              f"{ws.name} is told chat is off")
    got = act(aiko, {"type": "chat", "text": "nobody hears this"})
    check(of_type(got, "error", code="chat_off") != []
          and not of_type(got, "chat"),
          f"with chat off, Aiko's chat is refused (chat_off) "
          f"({[x.get('code') or x.get('type') for x in got or []]})")
    for ws in (host, ben):
        check(not of_type(ws.barrier(), "chat"),
              f"with chat off, {ws.name} gets no chat")
    close_all(host, aiko, ben)


def test_recording(check, k):
    m, host, aiko, ben = in_meeting(check, k, "Recording",
                                    waiting_room=False)
    for on in (True, False):
        got = act(aiko, {"type": "recording", "on": on})
        check(of_type(got, "recording", participant=aiko.pid, on=on) != [],
              f"Aiko's own recording={on} comes back to her")
        for ws in (host, ben):
            got = of_type(ws.barrier(), "recording")
            check(len(got) == 1 and got[0].get("participant") == aiko.pid
                  and got[0].get("on") is on,
                  f"{ws.name} is told Aiko records: {on} ({got})")
    close_all(host, aiko, ben)


def test_mute(check, k):
    m, host, aiko, ben = in_meeting(check, k, "Mute", waiting_room=False)
    for ws, what in [(ben, "mute"), (ben, "ask_unmute")]:
        got = act(ws, {"type": what, "participant": aiko.pid})
        check(of_type(got, "error", code="not_host") != [],
              f"a participant's {what} is refused (not_host)")
    got = aiko.barrier()
    check(got is not None and not of_type(got, "muted")
          and not of_type(got, "unmute_request"),
          "Ben's mute and ask_unmute did not reach Aiko")
    got = act(host, {"type": "mute", "participant": aiko.pid})
    check(not of_type(got, "error"), "the host mutes Aiko")
    check(of_type(aiko.barrier(), "muted") != [], "Aiko gets muted")
    check(not of_type(ben.barrier(), "muted"), "Ben does not")
    got = act(aiko, {"type": "unmute"})
    check(of_type(got, "error", code="muted_by_host") != [],
          "muted by the host, Aiko may not unmute herself (muted_by_host)")
    act(host, {"type": "ask_unmute", "participant": aiko.pid})
    check(of_type(aiko.barrier(), "unmute_request") != [],
          "Aiko gets the host's unmute_request")
    check(not of_type(ben.barrier(), "unmute_request"), "Ben does not")
    got = act(aiko, {"type": "unmute"})
    check(got is not None and not of_type(got, "error"),
          f"asked, Aiko may unmute ({got})")
    close_all(host, aiko, ben)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    args = ap.parse_args()
    check = Checks()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kaigi-ctl-") as tmp:
        k = Kaigi(args.kaigi, tmp)
        k.start()
        try:
            for test in (test_waiting_no_transport, test_leave_handover,
                         test_end, test_chat, test_recording, test_mute,
                         test_host_grace):
                t = time.monotonic()
                test(check, k)
                print(f"---- {test.__name__}: {time.monotonic() - t:.1f} s")
            check(k.proc.poll() is None, "kaigi is still running")
            check(k.stop() == 0, "kaigi exits cleanly on SIGTERM")
        finally:
            if k.proc and k.proc.poll() is None:
                k.proc.kill()
                k.proc.wait()
        if check.failed:
            for path in sorted(glob.glob(os.path.join(tmp, "*.log"))):
                with open(path) as f:
                    sys.stdout.write(f"--- {os.path.basename(path)}\n"
                                     + f.read()[-3000:])
    print(f"{time.monotonic() - started:.1f} s in all")
    print(f"{len(check.failed)} check(s) failed" if check.failed else
          "all checks passed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
