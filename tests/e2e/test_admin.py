"""Secrets, persistent logs, the admin API and the CLI around them."""
import json
import os
import signal
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import BINARY, FIXTURES, Sprocket, wait_for

SECRETS = FIXTURES / "secrets.functions"
VALUE = "sk-live-7f3a9c1e5b"
NEW_VALUE = "sk-live-rotated-4d2e8b"


def cli(*args, stdin=None, env=None):
    return subprocess.run([str(BINARY), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def server(start_sprocket):
    return start_sprocket([SECRETS])


def test_cli_secret_reaches_only_the_functions_that_list_it(server):
    assert server.get("/_hcms/api/reader").json() == {"env": None, "secrets": {}}  # warm, no secret yet
    r = cli("secrets", "add", "API_KEY", "--data-dir", server.data_dir, stdin=VALUE + "\n")
    assert r.returncode == 0, r.stderr
    assert VALUE not in r.stdout + r.stderr
    seen = wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5,
                    message="the warm worker to see the new secret")
    assert seen
    assert server.get("/_hcms/api/reader").json()["secrets"] == {"API_KEY": VALUE}
    assert server.get("/_hcms/api/other").json() == {"env": None, "secrets": {}}
    # an update reaches the same warm worker, without a redeploy
    pid_before = server.get("/_hcms/api/reader").json()
    r = cli("secrets", "update", "API_KEY", "--data-dir", server.data_dir, stdin=NEW_VALUE)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == NEW_VALUE, timeout=5, message="the updated value")
    # add refuses to overwrite; list shows names only
    assert cli("secrets", "add", "API_KEY", "--data-dir", server.data_dir, stdin="x").returncode != 0
    listed = cli("secrets", "list", "--data-dir", server.data_dir)
    assert listed.stdout.startswith("API_KEY\t")
    assert NEW_VALUE not in listed.stdout
    # delete: the variable disappears from the warm worker too
    assert cli("secrets", "delete", "API_KEY", "--data-dir", server.data_dir).returncode == 0
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] is None, timeout=5, message="the secret to go")


def test_secret_values_are_redacted_and_never_stored_in_plain_text(server):
    assert cli("secrets", "add", "API_KEY", "--data-dir", server.data_dir, stdin=VALUE).returncode == 0
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5, message="the secret")
    r = server.get("/_hcms/api/leaky")
    assert r.status_code == 500
    assert VALUE not in r.text
    server.wait_for_log(r"INFO   calling the API with key \[REDACTED:API_KEY\]")
    server.wait_for_log(r"ERROR  Error: request failed for key=\[REDACTED:API_KEY\]")
    request_id = r.headers["X-Request-Id"]
    stored = wait_for(lambda: cli("logs", "--request-id", request_id, "--data-dir", server.data_dir).stdout, timeout=5,
                      message="the stored record")
    assert "[REDACTED:API_KEY]" in stored
    assert server.stop() == 0
    assert VALUE not in server.log()
    for root, _, files in os.walk(server.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert VALUE.encode() not in f.read(), f"{name} holds the secret in plain text"
    assert oct((server.data_dir / "secret.key").stat().st_mode & 0o777) == "0o600"
    assert oct((server.data_dir / "admin.token").stat().st_mode & 0o777) == "0o600"


def test_logs_by_request_id_survive_a_restart(server, tmp_path):
    r = server.get("/_hcms/api/hello?who=persistence")
    request_id = r.headers["X-Request-Id"]
    assert server.stop() == 0
    again = Sprocket([SECRETS], data_dir=server.data_dir)
    try:
        out = cli("logs", "--request-id", request_id, "--data-dir", server.data_dir)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert " - SUCCESS - GET /_hcms/api/hello - Execution Time: " in lines[0]
        assert lines[1].endswith("INFO   hello persistence")
        as_json = json.loads(cli("logs", "--request-id", request_id, "--json", "--data-dir", server.data_dir).stdout)
        assert as_json["requestId"] == request_id
        assert as_json["httpStatus"] == 200
        assert as_json["lines"][0]["message"] == "hello persistence"
        # the same through the admin API
        token = (server.data_dir / "admin.token").read_text().strip()
        remote = cli("logs", "hello", "--latest", "--server", again.admin_url, env={"SPROCKET_TOKEN": token})
        assert remote.returncode == 0, remote.stderr
        assert "INFO   hello persistence" in remote.stdout
    finally:
        again.stop(signal.SIGKILL)


def test_a_request_is_in_the_logs_as_soon_as_it_is_answered(server):
    # Records are printed and stored off the request path; a logs query made right after the
    # response must still find it (no waiting here, on purpose).
    token = (server.data_dir / "admin.token").read_text().strip()
    for attempt in range(20):
        request_id = server.get(f"/_hcms/api/hello?who=at-once-{attempt}").headers["X-Request-Id"]
        r = server.admin("GET", f"/api/v1/logs?requestId={request_id}", token=token)
        assert r.status_code == 200, r.text
        found = r.json()["executions"]
        assert [e["requestId"] for e in found] == [request_id], (attempt, found)


def test_logs_past_the_retention_are_pruned(start_sprocket):
    s = start_sprocket([SECRETS], "--log-retention", "1s")
    request_id = s.get("/_hcms/api/hello").headers["X-Request-Id"]
    found = lambda: cli("logs", "--request-id", request_id, "--data-dir", s.data_dir).stdout  # noqa: E731
    wait_for(found, timeout=5, message="the record to be stored")
    wait_for(lambda: not found(), timeout=10, message="the record to be pruned")


def test_admin_api_requires_the_token(server):
    for path in ["/api/v1/secrets", "/api/v1/logs", "/api/v1/functions", "/metrics"]:
        assert server.admin("GET", path, token="").status_code == 401
        assert server.admin("GET", path, token="spk_wrong").status_code == 401
        assert server.admin("GET", path).status_code == 200
    assert server.admin("GET", "/healthz", token="").json() == {"status": "ok"}
    assert server.admin("GET", "/readyz", token="").status_code == 200


def test_admin_api_secrets_never_return_values(server):
    r = server.admin("PUT", "/api/v1/secrets/API_KEY", json={"value": VALUE})
    assert r.status_code == 201
    assert VALUE not in r.text
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5, message="the secret")
    listed = server.admin("GET", "/api/v1/secrets")
    assert [s["name"] for s in listed.json()["secrets"]] == ["API_KEY"]
    assert VALUE not in listed.text
    assert server.admin("PUT", "/api/v1/secrets/bad-name", json={"value": "x"}).status_code == 400
    assert server.admin("DELETE", "/api/v1/secrets/API_KEY").status_code == 204
    assert server.admin("DELETE", "/api/v1/secrets/API_KEY").status_code == 404
    functions = server.admin("GET", "/api/v1/functions").json()["functions"]
    assert {f["route"] for f in functions} >= {"/_hcms/api/reader", "/_hcms/api/hello"}


