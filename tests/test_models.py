import numpy as np
import pytest

from gradsweep import TrialConfig
from gradsweep.models import build_model, candidate_recurrent_kernel, variable_groups


@pytest.mark.parametrize(("arch", "blocks"), [("rnn", 1), ("lstm", 4), ("gru", 3)])
def test_shapes_groups_and_candidate_block(arch, blocks):
    cfg = TrialConfig(arch=arch, hidden=6, gap=2, seq_len=7)
    model = build_model(cfg)
    assert model.output_shape == (None, 1)
    out = model(np.zeros((3, 7, 1), np.float32))
    assert out.shape == (3, 1) and np.all((out.numpy() > 0) & (out.numpy() < 1))
    cell = model.get_layer("recurrent").cell
    assert cell.recurrent_kernel.shape == (6, 6 * blocks)
    assert sorted(set(variable_groups(model))) == [
        "bias",
        "head",
        "input_kernel",
        "recurrent_kernel",
    ]
    assert candidate_recurrent_kernel(model, arch).shape == (6, 6)


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_gated_cells_stay_cudnn_eligible(arch):
    layer = build_model(TrialConfig(arch=arch, hidden=4, gap=1, seq_len=3)).get_layer("recurrent")
    cell = layer.cell
    assert cell.activation.__name__ == "tanh"
    assert cell.recurrent_activation.__name__ == "sigmoid"
    assert cell.recurrent_dropout == 0 and not layer.unroll and cell.use_bias
    if arch == "gru":
        assert cell.reset_after


def test_identity_init_gives_identity_recurrent_kernel():
    model = build_model(TrialConfig(hidden=5, gap=1, seq_len=3, recurrent_init="identity"))
    np.testing.assert_allclose(candidate_recurrent_kernel(model, "rnn"), np.eye(5))


def test_same_seed_same_weights():
    a = build_model(TrialConfig(arch="lstm", hidden=4, gap=1, seq_len=3, seed=5)).get_weights()
    b = build_model(TrialConfig(arch="lstm", hidden=4, gap=1, seq_len=3, seed=5)).get_weights()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
