"""An operator's bad days (issue #20, item 6): a full disk under the logs, a loose umask, a
connection that breaks after a deploy committed, partial uploads left behind, a restart right
after kill -9, and a log file that would have kept the admin token."""
import contextlib
import fcntl
import json
import os
import pathlib
import pty
import re
import select
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import BINARY, wait_for

DEFAULT_ACCOUNT = 123456


def run(*args, env=None, cwd=None, timeout=60, umask=None):
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)


def cli(s, *args, server=None):
    return run(*args, "--server", server or s.admin_url, "--data-dir", s.data_dir, timeout=120)


def project(root, name, version, path="hello", lines=0):
    """A developer project whose function answers with its version, after `lines` log lines."""
    fn = root / "src" / "app" / "app.functions"
    fn.mkdir(parents=True)
    (root / "hsproject.json").write_text(json.dumps({"name": name, "srcDir": "src", "platformVersion": "2025.1"}))
    config = {"appFunctions": {"hello": {"file": "hello.js", "endpoint": {"path": path, "method": ["GET"]}}}}
    (fn / "serverless.json").write_text(json.dumps(config, indent=2))
    (fn / "hello.js").write_text(
        "exports.main = async () => { for (let i = 0; i < %d; i++) console.log('line ' + i + ' ' + 'x'.repeat(200));\n"
        "  return {statusCode: 200, body: {project: %s, version: %d}}; };\n" % (lines, json.dumps(name), version))
    return root


def empty_node(start_sprocket, tmp_path, *args, **kw):
    cwd = tmp_path / "node-cwd"
    cwd.mkdir(exist_ok=True)
    return start_sprocket([], *args, cwd=cwd, **kw)


def versions(s):
    listed = cli(s, "versions")
    assert listed.returncode == 0, listed.stderr
    return [line.split("\t") for line in listed.stdout.splitlines()]


def metric(s, name):
    text = s.admin("GET", "/metrics").text
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


@contextlib.contextmanager
def small_disk(path, size="16m"):
    """A real file system of `size` (tmpfs), so that a full disk is a full disk, not a mock."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs to mount a tmpfs (root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk):
    """Writes a file until the disk is full (ENOSPC); returns it (removing it frees the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 4096, 512):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * chunk) > 0:
                    pass
    finally:
        os.close(fd)
    return filler


# --- records dropped on a full disk ---------------------------------------------------------


def test_records_dropped_on_a_full_disk_are_counted_said_once_and_the_recovery_says_how_many(start_sprocket, tmp_path):
    with small_disk(tmp_path / "disk") as disk:
        s = start_sprocket([project(tmp_path / "p", "logs", 1, lines=3)], "--held-logs-limit", "4KB", data_dir=disk / "data")
        assert s.get("/hs/serverless/hello").status_code == 200
        assert metric(s, "sprocket_execution_records_dropped_total") == 0
        filler = fill(disk)
        sent = 1

        def dropping():
            nonlocal sent
            for _ in range(20):
                assert s.get("/hs/serverless/hello").status_code == 200  # serving goes on
                sent += 1
            return metric(s, "sprocket_execution_records_dropped_total") > 0

        wait_for(dropping, timeout=20, message="records to be dropped on the full disk")
        for _ in range(100):  # many more batches dropped: still one line
            s.get("/hs/serverless/hello")
            sent += 1
        wait_for(lambda: metric(s, "sprocket_execution_records_dropped_total") > 20, message="more drops")
        assert len(re.findall(r"dropping execution records: ", s.log())) == 1, s.log()
        assert "sprocket_execution_records_dropped_total" in s.log()

        filler.unlink()
        s.get("/hs/serverless/hello")
        sent += 1
        line = s.wait_for_log(r"execution records are stored again; (\d+) were dropped", timeout=15)
        dropped = metric(s, "sprocket_execution_records_dropped_total")
        assert int(line.group(1)) == dropped, s.log()
        assert metric(s, "sprocket_execution_records_held") == 0
        # Every execution is either stored or counted as dropped: none is lost silently.
        stored = s.admin("GET", "/api/v1/logs?limit=10000").json()["executions"]
        assert len(stored) + dropped == sent, (len(stored), dropped, sent)


