# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Recurrent networks
#
# Text, speech, sensor readings and videos arrive as *sequences*: their length varies and the meaning of
# one element depends on the ones around it. A feed-forward network sees a fixed number of inputs; a
# *recurrent* network reads a sequence one step at a time and carries a state from step to step, so that
# what it saw earlier can shape what it says now. This chapter builds the recurrent network and its
# training (backpropagation through time) in NumPy, measures why plain RNNs forget, and trains the gated
# networks (GRU, LSTM) that fix much of it: on a benchmark of 1-D signals and as a character-level
# language model of English text.
#
# ## Learning goals
#
# After this chapter you can
#
# - name the sequence tasks (many-to-one, many-to-many, sequence-to-sequence, one-to-many) and write the
#   shapes of their inputs and outputs;
# - write a vanilla RNN and an LSTM in NumPy, forward and backward (backpropagation through time, BPTT),
#   with PyTorch's parameter names, and check both against `torch.nn.RNN` and `torch.nn.LSTM`;
# - measure how the gradient of the last state with respect to an input $k$ steps back shrinks or grows
#   with $k$ and with the scale of the recurrent weights, and clip gradients;
# - show on small tasks that a feed-forward network fails where context matters, that recalling a token
#   gets harder the further back it lies, and that a bidirectional RNN wins when the future matters;
# - train GRUs and LSTMs in PyTorch: on MNIST-1D against a 1-D CNN and an MLP (ordered and shuffled), and
#   as a character-level language model, measured in bits per character against a bigram model.
#
# Lecture ideas covered: text as a sequence of tokens; sentiment (many-to-one) and translation
# (sequence-to-sequence); a feed-forward network needs a fixed length and, applied per position, is a
# lookup without context; the RNN $h_t = \sigma(W h_{t-1} + U x_t)$, $o_t = V h_t$; cycles give a state,
# a fading memory (Jaeger 2001), and RNNs can in principle approximate any dynamical system (they are
# Turing-complete, Siegelmann & Sontag 1991); the mappings one-to-many (captioning), many-to-one
# (temporal classification), many-to-many (frame labelling, translation); the problems: hard to train
# when unrolled, forward-only (hence bidirectional), one state vector is weak at long-range relations;
# LSTM (1997) and GRU.
#
# *Runs in ~100 s on a laptop CPU (one thread; the MNIST-1D GRUs and the language model take most of it).*

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import dlcourse
from dlcourse import charlm, data
from dlcourse.numpy_nn import LSTM, RNN
from dlcourse.parity import twin_errors
from dlcourse.train import accuracy

rng, device = dlcourse.setup(seed=0, threads=1)   # one thread: small recurrent models run fastest on one core
print("PyTorch runs on:", device)

# %%
SCALE = 1                         # 1: the CPU-sized experiments whose claims are asserted; 2+: more seeds, longer training
SEEDS = dlcourse.seeds(3 * SCALE)        # the small synthetic tasks repeat over these seeds
M1D_SEEDS = dlcourse.seeds(2 * SCALE)    # MNIST-1D runs cost more: fewer seeds
M1D_EPOCHS = 20 * SCALE                  # MNIST-1D epochs (of 32 minibatches of 100)
LM_STEPS = 300 * SCALE                   # language-model steps (minibatches of 32 windows of 64 characters)

# %% [markdown]
# ## Intuition
#
# **Sequence tasks, with shapes.** A sentence is a sequence of *tokens* (words, or characters), each
# turned into a vector of $I$ numbers; a batch of $N$ sequences of length $T$ is an array $(T, N, I)$
# (PyTorch's default layout; `batch_first=True` gives $(N, T, I)$). What comes out depends on the task:
#
# | mapping | example | input | output |
# |---|---|---|---|
# | many-to-one | sentiment of a review; classifying a signal (MNIST-1D below) | $(T, N, I)$ | $(N, C)$: one answer per sequence |
# | many-to-many, aligned | labelling every video frame; tagging every word; predicting the next character | $(T, N, I)$ | $(T, N, C)$: one answer per step |
# | sequence-to-sequence | translation: "VS3 is great!" → "VS3 je skvělá!" | $(T, N, I)$ | $(T', N, C)$, $T'\ne T$ in general |
# | one-to-many | image captioning | $(N, I)$ | $(T', N, C)$ |
#
# **Why not a feed-forward network?** An MLP takes a fixed number of inputs: a sentence of 7 words and
# one of 12 do not fit the same first layer. Applied to each position separately (the same weights at every
# step), it accepts any length, but then the output at step $t$ depends on $x_t$ alone: a word-by-word
# lookup table, blind to context. Translating "great" needs to know whether the noun it describes is
# feminine; a lookup cannot.
#
# **The recurrent network** keeps a state $h_t\in\mathbb{R}^H$ that summarises everything read so far,
# and updates it with the same weights at every step:
#
# $$ h_t = \tanh\big(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}\big), \qquad o_t = W_{ho} h_t + b_{ho}, $$
#
# with $h_0 = 0$ unless given. This is the lecture's $h_t = \sigma(W h_{t-1} + U x_t)$, $o_t = V h_t$,
# written with PyTorch's names: $U = W_{ih}$ $(H, I)$, $W = W_{hh}$ $(H, H)$, plus the biases PyTorch
# adds; $V$ is a separate `nn.Linear` applied to the outputs. The loop over $t$ is the network's *cycle*;
# drawn out over the steps (*unrolled*), it is a deep feed-forward network of depth $T$ whose layers all share
# one set of weights. A cycle gives the network a state, and so a memory, but a fading one: whatever entered
# at step $t$ is mixed into the state again and again.
#
# *A note on the slides:* they give the RNN's equation but no equations for the LSTM and none for how an
# RNN is trained; the slide on the problems ("hard to train") does not say why. Both are below: the LSTM
# written out gate by gate, and backpropagation through time (BPTT), whose repeated multiplication by
# $W_{hh}$ is the reason, measured in the Experiments.

# %% [markdown]
# ## NumPy reference
#
# ### The RNN, forward
#
# All input projections $W_{ih}x_t + b_{ih}$ can be computed at once, as one matrix product over the
# $(T, N, I)$ input; only the recurrence itself must run step by step. We keep every state $h_0, \dots,
# h_T$ for the backward pass. The layer takes PyTorch's arguments and returns what PyTorch returns:
# `output` $(T, N, H)$ holds every $h_t$, `h_n` $(1, N, H)$ the last one (the leading 1 is the number of
# layers; ours have one). A base class holds what the RNN and the LSTM share: parameters and layouts.

# %%
#| export numpy_nn.recurrent
import numpy as np

from dlcourse import add_to_class
from dlcourse.numpy_nn.core import Module
from dlcourse.validate import check_arg, check_choice, check_input, check_int


