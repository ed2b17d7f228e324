"""The command line's everyday edges (issue 16): --version and sprocket_build_info, an example in
every --help, bash completion made from the command tree, `functions create` and `functions list`,
--json on every listing, `tokens list|revoke`, --color and NO_COLOR, and the request id in `logs`."""
import json
import os
import pty
import re
import subprocess

import pytest
import requests

from conftest import BINARY, EXAMPLES, wait_for

ESC = "\x1b["


def run(*args, env=None, cwd=None, stdin=None, timeout=60):
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=timeout, input=stdin,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def remote(s, *args, stdin=None):
    return run(*args, "--server", s.admin_url, "--data-dir", s.data_dir, stdin=stdin, timeout=120)


def created(tmp_path, name, *flags):
    out = run("functions", "create", name, *flags, "--dir", tmp_path)
    assert out.returncode == 0, out.stderr
    return out


# --- 1. version, metric, help, completion --------------------------------------------------------

def test_version_names_the_version_commit_and_build_date():
    out = run("--version")
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert re.match(r"^sprocket \d+\.\d+\.\d+ \(git ([0-9a-f]{7,}(-dirty)?|unknown), built \d{4}-\d\d-\d\d\)$", line), line


def test_build_info_metric_matches_the_version(start_sprocket, tmp_path):
    created(tmp_path, "hello")
    s = start_sprocket([tmp_path / "hello.functions"])
    version, commit = re.match(r"^sprocket (\S+) \(git (\S+), built", run("--version").stdout).groups()
    metrics = s.admin("GET", "/metrics").text
    assert f'sprocket_build_info{{version="{version}",commit="{commit}"}} 1' in metrics, metrics[:500]


