"""`sprocket actions check` and `actions test`: action definitions are validated with positions
and fixes; an action runs once, now, in Node.js or Python (test_action_queue.py: queued runs)."""
import json
import subprocess

from conftest import BINARY


def run(*args):
    return subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_check_reports_definitions_and_errors(tmp_path):
    folder = tmp_path / "crm.actions"
    folder.mkdir()
    (folder / "enrich.js").write_text("exports.main = async (event, callback) => callback({outputFields: {score: 1}});\n")
    (folder / "actions.json").write_text(json.dumps({"actions": {"enrich": {
        "language": "node", "file": "enrich.js", "inputFields": ["email"], "outputFields": {"score": {"type": "number"}}}}}))
    ok = run("actions", "check", tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "enrich  node  enrich.js  inputs: 1  outputs: 1"

    (folder / "actions.json").write_text('{"actions": {\n  "enrich": {"language": "node", "file": "enrich.js",\n'
                                         '    "outputFields": {"tier": {"type": "enumeration"}}}}}')
    bad = run("actions", "check", folder)
    assert bad.returncode == 2
    assert "actions.json:3:" in bad.stderr and "actions.enrich.outputFields.tier: an enumeration lists its options" in bad.stderr


def action_folder(tmp_path, code, outputs=None, language="node", file="act.js"):
    folder = tmp_path / "crm.actions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_text(code)
    (folder / "actions.json").write_text(json.dumps({"actions": {"act": {
        "language": language, "file": file, "inputFields": ["email"], "secrets": ["TOKEN"],
        "outputFields": outputs or {"score": {"type": "number"}}}}}))
    (folder / ".env").write_text("TOKEN=tok-123\n")
    (tmp_path / "event.json").write_text(json.dumps({"inputFields": {"email": "ada@example.com"}}))
    return tmp_path


def test_callback_waits_for_the_empty_event_loop(tmp_path):
    root = action_folder(tmp_path, """
exports.main = async (event, callback) => {
  console.log(`enriching ${event.inputFields.email} with ${process.env.TOKEN}`);
  callback({outputFields: {score: event.callbackId.startsWith('ap-') ? 42 : 0}});
  setTimeout(() => console.log('work after the callback ran first'), 60);
};
""")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith("INFO   enriching ada@example.com with [REDACTED:TOKEN]")  # the .env value, redacted
    assert lines[1].endswith("INFO   work after the callback ran first")
    assert "Status: SUCCESS" in lines[2]
    assert 'Outputs: {"score":42}' in r.stdout
    assert "Memory: " in r.stdout and "Run time: " in r.stdout


def test_returned_value_and_output_rules(tmp_path):
    root = action_folder(tmp_path, "exports.main = async () => ({outputFields: {score: 'high', extra: 1}});")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 1
    assert "Status: FAILED (INVALID_OUTPUT)" in r.stdout
    assert 'score must be a number, not "high"' in r.stdout
    assert 'warning: output "extra" is not declared' in r.stdout
    root2 = action_folder(tmp_path / "b", "exports.main = async () => ({outputFields: {note: 'x'.repeat(65001)}});",
                          outputs={"note": {"type": "string"}})
    r = run("actions", "test", "act", "--event", root2 / "event.json", "--path", root2)
    assert "Status: FAILED (OUTPUT_VALUES_TOO_LARGE)" in r.stdout
    root3 = action_folder(tmp_path / "c", "exports.main = async () => ({outputFields: {score: 1, hs_execution_state: 'FAIL_CONTINUE'}});")
    r = run("actions", "test", "act", "--event", root3 / "event.json", "--path", root3)
    assert "FAIL_CONTINUE" in r.stdout and r.returncode == 1


def test_a_thrown_error_fails_the_test(tmp_path):
    root = action_folder(tmp_path, "exports.main = (event, callback) => { throw new Error('no such contact'); };")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 1
    assert "Status: FAILED (the code threw)" in r.stdout and "Error: no such contact" in r.stdout


def test_python_action_with_print_logging_secrets_and_errors(tmp_path):
    root = action_folder(tmp_path, """import logging, os

def main(event):
    print(f"enriching {event['inputFields']['email']} with {os.getenv('TOKEN')}")
    logging.warning("careful")
    return {"outputFields": {"score": 7}}
""", language="python", file="act.py")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "INFO   enriching ada@example.com with [REDACTED:TOKEN]" in r.stdout
    assert "WARN   careful" in r.stdout
    assert 'Outputs: {"score":7}' in r.stdout
    failing = action_folder(tmp_path / "f", "def main(event):\n    raise ValueError('no such contact')\n", language="python", file="act.py")
    r = run("actions", "test", "act", "--event", failing / "event.json", "--path", failing)
    assert r.returncode == 1
    assert "Status: FAILED (the code threw)" in r.stdout and "ValueError: no such contact" in r.stdout


def test_python_actions_have_the_reference_libraries(tmp_path):
    root = action_folder(tmp_path, """import requests, redis, googleapiclient

def main(event):
    return {"outputFields": {"score": 1}}
""", language="python", file="act.py")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 0, r.stdout + r.stderr


def test_node_actions_have_the_reference_libraries(tmp_path):
    # The reference's list for Node.js actions, with its own @hubspot/api-client major (10).
    names = ["@hubspot/api-client", "async", "aws-sdk", "axios", "lodash", "mongoose", "mysql", "redis", "request",
             "bluebird", "random-number-csprng", "googleapis"]
    root = action_folder(tmp_path, f"""
const names = {json.dumps(names)};
exports.main = async () => {{
  for (const name of names) require(name);
  const major = Number(require('@hubspot/api-client/package.json').version.split('.')[0]);
  return {{outputFields: {{score: major}}}};
}};""")
    r = run("actions", "test", "act", "--event", root / "event.json", "--path", root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'Outputs: {"score":10}' in r.stdout
