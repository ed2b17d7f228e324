"""`sprocket dev`: an edit is served from the next request; a broken edit keeps the last good
version serving."""
import json

from conftest import wait_for


def make_folder(tmp_path):
    folder = tmp_path / "live.functions"
    folder.mkdir()
    (folder / "serverless.json").write_text(json.dumps({"endpoints": {"greet": {"file": "greet.js"}}}))
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 1}});\n")
    return folder


def test_edit_changes_the_next_response(start_sprocket, tmp_path):
    folder = make_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    assert s.get("/_hcms/api/greet").json() == {"version": 1}
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: 2}});\n")
    wait_for(lambda: s.get("/_hcms/api/greet").json() == {"version": 2}, timeout=10, message="the edit to be served")


def test_new_endpoint_and_broken_config_keep_the_last_good_version(start_sprocket, tmp_path):
    folder = make_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    assert s.get("/_hcms/api/greet").status_code == 200
    # a broken serverless.json: errors are printed with their position, the old version serves
    (folder / "serverless.json").write_text('{"endpoints": {"greet": {"file": "greet.js", "method": "get"}}}')
    s.wait_for_log(r"serverless\.json:1:\d+: error: endpoints\.greet\.method: unknown method \"get\"")
    s.wait_for_log(r"the previous version keeps serving")
    assert s.get("/_hcms/api/greet").json() == {"version": 1}
    # fixed, with a new endpoint beside it
    (folder / "bye.js").write_text("exports.main = (context, sendResponse) => sendResponse({body: 'bye'});\n")
    (folder / "serverless.json").write_text(json.dumps({"endpoints": {"greet": {"file": "greet.js"}, "bye": {"file": "bye.js"}}}))
    wait_for(lambda: s.get("/_hcms/api/bye").status_code == 200, timeout=10, message="the new endpoint")
    assert s.get("/_hcms/api/bye").text == "bye"
    assert s.get("/_hcms/api/greet").json() == {"version": 1}


def test_in_flight_request_finishes_on_the_old_version(start_sprocket, tmp_path):
    import concurrent.futures
    folder = make_folder(tmp_path)
    (folder / "slow.js").write_text(
        "exports.main = async () => { await new Promise(r => setTimeout(r, 800)); return {statusCode: 200, body: {old: true}}; };\n")
    (folder / "serverless.json").write_text(json.dumps({"endpoints": {"greet": {"file": "greet.js"}, "slow": {"file": "slow.js"}}}))
    s = start_sprocket([folder], command="dev")
    assert s.get("/_hcms/api/slow").status_code == 200
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(s.get, "/_hcms/api/slow")
        (folder / "slow.js").write_text("exports.main = async () => ({statusCode: 200, body: {old: false}});\n")
        s.wait_for_log(r"sprocket: reloaded")
        assert pending.result().json() == {"old": True}
    wait_for(lambda: s.get("/_hcms/api/slow").json() == {"old": False}, timeout=10, message="the new version")