class Recurrent(Module):
    """What RNN and LSTM share: PyTorch's parameters (``gates`` blocks of ``hidden_size`` rows stacked in
    weight_ih_l0 (G, input_size), weight_hh_l0 (G, hidden_size), bias_ih_l0 and bias_hh_l0 (G,)), all
    initialised uniform in [-1/sqrt(hidden_size), 1/sqrt(hidden_size)], and the input layouts: (T, N, I),
    (N, T, I) with ``batch_first=True``, or one unbatched sequence (T, I)."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, batch_first: bool = False,
                 dtype=np.float64, rng=None):
        super().__init__()
        self.input_size = check_int("input_size", input_size, 1)
        self.hidden_size = H = check_int("hidden_size", hidden_size, 1)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        rng = np.random.default_rng(np.random.randint(2**31)) if rng is None else rng
        bound, G = 1 / np.sqrt(H), self.gates * H
        shapes = {"weight_ih_l0": (G, input_size), "weight_hh_l0": (G, H)}
        if bias:
            shapes.update(bias_ih_l0=(G,), bias_hh_l0=(G,))
        for name, shape in shapes.items():
            self.params[name] = rng.uniform(-bound, bound, size=shape).astype(dtype)

    def __call__(self, x, hx=None):
        return self.forward(x, hx)

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias}, batch_first={self.batch_first}")

    def _time_major(self, x):
        """x -> (T, N, I), remembering the layout to give outputs back in."""
        x = check_input(self, x, self.input_size)
        check_arg("x", x.shape, x.ndim in (2, 3) and x.shape[-2 if x.ndim == 2 else 0] > 0,
                  f"(T, N, {self.input_size}), (N, T, {self.input_size}) with batch_first, or (T, "
                  f"{self.input_size}), with T >= 1, i.e. the shape")
        self.unbatched = x.ndim == 2
        if self.unbatched:
            return x[:, None]
        return x.transpose(1, 0, 2) if self.batch_first else x

    def _layout(self, seq):
        """(T, N, H) -> the layout of the input."""
        if self.unbatched:
            return seq[:, 0]
        return seq.transpose(1, 0, 2) if self.batch_first else seq


# %% [markdown]
# Initial states come in PyTorch's shape $(1, N, H)$ and are checked; the end of the backward pass (the
# weight gradients from the $\delta a_t$ of every step) is the same for both layers.

# %%
#| export numpy_nn.recurrent
@add_to_class(Recurrent)
def _state(self, h, name, N):
    """An initial state given as (1, N, H) (or (1, H) unbatched) -> (N, H); None -> zeros."""
    if h is None:
        return np.zeros((N, self.hidden_size), dtype=self.params["weight_hh_l0"].dtype)
    h = np.asarray(h)
    want = (1, self.hidden_size) if self.unbatched else (1, N, self.hidden_size)
    check_arg(name, h.shape, h.shape == want, f"of shape {want} (layers, batch, hidden_size), got shape")
    return h.reshape(N, self.hidden_size)


@add_to_class(Recurrent)
def _final(self, h):
    """(N, H) -> torch's (1, N, H), or (1, H) unbatched."""
    return h[None] if not self.unbatched else h[None, 0]


@add_to_class(Recurrent)
def _gradients(self, dA, grad_h):
    """Shared end of BPTT: dA (T, N, G) holds dL/d(pre-activations); returns dL/dx, fills grads."""
    self.grads["weight_ih_l0"] = np.einsum("tng,tni->gi", dA, self.X)     # (G, I)
    self.grads["weight_hh_l0"] = np.einsum("tng,tnh->gh", dA, self.hs[:-1])   # (G, H)
    if self.bias:
        self.grads["bias_ih_l0"] = dA.sum((0, 1))                          # (G,)
        self.grads["bias_hh_l0"] = dA.sum((0, 1)).copy()
    self.grad_h0 = self._final(grad_h)                                     # dL/dh_0, shaped like h0
    return self._layout(dA @ self.params["weight_ih_l0"])                # (T, N, I) -> input layout


@add_to_class(Recurrent)
def _upstream(self, grad_output, grad_final):
    """grad_output in the output's layout -> (T, N, H); grad of the final state -> (N, H) or zeros."""
    if not hasattr(self, "hs"):
        raise RuntimeError(f"{self!r}.backward called before forward")
    T, N, H = self.hs.shape[0] - 1, self.hs.shape[1], self.hidden_size
    want = (T, H) if self.unbatched else ((N, T, H) if self.batch_first else (T, N, H))
    G = np.asarray(grad_output)
    check_arg("grad_output", G.shape, G.shape == want, f"of the output's shape {want}, got shape")
    return self._time_major_grad(G), (np.zeros((N, H)) if grad_final is None else self._state(grad_final, "grad_h_n", N))


@add_to_class(Recurrent)
def _time_major_grad(self, G):
    """An array in the output's layout -> (T, N, H)."""
    if self.unbatched:
        return G[:, None]
    return G.transpose(1, 0, 2) if self.batch_first else G


