"""Chapter 11 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/11_rnn.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import recurrent as check

RIGHT = solution("11_rnn")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---- Task 1: one RNN step -----------------------------------------------------------------------
def step_untransposed(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """Weights used as (in, out) matrices: right shape only when I = H."""
    return np.tanh(x_t @ W_ih + b_ih + h_prev @ W_hh + b_hh)


def step_no_tanh(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh


def step_one_bias(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T)


def step_relu(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    return np.maximum(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, 0.0)


def step_tanh_inside(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """tanh of the input term only."""
    return np.tanh(x_t @ W_ih.T + b_ih) + h_prev @ W_hh.T + b_hh


# ---- Task 2: its backward -----------------------------------------------------------------------
def _backward(grad_a, x_t, h_prev, W_ih, W_hh):
    g = grad_a.sum(axis=0)
    return grad_a @ W_ih, grad_a @ W_hh, grad_a.T @ x_t, grad_a.T @ h_prev, g, g.copy()


def backward_no_tanh_derivative(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    return _backward(grad_h, x_t, h_prev, W_ih, W_hh)


def backward_tanh_derivative_of_output(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    """1 - tanh(h_t)^2: the derivative evaluated at the output instead of the pre-activation."""
    return _backward(grad_h * (1 - np.tanh(h_t) ** 2), x_t, h_prev, W_ih, W_hh)


def backward_uses_h_t(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    """grad_W_hh pairs the gradient with the new state h_t instead of h_prev."""
    return _backward(grad_h * (1 - h_t ** 2), x_t, h_t, W_ih, W_hh)


def backward_transposed_weights(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    """grad_h_prev through W_hh.T (right shape, wrong values)."""
    gx, gh, gWi, gWh, gbi, gbh = _backward(grad_h * (1 - h_t ** 2), x_t, h_prev, W_ih, W_hh)
    return gx, (grad_h * (1 - h_t ** 2)) @ W_hh.T, gWi, gWh, gbi, gbh


def backward_transposed_weight_grad(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    gx, gh, gWi, gWh, gbi, gbh = _backward(grad_h * (1 - h_t ** 2), x_t, h_prev, W_ih, W_hh)
    return gx, gh, gWi, gWh.T, gbi, gbh


def backward_bias_not_summed(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    grad_a = grad_h * (1 - h_t ** 2)
    gx, gh, gWi, gWh, _, _ = _backward(grad_a, x_t, h_prev, W_ih, W_hh)
    return gx, gh, gWi, gWh, grad_a, grad_a.copy()


def backward_bias_mean(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    grad_a = grad_h * (1 - h_t ** 2)
    gx, gh, gWi, gWh, _, _ = _backward(grad_a, x_t, h_prev, W_ih, W_hh)
    return gx, gh, gWi, gWh, grad_a.mean(axis=0), grad_a.mean(axis=0)


# ---- Task 3: BPTT -------------------------------------------------------------------------------
def _states(x, h0, W_ih, W_hh, b_ih, b_hh):
    hs = [h0]
    for x_t in x:
        hs.append(RIGHT.rnn_step(x_t, hs[-1], W_ih, W_hh, b_ih, b_hh))
    return hs


def _bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output, carry=True, times=None):
    hs = _states(x, h0, W_ih, W_hh, b_ih, b_hh)
    grad_x, grads, grad_next = np.zeros_like(x), [0, 0, 0, 0], np.zeros_like(h0)
    for t in (times if times is not None else reversed(range(len(x)))):
        upstream = grad_output[t] + grad_next if carry else grad_output[t]
        grad_x[t], grad_next, *step = RIGHT.rnn_step_backward(upstream, x[t], hs[t], hs[t + 1], W_ih, W_hh, b_ih, b_hh)
        grads = [g + s for g, s in zip(grads, step)]
    return (grad_x, grad_next, *grads)


def bptt_no_carry(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    """Each step sees only its own output's gradient: nothing flows back through the state."""
    return _bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output, carry=False)


def bptt_forward_order(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    """Walks through time in the forward order, carrying the gradient the wrong way."""
    return _bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output, times=range(len(x)))


