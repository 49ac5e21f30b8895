import pytest

from gradsweep import TrialConfig
from gradsweep.errors import ConfigError


def test_config_rejects_unknown_fields_and_defaults_gap():
    with pytest.raises(ConfigError, match="bogus: unknown field"):
        TrialConfig.parse({"bogus": 1})
    assert TrialConfig().gap == 10
    assert TrialConfig(task="sum_sign").gap is None
    with pytest.raises(ConfigError, match="gap: 12 is not allowed: gap must be < seq_len"):
        TrialConfig.parse({"gap": 12, "seq_len": 12})


def test_a_misspelled_config_field_is_refused_with_the_closest_field():
    with pytest.raises(ConfigError) as info:
        TrialConfig.parse({"seq_length": 20})
    assert str(info.value) == "seq_length: unknown field; did you mean seq_len?"


@pytest.mark.parametrize(
    ("values", "warned"),
    [
        ({"gap": 2, "seq_len": 5}, "gate_init: chrono at gap 2 takes T_max 2, below 3: "),
        ({"task": "adding", "seq_len": 2}, "gate_init: chrono at seq_len 2 takes T_max 2, "),
        ({"gap": 3, "seq_len": 5}, None),
        ({"gap": 2, "seq_len": 5, "chrono_t_max": 3}, None),
    ],
)
def test_chrono_at_a_dependency_length_below_3_is_warned_of(values, warned):
    cfg = TrialConfig(arch="gru", gate_init="chrono", **values)
    assert (cfg.warning or "")[: len(warned or "")] == (warned or "")
    assert (cfg.warning is None) == (warned is None)
    keras = {k: v for k, v in values.items() if k != "chrono_t_max"}
    assert TrialConfig(arch="gru", **keras).warning is None  # keras gates: nothing to say


def test_signal_position_is_the_recalled_input():
    cfg = TrialConfig(gap=3, seq_len=8)
    assert cfg.signal_position == 8 - 3 - 1  # y = x[seq_len - gap - 1]
    assert TrialConfig(task="sum_sign", seq_len=8).signal_position == 0


def test_values_print_as_a_spec_writes_them():
    import pandas as pd

    from gradsweep.config import format_value

    assert format_value("clip_norm", 1.0) == "1.0" and format_value("lr", 0.001) == "0.001"
    assert format_value("clip_norm", None) == "off" == format_value("clip_norm", pd.NA)
    assert format_value("clip_norm", float("nan")) == "off"
    assert format_value("gap", pd.NA) == "none" and format_value("gap", 7) == "7"
    assert format_value("arch", "lstm") == "lstm"


@pytest.mark.parametrize("gap", ["x", True, 2.5, None])
def test_a_copy_gap_of_the_wrong_type_is_a_one_line_error_not_a_crash(gap):
    if gap is None:  # left out: the default gap, and seq_len derived from it
        assert TrialConfig.parse({"task": "copy"}).seq_len == 10 + 20
        return
    with pytest.raises(ConfigError, match=r"^gap: .* is not allowed"):
        TrialConfig.parse({"task": "copy", "gap": gap})


def test_every_field_declares_one_role():
    from gradsweep.config import Role

    for name, field in TrialConfig.model_fields.items():
        roles = [m for m in field.metadata if isinstance(m, Role)]
        assert len(roles) == 1, name
        assert field.description, f"{name} has no description (it is train's --help text)"


def test_the_derived_field_lists_follow_the_roles():
    from gradsweep import config, spec

    assert "forget_bias" in config.RANKABLE_FIELDS  # its omission once hid it from importance
    assert set(config.INIT_FIELDS) == {
        "arch", "activation", "hidden", "recurrent_init", "recurrent_gain", "forget_bias",
        "gate_init", "chrono_t_max", "dtype",
    }  # fmt: skip
    assert spec.NOT_SPEC_FIELDS == {
        "max_epochs": "budget", "solve_threshold": "budget", "threads": "resources"
    }  # fmt: skip
    assert set(config.NULL_MEANS_OFF) == {"clip_norm", "recurrent_gain", "chrono_t_max"}
    assert "threads" not in config.TABLE_FIELDS
    assert config.option_name("max_epochs") == "--epochs"
    assert config.option_name("seq_len") == "--seq-len"


