"""When and where the LSTM autoencoder bank trains a signature's model, and how the new model is swapped in.

A signature trains once its reservoir holds ``min_train_windows`` windows,
then again after ``refresh_every`` new windows or ``refresh_seconds``. It
trains inline (``background=False``), in a thread, or in the shared training
process (``train_in``), whose results ``collect`` picks up without waiting.
A new model replaces the old one in a single reference swap: scoring never
waits. A training that fails is logged, the old model keeps scoring, and
the next one starts ``retry_seconds`` later at the soonest.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import structlog
import torch

from aiops.models.bank_checkpoints import save_plan, save_trained
from aiops.models.config import LSTMAEConfig
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.signature_group import FittedModel, SignatureGroup, TrainingReport
from aiops.models.train import fit_windows
from aiops.models.train_worker import (
    TrainingJob,
    TrainingOutcome,
    TrainingWorker,
    acquire_shared_worker,
    release_shared_worker,
)

log = structlog.get_logger(__name__)


class BankTraining:
    """The trainings of one bank's signatures: due or not, running where, and their models swapped in."""

    def __init__(self, config: LSTMAEConfig, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.jobs: dict[tuple[str, ...], TrainingJob] = {}  # signature -> its training in the training process
        self._jobs_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._worker: TrainingWorker | None = None
        self._worker_held = False

    @property
    def pid(self) -> int | None:
        """The pid of the training process this bank hands its trainings to, while it holds it."""
        worker = self._worker if self._worker_held else None
        return worker.pid if worker is not None else None

    def maybe_train(self, group: SignatureGroup) -> None:
        """Start the signature's training if it is due (first model, or a refresh), where the settings say."""
        cfg = self.config
        with group.lock:
            if group.training or group.filled < 2:
                return
            if group.fitted is None:
                due = group.filled >= cfg.min_train_windows
            else:
                by_count = cfg.refresh_every > 0 and group.new_windows >= cfg.refresh_every
                by_time = (
                    cfg.refresh_seconds is not None
                    and group.new_windows > 0
                    and time.monotonic() - group.last_train >= cfg.refresh_seconds
                )
                due = by_count or by_time
            if not due or time.monotonic() - group.failed_at < cfg.retry_seconds:
                return
            windows = group.reservoir[: group.filled].copy()
            group.new_windows = 0
            group.training = True
        if not cfg.background:
            self._train(group, windows, "inline")
        elif cfg.train_in == "thread":
            thread = threading.Thread(target=self._train, args=(group, windows, "thread"), name="lstm-ae-train",
                                      daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()
        else:
            self._submit(group, windows)

    def _train(self, group: SignatureGroup, windows: np.ndarray, where: str) -> None:
        """Train here (inline or in a thread), swap the model in and save it."""
        try:
            current = group.fitted
            result = fit_windows(windows, self.config, init=current.model if current else None, device=self.device)
            model = result.model.to(self.device).eval()
            self._swap(group, model, result.residual_std, TrainingReport(
                where, os.getpid(), 0, len(windows), result.val_error, result.seconds))
            if self.config.save_to is not None:
                save_trained(group, self.config.save_to, model, result.val_error, result.residual_std, len(windows),
                             self.device)
        except Exception:  # a failed training must not stop the stream; the old model keeps scoring
            group.failed_at = time.monotonic()
            log.exception("lstm_ae.training_failed", features=list(group.features), where=where)
        finally:
            group.last_train = time.monotonic()
            group.training = False

    @staticmethod
    def _swap(group: SignatureGroup, model: LSTMAutoencoder, residual_std: np.ndarray,
              report: TrainingReport) -> None:
        with group.lock:
            group.versions += 1
            group.fitted = FittedModel(model, group.versions, residual_std, "trained")
            group.report = TrainingReport(report.where, report.pid, group.versions, report.windows,
                                          report.val_error, report.seconds)
        log.info("lstm_ae.model_swapped", features=list(group.features), version=group.versions,
                 windows=report.windows, val_error=report.val_error, where=report.where, pid=report.pid,
                 train_seconds=round(report.seconds, 3))

    def _submit(self, group: SignatureGroup, windows: np.ndarray) -> None:
        """Hand the training to the training process; ``collect`` swaps its model in when it is done."""
        try:
            with self._jobs_lock:
                if not self._worker_held:
                    self._worker = acquire_shared_worker()
                    self._worker_held = True
                current = group.fitted
                assert self._worker is not None
                job = self._worker.submit(windows, self.config, init=current.model if current else None,
                                          save=save_plan(group, self.config.save_to, self.device))
                self.jobs[group.features] = job
        except Exception:  # e.g. no room for the job's files: as a failed training, retried later
            group.failed_at = group.last_train = time.monotonic()
            group.training = False
            log.exception("lstm_ae.training_failed", features=list(group.features), where="process")

    def collect(self, groups: dict[tuple[str, ...], SignatureGroup]) -> None:
        """Swap in the models the training process has finished; never waits (another thread collecting: skip)."""
        if not self._jobs_lock.acquire(blocking=False):
            return
        try:
            for features, job in list(self.jobs.items()):
                if job.poll():
                    del self.jobs[features]
                    self._finish_job(groups[features], job)
        finally:
            self._jobs_lock.release()

    def _finish_job(self, group: SignatureGroup, job: TrainingJob) -> None:
        try:
            if job.error is not None:
                group.failed_at = time.monotonic()
                log.error("lstm_ae.training_failed", features=list(group.features), where="process",
                          error=str(job.error), retry_in=self.config.retry_seconds)
                return
            outcome = job.outcome
            assert outcome is not None
            self._swap(group, outcome.model().to(self.device).eval(), outcome.residual_std, TrainingReport(
                "process", outcome.pid, 0, outcome.n_windows, outcome.val_error, outcome.seconds))
            _log_saved(group, outcome)
        except Exception:  # e.g. weights that do not fit the model: the old model keeps scoring
            group.failed_at = time.monotonic()
            log.exception("lstm_ae.training_failed", features=list(group.features), where="process")
        finally:
            group.last_train = time.monotonic()
            group.training = False

    def wait_idle(self, groups: dict[tuple[str, ...], SignatureGroup], timeout: float | None = None) -> bool:
        """Wait for background trainings to finish and swap their models in; True when none is running."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        self._threads = [t for t in self._threads if t.is_alive()]
        while self.jobs and (deadline is None or time.monotonic() < deadline):
            self.collect(groups)
            if self.jobs:
                time.sleep(0.01)
        return not self._threads and not self.jobs

    def close(self, groups: dict[tuple[str, ...], SignatureGroup], timeout: float | None = None) -> None:
        """Let running trainings finish (their models are swapped in), then let the training process go."""
        self.wait_idle(groups, timeout)
        with self._jobs_lock:
            for features in list(self.jobs):
                self.jobs.pop(features)
                groups[features].training = False
            if self._worker_held:
                self._worker_held = False
                release_shared_worker()


def _log_saved(group: SignatureGroup, outcome: TrainingOutcome) -> None:
    if outcome.save_error is not None:
        log.error("lstm_ae.save_failed", features=list(group.features), error=outcome.save_error)
    elif outcome.saved_version is not None:
        log.info("lstm_ae.model_saved", features=list(group.features), version=outcome.saved_version)