def test_remote_cli_secrets(server):
    token = (server.data_dir / "admin.token").read_text().strip()
    env = {"SPROCKET_TOKEN": token}
    r = cli("secrets", "add", "API_KEY", "--server", server.admin_url, stdin=VALUE, env=env)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5, message="the secret")
    assert cli("secrets", "list", "--server", server.admin_url, env=env).stdout.startswith("API_KEY\t")
    assert cli("secrets", "list", "--server", server.admin_url, env={"SPROCKET_TOKEN": "nope"}).returncode != 0


def metric(families, name, **labels):
    for family in families:
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_metrics_parse_and_move_with_traffic(server):
    before = list(text_string_to_metric_families(server.admin("GET", "/metrics").text))
    for _ in range(3):
        assert server.get("/_hcms/api/hello").status_code == 200
    server.get("/_hcms/api/leaky")
    after = list(text_string_to_metric_families(server.admin("GET", "/metrics").text))
    fn = "123456/hello"
    assert metric(after, "sprocket_invocations_total", function=fn, status="200") == \
        metric(before, "sprocket_invocations_total", function=fn, status="200") + 3
    assert metric(after, "sprocket_invocations_total", function="123456/leaky", status="500") == 1
    assert metric(after, "sprocket_execution_duration_seconds_count", function=fn) >= 3
    assert metric(after, "sprocket_cold_starts_total", function=fn) == 1
    assert metric(after, "sprocket_instances") >= 1


def test_follow_streams_new_executions(server):
    token = (server.data_dir / "admin.token").read_text().strip()
    follower = subprocess.Popen([str(BINARY), "logs", "--follow", "--server", server.admin_url], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "SPROCKET_TOKEN": token})
    try:
        lines = []
        import threading
        threading.Thread(target=lambda: [lines.append(l) for l in follower.stdout], daemon=True).start()
        request_id = server.get("/_hcms/api/hello?who=follower").headers["X-Request-Id"]
        wait_for(lambda: any("hello follower" in l for l in lines), timeout=10, message="the followed execution")
        # and through the local data directory, as `hs logs --follow` users expect
        local = subprocess.Popen([str(BINARY), "logs", "--follow", "--json", "--data-dir", str(server.data_dir)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            local_lines = []
            threading.Thread(target=lambda: [local_lines.append(l) for l in local.stdout], daemon=True).start()
            wait_for(lambda: any(request_id in l for l in local_lines), timeout=10, message="the local follow")
        finally:
            local.kill()
    finally:
        follower.kill()


def test_admin_api_errors_carry_a_request_id_like_every_response(server):
    for r in (server.admin("GET", "/api/v1/secrets/%2e%2e"), server.admin("GET", "/api/v1/secrets", token="wrong"),
              server.admin("GET", "/metrics", token="")):
        assert r.status_code >= 400, r.text
        body = r.json()
        assert body["status"] == "error" and body["requestId"], body
        assert r.headers["X-Request-Id"] == body["requestId"], (r.headers, body)
