"""Waiting on a condition with a deadline, never on a fixed sleep: shared by the end-to-end
tests (tests/e2e/conftest.py) and the crash harness, which also runs outside pytest."""
import time


def wait_for(condition, timeout=10.0, interval=0.02, message="condition", error=AssertionError):
    """Polls `condition` until it returns a truthy value (returned); `error` past the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)
