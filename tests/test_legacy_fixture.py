"""An experiment written by gradsweep before the restructure still loads to the same tables.

The `legacy_v1_*.parquet` files are the tables that the code of commit 5fa948b loaded from
`fixtures/legacy_v1` (see the `legacy` fixture).
"""

import pandas as pd
import pytest

from gradsweep import load_results
from tests.helpers import FIXTURES

# Columns added since: what an old trial's config meant, and metrics it did not measure.
ADDED = {
    "trials": {
        "activation": "tanh",
        "optimizer": "adam",
        "momentum": 0.0,
        "forget_bias": 1.0,
        "recurrent_gain": None,  # as the initialiser gave
        "gate_init": "keras",
        "chrono_t_max": None,
        "clip_mode": "global_norm",
        "fresh_data": False,
        "dtype": "float32",
        "eval_every": None,
        "val_mse": None,
        "test_mse": None,
    },
    "epochs": {"val_mse": None},
    "profiles": {},
}


@pytest.mark.parametrize("table", ["trials", "epochs", "profiles"])
def test_legacy_experiment_loads_to_the_same_tables(legacy, table):
    expected = pd.read_parquet(FIXTURES / f"legacy_v1_{table}.parquet")
    if table == "trials":  # what ran: its LSTM and GRU had Keras's fused orthogonal init
        gated = expected["arch"].isin(["lstm", "gru"])
        assert gated.sum() == 6 and set(expected.loc[gated, "recurrent_init"]) == {"orthogonal"}
        expected.loc[gated, "recurrent_init"] = "orthogonal_fused"
    loaded = getattr(load_results(legacy), table)
    pd.testing.assert_frame_equal(loaded[expected.columns], expected)
    assert set(loaded.columns) - set(expected.columns) == set(ADDED[table])
    for column, value in ADDED[table].items():
        if value is None:
            assert loaded[column].isna().all(), column
        else:
            assert (loaded[column] == value).all(), column
