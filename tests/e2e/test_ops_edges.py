"""The operator's edges: a deploy that fails after it was stored, what a deployer is told (in the
terms of the folder they uploaded), secrets in `actions test`, and the CLI's messages for a
server it cannot reach, an address it cannot listen on and a command it does not know."""
import contextlib
import json
import os
import socket
import sqlite3
import subprocess

import pytest

from conftest import BINARY

DEFAULT_ACCOUNT = 123456


def run(*args, env=None, cwd=None, timeout=60):
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def cli(s, *args):
    return run(*args, "--server", s.admin_url, "--data-dir", s.data_dir, timeout=120)


def project(root, name, version, path="hello", serverless_extra=None):
    """A developer project whose function answers with its project and version."""
    fn = root / "src" / "app" / "app.functions"
    fn.mkdir(parents=True)
    (root / "hsproject.json").write_text(json.dumps({"name": name, "srcDir": "src", "platformVersion": "2025.1"}))
    config = {"appFunctions": {"hello": {"file": "hello.js", "endpoint": {"path": path, "method": ["GET"]}}}}
    config.update(serverless_extra or {})
    (fn / "serverless.json").write_text(json.dumps(config, indent=2))
    (fn / "hello.js").write_text("exports.main = async () => ({statusCode: 200, body: {project: %s, version: %d}});\n"
                                 % (json.dumps(name), version))
    return root


def empty_node(start_sprocket, tmp_path, **kw):
    """A node serving nothing of its own: everything it serves comes from deploys."""
    cwd = tmp_path / "node-cwd"
    cwd.mkdir(exist_ok=True)
    return start_sprocket([], cwd=cwd, **kw)


def active_versions(s):
    listed = cli(s, "versions")
    assert listed.returncode == 0, listed.stderr
    return [int(line.split("\t")[0]) for line in listed.stdout.splitlines() if line.split("\t")[1] == "active"]


