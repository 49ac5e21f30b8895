"""`TrialConfig`: everything that defines one trial, and the choices its fields allow.

The ground floor of the package with `records.py`: it imports only `tasks` (whose rules
say which task settings are well posed) and `errors`, never TensorFlow or Ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gradsweep import archs, tasks
from gradsweep.archs import ARCHS
from gradsweep.errors import from_validation_error

Task = Literal["recall", "sum_sign", "adding", "copy"]
Arch = Literal["rnn", "lstm", "gru", "urnn", "exprnn", "indrnn"]
# SimpleRNN's activation: relu with `recurrent_init: identity` is the IRNN of Le et al. 2015;
# modrelu is the uRNN's and expRNN's (Arjovsky et al. 2016; see gradsweep/cells.py).
Activation = Literal["tanh", "relu", "modrelu"]
# Le et al. 2015 (SGD, by secondary accounts) and Hochreiter & Schmidhuber 1997 did not train
# with Adam; Arjovsky et al. 2016 used RMSProp.
Optimizer = Literal["adam", "sgd", "rmsprop"]
# Recurrent initialisers worth comparing: the vanishing-gradient results depend on them
# (Pascanu et al. 2013; Le et al. 2015 use the identity for ReLU RNNs).
# For LSTM and GRU, orthogonal and identity apply to each square gate block on its own;
# orthogonal_fused is Keras's own orthogonal over the fused (hidden, blocks * hidden) matrix.
# henaff and cayley are expRNN's (Lezcano-Casado & Martinez-Rubio 2019, their code's
# initialization.py); own is the paper's own init of urnn and indrnn (see gradsweep/cells.py).
RecurrentInit = Literal[
    "orthogonal",
    "glorot_uniform",
    "identity",
    "random_normal",
    "orthogonal_fused",
    "henaff",
    "cayley",
    "own",
]
# LSTM/GRU gate biases: Keras's (forget bias 1, the rest 0), or chrono (Tallec & Ollivier 2018).
GateInit = Literal["keras", "chrono"]
# How `clip_norm` bounds a step's gradients: the global norm over all variables (Pascanu et
# al. 2013), each variable's norm on its own (Keras's `clipnorm`, the notebook's clipped
# model), or each entry to [-clip_norm, clip_norm] (Arjovsky et al. 2016's code).
ClipMode = Literal["global_norm", "per_variable", "value"]
# The float type of weights, data, loss, the epoch's accumulators and the gradient probe.
Dtype = Literal["float32", "float64"]
# Per-variable gradient groups, named the same whatever Keras calls the layers.
VARIABLE_GROUPS = ("input_kernel", "recurrent_kernel", "bias", "head")

DEFAULT_GAP = 10  # for the tasks whose dependency axis is gap (recall, copy)
# Validation checks per epoch when `eval_every` is left out: samples_to_solve then resolves
# an eighth of an epoch (issue 24; H&S 1997 count sequences, not epochs).
EVAL_CHECKS = 8
# chrono's biases are log U[1, T_max - 1] (Tallec & Ollivier 2018, as `models._chrono_bias`
# draws them): below T_max 3 the range is [1, 1] and every bias is log 1 = 0.
CHRONO_T_MIN = 3
CHRONO_DEGENERATE = (
    "chrono's biases log U[1, T_max - 1] are then log U[1, 1] = 0 (Keras's forget bias is 1)"
)
# TensorFlow indexes tensors with int32: sizes beyond it cannot be gathered or sliced.
INT32_MAX = 2**31 - 1


def check_interval(eval_every: int | None, batch_size: int, train_size: int) -> int:
    """Training sequences between validation checks, the resolution of `samples_to_solve`:
    `eval_every` in whole minibatches (one at least), an epoch at most; an epoch where
    `eval_every` is absent (trials recorded before the checks inside an epoch)."""
    if eval_every is None:
        return train_size
    return min(train_size, max(1, eval_every // batch_size) * batch_size)


@dataclass(frozen=True)
class Role:
    """What a `TrialConfig` field is, beyond its type, declared once in the field itself
    (as `Annotated` metadata); every list of fields elsewhere is derived from these.

    - `section`: where a spec gives it: None for `axes`/`fixed`, else "budget" or
      "resources" (which own it, so a spec may not sweep it).
    - `rankable`: it can change what a trial learns, so axis importance ranks it when it
      is swept (`seed` too: it is the noise floor); False for how a trial is measured.
    - `shapes_init`: it shapes the weights at init, so measurements taken before training
      (the initial signal-gradient ratio) are fitted per value of it.
    - `bare`: its values say what they are: labels show "relu", not "activation relu".
    - `label`: its name in labels, when not the field's name.
    - `option`: `gradsweep train`'s option, when not `--field-name`.
    - `off`: what None means when it is allowed ("off" for no clipping); None when a
      spec's null is refused.
    - `in_table`: a column of the trials table (False: how a trial ran, not what it was).
    - `per_task`: its default depends on the task (`tasks.Task.defaults` or the gap) or the
      arch (`ArchInfo.defaults`), so `train` leaves it to the config unless given.
    """

    section: Literal["budget", "resources"] | None = None
    rankable: bool = True
    shapes_init: bool = False
    bare: bool = False
    label: str | None = None
    option: str | None = None
    off: str | None = None
    in_table: bool = True
    per_task: bool = False


# How a trial is measured or bounded rather than what it learns: never ranked.
_MEASURE = Role(rankable=False)


class TrialConfig(BaseModel):
    """Everything that defines one trial. Frozen; unknown fields are rejected.

    Each field's `Role` (its `Annotated` metadata) says how the rest of gradsweep treats
    it; a new field is declared here, with its role and description, and nowhere else.
    """

    # strict: a YAML `true` is not the integer 1, nor "3" the integer 3
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    task: Annotated[Task, Role()] = Field(
        "recall",
        description="recall, sum_sign, adding (H&S 1997; Arjovsky et al. 2016) or copy "
        "(Arjovsky et al. 2016).",
    )
    arch: Annotated[Arch, Role(shapes_init=True)] = Field(
        "rnn",
        description="rnn = SimpleRNN, lstm, gru, urnn (Arjovsky et al. 2016), exprnn "
        "(Lezcano-Casado & Martinez-Rubio 2019) or indrnn (Li et al. 2018).",
    )
    activation: Annotated[Activation, Role(shapes_init=True, bare=True, per_task=True)] = Field(
        "tanh",
        description="rnn: tanh, or relu (with recurrent_init identity: IRNN); lstm, gru: tanh; "
        "urnn, exprnn: modrelu; indrnn: relu (default) or tanh.",
    )
    hidden: Annotated[int, Role(shapes_init=True, per_task=True)] = Field(
        32, ge=1, le=4096, description="Recurrent units."
    )
    seq_len: Annotated[int, Role(per_task=True)] = Field(
        20, ge=1, le=100_000, description="Inputs per sequence (copy: gap + 20)."
    )
    gap: Annotated[int | None, Role(per_task=True)] = Field(
        None,
        ge=0,
        le=100_000,
        description="recall: steps between the signal and the last input; copy: the blanks "
        f"between the symbols and the delimiter (T); {DEFAULT_GAP} for both when absent; "
        "none for sum_sign and adding.",
    )
    scale: Annotated[float, Role()] = Field(
        10.0, gt=0, allow_inf_nan=False, description="sum_sign input std."
    )
    recurrent_init: Annotated[
        RecurrentInit, Role(shapes_init=True, label="init", per_task=True)
    ] = Field(
        "orthogonal",
        description="Initialiser of the recurrent kernel: orthogonal, glorot_uniform, identity, "
        "random_normal; lstm/gru also orthogonal_fused (Keras's, over all gate blocks at once; "
        "orthogonal and identity apply per block); exprnn henaff (default) or cayley; urnn and "
        "indrnn own (their papers').",
    )
    recurrent_gain: Annotated[float | None, Role(shapes_init=True, label="gain", off="as init")] = (
        Field(
            None,
            gt=0,
            le=100,
            allow_inf_nan=False,
            description="Scale the recurrent kernel at init so its spectral radius is this "
            "(lstm/gru: every gate block's); absent = as the initialiser gives. rnn, lstm, gru.",
        )
    )
    forget_bias: Annotated[float, Role(shapes_init=True)] = Field(
        1.0,
        ge=-20,
        le=20,
        allow_inf_nan=False,
        description="lstm only: the forget gate's bias at init (Keras's default 1.0).",
    )
    gate_init: Annotated[GateInit, Role(shapes_init=True, bare=True)] = Field(
        "keras",
        description="lstm/gru gate biases: keras, or chrono (Tallec & Ollivier 2018: forget "
        "bias log U[1, chrono_t_max - 1], input bias its negative).",
    )
    chrono_t_max: Annotated[int | None, Role(shapes_init=True, off="dependency")] = Field(
        None,
        le=1_000_000,
        description=f"chrono's T_max, {CHRONO_T_MIN} or more; absent = the trial's dependency "
        "length (gap for recall and copy, seq_len for sum_sign and adding).",
    )
    clip_norm: Annotated[float | None, Role(off="off")] = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Clip gradients at this threshold (see clip_mode); absent (a spec's null) "
        "= off.",
    )
    clip_mode: Annotated[ClipMode, Role(bare=True)] = Field(
        "global_norm",
        description="global_norm (all gradients as one vector), per_variable (each variable's "
        "gradient on its own, as Keras's clipnorm) or value (each entry); applies when "
        "clip_norm is set (an unclipped trial records global_norm, so it is one config).",
    )
    optimizer: Annotated[Optimizer, Role(bare=True)] = Field(
        "adam", description="adam, sgd or rmsprop."
    )
    lr: Annotated[float, Role(per_task=True)] = Field(
        1e-3, gt=0, allow_inf_nan=False, description="Learning rate."
    )
    momentum: Annotated[float, Role()] = Field(
        0.0, ge=0, lt=1, allow_inf_nan=False, description="Momentum of sgd or rmsprop (0 for adam)."
    )
    batch_size: Annotated[int, Role()] = Field(
        64, ge=1, le=INT32_MAX, description="Sequences per step."
    )
    train_size: Annotated[int, Role()] = Field(
        4096, ge=1, le=INT32_MAX, description="Training sequences per epoch."
    )
    val_size: Annotated[int, _MEASURE] = Field(
        1024, ge=1, le=INT32_MAX, description="Validation sequences."
    )
    test_size: Annotated[int, _MEASURE] = Field(
        2048, ge=1, le=INT32_MAX, description="Test sequences."
    )
    fresh_data: Annotated[bool, Role()] = Field(
        False,
        description="Train every epoch on train_size newly drawn sequences (from the seed) "
        "instead of one fixed training set; validation and test sets stay fixed.",
    )
    dtype: Annotated[Dtype, Role(shapes_init=True, bare=True)] = Field(
        "float32",
        description="float32 or float64 for weights, data, loss, accumulators and the "
        "gradient probe (Keras's global floatx is not used).",
    )
    seed: Annotated[int, Role()] = Field(
        0, ge=0, lt=2**32, description="Seed of data, weights and shuffling."
    )
    max_epochs: Annotated[
        int, Role(section="budget", rankable=False, option="--epochs", per_task=True)
    ] = Field(20, ge=1, le=1_000_000, description="Epoch budget.")
    solve_threshold: Annotated[float, Role(section="budget", rankable=False)] = Field(
        0.99, gt=0.5, le=1.0, description="Validation accuracy that counts as solved; stops early."
    )
    eval_every: Annotated[int | None, Role(rankable=False, per_task=True)] = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description="Training sequences between validation checks inside an epoch, so a "
        "trial stops, and samples_to_solve is counted, at that resolution (whole minibatches); "
        "train_size // 8 when absent; train_size or more: only at the end of each epoch.",
    )
    probe_size: Annotated[int, _MEASURE] = Field(
        256, ge=1, le=INT32_MAX, description="Sequences in the fixed gradient probe batch."
    )
    checkpoint_every: Annotated[int, _MEASURE] = Field(
        1, ge=1, le=1_000_000, description="Epochs between saved states (used by sweeps)."
    )
    diagnostics: Annotated[bool, _MEASURE] = Field(
        True, description="Measure gradient profile and spectral radius every epoch."
    )
    threads: Annotated[int | None, Role(section="resources", rankable=False, in_table=False)] = (
        Field(None, ge=1, le=1024, description="TensorFlow CPU threads; absent = TensorFlow's.")
    )

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("clip_norm") is None and "clip_mode" in data:
            # Without clipping the mode changes nothing: one unclipped config, not one per
            # mode (so a spec's clip_mode x clip_norm [null, ...] holds no twin trials).
            data = {k: v for k, v in data.items() if k != "clip_mode"}
        task = tasks.TASK_DEFS.get(data.get("task", "recall"))
        if task is not None:  # an unknown task is refused by the field's own check
            if task.uses_gap and data.get("gap") is None:
                data = {**data, "gap": DEFAULT_GAP}
            data = {**task.defaults, **data}  # what the task needs, unless given
        arch = ARCHS.get(data.get("arch", "rnn"))
        if arch is not None:  # an unknown arch is refused by the field's own check
            data = {**arch.defaults, **data}
            gap = data.get("gap")  # checked later; only a true int derives seq_len here
            if "seq_len" not in data and isinstance(gap, int) and not isinstance(gap, bool):
                derived = task.default_seq_len(gap)
                data = data if derived is None else {**data, "seq_len": derived}  # copy
        if "train_size" not in data:  # so it is checked against batch_size
            data = {**data, "train_size": cls.model_fields["train_size"].default}
        train_size = data["train_size"]  # checked later; only a true int derives eval_every
        if data.get("eval_every") is None and type(train_size) is int and train_size > 0:
            data = {**data, "eval_every": max(1, train_size // EVAL_CHECKS)}
        return data

    @field_validator("activation")
    @classmethod
    def _activation_of_arch(cls, activation: str, info: ValidationInfo) -> str:
        arch = info.data.get("arch")
        if arch in ARCHS and activation not in ARCHS[arch].activations:
            why = " (so that it runs the cuDNN kernel)" if ARCHS[arch].gated else ""
            raise ValueError(
                f"{arch} takes {' or '.join(ARCHS[arch].activations)}{why} (relu: rnn and "
                "indrnn; modrelu: urnn and exprnn)"
            )
        return activation

    @field_validator("recurrent_init")
    @classmethod
    def _init_of_arch(cls, init: str, info: ValidationInfo) -> str:
        arch = info.data.get("arch")
        if arch in ARCHS and init not in ARCHS[arch].inits:
            raise ValueError(f"{arch} takes {', '.join(ARCHS[arch].inits)}")
        return init

    @field_validator("recurrent_gain")
    @classmethod
    def _gain_of_arch(cls, gain: float | None, info: ValidationInfo) -> float | None:
        arch = info.data.get("arch")
        if gain is not None and arch in ARCHS and not ARCHS[arch].gain:
            raise ValueError(
                f"{arch} fixes its recurrent matrix's scale itself (unitary, orthogonal or "
                "bounded by construction); recurrent_gain applies to rnn, lstm and gru"
            )
        return gain

    @field_validator("forget_bias")
    @classmethod
    def _forget_bias_of_lstm(cls, forget_bias: float, info: ValidationInfo) -> float:
        arch = info.data.get("arch")
        if forget_bias != 1.0 and arch in ARCHS and not ARCHS[arch].forget_gate:
            raise ValueError("only an lstm has a forget gate; leave forget_bias at 1.0")
        return forget_bias

    @field_validator("gate_init")
    @classmethod
    def _gate_init_of_gated(cls, gate_init: str, info: ValidationInfo) -> str:
        arch = info.data.get("arch")
        if gate_init != "keras" and arch in ARCHS and not ARCHS[arch].gated:
            raise ValueError(f"{arch} has no gates; gate_init chrono applies to lstm and gru")
        if gate_init == "chrono" and info.data.get("forget_bias", 1.0) != 1.0:
            # chrono sets the forget bias itself: two settings of one number are refused.
            raise ValueError("chrono sets the forget bias itself; leave forget_bias at 1.0")
        return gate_init

    @field_validator("chrono_t_max")
    @classmethod
    def _t_max_of_chrono(cls, t_max: int | None, info: ValidationInfo) -> int | None:
        if t_max is not None and info.data.get("gate_init") != "chrono":
            raise ValueError("applies to gate_init chrono only; leave it out")
        if t_max is not None and t_max < CHRONO_T_MIN:
            raise ValueError(f"{CHRONO_T_MIN} or more: below it, {CHRONO_DEGENERATE}")
        return t_max

    @field_validator("momentum")
    @classmethod
    def _momentum_of_optimizer(cls, momentum: float, info: ValidationInfo) -> float:
        if momentum and info.data.get("optimizer") == "adam":
            raise ValueError("adam has no momentum setting; use optimizer sgd or rmsprop")
        return momentum

    @field_validator("gap")
    @classmethod
    def _well_posed(cls, gap: int | None, info: ValidationInfo) -> int | None:
        # Declared after task and seq_len, so both are in info.data when they were valid.
        if "task" in info.data and "seq_len" in info.data:
            tasks.check_task(info.data["task"], info.data["seq_len"], gap)
        return gap

    @field_validator("train_size")
    @classmethod
    def _holds_a_batch(cls, train_size: int, info: ValidationInfo) -> int:
        batch_size = info.data.get("batch_size")
        if batch_size is not None and batch_size > train_size:
            raise ValueError(
                f"smaller than batch_size {batch_size}; a batch is drawn from the training set"
            )
        return train_size

    @classmethod
    def parse(cls, values: dict[str, Any], where: str = "") -> TrialConfig:
        """Validate `values`, raising ConfigError with one line naming the bad field."""
        try:
            return cls(**values)
        except ValidationError as err:
            raise from_validation_error(err, where, model=cls) from None

    @property
    def dependency_length(self) -> int:
        """The value of the task's dependency axis: gap for recall and copy (T), seq_len
        for sum_sign and adding. chrono's T_max and IndRNN's bound default to it."""
        return self.gap if tasks.get(self.task).uses_gap else self.seq_len

    @property
    def warning(self) -> str | None:
        """One line on a valid config that does not do what its settings suggest, or None:
        chrono gates whose T_max, the dependency length here, is below CHRONO_T_MIN."""
        t_max = self.chrono_t_max or self.dependency_length
        if self.gate_init != "chrono" or t_max >= CHRONO_T_MIN:
            return None
        axis = tasks.get(self.task).dependency_axis
        return (
            f"gate_init: chrono at {axis} {t_max} takes T_max {t_max}, below {CHRONO_T_MIN}: "
            f"{CHRONO_DEGENERATE}; set chrono_t_max to {CHRONO_T_MIN} or more, or leave "
            "chrono out there"
        )

    @property
    def signal_position(self) -> int:
        """The input the label depends on from furthest back, where it is the same for
        every sequence: the recalled bit (recall), the first input (sum_sign), the first
        symbol (copy). `adding` has its own per sequence (its first marker): 0 here."""
        return tasks.signal_position(self.seq_len, self.gap) if self.task == "recall" else 0


def role(field: str) -> Role:
    """The `Role` that TrialConfig field `field` declares. KeyError for an unknown field."""
    return next(m for m in TrialConfig.model_fields[field].metadata if isinstance(m, Role))


ROLES = {name: role(name) for name in TrialConfig.model_fields}
# The config fields a results table shows: `threads` is how a trial ran, not what it was.
TABLE_FIELDS = tuple(name for name, r in ROLES.items() if r.in_table)
# Fields a spec may sweep or fix (the budget and resources sections own the others).
SPEC_FIELDS = tuple(name for name, r in ROLES.items() if r.section is None)
# Axes a random forest may rank (seed is noise by construction: a useful yardstick).
RANKABLE_FIELDS = tuple(name for name, r in ROLES.items() if r.rankable)
# The fields that shape a model's weights at init.
INIT_FIELDS = tuple(name for name, r in ROLES.items() if r.shapes_init)
# The fields where null means something (clipping off); everywhere else a spec's null is refused.
NULL_MEANS_OFF = tuple(name for name, r in ROLES.items() if r.off is not None)
# Words that mean null for those fields, in any case, in a spec (`clip_norm: off`; YAML 1.2
# reads `off` as text) and in `train`'s options (`--clip-norm off`) alike.
OFF_WORDS = ("off", "none")


def means_off(value: Any) -> bool:
    """Whether `value` is one of OFF_WORDS, in any case and with spaces around: the null of
    a NULL_MEANS_OFF field written as a word."""
    return isinstance(value, str) and value.strip().lower() in OFF_WORDS


def option_name(field: str) -> str:
    """`gradsweep train`'s option for `field`: '--seq-len', '--epochs' for max_epochs."""
    return ROLES[field].option or "--" + field.replace("_", "-")


