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
