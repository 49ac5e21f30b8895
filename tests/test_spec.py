"""Spec parsing and grid expansion: no TensorFlow, no Ray."""

from pathlib import Path

import pytest

from gradsweep.config import TrialConfig
from gradsweep.errors import ConfigError
from gradsweep.spec import SweepSpec, describe, estimate_seconds, parse_seq_len
from tests.helpers import BASE_SPEC

SWEEPS = Path(__file__).parent.parent / "sweeps"


def spec(text: str) -> SweepSpec:
    return SweepSpec.from_text(text)


def test_grid_is_the_product_of_the_axes():
    s = spec(BASE_SPEC)
    trials = s.expand().trials
    assert len(trials) == 4
    assert [(t.arch, t.gap, t.seq_len) for t in trials] == [
        ("rnn", 2, 5),
        ("rnn", 4, 7),
        ("lstm", 2, 5),
        ("lstm", 4, 7),
    ]
    assert all(t.hidden == 8 and t.max_epochs == 40 for t in trials)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("gap+10", (1, 10)),
        ("2*gap", (2, 0)),
        ("2*gap+5", (2, 5)),
        ("gap", (1, 0)),
        (" 3 * gap - 1 ", (3, -1)),
        ("gap*4", (4, 0)),
    ],
)
def test_seq_len_expressions(expr, expected):
    assert parse_seq_len(expr) == expected


