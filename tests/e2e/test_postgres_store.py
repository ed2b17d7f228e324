"""One node on a PostgreSQL store (--store postgresql://…), against a real PostgreSQL server the
tests start (tests/support/postgres_server.py): what SQLite keeps, PostgreSQL keeps too —
secrets reach the functions, execution logs are found by request id, deploys and queued
actions survive a restart."""
import signal

from conftest import FIXTURES, wait_for
from test_action_queue import enqueue, node, wait_final, write_actions
from test_admin import cli
from test_deploy import cli as remote_cli
from test_deploy import project

SECRETS = FIXTURES / "secrets.functions"
VALUE = "sk-postgres-store-5d1c"


def test_secrets_and_logs_live_in_postgresql(start_sprocket, postgres_store):
    server = start_sprocket([SECRETS], "--store", postgres_store)
    # The CLI writes straight into the database, as it does into SQLite; the node notices.
    r = cli("secrets", "add", "API_KEY", "--data-dir", server.data_dir, "--store", postgres_store, stdin=VALUE)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5, message="the secret, from PostgreSQL")
    listed = cli("secrets", "list", "--data-dir", server.data_dir, "--store", postgres_store)
    assert "API_KEY" in listed.stdout and VALUE not in listed.stdout + listed.stderr
    request_id = server.get("/_hcms/api/reader").headers["X-Request-Id"]
    found = wait_for(lambda: cli("logs", "--request-id", request_id, "--data-dir", server.data_dir,
                                 env={"SPROCKET_STORE": postgres_store}).stdout, timeout=5, message="the stored record")
    assert "SUCCESS - GET /_hcms/api/reader" in found
    assert VALUE not in found
    assert not (server.data_dir / "sprocket.db").exists()  # nothing was kept in SQLite

    # The value is sealed with the node's key: a restart on the same database reads it back.
    server.stop()
    again = start_sprocket([SECRETS], "--store", postgres_store, data_dir=server.data_dir)
    assert again.get("/_hcms/api/reader").json()["env"] == VALUE
    r = cli("secrets", "delete", "API_KEY", "--data-dir", server.data_dir, "--store", postgres_store)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: again.get("/_hcms/api/reader").json()["env"] in (None, ""), timeout=5, message="the secret to go")


def test_deploys_versions_and_rollback_survive_a_restart(start_sprocket, tmp_path, postgres_store):
    empty = tmp_path / "empty"  # serve with no folders: only what is deployed
    empty.mkdir()
    s = start_sprocket([], "--store", postgres_store, cwd=empty)
    assert remote_cli(s, "deploy", project(tmp_path / "v1", "shop", 1)).returncode == 0
    assert remote_cli(s, "deploy", project(tmp_path / "v2", "shop", 2)).returncode == 0
    assert s.get("/hs/serverless/hello").json()["version"] == 2
    assert remote_cli(s, "rollback", "1").returncode == 0
    assert s.get("/hs/serverless/hello").json()["version"] == 1
    s.stop(signal.SIGKILL)
    # Another node's data directory: nothing but PostgreSQL holds what was deployed.
    again = start_sprocket([], "--store", postgres_store, cwd=empty, data_dir=tmp_path / "another-node")
    assert again.get("/hs/serverless/hello").json()["version"] == 1
    listed = remote_cli(again, "versions").stdout.splitlines()
    assert listed[0].startswith("2\t\t") and listed[1].startswith("1\tactive\t"), listed


def test_queued_actions_run_and_a_killed_node_runs_them_again(start_sprocket, tmp_path, postgres_store):
    root = write_actions(tmp_path / "acts", {"wait": node("wait.js", {"done": {"type": "string"}})}, {
        "wait.js": "exports.main = async (event, callback) => { await new Promise(r => setTimeout(r, event.inputFields.ms));"
                   " callback({outputFields: {done: 'yes'}}); };\n"})
    # Short leases: a node started after a kill -9 takes back what the dead one ran once its
    # lease ran out (it cannot tell a dead node from a live one on another machine).
    s = start_sprocket([root], "--store", postgres_store, "--action-lease-seconds", "2")
    quick = wait_final(s, enqueue(s, "wait", {"inputFields": {"ms": 1}})["id"])
    assert quick["state"] == "succeeded", quick
    slow = enqueue(s, "wait", {"inputFields": {"ms": 60000}})
    wait_for(lambda: s.admin("GET", f"/api/v1/actions/executions/{slow['id']}").json()["state"] == "running",
             timeout=10, message="the slow execution to start")
    s.stop(signal.SIGKILL)
    again = start_sprocket([root], "--store", postgres_store, "--action-lease-seconds", "2", data_dir=s.data_dir)
    e = again.admin("GET", f"/api/v1/actions/executions/{slow['id']}").json()
    assert e["state"] in ("queued", "running"), e
    attempts = wait_for(lambda: (lambda a: a if len(a) >= 2 else None)(
        again.admin("GET", f"/api/v1/actions/executions/{slow['id']}").json().get("attempts", [])),
        timeout=10, message="a second attempt after the restart")
    assert attempts[0]["outcome"] == "INTERRUPTED", attempts
