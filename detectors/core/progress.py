"""Progress of long work: a bar on stderr when it is a terminal, nothing otherwise; a log line for a daemon.

Commands wrap their long loops in :func:`progress_bar` and tell the :class:`Bar`
it yields the amount done (and the total, once known). The bar (rich) is drawn
on stderr only, so stdout keeps the results alone, and only when stderr is a
terminal: piped, redirected or in CI nothing of it is written. It is erased
when the work is done.

>>> import io
>>> quiet = io.StringIO()
>>> with progress_bar("scoring", stream=quiet) as bar:
...     bar.set_total(3)
...     bar.advance(2)
...     bar.advance()
>>> quiet.getvalue()
''

A worker has no terminal: :class:`ProgressLog` logs how far a long job is, at
most once per ``every_s`` seconds (a short job logs nothing).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Iterator, TextIO


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (a bar there is seen, not stored)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Bar:
    """What a command tells its bar; without a terminal it is told and shows nothing."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress, self._task = progress, task

    def advance(self, amount: float = 1) -> None:
        """``amount`` more done."""
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def set_total(self, total: float) -> None:
        """The whole amount, once known."""
        if self._progress is not None:
            self._progress.update(self._task, total=total)


@contextmanager
def progress_bar(description: str, total: float | None = None, *, unit: str = "rows",
                 stream: TextIO | None = None) -> Iterator[Bar]:
    """A :class:`Bar` of ``total`` (None: not known yet) drawn on ``stream`` (stderr) when it is a terminal."""
    stream = sys.stderr if stream is None else stream
    if not is_terminal(stream):
        yield Bar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
                   TimeElapsedColumn(), TimeRemainingColumn(),
                   console=Console(file=stream), transient=True,
                   redirect_stdout=False, redirect_stderr=False)  # stdout stays the results', untouched
    with bar:
        yield Bar(bar, bar.add_task(description, total=total))


class ProgressLog:
    """How far a long job is, logged at most once per ``every_s`` seconds.

    ``log`` is a structlog-style logger; each line carries ``done``, ``total`` and
    the share done in percent.

    >>> from structlog.testing import capture_logs
    >>> import structlog
    >>> with capture_logs() as lines:
    ...     job = ProgressLog(structlog.get_logger(), "state.restoring", 200, every_s=0.0, partitions=2)
    ...     job.advance(50)
    >>> lines
    [{'done': 50, 'total': 200, 'percent': 25.0, 'partitions': 2, 'event': 'state.restoring', 'log_level': 'info'}]
    """

    def __init__(self, log: Any, event: str, total: float, *, every_s: float = 2.0, **fields: Any) -> None:
        self.log, self.event, self.total, self.every_s, self.fields = log, event, total, every_s, fields
        self.done_so_far = 0.0
        self._last = time.monotonic()

    def advance(self, amount: float = 1) -> None:
        self.done_so_far += amount
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._emit()

    def _emit(self) -> None:
        share = 100.0 * self.done_so_far / self.total if self.total else 100.0
        self.log.info(self.event, done=int(self.done_so_far), total=int(self.total), percent=round(share, 1),
                      **self.fields)
