"""`engine keys add | list | revoke`: the client keys in the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store import SqlStore


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"a limit is 1 or more per minute, not {value}")
    return value


def register(
    sub: Any,
    add_store: Callable[[argparse.ArgumentParser], None],
    store_of: Callable[[argparse.Namespace], SqlStore | None],
) -> None:
    """Add the `keys` commands to the CLI's subparsers."""
    keys = sub.add_parser("keys", help="client keys (stored hashed)").add_subparsers(
        dest="keys_command", required=True
    )
    add = keys.add_parser("add", help="make a key and print it (shown once)")
    add.add_argument("name", help="who the key is for (letters, digits, . _ @ -)")
    add.add_argument("--rpm", type=_positive, help="requests per minute it may make")
    add.add_argument("--tpm", type=_positive, help="tokens per minute it may use")
    listing = keys.add_parser("list", help="the keys: names, limits, revoked or not")
    revoke = keys.add_parser("revoke", help="revoke a key: it is refused from now on")
    revoke.add_argument("name")
    for command, run in ((add, _add), (listing, _list), (revoke, _revoke)):
        add_store(command)
        command.set_defaults(run=lambda args, run=run: _with_store(args, store_of, run))


def _with_store(
    args: argparse.Namespace,
    store_of: Callable[[argparse.Namespace], SqlStore | None],
    run: Callable[[argparse.Namespace, SqlStore], Awaitable[int]],
) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    store = store_of(args)
    if store is None:
        print("engine: keys live in a SQL store, not in memory: give --store", file=sys.stderr)
        return 2

    async def main(store: SqlStore) -> int:
        try:
            await store.open()
            return await run(args, store)
        finally:
            await store.aclose()

    try:
        return asyncio.run(main(store))
    except (OSError, SQLAlchemyError) as exc:
        print(f"engine: store {store}: {exc}", file=sys.stderr)
        return 1


async def _add(args: argparse.Namespace, store: SqlStore) -> int:
    from engine.access.keys import new_key

    try:
        text, key = new_key(args.name, rpm=args.rpm, tpm=args.tpm)
        await store.access.keys.add(key)
    except ValueError as exc:
        print(f"engine: {exc}", file=sys.stderr)
        return 1
    print(text)
    print(f"key {key.name!r} added to {store}; it is shown only now", file=sys.stderr)
    return 0


async def _list(args: argparse.Namespace, store: SqlStore) -> int:
    keys = await store.access.keys.all()
    if not keys:
        print(f"no keys in {store}")
        return 0
    for key in keys:
        limits = ", ".join(
            f"{value} {unit}/min"
            for value, unit in ((key.rpm, "requests"), (key.tpm, "tokens"))
            if value
        )
        state = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
        print(
            f"{key.name}  ek-{key.key_id}-…  {state}  {limits or 'no limits'}  "
            f"made {_when(key.created_at)}"
        )
    return 0


async def _revoke(args: argparse.Namespace, store: SqlStore) -> int:
    if await store.access.keys.revoke(args.name):
        print(f"key {args.name!r} revoked")
        return 0
    print(f"engine: no active key called {args.name!r}", file=sys.stderr)
    return 1


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment or 0)) + " UTC"
