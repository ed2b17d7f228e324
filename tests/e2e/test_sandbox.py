"""A hostile function in the sandbox (issue 13, docs/security.md): everything it tries past its own
folder, its packages and its /tmp is refused with an ordinary error, and the node keeps serving.
Each test also runs with `--sandbox off`, where the attempt must succeed: so each can fail."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import BINARY, FIXTURES, Sprocket, wait_for

HOSTILE = FIXTURES / "hostile.functions"
NEIGHBOUR = FIXTURES / "neighbour.functions"


@pytest.fixture(params=["on", "off"])
def node(request, start_sprocket):
    s = start_sprocket([HOSTILE, NEIGHBOUR], "--sandbox", request.param)
    s.sandboxed = request.param == "on"
    return s


def probe(s, what, **params):
    r = s.get("/_hcms/api/probe", params={"do": what, **params}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def expect_refused(s, outcome, *codes):
    """In the sandbox: refused with one of `codes`. Unsandboxed: it worked (the test can fail)."""
    if s.sandboxed:
        assert not outcome["ok"], outcome
        assert outcome["code"] in codes, outcome
    else:
        assert outcome["ok"], outcome
    # The node serves on, the prober's instance included.
    assert s.get("/_hcms/api/neighbour").status_code == 200
    assert probe(s, "whoami")["ok"]


def descendants(pid):
    """Host pids of every process below `pid`."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parent_of.items() if parent in frontier and p not in found}
        found |= frontier
    return found


def node_workers(s):
    workers = []
    for pid in descendants(s.process.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"node"):
            workers.append(pid)
    return workers


@pytest.mark.parametrize("name", ["secret.key", "admin.token", "sprocket.db"])
def test_the_data_dir_is_out_of_reach(node, name):
    expect_refused(node, probe(node, "read", path=str(node.data_dir / name)), "ENOENT", "EACCES")


def test_another_folders_source_is_out_of_reach(node):
    expect_refused(node, probe(node, "read", path=str(NEIGHBOUR / "neighbour.js")), "ENOENT", "EACCES")


def test_the_gateways_environment_is_out_of_reach(node):
    expect_refused(node, probe(node, "read", path=f"/proc/{node.process.pid}/environ"), "ENOENT", "EACCES")
    if node.sandboxed:
        # Nor that of the sandbox's first process.
        outcome = probe(node, "read", path="/proc/1/environ")
        assert not outcome["ok"] and outcome["code"] in ("EACCES", "ENOENT"), outcome


def test_writing_outside_tmp_is_refused_and_tmp_is_private(node, tmp_path):
    target = tmp_path / "written-by-a-function"
    expect_refused(node, probe(node, "write", path=str(target)), "ENOENT", "EACCES", "EROFS")
    if node.sandboxed:
        assert not target.exists()
        for inside in ["/var/task/new.js", "/etc/passwd", "/usr/lib/x", "/opt/sprocket/guest/node/bootstrap.js"]:
            outcome = probe(node, "write", path=inside)
            assert not outcome["ok"] and outcome["code"] in ("EROFS", "EACCES", "ENOENT"), (inside, outcome)
        assert probe(node, "write", path="/tmp/mine")["ok"]


def test_killing_the_gateway_fails_and_it_serves_on(node):
    if not node.sandboxed:
        pytest.skip("unsandboxed, the function could kill the node: that is the point of the sandbox")
    expect_refused(node, probe(node, "kill", pid=str(node.process.pid)), "ESRCH", "EPERM")
    expect_refused(node, probe(node, "kill", pid="1"), "EPERM", "ESRCH")


def test_killing_another_worker_fails(node):
    before = node.get("/_hcms/api/neighbour").json()["instance"]
    probe(node, "whoami")
    mine = probe(node, "whoami")["result"]["pid"]
    others = [pid for pid in node_workers(node) if pid != mine]
    assert others, "the neighbour's worker is running"
    if node.sandboxed:
        for pid in others:
            outcome = probe(node, "kill", pid=str(pid))
            assert not outcome["ok"] and outcome["code"] in ("ESRCH", "EPERM"), outcome
        assert node.get("/_hcms/api/neighbour").json()["instance"] == before
    else:
        neighbour_pid = node.get("/_hcms/api/neighbour").json()["pid"]
        assert probe(node, "kill", pid=str(neighbour_pid))["ok"]
        wait_for(lambda: node.get("/_hcms/api/neighbour").json().get("instance") not in (None, before), message="the neighbour to be replaced")


def test_ptrace_is_refused(node):
    expect_refused(node, probe(node, "ptrace"), "EPERM")


def test_a_fork_bomb_stops_at_the_process_limit(node):
    expect_refused(node, probe(node, "forkbomb", n="300"), "EAGAIN")


def test_filling_tmp_stops_at_its_size(node):
    expect_refused(node, probe(node, "fill", dir="/tmp", mb="96"), "ENOSPC")


def test_a_huge_allocation_ends_only_that_instance(node):
    r = node.get("/_hcms/api/probe", params={"do": "alloc", "mb": "1024"}, timeout=60)
    assert r.status_code == 502
    assert r.json()["category"] in ("MEMORY_LIMIT_EXCEEDED", "WORKER_CRASHED")
    assert node.get("/_hcms/api/neighbour").status_code == 200
    assert probe(node, "whoami")["ok"]


