"""Real coding agents, installed at pinned versions, run headless against `engine serve`.

The agents come from tests/agents/package.json and its lockfile, installed with `npm ci`
on first use (and again when the lockfile changes); a failed install fails the tests with
npm's own words. Each run gets a home of its own (no user settings, no credentials, no
network but the proxy's loopback port) and a workspace folder for its tools.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.signals import DEFAULT_TIMEOUT_SECS

AGENTS = Path(__file__).parent
MODULES = AGENTS / "node_modules"
STAMP = MODULES / ".engine-installed"
INSTALL_TIMEOUT_SECS = 900
RUN_TIMEOUT_SECS = 180
# A command whose output is not in its own text: a tool result holding "42" ran it.
TOOL_COMMAND = "expr 6 \\* 7"
TOOL_OUTPUT = "42"


def _lock_digest() -> str:
    return hashlib.sha256((AGENTS / "package-lock.json").read_bytes()).hexdigest()


def install_agents() -> None:
    """`npm ci` the pinned agents unless this lockfile's install is already there (one
    process at a time: others wait for it)."""
    AGENTS.joinpath(".install.lock").touch()
    with (AGENTS / ".install.lock").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _install()


def _install() -> None:
    if STAMP.exists() and STAMP.read_text() == _lock_digest():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the agent tests need npm (Node.js) on PATH to install the pinned agents")
    try:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=AGENTS,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci in {AGENTS} did not finish in {INSTALL_TIMEOUT_SECS} s")
    if done.returncode != 0:
        pytest.fail(
            f"could not install the pinned agents (npm ci in {AGENTS} exited "
            f"{done.returncode}):\n{done.stderr[-3000:]}"
        )
    STAMP.write_text(_lock_digest())


def binary(name: str) -> str:
    """An installed agent's command."""
    path = MODULES / ".bin" / name
    assert path.exists(), f"{name} is not installed in {MODULES}"
    return str(path)


# --- engine serve --------------------------------------------------------------------------


@dataclass
class Served:
    """A running `engine serve`: its base URL and everything it logged so far."""

    base_url: str
    log: list[str]


@contextmanager
def engine_serve(routes: Path, env: dict[str, str], *options: str) -> Iterator[Served]:
    """`engine serve --routes ROUTES [OPTIONS]` on a free loopback port, as a user starts
    it; with a store of its own (a new SQLite file) unless `env` names one (`ENGINE_STORE`)."""
    own_store = tempfile.TemporaryDirectory(prefix="engine-store-")
    env = {"ENGINE_STORE": f"sqlite:///{own_store.name}/engine.db", **env}
    command = [
        sys.executable,
        "-m",
        "engine.cli",
        "serve",
        "--routes",
        str(routes),
        "--port",
        "0",
        "--no-reload",
        *options,
    ]
    process = subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    bound = threading.Event()
    address: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            found = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
            if found and not address:
                address.append(found[1])
                bound.set()
        bound.set()  # the server ended: stop waiting

    reader = threading.Thread(target=read, name="engine-serve-log", daemon=True)
    reader.start()
    try:
        assert bound.wait(DEFAULT_TIMEOUT_SECS) and address, "engine serve did not start:\n" + (
            "\n".join(log[-30:])
        )
        yield Served(address[0], log)
    finally:
        process.terminate()
        try:
            process.wait(DEFAULT_TIMEOUT_SECS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(DEFAULT_TIMEOUT_SECS)
        if process.stderr is not None:
            process.stderr.close()
        own_store.cleanup()


# --- the agents ----------------------------------------------------------------------------


@dataclass
class Run:
    """One finished agent run."""

    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        """What to show when a run did not go as expected."""
        return (
            f"$ {' '.join(self.command)}\nexit {self.returncode}\n"
            f"--- stdout\n{self.stdout[-4000:]}\n--- stderr\n{self.stderr[-4000:]}"
        )


def _run(command: list[str], env: dict[str, str], cwd: Path) -> Run:
    base = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "dumb", "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            command,
            env={**base, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Run(command, -1, str(exc.stdout or ""), f"timed out after {RUN_TIMEOUT_SECS} s")
    return Run(command, done.returncode, done.stdout, done.stderr)


def claude(
    prompt: str, *, base_url: str, model: str | None, home: Path, work: Path
) -> dict[str, Any]:
    """`claude -p` with stream-json output (its default model unless `model`); its final
    `result` event."""
    command = [
        binary("claude"),
        "-p",
        prompt,
        *(["--model", model] if model else []),
        "--output-format",
        "stream-json",
        "--verbose",
        "--allowedTools",
        "Bash",
    ]
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": f"{base_url}/anthropic",
        "ANTHROPIC_AUTH_TOKEN": "client-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    run = _run(command, env, work)
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    results = [e for e in events if e.get("type") == "result"]
    assert run.returncode == 0 and results, run.explain()
    result: dict[str, Any] = results[-1]
    assert not result.get("is_error"), run.explain()
    return result


CODEX_CONFIG = """\
model = "{model}"
model_provider = "engine"

[model_providers.engine]
name = "engine"
base_url = "{base_url}/v1"
env_key = "ENGINE_API_KEY"
wire_api = "responses"

[analytics]
enabled = false

[features]
plugins = false
"""


def codex(prompt: str, *, base_url: str, model: str, home: Path, work: Path) -> str:
    """`codex exec` with the README's provider settings; the agent's last message."""
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    config = CODEX_CONFIG.format(model=model, base_url=base_url)
    (home / ".codex" / "config.toml").write_text(config, encoding="utf-8")
    last = work / "last-message.txt"
    command = [
        binary("codex"),
        "exec",
        "--skip-git-repo-check",
        "--sandbox",
        "danger-full-access",
        "--output-last-message",
        str(last),
        prompt,
    ]
    run = _run(command, {"HOME": str(home), "ENGINE_API_KEY": "client-key"}, work)
    assert run.returncode == 0 and last.exists(), run.explain()
    return last.read_text(encoding="utf-8").strip()


GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": False}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


def gemini(prompt: str, *, base_url: str, model: str | None, home: Path, work: Path) -> str:
    """`gemini -p` with JSON output (its default model unless `model`), pointed at the
    proxy; the agent's response."""
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS), encoding="utf-8")
    chosen = ["-m", model] if model else []
    command = [binary("gemini"), "-p", prompt, *chosen, "--yolo", "-o", "json"]
    env = {"HOME": str(home), "GEMINI_API_KEY": "client-key", "GOOGLE_GEMINI_BASE_URL": base_url}
    run = _run(command, env, work)
    start = run.stdout.find("{")
    assert run.returncode == 0 and start >= 0, run.explain()
    response = json.loads(run.stdout[start:]).get("response")
    assert isinstance(response, str), run.explain()
    return response.strip()
