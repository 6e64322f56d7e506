"""One call per Kafka message: raw bytes in, events and rejects out, never an exception.

The format is the topic's (``ingest.formats``, see ``formats``); ``auto``, the
default, detects it per payload: JSON (one object, an array, Telegraf's
``{"metrics": [...]}``) or, line by line, newline-delimited JSON mixed with
line protocol (metrics) or syslog (logs). Every event then passes the
``IngestGuard``. A bad item gives one ``Reject`` and nothing else is lost; a
payload with nothing good gives one ``Reject`` holding the whole payload.

>>> from aiops.pipeline.normalise.guard import IngestGuard
>>> guard = IngestGuard()
>>> payload = b"cpu,host=a user=1.5 1700000000000000000\\ncpu,host=a user=abc\\n"
>>> r = normalise("metrics", payload, now=1_700_000_000.0, guard=guard)
>>> [(e.series_id, e.features) for e in r.events], [x.reason for x in r.rejects]
([('cpu|host=a', {'user': 1.5})], ["line 2: field value 'abc' is not a number"])
>>> normalise("metrics", b"\\x00garbage", now=1_700_000_000.0, guard=guard).rejects[0].reason
"not JSON, not line protocol: line 1: measurement '\\\\x00garbage' has no fields"
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any, Literal

import structlog

from aiops.detectors.core.errors import InputError
from aiops.detectors.core.shapes import Event, series_id_for
from aiops.pipeline.normalise.bounds import bounded, line_chars_always_within
from aiops.pipeline.normalise.guard import GuardReject, IngestGuard
from aiops.pipeline.normalise.levels import normalise_level
from aiops.pipeline.normalise.line_protocol import parse_plain, parse_series_line
from aiops.pipeline.normalise.log_json import log_record
from aiops.pipeline.normalise.metric_json import metric_record
from aiops.pipeline.normalise.plain_payload import PlainColumns, plain_columns
from aiops.pipeline.normalise.records import LogLine, MetricPoint
from aiops.pipeline.normalise.result import NormaliseResult, Reject
from aiops.pipeline.normalise.syslog import parse_syslog
from aiops.pipeline.normalise.timestamps import epoch_seconds, parse_time

__all__ = ["NormaliseResult", "Reject", "normalise"]

log = structlog.get_logger(__name__)

Kind = Literal["metrics", "logs"]
_TEXT_FORMAT = {"metrics": "line protocol", "logs": "syslog"}
#: First characters of a line that the plain line-protocol loop leaves to the general path (JSON, comment, BOM).
_NOT_PLAIN_START = frozenset("{#\ufeff")


def normalise(kind: Kind, payload: bytes, *, now: float, guard: IngestGuard) -> NormaliseResult:
    """Events, rejects and the skipped count of one raw message of ``kind``."""
    raw = _as_bytes(payload)
    if kind not in _TEXT_FORMAT:
        result = NormaliseResult(rejects=[Reject(f"unknown payload kind {kind!r}", raw)])
    else:
        try:
            result = _Normaliser(kind, now, guard, guard.formats.get(kind)).run(raw)
        except Exception as exc:  # the worker must survive any input; the reason goes to dead letters
            log.exception("normalise_failed", kind=kind, size=len(raw))
            result = NormaliseResult(rejects=[Reject(f"internal error: {type(exc).__name__}: {exc}", raw,
                                                     "internal")])
    for reject in result.rejects:  # the rejects handed on are the dead letters: one count each
        guard.count_reject(reject.reason_class)
    return result


class _Normaliser:
    """The state of one payload's normalisation."""

    def __init__(self, kind: str, now: float, guard: IngestGuard, chosen: tuple[str, Any] | None = None) -> None:
        self.kind = kind
        # the topic's input format, by name; None: detected per payload
        self.chosen_name, self.chosen = chosen if chosen is not None else ("", None)
        self.now = now
        self.guard = guard
        self.result = NormaliseResult()
        self.parse_rejects = 0
        self.items = 0
        self.to_event: Callable[[Any], Event] = (
            self._metric_json if kind == "metrics" else self._log_json
        )
        # logs: the process id and the occurrence within this payload tell genuine
        # repeats of a line (same second, same text) from replayed copies
        self.pid = ""
        self.occurrences: dict[tuple[str, float, str | None, str], int] = {}
        self.short_line = line_chars_always_within(guard.settings)  # a line protocol line this short: in bounds
        if self.chosen is not None:
            self.to_event = self._chosen_item if hasattr(self.chosen, "parse_item") else None  # type: ignore[assignment]

    def run(self, raw: bytes) -> NormaliseResult:
        start = _first_non_space(raw)
        if start is None:
            self.result.skipped += 1
            return self.result
        json_items = self.to_event is not None
        whole = self._whole_json(raw) if json_items and raw[start] in b"{[" else None
        if whole is not None:
            self._json_items(whole)
            return self._collapse(raw, "")
        self._lines(raw)
        if self.chosen is not None:
            return self._collapse(raw, f"not {self.chosen_name}: ")
        return self._collapse(raw, f"not JSON, not {_TEXT_FORMAT[self.kind]}: ")

    # -- the two payload shapes ------------------------------------------------

    def _whole_json(self, raw: bytes) -> Any:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if self.kind == "metrics" and isinstance(data, dict) and isinstance(data.get("metrics"), list):
            return data["metrics"]
        return data

    def _json_items(self, data: Any) -> None:
        items = data if isinstance(data, list) else [data]
        single = not isinstance(data, list)
        for index, item in enumerate(items, 1):
            self.items += 1
            try:
                event = self.to_event(item)
                refusal = self._admit(event)
            except (InputError, RecursionError, ValueError) as exc:
                self._parse_reject(f"{'' if single else f'item {index}: '}{exc}", _item_bytes(item))
                continue
            if refusal is not None:
                where = "" if single else f"item {index}: "
                self.result.rejects.append(Reject(f"{where}{refusal}", _item_bytes(item), refusal.reason_class))

    def _lines(self, raw: bytes) -> None:
        if self.kind == "metrics" and self.chosen is None:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                self._plain_lines(text)
                return
        for number, line, line_bytes in _decoded_lines(raw, strict=self.kind == "metrics"):
            self._line(number, line, line_bytes)

    def _plain_lines(self, text: str) -> None:
        """The lines of a metrics payload that is UTF-8 text, the format detected per line.

        A plain line-protocol line (no escapes, no strings, short enough to be within bounds, see
        ``line_chars_always_within``) is parsed, admitted and made an event here, in one loop: a worker reads
        millions of them a second. Any other line, and a plain one that does not parse, goes through ``_line``,
        which gives it exactly what the general path gives (the same event, reject or skip).
        """
        short = self.short_line
        now = self.now
        admit = self.guard.admit_values
        result = self.result
        events = result.events
        columns = plain_columns(text, short)
        if columns is not None:  # every line plain: read at once
            self._plain_payload(text, columns)
            return
        for number, line in enumerate(text.split("\n"), 1):
            stripped = line.strip()
            if not stripped or len(stripped) > short or stripped[0] in _NOT_PLAIN_START or "\\" in stripped \
                    or '"' in stripped:
                self._line(number, line, None)
                continue
            try:
                parsed = parse_plain(stripped)
                time = now if parsed is None or parsed[4] is None else epoch_seconds(parsed[4])
            except InputError:
                parsed = None
            if parsed is None:
                self._line(number, line, None)
                continue
            series_id, _, tags, fields, _ = parsed
            self.items += 1
            try:
                keep = admit(series_id, time, fields, now)
            except GuardReject as refusal:
                result.rejects.append(Reject(f"line {number}: {refusal}", _fragment(line, None), refusal.reason_class))
                continue
            if keep:
                events.append(Event("metric", series_id, tags, time, fields, ingest_time=now))
            else:
                result.skipped += 1

    def _plain_payload(self, text: str, columns: PlainColumns) -> None:
        """A plain payload's events, admitted at once when the guard refuses none, else one by one in order."""
        now = self.now
        ids, labels, times, features = columns.series_ids, columns.labels, columns.times, columns.features
        self.items += len(ids)
        if self.guard.admit_all(ids, times, features, columns.pairs, now):
            self.result.events.extend(map(Event, repeat("metric"), ids, labels, times, features, repeat(None),
                                          repeat(None), repeat(None), repeat(None), repeat(None), repeat(now)))
            return
        admit = self.guard.admit_values
        result = self.result
        lines: list[str] = []  # the payload's lines, cut once a refusal needs its line
        for number, (series_id, tags, time, fields) in enumerate(zip(ids, labels, times, features), 1):
            try:
                keep = admit(series_id, time, fields, now)
            except GuardReject as refusal:
                lines = lines or text.split("\n")
                result.rejects.append(Reject(f"line {number}: {refusal}", _fragment(lines[number - 1], None),
                                             refusal.reason_class))
                continue
            if keep:
                result.events.append(Event("metric", series_id, tags, time, fields, ingest_time=now))
            else:
                result.skipped += 1

    def _line(self, number: int, line: str | None, line_bytes: bytes | None) -> None:
        """One line of a text payload (``line`` None: not UTF-8), whatever its format."""
        if line is None:
            self.items += 1
            bad = line_bytes or b""
            self._parse_reject(f"line {number}: {_utf8_problem(bad)}", bad)
            return
        from_text = self._line_protocol if self.kind == "metrics" else self._syslog
        sniff_json = self.chosen is None
        if not sniff_json:
            from_text = self._chosen_line
        comments = self.kind == "metrics"
        line_protocol = from_text == self._line_protocol
        text = line.strip()
        if text and text[0] == "\ufeff":
            text = text.lstrip("\ufeff")
        if not text or (comments and text[0] == "#"):
            return
        self.items += 1
        try:
            if sniff_json and text[0] == "{":
                event = self.to_event(_json_line(text))
                refusal = self._admit(event)
            else:
                event = from_text(text)
                refusal = self._admit(event, in_bounds=line_protocol and len(text) <= self.short_line)
        except (InputError, RecursionError, ValueError) as exc:
            self._parse_reject(f"line {number}: {exc}", _fragment(line, line_bytes))
            return
        if refusal is not None:
            self.result.rejects.append(Reject(f"line {number}: {refusal}", _fragment(line, line_bytes),
                                              refusal.reason_class))

    def _collapse(self, raw: bytes, prefix: str) -> NormaliseResult:
        """A payload with nothing good becomes one reject holding the whole payload."""
        result = self.result
        if self.items == 0 and not result.rejects:
            result.skipped += 1  # blank lines and comments only
        elif not result.events and not result.skipped and result.rejects:
            first = result.rejects[0].reason
            more = len(result.rejects) - 1
            parse_only = self.parse_rejects == len(result.rejects)
            reason = (prefix if parse_only else "") + first + (f" (and {more} more bad items)" if more else "")
            result.rejects = [Reject(reason, raw, result.rejects[0].reason_class)]
        return result

    # -- per item --------------------------------------------------------------

    def _admit(self, event: Event, *, in_bounds: bool = False) -> GuardReject | None:
        """Bound the event, then pass it through the guard; the refusal, if any, is returned, not raised.

        ``InputError`` from ``bounded``: an event too large even once cut. ``in_bounds``: the event is known to
        be one ``bounded`` leaves as it is (a short line protocol line, see ``line_chars_always_within``).
        """
        if not in_bounds:
            event = bounded(event, self.guard.settings)
        distinct = None
        if event.source == "log":
            seen = (event.series_id, event.time, event.message, self.pid)
            count = self.occurrences.get(seen, 0)
            self.occurrences[seen] = count + 1
            distinct = (self.pid, count) if (self.pid or count) else None
        try:
            keep = self.guard.admit(event, now=self.now, distinct=distinct)
        except GuardReject as exc:
            return exc
        if keep:
            self.result.events.append(event)
        else:
            self.result.skipped += 1
        return None

    def _parse_reject(self, reason: str, fragment: bytes) -> None:
        self.parse_rejects += 1
        self.result.rejects.append(Reject(reason, fragment))

    def _chosen_line(self, text: str) -> Event:
        return self._record_event(self.chosen.parse_line(text, now=self.now, zone=self.guard.zone))

    def _chosen_item(self, item: Any) -> Event:
        return self._record_event(self.chosen.parse_item(item))

    def _record_event(self, record: MetricPoint | LogLine) -> Event:
        """The event of what a chosen format read (its time: now when it has none)."""
        time = self.now if record.time is None else parse_time(record.time, self.guard.zone)
        if isinstance(record, MetricPoint):
            if not record.features:
                raise InputError(f"metric {record.name!r} has no numeric field")
            features = {k: float(v) for k, v in record.features.items()}
            return Event("metric", _series_id(record.name, record.labels), dict(record.labels), time, features,
                         ingest_time=self.now)
        if isinstance(record, LogLine):
            self.pid = record.pid
            return _log_event(record.host, record.service, normalise_level(record.level), time, record.message,
                              self.now)
        raise InputError(f"input format {self.chosen_name} gave {type(record).__name__}, not a record")

    def _line_protocol(self, text: str) -> Event:
        series_id, _, tags, fields, stamp = parse_series_line(text)
        time = self.now if stamp is None else epoch_seconds(stamp)
        return Event("metric", series_id, tags, time, fields, ingest_time=self.now)

    def _metric_json(self, item: Any) -> Event:
        name, labels, features, stamp = metric_record(item)
        time = self.now if stamp is None else parse_time(stamp, self.guard.zone)
        return Event("metric", _series_id(name, labels), labels, time, features, ingest_time=self.now)

    def _syslog(self, text: str) -> Event:
        record = parse_syslog(text, now=self.now, zone=self.guard.zone)
        self.pid = record.pid
        return _log_event(record.host, record.service, record.level, record.time, record.message, self.now)

    def _log_json(self, item: Any) -> Event:
        record = log_record(item)
        self.pid = record.pid
        time = self.now if record.time is None else parse_time(record.time, self.guard.zone)
        return _log_event(record.host, record.service, record.level, time, record.message, self.now)


