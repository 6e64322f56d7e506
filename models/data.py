"""Training data: CSV history files into arrays, arrays into standardised windows.

>>> import numpy as np
>>> values = np.arange(10.0).reshape(5, 2)
>>> scaler = Scaler.fit(values)
>>> sliding_windows(scaler.transform(values), 3).shape
(3, 3, 2)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from aiops.detectors.core.errors import InputError

TIME_COLUMNS = ("datetime", "timestamp", "time", "ts", "date")
STD_FLOOR = 1e-6


class HistoryFileError(InputError):
    """A history file cannot be read as a table of numeric features."""


@dataclass(slots=True)
class Scaler:
    """Per-feature mean and standard deviation (with a floor, so constants do not divide by zero)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        return cls(values.mean(axis=0), np.maximum(values.std(axis=0), STD_FLOOR))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std


@dataclass(slots=True)
class History:
    """One history file: its times (seconds since the epoch, UTC; NaN if none) and values (T, F)."""

    path: str
    features: list[str]
    times: np.ndarray
    values: np.ndarray


def sliding_windows(values: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """Every window of ``window`` consecutive rows, as a (n, window, F) float32 array (a copy)."""
    if values.ndim != 2:
        raise InputError(f"expected a (time, feature) array, got shape {values.shape}")
    if len(values) < window:
        return np.empty((0, window, values.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (n, F, W)
    return np.ascontiguousarray(view[::stride].transpose(0, 2, 1), dtype=np.float32)


def parse_time(text: str) -> float:
    """Seconds since the epoch from a number or an ISO-like date (naive dates are UTC).

    >>> parse_time("2020-02-08 13:30:47")
    1581168647.0
    >>> parse_time("1581168647.5")
    1581168647.5
    """
    try:
        return float(text)
    except ValueError:
        pass
    stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def read_history(path: str | Path, features: Sequence[str] | None = None) -> History:
    """Read a CSV (``,`` or ``;`` separated) with a header; numeric columns become features.

    A column named like a time (``datetime``, ``timestamp``...) gives the times;
    label columns (``anomaly``, ``changepoint``) are never features unless asked for.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise HistoryFileError(f"cannot read {path}: {exc.strerror}") from exc
    lines = text.splitlines()
    if len(lines) < 2:
        raise HistoryFileError(f"{path}: needs a header and at least one row")
    sep = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=sep))
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if r]
    time_col = next((i for i, h in enumerate(header) if h.lower() in TIME_COLUMNS), None)
    if features is None:
        wanted = [h for i, h in enumerate(header) if i != time_col and h.lower() not in ("anomaly", "changepoint")]
    else:
        missing = [f for f in features if f not in header]
        if missing:
            raise HistoryFileError(f"{path}: no column(s) {missing}; columns are {header}")
        wanted = list(features)
    cols = [header.index(f) for f in wanted]
    try:
        values = np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise HistoryFileError(f"{path}: non-numeric or missing value in a feature column ({exc})") from None
    if not np.isfinite(values).all():
        raise HistoryFileError(f"{path}: NaN or infinite values in feature columns")
    if time_col is None:
        times = np.full(len(body), np.nan)
    else:
        try:
            times = np.array([parse_time(r[time_col]) for r in body])
        except (ValueError, IndexError) as exc:
            raise HistoryFileError(f"{path}: bad time value ({exc})") from None
    return History(str(path), wanted, times, values)
