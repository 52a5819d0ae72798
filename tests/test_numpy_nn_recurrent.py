"""Twin tests of chapter 11's recurrent layers: RNN (tanh and relu) and LSTM of dlcourse.numpy_nn against
torch.nn.RNN / torch.nn.LSTM, in float64, on random configurations (batch_first both ways, batch size 1,
unbatched sequences, bias or not, with and without initial states): output, final states, input gradient,
every parameter gradient and the initial states' gradients, with torch's weights loaded via load_state_dict.
Plus the error messages and chapter 11's charlm helpers."""
import zlib

import numpy as np
import pytest
import torch
import torch.nn as tnn

from dlcourse import charlm
from dlcourse import numpy_nn as nnp

N_CONFIGS = 20
TOL = 1e-11


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))       # the same configurations in every process


def _config(rng, lstm):
    kw = dict(bias=bool(rng.random() < 0.7), batch_first=bool(rng.random() < 0.5))
    if not lstm:
        kw["nonlinearity"] = ["tanh", "relu"][int(rng.integers(0, 2))]
    I, H, T = int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(1, 8))
    N = 1 if rng.random() < 0.25 else int(rng.integers(2, 5))
    unbatched = bool(rng.random() < 0.15)
    with_state = bool(rng.random() < 0.5)
    return kw, I, H, T, N, unbatched, with_state


def _compare(lstm, config, seed):
    rng = _rng(f"{'lstm' if lstm else 'rnn'}-{config}-{seed}")
    kw, I, H, T, N, unbatched, with_state = _config(rng, lstm)
    torch.manual_seed(config)
    theirs = (tnn.LSTM if lstm else tnn.RNN)(I, H, **kw).double()
    ours = (nnp.LSTM if lstm else nnp.RNN)(I, H, **kw)
    ours.load_state_dict(theirs.state_dict())
    shape = (T, I) if unbatched else ((N, T, I) if kw["batch_first"] else (T, N, I))
    x = rng.normal(size=shape)
    state_shape = (1, H) if unbatched else (1, N, H)
    states = [rng.normal(size=state_shape) for _ in range(2 if lstm else 1)] if with_state else None
    x_t = torch.tensor(x, requires_grad=True)
    states_t = [torch.tensor(s, requires_grad=True) for s in states] if states else None
    if lstm:
        out_t, (h_t, c_t) = theirs(x_t, tuple(states_t) if states_t else None)
        out, (h, c) = ours(x, tuple(states) if states else None)
        finals_t, finals = [h_t, c_t], [h, c]
    else:
        out_t, h_t = theirs(x_t, states_t[0] if states_t else None)
        out, h = ours(x, states[0] if states else None)
        finals_t, finals = [h_t], [h]
    what = f"{type(ours).__name__} {kw} I={I} H={H} T={T} N={N} unbatched={unbatched} h0={with_state}"
    assert out.shape == tuple(out_t.shape), what
    errors = {"output": np.abs(out - out_t.detach().numpy()).max()}
    for name, a, b in zip(("h_n", "c_n"), finals, finals_t):
        assert a.shape == tuple(b.shape), f"{what}: {name} shape {a.shape} vs {tuple(b.shape)}"
        errors[name] = np.abs(a - b.detach().numpy()).max()
    g_out = rng.normal(size=out.shape)
    g_finals = [rng.normal(size=f.shape) for f in finals]
    loss = (out_t * torch.tensor(g_out)).sum() + sum((f * torch.tensor(g)).sum() for f, g in zip(finals_t, g_finals))
    loss.backward()
    grad_x = ours.backward(g_out, *g_finals)
    errors["grad_input"] = np.abs(grad_x - x_t.grad.numpy()).max()
    params = {name for name, _ in theirs.named_parameters()}
    assert set(ours.grads) == params, what
    for name, p in theirs.named_parameters():
        errors[f"grad_{name}"] = np.abs(ours.grads[name] - p.grad.numpy()).max()
    if states:
        errors["grad_h0"] = np.abs(ours.grad_h0 - states_t[0].grad.numpy()).max()
        if lstm:
            errors["grad_c0"] = np.abs(ours.grad_c0 - states_t[1].grad.numpy()).max()
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, f"{what}: differs from PyTorch: " + ", ".join(f"{k} by {v:.1e}" for k, v in bad.items())


