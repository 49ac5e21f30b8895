import numpy as np
import pandas as pd
import pytest

from gradsweep.plots import settings
from tests.helpers import trial_tables

GAINS = (0.5, 1.0, 2.0)


@pytest.fixture(scope="module")
def gain_sweep() -> pd.DataFrame:
    """SimpleRNN trials over gain x gap x clip (off, 1.0) x 3 seeds, random positive
    first-epoch norms and initial ratios."""
    rng = np.random.default_rng(1)
    parts = []
    for gain in GAINS:
        trials, _, _ = trial_tables(gaps=(10, 20), archs=("rnn",))
        trials["trial_id"] = [f"{gain}_{t}" for t in trials["trial_id"]]
        trials["recurrent_gain"] = pd.array([gain] * len(trials), dtype="Float64")
        trials["grad_norm_first"] = 10 ** rng.uniform(-2, 2, len(trials))
        trials["signal_grad_ratio_init"] = 10 ** rng.uniform(-8, 0, len(trials))
        parts.append(trials)
    return pd.concat(parts, ignore_index=True)


def test_numeric_settings_are_the_swept_numbers_without_an_off(gain_sweep):
    # clip_norm is swept too, but its `off` has no place on an axis; gap is the dependency.
    assert settings.numeric_settings(gain_sweep) == ["recurrent_gain"]


def test_plotted_points_are_geometric_means_over_seeds(gain_sweep):
    fig = settings.against_setting(gain_sweep, "recurrent_gain")
    frame = gain_sweep.assign(clip=gain_sweep["clip_norm"].astype("float64").fillna(-1))
    for ax, metric in zip(fig.axes, settings.SETTING_METRICS, strict=True):
        assert ax.get_yscale() == "log"  # both are log-scale metrics in the metrics table
        # independently: exp(mean(log)) per gap, clip and gain
        logs = np.log(frame[metric]).groupby([frame["gap"], frame["clip"], frame["recurrent_gain"]])
        expected = np.exp(logs.mean())
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert len(lines) == 4  # 2 gaps x (clip off, clip 1.0)
        for (gap, clip), want in expected.groupby(level=[0, 1]):
            label = f"gap {gap} · SimpleRNN · clip {'off' if clip < 0 else clip}"
            line = lines[label]
            np.testing.assert_allclose(line.get_xdata(), GAINS)
            np.testing.assert_allclose(line.get_ydata(), want.to_numpy(), rtol=1e-12)


def test_a_setting_that_only_follows_the_model_draws_no_curve(gain_sweep):
    # each arch with its own lr: no model has two lr values to draw a line through
    trials = gain_sweep.copy()
    trials.loc[trials.index[: len(trials) // 2], "arch"] = "lstm"
    trials["lr"] = pd.array(
        [0.01 if a == "lstm" else 0.001 for a in trials["arch"]], dtype="Float64"
    )
    assert settings.numeric_settings(trials) == ["recurrent_gain"]


def test_caption_names_both_panels():
    text = settings.caption("lr")
    assert "first epoch" in text and "at init" in text and "against lr" in text
