#!/usr/bin/python3
"""A private Redis server for the tests: `redis-server` in a temporary folder, listening on
127.0.0.1 and a port of its own, without persistence (--save '' --appendonly no), never the
system's service. Under root it runs as `nobody` (it needs no privilege).

    python3 tests/support/redis_server.py run -- COMMAND…

starts one, runs COMMAND with SPROCKET_TEST_REDIS (redis://127.0.0.1:PORT/0) and
SPROCKET_REQUIRE_REDIS=1 in the environment, stops it and exits with COMMAND's status. The e2e
tests use RedisServer directly; stop() and start() again keep the port, so that nodes pointed at
it see the same server go away and come back (empty: nothing is persisted).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_with_server import run_with_server  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    def __init__(self):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(self.binary):
            raise RuntimeError("redis-server is not installed (scripts/setup installs it)")
        self.root = None
        self.port = None
        self.process = None
        self._as_user = []

    def start(self):
        """Starts the server; again after stop(), on the same port."""
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="sprocket-redis-")
            if os.geteuid() == 0:
                import pwd
                nobody = pwd.getpwnam("nobody")
                os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
                self._as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
        reuse = self.port is not None
        for _ in range(5):  # a port taken between choosing it and binding it: choose another
            if not reuse:
                self.port = free_port()
            log = open(os.path.join(self.root, "server.log"), "a")
            self.process = subprocess.Popen(
                self._as_user + [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", self.root, "--daemonize", "no", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
            log.close()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.process.poll() is None:
                if answers_ping(self.port):
                    return self
                time.sleep(0.02)  # polling the server, not waiting for it
            self.process.kill()
            self.process.wait()
            if reuse:  # the nodes know this port: another one would not do
                break
        raise RuntimeError(f"redis-server did not start on port {self.port}: {self.log()}")

    def log(self):
        try:
            with open(os.path.join(self.root, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self):
        """Kills the server (as a crash would); start() brings it back on the same port."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self):
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def main(argv):
    return run_with_server(argv, __doc__, lambda: RedisServer().start(),
                           lambda server: {"SPROCKET_TEST_REDIS": server.url(), "SPROCKET_REQUIRE_REDIS": "1"})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
