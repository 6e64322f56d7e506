"""Where a generator run is: the last event time it sent and how many incidents it placed.

``aiops generate --checkpoint FILE`` writes it as it goes (atomically, about
once a second) and reads it back when it starts again: the restarted run
goes on after the last event time sent (sending the gap since, at most
``--history`` seconds of it, as clean catch-up traffic) instead of sending
its clean history again, and numbers its incidents after the last one, so
the ground truth file it appends to keeps unique ids.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.json"
>>> read_checkpoint(path) is None
True
>>> write_checkpoint(path, Checkpoint(last_time=1_700_000_010.0, incidents=3, seed=0))
>>> read_checkpoint(path)
Checkpoint(last_time=1700000010.0, incidents=3, seed=0)
>>> _ = path.write_text('{"last_time": "soon"}')
>>> read_checkpoint(path)
Traceback (most recent call last):
...
aiops.detectors.core.errors.InputError: generator checkpoint ...checkpoint.json is unreadable: ...
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from aiops.detectors.core.errors import InputError


@dataclass(frozen=True, slots=True)
class Checkpoint:
    last_time: float  # event time (epoch seconds) of the last tick sent
    incidents: int  # incidents placed so far: the next one is numbered after these
    seed: int  # the seed of the run that wrote it (incident ids carry it)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint | None:
    """The checkpoint in ``path``; None when there is none yet; ``InputError`` when it cannot be used."""
    target = Path(path)
    try:
        text = target.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"generator checkpoint {target} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
        checkpoint = Checkpoint(last_time=float(data["last_time"]), incidents=int(data["incidents"]),
                                seed=int(data["seed"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"generator checkpoint {target} is unreadable: {type(exc).__name__}: {exc} "
                         "(remove it to start afresh)") from None
    if not math.isfinite(checkpoint.last_time) or checkpoint.incidents < 0:
        raise InputError(f"generator checkpoint {target} is unreadable: out-of-range values "
                         "(remove it to start afresh)")
    return checkpoint


def write_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Replace the checkpoint atomically (a crash leaves the old one or the new one, never half of one)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(asdict(checkpoint)))
    tmp.replace(target)
