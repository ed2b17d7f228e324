"""`sprocket actions check`: action definitions are validated with positions and fixes; running
actions is not built yet and says so."""
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


def test_running_actions_says_not_yet(tmp_path):
    r = run("actions", "test", "enrich", "--event", tmp_path / "event.json")
    assert r.returncode == 2
    assert "not built yet" in r.stderr
