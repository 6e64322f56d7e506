"""The detector banks known by name; heavy ones (PyOD, torch) import only when configured.

A plugin bank is one file: the bank class (``detectors/zscore.py``'s shape)
with its parameter model as ``Params``, named under the entry-point group
``aiops.detector``; ``detection.detectors[].params`` are then checked against
that model. A bank whose module is heavy to import may name its model apart,
under ``aiops.detector_params`` (see ``aiops.detectors.config.PARAMS_MODELS``).

>>> BANKS.load("zscore").__name__
'ZScoreBank'
>>> "lstm_ae" in BANKS.names()
True
"""

from __future__ import annotations

from aiops.detectors.core.registry import Registry

BANKS = Registry(
    "detector",
    {
        "zscore": "aiops.detectors.zscore:ZScoreBank",
        "cusum": "aiops.detectors.cusum:CusumBank",
        "mahalanobis": "aiops.detectors.mahalanobis:MahalanobisBank",
        "hst": "aiops.detectors.hst:HalfSpaceTreesBank",
        "mewma": "aiops.detectors.mewma:MewmaBank",
        "ewma": "aiops.detectors.ewma:EwmaBank",
        "river": "aiops.detectors.river_bank:RiverBank",
        "pyod": "aiops.detectors.pyod_window:PyODBank",
    },
)
