"""aiops ablation and the autoencoder: its row, runs that repeat, a subset of variants, four-feature figures."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from aiops.detectors.config import DetectionConfig, DetectorSpec, Profile
from aiops.detectors.evaluation.ablation import LSTM_AE, inline, main, multivariate_false_alarms, variants


def test_the_lstm_row_adds_it_for_multivariate_groups_and_a_config_holding_it_gets_a_no_row():
    """The default gets '+ lstm_ae' (min_features 2); a configuration that has it gets 'no lstm_ae' instead."""
    named = dict(variants(DetectionConfig()))
    assert [d.key for d in named["+ lstm_ae"].detectors][-1] == "lstm_ae"
    assert named["+ lstm_ae"].detectors[-1].params["min_features"] == 2
    with_it = DetectionConfig().model_copy(update={"detectors": [*DetectionConfig().detectors, LSTM_AE]})
    names = [name for name, _ in variants(with_it)]
    assert "no lstm_ae" in names and "+ lstm_ae" not in names


def test_inline_pins_every_autoencoder_and_leaves_the_rest_alone():
    """Top-level and profile autoencoders train inline, only when due by count; other detectors are untouched."""
    config = DetectionConfig(
        detectors=[DetectorSpec(type="zscore", params={"alpha": 0.01}), LSTM_AE],
        profiles=[Profile(detectors=[DetectorSpec(type="lstm_ae", params={"background": True})])])
    pinned = inline(config)
    assert pinned.detectors[0] == config.detectors[0]
    for spec in (pinned.detectors[1], pinned.profiles[0].detectors[0]):
        assert spec.params["background"] is False and spec.params["refresh_seconds"] is None
    assert config.profiles[0].detectors[0].params == {"background": True}  # the given configuration is not changed


def test_an_unknown_variant_is_refused_with_the_known_names(capsys):
    with pytest.raises(ValueError, match=r"'no such'.*known: default, no zscore"):
        main(DetectionConfig(), ["no such"])


def test_four_feature_false_alarms_count_episode_openings_of_clean_series():
    """A clean four-feature series opens few episodes; with the threshold far too low it opens many more."""
    with capture_logs():
        strict = multivariate_false_alarms(DetectionConfig(), n_series=1, points=3_000)
        loose = multivariate_false_alarms(DetectionConfig(threshold=0.9), n_series=1, points=3_000)
    assert 0.0 <= strict < loose


def test_the_command_passes_only_and_refuses_an_unknown_variant_in_one_line(capsys):
    from aiops.pipeline.cli import main as cli

    assert cli(["ablation", "--only", "no such"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown variant(s) 'no such'") and "no episode gate" in err
    assert "Traceback" not in err