# %%
#| export numpy_nn.recurrent
class RNN(Recurrent):
    """A one-layer Elman RNN, as ``torch.nn.RNN(input_size, hidden_size, nonlinearity='tanh', bias=True,
    batch_first=False)``: h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), f = tanh or relu.

    ``output, h_n = rnn(x, h0=None)``: x (T, N, I) ((N, T, I) with batch_first, or (T, I)); output holds
    every h_t, (T, N, H); h_n the last one, (1, N, H). ``backward(grad_output, grad_h_n=None)`` runs
    backpropagation through time and returns dL/dx; dL/dh0 is left in ``grad_h0``.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh", bias: bool = True,
                 batch_first: bool = False, dtype=np.float64, rng=None):
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, ["tanh", "relu"])
        super().__init__(input_size, hidden_size, bias, batch_first, dtype, rng)

    def forward(self, x, h0=None):
        X = self._time_major(x)                                    # (T, N, I)
        T, N, _ = X.shape
        p = self.params
        A = X @ p["weight_ih_l0"].T                                # (T, N, H): every input projection at once
        if self.bias:
            A = A + p["bias_ih_l0"] + p["bias_hh_l0"]
        hs = np.empty((T + 1, N, self.hidden_size), dtype=A.dtype)   # hs[0] = h_0, hs[t] = h_t
        hs[0] = self._state(h0, "h0", N)
        for t in range(T):                                         # the recurrence: one step at a time
            a = A[t] + hs[t] @ p["weight_hh_l0"].T                 # (N, H)
            hs[t + 1] = np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)
        self.X, self.hs = X, hs
        return self._layout(hs[1:]), self._final(hs[-1])


# %% [markdown]
# ### Backpropagation through time
#
# Unrolled, the RNN is a deep network whose $T$ layers share their weights, so its backward pass is
# ordinary backpropagation, run from the last step to the first; the only new rule is that a shared
# weight's gradient is the **sum** of its gradients at every step. Write $a_t = W_{ih}x_t + b_{ih} + W_{hh}h_{t-1}
# + b_{hh}$ and $G_t = \partial L/\partial h_t$ for what the loss sends *directly* to output $t$ (the
# upstream gradient, $(T, N, H)$). The state $h_t$ also feeds step $t+1$, so its total gradient has two parts:
#
# $$ \delta h_t = G_t + W_{hh}^\top \delta a_{t+1}, \qquad \delta a_t = \delta h_t \odot (1 - h_t^2)
# \quad(\tanh' = 1-\tanh^2;\ \text{for ReLU: } \delta h_t \odot [a_t > 0]), $$
#
# starting from $\delta a_{T+1} = 0$ (or from the gradient of `h_n`, when the loss uses it). Then
#
# $$ \frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta a_t\, h_{t-1}^\top, \quad
# \frac{\partial L}{\partial W_{ih}} = \sum_t \delta a_t\, x_t^\top, \quad
# \frac{\partial L}{\partial b_{ih}} = \frac{\partial L}{\partial b_{hh}} = \sum_t \delta a_t, \quad
# \frac{\partial L}{\partial x_t} = W_{ih}^\top \delta a_t, \quad
# \frac{\partial L}{\partial h_0} = W_{hh}^\top \delta a_1 , $$
#
# each summed over the batch too. In the code the vectors are rows, so $W^\top\delta$ becomes `delta @ W`.
# Unrolling the recursion shows what goes wrong: the gradient reaching $h_{t-k}$ from $h_t$ is multiplied
# by $k$ Jacobians, $\partial h_t/\partial h_{t-k} = \prod_{j=t-k+1}^{t} \mathrm{diag}(1-h_j^2)\,W_{hh}$:
# it shrinks or grows geometrically in $k$, depending on the size of $W_{hh}$ and on how saturated the
# $\tanh$ is.

# %%
#| export numpy_nn.recurrent
@add_to_class(RNN)
def backward(self, grad_output, grad_h_n=None):
    """Backpropagation through time: dL/dh_t = grad_output[t] + dL/dh_{t+1} passed back through step t+1."""
    G, dh = self._upstream(grad_output, grad_h_n)                  # (T, N, H), (N, H)
    dA = np.empty_like(G)                                          # dL/da_t, the pre-activations
    for t in reversed(range(len(G))):
        dh = dh + G[t]                                             # from the output at t and from step t+1
        h = self.hs[t + 1]
        dA[t] = dh * (1 - h ** 2) if self.nonlinearity == "tanh" else dh * (h > 0)
        dh = dA[t] @ self.params["weight_hh_l0"]                   # (N, H): on to h_{t-1}
    return self._gradients(dA, dh)


# %% [markdown]
# ### The LSTM, written out
#
# The LSTM (Hochreiter & Schmidhuber 1997) adds a second state, the *cell* $c_t$, updated additively and
# guarded by three gates with values in $(0, 1)$: the input gate $i_t$ (how much new content to write),
# the forget gate $f_t$ (how much of the old cell to keep) and the output gate $o_t$ (how much of the cell
# to show). With $\sigma$ the logistic sigmoid and one block of $H$ rows per gate (PyTorch stacks them in
# the order $i, f, g, o$ into $W_{ih}$ $(4H, I)$ and $W_{hh}$ $(4H, H)$):
#
# $$ \begin{aligned}
# i_t &= \sigma(W_{ii}x_t + b_{ii} + W_{hi}h_{t-1} + b_{hi}), &
# f_t &= \sigma(W_{if}x_t + b_{if} + W_{hf}h_{t-1} + b_{hf}), \\
# g_t &= \tanh(W_{ig}x_t + b_{ig} + W_{hg}h_{t-1} + b_{hg}), &
# o_t &= \sigma(W_{io}x_t + b_{io} + W_{ho}h_{t-1} + b_{ho}), \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t, &
# h_t &= o_t \odot \tanh(c_t).
# \end{aligned} $$
#
# The cell's path from $c_{t-1}$ to $c_t$ has no weight matrix and no squashing: $\partial c_t/\partial
# c_{t-1} = \mathrm{diag}(f_t)$. While the forget gate stays near 1, gradients travel along the cells
# across many steps without shrinking: the reason LSTMs remember longer than vanilla RNNs.

# %%
#| export numpy_nn.recurrent
def _sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))                           # stable for large |a|


class LSTM(Recurrent):
    """A one-layer LSTM, as ``torch.nn.LSTM(input_size, hidden_size, bias=True, batch_first=False)``, gates
    stacked in PyTorch's order i, f, g, o (weights (4H, I) and (4H, H)):

        i, f, o = sigmoid(.), g = tanh(.) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh (one block each)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    ``output, (h_n, c_n) = lstm(x, hx=None)`` with hx = (h0, c0), each (1, N, H).
    ``backward(grad_output, grad_h_n=None, grad_c_n=None)`` returns dL/dx; dL/dh0, dL/dc0 in
    ``grad_h0``, ``grad_c0``.
    """

    gates = 4

    def forward(self, x, hx=None):
        X = self._time_major(x)                                    # (T, N, I)
        T, N, _ = X.shape
        H, p = self.hidden_size, self.params
        h0, c0 = (None, None) if hx is None else hx
        A = X @ p["weight_ih_l0"].T                                # (T, N, 4H)
        if self.bias:
            A = A + p["bias_ih_l0"] + p["bias_hh_l0"]
        hs, cs = np.empty((T + 1, N, H), dtype=A.dtype), np.empty((T + 1, N, H), dtype=A.dtype)
        hs[0], cs[0] = self._state(h0, "h0", N), self._state(c0, "c0", N)
        gates = np.empty((T, N, 4 * H), dtype=A.dtype)              # i, f, g, o after their nonlinearity
        for t in range(T):
            a = A[t] + hs[t] @ p["weight_hh_l0"].T                 # (N, 4H)
            gates[t] = _sigmoid(a)
            gates[t, :, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])   # g is a tanh, the three gates sigmoids
            i, f, g, o = np.split(gates[t], 4, axis=1)              # each (N, H)
            cs[t + 1] = f * cs[t] + i * g                          # the cell: a gated running sum
            hs[t + 1] = o * np.tanh(cs[t + 1])
        self.X, self.hs, self.cs, self.gate_values = X, hs, cs, gates
        return self._layout(hs[1:]), (self._final(hs[-1]), self._final(cs[-1]))


# %% [markdown]
# **Its backward pass** (the same BPTT, through more operations). With $\delta h_t = G_t + W_{hh}^\top
# \delta a_{t+1}$ as before and $\delta c_t$ the total gradient of the cell:
#
# $$ \delta c_t = \delta h_t \odot o_t \odot (1-\tanh^2 c_t) + f_{t+1}\odot\delta c_{t+1}, \quad
# \delta o_t = \delta h_t \odot \tanh c_t, \quad \delta i_t = \delta c_t \odot g_t, \quad
# \delta g_t = \delta c_t \odot i_t, \quad \delta f_t = \delta c_t \odot c_{t-1}, $$
#
# then through each gate's nonlinearity ($\sigma' = \sigma(1-\sigma)$, $\tanh' = 1-\tanh^2$) to the
# four blocks of $\delta a_t$ $(N, 4H)$, from which the weight, bias, input and $h_0$ gradients follow
# exactly as for the RNN; $\partial L/\partial c_0 = f_1 \odot \delta c_1$.

# %%
#| export numpy_nn.recurrent
@add_to_class(LSTM)
def backward(self, grad_output, grad_h_n=None, grad_c_n=None):
    """BPTT through the LSTM: the chain rule through c_t = f c_{t-1} + i g and h_t = o tanh(c_t)."""
    G, dh = self._upstream(grad_output, grad_h_n)                  # (T, N, H), (N, H)
    dc = np.zeros_like(dh) if grad_c_n is None else self._state(grad_c_n, "grad_c_n", dh.shape[0])
    dA = np.empty((len(G), dh.shape[0], 4 * self.hidden_size))     # dL/d(pre-activations), (T, N, 4H)
    for t in reversed(range(len(G))):
        i, f, g, o = np.split(self.gate_values[t], 4, axis=1)
        dh = dh + G[t]
        tanh_c = np.tanh(self.cs[t + 1])
        dc = dc + dh * o * (1 - tanh_c ** 2)                       # through h_t = o tanh(c_t), plus from t+1
        dA[t] = np.concatenate([dc * g * i * (1 - i),              # input gate (sigmoid' = s (1 - s))
                                dc * self.cs[t] * f * (1 - f),     # forget gate
                                dc * i * (1 - g ** 2),             # candidate (tanh' = 1 - tanh^2)
                                dh * tanh_c * o * (1 - o)], axis=1)   # output gate
        dc = dc * f                                                # on to c_{t-1}: only through f
        dh = dA[t] @ self.params["weight_hh_l0"]                   # on to h_{t-1}: through every gate
    self.grad_c0 = self._final(dc)
    return self._gradients(dA, dh)

# %% [markdown]
# A batch of 2 sequences of length 5 with 3 features, a state of 4 numbers:

# %%
rnn = RNN(3, 4, rng=rng)
x = rng.normal(size=(5, 2, 3))                                     # (T, N, I)
output, h_n = rnn(x)
print("output", output.shape, " h_n", h_n.shape, " last output = h_n:", np.array_equal(output[-1], h_n[0]))
lstm = LSTM(3, 4, rng=rng)
output, (h_n, c_n) = lstm(x)
print("LSTM: output", output.shape, " h_n", h_n.shape, " c_n", c_n.shape,
      " parameters:", {k: v.shape for k, v in lstm.params.items()})

# %% [markdown]
# ## Check against PyTorch
#
# `dlcourse.parity.twin_errors` compares a layer with one output. Ours return a pair (`output`, `h_n`), so
# two small adapters show both twins through `output` only: a wrapper on our side and a forward hook on
# PyTorch's (a hook that returns a value replaces the module's output). Then every configuration is
# compared in float64 with PyTorch's weights loaded into ours: the output, the input gradient and every
# parameter gradient, from a random upstream gradient (expect differences around $10^{-15}$).

# %%
class OutputOnly:
    """Our recurrent layer seen through its first output; everything else (backward, grads, ...) passes through."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x):
        return self.layer(x)[0]

    def __getattr__(self, name):
        return getattr(self.layer, name)


