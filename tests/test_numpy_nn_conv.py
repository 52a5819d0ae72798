"""Twin tests of chapter 06's layers: Conv2d, MaxPool2d, AvgPool2d and Flatten of dlcourse.numpy_nn against
torch.nn, forward and backward, in float64, on random configurations (batch size 1 included), with weights
copied via load_state_dict (dlcourse.parity.twin_errors, through tests/twins.py); plus the functional conv2d, im2col/col2im and the error messages."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as F

from dlcourse import numpy_nn as nnp
from twins import check_twin

N_CONFIGS = 30
TOL = dict(rtol=1e-10, atol=1e-12)


def _int_or_pair(rng, low, high):
    """An int, or (sometimes) a pair of ints, in [low, high)."""
    if rng.random() < 0.3:
        return int(rng.integers(low, high)), int(rng.integers(low, high))
    return int(rng.integers(low, high))


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def _batch(rng):
    return [1, int(rng.integers(2, 6))][int(rng.integers(0, 2))]


def _conv_config(rng):
    C, D = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    kernel = _int_or_pair(rng, 1, 5)
    if rng.random() < 0.2:
        stride, padding = 1, str(rng.choice(["same", "valid"]))
    else:
        stride, padding = _int_or_pair(rng, 1, 4), _int_or_pair(rng, 0, 3)
    bias = bool(rng.integers(0, 2))
    kh, kw = _pair(kernel)
    ph, pw = (0, 0) if isinstance(padding, str) else _pair(padding)
    H, W = int(rng.integers(max(1, kh - 2 * ph), 12)), int(rng.integers(max(1, kw - 2 * pw), 12))
    return dict(in_channels=C, out_channels=D, kernel_size=kernel, stride=stride, padding=padding, bias=bias), \
        (_batch(rng), C, H, W)


def _pool_config(rng):
    kernel = _int_or_pair(rng, 1, 5)
    kh, kw = _pair(kernel)
    stride = None if rng.random() < 0.3 else _int_or_pair(rng, 1, 4)
    padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
    if rng.random() < 0.5 and padding[0] == padding[1]:
        padding = padding[0]
    ph, pw = _pair(padding)
    H, W = int(rng.integers(max(1, kh - 2 * ph), 12)), int(rng.integers(max(1, kw - 2 * pw), 12))
    return dict(kernel_size=kernel, stride=stride, padding=padding), (_batch(rng), int(rng.integers(1, 5)), H, W)


def test_conv2d_matches_torch():
    rng = np.random.default_rng(6)
    batch_one = 0
    for config in range(N_CONFIGS):
        kwargs, shape = _conv_config(rng)
        batch_one += shape[0] == 1
        x = rng.normal(size=shape) * rng.choice([0.1, 1.0, 10.0])
        check_twin(nnp.Conv2d(**kwargs), tnn.Conv2d(**kwargs), x, f"Conv2d config {config}: {kwargs}, x {shape}", rng=rng, **TOL)
    assert batch_one > 0


@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d"])
def test_pooling_matches_torch(name):
    rng = np.random.default_rng(len(name))
    for config in range(N_CONFIGS):
        kwargs, shape = _pool_config(rng)
        x = rng.normal(size=shape)
        check_twin(getattr(nnp, name)(**kwargs), getattr(tnn, name)(**kwargs), x,
                   f"{name} config {config}: {kwargs}, x {shape}", rng=rng, **TOL)


def test_maxpool_ties_go_to_the_first_maximum_like_torch():
    """After a ReLU many entries are 0: ties must send the gradient where PyTorch sends it."""
    rng = np.random.default_rng(1)
    for config in range(N_CONFIGS):
        kwargs, shape = _pool_config(rng)
        x = np.maximum(rng.normal(size=shape), 0) * (rng.random(shape) < 0.5)
        x = np.round(x)                                   # many exact ties, not only zeros
        check_twin(nnp.MaxPool2d(**kwargs), tnn.MaxPool2d(**kwargs), x, f"MaxPool2d ties config {config}", rng=rng, **TOL)


def test_flatten_matches_torch():
    rng = np.random.default_rng(3)
    for config in range(N_CONFIGS):
        ndim = int(rng.integers(2, 6))
        shape = (_batch(rng), *rng.integers(1, 5, size=ndim - 1))
        start = int(rng.integers(-ndim, ndim))
        end = int(rng.integers(-ndim, ndim))
        if (start % ndim) > (end % ndim):
            start, end = end, start
        x = rng.normal(size=shape)
        check_twin(nnp.Flatten(start, end), tnn.Flatten(start, end), x, f"Flatten({start}, {end}) config {config}, x {shape}",
                   rng=rng, **TOL)


def test_default_flatten_and_repr():
    x = np.zeros((2, 3, 4, 5))
    assert nnp.Flatten()(x).shape == (2, 60)
    assert "start_dim=1" in repr(nnp.Flatten())


def test_small_cnn_matches_torch_sequential():
    torch.manual_seed(0)
    theirs = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(4, 6, 3, stride=2),
                            tnn.ReLU(), tnn.AvgPool2d(2, stride=1), tnn.Flatten(), tnn.Linear(6, 3))
    ours = nnp.Sequential(nnp.Conv2d(2, 4, 3, padding=1), nnp.ReLU(), nnp.MaxPool2d(2), nnp.Conv2d(4, 6, 3, stride=2),
                          nnp.ReLU(), nnp.AvgPool2d(2, stride=1), nnp.Flatten(), nnp.Linear(6, 3))
    assert list(ours.params) == [n for n, _ in theirs.named_parameters()]
    check_twin(ours, theirs, np.random.default_rng(0).normal(size=(3, 2, 12, 12)), "CNN", rng=np.random.default_rng(1), **TOL)


def test_conv2d_parameters_init_and_dtype():
    layer = nnp.Conv2d(8, 16, (3, 5), rng=np.random.default_rng(0))
    torch_layer = tnn.Conv2d(8, 16, (3, 5))
    assert {k: v.shape for k, v in layer.params.items()} == {k: tuple(v.shape) for k, v in torch_layer.state_dict().items()}
    bound = 1 / np.sqrt(8 * 3 * 5)
    for p in layer.params.values():
        assert p.dtype == np.float64 and np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    assert layer.num_parameters() == sum(p.numel() for p in torch_layer.parameters())
    assert "bias" not in nnp.Conv2d(2, 3, 3, bias=False).params
    layer32 = nnp.Conv2d(2, 3, 3, dtype=np.float32)
    assert layer32(np.zeros((1, 2, 5, 5), np.float32)).dtype == np.float32
    assert nnp.MaxPool2d(2)(np.zeros((1, 1, 4, 4), np.float32)).dtype == np.float32
    assert nnp.Conv2d(1, 1, 3)(np.ones((1, 1, 3, 3), dtype=np.int64)).dtype == np.float64


def test_functional_conv2d_and_output_size():
    rng = np.random.default_rng(5)
    for _ in range(N_CONFIGS):
        kwargs, shape = _conv_config(rng)
        x, w = rng.normal(size=shape), rng.normal(size=(kwargs["out_channels"], kwargs["in_channels"], *_pair(kwargs["kernel_size"])))
        b = rng.normal(size=kwargs["out_channels"]) if kwargs["bias"] else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                                stride=kwargs["stride"], padding=kwargs["padding"]).numpy()
        np.testing.assert_allclose(nnp.conv2d(x, w, b, kwargs["stride"], kwargs["padding"]), expected, **TOL)
        if not isinstance(kwargs["padding"], str):
            for axis in (0, 1):
                size = nnp.conv_output_size(shape[2 + axis], _pair(kwargs["kernel_size"])[axis],
                                            _pair(kwargs["stride"])[axis], _pair(kwargs["padding"])[axis])
                assert size == expected.shape[2 + axis]
    assert nnp.conv_output_size(32, 5) == 28
    with pytest.raises(ValueError, match="smaller than the kernel"):
        nnp.conv_output_size(2, 5)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), A> == <x, col2im(A)> for every x and A: the backward pass of a copy is a scatter-add."""
    rng = np.random.default_rng(2)
    for _ in range(10):
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9)))
        kernel, stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4))), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = ((int(rng.integers(0, 2)), int(rng.integers(0, 2))), (int(rng.integers(0, 2)), int(rng.integers(0, 2))))
        x = rng.normal(size=shape)
        cols, _ = nnp.im2col(x, kernel, stride, pads)
        A = rng.normal(size=cols.shape)
        assert np.isclose(np.sum(cols * A), np.sum(x * nnp.col2im(A, shape, kernel, stride, pads)))


