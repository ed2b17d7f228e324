#!/usr/bin/python3
"""`make soak`: one node under ten minutes of mixed traffic; passes only if the gateway's
memory and open files stay flat and nothing but the intended errors happened (bench/SOAK.md).

Traffic (bench/fixtures: hello, realistic, logging, neighbours and soak.functions, and
examples/crm.actions): hello-worlds, JSON POSTs with lodash, axios calls, invalid JSON (400),
unknown paths (404), thrown errors (500), log-heavy functions; on a slower lane time-outs
(504), memory-limit hits (502) and 100 MB floods of output; and now and then a deploy, a
secret change and a queued workflow action. Every few seconds it samples the gateway's RSS
(/proc/PID/status) and open descriptors (/proc/PID/fd) and, after the warm-up, fits a line
(least squares) through them: its slope per minute must be within the tolerance (for the
descriptors, the slope in time once the number of processes below the gateway is accounted
for: each live worker holds some of them).

Environment:
  SOAK_SECONDS=600          how long the traffic runs
  SOAK_WARMUP_SECONDS       samples before this are left out of the slopes (default: 30 % of
                            SOAK_SECONDS, at most 180)
  SOAK_SAMPLE_SECONDS=5     how often the gateway is sampled
  SOAK_RATE=150             requests a second of the fast kinds, over all clients
  SOAK_CLIENTS=4            connections sending them
  SOAK_RSS_SLOPE_KB=256     tolerance: the gateway's RSS may grow by at most this many KB a minute
  SOAK_FD_SLOPE=0.5         tolerance: open descriptors, per minute
  SOAK_OUT=build/soak/results.json
  SPROCKET_BINARY=build/sprocket
Only the Python standard library is used; run it with /usr/bin/python3.
"""
import collections
import http.client
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import procs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "bench" / "fixtures"
SPROCKET = pathlib.Path(os.environ.get("SPROCKET_BINARY") or ROOT / "build" / "sprocket").resolve()
WORK = ROOT / "build" / "soak"
SERVED = [FIXTURES / "hello.functions", FIXTURES / "realistic.functions", FIXTURES / "logging.functions",
          FIXTURES / "neighbours.functions", FIXTURES / "soak.functions", ROOT / "examples" / "crm.actions"]
TIME_LIMIT_MS = 2000  # `slow` waits 60 s: a 504 each time; a 100 MB flood fits in it on a quiet machine


def realistic_cart():
    """The ~700-byte JSON cart `make bench` sends to checkout (bench/lua/post_json.lua)."""
    text = (ROOT / "bench" / "lua" / "post_json.lua").read_text()
    return text[text.index("[[") + 2:text.index("]]")].encode()


CART = realistic_cart()


def env_float(name, default):
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


# ---- what is sent, and what it should get ------------------------------------------------------
# kind: (method, path, body, expected statuses, a piece of a 200's body that must be there)
FAST = {
    "hello": (30, "GET", "/_hcms/api/hello", None, {200}, b"Hello, world!"),
    "checkout (JSON, lodash)": (20, "POST", "/_hcms/api/checkout", CART, {200}, b'"total"'),
    "quote (axios, lodash)": (10, "GET", "/_hcms/api/quote?url={url}/_hcms/api/hello", None, {200}, b"HELLO"),
    "chatty (10 log lines)": (10, "GET", "/_hcms/api/chatty", None, {200}, None),
    "invalid JSON": (5, "POST", "/_hcms/api/checkout", b"{not json", {400}, None),
    "not found": (8, "GET", "/_hcms/api/no-such-function", None, {404}, None),
    "throws": (8, "GET", "/_hcms/api/throws", None, {500}, None),
    "secret": (5, "GET", "/_hcms/api/secret", None, {200}, b'"generation"'),
    "deployed": (4, "GET", "/_hcms/api/soak-deployed", None, {200}, b'"version"'),
}
# One request every HOSTILE_EVERY seconds, on a lane of its own: each holds an instance for
# up to the time limit, and a node gives them no more than that.
HOSTILE = {
    "time-out": (2, "GET", "/_hcms/api/slow", None, {504}, None),
    "memory limit": (2, "GET", "/_hcms/api/hog", None, {502}, None),
    "100 MB of output": (1, "GET", "/_hcms/api/flood", None, {200, 504}, None),
}
HOSTILE_EVERY = 2.0
SECRET_EVERY, ACTION_EVERY, DEPLOY_EVERY = 15.0, 5.0, 60.0


