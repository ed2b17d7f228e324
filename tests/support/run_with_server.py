"""The `run -- COMMAND…` form shared by the private test servers (postgres_server.py,
redis_server.py): start the server, run the command with the server named in the environment
(and its suites required), stop the server whatever the command did."""
import os
import subprocess
import sys


def run_with_server(argv, usage, start, env):
    """`start()` returns the started server; `env(server)` the variables naming it; the server's
    `close()` (or `stop()`) ends it. Returns the command's exit code."""
    if len(argv) < 3 or argv[1] != "run" or "--" not in argv:
        print(usage, file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1:]
    server = start()
    try:
        return subprocess.call(command, env={**os.environ, **env(server)})
    finally:
        getattr(server, "close", server.stop)()