@contextlib.contextmanager
def immutable_folder(path):
    """A folder nobody, root included, can remove or replace (chattr +i): a real filesystem fault."""
    path.mkdir(parents=True)
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        path.rmdir()
        pytest.skip(f"needs chattr +i (CAP_LINUX_IMMUTABLE on ext4): {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --- item 7: deploy state -------------------------------------------------------------------


def test_a_deploy_that_fails_after_the_store_write_leaves_the_old_version_active(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert cli(s, "deploy", project(tmp_path / "v1", "shop", 1)).returncode == 0
    # Version 2 cannot be moved into place: its folder exists and cannot be removed or replaced.
    with immutable_folder(s.data_dir / "deployments" / str(DEFAULT_ACCOUNT) / "2"):
        out = cli(s, "deploy", project(tmp_path / "v2", "shop", 2))
        assert out.returncode == 1, out.stdout
        assert "keeps serving" in out.stderr
        assert "incoming-" not in out.stderr
        assert s.get("/hs/serverless/hello").json()["version"] == 1
        assert active_versions(s) == [1]
        # A restart serves what served before the failed deploy, not the version it stored.
        assert s.stop() == 0
        again = empty_node(start_sprocket, tmp_path, data_dir=s.data_dir)
        assert again.get("/hs/serverless/hello").json()["version"] == 1
    out = cli(again, "deploy", project(tmp_path / "v2-again", "shop", 2))
    assert out.returncode == 0, out.stderr
    assert again.get("/hs/serverless/hello").json()["version"] == 2
    assert active_versions(again) == [int(out.stdout.split("as version ")[1].split()[0])]


def test_when_the_store_refuses_the_activation_nothing_changes(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert cli(s, "deploy", project(tmp_path / "v1", "shop", 1)).returncode == 0
    assert cli(s, "deploy", project(tmp_path / "v2", "shop", 2)).returncode == 0
    db = sqlite3.connect(s.data_dir / "sprocket.db")
    for event in ("INSERT", "UPDATE"):
        db.execute(f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON active_sources "
                   "BEGIN SELECT RAISE(ABORT, 'activation refused by the test'); END")
    db.commit()
    out = cli(s, "deploy", project(tmp_path / "v3", "shop", 3))
    assert out.returncode == 1 and "activation refused by the test" in out.stderr, out.stderr
    out = cli(s, "rollback")
    assert out.returncode == 1 and "activation refused by the test" in out.stderr, out.stderr
    assert s.get("/hs/serverless/hello").json()["version"] == 2
    for event in ("insert", "update"):
        db.execute(f"DROP TRIGGER refuse_{event}")
    db.commit()
    db.close()
    assert active_versions(s) == [2]
    assert len(cli(s, "versions").stdout.splitlines()) == 2  # the refused version was not kept
    out = cli(s, "deploy", project(tmp_path / "v3-again", "shop", 3))
    assert out.returncode == 0, out.stderr
    assert s.get("/hs/serverless/hello").json()["version"] == 3


def test_a_refused_deploy_names_the_files_as_the_deployer_knows_them(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    broken = project(tmp_path / "broken", "shop", 1)
    (broken / "src" / "app" / "app.functions" / "serverless.json").write_text(
        '{\n  "appFunctions": {\n    "hello": {"file": "missing.js"}\n  }\n}')
    out = cli(s, "deploy", broken)
    assert out.returncode == 1
    assert "src/app/app.functions/serverless.json:3:" in out.stderr, out.stderr
    assert "incoming-" not in out.stderr and str(s.data_dir) not in out.stderr, out.stderr


def test_deploying_an_empty_folder_says_what_a_project_looks_like(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = cli(s, "deploy", empty)
    assert out.returncode != 0
    assert "does not exist" not in out.stderr, out.stderr
    assert "no serverless functions" in out.stderr and "hsproject.json" in out.stderr, out.stderr
    # A client other than the CLI (an empty upload to the admin API) is told the same.
    r = s.admin("POST", f"/api/v1/deployments?account={DEFAULT_ACCOUNT}&name=empty", data=b"SPROCKET-ARCHIVE-1\n")
    assert r.status_code == 400
    message = r.json()["message"]
    assert "does not exist" not in message and "no serverless functions" in message, message
    assert "incoming-" not in message and str(s.data_dir) not in message, message


def test_shadows_and_warnings_are_said_once_in_the_deployers_terms(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert cli(s, "deploy", project(tmp_path / "a", "alpha", 1, path="shared")).returncode == 0
    out = cli(s, "deploy", project(tmp_path / "b", "beta", 1, path="shared", serverless_extra={"colour": "blue"}))
    assert out.returncode == 0, out.stderr
    assert "shadows: hello of beta now answers /hs/serverless/shared (it was hello of alpha version 1)" in out.stdout
    assert "src/app/app.functions/serverless.json:" in out.stderr and "colour" in out.stderr, out.stderr
    assert str(s.data_dir) not in out.stdout + out.stderr
    unrelated = cli(s, "deploy", project(tmp_path / "c", "gamma", 1, path="other"))
    assert unrelated.returncode == 0, unrelated.stderr
    assert "shadows" not in unrelated.stdout, unrelated.stdout
    assert "colour" not in unrelated.stderr, unrelated.stderr


# --- item 10: secrets in `actions test` -------------------------------------------------------

SECRET = "s3cr3t-value-42"


def action(tmp_path, code):
    folder = tmp_path / "crm.actions"
    folder.mkdir(parents=True)
    (folder / "act.js").write_text(code)
    (folder / "actions.json").write_text(json.dumps({"actions": {"act": {
        "language": "node", "file": "act.js", "secrets": ["TOKEN"], "outputFields": {"note": {"type": "string"}}}}}))
    (folder / ".env").write_text(f"TOKEN={SECRET}\n")
    return tmp_path


def test_actions_test_redacts_secrets_from_logs_outputs_and_errors(tmp_path):
    logged = action(tmp_path / "logs", "exports.main = async (event, callback) => {\n"
                                       "  console.log(`calling with ${process.env.TOKEN}`);\n"
                                       "  callback({outputFields: {note: `key ${process.env.TOKEN}`, extra: process.env.TOKEN}});\n};\n")
    r = run("actions", "test", "act", "--path", logged)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "INFO   calling with [REDACTED:TOKEN]" in r.stdout
    assert '"note":"key [REDACTED:TOKEN]"' in r.stdout
    assert SECRET not in r.stdout + r.stderr
    thrown = action(tmp_path / "throws", "exports.main = async () => { throw new Error(`refused ${process.env.TOKEN}`); };\n")
    r = run("actions", "test", "act", "--path", thrown)
    assert r.returncode == 1
    assert "refused [REDACTED:TOKEN]" in r.stdout, r.stdout
    assert SECRET not in r.stdout + r.stderr


# --- item 11: messages -----------------------------------------------------------------------


@pytest.fixture
def refusing_port():
    """A loopback port that refuses connections: bound, never listening, held for the test."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def busy_port():
    """A loopback port another server listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_server_that_is_not_there_is_named_with_what_to_check(refusing_port):
    url = f"http://127.0.0.1:{refusing_port}/"
    for command in (["versions"], ["logs", "--follow"], ["secrets", "list"]):
        out = run(*command, "--server", url.rstrip("/"), env={"SPROCKET_TOKEN": "t"})
        assert out.returncode != 0
        assert (f"cannot connect to {url}: connection refused; is `sprocket serve` running there? (--server URL)"
                in out.stderr), out.stderr
        assert "boost" not in out.stderr and "system:" not in out.stderr, out.stderr


def test_an_address_in_use_says_what_to_do(busy_port, tmp_path):
    out = run("serve", "--listen", f"127.0.0.1:{busy_port}", "--admin-listen", "127.0.0.1:0", "--data-dir", tmp_path / "d",
              cwd=tmp_path)
    assert out.returncode == 2
    assert (f"cannot listen on 127.0.0.1:{busy_port}: address already in use; stop the other server or pass --listen HOST:PORT"
            in out.stderr), out.stderr
    assert "boost" not in out.stderr and "system:" not in out.stderr
    out = run("serve", "--listen", "127.0.0.1:0", "--admin-listen", f"127.0.0.1:{busy_port}", "--data-dir", tmp_path / "d",
              cwd=tmp_path)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}: address already in use; stop the other server or pass --admin-listen" \
        in out.stderr, out.stderr


def test_an_unknown_command_is_named_with_the_commands_there_are():
    out = run("bogus")
    assert out.returncode != 0
    assert 'unknown command "bogus"; the commands are: serve, dev, secrets, logs, deploy' in out.stderr, out.stderr
    out = run("actions", "bogus")
    assert out.returncode != 0
    assert 'unknown command "bogus"; the commands of sprocket actions are: check, test, run' in out.stderr, out.stderr
    out = run()
    assert out.returncode != 0 and "sprocket needs a command: serve, dev" in out.stderr, out.stderr
    assert run("versions", "--help").returncode == 0  # options still reach CLI11


def test_a_usage_error_names_its_command_and_exits_2():
    out = run("secrets")
    assert out.returncode == 2
    assert "sprocket secrets: action is required (sprocket secrets --help says more)" in out.stderr, out.stderr
    out = run("secrets", "bogus")
    assert out.returncode == 2 and "sprocket secrets: action: bogus not in" in out.stderr, out.stderr
    out = run("serve", "--listen")
    assert out.returncode == 2 and "sprocket serve: --listen" in out.stderr, out.stderr
