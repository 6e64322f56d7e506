"""Child processes that stop with their parent: each leads its own process group, stopped as a whole.

A child started by :func:`start_group` leads a new session, so a Ctrl-C at the
terminal reaches only the parent, which decides how its children stop.
:func:`stop_group` sends SIGTERM to the child's whole group (its own
children included), waits, then sends SIGKILL to whatever is left.

>>> import sys
>>> proc = start_group([sys.executable, "-c", "import time; time.sleep(60)"])
>>> group_alive(proc.pid)
True
>>> stop_group(proc, grace_s=5)
>>> group_alive(proc.pid), proc.returncode == -signal.SIGTERM
(False, True)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, Sequence


def start_group(argv: Sequence[str], **popen: Any) -> subprocess.Popen:
    """``subprocess.Popen(argv, **popen)`` as the leader of a new session and process group."""
    return subprocess.Popen(list(argv), start_new_session=True, **popen)


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the id: ours are gone
        return False
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the group ``proc`` leads (its own children included), if it still runs; returns at once."""
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)


def reap_group(proc: subprocess.Popen, *, deadline: float) -> None:
    """Wait for the group until ``deadline`` (``time.monotonic()``), SIGKILL what is left, reap ``proc``.

    Processes of the group that outlive their leader (its own children) are waited for too.
    """
    pgid = proc.pid
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    _signal_group(pgid, signal.SIGKILL)
    proc.wait(timeout=5)


def stop_group(proc: subprocess.Popen, *, grace_s: float) -> None:
    """SIGTERM to the group ``proc`` leads; SIGKILL to what is left after ``grace_s``; ``proc`` reaped."""
    terminate_group(proc)
    reap_group(proc, deadline=time.monotonic() + grace_s)
