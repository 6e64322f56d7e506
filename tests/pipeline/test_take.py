"""Batches close when the stream goes quiet, never exceed their size, and are acked only once handled.

These run the real Faust stream machinery on an in-memory channel (``agent.test_context``); the worker's use of
``take_batches`` against a real broker is covered by the worker and integration tests.
"""

from __future__ import annotations

import asyncio

import faust
import pytest

from aiops.pipeline.take import take_batches

#: Longer than any test runs: a batch that waited for it would hang the test (and fail it by its timeout).
NEVER_S = 3600.0


def app_with(agent_body):
    app = faust.App("take-test", broker="kafka://127.0.0.1:1", store="memory://", web_enabled=False)
    return app, app.agent(name="taker")(agent_body)


async def wait_for(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


@pytest.mark.timeout(60)
class TestTakeBatches:
    async def test_a_burst_is_one_batch_without_waiting_for_within(self):
        """Events that come together make one batch as soon as the stream is quiet, not after ``within``."""
        batches: list[list[int]] = []

        async def body(stream):
            async for batch in take_batches(stream, 100, NEVER_S, idle_s=0.2):
                batches.append([e.value for e in batch])

        _, agent = app_with(body)
        async with agent.test_context() as taker:
            for i in range(5):
                await taker.put(i)
            await wait_for(lambda: batches)
            await taker.put(5)
            await wait_for(lambda: len(batches) == 2)
        assert batches == [[0, 1, 2, 3, 4], [5]]

    async def test_a_batch_never_holds_more_than_max(self):
        """A flood comes out in batches of at most ``max_`` events, all of them, in order."""
        batches: list[list[int]] = []

        async def body(stream):
            async for batch in take_batches(stream, 4, NEVER_S, idle_s=0.2):
                batches.append([e.value for e in batch])

        _, agent = app_with(body)
        async with agent.test_context() as taker:
            for i in range(10):
                await taker.put(i)
            await wait_for(lambda: sum(map(len, batches)) == 10)
        assert max(map(len, batches)) <= 4
        assert [v for b in batches for v in b] == list(range(10))

    async def test_events_that_come_while_a_batch_is_handled_wait_unacked_in_the_next(self):
        """What arrives during the handling of a batch is the next batch; no event is acked before its batch
        has been handled, and every event is acked once it has."""
        batches: list[list[int]] = []
        acked_when_taken: list[bool] = []
        release = asyncio.Event()
        taken: list = []

        async def body(stream):
            async for batch in take_batches(stream, 100, NEVER_S, idle_s=0.1, waiting_max=100):
                batches.append([e.value for e in batch])
                acked_when_taken.extend(e.message.acked for e in batch)
                taken.extend(batch)
                if len(batches) == 1:
                    await release.wait()

        _, agent = app_with(body)
        async with agent.test_context() as taker:
            await taker.put(0)
            await wait_for(lambda: batches)
            for i in range(1, 4):
                await taker.put(i)
            await asyncio.sleep(0.3)  # the three are taken in while the first batch is still being handled
            assert batches == [[0]] and not taken[0].message.acked
            release.set()
            await wait_for(lambda: len(batches) == 2)
            await wait_for(lambda: all(e.message.acked for e in taken))
        assert batches == [[0], [1, 2, 3]]
        assert acked_when_taken == [False] * 4