def format_value(field: str, value: Any) -> str:
    """A config value as a spec writes it: 'off' for no clipping, a float as 1.0, not 1."""
    if value is None or str(value) in ("nan", "<NA>"):  # None, NaN or pandas' NA
        known = ROLES.get(field)
        return known.off if known is not None and known.off else "none"
    return repr(float(value)) if isinstance(value, float) else str(value)


ARCH_NAMES = {name: arch.label for name, arch in ARCHS.items()}


def model_label(arch: str, clip: float | None, hidden: int | None = None) -> str:
    """Row label: 'LSTM', 'SimpleRNN · clip 1.0', 'GRU · clip off', with hidden when given."""
    label = ARCH_NAMES.get(arch, arch)
    if clip is not None:
        label += " · clip " + format_value("clip_norm", clip)
    if hidden is not None:
        label += f" · h{hidden}"
    return label


def group_label(values: dict) -> str:
    """A model's label from its frontier group values: arch, clip, hidden, then the rest,
    leaving out the settings that mean nothing for the arch (an expRNN's `gate_init`)."""
    clip = values.get("clip_norm") if "clip_norm" in values else None
    label = model_label(values["arch"], clip, values.get("hidden"))
    rest = [
        _setting(k, v)
        for k, v in values.items()
        if k not in ("arch", "clip_norm", "hidden") and archs.applies(k, values)
    ]
    return " · ".join([label, *rest])


