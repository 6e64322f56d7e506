"""The worker's Kafka side of alerting: it writes what the alerting runtime's outbox holds, routes feedback read
from its topic to the owners of the series, and applies the feedback that reaches a scorer.

The runtime never sees the worker (``aiops.alerting.outbox`` says what flows); these functions are the worker's
half, kept out of ``aiops.pipeline.app`` so the agents there stay thin.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog

from aiops.alerting.feedback import FeedbackRecord, apply_feedback
from aiops.alerting.outbox import FeedbackRecords, FeedbackRouting, Outbox, Record, SaveState
from aiops.detectors.core.errors import InputError
from aiops.pipeline.event_codec import encode_controls
from aiops.pipeline.topics import partition_for

if TYPE_CHECKING:
    from aiops.pipeline.app import Worker

log = structlog.get_logger(__name__)


async def drain_alerting_outbox(worker: Worker, outbox: Outbox) -> None:
    """Write what the alerting runtime puts in its outbox, in order, for as long as the worker runs."""
    while True:
        await write_one(worker, await outbox.get())


async def write_one(worker: Worker, parcel) -> None:
    """One item of the runtime's outbox; its receipt is settled once the record is sent or the state saved."""
    try:
        await write_for_alerting(worker, parcel.item)
    except Exception as exc:
        log.exception("alerting.outbox_write_failed", item=type(parcel.item).__name__)
        parcel.fail(exc)
    else:
        parcel.settle()


async def write_for_alerting(worker: Worker, item: Any) -> None:
    if isinstance(item, SaveState):
        if worker.owns_alerting:  # only the owner of the anomalies partition saves the alerting state
            await worker.snapshot_alerting()
    elif isinstance(item, Record):
        await write_record(worker, item)
    else:
        raise TypeError(f"the worker writes no {type(item).__name__} for alerting")


async def write_record(worker: Worker, record: Record) -> None:
    """A dead letter, audit or feedback record of alerting to its topic."""
    topics = worker.settings.topics
    if record.kind == "dead_letter":
        await worker.send_dead_letter(record.value, stage=record.stage)
    elif record.kind == "audit":
        await worker.audit_topic.send(value=record.value)
        worker.metrics.records_out(topics.audit)
    elif record.kind == "feedback":
        await worker.feedback_topic.send(key=record.key, value=record.value)
        worker.metrics.records_out(topics.feedback)
    else:
        raise ValueError(f"alerting asked to write a record of unknown kind {record.kind!r}")


async def route_feedback(worker: Worker, outbox: Outbox, records: list[Any]) -> None:
    """Feedback read from its topic: alerting remembers it, then it goes to the partition owning the series."""
    routing: FeedbackRouting = await outbox.ask(FeedbackRecords(records))
    for dead in routing.dead_letters:
        await write_record(worker, dead)
    by_partition: dict[int, list[dict[str, Any]]] = {}
    for record in routing.accepted:
        part = partition_for(record["series_id"], worker.settings.kafka.partitions)
        by_partition.setdefault(part, []).append({"control": "feedback", "record": record})
    for part, controls in by_partition.items():
        await worker.events_topic.send(value=encode_controls(controls), partition=part)
        worker.metrics.records_out(worker.settings.topics.events)


def apply_feedback_controls(controls: list[Any], engine) -> tuple[int, list[tuple[Any, str]]]:
    """Control items found on the events topic (feedback for series this worker owns).

    Returns the ``engine.feedback`` calls made and the items refused, each with its reason (an
    unknown series, a malformed record): those are the caller's dead letters, the others still apply.

    >>> apply_feedback_controls([{"control": "feedback", "record": {"series_id": "s"}}], engine=None)[1][0][1][:21]
    'feedback not applied:'
    """
    applied, refused = 0, []
    for item in controls:
        if not isinstance(item, dict) or item.get("control") != "feedback":
            continue
        try:
            applied += apply_feedback(FeedbackRecord.from_dict(item.get("record")), engine)
        except (InputError, TypeError, ValueError) as exc:
            refused.append((item, f"feedback not applied: {exc}"))
    if applied:
        log.info("feedback.applied", calls=applied)
    return applied, refused


def json_or_raw(value: Any) -> Any:
    """A record's JSON value, or the value itself when it is not JSON.

    >>> json_or_raw(b'{"a": 1}'), json_or_raw(b"not json")
    ({'a': 1}, b'not json')
    """
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