# --- permissions ----------------------------------------------------------------------------


def test_a_fresh_data_dir_is_private_whatever_the_umask(start_sprocket, tmp_path):
    data = tmp_path / "fresh" / "data"
    out = subprocess.run([str(BINARY), "secrets", "add", "API_KEY", "--data-dir", str(data)], input="v", capture_output=True,
                         text=True, timeout=30, preexec_fn=lambda: os.umask(0))
    assert out.returncode == 0, out.stderr
    assert mode(data) == 0o700
    assert mode(data / "sprocket.db") == 0o600
    assert mode(data / "secret.key") == 0o600

    os.umask(0)
    try:
        s = empty_node(start_sprocket, tmp_path, data_dir=data)
        deployed = cli(s, "deploy", project(tmp_path / "p", "shop", 1))
    finally:
        os.umask(0o022)
    assert deployed.returncode == 0, deployed.stderr
    assert s.get("/hs/serverless/hello").json()["version"] == 1  # a sandboxed worker still reads its folder
    for name in ("sprocket.db", "sprocket.db-wal", "sprocket.db-shm", "secret.key", "admin.token", "serve.lock"):
        assert mode(data / name) == 0o600, name
    for folder in (data, data / "deployments", data / "deployments" / str(DEFAULT_ACCOUNT)):
        assert mode(folder) == 0o700, folder
    # The version's own folder lets its sandboxed workers in; the folders above keep others out.
    assert mode(data / "deployments" / str(DEFAULT_ACCOUNT) / "1") == 0o755


def test_a_loose_data_dir_is_tightened_at_start_up_and_the_log_says_so(start_sprocket, tmp_path):
    data = tmp_path / "data"
    out = subprocess.run([str(BINARY), "secrets", "add", "API_KEY", "--data-dir", str(data)], input="v", capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    data.chmod(0o755)
    (data / "sprocket.db").chmod(0o644)
    (data / "deployments" / "7").mkdir(parents=True)
    (data / "deployments").chmod(0o755)
    s = empty_node(start_sprocket, tmp_path, data_dir=data)
    assert f"{data} was mode 0755 (others could read it); it is 0700 now" in s.log()
    assert f"{data / 'sprocket.db'} was mode 0644 (others could read it); it is 0600 now" in s.log()
    assert f"{data / 'deployments'} was mode 0755" in s.log()
    assert mode(data) == 0o700 and mode(data / "sprocket.db") == 0o600 and mode(data / "deployments") == 0o700
    assert mode(data / "deployments" / "7") == 0o700


# --- a deploy's answer lost with its connection ---------------------------------------------


class BreakingProxy:
    """Forwards TCP connections to `port`; the first `breaks` of them are cut the moment the
    server starts answering, so the client sees its connection end after the server acted."""

    def __init__(self, port, breaks):
        self.port, self.breaks, self.cut = port, breaks, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        upstream = socket.create_connection(("127.0.0.1", self.port))
        cut = self.cut < self.breaks
        if cut:
            self.cut += 1

        def forward_requests():
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    upstream.sendall(data)

        threading.Thread(target=forward_requests, daemon=True).start()
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if cut:
                    break  # the answer is never passed on
                client.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self):
        self.listener.close()


def admin_port(s):
    return int(s.admin_url.rsplit(":", 1)[1])


