"""The command line, part two (issue 16): `invoke` (local folders and --server), `login` profiles,
warnings that save hours (unset secrets, platformVersion 2025.2, dev reloads), npm progress."""
import json
import os
import pty
import re
import select
import stat
import subprocess
import time

import pytest

from conftest import BINARY, processes, wait_for
from test_cli_kit import created, run

ECHO_JS = """exports.main = async (context) => {
  console.log('echo called with', JSON.stringify(context.params));
  if (context.params.fail) throw new Error('asked to fail');
  return {statusCode: Number((context.params.status || ['200'])[0]),
          headers: {'X-Echo': 'yes'},
          body: {method: context.method, params: context.params, body: context.body,
                 header: context.headers['x-custom'] || null, secret: process.env.HOLDOUT_SECRET || null}};
};
"""


def echo_folder(tmp_path, secrets=()):
    folder = tmp_path / "probe.functions"
    folder.mkdir()
    config = {"runtime": "nodejs18.x", "version": "1.0", "secrets": list(secrets),
              "endpoints": {"echo": {"method": ["GET", "POST"], "file": "echo.js"}}}
    (folder / "serverless.json").write_text(json.dumps(config))
    (folder / "echo.js").write_text(ECHO_JS)
    return folder


def invoke(*args, **kw):
    return run("invoke", *args, "--sandbox", "auto", **kw)


# --- invoke against a local folder ---------------------------------------------------------------

def test_invoke_runs_one_request_through_a_worker_and_prints_the_answer_and_logs(tmp_path):
    folder = echo_folder(tmp_path)
    out = invoke("echo", folder, "--query", "who=ada lovelace", "--header", "X-Custom: hi")
    assert out.returncode == 0, out.stderr
    status, rest = out.stdout.split("\n", 1)
    assert status == "HTTP 200 OK", out.stdout
    headers, body = rest.split("\n\n", 1)
    assert re.search(r"^X-Echo: yes$", headers, re.M | re.I) and re.search(r"^X-Request-Id: \S+$", headers, re.M | re.I), headers
    answer = json.loads(body)
    assert answer["method"] == "GET" and answer["params"] == {"who": ["ada lovelace"]} and answer["header"] == "hi"
    # The function's log lines as `serve` prints them, on stderr (stdout is the answer alone).
    assert re.search(r" - SUCCESS - GET /_hcms/api/echo - Execution Time: \d+ms", out.stderr), out.stderr
    assert 'INFO   echo called with {"who":["ada lovelace"]}' in out.stderr, out.stderr


