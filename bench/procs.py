"""Processes for `make bench`: starting and always stopping the servers it measures, and what
/proc says about them (process trees, RSS, PSS, CPU time, free memory)."""
import os
import re
import signal
import subprocess
import threading
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- /proc ------------------------------------------------------------------------------------

def proc_stat(pid):
    """(ppid, utime, stime, cutime, cstime, starttime) in clock ticks, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is the state (field 3 of proc(5)); ppid is field 4, utime 14 … starttime 22.
    return (int(fields[1]), int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]), int(fields[19]))


def all_ppids():
    """{pid: ppid} for every process on the machine."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = st[0]
    return out


def descendants(pid):
    """Every live descendant of pid (children, grandchildren, …)."""
    ppids = all_ppids()
    children = {}
    for child, parent in ppids.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def children(pid):
    return [child for child, parent in all_ppids().items() if parent == pid]


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kb(pid):
    """VmRSS of one process in KiB (None if it is gone)."""
    return _status_kb(pid, "VmRSS")


def pss_kb(pid):
    """Pss of one process in KiB, from /proc/PID/smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tree_rss_kb(pid):
    """Sum of VmRSS over pid and all its descendants (shared pages counted once per process)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        total += rss_kb(p) or 0
    return total


def tree_pss_kb(pid):
    total = 0
    for p in [pid, *descendants(pid)]:
        total += pss_kb(p) or 0
    return total


def tree_cpu_seconds(pid):
    """CPU time (user+system) of pid, its reaped children and its live descendants."""
    total = 0
    st = proc_stat(pid)
    if st:
        total += st[1] + st[2] + st[3] + st[4]
    for p in descendants(pid):
        s = proc_stat(p)
        if s:
            total += s[1] + s[2]
    return total / CLOCK_TICKS


def mem_available_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def mem_total_kb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def kill_recorded(processes, sig=signal.SIGKILL):
    """Signals each (pid, starttime) that is still the same process (no pid reuse)."""
    for pid, start in processes:
        st = proc_stat(pid)
        if st and st[5] == start:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


# ---- servers ----------------------------------------------------------------------------------

class ServerFailed(RuntimeError):
    pass