def _setting(key: str, value) -> str:
    """One setting of a label: 'relu', 'sgd', 'init identity', 'lr 0.01'."""
    known = ROLES.get(key, Role())
    if known.bare:
        return str(value)
    return f"{known.label or key} {format_value(key, value)}"


# A trial worker's resident memory before its data and model: TensorFlow and Ray's worker,
# measured at 968-1,115 MiB peak in `make bench`, rounded up.
WORKER_BASE_BYTES = 1.2 * 2**30


def estimate_memory_bytes(cfg: TrialConfig) -> float:
    """A rough upper bound of one trial's memory: TensorFlow's base, the data (inputs in
    `cfg.dtype`; the training set twice, as numpy and as a tensor), weights with their
    gradients and Adam's two moments, and the activations kept for backpropagation through
    the largest batch (training or probe), about three values per gate unit per step."""
    units = ARCHS[cfg.arch].blocks * cfg.hidden
    task = tasks.get(cfg.task)
    size = 8.0 if cfg.dtype == "float64" else 4.0  # bytes per value
    weights = units * (task.channels + cfg.hidden + 2) + (cfg.hidden + 1) * task.classes
    sequences = 2 * cfg.train_size + cfg.val_size + cfg.test_size + cfg.probe_size
    data = size * cfg.seq_len * task.channels * sequences
    activations = size * 3 * units * cfg.seq_len * max(cfg.batch_size, cfg.probe_size)
    return WORKER_BASE_BYTES + data + size * 4 * weights + activations
