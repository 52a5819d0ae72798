"""Twin tests of chapter 05's layers: dlcourse.numpy_nn.Dropout, BatchNorm1d and BatchNorm2d against
torch.nn.Dropout, BatchNorm1d and BatchNorm2d, in float64, on random configurations (batch size 1
included where PyTorch allows it): outputs, input gradients, weight/bias gradients, running statistics
after several training steps, eval mode, state_dict keys. Twins are compared with
dlcourse.parity.twin_errors (through tests/twins.py)."""
import numpy as np
import pytest
import torch
import torch.nn as tnn

from dlcourse import numpy_nn as nnp
from dlcourse.parity import FixedUniforms
from twins import check_twin

N_CONFIGS = 25
TOL = dict(rtol=1e-10, atol=1e-12)


# ---- Dropout ---------------------------------------------------------------------------------------
def _random_dropout_case(rng):
    p = float(rng.choice([0.0, 1.0, rng.uniform(0.01, 0.99), rng.uniform(0.01, 0.99), 0.5]))
    batch = [1, int(rng.integers(2, 9))][int(rng.integers(0, 2))]
    shape = (batch, *[int(rng.integers(1, 6)) for _ in range(int(rng.integers(0, 3)))], int(rng.integers(1, 12)))
    x = rng.normal(size=shape) * rng.choice([0.1, 1.0, 10.0])
    x[x == 0] = 1.0                                 # a zero output must mean "dropped"
    return p, x


def test_dropout_matches_torch_with_the_same_mask():
    """PyTorch draws the mask; our layer receives the same keep/drop decisions through its rng and must
    reproduce the output and the input gradient exactly (same scaling 1/(1-p), same mask in backward)."""
    rng = np.random.default_rng(5)
    for config in range(N_CONFIGS):
        p, x = _random_dropout_case(rng)
        torch.manual_seed(config)                  # the mask torch draws for this shape with this seed...
        kept = (tnn.Dropout(p)(torch.ones(x.shape, dtype=torch.float64)) != 0).numpy()
        ours = nnp.Dropout(p, rng=FixedUniforms(np.where(kept, 1.0, 0.0)))
        assert ours(x).shape == x.shape and ours(x).dtype == np.float64
        torch.manual_seed(config)                  # ...and draws again inside twin_errors
        check_twin(ours, tnn.Dropout(p), x, f"Dropout config {config}, p={p}, x {x.shape}", rng=rng, **TOL)
        assert ours.params == {} and ours.grads == {} and ours.state_dict() == tnn.Dropout(p).state_dict() == {}


def test_dropout_eval_mode_and_p0_are_the_identity_like_torch():
    rng = np.random.default_rng(1)
    for p in (0.0, 0.3, 1.0):
        x = rng.normal(size=(3, 5))
        ours, theirs = nnp.Dropout(p).eval(), tnn.Dropout(p).eval()
        assert np.array_equal(ours(x), theirs(torch.from_numpy(x)).numpy())
        assert np.array_equal(ours.backward(np.ones_like(x)), np.ones_like(x))
    x = rng.normal(size=(4, 6))
    assert np.array_equal(nnp.Dropout(0.0)(x), x)
    assert not nnp.Dropout(1.0)(x).any() and not tnn.Dropout(1.0)(torch.from_numpy(x)).any()


def test_dropout_statistics_and_reproducibility():
    x = np.ones((400, 250))
    for p in (0.2, 0.5, 0.8):
        layer = nnp.Dropout(p, rng=np.random.default_rng(0))
        y = layer(x)
        assert abs(np.mean(y != 0) - (1 - p)) < 0.01                        # keep probability 1 - p
        assert abs(y.mean() - 1.0) < 0.02                                    # inverted: E[y] = x
        assert set(np.unique(y)) <= {0.0, 1 / (1 - p)}
    a = nnp.Dropout(0.5, rng=np.random.default_rng(7))(x)
    b = nnp.Dropout(0.5, rng=np.random.default_rng(7))(x)
    assert np.array_equal(a, b)
    y32 = nnp.Dropout(0.5, rng=np.random.default_rng(0))(x.astype(np.float32))
    assert y32.dtype == np.float32


