"""Helpers shared by the end-to-end tests. Only 127.0.0.1 is ever used."""
import socket

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