@pytest.mark.parametrize("layer,shape,expected", [
    (lambda: nnp.Conv2d(3, 8, 3), (2, 4, 10, 10), r"\(N, 3, H, W\).*\(2, 4, 10, 10\)"),
    (lambda: nnp.Conv2d(3, 8, 3), (3, 10, 10), r"\(N, 3, H, W\).*\(3, 10, 10\)"),
    (lambda: nnp.Conv2d(1, 2, 5), (2, 1, 4, 9), r"\(2, 1, 4, 9\).*smaller than the 5x5 kernel"),
    (lambda: nnp.Conv2d(1, 2, (3, 5), padding=1), (1, 1, 8, 2), r"\(1, 1, 8, 2\).*W >= 3"),
    (lambda: nnp.MaxPool2d(3), (1, 2, 2, 7), r"\(1, 2, 2, 7\).*smaller than the 3x3 kernel"),
    (lambda: nnp.AvgPool2d(2), (4, 4), r"\(N, C, H, W\).*\(4, 4\)"),
    (lambda: nnp.Flatten(2), (5, 3), r"\(5, 3\)"),
])
def test_bad_input_raises_value_error_naming_shapes(layer, shape, expected):
    with pytest.raises(ValueError, match=expected):
        layer()(np.zeros(shape))


def test_bad_arguments():
    with pytest.raises(TypeError, match="numeric"):
        nnp.Conv2d(1, 1, 3)(np.array([[[["a"] * 3] * 3]]))
    with pytest.raises(ValueError, match="strided"):
        nnp.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be"):
        nnp.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(TypeError, match="kernel_size"):
        nnp.Conv2d(1, 1, 2.5)
    with pytest.raises(ValueError, match="at most half"):
        nnp.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="positive channel"):
        nnp.Conv2d(0, 1, 3)
    with pytest.raises(ValueError, match="shape"):
        nnp.Conv2d(2, 3, 3).load_state_dict({"weight": np.zeros((3, 2, 5, 5)), "bias": np.zeros(3)})
