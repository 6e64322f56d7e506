"""The registered detector banks with small, fast, deterministic settings, for the suites that run over all of them.

>>> sorted(FAST_PARAMS)[:2]
['lstm_ae', 'pyod']
"""

from __future__ import annotations

from typing import Any

# banks whose defaults train in the background or need many points
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "pyod": {"window_size": 32, "min_points": 16, "refit_every": 8, "background": False},
    "lstm_ae": {"window": 4, "hidden": 4, "latent": 2, "epochs": 1, "min_train_windows": 16, "refresh_every": 0,
                "refresh_seconds": None, "background": False, "device": "cpu"},
}

# River's other models, as "river:<model>" (the plain "river" is its default model, HalfSpaceTrees)
RIVER_MODELS: dict[str, dict[str, Any]] = {
    "river:GaussianScorer": {"model": "GaussianScorer", "options": {"grace_period": 10}},
    "river:PredictiveAnomalyDetection": {"model": "PredictiveAnomalyDetection"},
    "river:PredictiveAnomalyDetection+SNARIMAX": {"model": "PredictiveAnomalyDetection", "forecaster": "SNARIMAX"},
    "river:PageHinkley": {"model": "PageHinkley", "options": {"min_instances": 10}},
    "river:HalfSpaceTrees-small": {"model": "HalfSpaceTrees", "options": {"window_size": 20, "n_trees": 3}},
}


def registered_name(case: str) -> str:
    """The registry name of a case (``river:GaussianScorer`` is the ``river`` bank).

    >>> registered_name("river:PageHinkley"), registered_name("zscore")
    ('river', 'zscore')
    """
    return case.partition(":")[0]


def case_params(case: str) -> dict[str, Any]:
    """The settings a case is built with."""
    return dict(RIVER_MODELS.get(case) or FAST_PARAMS.get(case, {}))
