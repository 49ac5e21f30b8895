"""The metrics table: every row names a field a trial writes, and every list of metrics
(figures, report sections, comparison columns, terminal columns) is read from it."""

import math

import pytest

from gradsweep import metrics
from gradsweep.records import EPOCH_FIELDS, SUMMARY_FIELDS


def test_every_metric_is_a_field_a_trial_writes():
    assert set(metrics.METRICS) <= metrics.KNOWN_FIELDS


def test_every_numeric_final_metric_has_a_row():
    assert set(SUMMARY_FIELDS) <= set(metrics.METRICS)


def test_every_live_column_is_a_per_epoch_field_and_every_headline_a_final_one():
    assert {name for name, _ in metrics.LIVE_COLUMNS} <= set(EPOCH_FIELDS)
    assert set(metrics.HEADLINE) <= set(SUMMARY_FIELDS)


def test_every_report_section_is_a_heatmap_of_a_final_metric():
    for name, title in metrics.REPORT_HEATMAPS:
        assert name in metrics.HEATMAPS and name in SUMMARY_FIELDS and title


def test_seed_matched_differences_are_named_by_their_scale():
    names = {m.name: m.compared for m in metrics.MATCHED}
    assert names["signal_grad_ratio"] == "log10_signal_grad_ratio"  # a log-scale metric
    assert names["test_acc"] == "test_acc"


def test_a_metric_not_in_the_table_is_shown_by_its_name_linearly():
    row = metrics.metric("made_up")
    assert (row.label, row.log, row.axis_label) == ("made_up", False, "made_up")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.997, "0.997"),
        (61.83, "61.8"),
        (129.4, "129"),
        (1.0, "1"),
        (0.0, "0"),
        (4.2e-8, "4.2e-08"),
        (328_000.0, "3.3e+05"),
        (-0.5, "-0.5"),
        (None, "n/a"),
        (math.nan, "n/a"),
        (math.inf, "n/a"),
    ],
)
def test_format_number(value, text):
    assert metrics.format_number(value) == text


def test_format_number_writes_a_missing_value_as_asked():
    import pandas as pd

    assert metrics.format_number(pd.NA, missing="-") == "-"