@pytest.mark.parametrize(
    "expr",
    ["__import__('os')", "gap**2", "gap+", "2*gap*3", "gap+1e9", "len(gap)", "gap+9999999", ""],
)
def test_hostile_seq_len_expressions_are_refused(expr):
    with pytest.raises(ConfigError, match=r"axes\.seq_len"):
        parse_seq_len(expr)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (BASE_SPEC.replace("arch:", "colour:"), r"^axes\.colour: unknown field; allowed: task,"),
        (BASE_SPEC.replace("[rnn, lstm]", "[]"), "axes.arch"),
        (BASE_SPEC.replace("[rnn, lstm]", "[rnn, transformer]"), r"^axes\.arch\[1\]: 'transf"),
        (BASE_SPEC.replace("hidden: 8", "hidden: -8"), "fixed.hidden: -8 is not allowed"),
        (BASE_SPEC.replace("hidden: 8", "hidden: eight"), "fixed.hidden: 'eight'"),
        (BASE_SPEC.replace("gap+3", "gap-3"), "axes: 4 grid point\\(s\\) have gap >= seq_len"),
        (BASE_SPEC.replace("gap+3", "gap**2"), "axes.seq_len"),
        (
            BASE_SPEC.replace("task: recall", "task: sum_sign"),
            r"^axes\.gap\[0\]: 2 is not allowed: .*does not apply to sum_sign",
        ),
        (BASE_SPEC + "extra: 1\n", "extra: unknown field"),
        (BASE_SPEC.replace("name: t", "name: ../up"), "name: '../up' is not allowed"),
        (
            BASE_SPEC.replace("fixed: {hidden: 8}", "fixed: {max_epochs: 3}"),
            r"^fixed\.max_epochs: belongs in budget, not fixed$",
        ),
        (BASE_SPEC.replace("fixed: {hidden: 8}", "fixed: {gap: 3}"), "fixed.gap: is also an axis"),
        (BASE_SPEC + "budget: {max_epochs: 0}\n", "budget.max_epochs: 0"),
        (BASE_SPEC.replace("[2, 4]", "[2, 2]"), r"axes.gap: 2 \(item 1\) and 2 \(item 2\) give"),
        (BASE_SPEC + "task: sum_sign\n", "task: given twice"),
        ("- a\n- b\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML at line"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_bad_specs_are_one_line_errors(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        spec(text)
    assert "\n" not in str(info.value)


def test_skip_infeasible_lists_and_skips():
    s = spec(BASE_SPEC.replace("seq_len: gap+3", "seq_len: [3, 8]") + "skip_infeasible: true\n")
    grid = s.expand()
    assert len(grid.trials) == 6  # (gap 4, seq_len 3) is infeasible for both archs
    assert grid.skipped == [{"task": "recall", "gap": 4, "seq_len": 3}] * 2


def test_non_utf8_bytes_are_refused():
    with pytest.raises(ConfigError, match="not UTF-8"):
        SweepSpec.from_text(b"name: \xff\xfe\n")


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        SweepSpec.from_yaml(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("name", "trials"),
    [
        ("smoke", 6),
        ("demo", 40),
        ("notebook_recall", 18),
        ("notebook_sum_sign", 18),
        ("gap_scan", 216),
        ("frontier_scan", 216),
        ("gpu_cluster", 2700),
        ("le2015_adding", 48),
        ("copy_memory", 8),
        ("remedies_adding", 36),
        ("hs1997_recall", 45),
        ("hs1997_forget_bias", 27),
    ],
)
def test_shipped_specs_validate(name, trials):
    s = SweepSpec.from_yaml(SWEEPS / f"{name}.yaml")
    info = describe(s, s.expand())
    assert info["trials"] == trials
    assert info["estimate_cpu_hours"] > 0


def test_notebook_spec_covers_its_four_models():
    trials = SweepSpec.from_yaml(SWEEPS / "notebook_recall.yaml").expand().trials
    models = {(t.arch, t.clip_norm) for t in trials}
    assert {("rnn", None), ("lstm", None), ("gru", None), ("rnn", 1.0)} <= models
    assert {(t.gap, t.seq_len, t.hidden, t.lr) for t in trials} == {(50, 60, 64, 0.001)}
    # clipped as the notebook's Adam(clipnorm=1.0): each variable's gradient on its own
    assert {t.clip_mode for t in trials if t.clip_norm is not None} == {"per_variable"}
    # unclipped, the mode changes nothing: those trials record the default
    assert {t.clip_mode for t in trials if t.clip_norm is None} == {"global_norm"}


def test_le2015_spec_runs_the_three_models_of_the_paper_with_both_optimizers():
    trials = SweepSpec.from_yaml(SWEEPS / "le2015_adding.yaml").expand().trials
    models = {(t.arch, t.activation, t.recurrent_init, t.optimizer, t.lr) for t in trials}
    assert models == {
        (arch, act, init, opt, lr)
        for arch, act, init in [
            ("rnn", "tanh", "orthogonal"),
            ("rnn", "relu", "identity"),
            ("lstm", "tanh", "orthogonal"),
        ]
        for opt, lr in [("sgd", 0.01), ("adam", 0.001)]
    }
    assert {t.task for t in trials} == {"adding"} and {t.gap for t in trials} == {None}


def test_copy_spec_derives_seq_len_from_the_gap():
    trials = SweepSpec.from_yaml(SWEEPS / "copy_memory.yaml").expand().trials
    assert {(t.gap, t.seq_len) for t in trials} == {(g, g + 20) for g in (100, 200)}


MODELS_SPEC = """
name: m
task: recall
axes:
  models:
    - {arch: rnn, activation: relu, recurrent_init: identity}
    - {arch: gru}
  gap: [2, 4]
fixed: {hidden: 4}
"""


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            ("arch: gru}", "arch: gru, activation: relu}"),
            r"^axes\.models\[1\]\.activation: 'relu' .*relu: rnn and indrnn",
        ),
        (("arch: gru}", "colour: red}"), r"^axes\.models\[1\]\.colour: unknown field"),
        (("- {arch: gru}", "- gru"), r"^axes\.models\[1\]: 'gru' .*a models entry is a mapping"),
        (("hidden: 4}", "hidden: 4, arch: lstm}"), r"^axes\.models\[0\]\.arch: is also"),
        (
            ("arch: gru}", "arch: gru, max_epochs: 3}"),
            r"^axes\.models\[1\]\.max_epochs: belongs in budget, not axes\.models\[1\]$",
        ),
        (("arch: gru}", "arch: gru, hidden: -4}"), r"^axes\.models\[1\]\.hidden: -4 is not"),
        (
            ("arch: gru}", "arch: gru, train_size: 8, batch_size: 16}"),
            r"^axes\.models\[1\]\.train_size: 8 is not allowed: smaller than batch_size 16",
        ),
    ],
)
def test_bad_models_axes_are_one_line_errors(change, match):
    with pytest.raises(ConfigError, match=match):
        SweepSpec.from_text(MODELS_SPEC.replace(*change))


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        ("gap: [2, 4, two]", r"^axes\.gap\[2\]: 'two' is not allowed: .*valid integer$"),
        ("gap: [2, 4.5]", r"^axes\.gap\[1\]: 4\.5 is not allowed"),
        ("gap: 4", r"^axes\.gap: 4 is not allowed: an axis is a list of values \(write \[4\]\)$"),
        ("gap: []", r"^axes\.gap: \[\] is not allowed: an axis needs at least one value$"),
        ("gap: {a: 1}", r"^axes\.gap: \{'a': 1\} is not allowed: an axis is a list of values$"),
        ("gap: [2, 4]\n  lr: [0.1, null]", r"^axes\.lr\[1\]: null is not allowed"),
        ("gap: [2, 4]\n  models: {arch: gru}", r"^axes\.models: \{'arch': 'gru'\} is not allowed"),
        ("gap: [2, 4]\n  7: [1]", r"^axes\.7: unknown field"),
    ],
)
def test_errors_name_the_value_where_the_spec_writes_it(axes, match):
    """No pydantic location (`axes.gap.list[any]`, `axes.1.[key]`): the path as written."""
    text = SAME_BASE.replace("gap: [2, 4]\n  seq_len: gap+3\n  AXIS", f"{axes}\n  seq_len: [9]")
    with pytest.raises(ConfigError, match=match) as info:
        SweepSpec.from_text(text)
    assert "list[" not in str(info.value) and "[key]" not in str(info.value)


