"""Times the command line writes are ISO 8601 UTC: the backtest scores file and the model listing."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import datetime, timezone

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$")


def aiops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aiops.pipeline.cli", *args], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_scores_file_times_are_iso_and_the_input_stamps_kept(tmp_path):
    """`time` is each row's instant in ISO 8601 UTC; `timestamp` stays as the file wrote it (epoch or local form)."""
    rows = ["datetime;value;anomaly"]
    first = datetime(2020, 3, 9, 10, 14, 33, tzinfo=timezone.utc)
    for i in range(300):
        stamp = first.timestamp() + i
        text = datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if i % 2 else f"{stamp:.0f}"
        rows.append(f"{text};{10 + (i % 7) * 0.1:.2f};0")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(rows) + "\n")
    done = aiops("backtest", str(path), "--output-dir", str(tmp_path / "out"), "--no-plot")
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "out" / "mixed.scores.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["timestamp"] for r in table] == [line.split(";")[0] for line in rows[1:]]
    assert all(ISO_UTC.match(r["time"]) for r in table), table[:2]
    assert table[0]["time"] == "2020-03-09T10:14:33Z" and table[1]["time"] == "2020-03-09T10:14:34Z"
    assert [datetime.fromisoformat(r["time"]).timestamp() for r in table] == \
        [first.timestamp() + i for i in range(300)]


def test_model_listing_shows_its_data_range_as_an_iso_interval(tmp_path):
    """`aiops models list`: the data range is start/end in ISO 8601 UTC, the creation time too."""
    data = tmp_path / "h.csv"
    data.write_text("timestamp,cpu\n" + "".join(f"{1_700_000_000 + 60 * i},{i % 5}\n" for i in range(60)))
    done = aiops("train", "--data", str(data), "--out", str(tmp_path / "ckpt"), "--epochs", "1", "--window", "4",
                 "--hidden", "4", "--latent", "2", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    listing = aiops("models", "list", "--dir", str(tmp_path / "ckpt"))
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    start, end = row[5].split("/")
    assert (start, end) == ("2023-11-14T22:13Z", "2023-11-14T23:12Z")
    assert datetime.fromisoformat(row[7]).utcoffset().total_seconds() == 0  # created_at
