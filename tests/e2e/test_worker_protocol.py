"""The Node worker's side of the frame protocol, driven directly over its socket: frames that
arrive a byte at a time (a length prefix split anywhere) and several frames in one read."""
import json
import os
import socket
import struct
import subprocess

import pytest

from conftest import FIXTURES, ROOT

BOOTSTRAP = ROOT / "guest" / "node" / "bootstrap.js"


def frame(message):
    body = json.dumps(message).encode()
    return struct.pack("<I", len(body)) + body


class Worker:
    def __init__(self):
        self.sock, theirs = socket.socketpair()
        self.sock.settimeout(10)  # every wait below is bounded
        # fd 3 is the worker's channel, as the gateway gives it (close_fds would close it again).
        self.proc = subprocess.Popen(["node", str(BOOTSTRAP)], close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=lambda: os.dup2(theirs.fileno(), 3),
                                     env={"PATH": os.environ["PATH"], "NODE_PATH": str(ROOT / "guest" / "node" / "node_modules")})
        theirs.close()
        self.pending = b""

    def next_frame(self):
        while True:
            if len(self.pending) >= 4:
                size = struct.unpack_from("<I", self.pending)[0]
                if len(self.pending) >= 4 + size:
                    body, self.pending = self.pending[4:4 + size], self.pending[4 + size:]
                    return json.loads(body)
            chunk = self.sock.recv(65536)
            assert chunk, "the worker closed its socket"
            self.pending += chunk

    def send_bytewise(self, data):
        for i in range(len(data)):
            self.sock.send(data[i:i + 1])

    def close(self):
        self.sock.close()
        self.proc.wait(timeout=10)


@pytest.fixture
def worker():
    w = Worker()
    yield w
    w.close()


def load(worker, name):
    folder = FIXTURES / "edge.functions"
    return frame({"type": "load", "file": str(folder / f"{name}.js"), "name": name, "cwd": str(folder), "env": {},
                  "secretNames": [], "logLimitBytes": 4096})


def invoke(invocation_id, params=None):
    return frame({"type": "invoke", "id": invocation_id, "mode": "endpoint",
                  "context": {"method": "GET", "params": params or {}, "headers": {"x-test": "1"}, "body": {}}})


def test_frames_that_arrive_a_byte_at_a_time(worker):
    assert worker.next_frame()["type"] == "ready"
    worker.send_bytewise(load(worker, "status"))
    assert worker.next_frame() == {"type": "loaded"}
    for invocation_id in (1, 2, 3):
        worker.send_bytewise(invoke(invocation_id))
        result = worker.next_frame()
        assert result["type"] == "result" and result["id"] == invocation_id, result
        assert "response" in result


def test_several_frames_in_one_write_are_answered_in_order(worker):
    assert worker.next_frame()["type"] == "ready"
    worker.sock.sendall(load(worker, "status"))
    assert worker.next_frame() == {"type": "loaded"}  # the gateway sends no invoke before this
    worker.sock.sendall(b"".join(invoke(i) for i in range(1, 21)))
    ids = [worker.next_frame()["id"] for _ in range(20)]
    assert ids == list(range(1, 21))


def test_a_frame_split_inside_its_length_prefix(worker):
    assert worker.next_frame()["type"] == "ready"
    worker.sock.sendall(load(worker, "status"))
    assert worker.next_frame() == {"type": "loaded"}
    data = invoke(7) + invoke(8)
    cut = len(invoke(7)) + 2  # two bytes into the second frame's length
    worker.sock.sendall(data[:cut])
    assert worker.next_frame()["id"] == 7
    worker.sock.sendall(data[cut:])
    assert worker.next_frame()["id"] == 8