MODELS_TYPO = "models: [{arch: rnn}, {arch: lstm, hiden: 4}]"


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        (BASE_SPEC.replace("arch:", "Arch:"), "axes.Arch", "did you mean arch?"),
        (BASE_SPEC.replace("arch:", "modles:"), "axes.modles", "did you mean models?"),
        (BASE_SPEC.replace("hidden: 8", "hiden: 8"), "fixed.hiden", "did you mean hidden?"),
        (BASE_SPEC.replace("hidden: 8", "clipnorm: 1"), "fixed.clipnorm",
         "did you mean clip_norm?"),
        (BASE_SPEC.replace("axes:", "axs:"), "axs", "did you mean axes?"),
        (BASE_SPEC + "max_trails: 9\n", "max_trails", "did you mean max_trials?"),
        (BASE_SPEC + "budget: {max_epoch: 3}\n", "budget.max_epoch", "did you mean max_epochs?"),
        (BASE_SPEC + "search: {methd: grid}\n", "search.methd", "did you mean method?"),
        (BASE_SPEC + "resources: {cpu_per_trial: 2}\n", "resources.cpu_per_trial",
         "did you mean cpus_per_trial?"),
        (BASE_SPEC.replace("arch: [rnn, lstm]", MODELS_TYPO), "axes.models[1].hiden",
         "did you mean hidden?"),
        (BASE_SPEC + "budget: {zzz: 3}\n", "budget.zzz", "allowed: max_epochs, solve_threshold"),
    ],
)  # fmt: skip
def test_a_misspelled_key_is_refused_with_the_closest_field(text, field, hint):
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_text(text)
    assert str(info.value) == f"{field}: unknown field; {hint}"


def test_a_section_that_is_not_a_mapping_is_refused_without_class_names():
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_text(BASE_SPEC + "budget: [1]\n")
    assert str(info.value) == "budget: [1] is not allowed: Input should be a valid dictionary"


def test_a_section_key_that_is_a_number_is_named_as_written():
    with pytest.raises(ConfigError, match=r"^budget\.1: unknown field"):
        SweepSpec.from_text(BASE_SPEC + "budget: {1: 3}\n")


def test_models_axis_entries_become_the_trials_fields():
    spec = SweepSpec.from_text(MODELS_SPEC.replace("gap: [2, 4]", "gap: [2, 4]\n  seq_len: gap+2")
                               + "search: {method: frontier}\n")  # fmt: skip
    trials = spec.expand().trials
    assert [(t.arch, t.activation, t.recurrent_init, t.gap) for t in trials] == [
        ("rnn", "relu", "identity", 2), ("rnn", "relu", "identity", 4),
        ("gru", "tanh", "orthogonal", 2), ("gru", "tanh", "orthogonal", 4),
    ]  # fmt: skip
    plan = spec.frontier_plan()
    assert plan.model_fields == ["arch", "activation", "recurrent_init"]