def test_dropout_rejects_bad_arguments_like_torch():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            nnp.Dropout(p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            tnn.Dropout(p)
    with pytest.raises(TypeError, match="numeric"):
        nnp.Dropout(0.5)(np.array(["a", "b"]))
    assert repr(nnp.Dropout(0.25)) == "Dropout(p=0.25)"


# ---- BatchNorm ---------------------------------------------------------------------------------------
def _random_bn_case(rng, kind):
    C = int(rng.integers(1, 7))
    kwargs = dict(eps=float(rng.choice([1e-5, 1e-3, 0.1])),
                  momentum=[0.1, float(rng.uniform(0.01, 0.9)), None][int(rng.integers(0, 3))],
                  affine=bool(rng.random() < 0.75), track_running_stats=bool(rng.random() < 0.75))
    batch = [1, int(rng.integers(2, 7))][int(rng.integers(0, 2))]
    if kind == "BatchNorm2d":
        shape = (batch, C, int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    elif rng.random() < 0.5:
        shape = (batch, C)
    else:
        shape = (batch, C, int(rng.integers(1, 6)))
    ours = getattr(nnp, kind)(C, **kwargs)
    theirs = getattr(tnn, kind)(C, **kwargs).double()
    if kwargs["affine"]:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs, shape, kwargs


@pytest.mark.parametrize("kind", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_matches_torch_in_training_and_eval(kind):
    rng = np.random.default_rng(11 if kind == "BatchNorm1d" else 12)
    checked_batch_one = 0
    for config in range(N_CONFIGS):
        ours, theirs, shape, kwargs = _random_bn_case(rng, kind)
        assert list(ours.state_dict()) == list(theirs.state_dict()), config
        values_per_channel = int(np.prod(shape)) // shape[1]
        checked_batch_one += shape[0] == 1 and values_per_channel > 1
        raised = False
        for step in range(6):                                   # 4 training steps, then 2 in eval mode
            training = step < 4
            ours.train(training)
            theirs.train(training)
            x = rng.normal(loc=rng.normal() * 3, scale=rng.uniform(0.5, 4), size=shape)
            g = rng.normal(size=shape)
            where = f"{kind} config {config} {kwargs} shape {shape} step {step}"
            if values_per_channel == 1 and (training or not kwargs["track_running_stats"]):
                with pytest.raises(ValueError, match="more than 1 value per channel"):
                    theirs(torch.from_numpy(x))
                before = ours.state_dict()
                with pytest.raises(ValueError, match="more than 1 value per channel"):
                    ours(x)
                assert all(np.array_equal(before[k], v) for k, v in ours.state_dict().items())   # untouched
                raised = True
                continue
            check_twin(ours, theirs, x, where, grad_out=g, rtol=1e-9, atol=1e-11)
            theirs.zero_grad()
            for name, buf in theirs.named_buffers():              # running statistics after every step
                if raised and name == "num_batches_tracked":
                    continue        # torch counts a batch before finding it too small; we leave the state alone
                np.testing.assert_allclose(ours.buffers[name], buf.numpy(), rtol=1e-12, atol=1e-14,
                                           err_msg=f"{name}, {where}")
    assert checked_batch_one >= 1


@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
def test_running_statistics_follow_torch_convention(momentum):
    """running = (1 - momentum) * running + momentum * batch statistic, with the UNBIASED variance;
    momentum=None is the cumulative average; num_batches_tracked counts training batches."""
    rng = np.random.default_rng(3)
    layer = nnp.BatchNorm1d(4, momentum=momentum)
    mean, var = np.zeros(4), np.ones(4)
    for n in range(1, 6):
        x = rng.normal(loc=2.0, scale=3.0, size=(7, 4))
        layer(x)
        m = 1 / n if momentum is None else momentum
        mean = (1 - m) * mean + m * x.mean(0)
        var = (1 - m) * var + m * x.var(0, ddof=1)
        np.testing.assert_allclose(layer.buffers["running_mean"], mean, rtol=1e-12)
        np.testing.assert_allclose(layer.buffers["running_var"], var, rtol=1e-12)
        assert layer.buffers["num_batches_tracked"] == n and layer.buffers["num_batches_tracked"].dtype == np.int64
    layer.eval()
    x = rng.normal(size=(1, 4))                                 # eval mode: batch size 1 is fine
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12)
    assert layer.buffers["num_batches_tracked"] == 5            # eval mode does not count


def test_batchnorm_state_dict_and_sequential_load_from_torch():
    torch.manual_seed(0)
    theirs = tnn.Sequential(tnn.Linear(6, 5), tnn.BatchNorm1d(5), tnn.ReLU(), tnn.Dropout(0.3),
                            tnn.Linear(5, 3), tnn.BatchNorm1d(3, affine=False)).double()
    theirs.train()
    theirs(torch.randn(8, 6, dtype=torch.float64))             # move the running statistics
    ours = nnp.Sequential(nnp.Linear(6, 5), nnp.BatchNorm1d(5), nnp.ReLU(), nnp.Dropout(0.3),
                          nnp.Linear(5, 3), nnp.BatchNorm1d(3, affine=False))
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    assert ours[1].buffers["num_batches_tracked"] == 1
    x = np.random.default_rng(0).normal(size=(4, 6))
    theirs.eval()
    ours.eval()
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), **TOL)
    for layer, kwargs in [(nnp.BatchNorm2d(3), {}), (nnp.BatchNorm1d(2, affine=False, track_running_stats=False), {})]:
        torch_layer = getattr(tnn, type(layer).__name__)(layer.num_features, affine=layer.affine,
                                                         track_running_stats=layer.track_running_stats)
        assert list(layer.state_dict()) == list(torch_layer.state_dict())
    assert list(nnp.BatchNorm2d(3).state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                                     "num_batches_tracked"]


