"""The operator kit (issue 16): `make deb` builds a Debian package that installs the binaries, the
guest runtimes and a hardened systemd unit; unpacked into a temporary root it runs from there.
Building it takes about 7 s here (gzip -1 over ~430 MB of guest node_modules, hard-linked, not
copied), so it runs in every `make test`; a package newer than the binary is reused."""
import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import BINARY, EXAMPLES, ROOT


def package():
    version = re.match(r"^sprocket (\S+) ", subprocess.run([str(BINARY), "--version"], capture_output=True, text=True).stdout).group(1)
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip()
    deb = BINARY.parent / f"sprocket_{version}_{arch}.deb"
    if not deb.exists() or deb.stat().st_mtime < BINARY.stat().st_mtime:
        built = subprocess.run([str(ROOT / "scripts" / "make-deb")], capture_output=True, text=True, timeout=600,
                               env={**os.environ, "BUILD_DIR": str(BINARY.parent)}, cwd=ROOT)
        assert built.returncode == 0, built.stderr
        assert pathlib.Path(built.stdout.strip()) == deb, built.stdout
    return deb, version


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    deb, version = package()
    root = tmp_path_factory.mktemp("root")
    out = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True).stdout
    return root, version, control


def test_the_package_runs_sprocket_from_its_own_root(installed):
    root, version, control = installed
    sprocket = root / "usr" / "bin" / "sprocket"
    assert sprocket.is_symlink() and not os.readlink(sprocket).startswith("/"), "a relative link works in any root"
    out = subprocess.run([str(sprocket), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == subprocess.run([str(BINARY), "--version"], capture_output=True, text=True).stdout
    assert re.search(rf"^Version: {re.escape(version)}$", control, re.M) and re.search(r"^Depends: .*nodejs .*bubblewrap", control, re.M)


def test_the_packaged_guest_runs_a_function(installed):
    root, _, _ = installed
    lib = root / "usr" / "lib" / "sprocket"
    assert (lib / "bin" / "sprocket-enter").stat().st_mode & 0o111
    assert (lib / "guest" / "node" / "bootstrap.js").is_file() and (lib / "guest" / "python" / "bootstrap.py").is_file()
    assert (lib / "guest" / "node" / "node_modules" / "axios" / "package.json").is_file()
    # The binary finds the guest at ../guest: one request through a worker started from the package.
    env = {k: v for k, v in os.environ.items() if k != "SPROCKET_GUEST_DIR"}
    out = subprocess.run([str(root / "usr" / "bin" / "sprocket"), "invoke", "hello", str(EXAMPLES / "website.functions"),
                          "--sandbox", "auto", "--json"], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(json.loads(out.stdout)["body"])["message"] == "Hello, world"


def test_the_unit_is_hardened_and_keeps_its_state_private(installed):
    root, _, _ = installed
    unit = (root / "lib" / "systemd" / "system" / "sprocket.service").read_text()
    for line in ("ExecStart=/usr/bin/sprocket serve ", "StateDirectory=sprocket", "StateDirectoryMode=0700", "ProtectSystem=strict",
                 "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=", "RestrictNamespaces=",
                 "--admin-listen 127.0.0.1:8081", "--data-dir /var/lib/sprocket"):
        assert line in unit, line
    assert not re.search(r"^MemoryDenyWriteExecute=yes", unit, re.M), "V8 needs to write and execute its compiled code"
