"""Crash safety (issue #18, item 3): a short run of the kill -9 harness of tests/faults (the
long one is `make faults`)."""
import os
import sys

from conftest import BINARY, ROOT

sys.path.insert(0, str(ROOT / "tests" / "faults"))
import crash_harness  # noqa: E402


def test_a_short_run_of_the_harness_loses_nothing_and_corrupts_nothing():
    trials = int(os.environ.get("FAULT_TRIALS_SHORT", "12"))
    seed = int(os.environ["FAULT_SEED"]) if os.environ.get("FAULT_SEED") else None
    lines = []
    ok, _ = crash_harness.run(trials, seed, binary=BINARY, out=lines.append)
    assert ok, "\n".join(lines)
