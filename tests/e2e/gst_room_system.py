#!/usr/bin/python3
"""A "room system": GStreamer's webrtcbin as a kaigi participant.

Run with Debian's /usr/bin/python3 (python3-gi and the GStreamer
introspection data live there, not in a pyenv python). It joins a
meeting over kaigi's WebSocket protocol (e2e_common.MiniWs), publishes a
test pattern (videotestsrc 320x240 -> vp8enc) and a tone (audiotestsrc
-> opusenc) from a webrtcbin with bundle-policy=max-bundle (its offer,
kaigi's publish_answer), and answers kaigi's subscribe offers with a
second webrtcbin, decoding what arrives: video frames and audio buffers
per publisher, and the share of each publisher's audio power at
--expect-hz. It writes a JSON report and exits 0; exit 77 with a reason
(--probe, or at start) when GStreamer's pieces are missing.

ICE is held to 127.0.0.1: no STUN or TURN server, libnice told that
127.0.0.1 is its only local address, no ICE-TCP, no UPnP.

usage: gst_room_system.py --http-port P --meeting ID --pin PIN
       [--name N] [--tone HZ] [--expect-hz HZ] [--duration S]
       [--deadline S] --report FILE
       gst_room_system.py --probe
"""
import argparse
import array
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import HOST, MiniWs  # noqa: E402

ELEMENTS = ("webrtcbin", "nicesrc", "dtlssrtpenc", "videotestsrc", "vp8enc",
            "rtpvp8pay", "audiotestsrc", "opusenc", "rtpopuspay",
            "rtpvp8depay", "vp8dec", "rtpopusdepay", "opusdec",
            "audioconvert", "audioresample", "fakesink", "queue")
TONE_BLOCK = 4800  # 100 ms at 48 kHz: a whole number of cycles of 440/660


def load_gst():
    """(Gst, GstSdp, GstWebRTC, GLib, Nice), or a reason string."""
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstSdp", "1.0")
        gi.require_version("GstWebRTC", "1.0")
        gi.require_version("Nice", "0.1")
        from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice
    except (ImportError, ValueError) as e:
        return (f"{e} (apt-get install python3-gi gir1.2-gstreamer-1.0 "
                "gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1)")
    Gst.init(None)
    missing = [e for e in ELEMENTS if not Gst.ElementFactory.find(e)]
    if missing:
        return (f"GStreamer elements missing: {' '.join(missing)} (apt-get "
                "install gstreamer1.0-nice gstreamer1.0-plugins-base "
                "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)")
    return Gst, GstSdp, GstWebRTC, GLib, Nice


class LockedWs(MiniWs):
    """MiniWs whose frames may be written from two threads (the reader
    answers pings while the main loop sends)."""

    def __init__(self, *a, **kw):
        self.lock = threading.Lock()
        super().__init__(*a, **kw)

    def _frame(self, opcode, data):
        with self.lock:
            super()._frame(opcode, data)


def tone_share(samples, hz, rate=48000):
    """The share of the block's power at hz (Goertzel): 1.0 for a pure
    tone of a whole number of cycles, about 0 for anything else."""
    n = len(samples)
    power = sum(x * x for x in samples)
    if n == 0 or power == 0:
        return 0.0
    w = 2 * math.pi * hz / rate
    c = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + c * s1 - s2, s1
    mag = s1 * s1 + s2 * s2 - c * s1 * s2
    return min(1.0, mag / (n * power / 2))


