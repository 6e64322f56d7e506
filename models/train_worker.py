"""Training in a child process, so that a training never competes with scoring for the GIL.

A ``TrainingWorker`` owns one child process, started with the ``spawn`` method
on first use; torch runs on one thread there, at a lower priority than
scoring (``CHILD_NICENESS``), and jobs train one at a time, in the order they
came. A job's inputs (the windows, the settings, the model to
fine-tune, where to save the result) and its result (the fitted weights, the
residual sigma, the validation error) pass through files in the worker's own
temporary folder, and the pipe carries only the job's folder: ``submit`` never
waits for the child, however many windows there are. ``poll`` collects what
finished without waiting, so a caller checks it between two steps.

A child that dies (killed, out of memory) fails its jobs with
``TrainingFailed``, and the next ``submit`` starts a new one. ``close`` stops
the child and reaps it. Every bank of a process shares one worker
(``acquire_shared_worker`` / ``release_shared_worker``); it is closed when the
last bank lets it go, or at exit.

The child's side is ``run_job``, which also runs here, on a folder written by
``write_job``:

>>> import tempfile
>>> import numpy as np
>>> from structlog.testing import capture_logs
>>> from aiops.models.config import LSTMAEConfig
>>> from aiops.models.data import sliding_windows
>>> folder = Path(tempfile.mkdtemp()) / "job-1"
>>> windows = sliding_windows(np.sin(np.arange(100) / 8.0)[:, None], 8)
>>> write_job(folder, windows, LSTMAEConfig(window=8, hidden=4, latent=2, epochs=1, device="cpu"))
>>> with capture_logs():
...     run_job(folder)
>>> outcome = read_outcome(folder)
>>> outcome.pid == os.getpid(), outcome.n_windows, outcome.model().window, outcome.residual_std.shape
(True, 93, 8, (1,))
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from aiops.detectors.core.errors import AiopsError
from aiops.models.config import LSTMAEConfig
from aiops.models.device import select_device
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry
from aiops.models.train import fit_windows

log = structlog.get_logger(__name__)

# Below the scoring process's priority: on a busy machine, the cores go to scoring first, and training takes the
# rest (a model an hour late is better than a stream an hour behind).
CHILD_NICENESS = 10
JOB_FILE = "job.pt"
RESULT_FILE = "result.pt"


class TrainingFailed(AiopsError):
    """A training did not produce a model: it raised in the child, or the child died."""


@dataclass(slots=True)
class SavePlan:
    """Where the child writes the model it trained: a checkpoint registry and the metadata of the new version."""

    dir: str
    meta: dict[str, Any]


@dataclass(slots=True)
class TrainingOutcome:
    """What a training in the child returned: the fitted weights and what validation said about them."""

    state: dict[str, torch.Tensor]
    architecture: dict[str, int]
    val_error: float
    residual_std: np.ndarray
    epochs_run: int
    n_windows: int
    seconds: float
    pid: int
    saved_version: int | None
    save_error: str | None

    def model(self) -> LSTMAutoencoder:
        """The trained model, on the CPU, in eval mode."""
        model = LSTMAutoencoder(**self.architecture)
        model.load_state_dict(self.state)
        return model.eval()


# -- the job files, both sides ----------------------------------------------------------------


def write_job(folder: Path, windows: np.ndarray, config: LSTMAEConfig, *, init: LSTMAutoencoder | None = None,
              save: SavePlan | None = None) -> None:
    """Write one job's inputs into ``folder`` (created): the windows, settings, starting model, save plan."""
    folder.mkdir(parents=True)
    job = {
        "windows": torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)),
        "config": config.model_dump(mode="json"),
        "init_architecture": init.architecture() if init is not None else None,
        "init_state": {k: v.detach().cpu() for k, v in init.state_dict().items()} if init is not None else None,
        "save_dir": save.dir if save is not None else None,
        "save_meta": save.meta if save is not None else None,
    }
    torch.save(job, folder / JOB_FILE)


