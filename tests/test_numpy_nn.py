"""Twin tests: every dlcourse.numpy_nn layer and loss against its torch.nn twin, forward and backward,
in float64, on random shapes (batch size 1 included), with weights copied via load_state_dict
(dlcourse.parity.twin_errors, through tests/twins.py)."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn as tnn

from dlcourse import numpy_nn as nnp
from twins import check_loss_twin, check_twin

N_CONFIGS = 25
TOL = dict(rtol=1e-10, atol=1e-12)


def _random_shape(rng, features):
    batch = [1, int(rng.integers(2, 9))][int(rng.integers(0, 2))]
    extra = [int(rng.integers(1, 4))] if rng.random() < 0.3 else []     # torch layers accept (*, features)
    return (batch, *extra, features)


def _layer_pairs(rng):
    """(numpy layer, torch layer, input feature size) for one random configuration of each layer."""
    din, dout = int(rng.integers(1, 12)), int(rng.integers(1, 12))
    slope, alpha, beta = float(rng.uniform(0.001, 0.5)), float(rng.uniform(0.1, 2.0)), float(rng.uniform(0.5, 3.0))
    bias = bool(rng.integers(0, 2))
    return {
        "Linear": (nnp.Linear(din, dout, bias=bias), tnn.Linear(din, dout, bias=bias), din),
        "Sigmoid": (nnp.Sigmoid(), tnn.Sigmoid(), din),
        "Tanh": (nnp.Tanh(), tnn.Tanh(), din),
        "ReLU": (nnp.ReLU(), tnn.ReLU(), din),
        "LeakyReLU": (nnp.LeakyReLU(slope), tnn.LeakyReLU(slope), din),
        "ELU": (nnp.ELU(alpha), tnn.ELU(alpha), din),
        "GELU": (nnp.GELU(), tnn.GELU(), din),
        "SiLU": (nnp.SiLU(), tnn.SiLU(), din),
        "Softplus": (nnp.Softplus(beta, threshold=float(rng.choice([5.0, 20.0]))),
                     None, din),
        "Sequential": (nnp.Sequential(nnp.Linear(din, dout), nnp.Tanh(), nnp.Linear(dout, 3), nnp.LeakyReLU(0.2)),
                       tnn.Sequential(tnn.Linear(din, dout), tnn.Tanh(), tnn.Linear(dout, 3), tnn.LeakyReLU(0.2)), din),
    }


LAYERS = ["Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Sequential"]


@pytest.mark.parametrize("name", LAYERS)
def test_layer_matches_torch_forward_and_backward(name):
    rng = np.random.default_rng(zlib.crc32(name.encode()))       # the same configurations in every process
    for config in range(N_CONFIGS):
        ours, theirs, din = _layer_pairs(rng)[name]
        if name == "Softplus":
            theirs = tnn.Softplus(beta=ours.beta, threshold=ours.threshold)
        x = rng.normal(size=_random_shape(rng, din)) * rng.choice([0.1, 1.0, 10.0])
        assert ours(x).dtype == np.float64
        check_twin(ours, theirs, x, f"{name} config {config}, x {x.shape}", rng=rng, **TOL)


def _loss_cases(rng):
    N, C = [1, int(rng.integers(2, 9))][int(rng.integers(0, 2))], int(rng.integers(2, 7))
    shape = (N, int(rng.integers(1, 5)))
    smoothing = float(rng.choice([0.0, 0.0, 0.1, 0.3]))
    return {
        "MSELoss": (nnp.MSELoss(), tnn.MSELoss(), rng.normal(size=shape), rng.normal(size=shape)),
        "CrossEntropyLoss": (nnp.CrossEntropyLoss(label_smoothing=smoothing), tnn.CrossEntropyLoss(label_smoothing=smoothing),
                             rng.normal(size=(N, C)) * rng.choice([1.0, 30.0]), rng.integers(0, C, size=N)),
        "BCEWithLogitsLoss": (nnp.BCEWithLogitsLoss(), tnn.BCEWithLogitsLoss(), rng.normal(size=shape) * rng.choice([1.0, 40.0]),
                              rng.random(shape) * (rng.random(shape) < 0.7)),
    }


@pytest.mark.parametrize("name", ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"])
def test_loss_matches_torch(name):
    rng = np.random.default_rng(len(name))
    for config in range(N_CONFIGS):
        ours, theirs, z, y = _loss_cases(rng)[name]
        check_loss_twin(ours, theirs, z, y, f"{name} config {config}", **TOL)
        assert isinstance(ours(z, y), float)
        np.testing.assert_allclose(ours.backward(2.5), 2.5 * ours.backward(), rtol=1e-15,   # upstream gradient
                                   err_msg=f"{name} backward(2.5), config {config}")


def test_sequential_parameter_names_equal_torch():
    ours = nnp.Sequential(nnp.Linear(4, 8), nnp.ReLU(), nnp.Linear(8, 8, bias=False), nnp.GELU(), nnp.Linear(8, 2))
    theirs = tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Linear(8, 8, bias=False), tnn.GELU(), tnn.Linear(8, 2))
    assert list(ours.params) == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


def test_sequential_params_are_the_layers_arrays():
    model = nnp.Sequential(nnp.Linear(3, 2))
    model.params["0.weight"] -= 1.0                         # an optimizer's in-place step...
    assert np.array_equal(model.params["0.weight"], model[0].params["weight"])   # ...updates the layer


def test_state_dict_round_trip_and_float64_is_kept():
    torch_layer = tnn.Linear(5, 3).double()
    layer = nnp.Linear(5, 3, dtype=np.float32)
    layer.load_state_dict(torch_layer.state_dict())
    assert layer.params["weight"].dtype == np.float64
    copy = nnp.Linear(5, 3)
    copy.load_state_dict(layer.state_dict())
    assert all(np.array_equal(copy.params[k], layer.params[k]) for k in layer.params)


def test_default_init_matches_torch_bounds():
    layer = nnp.Linear(400, 300, rng=np.random.default_rng(0))
    w = layer.params["weight"]
    assert np.abs(w).max() <= 1 / 20 and np.abs(w).max() > 0.95 / 20 and abs(w.mean()) < 1e-3


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("call,error,message", [
    (lambda: nnp.Linear(4, 3)(np.zeros((2, 5))), ValueError, "expects input of shape (*, 4), got (2, 5)"),
    (lambda: nnp.Linear(4, 3)(np.array(["a", "b", "c", "d"])), TypeError, "expects a numeric array"),
    (lambda: nnp.Linear(0, 3), ValueError, "Linear needs positive sizes"),
    (lambda: nnp.CrossEntropyLoss()(np.zeros((3, 4)), np.array([0, 4, 1])), ValueError,
     "labels must be in [0, 3] for 4 classes, got values in [0, 4]"),
    (lambda: nnp.CrossEntropyLoss()(np.zeros((3, 4)), np.array([0, -1, 1])), ValueError, "labels must be in [0, 3]"),
    (lambda: nnp.CrossEntropyLoss()(np.zeros((3, 4)), np.array([0.0, 1.0, 1.0])), ValueError,
     "expects integer labels of shape (3,)"),
    (lambda: nnp.CrossEntropyLoss()(np.zeros(4), np.array([0])), ValueError, "expects logits of shape (N, C), got (4,)"),
    (lambda: nnp.CrossEntropyLoss(label_smoothing=1.5), ValueError, "label_smoothing must be in [0, 1]"),
    (lambda: nnp.MSELoss()(np.zeros((3, 2)), np.zeros((3,))), ValueError, "input shape (3, 2) and target shape (3,) differ"),
    (lambda: nnp.BCEWithLogitsLoss()(np.zeros(3), np.array([0, 2, 1])), ValueError, "targets must be in [0, 1]"),
    (lambda: nnp.Sequential(nnp.Linear(2, 2), "relu"), TypeError, "Sequential takes numpy_nn layers"),
    (lambda: nnp.Linear(2, 3).load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(3)}), ValueError,
     "'weight' has shape (2, 2), expected (3, 2)"),
    (lambda: nnp.Linear(2, 3).load_state_dict({"weight": np.zeros((3, 2))}), KeyError, "missing keys ['bias']"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error) as excinfo:
        call()
    assert message in str(excinfo.value)


# ---- the rest of the exported reference code -----------------------------------------------------
def test_clip_grad_norm_matches_torch():
    rng = np.random.default_rng(0)
    for max_norm in (0.1, 1.0, 1e6):
        grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
        params = [torch.zeros(3, 4, dtype=torch.float64, requires_grad=True), torch.zeros(5, dtype=torch.float64, requires_grad=True)]
        for p, g in zip(params, grads.values()):
            p.grad = torch.tensor(g)
        total_t = torch.nn.utils.clip_grad_norm_(params, max_norm)
        total = nnp.clip_grad_norm_(grads, max_norm)
        assert abs(total - total_t.item()) < 1e-12
        for p, g in zip(params, grads.values()):
            np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("scheme,expected_std", [("xavier", np.sqrt(2 / (200 + 100))), ("he", np.sqrt(2 / 200))])
def test_init_weights_variances(scheme, expected_std):
    model = nnp.init_weights(nnp.Sequential(nnp.Linear(200, 100)), scheme, np.random.default_rng(0))
    assert abs(model[0].params["weight"].std() / expected_std - 1) < 0.02
    assert not model[0].params["bias"].any()
    with pytest.raises(ValueError, match="unknown scheme"):
        nnp.init_weights(model, "lecun", np.random.default_rng(0))


def test_scalar_autograd_matches_torch():
    from dlcourse.autograd import Value

    rng = np.random.default_rng(1)
    for _ in range(N_CONFIGS):
        a0, b0, c0 = rng.normal(size=3)
        a, b, c = Value(a0), Value(b0), Value(abs(c0) + 0.5)
        out = ((a * b + c).tanh() * a - b / c + (a * 2).exp().log() + (b - 1).relu() + c ** 2 + a.sigmoid()) * b
        out.backward()
        at, bt, ct = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a0, b0, abs(c0) + 0.5))
        ref = ((at * bt + ct).tanh() * at - bt / ct + (at * 2).exp().log() + (bt - 1).relu() + ct ** 2 + at.sigmoid()) * bt
        ref.backward()
        assert abs(out.data - ref.item()) < 1e-12
        for v, t in ((a, at), (b, bt), (c, ct)):
            assert abs(v.grad - t.grad.item()) < 1e-10


def test_gradcheck_helpers():
    from dlcourse.gradcheck import numerical_gradient, relative_error

    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    num = numerical_gradient(lambda: float(np.sum(np.sin(x) * x)), x)
    assert relative_error(num, np.cos(x) * x + np.sin(x)) < 1e-9
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0 and relative_error([1.0], [-1.0]) == 1.0