class RoomSystem:
    def __init__(self, args, gst):
        self.Gst, self.GstSdp, self.GstWebRTC, self.GLib, self.Nice = gst
        self.args = args
        self.loop = self.GLib.MainLoop()
        self.t0 = time.monotonic()
        self.rep = {"joined": False, "participant": None, "errors": [],
                    "closed_at_s": None, "error_at_s": None,
                    "publish_offer": None, "publish_answer": None,
                    "publish_answered": False, "subscribe_offers": 0,
                    "subscribe_answers": 0, "states": {}, "sent": {},
                    "remotes": {}, "log": [], "candidates": []}
        self.sent = {"video_frames": 0, "video_packets": 0,
                     "audio_packets": 0}
        self.recv = {}  # participant id -> counters (streaming threads)
        self.mid_owner = {}  # subscribe mid -> publishing participant id
        self.tone_buf = {}
        self.lock = threading.Lock()
        self.agents = []  # keep libnice objects referenced (see notes)
        self.pipe = None
        self.media_start = None
        self.ws = LockedWs(args.http_port, timeout=10)

    # --- bookkeeping -------------------------------------------------
    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def log(self, what):
        self.rep["log"].append(f"{self.now():7.3f} {what}")

    def idle(self, fn, *a):
        def once():
            fn(*a)
            return False
        self.GLib.idle_add(once)

    # --- signalling ----------------------------------------------------
    def reader(self):
        """Blocking reads on a thread of their own; each message goes to
        the main loop. Ends when the socket closes (or at the deadline)."""
        end = self.t0 + self.args.deadline
        while True:
            try:
                msg = self.ws.recv(max(0.1, end - time.monotonic()))
            except TimeoutError:
                return
            except (OSError, ValueError) as e:
                self.idle(self.on_closed, str(e))
                return
            self.idle(self.on_message, msg)

    def on_closed(self, why):
        if self.rep["closed_at_s"] is None:
            self.rep["closed_at_s"] = self.now()
            self.log(f"signalling closed: {why}")
        # Without signalling there is nothing left to wait for (kaigi
        # closes both transports with the socket).
        self.GLib.timeout_add(300, self.quit)

    def on_message(self, msg):
        t = msg.get("type")
        if t == "joined":
            self.rep["joined"] = True
            self.rep["participant"] = msg.get("participant")
            self.log(f"joined as {msg.get('participant')}")
            self.start_media()
        elif t == "publish_answer":
            self.rep["publish_answer"] = msg.get("sdp")
            self.set_remote(self.pub, "answer", msg.get("sdp"), None)
        elif t == "subscribe":
            self.rep["subscribe_offers"] += 1
            self.note_mids(msg.get("sdp", ""))
            self.set_remote(self.sub, "offer", msg.get("sdp"),
                            msg.get("version"))
        elif t == "error":
            self.rep["errors"].append(msg)
            if self.rep["error_at_s"] is None:
                self.rep["error_at_s"] = self.now()
            self.log(f"error {msg.get('code')}: {msg.get('message')}")
        elif t in ("waiting", "denied", "removed", "ended"):
            self.log(f"{t}")

    def note_mids(self, sdp):
        """Which publisher each subscribe section carries: its
        a=msid stream ID is the participant's ID (PROTOCOL.md)."""
        mid = None
        for line in sdp.splitlines():
            if line.startswith("m="):
                mid = None
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=msid:") and mid is not None:
                self.mid_owner[mid] = line[7:].split()[0]

    # --- webrtcbin -----------------------------------------------------
    def webrtcbin(self, name):
        w = self.Gst.ElementFactory.make("webrtcbin", name)
        w.set_property("bundle-policy",
                       self.GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        ice = w.get_property("ice-agent")
        ice.set_property("ice-tcp", False)
        agent = ice.get_property("agent")
        agent.set_property("upnp", False)
        addr = self.Nice.Address.new()
        addr.set_from_string(HOST)
        if not agent.add_local_address(addr):
            raise SystemExit("libnice refused 127.0.0.1 as local address")
        self.agents += [ice, agent]
        for prop in ("connection-state", "ice-connection-state"):
            w.connect(f"notify::{prop}", self.on_state, prop)
        w.connect("on-ice-candidate", self.on_candidate)
        return w

    def on_candidate(self, w, mline, cand):
        """kaigi is ICE-lite and needs none of them: kept so that the
        test can see that only 127.0.0.1 was gathered."""
        with self.lock:
            self.rep["candidates"].append(f"{w.get_name()} {cand}")

    def on_state(self, w, pspec, prop):
        value = w.get_property(prop).value_nick
        key = f"{w.get_name()}.{prop}"
        with self.lock:
            seen = self.rep["states"].setdefault(key, [])
            if not seen or seen[-1] != value:
                seen.append(value)
        if w is self.pub and prop == "connection-state" and \
                value == "connected":
            self.idle(self.media_flowing)

    def media_flowing(self):
        """--duration counts from here: webrtcbin makes its DTLS
        certificate (RSA) before its first offer, which takes seconds on
        a loaded machine."""
        if self.media_start is None:
            self.media_start = time.monotonic()
            self.log("publish connected")
            self.GLib.timeout_add(int(self.args.duration * 1000), self.quit)

    def build(self):
        Gst = self.Gst
        self.pipe = Gst.Pipeline.new("room-system")
        self.pub = self.webrtcbin("pub")
        self.sub = self.webrtcbin("sub")
        self.pipe.add(self.pub)
        self.pipe.add(self.sub)
        # Video first, so that audio is the bundle-only section.
        video = Gst.parse_bin_from_description(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,"
            "height=240,framerate=15/1 ! vp8enc deadline=1 "
            "keyframe-max-dist=30 target-bitrate=300000 name=venc ! "
            "rtpvp8pay name=vpay ! capsfilter caps=application/x-rtp,"
            "media=video,encoding-name=VP8,payload=96,clock-rate=90000",
            True)
        audio = Gst.parse_bin_from_description(
            f"audiotestsrc is-live=true wave=sine freq={self.args.tone} "
            "volume=0.3 ! audioconvert ! audioresample ! "
            "audio/x-raw,rate=48000,channels=2 ! opusenc ! "
            "rtpopuspay name=apay ! capsfilter caps=application/x-rtp,"
            "media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,"
            "encoding-params=(string)2", True)
        for b in (video, audio):
            self.pipe.add(b)
            b.link(self.pub)
        self.probe(video.get_by_name("venc"), "video_frames")
        self.probe(video.get_by_name("vpay"), "video_packets")
        self.probe(audio.get_by_name("apay"), "audio_packets")
        for tr in self.transceivers(self.pub):
            tr.set_property(
                "direction",
                self.GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.pub.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.sub.connect("pad-added", self.on_sub_pad)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_bus_error)

    def transceivers(self, w):
        out = []
        for i in range(16):
            tr = w.emit("get-transceiver", i)
            if tr is None:
                break
            out.append(tr)
        return out

    def probe(self, element, key):
        T = self.Gst.PadProbeType

        def count(pad, info):
            # Payloaders push buffer lists: one packet per buffer.
            lst = info.get_buffer_list() if info.type & T.BUFFER_LIST \
                else None
            with self.lock:
                self.sent[key] += lst.length() if lst else 1
            return self.Gst.PadProbeReturn.OK
        element.get_static_pad("src").add_probe(T.BUFFER | T.BUFFER_LIST,
                                                count)

    def on_bus_error(self, bus, msg):
        err, dbg = msg.parse_error()
        self.log(f"pipeline error from {msg.src.get_name()}: {err} ({dbg})")

    def start_media(self):
        self.build()
        self.pipe.set_state(self.Gst.State.PLAYING)

    def on_negotiation_needed(self, w):
        self.idle(self.log, "publish: negotiation needed")
        promise = self.Gst.Promise.new_with_change_func(self.on_offer, None)
        w.emit("create-offer", None, promise)

    def on_offer(self, promise, _):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply else None
        if offer is None:
            self.idle(self.log, f"publish: no offer "
                                f"({reply and reply.to_string()})")
            return
        self.pub.emit("set-local-description", offer, self.Gst.Promise.new())
        text = offer.sdp.as_text()
        self.rep["publish_offer"] = text
        self.idle(self.ws.send, {"type": "publish", "sdp": text})
        self.idle(self.log, "publish offer sent")

    def set_remote(self, w, kind, text, version):
        ok, sdp = self.GstSdp.SDPMessage.new_from_text(text or "")
        T = self.GstWebRTC.WebRTCSDPType
        desc = self.GstWebRTC.WebRTCSessionDescription.new(
            T.OFFER if kind == "offer" else T.ANSWER, sdp)

        def done(promise, _):
            reply = promise.get_reply()
            err = reply.get_value("error") if reply and \
                reply.has_field("error") else None
            if err:
                self.idle(self.log, f"{w.get_name()}: remote {kind} "
                                    f"refused: {err}")
                if w is self.pub:
                    # webrtcbin publishes nothing now: end within a second
                    # rather than at the deadline.
                    self.rep["publish_refused"] = str(err)
                    self.GLib.timeout_add(1000, self.quit)
                return
            if kind == "answer":
                self.rep["publish_answered"] = True
                self.idle(self.log, "publish answer applied")
                return
            p = self.Gst.Promise.new_with_change_func(self.on_answer,
                                                      version)
            w.emit("create-answer", None, p)
        w.emit("set-remote-description", desc,
               self.Gst.Promise.new_with_change_func(done, None))

    def on_answer(self, promise, version):
        reply = promise.get_reply()
        answer = reply.get_value("answer") if reply else None
        if answer is None:
            self.idle(self.log, f"subscribe v{version}: no answer "
                                f"({reply and reply.to_string()})")
            return
        self.sub.emit("set-local-description", answer, self.Gst.Promise.new())
        self.rep["subscribe_answers"] += 1
        self.rep["subscribe_answer"] = answer.sdp.as_text()
        self.idle(self.ws.send, {"type": "subscribe_answer",
                                 "version": version,
                                 "sdp": answer.sdp.as_text()})
        self.idle(self.log, f"subscribe v{version} answered")

    # --- receiving -----------------------------------------------------
    def on_sub_pad(self, w, pad):
        if pad.get_direction() != self.Gst.PadDirection.SRC:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        s = caps.get_structure(0)
        media = s.get_string("media")
        tr = pad.get_property("transceiver")
        mid = tr.get_property("mid") if tr else None
        owner = self.mid_owner.get(mid, f"mid:{mid}")
        if media == "video":
            desc = "queue ! rtpvp8depay ! vp8dec ! fakesink name=sink " \
                   "sync=false signal-handoffs=true"
        elif media == "audio":
            desc = "queue ! rtpopusdepay ! opusdec ! audioconvert ! " \
                   "audioresample ! audio/x-raw,format=S16LE,channels=1," \
                   "rate=48000 ! fakesink name=sink sync=false " \
                   "signal-handoffs=true"
        else:
            return
        bin_ = self.Gst.parse_bin_from_description(desc, True)
        self.pipe.add(bin_)
        bin_.get_by_name("sink").connect("handoff", self.on_decoded,
                                         owner, media)
        bin_.sync_state_with_parent()
        pad.link(bin_.get_static_pad("sink"))
        self.idle(self.log, f"receiving {media} of {owner} (mid {mid})")

    def on_decoded(self, sink, buf, pad, owner, media):
        with self.lock:
            r = self.recv.setdefault(owner, {
                "video_frames": 0, "audio_buffers": 0, "audio_samples": 0,
                "tone_blocks": 0, "tone_share_sum": 0.0})
            if media == "video":
                r["video_frames"] += 1
                return
            r["audio_buffers"] += 1
            ok, info = buf.map(self.Gst.MapFlags.READ)
            if not ok:
                return
            samples = array.array("h", bytes(info.data))
            buf.unmap(info)
            r["audio_samples"] += len(samples)
            if not self.args.expect_hz:
                return
            acc = self.tone_buf.setdefault(owner, array.array("h"))
            acc.extend(samples)
            if len(acc) >= TONE_BLOCK:
                block, self.tone_buf[owner] = acc[:TONE_BLOCK], \
                    acc[TONE_BLOCK:]
                r["tone_blocks"] += 1
                r["tone_share_sum"] += tone_share(block, self.args.expect_hz)

    # --- the end --------------------------------------------------------
    def quit(self):
        self.loop.quit()
        return False

    def run(self):
        self.ws.send({"type": "join", "meeting": self.args.meeting,
                      "pin": self.args.pin, "name": self.args.name})
        threading.Thread(target=self.reader, daemon=True).start()
        # The main loop's own bound, whatever else happens.
        self.GLib.timeout_add(int(self.args.deadline * 1000), self.quit)
        self.loop.run()
        with self.lock:
            self.rep["sent"] = dict(self.sent)
            for owner, r in self.recv.items():
                r = dict(r)
                blocks = r.pop("tone_blocks")
                share = r.pop("tone_share_sum")
                r["tone_share"] = round(share / blocks, 3) if blocks else 0.0
                r["tone_blocks"] = blocks
                self.rep["remotes"][owner] = r
        if self.media_start:
            self.rep["media_s"] = round(time.monotonic() - self.media_start,
                                        3)
        for w in (getattr(self, "pub", None), getattr(self, "sub", None)):
            if w is not None:
                self.rep["states"][f"{w.get_name()}.final"] = \
                    w.get_property("connection-state").value_nick
        try:
            self.ws.send({"type": "leave"})
        except OSError:
            pass
        if self.pipe:
            self.pipe.set_state(self.Gst.State.NULL)
        self.ws.close()
        return self.rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--meeting")
    ap.add_argument("--pin")
    ap.add_argument("--name", default="Room System")
    ap.add_argument("--tone", type=float, default=440)
    ap.add_argument("--expect-hz", type=float, default=0)
    ap.add_argument("--duration", type=float, default=8)
    ap.add_argument("--deadline", type=float, default=25)
    ap.add_argument("--report")
    args = ap.parse_args()
    gst = load_gst()
    if isinstance(gst, str):
        print(gst)
        sys.exit(77)
    if args.probe:
        print(f"GStreamer {gst[0].version_string()}: every element there")
        sys.exit(0)
    rep = RoomSystem(args, gst).run()
    with open(args.report, "w") as f:
        json.dump(rep, f, indent=1)
    sys.stdout.flush()
    # Leave without the interpreter's teardown of GObject wrappers: the
    # ice-agent wrappers are freed out of order there (GLib criticals).
    os._exit(0)


if __name__ == "__main__":
    main()