def run_job(folder: Path) -> None:
    """Train the job in ``folder``, save the model where it says, and write the result next to the job."""
    job = torch.load(folder / JOB_FILE, weights_only=True)
    config = LSTMAEConfig.model_validate(job["config"])
    windows = job["windows"].numpy()
    init = None
    if job["init_state"] is not None:
        init = LSTMAutoencoder(**job["init_architecture"])
        init.load_state_dict(job["init_state"])
    result = fit_windows(windows, config, init=init, device=select_device(config.device))
    saved_version, save_error = None, None
    if job["save_dir"] is not None:
        meta = {**job["save_meta"], "val_error": result.val_error, "residual_std": result.residual_std.tolist(),
                "n_windows": len(windows)}
        try:
            saved_version = CheckpointRegistry(job["save_dir"]).save(result.model, meta)
        except Exception as exc:  # a full disk loses the saved copy only: the model still goes back
            save_error = f"{type(exc).__name__}: {exc}"
    outcome = {
        "state": {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        "architecture": result.model.architecture(),
        "val_error": result.val_error,
        "residual_std": result.residual_std.tolist(),
        "epochs_run": result.epochs_run,
        "n_windows": len(windows),
        "seconds": result.seconds,
        "pid": os.getpid(),
        "saved_version": saved_version,
        "save_error": save_error,
    }
    partial = folder / (RESULT_FILE + ".part")
    torch.save(outcome, partial)
    os.replace(partial, folder / RESULT_FILE)


def read_outcome(folder: Path) -> TrainingOutcome:
    """The result ``run_job`` wrote into ``folder``."""
    data = torch.load(folder / RESULT_FILE, weights_only=True)
    data["residual_std"] = np.asarray(data["residual_std"], dtype=np.float64)
    return TrainingOutcome(**data)


def _serve(conn: Any) -> None:
    """The child's loop: train each job folder received, answer with its folder and an error (None: done)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    os.nice(CHILD_NICENESS)
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set by an import; one intra-op thread is what matters
        pass
    # the parent logs each training when it collects it; the child only reports its own troubles
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        try:
            run_job(Path(message))
            answer = (message, None)
        except Exception as exc:  # reported to the parent, which keeps its old model
            answer = (message, f"{type(exc).__name__}: {exc}")
        try:
            conn.send(answer)
        except OSError:
            return  # the parent is gone


# -- the parent's side ------------------------------------------------------------------------


class TrainingJob:
    """One submitted training; ``poll`` it until ``finished``, then read ``outcome`` or ``error``."""

    def __init__(self, worker: TrainingWorker, folder: Path) -> None:
        self.worker = worker
        self.folder = folder
        self.outcome: TrainingOutcome | None = None
        self.error: TrainingFailed | None = None
        self.finished = False

    def poll(self) -> bool:
        """True once the job has finished (either way); never waits."""
        if not self.finished:
            self.worker.poll()
        return self.finished

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the job to finish; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.poll():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _finish(self, outcome: TrainingOutcome | None, error: TrainingFailed | None) -> None:
        self.outcome, self.error, self.finished = outcome, error, True
        shutil.rmtree(self.folder, ignore_errors=True)


class TrainingWorker:
    """A spawned child process training one job at a time; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._process: Any = None
        self._conn: Any = None
        self._folder: Path | None = None
        self._jobs: dict[str, TrainingJob] = {}
        self._count = 0

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        process = self._process
        return process.pid if process is not None else None

    @property
    def busy(self) -> bool:
        """Whether jobs are submitted and not yet collected."""
        return bool(self._jobs)

    def submit(self, windows: np.ndarray, config: LSTMAEConfig, *, init: LSTMAutoencoder | None = None,
               save: SavePlan | None = None) -> TrainingJob:
        """Hand a training over to the child (started if need be); returns at once."""
        with self._lock:
            if self._process is not None and not self._process.is_alive():
                self._collect()
            if self._process is None:
                self._start()
            assert self._folder is not None
            self._count += 1
            job = TrainingJob(self, self._folder / f"job-{self._count}")
            write_job(job.folder, windows, config, init=init, save=save)
            self._jobs[str(job.folder)] = job
            try:
                self._conn.send(str(job.folder))
            except OSError:  # the child died since the check above: the job fails as its own would have
                self._collect()
            return job

    def poll(self) -> None:
        """Collect finished jobs without waiting; a child found dead fails its jobs."""
        if self._jobs and self._lock.acquire(blocking=False):  # another thread collecting: it will do
            try:
                self._collect()
            finally:
                self._lock.release()

    def close(self) -> None:
        """Stop the child (it holds nothing worth a slow exit), reap it, and fail the jobs it still had."""
        with self._lock:
            if self._process is not None:
                self._stop_process("the training process was stopped")
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    def _start(self) -> None:
        _clean_up_at_exit()
        context = multiprocessing.get_context("spawn")
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="aiops-lstm-train-"))
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="lstm-ae-train", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        log.info("lstm_ae.training_process_started", pid=process.pid)

    def _collect(self) -> None:
        """Read every answer waiting in the pipe; if the child has died, fail the jobs it still had."""
        try:
            self._read_answers()
            if self._process.is_alive():
                return
            self._read_answers()  # what it sent just before dying
        except (EOFError, OSError):
            pass
        self._stop_process(f"the training process (pid {self.pid}) exited with code {self._process.exitcode}")

    def _read_answers(self) -> None:
        while self._jobs and self._conn.poll(0):
            folder, error = self._conn.recv()
            job = self._jobs.pop(folder, None)
            if job is None:
                continue
            if error is not None:
                job._finish(None, TrainingFailed(f"training in pid {self.pid} failed: {error}"))
                continue
            try:
                job._finish(read_outcome(job.folder), None)
            except Exception as exc:  # an unreadable result is a failed training, not a crash of the caller
                job._finish(None, TrainingFailed(f"unreadable training result: {type(exc).__name__}: {exc}"))

    def _stop_process(self, reason: str) -> None:
        """Make sure the child is gone and reaped, and fail the jobs it had with ``reason``."""
        process = self._process
        died = not process.is_alive()  # on its own: killed, out of memory
        if not died:
            process.terminate()
            process.join(2.0)
            if process.is_alive():
                process.kill()
        process.join()
        if died:
            log.warning("lstm_ae.training_process_died", pid=process.pid, exitcode=process.exitcode,
                        unfinished=len(self._jobs))
        else:
            log.info("lstm_ae.training_process_stopped", pid=process.pid, unfinished=len(self._jobs))
        self._conn.close()
        process.close()
        self._process, self._conn = None, None
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            job._finish(None, TrainingFailed(reason))


