#!/usr/bin/python3
"""The Node worker alone, without the gateway: CPU per invocation of N workers.

Starts N copies of guest/node/bootstrap.js, each with a socketpair on fd 3 as the gateway gives
it, loads a function into each, then keeps INFLIGHT invoke frames in flight, each to a worker
picked at random, and prints the invocations per second and the workers' CPU per invocation
(utime + stime from /proc). N=100 is the scale benchmark's situation (every invocation wakes a
different process); N=1 with 32 in flight is the warm, pipelined one. Not a test: a tool for
A/B comparisons of guest changes (run it alternately against two guest folders).

  bench/tools/worker_cpu.py [--workers N] [--inflight K] [--seconds S] [--function FILE]
                            [--guest DIR] [--node-flags "..."]
"""
import argparse
import json
import os
import random
import selectors
import socket
import struct
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = {"accountId": 123456, "method": "GET", "endpoint": "f", "params": {}, "body": {},
           "headers": {"host": "localhost", "accept": "*/*", "user-agent": "wrk", "true-client-ip": "127.0.0.1",
                       "x-forwarded-for": "127.0.0.1"},
           "contact": None, "limits": {"executionsRemaining": 60, "timeRemaining": 600000}}


def frame(message):
    body = json.dumps(message, separators=(",", ":")).encode()
    return struct.pack("<I", len(body)) + body


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Channel:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def frames(self):
        self.buffer += self.sock.recv(1 << 20)
        out = []
        while len(self.buffer) >= 4:
            size = struct.unpack_from("<I", self.buffer)[0]
            if len(self.buffer) < 4 + size:
                break
            out.append(json.loads(self.buffer[4:4 + size]))
            self.buffer = self.buffer[4 + size:]
        return out

    def next_frame(self):
        while True:
            got = self.frames()
            if got:
                return got[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--inflight", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--function", default=str(ROOT / "bench/fixtures/hello.functions/hello.js"))
    parser.add_argument("--guest", default=str(ROOT / "guest/node"))
    parser.add_argument("--node-flags", default="")
    args = parser.parse_args()

    env = {"PATH": "/usr/bin:/bin", "NODE_PATH": f"{args.guest}/node_modules"}
    argv = ["node", "--max-old-space-size=96", *args.node_flags.split(), f"{args.guest}/bootstrap.js"]
    channels, pids = [], []
    try:
        for _ in range(args.workers):
            ours, theirs = socket.socketpair()
            pid = os.fork()
            if pid == 0:
                os.dup2(theirs.fileno(), 3)
                os.execve("/usr/bin/node", argv, env)
            theirs.close()
            ours.settimeout(30)
            channels.append(Channel(ours))
            pids.append(pid)
        folder = str(Path(args.function).parent)
        for channel in channels:
            assert channel.next_frame()["type"] == "ready"
            channel.sock.sendall(frame({"type": "load", "file": args.function, "name": "f", "cwd": folder, "env": {},
                                        "secretNames": [], "logLimitBytes": 4096}))
            loaded = channel.next_frame()
            assert loaded["type"] == "loaded", loaded

        selector = selectors.DefaultSelector()
        for channel in channels:
            selector.register(channel.sock, selectors.EVENT_READ, channel)
        next_id = 0

        def send():
            nonlocal next_id
            next_id += 1
            random.choice(channels).sock.sendall(frame({"type": "invoke", "id": next_id, "mode": "endpoint", "context": CONTEXT}))

        def run(seconds):
            answered = 0
            for _ in range(args.inflight):
                send()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                for key, _ in selector.select(1):
                    for message in key.data.frames():
                        if message.get("type") == "result":
                            answered += 1
                            send()
            settle = time.monotonic() + 2  # let what is in flight come back before measuring again
            while time.monotonic() < settle and selector.select(0.2):
                for key, _ in selector.select(0):
                    key.data.frames()
            return answered

        run(1.5)  # warm-up
        before = sum(cpu_ticks(p) for p in pids)
        answered = run(args.seconds)
        ticks = sum(cpu_ticks(p) for p in pids) - before
        per_tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
        print(f"workers={args.workers} inflight={args.inflight}: {answered / args.seconds:.0f} invocations/s, "
              f"worker CPU {ticks * per_tick_us / max(answered, 1):.1f} us/invocation")
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
