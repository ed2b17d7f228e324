"""Hostile functions (issue 20): every process an instance starts ends with the instance — when
it is replaced, and after a gateway kill -9 at the next start — and an instance has a bounded
number of processes, with or without the sandbox."""
import concurrent.futures
import json
import re
import random
import signal

import pytest

from conftest import FIXTURES, SHARES_FILES_WITH_THE_TEST, processes, wait_for

HOSTILE = FIXTURES / "hostile.functions"
NEIGHBOUR = FIXTURES / "neighbour.functions"


def probe(s, what, **params):
    r = s.get("/_hcms/api/probe", params={"do": what, **params}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def sleepers(mark):
    """Host pids of the live `sleep MARK` processes, wherever they are."""
    return [p for p, _, state, argv in processes()
            if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == mark.encode() and state != "Z"]


def new_mark():
    return f"{random.randint(100000, 999999)}.5"


@pytest.fixture(params=["on", "off"])
def sandbox(request):
    return request.param


def test_detached_children_end_with_their_instance(start_sprocket, sandbox):
    s = start_sprocket([HOSTILE, NEIGHBOUR], "--sandbox", sandbox)
    mark = new_mark()
    outcome = probe(s, "detach", n="3", mark=mark)
    assert outcome["ok"] and outcome["result"] == 3, outcome
    # They may run on while the instance lives (docs/limits.md) ...
    wait_for(lambda: len(sleepers(mark)) == 3, message="three detached sleepers")
    # ... and end with it: the instance exits, and nothing it started is left.
    probe(s, "exit")
    wait_for(lambda: not sleepers(mark), timeout=10, message="the sleepers to end with their instance")
    assert s.get("/_hcms/api/neighbour").status_code == 200
    assert probe(s, "whoami")["ok"]  # a new instance serves


def instance_cgroup(s, pid):
    """The cgroup.procs files of the worker cgroups (memory, and pids where it is a hierarchy of
    its own) that host pid `pid` is in, from the banner's parent cgroups."""
    parents = re.search(r"memory cgroup (\S+) \(v\d\)(?:, pids cgroup (\S+))?", s.log()).groups()
    with open(f"/proc/{pid}/cgroup") as f:
        name = re.search(rf"/sprocket-{s.process.pid}/([^/\n]+)", f.read()).group(1)
    return [f"{parent}/{name}/cgroup.procs" for parent in parents if parent]


def members(procs_files):
    found = set()
    for file in procs_files:
        try:
            with open(file) as f:
                found |= {int(p) for p in f.read().split()}
        except OSError:
            pass  # the cgroup is gone
    return found


@pytest.mark.parametrize("bomb", ["", "1"])
def test_a_process_that_keeps_changing_its_pid_ends_with_its_instance(start_sprocket, bomb):
    # Unsandboxed: the sandbox's PID namespace ends every process in it at once.
    s = start_sprocket([HOSTILE, NEIGHBOUR], *SHARES_FILES_WITH_THE_TEST)
    worker = probe(s, "whoami")["result"]["pid"]
    cgroups = instance_cgroup(s, worker)
    # It forks a copy of itself and exits, again and again (or, as a fork bomb, both go on):
    # a list of the instance's pids is out of date as soon as it is read.
    assert probe(s, "hop", mark=new_mark(), **({"bomb": bomb} if bomb else {}))["ok"]
    wait_for(lambda: len(members(cgroups) - {worker}) > 0, message="the hopping process")
    probe(s, "exit")
    wait_for(lambda: not members(cgroups), timeout=10, message="the hopping process to end with its instance")
    assert probe(s, "whoami")["ok"]


def test_nothing_outlives_a_killed_gateway_past_its_next_start(start_sprocket, sandbox, tmp_path):
    data = tmp_path / "data"
    s = start_sprocket([HOSTILE, NEIGHBOUR], "--sandbox", sandbox, data_dir=data)
    mark = new_mark()
    assert probe(s, "detach", n="4", mark=mark)["ok"]
    wait_for(lambda: len(sleepers(mark)) == 4, message="four detached sleepers")
    s.stop(signal.SIGKILL)
    if sandbox == "on":
        # The sandbox's PID namespace ends with its first process, which dies with the gateway.
        wait_for(lambda: not sleepers(mark), timeout=10, message="the sandboxed sleepers to end with the gateway")
        return
    # Unsandboxed, what a function detached survives its gateway's death (nothing in the kernel
    # ties it to it), but not the next start: the leftover cgroups are emptied.
    restarted = start_sprocket([HOSTILE, NEIGHBOUR], "--sandbox", sandbox, data_dir=data)
    wait_for(lambda: not sleepers(mark), timeout=10, message="the next start to end the leftovers")
    assert restarted.get("/_hcms/api/neighbour").status_code == 200


def test_an_instance_has_at_most_256_processes(start_sprocket, sandbox):
    s = start_sprocket([HOSTILE, NEIGHBOUR], "--sandbox", sandbox)
    # The start-up banner names the pids cgroup (v1) or controller (v2) that holds the limit.
    assert re.search(r"memory limits enforced by the kernel: .*(pids cgroup /|pids controller on)", s.log()), s.log()
    outcome = probe(s, "forkbomb", n="400")
    assert not outcome["ok"] and outcome["code"] == "EAGAIN", outcome
    # node and its threads count too: at most 256 started (the last one counted is the refused one).
    assert outcome["started"] <= 256, outcome
    assert s.get("/_hcms/api/neighbour").status_code == 200
    assert probe(s, "whoami")["ok"]


def test_a_function_that_keeps_crashing_is_restarted_on_a_back_off(start_sprocket):
    s = start_sprocket([HOSTILE, NEIGHBOUR])
    for _ in range(7):
        r = s.get("/_hcms/api/probe", params={"do": "die"}, timeout=60)
        assert r.status_code == 502, r.text
        assert s.get("/_hcms/api/neighbour").status_code == 200  # the neighbour is served throughout
    # Three failures in a row are free; then each start waits, twice as long each time.
    waits = [int(m.group(1)) for m in re.finditer(r"probe: \d+ instances in a row ended in failure \(the last: crashed\); "
                                                   r"its next instance starts in (\d+) ms", s.log())]
    assert len(waits) == 4, s.log()
    assert all(later > earlier for earlier, later in zip(waits, waits[1:])), waits
    metrics = s.admin("GET", "/metrics").text
    assert re.search(r"^sprocket_instance_starts_delayed_total 4$", metrics, re.M), metrics
    # The next start waits too (a fifth line). Five successes in a row end the back-off: after
    # one more crash, the instance that replaces it starts at once, with no new line.
    for _ in range(5):
        assert probe(s, "whoami")["ok"]
    assert len(re.findall(r"instances in a row ended in failure", s.log())) == 5
    assert s.get("/_hcms/api/probe", params={"do": "die"}, timeout=60).status_code == 502
    assert probe(s, "whoami")["ok"]
    assert len(re.findall(r"instances in a row ended in failure", s.log())) == 5


def test_a_function_that_fails_every_other_time_stays_on_the_back_off(start_sprocket):
    s = start_sprocket([HOSTILE, NEIGHBOUR])
    for _ in range(5):
        assert s.get("/_hcms/api/probe", params={"do": "die"}, timeout=60).status_code == 502
        assert probe(s, "whoami")["ok"]  # one success between two crashes does not end it
    s.wait_for_log(r"probe: 4 instances in a row ended in failure")


def test_raw_output_without_newlines_is_dropped_as_it_arrives(start_sprocket):
    s = start_sprocket([HOSTILE, NEIGHBOUR], "--max-instances", "4")
    with open(f"/proc/{s.process.pid}/status") as f:
        before_kb = int(next(line for line in f if line.startswith("VmRSS:")).split()[1])
    # Three instances at once, 200 MB each to stdout or stderr, not one newline among them.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        floods = [pool.submit(probe, s, "rawflood", mb="200", fd=str(fd)) for fd in (1, 2, 1)]
        while not all(f.done() for f in floods):
            assert s.get("/_hcms/api/neighbour").status_code == 200  # served throughout
        assert all(f.result()["ok"] for f in floods)
    with open(f"/proc/{s.process.pid}/status") as f:
        status = f.read()
    peak_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    # The gateway holds a few hundred KB of each execution's output, whatever it writes.
    assert peak_kb < before_kb + 100 * 1024, f"the gateway's memory went from {before_kb // 1024} MB to {peak_kb // 1024} MB"
    s.wait_for_log(r"Log output truncated: \d{9,} bytes dropped")
    # Later cold starts report their own memory, not the flood's.
    probe(s, "exit")
    assert probe(s, "whoami")["ok"]
    reports = [int(m) for m in re.findall(r"Max Memory Used: (\d+) MB", s.log())]
    assert reports and max(reports) <= 128, reports


def test_floods_of_empty_lines_and_output_between_invocations_are_bounded(start_sprocket, tmp_path):
    folder = tmp_path / "flood.functions"
    folder.mkdir()
    (folder / "lines.js").write_text("""
const fs = require('fs');
exports.main = async (context) => {
  const newlines = Buffer.alloc(1 << 20, 10);  // 1 MB of bare newlines
  const mb = Number(context.params.mb);
  if (context.params.after) {
    setImmediate(() => { for (let i = 0; i < mb; i++) fs.writeSync(1, newlines); });  // after answering
  } else {
    for (let i = 0; i < mb; i++) fs.writeSync(1, newlines);
  }
  return { statusCode: 200, body: { mb } };
};""")
    (folder / "serverless.json").write_text(json.dumps({
        "runtime": "nodejs18.x", "version": "1.0", "endpoints": {"lines": {"method": "GET", "file": "lines.js"}}}))
    s = start_sprocket([folder])
    with open(f"/proc/{s.process.pid}/status") as f:
        before_kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    # 20 million empty lines in the execution: counted and dropped, not held.
    assert s.get("/_hcms/api/lines", params={"mb": "20"}).status_code == 200
    s.wait_for_log(r"Log output truncated: \d{8,} bytes dropped")
    # 20 million more after the answer, between invocations: at most 16 KB of them reach the
    # log, and the next invocation says how much was dropped (or, if it is already running when
    # they arrive, its own truncation line does).
    assert s.get("/_hcms/api/lines", params={"mb": "20", "after": "1"}).status_code == 200

    def dropped_afterwards():
        assert s.get("/_hcms/api/lines", params={"mb": "0"}).status_code == 200
        between = [int(n) for n in re.findall(r"Output between invocations truncated: (\d+) bytes dropped", s.log())]
        within = [int(n) for n in re.findall(r"Log output truncated: (\d+) bytes dropped", s.log())][1:]
        return sum(between) + sum(within) >= 15 * 1024 * 1024

    wait_for(dropped_afterwards, timeout=30, interval=0.2, message="the output after the answer to be counted as dropped")
    with open(f"/proc/{s.process.pid}/status") as f:
        peak_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    assert peak_kb < before_kb + 100 * 1024, f"the gateway's memory went from {before_kb // 1024} MB to {peak_kb // 1024} MB"
    assert len(s.log()) < 2 * 1024 * 1024, f"{len(s.log())} characters of log"
