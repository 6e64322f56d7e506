"""An agent's batch either finishes or leaves its offsets uncommitted; one record never stops an agent.

Faust's ``stream.take_events`` acks every event of a batch when the agent's
body leaves it, also when the body raised or was cancelled, and the consumer
then commits those offsets: the records after the failing one would be
skipped, neither processed nor dead-lettered. ``run_guarded`` runs one
batch; if it raises, the batch's messages are *held* (an extra reference
each, so Faust's ack never marks them done and the commit stops before the
first of them), the failure is logged and counted, and the agent goes on
with the next batch. A restarted worker reads the held records again.

Records that are bad in themselves never get this far: the stages turn them
into dead letters with the reason. Holding is for what is not the record's
fault (a broker that refuses a write, a bug), where skipping would lose data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def hold(batch: Sequence[Any]) -> None:
    """Keep every message of the batch from being acked (and so committed) by this consumer."""
    for event in batch:
        event.message.incref()


async def run_guarded(handle: Callable[[Sequence[Any]], Awaitable[None]], batch: Sequence[Any], *,
                      stage: str, on_held: Callable[[int], None]) -> bool:
    """Run ``handle(batch)``; True when it finished, False when it raised and the batch is held."""
    try:
        await handle(batch)
        return True
    except asyncio.CancelledError:
        hold(batch)  # stopped mid-batch: the next owner of the partitions reads it again
        raise
    except Exception as exc:
        hold(batch)
        on_held(len(batch))
        first = batch[0].message if batch else None
        log.exception("batch.held", stage=stage, records=len(batch), error=f"{type(exc).__name__}: {exc}",
                      topic=getattr(first, "topic", None), partition=getattr(first, "partition", None),
                      offset=getattr(first, "offset", None))
        return False
