"""Client keys, rate-limit windows and failed attempts: the rules, and the SQL stores on a
SQLite file and a real PostgreSQL shared by two stores (two processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from engine.access import Access
from engine.access.failures import FREE_FAILURES, MemoryFailureStore, block_secs
from engine.access.keys import matches, new_key, parse
from engine.access.limits import Limit, MemoryLimitStore, retry_after
from engine.store import SqlStore
from engine.store.database import store_url

Opened = Callable[[], Awaitable[Access]]
NOW = 1_800_000_000.0  # a minute's start: 30_000_000 * 60


@pytest.fixture
async def two_processes(database: str) -> AsyncIterator[Opened]:
    """`await open()`: the access stores of one more process on the test's database."""
    async with AsyncExitStack() as stack:

        async def open_one() -> Access:
            store = SqlStore(store_url(database))
            stack.push_async_callback(store.aclose)
            await store.open()
            return store.access

        yield open_one


@pytest.fixture(params=["memory", "sql"])
async def access(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[Access]:
    if request.param == "memory":
        yield Access()
        return
    store = SqlStore(store_url(f"sqlite:///{tmp_path}/engine.db"))
    await store.open()
    try:
        yield store.access
    finally:
        await store.aclose()


def test_a_key_is_shown_once_and_stored_as_an_hmac() -> None:
    text, stored = new_key("alice", rpm=5)
    key_id, secret = parse(text) or ("", "")
    assert key_id == stored.key_id and secret not in repr(stored)
    assert stored.digest != secret.encode() and len(stored.digest) == 32
    assert matches(stored, secret) and not matches(stored, secret[:-1] + "x")
    _, other = new_key("alice")
    assert other.salt != stored.salt  # the same secret would hash differently


@pytest.mark.parametrize(
    "text", ["", "sk-123", "ek-short-x", "ek-AAAAAAAAAAAA-" + "B" * 42], ids=str
)
def test_text_not_shaped_like_a_key_is_none(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("name", "limits"), [("has space", {}), ("", {}), ("ok", {"rpm": 0})], ids=str
)
def test_bad_names_and_limits_are_refused(name: str, limits: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        new_key(name, **limits)


async def test_keys_are_added_found_listed_and_revoked(access: Access) -> None:
    _, alice = new_key("alice", rpm=3)
    await access.keys.add(alice)
    with pytest.raises(ValueError, match="exists"):
        await access.keys.add(new_key("alice")[1])
    assert await access.keys.find(alice.key_id) == alice
    assert [key.name for key in await access.keys.all()] == ["alice"]
    assert await access.keys.revoke("alice") and not await access.keys.revoke("alice")
    revoked = await access.keys.find(alice.key_id)
    assert revoked is not None and revoked.revoked_at is not None
    await access.keys.add(new_key("alice")[1])  # a revoked name may be used again


@pytest.mark.parametrize(
    ("failures", "block"), [(1, 0.0), (FREE_FAILURES, 0.0), (6, 1.0), (7, 2.0), (30, 3600.0)]
)
def test_the_block_doubles_after_the_free_failures(failures: int, block: float) -> None:
    assert block_secs(failures) == block


async def test_failures_block_an_address_and_a_right_key_forgets_them(access: Access) -> None:
    blocks = [await access.failures.failed("10.0.0.1", NOW) for _ in range(7)]
    assert blocks == [0.0] * 5 + [1.0, 2.0]
    assert await access.failures.blocked("10.0.0.1", NOW + 1) == 1.0
    assert await access.failures.blocked("10.0.0.2", NOW) == 0.0
    await access.failures.succeeded("10.0.0.1")
    assert await access.failures.blocked("10.0.0.1", NOW) == 0.0


async def test_an_hour_without_failures_starts_the_count_again() -> None:
    failures = MemoryFailureStore()
    for _ in range(6):
        await failures.failed("a", NOW)
    assert await failures.failed("a", NOW + 3601) == 0.0


async def test_a_limit_refuses_past_its_requests_until_the_minute_ends(access: Access) -> None:
    limit = Limit("key:alice", rpm=2)
    assert [await access.limits.take([limit], NOW + s) for s in (0, 10)] == [None, None]
    assert await access.limits.take([limit], NOW + 20) == limit
    assert retry_after(NOW + 20) == 40
    assert await access.limits.take([limit], NOW + 60) is None  # a new minute


async def test_tokens_count_towards_a_token_limit(access: Access) -> None:
    limit = Limit("route:r", tpm=100)
    assert await access.limits.take([limit], NOW) is None
    await access.limits.spend(["route:r"], 100, NOW)
    assert await access.limits.take([limit], NOW + 1) == limit


async def test_two_processes_share_one_limit(two_processes: Opened) -> None:
    one, two = await two_processes(), await two_processes()
    limit = Limit("key:shared", rpm=3)
    taken = [await access.limits.take([limit], NOW) for access in (one, two, one, two)]
    assert taken == [None, None, None, limit]
    await one.limits.spend(["key:shared"], 7, NOW)
    await two.limits.spend(["key:shared"], 5, NOW)
    assert await two.limits.take([Limit("key:shared", tpm=12)], NOW) is not None


async def test_two_processes_share_keys_and_failures(two_processes: Opened) -> None:
    one, two = await two_processes(), await two_processes()
    _, key = new_key("shared")
    await one.keys.add(key)
    assert await two.keys.find(key.key_id) == key
    for _ in range(6):
        await one.failures.failed("10.1.1.1", NOW)
    assert await two.failures.blocked("10.1.1.1", NOW) == 1.0


async def test_the_memory_limits_stay_bounded() -> None:
    limits = MemoryLimitStore()
    for minute in range(3):
        for n in range(6000):
            await limits.take([Limit(f"key:{n}", rpm=1)], NOW + 60 * minute)
    assert len(limits) <= 12_000
