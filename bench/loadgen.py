"""Load for `make bench`: wrk runs (one thread, bounded in time) and a small http.client
client for single timed requests."""
import http.client
import re
import statistics
import subprocess
import time
import urllib.parse

WRK = "/usr/bin/wrk"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _latency_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output):
    """The figures of one `wrk --latency` run."""
    result = {"requests_per_sec": None, "requests": None, "non_2xx": 0,
              "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if m:
        result["requests_per_sec"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    if m:
        result["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.M)
        result[f"p{pct}_ms"] = _latency_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        result["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        result["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return result


def run_wrk(url, connections, duration, script=None, script_args=(), timeout="5s"):
    """`wrk -t1 -cN -dDs --latency [-s script] URL [-- args]`; wrk itself stops after `duration`
    seconds, and the subprocess is killed if it has not ended 30 s later."""
    cmd = [WRK, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"--timeout={timeout}"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *map(str, script_args)]
    started = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=duration + 30)
    result = parse_wrk(proc.stdout)
    result.update({"command": " ".join(cmd), "exit_status": proc.returncode,
                   "wall_seconds": round(time.monotonic() - started, 3), "raw": proc.stdout})
    if proc.returncode != 0 or result["requests_per_sec"] is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}")
    return result


def median_of(runs, keys=("requests_per_sec", "p50_ms", "p75_ms", "p90_ms", "p99_ms")):
    out = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def timed_request(url, method="GET", body=None, headers=None, timeout=30.0):
    """One request on a fresh connection (connected before the clock starts).
    Returns (status, headers, body bytes, seconds from sending to the end of the body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.connect()
        path = parts.path + ("?" + parts.query if parts.query else "")
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - started
        return resp.status, resp.getheaders(), data, elapsed
    finally:
        conn.close()


def sequential_latencies(url, count, timeout=30.0):
    """`count` GETs one after the other on one keep-alive connection, as wrk -c1 sends them,
    but a fixed number of them (a p99 over 500 requests is the 5th slowest). Returns
    ([seconds per request], {status: count}); a dropped connection is reopened (untimed)."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    latencies, statuses, conn = [], {}, None
    try:
        while len(latencies) < count:
            if conn is None:
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
                conn.connect()
            started = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                statuses["error"] = statuses.get("error", 0) + 1
                if statuses["error"] > count:
                    raise RuntimeError(f"{url}: {statuses['error']} connections failed")
                continue
            latencies.append(time.perf_counter() - started)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
    finally:
        if conn is not None:
            conn.close()
    return latencies, statuses


def percentile(values, pct):
    """Nearest-rank percentile (no interpolation) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
