"""Worker runtime behaviour: calling conventions, failures that are answered and never hung,
isolation, pools, logs attributed to the right request."""
import concurrent.futures
import os
import re
import shutil
import signal

import pytest

from conftest import FIXTURES, SHARES_FILES_WITH_THE_TEST, wait_for


@pytest.fixture
def edge(start_sprocket, tmp_path):
    folder = tmp_path / "edge.functions"
    shutil.copytree(FIXTURES / "edge.functions", folder)
    return start_sprocket([folder], "--time-limit-ms", "1500", "--max-instances", "4")


@pytest.fixture
def edge_unsandboxed(start_sprocket, tmp_path):
    # The test reads a host pid the function writes, and signals it.
    folder = tmp_path / "edge.functions"
    shutil.copytree(FIXTURES / "edge.functions", folder)
    return start_sprocket([folder], "--time-limit-ms", "1500", "--max-instances", "4", *SHARES_FILES_WITH_THE_TEST)


def test_callback_after_main_returned(edge):
    r = edge.get("/_hcms/api/later")
    assert r.status_code == 201
    assert r.text == "later"


def test_double_send_response_first_wins_and_warns(edge):
    r = edge.get("/_hcms/api/twice")
    assert r.status_code == 403
    assert r.json() == {"first": True}
    edge.wait_for_log(r"WARN   sendResponse was called after the function had already answered")
    assert edge.get("/_hcms/api/twice").status_code == 403  # the instance is still fine


def test_value_without_status_code_is_the_body(edge):
    r = edge.get("/_hcms/api/plain-value")
    assert r.status_code == 200
    assert r.json() == {"results": [1, 2, 3], "body": "not a response field here"}


def test_sync_throw_is_500_and_logs_kept(edge):
    r = edge.get("/_hcms/api/throw-sync")
    assert r.status_code == 500
    assert r.json()["category"] == "FUNCTION_ERROR"
    edge.wait_for_log(r"INFO   before the throw")
    edge.wait_for_log(r"ERROR  TypeError: sync boom")


def test_error_thrown_from_a_timer_fails_only_that_request(edge):
    before = edge.get("/_hcms/api/throw-later?ok=1").json()["instance"]
    r = edge.get("/_hcms/api/throw-later")
    assert r.status_code == 500
    edge.wait_for_log(r"ERROR  Error: boom from a timer")
    # The same instance goes on serving: only the request whose code threw failed.
    after = edge.get("/_hcms/api/throw-later?ok=1")
    assert after.status_code == 200
    assert after.json()["instance"] == before


def test_function_500_keeps_its_body(edge):
    r = edge.post("/_hcms/api/status?code=500", json={"x": 1})
    assert r.status_code == 500
    assert r.json() == {"error": "kept", "received": {"x": 1}}
    edge.wait_for_log(r"- ERROR - POST /_hcms/api/status - Execution Time")


def test_time_limit_kills_the_worker_and_answers_504(edge):
    r = edge.get("/_hcms/api/sleep?ms=10000")
    assert r.status_code == 504
    assert r.json()["message"] == "Task timed out after 1.50 seconds"
    edge.wait_for_log(r"ERROR  Task timed out after 1\.50 seconds")
    # what the function logged before it was stopped is kept, in its own record
    record = next(lines for header, lines in edge.executions() if "- ERROR - GET /_hcms/api/sleep" in header)
    assert "INFO   sleeping 10000 ms" in record[0]
    assert "Task timed out after 1.50 seconds" in record[-1]
    # a fresh instance serves the next request
    assert edge.get("/_hcms/api/sleep?ms=1").status_code == 200


def test_worker_killed_mid_request_fails_only_that_request(edge_unsandboxed, tmp_path):
    edge = edge_unsandboxed
    pidfile = tmp_path / "worker.pid"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(edge.get, f"/_hcms/api/sleep?ms=5000&pidfile={pidfile}")
        pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text(), message="the worker's pid file"))
        # Another request of the same function, running on another instance while this one dies.
        other = pool.submit(edge.get, "/_hcms/api/sleep?ms=300")
        os.kill(pid, signal.SIGKILL)
        r = slow.result()
        assert other.result().status_code == 200
    assert r.status_code == 502
    assert r.json()["category"] == "WORKER_CRASHED"
    assert "signal 9" in r.json()["message"]
    assert edge.get("/_hcms/api/sleep?ms=1").status_code == 200


def test_function_that_exits_gets_502_and_is_replaced(edge):
    first = edge.get("/_hcms/api/crash?stay=1").json()["instance"]
    r = edge.get("/_hcms/api/crash")  # the idle instance takes it, and dies
    assert r.status_code == 502
    assert "exited with code 3" in r.json()["message"]
    edge.wait_for_log(r"INFO   crashing now")
    # The function is served again, by a new instance.
    replaced = edge.get("/_hcms/api/crash?stay=1")
    assert replaced.status_code == 200
    assert replaced.json()["instance"] != first


def test_syntax_error_and_missing_main_are_500_with_the_reason_logged(edge):
    r = edge.get("/_hcms/api/broken")
    assert r.status_code == 500
    assert r.json()["category"] == "FUNCTION_LOAD_ERROR"
    edge.wait_for_log(r"The function could not be loaded: .*broken\.js")
    r = edge.get("/_hcms/api/nomain")
    assert r.status_code == 500
    edge.wait_for_log(r'nomain\.js does not export a "main" function')


def test_unserialisable_response_is_a_clear_500(edge):
    r = edge.get("/_hcms/api/circular")
    assert r.status_code == 500
    edge.wait_for_log(r"could not be converted to JSON")


