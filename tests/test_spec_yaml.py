"""Spec text read as YAML 1.2 (and JSON): what each way of writing a value now means, and
the one-line refusals where YAML 1.1 read it otherwise. No TensorFlow, no Ray."""

import json
import math
from pathlib import Path

import pytest
import yaml

from gradsweep.errors import ConfigError
from gradsweep.spec import SweepSpec
from gradsweep.spec_yaml import load_yaml
from tests.helpers import BASE_SPEC

SWEEPS = Path(__file__).parent.parent / "sweeps"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),  # YAML 1.1: the text '1e-3'
        ("1E-3", 0.001),
        ("1.0e-3", 0.001),
        ("5e4", 50000.0),
        (".5", 0.5),
        ("+.5", 0.5),
        ("0.50", 0.5),
        ("+1", 1),
        ("-0", 0),
        ("010", 10),  # YAML 1.1: octal 8
        ("0o10", 8),  # YAML 1.1: the text '0o10'
        ("0x10", 16),
        ("1_000", 1000),
        ("~", None),
        ("null", None),
        ("true", True),
        ("False", False),
        ("on", "on"),  # YAML 1.1: true
        ("yes", "yes"),
        ("No", "No"),
        ("off", "off"),
        ("y", "y"),
        ("1:30", "1:30"),  # YAML 1.1: 90
        ("2026-11-30", "2026-11-30"),  # YAML 1.1 (and ruamel's default): a date
        ("0.1e", "0.1e"),
    ],
)
def test_scalars_read_as_yaml_1_2_reads_them(text, value):
    read = load_yaml(f"a: {text}\n")["a"]
    assert read == value and type(read) is type(value)


def test_infinities_and_nan_are_floats():
    read = load_yaml("a: [.inf, -.inf, .nan]")["a"]
    assert read[:2] == [math.inf, -math.inf] and math.isnan(read[2])


def test_json_specs_read_as_json_reads_them():
    data = {
        "name": "j",
        "task": "recall",
        "axes": {"arch": ["rnn", "lstm"], "gap": [2, 4], "seq_len": "gap+3", "lr": [1e-3]},
        "fixed": {"hidden": 8, "clip_norm": None, "diagnostics": False},
    }
    for text in (json.dumps(data), json.dumps(data, indent="\t"), json.dumps(data, indent=None)):
        assert load_yaml(text) == data
        assert len(SweepSpec.from_text(text).expand().trials) == 4
    assert load_yaml('{"a":1E+2, "b":"\\u00e9\\/"}') == {"a": 100.0, "b": "é/"}


def test_shipped_specs_mean_the_same_under_yaml_1_1_and_1_2():
    """Nothing in the shipped specs is read differently now (they avoid every difference)."""
    for path in sorted(SWEEPS.glob("*.yaml")):
        assert load_yaml(path.read_text()) == yaml.safe_load(path.read_text()), path.name


def with_fixed(text: str) -> str:
    return BASE_SPEC.replace("fixed: {hidden: 8}", f"fixed: {{hidden: 8, {text}}}")


@pytest.mark.parametrize(
    ("fixed", "field", "value"),
    [
        ("lr: 1e-3", "lr", 0.001),
        ("lr: 1.0E-2", "lr", 0.01),
        ("lr: .5", "lr", 0.5),
        ("train_size: 1_000", "train_size", 1000),
        ("train_size: +1024", "train_size", 1024),
        ("batch_size: 010", "batch_size", 10),
        ("batch_size: 0x10", "batch_size", 16),
        ("clip_norm: ~", "clip_norm", None),
        ("clip_norm: 1", "clip_norm", 1.0),
    ],
)
def test_numbers_written_as_people_write_them_build_trials(fixed, field, value):
    trial = SweepSpec.from_text(with_fixed(fixed)).expand().trials[0]
    assert getattr(trial, field) == value


@pytest.mark.parametrize(
    ("fixed", "match"),
    [
        ("diagnostics: on", r"fixed\.diagnostics: 'on' .*YAML 1\.2 reads on as text.*true or"),
        ("diagnostics: yes", r"'yes' .*YAML 1\.2 reads yes as text, not a boolean"),
        ("diagnostics: 1", r"fixed\.diagnostics: 1 is not allowed: Input should be a valid bool"),
        ("clip_norm: no", r"fixed\.clip_norm: 'no' .*reads no as text: write off, none or null"),
        ("hidden: off", r"fixed\.hidden: 'off' is not allowed"),
        ("lr: off", r"fixed\.lr: 'off' .*reads off as text, not a boolean or a number\)$"),
        ("clip_norm: true", r"fixed\.clip_norm: True is not allowed"),
        ("hidden: 1:30", r"'1:30' .*YAML 1\.2 reads 1:30 as text: it has no base-60 numbers"),
        ("train_size: 1e4", r"10000\.0 is not allowed: .*integer \(.*float: write 10000\)"),
        ("lr: '1e-3'", r"fixed\.lr: '1e-3' .*\(read as text, not as a number: write it as 0\.001"),
        ("lr: .inf", r"fixed\.lr: inf is not allowed"),
        ("lr: .nan", r"fixed\.lr: nan is not allowed"),
        ("hidden: true", r"fixed\.hidden: True is not allowed"),
        # ruamel's float pattern takes `._`, its converter does not: text, refused by name
        ("lr: ._", r"fixed\.lr: '\._' is not allowed"),
    ],
)
def test_values_yaml_1_2_reads_otherwise_are_refused_saying_what_was_read(fixed, match):
    text = with_fixed(fixed).replace("fixed: {hidden: 8, hidden:", "fixed: {hidden:")
    with pytest.raises(ConfigError, match=match) as info:
        SweepSpec.from_text(text)
    assert "\n" not in str(info.value)


