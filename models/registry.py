"""A checkpoint registry on disk: ``DIR/NAME/VERSION/{model.pt,meta.json}``.

Versions are 1, 2, 3... per name. A version appears whole or not at all: it
is written in a hidden temporary folder and renamed into place.

>>> import tempfile
>>> from structlog.testing import capture_logs
>>> from aiops.models.lstm_ae import LSTMAutoencoder
>>> reg = CheckpointRegistry(tempfile.mkdtemp())
>>> ae = LSTMAutoencoder(n_features=2, window=4, hidden=4, latent=2)
>>> with capture_logs():
...     [reg.save(ae, {"name": "cpu", "features": ["user", "system"], "window": 4}) for _ in range(2)]
[1, 2]
>>> model, meta = reg.load("cpu")
>>> meta.version, meta.features, [m.version for m in reg.list()]
(2, ['user', 'system'], [1, 2])
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import structlog
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops.detectors.core.errors import ConfigError
from aiops.models.lstm_ae import LSTMAutoencoder

log = structlog.get_logger(__name__)

MODEL_FILE = "model.pt"
META_FILE = "meta.json"


class CheckpointMeta(BaseModel):
    """What is known about one saved model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = 0
    features: list[str]
    window: int
    architecture: dict[str, int] = {}
    data_first: float | None = None
    data_last: float | None = None
    n_windows: int = 0
    val_error: float | None = None
    residual_std: list[float] | None = None
    data_mean: list[float] | None = None
    data_std: list[float] | None = None
    created_at: str = ""
    torch_version: str = ""
    device: str = "cpu"
    sources: list[str] = []
    trained_from: str = Field("history", description="'history': files given to `aiops train`; 'online': a bank's "
                                                     "own reservoir of live windows")


class CheckpointRegistry:
    """Saves, lists and loads versioned LSTM autoencoder checkpoints under one folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def save(self, model: LSTMAutoencoder, meta: dict[str, Any] | CheckpointMeta) -> int:
        """Write a new version of ``meta.name``; returns its version number."""
        data = meta.model_dump() if isinstance(meta, CheckpointMeta) else dict(meta)
        data.update(
            architecture=model.architecture(),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            torch_version=torch.__version__,
        )
        try:
            checked = CheckpointMeta.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid checkpoint metadata: {exc}") from None
        folder = self.root / checked.name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            torch.save(state, tmp / MODEL_FILE)
            for _ in range(1000):
                version = self._latest_version(checked.name) + 1
                checked.version = version
                _write_synced(tmp / META_FILE, checked.model_dump_json(indent=2))
                try:
                    os.rename(tmp, folder / str(version))
                except OSError:
                    if (folder / str(version)).exists():
                        continue  # another writer took this number; take the next
                    raise
                log.info("checkpoint.saved", name=checked.name, version=version, path=str(folder / str(version)))
                return version
            raise ConfigError(f"could not allocate a version for {checked.name!r}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def list(self, name: str | None = None) -> list[CheckpointMeta]:
        """Every saved version (of one name, or of all), by name then version."""
        if not self.root.is_dir():
            return []
        names = [name] if name else sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        found = []
        for n in names:
            for v in self._versions(n):
                found.append(self._read_meta(n, v))
        return found

    def load(self, name: str, version: int | str = "latest") -> tuple[LSTMAutoencoder, CheckpointMeta]:
        """The model (on the CPU, in eval mode) and its metadata; ConfigError if absent."""
        if version == "latest":
            number = self._latest_version(name)
            if number == 0:
                raise ConfigError(f"no checkpoint named {name!r} in {self.root}")
        else:
            try:
                number = int(version)
            except ValueError:
                raise ConfigError(f"checkpoint version must be a number or 'latest', got {version!r}") from None
        meta = self._read_meta(name, number)
        path = self.root / name / str(number) / MODEL_FILE
        try:
            model = LSTMAutoencoder(**meta.architecture)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except FileNotFoundError:
            raise ConfigError(f"checkpoint {path} is missing its weights") from None
        except Exception as exc:  # torch raises many kinds (pickle, zip, size mismatch) for one fact: unusable
            raise ConfigError(f"checkpoint {path} has unreadable weights: {type(exc).__name__}: {exc}") from None
        model.eval()
        return model, meta

    def versions(self, name: str) -> list[int]:
        """The version numbers saved under ``name``, oldest first (no metadata is read)."""
        return self._versions(name)

    def _versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def _latest_version(self, name: str) -> int:
        versions = self._versions(name)
        return versions[-1] if versions else 0

    def _read_meta(self, name: str, version: int) -> CheckpointMeta:
        path = self.root / name / str(version) / META_FILE
        try:
            return CheckpointMeta.model_validate(json.loads(path.read_text()))
        except FileNotFoundError:
            raise ConfigError(f"no checkpoint {name!r} version {version} in {self.root}") from None
        except (ValueError, ValidationError) as exc:
            raise ConfigError(f"checkpoint {path} has unreadable metadata: {exc}") from None


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
