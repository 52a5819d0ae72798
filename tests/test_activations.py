"""Twin tests: the activations, their derivatives and the log-sum-exp family of dlcourse.numpy_nn
(exported from chapter 02) against torch.nn.functional and autograd, in float64, on random shapes
and argument values, with size-1 arrays and the extreme inputs 0 and +-50 in every case. An activation and its derivative are compared as a layer
(tests/twins.py: Elementwise) with dlcourse.parity.twin_errors, upstream gradient 1."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlcourse import numpy_nn as nnp
from twins import Elementwise, TorchFunction, check_twin

N_CONFIGS = 30
TOL = dict(rtol=1e-12, atol=1e-14)


# name -> (random keyword arguments, PyTorch twin called with the same keywords)
ELEMENTWISE = {
    "sigmoid": (lambda rng: {}, lambda t: torch.sigmoid(t)),
    "tanh": (lambda rng: {}, lambda t: torch.tanh(t)),
    "relu": (lambda rng: {}, lambda t: F.relu(t)),
    "leaky_relu": (lambda rng: {"negative_slope": float(rng.uniform(0.001, 0.5))},
                   lambda t, negative_slope=0.01: F.leaky_relu(t, negative_slope)),
    "elu": (lambda rng: {"alpha": float(rng.uniform(0.1, 2.0))}, lambda t, alpha=1.0: F.elu(t, alpha)),
    "gelu": (lambda rng: {}, lambda t: F.gelu(t)),
    "silu": (lambda rng: {}, lambda t: F.silu(t)),
    "softplus": (lambda rng: {"beta": float(rng.uniform(0.5, 3.0)), "threshold": float(rng.uniform(1.0, 30.0))},
                 lambda t, beta=1.0, threshold=20.0: F.softplus(t, beta, threshold)),
}
CASES = [(name, seed) for name in ELEMENTWISE for seed in range(N_CONFIGS)]


def _random_shape(rng, seed):
    if seed == 0:
        return (1,)                                   # size 1
    if seed == 1:
        return ()                                     # a 0-d array
    if seed == 2:
        return (1, 1)
    return tuple(int(s) for s in rng.integers(1, 7, size=int(rng.integers(1, 4))))


def _config(name, seed):
    """(x, kwargs) for one random configuration; x always contains 0 and +-50 when it has room."""
    rng = np.random.default_rng(1000 * list(ELEMENTWISE).index(name) + seed)
    shape = _random_shape(rng, seed)
    x = rng.normal(size=shape) * float(rng.choice([1.0, 5.0, 20.0]))
    extremes = np.array([0.0, 50.0, -50.0, -1e-9, 1e-9, 20.0, -20.0])
    flat = x.reshape(-1)
    k = min(flat.size, len(extremes))
    flat[rng.permutation(flat.size)[:k]] = extremes[(seed + np.arange(k)) % len(extremes)]   # size 1: cycles
    kwargs = {} if seed % 5 == 0 else ELEMENTWISE[name][0](rng)                             # defaults, too
    if name == "softplus" and kwargs and flat.size > 2:          # straddle the linear threshold
        flat[:2] = kwargs["threshold"] / kwargs["beta"] + np.array([-1e-6, 1e-6])
    return flat.reshape(shape), kwargs


def _check_against_torch(name, x, kwargs, what):
    """f and f_grad of numpy_nn against the torch function and autograd (d sum f(x) / dx = f'(x))."""
    f, f_grad = getattr(nnp, name), getattr(nnp, f"{name}_grad")
    return check_twin(Elementwise(f, f_grad, **kwargs), TorchFunction(ELEMENTWISE[name][1], **kwargs), x, what,
                      grad_out=np.ones(np.shape(x)), **TOL)


@pytest.mark.parametrize("name,seed", CASES)
def test_activation_and_derivative_equal_torch(name, seed):
    x, kwargs = _config(name, seed)
    x_before = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no overflow / invalid-value warnings
        values = getattr(nnp, name)(x, **kwargs), getattr(nnp, f"{name}_grad")(x, **kwargs)
    for value in values:
        assert np.asarray(value).dtype == np.float64 and np.shape(value) == x.shape   # 0-d in: NumPy scalar out
    _check_against_torch(name, x, kwargs, f"{name}({kwargs}) seed {seed}, x {x.shape}")
    assert np.array_equal(x, x_before), "the input was modified in place"


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_activations_do_not_overflow_on_huge_inputs(name):
    x = np.array([-1e4, -1000.0, -710.0, -50.0, 0.0, 50.0, 710.0, 1000.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(nnp, name)(x), getattr(nnp, f"{name}_grad")(x)
    _check_against_torch(name, x, {}, f"{name} on huge inputs")


def test_derivatives_at_zero_follow_torch_conventions():
    zero = np.zeros(1)
    assert nnp.relu_grad(zero)[0] == 0.0
    assert nnp.leaky_relu_grad(zero, negative_slope=0.2)[0] == 0.2
    assert nnp.elu_grad(zero, alpha=0.7)[0] == 0.7
    assert nnp.sigmoid_grad(zero)[0] == 0.25 and nnp.gelu_grad(zero)[0] == 0.5 and nnp.silu_grad(zero)[0] == 0.5


def test_integer_input_gives_float64_and_scalars_work():
    assert nnp.relu(np.array([-2, 3])).dtype == np.float64
    assert nnp.sigmoid(0) == 0.5 and np.ndim(nnp.sigmoid(0.0)) == 0


# ---- logsumexp, log_softmax, softmax --------------------------------------------------------------
def _logit_config(seed):
    rng = np.random.default_rng(5000 + seed)
    shape = [(1,), (1, 1), (3, 1)][seed] if seed < 3 else tuple(int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 5))))
    z = rng.normal(size=shape) * float(rng.choice([1.0, 50.0, 1e4]))
    z.reshape(-1)[0] = rng.choice([0.0, 50.0, -50.0])
    axis = int(rng.integers(-len(shape), len(shape)))
    return z, axis, bool(rng.integers(0, 2))


