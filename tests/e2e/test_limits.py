"""HubSpot's limits, biting at small configured values: memory, payload, the account's execution
budget, endpoint and secret counts, log size, and the per-function queue."""
import concurrent.futures
import json
import re
import subprocess

import pytest
import requests

from conftest import BINARY, FIXTURES, SHARES_FILES_WITH_THE_TEST, wait_for

LIMITS = FIXTURES / "limits.functions"
OTHER = FIXTURES / "other-tenant.functions"


def write_config(tmp_path, config):
    path = tmp_path / "sprocket.json"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("enforcement", ["cgroup", "rss"])
def test_memory_limit_kills_the_instance_and_spares_the_neighbour(start_sprocket, tmp_path, enforcement):
    config = write_config(tmp_path, {"limits": {"memoryMb": 100}})
    s = start_sprocket([LIMITS], "--config", config, "--memory-enforcement", enforcement)
    assert s.get("/_hcms/api/neighbour").status_code == 200
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        hog = pool.submit(s.get, "/_hcms/api/buffer-hog")
        # the neighbour keeps answering while the hog grows and dies
        while not hog.done():
            assert s.get("/_hcms/api/neighbour").status_code == 200
        r = hog.result()
    assert r.status_code == 502
    assert r.json()["category"] == "MEMORY_LIMIT_EXCEEDED"
    assert r.json()["message"].startswith("Memory limit of 100 MB exceeded")
    s.wait_for_log(r"ERROR  Memory limit of 100 MB exceeded")
    # the instance was replaced
    assert s.get("/_hcms/api/buffer-hog").status_code == 502
    assert s.get("/_hcms/api/neighbour").status_code == 200


def test_heap_growth_ends_with_memory_limit_exceeded(start_sprocket, tmp_path):
    config = write_config(tmp_path, {"limits": {"memoryMb": 100}})
    s = start_sprocket([LIMITS], "--config", config)
    r = s.get("/_hcms/api/heap-hog")
    assert r.status_code == 502
    assert r.json()["category"] == "MEMORY_LIMIT_EXCEEDED"
    s.wait_for_log(r"ERROR  Memory limit of 100 MB exceeded")
    assert s.get("/_hcms/api/neighbour").status_code == 200


