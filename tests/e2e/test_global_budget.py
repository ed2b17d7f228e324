"""One execution budget for several nodes (--budget redis://…, docs/scale-out.md): three
`sprocket serve` nodes, each with its own data directory and SQLite store, share a private
redis-server. Requests spread over them are refused once the budget summed over the nodes is
spent; Redis going away mid-load fails nothing, shows in /readyz and /metrics, and the nodes come
back to the global budget by themselves when it returns."""
import concurrent.futures
import json
import threading
import time

from conftest import FIXTURES, metric, wait_for

LIMITS = FIXTURES / "limits.functions"
NODES = 3


def start_nodes(start_sprocket, tmp_path, budget, limits=None):
    config = tmp_path / "sprocket.json"
    config.write_text(json.dumps({"limits": limits or {}}))
    nodes = [start_sprocket([LIMITS], "--config", config, *budget, data_dir=tmp_path / f"node{i}") for i in range(NODES)]
    # Every node has synced and seen the others (a heartbeat each, in the same script).
    for node in nodes:
        wait_for(lambda: metric(node, "sprocket_budget_live_nodes") == NODES, timeout=20, message="three live nodes")
    return nodes


def readyz(node):
    r = node.admin("GET", "/readyz", token="")
    assert r.status_code == 200, r.text  # degraded or not, the node serves
    return r.json()


class Load:
    """One thread per node, each sending `per_second` requests a second to its node until stopped;
    every status is kept."""

    def __init__(self, nodes, path, per_second):
        self.statuses = [[] for _ in nodes]
        self._stop = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(len(nodes))
        self._runs = [self._pool.submit(self._run, n, i, path, 1.0 / per_second) for i, n in enumerate(nodes)]

    def _run(self, node, i, path, period):
        next_at = time.monotonic()
        while not self._stop.is_set():
            r = node.get(path)
            self.statuses[i].append((r.status_code, r.headers.get("Retry-After"), r.text if r.status_code != 200 else ""))
            next_at += period
            # Pacing the load generator (a request rate), not waiting for anything to happen.
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def count(self, status):
        return sum(1 for per_node in self.statuses for s in per_node if s[0] == status)

    def stop(self):
        self._stop.set()
        for run in self._runs:
            run.result()
        self._pool.shutdown()


def test_three_nodes_share_one_budget(start_sprocket, tmp_path, redis_budget):
    budget = 400
    nodes = start_nodes(start_sprocket, tmp_path, redis_budget, {"executionsPerMinute": budget})
    load = Load(nodes, "/_hcms/api/spend", per_second=20)  # 60 a second over the three
    try:
        # Each node alone would admit 400: wait until all three refuse, for a while.
        wait_for(lambda: all(len(s) >= 10 and all(code == 429 for code, _, _ in s[-10:]) for s in load.statuses),
                 timeout=40, message="every node to refuse")
    finally:
        load.stop()
    admitted = load.count(200)
    refused = load.count(429)
    assert admitted + refused == sum(len(s) for s in load.statuses), "only 200s and 429s"
    # The global budget, within 5 %: a node learns of the others' executions at its next sync.
    assert budget <= admitted <= budget * 1.05, f"{admitted} admitted for a budget of {budget} over {NODES} nodes"
    for per_node in load.statuses:
        assert any(code == 200 for code, _, _ in per_node), "every node served some"
        code, retry_after, body = per_node[-1]
        assert code == 429 and int(retry_after) >= 1
        assert f"{budget} executions per minute" in json.loads(body)["message"]
    for node in nodes:
        assert readyz(node)["budget"] == {"backend": "redis", "state": "ok"}
        assert metric(node, "sprocket_budget_backend_degraded") == 0
        assert metric(node, "sprocket_budget_backend", backend="redis") == 1


def test_redis_lost_mid_load_degrades_then_recovers(start_sprocket, tmp_path, redis_server, redis_budget):
    nodes = start_nodes(start_sprocket, tmp_path, redis_budget)
    load = Load(nodes, "/_hcms/api/spend", per_second=15)
    try:
        wait_for(lambda: load.count(200) >= 30, timeout=20, message="requests served")
        redis_server.stop()
        for node in nodes:
            wait_for(lambda: readyz(node)["budget"]["state"] == "degraded", timeout=15, message="/readyz to say degraded")
            body = readyz(node)
            assert body["status"] == "ready" and body["degraded"] == ["budget"]
            assert redis_server.url() in body["budget"]["reason"]
            assert metric(node, "sprocket_budget_backend_degraded") == 1
            assert metric(node, "sprocket_budget_sync_errors_total") >= 1
            node.wait_for_log(r"WARNING: the shared execution budget at redis://127\.0\.0\.1:\d+/0 cannot be reached")
        served_while_down = load.count(200)
        wait_for(lambda: load.count(200) >= served_while_down + 30, timeout=20, message="requests served without Redis")
        redis_server.start()  # the same port, empty
        for node in nodes:
            wait_for(lambda: readyz(node)["budget"]["state"] == "ok", timeout=15, message="/readyz to recover")
            assert "degraded" not in readyz(node)
            assert metric(node, "sprocket_budget_backend_degraded") == 0
            node.wait_for_log(r"the shared execution budget at \S+ is reachable again")
        for node in nodes:
            wait_for(lambda: metric(node, "sprocket_budget_live_nodes") == NODES, timeout=15, message="three live nodes again")
        recovered = load.count(200)
        wait_for(lambda: load.count(200) >= recovered + 30, timeout=20, message="requests served after recovery")
    finally:
        load.stop()
    failures = [s for per_node in load.statuses for s in per_node if s[0] != 200]
    assert failures == [], f"requests failed: {failures[:5]}"