@pytest.mark.parametrize("layer,shape,message", [
    (nnp.BatchNorm1d(3), (4, 5), r"BatchNorm1d\(3\) expects input of shape \(N, 3\) or \(N, 3, L\), got \(4, 5\)"),
    (nnp.BatchNorm1d(3), (4, 3, 2, 2), r"expects input of shape \(N, 3\) or \(N, 3, L\), got \(4, 3, 2, 2\)"),
    (nnp.BatchNorm1d(3), (3,), r"got \(3,\)"),
    (nnp.BatchNorm2d(3), (4, 3, 5), r"BatchNorm2d\(3\) expects input of shape \(N, 3, H, W\), got \(4, 3, 5\)"),
    (nnp.BatchNorm2d(3), (4, 2, 5, 5), r"expects input of shape \(N, 3, H, W\), got \(4, 2, 5, 5\)"),
])
def test_batchnorm_wrong_shape_names_expected_and_actual(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape))


def test_batchnorm_batch_of_one_in_training_raises_like_torch():
    for ours, theirs, shape in [(nnp.BatchNorm1d(4), tnn.BatchNorm1d(4), (1, 4)),
                                (nnp.BatchNorm2d(2), tnn.BatchNorm2d(2), (1, 2, 1, 1))]:
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            theirs(torch.zeros(shape))
        with pytest.raises(ValueError, match=r"expected more than 1 value per channel when training, got input "
                                             r"of shape \(1, "):
            ours(np.zeros(shape))
    # a single example with several positions per channel is fine in training mode
    assert nnp.BatchNorm1d(2)(np.random.default_rng(0).normal(size=(1, 2, 5))).shape == (1, 2, 5)


def test_batchnorm_normalises_and_keeps_float32():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[5.0, -2.0, 30.0], scale=[2.0, 0.1, 9.0], size=(256, 3))
    y = nnp.BatchNorm1d(3)(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1, atol=1e-3)
    y32 = nnp.BatchNorm2d(3, dtype=np.float32)(rng.normal(size=(4, 3, 2, 2)).astype(np.float32))
    assert y32.dtype == np.float32
    with pytest.raises(ValueError, match="num_features >= 1"):
        nnp.BatchNorm1d(0)