@pytest.mark.parametrize("config", range(N_CONFIGS))
def test_rnn_twin(config):
    _compare(False, config, 0)


@pytest.mark.parametrize("config", range(N_CONFIGS))
def test_lstm_twin(config):
    _compare(True, config, 0)


@pytest.mark.parametrize("layer", ["RNN", "LSTM"])
def test_output_only_through_parity(layer):
    """dlcourse.parity.twin_errors compares one output: through the chapter's adapter it checks `output`."""
    from dlcourse.parity import twin_errors

    class OutputOnly:
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, x):
            return self.inner(x)[0]

        def __getattr__(self, name):
            return getattr(self.inner, name)

    theirs = getattr(tnn, layer)(3, 4, batch_first=True)
    theirs.register_forward_hook(lambda module, inputs, out: out[0])
    errors = twin_errors(OutputOnly(getattr(nnp, layer)(3, 4, batch_first=True)), theirs,
                         np.random.default_rng(0).normal(size=(2, 5, 3)))
    assert max(errors.values()) < TOL and {"output", "grad_input", "grad_weight_hh_l0"} <= set(errors)


def test_parameters_like_torch():
    rnn, lstm = nnp.RNN(3, 5, rng=np.random.default_rng(0)), nnp.LSTM(3, 5, bias=False)
    assert {k: v.shape for k, v in rnn.params.items()} == {k: tuple(v.shape) for k, v in tnn.RNN(3, 5).state_dict().items()}
    assert {k: v.shape for k, v in lstm.params.items()} == {k: tuple(v.shape) for k, v in tnn.LSTM(3, 5, bias=False).state_dict().items()}
    assert all(np.abs(v).max() <= 1 / np.sqrt(5) for v in rnn.params.values())       # PyTorch's init range
    assert "batch_first=False" in repr(rnn)


def test_errors():
    rnn = nnp.RNN(3, 4)
    with pytest.raises(ValueError, match="nonlinearity"):
        nnp.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        nnp.RNN(3, 0)
    with pytest.raises(TypeError, match="input_size"):
        nnp.LSTM(2.5, 4)
    with pytest.raises(ValueError, match=r"\(\*, 3\)"):
        rnn(np.zeros((5, 2, 2)))                                   # wrong number of features
    with pytest.raises(ValueError, match="shape"):
        rnn(np.zeros((2, 3, 5, 3)))                                # 4-D input
    with pytest.raises(ValueError, match="h0"):
        rnn(np.zeros((5, 2, 3)), np.zeros((2, 4)))                 # h0 without the layer axis
    with pytest.raises(ValueError, match="c0"):
        nnp.LSTM(3, 4)(np.zeros((5, 2, 3)), (np.zeros((1, 2, 4)), np.zeros((1, 3, 4))))
    with pytest.raises(RuntimeError, match="before forward"):
        nnp.RNN(3, 4).backward(np.zeros((5, 2, 4)))
    rnn(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="grad_output"):
        rnn.backward(np.zeros((2, 5, 4)))                          # batch_first layout for a time-major layer
    with pytest.raises(KeyError, match="missing"):
        rnn.load_state_dict(tnn.RNN(3, 4, bias=False).state_dict())


def test_charlm():
    text = charlm.load_text()
    assert text == charlm.load_text() and len(text) > 400_000       # deterministic, the bundled reference
    codes, alphabet = charlm.encode("abcab")
    assert alphabet == ["a", "b", "c"] and codes.tolist() == [0, 1, 2, 0, 1]
    logp = charlm.bigram_log_probs(codes, 3, alpha=1.0)
    assert np.allclose(np.exp(logp).sum(1), 1)
    assert np.isclose(np.exp(logp[0, 1]), 3 / 5)                     # a -> b twice, + 1 smoothing, / (2 + 3)
    assert charlm.bits_per_char(np.log([0.5, 0.5])) == pytest.approx(1.0)
