"""The `engine` command: serve, check, graph, schema, explain, keys, db."""

from __future__ import annotations

import argparse
import ipaddress
import logging
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
    from hypercorn.asyncio import serve

    from engine import logs
    from engine.server.access import AccessLog
    from engine.server.app import create_app
    from engine.server.hosting import hypercorn_config, run
    from engine.server.memory import return_large_blocks_to_the_system

    logs.configure(args.log_level)
    return_large_blocks_to_the_system()
    if args.quiet:
        logging.getLogger("engine.access").setLevel(logging.WARNING)
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
    if require_keys and not args.require_keys:
        log.warning(
            "%s is not a loopback address: client keys are required (--open: not)", args.host
        )
    config = hypercorn_config(args.host, args.port)
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
    run(serve(AccessLog(app), config))
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


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    top = argparse.ArgumentParser(prog="engine", description="A declarative LLM proxy.")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve every front-end, reloading routes on change")
    serve.add_argument("--routes", type=Path, default=Path("routes"), help="routes folder")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-reload", action="store_true", help="do not watch the routes folder")
    serve.add_argument(
        "--quiet", action="store_true", help="no access line per request (errors are still logged)"
    )
    # Requests are logged by default now; the old switch is still taken.
    serve.add_argument("--access-log", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
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
    _add_store(serve)
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