class Server:
    """One server under test. Output goes to a log file (never a pipe that could fill up);
    readiness is a regular expression polled in that file. `stop()` always ends it and every
    process it started: stop_signal, then SIGKILL for its process group and its descendants."""

    def __init__(self, name, cmd, log_path, ready, env=None, cwd=None, stop_signal=signal.SIGTERM,
                 stop_grace=10.0, memory_floor_kb=None):
        self.name = name
        self.cmd = [str(c) for c in cmd]
        self.log_path = log_path
        self.ready = re.compile(ready)
        self.env = env
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.stop_grace = stop_grace
        self.process = None
        self.url = None
        self.memory_floor_kb = memory_floor_kb
        self.memory_guard_tripped = False
        self._guard_stop = threading.Event()
        self._guard = None
        self._known = set()  # (pid, starttime) of descendants seen, for the final clean-up

    @property
    def pid(self):
        return self.process.pid

    def start(self, timeout=60.0):
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            env=self.env, cwd=self.cwd, start_new_session=True)
        finally:
            log.close()
        if self.memory_floor_kb:
            self._guard = threading.Thread(target=self._watch_memory, daemon=True)
            self._guard.start()
        deadline = time.monotonic() + timeout
        while True:
            match = self.ready.search(self.log_text(limit=1 << 22))
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise ServerFailed(f"{self.name} exited with status {self.process.returncode} before it was ready:\n"
                                   + self.log_tail())
            if time.monotonic() > deadline:
                raise ServerFailed(f"{self.name} was not ready after {timeout:.0f}s:\n" + self.log_tail())
            time.sleep(0.05)

    def log_text(self, limit=1 << 20):
        try:
            with open(self.log_path, "rb") as f:
                return f.read(limit).decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remember_descendants(self):
        """Records the current descendants so that stop() can kill them even once reparented."""
        if not self.process or self.process.poll() is not None:
            return []
        found = descendants(self.pid)
        for p in found:
            st = proc_stat(p)
            if st:
                self._known.add((p, st[5]))
        return found

    def _watch_memory(self):
        while not self._guard_stop.wait(0.5):
            if self.process.poll() is not None:
                return
            self.remember_descendants()
            if mem_available_kb() < self.memory_floor_kb:
                self.memory_guard_tripped = True
                print(f"bench: memory is running out (MemAvailable < {self.memory_floor_kb // 1024} MiB): "
                      f"killing {self.name}", flush=True)
                self._kill_everything()
                return

    def _kill_everything(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        kill_recorded(self._known)

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.process is None:
            return
        self._guard_stop.set()
        self.remember_descendants()
        if self.process.poll() is None:
            try:
                self.process.send_signal(self.stop_signal)
                self.process.wait(timeout=self.stop_grace)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        if self.process.poll() is None:
            try:
                self.process.terminate()
                self.process.wait(timeout=3)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        # Whatever is left of its group (e.g. npm under serverless-dev-runtime) and any worker
        # that outlived it (workers have their own sessions) is killed outright.
        self._kill_everything()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self._guard:
            self._guard.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def trim_log(path, keep_lines=200, max_bytes=1 << 20):
    """Keeps large logs from piling up in build/bench: their first and last lines only."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return
    if size <= max_bytes:
        return
    with open(path, "rb") as f:
        head = f.read(32768).splitlines()[:keep_lines]
        f.seek(max(0, size - 65536))
        tail = f.read().splitlines()[-keep_lines:]
    with open(path, "wb") as f:
        f.write(b"\n".join(head))
        f.write(f"\n[... {size} bytes in all; trimmed by bench/run.py ...]\n".encode())
        f.write(b"\n".join(tail) + b"\n")


def system_busy_seconds():
    """CPU time the whole machine spent busy (all CPUs), from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_snapshot():
    """{pid: (starttime, CPU seconds of the process itself)} for every process. Reaped children's
    time is left out: it lands in the parent in one lump when it reaps them (e.g. make after a
    long compile), whenever that CPU was used."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = (st[5], (st[1] + st[2]) / CLOCK_TICKS)
    return out


def cpu_of_others(before, after, exclude, since_ticks=None):
    """CPU seconds used between two snapshots by processes whose pid is not in `exclude`, and
    the biggest users [(seconds, pid, name)]. A process started in between counts with all its
    time; one that started and ended in between is missed (the caller's /proc/stat comparison
    sees it)."""
    total, users = 0.0, []
    for pid, (start, seconds) in after.items():
        if pid in exclude:
            continue
        prev = before.get(pid)
        if prev and prev[0] == start:
            used = seconds - prev[1]
        elif since_ticks is not None and start < since_ticks:
            continue  # was alive before the first snapshot but missed by it: unknown, skip
        else:
            used = seconds
        if used > 0:
            total += used
            users.append((round(used, 2), pid, _comm(pid)))
    users.sort(reverse=True)
    return max(0.0, total), users[:3]


def boot_ticks_now():
    """The current time in clock ticks since boot (the unit of /proc/PID/stat's starttime)."""
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * CLOCK_TICKS)


def process_cpu_seconds(pid):
    """CPU time (user+system, all threads) of one process, without its children."""
    st = proc_stat(pid)
    return (st[1] + st[2]) / CLOCK_TICKS if st else 0.0


def environ_has(pid, entry):
    """Whether /proc/PID/environ holds `entry` (bytes, e.g. b"NAME=") at the start of a variable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return any(var.startswith(entry) for var in f.read().split(b"\0"))
    except OSError:
        return False


def cmdline_has(pid, word):
    """Whether the first word of /proc/PID/cmdline (the program) ends with `word` (bytes)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].endswith(word)
    except OSError:
        return False