# A field added to config.py and nowhere else, checked from a scratch copy of the package.
_SCRATCH_CHECK = """
import contextlib
import io

import pandas as pd
from typer.testing import CliRunner
from gradsweep.analysis import axis_importance
from gradsweep.cli import app, main
from gradsweep.config import group_label
from gradsweep.results import CONFIG_FIELDS, config_frame
from gradsweep.spec import SweepSpec

runner = CliRunner()
help_text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
assert "--knob" in help_text and "A dummy knob" in help_text, help_text
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    assert main(["train", "--knob", "-1"]) == 2
assert stderr.getvalue().startswith("error: --knob: -1.0 is not allowed"), stderr.getvalue()
assert "knob" in CONFIG_FIELDS
assert list(config_frame([{"knob": 0.25}])["knob"]) == [0.25]
assert group_label({"arch": "rnn", "knob": 0.5}) == "SimpleRNN · knob 0.5"
spec = SweepSpec.from_text("name: s\\naxes: {knob: [0.1, 0.9], gap: [2, 4]}")
assert sorted({t.knob for t in spec.expand().trials}) == [0.1, 0.9]
rows = [
    {"status": "TERMINATED", "knob": k, "gap": g, "seed": s, "test_acc": 0.5 + 0.4 * (k > 0.5)}
    for k in (0.1, 0.9) for g in (2, 4) for s in range(4)
]
assert "knob" in set(axis_importance(pd.DataFrame(rows))["axis"])
"""


def test_a_field_declared_only_in_config_reaches_train_tables_importance_and_labels(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import gradsweep

    shutil.copytree(Path(gradsweep.__file__).parent, tmp_path / "gradsweep")
    config = tmp_path / "gradsweep" / "config.py"
    anchor = "    seed: Annotated[int, Role()]"
    knob = '    knob: Annotated[float, Role()] = Field(0.5, ge=0, description="A dummy knob.")\n'
    assert anchor in config.read_text()
    config.write_text(config.read_text().replace(anchor, knob + anchor, 1))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _SCRATCH_CHECK], cwd=tmp_path, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_an_arch_fills_in_its_own_activation_and_init_unless_given():
    assert (TrialConfig(arch="indrnn").activation, TrialConfig(arch="indrnn").recurrent_init) == (
        "relu", "own"
    )  # fmt: skip
    assert TrialConfig(arch="indrnn", activation="tanh").activation == "tanh"
    assert TrialConfig(arch="urnn").activation == "modrelu"
    assert TrialConfig(arch="exprnn").recurrent_init == "henaff"
    assert TrialConfig(arch="lstm").recurrent_init == "orthogonal"  # unchanged defaults


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"arch": "exprnn", "recurrent_gain": 1.5}, r"^recurrent_gain: 1.5 is not allowed: exprnn"),
        ({"arch": "urnn", "activation": "tanh"}, r"^activation: 'tanh' is not allowed: urnn"),
        ({"arch": "rnn", "activation": "modrelu"}, r"^activation: 'modrelu' is not allowed"),
        ({"arch": "rnn", "recurrent_init": "orthogonal_fused"}, r"^recurrent_init: .* rnn takes"),
        ({"arch": "gru", "gate_init": "chrono", "chrono_t_max": 1}, r"^chrono_t_max: 1 "),
        (
            {"arch": "lstm", "gate_init": "chrono", "chrono_t_max": 2},
            r"^chrono_t_max: 2 is not allowed: 3 or more: .*log U\[1, 1\] = 0",
        ),
        ({"arch": "gru", "chrono_t_max": 40}, r"^chrono_t_max: 40 .* gate_init chrono only"),
        ({"arch": "indrnn", "gate_init": "chrono"}, r"^gate_init: 'chrono' .* indrnn has no"),
        ({"arch": "lstm", "gate_init": "chrono", "forget_bias": 5.0}, r"chrono sets the forget"),
    ],
)
def test_settings_an_arch_cannot_take_are_refused_in_one_line(values, message):
    with pytest.raises(ConfigError, match=message) as err:
        TrialConfig.parse(values)
    assert "\n" not in str(err.value)


def test_the_dependency_length_is_the_tasks_dependency_axis():
    assert TrialConfig(gap=7, seq_len=12).dependency_length == 7
    assert TrialConfig(task="adding", seq_len=40).dependency_length == 40


def test_eval_every_defaults_to_an_eighth_of_the_training_set():
    assert TrialConfig().eval_every == 4096 // 8
    assert TrialConfig(train_size=1000, batch_size=10).eval_every == 125
    assert TrialConfig(train_size=100, eval_every=7).eval_every == 7  # given: kept
    with pytest.raises(ConfigError, match=r"^eval_every: 0 is not allowed"):
        TrialConfig.parse({"eval_every": 0})


def test_an_unclipped_trial_is_one_config_whatever_clip_mode_says():
    off = [TrialConfig(clip_mode=mode) for mode in ("global_norm", "per_variable", "value")]
    assert {cfg.clip_mode for cfg in off} == {"global_norm"} and len(set(off)) == 1
    assert TrialConfig(clip_norm=1.0, clip_mode="value").clip_mode == "value"
