"""`engine serve --workers N`: N server processes on one listening socket.

The parent binds and listens itself (so the port is known, and taken, before any worker
runs), then starts each worker as ``python -m engine serve … --listen-fd FD --supervisor
PID`` with the socket inherited; a worker serves it as hypercorn's ``fd://FD``, and the
kernel hands each new connection to one of them. The parent then only supervises:

* SIGTERM or SIGINT closes its copy of the socket and sends every worker a SIGTERM, then
  waits: each worker stops accepting and finishes what it has in flight
  (`--shutdown-timeout`) before it exits; one that takes much longer is killed. The parent
  then exits 0.
* A worker that exits otherwise is logged and started again after a short pause that
  doubles with each restart; one that has to be restarted more than MAX_RESTARTS times
  within RESTART_WINDOW_SECS is failing, not unlucky: the parent stops the others and
  exits 1.
* A worker whose supervisor is gone (killed without a chance to pass anything on) stops
  by itself (`--supervisor PID`: see `engine.server.hosting.serve_until_stopped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from hypercorn.utils import repr_socket_addr

from engine.server.hosting import Shutdown, hypercorn_config

MAX_RESTARTS = 5  # per worker within the window below; one more means it keeps failing
RESTART_WINDOW_SECS = 60.0
FIRST_BACKOFF_SECS = 0.5  # before the first restart in the window; doubled for each next
STOP_GRACE_SECS = 10.0  # beyond --shutdown-timeout, for a worker's own cleanup at exit

log = logging.getLogger("engine")


def supported() -> bool:
    """Whether this platform can hand a socket to child processes (not Windows)."""
    return os.name == "posix"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (port 0: a free one) that children inherit,
    bound the way hypercorn binds its own."""
    config = hypercorn_config(host, port)
    [sock] = config.create_sockets().insecure_sockets
    sock.listen(config.backlog)
    return sock


def address(sock: socket.socket) -> str:
    """The URL a listening socket serves, as hypercorn writes it (`http://HOST:PORT`)."""
    return f"http://{repr_socket_addr(sock.family, sock.getsockname())}"


def worker_command(arguments: list[str], fd: int) -> list[str]:
    """The command line of a worker: the engine's CLI with `arguments` on socket `fd`,
    supervised by this process."""
    own = ["--listen-fd", str(fd), "--supervisor", str(os.getpid())]
    return [sys.executable, "-m", "engine", *arguments, *own]


def serve_workers(sock: socket.socket, arguments: list[str], count: int, timeout: float) -> int:
    """Run `count` workers (`engine` with `arguments`) on the listening `sock` until told
    to stop, each with `timeout` seconds to finish what it has in flight; the exit code:
    0 after a requested stop, 1 when a worker kept failing."""
    log.info("Running on %s (CTRL + C to quit) with %d workers", address(sock), count)
    try:
        return asyncio.run(Supervisor(sock, arguments, count).run(timeout))
    finally:
        sock.close()


@dataclass
class Worker:
    """One of the workers: its process now, and when it was restarted lately."""

    number: int
    process: asyncio.subprocess.Process | None = None
    restarts: deque[float] = field(default_factory=deque)

    @property
    def running(self) -> bool:
        """Whether its process is there and has not exited."""
        return self.process is not None and self.process.returncode is None

    def backoff(self, now: float) -> float | None:
        """How long to wait before the next restart, counting it; None when it was
        restarted too often lately."""
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW_SECS:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            return None
        self.restarts.append(now)
        return FIRST_BACKOFF_SECS * 2 ** (len(self.restarts) - 1)

    def send(self, number: signal.Signals) -> None:
        """Send `number` to its process, if it runs."""
        if self.process is not None and self.running:
            with contextlib.suppress(ProcessLookupError):  # it exited just now
                self.process.send_signal(number)


class Supervisor:
    """Keeps the workers on one listening socket running until it is asked to stop."""

    def __init__(self, sock: socket.socket, arguments: list[str], count: int) -> None:
        self.sock, self.fd = sock, sock.fileno()
        self.command = worker_command(arguments, self.fd)
        self.workers = [Worker(number) for number in range(1, count + 1)]
        self.shutdown = Shutdown()
        self.failed = False

    async def run(self, timeout: float) -> int:
        """Start the workers, keep them running until a stop is requested, then stop them
        (each has `timeout` seconds for what it has in flight); the exit code."""
        self.shutdown.on_signals()
        tasks = [asyncio.create_task(self.keep(worker)) for worker in self.workers]
        reason = await self.shutdown.wait()
        self.sock.close()  # once the workers close theirs, new connections are refused
        log.info("%s: stopping %d workers", reason, len(self.workers))
        for worker in self.workers:
            worker.send(signal.SIGTERM)
        await self.wait_for(tasks, timeout + STOP_GRACE_SECS)
        log.info("all workers stopped")
        return 1 if self.failed else 0

    async def keep(self, worker: Worker) -> None:
        """Run `worker`, and again whenever it exits, until a stop is requested (or it
        fails too often: then the stop is requested)."""
        while not self.shutdown.requested:
            try:
                process = worker.process = await self.start(worker)
            except OSError as exc:
                log.error("cannot start worker %d: %s", worker.number, exc)
                self.failed = True
                self.shutdown.request(f"worker {worker.number} cannot start")
                return
            if self.shutdown.requested:  # it started meanwhile: `run` did not signal it
                worker.send(signal.SIGTERM)
            code = await process.wait()
            if self.shutdown.requested:
                return
            delay = worker.backoff(time.monotonic())
            if delay is None:
                log.error(
                    "worker %d (pid %d) %s, after %d restarts in %g s: giving up",
                    worker.number,
                    process.pid,
                    _how_it_ended(code),
                    MAX_RESTARTS,
                    RESTART_WINDOW_SECS,
                )
                self.failed = True
                self.shutdown.request(f"worker {worker.number} keeps failing")
                return
            log.error(
                "worker %d (pid %d) %s; starting it again in %g s",
                worker.number,
                process.pid,
                _how_it_ended(code),
                delay,
            )
            await self.shutdown.wait_for(delay)

    async def start(self, worker: Worker) -> asyncio.subprocess.Process:
        """Start `worker`'s process: it inherits the listening socket, stdout and stderr."""
        process = await asyncio.create_subprocess_exec(
            *self.command, stdin=subprocess.DEVNULL, pass_fds=(self.fd,)
        )
        log.info("worker %d started (pid %d)", worker.number, process.pid)
        return process

    async def wait_for(self, tasks: list[asyncio.Task[None]], secs: float) -> None:
        """Wait up to `secs` for the workers to exit, then kill those still running."""
        _, pending = await asyncio.wait(tasks, timeout=secs)
        if pending:
            for worker in self.workers:
                if worker.running:
                    log.warning("worker %d did not stop in %g s: killing it", worker.number, secs)
                    worker.send(signal.SIGKILL)
            await asyncio.wait(pending)


def _how_it_ended(code: int) -> str:
    """`exited with code 3`, or `was killed by SIGKILL`, for a return code."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class _WorkerListening(logging.Filter):
    """hypercorn's `Running on URL (CTRL + C to quit)`, said by a worker: the supervisor
    says it once for all, so a worker says that it accepts there instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Running on "):
            url = message.removeprefix("Running on ").split(" ", 1)[0]
            record.msg, record.args = "worker (pid %d) accepting on %s", (os.getpid(), url)
        return True


def as_worker() -> None:
    """Set up this process's logging as a worker's."""
    logging.getLogger("hypercorn.error").addFilter(_WorkerListening())
