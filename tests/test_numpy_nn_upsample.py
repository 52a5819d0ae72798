"""Twin tests of chapter 08's upsampling layers: Upsample (nearest, bilinear, align_corners both ways, size or
scale_factor) and ConvTranspose2d of dlcourse.numpy_nn against torch.nn, forward and backward, in float64, on
random configurations (batch size 1 included, non-square), weights copied via load_state_dict
(dlcourse.parity.twin_errors, through tests/twins.py); plus the adjoint property and the error messages."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn as tnn

from dlcourse import numpy_nn as nnp
from twins import check_twin

N_CONFIGS = 30
TOL = dict(rtol=1e-10, atol=1e-12)


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))       # the same configurations in every process


def _int_or_pair(rng, low, high):
    if rng.random() < 0.4:
        return int(rng.integers(low, high)), int(rng.integers(low, high))
    return int(rng.integers(low, high))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _upsample_config(rng, config):
    mode = ["nearest", "bilinear"][config % 2]
    align = None if mode == "nearest" else [None, True, False][int(rng.integers(0, 3))]
    H, W = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    kind = int(rng.integers(0, 4))
    if kind == 0:                                                  # explicit size (up, down or equal)
        how = dict(size=_int_or_pair(rng, 1, 14))
    elif kind == 1:                                                # integer factor(s)
        how = dict(scale_factor=_int_or_pair(rng, 1, 5))
    elif kind == 2:                                                # fractional factor, >= 1 output pixel
        how = dict(scale_factor=float(np.round(rng.uniform(1.0, 3.5), 2)))
    else:                                                          # a pair of fractional factors
        how = dict(scale_factor=(float(np.round(rng.uniform(1.0, 3.0), 3)), float(np.round(rng.uniform(0.6, 2.5), 3))))
        H, W = H + 1, W + 1                                        # floor(W * 0.6) >= 1
    return dict(mode=mode, align_corners=align, **how), (1 if config % 3 == 0 else int(rng.integers(2, 4)),
                                                         int(rng.integers(1, 4)), H, W)


def test_upsample_matches_torch():
    rng = _rng("upsample")
    seen = set()
    for config in range(N_CONFIGS):
        kwargs, shape = _upsample_config(rng, config)
        seen.add((kwargs["mode"], kwargs["align_corners"], "size" in kwargs))
        x = rng.normal(size=shape)
        check_twin(nnp.Upsample(**kwargs), tnn.Upsample(**kwargs), x, f"Upsample config {config}: {kwargs}, x {shape}",
                   rng=rng, **TOL)
    assert {m for m, _, _ in seen} == {"nearest", "bilinear"} and {a for _, a, _ in seen} >= {None, True, False}
    assert {s for _, _, s in seen} == {True, False}


@pytest.mark.parametrize("in_size,kwargs", [
    (10, dict(scale_factor=2.05, mode="nearest")),                 # 20 = 2 * 10 output pixels: torch's special case
    (3, dict(scale_factor=1.3, mode="bilinear")),                  # floor(3.9) = 3: the size does not change
    (3, dict(scale_factor=1.3, mode="nearest")),
    (5, dict(scale_factor=1.7, mode="bilinear", align_corners=False)),   # the step is 1 / 1.7, not 5 / 8
    (6, dict(size=1, mode="bilinear", align_corners=True)),        # one output pixel
    (7, dict(scale_factor=0.5, mode="bilinear")),                  # downsampling
    (7, dict(scale_factor=0.4, mode="nearest")),
])
def test_upsample_edge_cases_match_torch(in_size, kwargs):
    x = _rng(str(kwargs)).normal(size=(2, 2, in_size, in_size + 1))
    check_twin(nnp.Upsample(**kwargs), tnn.Upsample(**kwargs), x, str(kwargs), rng=_rng("g"), **TOL)


def test_upsample_float32_and_adjoint():
    rng = _rng("adjoint")
    for kwargs in (dict(scale_factor=3), dict(size=(5, 9), mode="bilinear", align_corners=True)):
        layer = nnp.Upsample(**kwargs)
        x = rng.normal(size=(2, 3, 4, 6))
        y = layer(x)
        g = rng.normal(size=y.shape)
        assert np.isclose(np.sum(y * g), np.sum(x * layer.backward(g)))   # <A x, g> == <x, A^T g>
        assert layer(x.astype(np.float32)).dtype == np.float32
    for mode, align in (("nearest", False), ("bilinear", True), ("bilinear", False)):
        A = nnp.interpolation_matrix(5, 11, mode, align)
        assert A.shape == (11, 5) and np.allclose(A.sum(axis=1), 1)     # every output is a weighted average
    assert nnp.Upsample(scale_factor=2).num_parameters() == 0 and nnp.Upsample(size=4).params == {}


def _conv_transpose_config(rng, config):
    kernel, stride = _int_or_pair(rng, 1, 5), _int_or_pair(rng, 1, 4)
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
    output_padding = (int(rng.integers(0, sh)), int(rng.integers(0, sw)))
    if rng.random() < 0.3 and padding[0] == padding[1]:
        padding = padding[0]
    if rng.random() < 0.3 and output_padding[0] == output_padding[1]:
        output_padding = output_padding[0]
    kwargs = dict(in_channels=int(rng.integers(1, 5)), out_channels=int(rng.integers(1, 5)), kernel_size=kernel,
                  stride=stride, padding=padding, output_padding=output_padding, bias=bool(config % 2))
    shape = (1 if config % 3 == 0 else int(rng.integers(2, 5)), kwargs["in_channels"],
             int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    if shape[2] == 1 and 2 * _pair(padding)[0] >= kh + output_padding[0] or \
            shape[3] == 1 and 2 * _pair(padding)[1] >= kw + output_padding[1]:
        shape = (*shape[:2], 2, 2)                                 # keep the output at least 1 pixel
    return kwargs, shape


def test_conv_transpose2d_matches_torch():
    rng = _rng("conv_transpose")
    strided = 0
    for config in range(N_CONFIGS):
        kwargs, shape = _conv_transpose_config(rng, config)
        strided += max(_pair(kwargs["stride"])) > 1 and max(_pair(kwargs["output_padding"])) > 0
        x = rng.normal(size=shape) * rng.choice([0.1, 1.0, 10.0])
        check_twin(nnp.ConvTranspose2d(**kwargs), tnn.ConvTranspose2d(**kwargs), x,
                   f"ConvTranspose2d config {config}: {kwargs}, x {shape}", rng=rng, **TOL)
    assert strided >= 5


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv(x), y> == <x, conv_transpose(y)> with the same weight array: the matrix is C^T."""
    rng = _rng("conv_adjoint")
    for _ in range(10):
        C, D, k, s = (int(v) for v in rng.integers(1, 4, size=4))
        p = int(rng.integers(0, k // 2 + 1))
        conv = nnp.Conv2d(C, D, k, stride=s, padding=p, bias=False, rng=rng)
        x = rng.normal(size=(2, C, int(rng.integers(k, 9)), int(rng.integers(k, 9))))
        y = conv(x)
        H_back = (y.shape[2] - 1) * s - 2 * p + k
        W_back = (y.shape[3] - 1) * s - 2 * p + k
        tconv = nnp.ConvTranspose2d(D, C, k, stride=s, padding=p,
                                    output_padding=(x.shape[2] - H_back, x.shape[3] - W_back), bias=False)
        tconv.params["weight"] = conv.params["weight"]
        g = rng.normal(size=y.shape)
        back = tconv(g)
        assert back.shape == x.shape
        assert np.isclose(np.sum(y * g), np.sum(x * back))
        assert np.allclose(back, conv.backward(g))                # the same map as Conv2d's input gradient


def test_conv_transpose2d_parameters_init_and_dtype():
    layer = nnp.ConvTranspose2d(8, 16, (3, 5), rng=np.random.default_rng(0))
    torch_layer = tnn.ConvTranspose2d(8, 16, (3, 5))
    assert {k: v.shape for k, v in layer.params.items()} == {k: tuple(v.shape) for k, v in torch_layer.state_dict().items()}
    bound = 1 / np.sqrt(16 * 3 * 5)                                # PyTorch's fan_in of a transposed conv
    for p in layer.params.values():
        assert p.dtype == np.float64 and np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    assert layer.num_parameters() == sum(p.numel() for p in torch_layer.parameters())
    assert "bias" not in nnp.ConvTranspose2d(2, 3, 3, bias=False).params
    layer32 = nnp.ConvTranspose2d(2, 3, 3, stride=2, dtype=np.float32)
    assert layer32(np.zeros((1, 2, 4, 4), np.float32)).dtype == np.float32
    assert nnp.ConvTranspose2d(1, 1, 4, 2, 1)(np.ones((1, 1, 3, 5), dtype=np.int64)).shape == (1, 1, 6, 10)
    assert "output_padding=(1, 1)" in repr(nnp.ConvTranspose2d(1, 1, 3, 2, 1, 1))


def test_conv_transpose2d_inside_sequential_matches_torch():
    torch.manual_seed(0)
    theirs = tnn.Sequential(tnn.Conv2d(2, 4, 3, padding=1), tnn.ReLU(), tnn.ConvTranspose2d(4, 3, 2, stride=2),
                            tnn.Upsample(scale_factor=2, mode="bilinear"), tnn.ConvTranspose2d(3, 1, 3, 2, 1, 1))
    ours = nnp.Sequential(nnp.Conv2d(2, 4, 3, padding=1), nnp.ReLU(), nnp.ConvTranspose2d(4, 3, 2, stride=2),
                          nnp.Upsample(scale_factor=2, mode="bilinear"), nnp.ConvTranspose2d(3, 1, 3, 2, 1, 1))
    assert list(ours.params) == [n for n, _ in theirs.named_parameters()]
    check_twin(ours, theirs, np.random.default_rng(0).normal(size=(2, 2, 5, 3)), "net", rng=np.random.default_rng(1), **TOL)


@pytest.mark.parametrize("make,error,match", [
    (lambda: nnp.Upsample(scale_factor=2, mode="bicubic"), ValueError, r"unknown mode 'bicubic'.*'nearest', 'bilinear'"),
    (lambda: nnp.Upsample(scale_factor=2, align_corners=True), ValueError, r"align_corners must be None for mode='nearest'"),
    (lambda: nnp.Upsample(size=4, scale_factor=2), ValueError, r"exactly one of size and scale_factor"),
    (lambda: nnp.Upsample(), ValueError, r"exactly one of size and scale_factor"),
    (lambda: nnp.Upsample(scale_factor=-1), ValueError, r"scale_factor must be in \(0"),
    (lambda: nnp.Upsample(scale_factor=(1, 2, 3)), ValueError, r"scale_factor must be a number or a pair"),
    (lambda: nnp.Upsample(size=0), ValueError, r"size must be positive"),
    (lambda: nnp.Upsample(size=2.5), TypeError, r"size must be an int or a pair"),
    (lambda: nnp.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError,
     r"output_padding must be >= 0 and smaller than the stride 2, got 2"),
    (lambda: nnp.ConvTranspose2d(2, 2, 3, output_padding=1), ValueError, r"output_padding .* smaller than the stride"),
    (lambda: nnp.ConvTranspose2d(0, 2, 3), ValueError, r"in_channels must be >= 1"),
    (lambda: nnp.ConvTranspose2d(1, 2, 0), ValueError, r"kernel_size and stride must be >= 1"),
    (lambda: nnp.ConvTranspose2d(1, 2, 3, padding=-1), ValueError, r"padding must be >= 0"),
    (lambda: nnp.ConvTranspose2d(1, 2, 2.5), TypeError, r"kernel_size must be an int or a pair"),
])
def test_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_torch_rejects_the_same_arguments():
    """Our errors are not stricter than PyTorch's: it refuses these too."""
    with pytest.raises(ValueError):
        tnn.Upsample(scale_factor=2, align_corners=True)(torch.zeros(1, 1, 2, 2))
    with pytest.raises(RuntimeError):
        tnn.ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)(torch.zeros(1, 2, 3, 3))


@pytest.mark.parametrize("layer,shape,match", [
    (lambda: nnp.Upsample(scale_factor=2), (3, 4, 4), r"\(N, C, H, W\).*\(3, 4, 4\)"),
    (lambda: nnp.Upsample(size=3, mode="bilinear"), (1, 1, 2, 3, 4), r"\(N, C, H, W\).*\(1, 1, 2, 3, 4\)"),
    (lambda: nnp.Upsample(scale_factor=0.3), (1, 1, 2, 8), r"output size for input \(1, 1, 2, 8\) must be positive"),
    (lambda: nnp.ConvTranspose2d(3, 2, 3), (1, 2, 4, 4), r"\(N, 3, H, W\).*\(1, 2, 4, 4\)"),
    (lambda: nnp.ConvTranspose2d(3, 2, 3), (3, 4, 4), r"\(N, 3, H, W\).*\(3, 4, 4\)"),
    (lambda: nnp.ConvTranspose2d(1, 1, 1, padding=1), (1, 1, 2, 2), r"output size for input \(1, 1, 2, 2\) must be positive"),
])
def test_bad_input_raises_value_error_naming_shapes(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer()(np.zeros(shape))


def test_load_state_dict_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        nnp.ConvTranspose2d(2, 3, 3).load_state_dict(tnn.ConvTranspose2d(3, 2, 3).state_dict())
    with pytest.raises(KeyError, match="missing keys \\['bias'\\]"):
        nnp.ConvTranspose2d(2, 3, 3).load_state_dict({"weight": np.zeros((2, 3, 3, 3))})