def test_binary_and_base64_bodies(edge):
    r = edge.get("/_hcms/api/binary")
    assert r.content == bytes([0, 1, 2, 255])
    assert r.headers["Content-Type"] == "application/octet-stream"
    r = edge.get("/_hcms/api/binary?b64=1")
    assert r.text == "base64 text"
    assert r.headers["Content-Type"] == "text/plain"


def test_each_function_sees_only_its_environment_and_secrets(edge):
    own = edge.get("/_hcms/api/env").json()
    assert own["SHARED_SETTING"] == "top"
    assert own["OVERRIDDEN"] == "endpoint"
    assert own["EDGE_SECRET"] == "edge-secret-value"
    assert own["ENDPOINT_SECRET"] == "endpoint-secret-value"
    assert own["NOT_DECLARED"] is None
    assert own["contextSecrets"] == {"EDGE_SECRET": "edge-secret-value", "ENDPOINT_SECRET": "endpoint-secret-value"}
    other = edge.get("/_hcms/api/env-other").json()
    assert other["OVERRIDDEN"] == "top"
    assert other["ENDPOINT_SECRET"] is None
    assert other["NOT_DECLARED"] is None


def test_secrets_are_not_in_worker_argv(edge):
    edge.get("/_hcms/api/env")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        assert b"edge-secret-value" not in cmdline


def test_headers_lookup_is_case_insensitive(edge):
    r = edge.get("/_hcms/api/headers", headers={"X-Custom-Header": "v", "User-Agent": "agent/1"})
    body = r.json()
    assert body["userAgent"] == "agent/1"
    assert body["custom"] == body["customMixed"] == "v"
    assert body["trueClientIp"] == "127.0.0.1"
    assert all(k == k.lower() for k in body["keys"])


def test_package_json_dependencies_are_installed(edge):
    r = edge.get("/_hcms/api/localdep")
    assert r.status_code == 200
    assert r.json() == {"text": "greetings, sprocket"}


def test_large_bodies_cross_the_worker_channel_intact(edge):
    # Frames much larger than the worker's 64 KB read buffer, several in flight per instance
    # (pipelined), both ways: each answer is exactly the body its own request sent.
    def mirror(i):
        body = {"request": i, "items": [f"{i}-{n:07d}" for n in range(20_000 + 15_000 * i)]}
        r = edge.post("/_hcms/api/mirror", json=body)
        return body, r

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        results = list(pool.map(mirror, range(12)))
    for sent, r in results:
        assert r.status_code == 200, r.text[:200]
        assert r.json() == sent


def test_concurrent_requests_get_their_own_logs(edge):
    tags = [f"t{i}" for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(len(tags)) as pool:
        results = list(pool.map(lambda t: edge.get(f"/_hcms/api/logs?tag={t}&ms={20 * (int(t[1:]) % 3)}"), tags))
    assert all(r.status_code == 200 for r in results)
    wait_for(lambda: len([h for h, _ in edge.executions() if "/_hcms/api/logs" in h]) == len(tags),
             message="all execution records")
    seen = set()
    for header, lines in edge.executions():
        if "/_hcms/api/logs" not in header:
            continue
        found = {m for line in lines for m in re.findall(r"\b(t\d)\b", line)}
        assert len(found) == 1, (header, lines)
        tag = found.pop()
        seen.add(tag)
        levels = [re.match(r"^\S+Z {4}(\w+)", line).group(1) for line in lines]
        assert levels == ["INFO", "INFO", "WARN", "ERROR", "DEBUG"], lines
    assert seen == set(tags)


def test_pool_grows_under_load_and_shrinks_when_idle(start_sprocket, tmp_path):
    folder = tmp_path / "edge.functions"
    shutil.copytree(FIXTURES / "edge.functions", folder)
    s = start_sprocket([folder], "--max-instances", "3", "--idle-timeout", "0.5")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: s.get("/_hcms/api/sleep?ms=300").json()["instance"], range(6)))
    assert 2 <= len(set(results)) <= 3
    # once idle past the timeout, the instances go: the next request starts a new one
    first_pids = set(results)
    def replaced():
        r = s.get("/_hcms/api/pid").json()
        return r["instance"] not in first_pids and r
    wait_for(lambda: all(not os.path.exists(f"/proc/{p}") for p in first_pids), timeout=10,
             message="idle workers to stop")
    assert wait_for(replaced, timeout=5, message="a fresh instance")["calls"] == 1


def test_cold_starts_use_pre_started_spares(start_sprocket):
    s = start_sprocket([FIXTURES / "spares.functions"])
    # a function that uses axios or lodash gets the spare that already loaded them...
    # (the spare starts with the server: within a few cold starts, one must have found it ready)
    libs = []
    for i in range(8):
        libs.append(s.get(f"/_hcms/api/libs{i}").json())
        if libs[-1]["preloaded"]:
            break
    assert all(r["sum"] == 3 for r in libs)
    assert libs[-1]["preloaded"], libs
    # ...and one that does not gets a plain spare, which stays small
    plain = [s.get(f"/_hcms/api/plain{i}").json() for i in range(4)]
    assert not any(r["preloaded"] for r in plain)
    assert len({r["instance"] for r in plain}) == 4


def test_processes_a_function_detaches_go_with_its_instance(edge_unsandboxed, tmp_path):
    edge = edge_unsandboxed
    if "enforced by polling" in edge.log():
        pytest.skip("no memory cgroup on this machine: a detached process escapes the process group")
    pidfile = tmp_path / "child.pid"
    r = edge.get(f"/_hcms/api/escape?pidfile={pidfile}")
    assert r.status_code == 504
    pid = int(pidfile.read_text())
    # killed through the instance's memory cgroup (or its process group without cgroups)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
             timeout=10, message="the detached child to be killed")
