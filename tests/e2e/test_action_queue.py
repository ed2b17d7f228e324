"""Queued workflow-action executions on a running node: the admin API and `sprocket actions
run/show`, HubSpot's rules, durable retries on an injectable (compressed) clock, and kill -9."""
import http.server
import json
import signal
import subprocess
import threading
import time

import pytest

from conftest import BINARY, SHARES_FILES_WITH_THE_TEST, wait_for

FINAL = ("succeeded", "failed")


def write_actions(root, actions, files, env=None):
    folder = root / "crm.actions"
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in files.items():
        (folder / name).write_text(code)
    (folder / "actions.json").write_text(json.dumps({"actions": actions}))
    if env:
        (folder / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return root


def node(file, outputs=None, **extra):
    return {"language": "node", "file": file, "outputFields": outputs or {}, **extra}


def enqueue(s, name, event=None):
    r = s.admin("POST", f"/api/v1/actions/{name}/executions", json=event if event is not None else {})
    assert r.status_code == 202, r.text
    return r.json()


def execution(s, ident):
    r = s.admin("GET", f"/api/v1/actions/executions/{ident}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_final(s, ident, timeout=20):
    return wait_for(lambda: (lambda e: e if e["state"] in FINAL else None)(execution(s, ident)),
                    timeout=timeout, message=f"execution {ident} to end")


class StubApi:
    """A local HTTP server answering each request from a script of status codes (the last repeats)."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.times = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stub.times.append(time.monotonic())
                status = stub.statuses[min(len(stub.times) - 1, len(stub.statuses) - 1)]
                body = json.dumps({"status": "error", "category": "RATE_LIMITS"} if status == 429 else {"ok": True}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/crm/v3/objects/contacts/1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def stub_api():
    stubs = []

    def make(statuses):
        stub = StubApi(statuses)
        stubs.append(stub)
        return stub

    yield make
    for stub in stubs:
        stub.close()


def test_node_callback_and_return_styles_with_inputs_and_secrets(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {
        "greet": node("greet.js", {"greeting": {"type": "string"}, "done": {"type": "boolean"}},
                      inputFields=["email"], secrets=["TOKEN"]),
        "score": node("score.js", {"score": {"type": "number"}}),
    }, {
        # The callback's outputs wait for the empty event loop: the timer still runs first.
        "greet.js": """
let timerRan = false;
exports.main = async (event, callback) => {
  console.log(`token ${process.env.TOKEN} for ${event.inputFields.email} ${event.callbackId}`);
  setTimeout(() => { timerRan = true; console.log('timer after callback'); }, 50);
  callback({outputFields: {greeting: `hello ${event.inputFields.email}`, get done() { return timerRan; }}});
};""",
        "score.js": "exports.main = async (event) => ({outputFields: {score: event.object.objectId * 2}});\n",
    }, env={"TOKEN": "dotenv-token-value"})
    s = start_sprocket([root])
    # A managed secret wins over .env, and never appears in what is stored.
    assert s.admin("PUT", "/api/v1/secrets/TOKEN", json={"value": "managed-token-value"}).status_code in (200, 201)
    listed = s.admin("GET", "/api/v1/actions").json()["actions"]
    assert {a["name"] for a in listed} == {"greet", "score"}

    first = enqueue(s, "greet", {"inputFields": {"email": "ada@example.com"}, "callbackId": "mine"})
    second = enqueue(s, "score", {"object": {"objectType": "CONTACT", "objectId": 21}})
    assert first["state"] == "queued" and first["callbackId"].startswith("ap-") and first["callbackId"] != second["callbackId"]
    e = wait_final(s, first["id"])
    assert e["state"] == "succeeded", e
    assert e["outputs"] == {"greeting": "hello ada@example.com", "done": True}
    assert e["event"]["origin"]["portalId"] == 123456 and e["event"]["callbackId"] == first["callbackId"]
    messages = [l["message"] for l in e["attempts"][0]["logs"]]
    assert any("for ada@example.com " + first["callbackId"] in m for m in messages), messages
    assert "timer after callback" in messages
    stored = json.dumps(e)
    assert "token-value" not in stored and "[REDACTED:TOKEN]" in stored
    assert e["attemptCount"] == 1 and e["attempts"][0]["outcome"] == "SUCCEEDED" and e["attempts"][0]["memoryMb"] > 0

    e2 = wait_final(s, second["id"])
    assert e2["state"] == "succeeded" and e2["outputs"] == {"score": 42}
    listing = s.admin("GET", "/api/v1/actions/executions?action=score").json()["executions"]
    assert [x["id"] for x in listing] == [second["id"]]


def test_python_success_print_and_raise(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {
        "py": {"language": "python", "file": "py.py", "inputFields": ["n"], "outputFields": {"double": {"type": "number"}}},
        "boom": {"language": "python", "file": "boom.py"},
    }, {
        "py.py": "import logging\n\ndef main(event):\n    print('got', event['inputFields']['n'])\n"
                 "    logging.warning('careful')\n    return {'outputFields': {'double': event['inputFields']['n'] * 2}}\n",
        "boom.py": "def main(event):\n    raise ValueError('no such deal')\n",
    })
    s = start_sprocket([root])
    ok = wait_final(s, enqueue(s, "py", {"inputFields": {"n": 21}})["id"])
    assert ok["state"] == "succeeded" and ok["outputs"] == {"double": 42}
    assert [(l["level"], l["message"]) for l in ok["attempts"][0]["logs"]] == [("INFO", "got 21"), ("WARN", "careful")]
    bad = wait_final(s, enqueue(s, "boom")["id"])
    # A plain exception is not retried: it fails at once.
    assert bad["state"] == "failed" and bad["failure"] == "THREW" and bad["attemptCount"] == 1
    assert "ValueError: no such deal" in bad["error"]


def test_validation_rules(tmp_path, start_sprocket):
    big = "x" * 65001
    root = write_actions(tmp_path / "src", {
        "large": node("large.js", {"text": {"type": "string"}}),
        "typed": node("typed.js", {"n": {"type": "number"}, "day": {"type": "date"}}),
        "extra": node("extra.js", {"n": {"type": "number"}}),
        "cont": node("cont.js"),
        "hungry": node("hungry.js"),
        "slow": node("slow.js"),
    }, {
        "large.js": f"exports.main = async () => ({{outputFields: {{text: 'x'.repeat({len(big)})}}}});\n",
        "typed.js": "exports.main = async () => ({outputFields: {n: 'seven', day: 1700000000123}});\n",
        "extra.js": "exports.main = async () => ({outputFields: {n: 1, surprise: true}});\n",
        "cont.js": "exports.main = async () => ({outputFields: {hs_execution_state: 'FAIL_CONTINUE'}});\n",
        "hungry.js": "exports.main = async () => { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); };\n",
        "slow.js": "exports.main = async () => new Promise(() => setInterval(() => {}, 1000));\n",
    })
    s = start_sprocket([root], "--time-limit-ms", "1500")
    # Refused before anything is stored: too many inputs, an unknown action, an event that is not an object.
    r = s.admin("POST", "/api/v1/actions/typed/executions", json={"inputFields": {f"p{i}": i for i in range(51)}})
    assert r.status_code == 400 and "at most 50" in r.json()["message"]
    r = s.admin("POST", "/api/v1/actions/nope/executions", json={})
    assert r.status_code == 404 and "large" in r.json()["message"]
    r = s.admin("POST", "/api/v1/actions/typed/executions", data="[1]")
    assert r.status_code == 400 and "JSON object" in r.json()["message"]
    assert s.admin("GET", "/api/v1/actions/executions/999").status_code == 404

    ids = {name: enqueue(s, name)["id"] for name in ("large", "typed", "extra", "cont", "hungry", "slow")}
    got = {name: wait_final(s, ident) for name, ident in ids.items()}
    assert got["large"]["failure"] == "OUTPUT_VALUES_TOO_LARGE" and got["large"]["state"] == "failed"
    assert got["typed"]["failure"] == "INVALID_OUTPUT"
    assert any("n must be a number" in p for p in got["typed"]["problems"])
    assert any("midnight UTC" in p for p in got["typed"]["problems"])
    assert got["extra"]["state"] == "succeeded" and any("surprise" in w for w in got["extra"]["warnings"])
    assert got["cont"]["state"] == "failed" and got["cont"]["failure"] == "FAIL_CONTINUE"
    assert got["hungry"]["failure"] == "OUT_OF_MEMORY" and "128 MB" in got["hungry"]["error"]
    assert got["slow"]["failure"] == "TIMED_OUT" and "timed out after 1.50 seconds" in got["slow"]["error"]
    for e in got.values():
        assert e["attemptCount"] == 1, e  # none of these is retried


def test_rate_limited_twice_then_succeeds_on_the_schedule(tmp_path, start_sprocket, stub_api):
    api = stub_api([429, 429, 200])
    root = write_actions(tmp_path / "src", {"fetch": node("fetch.js", {"ok": {"type": "boolean"}}, inputFields=["url"])}, {
        "fetch.js": """
const axios = require('axios');
exports.main = async (event, callback) => {
  try {
    const r = await axios.get(event.inputFields.url);
    callback({outputFields: {ok: r.data.ok}});
  } catch (err) {
    console.error(`failed: ${err.response && err.response.status}`);
    throw err;  // the reference: throw it, and HubSpot retries
  }
};"""})
    # 1,000 times faster: the schedule's 1 and 2 minutes take 60 and 120 ms.
    s = start_sprocket([root], "--action-clock-scale", "1000")
    e = wait_final(s, enqueue(s, "fetch", {"inputFields": {"url": api.url}})["id"])
    assert e["state"] == "succeeded" and e["outputs"] == {"ok": True}, e
    assert [a["outcome"] for a in e["attempts"]] == ["RETRY", "RETRY", "SUCCEEDED"]
    assert [a["retryDelayMs"] for a in e["attempts"]] == [60_000, 120_000, None]
    assert "HTTP 429" in e["attempts"][0]["error"] and "failed: 429" in e["attempts"][0]["logs"][0]["message"]
    assert len(api.times) == 3
    metrics = s.admin("GET", "/metrics").text
    assert 'sprocket_action_attempts_total{action="123456/fetch",outcome="RETRY"} 2' in metrics
    assert 'sprocket_action_attempts_total{action="123456/fetch",outcome="SUCCEEDED"} 1' in metrics
    gaps = [b - a for a, b in zip(api.times, api.times[1:])]
    assert gaps[0] >= 0.060 and gaps[1] >= 0.120, gaps


def test_python_requests_5xx_is_retried(tmp_path, start_sprocket, stub_api):
    api = stub_api([503, 200])
    root = write_actions(tmp_path / "src", {"fetch": {"language": "python", "file": "fetch.py", "inputFields": ["url"],
                                                      "outputFields": {"ok": {"type": "boolean"}}}}, {
        "fetch.py": "import requests\n\ndef main(event):\n    r = requests.get(event['inputFields']['url'], timeout=5)\n"
                    "    r.raise_for_status()\n    return {'outputFields': {'ok': r.json()['ok']}}\n"})
    s = start_sprocket([root], "--action-clock-scale", "1000")
    e = wait_final(s, enqueue(s, "fetch", {"inputFields": {"url": api.url}})["id"])
    assert e["state"] == "succeeded" and [a["outcome"] for a in e["attempts"]] == ["RETRY", "SUCCEEDED"], e
    assert "HTTP 503" in e["attempts"][0]["error"]


def test_permanent_500_gives_up_after_three_days(tmp_path, start_sprocket, stub_api):
    api = stub_api([500])
    root = write_actions(tmp_path / "src", {"fetch": node("fetch.js", inputFields=["url"])}, {
        "fetch.js": "const axios = require('axios');\n"
                    "exports.main = async (event) => { await axios.get(event.inputFields.url); return {outputFields: {}}; };\n"})
    # 100,000 times faster: three days take 2.6 seconds.
    s = start_sprocket([root], "--action-clock-scale", "100000")
    e = wait_final(s, enqueue(s, "fetch", {"inputFields": {"url": api.url}})["id"], timeout=60)
    assert e["state"] == "failed" and e["failure"] == "RETRIES_EXHAUSTED", e
    delays = [a["retryDelayMs"] for a in e["attempts"] if a["retryDelayMs"]]
    minute = 60_000
    # Growing from one minute, never more than 8 hours apart, within the 3 days.
    assert delays[:4] == [minute, 2 * minute, 4 * minute, 8 * minute]
    assert all(b >= a for a, b in zip(delays, delays[1:])) and max(delays) == 8 * 60 * minute
    assert sum(delays) <= 72 * 60 * minute
    assert e["attempts"][-1]["outcome"] == "FAILED" and e["attemptCount"] == len(api.times) == len(delays) + 1
    assert "HTTP 500" in e["error"]


def test_kill_9_during_a_run_runs_it_again_exactly_once_to_the_end(tmp_path, start_sprocket):
    marks = tmp_path / "marks"
    marks.mkdir()
    root = write_actions(tmp_path / "src", {"slow": node("slow.js", {"run": {"type": "number"}})}, {
        "slow.js": f"""
const fs = require('fs');
exports.main = async (event) => {{
  const dir = {json.dumps(str(marks))};
  const run = fs.readdirSync(dir).filter((n) => n.startsWith('start')).length + 1;
  fs.writeFileSync(`${{dir}}/start-${{run}}`, String(Date.now()));
  // The first run waits to be killed; the second finishes.
  if (run === 1) await new Promise((resolve) => setTimeout(resolve, 30000));
  fs.writeFileSync(`${{dir}}/end-${{run}}`, String(Date.now()));
  return {{outputFields: {{run}}}};
}};"""})
    data = tmp_path / "data"
    s = start_sprocket([root], *SHARES_FILES_WITH_THE_TEST, data_dir=data)
    ident = enqueue(s, "slow")["id"]
    wait_for(lambda: (marks / "start-1").exists(), message="the first run to start")
    s.stop(signal.SIGKILL)

    s2 = start_sprocket([root], *SHARES_FILES_WITH_THE_TEST, data_dir=data)
    e = wait_final(s2, ident)
    assert e["state"] == "succeeded" and e["outputs"] == {"run": 2}, e
    assert [a["outcome"] for a in e["attempts"]] == ["INTERRUPTED", "SUCCEEDED"]
    assert "runs again" in e["attempts"][0]["error"]
    assert sorted(p.name for p in marks.iterdir()) == ["end-2", "start-1", "start-2"]  # the cut-off run never went on
    # Exactly one final state: it stays as it is.
    assert s2.admin("GET", "/api/v1/actions/executions?state=succeeded").json()["executions"][0]["id"] == ident
    assert not s2.admin("GET", "/api/v1/actions/executions?state=queued").json()["executions"]
    assert not s2.admin("GET", "/api/v1/actions/executions?state=running").json()["executions"]


def test_one_server_per_data_directory(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {"a": node("a.js")}, {"a.js": "exports.main = async () => ({outputFields: {}});\n"})
    first = start_sprocket([root])
    second = subprocess.run([str(BINARY), "serve", str(root),
                             "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=30)
    # Refused after the lock's patience (5 s), naming the server that holds it.
    assert second.returncode == 2, second.stderr
    assert f"another sprocket server (pid {first.process.pid} (" in second.stderr, second.stderr
    assert "is using the data directory" in second.stderr


def test_cli_run_wait_and_show_on_a_deployed_action(tmp_path, start_sprocket):
    served = write_actions(tmp_path / "served", {"a": node("a.js")}, {"a.js": "exports.main = async () => ({outputFields: {}});\n"})
    s = start_sprocket([served])
    project = write_actions(tmp_path / "proj", {"tier": node("tier.js", {"tier": {"type": "enumeration", "options": ["gold", "silver"]}},
                                                             inputFields=["spend"], secrets=["API_KEY"])}, {
        "tier.js": "exports.main = async (event, callback) => {\n"
                   "  console.log('spend', event.inputFields.spend);\n"
                   "  callback({outputFields: {tier: event.inputFields.spend > 100 ? 'gold' : 'silver'}});\n};\n"})
    env = {"SPROCKET_TOKEN": (tmp_path / "data" / "admin.token").read_text().strip(), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([str(BINARY), *map(str, args), "--server", s.admin_url], capture_output=True, text=True, timeout=60, env=env)

    # The secret budget is checked at deploy: 1000 characters of secret values per action.
    assert s.admin("PUT", "/api/v1/secrets/API_KEY", json={"value": "k" * 1001}).status_code in (200, 201)
    refused = cli("deploy", project / "crm.actions", "--name", "crm")
    assert refused.returncode != 0 and "1000" in refused.stderr + refused.stdout, refused
    assert s.admin("PUT", "/api/v1/secrets/API_KEY", json={"value": "k" * 20}).status_code == 200
    deployed = cli("deploy", project / "crm.actions", "--name", "crm")
    assert deployed.returncode == 0, deployed.stderr
    assert "  action  tier" in deployed.stdout

    (tmp_path / "event.json").write_text(json.dumps({"inputFields": {"spend": 250}}))
    run = cli("actions", "run", "tier", "--event", tmp_path / "event.json", "--wait", "--wait-seconds", "30")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "State: succeeded" in run.stdout and 'Outputs: {"tier":"gold"}' in run.stdout and "spend 250" in run.stdout
    queued = cli("actions", "run", "tier", "--event", tmp_path / "event.json")
    assert queued.returncode == 0 and queued.stdout.startswith("queued execution ")
    ident = queued.stdout.split()[2]
    wait_final(s, ident)
    shown = cli("actions", "show", ident)
    assert shown.returncode == 0 and "Attempt 1" in shown.stdout and "SUCCEEDED" in shown.stdout
    listed = cli("actions", "executions", "tier", "--limit", "5")
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2, listed.stdout + listed.stderr
    assert all(" tier " in line and "succeeded" in line for line in listed.stdout.splitlines())
    assert cli("actions", "executions", "--state", "failed").stdout == ""
    missing = cli("actions", "run", "nope")
    assert missing.returncode == 2 and "no action named nope" in missing.stderr


def test_an_actions_own_package_json_is_installed(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {"dep": node("dep.js", {"answer": {"type": "number"}})}, {
        "dep.js": "const tiny = require('tiny-lib');\nexports.main = async () => ({outputFields: {answer: tiny.answer}});\n",
        "package.json": '{"name": "deps", "private": true, "dependencies": {"tiny-lib": "file:./lib"}}',
    })
    lib = root / "crm.actions" / "lib"
    lib.mkdir()
    (lib / "package.json").write_text('{"name": "tiny-lib", "version": "1.0.0", "main": "index.js"}')
    (lib / "index.js").write_text("exports.answer = 42;\n")
    s = start_sprocket([root])
    e = wait_final(s, enqueue(s, "dep")["id"])
    assert e["state"] == "succeeded" and e["outputs"] == {"answer": 42}, e


def test_secret_values_stay_out_of_outputs_problems_and_stray_lines(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {
        "leaky": node("leaky.js", {"n": {"type": "number"}, "echo": {"type": "string"}}, secrets=["TOKEN"]),
    }, {
        "leaky.js": """
exports.main = async (event) => {
  setTimeout(() => console.log(`later: ${process.env.TOKEN}`), 20);  // printed between attempts
  return {outputFields: {n: process.env.TOKEN, echo: `is ${process.env.TOKEN}`}};
};"""}, env={"TOKEN": "sk-live-very-secret-value"})
    s = start_sprocket([root])
    e = wait_final(s, enqueue(s, "leaky", {"origin": {"portalId": 999, "actionDefinitionId": 5}})["id"])
    assert e["state"] == "failed" and e["failure"] == "INVALID_OUTPUT", e
    # The caller cannot pick another portal; its other origin fields are kept.
    assert e["event"]["origin"] == {"portalId": 123456, "actionDefinitionId": 5}
    s.wait_for_log(r"later: \[REDACTED:TOKEN\]")
    assert "very-secret" not in json.dumps(e) and "[REDACTED:TOKEN]" in json.dumps(e)
    assert "very-secret" not in s.log()


def test_python_nan_output_fails_instead_of_passing_nothing(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {"nan": {"language": "python", "file": "nan.py", "outputFields": {"x": {"type": "number"}}}},
                         {"nan.py": "def main(event):\n    return {'outputFields': {'x': float('nan')}}\n"})
    s = start_sprocket([root])
    e = wait_final(s, enqueue(s, "nan")["id"])
    assert e["state"] == "failed" and e["failure"] == "THREW" and "Out of range float values" in e["error"], e


def test_dev_reload_runs_the_new_code(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {"v": node("v.js", {"v": {"type": "number"}})},
                         {"v.js": "exports.main = async () => ({outputFields: {v: 1}});\n"})
    s = start_sprocket([root], command="dev")
    assert wait_final(s, enqueue(s, "v")["id"])["outputs"] == {"v": 1}
    (root / "crm.actions" / "v.js").write_text("exports.main = async () => ({outputFields: {v: 2}});\n")
    s.wait_for_log(r"reloaded")
    assert wait_final(s, enqueue(s, "v")["id"])["outputs"] == {"v": 2}


def test_sigterm_lets_a_running_attempt_finish(tmp_path, start_sprocket):
    marks = tmp_path / "marks"
    marks.mkdir()
    root = write_actions(tmp_path / "src", {"slow": node("slow.js", {"done": {"type": "boolean"}})}, {
        "slow.js": f"""
const fs = require('fs');
exports.main = async () => {{
  fs.writeFileSync({json.dumps(str(marks / "started"))}, '1');
  await new Promise((resolve) => setTimeout(resolve, 700));
  return {{outputFields: {{done: true}}}};
}};"""})
    data = tmp_path / "data"
    s = start_sprocket([root], *SHARES_FILES_WITH_THE_TEST, data_dir=data)
    ident = enqueue(s, "slow")["id"]
    wait_for(lambda: (marks / "started").exists(), message="the attempt to start")
    assert s.stop(signal.SIGTERM) == 0
    s2 = start_sprocket([root], data_dir=data)
    e = execution(s2, ident)
    assert e["state"] == "succeeded" and e["attemptCount"] == 1, e


def test_code_that_does_not_load_fails_with_the_reason(tmp_path, start_sprocket):
    root = write_actions(tmp_path / "src", {
        "broken": node("broken.js"),
        "pybroken": {"language": "python", "file": "pybroken.py"},
    }, {"broken.js": "exports.main = async (event => {;\n", "pybroken.py": "import no_such_module_here\n"})
    s = start_sprocket([root])
    js = wait_final(s, enqueue(s, "broken")["id"])
    py = wait_final(s, enqueue(s, "pybroken")["id"])
    assert js["state"] == "failed" and js["failure"] == "LOAD_ERROR" and "SyntaxError" in js["error"], js
    assert py["failure"] == "LOAD_ERROR" and "no_such_module_here" in py["error"], py


def test_actions_belong_to_their_account(tmp_path, start_sprocket):
    a = write_actions(tmp_path / "a", {"who": node("who.js", {"portal": {"type": "number"}})},
                      {"who.js": "exports.main = async (event) => ({outputFields: {portal: event.origin.portalId}});\n"})
    b = write_actions(tmp_path / "b", {"who": node("who.js", {"portal": {"type": "number"}})},
                      {"who.js": "exports.main = async (event) => ({outputFields: {portal: -event.origin.portalId}});\n"})
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"accounts": [{"id": 111, "domains": ["a.test"]},
                                               {"id": 222, "domains": ["b.test"], "paths": [str(b)]}]}))
    s = start_sprocket([a], "--config", config, "--account-id", "111")
    mine = s.admin("POST", "/api/v1/actions/who/executions?account=111", json={}).json()
    theirs = s.admin("POST", "/api/v1/actions/who/executions?account=222", json={}).json()
    assert wait_final(s, mine["id"])["outputs"] == {"portal": 111}
    assert wait_for(lambda: execution_of(s, theirs["id"], 222)["state"] == "succeeded", message="account 222's run")
    assert execution_of(s, theirs["id"], 222)["outputs"] == {"portal": -222}

    made = subprocess.run([str(BINARY), "tokens", "create", "--account", "222", "--data-dir", str(s.data_dir)],
                          capture_output=True, text=True, timeout=60)
    token = made.stdout.strip()
    wait_for(lambda: s.admin("GET", "/api/v1/actions", token=token).status_code == 200, message="the new token")
    # A token for account 222 sees its own executions only, and cannot queue for account 111.
    assert s.admin("GET", f"/api/v1/actions/executions/{theirs['id']}", token=token).status_code == 200
    assert s.admin("GET", f"/api/v1/actions/executions/{mine['id']}", token=token).status_code == 404
    assert s.admin("POST", "/api/v1/actions/who/executions?account=111", token=token, json={}).status_code == 403
    assert [e["id"] for e in s.admin("GET", "/api/v1/actions/executions", token=token).json()["executions"]] == [theirs["id"]]


def execution_of(s, ident, account):
    return s.admin("GET", f"/api/v1/actions/executions/{ident}?account={account}").json()
