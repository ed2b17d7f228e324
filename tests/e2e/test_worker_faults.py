"""Workers that misbehave at the protocol level: answers followed at once by an exit, pipelined
neighbours that hold the event loop, frames forged by user code on fd 3 (issue 12, items 2, 3, 5).
Each must end with every request answered once, and nothing run twice."""
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
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


@pytest.mark.parametrize("kb,clients,total", [(500, 1, 20), (0, 3, 150), (60, 3, 90)])
def test_answer_then_exit_is_answered_whatever_its_size_and_traffic(start_sprocket, kb, clients, total):
    # A large answer does not fit the socket at once: it must still be whole before the exit; and
    # a request sent to the instance while it exits runs elsewhere.
    server = start_sprocket([FAULTS])

    def one(_):
        r = server.get(f"/_hcms/api/answer-then-exit?kb={kb}", timeout=60)
        return r.status_code, (len(r.json()["pad"]) if r.status_code == 200 else r.text[:300])

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(total)))
    failures = [r for r in results if r != (200, kb * 1024)]
    # A rare failure here (a load error under load, seen twice in many runs) is not understood
    # yet: the node's own account of it comes with the assertion.
    why = [line for line in server.log().splitlines() if "loaded" in line or "load" in line.lower() and "ERROR" in line]
    assert not failures, (failures[:3], why[-10:])


def test_strings_cut_inside_a_character_are_logged_and_answered(start_sprocket):
    server = start_sprocket([FAULTS])
    r = server.get("/_hcms/api/surrogate")
    assert r.status_code == 200, r.text
    # The body is JSON.stringify's text, as on HubSpot: the lone surrogate as a \\ud83d escape.
    assert r.json() == {"cut": "héllo \ud83d"}
    server.wait_for_log("INFO   preview: héllo \ufffd")


def test_a_result_for_another_invocation_is_a_protocol_error_not_someone_elses_answer(start_sprocket):
    server = start_sprocket([FAULTS], "--max-instances", "1")
    assert server.get("/_hcms/api/forge").status_code == 200
    with ThreadPoolExecutor(2) as pool:
        forger = pool.submit(server.get, "/_hcms/api/forge?kind=wrong-id")
        other = pool.submit(server.get, "/_hcms/api/forge?kind=none")
        forged, second = forger.result(), other.result()
    assert forged.status_code == 502 and "broke the frame protocol" in forged.json()["message"], forged.text
    assert "forged" not in second.text
    assert second.status_code == 200 and second.json()["kind"] == "none", second.text


def test_a_forged_exiting_frame_never_reruns_a_started_request(start_sprocket, tmp_path):
    server = start_sprocket([FAULTS], *SHARES_FILES_WITH_THE_TEST)
    record = tmp_path / "runs"
    r = server.get(f"/_hcms/api/forge?kind=exiting&marks={record}", timeout=60)
    assert r.status_code == 502, r.text
    # It claimed nothing was running, so it is tried again elsewhere: a few times, never for ever.
    assert len(record.read_text().splitlines()) <= 51
    assert server.get("/_hcms/api/forge").status_code == 200


def test_an_exiting_frame_from_a_worker_that_stays_ends_that_instance(start_sprocket):
    server = start_sprocket([FAULTS], "--max-instances", "1")
    for _ in range(3):
        server.get("/_hcms/api/forge?kind=exiting-live", timeout=30)
    # The lone instance was told to go; a new one serves, instead of 503 for every request.
    wait_for(lambda: server.get("/_hcms/api/forge", timeout=30).status_code == 200, timeout=20,
             message="a new instance to serve")


def test_a_secret_quoted_in_an_invalid_status_code_does_not_reach_the_client(start_sprocket, tmp_path):
    folder = tmp_path / "faults.functions"
    shutil.copytree(FAULTS, folder)
    (folder / ".env").write_text("FAULT_SECRET=sk-fault-9f8e7d\n")
    server = start_sprocket([folder])
    r = server.get("/_hcms/api/leaky-status")
    assert r.status_code == 500
    assert r.json()["category"] == "INVALID_RESPONSE"
    assert "sk-fault-9f8e7d" not in r.text
    assert "[REDACTED:FAULT_SECRET]" in r.text