def test_a_deploy_whose_answer_was_lost_is_retried_with_its_id_and_deployed_once(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    proxy = BreakingProxy(admin_port(s), breaks=1)
    try:
        out = cli(s, "deploy", project(tmp_path / "p", "shop", 1), server=proxy.url)
    finally:
        proxy.close()
    assert proxy.cut == 1
    assert out.returncode == 0, out.stderr
    assert "trying again with the same deploy id" in out.stderr, out.stderr
    assert "Deployed shop as version 1" in out.stdout and "nothing was deployed twice" in out.stdout, out.stdout
    assert [v[:2] for v in versions(s)] == [["1", "active"]]
    assert s.get("/hs/serverless/hello").json()["version"] == 1


def test_when_every_answer_is_lost_the_outcome_is_unknown_and_says_how_to_check(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    folder = project(tmp_path / "p", "shop", 1)
    proxy = BreakingProxy(admin_port(s), breaks=1000)
    try:
        out = cli(s, "deploy", folder, server=proxy.url)
    finally:
        proxy.close()
    assert out.returncode == 3, out.stderr
    assert "the outcome of this deploy is unknown" in out.stderr, out.stderr
    assert "sprocket versions --server" in out.stderr
    deploy_id = re.search(r"--deploy-id (\w+)", out.stderr).group(1)
    assert [v[:2] for v in versions(s)] == [["1", "active"]]  # it had committed
    # Run again with its id: the node answers with that version and deploys nothing twice.
    again = cli(s, "deploy", folder, "--deploy-id", deploy_id)
    assert again.returncode == 0, again.stderr
    assert "as version 1" in again.stdout and "nothing was deployed twice" in again.stdout, again.stdout
    assert len(versions(s)) == 1
    # The id belongs to that upload: another folder under it is refused, and nothing changes.
    other = cli(s, "deploy", project(tmp_path / "other", "shop", 2), "--deploy-id", deploy_id)
    assert other.returncode == 1 and "was already used for another upload" in other.stderr, other.stderr
    assert len(versions(s)) == 1 and s.get("/hs/serverless/hello").json()["version"] == 1


def npm_running_under(pid):
    """Whether an npm install runs as a child of `pid` (a deploy installing its dependencies)."""
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"npm" in command:
            return True
    return False


def test_a_deploy_a_stopping_node_has_not_committed_is_refused_not_committed_behind_its_back(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    folder = project(tmp_path / "deps", "deps", 1)
    fn = folder / "src" / "app" / "app.functions"
    (fn / "lib").mkdir()
    (fn / "lib" / "package.json").write_text('{"name": "tiny-lib", "version": "1.0.0", "main": "index.js"}')
    (fn / "lib" / "index.js").write_text("exports.x = 1;\n")
    (fn / "package.json").write_text('{"name": "deps", "private": true, "dependencies": {"tiny-lib": "file:./lib"}}')
    result = {}
    deployer = threading.Thread(target=lambda: result.update(out=cli(s, "deploy", folder)))
    deployer.start()
    # SIGTERM while the deploy installs its dependencies, before it can commit.
    wait_for(lambda: npm_running_under(s.process.pid), timeout=20, interval=0.005, message="the deploy's npm install")
    s.process.send_signal(15)
    deployer.join(timeout=60)
    assert s.process.wait(timeout=30) == 0
    out = result["out"]
    assert out.returncode == 1, out.stdout + out.stderr
    assert "the node is shutting down: nothing was deployed" in out.stderr, out.stderr
    again = empty_node(start_sprocket, tmp_path, data_dir=s.data_dir)
    assert versions(again) == []  # what the deployer was told
    assert again.get("/hs/serverless/hello").status_code == 404


# --- partial uploads ------------------------------------------------------------------------


def test_partial_uploads_are_removed_at_start_up_and_when_an_upload_fails(start_sprocket, tmp_path):
    with small_disk(tmp_path / "disk", size="8m") as disk:
        data = disk / "data"
        account = data / "deployments" / str(DEFAULT_ACCOUNT)
        # What a node killed during a deploy leaves: a staging folder, a half-unpacked version.
        (account / "incoming-1700000000000" / "src").mkdir(parents=True)
        (account / "incoming-1700000000000" / "src" / "half.js").write_text("exports.main =")
        (account / "4.incoming").mkdir()
        s = empty_node(start_sprocket, tmp_path, data_dir=data)
        assert not (account / "incoming-1700000000000").exists() and not (account / "4.incoming").exists()
        assert "incoming-1700000000000, left by an upload or unpacking that did not finish" in s.log()

        # An upload that cannot be unpacked (the disk is full) leaves nothing behind either.
        big = project(tmp_path / "big", "big", 1)
        (big / "src" / "app" / "app.functions" / "data.bin").write_bytes(os.urandom(4 << 20))
        filler = fill(disk)
        out = cli(s, "deploy", big)
        assert out.returncode == 1, out.stdout + out.stderr
        assert list(account.glob("incoming-*")) == []
        filler.unlink()
        assert cli(s, "deploy", project(tmp_path / "small", "small", 1)).returncode == 0
        assert list(account.glob("incoming-*")) == []


# --- the data-directory lock ----------------------------------------------------------------

HOLDER = """
import fcntl, sys
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def lock_holder(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir / "serve.lock")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def serve_process(data_dir, cwd):
    return subprocess.Popen([str(BINARY), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir",
                             str(data_dir)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=cwd)


class Lines:
    """A process's stderr, read line by line on a thread."""

    def __init__(self, stream):
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(line) for line in stream], daemon=True).start()

    def text(self):
        return "".join(self.lines)


def test_a_held_lock_is_waited_for_and_its_holder_named(tmp_path):
    data = tmp_path / "data"
    with lock_holder(data) as holder:
        p = serve_process(data, tmp_path)
        err = Lines(p.stderr)
        try:
            wait_for(lambda: "waiting up to 5 s" in err.text(), timeout=5, message="the wait to be said")
            assert f"is locked by pid {holder.pid} (" in err.text(), err.text()
            holder.kill()  # let go, within the deadline
            holder.wait()
            wait_for(lambda: "sprocket listening on" in err.text(), timeout=10, message="the server to start")
        finally:
            p.kill()
            p.wait()


def test_a_lock_held_past_the_deadline_is_refused_naming_its_holder(tmp_path):
    data = tmp_path / "data"
    with lock_holder(data) as holder:
        started = time.monotonic()
        out = run("serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", data, cwd=tmp_path,
                  timeout=20)
        waited = time.monotonic() - started
    assert out.returncode == 2, out.stderr
    assert f"another sprocket server (pid {holder.pid} (" in out.stderr, out.stderr
    assert "stop it or pass another --data-dir" in out.stderr
    assert 4.5 < waited < 10


def test_a_restart_right_after_kill_9_is_not_refused(start_sprocket, tmp_path):
    s = start_sprocket([project(tmp_path / "p", "shop", 1)])
    for _ in range(3):
        assert s.get("/hs/serverless/hello").status_code == 200  # workers running, as in production
        s.process.kill()  # no wait: the next one starts at once
        s = start_sprocket([tmp_path / "p"], data_dir=s.data_dir)
    assert s.get("/hs/serverless/hello").status_code == 200


# --- the admin token ------------------------------------------------------------------------


def test_the_admin_token_stays_out_of_a_log_and_the_log_says_where_it_is(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)  # stderr is a pipe, as under a supervisor writing a log file
    token = (s.data_dir / "admin.token").read_text().strip()
    assert token.startswith("spk_")
    assert token not in s.log()
    assert f"a new admin token was created in {s.data_dir / 'admin.token'} (mode 0600" in s.log(), s.log()
    assert f"`cat {s.data_dir / 'admin.token'}`" in s.log()
    assert s.admin("GET", "/api/v1/functions").status_code == 200


def test_the_admin_token_is_shown_once_on_a_terminal(tmp_path):
    primary, secondary = pty.openpty()
    data = tmp_path / "data"
    p = subprocess.Popen([str(BINARY), "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir",
                          str(data)], stderr=secondary, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=tmp_path)
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"sprocket listening on" not in seen:
            assert time.monotonic() < deadline and p.poll() is None, seen.decode(errors="replace")
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                seen += os.read(primary, 65536)
    finally:
        p.kill()
        p.wait()
        os.close(primary)
    token = (data / "admin.token").read_text().strip()
    assert token in seen.decode(), seen.decode()