def test_frontier_scan_is_gap_scan_searched():
    scan = SweepSpec.from_yaml(SWEEPS / "gap_scan.yaml")
    searched = SweepSpec.from_yaml(SWEEPS / "frontier_scan.yaml")
    assert searched.expand().trials == scan.expand().trials
    info = describe(searched, searched.expand())["search"]
    assert info["axis"] == "gap" and info["models"] == ["arch", "clip_norm"]
    # 6 models; a level is decided by 2 of 3 seeds, and verify decides one level more
    assert (info["fewest"], info["most"]) == (6 * (2 + 2), 216)
    assert describe(scan, scan.expand())["search"] is None


SEARCH_SPEC = """
name: s
task: recall
axes:
  arch: [rnn]
  gap: [2, 4]
  seq_len: gap+3
  seed: [0, 1, 2]
search: {SEARCH}
"""


@pytest.mark.parametrize(
    ("search", "match"),
    [
        ("{method: bisect}", "search.method"),
        ("{method: frontier, axis: hidden}", "search.axis: 'hidden' is not allowed"),
        ("{method: frontier, axis: seed}", "search.axis: 'seed' is not allowed"),
        ("{method: frontier, axis: seq_len}", "expression of gap"),
        ("{method: frontier, majority: 4}", "search.majority: 4 is not allowed"),
        ("{method: frontier, majority: 0}", "search.majority"),
        ("{method: frontier, lookahead: -1}", "search.lookahead"),
        ("{method: frontier, verify: yes please}", "search.verify"),
        ("{method: frontier, bogus: 1}", "search.bogus: unknown field"),
    ],
)
def test_bad_search_settings_are_one_line_errors(search, match):
    with pytest.raises(ConfigError, match=match) as info:
        SweepSpec.from_text(SEARCH_SPEC.replace("{SEARCH}", search))
    assert "\n" not in str(info.value)


def test_a_search_axis_with_one_value_is_refused():
    text = SEARCH_SPEC.replace("gap: [2, 4]", "gap: [2]").replace("{SEARCH}", "{method: frontier}")
    with pytest.raises(ConfigError, match=r"search\.axis: gap has one value"):
        SweepSpec.from_text(text)


def test_default_majority_is_more_than_half_the_seeds():
    spec = SweepSpec.from_text(SEARCH_SPEC.replace("{SEARCH}", "{method: frontier}"))
    plan = spec.frontier_plan()
    assert (plan.axis, plan.majority, plan.model_fields) == ("gap", 2, ["arch"])


SAME_BASE = """
name: d
task: recall
axes:
  gap: [2, 4]
  seq_len: gap+3
  AXIS
fixed: {hidden: 4}
"""


@pytest.mark.parametrize(
    ("axis", "match"),
    [
        ("clip_norm: [1, 1.0]", r"axes\.clip_norm: 1 \(item 1\) and 1\.0 \(item 2\)"),
        ("lr: [0.001, 1e-3]", r"axes\.lr: 0\.001 \(item 1\) and 0\.001 \(item 2\)"),
        ("lr: [1.0e-2, 0.01, 1E-2]", r"axes\.lr: 0\.01 \(item 1\) and 0\.01 \(item 2\)"),
        ("seed: [0, 1, 0]", r"axes\.seed: 0 \(item 1\) and 0 \(item 3\)"),
        ("train_size: [1_024, 1024]", r"axes\.train_size: 1024 \(item 1\) and 1024 \(item 2\)"),
        ("arch: [gru, lstm, gru]", r"axes\.arch: 'gru' \(item 1\) and 'gru' \(item 3\)"),
        ("models: [{arch: rnn}, {arch: rnn, activation: tanh}]", r"axes\.models: \{arch: 'rnn'\}"),
        ("models: [{arch: lstm}, {arch: lstm, forget_bias: 1}]", r"\(item 1\) and \{arch: 'lstm'"),
        ("models: [{arch: gru}, {arch: gru}]", r"axes\.models: \{arch: 'gru'\} \(item 1\)"),
        ("models: [{activation: tanh}, {recurrent_init: orthogonal}]", r"axes\.models: \{act"),
    ],
)
def test_grid_points_that_give_the_same_trial_config_are_refused(axis, match):
    with pytest.raises(ConfigError, match=match + ".*give the same trial config") as info:
        SweepSpec.from_text(SAME_BASE.replace("AXIS", axis))
    assert "\n" not in str(info.value)


