"""Noisy neighbours (issue 18, item 4): while one function allocates past 128 MB in a loop,
another spins at its time limit, a third writes 100 MB of console output and a fourth starts
children that would outlive it, a well-behaved function answers every one of 500 requests,
each hostile one gets its documented answer, the node stays up, and no process outlives its
instance. The latency half of the item (p99 beside them < 2x quiet) is a speed target, so it
is `make bench BENCH_ONLY=neighbours`, not this test (docs/reliability.md).

The functions are the benchmark's own (bench/fixtures/neighbours.functions)."""
import os
import random
import re
import signal
import threading

import pytest
import requests

from conftest import ROOT, processes, wait_for

NEIGHBOURS = ROOT / "bench" / "fixtures" / "neighbours.functions"
HOSTILE = ("hog", "spin", "flood", "forker")
WELL_REQUESTS = 500
IDLE_TIMEOUT_S = 8  # so that the forker's instance, once left alone, ends within the test
STORM_DEADLINE_S = 240  # a failure, not a speed check: the storm normally ends in seconds


def worker_cgroup(pid, gateway):
    """The name of the worker cgroup `pid` is in (`w12`, `spare3`), or None: each worker has
    one of its own under the gateway's `sprocket-PID` (the memory and pids ones share names)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(rf"/sprocket-{gateway}/([^/\n]+)", text)
    return m.group(1) if m else None


def live_processes():
    return [(pid, ppid, argv) for pid, ppid, state, argv in processes() if state != "Z"]


def descendants(gateway, table):
    children = {}
    for pid, ppid, _ in table:
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [gateway]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def census(gateway):
    """What is in the gateway's worker cgroups now: {cgroup: [pids]}, the cgroups of its live
    workers (each worker, or the sandbox process that launches it, is a child of the gateway
    and in its worker's cgroup from before exec), and the gateway's descendants."""
    table = live_processes()
    members = {}
    for pid, _, _ in table:
        name = worker_cgroup(pid, gateway)
        if name:
            members.setdefault(name, []).append(pid)
    live = {worker_cgroup(pid, gateway) for pid, ppid, _ in table if ppid == gateway} - {None}
    return members, live, descendants(gateway, table)


def outliving(gateway):
    """Processes left in the cgroup of a worker that is gone: they outlived their instance."""
    members, live, _ = census(gateway)
    return {name: pids for name, pids in members.items() if name not in live}


def instances(node):
    """Live function instances, spare workers aside (/metrics)."""
    return int(re.search(r"^sprocket_instances (\d+)$", node.admin("GET", "/metrics").text, re.M).group(1))


def sleepers(mark):
    return [pid for pid, _, argv in live_processes()
            if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == mark.encode()]


def records_of(node, name):
    """The execution lines of one function (its header, sprocket's own lines and REPORT; not
    its console output), for failure messages."""
    lines, keep = [], False
    for line in node.log().splitlines():
        if re.match(r"^\S+Z - (SUCCESS|ERROR) - ", line):
            keep = f"/_hcms/api/{name} " in line
        if keep and not re.match(r"^\S+Z {4}INFO ", line):
            lines.append(line[:300])
    return "\n".join(lines[-60:])


class Storm:
    """The four hostile functions requested in a loop, one client each, until told to stop."""

    def __init__(self, node, mark):
        self.node, self.mark = node, mark
        self.answers = {name: [] for name in HOSTILE}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._hammer, args=(name,), daemon=True) for name in HOSTILE]

    def _hammer(self, name):
        session = requests.Session()
        params = {"sleep": self.mark} if name == "forker" else None
        while not self.stop.is_set():
            try:
                r = session.get(self.node.url + f"/_hcms/api/{name}", params=params, timeout=60)
                category = r.json().get("category") if r.headers.get("Content-Type", "").startswith("application/json") else None
                self.answers[name].append((r.status_code, category))
            except (requests.RequestException, ValueError) as err:
                self.answers[name].append(("error", repr(err)))

    def statuses(self, name):
        return [status for status, _ in self.answers[name]]

    def each_met_its_limit(self):
        """Each hostile function has been stopped by its limit at least once."""
        return (502 in self.statuses("hog") and 504 in self.statuses("spin")
                and self.answers["flood"] and 500 in self.statuses("forker"))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)


@pytest.mark.parametrize("sandbox", ["on", "off"])
def test_hostile_neighbours_leave_a_well_behaved_function_alone_and_nothing_behind(start_sprocket, sandbox):
    s = start_sprocket([NEIGHBOURS], "--time-limit-ms", "2000", "--idle-timeout", str(IDLE_TIMEOUT_S), "--sandbox", sandbox)
    banner = re.search(r"memory cgroup (\S+) \(v\d\)(?:, pids cgroup (\S+))?", s.log())
    assert banner, "this test needs the kernel's cgroups: " + s.log()
    gateway = s.process.pid
    mark = f"{random.randint(100000, 999999)}.5"  # how long the forker's children sleep: longer than the test
    assert s.get("/_hcms/api/well").json() == {"ok": True}

    well = []
    with Storm(s, mark) as storm:
        # At least 500 requests, and on until every hostile function has met its limit.
        deadline = threading.Event()
        timer = threading.Timer(STORM_DEADLINE_S, deadline.set)
        timer.start()
        try:
            while (len(well) < WELL_REQUESTS or not storm.each_met_its_limit()) and not deadline.is_set():
                r = s.get("/_hcms/api/well")
                well.append((r.status_code, r.text))
        finally:
            timer.cancel()
    assert storm.each_met_its_limit(), {name: sorted(set(map(str, storm.statuses(name)))) for name in HOSTILE}
    # The forker's children are alive (until its instance idles out), all of them in its one live
    # instance, at most 256 in all.
    _, live, _ = census(gateway)
    held = {worker_cgroup(pid, gateway) for pid in sleepers(mark)}
    assert sleepers(mark) and len(held) == 1 and held <= live, (held, live)
    assert len(sleepers(mark)) <= 256

    # The well-behaved function: every request answered, and answered right.
    wrong = [answer for answer in well if answer != (200, '{"ok":true}')]
    assert len(well) >= WELL_REQUESTS and not wrong, (len(well), wrong[:5])
    # The hostile ones: their documented answers (docs/limits.md), nothing else.
    assert set(storm.answers["hog"]) == {(502, "MEMORY_LIMIT_EXCEEDED")}, (storm.answers["hog"], records_of(s, "hog"))
    assert set(storm.answers["spin"]) == {(504, "TIMEOUT")}, (storm.answers["spin"], records_of(s, "spin"))
    # 100 MB of output is cut at 4 KB; on a busy machine writing it may take longer than the
    # time limit, so a time-out is as documented as an answer.
    assert set(storm.answers["flood"]) <= {(200, None), (504, "TIMEOUT")}, (storm.answers["flood"], records_of(s, "flood"))
    s.wait_for_log(r"Log output truncated: \d{6,} bytes dropped \(the limit is 4096 bytes per execution\)")
    # The forker's instance lives on (a thrown error does not end it) with its children, until
    # it has 256 processes: then spawn fails with EAGAIN and the invocation with a 500.
    assert set(storm.statuses("forker")) <= {200, 500}, storm.answers["forker"]
    s.wait_for_log(r"EAGAIN")
    # The node stayed up.
    assert s.process.poll() is None
    assert s.get("/_hcms/api/well").json() == {"ok": True}

    # No instance that has ended left anything running: every process in a worker's cgroup
    # belongs to a worker that is alive (killed instances may take a moment to be reaped).
    wait_for(lambda: not outliving(gateway), timeout=15, message="nothing left of ended instances")

    # Left alone, every instance idles out: the forker's children end with it, and what is left
    # below the gateway is its spare workers, whole (nothing reparented away from them).
    wait_for(lambda: not sleepers(mark), timeout=IDLE_TIMEOUT_S + 30, message="the forker's children to end with its instance")
    wait_for(lambda: instances(s) == 0, timeout=IDLE_TIMEOUT_S + 30, message="every instance to idle out")
    wait_for(lambda: not outliving(gateway), timeout=15, message="nothing left of ended instances")
    members, live, below = census(gateway)
    assert live and all(pid in below for pids in members.values() for pid in pids), (members, below)

    # After shutdown nothing at all: no process in its cgroups, and the cgroups themselves gone.
    assert s.stop(signal.SIGTERM) == 0
    wait_for(lambda: not census(gateway)[0], timeout=10, message="the gateway's cgroups to be empty")
    assert not sleepers(mark)
    for folder in filter(None, banner.groups()):
        wait_for(lambda: not os.path.exists(folder), timeout=10, message=f"{folder} to be removed")
