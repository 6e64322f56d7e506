"""One severity vocabulary for every log: debug, info, notice, warning, error, critical.

Words from syslog, log4j/logback, Python, Go and Java loggers, single letters
(``E``, ``W``), syslog numbers 0-7 and pino/bunyan numbers 10-60 all map
onto it; anything unrecognised (or missing) counts as ``info``.

>>> [normalise_level(v) for v in ("WARN", "err", "FATAL", "E", 3, "7", 50, "Informational", None)]
['warning', 'error', 'critical', 'error', 'error', 'debug', 'error', 'info', 'info']
>>> syslog_level(13)  # facility user (1), severity notice (5)
'notice'
"""

from __future__ import annotations

LEVELS = ("debug", "info", "notice", "warning", "error", "critical")
DEFAULT_LEVEL = "info"

# index = syslog severity (RFC 5424 table 2)
_SYSLOG = ("critical", "critical", "critical", "error", "warning", "notice", "info", "debug")

_WORDS = {
    "debug": ("debug", "dbg", "d", "trace", "trc", "t", "verbose", "v", "finest", "finer", "fine", "all"),
    "info": ("info", "inf", "i", "information", "informational", "config", "log"),
    "notice": ("notice", "n", "note"),
    "warning": ("warning", "warn", "wrn", "w"),
    "error": ("error", "err", "e", "severe", "fail", "failure", "eror"),
    "critical": (
        "critical", "crit", "c", "fatal", "f", "ftl", "alert", "a", "emerg", "emergency",
        "panic", "dpanic", "p",
    ),
}
_BY_WORD = {word: level for level, words in _WORDS.items() for word in words}

# pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
_PINO = {10: "debug", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "critical"}


def syslog_level(pri: int) -> str:
    """The level of a syslog PRI value (facility * 8 + severity)."""
    return _SYSLOG[pri % 8]


def normalise_level(value: object) -> str:
    """One of ``LEVELS`` for a level given as a word, a letter or a number."""
    if isinstance(value, bool) or value is None:
        return DEFAULT_LEVEL
    if isinstance(value, (int, float)):
        return _numeric_level(value)
    if not isinstance(value, str):
        return DEFAULT_LEVEL
    word = value.strip().lower()
    level = _BY_WORD.get(word)
    if level is not None:
        return level
    if word.isdigit():
        return _numeric_level(int(word))
    for prefix, level in (("warn", "warning"), ("err", "error"), ("crit", "critical"), ("info", "info"), ("debug", "debug")):
        if word.startswith(prefix):
            return level
    return DEFAULT_LEVEL


def _numeric_level(number: float) -> str:
    if number != number:  # NaN
        return DEFAULT_LEVEL
    if 0 <= number <= 7 and number == int(number):
        return _SYSLOG[int(number)]
    if 10 <= number <= 60:
        return _PINO[min(_PINO, key=lambda k: abs(k - number))]
    return DEFAULT_LEVEL
