"""The admin API's live log stream (GET /api/v1/logs/follow) and `sprocket logs --follow --server`,
with every filter: each one once took the node down (issue 12, item 1)."""
import json
import os
import signal
import subprocess
import threading

import pytest
import requests

from conftest import BINARY, FIXTURES, wait_for

SECRETS = FIXTURES / "secrets.functions"


@pytest.fixture
def server(start_sprocket):
    return start_sprocket([SECRETS])


class EventReader:
    """Reads a server-sent-events response on a thread; `events` are the decoded data lines."""

    def __init__(self, response):
        self.response = response
        self.events = []
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            # One byte at a time: a bigger chunk waits for bytes the stream may not send for seconds.
            for line in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if line and line.startswith("data: "):
                    self.events.append(json.loads(line[len("data: "):]))
        except requests.RequestException:
            pass
        self.ended.set()

    def request_ids(self):
        return [e.get("requestId") for e in self.events]


def follow(server, query):
    token = (server.data_dir / "admin.token").read_text().strip()
    r = requests.get(server.admin_url + "/api/v1/logs/follow" + query, headers={"Authorization": f"Bearer {token}"},
                     stream=True, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/event-stream"
    return EventReader(r)


def call(server, name, who="x"):
    r = server.get(f"/_hcms/api/{name}?who={who}")
    assert r.status_code == 200, r.text
    return r.headers["X-Request-Id"]


@pytest.mark.parametrize("query", ["", "?function=hello", "?since=1h", "?account=0", "?limit=5", "?function=hello&since=10m"])
def test_follow_with_each_filter_streams_and_the_node_stays_up(server, query):
    if "account=0" in query:
        accounts = server.admin("GET", "/api/v1/functions").json()["functions"]
        query = f"?account={accounts[0]['accountId']}"
    reader = follow(server, query)
    wanted = call(server, "hello", "streamed")
    wait_for(lambda: wanted in reader.request_ids(), timeout=10, message="the followed execution")
    # Still serving, and the stream is still open.
    assert server.process.poll() is None, server.log()
    assert server.get("/_hcms/api/hello?who=after").status_code == 200
    assert not reader.ended.is_set()
    reader.response.close()


def test_follow_by_function_shows_only_that_function(server):
    reader = follow(server, "?function=hello")
    other = call(server, "other")
    wanted = call(server, "hello")
    wait_for(lambda: wanted in reader.request_ids(), timeout=10, message="the hello execution")
    assert other not in reader.request_ids()
    assert {e["functionName"] if "functionName" in e else e.get("function") for e in reader.events} == {"hello"}
    assert server.process.poll() is None, server.log()


def test_follow_by_request_id_shows_that_execution(server):
    wanted = call(server, "hello")
    call(server, "hello")
    reader = follow(server, f"?requestId={wanted}")
    wait_for(lambda: wanted in reader.request_ids(), timeout=10, message="the execution asked for")
    call(server, "hello")
    # A later execution of the same function is not part of it; the node still answers.
    assert server.get("/_hcms/api/hello").status_code == 200
    assert reader.request_ids() == [wanted]
    assert server.process.poll() is None, server.log()


def test_many_followers_coming_and_going_do_not_hurt_the_node(server):
    for query in ["?function=hello", "?requestId=0190f0f0-0000-7000-8000-000000000000", "?function=missing"] * 5:
        reader = follow(server, query)
        reader.response.close()
    assert server.get("/_hcms/api/hello").status_code == 200
    assert server.process.poll() is None, server.log()


def test_a_bad_follow_filter_is_a_400_that_names_it(server):
    r = server.admin("GET", "/api/v1/logs/follow?since=yesterday")
    assert r.status_code == 400
    assert "since must be a duration" in r.json()["message"]


def test_stopping_the_server_ends_followers_and_exits_cleanly(server):
    readers = [follow(server, "?function=hello"), follow(server, "")]
    call(server, "hello")
    wait_for(lambda: all(r.events for r in readers), timeout=10, message="both streams to have an event")
    assert server.stop(signal.SIGTERM) == 0, server.log()
    for r in readers:
        assert r.ended.wait(10)


def test_cli_follow_by_function_prints_and_reports_a_server_that_goes_away(server):
    token = (server.data_dir / "admin.token").read_text().strip()
    follower = subprocess.Popen([str(BINARY), "logs", "hello", "--follow", "--server", server.admin_url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "SPROCKET_TOKEN": token})
    try:
        lines = []
        threading.Thread(target=lambda: [lines.append(l) for l in follower.stdout], daemon=True).start()
        call(server, "other", "not-me")
        call(server, "hello", "cli-follower")
        wait_for(lambda: any("cli-follower" in l for l in lines), timeout=10, message="the followed execution")
        assert not any("not-me" in l for l in lines)
        assert server.process.poll() is None, server.log()
        server.stop(signal.SIGKILL)
        # The stream ending is news to the user: said, and not exit 0.
        assert follower.wait(timeout=10) != 0
        assert "ended the log stream" in follower.stderr.read()
    finally:
        follower.kill()
