"""The `engine` command: serve, check, graph, schema, explain, keys, db."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine import cli_keys
from engine.compiler import load_graph
from engine.config import FRONTENDS
from engine.diagnostics import format_json, format_text, has_errors
from engine.loader import graph_roots
from engine.render import as_mermaid, as_text

if TYPE_CHECKING:
    from engine.store import SqlStore

log = logging.getLogger("engine")


def _check(args: argparse.Namespace) -> int:
    diagnostics = []
    for path in args.paths or [Path("routes")]:
        for graph_path in graph_roots(path):
            _, found = load_graph([graph_path])
            diagnostics.extend(found)
    print(
        format_json(diagnostics) if args.format == "json" else format_text(diagnostics) or "ok",
        file=sys.stdout,
    )
    return 1 if has_errors(diagnostics) else 0


def _graph(args: argparse.Namespace) -> int:
    graph, diagnostics = load_graph([args.path])
    if graph is None:
        print(format_text(diagnostics), file=sys.stderr)
        return 1
    if args.format in ("text", "both"):
        print(as_text(graph))
    if args.format == "both":
        print()
    if args.format in ("mermaid", "both"):
        print(as_mermaid(graph))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from engine.schema import build_schema, write_schema

    plugins = not args.shipped
    if args.write:
        print(f"wrote {write_schema(args.write, plugins=plugins)}")
    else:
        import json

        print(json.dumps(build_schema(plugins=plugins), indent=2, sort_keys=True))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from engine import logs
    from engine.server.app import create_app
    from engine.server.hosting import hypercorn_config, run, serve_until_stopped
    from engine.server.memory import return_large_blocks_to_the_system

    logs.configure(args.log_level, args.log_format)
    return_large_blocks_to_the_system()
    if args.quiet:
        logging.getLogger("engine.access").setLevel(logging.WARNING)
    supervising = args.workers > 1 and args.listen_fd is None
    if supervising and (refused := _workers_refused(args)):
        log.error("not starting: %s", refused)
        return 2
    graph, diagnostics = load_graph([args.routes])
    for diagnostic in diagnostics:
        log.log(logging.ERROR if diagnostic.level == "error" else logging.WARNING, "%s", diagnostic)
    if graph is None:
        log.error("not starting: %s has errors", args.routes)
        return 1
    store = _store(args)
    require_keys = args.require_keys or not (args.open or _loopback(args.host))
    if require_keys and store is None:
        log.error("not starting: client keys live in a SQL store; give --store, not memory")
        return 2
    if require_keys and not args.require_keys and args.listen_fd is None:
        log.warning(
            "%s is not a loopback address: client keys are required (--open: not)", args.host
        )
    if supervising:
        return _serve_workers(args, len(graph.routes))
    if args.listen_fd is not None:
        from engine.server.workers import as_worker

        as_worker()
    config = hypercorn_config(
        args.host, args.port, listen_fd=args.listen_fd, shutdown_timeout=args.shutdown_timeout
    )
    app = create_app(
        graph, args.routes, watch=not args.no_reload, store=store, require_keys=require_keys
    )
    log.info(
        "serving %d routes from %s on http://%s:%d",
        len(graph.routes),
        args.routes,
        args.host,
        args.port,
    )
    # create_app logs each request (engine.server.access): no wrapper of its own here.
    run(serve_until_stopped(app, config, supervisor=args.supervisor))
    return 0


def _workers_refused(args: argparse.Namespace) -> str | None:
    """Why `--workers N` cannot be served as asked, if it cannot."""
    from engine.server.workers import supported

    if args.store == "memory":
        return (
            f"--workers {args.workers} share one store, and a memory store is each process's "
            "own: give a SQL one (--store sqlite:///FILE or postgresql://…)"
        )
    if not supported():
        return "--workers needs a POSIX system (it hands the listening socket to each worker)"
    return None


def _serve_workers(args: argparse.Namespace, routes: int) -> int:
    """Listen on `--host`/`--port` and serve with `--workers` processes on that socket."""
    from engine.server.workers import listen, serve_workers

    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        log.error("not starting: cannot listen on %s:%d: %s", args.host, args.port, exc)
        return 1
    args.port = sock.getsockname()[1]  # the workers say which port they serve
    log.info(
        "serving %d routes from %s on http://%s:%d with %d workers",
        routes,
        args.routes,
        args.host,
        args.port,
        args.workers,
    )
    return serve_workers(sock, _worker_arguments(args), args.workers, args.shutdown_timeout)


def _worker_arguments(args: argparse.Namespace) -> list[str]:
    """The `serve` command line a worker runs: each option whose value in `args` is not
    its default (a worker has the same defaults: it inherits the environment, and the
    store's URL, with its password, stays out of the process list when it came from there)."""
    options = argparse.ArgumentParser(add_help=False)
    _serve_options(options)
    arguments = ["serve"]
    for action in options._actions:
        value = getattr(args, action.dest)
        own = action.dest in ("listen_fd", "supervisor")  # each worker's own, added after
        if not action.option_strings or own or value == action.default:
            continue
        flag = action.option_strings[0]
        arguments.extend([flag] if action.nargs == 0 else [flag, str(value)])
    return arguments


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return number


def _seconds(text: str) -> float:
    """An argument that must be a number of seconds, 0 or more."""
    try:
        secs = float(text)
    except ValueError:
        secs = math.nan
    if not (math.isfinite(secs) and secs >= 0):
        raise argparse.ArgumentTypeError(f"a number of seconds, 0 or more, not {text!r}")
    return secs


def _capture_show(args: argparse.Namespace) -> int:
    from engine.capture import read_all, summarize

    try:
        lines = summarize(read_all(args.paths))
    except (OSError, ValueError) as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _loopback(host: str) -> bool:
    """Whether `host` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _store(args: argparse.Namespace) -> SqlStore | None:
    """The SQL store `--store` names (None for `memory`); exit 2 for a bad URL."""
    from engine.store import SqlStore
    from engine.store.database import StoreURLError, store_url

    if args.store == "memory":
        return None
    try:
        return SqlStore(store_url(args.store))
    except StoreURLError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def _db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from engine.store.database import head

    store = _store(args)
    if store is None:
        print("engine: the memory store has no schema to upgrade")
        return 0

    async def run(store: SqlStore) -> tuple[str | None, str | None]:
        try:
            return await store.open()
        finally:
            await store.aclose()

    try:
        before, after = asyncio.run(run(store))
    except (OSError, SQLAlchemyError) as exc:
        print(f"engine: store {store}: {exc}", file=sys.stderr)
        return 1
    if before == after:
        print(f"{store}: at {after}, the newest ({head()})")
    else:
        print(f"{store}: upgraded from {before or 'nothing'} to {after}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    import asyncio

    from engine.explain import explain
    from engine.sessions import Session

    graph, diagnostics = load_graph([args.routes])
    if graph is None:
        print(format_text(diagnostics), file=sys.stderr)
        return 1
    store = _store(args) if args.session else None

    async def run() -> list[str]:
        session = Session(args.session or "explain")
        if store is not None:
            try:
                session = await store.sessions.load(args.session)
            finally:
                await store.aclose()
        return await explain(graph, args.frontend, args.model, session)

    print("\n".join(asyncio.run(run())))
    return 0


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=os.environ.get("ENGINE_STORE") or "sqlite:///engine.db",
        help="the SQL store: sqlite:///FILE (default engine.db here), postgresql://… or "
        "memory (not shared, not kept); env ENGINE_STORE",
    )


def _serve_options(serve: argparse.ArgumentParser) -> None:
    """The options of `engine serve`."""
    from engine.server.hosting import SHUTDOWN_TIMEOUT_SECS

    serve.add_argument("--routes", type=Path, default=Path("routes"), help="routes folder")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="serve with N processes sharing the port (and a SQL store; default 1)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        default=SHUTDOWN_TIMEOUT_SECS,
        metavar="SECS",
        help="on SIGTERM or SIGINT, how long requests and streams in flight have to finish "
        f"(default {SHUTDOWN_TIMEOUT_SECS:g})",
    )
    serve.add_argument("--no-reload", action="store_true", help="do not watch the routes folder")
    serve.add_argument(
        "--quiet", action="store_true", help="no access line per request (errors are still logged)"
    )
    # Requests are logged by default now; the old switch is still taken.
    serve.add_argument("--access-log", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: one JSON object per line (the access line's fields as keys)",
    )
    serve.add_argument(
        "--require-keys",
        action="store_true",
        help="every call needs a client key from the store (`engine keys add`)",
    )
    serve.add_argument(
        "--open",
        action="store_true",
        help="serve a non-loopback host without client keys (it requires them otherwise)",
    )
    # A worker of `--workers N`: serve the listening socket its supervisor passed on, and
    # stop when that supervisor is gone.
    serve.add_argument("--listen-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--supervisor", type=int, metavar="PID", help=argparse.SUPPRESS)
    _add_store(serve)


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    top = argparse.ArgumentParser(prog="engine", description="A declarative LLM proxy.")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve every front-end, reloading routes on change")
    _serve_options(serve)
    serve.set_defaults(run=_serve)

    check = sub.add_parser("check", help="validate routing files or folders")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: routes)")
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(run=_check)

    graph = sub.add_parser("graph", help="print the compiled graph")
    graph.add_argument("path", nargs="?", type=Path, default=Path("routes"))
    graph.add_argument("--format", choices=["text", "mermaid", "both"], default="both")
    graph.set_defaults(run=_graph)

    schema = sub.add_parser("schema", help="print or write the routing file JSON Schema")
    schema.add_argument("--write", type=Path, metavar="DIR", help="write routing.schema.json here")
    schema.add_argument(
        "--shipped",
        action="store_true",
        help="only what the engine ships, without installed plug-ins (the checked-in schema)",
    )
    schema.set_defaults(run=_schema)

    explain = sub.add_parser("explain", help="where a request would go and why, sending nothing")
    explain.add_argument("--routes", type=Path, default=Path("routes"), help="routes folder")
    explain.add_argument("--frontend", choices=FRONTENDS, default="openai_chat")
    explain.add_argument("--model", required=True, help="the model the client asks for")
    explain.add_argument("--session", help="a session id: its commands' state, from the store")
    _add_store(explain)
    explain.set_defaults(run=_explain)

    db = sub.add_parser("db", help="the SQL store's schema").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply the migrations the store lacks")
    _add_store(upgrade)
    upgrade.set_defaults(run=_db_upgrade)
    cli_keys.register(sub, _add_store, _store)
    capture = sub.add_parser("capture", help="captured exchanges").add_subparsers(
        dest="capture_command", required=True
    )
    show = capture.add_parser("show", help="summarize captures: sessions, models, timings, errors")
    show.add_argument("paths", nargs="+", type=Path, help="capture files or folders")
    show.set_defaults(run=_capture_show)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI."""
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `engine graph | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
