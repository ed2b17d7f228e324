#!/usr/bin/python3
"""A private PostgreSQL server for the tests: a cluster made by initdb in a temporary folder,
listening on 127.0.0.1 and a port of its own, never the system's service. PostgreSQL refuses to
run as root, so under root the cluster belongs to `nobody`.

    python3 tests/support/postgres_server.py run -- COMMAND…

starts one, runs COMMAND with SPROCKET_TEST_POSTGRES (a URI of its `postgres` database, for the
tests to create databases of their own) and SPROCKET_REQUIRE_POSTGRES=1 in the environment,
stops it and exits with COMMAND's status. The e2e tests use PostgresServer directly.
"""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_with_server import run_with_server  # noqa: E402

USER = "sprocket"  # the cluster's superuser (trust on loopback: a throwaway cluster)


def bin_dir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (scripts/setup installs postgresql-15)")
    return os.path.dirname(found[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.bin = bin_dir()
        self.root = None
        self.port = None
        self._as_user = []

    def _run(self, *args, check=True):
        return subprocess.run(self._as_user + list(args), check=check, capture_output=True, text=True,
                              env={**os.environ, "LC_ALL": "C"})

    def start(self):
        self.root = tempfile.mkdtemp(prefix="sprocket-pg-")
        if os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
        data = os.path.join(self.root, "data")
        r = self._run(f"{self.bin}/initdb", "-D", data, "-U", USER, "-A", "trust", "-E", "UTF8", "--no-locale", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr}")
        for _ in range(5):  # a port taken between choosing it and binding it: choose another
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
            r = self._run(f"{self.bin}/pg_ctl", "-D", data, "-l", os.path.join(self.root, "server.log"), "-o", options,
                          "-w", "-t", "60", "start", check=False)
            if r.returncode == 0:
                return self
        raise RuntimeError(f"PostgreSQL did not start: {r.stdout}{r.stderr}{self.log()}")

    def log(self):
        try:
            with open(os.path.join(self.root, "server.log")) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def url(self, database="postgres"):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement, database="postgres"):
        r = subprocess.run([f"{self.bin}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", self.url(database), "-c", statement],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {r.stderr}")
        return r.stdout

    def create_database(self, name):
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self):
        if self.root is None:
            return
        data = os.path.join(self.root, "data")
        self._run(f"{self.bin}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


def main(argv):
    return run_with_server(argv, __doc__, lambda: PostgresServer().start(),
                           lambda server: {"SPROCKET_TEST_POSTGRES": server.url(), "SPROCKET_REQUIRE_POSTGRES": "1"})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