OFF_SPEC = """
name: o
task: recall
axes:
  arch: [lstm]
  gap: [2, 4]
  seq_len: gap+3
  clip_norm: [WORD, 1.0]
  models: [{gate_init: chrono, chrono_t_max: WORD}]
fixed: {recurrent_gain: WORD}
"""


@pytest.mark.parametrize("word", ["off", "Off", "OFF", "none", "None", "NONE"])
def test_off_words_are_null_where_null_means_off_as_train_reads_them(word):
    """`clip_norm: off` (axes, fixed, a models entry) is null, as `--clip-norm off` is."""
    trials = SweepSpec.from_text(OFF_SPEC.replace("WORD", word)).expand().trials
    assert [t.clip_norm for t in trials] == [None, 1.0, None, 1.0]
    assert {(t.recurrent_gain, t.chrono_t_max) for t in trials} == {(None, None)}


def test_a_bool_setting_written_on_is_refused_saying_why():
    with pytest.raises(ConfigError, match=r"search\.verify: 'on' .*YAML 1\.2 reads on as text"):
        SweepSpec.from_text(BASE_SPEC + "search: {method: frontier, verify: on}\n")
    with pytest.raises(ConfigError, match=r"skip_infeasible: 'yes' .*reads yes as text"):
        SweepSpec.from_text(BASE_SPEC + "skip_infeasible: yes\n")


def test_a_date_like_name_is_text():
    assert (
        SweepSpec.from_text(BASE_SPEC.replace("name: t", "name: 2026-11-30")).name == "2026-11-30"
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a: 1\na: 2\n", r"^a: given twice \(line 2\); each key once$"),
        ("a: {b: 1, b: 2}\n", r"^b: given twice \(line 1\)"),
        ("a: !!python/object/apply:os.system ['true']\n", "not valid YAML at line 1"),
        ("a: !!python/name:os.system\n", "not valid YAML"),
        ("a: !!binary aGVsbG8=\n", r"tag tag:yaml.org,2002:binary is not allowed: .*plain data"),
        ("a: !!set {x, y}\n", "tag tag:yaml.org,2002:set is not allowed"),
        ("a: !!omap [x: 1]\n", "tag tag:yaml.org,2002:omap is not allowed"),
        ("a: !custom x\n", "not valid YAML"),
        ("? [1, [2]]\n: 3\n", "a mapping key must be a plain name or number"),
        ("? {a: 1}\n: 3\n", "not valid YAML"),
        ("a: &x [*x]\n", "an alias that contains itself"),
        ("a: *nowhere\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "not valid YAML"),
        ("%YAML 1.1\n---\na: yes\n", r"asks for %YAML 1\.1: specs are read as YAML 1\.2"),
        ("[" * 600 + "]" * 600, "nested too deeply"),
    ],
)
def test_text_that_is_not_plain_data_is_one_line_error(text, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_yaml(text)
    assert "\n" not in str(info.value)


def test_shared_anchors_are_read_once_each():
    """A billion-laughs document is checked in time linear in its text, not its expansion."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    data = load_yaml("\n".join(lines))
    assert data["a8"][0][0][0][0][0][0][0][0] == [1] * 10
    with pytest.raises(ConfigError, match=r"^a0: unknown field"):
        SweepSpec.from_text(BASE_SPEC + "\n".join(lines))


def test_a_directive_for_yaml_1_2_is_accepted():
    assert load_yaml("%YAML 1.2\n---\na: 1e-3\n") == {"a": 0.001}


def test_strict_validation_holds_a_yaml_true_is_not_1():
    with pytest.raises(ConfigError, match=r"^axes\.seed\[0\]: True is not allowed"):
        SweepSpec.from_text(BASE_SPEC.replace("gap: [2, 4]", "gap: [2, 4]\n  seed: [true, 2]"))
    with pytest.raises(ConfigError, match=r"^axes\.hidden\[0\]: '8' is not allowed.*as 8\)"):
        text = BASE_SPEC.replace("gap: [2, 4]", "gap: [2, 4]\n  hidden: ['8']")
        SweepSpec.from_text(text.replace("fixed: {hidden: 8}", ""))