class Client:
    """One keep-alive connection; reconnects after the server closed it."""

    def __init__(self, url, timeout=30.0):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.timeout, self.conn = parts.hostname, parts.port, timeout, None

    def request(self, method, path, body=None, headers=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException) as err:
                self.conn.close()
                self.conn = None
                # A kept-alive connection the server closed meanwhile fails at once: once more.
                if attempt == 2 or not isinstance(err, (http.client.RemoteDisconnected, BrokenPipeError,
                                                        ConnectionResetError)):
                    return "error: " + type(err).__name__, b""
        return "error", b""


class Tally:
    """Answers counted per kind and status; an answer not among the kind's expected ones is
    unexpected (a failed body check counts as `200, wrong body`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.defaultdict(collections.Counter)
        self.unexpected = collections.defaultdict(collections.Counter)
        self.examples = []

    def add(self, kind, status, expected, body=b"", must_contain=None):
        label = status
        ok = status in expected
        if ok and status == 200 and must_contain is not None and must_contain not in body:
            ok, label = False, "200, wrong body"
        with self.lock:
            self.counts[kind][label] += 1
            if not ok:
                self.unexpected[kind][label] += 1
                if len(self.examples) < 20:
                    self.examples.append(f"{kind}: {label}: {body[:300]!r}")


# ---- the node -------------------------------------------------------------------------------------

def start_node():
    data_dir = WORK / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    cmd = [SPROCKET, "serve", *SERVED, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
           "--data-dir", data_dir, "--time-limit-ms", str(TIME_LIMIT_MS)]
    server = procs.Server("sprocket (soak)", cmd, WORK / "sprocket.log", r"sprocket listening on (http://\S+)",
                          stop_signal=signal.SIGTERM, stop_grace=20)
    server.start(timeout=60)
    server.admin_url = re.search(r"sprocket admin API on (http://\S+)", server.log_text()).group(1)
    server.token = (data_dir / "admin.token").read_text().strip()
    return server


def sample(pid):
    """The gateway's resident memory (KB), open descriptors, threads and descendant processes."""
    with open(f"/proc/{pid}/status") as f:
        status = f.read()
    return {"rss_kb": int(re.search(r"VmRSS:\s+(\d+)", status).group(1)),
            "threads": int(re.search(r"Threads:\s+(\d+)", status).group(1)),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "descendants": len(procs.descendants(pid))}


def slope_per_minute(points):
    """Least-squares slope of [(seconds, value)], per minute."""
    n = len(points)
    if n < 3:
        return None
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / var if var else None


def slope_per_minute_given(points):
    """Least-squares fit of value = a + b·other + c·seconds over [(seconds, other, value)]: c per
    minute. The gateway's descriptors follow its live workers (each holds a socket, pipes and a
    pidfd of the gateway's), which come and go with deploys, time-outs and idle instances; the
    trend in time once they are accounted for is what a leak would show."""
    n = len(points)
    if n < 4:
        return None
    rows = [(1.0, float(other), float(t)) for t, other, _ in points]
    values = [float(v) for _, _, v in points]
    # The normal equations (3×3), solved by Gaussian elimination with partial pivoting.
    m = [[sum(r[i] * r[j] for r in rows) for j in range(3)] + [sum(r[i] * v for r, v in zip(rows, values))]
         for i in range(3)]
    for i in range(3):
        pivot = max(range(i, 3), key=lambda k: abs(m[k][i]))
        m[i], m[pivot] = m[pivot], m[i]
        if abs(m[i][i]) < 1e-12:
            return slope_per_minute([(t, v) for t, _, v in points])  # the workers never changed
        for k in range(3):
            if k != i:
                f = m[k][i] / m[i][i]
                m[k] = [a - f * b for a, b in zip(m[k], m[i])]
    return 60 * m[2][3] / m[2][2]


