#!/usr/bin/python3
"""`make bench`: sprocket against baselines measured in the same run, on 127.0.0.1 only.

Benchmarks (docs/performance.md describes each one):
  hello      warm hello-world at 32 and 1 connections: sprocket, bare Node, serverless-dev-runtime
  realistic  JSON POST + lodash + cookie: sprocket, bare Node
  cold       first request to a function without a live instance (axios+lodash, and empty)
  scale      1, 100 and 1,000 deployed functions under uniform random traffic
  memory     gateway RSS and an idle warm worker's PSS
  logging    10 console lines per request against none
  neighbours a well-behaved function's p99 over 500 requests beside 4 hostile ones against quiet
  budget     warm hello with the execution budget in Redis (--budget redis://…) against the local one
  multinode  warm hello through a node on a PostgreSQL store against one on SQLite (the shared store's overhead)

Environment:
  BENCH_ONLY=hello,memory   run a subset (default: all)
  BENCH_DURATION=5          seconds per measured wrk run
  BENCH_RUNS=1              measured runs per configuration (medians are reported)
  BENCH_WARMUP=2            seconds of the wrk warm-up before measuring
  BENCH_OUT=build/bench/results.json
  BENCH_COLD_N=20           endpoints per cold-start kind
  BENCH_SCALE_TOUCH=100     most distinct functions the scale traffic touches
  BENCH_NEIGHBOURS_REQUESTS=500  requests per neighbours measurement (its p99 is the 5th slowest)
  BENCH_NEIGHBOURS_HOSTILE=hog,spin,flood,forker  the hostile functions beside it (a subset, to profile; empty: none, the noise floor)
  BENCH_BUDGET=540          seconds after which remaining benchmarks are skipped
  BENCH_SPROCKET_ARGS=""    extra `sprocket serve` options for hello, realistic, memory, logging
  SPROCKET_BINARY=build/sprocket
Only the Python standard library is used; run it with /usr/bin/python3.
"""
import datetime
import json
import os
import pathlib
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import generate  # noqa: E402
import loadgen  # noqa: E402
import procs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
FIXTURES = BENCH / "fixtures"
SPROCKET = pathlib.Path(os.environ.get("SPROCKET_BINARY") or ROOT / "build" / "sprocket").resolve()
GUEST_MODULES = ROOT / "guest" / "node" / "node_modules"
NODE = shutil.which("node") or "/usr/bin/node"
SDR_PACKAGE = "@hubspot/serverless-dev-runtime"
SDR_VERSION = "7.0.7"
ALL = ["hello", "realistic", "cold", "scale", "memory", "logging", "neighbours", "budget", "multinode"]
HELLO_PATH = "/_hcms/api/hello"
# Per-account limits for every sprocket under test (see Harness.sprocket_config).
BENCH_LIMITS = {"maxEndpoints": 5000, "executionSecondsPerMinute": 1000000000}


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_float(name, default):
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


# ---- formatting -------------------------------------------------------------------------------

def fmt_rps(value):
    return "–" if value is None else f"{value:,.0f} req/s"


def fmt_ms(value):
    if value is None:
        return "–"
    return f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms"


def fmt_mb(kb):
    if kb is None:
        return "–"
    return f"{kb / 1024 / 1024:.2f} GB" if kb >= 1 << 20 else f"{kb / 1024:.1f} MB"


def fmt_ratio(value):
    return "–" if value is None else f"{value:.2f}×"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def met(condition):
    if condition is None:
        return "n/a"
    return "yes" if condition else "NO"


class SkipBenchmark(Exception):
    pass


# ---- the harness ------------------------------------------------------------------------------

