"""Checks for the exercises of chapter 11 (recurrent networks).

Each check runs the student's NumPy function and a PyTorch reference (``torch.nn.RNNCell``, ``torch.nn.RNN``
and ``torch.nn.LSTMCell`` with the same weights, autograd for every gradient, all in float64) on random
inputs in PyTorch's weight layout and raises :class:`~dlcourse.checks.CheckFailed` at the first difference.
The cases include batch size 1, sequences of length 1, and square weights (input size = hidden size), where a
transposed weight matrix has the right shape but the wrong values.
"""
from __future__ import annotations

import numpy as np

from . import check_outcome, CheckFailed, failing_case, hint, model_scores, run_check, trained_model

__all__ = ["rnn_step", "rnn_step_backward", "rnn_backward", "lstm_step", "recall_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


def _sizes(rng, i):
    """(B, I, H): batch 1 every fourth case, square weights (I = H) every third case."""
    B = 1 if i % 4 == 0 else int(rng.integers(2, 6))
    H = int(rng.integers(1, 7)) if i % 5 == 1 else int(rng.integers(2, 7))
    I = H if i % 3 == 0 else int(rng.integers(1, 7))
    return B, I, H


def _weights(rng, I, H, gates=1):
    """(W_ih (gates*H, I), W_hh (gates*H, H), b_ih (gates*H,), b_hh (gates*H,)) of PyTorch's layout."""
    s = 1.0 / np.sqrt(H)
    return (rng.uniform(-s, s, (gates * H, I)) * 2, rng.uniform(-s, s, (gates * H, H)) * 2,
            rng.uniform(-s, s, gates * H), rng.uniform(-s, s, gates * H))


def _load(module, W_ih, W_hh, b_ih, b_hh, suffix=""):
    torch = _torch()
    with torch.no_grad():
        for name, value in (("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh)):
            getattr(module, name + suffix).copy_(torch.from_numpy(value))
    return module


def _cell(W_ih, W_hh, b_ih, b_hh, kind="RNNCell"):
    torch = _torch()
    H, I = W_hh.shape[1], W_ih.shape[1]
    return _load(getattr(torch.nn, kind)(I, H).double(), W_ih, W_hh, b_ih, b_hh)


# ---- rnn_step -----------------------------------------------------------------------------------
def _reference_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    torch = _torch()
    with torch.no_grad():
        return _cell(W_ih, W_hh, b_ih, b_hh)(torch.from_numpy(x_t), torch.from_numpy(h_prev)).numpy()


def _step_cases(seed, n=16):
    rng = np.random.default_rng(seed)
    cases = [(np.array([[1.0]]), np.array([[0.0]]), np.array([[0.5]]), np.array([[2.0]]), np.array([0.1]),
              np.array([-0.1]))]                                       # by hand: tanh(0.5) = 0.4621
    for i in range(n):
        B, I, H = _sizes(rng, i)
        cases.append((rng.normal(size=(B, I)), rng.uniform(-1, 1, (B, H)), *_weights(rng, I, H)))
    return cases


def rnn_step(student, seed: int = 0) -> None:
    """Check ``rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh) -> h_t`` against ``torch.nn.RNNCell``."""
    run_check("rnn_step", student, _reference_step, _step_cases(seed + 1), rtol=1e-9, atol=1e-12,
              arg_names=("x_t", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh"),
              hints=("PyTorch stores each weight matrix with one ROW per hidden unit: W_ih is (H, I), W_hh is "
                     "(H, H). The rows of x_t and h_prev are the examples of the batch, so each needs the "
                     "transposed matrix. Both biases are added, and the nonlinearity comes last.",
                     "Check the shapes: (B, I) times (I, H) gives (B, H), the shape of h_prev and of the "
                     "result. The two biases broadcast over the batch. The first test case is small enough "
                     "to work out by hand."))


# ---- rnn_step_backward --------------------------------------------------------------------------
def _reference_step_backward(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    torch = _torch()
    cell = _cell(W_ih, W_hh, b_ih, b_hh)
    x, h = torch.tensor(x_t, requires_grad=True), torch.tensor(h_prev, requires_grad=True)
    cell(x, h).backward(torch.from_numpy(grad_h))
    return (x.grad.numpy(), h.grad.numpy(), cell.weight_ih.grad.numpy(), cell.weight_hh.grad.numpy(),
            cell.bias_ih.grad.numpy(), cell.bias_hh.grad.numpy())


def rnn_step_backward(student, seed: int = 0) -> None:
    """Check ``rnn_step_backward(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh)`` -> the six gradients,
    against autograd through ``torch.nn.RNNCell``."""
    rng = np.random.default_rng(seed + 2)
    cases = []
    for x_t, h_prev, W_ih, W_hh, b_ih, b_hh in _step_cases(seed + 2):
        h_t = _reference_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)
        cases.append((rng.normal(size=h_t.shape), x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh))
    run_check("rnn_step_backward", student, _reference_step_backward, cases, rtol=1e-9, atol=1e-12,
              arg_names=("grad_h", "x_t", "h_prev", "h_t", "W_ih", "W_hh", "b_ih", "b_hh"),
              out_names=("grad_x", "grad_h_prev", "grad_W_ih", "grad_W_hh", "grad_b_ih", "grad_b_hh"),
              hints=("First take grad_h back through the nonlinearity: the derivative of tanh can be written "
                     "with its output h_t alone, so nothing needs recomputing. After that the step is two "
                     "Linear layers added together, and each gets the backward of chapter 03.",
                     "Every gradient has the shape of what it belongs to: grad_W_hh is (H, H) like W_hh, and it "
                     "pairs the gradient before tanh with the state that went INTO the step, not the one that "
                     "came out. The biases were added to every example of the batch."))


# ---- rnn_backward (BPTT) ------------------------------------------------------------------------
def _reference_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    torch = _torch()
    rnn = _load(torch.nn.RNN(W_ih.shape[1], W_hh.shape[1]).double(), W_ih, W_hh, b_ih, b_hh, suffix="_l0")
    xs, h = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    output, _ = rnn(xs, h[None])
    output.backward(torch.from_numpy(grad_output))
    return (xs.grad.numpy(), h.grad.numpy(), rnn.weight_ih_l0.grad.numpy(), rnn.weight_hh_l0.grad.numpy(),
            rnn.bias_ih_l0.grad.numpy(), rnn.bias_hh_l0.grad.numpy())


def rnn_backward(student, seed: int = 0) -> None:
    """Check ``rnn_backward(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output)`` (x: (T, B, I), the gradient of the
    loss with respect to every output h_1..h_T: (T, B, H)) against autograd through ``torch.nn.RNN``."""
    rng = np.random.default_rng(seed + 3)
    cases = []
    for i in range(14):
        B, I, H = _sizes(rng, i)
        T = 1 if i == 1 else int(rng.integers(2, 9))
        cases.append((rng.normal(size=(T, B, I)), rng.uniform(-1, 1, (B, H)), *_weights(rng, I, H),
                      rng.normal(size=(T, B, H))))
    run_check("rnn_backward", student, _reference_bptt, cases, rtol=1e-8, atol=1e-11,
              arg_names=("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh", "grad_output"),
              out_names=("grad_x", "grad_h0", "grad_W_ih", "grad_W_hh", "grad_b_ih", "grad_b_hh"),
              hints=("Run the forward pass first and keep every state h_0 .. h_T: the backward of step t needs "
                     "the state that went in and the one that came out. Then walk through time in the order "
                     "opposite to the forward pass, calling your rnn_step_backward once per step.",
                     "The state h_t is used twice: as the output at step t and as the input of step t + 1. Its "
                     "gradient is the sum of both contributions, so carry the gradient that step t + 1 sent "
                     "back to its h_prev into step t. The weights are shared by all steps: add their "
                     "gradients over time."))


# ---- lstm_step ----------------------------------------------------------------------------------
def _reference_lstm(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    torch = _torch()
    with torch.no_grad():
        h, c = _cell(W_ih, W_hh, b_ih, b_hh, "LSTMCell")(torch.from_numpy(x_t),
                                                         (torch.from_numpy(h_prev), torch.from_numpy(c_prev)))
    return h.numpy(), c.numpy()


def lstm_step(student, seed: int = 0) -> None:
    """Check ``lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh) -> (h_t, c_t)`` against
    ``torch.nn.LSTMCell`` (weights (4H, I) and (4H, H), gates in the order i, f, g, o)."""
    rng = np.random.default_rng(seed + 4)
    cases = []
    for i in range(16):
        B, I, H = _sizes(rng, i)
        cases.append((rng.normal(size=(B, I)), rng.uniform(-1, 1, (B, H)), rng.normal(size=(B, H)),
                      *_weights(rng, I, H, gates=4)))
    run_check("lstm_step", student, _reference_lstm, cases, rtol=1e-9, atol=1e-12,
              arg_names=("x_t", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh"), out_names=("h_t", "c_t"),
              hints=("One matrix product per input computes all four gates at once: the 4H pre-activations "
                     "come in four blocks of H columns, in PyTorch's order input, forget, cell candidate, "
                     "output. Three of the blocks are gates (values between 0 and 1); the candidate is not.",
                     "The gates squash with a sigmoid and the candidate with tanh. The new cell state keeps a "
                     "gated part of the old one and adds a gated part of the candidate; the new hidden state is "
                     "the output gate times tanh of the new cell state."))


# ---- the outcome task ---------------------------------------------------------------------------
RECALL_VOCAB, RECALL_LENGTH, RECALL_DELAY, RECALL_TARGET = 8, 20, 5, 0.9
IGNORE = -100                      # the default ignore_index of torch.nn.functional.cross_entropy


def recall_data(n: int, seed: int):
    """``n`` sequences of ``RECALL_LENGTH`` random tokens from ``RECALL_VOCAB`` symbols, (n, T) int64, and
    the targets: at step t the token seen ``RECALL_DELAY`` steps earlier, ``IGNORE`` (-100) for the first
    ``RECALL_DELAY`` steps, where there is nothing to recall."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, RECALL_VOCAB, size=(n, RECALL_LENGTH)).astype(np.int64)
    Y = np.full_like(X, IGNORE)
    Y[:, RECALL_DELAY:] = X[:, :-RECALL_DELAY]
    return X, Y


def recall_outcome(student, seed: int = 0) -> None:
    """Train the student's recurrent model with ``student(X, Y, seed)`` on 2000 sequences of
    :func:`recall_data` (seed 0) and require its per-token accuracy on 500 validation sequences (seed 1),
    counted where the target is not ``IGNORE``, to reach the target."""
    torch = _torch()
    from ..train import accuracy

    name = "train_recaller"
    X, Y = recall_data(2000, 0)
    X_val, Y_val = recall_data(500, 1)
    hints = ("Embed each token (nn.Embedding), run a GRU or LSTM over the sequence with batch_first=True, and "
             "map every hidden state to one score per symbol with a Linear layer. The loss is cross-entropy "
             "over all steps; cross_entropy skips the targets equal to -100 by itself.",
             "A hidden size of about 64, Adam with a learning rate near 1e-2, minibatches of 64 and about ten "
             "epochs are enough; clip the gradient norm (to 1, say) so that an occasional large step does not "
             "undo the training.")
    model = trained_model(name, student, X, Y, seed)
    scores = model_scores(model, X_val)
    expected = (len(X_val), RECALL_LENGTH, RECALL_VOCAB)
    if tuple(scores.shape) != expected:
        raise CheckFailed(f"{name}: your model maps {tuple(X_val.shape)} tokens to scores of shape "
                          f"{tuple(scores.shape)}; expected {expected}, one score per symbol at every step.")
    keep = Y_val != IGNORE
    acc = accuracy(scores.detach().cpu().numpy()[keep], Y_val[keep])
    check_outcome(name, acc, RECALL_TARGET, what="validation accuracy (per recalled token)", hints=hints)
