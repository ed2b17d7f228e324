"""Deploys to a running node: atomic activation under load, versions and rollback, refusal of
broken code, survival across restarts, later deploys winning shared paths, accounts."""
import concurrent.futures
import json
import shutil
import signal
import subprocess
import threading

from conftest import BINARY, wait_for


def project(root, name, version, path="hello", extra=None):
    """A developer project whose function answers with its version."""
    folder = root / name
    fn = folder / "src" / "app" / "app.functions"
    fn.mkdir(parents=True)
    (folder / "hsproject.json").write_text(json.dumps({"name": name, "srcDir": "src", "platformVersion": "2025.1"}))
    functions = {"hello": {"file": "hello.js", "secrets": ["API_KEY"], "endpoint": {"path": path, "method": ["GET"]}}}
    functions.update(extra or {})
    (fn / "serverless.json").write_text(json.dumps({"appFunctions": functions}, indent=2))
    (fn / "hello.js").write_text(
        "exports.main = async (context) => ({statusCode: 200, body: {project: %s, version: %d, account: context.accountId,"
        " key: process.env.API_KEY || null}});\n" % (json.dumps(name), version))
    return folder


def cli(s, *args, stdin=None):
    return subprocess.run([str(BINARY), *map(str, args), "--server", s.admin_url, "--data-dir", str(s.data_dir)],
                          input=stdin, capture_output=True, text=True, timeout=120)


def empty_node(start_sprocket, tmp_path, *args, **kw):
    return start_sprocket([], *args, cwd=tmp_path, **kw)