def output_only(torch_layer):
    """PyTorch's layer, returning only `output` (not h_n)."""
    torch_layer.register_forward_hook(lambda module, inputs, out: out[0])
    return torch_layer


TWIN_CONFIGS = [(RNN, nn.RNN, {}), (RNN, nn.RNN, {"nonlinearity": "relu", "batch_first": True}),
                (RNN, nn.RNN, {"bias": False}), (LSTM, nn.LSTM, {}), (LSTM, nn.LSTM, {"batch_first": True, "bias": False})]
twin = {}
for ours_class, torch_class, kwargs in TWIN_CONFIGS:
    x = rng.normal(size=(7, 4, 3))                                 # (T, N, I), or (N, T, I) with batch_first
    errors = twin_errors(OutputOnly(ours_class(3, 5, **kwargs)), output_only(torch_class(3, 5, **kwargs)), x, rng=rng)
    twin[ours_class.__name__, str(kwargs)] = max(errors.values())
    print(f"{ours_class.__name__:<5}{str(kwargs):<45} compared: {', '.join(errors)}\n{'':<50} largest "
          f"difference {max(errors.values()):.1e}")

# %% [markdown]
# The final states and the initial ones too: an LSTM started from a given $(h_0, c_0)$, with a loss that
# uses `output`, `h_n` and `c_n`. Our backward takes the gradients of `h_n` and `c_n` as extra arguments
# and leaves those of $h_0$ and $c_0$ in `grad_h0` and `grad_c0`.

# %%
ours, theirs = LSTM(3, 5), nn.LSTM(3, 5).double()
ours.load_state_dict(theirs.state_dict())
x, h0, c0 = rng.normal(size=(6, 2, 3)), rng.normal(size=(1, 2, 5)), rng.normal(size=(1, 2, 5))
g_out, g_h, g_c = rng.normal(size=(6, 2, 5)), rng.normal(size=(1, 2, 5)), rng.normal(size=(1, 2, 5))
x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
out_t, (h_t, c_t) = theirs(x_t, (h0_t, c0_t))
(out_t * torch.tensor(g_out)).sum().add((h_t * torch.tensor(g_h)).sum()).add((c_t * torch.tensor(g_c)).sum()).backward()
out, (h_n, c_n) = ours(x, (h0, c0))
grad_x = ours.backward(g_out, g_h, g_c)
state_errors = {"output": np.abs(out - out_t.detach().numpy()).max(), "h_n": np.abs(h_n - h_t.detach().numpy()).max(),
                "c_n": np.abs(c_n - c_t.detach().numpy()).max(), "grad x": np.abs(grad_x - x_t.grad.numpy()).max(),
                "grad h0": np.abs(ours.grad_h0 - h0_t.grad.numpy()).max(), "grad c0": np.abs(ours.grad_c0 - c0_t.grad.numpy()).max()}
print("LSTM with (h0, c0) and a loss on output, h_n, c_n:", {k: f"{v:.0e}" for k, v in state_errors.items()})
twin["LSTM", "states"] = max(state_errors.values())
twin_worst = max(twin.values())

# %% [markdown]
# `tests/test_numpy_nn_recurrent.py` repeats these comparisons on random configurations (both layouts,
# batches of one, unbatched sequences, with and without bias and initial states) and checks the error
# messages.
#
# ## PyTorch version
#
# `nn.RNN`, `nn.LSTM` and `nn.GRU` take the same arguments as ours (plus `num_layers`, `dropout` between
# layers and `bidirectional`). The GRU (Cho et al. 2014) is the LSTM's lighter cousin: no separate cell,
# two gates (reset $r_t$, update $z_t$), three blocks of weights instead of four:
#
# $$ r_t = \sigma(W_{ir}x_t + b_{ir} + W_{hr}h_{t-1} + b_{hr}), \quad
# z_t = \sigma(W_{iz}x_t + b_{iz} + W_{hz}h_{t-1} + b_{hz}), $$
# $$ n_t = \tanh\big(W_{in}x_t + b_{in} + r_t\odot(W_{hn}h_{t-1} + b_{hn})\big), \qquad
# h_t = (1-z_t)\odot n_t + z_t\odot h_{t-1}. $$
#
# When $z_t \approx 1$ the state is copied unchanged: the same additive path as the LSTM's cell.
# Parameter counts for input size $I$ and state size $H$: $g(HI + H^2 + 2H)$ with $g = 1, 3, 4$ blocks:

# %%
for name, layer in [("RNN", nn.RNN(1, 64)), ("GRU", nn.GRU(1, 64)), ("LSTM", nn.LSTM(1, 64))]:
    print(f"{name:<5} I = 1, H = 64: {sum(p.numel() for p in layer.parameters()):6d} parameters, "
          f"weight_hh_l0 {tuple(layer.weight_hh_l0.shape)}")

# %% [markdown]
# ## Experiments
#
# ### Vanishing and exploding gradients through time, measured
#
# How much does the last state $h_T$ depend on the input $k$ steps earlier? We run our NumPy RNN ($H = 64$,
# $T = 60$, 32 random input sequences) and backpropagate a random direction $u$ from $h_T$ alone
# (`grad_output` zero at every other step): `backward` returns $\partial (u^\top h_T)/\partial x_t$ for every
# $t$, and we plot its norm against the distance $k = T - t$. The recurrent matrix is a random orthogonal
# matrix times a scale $s$ (every singular value equal to $s$), for several $s$; and our LSTM at PyTorch's
# initialisation, and with its forget gate's bias raised to 3, for comparison.