_shared_lock = threading.Lock()
_shared: TrainingWorker | None = None
_shared_users = 0


def acquire_shared_worker() -> TrainingWorker:
    """The process-wide training worker; each ``acquire`` is matched by a ``release_shared_worker``."""
    global _shared, _shared_users
    with _shared_lock:
        if _shared is None:
            _shared = TrainingWorker()
        _shared_users += 1
        return _shared


def release_shared_worker() -> None:
    """One user fewer; the last one closes the worker (its child exits and is reaped)."""
    global _shared, _shared_users
    with _shared_lock:
        if _shared is None:
            return
        _shared_users = max(0, _shared_users - 1)
        if _shared_users == 0:
            worker, _shared = _shared, None
            worker.close()


_exit_registered = False


def _clean_up_at_exit() -> None:
    """Once a child has been started: at exit, stop the shared worker and the tracker ``spawn`` started."""
    global _exit_registered
    with _shared_lock:
        if not _exit_registered:
            atexit.register(_at_exit)
            _exit_registered = True


def _at_exit() -> None:
    with _shared_lock:
        worker = _shared
    if worker is not None:
        worker.close()
    # ``spawn`` starts multiprocessing's resource tracker, a child of ours that would otherwise end after us,
    # unreaped where the container's first process does not reap orphans
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if getattr(tracker, "_pid", None) is not None and hasattr(tracker, "_stop"):
        try:
            tracker._stop()
        except Exception:  # exiting anyway: the tracker then ends on its own
            pass