def test_invoke_json_posts_a_body_from_a_file_and_reports_the_execution(tmp_path):
    folder = echo_folder(tmp_path)
    payload = tmp_path / "payload.json"
    payload.write_text('{"symbol": "HUBS"}')
    out = invoke("/_hcms/api/echo", folder, "--data", f"@{payload}", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == 200 and doc["path"] == "/_hcms/api/echo"
    body = json.loads(doc["body"])
    assert body["method"] == "POST" and body["body"] == {"symbol": "HUBS"}
    assert ["X-Echo", "yes"] in doc["headers"] or ["x-echo", "yes"] in doc["headers"], doc["headers"]
    assert doc["execution"]["status"] == "SUCCESS" and doc["execution"]["requestId"]
    assert [line["level"] for line in doc["logs"]] == ["INFO"] and "echo called with" in doc["logs"][0]["message"]


def test_invoke_exit_status_follows_the_answer(tmp_path):
    folder = echo_folder(tmp_path)
    assert invoke("echo", folder, "-q", "status=302").returncode == 0
    not_found = invoke("echo", folder, "-q", "status=404")
    assert not_found.returncode == 1 and not_found.stdout.startswith("HTTP 404"), not_found.stdout
    thrown = invoke("echo", folder, "-q", "fail=1", "--json")
    assert thrown.returncode == 1
    doc = json.loads(thrown.stdout)
    assert doc["status"] == 500 and doc["execution"]["status"] == "ERROR" and "asked to fail" in json.dumps(doc), doc


def test_invoke_names_what_it_cannot_run(tmp_path):
    folder = echo_folder(tmp_path)
    unknown = invoke("nope", folder)
    assert unknown.returncode == 2
    assert 'no function named "nope" here; the routes are: /_hcms/api/echo' in unknown.stderr, unknown.stderr
    assert invoke("echo", folder, "--query", "novalue").returncode == 2
    bad_header = invoke("echo", folder, "--header", "no colon")
    assert bad_header.returncode == 2 and "write 'Name: value'" in bad_header.stderr
    missing = invoke("echo", folder, "--data", "@/nonexistent/file.json")
    assert missing.returncode == 2 and "cannot read /nonexistent/file.json" in missing.stderr
    (folder / "serverless.json").write_text('{"endpoints": {"echo": {"method": "GET"}}}')
    broken = invoke("echo", folder)
    assert broken.returncode == 2 and "serverless.json" in broken.stderr and "nothing was invoked" in broken.stderr


def test_invoke_finds_a_project_function_by_its_path(tmp_path):
    created(tmp_path, "quotes", "--project")
    out = invoke("quotes", tmp_path / "quotes", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["path"] == "/hs/serverless/quotes" and json.loads(doc["body"])["message"] == "Hello from quotes"


# --- invoke --server -----------------------------------------------------------------------------

def test_invoke_server_sends_the_request_to_a_running_node(start_sprocket, tmp_path):
    folder = echo_folder(tmp_path)
    created(tmp_path, "quotes", "--project")
    s = start_sprocket([folder, tmp_path / "quotes"])
    out = run("invoke", "echo", "--server", s.url, "-X", "post", "--data", '{"a": 1}', "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["status"] == 200 and json.loads(doc["body"])["body"] == {"a": 1} and json.loads(doc["body"])["method"] == "POST"
    # A bare word the node does not serve under /_hcms/api/ is tried as a project path.
    project = run("invoke", "quotes", "--server", s.url)
    assert project.returncode == 0 and "Hello from quotes" in project.stdout, project.stdout + project.stderr
    missing = run("invoke", "nothing-here", "--server", s.url)
    assert missing.returncode == 1 and "serves neither /_hcms/api/nothing-here nor /hs/serverless/nothing-here" in missing.stderr
    s.stop()
    gone = run("invoke", "echo", "--server", s.url)
    assert gone.returncode == 2 and "cannot connect to" in gone.stderr, gone.stderr


# --- login profiles ------------------------------------------------------------------------------

def profile_env(tmp_path):
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "SPROCKET_TOKEN": "", "SPROCKET_PROFILE": ""}


def test_login_keeps_the_server_and_token_privately_and_remote_commands_use_it(start_sprocket, tmp_path):
    s = start_sprocket([], cwd=tmp_path)
    env = profile_env(tmp_path)
    token = (s.data_dir / "admin.token").read_text().strip()
    bad = run("login", "--server", s.admin_url, "--token-stdin", stdin="spk_wrong", env=env)
    assert bad.returncode == 1 and "refused this token" in bad.stderr and "spk_wrong" not in bad.stderr
    assert not (tmp_path / "config" / "sprocket" / "profiles.json").exists()

    good = run("login", "--server", s.admin_url, "--token-stdin", stdin=token + "\n", env=env)
    assert good.returncode == 0, good.stderr
    assert token not in good.stderr + good.stdout
    folder = tmp_path / "config" / "sprocket"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "profiles.json").stat().st_mode) == 0o600

    # No --server, no token in the environment: the profile's, from a folder with no data directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    added = run("secrets", "add", "API_KEY", stdin="v", env=env, cwd=elsewhere)
    assert added.returncode == 0, added.stderr
    assert [x["name"] for x in s.admin("GET", "/api/v1/secrets").json()["secrets"]] == ["API_KEY"]
    versions = run("versions", "--json", env=env, cwd=elsewhere)
    assert versions.returncode == 0 and json.loads(versions.stdout) == [], versions.stderr
    assert not (elsewhere / ".sprocket").exists()

    # A profile asked for by name that does not exist is an error, not a silent fallback.
    missing = run("secrets", "list", "--profile", "staging", env=env, cwd=elsewhere)
    assert missing.returncode == 2 and "there is no profile staging" in missing.stderr, missing.stderr
    # Readable by others: refused, as ssh refuses such a key.
    (folder / "profiles.json").chmod(0o644)
    loose = run("secrets", "list", env=env, cwd=elsewhere)
    assert loose.returncode == 2 and "may be read by other users (mode 0644)" in loose.stderr and token not in loose.stderr
    (folder / "profiles.json").chmod(0o600)

    out = run("logout", env=env)
    assert out.returncode == 0, out.stderr
    assert token not in (folder / "profiles.json").read_text()
    assert run("logout", env=env).returncode == 1


