"""Every registered detector bank keeps the detector contract (``aiops.detectors.checks``), and the checks catch
a bank that does not: a plugin's bank is checked the same way, through the registry it joins by entry point."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

from aiops.detectors.base import BankBase
from aiops.detectors.checks import CHECKS, FEATURES, BankCase, BankCheckError, check_bank, feed, series_rows
from aiops.detectors.config import DetectionConfig, DetectorSpec
from aiops.detectors.core.errors import ConfigError
from aiops.detectors.core.shapes import Event
from aiops.detectors.engine import build_engine
from aiops.detectors.registry import BANKS
from tests.support.bank_cases import FAST_PARAMS, RIVER_MODELS, case_params, registered_name
from tests.support.plugin_dist import install_plugin, plugin_on_path

# The LSTM autoencoder scores with one model per feature signature: started from a checkpoint (``lstm_ae``) it
# keeps the contract; training its own model from every series' windows (``lstm_ae:trained-here``) it cannot keep
# a series' scores apart from the other series nor carry the model in a series' state.
TRAINED_HERE = "lstm_ae:trained-here"
CASES = BANKS.names() + list(RIVER_MODELS) + [TRAINED_HERE]
KNOWN_DIFFERENCES = {
    (TRAINED_HERE, "state_round_trip"): "the model is shared per feature signature and lives in the checkpoint "
                                        "registry, not in a series' exported state",
    (TRAINED_HERE, "series_independent"): "every series' windows train the signature's one model",
}


@pytest.fixture(scope="module")
def lstm_checkpoint(tmp_path_factory) -> dict:
    """A tiny autoencoder trained once on the checks' three features, saved to a registry: its settings."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    with capture_logs():
        bank = BANKS.load("lstm_ae")(**FAST_PARAMS["lstm_ae"])
        feed(bank, ["s"], [row[None, :] for row in series_rows(40, seed=1)], FEATURES)
        bank.save_checkpoint(str(root), "contract", FEATURES)
    return {**FAST_PARAMS["lstm_ae"], "checkpoint": {"dir": str(root), "name": "contract"}}


def case_of(case: str, request) -> BankCase:
    params = request.getfixturevalue("lstm_checkpoint") if case == "lstm_ae" else case_params(case)
    if case == TRAINED_HERE:
        params = FAST_PARAMS["lstm_ae"]
    return BankCase(registered_name(case), params)


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("case", CASES)
def test_every_bank_keeps_the_contract(case, check, request):
    """Each check of the suite, on each registered bank (and River's other models) with small settings."""
    reason = KNOWN_DIFFERENCES.get((case, check))
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True, raises=BankCheckError))
    bank_case = case_of(case, request)
    with capture_logs():
        CHECKS[check](bank_case)


def test_the_suite_covers_every_registered_bank():
    """A bank joining the registry (built-in or by entry point) is checked without a line added here."""
    assert set(BANKS.names()) <= {registered_name(c) for c in CASES}
    assert "lstm_ae" in BANKS.names()  # the autoencoder joins by entry point, as a plugin would


PLUGIN = '''
import numpy as np

from aiops.detectors.base import BankScores
from aiops.detectors.zscore import ZScoreBank


class LevelBank(ZScoreBank):
    """A plugin's bank: the z-score of the row's mean feature (inherits ZScoreBank's declarations)."""

    name = "level"
    shows_expected_range = False


class Undeclared:
    """Scores well enough, but declares nothing: the engine cannot know how to feed it."""

    name = "undeclared"

    def __init__(self, **params):
        self.inner = ZScoreBank(**params)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


class PeekingBank(ZScoreBank):
    """Learns while it scores: a row's score then depends on what was scored before it."""

    name = "peeking"

    def score(self, series, X, features, times):
        scored = super().score(series, X, features, times)
        self.learn(series, X, features, times, np.ones(len(series), dtype=bool))
        return scored


class JitterBank(ZScoreBank):
    """Breaks ties with unseeded noise: the same input scores differently from run to run."""

    name = "jitter"

    def __init__(self, **params):
        super().__init__(**params)
        self.rng = np.random.default_rng()

    def score(self, series, X, features, times):
        scored = super().score(series, X, features, times)
        return scored._replace(raw=scored.raw + 1e-9 * self.rng.random(len(series)))


class LossyStateBank(ZScoreBank):
    """Exports its baseline means only: a restored series has lost its variances."""

    name = "lossy"

    def export_state(self, series_id):
        state = super().export_state(series_id)
        if state is not None:
            state["arrays"] = {k: v for k, v in state["arrays"].items() if k != "var"}
        return state


class NaNPoisonedBank(ZScoreBank):
    """Declares it accepts missing features, then lets a NaN into its baseline for good."""

    name = "poisoned"

    def learn(self, series, X, features, times, mask):
        rows = self._rows(series, features, X)[mask]
        a = self.store.arrays
        a["mean"][rows] = np.where(np.isnan(X[mask]), np.nan, a["mean"][rows])
        super().learn(series, X, features, times, mask)


class PinnedBank(ZScoreBank):
    """Says 1e150 for any row beyond 2 sds: far past any tail it learned, calibrated it says exactly 1.0."""

    name = "pinned"

    def score(self, series, X, features, times):
        scored = super().score(series, X, features, times)
        return scored._replace(raw=np.where(scored.raw > 2.0, 1e150, scored.raw))
'''


