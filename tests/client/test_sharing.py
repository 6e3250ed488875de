"""Client tests: request sharing between concurrent callers."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from toutvfs.client.sharing import RequestSharing


async def test_waiters_get_leader_value():
    sharing: RequestSharing[int] = RequestSharing()
    release = trio.Event()
    calls = 0
    results = []

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 42

    async def caller() -> None:
        results.append(await sharing.run("k", fetch))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        assert sharing.in_flight == 1
        release.set()
    assert results == [42, 42, 42, 42]
    assert calls == 1
    assert sharing.in_flight == 0


async def test_waiters_get_leader_exception():
    sharing: RequestSharing[int] = RequestSharing()
    release = trio.Event()
    errors = []

    async def fetch() -> int:
        await release.wait()
        raise LookupError("gone")

    async def caller() -> None:
        try:
            await sharing.run("k", fetch)
        except LookupError as exc:
            errors.append(str(exc))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(caller)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert errors == ["gone", "gone", "gone"]


async def test_cancelled_leader_hands_over():
    sharing: RequestSharing[str] = RequestSharing()
    calls = []
    release = trio.Event()
    results = []

    async def fetch() -> str:
        calls.append(trio.lowlevel.current_task().name)
        await release.wait()
        return "value"

    async def waiter() -> None:
        results.append(await sharing.run("k", fetch))

    leader_scope = trio.CancelScope()

    async def leader() -> None:
        with leader_scope:
            await sharing.run("k", fetch)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(leader)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        leader_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert len(calls) == 2
        release.set()
    assert results == ["value"]


async def test_different_keys_run_apart():
    sharing: RequestSharing[str] = RequestSharing()

    async def fetch_a() -> str:
        return "a"

    async def fetch_b() -> str:
        return "b"

    assert await sharing.run("a", fetch_a) == "a"
    assert await sharing.run("b", fetch_b) == "b"


async def test_later_caller_fetches_again():
    sharing: RequestSharing[int] = RequestSharing()
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await sharing.run("k", fetch) == 1
    assert await sharing.run("k", fetch) == 2
    with pytest.raises(ZeroDivisionError):

        async def broken() -> int:
            return 1 // 0

        await sharing.run("k", broken)