# %% mystnb={"image": {"alt": "Gradient norm of the last state against distance back in time, log scale: it decays geometrically for a tanh RNN with s = 0.5 and the default LSTM, grows for s = 1.5 and 3, and stays flat for an LSTM with forget bias 3"}}
def gradient_vs_distance(layer, T=60, N=32, seed=0):
    """Mean over N sequences of || d(u . h_T) / d x_{T-k} || for k = 0 .. T-1 (u a random unit vector)."""
    g = np.random.default_rng(seed)
    output, _ = layer(g.normal(size=(T, N, layer.input_size)))     # (T, N, H)
    u = g.normal(size=(N, layer.hidden_size))
    grad_output = np.zeros_like(output)
    grad_output[-1] = u / np.linalg.norm(u, axis=1, keepdims=True)
    grad_x = layer.backward(grad_output)                            # (T, N, I)
    return np.linalg.norm(grad_x, axis=2).mean(1)[::-1]             # index k = distance back from T


def rnn_with_scale(s, nonlinearity="tanh", H=64, seed=0):
    g = np.random.default_rng(seed)
    layer = RNN(8, H, nonlinearity, rng=g)
    q, _ = np.linalg.qr(g.normal(size=(H, H)))                      # random orthogonal (H, H)
    layer.params["weight_hh_l0"] = s * q
    return layer


def lstm_with_forget_bias(value, H=64, seed=0):
    layer = LSTM(8, H, rng=np.random.default_rng(seed))
    layer.params["bias_ih_l0"][H:2 * H] = value                    # the forget gate's block (order i, f, g, o)
    layer.params["bias_hh_l0"][H:2 * H] = 0.0
    return layer


SCALES = [0.5, 1.0, 1.5, 3.0]
grad_norms = {f"tanh RNN, s = {s}": gradient_vs_distance(rnn_with_scale(s)) for s in SCALES}
grad_norms["LSTM (PyTorch's init)"] = gradient_vs_distance(LSTM(8, 64, rng=np.random.default_rng(0)))
grad_norms["LSTM, forget bias 3"] = gradient_vs_distance(lstm_with_forget_bias(3.0))
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, norms in grad_norms.items():
    ax.semilogy(norms, label=name, ls="--" if "LSTM" in name else "-")
ax.set(xlabel="distance k = T - t", ylabel="|| d(u . h_T) / d x_t ||")
ax.legend(fontsize=7, ncol=2)
plt.show()
for name, norms in grad_norms.items():
    print(f"{name:<22}" + "".join(f"  k = {k}: {norms[k]:8.1e}" for k in (0, 10, 30, 59)))

# %% [markdown]
# With $s = 0.5$ every step multiplies the gradient by at most $0.5$ (the $\tanh$'s slope is at most 1):
# 30 steps back, $10^{-10}$ of it is left, and the input there cannot influence learning. At $s = 1$ it
# still fades, because the $\tanh$'s slope is below 1 wherever the state is not 0. Above 1 the gradient
# **explodes**: it grows geometrically with $k$ (by $10^{8}$ over 60 steps at $s = 3$); the $\tanh$'s
# saturation slows the growth but does not stop it. The LSTM at PyTorch's initialisation forgets too, and
# fast: its weights are small, so the forget gate sits near $\sigma(0) = 0.5$, and the cell path
# $\partial c_t/\partial c_{t-1} = \mathrm{diag}(f_t)$ halves the gradient at every step. Raising the forget gate's
# bias (a common initialisation trick, Jozefowicz et al. 2015) keeps $f_t$ near 1 and the gradient alive far
# back. Vanishing is the harder half of the problem: nothing in a gradient step can recover a signal that
# is $10^{-20}$ of the rest.
#
# ### Gradient clipping
#
# Exploding gradients are the easier half: if the norm of all gradients together exceeds a threshold $\tau$,
# rescale them to norm $\tau$ (Pascanu et al. 2013). The direction is kept, only the step is shortened.
# `clip_grad_norm_` (NumPy, from chapter 3's `numpy_nn`) and PyTorch's `nn.utils.clip_grad_norm_` do
# exactly this; compared on the gradients of the exploding RNN ($s = 3$):

# %%
from dlcourse.numpy_nn import clip_grad_norm_

layer = rnn_with_scale(3.0)
out, _ = layer(rng.normal(size=(40, 8, 8)))
layer.backward(rng.normal(size=out.shape))
before = {k: v.copy() for k, v in layer.grads.items()}
norm_before = clip_grad_norm_(layer.grads, max_norm=1.0)
norm_after = np.sqrt(sum((g ** 2).sum() for g in layer.grads.values()))
cosine = sum((before[k] * layer.grads[k]).sum() for k in before) / (norm_before * norm_after)
params_t = [torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float64)) for v in before.values()]
for p, v in zip(params_t, before.values()):
    p.grad = torch.tensor(v)
nn.utils.clip_grad_norm_(params_t, max_norm=1.0)
clip_error = max(np.abs(p.grad.numpy() - layer.grads[k]).max() / np.abs(layer.grads[k]).max()
                 for p, k in zip(params_t, before))
print(f"gradient norm {norm_before:.2e} -> {norm_after:.4f}; cosine between the two {cosine:.6f}; "
      f"largest relative difference to PyTorch {clip_error:.1e}")

# %% [markdown]
# ### A feed-forward network fails where context matters; recall fades with the lag
#
# A task with an exact answer: sequences of $T = 30$ random tokens from a vocabulary of 8, and at every
# step $t \ge k$ the target is the token seen $k$ steps earlier, $y_t = x_{t-k}$ (many-to-many, aligned).
# Chance is $1/8 = 12.5\%$. Every model embeds the tokens (16 numbers), then either a per-position
# feed-forward layer (the same weights at every step: a lookup of $x_t$ alone) or a recurrent layer with a
# state of 32, then the same small MLP head. Each is trained for 200 Adam steps on fresh batches of 64
# (gradients clipped at norm 1) and tested on 1000 new sequences, for every seed.

# %%
V_TOKENS, T_TOKENS = 8, 30


def token_batch(g, n, task, k=0):
    """x (n, T) random tokens; y (n, T) targets, -100 where undefined. task 'lag': y_t = x_{t-k};
    task 'select': y_t = x_{t+1} if x_t is even, else x_{t-1} (needs both neighbours)."""
    x = torch.randint(0, V_TOKENS, (n, T_TOKENS), generator=g)
    y = torch.full_like(x, -100)
    if task == "lag":
        y[:, k:] = x[:, :T_TOKENS - k]
    else:
        y[:, 1:-1] = torch.where(x[:, 1:-1] % 2 == 0, x[:, 2:], x[:, :-2])
    return x, y