CLIP_MODE_SAME = r"give the same trial config: clip_mode applies only where clip_norm is set"


@pytest.mark.parametrize(
    ("axis", "match"),
    [
        (
            "clip_norm: [null, 1]\n  clip_mode: [global_norm, value]",
            r"^axes\.clip_mode: 'global_norm' \(item 1\) and 'value' \(item 2\) ",
        ),
        (
            "clip_norm: [off, 1]\n  clip_mode: [value, per_variable]",
            r"^axes\.clip_mode: 'value' \(item 1\) and 'per_variable' \(item 2\) ",
        ),
        (
            "models: [{clip_norm: null, clip_mode: value}, {clip_norm: null}]",
            r"^axes\.models: \{clip_norm: null, clip_mode: 'value'\} \(item 1\) and "
            r"\{clip_norm: null\} \(item 2\) ",
        ),
    ],
)
def test_a_clip_mode_that_collapses_without_clipping_says_why(axis, match):
    with pytest.raises(ConfigError, match=match + CLIP_MODE_SAME) as info:
        SweepSpec.from_text(SAME_BASE.replace("AXIS", axis))
    assert "\n" not in str(info.value)


def test_clip_modes_paired_with_a_clip_in_models_entries_are_kept():
    models = "models: [{clip_norm: null}, {clip_norm: 1, clip_mode: value}, {clip_norm: 1}]"
    trials = SweepSpec.from_text(SAME_BASE.replace("AXIS", models)).expand().trials
    modes = [(t.clip_norm, t.clip_mode) for t in trials if t.gap == 2]
    assert modes == [(None, "global_norm"), (1.0, "value"), (1.0, "global_norm")]


def test_a_models_entry_equal_to_a_task_default_is_refused():
    text = """
name: c
task: copy
axes:
  gap: [5, 10]
  models: [{arch: lstm}, {arch: lstm, hidden: 128}]
"""  # copy's default hidden is 128
    with pytest.raises(ConfigError, match=r"axes\.models: .*give the same trial config"):
        SweepSpec.from_text(text)


def test_the_clip_example_that_hung_a_frontier_search_is_refused_at_once():
    text = SEARCH_SPEC.replace("{SEARCH}", "{method: frontier}")
    text = text.replace("arch: [rnn]", "arch: [rnn]\n  clip_norm: [1, 1.0]")
    with pytest.raises(ConfigError, match=r"axes\.clip_norm: 1 \(item 1\) and 1\.0"):
        SweepSpec.from_text(text)


def test_distinct_values_that_look_alike_are_kept():
    spec = SweepSpec.from_text(SAME_BASE.replace("AXIS", "lr: [0.001, 0.0010001, 1e-2]"))
    assert sorted({t.lr for t in spec.expand().trials}) == [0.001, 0.0010001, 0.01]


NOT_DIFFICULTY = (
    r"an axis where larger is harder for every model, a dependency length: gap or seq_len"
)


