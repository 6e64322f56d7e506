"""Batches of a Faust stream that close when the stream goes quiet: small and prompt at low load, large under load.

Faust's ``stream.take_events(max_, within)`` waits for ``max_`` events or for
``within`` seconds after the previous batch, whichever comes first, and takes
in no event while the agent handles a batch. At low load every batch then
waits the whole ``within`` for events that are not coming, and at each hop
of the pipeline a point waits up to ``within`` for nothing; under load the
batch holds what came during that one window.

``take_batches`` closes a batch once no event has come for ``idle_s`` (one
fetch's records arrive together, so a batch is what one fetch brought), once
``within`` has passed since its first event, or once it holds ``max_``
events. While the agent handles a batch, the events that arrive wait in the
next one, up to ``waiting_max`` of them (then the stream waits, the rest stays
in Kafka as lag): under load each batch holds what came while the one before
it was handled, so batches grow with the load by themselves.

Acks are Faust's: the events of a batch are acked when the agent's body has
left it (also when it raised: ``aiops.pipeline.batch_guard`` holds those), and
an event that waits in the next batch is not acked, so no offset is committed
past it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

#: Quiet time that closes a batch: longer than the gaps between the records of one fetch, far shorter than a fetch.
IDLE_S = 0.002


async def take_batches(stream: Any, max_: int, within: float, *, idle_s: float = IDLE_S,
                       waiting_max: int | None = None) -> AsyncIterator[list[Any]]:
    """Lists of at most ``max_`` events of ``stream`` (see the module's docstring); ``waiting_max`` defaults to
    a tenth of ``max_``."""
    loop = asyncio.get_running_loop()
    waiting_cap = max(1, max_ // 10) if waiting_max is None else max(1, min(waiting_max, max_))
    events: list[Any] = []
    wake = asyncio.Event()  # set by the first event of a batch and by the one that fills it
    room = asyncio.Event()  # set when the buffer has room again
    room.set()
    handling = False  # a batch is with the agent: events taken in wait, up to waiting_cap of them
    first_at = last_at = 0.0

    async def add_to_buffer(value: Any) -> Any:
        nonlocal first_at, last_at
        while len(events) >= (waiting_cap if handling else max_):
            room.clear()
            if await stream.wait_for_stopped(room):
                return value
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_batches found no current event")
        last_at = loop.time()
        if not events:
            first_at = last_at
            wake.set()
        events.append(event)
        if len(events) >= max_:
            wake.set()
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # acked here, once the agent is done with the batch
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if not events:
                wake.clear()
                await stream.wait_for_stopped(wake, timeout=within)
                continue
            while len(events) < max_:  # woken when full, else when quiet for idle_s (not by every event)
                wait = min(first_at + within, last_at + idle_s) - loop.time()
                if wait <= 0:
                    break
                wake.clear()
                if await stream.wait_for_stopped(wake, timeout=wait):
                    break
            batch = events[:max_]
            del events[:max_]
            handling = True
            if events:  # more came than fit: they open the next batch
                first_at = loop.time()
            try:
                yield batch
            finally:
                handling = False
                room.set()
                for event in batch:
                    await stream.ack(event)
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