def test_seven_megabyte_body_is_413(examples):
    r = examples.post("/_hcms/api/echo", data=b"x" * (7 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["category"] == "PAYLOAD_TOO_LARGE"
    assert examples.get("/_hcms/api/hello").status_code == 200


def test_response_over_6mb_is_502_with_a_log_line(start_sprocket):
    s = start_sprocket([LIMITS])
    r = s.get("/_hcms/api/huge")
    assert r.status_code == 502
    assert r.json()["category"] == "RESPONSE_TOO_LARGE"
    s.wait_for_log(r"ERROR  The function's response body is 7340032 bytes; the limit is 6291456 bytes")


def test_execution_budget_429_for_one_tenant_while_another_is_served(start_sprocket, tmp_path):
    config = write_config(tmp_path, {
        "accounts": [
            {"id": 111, "domains": ["tenant-a.test"], "limits": {"executionSecondsPerMinute": 1}},
            {"id": 222, "domains": ["tenant-b.test"], "paths": [str(OTHER)]},
        ]})
    s = start_sprocket([LIMITS], "--config", config, "--account-id", "111")
    a = {"Host": "tenant-a.test"}
    remaining = []
    for _ in range(10):
        r = s.get("/_hcms/api/spend?ms=300", headers=a)
        if r.status_code == 429:
            break
        assert r.status_code == 200
        assert r.json()["accountId"] == 111
        remaining.append(r.json()["limits"]["timeRemaining"])
    else:
        pytest.fail("the budget of 1 execution-second per minute never ran out")
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["category"] == "RATE_LIMITED"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # context.limits showed the budget going down, call after call
    assert len(remaining) >= 3
    assert remaining == sorted(remaining, reverse=True) and remaining[0] > remaining[-1]
    assert remaining[0] <= 1000
    # the other tenant is served, with its own account id
    b = s.get("/_hcms/api/spend?ms=1", headers={"Host": "tenant-b.test:8080"})
    assert b.status_code == 200
    assert b.json()["accountId"] == 222
    assert b.json()["limits"]["timeRemaining"] > 599000


def test_executions_per_minute_limit(start_sprocket, tmp_path):
    config = write_config(tmp_path, {"limits": {"executionsPerMinute": 2}})
    s = start_sprocket([LIMITS], "--config", config)
    first = s.get("/_hcms/api/spend").json()["limits"]["executionsRemaining"]
    second = s.get("/_hcms/api/spend").json()["limits"]["executionsRemaining"]
    assert (first, second) == (2, 1)
    r = s.get("/_hcms/api/spend")
    assert r.status_code == 429
    assert "2 executions per minute" in r.json()["message"]


def make_endpoints(root, count, secrets=0):
    folder = root / "many.functions"
    folder.mkdir(parents=True)
    (folder / "f.js").write_text("exports.main = async () => ({statusCode: 200});")
    endpoints = {f"e{i}": {"file": "f.js", "secrets": [f"S{i}"] if i < secrets else []} for i in range(count)}
    (folder / "serverless.json").write_text(json.dumps({"endpoints": endpoints}))
    return folder


def run_serve(tmp_path, *args):
    return subprocess.run([str(BINARY), "serve", *map(str, args), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=60)


def test_101_endpoints_are_refused(tmp_path):
    r = run_serve(tmp_path, make_endpoints(tmp_path, 101))
    assert r.returncode == 2
    assert "would serve 101 endpoints; the limit is 100 endpoints per account" in r.stderr


def test_100_endpoints_are_fine_and_51_secrets_are_not(tmp_path):
    ok = make_endpoints(tmp_path / "ok", 100)
    config = write_config(tmp_path, {"limits": {"maxEndpoints": 100}})
    bad = make_endpoints(tmp_path / "bad", 60, secrets=51)
    r = run_serve(tmp_path, bad)
    assert r.returncode == 2
    assert "uses 51 distinct secrets; the limit is 50 secrets per account" in r.stderr
    # 100 endpoints start (checked by a served request in other tests); here: no count error
    r = subprocess.run([str(BINARY), "serve", str(ok), "--config", str(config), "--listen", "256.0.0.1:1"],
                       capture_output=True, text=True, timeout=60)
    assert "endpoints per account" not in r.stderr
    assert "--listen" in r.stderr or "cannot listen" in r.stderr


def test_logs_are_cut_at_4kb_with_a_marker(start_sprocket):
    s = start_sprocket([LIMITS])
    assert s.get("/_hcms/api/chatty").status_code == 200
    s.wait_for_log(r"Log output truncated: \d+ bytes dropped \(the limit is 4096 bytes per execution\)")
    header, lines = next((h, l) for h, l in s.executions() if "/_hcms/api/chatty" in h)
    kept = [l for l in lines if " INFO   line " in l]
    assert 35 <= len(kept) <= 41
    kept_bytes = sum(len(l.split("INFO   ", 1)[1]) for l in kept)
    assert kept_bytes <= 4096
    dropped = int(re.search(r"truncated: (\d+) bytes", s.log()).group(1))
    assert kept_bytes + dropped == 100 * len("line 000 " + "x" * 92)


def test_queue_full_is_429_and_queue_timeout_is_503(start_sprocket, tmp_path):
    # no pipelining: every waiting request is in the gateway's queue, under its timeout
    config = write_config(tmp_path, {"limits": {"maxInstancesPerFunction": 1, "maxQueuedPerFunction": 1, "queueTimeoutMs": 400,
                                                "pipelineDepth": 1}})
    s = start_sprocket([LIMITS], "--config", config, *SHARES_FILES_WITH_THE_TEST)
    assert s.get("/_hcms/api/busy").status_code == 200  # warm: one instance exists
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = tmp_path / "started"
        running = pool.submit(s.get, f"/_hcms/api/busy?ms=1500&started={started}")
        wait_for(started.exists, message="the first request to run")
        # one of these two waits in the queue (and times out), the other finds the queue full
        second = pool.submit(s.get, "/_hcms/api/busy?ms=1")
        third = pool.submit(s.get, "/_hcms/api/busy?ms=1")
        answers = sorted([second.result(), third.result()], key=lambda r: r.status_code)
        full, timed_out = answers
        assert full.status_code == 429
        assert full.json()["category"] == "TOO_MANY_REQUESTS"
        assert full.headers["Retry-After"] == "1"
        assert timed_out.status_code == 503
        assert timed_out.json()["category"] == "NO_INSTANCE_AVAILABLE"
        assert running.result().status_code == 200
    s.wait_for_log(r"REPORT RequestId: \S+ Duration: \d+\.\d+ ms Queue: \d+\.\d+ ms")


def test_invalid_config_file_names_the_setting(tmp_path):
    config = write_config(tmp_path, {"limits": {"memoryMB": 64}})
    r = run_serve(tmp_path, LIMITS, "--config", config)
    assert r.returncode == 2
    assert "limits.memoryMB: unknown setting" in r.stderr
    assert "memoryMb" in r.stderr
