"""`sprocket store migrate`: a node's SQLite data moves into an empty PostgreSQL database (the
tests' own server), and a node started on it serves what the SQLite node served: the active
version, the secrets, the tokens, the logs and the action executions."""
import json
import re

from conftest import wait_for
from test_action_queue import enqueue, node, wait_final, write_actions
from test_admin import cli
from test_deploy import cli as remote_cli
from test_deploy import project

VALUE = "sk-migrated-3e7f"


def test_a_sqlite_nodes_state_moves_into_postgresql_whole(start_sprocket, tmp_path, postgres_store):
    acts = write_actions(tmp_path / "acts", {"tag": node("tag.js", {"done": {"type": "string"}})}, {
        "tag.js": "exports.main = async (event, callback) => callback({outputFields: {done: 'yes'}});\n"})
    s = start_sprocket([acts], cwd=tmp_path)
    assert remote_cli(s, "deploy", project(tmp_path / "v1", "shop", 1)).returncode == 0
    assert remote_cli(s, "deploy", project(tmp_path / "v2", "shop", 2)).returncode == 0
    assert remote_cli(s, "rollback", "1").returncode == 0
    assert remote_cli(s, "secrets", "add", "API_KEY", stdin=VALUE).returncode == 0
    wait_for(lambda: s.get("/hs/serverless/hello").json()["key"] == VALUE, timeout=5, message="the secret")
    request_id = s.get("/hs/serverless/hello").headers["X-Request-Id"]
    done = wait_final(s, enqueue(s, "tag")["id"])
    assert done["state"] == "succeeded", done
    token = re.search(r"\S{20,}", cli("tokens", "create", "--account", "123456", "--data-dir", s.data_dir).stdout).group(0)

    # While the node serves, its data would change under the copy.
    busy = cli("store", "migrate", "--data-dir", s.data_dir, "--to", postgres_store)
    assert busy.returncode == 2, busy.stderr
    assert "stop that node first" in busy.stderr, busy.stderr
    wait_for(lambda: cli("logs", "--request-id", request_id, "--data-dir", s.data_dir).stdout, timeout=5,
             message="the request's record, stored")
    s.stop()

    moved = cli("store", "migrate", "--data-dir", s.data_dir, "--to", postgres_store, "--json")
    assert moved.returncode == 0, moved.stderr
    rows = json.loads(moved.stdout)["rows"]
    assert rows["secrets"] == 1 and rows["deployments"] == 2 and rows["active_sources"] == 1, rows
    assert rows["admin_tokens"] == 1 and rows["action_executions"] == 1 and rows["action_attempts"] == 1, rows
    assert rows["execution_pages"] >= 1, rows
    assert VALUE not in moved.stdout + moved.stderr

    again = start_sprocket([acts], "--store", postgres_store, cwd=tmp_path, data_dir=s.data_dir)
    hello = again.get("/hs/serverless/hello").json()
    assert hello["version"] == 1 and hello["key"] == VALUE, hello
    listed = remote_cli(again, "versions").stdout.splitlines()
    assert listed[0].startswith("2\t\t") and listed[1].startswith("1\tactive\t"), listed
    found = cli("logs", "--request-id", request_id, "--data-dir", s.data_dir, "--store", postgres_store)
    assert "SUCCESS - GET /hs/serverless/hello" in found.stdout, found.stdout + found.stderr
    assert again.admin("GET", f"/api/v1/actions/executions/{done['id']}").json()["state"] == "succeeded"
    assert again.admin("GET", "/api/v1/actions", token=token).status_code == 200  # the scoped token works
    # Numbers go on from the copied ones: the next deploy is version 3, the next execution new.
    assert remote_cli(again, "deploy", project(tmp_path / "v3", "shop", 3)).returncode == 0
    assert again.get("/hs/serverless/hello").json()["version"] == 3
    assert enqueue(again, "tag")["id"] > done["id"]

    # A second copy into a database that holds data is refused, and changes nothing.
    twice = cli("store", "migrate", "--data-dir", tmp_path / "elsewhere", "--from", f"sqlite:{s.data_dir}/sprocket.db",
                "--to", postgres_store)
    assert twice.returncode == 1, twice.stderr
    assert "already holds sprocket data" in twice.stderr and "nothing was copied" in twice.stderr, twice.stderr


def test_migrate_says_what_is_wrong_with_its_arguments(tmp_path, postgres_store):
    missing = cli("store", "migrate", "--data-dir", tmp_path / "none", "--to", postgres_store)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr, missing.stderr
    backwards = cli("store", "migrate", "--data-dir", tmp_path, "--from", postgres_store, "--to", postgres_store)
    assert backwards.returncode == 1
    assert "--from must name an SQLite store" in backwards.stderr, backwards.stderr
    no_target = cli("store", "migrate", "--data-dir", tmp_path)
    assert no_target.returncode != 0 and "--to" in no_target.stderr, no_target.stderr
