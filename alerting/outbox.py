"""The worker and its alerting runtime talk through two outboxes; neither holds the other.

Each side writes only its own outbox and reads only the other's, and the
process that starts both (the pipeline's runner) hands them the same
``AlertingLink``. This module imports nothing of the project, so the
alerting side and the pipeline may both use it.

What flows, and who owns what::

    worker ── worker_outbox ──► alerting runtime        (the runtime replies through each receipt)
      AnomalyRecords   anomalies and ``episode_end`` records read from the anomalies topic
                       -> reply: dead-letter Records for what the policy refused
      FeedbackRecords  records read from the feedback topic
                       -> reply: FeedbackRouting (records to route to the series' owners, dead letters)
      RestoreState     the alerting state read back from the state topic -> reply: None, or InputError
      ExportState      -> reply: the alerting state, bytes for the state topic

    worker ◄── alerting_outbox ── alerting runtime
      Record           a record to write: a delivery dead letter, an audit record, a feedback record
      SaveState        notifications went out: save the alerting state now (if this worker owns alerting)

The worker owns Kafka: topics, the state topic, offsets. The runtime owns the
policy, silences, delivery and remediation state, and never writes Kafka.

Semantics of an ``Outbox``:

- Bounded: ``put`` waits while ``maxsize`` items are waiting (back-pressure on
  the writer; an agent that waits stops reading, and the rest stays in Kafka).
- Ordered: one reader takes items in the order they were put, one at a time,
  and settles each receipt before it takes the next. So a ``RestoreState``
  put before a batch is applied before that batch is handled.
- Acknowledged: ``put`` returns a receipt (an ``asyncio.Future``) that the
  reader settles with a reply or an error. A writer that must not go on before
  the work is done awaits it: the alert agent awaits its batch's receipt, then
  writes the dead letters and the alerting state and waits for the broker,
  and only then lets Faust commit the offsets, as when it called the policy.
- No cycle: the runtime's reader never waits for the worker (all it produces
  for an item is in the reply), so the worker may await a receipt while it
  holds its locks. Only the runtime's timer side waits on ``alerting_outbox``.

>>> import asyncio
>>> async def demo():
...     box = Outbox(maxsize=2)
...     receipt = await box.put("ping")
...     parcel = await box.get()
...     parcel.settle(parcel.item.upper())
...     return await receipt, len(box)
>>> asyncio.run(demo())
('PING', 0)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class AnomalyRecords:
    """Records read from the anomalies topic (anomalies and ``episode_end`` records), in topic order."""

    records: list[Any]


@dataclass(frozen=True)
class FeedbackRecords:
    """Records read from the feedback topic."""

    records: list[Any]


@dataclass(frozen=True)
class RestoreState:
    """The alerting state as read back from the state topic."""

    blob: bytes


@dataclass(frozen=True)
class ExportState:
    """A request for the alerting state to write to the state topic."""


@dataclass(frozen=True)
class Record:
    """A record for the worker to write: ``kind`` is ``dead_letter``, ``audit`` or ``feedback``.

    ``stage`` names the dead letter's stage in the worker's counters.
    """

    kind: str
    value: bytes
    key: bytes | None = None
    stage: str = "delivery"


@dataclass(frozen=True)
class SaveState:
    """Notifications went out: the alerting state is to be saved now (by the owner of alerting)."""


@dataclass(frozen=True)
class FeedbackRouting:
    """The reply to ``FeedbackRecords``: records for the partitions of their series, and dead letters."""

    accepted: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[Record] = field(default_factory=list)


class Parcel(Generic[T]):
    """An item taken from an outbox; the reader settles it once, with a reply or an error."""

    __slots__ = ("item", "_receipt")

    def __init__(self, item: T, receipt: asyncio.Future) -> None:
        self.item = item
        self._receipt = receipt

    def settle(self, reply: Any = None) -> None:
        if not self._receipt.done():
            self._receipt.set_result(reply)

    def fail(self, error: BaseException) -> None:
        if not self._receipt.done():
            self._receipt.set_exception(error)


class Outbox(Generic[T]):
    """A bounded, ordered, acknowledged in-process queue from one writer side to one reader.

    >>> async def full():
    ...     box = Outbox(maxsize=1)
    ...     await box.put(1)
    ...     try:
    ...         await asyncio.wait_for(box.put(2), 0.01)
    ...     except asyncio.TimeoutError:
    ...         return "the writer waits while the outbox is full"
    >>> asyncio.run(full())
    'the writer waits while the outbox is full'
    """

    def __init__(self, maxsize: int = 64) -> None:
        if maxsize < 1:
            raise ValueError("an outbox holds at least one item")
        self.maxsize = maxsize
        self._queue: asyncio.Queue[Parcel[T]] = asyncio.Queue(maxsize)

    def __len__(self) -> int:
        return self._queue.qsize()

    async def put(self, item: T) -> asyncio.Future:
        """Queue ``item`` (waiting while the outbox is full); returns its receipt."""
        receipt = asyncio.get_running_loop().create_future()
        receipt.add_done_callback(_retrieve)
        await self._queue.put(Parcel(item, receipt))
        return receipt

    async def ask(self, item: T) -> Any:
        """``put`` and wait for the reply (the error the reader settled it with is raised here)."""
        return await (await self.put(item))

    async def get(self) -> Parcel[T]:
        """The oldest item, waiting for one."""
        return await self._queue.get()

    def get_nowait(self) -> Parcel[T] | None:
        """The oldest item, or None when the outbox is empty."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


def _retrieve(receipt: asyncio.Future) -> None:
    """A receipt nobody awaits may still fail: its error was handled by the reader, not lost to asyncio's log."""
    if not receipt.cancelled():
        receipt.exception()


@dataclass
class AlertingLink:
    """The two outboxes between one worker and its alerting runtime."""

    worker_outbox: Outbox = field(default_factory=lambda: Outbox(maxsize=16))
    alerting_outbox: Outbox = field(default_factory=lambda: Outbox(maxsize=1024))
