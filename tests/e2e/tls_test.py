#!/usr/bin/env python3
"""kaigi with TLS (--tls-cert/--tls-key) and signalling over IPv6.

The test makes its own CA, a second ("wrong") CA and two server
certificates for localhost, 127.0.0.1 and ::1 with the openssl command
line, in a temporary directory. Then, against kaigi with TLS on 127.0.0.1:
- kaigictl over https:// with --ca creates and lists meetings; with the
  wrong CA it is refused with a clear error, and so is kaigi-client;
- plain HTTP to the TLS port gets no API answer; HSTS is sent;
- kaigictl refuses to send its token over http:// to a non-loopback
  address before connecting (192.0.2.1 is never reached: it must answer
  at once with the refusal);
- two kaigi-clients over wss:// exchange media (GCM-256) while kaigi gets
  SIGHUP with a renewed certificate: both keep decoding, and a new TLS
  connection sees the new certificate.
Then kaigi with TLS on [::1] (kaigictl https://[::1], kaigi-client
wss://[::1]) and kaigi with plain HTTP on [::1] (kaigictl http://[::1],
kaigi-client ws://[::1]).

Usage: tls_test.py KAIGI KAIGI_CLIENT KAIGICTL
Only 127.0.0.1 and ::1 are ever connected to.
"""
import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Checks, reap  # noqa: E402

# Seconds the two media clients run; kaigi gets SIGHUP once both are in.
MEDIA_S = 10


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            cwd=d)
    return os.path.join(d, f"{name}.pem")


def make_server_cert(d, ca, name):
    """A certificate for localhost, 127.0.0.1 and ::1 signed by ca, and
    its key. Returns (fullchain path, key path, leaf DER)."""
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", "/CN=localhost", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
            "-CAkey", f"{ca}.key", "-CAcreateserial", "-out",
            f"{name}.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    with open(os.path.join(d, f"{name}.pem")) as f:
        leaf = f.read()
    with open(os.path.join(d, f"{ca}.pem")) as f:
        chain = leaf + f.read()
    full = os.path.join(d, f"{name}.full.pem")
    with open(full, "w") as f:
        f.write(chain)
    return full, os.path.join(d, f"{name}.key"), ssl.PEM_cert_to_DER_cert(
        leaf)


def free_port(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def install(src_full, src_key, dst_full, dst_key):
    """As an ACME client renews: each file replaced whole."""
    for src, dst in ((src_full, dst_full), (src_key, dst_key)):
        with open(src, "rb") as f:
            data = f.read()
        with open(dst + ".new", "wb") as f:
            f.write(data)
        os.replace(dst + ".new", dst)


class Server:
    """kaigi on host (127.0.0.1 or ::1), TLS if cert is given."""

    def __init__(self, binary, tmp, name, host, cert=None, key=None,
                 ca=None, extra=()):
        self.host, self.ca = host, ca
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.port = free_port(family, host)
        self.data = os.path.join(tmp, f"{name}-data")
        self.tls = cert is not None
        bracket = f"[{host}]" if ":" in host else host
        self.hostport = f"{bracket}:{self.port}"
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{self.hostport}"
        self.ws = f"{'wss' if self.tls else 'ws'}://{self.hostport}/ws"
        self.log = open(os.path.join(tmp, f"{name}.log"), "w")
        cmd = [binary, "--listen", self.hostport, "--udp", "127.0.0.1:0",
               "--data", self.data, "--workers", "1", "--open-rooms",
               "--node", "tls"]
        if self.tls:
            cmd += ["--tls-cert", cert, "--tls-key", key]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        end = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"kaigi {name} exited with "
                                 f"{self.proc.returncode}")
            try:
                self.get("/api/stats")
                break
            except OSError:
                if time.monotonic() > end:
                    raise SystemExit(f"kaigi {name} did not answer in 15 s")
                time.sleep(0.05)

    def context(self):
        return ssl.create_default_context(cafile=self.ca)

    def get(self, path):
        """(status, headers, JSON body) of GET path."""
        kw = {"context": self.context()} if self.tls else {}
        with urllib.request.urlopen(self.url + path, timeout=5, **kw) as r:
            return r.status, r.headers, json.load(r)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.proc.returncode