COMMANDS = [["serve"], ["dev"], ["secrets"], ["logs"], ["deploy"], ["versions"], ["rollback"], ["tokens"],
            ["tokens", "create"], ["tokens", "list"], ["tokens", "revoke"], ["functions"], ["functions", "list"],
            ["functions", "create"], ["actions"], ["actions", "check"], ["actions", "test"], ["actions", "run"],
            ["actions", "show"], ["actions", "executions"], ["store"], ["store", "migrate"], ["completion"], ["invoke"],
            ["login"], ["logout"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_ends_with_an_example(command):
    out = run(*command, "--help")
    assert out.returncode == 0, out.stderr
    example = out.stdout.split("Example:\n", 1)
    assert len(example) == 2, out.stdout
    assert example[1].lstrip().startswith("sprocket ") or "sprocket " in example[1], out.stdout


def test_an_unknown_command_is_named_with_the_new_ones_listed():
    out = run("functions", "lsit")
    assert out.returncode == 2
    assert 'unknown command "lsit"; the commands of sprocket functions are: list, create' in out.stderr, out.stderr


def complete(*words):
    """What bash completes for `sprocket WORDS…` (the last word being typed), with the script sourced."""
    script = run("completion", "bash")
    assert script.returncode == 0, script.stderr
    quoted = " ".join(f"'{w}'" for w in ("sprocket", *words))
    shell = (f"{script.stdout}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words)}; _sprocket; "
             'printf "%s\\n" "${COMPREPLY[@]}"; echo ---; compgen -W "$(_sprocket_commands "")" -- fu')
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", shell], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    replies, compgen = out.stdout.split("---\n")
    assert compgen.split() == ["functions"]
    return replies.split()


def test_bash_completion_covers_commands_subcommands_and_options():
    assert complete("s") == ["serve", "secrets", "store"]
    assert complete("tokens", "") == ["create", "list", "revoke"]
    assert complete("tokens", "r") == ["revoke"]
    assert complete("functions", "c") == ["create"]
    assert complete("secrets", "") == ["add", "update", "list", "delete"]
    assert complete("secrets", "list", "--js") == ["--json"]
    assert complete("completion", "b") == ["bash"]
    assert "--listen" in complete("serve", "--li")
    assert complete("functions", "list", "--js") == ["--json"]
    # An option's value in between does not lose the command path.
    assert complete("logs", "--data-dir", "/tmp/x", "--fol") == ["--follow"]


def test_completion_refuses_a_shell_it_does_not_know():
    out = run("completion", "fish")
    assert out.returncode == 2
    assert "sprocket completion" in out.stderr


# --- 2. functions create and list ----------------------------------------------------------------

def test_a_created_design_manager_function_lists_and_serves(start_sprocket, tmp_path):
    out = created(tmp_path, "greet")
    folder = tmp_path / "greet.functions"
    assert (folder / "serverless.json").is_file() and (folder / "greet.js").is_file()
    assert "exports.main = async (context)" in (folder / "greet.js").read_text()
    listed = run("functions", "list", folder, "--json")
    assert listed.returncode == 0, listed.stderr
    [fn] = json.loads(listed.stdout)
    assert fn["kind"] == "design-manager" and fn["route"] == "/_hcms/api/greet" and fn["methods"] == ["GET"]
    assert fn["file"] == str(folder / "greet.js") and fn["secrets"] == []
    s = start_sprocket([folder])
    r = s.get("/_hcms/api/greet?who=ada")
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Hello from greet" and r.json()["params"] == {"who": ["ada"]}
    assert "/_hcms/api/greet" in out.stdout


def test_a_created_project_lists_and_serves(start_sprocket, tmp_path):
    created(tmp_path, "quotes", "--project")
    root = tmp_path / "quotes"
    for part in ("hsproject.json", "src/app/app.json", "src/app/app.functions/serverless.json", "src/app/app.functions/quotes.js"):
        assert (root / part).is_file(), part
    listed = run("functions", "list", root, "--json")
    assert listed.returncode == 0, listed.stderr
    [fn] = json.loads(listed.stdout)
    assert fn["kind"] == "project" and fn["route"] == "/hs/serverless/quotes" and fn["project"] == "quotes"
    s = start_sprocket([root])
    r = s.get("/hs/serverless/quotes")
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Hello from quotes"


def test_create_refuses_to_overwrite_and_refuses_a_bad_name(tmp_path):
    created(tmp_path, "greet")
    js = tmp_path / "greet.functions" / "greet.js"
    js.write_text("// mine\n")
    again = run("functions", "create", "greet", "--dir", tmp_path)
    assert again.returncode == 1
    assert "exists already; nothing was created" in again.stderr, again.stderr
    assert js.read_text() == "// mine\n"
    (tmp_path / "taken").mkdir()
    assert run("functions", "create", "taken", "--project", "--dir", tmp_path).returncode == 1
    bad = run("functions", "create", "../escape", "--dir", tmp_path)
    assert bad.returncode == 2 and "cannot name a function" in bad.stderr, bad.stderr
    assert not (tmp_path.parent / "escape.functions").exists()


def test_functions_list_shows_what_serve_serves(tmp_path):
    out = run("functions", "list", EXAMPLES)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["NAME", "KIND", "ROUTE", "METHODS", "FILE", "SECRETS"]
    assert any(r.split()[:4] == ["hello", "design-manager", "/_hcms/api/hello", "GET"] for r in rows), out.stdout
    assert any(r.split()[:4] == ["quoteCard", "project", "(app", "function)"] for r in rows), out.stdout
    listed = {f["name"]: f for f in json.loads(run("functions", "list", EXAMPLES, "--json").stdout)}
    assert listed["echo"]["methods"] == ["GET", "POST", "PUT", "DELETE"]
    assert listed["quoteCard"]["route"] is None


def test_functions_list_shows_declared_secrets_and_refuses_what_serve_refuses(tmp_path):
    created(tmp_path, "vault")
    config = tmp_path / "vault.functions" / "serverless.json"
    doc = json.loads(config.read_text())
    doc["secrets"] = ["API_KEY"]
    config.write_text(json.dumps(doc))
    [fn] = json.loads(run("functions", "list", tmp_path / "vault.functions", "--json").stdout)
    assert fn["secrets"] == ["API_KEY"]
    config.write_text('{"endpoints": {"vault": {"method": "GET"}}}')
    broken = run("functions", "list", tmp_path / "vault.functions")
    assert broken.returncode == 2
    assert "serverless.json" in broken.stderr and "would keep `sprocket serve` from serving" in broken.stderr, broken.stderr


# --- 3. --json on listings, tokens, colour, logs' request id -------------------------------------

def test_tokens_list_and_revoke(start_sprocket, tmp_path):
    created(tmp_path, "hello")
    s = start_sprocket([tmp_path / "hello.functions"])
    made = run("tokens", "create", "--account", "123456", "--data-dir", s.data_dir)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    token_id = re.search(r"id (tok_[0-9a-f]{12})", made.stderr).group(1)
    wait_for(lambda: s.admin("GET", "/api/v1/secrets", token=token).status_code == 200, timeout=5,
             message="the server to accept the new token")

    text = run("tokens", "list", "--data-dir", s.data_dir)
    assert text.returncode == 0, text.stderr
    assert re.match(rf"^{token_id}\t123456\t\d{{4}}-\d\d-\d\dT\S+Z$", text.stdout.strip()), text.stdout
    listed = json.loads(run("tokens", "list", "--json", "--data-dir", s.data_dir).stdout)
    assert [(t["id"], t["account"]) for t in listed] == [(token_id, 123456)]
    assert token not in text.stdout and token[4:20] not in text.stdout

    assert run("tokens", "revoke", "tok_000000000000", "--data-dir", s.data_dir).returncode == 1
    revoked = run("tokens", "revoke", token_id, "--data-dir", s.data_dir)
    assert revoked.returncode == 0, revoked.stderr
    wait_for(lambda: s.admin("GET", "/api/v1/secrets", token=token).status_code == 401, timeout=5,
             message="the server to refuse the revoked token")
    assert json.loads(run("tokens", "list", "--json", "--data-dir", s.data_dir).stdout) == []


def test_secrets_versions_and_deploy_print_json(start_sprocket, tmp_path):
    s = start_sprocket([], cwd=tmp_path)
    assert remote(s, "secrets", "add", "API_KEY", stdin="v").returncode == 0
    secrets = json.loads(remote(s, "secrets", "list", "--json").stdout)
    assert [x["name"] for x in secrets] == ["API_KEY"] and "updatedAt" in secrets[0]
    local = run("secrets", "list", "--json", "--data-dir", s.data_dir)
    assert [x["name"] for x in json.loads(local.stdout)] == ["API_KEY"], local.stderr

    created(tmp_path, "shop", "--project")
    deployed = remote(s, "deploy", tmp_path / "shop", "--json", "-m", "first")
    assert deployed.returncode == 0, deployed.stderr
    answer = json.loads(deployed.stdout)
    assert answer["version"] == 1 and answer["name"] == "shop" and answer["accountId"] == 123456 and answer["deployId"]
    assert [f["route"] for f in answer["functions"]] == ["/hs/serverless/shop"]
    versions = json.loads(remote(s, "versions", "--json").stdout)
    assert [(v["version"], v["active"], v["message"]) for v in versions] == [(1, True, "first")]
    assert s.get("/hs/serverless/shop").status_code == 200


def logs_output(s, *flags, env=None, tty=False):
    args = [str(BINARY), "logs", "--data-dir", str(s.data_dir), *flags]
    if not tty:
        return run(*args[1:], env=env).stdout
    leader, follower = pty.openpty()
    try:
        subprocess.run(args, stdout=follower, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})}, timeout=60)
        os.close(follower)
        follower = None
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        if follower is not None:
            os.close(follower)
        os.close(leader)


