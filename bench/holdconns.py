#!/usr/bin/env python3
"""Holds N slow connections open against a server on 127.0.0.1 (bench/webhooks.sh IDLE=N).

Each connection sends the start of a request head and then one more byte
every --every seconds, never finishing it, as a slow sender would; one the
server closes is reopened half a second later. The connections come from
127.0.0.10, 127.0.0.11, ... (200 from each address), so a per-client limit
of 256 does not stop them: this is many slow clients, not one. Prints
"holding N" once all are open, stops after --seconds or on SIGTERM.
"""
import argparse
import selectors
import signal
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24
HEAD = b"POST /hooks/bench HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--every", type=float, default=2.0)
    o = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    slots = [None] * o.connections  # socket or None
    due = [0.0] * o.connections  # next byte, or reopen
    reopened = 0

    def dial(i):
        s = socket.socket()
        s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind(("127.0.0.%d" % (10 + i // 200), 0))
        s.connect(("127.0.0.1", o.port))
        s.sendall(HEAD)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        slots[i] = s

    for i in range(o.connections):
        dial(i)
    print("holding", o.connections, flush=True)
    end = time.monotonic() + o.seconds
    while not stop and time.monotonic() < end:
        for key, _ in sel.select(0.1):
            i = key.data
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                slots[i] = None
                due[i] = time.monotonic() + 0.5
        now = time.monotonic()
        for i, s in enumerate(slots):
            if now < due[i]:
                continue
            if s is None:
                try:
                    dial(i)
                    reopened += 1
                except OSError:
                    pass
            else:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            due[i] = now + o.every
    for s in slots:
        if s is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            s.close()
    print("reopened", reopened, flush=True)


if __name__ == "__main__":
    sys.exit(main())
