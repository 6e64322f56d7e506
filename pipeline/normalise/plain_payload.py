r"""A whole payload of plain line protocol read column by column: what a metrics shipper sends nearly always.

A plain payload is printable ASCII; each of its lines is ``head field=value timestamp`` with one field, no
escapes, quotes, comments, blank lines or spaces beyond the two separators, a decimal field value and a
timestamp in nanoseconds, and is no longer than the lines the normaliser knows to be within bounds. Whole-
payload string operations (split, join, translate, map) check and cut it at C speed; ``plain_columns`` gives
for every line what the line-by-line parser (``line_protocol.parse_series_line``, then
``timestamps.epoch_seconds``) gives, or None when any line is not plain: that payload is then read line by
line (the same results, only slower).

>>> cols = plain_columns("cpu,host=a u=1.5 1700000000000000000\nmem,host=a used=7 1700000000500000000\n", 1024)
>>> cols.series_ids, cols.labels, cols.times, cols.features
(['cpu|host=a', 'mem|host=a'], [{'host': 'a'}, {'host': 'a'}], [1700000000.0, 1700000000.5], [{'u': 1.5}, {'used': 7.0}])
>>> [plain_columns(text, 1024) for text in ("cpu u=1", "cpu u=1 1700000000", "cpu u=1i 1700000000000000000",
...                                         "cpu u=1,s=2 1700000000000000000", "#cpu u=1 1700000000000000000")]
[None, None, None, None, None]
>>> plain_columns("cpu u=inf 1700000000000000000", 1024), plain_columns("cpu u=1 1700000000000000000", 10)
(None, None)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from aiops.pipeline.normalise.line_protocol import plain_heads

_NANOS_FROM = 10**17  # ``epoch_seconds`` reads integers from here ...
_NANOS_BELOW = 10**20  # ... up to here as nanoseconds
#: What a plain field value may hold (``float`` also reads "inf", "nan", "1_0" and spaces: the line parser
#: does not).
_NUMBER_CHARS = str.maketrans("", "", "0123456789.eE+-")
_FIRST = itemgetter(0)
_TAGS = itemgetter(2)


@dataclass(slots=True)
class PlainColumns:
    """The lines of a plain payload, column by column (``pairs``: each line's fields as ``tuple(items())``)."""

    series_ids: list[str]
    labels: list[dict[str, str]]
    times: list[float]
    features: list[dict[str, float]]
    pairs: list[tuple[tuple[str, float], ...]]


def plain_columns(text: str, max_chars: int) -> PlainColumns | None:
    """The columns of ``text`` (a trailing newline ends the last line); None unless every line is plain."""
    body = text[:-1] if text.endswith("\n") else text
    first = body.partition("\n")[0].split(" ")
    if len(first) != 3 or "," in first[1]:  # a payload's lines are mostly alike: not plain, as the first shows
        return None
    lines = body.split("\n")
    n = len(lines)
    flat = body.replace("\n", " ")
    if (not flat.isascii() or not flat.isprintable() or "\\" in flat or '"' in flat or body[:1] in ("#", "{")
            or "\n#" in body or "\n{" in body or max(map(len, lines)) > max_chars
            or list(map(str.count, lines, repeat(" "))).count(2) != n):
        return None
    parts = flat.split(" ")
    heads, bodies, stamps = parts[0::3], parts[1::3], parts[2::3]
    found = plain_heads(heads)
    if found is None or "" in heads or "," in " ".join(bodies):
        return None
    pairs = "=".join(bodies).split("=")
    if len(pairs) != 2 * n or list(map(str.count, bodies, repeat("="))).count(1) != n:
        return None
    keys, raws = pairs[0::2], pairs[1::2]
    if "" in keys or "" in raws or "".join(raws).translate(_NUMBER_CHARS):
        return None
    joined = "".join(stamps)
    if "" in stamps or not joined.isdigit():
        return None
    try:
        values = list(map(float, raws))
    except ValueError:  # "1e", "1.2.3", "."
        return None
    nanos = list(map(int, stamps))
    if min(nanos) < _NANOS_FROM or max(nanos) >= _NANOS_BELOW:
        return None
    times = [whole + rest / 1e9 for whole, rest in map(divmod, nanos, repeat(1_000_000_000))]
    items = list(zip(zip(keys, values)))
    return PlainColumns(list(map(_FIRST, found)), list(map(dict, map(_TAGS, found))), times,
                        list(map(dict, items)), items)