class Harness:
    def __init__(self):
        self.duration = env_int("BENCH_DURATION", 5)
        self.runs = max(1, env_int("BENCH_RUNS", 1))
        self.warmup_seconds = env_int("BENCH_WARMUP", 2)
        only = os.environ.get("BENCH_ONLY", "").strip()
        self.only = [b.strip() for b in only.split(",") if b.strip()] if only else list(ALL)
        unknown = [b for b in self.only if b not in ALL]
        if unknown:
            sys.exit(f"bench: unknown benchmark(s) {', '.join(unknown)}; choose among {', '.join(ALL)}")
        self.work = ROOT / "build" / "bench"
        self.logs = self.work / "logs"
        self.out = pathlib.Path(os.environ.get("BENCH_OUT", str(self.work / "results.json")))
        if not self.out.is_absolute():
            self.out = ROOT / self.out
        self.cold_n = env_int("BENCH_COLD_N", 20)
        self.scale_touch = env_int("BENCH_SCALE_TOUCH", 100)
        self.budget = env_float("BENCH_BUDGET", 540)
        self.sprocket_args = shlex.split(os.environ.get("BENCH_SPROCKET_ARGS", ""))
        # Every server is killed if free memory falls under this floor (see procs.Server).
        self.memory_floor_kb = max(1 << 20, procs.mem_total_kb() // 10)
        self.rows = []
        self.notes = []
        self.results = {}
        self.failures = []
        self.started = time.monotonic()
        self.live = []
        self._config_args = None
        self.busy_runs = []  # (label, CPU cores used by other processes during a measured run)

    # -- output --

    def log(self, text):
        print(f"bench [{time.monotonic() - self.started:5.0f}s] {text}", flush=True)

    def row(self, benchmark, sprocket, baseline="–", ratio_text="–", target="–", ok="–"):
        self.rows.append({"benchmark": benchmark, "sprocket": sprocket, "baseline": baseline,
                          "ratio": ratio_text, "target": target, "met": ok})

    def note(self, text):
        self.notes.append(text)
        self.log("note: " + text)

    # -- servers --

    def _server(self, server, timeout=60):
        self.live.append(server)
        try:
            server.start(timeout=timeout)
        except BaseException:
            server.stop()
            self.live.remove(server)
            raise
        return server

    def stop(self, server):
        server.stop()
        if server in self.live:
            self.live.remove(server)
        if server.memory_guard_tripped:
            self.note(f"{server.name} was killed because free memory ran low; its figures are incomplete")

    def stop_all(self):
        for server in list(self.live):
            self.stop(server)

    def sprocket_config(self):
        """`--config FILE` lifting the per-account limits that would otherwise decide the outcome
        instead of speed: the execution budget (600 execution-seconds per rolling minute, then
        429) and 100 endpoints per account (the scale benchmark deploys 1,000). Empty when this
        build of sprocket has no --config."""
        if self._config_args is None:
            self._config_args = []
            try:
                help_text = subprocess.run([SPROCKET, "serve", "--help"], stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                help_text = ""
            if "--config" in help_text:
                path = self.work / "sprocket-bench.json"
                path.write_text(json.dumps({"limits": BENCH_LIMITS}, indent=2) + "\n")
                self._config_args = ["--config", str(path)]
                self.note(f"sprocket runs with --config {path.relative_to(ROOT)}: limits {json.dumps(BENCH_LIMITS)} "
                          f"(the account execution budget would answer 429 under sustained load; 1,000 endpoints "
                          f"exceed the default 100 per account)")
        return self._config_args

    def sprocket(self, name, paths, args=(), timeout=60):
        data_dir = tempfile.mkdtemp(prefix=f"data-{name}-", dir=self.work / "tmp")
        cmd = [SPROCKET, "serve", *paths, "--listen", "127.0.0.1:0", "--data-dir", data_dir,
               *self.sprocket_config(), *args]
        server = procs.Server(f"sprocket ({name})", cmd, self.logs / f"{name}.log",
                              r"sprocket listening on (http://\S+)", stop_signal=signal.SIGTERM,
                              stop_grace=15, memory_floor_kb=self.memory_floor_kb)
        server.data_dir = data_dir
        return self._server(server, timeout)

    def bare_node(self, name, function_file):
        env = worker_like_env()
        cmd = [NODE, BENCH / "baselines" / "bare_node.js", function_file, "0"]
        server = procs.Server(f"bare node ({name})", cmd, self.logs / f"{name}.log",
                              r"bare-node listening on (http://\S+)", env=env,
                              memory_floor_kb=self.memory_floor_kb)
        server.data_dir = None
        return self._server(server)

    def serverless_dev_runtime(self, name, folder, package_dir):
        port = free_port()
        cmd = [NODE, BENCH / "baselines" / "serverless_dev_runtime.js", package_dir, folder, str(port)]
        server = procs.Server(f"serverless-dev-runtime ({name})", cmd, self.logs / f"{name}.log",
                              r"Local test server running at (http://\S+)", cwd=self.work / "peers",
                              stop_signal=signal.SIGINT, stop_grace=5, memory_floor_kb=self.memory_floor_kb)
        server.data_dir = None
        self._server(server, timeout=120)
        server.url = f"http://127.0.0.1:{port}"  # it prints "localhost", which may resolve to ::1
        return server

    def finish_server(self, server):
        self.stop(server)
        if server.data_dir:
            shutil.rmtree(server.data_dir, ignore_errors=True)
        procs.trim_log(server.log_path)

    # -- load --

    def check(self, server, path, method="GET", body=None, headers=None, expect=200):
        status, resp_headers, data, _ = loadgen.timed_request(server.url + path, method, body, headers)
        if status != expect:
            raise RuntimeError(f"{server.name}: {method} {path} answered {status}: {data[:300]!r}")
        return resp_headers, data

    def settle(self, server, timeout=5.0):
        """Waits until the server's processes are idle (spare workers started, nothing loading)
        and returns how many children it has. Recent sprockets keep pre-started generic
        "spare" workers (docs/architecture.md); they are children too."""
        deadline = time.monotonic() + timeout
        last, quiet = procs.tree_cpu_seconds(server.pid), 0
        while quiet < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = procs.tree_cpu_seconds(server.pid)
            quiet = quiet + 1 if now - last < 0.015 else 0
            last = now
        return len(procs.children(server.pid))

    def warm(self, server, path, script=None, script_args=()):
        if self.warmup_seconds > 0:
            loadgen.run_wrk(server.url + path, 32, self.warmup_seconds, script, script_args)

    def watch_others(self, server):
        """What the machine and the server have used so far: with `others_since`, whether
        anything else was busy during a measured run."""
        return {"tree": {server.pid, *procs.descendants(server.pid)}, "since": procs.boot_ticks_now(),
                "busy": procs.system_busy_seconds(), "own": own_cpu_seconds(), "snap": procs.cpu_snapshot(),
                "server_cpu": procs.tree_cpu_seconds(server.pid)}

    def others_since(self, server, label, before, wall, result):
        """Adds the server's CPU seconds and what other processes used since `before` to `result`
        (a busy neighbour — a compiler, another benchmark — makes every figure of the run
        meaningless, and the report says so)."""
        snap_after = procs.cpu_snapshot()
        cpu = procs.tree_cpu_seconds(server.pid) - before["server_cpu"]
        exclude = before["tree"] | {server.pid, *procs.descendants(server.pid), os.getpid()}
        others, result["neighbours"] = procs.cpu_of_others(before["snap"], snap_after, exclude, before["since"])
        result["neighbour_cpu_cores"] = round(others / wall, 2)
        # The machine's busy time (/proc/stat) minus the server, the load generator and this
        # harness: it also sees short-lived processes that no snapshot catches (a build's
        # compiler runs). It is about 0 on a quiet machine.
        unattributed = (procs.system_busy_seconds() - before["busy"]) - cpu - (own_cpu_seconds() - before["own"])
        result["unattributed_cpu_cores"] = round(max(0.0, unattributed) / wall, 2)
        if result["neighbour_cpu_cores"] > 0.1 or result["unattributed_cpu_cores"] > 0.25:
            self.busy_runs.append((label, max(result["neighbour_cpu_cores"], result["unattributed_cpu_cores"]),
                                   result["neighbours"]))
        return cpu

    def measure(self, server, path, connections, label, script=None, script_args=(), duration=None):
        """BENCH_RUNS wrk runs; returns the medians plus every run (with server CPU per request)."""
        runs = []
        for _ in range(self.runs):
            own_cpu_before = procs.process_cpu_seconds(server.pid)
            before = self.watch_others(server)
            result = loadgen.run_wrk(server.url + path, connections, duration or self.duration, script, script_args)
            cpu = self.others_since(server, label, before, result["wall_seconds"], result)
            result["server_cpu_seconds"] = round(cpu, 3)
            # The main process alone (sprocket's gateway; for the Node baselines, all of it).
            main_cpu = procs.process_cpu_seconds(server.pid) - own_cpu_before
            result["main_process_cpu_us_per_request"] = (round(main_cpu * 1e6 / result["requests"], 2)
                                                         if result["requests"] else None)
            result["server_cpu_us_per_request"] = (round(cpu * 1e6 / result["requests"], 2)
                                                   if result["requests"] else None)
            errors = sum(result["socket_errors"].values())
            if result["non_2xx"] or errors:
                self.note(f"{label}: wrk reported {result['non_2xx']} non-2xx/3xx responses and socket errors "
                          f"{result['socket_errors']}")
            runs.append(result)
        summary = loadgen.median_of(runs)
        summary["server_cpu_us_per_request"] = statistics.median(
            [r["server_cpu_us_per_request"] for r in runs if r["server_cpu_us_per_request"] is not None] or [0])
        summary["main_process_cpu_us_per_request"] = statistics.median(
            [r["main_process_cpu_us_per_request"] for r in runs if r["main_process_cpu_us_per_request"] is not None] or [0])
        summary["requests"] = sum(r["requests"] or 0 for r in runs)
        summary["non_2xx"] = sum(r["non_2xx"] for r in runs)
        summary["socket_errors"] = sum(sum(r["socket_errors"].values()) for r in runs)
        summary["runs"] = runs
        self.log(f"{label}: {fmt_rps(summary['requests_per_sec'])}, p50 {fmt_ms(summary['p50_ms'])}, "
                 f"p99 {fmt_ms(summary['p99_ms'])}, server CPU {summary['server_cpu_us_per_request']:.1f} µs/req "
                 f"(main process {summary['main_process_cpu_us_per_request']:.1f}), "
                 f"other processes {max(r['neighbour_cpu_cores'] for r in runs):.2f} core, "
                 f"unattributed {max(r['unattributed_cpu_cores'] for r in runs):.2f} core"
                 + "".join(f" [{n[2]} {n[1]}: {n[0]} s]" for r in runs for n in r["neighbours"] if n[0] >= 0.2))
        return summary

    # -- benchmarks --

    def over_budget(self):
        return time.monotonic() - self.started > self.budget

    def run(self):
        for name in self.only:
            if self.over_budget():
                self.note(f"{name}: skipped, the run is over its time budget of {self.budget:.0f}s (BENCH_BUDGET)")
                continue
            self.log(f"=== {name}")
            started = time.monotonic()
            try:
                getattr(self, "bench_" + name)()
            except SkipBenchmark as skip:
                self.note(f"{name}: skipped: {skip}")
            except Exception as err:  # one failing benchmark does not stop the others
                self.failures.append(name)
                self.note(f"{name}: FAILED: {err}")
                traceback.print_exc()
            finally:
                self.stop_all()
            self.results.setdefault(name, {})["wall_seconds"] = round(time.monotonic() - started, 1)

    # 8. the execution budget in Redis --------------------------------------------------------

    def bench_budget(self):
        """What `--budget redis://…` costs a request: admission reads memory and a thread syncs
        with Redis every 150 ms, so it should cost next to nothing. Warm hello at 32 and 1
        connections against the local budget, in the same run; a private redis-server."""
        sys.path.insert(0, str(ROOT / "tests" / "support"))
        try:
            from redis_server import RedisServer
            redis = RedisServer().start()
        except Exception as err:
            raise SkipBenchmark(f"no redis-server: {err}")
        res = self.results.setdefault("budget", {})
        try:
            self.hello_variants("budget", res, (("local", "sprocket --budget local", []),
                                                ("redis", "sprocket --budget redis", ["--budget", redis.url()])))
        finally:
            redis.close()
        local, shared = res["local"], res["redis"]
        r = ratio(shared["c32"]["requests_per_sec"], local["c32"]["requests_per_sec"])
        self.row("warm hello, c32 throughput, --budget redis vs local", fmt_rps(shared["c32"]["requests_per_sec"]),
                 fmt_rps(local["c32"]["requests_per_sec"]), fmt_ratio(r), "≥ 0.95×", met(r is not None and r >= 0.95))
        r = ratio(shared["c32"]["p99_ms"], local["c32"]["p99_ms"])
        self.row("warm hello, c32 p99 latency, --budget redis vs local", fmt_ms(shared["c32"]["p99_ms"]),
                 fmt_ms(local["c32"]["p99_ms"]), fmt_ratio(r))
        added = (shared["c1"]["p50_ms"] - local["c1"]["p50_ms"]) * 1000
        res["added_p50_c1_us"] = round(added, 1)
        self.row("warm hello, c1 p50 latency added by --budget redis", fmt_ms(shared["c1"]["p50_ms"]),
                 fmt_ms(local["c1"]["p50_ms"]), f"{added:+.0f} µs", "≤ +20 µs", met(added <= 20))
        r = ratio(shared["c32"]["server_cpu_us_per_request"], local["c32"]["server_cpu_us_per_request"])
        self.row("warm hello, c32 server CPU per request, --budget redis vs local",
                 f"{shared['c32']['server_cpu_us_per_request']:.1f} µs", f"{local['c32']['server_cpu_us_per_request']:.1f} µs",
                 fmt_ratio(r))

    # 9. several nodes: the PostgreSQL store's overhead ----------------------------------------

    def bench_multinode(self):
        """What a shared store costs a request: every request's execution record goes to the
        store (batched on the store's thread), so a node on PostgreSQL should serve hello as fast
        as one on SQLite. Warm hello at 32 and 1 connections, both in this run; a private
        PostgreSQL server (tests/support/postgres_server.py)."""
        sys.path.insert(0, str(ROOT / "tests" / "support"))
        try:
            from postgres_server import PostgresServer
            postgres = PostgresServer().start()
        except Exception as err:
            raise SkipBenchmark(f"no PostgreSQL server: {err}")
        res = self.results.setdefault("multinode", {})
        try:
            store = postgres.create_database("bench_multinode")
            self.hello_variants("store", res, (("sqlite", "sprocket on SQLite", []),
                                               ("postgresql", "sprocket on PostgreSQL", ["--store", store])))
        finally:
            postgres.stop()
        sqlite, pg = res["sqlite"], res["postgresql"]
        r = ratio(pg["c32"]["requests_per_sec"], sqlite["c32"]["requests_per_sec"])
        self.row("warm hello, c32 throughput, node on PostgreSQL vs on SQLite", fmt_rps(pg["c32"]["requests_per_sec"]),
                 fmt_rps(sqlite["c32"]["requests_per_sec"]), fmt_ratio(r), "≥ 0.9×", met(r is not None and r >= 0.9))
        r = ratio(pg["c1"]["p50_ms"], sqlite["c1"]["p50_ms"])
        self.row("warm hello, c1 p50 latency, node on PostgreSQL vs on SQLite", fmt_ms(pg["c1"]["p50_ms"]),
                 fmt_ms(sqlite["c1"]["p50_ms"]), fmt_ratio(r))
        self.note("multinode: 1 vs 3 nodes behind nginx is not measured yet (docs/scale-out.md)")

    def hello_variants(self, prefix, res, variants):
        """Warm hello (hello_target) on a node per (key, label, extra args), one after the other
        in this run, into res[key]: the A/B parts compare sprocket with itself."""
        for key, label, args in variants:
            server = self.sprocket(f"{prefix}-{key}", [FIXTURES / "hello.functions"], [*self.sprocket_args, *args])
            try:
                self.settle(server)
                res[key] = self.hello_target(server, label)
            finally:
                self.finish_server(server)

    # 1. warm hello-world -------------------------------------------------------------------

    def hello_target(self, server, label):
        self.check(server, HELLO_PATH)
        self.warm(server, HELLO_PATH)
        out = {"c32": self.measure(server, HELLO_PATH, 32, f"hello {label} c32"),
               "c1": self.measure(server, HELLO_PATH, 1, f"hello {label} c1")}
        return out

    def bench_hello(self):
        folder = FIXTURES / "hello.functions"
        res = self.results.setdefault("hello", {})
        server = self.sprocket("hello", [folder], self.sprocket_args)
        try:
            spares = self.settle(server)
            res["sprocket"] = self.hello_target(server, "sprocket")
            res["sprocket"]["spare_workers"] = spares
            res["sprocket"]["workers"] = len(procs.children(server.pid)) - spares
        finally:
            self.finish_server(server)
        # The same without the sandbox: what it costs a warm function (measured with it on above).
        server = self.sprocket("hello-unsandboxed", [folder], [*self.sprocket_args, "--sandbox", "off"])
        try:
            self.settle(server)
            res["sprocket_unsandboxed"] = self.hello_target(server, "sprocket --sandbox off")
        finally:
            self.finish_server(server)
        server = self.bare_node("hello-bare-node", folder / "hello.js")
        try:
            res["bare_node"] = self.hello_target(server, "bare node")
        finally:
            self.finish_server(server)
        package_dir = self.install_sdr()
        if package_dir:
            try:  # a peer that misbehaves costs its rows, not the benchmark
                server = self.serverless_dev_runtime("hello-serverless-dev-runtime", folder, package_dir)
                try:
                    res["serverless_dev_runtime"] = self.hello_target(server, "serverless-dev-runtime")
                finally:
                    self.finish_server(server)
            except Exception as err:
                self.note(f"serverless-dev-runtime: skipped, it failed: {err}")

        s, b, d = res["sprocket"], res["bare_node"], res.get("serverless_dev_runtime")
        u = res["sprocket_unsandboxed"]
        r = ratio(s["c32"]["requests_per_sec"], u["c32"]["requests_per_sec"])
        self.row("warm hello, c32 throughput, sandbox on vs --sandbox off", fmt_rps(s["c32"]["requests_per_sec"]),
                 fmt_rps(u["c32"]["requests_per_sec"]), fmt_ratio(r), "≥ 0.95×", met(r is not None and r >= 0.95))
        r = ratio(s["c32"]["requests_per_sec"], b["c32"]["requests_per_sec"])
        self.row("warm hello, c32 throughput vs bare Node", fmt_rps(s["c32"]["requests_per_sec"]),
                 fmt_rps(b["c32"]["requests_per_sec"]), fmt_ratio(r), "≥ 1.0×", met(r is not None and r >= 1.0))
        r = ratio(s["c32"]["p99_ms"], b["c32"]["p99_ms"])
        self.row("warm hello, c32 p99 latency vs bare Node", fmt_ms(s["c32"]["p99_ms"]), fmt_ms(b["c32"]["p99_ms"]),
                 fmt_ratio(r), "≤ 2.0×", met(r is not None and r <= 2.0))
        self.row("warm hello, c32 p50 latency vs bare Node", fmt_ms(s["c32"]["p50_ms"]), fmt_ms(b["c32"]["p50_ms"]),
                 fmt_ratio(ratio(s["c32"]["p50_ms"], b["c32"]["p50_ms"])))
        if d:
            r = ratio(s["c32"]["requests_per_sec"], d["c32"]["requests_per_sec"])
            self.row("warm hello, c32 throughput vs serverless-dev-runtime", fmt_rps(s["c32"]["requests_per_sec"]),
                     fmt_rps(d["c32"]["requests_per_sec"]), fmt_ratio(r), "≥ 10×", met(r is not None and r >= 10))
        else:
            self.row("warm hello, c32 throughput vs serverless-dev-runtime", fmt_rps(s["c32"]["requests_per_sec"]),
                     "skipped (see notes)", "–", "≥ 10×", "n/a")
        added = (s["c1"]["p50_ms"] - b["c1"]["p50_ms"]) * 1000
        res["added_p50_c1_us"] = round(added, 1)
        self.row("warm hello, c1 p50 latency added over bare Node", fmt_ms(s["c1"]["p50_ms"]),
                 fmt_ms(b["c1"]["p50_ms"]), f"{added:+.0f} µs", "≤ +50 µs", met(added <= 50))
        self.row("warm hello, c1 throughput vs bare Node", fmt_rps(s["c1"]["requests_per_sec"]),
                 fmt_rps(b["c1"]["requests_per_sec"]),
                 fmt_ratio(ratio(s["c1"]["requests_per_sec"], b["c1"]["requests_per_sec"])))
        cs, cb = s["c32"]["server_cpu_us_per_request"], b["c32"]["server_cpu_us_per_request"]
        self.row("warm hello, c32 server CPU per request (all processes)", f"{cs:.1f} µs", f"{cb:.1f} µs",
                 fmt_ratio(ratio(cs, cb)))
        if d:
            self.row("warm hello, c1 p50 latency vs serverless-dev-runtime", fmt_ms(s["c1"]["p50_ms"]),
                     fmt_ms(d["c1"]["p50_ms"]), fmt_ratio(ratio(s["c1"]["p50_ms"], d["c1"]["p50_ms"])))
        self.note(f"hello: sprocket ran {s['workers']} instance(s) of the hello function and "
                  f"{s['spare_workers']} spare worker(s) "
                  f"(--max-instances default 8 unless BENCH_SPROCKET_ARGS says otherwise); "
                  f"it writes one execution record per request to its log file, bare Node logs nothing")

    def install_sdr(self):
        """@hubspot/serverless-dev-runtime@7.0.7 in build/bench/peers (a scratch folder, never a
        dependency of sprocket). Returns the package folder, or None with a note."""
        peers = self.work / "peers"
        package_dir = peers / "node_modules" / "@hubspot" / "serverless-dev-runtime"
        try:
            installed = json.loads((package_dir / "package.json").read_text()).get("version")
        except (OSError, ValueError):
            installed = None
        if installed == SDR_VERSION:
            return package_dir
        npm = shutil.which("npm")
        if not npm:
            self.note("serverless-dev-runtime: skipped, npm is not installed")
            return None
        peers.mkdir(parents=True, exist_ok=True)
        (peers / "package.json").write_text(json.dumps(
            {"name": "sprocket-bench-peers", "private": True,
             "description": "Scratch install of HubSpot's runtime for `make bench`; not a dependency of sprocket."},
            indent=2) + "\n")
        self.log(f"installing {SDR_PACKAGE}@{SDR_VERSION} into {peers.relative_to(ROOT)}")
        try:
            proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                                   f"{SDR_PACKAGE}@{SDR_VERSION}"], cwd=peers, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            self.note("serverless-dev-runtime: skipped, npm install took more than 240 s")
            return None
        if proc.returncode != 0 or not (package_dir / "package.json").exists():
            self.note(f"serverless-dev-runtime: skipped, npm install failed ({proc.returncode}): "
                      + " ".join(proc.stdout.split())[-300:])
            return None
        return package_dir

    # 2. realistic function -----------------------------------------------------------------

    def bench_realistic(self):
        folder = FIXTURES / "realistic.functions"
        script = BENCH / "lua" / "post_json.lua"
        path = "/_hcms/api/checkout"
        body = realistic_body(script)
        res = self.results.setdefault("realistic", {})

        def target(server, label):
            headers, data = self.check(server, path, "POST", body,
                                       {"Content-Type": "application/json", "Cookie": "session=bench"})
            if not any(k.lower() == "set-cookie" for k, _ in headers) or b'"total"' not in data:
                raise RuntimeError(f"{server.name}: unexpected answer to the realistic POST: {headers} {data[:200]!r}")
            self.warm(server, path, script)
            return {"c32": self.measure(server, path, 32, f"realistic {label} c32", script),
                    "c1": self.measure(server, path, 1, f"realistic {label} c1", script),
                    "response_bytes": len(data)}

        server = self.sprocket("realistic", [folder], self.sprocket_args)
        try:
            res["sprocket"] = target(server, "sprocket")
        finally:
            self.finish_server(server)
        server = self.bare_node("realistic-bare-node", folder / "checkout.js")
        try:
            res["bare_node"] = target(server, "bare node")
        finally:
            self.finish_server(server)
        s, b = res["sprocket"], res["bare_node"]
        self.row("realistic POST (JSON, lodash, cookie), c32 throughput", fmt_rps(s["c32"]["requests_per_sec"]),
                 fmt_rps(b["c32"]["requests_per_sec"]),
                 fmt_ratio(ratio(s["c32"]["requests_per_sec"], b["c32"]["requests_per_sec"])))
        self.row("realistic POST, c32 p99 latency", fmt_ms(s["c32"]["p99_ms"]), fmt_ms(b["c32"]["p99_ms"]),
                 fmt_ratio(ratio(s["c32"]["p99_ms"], b["c32"]["p99_ms"])))
        added = (s["c1"]["p50_ms"] - b["c1"]["p50_ms"]) * 1000
        self.row("realistic POST, c1 p50 latency added over bare Node", fmt_ms(s["c1"]["p50_ms"]),
                 fmt_ms(b["c1"]["p50_ms"]), f"{added:+.0f} µs")

    # 3. cold start -------------------------------------------------------------------------

    def bench_cold(self):
        res = self.results.setdefault("cold", {})
        root, libs, empty = generate.cold_folder(self.work / "cold", self.cold_n)
        samples = {}

        def first_request(path):
            status, _, data, elapsed = loadgen.timed_request(server.url + path)
            if status != 200:
                raise RuntimeError(f"cold {path} answered {status}: {data[:200]!r}")
            return elapsed * 1000

        for _ in range(self.runs):
            # Unsandboxed first, for the spare's figure beside the sandboxed one (same folders: the
            # second server starts every function cold again).
            server = self.sprocket("cold-unsandboxed", [root], ["--idle-timeout", "600", "--sandbox", "off"])
            try:
                if self.settle(server):
                    for path in libs[: len(libs) // 2]:
                        self.settle(server)
                        samples.setdefault("libs_spare_unsandboxed", []).append(first_request(path))
            finally:
                self.finish_server(server)
            server = self.sprocket("cold", [root], ["--idle-timeout", "600"])
            try:
                spares = self.settle(server)
                res["spare_workers"] = spares
                for kind, paths in (("libs", libs), ("empty", empty)):
                    if spares:
                        # Pairs of first requests: A finds a ready spare worker; B, sent as soon
                        # as A is answered, finds none (A's spare is still being replaced), so
                        # B is a plain cold start, next to the replacement starting.
                        half = len(paths) // 2
                        for a, b in zip(paths[:half], paths[half:]):
                            self.settle(server)
                            samples.setdefault(kind + "_spare", []).append(first_request(a))
                            samples.setdefault(kind, []).append(first_request(b))
                            samples.setdefault(kind + "_second", []).append(first_request(a))
                    else:
                        for path in paths:
                            self.settle(server)  # one cold start at a time
                            samples.setdefault(kind, []).append(first_request(path))
                            samples.setdefault(kind + "_second", []).append(first_request(path))
            finally:
                self.finish_server(server)
        # The baseline: starting Node and loading the same packages, without any server.
        base = {"libs": node_start_times("require('axios'); require('lodash');", 10),
                "empty": node_start_times("", 10)}
        res["samples_ms"] = {k: [round(v, 2) for v in vs] for k, vs in samples.items()}
        res["node_start_ms"] = {k: [round(v, 2) for v in vs] for k, vs in base.items()}

        def p(values, pct):
            return loadgen.percentile(values, pct) if values else None

        spare = bool(res.get("spare_workers"))
        for kind, label in (("libs", "axios+lodash"), ("empty", "empty function")):
            b50, b90 = p(base[kind], 50), p(base[kind], 90)
            figures = {"node_start_p50_ms": b50, "node_start_p90_ms": b90,
                       "second_request_p50_ms": p(samples.get(kind + "_second", []), 50)}
            if spare:
                values = samples[kind + "_spare"]
                s50, s90 = p(values, 50), p(values, 90)
                figures.update({"spare_p50_ms": s50, "spare_p90_ms": s90, "spare_n": len(values)})
                target, ok = ("≤ 15 ms", met(s50 <= 15)) if kind == "libs" else ("–", "–")
                self.row(f"cold start with pre-started worker, {label}, p50 (n={len(values)}) vs node start",
                         fmt_ms(s50), fmt_ms(b50), fmt_ratio(ratio(s50, b50)), target, ok)
                unsandboxed = samples.get(kind + "_spare_unsandboxed")
                if unsandboxed:
                    u50 = p(unsandboxed, 50)
                    figures["spare_unsandboxed_p50_ms"] = u50
                    self.row(f"cold start with pre-started worker, {label}, p50, sandbox on vs --sandbox off",
                             fmt_ms(s50), fmt_ms(u50), fmt_ratio(ratio(s50, u50)))
                self.row(f"cold start with pre-started worker, {label}, p90", fmt_ms(s90), fmt_ms(b90),
                         fmt_ratio(ratio(s90, b90)))
                self.log(f"cold {label}, spare worker ready: p50 {s50:.1f} ms, p90 {s90:.1f} ms")
            values = samples[kind]
            c50, c90 = p(values, 50), p(values, 90)
            figures.update({"p50_ms": c50, "p90_ms": c90, "n": len(values)})
            res[kind] = figures
            what = "no spare ready (back-to-back)" if spare else "no pre-started worker"
            self.row(f"cold start, {what}, {label}, p50 (n={len(values)}) vs node start", fmt_ms(c50), fmt_ms(b50),
                     fmt_ratio(ratio(c50, b50)))
            self.row(f"cold start, {what}, {label}, p90", fmt_ms(c90), fmt_ms(b90), fmt_ratio(ratio(c90, b90)))
            self.log(f"cold {label}, {what}: p50 {c50:.1f} ms, p90 {c90:.1f} ms (node start {b50:.1f}/{b90:.1f} ms)")
        if not spare:
            self.row("cold start with pre-started worker, axios+lodash, p50", "not implemented yet", "–", "–",
                     "≤ 15 ms", "n/a")
        else:
            self.note(f"cold: sprocket keeps {res['spare_workers']} pre-started spare worker(s); each pair of first "
                      f"requests is timed after its processes are idle: the first finds a spare, the second "
                      f"(sent right after) does not")

    # 4. scale -------------------------------------------------------------------------------

    def bench_scale(self):
        res = self.results.setdefault("scale", {})
        script = BENCH / "lua" / "random_paths.lua"
        duration = max(self.duration, 5)
        for total in (1, 100, 1000):
            if self.over_budget():
                self.note(f"scale: {total} functions skipped, over the time budget")
                continue
            root, paths = generate.scale_folder(self.work / f"scale-{total}", total)
            # Traffic touches at most BENCH_SCALE_TOUCH functions, spread evenly over all of them:
            # every touched function gets its own Node worker (~40-50 MB RSS), so touching all
            # 1,000 would need tens of GB and ~50 s of CPU just to start them on this machine.
            step = max(1, -(-len(paths) // self.scale_touch))
            touched = paths[::step][:self.scale_touch]
            paths_file = self.work / f"scale-{total}" / "paths.txt"
            paths_file.write_text("\n".join(touched) + "\n")
            server = self.sprocket(f"scale-{total}", [root], ["--max-instances", "1", "--idle-timeout", "600"],
                                   timeout=120)
            try:
                spares = self.settle(server)
                gateway_idle = procs.rss_kb(server.pid)
                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=4) as pool:
                    statuses = list(pool.map(lambda p: loadgen.timed_request(server.url + p)[0], touched))
                prewarm = time.monotonic() - started
                if any(s != 200 for s in statuses):
                    raise RuntimeError(f"scale {total}: pre-warm answers {sorted(set(statuses))}")
                self.warm(server, "/", script, [paths_file])
                summary = self.measure(server, "/", 32, f"scale {total:,} function{'s' if total > 1 else ''}", script, [paths_file], duration)
                time.sleep(0.5)
                workers = procs.children(server.pid)
                seen = server.remember_descendants()
                worker_pss = [procs.pss_kb(p) or 0 for p in workers]
                res[str(total)] = {
                    "functions": total, "touched": len(touched), "prewarm_seconds": round(prewarm, 2),
                    "gateway_rss_kb_before_traffic": gateway_idle, "gateway_rss_kb": procs.rss_kb(server.pid),
                    "tree_rss_kb": procs.tree_rss_kb(server.pid), "live_workers": len(workers),
                    "spare_workers_at_start": spares,
                    "workers_started": len(server._known) or len(seen),
                    "worker_pss_kb_mean": round(statistics.mean(worker_pss)) if worker_pss else None,
                    **summary}
                self.log(f"scale {total}: gateway RSS {fmt_mb(res[str(total)]['gateway_rss_kb'])}, tree RSS "
                         f"{fmt_mb(res[str(total)]['tree_rss_kb'])}, {len(workers)} live workers")
            finally:
                self.finish_server(server)
        one = res.get("1")
        for total in (1, 100, 1000):
            r = res.get(str(total))
            if not r:
                continue
            label = f"{total:,} function{'s' if total > 1 else ''}"
            if total > r["touched"]:
                label += f" (traffic on {r['touched']})"
            base = one["requests_per_sec"] if one and total > 1 else None
            rr = ratio(r["requests_per_sec"], base)
            target, ok = ("≥ 0.7×", met(rr is not None and rr >= 0.7)) if total == 1000 else ("–", "–")
            self.row(f"scale: {label}, random traffic c32", fmt_rps(r["requests_per_sec"]),
                     fmt_rps(base) if base else "–", fmt_ratio(rr), target, ok)
            self.row(f"scale: {label}, gateway RSS / tree RSS / workers",
                     f"{fmt_mb(r['gateway_rss_kb'])} / {fmt_mb(r['tree_rss_kb'])} / {r['live_workers']}"
                     + (f" (incl. {r['spare_workers_at_start']} spare)" if r.get("spare_workers_at_start") else ""),
                     "–", "–", "gateway ≤ 50 MB" if total == 1000 else "–",
                     met(r["gateway_rss_kb"] <= 50 * 1024) if total == 1000 else "–")
        if "1000" in res:
            self.note(f"scale: every case runs --max-instances 1 --idle-timeout 600; traffic is uniform over at most "
                      f"{self.scale_touch} functions spread over all deployed ones (BENCH_SCALE_TOUCH), each pre-warmed "
                      f"once, so the 1,000 case measures routing/pool bookkeeping at 1,000 deployed functions with "
                      f"the same number of live workers as the 100 case")

    # 5. memory ------------------------------------------------------------------------------

    def bench_memory(self):
        res = self.results.setdefault("memory", {})
        folder = FIXTURES / "memory.functions"
        path = "/_hcms/api/whoami"

        def pid_of(server):
            return json.loads(self.check(server, path)[1])["pid"]

        def describe(pid):
            return {"pid": pid, "pss_kb": procs.pss_kb(pid), "rss_kb": procs.rss_kb(pid)}

        # The sandbox's own processes (bubblewrap's monitor and its PID 1) beside each worker.
        server = self.sprocket("memory-sandboxed", [folder], self.sprocket_args)
        try:
            self.settle(server)
            for _ in range(20):
                self.check(server, path)
            self.settle(server)
            launchers = procs.children(server.pid)
            overhead = [sum(procs.pss_kb(q) or 0 for q in [launcher, *procs.children(launcher)]
                            if not procs.cmdline_has(q, b"node"))
                        for launcher in launchers]
            res["sandbox_pss_kb_per_worker"] = round(statistics.mean(overhead)) if overhead else None
        finally:
            self.finish_server(server)
        # A function reports its host pid only unsandboxed: the per-worker figures are taken there.
        server = self.sprocket("memory", [folder], [*self.sprocket_args, "--sandbox", "off"])
        try:
            self.settle(server)
            res["gateway_rss_kb_start"] = procs.rss_kb(server.pid)
            pids = {pid_of(server) for _ in range(20)}
            self.settle(server)
            time.sleep(0.5)
            res["gateway_rss_kb"] = procs.rss_kb(server.pid)
            res["gateway_pss_kb"] = procs.pss_kb(server.pid)
            res["instances"] = [describe(p) for p in sorted(pids)]
            others = [p for p in procs.children(server.pid) if p not in pids]
            res["spare_workers"] = [{**describe(p), "preloaded": procs.environ_has(p, b"SPROCKET_PRELOAD=")}
                                    for p in others]
            # PSS shares pages among the processes that map them, so one lone worker carries all
            # of Node's resident code. 8 concurrent clients grow the pool: the mean PSS of its
            # instances is closer to what each worker of a busy server costs.
            with ThreadPoolExecutor(max_workers=8) as pool:
                many = set().union(*pool.map(lambda _: {pid_of(server) for _ in range(10)}, range(8)))
            self.settle(server)
            time.sleep(0.5)
            res["many_instances"] = [describe(p) for p in sorted(many)]
        finally:
            self.finish_server(server)
        server = self.bare_node("memory-bare-node", folder / "whoami.js")
        try:
            for _ in range(20):
                self.check(server, path)
            time.sleep(1.0)
            res["bare_node_pss_kb"] = procs.pss_kb(server.pid)
            res["bare_node_rss_kb"] = procs.rss_kb(server.pid)
        finally:
            self.finish_server(server)
        worker = res["instances"][0]
        spare_text = f"; {len(res['spare_workers'])} spare worker(s) alive" if res["spare_workers"] else ""
        self.log(f"memory: gateway RSS {fmt_mb(res['gateway_rss_kb'])}, worker PSS {fmt_mb(worker['pss_kb'])} "
                 f"(RSS {fmt_mb(worker['rss_kb'])}){spare_text}, bare node PSS {fmt_mb(res['bare_node_pss_kb'])}")
        self.row("memory: gateway RSS, 1 function, after 20 requests", fmt_mb(res["gateway_rss_kb"]))
        self.row(f"memory: idle warm worker PSS (1 instance{spare_text}) vs bare Node server",
                 fmt_mb(worker["pss_kb"]), fmt_mb(res["bare_node_pss_kb"]),
                 fmt_ratio(ratio(worker["pss_kb"], res["bare_node_pss_kb"])),
                 "≤ 30 MB", met(worker["pss_kb"] is not None and worker["pss_kb"] <= 30 * 1024))
        many = [w["pss_kb"] for w in res["many_instances"] if w["pss_kb"]]
        if len(many) > 1:
            res["many_instances_pss_kb_mean"] = round(statistics.mean(many))
            self.row(f"memory: idle warm worker PSS, mean of {len(many)} instances (8 clients)",
                     fmt_mb(statistics.mean(many)), "–", "–", "≤ 30 MB", met(statistics.mean(many) <= 30 * 1024))
        for spare in res["spare_workers"]:
            kind = "with axios+lodash loaded" if spare["preloaded"] else "plain"
            self.row(f"memory: spare worker PSS ({kind})", fmt_mb(spare["pss_kb"]))
        if res.get("sandbox_pss_kb_per_worker") is not None:
            self.row("memory: the sandbox's own processes per worker (bubblewrap), PSS", fmt_mb(res["sandbox_pss_kb_per_worker"]))

    # 6. logging -----------------------------------------------------------------------------

    def bench_logging(self):
        res = self.results.setdefault("logging", {})
        folder = FIXTURES / "logging.functions"
        quiet, chatty = "/_hcms/api/quiet", "/_hcms/api/chatty"
        server = self.sprocket("logging", [folder], self.sprocket_args)
        try:
            self.check(server, quiet)
            self.check(server, chatty)
            self.warm(server, quiet)
            self.warm(server, chatty)
            q_runs, c_runs = [], []
            saved_runs, self.runs = self.runs, 1
            try:
                for _ in range(saved_runs):  # alternate, so that drift hits both alike
                    q_runs.append(self.measure(server, quiet, 32, "logging: 0 lines/request"))
                    c_runs.append(self.measure(server, chatty, 32, "logging: 10 lines/request"))
            finally:
                self.runs = saved_runs
            chatty_requests = sum(r["requests"] for r in c_runs) + 1
            self.stop(server)  # flushes the log
            log_size = os.path.getsize(server.log_path)
            # Every line must have reached the log: count them (warm-up requests included).
            lines = count_in_file(server.log_path, b"chatty call ")
        finally:
            self.finish_server(server)
        q = statistics.median(r["requests_per_sec"] for r in q_runs)
        c = statistics.median(r["requests_per_sec"] for r in c_runs)
        res.update({"quiet": q_runs, "chatty": c_runs, "quiet_rps": q, "chatty_rps": c,
                    "chatty_lines_in_log": lines, "chatty_requests_measured": chatty_requests,
                    "log_bytes": log_size})
        r = ratio(c, q)
        self.row("logging: 10 console lines/request vs none, c32", fmt_rps(c), fmt_rps(q), fmt_ratio(r),
                 "≥ 0.85× (cost ≤ 15%)", met(r is not None and r >= 0.85))
        if lines < chatty_requests * 10:
            self.note(f"logging: only {lines:,} 'chatty' lines in the log for at least {chatty_requests:,} measured "
                      f"requests × 10: lines were lost")
        else:
            self.note(f"logging: {lines:,} 'chatty' lines reached the log (measured requests × 10 = "
                      f"{chatty_requests * 10:,}, plus warm-up); log written: {log_size / 1e6:.0f} MB")

    # 7. noisy neighbours ------------------------------------------------------------------

    def latencies(self, server, path, count, label):
        """`count` requests one after the other on one connection: p50, p99, max and statuses."""
        before, started = self.watch_others(server), time.monotonic()
        samples, statuses = loadgen.sequential_latencies(server.url + path, count)
        wall = time.monotonic() - started
        result = {"requests": len(samples), "statuses": {str(k): v for k, v in statuses.items()},
                  "p50_ms": loadgen.percentile(samples, 50) * 1000, "p99_ms": loadgen.percentile(samples, 99) * 1000,
                  "max_ms": max(samples) * 1000, "wall_seconds": round(wall, 3)}
        cpu = self.others_since(server, label, before, wall, result)
        result["server_cpu_cores"] = round(cpu / wall, 2)
        self.log(f"{label}: {count} requests, p50 {fmt_ms(result['p50_ms'])}, p99 {fmt_ms(result['p99_ms'])}, "
                 f"max {fmt_ms(result['max_ms'])}, statuses {result['statuses']}, server {result['server_cpu_cores']} "
                 f"cores, other processes {result['neighbour_cpu_cores']:.2f} core, unattributed "
                 f"{result['unattributed_cpu_cores']:.2f} core")
        return result

    def bench_neighbours(self):
        """A well-behaved function's latency over 500 requests at c1 (BENCH_NEIGHBOURS_REQUESTS),
        quiet and then beside four hostile ones in a loop: one allocating 1 GB (each attempt
        killed at 128 MB), one spinning to its time limit, one writing 100 MB of output, one
        starting detached children. On 2 cores some of the difference is unavoidable; the
        back-off on failing functions bounds the rest."""
        res = self.results.setdefault("neighbours", {})
        folder = FIXTURES / "neighbours.functions"
        well = "/_hcms/api/well"
        count = env_int("BENCH_NEIGHBOURS_REQUESTS", 500)
        # A subset shows which neighbour costs what (docs/performance.md, section 7).
        # Set but empty: the second phase has no neighbour at all, which measures the machine's
        # own noise between two quiet phases (the floor under any ratio here).
        names = [n for n in os.environ.get("BENCH_NEIGHBOURS_HOSTILE", "hog,spin,flood,forker").split(",") if n]
        server = self.sprocket("neighbours", [folder], ["--time-limit-ms", "1000", *self.sprocket_args])
        stop = threading.Event()
        attempts = {}

        def hammer(path):
            while not stop.is_set():
                try:
                    status = loadgen.timed_request(server.url + path, timeout=15)[0]
                except OSError:
                    status = "error"
                attempts.setdefault(path, {}).setdefault(str(status), 0)
                attempts[path][str(status)] += 1

        try:
            self.check(server, well)
            self.warm(server, well)
            quiet = [self.latencies(server, well, count, "neighbours: quiet") for _ in range(self.runs)]
            hostile = [f"/_hcms/api/{name}" for name in names]
            threads = [threading.Thread(target=hammer, args=(p,), daemon=True) for p in hostile]
            for t in threads:
                t.start()
            time.sleep(2)  # let the hostile ones reach their steady state (the back-off included)
            noisy = [self.latencies(server, well, count, f"neighbours: beside {'+'.join(names) or 'nothing'}")
                     for _ in range(self.runs)]
            stop.set()
            for t in threads:
                t.join(timeout=20)
            rss_kb = procs.rss_kb(server.pid)  # the gateway alone: what the flood and hog must not grow
        finally:
            stop.set()
            self.finish_server(server)
        res.update({"requests": count, "quiet": quiet, "noisy": noisy, "hostile_attempts": attempts,
                    "gateway_rss_kb_after": rss_kb})
        for pct in ("p50_ms", "p99_ms"):
            q = statistics.median(r[pct] for r in quiet)
            n = statistics.median(r[pct] for r in noisy)
            r = ratio(n, q)
            res[pct[:3] + "_ratio"] = r
            self.row(f"neighbours: well-behaved {pct[:3]} over {count} requests beside {'+'.join(names) or 'nothing'} vs quiet, c1",
                     fmt_ms(n), fmt_ms(q), fmt_ratio(r), "< 2× (p99)" if pct == "p99_ms" else "–",
                     met(r is not None and r < 2) if pct == "p99_ms" else "–")
        wrong = {k: v for r in quiet + noisy for k, v in r["statuses"].items() if k != "200"}
        if wrong:
            self.note(f"neighbours: the well-behaved function answered other than 200: {wrong}")
        self.note(f"neighbours: hostile requests answered meanwhile (status: count): {json.dumps(attempts)}; "
                  f"server CPU while measured: quiet {quiet[0]['server_cpu_cores']} cores, beside them "
                  f"{noisy[0]['server_cpu_cores']} cores")

    # -- report --

    def table(self):
        headers = ["benchmark", "sprocket", "baseline", "ratio", "target", "met?"]
        keys = ["benchmark", "sprocket", "baseline", "ratio", "target", "met"]
        cells = [[row[k] for k in keys] for row in self.rows]
        widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
        line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"
        out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        out += [line(c) for c in cells]
        return "\n".join(out)

    def report(self):
        wall = time.monotonic() - self.started
        meta = machine_info()
        meta.update({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "wall_seconds": round(wall, 1), "duration_seconds": self.duration, "runs": self.runs,
                     "warmup_seconds": self.warmup_seconds, "benchmarks": self.only,
                     "sprocket_args": self.sprocket_args})
        table = self.table()
        settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items())
                            if k.startswith("BENCH_") or k == "SPROCKET_BINARY")
        meta["command"] = (settings + " " if settings else "") + "/usr/bin/python3 bench/run.py"
        print()
        print(f"sprocket benchmarks, {meta['date']}: {meta['cpus']} CPUs, node {meta['node']}, {meta['wrk']}, "
              f"sprocket {meta['git']}; wrk -t1, {self.duration}s per run, {self.runs} run(s), "
              f"medians; everything on 127.0.0.1")
        print(f"command: {meta['command']}")
        print()
        print(table)
        print()
        if self.busy_runs:
            worst = max(self.busy_runs, key=lambda b: b[1])
            names = ", ".join(f"{name} ({pid}) {secs:.1f} s" for secs, pid, name in worst[2] if secs >= 0.05) or "short-lived processes"
            self.notes.append(f"the machine was BUSY: other processes used > 0.1 core (or > 0.25 core unattributed) "
                              f"during {len(self.busy_runs)} measured run(s) (worst: {worst[1]:.2f} core in "
                              f"'{worst[0]}': {names}); those figures are not comparable, run again on a quiet machine")
        for text in self.notes:
            print(f"- {text}")
        print(f"- VM noise: treat ±20% as noise (docs/performance.md); total wall time {wall:.0f}s")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps({"meta": meta, "rows": self.rows, "notes": self.notes,
                                        "failures": self.failures, "results": self.results,
                                        "table_markdown": table}, indent=2, default=str) + "\n")
        print(f"\nresults written to {self.out.relative_to(ROOT) if self.out.is_relative_to(ROOT) else self.out}")


