"""Starts the real build/sprocket binary on a free loopback port and talks to it over HTTP."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
from polling import wait_for  # noqa: E402  (the tests import it from here)
from postgres_server import PostgresServer  # noqa: E402
from redis_server import RedisServer  # noqa: E402
# SPROCKET_BINARY runs the tests against another build (e.g. to see a new test fail without its fix).
BINARY = pathlib.Path(os.environ.get("SPROCKET_BINARY", ROOT / "build" / "sprocket"))
FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
# For tests whose functions leave files for the test to read (a pid, a mark per run): the
# sandbox rightly keeps a function from writing outside its own /tmp.
SHARES_FILES_WITH_THE_TEST = ("--sandbox", "off")
LISTENING = re.compile(r"sprocket listening on (http://\S+)")
ADMIN = re.compile(r"sprocket admin API on (http://\S+)")


def processes():
    """(pid, parent pid, state, argv as bytes) of every process there is now; zombies included."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # it ended meanwhile
        yield int(entry), int(fields[1]), fields[0], argv


class Sprocket:
    """One `sprocket serve` process; its stderr is collected line by line."""

    def __init__(self, paths, *args, data_dir, env=None, command="serve", cwd=None, binary=BINARY):
        self.data_dir = data_dir
        cmd = [str(binary), command, *map(str, paths), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
               "--data-dir", str(data_dir), *args]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})}, cwd=cwd)
        self.lines = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = wait_for(self._listening_url, timeout=20, message="sprocket to listen")
        self.admin_url = ADMIN.search(self.log()).group(1)
        self.session = requests.Session()

    def _read(self):
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def _listening_url(self):
        if self.process.poll() is not None:
            self._reader.join(timeout=5)
            raise AssertionError("sprocket exited early:\n" + self.log())
        with self._lock:
            for line in self.lines:
                m = LISTENING.search(line)
                if m:
                    return m.group(1)
        return None

    def admin(self, method, path, token=None, **kw):
        """A request to the admin API, with the data directory's token unless told otherwise."""
        if token is None:
            token = (self.data_dir / "admin.token").read_text().strip()
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.admin_url + path, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_for_log(self, pattern, timeout=10.0):
        regex = re.compile(pattern)
        return wait_for(lambda: regex.search(self.log()), timeout=timeout, message=f"log line /{pattern}/")

    def get(self, path, **kw):
        return self.session.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path, **kw):
        return self.session.post(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def request(self, method, path, **kw):
        return self.session.request(method, self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def executions(self):
        """Execution records as printed: (header line, [console lines])."""
        records = []
        for line in self.log().splitlines():
            if re.match(r"^\S+Z - (SUCCESS|ERROR) - ", line):
                records.append((line, []))
            elif records and re.match(r"^\S+Z {4}(INFO |WARN |ERROR|DEBUG) ", line):
                records[-1][1].append(line)
        return records

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode


@pytest.fixture
def start_sprocket(tmp_path):
    started = []

    def start(paths, *args, env=None, command="serve", cwd=None, data_dir=None):
        s = Sprocket(paths, *args, data_dir=data_dir or tmp_path / "data", env=env, command=command, cwd=cwd)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def postgres_server():
    """A private PostgreSQL cluster for the whole run (tests/support/postgres_server.py)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """A private redis-server for the whole run (tests/support/redis_server.py). A test may stop()
    and start() it (same port, empty again) to play an outage; it is running again afterwards."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_budget(redis_server):
    """The options for nodes sharing one budget of this test's own (its own key prefix)."""
    yield ("--budget", redis_server.url(), "--budget-prefix", f"e2e:{os.getpid()}:{next(_databases)}:")
    if redis_server.process is None:
        redis_server.start()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_store(postgres_server):
    """A `--store postgresql://…` URI of a database of this test's own."""
    return postgres_server.create_database(f"e2e_{os.getpid()}_{next(_databases)}")


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    s = Sprocket([EXAMPLES], data_dir=tmp_path_factory.mktemp("examples-data"))
    yield s
    s.stop(signal.SIGKILL)


# --- raw sockets and /metrics, for the tests that play hostile or broken clients --------------

# hostile-clients.functions' `hello`: the normal request that must keep being served.
HELLO = "/_hcms/api/hello"


def address(s):
    host, port = s.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def status_kb(pid, field):
    """A size from /proc/PID/status (VmRSS: resident now, VmHWM: the peak), in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(s, name, **labels):
    """One sample of /metrics (0 when absent)."""
    text = s.admin("GET", "/metrics").text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.compile(rf"^{re.escape(name)}{{{re.escape(want)}}} (\S+)$" if labels else rf"^{re.escape(name)} (\S+)$", re.M)
    m = pattern.search(text)
    return float(m.group(1)) if m else 0.0


def events(s, event, listener="gateway"):
    return metric(s, "sprocket_connection_events_total", listener=listener, event=event)


def parse_responses(data):
    """The complete HTTP responses at the start of `data` (Content-Length framed, as sprocket
    frames them): ([(status, headers, body bytes)], the bytes after them)."""
    responses = []
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            break
        responses.append((status, headers, rest[:length]))
        data = rest[length:]
    return responses, data


def read_responses(sock, timeout=10.0, count=None):
    """Every HTTP response the server sends on `sock` until it closes the connection (or, given
    `count`, until that many have come): [(status, headers, body bytes)]."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count is not None and len(parse_responses(data)[0]) >= count:
            break
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        data += chunk
    return parse_responses(data)[0]


def exchange(s, raw, timeout=10.0, count=None):
    with socket.create_connection(address(s)) as sock:
        sock.sendall(raw)
        return read_responses(sock, timeout, count)


def assert_normal_request_served(s):
    # A new client, on a connection of its own: a kept-alive idle one is what the cap sheds first.
    r = requests.get(s.url + HELLO, headers={"Connection": "close"}, timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"hello": "world"}
