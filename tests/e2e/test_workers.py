"""`engine serve --workers N` and the graceful stop, as a user runs them: real processes on
127.0.0.1. Several workers share one port (fresh connections reach each of them) and the
store; a worker that dies is replaced; SIGTERM lets a stream in flight finish while new
connections are refused; and the deployment example runs a command the engine takes."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import openai
import pytest
from ruamel.yaml import YAML

from engine.cli import _worker_arguments, parser
from engine.store.database import store_url

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
DEADLINE_SECS = 30.0  # for what a loaded machine may be slow at: starting, restarting
POLL_SECS = 0.05  # between two looks at something awaited
CHUNK_DELAY_SECS = 0.05
SLOW_ROUTES = f"""\
version: 1
backends:
  slow: {{kind: mock, chunk_delay_secs: {CHUNK_DELAY_SECS}}}
routes:
  - name: default
    match: {{model: "*"}}
    backend: {{targets: [slow]}}
"""
T = TypeVar("T")


@dataclass
class Serving:
    """A running `engine serve`: its process, base URL and everything it logged so far."""

    process: subprocess.Popen[str]
    url: str
    log: list[str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def pid_answering(self) -> int:
        """The pid `/healthz` gives, on a connection of its own."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE_SECS)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            assert response.status == 200
            return int(json.loads(response.read())["pid"])
        finally:
            connection.close()

    def logged(self, text: str) -> list[str]:
        """The lines logged so far that hold `text`."""
        return [line for line in list(self.log) if text in line]

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="k", max_retries=0)


def until(what: str, look: Callable[[], T | None], secs: float = DEADLINE_SECS) -> T:
    """What `look` finds, looking again until it finds something; fails after `secs`."""
    deadline = time.monotonic() + secs
    while (found := look()) is None or found is False:
        assert time.monotonic() < deadline, f"not within {secs} s: {what}"
        time.sleep(POLL_SECS)
    return found