# ---- helpers ----------------------------------------------------------------------------------

def own_cpu_seconds():
    """CPU time of this harness and its reaped children (wrk runs, node start-up probes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def worker_like_env():
    """The environment sprocket gives its workers (PATH, LANG, NODE_PATH), so that the Node
    baselines start alike: e.g. NODE_EXTRA_CA_CERTS in a login environment costs Node ~20 ms
    of start-up reading certificates."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "NODE_PATH": str(GUEST_MODULES)}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def realistic_body(lua_script):
    text = lua_script.read_text()
    return text[text.index("[[") + 2:text.index("]]")].encode()


def node_start_times(code, count):
    """ms from spawning `node -e CODE` to its first byte on stdout (the same packages as workers)."""
    env = worker_like_env()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        proc = subprocess.Popen([NODE, "-e", code + "process.stdout.write('R')"], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env)
        try:
            proc.stdout.read(1)
            times.append((time.perf_counter() - started) * 1000)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
        time.sleep(0.05)
    return times


def count_in_file(path, needle):
    count, tail = 0, b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            data = tail + chunk
            count += data.count(needle)
            # keep an overlap shorter than the needle so no match is counted twice
            tail = data[-(len(needle) - 1):] if len(needle) > 1 else b""
    return count


def machine_info():
    def run(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=10, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    wrk = run([loadgen.WRK, "-v"]).splitlines()
    return {"cpus": os.cpu_count(), "mem_total_mb": procs.mem_total_kb() // 1024, "kernel": platform.release(),
            "node": run([NODE, "--version"]), "wrk": wrk[0].split(" [")[0] if wrk else "?",
            "python": platform.python_version(), "git": run(["git", "describe", "--always", "--dirty"])}


def main():
    harness = Harness()
    if not SPROCKET.exists():
        sys.exit(f"bench: {SPROCKET} is missing; run `make build` first")
    if not os.access(loadgen.WRK, os.X_OK):
        sys.exit(f"bench: {loadgen.WRK} is missing; `apt-get install wrk` (scripts/setup does)")
    harness.work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(harness.work / "tmp", ignore_errors=True)  # data dirs of the servers under test
    (harness.work / "tmp").mkdir()
    harness.logs.mkdir(exist_ok=True)

    def terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    harness.log(f"benchmarks: {', '.join(harness.only)}; {harness.duration}s per run, {harness.runs} run(s); "
                f"logs in {harness.logs.relative_to(ROOT)}")
    try:
        harness.run()
    except KeyboardInterrupt:
        harness.note("interrupted")
        harness.failures.append("interrupted")
    finally:
        harness.stop_all()
        shutil.rmtree(harness.work / "tmp", ignore_errors=True)
    harness.report()
    return 1 if harness.failures else 0


if __name__ == "__main__":
    sys.exit(main())