@pytest.fixture
def plugin_banks(tmp_path):
    """A plugin package of banks, installed as pip would, seen by the detector registry; gone afterwards."""
    site = install_plugin(tmp_path, "contract-banks", {"contract_banks.py": PLUGIN}, {"aiops.detector": {
        "level": "contract_banks:LevelBank", "undeclared": "contract_banks:Undeclared",
        "peeking": "contract_banks:PeekingBank", "jitter": "contract_banks:JitterBank",
        "lossy": "contract_banks:LossyStateBank",
        "poisoned": "contract_banks:NaNPoisonedBank", "pinned": "contract_banks:PinnedBank"}})
    with plugin_on_path(site):
        BANKS.refresh()
        try:
            yield
        finally:
            BANKS.refresh()


class TestPluginBanks:
    def test_a_plugin_bank_passes_the_whole_suite(self, plugin_banks):
        """check_bank runs every check on a bank that joined the registry by entry point."""
        with capture_logs():
            check_bank("level", {"alpha": 0.02})
        assert BANKS.load("level").__module__ == "contract_banks"

    @pytest.mark.parametrize("name, check, message", [
        ("undeclared", "declares_capabilities", "not declared as booleans"),
        ("peeking", "score_is_pure", "scoring changed the state"),
        ("jitter", "deterministic", "two banks built and fed alike differ in raw"),
        ("lossy", "state_round_trip", "after a state round trip the next scores differ"),
        ("poisoned", "missing_values", "a shift of that feature no longer raises the score"),
        ("pinned", "calibrated_spread", "sit at exactly 1.0 on noise"),
    ])
    def test_a_bank_breaking_the_contract_is_named_with_the_check(self, plugin_banks, name, check, message):
        """Each broken bank fails the check that guards what it breaks, with a message saying what was seen."""
        with capture_logs(), pytest.raises(BankCheckError, match=message) as caught:
            check_bank(name, only=[check])
        assert str(caught.value).startswith(f"{name}: {check}: ")

    def test_the_engine_refuses_a_bank_that_declares_nothing(self, plugin_banks):
        """Capabilities are read as declared, never guessed: an undeclared bank is a configuration error."""
        with capture_logs():
            engine = build_engine(DetectionConfig(detectors=[DetectorSpec(type="undeclared")]))
        with pytest.raises(ConfigError, match="does not declare multivariate_only, accepts_missing"):
            engine.process([Event("metric", "s", {}, 0.0, {"v": 1.0})])


def test_every_built_in_bank_inherits_the_declarations():
    """The built-in banks declare through BankBase; none is probed for what it lacks."""
    for name in BANKS.names():
        cls = BANKS.load(name)
        assert issubclass(cls, BankBase), name
        assert all(isinstance(getattr(cls, c), bool) for c in ("joint", "accepts_missing", "portable_state"))


def test_the_engine_reads_capabilities_as_declared():
    """No engine module asks a bank for a capability with a default (getattr/hasattr), nor by its class name."""
    from pathlib import Path

    import aiops.detectors as package

    root = Path(package.__file__).parent
    modules = ["engine.py", "scoring_group.py", "engine_state.py", "score_rows.py", "event_rows.py"]
    text = "\n".join((root / m).read_text() for m in modules)
    assert "getattr(" not in text and "hasattr(" not in text and "__name__ ==" not in text


def test_expected_ranges_come_from_the_bank_that_declares_it():
    """zscore declares its range the one shown: it is, whichever place it has among the detectors."""
    rng = np.random.default_rng(0)
    events = [Event("metric", "s", {}, float(t), {"a": float(v), "b": float(w)})
              for t, (v, w) in enumerate(rng.normal(size=(300, 2)).tolist())]

    def last_range(order: list[str]) -> dict:
        specs = [DetectorSpec(type=t, params=FAST_PARAMS.get(t, {})) for t in order]
        with capture_logs():
            return build_engine(DetectionConfig(detectors=specs)).process(events)[-1].expected

    shown = last_range(["pyod", "zscore"])
    assert shown == last_range(["zscore", "pyod"])
    assert shown != last_range(["pyod"])  # pyod's own range (its window's quantiles) is another
