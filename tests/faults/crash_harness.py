"""Crash-safety harness (issue #18, item 3): kill -9 a `sprocket serve` node at random moments
during deploys, secret changes and queued workflow actions, restart it on the same data
directory, and count what was lost, duplicated or left half done, and whether the store is
intact. `make faults` runs it (FAULT_TRIALS, FAULT_SEED); tests/e2e/test_crash_safety.py runs a
few trials of it inside `make test`. README.md beside it says what each count means."""
import dataclasses
import itertools
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "support"))
import polling  # noqa: E402

PHASES = ("deploy", "secret", "action", "mixed")
DEPLOY_NAMES = ("p0", "p1", "p2")
SECRET_NAMES = ("S0", "S1", "S2", "S3")
ACCOUNT = 123456
# The retry schedule's clock runs this much faster: a minute's retry delay takes 10 ms, and the
# three days within which retries must start take 43 s, far longer than any outage of a trial.
# (At 60000 a late restart, 4 s down, is three days: the retries are rightly exhausted.)
CLOCK_SCALE = 6000
LISTENING = re.compile(r"sprocket listening on (http://\S+)")
ADMIN = re.compile(r"sprocket admin API on (http://\S+)")
DEPLOYED_AS = re.compile(r"Deployed \S+ as version (\d+)")


class Failure(Exception):
    """A broken rule the harness could not go on after (a node that does not come back)."""