def kaigictl(args, server, *argv, ca=None, url=None):
    cmd = [args[2], "--server", url or server.url, "--data", server.data,
           "--json"]
    if ca:
        cmd += ["--ca", ca]
    p = subprocess.run(cmd + list(argv), capture_output=True, text=True,
                       timeout=30)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        out = None
    return p.returncode, out, p.stderr.strip()


def client(args, tmp, server, name, room, duration, ca, wait=0):
    report = os.path.join(tmp, f"{name}.json")
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    cmd = [args[1], "--server", server.ws, "--room", room, "--name", name,
           "--duration", str(duration), "--report", report,
           "--wait-remotes", str(wait), "--max-wait", "20"]
    if ca:
        cmd += ["--ca", ca]
    return name, report, subprocess.Popen(cmd, stdout=log,
                                          stderr=subprocess.STDOUT), log


def peer_cert(server, host_name):
    """The DER certificate a fresh TLS connection to server is shown."""
    family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((server.host, server.port))
        with server.context().wrap_socket(
                s, server_hostname=host_name) as t:
            return t.getpeercert(binary_form=True)


def plain_http_answer(server):
    """What a plain-text HTTP request to the TLS port gets back."""
    with socket.create_connection((server.host, server.port),
                                  timeout=5) as s:
        s.sendall(f"GET /api/stats HTTP/1.1\r\nHost: {server.hostport}"
                  "\r\nConnection: close\r\n\r\n".encode())
        got = b""
        end = time.monotonic() + 5
        while time.monotonic() < end and len(got) < 65536:
            try:
                more = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                break
            if not more:
                break
            got += more
    return got