def test_a_scoped_tokens_account_is_the_profiles_default_account(start_sprocket, tmp_path):
    s = start_sprocket([], "--account-id", "424242", cwd=tmp_path)
    env = profile_env(tmp_path)
    made = run("tokens", "create", "--account", "424242", "--data-dir", s.data_dir)
    scoped = made.stdout.strip()
    wait_for(lambda: s.admin("GET", "/api/v1/whoami", token=scoped).status_code == 200, timeout=5, message="the scoped token")
    assert s.admin("GET", "/api/v1/whoami", token=scoped).json() == {"scope": "account", "account": 424242, "accounts": [424242]}
    assert s.admin("GET", "/api/v1/whoami").json()["scope"] == "node"
    login = run("login", "--server", s.admin_url, "--token-stdin", "--profile", "team", stdin=scoped, env=env)
    assert login.returncode == 0 and "account 424242" in login.stderr, login.stderr
    # Without --account the default would be 123456, which this token may not touch (403).
    added = run("secrets", "add", "TEAM_KEY", "--profile", "team", stdin="v", env=env, cwd=tmp_path / "data")
    assert added.returncode == 0, added.stderr
    listed = run("secrets", "list", "--json", env={**env, "SPROCKET_PROFILE": "team"}, cwd=tmp_path)
    assert [x["name"] for x in json.loads(listed.stdout)] == ["TEAM_KEY"], listed.stderr


def test_login_prompts_on_a_terminal_without_echo_and_the_token_is_in_no_argv(start_sprocket, tmp_path):
    s = start_sprocket([], cwd=tmp_path)
    env = {**os.environ, **profile_env(tmp_path)}
    token = (s.data_dir / "admin.token").read_text().strip()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(BINARY), [str(BINARY), "login", "--server", s.admin_url], env)
    seen = b""
    deadline = time.monotonic() + 20
    typed = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not typed and b"(not shown): " in seen:
            os.write(fd, token.encode() + b"\n")
            typed = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert token.encode() not in seen, "the prompt echoed the token"
    assert b"logged in to" in seen
    # A long-running remote command with the profile: the token is in no process's argv.
    follow = subprocess.Popen([str(BINARY), "logs", "--follow"], env=env, cwd=tmp_path / "data",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(p == follow.pid for p, *_ in processes()), timeout=5, message="logs --follow to run")
        wait_for(lambda: follow.poll() is None and s.admin("GET", "/metrics").status_code == 200, timeout=5, message="the node")
        for _, _, _, argv in processes():
            assert token.encode() not in b" ".join(argv)
    finally:
        follow.kill()
        follow.wait()


# --- warnings that save hours --------------------------------------------------------------------

HOLDOUT = ("which account 424242 has not set: sprocket secrets add HOLDOUT_SECRET --account 424242")


def test_serve_warns_about_a_listed_secret_the_account_has_not_set(start_sprocket, tmp_path):
    folder = echo_folder(tmp_path, secrets=["HOLDOUT_SECRET"])
    s = start_sprocket([folder], "--account-id", "424242")
    s.wait_for_log(r"serverless\.json:\d+:\d+: warning: echo lists HOLDOUT_SECRET, " + re.escape(HOLDOUT))
    # Set (here, in .env beside the function): no warning.
    (folder / ".env").write_text("HOLDOUT_SECRET=x\n")
    quiet = start_sprocket([folder], "--account-id", "424242", data_dir=tmp_path / "data2")
    assert "HOLDOUT_SECRET" not in quiet.log()


def test_deploy_warns_about_a_listed_secret_the_account_has_not_set(start_sprocket, tmp_path):
    s = start_sprocket([], "--account-id", "424242", cwd=tmp_path)
    folder = echo_folder(tmp_path, secrets=["HOLDOUT_SECRET"])
    out = run("deploy", folder, "--server", s.admin_url, "--data-dir", s.data_dir, "--account", "424242", "--json")
    assert out.returncode == 0, out.stderr
    warnings = json.loads(out.stdout)["warnings"]
    assert any(w.startswith("serverless.json:") and "echo lists HOLDOUT_SECRET, " + HOLDOUT in w for w in warnings), warnings
    text = run("deploy", folder, "--server", s.admin_url, "--data-dir", s.data_dir, "--account", "424242")
    assert "echo lists HOLDOUT_SECRET" in text.stderr, text.stderr


