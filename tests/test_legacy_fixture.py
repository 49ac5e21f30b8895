"""An experiment written by gradsweep before the restructure still loads to the same tables.

`tests/fixtures/legacy_v1/` is a real sweep (12 tiny trials, 4 of them failed on purpose)
written by the code of commit 5fa948b, trimmed to the files gradsweep reads; the
`legacy_v1_*.parquet` files are the tables that code loaded from it.
"""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from gradsweep import load_results

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def legacy(tmp_path):
    target = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "legacy_v1", target)  # the reader writes its cache inside
    return target


@pytest.mark.parametrize("table", ["trials", "epochs", "profiles"])
def test_legacy_experiment_loads_to_the_same_tables(legacy, table):
    expected = pd.read_parquet(FIXTURES / f"legacy_v1_{table}.parquet")
    loaded = getattr(load_results(legacy), table)
    pd.testing.assert_frame_equal(loaded, expected)
