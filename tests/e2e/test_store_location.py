"""--store (and SPROCKET_STORE): where the state is kept, for serve and the commands that open
the store themselves; the forms refused, and how (docs/configuration.md)."""
import subprocess

from conftest import BINARY, FIXTURES, wait_for
from test_admin import cli

SECRETS = FIXTURES / "secrets.functions"
VALUE = "sk-store-location-91f2"


def test_the_state_goes_where_store_says_and_the_commands_follow_it(start_sprocket, tmp_path):
    db = tmp_path / "elsewhere" / "state.db"
    db.parent.mkdir()
    server = start_sprocket([SECRETS], "--store", f"sqlite:{db}")
    assert cli("secrets", "add", "API_KEY", "--data-dir", server.data_dir, "--store", f"sqlite:{db}", stdin=VALUE).returncode == 0
    wait_for(lambda: server.get("/_hcms/api/reader").json()["env"] == VALUE, timeout=5, message="the secret, through the store")
    request_id = server.get("/_hcms/api/reader").headers["X-Request-Id"]
    # The environment variable names the same store; logs read it from there.
    found = wait_for(lambda: cli("logs", "--request-id", request_id, "--data-dir", server.data_dir,
                                 env={"SPROCKET_STORE": f"sqlite:{db}"}).stdout, timeout=5, message="the stored record")
    assert "SUCCESS - GET /_hcms/api/reader" in found
    assert db.exists()
    assert not (server.data_dir / "sprocket.db").exists()  # nothing was kept in the default place
    # The default store is empty, and reading it says so rather than creating it.
    missing = cli("logs", "--data-dir", server.data_dir)
    assert missing.returncode == 1 and "nothing has been served with that store yet" in missing.stderr, missing.stderr
    assert not (server.data_dir / "sprocket.db").exists()


def serve_exits(tmp_path, store):
    return subprocess.run([str(BINARY), "serve", str(SECRETS), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                           "--data-dir", str(tmp_path / "data"), "--store", store],
                          capture_output=True, text=True, timeout=60)


def test_a_postgresql_server_that_is_not_there_is_named_at_start(tmp_path):
    r = serve_exits(tmp_path, "postgresql://sprocket@127.0.0.1:1/sprocket")
    assert r.returncode == 2, r.stderr
    assert "cannot connect to PostgreSQL at postgresql://sprocket@127.0.0.1:1/sprocket" in r.stderr, r.stderr


def test_a_password_in_the_store_uri_is_refused_and_never_printed(tmp_path):
    for command in (["serve", str(SECRETS), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"], ["secrets", "list"],
                    ["logs"], ["tokens", "create"]):
        r = subprocess.run([str(BINARY), *command, "--data-dir", str(tmp_path / "data"),
                            "--store", "postgresql://sprocket:hunter2-secret@db/sprocket"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0, (command, r.stderr)
        assert "~/.pgpass" in r.stderr, (command, r.stderr)
        assert "hunter2-secret" not in r.stdout + r.stderr, command


def test_an_unknown_store_says_what_to_write(tmp_path):
    r = serve_exits(tmp_path, "mysql://db/sprocket")
    assert r.returncode == 2
    assert "write sqlite:PATH or postgresql://HOST:PORT/DATABASE" in r.stderr, r.stderr
