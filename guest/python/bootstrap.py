"""The Python side of a sprocket worker: the frame protocol of docs/protocol.md on fd 3, one
workflow action loaded, one invocation at a time. print() and logging are captured per
invocation; module state survives between invocations, as on HubSpot (AWS Lambda)."""
import gc
import importlib.util
import io
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback

# Newer libraries than Debian 12 has (scripts/python-packages) come before the system's.
_PACKAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "packages")
if os.path.isdir(_PACKAGES):
    _system = next((i for i, p in enumerate(sys.path) if p.endswith("dist-packages")), len(sys.path))
    sys.path.insert(_system, _PACKAGES)

# Read by glibc at start-up (src/runtime/worker_launcher.cpp); not part of the action's environment.
os.environ.pop("GLIBC_TUNABLES", None)

channel = os.fdopen(3, "r+b", buffering=0)


def send(message):
    payload = json.dumps(message, separators=(",", ":"), default=str).encode("utf-8")
    channel.write(struct.pack("<I", len(payload)) + payload)


def receive():
    header = _read_exactly(4)
    if header is None:
        return None
    (size,) = struct.unpack("<I", header)
    payload = _read_exactly(size)
    return None if payload is None else json.loads(payload.decode("utf-8"))


def _read_exactly(n):
    data = b""
    while len(data) < n:
        chunk = channel.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Capture(io.TextIOBase):
    """Collects what the action prints as log lines of the invocation in progress."""

    def __init__(self, level):
        self.level = level
        self.pending = ""

    def write(self, text):
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            current_logs.append([int(time.time() * 1000), self.level, line])
        return len(text)

    def flush(self):
        if self.pending:
            current_logs.append([int(time.time() * 1000), self.level, self.pending])
            self.pending = ""


class CaptureHandler(logging.Handler):
    LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR", "CRITICAL": "ERROR"}

    def emit(self, record):
        current_logs.append([int(record.created * 1000), self.LEVELS.get(record.levelname, "INFO"), self.format(record)])


current_logs = []
main = None
stdout_capture, stderr_capture = Capture("INFO"), Capture("ERROR")
_handler = CaptureHandler()
_handler.setFormatter(logging.Formatter("%(message)s"))  # the level is a column of its own
logging.basicConfig(level=logging.INFO, handlers=[_handler])


def load(message):
    global main
    if message.get("cwd"):
        os.chdir(message["cwd"])
    for name, value in (message.get("env") or {}).items():
        os.environ[name] = str(value)
    path = message["file"]
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("action", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "main", None)):
        raise RuntimeError(f"{os.path.basename(path)} does not define main(event)")
    main = module.main


def describe(error):
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"name": type(error).__name__, "message": str(error), "stack": stack.rstrip()}


def retry_reason(error):
    """HubSpot retries an action that fails with a rate limit or an HTTP 429/5XX: requests'
    HTTPError (error.response.status_code) and the HubSpot client's ApiException (error.status)."""
    response = getattr(error, "response", None)
    for status in (getattr(response, "status_code", None), getattr(error, "status", None), getattr(error, "status_code", None)):
        if isinstance(status, int) and not isinstance(status, bool):
            if status == 429:
                return "HTTP 429 (rate limited)"
            if 500 <= status <= 599:
                return f"HTTP {status}"
    return None


_peak_resettable = True


def reset_peak_memory():
    """Each execution reports its own peak (docs/actions.md): the kernel's high-water mark
    (VmHWM) is reset to the present resident size when one starts."""
    global _peak_resettable
    if not _peak_resettable:
        return
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        _peak_resettable = False


def peak_memory_kb():
    if _peak_resettable:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def invoke(message):
    global current_logs
    reset_peak_memory()
    current_logs = []
    sys.stdout, sys.stderr = stdout_capture, stderr_capture
    result = {"type": "result", "id": message.get("id")}
    value = None
    try:
        value = main(message.get("event") or {})
        # NaN and Infinity are not JSON: an output holding one fails the execution here.
        result["valueJson"] = json.dumps({} if value is None else value, default=str, allow_nan=False)
    except Exception as error:  # the action's failure is its result
        result["error"] = describe(error)
        reason = retry_reason(error)
        if reason:
            result["error"]["retry"] = reason
    finally:
        stdout_capture.flush()
        stderr_capture.flush()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    result["logs"] = current_logs
    result["maxRssKb"] = peak_memory_kb()
    send(result)
    # An execution's garbage (reference cycles included) is not counted against the next one;
    # module-level state stays, as on HubSpot.
    del result, value
    gc.collect()


def serve():
    send({"type": "ready", "pid": os.getpid()})
    while True:
        message = receive()
        if message is None:
            return  # the gateway is gone
        if message.get("type") == "load":
            try:
                load(message)
                send({"type": "loaded"})
            except Exception as error:
                send({"type": "load_error", "message": describe(error)["stack"]})
        elif message.get("type") == "invoke":
            invoke(message)
        elif message.get("type") == "env":
            for name, value in (message.get("set") or {}).items():
                os.environ[name] = str(value)
            for name in message.get("remove") or []:
                os.environ.pop(name, None)


serve()
