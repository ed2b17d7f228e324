"""`sprocket dev`: an edit is served from the next request; a broken edit keeps the last good
version serving."""
import http.server
import json
import os
import threading

from conftest import processes, wait_for


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


def npm_children(pid):
    """Processes running `npm install` whose parent is `pid`."""
    return [p for p, parent, _, argv in processes()
            if parent == pid and b"install" in argv and any(b"npm" in part for part in argv)]


class SlowRegistry:
    """An npm registry on loopback that holds each request until released, then answers 404."""

    def __init__(self):
        self.release = threading.Event()
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                registry.release.wait(30)
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"error":"not found"}')

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()


def test_requests_are_answered_while_a_reload_runs_npm(start_sprocket, tmp_path):
    registry = SlowRegistry()
    try:
        folder = make_folder(tmp_path)
        s = start_sprocket([folder], command="dev", env={"npm_config_registry": registry.url})
        assert s.get("/_hcms/api/greet").json() == {"version": 1}
        # A dependency from a registry that takes its time.
        (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"left-pad": "1.3.0"}}))
        npm = wait_for(lambda: npm_children(s.process.pid), timeout=20, message="the reload to start npm")
        # The event loop is not waiting for npm: a request is answered while npm still runs.
        assert s.get("/_hcms/api/greet", timeout=30).json() == {"version": 1}
        assert any(os.path.exists(f"/proc/{pid}") for pid in npm), "npm ended before the request was answered"
        registry.release.set()
        s.wait_for_log(r"npm install failed", timeout=60)
        s.wait_for_log(r"the previous version keeps serving")
        assert s.get("/_hcms/api/greet").json() == {"version": 1}
    finally:
        registry.close()


def test_install_scripts_do_not_run_and_local_dependencies_stay_inside(start_sprocket, tmp_path):
    folder = make_folder(tmp_path)
    local = folder / "lib"
    local.mkdir()
    marker = tmp_path / "script-ran"
    (local / "package.json").write_text(json.dumps({"name": "lib", "version": "1.0.0",
                                                    "scripts": {"install": f"touch {marker}"}}))
    (local / "index.js").write_text("module.exports = 'lib';\n")
    (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"lib": "file:./lib"},
                                                     "scripts": {"postinstall": f"touch {marker}"}}))
    (folder / "greet.js").write_text("exports.main = async () => ({statusCode: 200, body: {version: require('lib')}});\n")
    s = start_sprocket([folder], command="dev")
    assert s.get("/_hcms/api/greet").json() == {"version": "lib"}
    # npm runs outside the sandbox: no package's script, nor the folder's own, runs there.
    assert not marker.exists()
    # A local dependency outside the folder would bring a host path into node_modules.
    (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"data": "file:../../.."}}))
    s.wait_for_log(r'dependency "data" is "file:\.\./\.\./\.\.", outside the folder')
    assert s.get("/_hcms/api/greet").json() == {"version": "lib"}


def test_npm_settings_and_hidden_local_dependencies_are_refused(start_sprocket, tmp_path):
    folder = make_folder(tmp_path)
    s = start_sprocket([folder], command="dev")
    # npm's project settings could point git or node at the folder's own programs.
    (folder / ".npmrc").write_text("git=./g.sh\n")
    (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"x": "1.0.0"}}))
    s.wait_for_log(r"\.npmrc: npm's settings files are not used")
    (folder / ".npmrc").unlink()
    # A local dependency outside the folder, named in a section other than "dependencies".
    (folder / "package.json").write_text(json.dumps({"name": "live", "private": True, "dependencies": {"ok": "file:./ok"},
                                                     "optionalDependencies": {"victim": "file:../.."}}))
    s.wait_for_log(r'dependency "victim" is "file:\.\./\.\.", outside the folder')
    assert s.get("/_hcms/api/greet").json() == {"version": 1}
