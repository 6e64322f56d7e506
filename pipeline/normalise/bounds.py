"""Bounds on one normalised event, so that no record the pipeline writes outgrows Kafka's limits.

Label values and log messages longer than the limits are cut, with a marker
that says how long they were; the series id is rebuilt from the cut labels.
An event still larger than ``max_event_bytes`` (huge names, thousands of
features) is refused with the reason: it becomes a dead letter.

>>> from aiops.pipeline.config import IngestSettings
>>> limits = IngestSettings(max_label_chars=16)
>>> e = Event("metric", series_id_for("cpu", {"host": "h" * 600_000}), {"host": "h" * 600_000}, 1.0, {"u": 1.0})
>>> short = bounded(e, limits)
>>> short.labels["host"]
'hhhhhhhhhhhhhhhh…[cut, 600000 chars]'
>>> short.series_id == series_id_for("cpu", short.labels)
True
>>> bounded(Event("metric", "cpu", {}, 1.0, {"f" * 70_000: 1.0}), limits)
Traceback (most recent call last):
...
aiops.detectors.core.errors.InputError: event of series 'cpu' is about 70163 bytes, over ingest.max_event_bytes 65536
"""

from __future__ import annotations

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for
from aiops.pipeline.config import IngestSettings

#: Bytes counted per feature beside its name (the number and the JSON around it).
_FEATURE_OVERHEAD = 32


def cut(text: str, limit: int) -> str:
    """``text`` itself, or its first ``limit`` characters and a marker with the full length.

    >>> cut("abcdef", 3), cut("abc", 3)
    ('abc…[cut, 6 chars]', 'abc')
    """
    return text if len(text) <= limit else f"{text[:limit]}…[cut, {len(text)} chars]"


def bounded(event: Event, limits: IngestSettings) -> Event:
    """The event with long label values and message cut; ``InputError`` when it is still too large."""
    label_limit = limits.max_label_chars
    if event.labels and max(map(len, event.labels.values())) > label_limit:
        name = _series_name(event)
        event.labels = {k: cut(v, label_limit) for k, v in event.labels.items()}
        event.series_id = series_id_for(name, event.labels)
    if event.message is not None and len(event.message) > limits.max_message_chars:
        event.message = cut(event.message, limits.max_message_chars)
    size = _size(event)
    if size > limits.max_event_bytes:
        raise InputError(f"event of series {event.series_id[:120]!r} is about {size} bytes, "
                         f"over ingest.max_event_bytes {limits.max_event_bytes}")
    return event


def line_chars_always_within(limits: IngestSettings) -> int:
    """The longest line-protocol line whose event ``bounded`` can neither cut nor refuse.

    Every label value of such an event is a piece of the line, so none is longer than the line; and ``_size``
    of it is at most ``128 + 11 * (chars + 1)``: its series id is at most as long as the head of the line
    (``name,k=v...``), its labels count at most twice the head (a tag of ``a`` characters adds ``a + 2`` to
    the head and at most ``a + 6`` to the size, ``a >= 2``), and each field (at least ``k=v`` and a comma)
    adds at most eleven times its characters. The worker normalises millions of such lines a second: they
    skip ``bounded`` (see ``aiops.pipeline.normalise.dispatch``).

    >>> line_chars_always_within(IngestSettings()), line_chars_always_within(IngestSettings(max_label_chars=16))
    (1024, 16)
    >>> line_chars_always_within(IngestSettings(max_event_bytes=1024, max_label_chars=4096))
    80
    """
    return max(0, min(limits.max_label_chars, (limits.max_event_bytes - 128) // 11 - 1))


def _series_name(event: Event) -> str:
    """The name the series id was built from (the id is the name, ``|``, then the labels)."""
    tags = series_id_for("", event.labels)
    if tags and event.series_id.endswith(tags):
        return event.series_id[: len(event.series_id) - len(tags)]
    return event.series_id.partition("|")[0]


def _size(event: Event) -> int:
    """A cheap upper estimate of the event's JSON size (whole-column sums: this runs for every event).

    >>> _size(Event("metric", "cpu|host=a", {"host": "a"}, 1.0, {"user": 1.0, "sys": 2.0}))
    220
    """
    labels, features = event.labels, event.features
    return (128 + len(event.series_id) + len(event.message or "")
            + sum(map(len, labels)) + sum(map(len, labels.values())) + 6 * len(labels)
            + sum(map(len, features)) + _FEATURE_OVERHEAD * len(features))