@pytest.mark.parametrize(
    ("axes", "search", "match"),
    [
        ("clip_norm: [null, 0.5, 1.0]", "axis: clip_norm", r"'clip_norm' is not allowed: .*gap or"),
        ("arch: [gru, lstm, rnn]", "axis: arch", r"'arch' is not allowed: .*dependency length"),
        ("recurrent_init: [orthogonal, identity]", "axis: recurrent_init", "dependency length"),
        ("optimizer: [adam, sgd]", "axis: optimizer", "dependency length"),
        ("diagnostics: [true, false]", "axis: diagnostics", r"'diagnostics' .*dependency length"),
        ("hidden: [4, 8]", "axis: seed", r"'seed' is not allowed: seeds repeat a level"),
        ("hidden: [4, 8]", "axis: colour", r"'colour' is not allowed: .*can search: gap$"),
        ("hidden: [4, 8]", "axis: seq_len", "expression of gap"),
    ],
)
def test_a_frontier_axis_must_be_a_swept_dependency_length(axes, search, match):
    text = SEARCH_SPEC.replace("arch: [rnn]", axes).replace(
        "{SEARCH}", f"{{method: frontier, {search}}}"
    )
    with pytest.raises(ConfigError, match=r"search\.axis: .*" + match) as info:
        SweepSpec.from_text(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "axes",
    ["hidden: [4, 8, 16]", "lr: [0.0001, 0.001, 0.01]", "recurrent_gain: [0.5, 1.0, 1.5]"],
)
def test_a_frontier_over_a_numeric_axis_that_is_not_a_difficulty_is_refused(axes):
    """A model can fail at a middle hidden size, learning rate or gain and learn above it:
    the walk would stop there, so it is refused, naming the axes it can walk."""
    axis = axes.split(":")[0]
    text = SEARCH_SPEC.replace("arch: [rnn]", axes).replace(
        "{SEARCH}", f"{{method: frontier, axis: {axis}}}"
    )
    with pytest.raises(ConfigError) as info:
        SweepSpec.from_text(text)
    assert str(info.value) == (
        f"search.axis: {axis!r} is not allowed: a frontier walks up an axis where larger is "
        "harder for every model, a dependency length: gap or seq_len; this spec can search: gap"
    )


ADDING_SEARCH = "name: a\ntask: adding\naxes:\n  AXES\n  seed: [0, 1]\nsearch: {method: frontier}\n"


@pytest.mark.parametrize(
    ("axes", "match"),
    [
        ("models: [{seq_len: 4}, {seq_len: 8}]", "it is set inside models"),
        ("hidden: [4, 8]\n  models: [{seq_len: 4}]", "it is set inside models"),
        ("hidden: [4, 8]", r"it must be a swept axis; this spec can search: none$"),
    ],
)
def test_a_dependency_axis_not_swept_as_an_axis_is_refused(axes, match):
    with pytest.raises(ConfigError, match=r"^search\.axis: 'seq_len' is not allowed: " + match):
        SweepSpec.from_text(ADDING_SEARCH.replace("AXES", axes))


@pytest.mark.parametrize(
    ("task", "axes", "expected"),
    [
        ("recall", "gap: [2, 4]\n  seq_len: gap+3", "gap"),
        ("copy", "gap: [2, 4]", "gap"),
        ("sum_sign", "seq_len: [4, 8]", "seq_len"),
        ("adding", "seq_len: [4, 8]", "seq_len"),
    ],
)
def test_the_default_frontier_axis_is_the_tasks_dependency_axis(task, axes, expected):
    text = f"name: x\ntask: {task}\naxes:\n  {axes}\n  seed: [0, 1]\nsearch: {{method: frontier}}\n"
    assert SweepSpec.from_text(text).frontier_plan().axis == expected


def test_validate_warns_once_of_chrono_where_its_dependency_length_is_below_3():
    text = SAME_BASE.replace("gap: [2, 4]", "gap: [1, 2, 4]").replace(
        "AXIS", "models: [{arch: lstm, gate_init: chrono}, {arch: gru, gate_init: chrono}]"
    )
    spec = SweepSpec.from_text(text)  # a warning, not an error
    lines = describe(spec, spec.expand())["warnings"]
    assert [line.split(",")[0] for line in lines] == [
        "gate_init: chrono at gap 1 takes T_max 1",
        "gate_init: chrono at gap 2 takes T_max 2",
    ]


def test_a_tiny_trials_estimate_covers_its_measured_fixed_cost():
    # measured 2026-11-30 (spec.TRIAL_OVERHEAD_S): one epoch of 1,024 sequences of 8 steps
    # took 3.0 s (rnn) and 4.5 s (exprnn), almost all of it tracing and set-up
    for arch, measured in (("rnn", 3.0), ("exprnn", 4.5)):
        cfg = TrialConfig(arch=arch, gap=4, seq_len=8, hidden=32, train_size=1024, max_epochs=1)
        assert estimate_seconds(cfg) >= measured