class Tagger(nn.Module):
    """Embedding -> per-position body ('FFN', 'RNN', 'GRU' or 'LSTM') -> MLP head: one prediction per step."""

    def __init__(self, body, hidden=32, bidirectional=False):
        super().__init__()
        self.embed, self.kind = nn.Embedding(V_TOKENS, 16), body
        if body == "FFN":
            self.body, width = nn.Sequential(nn.Linear(16, hidden), nn.Tanh()), hidden
        else:
            self.body = getattr(nn, body)(16, hidden, batch_first=True, bidirectional=bidirectional)
            width = 2 * hidden if bidirectional else hidden
        self.head = nn.Sequential(nn.Linear(width, 64), nn.ReLU(), nn.Linear(64, V_TOKENS))

    def forward(self, x):                                           # x (N, T) token ids
        h = self.embed(x)                                           # (N, T, 16)
        h = self.body(h) if self.kind == "FFN" else self.body(h)[0]   # (N, T, hidden or 2 hidden)
        return self.head(h)                                         # (N, T, V)


def token_accuracy(body, task, seed, k=0, bidirectional=False, steps=200):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = Tagger(body, bidirectional=bidirectional)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        x, y = token_batch(g, 64, task, k)
        loss = F.cross_entropy(model(x).reshape(-1, V_TOKENS), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    x, y = token_batch(torch.Generator().manual_seed(10**6 + seed), 1000, task, k)   # unseen sequences
    with torch.no_grad():
        scores = model(x)
    defined = y >= 0
    return accuracy(scores[defined], y[defined])

# %% [markdown]
# The feed-forward network at lags 0 and 1, the vanilla RNN at growing lags, and at the longest lag a
# gated GRU:

# %% mystnb={"image": {"alt": "Test accuracy of recalling a token k steps back: the vanilla RNN is perfect at lag 2, lower at lag 8 and near chance from lag 12; the GRU is above chance at 16; a feed-forward net is perfect at lag 0, at chance at lag 1"}}
LAGS = [2, 8, 12, 16]
recall = {("FFN", k): [token_accuracy("FFN", "lag", s, k) for s in SEEDS] for k in (0, 1)}
recall.update({("RNN", k): [token_accuracy("RNN", "lag", s, k) for s in SEEDS] for k in LAGS})
recall["GRU", 16] = [token_accuracy("GRU", "lag", s, 16) for s in SEEDS]
recall = {key: np.array(v) for key, v in recall.items()}
for (body, k), acc in recall.items():
    print(f"{body:<5} lag {k:2d}: accuracy {np.round(100 * acc, 1)} %")
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(LAGS, [100 * recall["RNN", k].mean() for k in LAGS], "o-", label="vanilla RNN (mean over seeds)")
ax.plot([16], [100 * recall["GRU", 16].mean()], "s", label="GRU at lag 16")
ax.plot([0, 1], [100 * recall["FFN", 0].mean(), 100 * recall["FFN", 1].mean()], "^", label="feed-forward")
ax.axhline(100 / V_TOKENS, color="0.6", ls=":", label="chance")
ax.set(xlabel="lag k", ylabel="test accuracy %")
ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# The feed-forward network is perfect when the answer is the current token and at chance as soon as it is
# the previous one: without a state there is no context. The RNN recalls perfectly 2 steps back, makes
# mistakes 8 steps back and is at (or near) chance from 12 steps on, at this training budget: the vanishing
# gradient measured above means that a lag of 12 gives the training signal almost nothing to follow. The
# GRU is above chance at lag 16 on every seed but far from solving it in 200 steps: gates make long lags
# learnable, not free. (With more steps, `SCALE` raised, all of these improve; the ordering does not change.)
#
# ### When the future matters: bidirectional RNNs
#
# A unidirectional RNN's output at step $t$ has read $x_1, \dots, x_t$ only. In many tasks the answer at
# $t$ depends on what comes later: whether "bank" means a river bank depends on the words after it. A
# *bidirectional* RNN runs a second RNN from the end to the start and concatenates the two states at
# every step: $(T, N, 2H)$. A task that needs both neighbours: the target at $t$ is the *next* token if
# $x_t$ is even, the *previous* one if it is odd. A unidirectional network can answer only the odd half,
# plus chance on the other: about $50\% + 50\%/8 \approx 56\%$.

# %%
bidir = {name: np.array([token_accuracy("RNN", "select", s, bidirectional=b) for s in SEEDS])
         for name, b in (("unidirectional", False), ("bidirectional", True))}
for name, acc in bidir.items():
    print(f"{name:<15} RNN: accuracy {np.round(100 * acc, 1)} %")

# %% [markdown]
# ### MNIST-1D: recurrent networks against a CNN and an MLP
#
# MNIST-1D (Greydanus 2020, met in chapter 6) has 4000 training and 1000 test signals of 40 samples and 10
# classes; its shuffled variant permutes the 40 positions with one fixed permutation. A recurrent network
# reads a signal one sample per step ($I = 1$, $T = 40$) and classifies from its last state (many-to-one).
# We compare a GRU with a state of 64 (about 13k parameters), the small 1-D CNN of chapter 6 without its dropout
# (stride-1 convolutions, max pooling, a global max pool; about 5k parameters) and the paper's MLP (about 15k), all
# trained the same way on 3200 of the training signals: Adam with a one-cycle learning-rate schedule
# peaking at 0.01, minibatches of 100, `M1D_EPOCHS` epochs. The GRU's settings (state 64 or 128, 6 to 20
# epochs) were chosen on the other 800 training signals, held out for validation; the test set is used
# once, for the table.

# %%
from dlcourse.mnist1d_models import MLPBase, modern_cnn          # chapter 6's networks

m1d = data.load_mnist1d(val_size=0.2, seed=0)                      # 3200 train, 800 validation, 1000 test
m1d_shuffled = data.load_mnist1d(val_size=0.2, seed=0, shuffle_seq=True)


class RecurrentClassifier(nn.Module):
    """Reads (N, 40) signals one sample per step; classifies from the last state (many-to-one)."""

    def __init__(self, cell="GRU", hidden=64):
        super().__init__()
        self.rnn, self.head = getattr(nn, cell)(1, hidden, batch_first=True), nn.Linear(hidden, 10)

    def forward(self, x):                                           # x (N, 40)
        output, _ = self.rnn(x.unsqueeze(-1))                       # (N, 40, H)
        return self.head(output[:, -1])                             # (N, 10) from h_40


def small_cnn(c=16):
    """Chapter 6's small 1-D CNN without dropout: stride-1 convolutions, max pooling, a global max pool."""
    return modern_cnn(c, p=0.0)


M1D_MODELS = {"GRU (H = 64)": RecurrentClassifier, "CNN (1-D, small)": small_cnn, "MLP (paper's)": MLPBase}


def m1d_test_accuracy(make, split, seed, epochs=M1D_EPOCHS, lr=1e-2, batch=100):
    torch.manual_seed(seed)
    model = make().to(device)
    X, y = torch.tensor(split.X_train, device=device), torch.tensor(split.y_train, device=device)
    steps = epochs * (len(X) // batch)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        if step % (len(X) // batch) == 0:
            order = torch.randperm(len(X), generator=g).to(device)
        idx = order[(step % (len(X) // batch)) * batch:][:batch]
        loss = F.cross_entropy(model(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        return accuracy(model(torch.tensor(split.X_test, device=device)).cpu(), split.y_test)

# %%
m1d_acc, m1d_seconds = {}, {}
for name, make in M1D_MODELS.items():
    for variant, split in (("ordered", m1d), ("shuffled", m1d_shuffled)):
        start = time.process_time()
        m1d_acc[name, variant] = np.array([m1d_test_accuracy(make, split, s) for s in M1D_SEEDS])
        m1d_seconds[name, variant] = (time.process_time() - start) / len(M1D_SEEDS)
M1D_PAPER = {"GRU (H = 64)": ("91", "-"), "CNN (1-D, small)": ("94", "56"), "MLP (paper's)": ("68", "68")}
print(f"{'MNIST-1D test accuracy %':<20}{'params':>7}{'ordered':>14}{'shuffled':>14}{'CPU s/run':>10}"
      f"{'paper':>7}{'paper shuffled':>16}")
for name, make in M1D_MODELS.items():
    cells = "".join(f"{100 * m1d_acc[name, v].mean():9.1f} ± {100 * m1d_acc[name, v].std():3.1f}" for v in ("ordered", "shuffled"))
    print(f"{name:<20}{sum(p.numel() for p in make().parameters()):7d}{cells}{m1d_seconds[name, 'ordered']:9.1f}"
          f"{M1D_PAPER[name][0]:>7}{M1D_PAPER[name][1]:>16}")

# %% [markdown]
# **Reading the table.** (The paper's CNN is the strided network of chapter 6, not our small CNN, and its
# models train for far longer; the paper's GRU reads the signal like ours.)
#
# - **Ordered signals.** The GRU and the small CNN reach about the same accuracy, around 95%, both above
#   the paper's numbers (GRU 91%, CNN 94%), and far above the MLP. Our GRU is not better than the paper's by
#   design: the one-cycle schedule and the state size chosen on validation data give it an easier
#   optimisation in a short run, and our CNN is not the paper's CNN (its global max pool makes it ignore
#   *where* a pattern occurs, chapter 6). So the paper's ordering CNN > GRU is not reproduced here, nor
#   the reverse: at this budget the two are within each other's seed-to-seed spread, and the table does not
#   rank them. The GRU costs about four times the CNN's CPU time per run: it must take 40 sequential steps.
# - **The MLP** is below the paper's 68% because it trains 20 epochs instead of hundreds: it is still
#   learning (raise `SCALE`).
# - **Shuffled signals.** A fixed permutation of the 40 positions costs the GRU and the CNN about 40 points,
#   below the MLP: both assume that neighbouring samples belong together (the GRU reads them in order, the CNN
#   convolves neighbours), and shuffling breaks exactly that. The MLP has no notion of order, so shuffling
#   changes nothing for it but the seed-to-seed noise.
#
# ### A character-level language model
#
# A language model predicts the next token from the ones before: a many-to-many task whose targets are
# the inputs shifted by one. Our text is the English reference documentation that ships with every Python
# installation (`pydoc_data.topics`: the language reference's topics, joined in sorted order), about 465k
# characters; the last 10% is held out for validation. `charlm` (exported below) holds the few
# functions for text as integer codes and a bigram baseline.
#
# **Bits per character.** A model that gives probability $p(x_{t+1}\mid x_{\le t})$ to the character that
# actually comes next pays $-\log_2 p$ bits for it; the average over the validation text is its
# bits per character (bpc), the cross-entropy in base 2. A uniform guess over the $V$ symbols costs
# $\log_2 V$ bits, a perfect model 0. The **bigram** model counts which character follows which in the
# training text (add-one smoothing): $p(b\mid a) = (n_{ab}+1)/(n_a + V)$. It knows one character of context.

# %%
#| export charlm
import numpy as np


def load_text() -> str:
    """The English reference text that ships with Python (pydoc_data.topics), joined in sorted key order."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))


def encode(text: str, alphabet=None):
    """(codes (len(text),) int64, alphabet): the sorted distinct characters unless an alphabet is given."""
    alphabet = sorted(set(text)) if alphabet is None else list(alphabet)
    index = {c: i for i, c in enumerate(alphabet)}
    return np.array([index[c] for c in text], dtype=np.int64), alphabet


def bigram_log_probs(codes, vocab_size: int, alpha: float = 1.0):
    """(V, V) matrix of log p(next = b | current = a) from counts, with add-alpha smoothing."""
    counts = np.full((vocab_size, vocab_size), float(alpha))
    np.add.at(counts, (codes[:-1], codes[1:]), 1.0)
    return np.log(counts / counts.sum(1, keepdims=True))


def bits_per_char(log_probs_of_next) -> float:
    """Mean of -log2 p over the characters predicted, from natural-log probabilities."""
    return float(-np.mean(log_probs_of_next) / np.log(2))

# %%
text = charlm.load_text()
codes, alphabet = charlm.encode(text)
n_train = int(0.9 * len(codes))
train_codes, val_codes = codes[:n_train], codes[n_train:]           # (n_train,), (n_val,)
V_CHARS = len(alphabet)
bigram = charlm.bigram_log_probs(train_codes, V_CHARS)              # (V, V)
bigram_bpc = charlm.bits_per_char(bigram[val_codes[:-1], val_codes[1:]])
print(f"{len(text)} characters, {V_CHARS} symbols; uniform guess {np.log2(V_CHARS):.2f} bits/char, "
      f"bigram {bigram_bpc:.2f} bits/char on validation")
print(repr(text[100000:100200]))

# %% [markdown]
# The GRU language model: embed each character (32 numbers), a GRU with a state of 256, a linear layer to
# $V$ scores. Training takes random windows of 64 characters (32 per minibatch) and predicts every next
# character (Adam, learning rate $3\cdot10^{-3}$ chosen from $\{3, 6\}\cdot10^{-3}$ on validation bpc;
# gradients clipped at norm 1), for `LM_STEPS` steps. Validation reads the held-out text in 8 long
# streams, carrying the state from one window to the next, so that the model sees as much context as it can use.

# %%
class CharGRU(nn.Module):
    def __init__(self, vocab_size, hidden=256, embed=32):
        super().__init__()
        self.embed, self.gru = nn.Embedding(vocab_size, embed), nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, x, h=None):                                   # x (N, T) character codes
        output, h = self.gru(self.embed(x), h)                      # (N, T, H), (1, N, H)
        return self.out(output), h                                  # scores (N, T, V)


def validation_bpc(model, codes, streams=8, window=256):
    model.eval()
    n = (len(codes) - 1) // streams
    x = torch.tensor(codes[:streams * n]).view(streams, n)          # (8, n): 8 consecutive pieces
    y = torch.tensor(codes[1:streams * n + 1]).view(streams, n)
    total, h = 0.0, None
    with torch.no_grad():
        for i in range(0, n, window):
            scores, h = model(x[:, i:i + window], h)                # the state carries over
            total += F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y[:, i:i + window].reshape(-1), reduction="sum").item()
    model.train()
    return total / y.numel() / np.log(2)


torch.manual_seed(SEEDS[0])
lm = CharGRU(V_CHARS)
opt = torch.optim.Adam(lm.parameters(), lr=3e-3)
g, train_t, start = np.random.default_rng(SEEDS[0]), torch.tensor(train_codes), time.process_time()
for step in range(LM_STEPS):
    starts = torch.tensor(g.integers(0, len(train_codes) - 65, size=32))
    window = starts[:, None] + torch.arange(65)                     # (32, 65) positions
    xb, yb = train_t[window[:, :-1]], train_t[window[:, 1:]]        # inputs and next characters, (32, 64)
    scores, _ = lm(xb)
    loss = F.cross_entropy(scores.reshape(-1, V_CHARS), yb.reshape(-1))
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
    opt.step()
lm_seconds = time.process_time() - start
gru_bpc = validation_bpc(lm, val_codes)
print(f"GRU language model: {LM_STEPS} steps in {lm_seconds:.0f} CPU s; validation {gru_bpc:.2f} bits/char "
      f"(bigram {bigram_bpc:.2f}, uniform {np.log2(V_CHARS):.2f})")

# %% [markdown]
# Samples: start from a prompt, then repeatedly draw the next character from the model's softmax at
# temperature $\tau$ (scores divided by $\tau$: below 1 sharper and more repetitive, above 1 wilder), and
# from the bigram model for comparison.

# %%
def sample_gru(model, prompt, n=200, temperature=0.7, seed=0):
    g = torch.Generator().manual_seed(seed)
    index = {c: i for i, c in enumerate(alphabet)}
    x = torch.tensor([[index[c] for c in prompt]])
    out, h = list(prompt), None
    with torch.no_grad():
        for _ in range(n):
            scores, h = model(x, h)
            x = torch.multinomial(F.softmax(scores[0, -1] / temperature, -1), 1, generator=g)[None]
            out.append(alphabet[x.item()])
    return "".join(out)


def sample_bigram(prompt, n=200, seed=0):
    g, out = np.random.default_rng(seed), list(prompt)
    for _ in range(n):
        out.append(alphabet[g.choice(V_CHARS, p=np.exp(bigram[alphabet.index(out[-1])]))])
    return "".join(out)


print("GRU, temperature 0.7:\n" + sample_gru(lm, "The return statement") + "\n")
print("bigram:\n" + sample_bigram("The return statement"))

# %% [markdown]
# The GRU's text has words, indentation, quotes and the rhythm of the documentation, most of its words are
# real English, and the sentences mean nothing; the bigram's text has plausible letter pairs and nothing
# more. In bits per character the GRU is well over one bit below the bigram model: per character it is
# more than twice as sure of the right answer. It was still improving when training stopped (raise `SCALE`).

# %% [markdown]
# ## Claims checked
#
# Every claim holds on every seed of `SEEDS` (or `M1D_SEEDS`) unless it says "on average"; thresholds
# sit below the smallest margin measured above.

# %%
# NBVAL_CHECK_OUTPUT
assert twin_worst < 1e-12
print("NumPy RNN and LSTM (forward, BPTT, states) = PyTorch's, float64")

assert grad_norms["tanh RNN, s = 0.5"][30] < 1e-6 * grad_norms["tanh RNN, s = 0.5"][0]
assert grad_norms["tanh RNN, s = 3.0"][30] > 1e3 * grad_norms["tanh RNN, s = 3.0"][0]
assert grad_norms["LSTM, forget bias 3"][30] > 1e3 * grad_norms["LSTM (PyTorch's init)"][30]
print("gradient 30 steps back: vanishes (< 1e-6 of the nearest) at s = 0.5, explodes (> 1e3) at s = 3; "
      "an LSTM with forget bias 3 keeps > 1000x more than at PyTorch's init")

assert abs(norm_after - 1.0) < 1e-9 and cosine > 1 - 1e-12 and clip_error < 1e-12
print("clipping: norm rescaled to 1, direction kept, same as torch.nn.utils.clip_grad_norm_")

assert (recall["FFN", 0] > 0.95).all() and (recall["FFN", 1] < 0.2).all() and (recall["RNN", 2] > 0.95).all()
print("recall the token k steps back: the feed-forward network is perfect at k = 0, near chance (< 20%) at "
      "k = 1; the RNN > 95% at k = 2")

assert recall["RNN", 8].mean() > recall["RNN", 16].mean() + 0.4 and (recall["RNN", 16] < 0.2).all()
assert (recall["GRU", 16] > recall["RNN", 16] + 0.04).all()
print("RNN accuracy falls with the lag: by > 40 points on average from k = 8 to 16, near chance at 16; "
      "the GRU beats it at k = 16")

assert (bidir["bidirectional"] > bidir["unidirectional"] + 0.3).all()
print("where the next token matters, the bidirectional RNN beats the unidirectional by > 30 points")

for net in ("GRU (H = 64)", "CNN (1-D, small)"):
    assert (m1d_acc[net, "ordered"] > m1d_acc["MLP (paper's)", "ordered"] + 0.2).all()
    assert (m1d_acc[net, "ordered"] - m1d_acc[net, "shuffled"] > 0.25).all()
assert abs(m1d_acc["MLP (paper's)", "ordered"].mean() - m1d_acc["MLP (paper's)", "shuffled"].mean()) < 0.05
print("MNIST-1D: GRU and CNN beat the MLP by > 20 points; shuffling costs both > 25 points, the MLP < 5 on average")

assert gru_bpc < bigram_bpc - 1.0
print("character GRU language model beats the bigram model by > 1 bit per character on validation")

# %% [markdown]
# ## Summary
#
# - **Sequence tasks** differ by what comes out: one answer per sequence (many-to-one), one per step
#   (many-to-many), another sequence ($T' \ne T$), or a sequence from one input. Layout $(T, N, I)$, or
#   $(N, T, I)$ with `batch_first`.
# - **The RNN** $h_t = \tanh(W_{ih}x_t + b_{ih} + W_{hh}h_{t-1} + b_{hh})$ shares its weights over time;
#   a per-position feed-forward network is a lookup without context and fails as soon as the answer
#   depends on an earlier token.
# - **BPTT** is backpropagation through the unrolled network: $\delta h_t = G_t + W_{hh}^\top\delta a_{t+1}$,
#   weight gradients summed over the steps. Its product of Jacobians makes gradients vanish or explode
#   geometrically with the distance; clipping the gradient norm fixes the explosion, gates address the
#   vanishing.
# - **LSTM and GRU** carry their state along an additive, gated path ($c_t = f_t\odot c_{t-1} + i_t\odot g_t$;
#   $h_t = (1-z_t)\odot n_t + z_t\odot h_{t-1}$); initialisation still matters (the forget gate's bias).
#   Recall still fades with the lag, more slowly than in a vanilla RNN.
# - **Bidirectional** RNNs read the sequence both ways: needed where the future matters.
# - **Measured:** on MNIST-1D a GRU and a small CNN both reach about 95% (the MLP about 64%) and both lose
#   about 40 points when the positions are shuffled; a character GRU models the Python reference text at
#   about 2.0 bits per character after 300 steps, against 3.35 for the bigram model.
#
# **Further reading.** Elman (1990), *Finding structure in time*; Hochreiter & Schmidhuber (1997), *Long
# short-term memory*; Cho et al. (2014), the GRU; Pascanu, Mikolov & Bengio (2013), *On the difficulty of
# training recurrent neural networks* (clipping); Jozefowicz, Zaremba & Sutskever (2015), *An empirical
# exploration of recurrent network architectures* (the forget-gate bias); Karpathy (2015), *The unreasonable
# effectiveness of recurrent neural networks*; Greydanus (2020), *Scaling down deep learning* (MNIST-1D).
#
# **Exercises:** [exercises/11_rnn](../exercises/11_rnn.ipynb): one RNN step and its backward (the
# building block of BPTT), checked against PyTorch.
