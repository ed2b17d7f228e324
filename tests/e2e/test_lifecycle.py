"""Starting, validating, draining and stopping the server."""
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import time

from conftest import BINARY, EXAMPLES, FIXTURES, SHARES_FILES_WITH_THE_TEST, wait_for


def run_serve(tmp_path, *paths):
    return subprocess.run([str(BINARY), "serve", *map(str, paths), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=60)


def write_folder(root, serverless_json, files=("a.js",)):
    folder = root / "bad.functions"
    folder.mkdir(parents=True)
    (folder / "serverless.json").write_text(serverless_json)
    for f in files:
        (folder / f).write_text("exports.main = async () => ({statusCode: 200});")
    return folder


def test_invalid_json_names_file_line_and_column(tmp_path):
    folder = write_folder(tmp_path, '{\n  "endpoints": {\n    "a": {"file": "a.js",}\n  }\n}')
    r = run_serve(tmp_path, folder)
    assert r.returncode != 0
    assert f"{folder}/serverless.json:3:" in r.stderr
    assert "invalid JSON" in r.stderr
    assert "fix:" in r.stderr


def test_unknown_method_names_the_field_and_fix(tmp_path):
    folder = write_folder(tmp_path, '{"endpoints": {"a": {"method": "get", "file": "a.js"}}}')
    r = run_serve(tmp_path, folder)
    assert r.returncode != 0
    assert "serverless.json:1:32: error: endpoints.a.method: unknown method \"get\"" in r.stderr
    assert 'write "GET"' in r.stderr


def test_missing_file_and_absent_file(tmp_path):
    folder = write_folder(tmp_path, '{"endpoints": {"a": {"method": "GET"}, "b": {"file": "nope.js"}}}')
    r = run_serve(tmp_path, folder)
    assert r.returncode != 0
    assert "endpoints.a.file: is missing" in r.stderr
    assert 'file "nope.js" not found' in r.stderr


def test_secret_named_like_environment_variable(tmp_path):
    folder = write_folder(tmp_path, '{"environment": {"KEY": "v"}, "secrets": ["KEY"], "endpoints": {"a": {"file": "a.js"}}}')
    r = run_serve(tmp_path, folder)
    assert r.returncode != 0
    assert "same name as an environment variable" in r.stderr


def test_two_functions_on_one_path(tmp_path):
    a = tmp_path / "one"
    b = tmp_path / "two"
    write_folder(a, '{"endpoints": {"x": {"file": "a.js"}}}')
    write_folder(b, '{"endpoints": {"x": {"file": "a.js"}}}')
    r = run_serve(tmp_path, a, b)
    assert r.returncode != 0
    assert "path /_hcms/api/x is already served" in r.stderr


def test_nonexistent_path(tmp_path):
    r = run_serve(tmp_path, tmp_path / "missing")
    assert r.returncode != 0
    assert "does not exist" in r.stderr


def test_sigterm_drains_in_flight_requests_and_exits_zero(start_sprocket, tmp_path):
    folder = tmp_path / "edge.functions"
    shutil.copytree(FIXTURES / "edge.functions", folder)
    s = start_sprocket([folder], *SHARES_FILES_WITH_THE_TEST)
    assert s.get("/_hcms/api/pid").status_code == 200
    pidfile = tmp_path / "pid"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(s.get, f"/_hcms/api/sleep?ms=700&pidfile={pidfile}")
        wait_for(lambda: pidfile.exists() and pidfile.read_text(), message="the request to start")
        s.process.send_signal(signal.SIGTERM)
        r = slow.result()
    assert r.status_code == 200
    assert r.json()["slept"] == 700
    assert s.process.wait(timeout=20) == 0
    # the port is closed once it has exited
    with socket.socket() as sock:
        host, port = s.url.removeprefix("http://").rsplit(":", 1)
        assert sock.connect_ex((host, int(port))) != 0


def test_payload_over_6mb_is_413_without_reading_it(examples):
    with socket.create_connection(examples.url.removeprefix("http://").rsplit(":", 1)) as sock:
        sock.sendall(b"POST /_hcms/api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 7000000\r\n\r\n{")
        sock.settimeout(10)
        response = sock.recv(65536).decode()
    assert response.startswith("HTTP/1.1 413")
    assert "PAYLOAD_TOO_LARGE" in response


def test_malformed_http_gets_400(examples):
    with socket.create_connection(examples.url.removeprefix("http://").rsplit(":", 1)) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        sock.settimeout(10)
        response = sock.recv(65536).decode()
    assert response.startswith("HTTP/1.1 400")
    assert '"status":"error"' in response
    # and the server is still serving
    assert examples.get("/_hcms/api/hello").status_code == 200


def test_account_id_option(start_sprocket):
    s = start_sprocket([EXAMPLES], "--account-id", "777")
    assert s.get("/_hcms/api/echo").json()["accountId"] == 777


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_polling_after_requests_stops_when_the_traffic_does(start_sprocket):
    # The event loop polls for a moment after each request at low concurrency (--poll-us);
    # an idle server must go back to sleeping in the kernel, and --poll-us 0 must still serve.
    for args in ([], ["--poll-us", "0"]):
        s = start_sprocket([EXAMPLES], *args)
        for _ in range(50):
            assert s.get("/_hcms/api/hello").status_code == 200
        before = _cpu_seconds(s.process.pid)
        time.sleep(1.0)  # a measuring interval, not a wait for anything
        used = _cpu_seconds(s.process.pid) - before
        assert used < 0.2, f"an idle server used {used:.2f} s of CPU in 1 s with {args or 'the defaults'}"
        s.stop()


def test_idle_and_slow_connections_are_closed_after_the_keep_alive_timeout(start_sprocket):
    s = start_sprocket([EXAMPLES / "website.functions"], "--keep-alive-timeout", "1")
    host, port = s.url.removeprefix("http://").split(":")
    request = b"GET /_hcms/api/hello HTTP/1.1\r\nHost: x\r\n\r\n"

    def closed_by_server(conn, within):
        # recv returns b"" once the server has closed; anything else is a failure.
        conn.settimeout(within)
        data = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk

    with socket.create_connection((host, int(port))) as slow, socket.create_connection((host, int(port))) as idle, \
            socket.create_connection((host, int(port))) as busy:
        slow.sendall(request[:20])  # a request that never finishes
        idle.sendall(request)
        # A connection that keeps asking stays open past the timeout: each request starts it anew.
        for _ in range(5):
            busy.sendall(request)
            busy.settimeout(5)
            assert busy.recv(65536).startswith(b"HTTP/1.1 200 OK")
            time.sleep(0.4)  # paces the client; not waiting for the server
        assert closed_by_server(slow, within=5) == b""
        assert closed_by_server(idle, within=5).startswith(b"HTTP/1.1 200 OK")
        busy.sendall(request)
        assert busy.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert s.get("/_hcms/api/hello").status_code == 200