def wait_participants(server, n, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _, _, st = server.get("/api/stats")
        if st.get("participants") == n:
            return True
        time.sleep(0.1)
    return False


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()[:16]


def test_tls(check, args, tmp, pki):
    cert = os.path.join(tmp, "live-fullchain.pem")
    key = os.path.join(tmp, "live-privkey.pem")
    install(pki["a_full"], pki["a_key"], cert, key)
    k = Server(args[0], tmp, "kaigi-tls", "127.0.0.1", cert, key, pki["ca"])
    try:
        status, headers, _ = k.get("/api/stats")
        check(status == 200, "GET /api/stats over https with the test CA")
        check(headers.get("strict-transport-security", "").startswith(
            "max-age="), "HSTS on an API answer: "
            f"{headers.get('strict-transport-security')}")
        with urllib.request.urlopen(k.url + "/", timeout=5,
                                    context=k.context()) as r:
            hsts = r.headers.get("strict-transport-security", "")
            csp = r.headers.get("content-security-policy", "")
        check(hsts.startswith("max-age="), f"HSTS on the page: {hsts}")
        check("default-src 'self'" in csp and "ws:" not in csp,
              f"the page's CSP keeps connections to its origin: {csp}")

        got = plain_http_answer(k)
        check(b'"node"' not in got and b" 200 " not in got[:16],
              f"plain HTTP to the TLS port gets no API answer "
              f"({got[:40]!r})")

        rc, m, err = kaigictl(args, k, "meeting", "create", "--title",
                              "tls", "--start", "now", "--duration", "1h",
                              ca=pki["ca"])
        check(rc == 0 and m and len(m.get("id", "")) == 11,
              f"kaigictl https --ca: meeting create ({rc} {err})")
        rc, lst, err = kaigictl(args, k, "meeting", "list", ca=pki["ca"])
        check(rc == 0 and m and m["id"] in json.dumps(lst),
              f"kaigictl https --ca: meeting list ({rc} {err})")
        rc, _, err = kaigictl(args, k, "meeting", "list", ca=pki["wrong"])
        check(rc == 1 and "certificate is not trusted" in err,
              f"kaigictl with the wrong CA is refused clearly ({err})")
        rc, _, err = kaigictl(args, k, "meeting", "list",
                              url=f"https://localhost:{k.port}",
                              ca=pki["ca"])
        check(rc == 0, f"kaigictl https://localhost (name checked) ({err})")

        # Refused before anything is resolved or sent: 192.0.2.1 is never
        # reached (a connect attempt would take the whole 10 s timeout or
        # fail with a different message).
        t0 = time.monotonic()
        p = subprocess.run([args[2], "--server", "http://192.0.2.1:1",
                            "--token", "x" * 20, "meeting", "list"],
                           capture_output=True, text=True, timeout=15)
        took = time.monotonic() - t0
        check(p.returncode == 2 and "refusing to send the admin token"
              in p.stderr and took < 2,
              f"kaigictl refuses the token over http to 192.0.2.1 "
              f"(exit {p.returncode} in {took:.2f} s: {p.stderr.strip()})")

        bad = client(args, tmp, k, "wrongca", "r0", 2, pki["wrong"])
        bad[2].wait(timeout=30)
        bad[3].close()
        with open(os.path.join(tmp, "wrongca.log")) as f:
            log = f.read()
        check(bad[2].returncode != 0 and
              "certificate is not trusted" in log,
              "kaigi-client with the wrong CA is refused clearly: "
              + next((ln for ln in log.splitlines() if "trusted" in ln),
                     log[-200:]))

        # Two clients over wss across a certificate renewal.
        before = peer_cert(k, "localhost")
        check(before == pki["a_der"],
              f"before SIGHUP: certificate A ({fingerprint(before)})")
        procs = [client(args, tmp, k, n, "tlsroom", MEDIA_S, pki["ca"],
                        wait=1) for n in ("alice", "bob")]
        both = wait_participants(k, 2, 30)
        check(both, "two clients joined over wss")
        install(pki["b_full"], pki["b_key"], cert, key)
        k.proc.send_signal(signal.SIGHUP)
        after, end = None, time.monotonic() + 5
        while time.monotonic() < end:
            after = peer_cert(k, "localhost")
            if after == pki["b_der"]:
                break
            time.sleep(0.1)
        check(after == pki["b_der"],
              f"after SIGHUP: a new connection sees certificate B "
              f"({fingerprint(after)}, B {fingerprint(pki['b_der'])})")
        rc, _, err = kaigictl(args, k, "meeting", "list", ca=pki["ca"])
        check(rc == 0, f"kaigictl after the renewal ({err})")
        check(wait_participants(k, 2, 2),
              "both clients still in after SIGHUP")
        end = time.monotonic() + MEDIA_S + 40
        reports = {n: reap(n, r, p, log, end) for n, r, p, log in procs}
        for n, r in reports.items():
            check(r is not None, f"{n}: report written")
            if not r:
                continue
            check(r.get("srtp_profile") == "AEAD_AES_256_GCM" and
                  r.get("subscribe_srtp_profile") == "AEAD_AES_256_GCM",
                  f"{n}: SRTP {r.get('srtp_profile')} / "
                  f"{r.get('subscribe_srtp_profile')}")
            remotes = r.get("remotes", {})
            other = [x for x in reports if x != n][0]
            sent = (reports[other] or {}).get("sent", {}).get(
                "video_frames", 0)
            got = sum(v.get("video_frames_decoded", 0)
                      for v in remotes.values())
            # The SIGHUP came early in the run: a client that lost its
            # signalling or media there would be far under this.
            check(sent > 0 and got >= 0.8 * sent,
                  f"{n} <- {other}: {got}/{sent} video frames decoded "
                  "across the SIGHUP")
        with open(os.path.join(tmp, "kaigi-tls.log")) as f:
            check("certificate reloaded" in f.read(),
                  "kaigi logged the reload")

        # A renewal caught half-written: A's certificate with B's key.
        # kaigi must keep serving B rather than a pair that cannot work.
        install(pki["a_full"], pki["b_key"], cert, key)
        k.proc.send_signal(signal.SIGHUP)
        logged, end = False, time.monotonic() + 5
        while not logged and time.monotonic() < end:
            with open(os.path.join(tmp, "kaigi-tls.log")) as f:
                logged = "certificate not reloaded" in f.read()
            if not logged:
                time.sleep(0.05)
        check(logged, "a mismatched pair on SIGHUP is refused with a log line")
        try:
            now = peer_cert(k, "localhost")
        except OSError as e:  # ssl.SSLError too: kaigi lost its cert
            now = e
        check(now == pki["b_der"],
              "after the refused reload: still certificate B"
              + ("" if isinstance(now, bytes) else f" ({now})"))
    finally:
        check(k.stop() == 0, "kaigi (TLS) exits cleanly")


def v6_join(args, tmp, server, name, ca):
    """Whether a kaigi-client joined a room over server's [::1] URL.
    Only the signalling is checked: kaigi's media here is on 127.0.0.1,
    and media over IPv6 (the client's UDP on ::1, IPv6 candidates) is
    another part of the work."""
    name, report, p, log = client(args, tmp, server, name, "v6", 2, ca)
    p.wait(timeout=40)
    log.close()
    try:
        with open(report) as f:
            r = json.load(f)
    except (OSError, ValueError):
        r = {}
    return r.get("joined") is True and bool(r.get("participant"))


def test_ipv6(check, args, tmp, pki):
    # --public-url only names the server in links; nothing connects there.
    k = Server(args[0], tmp, "kaigi-tls6", "::1", pki["a_full"],
               pki["a_key"], pki["ca"],
               extra=["--public-url", "https://meet.example.org"])
    try:
        rc, m, err = kaigictl(args, k, "meeting", "create", "--title",
                              "v6", "--start", "now", "--duration", "1h",
                              ca=pki["ca"])
        check(rc == 0 and m and len(m.get("id", "")) == 11,
              f"kaigictl https://[::1] meeting create ({rc} {err})")
        link = (m or {}).get("host_link", "")
        check(link.startswith("https://meet.example.org/?meeting="),
              f"links name --public-url ({link.split('&')[0]})")
        check(peer_cert(k, "::1") == pki["a_der"],
              "TLS on [::1] with the certificate for ::1")
        check(v6_join(args, tmp, k, "v6tls", pki["ca"]),
              "kaigi-client joins over wss://[::1]")
    finally:
        check(k.stop() == 0, "kaigi (TLS, [::1]) exits cleanly")

    k = Server(args[0], tmp, "kaigi-v6", "::1")
    try:
        rc, m, err = kaigictl(args, k, "meeting", "create", "--title",
                              "v6", "--start", "now", "--duration", "1h")
        check(rc == 0 and m and len(m.get("id", "")) == 11,
              f"kaigictl http://[::1] meeting create ({rc} {err})")
        rc, lst, err = kaigictl(args, k, "meeting", "list")
        check(rc == 0 and m and m["id"] in json.dumps(lst),
              f"kaigictl http://[::1] meeting list ({rc} {err})")
        check(v6_join(args, tmp, k, "v6plain", None),
              "kaigi-client joins over ws://[::1]")
    finally:
        check(k.stop() == 0, "kaigi ([::1]) exits cleanly")


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    args = sys.argv[1:]
    check = Checks()
    with tempfile.TemporaryDirectory(prefix="kaigi-tls-") as tmp:
        pki = {"ca": make_ca(tmp, "ca"), "wrong": make_ca(tmp, "wrongca")}
        pki["a_full"], pki["a_key"], pki["a_der"] = make_server_cert(
            tmp, "ca", "certa")
        pki["b_full"], pki["b_key"], pki["b_der"] = make_server_cert(
            tmp, "ca", "certb")
        test_tls(check, args, tmp, pki)
        test_ipv6(check, args, tmp, pki)
        if check.failed:
            for name in sorted(os.listdir(tmp)):
                if name.endswith(".log") and name.startswith("kaigi"):
                    with open(os.path.join(tmp, name)) as f:
                        sys.stdout.write(f"--- {name}:\n{f.read()[-3000:]}")
    if check.failed:
        print(f"{len(check.failed)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