def bptt_last_step_weights(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    """Weight gradients of the last step processed only (overwritten instead of added)."""
    hs = _states(x, h0, W_ih, W_hh, b_ih, b_hh)
    grad_x, grad_next = np.zeros_like(x), np.zeros_like(h0)
    for t in reversed(range(len(x))):
        grad_x[t], grad_next, *step = RIGHT.rnn_step_backward(grad_output[t] + grad_next, x[t], hs[t], hs[t + 1],
                                                              W_ih, W_hh, b_ih, b_hh)
    return (grad_x, grad_next, *step)


def bptt_shifted_states(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    """Step t paired with the states one step off (h_{t+1} as input, h_{t+2} as output)."""
    hs = _states(x, h0, W_ih, W_hh, b_ih, b_hh)
    hs = hs + [hs[-1]]
    grad_x, grads, grad_next = np.zeros_like(x), [0, 0, 0, 0], np.zeros_like(h0)
    for t in reversed(range(len(x))):
        grad_x[t], grad_next, *step = RIGHT.rnn_step_backward(grad_output[t] + grad_next, x[t], hs[t + 1], hs[t + 2],
                                                              W_ih, W_hh, b_ih, b_hh)
        grads = [g + s for g, s in zip(grads, step)]
    return (grad_x, grad_next, *grads)


# ---- Task 4: LSTM step --------------------------------------------------------------------------
def _lstm(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, order="ifgo", g_act=np.tanh, h_of_c=np.tanh):
    blocks = dict(zip(order, np.split(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, 4, axis=1)))
    c = sigmoid(blocks["f"]) * c_prev + sigmoid(blocks["i"]) * g_act(blocks["g"])
    return sigmoid(blocks["o"]) * h_of_c(c), c


def lstm_order_ifog(*args):
    return _lstm(*args, order="ifog")


def lstm_order_fiog(*args):
    return _lstm(*args, order="figo")


def lstm_sigmoid_candidate(*args):
    return _lstm(*args, g_act=sigmoid)


def lstm_no_tanh_on_cell(*args):
    return _lstm(*args, h_of_c=lambda c: c)


def lstm_returns_c_first(*args):
    h, c = _lstm(*args)
    return c, h


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("rnn_step", step_untransposed, "rnn_step"),
    ("rnn_step", step_no_tanh, "differs"),
    ("rnn_step", step_one_bias, "differs"),
    ("rnn_step", step_relu, "differs"),
    ("rnn_step", step_tanh_inside, "differs"),
    ("rnn_step_backward", backward_no_tanh_derivative, "grad_x differs"),
    ("rnn_step_backward", backward_tanh_derivative_of_output, "grad_x differs"),
    ("rnn_step_backward", backward_uses_h_t, "grad_W_hh differs"),
    ("rnn_step_backward", backward_transposed_weights, "grad_h_prev differs"),
    ("rnn_step_backward", backward_transposed_weight_grad, "grad_W_hh differs"),
    ("rnn_step_backward", backward_bias_not_summed, "grad_b_ih has shape"),
    ("rnn_step_backward", backward_bias_mean, "grad_b_ih differs"),
    ("rnn_backward", bptt_no_carry, "differs"),
    ("rnn_backward", bptt_forward_order, "differs"),
    ("rnn_backward", bptt_last_step_weights, "grad_W_ih differs"),
    ("rnn_backward", bptt_shifted_states, "differs"),
    ("lstm_step", lstm_order_ifog, "differs"),
    ("lstm_step", lstm_order_fiog, "differs"),
    ("lstm_step", lstm_sigmoid_candidate, "differs"),
    ("lstm_step", lstm_no_tanh_on_cell, "h_t differs"),
    ("lstm_step", lstm_returns_c_first, "h_t differs"),
])


def test_the_wrong_answers_agree_where_the_check_cannot_tell():
    """The typical mistakes are invisible on the easy cases: the cases must include the hard ones."""
    rng = np.random.default_rng(0)
    x, h0 = rng.normal(size=(1, 2, 3)), rng.normal(size=(2, 4))
    W = (rng.normal(size=(4, 3)), rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=4))
    g = rng.normal(size=(1, 2, 4))
    for wrong in (bptt_no_carry, bptt_forward_order):               # one step: nothing to carry
        for a, b in zip(wrong(x, h0, *W, g), RIGHT.rnn_backward(x, h0, *W, g)):
            assert np.allclose(a, b)


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.rnn_backward, bptt_no_carry, "rnn_backward")
    assert "Test case" in message and "check.hint('rnn_backward')" in message
    args = check.failing_case("rnn_backward")
    assert np.abs(bptt_no_carry(*args)[0] - RIGHT.rnn_backward(*args)[0]).max() > 0      # it really fails
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "np." not in text and "return" not in text          # nudges, no code



def test_the_solution_equals_torch_rnn_on_a_long_sequence():
    """BPTT over 50 steps through the solution matches nn.RNN's autograd (what the check compares on short ones)."""
    rng = np.random.default_rng(1)
    T, B, I, H = 50, 3, 4, 5
    args = (rng.normal(size=(T, B, I)), rng.normal(size=(B, H)), rng.normal(scale=0.4, size=(H, I)),
            rng.normal(scale=0.4, size=(H, H)), rng.normal(size=H), rng.normal(size=H), rng.normal(size=(T, B, H)))
    for a, b in zip(RIGHT.rnn_backward(*args), check._reference_bptt(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ---- Task 5: the outcome task -------------------------------------------------------------------

class _Recaller(nn.Module):
    def __init__(self, rnn=None, vocab=8, out_steps=None):
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.rnn = rnn or nn.GRU(16, 32, batch_first=True)
        self.head = nn.Linear(self.rnn.hidden_size, 8)

    def forward(self, tokens):
        return self.head(self.rnn(self.embed(tokens))[0])


def untrained(X, Y, seed=0):
    """An untrained GRU: about chance (1/8)."""
    torch.manual_seed(seed)
    return _Recaller()


def memoryless(X, Y, seed=0):
    """Trained, but without memory (each step sees only its own token): at best chance."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Embedding(8, 16), nn.Linear(16, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(50):
        loss = nn.functional.cross_entropy(model(Xt).flatten(0, 1), Yt.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def one_score_per_sequence(X, Y, seed=0):
    class Last(_Recaller):
        def forward(self, tokens):
            return super().forward(tokens)[:, -1]
    return Last()


def not_a_module(X, Y, seed=0):
    return lambda tokens: tokens


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (untrained, "the target is"),
                                           (memoryless, "the target is"), (one_score_per_sequence, "one score per symbol"),
                                           (not_a_module, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.recall_outcome, wrong, message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.recall_outcome(RIGHT.train_recaller, seed=seed)
    assert "reached validation accuracy" in capsys.readouterr().out