_SERIES_CACHE_SIZE = 50_000
_SERIES_IDS: dict[tuple[str, ...], str] = {}


def _series_id(name: str, labels: dict[str, str]) -> str:
    """``series_id_for``, memoised per name and labels in their given order (bounded)."""
    key = (name, *labels.keys(), *labels.values())
    found = _SERIES_IDS.get(key)
    if found is None:
        if len(_SERIES_IDS) >= _SERIES_CACHE_SIZE:
            _SERIES_IDS.clear()
        found = _SERIES_IDS[key] = series_id_for(name, labels)
    return found


def _log_event(host: str, service: str, level: str, time: float, message: str, now: float) -> Event:
    labels = {k: v for k, v in (("host", host), ("service", service)) if v}
    return Event(
        "log", _series_id("log", labels), labels, time, {},
        message=message, level=level, ingest_time=now,
    )


def _json_line(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (column {exc.colno})") from None


def _decoded_lines(raw: bytes, *, strict: bool) -> Iterator[tuple[int, str | None, bytes | None]]:
    """Line number, text (None: not UTF-8) and original bytes (None: the text encodes back to them).

    The whole payload is decoded at once when it is valid UTF-8 (the common
    case); otherwise line by line, so one bad line spoils only itself. Log
    lines that are not UTF-8 are kept with replacement characters.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        for number, line in enumerate(text.split("\n"), 1):
            yield number, line, None
        return
    for number, line_bytes in enumerate(raw.split(b"\n"), 1):
        if line_bytes.endswith(b"\r"):
            line_bytes = line_bytes[:-1]
        try:
            line = line_bytes.decode("utf-8", "strict" if strict else "replace")
        except UnicodeDecodeError:
            line = None
        yield number, line, line_bytes


def _fragment(text: str | None, line_bytes: bytes | None) -> bytes:
    if line_bytes is not None:
        return line_bytes
    return (text[:-1] if text and text.endswith("\r") else text or "").encode("utf-8")


def _utf8_problem(line_bytes: bytes) -> str:
    try:
        line_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    return "not UTF-8 text"


def _first_non_space(raw: bytes) -> int | None:
    stripped = raw.lstrip(b" \t\r\n\x0b\x0c")
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].lstrip(b" \t\r\n\x0b\x0c")
    if not stripped:
        return None
    return len(raw) - len(stripped)


def _item_bytes(item: Any) -> bytes:
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (ValueError, TypeError, RecursionError):
        return repr(item).encode("utf-8", "backslashreplace")


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogatepass")
    return repr(payload).encode("utf-8", "backslashreplace")
