"""Property-based bad input: every malformed spec or option value is one line, exit 2, no
traceback, no Ray, nothing written, no code executed. In process, no subprocess per case."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradsweep.cli import main
from gradsweep.errors import ConfigError
from gradsweep.spec import SweepSpec

BASE = {
    "name": "prop",
    "task": "recall",
    "axes": {"arch": ["rnn", "lstm"], "gap": [2, 4], "seq_len": "gap+3", "seed": [0]},
    "fixed": {"hidden": 8, "train_size": 64},
    "budget": {"max_epochs": 1},
}
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

not_an_int = st.one_of(
    st.text(min_size=1, max_size=8).filter(lambda t: not t.strip().lstrip("-").isdigit()),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)
unknown_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12).filter(
    lambda k: (
        k
        not in {
            "name",
            "task",
            "axes",
            "fixed",
            "budget",
            "resources",
            "max_failures",
            "skip_infeasible",
            "max_trials",
        }
    )
)
hostile_expr = st.one_of(
    st.sampled_from(
        [
            "__import__('os').system('true')",
            "gap**gap",
            "open('x')",
            "gap+",
            "*gap",
            "gap / 2",
            "gap+1e9",
            "lambda: 1",
            "${gap}",
            "gap;1",
            "9" * 20 + "*gap",
        ]
    ),
    st.text(alphabet="gap+-*/() 0123456789_.ximport", min_size=1, max_size=20).filter(
        lambda t: t.replace(" ", "") not in {"gap"} and not _valid_expr(t)
    ),
)


def _valid_expr(text: str) -> bool:
    from gradsweep.spec import parse_seq_len

    try:
        parse_seq_len(text)
        return True
    except ConfigError:
        return False


@st.composite
def malformed_spec(draw) -> bytes:
    """A spec that is wrong in exactly one drawn way."""
    spec = yaml.safe_load(yaml.safe_dump(BASE))
    kind = draw(
        st.sampled_from(
            [
                "type",
                "unknown",
                "empty_axis",
                "duplicate",
                "bytes",
                "tag",
                "expr",
                "negative",
                "not_mapping",
                "unknown_axis",
            ]
        )
    )
    if kind == "type":
        field = draw(st.sampled_from(["hidden", "train_size"]))
        spec["fixed"][field] = draw(not_an_int)
    elif kind == "unknown":
        spec[draw(unknown_key)] = draw(st.integers())
    elif kind == "unknown_axis":
        spec["axes"][
            draw(
                unknown_key.filter(
                    lambda k: (
                        k
                        not in {
                            "arch",
                            "gap",
                            "seq_len",
                            "seed",
                            "hidden",
                            "lr",
                            "scale",
                            "task",
                            "probe_size",
                        }
                    )
                )
            )
        ] = [1]
    elif kind == "empty_axis":
        spec["axes"][draw(st.sampled_from(["arch", "gap", "seed"]))] = []
    elif kind == "negative":
        spec["fixed"][draw(st.sampled_from(["hidden", "train_size"]))] = draw(
            st.integers(max_value=0)
        )
    elif kind == "expr":
        spec["axes"]["seq_len"] = draw(hostile_expr)
    elif kind == "not_mapping":
        return yaml.safe_dump(
            draw(st.one_of(st.lists(st.integers(), max_size=3), st.integers(), st.text(max_size=5)))
        ).encode()
    text = yaml.safe_dump(spec, sort_keys=False)
    if kind == "duplicate":
        key = draw(st.sampled_from(["name", "task", "budget"]))
        line = next(line for line in text.splitlines() if line.startswith(key + ":"))
        text = text + line + "\n"
    elif kind == "tag":
        tag = draw(
            st.sampled_from(
                [
                    "!!python/object/apply:os.system ['touch PWNED']",
                    "!!python/object/new:os.system ['touch PWNED']",
                    "!!python/name:os.system",
                    "!!binary aGVsbG8=",
                ]
            )
        )
        text = text.replace("name: prop", f"name: {tag}")
    elif kind == "bytes":
        raw = text.encode()
        cut = draw(st.integers(0, len(raw)))
        return (
            raw[:cut]
            + draw(st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\x80abc"]))
            + raw[cut:]
        )
    return text.encode()


@SETTINGS
@given(raw=malformed_spec())
def test_malformed_specs_are_one_line_errors(raw, tmp_path_factory):
    directory = tmp_path_factory.mktemp("spec")
    path = directory / "spec.yaml"
    path.write_bytes(raw)
    try:
        SweepSpec.from_text(raw)
    except ConfigError as err:
        assert "\n" not in str(err) and str(err)
    else:
        raise AssertionError(f"accepted a malformed spec: {raw!r}")
    for command in ("validate", "launch"):
        code, err = _run(
            [command, str(path), "--storage", str(directory)]
            if command == "launch"
            else [command, str(path)]
        )
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert sorted(p.name for p in directory.iterdir()) == ["spec.yaml"]  # nothing written
    assert not (directory / "PWNED").exists() and not __import__("os").path.exists("PWNED")
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def _run(argv: list[str]) -> tuple[int, str]:
    """`main(argv)` and what it wrote to stderr (rich's console writes to sys.stderr)."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        code = main(argv)
    return code, buffer.getvalue()


bad_option = st.one_of(
    st.tuples(
        st.sampled_from(
            [
                "--hidden",
                "--seq-len",
                "--batch-size",
                "--train-size",
                "--epochs",
                "--probe-size",
                "--threads",
                "--checkpoint-every",
            ]
        ),
        st.one_of(
            st.integers(max_value=0).map(str),
            st.text(alphabet="abc.-x", min_size=1, max_size=6).filter(
                lambda t: not t.lstrip("-").isdigit()
            ),
        ),
    ),
    st.tuples(
        st.sampled_from(["--lr", "--clip-norm", "--scale"]),
        st.one_of(
            st.floats(max_value=0).map(repr), st.sampled_from(["nan", "inf", "-inf", "fast"])
        ),
    ),
    st.tuples(
        st.sampled_from(["--arch", "--task", "--recurrent-init"]),
        st.text(alphabet="xyzQ_", min_size=1, max_size=8),
    ),
    st.tuples(
        st.just("--solve-threshold"),
        st.one_of(
            st.floats(max_value=0.5).map(repr), st.floats(min_value=1.0001, max_value=1e9).map(repr)
        ),
    ),
)


@SETTINGS
@given(option=bad_option)
def test_bad_train_options_are_one_line_errors(option):
    name, value = option
    code, err = _run(["train", name, value])
    assert code == 2, (option, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


STRICT_CASES = [
    ("axes:\n  arch: [rnn]\n  gap: [true, 6]\n  seq_len: gap+4\n", "axes.gap[0]: True is not"),
    ("axes:\n  arch: [rnn]\n  gap: [null, 6]\n  seq_len: gap+4\n", "axes.gap[0]: null is not"),
    ("axes: {arch: [rnn], gap: [2]}\nfixed: {test_size: true}\n", "fixed.test_size: True"),
    ("axes: {arch: [rnn], gap: [2]}\nfixed: {batch_size: 1180591620717411303424}\n", "batch_size"),
    ("axes: {arch: [rnn], gap: [2]}\nfixed: {train_size: 100000000000}\n", "train_size"),
    ("axes: {arch: [rnn], gap: [2]}\nresources: {gpus_per_trial: true}\n", "gpus_per_trial"),
    (
        "axes: {arch: [rnn], gap: [2]}\nresources: {gpus_per_trial: 1180591620717411303424}\n",
        "gpus",
    ),
    ("axes: {arch: [rnn], gap: [2]}\nfixed: {batch_size: 128, train_size: 64}\n", "batch_size 128"),
]


def test_input_that_validated_before_is_refused_in_one_line(tmp_path):
    for body, match in STRICT_CASES:
        path = tmp_path / "spec.yaml"
        path.write_text("name: strict\ntask: recall\n" + body)
        code, err = _run(["validate", str(path)])
        assert code == 2 and match in err, (body, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_a_trial_this_machine_cannot_hold_is_refused_before_ray(tmp_path, monkeypatch):
    from ray._private.accelerators import NvidiaGPUAcceleratorManager

    monkeypatch.chdir(tmp_path)
    smoke = str(Path(__file__).parent.parent.parent / "sweeps" / "smoke.yaml")
    gpus = NvidiaGPUAcceleratorManager.get_current_node_num_accelerators()
    code, err = _run(["launch", smoke, "--gpus-per-trial", str(gpus + 1)])
    assert code == 2 and f"this machine has {gpus} GPU(s)" in err
    code, err = _run(["launch", smoke, "--cpus-per-trial", str((os.cpu_count() or 1) + 1)])
    assert code == 2 and "CPU(s)" in err and len(err.strip().splitlines()) == 1
    code, err = _run(["train", "--train-size", "2000000000", "--seq-len", "10000"])
    assert code == 2 and err.startswith("error: memory:")
    assert list(tmp_path.iterdir()) == []
    assert "ray" not in sys.modules or not __import__("ray").is_initialized()


def test_a_trial_above_this_machines_memory_is_refused_unless_yes(tmp_path):
    from gradsweep.sweep import prepare

    spec = SweepSpec.from_text(
        "name: big\ntask: recall\naxes: {arch: [rnn], gap: [2]}\n"
        "fixed: {train_size: 2000000000, seq_len: 10000}\n"
    )
    try:
        prepare(spec, storage=str(tmp_path))
    except ConfigError as err:
        assert str(err).startswith("memory: a trial may need about") and "--yes" in str(err)
    else:
        raise AssertionError("a trial of about 150,000 GiB was accepted")
    assert prepare(spec, storage=str(tmp_path), yes=True).memory > 2**40  # the override
    assert list(tmp_path.iterdir()) == []