def test_the_function_is_an_ordinary_user_with_a_clean_environment(node):
    who = probe(node, "whoami")["result"]
    if node.sandboxed:
        assert who["uid"] != 0 and who["gid"] != 0
        assert who["env"] == ["HOME", "LANG", "NODE_PATH", "PATH", "PWD"]
    else:
        assert who["uid"] == os.getuid()


def test_readyz_says_whether_workers_are_sandboxed(node):
    ready = node.admin("GET", "/readyz", token="").json()
    assert ready["sandbox"] == ("on" if node.sandboxed else "off")
    if not node.sandboxed:
        assert "not sandboxed" in ready["warning"]
        node.wait_for_log(r"WARNING: workers are not sandboxed")


@pytest.mark.parametrize("network", [True, False])
def test_an_account_without_network_cannot_connect_anywhere(start_sprocket, tmp_path, network):
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"limits": {"network": network}}))
    s = start_sprocket([HOSTILE], "--config", config)
    outcome = probe(s, "fetch", url=s.admin_url + "/healthz")
    if network:
        assert outcome == {"ok": True, "result": 200, "instance": outcome["instance"]}, outcome
    else:
        assert not outcome["ok"] and outcome["code"] in ("ENETUNREACH", "ECONNREFUSED"), outcome


def test_serve_refuses_to_start_unsandboxed_unless_told(tmp_path):
    # A sprocket binary without its sprocket-enter beside it cannot make a sandbox.
    lone = tmp_path / "bin" / "sprocket"
    lone.parent.mkdir()
    shutil.copy(BINARY, lone)
    args = [str(lone), "serve", str(HOSTILE), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
            "--data-dir", str(tmp_path / "data")]
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "workers cannot be sandboxed on this machine" in refused.stderr
    assert "sprocket-enter" in refused.stderr and "--sandbox off" in refused.stderr
    # Told, it serves, and says so at start-up and in /readyz.
    s = Sprocket([HOSTILE], "--sandbox", "off", data_dir=tmp_path / "data2", binary=lone)
    try:
        s.wait_for_log(r"WARNING: workers are not sandboxed")
        assert s.admin("GET", "/readyz", token="").json()["sandbox"] == "off"
        assert probe(s, "whoami")["ok"]
    finally:
        s.stop()


def test_a_flood_of_output_is_counted_not_held(start_sprocket):
    s = start_sprocket([HOSTILE])
    assert probe(s, "flood", mb="300")["ok"]
    # The gateway holds at most a few hundred KB of an execution's output, whatever it writes.
    with open(f"/proc/{s.process.pid}/status") as f:
        peak_kb = int(next(line for line in f if line.startswith("VmHWM:")).split()[1])
    assert peak_kb < 150 * 1024, f"the gateway's memory peaked at {peak_kb // 1024} MB"
    s.wait_for_log(r"Log output truncated: \d{9,} bytes dropped")


def test_a_function_cannot_listen_on_a_port(node):
    # On the host's network it could catch what clients send to a port of sprocket's (the CLI's
    # admin token, for one).
    expect_refused(node, probe(node, "listen", port="0"), "EPERM", "EACCES")


@pytest.mark.parametrize("spare", [True, False])
def test_the_folders_env_file_is_empty_inside(start_sprocket, tmp_path, spare):
    # It holds the secrets of every function in the folder; each sees only those it declares.
    folder = tmp_path / "hostile.functions"
    shutil.copytree(HOSTILE, folder)
    (folder / ".env").write_text("SOMEONE_ELSES_SECRET=sk-not-yours-5566\n")
    args = [] if spare else ["--config", str(tmp_path / "no-spares.json")]
    (tmp_path / "no-spares.json").write_text(json.dumps({"limits": {"network": False}}))  # starts without a spare
    s = start_sprocket([folder], *args)
    outcome = probe(s, "read", path="/var/task/.env")
    assert outcome["ok"] and outcome["result"] == 0, outcome
    assert probe(s, "list", path="/var/task")["ok"]


def test_another_accounts_folder_is_out_of_reach(start_sprocket, tmp_path):
    # Account 777 serves the neighbour folder; the default account's prober cannot see it.
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"accounts": [{"id": 777, "domains": ["other.example"], "paths": [str(NEIGHBOUR)]}]}))
    s = start_sprocket([HOSTILE], "--config", config)
    assert s.get("/_hcms/api/neighbour", headers={"Host": "other.example"}).status_code == 200
    for path in [NEIGHBOUR / "neighbour.js", NEIGHBOUR]:
        outcome = probe(s, "read" if path.suffix else "list", path=str(path))
        assert not outcome["ok"] and outcome["code"] == "ENOENT", outcome


def test_python_multiprocessing_locks_work_in_the_sandbox(start_sprocket, tmp_path):
    # POSIX semaphores live in /dev/shm, which the sandbox gives each worker.
    from test_action_queue import enqueue, wait_final, write_actions
    root = write_actions(tmp_path / "project", {"pool": {"language": "python", "file": "pool.py", "outputFields": {"n": {"type": "number"}}}},
                         {"pool.py": "import multiprocessing\n\ndef main(event):\n    with multiprocessing.Lock():\n"
                                     "        return {'outputFields': {'n': 1}}\n"})
    s = start_sprocket([root])
    e = wait_final(s, enqueue(s, "pool")["id"])
    assert e["state"] == "succeeded", e
