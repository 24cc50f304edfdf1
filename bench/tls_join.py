#!/usr/bin/env python3
"""What TLS adds to each join: N WebSocket opens to kaigi's /ws over ws://
and over wss:// (TLS 1.3 handshake + HTTP upgrade + close), one at a
time, against a kaigi started here on 127.0.0.1 (media workers idle).
Reports, per run and as the median of the runs: the client's wall time
per open (median and p90) and kaigi's signalling-process CPU per open
(utime+stime from /proc, media workers not counted: they take no part).

Usage: bench/tls_join.py KAIGI [--opens N] [--runs R] [--key ec|rsa]
The certificate is made here with the openssl command line (ECDSA P-256,
or RSA 2048 as older ACME clients issue by default).
"""
import argparse
import base64
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"


def make_cert(d, key):
    kopt = (["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            if key == "ec" else ["-newkey", "rsa:2048"])
    subprocess.run(["openssl", "req", "-x509", *kopt, "-nodes", "-keyout",
                    "k.pem", "-out", "c.pem", "-days", "1", "-subj",
                    "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   cwd=d, check=True, capture_output=True, timeout=60)
    return os.path.join(d, "c.pem"), os.path.join(d, "k.pem")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ws_open(port, ctx):
    s = socket.create_connection((HOST, port), timeout=5)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: localhost:{port}\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13"
               "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        more = s.recv(4096)
        if not more:
            break
        buf += more
    s.close()
    if b" 101 " not in buf[:20]:
        raise SystemExit(f"no upgrade: {buf[:60]!r}")


def run(kaigi, tmp, cert, opens):
    port_sock = socket.socket()
    port_sock.bind((HOST, 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    cmd = [kaigi, "--listen", f"{HOST}:{port}", "--udp", f"{HOST}:0",
           "--data", os.path.join(tmp, "data"), "--workers", "1"]
    if cert:
        cmd += ["--tls-cert", cert[0], "--tls-key", cert[1]]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    ctx = None
    if cert:
        ctx = ssl.create_default_context(cafile=cert[0])
    try:
        end = time.monotonic() + 10
        while True:
            try:
                ws_open(port, ctx)
                break
            except OSError:
                if time.monotonic() > end or p.poll() is not None:
                    raise SystemExit("kaigi did not start")
                time.sleep(0.05)
        for _ in range(20):  # warm-up
            ws_open(port, ctx)
        c0 = cpu_s(p.pid)
        walls = []
        for _ in range(opens):
            t = time.perf_counter()
            ws_open(port, ctx)
            walls.append(time.perf_counter() - t)
        cpu = cpu_s(p.pid) - c0
    finally:
        p.terminate()
        p.wait(timeout=10)
    walls.sort()
    return (statistics.median(walls) * 1e3, walls[int(0.9 * len(walls))] * 1e3,
            cpu / opens * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kaigi")
    ap.add_argument("--opens", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--key", choices=("ec", "rsa"), default="ec")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaigi-tlsjoin-") as tmp:
        cert = make_cert(tmp, a.key)
        res = {"ws": [], "wss": []}
        for i in range(a.runs):  # alternate, so drift hits both alike
            res["ws"].append(run(a.kaigi, tmp, None, a.opens))
            res["wss"].append(run(a.kaigi, tmp, cert, a.opens))
            print(f"run {i + 1}: ws  wall p50 {res['ws'][-1][0]:.3f} ms "
                  f"p90 {res['ws'][-1][1]:.3f} ms, kaigi CPU "
                  f"{res['ws'][-1][2]:.3f} ms/open; wss wall p50 "
                  f"{res['wss'][-1][0]:.3f} ms p90 {res['wss'][-1][1]:.3f} "
                  f"ms, kaigi CPU {res['wss'][-1][2]:.3f} ms/open",
                  flush=True)
    print(f"\nmedians of {a.runs} runs x {a.opens} opens ({a.key} key):")
    for k in ("ws", "wss"):
        m = [statistics.median(x[i] for x in res[k]) for i in range(3)]
        print(f"  {k:3}: wall p50 {m[0]:.3f} ms, wall p90 {m[1]:.3f} ms, "
              f"kaigi CPU {m[2]:.3f} ms per open")
    return 0


if __name__ == "__main__":
    sys.exit(main())