@pytest.mark.parametrize("seed", range(N_CONFIGS))
def test_logsumexp_family_equals_torch(seed):
    z, axis, keepdims = _logit_config(seed)
    z_before = z.copy()
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    lse_t = torch.logsumexp(zt, dim=axis, keepdim=keepdims)
    (lse_grad,) = torch.autograd.grad(lse_t.sum(), zt)            # d logsumexp / dz = softmax
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lse, log_p, p = nnp.logsumexp(z, axis=axis, keepdims=keepdims), nnp.log_softmax(z, axis=axis), nnp.softmax(z, axis=axis)
    np.testing.assert_allclose(lse, lse_t.detach().numpy(), **TOL)
    np.testing.assert_allclose(log_p, F.log_softmax(zt.detach(), dim=axis).numpy(), **TOL)
    np.testing.assert_allclose(p, F.softmax(zt.detach(), dim=axis).numpy(), **TOL)
    np.testing.assert_allclose(p, lse_grad.numpy(), **TOL)
    assert lse.shape == lse_t.shape and log_p.shape == p.shape == z.shape and log_p.dtype == np.float64
    assert np.array_equal(z, z_before)


def test_logsumexp_and_log_softmax_are_stable_for_logits_of_1e4():
    z = np.array([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4, -1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):      # underflow to 0 is harmless
        lse, log_p, p = nnp.logsumexp(z), nnp.log_softmax(z), nnp.softmax(z)
    zt = torch.from_numpy(z)
    assert np.isfinite(lse).all() and np.isfinite(log_p).all() and np.isfinite(p).all()
    np.testing.assert_allclose(lse, [1e4, 1e4 + np.log(3), -1e4 + np.log(3)], rtol=1e-15)
    np.testing.assert_allclose(lse, torch.logsumexp(zt, -1).numpy(), **TOL)
    np.testing.assert_allclose(log_p, F.log_softmax(zt, -1).numpy(), **TOL)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-15)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # the naive formula really fails here
        assert not np.isfinite(np.log(np.exp(z).sum(-1))).all()


def test_logsumexp_of_minus_infinity_is_minus_infinity_without_nan():
    z = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = nnp.logsumexp(z)
    np.testing.assert_array_equal(got, torch.logsumexp(torch.from_numpy(z), -1).numpy())
