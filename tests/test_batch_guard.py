"""A failed or cancelled batch is held: Faust's ack of its messages never becomes final, so it is not committed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from faust.types.tuples import Message

from aiops.pipeline.batch_guard import run_guarded


@dataclass
class Delivered:
    """What ``take_events`` yields: an event that carries its Kafka message."""

    message: Message


def delivered_batch(n: int) -> list[Delivered]:
    batch = []
    for offset in range(n):
        message = Message("metrics.raw", 0, offset, 0.0, 0, None, None, b"x", None)
        message.incref()  # the stream's reference, as when Faust hands the message to an agent
        batch.append(Delivered(message))
    return batch


def final_acks(batch: list[Delivered]) -> list[bool]:
    """Ack as ``take_events`` does when the agent's body leaves the batch; True where the ack is final."""
    return [event.message.ack(consumer=None) for event in batch]


class TestRunGuarded:
    async def test_finished_batch_is_acked(self):
        """A batch whose handler returns is acked as usual."""
        batch, held = delivered_batch(3), []

        async def handle(_batch):
            return None

        assert await run_guarded(handle, batch, stage="normalise", on_held=held.append) is True
        assert final_acks(batch) == [True, True, True] and held == []

    async def test_failed_batch_is_held_and_counted(self):
        """A handler that raises does not stop the caller; the batch's acks are not final, and it is counted."""
        batch, held = delivered_batch(4), []

        async def handle(_batch):
            raise ConnectionError("broker refused the write")

        assert await run_guarded(handle, batch, stage="score", on_held=held.append) is False
        assert final_acks(batch) == [False] * 4
        assert [event.message.acked for event in batch] == [False] * 4
        assert held == [4]

    async def test_cancelled_batch_is_held(self):
        """A batch cut short by shutdown is held too, and the cancellation goes on."""
        batch = delivered_batch(2)
        started = asyncio.Event()

        async def handle(_batch):
            started.set()
            await asyncio.sleep(60)

        task = asyncio.create_task(run_guarded(handle, batch, stage="alert", on_held=lambda n: None))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert final_acks(batch) == [False, False]