@contextmanager
def engine_serve(routes: Path, store: str, *options: str) -> Iterator[Serving]:
    """`engine serve --routes ROUTES --port 0 --store STORE [OPTIONS]`; stopped at the end
    (if the test did not stop it) and waited for."""
    command = [sys.executable, "-m", "engine", "serve", "--routes", str(routes), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--no-reload", "--store", store, *options],
        env={**os.environ, "OPENAI_API_KEY": ""},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    reader = threading.Thread(target=_read, args=(process, log), daemon=True)
    reader.start()

    def address() -> str | bool | None:
        for line in list(log):
            if found := re.search(r"Running on (http://127\.0\.0\.1:\d+)", line):
                return found[1]
        return process.poll() is not None or None  # True: it exited

    try:
        url = until("engine serve listens", address)
        assert isinstance(url, str), "engine serve exited:\n" + "\n".join(log)
        yield Serving(process, url, log)
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(DEADLINE_SECS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(DEADLINE_SECS)


def _read(process: subprocess.Popen[str], log: list[str]) -> None:
    assert process.stderr is not None
    with process.stderr:
        for line in process.stderr:
            log.append(line.rstrip("\n"))


def workers_seen(served: Serving, count: int) -> set[int]:
    """The pids that answer fresh connections, once `count` different ones did."""
    seen: set[int] = set()

    def all_seen() -> set[int] | None:
        seen.add(served.pid_answering())
        return seen if len(seen) >= count else None

    return until(f"{count} workers answer", all_seen)


def refused(port: int) -> bool:
    """Whether a new connection to `port` is refused."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_SECS).close()
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # taken while the listening socket closed: look again
        return False
    return False


def ask(served: Serving, text: str = "hello") -> str:
    with served.client() as client:
        completion = client.chat.completions.create(
            model="mock-1", messages=[{"role": "user", "content": text}]
        )
    return completion.choices[0].message.content or ""


# --- several workers -----------------------------------------------------------------------


def test_two_workers_share_the_port_and_the_store(database: str) -> None:
    with engine_serve(ROOT / "routes", database, "--workers", "2") as served:
        pids = workers_seen(served, 2)
        assert served.process.pid not in pids  # the parent only supervises
        assert ask(served, "Hello, workers!") == "You said: Hello, workers!"
        assert len(served.logged("Running on http://")) == 1
        until("both workers say they accept", lambda: len(served.logged("accepting on")) == 2)


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'engine.db'}"
    with engine_serve(ROOT / "routes", store, "--workers", "2") as served:
        first = workers_seen(served, 2)
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        replaced = until(
            "a new worker answers",
            lambda: (pid := served.pid_answering()) not in first and pid,
        )
        assert served.logged(f"(pid {killed}) was killed by SIGKILL; starting it again")
        assert workers_seen(served, 2) == {max(first), replaced}
        assert ask(served) == "You said: hello"


def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'engine.db'}"
    with engine_serve(ROOT / "routes", store, "--workers", "2") as served:
        pids = until("both workers are started", lambda: started(served, 2))
        served.process.kill()  # no chance to pass anything on; maybe before they serve
        served.process.wait()
        until("the workers are gone", lambda: not any(alive(pid) for pid in pids))
        assert refused(served.port)


def started(served: Serving, count: int) -> set[int] | None:
    """The pids of the workers the supervisor started, once it started `count`."""
    pids = {int(m[1]) for x in served.logged(" started (pid ") if (m := re.search(r"pid (\d+)", x))}
    return pids if len(pids) >= count else None


def alive(pid: int) -> bool:
    """Whether process `pid` runs (an orphan's zombie, not reaped yet, does not)."""
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_need_a_shared_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "serve", "--workers", "2", "--store", "memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECS,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--workers 2 share one store, and a memory store is each process's own" in done.stderr
    assert "Running on" not in done.stderr


def test_a_worker_is_started_with_the_options_it_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENGINE_STORE", "postgresql://engine:secret@db/engine")
    given = ["serve", "--workers", "3", "--quiet", "--host", "::1", "--shutdown-timeout", "5"]
    args = parser().parse_args(given)
    arguments = _worker_arguments(args)
    assert "secret" not in " ".join(arguments)  # the worker reads it where the parent did
    again = parser().parse_args([*arguments, "--listen-fd", "7", "--supervisor", "1234"])
    assert {**vars(again), "listen_fd": None, "supervisor": None} == vars(args)


# --- graceful shutdown ---------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_a_stream_finish_and_refuses_new_connections(
    tmp_path: Path, workers: str
) -> None:
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "routes.yaml").write_text(SLOW_ROUTES, encoding="utf-8")
    text = " ".join(f"word{n}" for n in range(60))  # some 3 s of chunks
    store = f"sqlite:///{tmp_path / 'engine.db'}"
    options = ("--workers", workers, "--shutdown-timeout", str(DEADLINE_SECS))
    with engine_serve(routes, store, *options) as served, served.client() as client:
        stream = client.chat.completions.create(
            model="mock-1", messages=[{"role": "user", "content": text}], stream=True
        )
        chunks = iter(stream)
        received = [next(chunks).choices[0].delta.content or ""]  # in flight now
        served.process.send_signal(signal.SIGTERM)
        until("a new connection is refused", lambda: refused(served.port))
        assert served.process.poll() is None  # still finishing the stream
        received.extend(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert "".join(received) == f"You said: {text}"
        assert served.process.wait(DEADLINE_SECS) == 0
    assert served.logged("SIGTERM: shutting down, accepting no new connections")
    assert served.logged("shut down")


def test_the_shutdown_timeout_cuts_what_is_still_in_flight(tmp_path: Path) -> None:
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "routes.yaml").write_text(SLOW_ROUTES, encoding="utf-8")
    text = " ".join(f"word{n}" for n in range(400))  # some 20 s of chunks
    store = f"sqlite:///{tmp_path / 'engine.db'}"
    with (
        engine_serve(routes, store, "--shutdown-timeout", "1") as served,
        served.client() as client,
    ):
        stream = client.chat.completions.create(
            model="mock-1", messages=[{"role": "user", "content": text}], stream=True
        )
        chunks = iter(stream)
        next(chunks)
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        received: list[str] = []
        with pytest.raises((httpx.HTTPError, openai.APIError)):
            received.extend(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert served.process.wait(DEADLINE_SECS) == 0
        assert 1 <= time.monotonic() - signalled < 400 * CHUNK_DELAY_SECS / 2
        assert len(received) < 400


# --- the deployment example ----------------------------------------------------------------


def _compose() -> dict[str, object]:
    loaded = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _dockerfile_cmd() -> list[str]:
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    [cmd] = [line.removeprefix("CMD ") for line in lines if line.startswith("CMD ")]
    command = json.loads(cmd)  # the exec form: the engine is PID 1 and gets the signals
    assert isinstance(command, list)
    return [str(part) for part in command]


def test_the_deploy_example_runs_a_command_the_engine_takes() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    engine = services["engine"]
    assert engine["deploy"]["replicas"] == 2
    for command in (engine["command"], _dockerfile_cmd()):
        assert command[:2] == ["engine", "serve"]
        args = parser().parse_args([str(part) for part in command[1:]])
        assert (args.host, args.workers, args.routes) == ("0.0.0.0", 2, Path("/routes"))
        assert args.store != "memory" and not args.open  # keys required: shared, kept
    store_url(engine["environment"]["ENGINE_STORE"])  # a URL the engine takes
    assert "/healthz" in " ".join(engine["healthcheck"]["test"])
    assert engine["stop_grace_period"]  # longer than the engine's --shutdown-timeout
    assert services["postgres"]["healthcheck"]
    assert engine["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_deploy_example_balances_over_the_engine_replicas() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    balancer = services["haproxy"]
    [mount] = balancer["volumes"]
    config = DEPLOY / mount.split(":")[0]
    assert config.is_file()
    text = config.read_text(encoding="utf-8")
    assert "server-template engine 2 engine:8000" in text
    assert "option httpchk GET /healthz" in text
    assert balancer["depends_on"]["engine"]["condition"] == "service_healthy"


def test_the_dockerfile_copies_what_exists() -> None:
    build = _compose()["services"]["engine"]["build"]  # type: ignore[index]
    context = (DEPLOY / build["context"]).resolve()
    assert (context / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (context / source).exists(), f"{line}: {source} is not in {context}"