def test_logs_text_shows_request_ids_and_colour_follows_the_terminal(start_sprocket, tmp_path):
    created(tmp_path, "hello")
    s = start_sprocket([tmp_path / "hello.functions"])
    request_id = s.get("/_hcms/api/hello").headers["X-Request-Id"]
    text = wait_for(lambda: (lambda out: request_id in out and out)(logs_output(s)), timeout=10,
                    message="the execution to be stored")
    assert re.search(rf" - SUCCESS - GET /_hcms/api/hello - Execution Time: \d+ms - RequestId: {re.escape(request_id)}$",
                     text, re.M), text
    assert ESC not in text, "no colour into a pipe"
    assert request_id in logs_output(s, "--compact")
    assert ESC + "32m" in logs_output(s, "--color", "always")
    assert ESC + "32m" in logs_output(s, tty=True), "auto colours a terminal"
    assert ESC not in logs_output(s, tty=True, env={"NO_COLOR": "1"})
    assert ESC not in logs_output(s, "--color", "never", tty=True)
    assert run("logs", "--color", "sometimes", "--data-dir", s.data_dir).returncode == 2


def test_serve_colours_its_records_only_when_told(start_sprocket, tmp_path):
    created(tmp_path, "hello")
    plain = start_sprocket([tmp_path / "hello.functions"])
    plain.get("/_hcms/api/hello")
    plain.wait_for_log(r" - SUCCESS - GET /_hcms/api/hello")
    assert ESC not in plain.log()
    coloured = start_sprocket([tmp_path / "hello.functions"], "--color", "always", data_dir=tmp_path / "data2")
    coloured.get("/_hcms/api/hello")
    coloured.wait_for_log(re.escape(ESC + "32m") + r".* - SUCCESS - GET /_hcms/api/hello")
