"""River detectors by name, inside the engine's configuration (the generic checks are in test_bank_checks)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from aiops.detectors.config import DetectionConfig
from aiops.detectors.engine import build_engine
from aiops.detectors.river_bank import RiverBank


def feed(bank: RiverBank, X: np.ndarray) -> list[float]:
    out = []
    for t, row in enumerate(X):
        out.append(float(bank.score(["s"], row[None, :], ["v"], np.array([float(t)])).raw[0]))
        bank.learn(["s"], row[None, :], ["v"], np.array([float(t)]), np.array([True]))
    return out


class TestRiverBank:
    def test_unknown_model_names_the_key(self):
        """A model River does not offer here fails validation at params.model."""
        with pytest.raises(ValidationError, match="params.model"):
            DetectionConfig.model_validate({"detectors": [{"type": "river", "params": {"model": "Prophet"}}]})

    def test_page_hinkley_rises_after_a_level_shift(self):
        """The Page-Hinkley score (statistic over its threshold) stays below 1 on noise and crosses 1 after a 3-sd shift."""
        X = np.random.default_rng(0).normal(size=(400, 1))
        X[300:] += 3.0
        raw = feed(RiverBank(model="PageHinkley"), X)
        assert max(raw[50:300]) < 1.0 <= max(raw[300:340])

    def test_forecast_residual_flags_a_spike_in_the_engine(self):
        """PredictiveAnomalyDetection over HoltWinters, configured by name, finds a spike on a slow sine."""
        cfg = DetectionConfig.model_validate({"detectors": [{"type": "river", "params": {
            "model": "PredictiveAnomalyDetection"}}], "warmup": 100})
        engine = build_engine(cfg)
        t = np.arange(800, dtype=float)
        X = (10 * np.sin(t / 40) + np.random.default_rng(1).normal(size=800) * 0.3)[:, None]
        X[700, 0] += 8.0
        _, res = engine.score_series("wave", t, X, ["v"])
        assert res.hot[700] and res.hot[100:].sum() <= 3
        assert np.flatnonzero(res.alert[100:]).tolist() == [600]  # one page, for the spike

    def test_state_bytes_are_small(self):
        """A Page-Hinkley series exports a few hundred bytes."""
        import pickle

        bank = RiverBank(model="PageHinkley")
        feed(bank, np.zeros((50, 1)))
        assert len(pickle.dumps(bank.export_state("s"))) < 2000
