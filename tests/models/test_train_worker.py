"""TrainingWorker: a real spawned child trains, answers, survives a failing job, and is reaped at close."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from structlog.testing import capture_logs

from aiops.models.config import LSTMAEConfig
from aiops.models.data import sliding_windows
from aiops.models.lstm_ae import LSTMAutoencoder
from aiops.models.registry import CheckpointRegistry
from aiops.models.train import fit_windows
from aiops.models.train_worker import SavePlan, TrainingWorker

CONFIG = LSTMAEConfig(window=8, hidden=6, latent=2, epochs=3, batch_size=32, device="cpu", seed=3)


def windows(n: int = 160) -> np.ndarray:
    t = np.arange(n + 7) / 6.0
    return sliding_windows(np.stack([np.sin(t), np.cos(t)], axis=1), 8)


def gone(pid: int) -> bool:
    """No such process, not even a zombie waiting to be reaped."""
    return not Path(f"/proc/{pid}").exists()


class TestTrainingWorker:
    def test_child_trains_what_inline_training_would_and_is_reaped_at_close(self, tmp_path):
        """Same weights as fit_windows here, from another pid; a failing job leaves the child serving; close reaps it."""
        data = windows()
        with torch.random.fork_rng(devices=[]):
            start = LSTMAutoencoder(2, 8, 6, 2, reverse=True)
        worker = TrainingWorker()
        with capture_logs() as logs:
            try:
                plan = SavePlan(str(tmp_path), {"name": "hosts", "features": ["a", "b"], "window": 8,
                                                "trained_from": "online"})
                first = worker.submit(data, CONFIG, save=plan)
                tuned = worker.submit(data, CONFIG, init=start)
                broken = worker.submit(data[:1], CONFIG)  # one window: fit_windows refuses it
                after = worker.submit(data, CONFIG)
                assert after.wait(timeout=90), "the child did not answer in 90 s"
                pid = worker.pid
                assert pid is not None and pid != os.getpid()
            finally:
                worker.close()
            assert pid is not None and gone(pid)
        assert worker.pid is None

        for job in (first, tuned, after):
            assert job.finished and job.error is None and job.outcome is not None
            assert job.outcome.pid == pid  # one child served all jobs, the failing one included
        here = fit_windows(data, CONFIG)
        fine_tuned_here = fit_windows(data, CONFIG, init=start)
        for job, want in ((first, here), (tuned, fine_tuned_here)):
            got = job.outcome.model().state_dict()
            assert all(torch.equal(got[k], v) for k, v in want.model.state_dict().items())
            assert job.outcome.val_error == want.val_error
            assert np.array_equal(job.outcome.residual_std, want.residual_std)
        assert not torch.equal(first.outcome.state["output.weight"], tuned.outcome.state["output.weight"])

        assert broken.outcome is None and "need at least 2 windows" in str(broken.error)
        assert first.outcome.saved_version == 1 and first.outcome.save_error is None
        model, meta = CheckpointRegistry(tmp_path).load("hosts")
        assert meta.n_windows == len(data) and meta.val_error == first.outcome.val_error
        assert torch.equal(model.state_dict()["output.weight"], first.outcome.state["output.weight"])
        assert any(e["event"] == "lstm_ae.training_process_started" for e in logs)
        assert not list(Path(tmp_path).glob(".tmp-*"))
