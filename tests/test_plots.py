from itertools import pairwise

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from gradsweep import analysis, plots
from gradsweep.metrics import HEATMAPS
from gradsweep.metrics import metric as metric_row
from tests.helpers import trial_tables


@pytest.fixture(scope="module")
def tables():
    return trial_tables()


@pytest.mark.parametrize("metric", HEATMAPS)
def test_heatmaps_render(tables, metric, tmp_path):
    fig = plots.heatmap(tables[0], metric)
    axis = fig.axes[0]
    assert axis.get_xlabel() == "gap (time steps)"
    labels = [t.get_text() for t in axis.get_yticklabels()]
    assert labels[0] == "SimpleRNN · clip off" and "GRU · clip 1.0" in labels  # as configured
    bar = fig.axes[-1].get_ylabel().replace("\n", " ")  # the colour bar, named from the table
    assert bar == metric_row(metric).axis_label
    paths = plots.save(fig, str(tmp_path / metric))
    assert all((tmp_path / p).stat().st_size > 1000 for p in paths)


def test_heatmap_cells_are_means_over_seeds(tables):
    trials = tables[0]
    fig = plots.heatmap(trials, "test_acc")
    texts = {t.get_text() for t in fig.axes[0].texts}
    mean = trials[(trials.arch == "lstm") & (trials.gap == 40) & trials.clip_norm.isna()]
    assert f"{mean.test_acc.mean():.2f}" in texts


def test_twenty_gaps_by_six_rows_has_no_overlapping_labels(tmp_path):
    trials, _, _ = trial_tables(gaps=tuple(range(5, 205, 10)), seeds=(0,))
    fig = plots.heatmap(trials, "grad_norm_max")
    canvas = FigureCanvasAgg(fig)  # plots never attach a canvas of their own
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels()]
    assert len(ticks) == 20
    assert all(not a.overlaps(b) for a, b in pairwise(ticks))
    cells = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(cells) == 120
    by_row = {}
    for box in cells:
        by_row.setdefault(round(box.y0), []).append(box)
    for row in by_row.values():
        row.sort(key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 for a, b in pairwise(row))


def test_sum_sign_uses_seq_len_on_x(tables):
    trials = tables[0].copy()
    trials["task"] = "sum_sign"
    trials["gap"] = __import__("pandas").array([None] * len(trials), dtype="Int64")
    assert analysis.dependency_axis(trials) == "seq_len"
    assert plots.heatmap(trials, "test_acc").axes[0].get_xlabel() == "seq_len (time steps)"


@pytest.mark.slow  # draws and saves four figures as PNG and SVG: about 3 s
def test_other_figures_render(tables, tmp_path):
    trials, epochs, profiles = tables
    for stem, fig in {
        "gtt": plots.gradient_through_time(profiles, trials),
        "gtt_last": plots.gradient_through_time(profiles, trials, epoch=-1),
        "curves": plots.learning_curves(epochs, trials),
        "frontier": plots.frontier(trials),
    }.items():
        assert fig.axes, stem
        plots.save(fig, str(tmp_path / stem))
    assert len(list(tmp_path.glob("*.png"))) == 4 and len(list(tmp_path.glob("*.svg"))) == 4


def test_hidden_is_a_facet_when_swept():
    trials, _, _ = trial_tables(seeds=(0,))
    wide = trials.copy()
    wide["hidden"] = 64
    both = __import__("pandas").concat([trials, wide.assign(trial_id=wide.trial_id + "h")])
    assert analysis.facets(both) == ["hidden"]
    assert len([a for a in plots.heatmap(both, "test_acc").axes if a.get_xlabel()]) == 2


def test_heatmap_says_grey_cells_did_not_run(tables):
    trials = tables[0]
    walked = trials[~((trials["arch"] == "rnn") & (trials["gap"] > 20))]  # a walk stopped early
    title = plots.heatmap(walked, "test_acc").axes[0].get_title().replace("\n", " ")
    assert "grey: not run" in title
    assert "grey" not in plots.heatmap(trials, "test_acc").axes[0].get_title()


# models x dependency levels; the two large grids draw every figure at size: about 10 s
GRID_SIZES = [
    (1, 1),
    (2, 3),
    (3, 2),
    pytest.param(6, 6, marks=pytest.mark.slow),
    pytest.param(12, 12, marks=pytest.mark.slow),
]


def _tables_of(models: int, levels: int):
    archs = ("rnn", "lstm", "gru")[: min(3, models)]
    clips = (None, 0.5, 1.0, 2.0)[: max(1, -(-models // len(archs)))]
    gaps = tuple(5 * (i + 1) for i in range(levels))
    return trial_tables(gaps=gaps, archs=archs, clips=clips, seeds=(0, 1))


def _clipped_texts(fig) -> list[str]:
    """Every visible, non-empty text whose extent leaves the figure (1 px of slack)."""
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    width, height = canvas.get_width_height()
    undrawn = set()  # labels of ticks outside an axis's limits: made, never drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(1.0, abs(high - low))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - slack <= tick.get_loc() <= high + slack:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    out = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in undrawn:
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > width + 1 or box.y1 > height + 1:
            out.append(text.get_text())
    return out


@pytest.mark.parametrize(("models", "levels"), GRID_SIZES)
def test_no_text_is_cut_off_at_any_grid_size(models, levels):
    trials, _, profiles = _tables_of(models, levels)
    figures = {
        "heatmap": plots.heatmap(trials, "test_acc"),
        "log heatmap": plots.heatmap(trials, "signal_grad_ratio_init"),
        "frontier": plots.frontier(trials),
        "gradient through time": plots.gradient_through_time(profiles, trials),
    }
    if analysis.swept(trials, "clip_norm"):
        epochs = _tables_of(models, levels)[1]
        figures["compare curves"] = plots.compare_curves(epochs, trials, "clip_norm", "val_acc")
        figures["final profiles"] = plots.final_profiles(profiles, trials, "clip_norm")
    for name, fig in figures.items():
        assert _clipped_texts(fig) == [], name