def wait_for(condition, timeout, message, interval=0.01):
    """Polls `condition` until it returns a truthy value; Failure past the deadline."""
    return polling.wait_for(condition, timeout, interval, message, error=Failure)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stat_of(pid):
    """(state, parent pid, start time in ticks) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid):
    """(pid, start time) of the live processes whose parent is `pid` (a server's workers): the
    start time tells a worker from a later process that got its pid again."""
    found = []
    for entry in os.listdir("/proc"):
        st = stat_of(entry) if entry.isdigit() else None
        if st and st[1] == pid and st[0] != "Z":
            found.append((int(entry), st[2]))
    return found


def still_running(process):
    pid, started = process
    st = stat_of(pid)
    return st is not None and st[0] != "Z" and st[2] == started


def describe(pid):
    st = stat_of(pid)
    try:
        argv = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        argv = "?"
    return f"{pid} (state {st[0] if st else '-'}, parent {st[1] if st else '-'}: {argv})"


# --- what the node serves -------------------------------------------------------------------

PROBE = """exports.main = async () => ({statusCode: 200, body: {%s}});\n""" % ", ".join(
    f"{n}: process.env.{n} === undefined ? null : process.env.{n}" for n in SECRET_NAMES)

# One attempt: a "start" mark, a pause, then a rate limit (429, retried) for the first `fails`
# attempts, else a "done" mark and success. A mark is one line appended to the token's file, so
# the harness sees every attempt that ran code, by which worker of which server, and when.
ACTION = """const fs = require('fs');
// The server that started this worker, read once at load: one that outlives its killed server
// is reparented, and process.ppid would then name init, not the server it belonged to.
const server = process.ppid;
const mark = (file, what) => fs.appendFileSync(file, JSON.stringify({what, pid: process.pid, server, t: Date.now()}) + '\\n');
exports.main = async (event) => {
  const {token, fails, pause} = event.inputFields;
  const file = `${process.env.MARKS}/${token}`;
  const started = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\\n').filter((l) => l.includes('"start"')).length : 0;
  mark(file, 'start');
  await new Promise((resolve) => setTimeout(resolve, pause));
  if (started < fails) { const e = new Error('rate limited'); e.statusCode = 429; throw e; }
  mark(file, 'done');
  return {outputFields: {token}};
};
"""


def write_served(root, marks):
    """The folder the node serves in place: a probe that returns the secrets it sees, and the action."""
    probe = root / "probe" / "src" / "app" / "app.functions"
    probe.mkdir(parents=True)
    (root / "probe" / "hsproject.json").write_text(json.dumps({"name": "probe", "srcDir": "src", "platformVersion": "2025.1"}))
    (probe / "serverless.json").write_text(json.dumps({"appFunctions": {"probe": {
        "file": "probe.js", "secrets": list(SECRET_NAMES), "endpoint": {"path": "probe", "method": ["GET"]}}}}))
    (probe / "probe.js").write_text(PROBE)
    actions = root / "crm.actions"
    actions.mkdir()
    (actions / "work.js").write_text(ACTION.replace("process.env.MARKS", json.dumps(str(marks))))
    (actions / "actions.json").write_text(json.dumps({"actions": {"work": {
        "language": "node", "file": "work.js", "inputFields": ["token", "fails", "pause"],
        "outputFields": {"token": {"type": "string"}}}}}))


def write_project(folder, name, token):
    """A project deployed by name; its one function answers with the token of the deploy."""
    fn = folder / "src" / "app" / "app.functions"
    fn.mkdir(parents=True, exist_ok=True)
    (folder / "hsproject.json").write_text(json.dumps({"name": name, "srcDir": "src", "platformVersion": "2025.1"}))
    (fn / "serverless.json").write_text(json.dumps({"appFunctions": {"fn": {
        "file": "fn.js", "endpoint": {"path": f"dep-{name}", "method": ["GET"]}}}}))
    (fn / "fn.js").write_text("exports.main = async () => ({statusCode: 200, body: {token: %s}});\n" % json.dumps(token))


# --- the node -------------------------------------------------------------------------------


class Node:
    """One `sprocket serve` process on fixed ports (a restart answers where the clients retry)."""

    def __init__(self, binary, served, data_dir, ports, log_file):
        self.admin_url = f"http://127.0.0.1:{ports[1]}"
        self.url = f"http://127.0.0.1:{ports[0]}"
        self.lines = []
        self._lock = threading.Lock()
        self._log = log_file
        cmd = [str(binary), "serve", str(served), "--listen", f"127.0.0.1:{ports[0]}", "--admin-listen",
               f"127.0.0.1:{ports[1]}", "--data-dir", str(data_dir), "--sandbox", "off", "--action-clock-scale", str(CLOCK_SCALE),
               "--poll-us", "0"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.pid = self.process.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            with self._lock:
                self.lines.append(line.rstrip("\n"))
            self._log.write(f"[{self.pid}] {line}")

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_ready(self, timeout=30):
        def ready():
            if self.process.poll() is not None:
                raise Failure(f"sprocket exited with {self.process.returncode} at start-up:\n{self.log()[-3000:]}")
            text = self.log()
            return LISTENING.search(text) and ADMIN.search(text)
        wait_for(ready, timeout, "the node to listen (a hang on restart)")
        return time.monotonic() - self.started

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


# --- the ledger: what the clients were told -------------------------------------------------


@dataclasses.dataclass
class Op:
    phase: str
    key: str  # deploy name, secret name, or action token
    token: str  # the value this op leaves (a deploy's token, a secret's value, None for a delete)
    verb: str
    acked: bool = False
    detail: str = ""
    trial: int = 0
    version: int = 0  # a deploy's version, as told
    execution: int = 0  # an action's execution id, as told


@dataclasses.dataclass
class TrialCounts:
    phase: str
    kill_after_s: float
    ops: int = 0
    acked: int = 0
    unacked: int = 0
    lost: list = dataclasses.field(default_factory=list)
    half: list = dataclasses.field(default_factory=list)
    contradicted: list = dataclasses.field(default_factory=list)  # told failed, yet done
    duplicated_in_flight: list = dataclasses.field(default_factory=list)  # at-least-once: an attempt cut mid-run
    duplicated: list = dataclasses.field(default_factory=list)  # without that reason
    corrupt: list = dataclasses.field(default_factory=list)
    restart_s: float = 0.0
    late_restart: bool = False
    in_flight: str = ""  # how the op the kill interrupted ended, as its client was told

    def problems(self):
        return self.lost + self.half + self.contradicted + self.duplicated + self.corrupt


class Harness:
    def __init__(self, binary, seed, work_dir, out=print):
        self.binary = pathlib.Path(binary)
        self.rng = random.Random(seed)
        self.seed = seed
        self.work = pathlib.Path(work_dir)
        self.out = out
        self.data = self.work / "data"
        self.marks = self.work / "marks"
        self.marks.mkdir(parents=True)
        self.served = self.work / "served"
        write_served(self.served, self.marks)
        self.ports = (free_port(), free_port())
        self.log_file = open(self.work / "node.log", "a", buffering=1)
        self.node = None
        self.ops = []  # every op of every trial, in order
        self.secret_state = {n: None for n in SECRET_NAMES}  # as observed after the last restart
        self.deploy_active = {}  # name -> token active after the last restart
        self.acked_versions = {}  # version -> token, for every acked deploy
        self.finished_actions = set()  # tokens checked already
        self.killed_servers = {}  # server pid -> kill time (unix ms)
        self.reported_half = set()  # (version, token) of the half deploys counted already
        self.counter = itertools.count(1)  # next() is atomic: the mixed phase's threads share it

    # -- plumbing --

    def token(self, trial):
        return f"t{trial}x{next(self.counter)}"

    def admin(self, method, path, **kw):
        token = (self.data / "admin.token").read_text().strip()
        return requests.request(method, self.node.admin_url + path, headers={"Authorization": f"Bearer {token}"},
                                timeout=kw.pop("timeout", 10), **kw)

    def cli(self, *args, stdin=None):
        return subprocess.run([str(self.binary), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=60)

    def start_node(self):
        self.node = Node(self.binary, self.served, self.data, self.ports, self.log_file)
        return self.node.wait_ready()

    # -- workloads: each runs until `stop` is set, one op at a time, recording what it was told --

    def deploy_ops(self, trial, stop, rng):
        projects = self.work / "projects"
        while not stop.is_set():
            name = rng.choice(DEPLOY_NAMES)
            op = Op("deploy", name, self.token(trial), "deploy", trial=trial)
            folder = projects / name
            write_project(folder, name, op.token)
            self.ops.append(op)
            r = self.cli("deploy", folder, "--server", self.node.admin_url, "--data-dir", self.data, "-m", op.token)
            op.detail = f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[-300:]}"
            m = DEPLOYED_AS.search(r.stdout)
            if r.returncode == 0 and m:
                op.acked, op.version = True, int(m.group(1))
                self.acked_versions[op.version] = op.token

    def secret_ops(self, trial, stop, rng):
        believed = dict(self.secret_state)
        while not stop.is_set():
            name = rng.choice(SECRET_NAMES)
            verb = "add" if believed[name] is None else rng.choice(("update", "update", "delete"))
            value = None if verb == "delete" else self.token(trial)
            # Mostly through the node's admin API (the node killed mid-request); sometimes straight
            # into the data directory, as `sprocket secrets --data-dir` does beside a running node.
            where = ["--server", self.node.admin_url] if rng.random() < 0.8 else []
            op = Op("secret", name, value, verb + (" (remote)" if where else " (local)"), trial=trial)
            self.ops.append(op)
            r = self.cli("secrets", verb, name, *where, "--data-dir", self.data, stdin=value or "")
            op.detail = f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
            op.acked = r.returncode == 0
            if op.acked:
                believed[name] = value

    def action_ops(self, trial, stop, rng):
        while not stop.is_set():
            token = self.token(trial)
            fields = {"token": token, "fails": rng.choice((0, 0, 1, 2)), "pause": rng.randrange(0, 250)}
            op = Op("action", token, token, "enqueue", trial=trial)
            self.ops.append(op)
            try:
                r = self.admin("POST", "/api/v1/actions/work/executions", json={"inputFields": fields}, timeout=5)
                op.detail = f"HTTP {r.status_code}"
                if r.status_code == 202:
                    op.acked, op.execution = True, r.json()["id"]
            except requests.RequestException as e:
                op.detail = f"no answer: {type(e).__name__}"
            # A burst now and then, so that several attempts are running at the kill.
            stop.wait(rng.choice((0, 0, 0.02, 0.1)))

    # -- one trial --

    def trial(self, number, phase):
        kill_after = self.rng.uniform(0.05, 1.5)
        counts = TrialCounts(phase, kill_after)
        first_op = len(self.ops)
        stop = threading.Event()
        workload = {"deploy": self.deploy_ops, "secret": self.secret_ops, "action": self.action_ops}.get(phase)
        # The workload's choices come from an RNG of the trial's own, so that how many ops fit
        # before one kill does not move the moments of the later kills: a seed replays them all.
        rng = random.Random(f"{self.seed}-{number}")
        if phase == "mixed":  # all three at once: a deploy swaps the code under running attempts
            workers = [threading.Thread(target=w, args=(number, stop, random.Random(f"{self.seed}-{number}-{w.__name__}")),
                                        daemon=True) for w in (self.deploy_ops, self.secret_ops, self.action_ops)]
        else:
            workers = [threading.Thread(target=workload, args=(number, stop, rng), daemon=True)]
        for w in workers:
            w.start()
        stop.wait(kill_after)  # the random moment: the point of the trial
        stop.set()
        victim = self.node
        its_workers = children_of(victim.pid)
        self.killed_servers[victim.pid] = time.time() * 1000
        victim.kill()
        # Back on the same ports and data directory, as a supervisor brings it back: mostly at
        # once, while the client in flight retries (a deploy's retry finds the restarted node);
        # sometimes only once the client has given up, so that what it left is found as it was.
        counts.late_restart = self.rng.random() < 0.4
        if counts.late_restart:
            for w in workers:
                w.join(timeout=120)
        counts.restart_s = self.start_node()
        for w in workers:
            w.join(timeout=120)
            if w.is_alive():
                raise Failure("a client did not finish within 120 s of the restart")
        # The workers die with their server (PR_SET_PDEATHSIG); on a loaded machine that may take a moment.
        try:
            wait_for(lambda: not any(still_running(p) for p in its_workers), 5, "the killed server's workers to go")
        except Failure:
            survivors = [describe(p) for p, _ in its_workers if still_running((p, _))]
            counts.duplicated.append(f"workers of the killed server {victim.pid} still run 5 s after its restart: {survivors}")
        ops = self.ops[first_op:]
        counts.ops = len(ops)
        counts.acked = sum(o.acked for o in ops)
        counts.unacked = counts.ops - counts.acked
        if ops:
            counts.in_flight = ops[-1].detail.splitlines()[0][:90] if ops[-1].detail else ""
        self.check_store(counts)
        self.check_deploys(counts, ops)
        self.check_secrets(counts, ops)
        self.check_actions(counts, ops)
        return counts

    # -- checks after the restart --

    def check_store(self, counts):
        db = sqlite3.connect(f"file:{self.data / 'sprocket.db'}?mode=ro", uri=True, timeout=10)
        try:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                counts.corrupt.append(f"integrity_check: {result[:5]}")
            broken = list(db.execute("PRAGMA foreign_key_check"))
            if broken:
                counts.corrupt.append(f"foreign_key_check: {broken[:5]}")
        finally:
            db.close()

    def deployment_rows(self):
        db = sqlite3.connect(f"file:{self.data / 'sprocket.db'}?mode=ro", uri=True, timeout=10)
        try:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM deployments WHERE account_id = ?", (ACCOUNT,))]
        finally:
            db.close()

    def check_deploys(self, counts, ops):
        listed = self.admin("GET", "/api/v1/deployments").json()["versions"]
        by_version = {v["version"]: v for v in listed}
        tokens = {}
        for v in listed:
            tokens.setdefault(v["message"], []).append(v["version"])
        # Every deploy ever acknowledged is still there, with the version it was told.
        for version, token in self.acked_versions.items():
            if by_version.get(version, {}).get("message") != token:
                counts.lost.append(f"deploy {token} (told version {version}) is gone: {by_version.get(version)}")
        for token, versions in tokens.items():
            if len(versions) > 1:
                counts.duplicated.append(f"deploy {token} made versions {versions}")
        # A version the store holds but never committed (stored, then killed before activation) is half a deploy.
        for row in self.deployment_rows():
            never_committed = row.get("committed") == 0 if "committed" in row else row["outcome"] == ""
            if never_committed and (row["version"], row["message"]) not in self.reported_half:
                self.reported_half.add((row["version"], row["message"]))
                counts.half.append(f"deploy {row['message']} is stored as version {row['version']} but was never committed "
                                   f"(it is listed by `sprocket versions`)")
        mine = [o for o in ops if o.phase == "deploy"]
        for o in mine:
            if not o.acked and o.detail.startswith("exit 1") and o.token in tokens:
                counts.contradicted.append(f"deploy {o.token} was told it failed ({o.detail}) but is version {tokens[o.token]}")
        leftovers = [p.name for p in (self.data / "deployments" / str(ACCOUNT)).glob("*") if "incoming" in p.name]
        if leftovers:
            counts.half.append(f"partial uploads left after the restart: {leftovers}")
        # Per name: the active version is the last acknowledged deploy, or one tried after it, and it is what answers.
        for name in DEPLOY_NAMES:
            active = [v for v in listed if v["name"] == name and v["active"]]
            history = [o for o in self.ops if o.phase == "deploy" and o.key == name]
            last_acked = max((i for i, o in enumerate(history) if o.acked), default=None)
            allowed = ({history[last_acked].token} if last_acked is not None else {self.deploy_active.get(name)}) | \
                      {o.token for o in history[(last_acked + 1 if last_acked is not None else 0):] if not o.acked}
            now = active[0]["message"] if active else None
            if now not in allowed:
                (counts.lost if last_acked is not None else counts.half).append(
                    f"{name}: active is {now}, expected one of {sorted(t or '-' for t in allowed)}")
            served = requests.get(f"{self.node.url}/hs/serverless/dep-{name}", timeout=10)
            answer = served.json().get("token") if served.status_code == 200 else None
            if answer != now:
                counts.half.append(f"{name}: the store names {now} active but the node serves {answer} ({served.status_code})")
            self.deploy_active[name] = now
            # From here on, what the node shows is the baseline for later trials.
            for o in history:
                o.acked = o.acked or o.token == now

    def check_secrets(self, counts, ops):
        listed = {s["name"] for s in self.admin("GET", "/api/v1/secrets").json()["secrets"]}
        seen = requests.get(f"{self.node.url}/hs/serverless/probe", timeout=10).json()
        for name in SECRET_NAMES:
            value = seen.get(name)
            if (value is not None) != (name in listed):
                counts.half.append(f"secret {name}: listed={name in listed} but the function sees {value!r}")
            mine = [o for o in ops if o.key == name]
            last_acked = max((i for i, o in enumerate(mine) if o.acked), default=None)
            baseline = mine[last_acked].token if last_acked is not None else self.secret_state[name]
            allowed = {baseline} | {o.token for o in mine[(last_acked + 1 if last_acked is not None else 0):] if not o.acked}
            if value not in allowed:
                what = counts.lost if last_acked is not None else counts.half
                what.append(f"secret {name} is {value!r}, expected one of {sorted(str(a) for a in allowed)}"
                            f" (ops: {[(o.verb, o.token, o.acked) for o in mine][-6:]})")
            self.secret_state[name] = value

    def check_actions(self, counts, ops):
        listed = self.admin("GET", "/api/v1/actions/executions?limit=10000").json()["executions"]
        by_token = {}
        for e in listed:
            by_token.setdefault(e["event"]["inputFields"].get("token"), []).append(e)
        for o in (o for o in ops if o.phase == "action"):
            found = by_token.get(o.token, [])
            if len(found) > 1:
                counts.duplicated.append(f"action {o.token} was queued {len(found)} times: {[e['id'] for e in found]}")
            if not found:
                if o.acked:
                    counts.lost.append(f"action {o.token} (execution {o.execution}, told 202) is not in the store")
                continue
            if o.acked and found[0]["id"] != o.execution:
                counts.lost.append(f"action {o.token} was told id {o.execution} but is stored as {found[0]['id']}")
            self.check_execution(counts, o, found[0]["id"])

    def check_execution(self, counts, op, ident):
        def final():
            e = self.admin("GET", f"/api/v1/actions/executions/{ident}").json()
            return e if e["state"] in ("succeeded", "failed") else None
        try:
            e = wait_for(final, 60, f"execution {ident} to end", interval=0.05)
        except Failure as f:
            counts.lost.append(f"action {op.token} (execution {ident}) never ended after the restart: {f}")
            return
        if e["state"] != "succeeded" or e["outputs"] != {"token": op.token}:
            counts.lost.append(f"action {op.token} (execution {ident}) ended {e['state']} {e['failure']}: {e['error']}")
        marks = [json.loads(l) for l in (self.marks / op.token).read_text().splitlines()] if (self.marks / op.token).exists() else []
        done = [m for m in marks if m["what"] == "done"]
        interrupted = [a for a in e["attempts"] if a["outcome"] == "INTERRUPTED"]
        if e["state"] == "succeeded" and not done:
            counts.lost.append(f"action {op.token} (execution {ident}) is succeeded but its code never finished")
        starts = sum(m["what"] == "start" for m in marks)
        if starts > len(e["attempts"]):
            counts.duplicated.append(f"action {op.token}: {starts} attempts ran code but {len(e['attempts'])} are recorded")
        # More than one run to the end: allowed only for a run cut off by a kill before its result was
        # stored, i.e. done by a worker of a killed server, before the kill, with an INTERRUPTED attempt.
        for m in done[:-1]:
            killed_at = self.killed_servers.get(m["server"])
            if killed_at is not None and m["t"] <= killed_at + 50 and interrupted:
                when = (f"{killed_at - m['t']:.0f} ms before the kill" if m["t"] <= killed_at
                        else f"{m['t'] - killed_at:.0f} ms after the kill (its worker not yet gone)")
                counts.duplicated_in_flight.append(
                    f"action {op.token} (execution {ident}): a run finished {when}, before its result was stored; run again")
            else:
                counts.duplicated.append(f"action {op.token} (execution {ident}) ran to the end {len(done)} times: {marks}")
        # Never two runs at once: whatever a killed server's worker wrote comes before the restarted server's first mark.
        old = [m["t"] for m in marks if m["server"] in self.killed_servers]
        new = [m["t"] for m in marks if m["server"] not in self.killed_servers]
        if old and new and max(old) > min(new):
            counts.duplicated.append(f"action {op.token}: a killed server's worker ran on after the restart: {marks}")

    # -- the run --

    def run(self, trials):
        self.out(f"crash-safety harness: {trials} trials, FAULT_SEED={self.seed}, binary {self.binary}, work dir {self.work}")
        self.start_node()
        results = []
        try:
            for number in range(1, trials + 1):
                phase = PHASES[(number - 1) % len(PHASES)]
                counts = self.trial(number, phase)
                results.append(counts)
                problems = counts.problems()
                self.out(f"trial {number:3} {phase:6} kill at {counts.kill_after_s:5.3f} s: {counts.ops:3} ops "
                         f"({counts.acked} told ok), restart {'late' if counts.late_restart else 'at once'} "
                         f"{counts.restart_s:4.2f} s, {len(counts.duplicated_in_flight)} re-run, {len(problems)} problems; "
                         f"last op: {counts.in_flight}")
                for p in problems:
                    self.out(f"    PROBLEM: {p}")
                for p in counts.duplicated_in_flight:
                    self.out(f"    at-least-once: {p}")
        except Failure as f:
            self.out(f"FAILED in trial {len(results) + 1}: {f}")
            results.append(None)
        finally:
            if self.node:
                self.node.stop()
            self.log_file.close()
        return results


def summary(results, seed):
    """The table, and whether every rule held."""
    rows = []
    hung = results and results[-1] is None
    done = [r for r in results if r is not None]
    for phase in PHASES + ("all",):
        mine = [r for r in done if phase in ("all", r.phase)]
        rows.append((phase, len(mine), sum(r.ops for r in mine), sum(r.acked for r in mine), sum(r.unacked for r in mine),
                     sum(len(r.lost) for r in mine), sum(len(r.half) + len(r.contradicted) for r in mine),
                     sum(len(r.duplicated_in_flight) for r in mine), sum(len(r.duplicated) for r in mine),
                     sum(len(r.corrupt) for r in mine)))
    head = ("phase", "kills", "ops", "told ok", "not told", "lost", "half", "dup: cut mid-run", "dup: no reason", "corrupt")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(row, widths)) for row in (head, *rows)]
    restarts = sorted(r.restart_s for r in done)
    if restarts:
        lines.append(f"restart to listening: median {restarts[len(restarts) // 2]:.2f} s, max {restarts[-1]:.2f} s")
    total = rows[-1]
    ok = not hung and total[5] == 0 and total[6] == 0 and total[8] == 0 and total[9] == 0
    lines.append(("PASS" if ok else "FAIL") + f" (FAULT_SEED={seed}" + (", the last trial did not finish)" if hung else ")"))
    return ok, "\n".join(lines)


def run(trials, seed=None, binary=None, keep=False, out=print):
    """Runs `trials` trials; returns (ok, table). The work directory stays when a rule broke."""
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
    binary = binary or os.environ.get("SPROCKET_BINARY") or ROOT / "build" / "sprocket"
    work = tempfile.mkdtemp(prefix="sprocket-faults-")
    results = Harness(binary, seed, work, out).run(trials)
    ok, table = summary(results, seed)
    out(table)
    if ok and not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        out(f"work directory kept: {work} (node.log, data, marks)")
    return ok, table


def main():
    trials = int(os.environ.get("FAULT_TRIALS", "100"))
    seed = int(os.environ["FAULT_SEED"]) if os.environ.get("FAULT_SEED") else None
    ok, _ = run(trials, seed, keep=bool(os.environ.get("FAULT_KEEP")), out=lambda s: print(s, flush=True))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