def test_deploy_under_load_versions_and_rollback(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert s.get("/hs/serverless/hello").status_code == 404
    v1 = project(tmp_path / "v1", "shop", 1)
    out = cli(s, "deploy", v1, "-m", "first")
    assert out.returncode == 0, out.stderr
    assert "Deployed shop as version 1" in out.stdout
    assert s.get("/hs/serverless/hello").json()["version"] == 1

    v2 = project(tmp_path / "v2", "shop", 2)
    stop = threading.Event()
    answers = []

    def load():
        while not stop.is_set():
            r = s.get("/hs/serverless/hello")
            answers.append((r.status_code, r.json().get("version") if r.status_code == 200 else r.text[:300]))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        loaders = [pool.submit(load) for _ in range(4)]
        wait_for(lambda: len(answers) > 20, message="load to start")
        out = cli(s, "deploy", v2, "-m", "second")
        assert out.returncode == 0, out.stderr
        wait_for(lambda: any(v == 2 for _, v in answers[-5:]), message="v2 answers")
        stop.set()
        for f in loaders:
            f.result()
    assert all(code == 200 for code, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions_seen = [v for _, v in answers]
    assert set(versions_seen) == {1, 2}
    first_v2 = versions_seen.index(2)
    assert all(v == 2 for v in versions_seen[first_v2 + 8:])  # once switched, new requests get v2

    listed = cli(s, "versions").stdout.splitlines()
    assert listed[0].startswith("2\tactive\t") and listed[0].endswith("shop\tsecond")
    assert listed[1].startswith("1\t\t")
    out = cli(s, "rollback")
    assert out.returncode == 0, out.stderr
    assert "back to version 1" in out.stdout
    assert s.get("/hs/serverless/hello").json()["version"] == 1
    assert cli(s, "rollback", "2").returncode == 0
    assert s.get("/hs/serverless/hello").json()["version"] == 2


def test_broken_deploy_is_refused_and_the_old_version_serves(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert cli(s, "deploy", project(tmp_path / "ok", "shop", 1)).returncode == 0
    broken = project(tmp_path / "broken", "shop", 2)
    config = broken / "src" / "app" / "app.functions" / "serverless.json"
    config.write_text('{\n  "appFunctions": {\n    "hello": {"file": "missing.js"}\n  }\n}')
    out = cli(s, "deploy", broken)
    assert out.returncode == 1
    assert "serverless.json:3:" in out.stderr and 'file "missing.js" not found' in out.stderr
    assert "keeps serving" in out.stderr
    assert s.get("/hs/serverless/hello").json()["version"] == 1
    assert len(cli(s, "versions").stdout.splitlines()) == 1


def test_restart_serves_the_active_version_without_the_source(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    source = project(tmp_path / "src1", "shop", 7)
    assert cli(s, "deploy", source).returncode == 0
    assert s.stop() == 0
    shutil.rmtree(source)
    again = empty_node(start_sprocket, tmp_path, data_dir=s.data_dir)
    assert again.get("/hs/serverless/hello").json()["version"] == 7


def test_two_projects_on_one_path_the_later_wins(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    assert cli(s, "deploy", project(tmp_path / "a", "alpha", 1, path="shared")).returncode == 0
    assert s.get("/hs/serverless/shared").json()["project"] == "alpha"
    out = cli(s, "deploy", project(tmp_path / "b", "beta", 1, path="shared"))
    assert out.returncode == 0, out.stderr
    assert "shadows: hello of beta now answers /hs/serverless/shared" in out.stdout
    assert s.get("/hs/serverless/shared").json()["project"] == "beta"
    # deploying alpha again makes it the most recent: it takes the path back
    assert cli(s, "deploy", project(tmp_path / "a2", "alpha", 2, path="shared")).returncode == 0
    assert s.get("/hs/serverless/shared").json() == {"project": "alpha", "version": 2, "account": 123456, "key": None}


def test_accounts_on_one_node_see_their_own_secrets_logs_and_ids(start_sprocket, tmp_path):
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"accounts": [{"id": 111, "domains": ["a.test"]}, {"id": 222, "domains": ["b.test"]}]}))
    s = empty_node(start_sprocket, tmp_path, "--config", config, "--account-id", "111")
    for account in ("111", "222"):
        out = cli(s, "deploy", project(tmp_path / account, f"p{account}", 1), "--account", account)
        assert out.returncode == 0, out.stderr
        assert cli(s, "secrets", "add", "API_KEY", "--account", account, stdin=f"key-of-{account}").returncode == 0
    a = wait_for(lambda: (r := s.get("/hs/serverless/hello", headers={"Host": "a.test"}).json())["key"] and r, message="a's key")
    b = wait_for(lambda: (r := s.get("/hs/serverless/hello", headers={"Host": "b.test"}).json())["key"] and r, message="b's key")
    assert (a["account"], a["key"], a["project"]) == (111, "key-of-111", "p111")
    assert (b["account"], b["key"], b["project"]) == (222, "key-of-222", "p222")
    logs_a = wait_for(lambda: cli(s, "logs", "--account", "111", "--json").stdout, message="a's logs")
    logs_b = wait_for(lambda: cli(s, "logs", "--account", "222", "--json").stdout, message="b's logs")
    assert all(json.loads(line)["accountId"] == 111 for line in logs_a.splitlines())
    assert all(json.loads(line)["accountId"] == 222 for line in logs_b.splitlines())
    listed = cli(s, "secrets", "list", "--account", "222").stdout
    assert listed.startswith("API_KEY\t") and "key-of" not in listed


def test_deployed_dependencies_are_installed(start_sprocket, tmp_path):
    s = empty_node(start_sprocket, tmp_path)
    folder = project(tmp_path / "deps", "deps", 1, extra={"dep": {"file": "dep.js", "endpoint": {"path": "dep", "method": "GET"}}})
    fn = folder / "src" / "app" / "app.functions"
    (fn / "lib").mkdir()
    (fn / "lib" / "package.json").write_text('{"name": "tiny-lib", "version": "1.0.0", "main": "index.js"}')
    (fn / "lib" / "index.js").write_text("exports.shout = (s) => s.toUpperCase() + '!';\n")
    (fn / "package.json").write_text('{"name": "deps", "private": true, "dependencies": {"tiny-lib": "file:./lib"}}')
    (fn / "dep.js").write_text("const { shout } = require('tiny-lib');\nexports.main = async () => ({statusCode: 200, body: shout('hi')});\n")
    out = cli(s, "deploy", folder)
    assert out.returncode == 0, out.stderr
    assert s.get("/hs/serverless/dep").text == "HI!"
    cached = list((s.data_dir / "deployments" / ".npm-cache").iterdir())
    assert len(cached) == 1


def test_scoped_admin_token_reaches_one_account_only(start_sprocket, tmp_path):
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"accounts": [{"id": 111, "domains": ["a.test"]}, {"id": 222, "domains": ["b.test"]}]}))
    s = empty_node(start_sprocket, tmp_path, "--config", config, "--account-id", "111")
    made = subprocess.run([str(BINARY), "tokens", "create", "--account", "222", "--data-dir", str(s.data_dir)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("spk_")
    assert token.encode() not in (s.data_dir / "sprocket.db").read_bytes()
    ok = wait_for(lambda: s.admin("GET", "/api/v1/secrets", token=token).status_code == 200, timeout=5,
                  message="the server to accept the new token")
    assert ok
    assert s.admin("PUT", "/api/v1/secrets/API_KEY?account=222", token=token, json={"value": "for-b"}).status_code == 201
    assert s.admin("PUT", "/api/v1/secrets/API_KEY?account=111", token=token, json={"value": "x"}).status_code == 403
    assert s.admin("GET", "/api/v1/logs?account=111", token=token).status_code == 403
    assert s.admin("GET", "/metrics", token=token).status_code == 403
    assert [x["name"] for x in s.admin("GET", "/api/v1/secrets?account=222").json()["secrets"]] == ["API_KEY"]
    assert s.admin("GET", "/api/v1/secrets?account=111").json()["secrets"] == []


def test_a_deployed_file_of_mode_0600_is_served_by_a_sandboxed_worker(start_sprocket, tmp_path):
    # Workers run as uids of their own: what is deployed must be readable to them.
    s = empty_node(start_sprocket, tmp_path)
    folder = project(tmp_path / "private", "private", 1)
    (folder / "src" / "app" / "app.functions" / "hello.js").chmod(0o600)
    out = cli(s, "deploy", folder)
    assert out.returncode == 0, out.stderr
    r = s.get("/hs/serverless/hello")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
