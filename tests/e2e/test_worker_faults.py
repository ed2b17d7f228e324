"""Workers that misbehave at the protocol level: answers followed at once by an exit, pipelined
neighbours that hold the event loop, frames forged by user code on fd 3 (issue 12, items 2, 3, 5).
Each must end with every request answered once, and nothing run twice."""
import json
import socket

import pytest

from conftest import FIXTURES, SHARES_FILES_WITH_THE_TEST, wait_for
from test_action_queue import enqueue, node, wait_final, write_actions

FAULTS = FIXTURES / "faults.functions"


def burst(server, record, runs):
    """Sends one GET of the pipeline function per (ms, tag) in `runs`, each on its own connection
    and back to back, so that later ones arrive while the first runs; returns {tag: (status, body)}."""
    host, port = server.url.removeprefix("http://").split(":")
    connections = []
    for ms, tag in runs:
        s = socket.create_connection((host, int(port)), timeout=30)
        path = f"/_hcms/api/pipeline?ms={ms}&tag={tag}&marks={record}"
        connections.append((s, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()))
    for s, request in connections:
        s.sendall(request)
    return {tag: read_status_and_body(s) for (s, _), (_, tag) in zip(connections, runs)}


def read_status_and_body(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def tags_run(record):
    return [line.split()[0] for line in marks(record)]


def marks(path):
    return path.read_text().split("\n")[:-1] if path.exists() else []


@pytest.fixture
def one_instance(start_sprocket):
    # One instance, so that a burst is pipelined into it; a short time limit.
    return start_sprocket([FAULTS], "--max-instances", "1", "--time-limit-ms", "1000", *SHARES_FILES_WITH_THE_TEST)


def warm_as_fast(server):
    # Pipelining is for functions that answer in a few milliseconds: teach the pool that this is one.
    for _ in range(12):
        assert server.get("/_hcms/api/pipeline?ms=5").status_code == 200


def test_a_fast_answer_is_not_held_behind_a_pipelined_neighbour_nor_run_twice(one_instance, tmp_path):
    warm_as_fast(one_instance)
    record = tmp_path / "marks"
    # The slow one arrives while the first runs, and waits inside the same instance.
    answers = burst(one_instance, record, [(8, "first"), (1500, "slow")])
    # The first answered in 8 ms: 200, not a 504 earned by the neighbour's time.
    assert answers["first"][0] == 200, answers
    assert json.loads(answers["first"][1])["tag"] == "first"
    # The slow one ran once, and ran out of its own time.
    assert answers["slow"][0] == 504, answers
    assert sorted(tags_run(record)) == ["first", "slow"]
    assert one_instance.get("/_hcms/api/pipeline").status_code == 200


def test_requests_waiting_behind_a_hung_neighbour_run_once_elsewhere(one_instance, tmp_path):
    warm_as_fast(one_instance)
    record = tmp_path / "marks"
    answers = burst(one_instance, record, [(8, "a"), (5000, "hang"), (0, "b"), (0, "c")])
    assert {tag: status for tag, (status, _) in answers.items()} == {"a": 200, "hang": 504, "b": 200, "c": 200}
    assert sorted(tags_run(record)) == ["a", "b", "c", "hang"]


def test_answer_then_exit_is_answered_every_time(start_sprocket):
    server = start_sprocket([FAULTS])
    statuses = []
    for _ in range(40):
        r = server.get("/_hcms/api/answer-then-exit")
        statuses.append((r.status_code, r.text if r.status_code != 200 else ""))
    assert [s for s, _ in statuses] == [200] * 40, [t for s, t in statuses if s != 200][:3]


@pytest.mark.parametrize("kind", ["rss", "dropped", "logs", "garbage", "huge", "type"])
def test_a_forged_frame_ends_the_instance_and_answers_its_request(start_sprocket, kind):
    server = start_sprocket([FAULTS])
    first = server.get("/_hcms/api/forge").json()["instance"]
    r = server.get(f"/_hcms/api/forge?kind={kind}")
    assert r.status_code == 502, r.text
    assert r.json()["category"] == "WORKER_CRASHED"
    assert "broke the frame protocol" in r.json()["message"]
    server.wait_for_log(r"broke the frame protocol")
    # A new instance serves the next request; the node is up.
    again = server.get("/_hcms/api/forge")
    assert again.status_code == 200
    assert again.json()["instance"] != first
    # The forged request has one record, with the reason.
    wait_for(lambda: any("forge?kind" in h or "broke the frame protocol" in "\n".join(l) for h, l in server.executions()),
             message="the record of the forged request")


FORGE_ACTION = """
const fs = require('fs');
exports.main = async (event, callback) => {
  const json = Buffer.from(JSON.stringify({ type: 'result', id: 1, logs: [], maxRssKb: 1.5, valueJson: '{}' }));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(json.length, 0);
  fs.writeSync(3, Buffer.concat([header, json]));
  setTimeout(() => callback({ outputFields: {} }), 100);
};
"""


def test_forged_action_frames_do_not_use_up_the_action_slots(start_sprocket, tmp_path):
    root = write_actions(tmp_path / "project", {"forge": node("forge.js"), "fine": node("fine.js", {"ok": {"type": "string"}})},
                         {"forge.js": FORGE_ACTION, "fine.js": "exports.main = async () => ({ outputFields: { ok: 'yes' } });\n"})
    server = start_sprocket([root], "--action-concurrency", "1")
    forged = [enqueue(server, "forge")["id"] for _ in range(3)]
    for ident in forged:
        e = wait_final(server, ident)
        assert e["state"] == "failed"
        assert "broke the frame protocol" in json.dumps(e), e
    fine = wait_final(server, enqueue(server, "fine")["id"])
    assert fine["state"] == "succeeded", fine
