"""Crash safety (issue #18, item 3): a short run of the kill -9 harness of tests/faults (the
long one is `make faults`), and the defects it found, each pinned down on its own."""
import os
import signal
import sqlite3
import subprocess
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


def test_a_version_a_crash_left_uncommitted_is_removed_at_the_next_start(start_sprocket, tmp_path):
    # What kill -9 between a deploy's store write and its activation leaves: a stored version,
    # never committed, with its folder in place. The harness finds it; here it is made by hand.
    data, empty = tmp_path / "data", tmp_path / "empty"
    empty.mkdir()
    crash_harness.write_project(tmp_path / "shop", "shop", "first")
    s = start_sprocket([], data_dir=data, cwd=empty)
    deployed = subprocess.run([str(BINARY), "deploy", str(tmp_path / "shop"), "--server", s.admin_url, "--data-dir", str(data)],
                              capture_output=True, text=True, timeout=60)
    assert deployed.returncode == 0, deployed.stderr
    s.stop(signal.SIGKILL)
    db = sqlite3.connect(data / "sprocket.db")
    db.execute("""INSERT INTO deployments (account_id, version, name, message, created_ms, archive, deploy_id, outcome, committed)
                  SELECT account_id, 2, name, 'cut off', created_ms, archive, 'cut-off-id', '', 0 FROM deployments WHERE version = 1""")
    db.commit()
    db.close()
    (data / "deployments" / "123456" / "2").mkdir()

    s = start_sprocket([], data_dir=data, cwd=empty)
    assert "removed version 2 of shop (account 123456): its deploy stopped before its commit point" in s.log()
    listed = s.admin("GET", "/api/v1/deployments").json()["versions"]
    assert [(v["version"], v["active"]) for v in listed] == [(1, True)], listed
    assert not (data / "deployments" / "123456" / "2").exists()
    assert s.get("/hs/serverless/dep-shop").json() == {"token": "first"}
    # The number nobody was told about is the next deploy's.
    crash_harness.write_project(tmp_path / "shop", "shop", "second")
    again = subprocess.run([str(BINARY), "deploy", str(tmp_path / "shop"), "--server", s.admin_url, "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "as version 2" in again.stdout, again.stdout + again.stderr
    assert s.get("/hs/serverless/dep-shop").json() == {"token": "second"}


def test_an_admin_token_and_secret_key_a_crash_left_empty_are_made_again(start_sprocket, tmp_path):
    # What kill -9 (or a power cut) between creating these files and writing them left, before
    # they were written whole: empty files. The token's sent the start-up into endless
    # recursion (a segfault), the key's refused it for good.
    data, empty = tmp_path / "data", tmp_path / "empty"
    empty.mkdir()
    data.mkdir(mode=0o700)
    for name in ("admin.token", "secret.key"):
        (data / name).touch(mode=0o600)
    s = start_sprocket([], data_dir=data, cwd=empty)
    token = (data / "admin.token").read_text().strip()
    assert token.startswith("spk_") and len((data / "secret.key").read_bytes()) == 32
    assert s.admin("PUT", "/api/v1/secrets/API_KEY", json={"value": "v"}).status_code == 201
    assert sorted(p.name for p in data.iterdir() if ".partial-" in p.name) == []
    s.stop(signal.SIGKILL)
    # And they are kept from then on.
    s = start_sprocket([], data_dir=data, cwd=empty)
    assert (data / "admin.token").read_text().strip() == token
    assert [x["name"] for x in s.admin("GET", "/api/v1/secrets").json()["secrets"]] == ["API_KEY"]
