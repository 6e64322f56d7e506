"""Settings of the LSTM autoencoder bank: architecture, training, refresh, checkpoint.

>>> c = LSTMAEConfig(window=16, checkpoint={"dir": "/var/aiops/models", "name": "skab"})
>>> c.window, c.checkpoint.version
(16, 'latest')
>>> LSTMAEConfig(save_to={"dir": "/var/aiops/models", "name": "online"}).save_to.name
'online'
>>> LSTMAEConfig().train_in, LSTMAEConfig(train_in="thread").train_in
('process', 'thread')

>>> LSTMAEConfig(windw=3)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LSTMAEConfig
windw
  Extra inputs are not permitted [type=extra_forbidden, input_value=3, input_type=int]
...
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CheckpointRef(BaseModel):
    """Which registry checkpoint to start from: ``dir/name/version``."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="model registry directory")
    name: str = Field(description="model name in the registry")
    version: str = Field("latest", description="version to load (latest: the newest)")


class SaveRef(BaseModel):
    """Where a bank writes the models it trains itself, and looks for them when it starts: ``dir/name``."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="model registry directory")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="model name in the registry (letters, digits, _ . -)")


class LSTMAEConfig(BaseModel):
    """The LSTM autoencoder: model shape, training, online refresh and where to start from."""

    model_config = ConfigDict(extra="forbid")

    # 8/8/4, measured with ``python -m aiops.models.evaluation.bench --shapes 32x32x8 16x16x4 16x8x4 8x8x4 8x16x4`` (trained on
    # SKAB's anomaly-free file, squared error of held-out last points in standard units, univariate / 8 features;
    # cost per window scoring the last point, batches of 1,000 on one thread): 32/32/8 0.47 / 0.73 at 47 us,
    # 16/16/4 0.40 / 0.69 at 9 us, 16/8/4 0.43 / 0.76 at 5.3 us, 8/8/4 0.36 / 0.73 at 2.9 us, 8/16/4 0.19 / 0.67 at
    # 5 us. A longer window did not reconstruct better here and costs linearly more.
    window: int = Field(8, ge=2, le=4096, description="points per scored window")
    hidden: int = Field(8, ge=1, description="LSTM hidden units (encoder and decoder)")
    latent: int = Field(4, ge=1, description="size of the window's code")
    reverse: bool = Field(
        True, description="decode the window from its last point backwards (scoring the last point costs one step)")
    epochs: int = Field(20, ge=1, description="most passes over the training windows")
    batch_size: int = Field(64, ge=1, description="training windows per optimiser step")
    lr: float = Field(3e-3, gt=0, description="learning rate of the Adam optimiser")
    patience: int = Field(3, ge=1, description="epochs without validation gain before stopping")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="latest share of windows kept for validation")
    # the first model trains on a full reservoir: on SKAB (`aiops skab`, the default detectors + lstm_ae) the
    # ensemble's F1 was 0.462 with the first training at 256 or 1,000 windows, 0.489 at 1,500, 0.492 at 2,000
    min_train_windows: int = Field(2000, ge=2, description="normal windows collected before the first training")
    # refresh by the clock: a count of windows means a retraining every 5 s for 1,000 series at 1 point/s, a busy
    # training thread on a two-core worker
    refresh_every: int = Field(0, ge=0, description="retrain after this many new windows (0: never)")
    refresh_seconds: float | None = Field(
        3600.0, gt=0, description="retrain after this long, if new windows came (None: never)")
    max_reservoir: int = Field(2000, ge=2, description="most normal windows kept for training")
    score_on: Literal["last", "window"] = Field(
        "last", description="error of the current point only, or averaged over its whole window"
    )
    expected_k: float = Field(3.0, gt=0, description="expected range = reconstruction +- k residual sigmas")
    min_features: int = Field(
        1, ge=1, description="series with fewer features are left to the other detectors: no model, no cost "
                             "(2: multivariate groups only)")
    prior_weight: int = Field(
        0, ge=0, description="a new series starts from the checkpoint's data mean/std as if seen this many times"
    )
    stats_limit: int | None = Field(
        None, ge=2, description="a series' mean/std learn from its first N learned points, then stay fixed (None: always)"
    )
    checkpoint: CheckpointRef | None = None
    save_to: SaveRef | None = Field(
        None, description="registry for self-trained models: every version is saved there, and a bank started later "
                          "loads the newest one of its feature signature instead of training again")
    torch_threads: int = Field(
        1, ge=0, description="torch intra-op threads set when the bank is built (0: leave torch's setting); "
                             "small models score fastest on one thread, and the worker's other banks need the rest")
    device: Literal["auto", "cpu", "cuda"] = Field("auto",
            description="where the model runs: auto (the GPU when there is one), cpu or cuda")
    background: bool = Field(
        True, description="train while scoring goes on, where train_in says (False: inline, for tests and backtests)")
    # a thread of the scoring process competes with scoring for the GIL. `python -m aiops.models.evaluation.bench --engine`,
    # 1,000 univariate series through Engine.process() on two cores that other jobs kept busy: trained checkpoint
    # 28.5k points/s; first training in a thread 17.2k, in the training process 30.5k; retraining all the while in a
    # thread 13.8k, in the training process 25.0k (the bank alone: 268k, 137k with a thread training, 262k with the
    # training process training: `python -m aiops.models.evaluation.bench --bank-series 1000`)
    train_in: Literal["process", "thread"] = Field(
        "process", description="where background training runs: a spawned child process (torch on one thread there, "
                               "shared by every bank of the process) or a thread of the scoring process")
    retry_seconds: float = Field(
        60.0, gt=0, description="after a failed training, the soonest the next one starts (when it is due)")
    seed: int = Field(0, description="random seed of weight initialisation and training")

    @model_validator(mode="after")
    def _reservoir_holds_the_first_training(self) -> LSTMAEConfig:
        if self.min_train_windows > self.max_reservoir:
            raise ValueError(f"min_train_windows ({self.min_train_windows}) must not exceed max_reservoir "
                             f"({self.max_reservoir}): the first training would never start")
        return self