def test_a_project_on_platform_version_2025_2_is_warned_about(tmp_path):
    created(tmp_path, "shop", "--project")
    project = tmp_path / "shop" / "hsproject.json"
    doc = json.loads(project.read_text())
    doc["platformVersion"] = "2025.2"
    project.write_text(json.dumps(doc, indent=2))
    out = run("functions", "list", tmp_path / "shop")
    assert out.returncode == 0, out.stderr
    assert re.search(r"hsproject\.json:\d+:\d+: warning: platformVersion: HubSpot does not support serverless functions in "
                     r"version 2025\.2 .*\"platformVersion\": \"2025\.1\"", out.stderr), out.stderr
    doc["platformVersion"] = "2025.1"
    project.write_text(json.dumps(doc))
    assert "platformVersion" not in run("functions", "list", tmp_path / "shop").stderr


# --- dev reloads ---------------------------------------------------------------------------------

def dev_folder(tmp_path):
    folder = tmp_path / "live.functions"
    folder.mkdir()
    (folder / "serverless.json").write_text(json.dumps({"secrets": ["HOLDOUT_SECRET"], "endpoints": {"greet": {"file": "greet.js"}}}))
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 1}});\n")
    return folder


def test_dev_reports_a_syntax_error_when_the_file_is_saved(start_sprocket, tmp_path):
    folder = dev_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 2}};\n")
    s.wait_for_log(r"greet\.js:1\n(.*\n)*SyntaxError: (.*\n)*sprocket: requests that start an instance .* fail "
                   r"\(FUNCTION_LOAD_ERROR\) until it is fixed")
    assert s.get("/_hcms/api/greet").json()["category"] == "FUNCTION_LOAD_ERROR"
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 3}});\n")
    wait_for(lambda: s.get("/_hcms/api/greet").json() == {"version": 3}, timeout=10, message="the fixed file")
    assert s.log().count("until it is fixed") == 1, "a file that parses again is not reported"


def test_dev_says_which_routes_a_reload_added_and_removed_and_warns_once(start_sprocket, tmp_path):
    folder = dev_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    s.wait_for_log(r"greet lists HOLDOUT_SECRET")
    (folder / "bye.js").write_text("exports.main = async () => ({statusCode: 200, body: 'bye'});\n")
    (folder / "serverless.json").write_text(json.dumps({"secrets": ["HOLDOUT_SECRET"],
                                                        "endpoints": {"greet": {"file": "greet.js"}, "bye": {"file": "bye.js"}}}))
    s.wait_for_log(r"sprocket: reloaded .*\n  routes added: GET /_hcms/api/bye")
    (folder / "serverless.json").write_text(json.dumps({"secrets": ["HOLDOUT_SECRET"], "endpoints": {"bye": {"file": "bye.js"}}}))
    s.wait_for_log(r"routes removed: GET /_hcms/api/greet")
    # greet's unchanged warning was said once, at start-up, not again by the reload that added bye.
    assert len(re.findall(r"greet lists HOLDOUT_SECRET", s.log())) == 1, s.log()


def test_dev_names_the_routes_a_deleted_serverless_json_took(start_sprocket, tmp_path):
    folder = dev_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    (folder / "serverless.json").unlink()
    s.wait_for_log(r"serverless\.json was deleted: /_hcms/api/greet would no longer be served")
    assert s.get("/_hcms/api/greet").json() == {"version": 1}


def test_dev_reloads_once_for_a_package_json_change_and_says_what_npm_does(start_sprocket, tmp_path):
    folder = dev_folder(tmp_path)
    lib = folder / "lib"
    lib.mkdir()
    (lib / "package.json").write_text(json.dumps({"name": "lib", "version": "1.0.0"}))
    (lib / "index.js").write_text("module.exports = 'from lib';\n")
    s = start_sprocket([folder], command="dev")
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: require('lib')}});\n")
    (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"lib": "file:./lib"}}))
    wait_for(lambda: s.get("/_hcms/api/greet").json() == {"version": "from lib"}, timeout=60, message="the dependency to be served")
    # Not a terminal: one plain line before npm and one after.
    s.wait_for_log(r"sprocket: installing the dependencies of \S+live\.functions \(npm install\)…\n")
    s.wait_for_log(r"sprocket: installing the dependencies of \S+ \(npm install\): installed \(\d+\.\d s\)")
    # npm's own package-lock.json write is no edit to reload for again. A marker request after
    # a further edit orders the log: every reload before it has been printed.
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 'marker'}});\n")
    wait_for(lambda: s.get("/_hcms/api/greet").json() == {"version": "marker"}, timeout=20, message="the marker edit")
    reloads = re.findall(r"sprocket: reloaded \((.*?) changed\)", s.log())
    assert not any(r == "package-lock.json" for r in reloads), reloads