class Soak:
    def __init__(self):
        self.seconds = env_float("SOAK_SECONDS", 600)
        self.warmup = env_float("SOAK_WARMUP_SECONDS", min(180.0, self.seconds * 0.3))
        self.sample_every = env_float("SOAK_SAMPLE_SECONDS", 5)
        self.rate = env_float("SOAK_RATE", 150)
        self.clients = int(env_float("SOAK_CLIENTS", 4))
        self.rss_tolerance_kb = env_float("SOAK_RSS_SLOPE_KB", 256)
        self.fd_tolerance = env_float("SOAK_FD_SLOPE", 0.5)
        self.out = pathlib.Path(os.environ.get("SOAK_OUT", WORK / "results.json"))
        self.tally = Tally()
        self.samples = []
        self.stop = threading.Event()
        self.deploys = 0
        self.secret_generation = 0
        self.action_ids = []

    def log(self, text):
        print(f"soak [{time.monotonic() - self.started:5.0f}s] {text}", flush=True)

    # -- traffic --

    def send(self, client, kind, spec):
        _, method, path, body, expected, must_contain = spec
        headers = {"Content-Type": "application/json"} if body is not None else None
        status, data = client.request(method, path.format(url=self.node.url), body, headers)
        self.tally.add(kind, status, expected, data, must_contain)

    def fast_lane(self, seed):
        rng = random.Random(seed)
        client = Client(self.node.url)
        kinds = list(FAST)
        weights = [FAST[k][0] for k in kinds]
        interval = self.clients / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            self.send(client, kind, FAST[kind])
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                next_at = time.monotonic()  # behind: no burst to catch up

    def hostile_lane(self):
        rng = random.Random(7)
        client = Client(self.node.url, timeout=60)
        kinds = list(HOSTILE)
        weights = [HOSTILE[k][0] for k in kinds]
        while not self.stop.wait(HOSTILE_EVERY):
            kind = rng.choices(kinds, weights)[0]
            self.send(client, kind, HOSTILE[kind])

    def admin(self, client, method, path, body=None):
        return client.request(method, path, body, {"Authorization": f"Bearer {self.node.token}",
                                                   "Content-Type": "application/json"})

    def change_secret(self, client):
        self.secret_generation += 1
        status, data = self.admin(client, "PUT", "/api/v1/secrets/SOAK_SECRET",
                                  json.dumps({"value": f"soak-secret-{self.secret_generation}"}).encode())
        self.tally.add("secret change", status, {200, 201}, data)

    def queue_action(self, client):
        event = (ROOT / "examples" / "crm.actions" / "event.json").read_bytes()
        status, data = self.admin(client, "POST", "/api/v1/actions/score-contact/executions", event)
        self.tally.add("queued action", status, {202}, data)
        if status == 202:
            self.action_ids.append(json.loads(data)["id"])

    def deploy(self):
        """A new version of a small function, through `sprocket deploy`: a new generation of
        everything the node serves, the old one's instances let go."""
        self.deploys += 1
        folder = WORK / "deployed" / "soak-deployed.functions"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "serverless.json").write_text(json.dumps({"runtime": "nodejs18.x", "version": "1.0", "endpoints": {
            "soak-deployed": {"method": "GET", "file": "version.js"}}}))
        (folder / "version.js").write_text(
            f"exports.main = async () => ({{ statusCode: 200, body: {{ version: {self.deploys} }} }});\n")
        proc = subprocess.run([SPROCKET, "deploy", folder, "--server", self.node.admin_url, "--name", "soak-deployed",
                               "-m", f"soak {self.deploys}"], env={**os.environ, "SPROCKET_TOKEN": self.node.token},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        self.tally.add("deploy", "ok" if proc.returncode == 0 else f"exit {proc.returncode}", {"ok"},
                       proc.stdout.encode())

    def operations_lane(self):
        client = Client(self.node.admin_url)
        due = {"secret": 0.0, "action": 0.0, "deploy": DEPLOY_EVERY}
        every = {"secret": SECRET_EVERY, "action": ACTION_EVERY, "deploy": DEPLOY_EVERY}
        started = time.monotonic()
        while not self.stop.wait(0.5):
            now = time.monotonic() - started
            for what in due:
                if now >= due[what]:
                    due[what] = now + every[what]
                    {"secret": lambda: self.change_secret(client), "action": lambda: self.queue_action(client),
                     "deploy": self.deploy}[what]()

    def sampler(self):
        while True:
            try:
                s = sample(self.node.pid)
            except (OSError, AttributeError):
                return  # the gateway is gone: the run fails below
            s["t"] = round(time.monotonic() - self.started, 1)
            self.samples.append(s)
            if len(self.samples) % 12 == 0:
                self.log(f"gateway RSS {s['rss_kb'] / 1024:.1f} MB, {s['fds']} fds, {s['threads']} threads, "
                         f"{s['descendants']} processes below it; {sum(sum(c.values()) for c in self.tally.counts.values())} answers")
            if self.stop.wait(self.sample_every):
                return

    # -- the run --

    def run(self):
        self.started = time.monotonic()
        WORK.mkdir(parents=True, exist_ok=True)
        self.node = start_node()
        self.log(f"{SPROCKET} serving on {self.node.url} (admin {self.node.admin_url}); {self.seconds:.0f} s of "
                 f"traffic, warm-up {self.warmup:.0f} s, a sample every {self.sample_every:.0f} s")
        try:
            client = Client(self.node.admin_url)
            self.change_secret(client)
            self.deploy()
            self.started = time.monotonic()  # the samples' clock starts with the traffic
            lanes = [threading.Thread(target=self.fast_lane, args=(i,), daemon=True) for i in range(self.clients)]
            lanes += [threading.Thread(target=f, daemon=True) for f in (self.hostile_lane, self.operations_lane, self.sampler)]
            for lane in lanes:
                lane.start()
            self.stop.wait(self.seconds)
            self.stop.set()
            for lane in lanes:
                lane.join(timeout=120)
            actions = self.finished_actions(client)
            alive = self.node.process.poll() is None
        finally:
            self.node.stop()
        return self.report(actions, alive, self.node.process.returncode)

    def finished_actions(self, client, timeout=120):
        """The queued actions' final states (they run on the node's own schedule)."""
        deadline = time.monotonic() + timeout
        while True:
            status, data = self.admin(client, "GET", "/api/v1/actions/executions?action=score-contact&limit=10000")
            states = collections.Counter(e["state"] for e in json.loads(data)["executions"]) if status == 200 else {}
            if status == 200 and not ({"queued", "running", "retrying"} & set(states)) or time.monotonic() > deadline:
                return dict(states)
            time.sleep(1)

    # -- the verdict --

    def report(self, actions, alive, exit_status):
        after = [s for s in self.samples if s["t"] >= self.warmup]
        figures = {}
        for key, tolerance, unit in (("rss_kb", self.rss_tolerance_kb, "KB"), ("fds", self.fd_tolerance, "fds")):
            if key == "fds":
                slope = slope_per_minute_given([(s["t"], s["descendants"], s[key]) for s in after])
            else:
                slope = slope_per_minute([(s["t"], s[key]) for s in after])
            values = [s[key] for s in after]
            figures[key] = {"slope_per_minute": slope, "tolerance_per_minute": tolerance, "unit": unit,
                            "first": values[0] if values else None, "last": values[-1] if values else None,
                            "min": min(values, default=None), "max": max(values, default=None),
                            "flat": slope is not None and slope <= tolerance,
                            "plain_slope_per_minute": slope_per_minute([(s["t"], s[key]) for s in after])}
        for key in ("threads", "descendants"):
            figures[key] = {"slope_per_minute": slope_per_minute([(s["t"], s[key]) for s in after]),
                            "min": min((s[key] for s in after), default=None),
                            "max": max((s[key] for s in after), default=None)}
        answers = sum(sum(c.values()) for c in self.tally.counts.values())
        unexpected = {k: dict(v) for k, v in self.tally.unexpected.items()}
        actions_ok = bool(actions) and set(actions) == {"succeeded"} and sum(actions.values()) == len(self.action_ids)
        passed = (alive and exit_status == 0 and not unexpected and actions_ok
                  and figures["rss_kb"]["flat"] and figures["fds"]["flat"])
        result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git": git_revision(),
                  "seconds": self.seconds, "warmup_seconds": self.warmup, "sample_seconds": self.sample_every,
                  "rate": self.rate, "clients": self.clients, "answers": answers,
                  "statuses": {k: {str(s): n for s, n in v.items()} for k, v in self.tally.counts.items()},
                  "unexpected": unexpected, "unexpected_examples": self.tally.examples,
                  "actions": {"queued": len(self.action_ids), "states": actions}, "deploys": self.deploys,
                  "secret_changes": self.secret_generation, "node_alive_at_end": alive,
                  "exit_status": exit_status, "figures": figures, "samples": self.samples, "passed": passed}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        self.print_summary(result)
        return passed

    def print_summary(self, r):
        f = r["figures"]
        print()
        print(f"sprocket soak, {r['date']}, sprocket {r['git']}: {r['seconds']:.0f} s of mixed traffic "
              f"({r['answers']:,} answers), samples every {r['sample_seconds']:.0f} s, slopes after a "
              f"{r['warmup_seconds']:.0f} s warm-up")
        for key, name, fmt in (("rss_kb", "gateway RSS", lambda v: f"{v / 1024:.1f} MB"),
                               ("fds", "gateway open fds", lambda v: f"{v}")):
            x = f[key]
            slope = "–" if x["slope_per_minute"] is None else f"{x['slope_per_minute']:+.2f} {x['unit']}/min"
            span = "–" if x["first"] is None else f"{fmt(x['first'])} → {fmt(x['last'])} (min {fmt(x['min'])}, max {fmt(x['max'])})"
            given = (f" given the processes below the gateway (plain slope {x['plain_slope_per_minute']:+.2f})"
                     if key == "fds" and x["plain_slope_per_minute"] is not None else "")
            print(f"  {name}: {span}; slope {slope}{given} (tolerance {x['tolerance_per_minute']} {x['unit']}/min): "
                  f"{'flat' if x['flat'] else 'NOT FLAT'}")
        print(f"  threads {f['threads']['min']}–{f['threads']['max']}, processes below the gateway "
              f"{f['descendants']['min']}–{f['descendants']['max']}")
        print("  answers per kind (status: count):")
        for kind, counts in sorted(r["statuses"].items()):
            print(f"    {kind}: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(counts.items())))
        print(f"  queued actions: {r['actions']['queued']}, finished {r['actions']['states']}; deploys {r['deploys']}; "
              f"secret changes {r['secret_changes']}; node alive at the end: {r['node_alive_at_end']}, "
              f"exit status after SIGTERM {r['exit_status']}")
        if r["unexpected"]:
            print(f"  UNEXPECTED answers: {r['unexpected']}")
            for example in r["unexpected_examples"]:
                print(f"    {example}")
        print(f"soak {'PASSED' if r['passed'] else 'FAILED'}; results in {self.out}")


def git_revision():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.exit(0 if Soak().run() else 1)