# --- npm progress on a terminal --------------------------------------------------------------------

def with_local_dependency(folder):
    lib = folder / "lib"
    lib.mkdir()
    (lib / "package.json").write_text(json.dumps({"name": "lib", "version": "1.0.0"}))
    (lib / "index.js").write_text("module.exports = 'from lib';\n")
    (folder / "package.json").write_text(json.dumps({"name": "probe", "private": True, "dependencies": {"lib": "file:./lib"}}))


def test_npm_progress_turns_on_a_terminal_and_is_plain_elsewhere(tmp_path):
    folder = echo_folder(tmp_path)
    with_local_dependency(folder)
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([str(BINARY), "invoke", "echo", str(folder), "--sandbox", "auto"], stdout=subprocess.DEVNULL,
                              stderr=follower, timeout=120)
        os.close(follower)
        follower = None
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: drained
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0, seen
    text = seen.decode()
    # The turning line is rewritten in place and replaced by the outcome.
    assert re.search(r"\r\x1b\[K[|/\\-] sprocket: installing the dependencies of \S+probe\.functions \(npm install\)… \d+ s", text), text
    assert re.search(r"\r\x1b\[Ksprocket: installing the dependencies of \S+ \(npm install\): installed \(\d+\.\d s\)", text), text
    # Installed now: nothing to say the next time.
    again = invoke("echo", folder)
    assert again.returncode == 0 and "installing the dependencies" not in again.stderr, again.stderr
    (folder / "node_modules").rename(folder / "old_modules")
    plain = invoke("echo", folder)
    assert plain.returncode == 0 and "\x1b[" not in plain.stderr
    assert re.search(r"^sprocket: installing the dependencies of \S+ \(npm install\)…$", plain.stderr, re.M), plain.stderr


# --- gaps: tokens through the admin API, actions in functions list ------------------------------------

def test_tokens_list_and_revoke_through_the_admin_api(start_sprocket, tmp_path):
    s = start_sprocket([], cwd=tmp_path)
    env = {"SPROCKET_TOKEN": (s.data_dir / "admin.token").read_text().strip(), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    made = run("tokens", "create", "--account", "123456", "--data-dir", s.data_dir)
    scoped = made.stdout.strip()
    token_id = re.search(r"id (tok_[0-9a-f]{12})", made.stderr).group(1)
    listed = run("tokens", "list", "--json", "--server", s.admin_url, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [(t["id"], t["account"]) for t in json.loads(listed.stdout)] == [(token_id, 123456)]
    text = run("tokens", "list", "--server", s.admin_url, env=env).stdout
    assert re.match(rf"^{token_id}\t123456\t\S+Z$", text.strip()) and scoped not in text
    # A scoped token may not list or end the others' tokens.
    wait_for(lambda: s.admin("GET", "/api/v1/whoami", token=scoped).status_code == 200, timeout=5, message="the scoped token")
    refused = run("tokens", "list", "--server", s.admin_url, env={**env, "SPROCKET_TOKEN": scoped})
    assert refused.returncode == 1 and "use the node's admin token" in refused.stderr
    assert run("tokens", "revoke", "tok_000000000000", "--server", s.admin_url, env=env).returncode == 1
    revoked = run("tokens", "revoke", token_id, "--server", s.admin_url, env=env)
    assert revoked.returncode == 0, revoked.stderr
    wait_for(lambda: s.admin("GET", "/api/v1/whoami", token=scoped).status_code == 401, timeout=5, message="the revoked token refused")
    assert json.loads(run("tokens", "list", "--json", "--server", s.admin_url, env=env).stdout) == []


def test_functions_list_shows_workflow_actions_too():
    from conftest import EXAMPLES
    out = run("functions", "list", EXAMPLES)
    assert out.returncode == 0, out.stderr
    assert any(r.split()[:5] == ["score-contact", "action", "(node)", "(workflow", "action)"] for r in out.stdout.splitlines()), out.stdout
    listed = {f["name"]: f for f in json.loads(run("functions", "list", EXAMPLES, "--json").stdout)}
    assert listed["domain-of"]["kind"] == "action-python" and listed["domain-of"]["route"] is None
    assert listed["score-contact"]["actionsJson"].endswith("crm.actions/actions.json")
