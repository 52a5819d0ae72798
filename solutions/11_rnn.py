# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 11 · Recurrent networks
#
# Five tasks from chapter 11 and three questions. The chapter builds its recurrent layers as whole classes
# and trains GRUs and LSTMs with PyTorch. Here you write the pieces one at a time, in NumPy, in PyTorch's
# weight layout: Task 1 one step of a vanilla RNN, Task 2 its backward pass, Task 3 backpropagation through
# time over a whole sequence, Task 4 one step of an LSTM with PyTorch's gate order. Task 5 is an outcome
# task: train your own recurrent network to recall tokens it saw a few steps earlier.
#
# Each **check** cell compares your function with PyTorch (`nn.RNNCell`, `nn.RNN`, `nn.LSTMCell` with the
# same weights, autograd for the gradients, in float64) on random inputs and names the first thing that is
# wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-4).
#
# Shapes: a batch of $B$ sequences with $I$ input features and $H$ hidden units. PyTorch stores the
# weights with one **row per hidden unit**: `W_ih` is $(H, I)$, `W_hh` is $(H, H)$, the biases `b_ih`,
# `b_hh` are $(H,)$; a whole sequence `x` is $(T, B, I)$ (time first, PyTorch's default `batch_first=False`).

# %%
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse.checks import recurrent as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · One step of a vanilla RNN
#
# $$ h_t = \tanh\left(x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}\right) $$
#
# `rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)` takes one time step of a batch, `x_t` $(B, I)$, and the
# previous state `h_prev` $(B, H)$, and returns the new state $h_t$ $(B, H)$, exactly as
# `nn.RNNCell(I, H)` (nonlinearity tanh) computes it with these weights.

# %%
def rnn_step(x_t, h_prev, W_ih, W_hh, b_ih, b_hh):
    """x_t: (B, I); h_prev: (B, H); W_ih: (H, I); W_hh: (H, H); b_ih, b_hh: (H,). Returns h_t: (B, H)."""
    ### BEGIN SOLUTION
    return np.tanh(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)
    ### END SOLUTION


# %% tags=["check"]
check.rnn_step(rnn_step)

# %% [markdown]
# ## Task 2 · The backward pass of one step
#
# Given the upstream gradient `grad_h` $= \partial\mathcal L/\partial h_t$ $(B, H)$ and what the forward
# step saw and produced (`x_t`, `h_prev`, `h_t` and the parameters), return the gradients of $\mathcal L$
# with respect to `x_t`, `h_prev`, `W_ih`, `W_hh`, `b_ih` and `b_hh`, each with the shape of what it
# belongs to. `h_t` is given so that you need not recompute anything: $\tanh'(a) = 1 - \tanh(a)^2$.

# %%
def rnn_step_backward(grad_h, x_t, h_prev, h_t, W_ih, W_hh, b_ih, b_hh):
    """Returns (grad_x (B, I), grad_h_prev (B, H), grad_W_ih (H, I), grad_W_hh (H, H), grad_b_ih (H,), grad_b_hh (H,))."""
    ### BEGIN SOLUTION
    grad_a = grad_h * (1.0 - h_t ** 2)                  # back through tanh: (B, H)
    grad_b = grad_a.sum(axis=0)                          # both biases were added to every example
    return grad_a @ W_ih, grad_a @ W_hh, grad_a.T @ x_t, grad_a.T @ h_prev, grad_b, grad_b.copy()
    ### END SOLUTION


# %% tags=["check"]
check.rnn_step_backward(rnn_step_backward)

# %% [markdown]
# ## Task 3 · Backpropagation through time
#
# A whole sequence `x` $(T, B, I)$ runs through the same step $T$ times from the initial state `h0`
# $(B, H)$, producing the outputs $h_1, \dots, h_T$, stacked as $(T, B, H)$ (what `nn.RNN` returns as
# `output`). The loss depends on every output: `grad_output[t]` is $\partial\mathcal L/\partial h_{t+1}$
# through its direct use (a prediction at that step). `rnn_backward` returns the gradients with respect
# to `x` $(T, B, I)$, `h0` and the four parameters, exactly as autograd through `nn.RNN` gives them. Use
# your `rnn_step` and `rnn_step_backward`.

# %%
def rnn_backward(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    """x: (T, B, I); h0: (B, H); grad_output: (T, B, H).
    Returns (grad_x (T, B, I), grad_h0 (B, H), grad_W_ih, grad_W_hh, grad_b_ih, grad_b_hh)."""
    ### BEGIN SOLUTION
    hs = [h0]                                            # h_0 .. h_T
    for x_t in x:
        hs.append(rnn_step(x_t, hs[-1], W_ih, W_hh, b_ih, b_hh))
    grad_x = np.zeros_like(x)
    grads = [np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b_ih), np.zeros_like(b_hh)]
    grad_next = np.zeros_like(h0)                        # what step t + 1 sent back to h_t
    for t in reversed(range(len(x))):
        grad_x[t], grad_next, *step = rnn_step_backward(grad_output[t] + grad_next, x[t], hs[t], hs[t + 1],
                                                        W_ih, W_hh, b_ih, b_hh)
        grads = [g + s for g, s in zip(grads, step)]     # shared weights: add over time
    return (grad_x, grad_next, *grads)
    ### END SOLUTION


# %% tags=["check"]
check.rnn_backward(rnn_backward)

# %% [markdown]
# ## Use it: how far back does a gradient reach?
#
# Put the whole loss on the **last** output and look at how much of it reaches each input: the norm of
# `grad_x[t]` against the distance $T - t$, for recurrent weights $W_{hh}$ of three sizes (the gain: about
# the factor by which $W_{hh}$ stretches a typical vector).

# %%
rng = np.random.default_rng(0)
T, B, I, H = 30, 16, 4, 32
x, h0 = rng.normal(size=(T, B, I)), np.zeros((B, H))
W_ih, b_ih, b_hh = rng.normal(scale=0.5, size=(H, I)), np.zeros(H), np.zeros(H)
grad_output = np.zeros((T, B, H))
grad_output[-1] = rng.normal(size=(B, H))               # the loss sees only h_T
for gain in (0.5, 1.0, 2.0):
    W_hh = rng.normal(scale=gain / np.sqrt(H), size=(H, H))
    grad_x = rnn_backward(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output)[0]
    norms = np.linalg.norm(grad_x.reshape(T, -1), axis=1)
    print(f"recurrent gain {gain}: |grad x_t| at distance 0, 5, 10, 20, 29: "
          + "  ".join(f"{norms[T - 1 - d]:.1e}" for d in (0, 5, 10, 20, 29)))

# %% [markdown]
# ## Task 4 · One step of an LSTM
#
# An LSTM step computes four blocks of $H$ pre-activations at once, $a = x_t W_{ih}^\top + b_{ih} +
# h_{t-1} W_{hh}^\top + b_{hh}$ of shape $(B, 4H)$, with `W_ih` $(4H, I)$ and `W_hh` $(4H, H)$. PyTorch's
# order of the blocks is $i, f, g, o$: input gate, forget gate, cell candidate, output gate. Then
#
# $$ i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o), \qquad
#    c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t). $$
#
# `lstm_step` returns `(h_t, c_t)`, as `nn.LSTMCell` does with these weights.

# %%
def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """x_t: (B, I); h_prev, c_prev: (B, H); W_ih: (4H, I); W_hh: (4H, H); b_ih, b_hh: (4H,). Returns (h_t, c_t)."""
    ### BEGIN SOLUTION
    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    a_i, a_f, a_g, a_o = np.split(x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh, 4, axis=1)
    c_t = sigmoid(a_f) * c_prev + sigmoid(a_i) * np.tanh(a_g)
    return sigmoid(a_o) * np.tanh(c_t), c_t
    ### END SOLUTION


# %% tags=["check"]
check.lstm_step(lstm_step)

# %% [markdown]
# ## Task 5 · Outcome: recall a token from five steps back
#
# A memory task: sequences of 20 random tokens from 8 symbols; at every step $t \ge 5$ the target is the
# token seen 5 steps earlier, $y_t = x_{t-5}$. The first 5 targets are $-100$: nothing to recall there (it
# is the default `ignore_index` of `F.cross_entropy`, which skips them). Guessing gives 1/8 = 12.5%.
#
# `train_recaller(X, Y, seed)` receives 2000 training sequences `X` $(2000, 20)$ int64 and their targets
# `Y` (same shape) and returns a trained `torch.nn.Module` that maps $(B, 20)$ int64 tokens to scores
# $(B, 20, 8)$, one per symbol at every step. Use a recurrent layer (RNN, GRU or LSTM) running forwards
# over the sequence. The check measures the accuracy on 500 validation sequences your code never sees.
# **Target: 90% of the recalled tokens.** Keep the training under about 10 seconds.

# %%
tokens, targets = check.recall_data(1, seed=0)      # one sequence and its targets
print("tokens: ", tokens[0])
print("targets:", targets[0])

# %%
def train_recaller(X, Y, seed=0):
    """Train a recurrent model on X, Y (N, 20) int64; return it (maps (B, 20) tokens to (B, 20, 8) scores)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)

    class Recaller(nn.Module):
        def __init__(self, vocab=8, embed=16, hidden=64):
            super().__init__()
            self.embed = nn.Embedding(vocab, embed)
            self.rnn = nn.GRU(embed, hidden, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, tokens):                       # (B, T) -> (B, T, vocab)
            return self.head(self.rnn(self.embed(tokens))[0])

    model = Recaller()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    Xt, Yt, order = torch.from_numpy(X), torch.from_numpy(Y), torch.Generator().manual_seed(seed)
    for _ in range(10):
        for idx in torch.randperm(len(Xt), generator=order).split(64):
            loss = nn.functional.cross_entropy(model(Xt[idx]).flatten(0, 1), Yt[idx].flatten())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    return model.eval()
    ### END SOLUTION


# %% tags=["check"]
check.recall_outcome(train_recaller)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Your "Use it" cell measured the gradient that reaches each input from a loss on the last output.
# Why does it shrink (or grow) geometrically with the distance?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Each step back multiplies the gradient by the step's Jacobian, $\operatorname{diag}(1 - h_t^2)\, W_{hh}$
# (transposed). Over a distance $k$ the gradient is a product of $k$ such matrices: if their typical gain is
# below 1 (small $W_{hh}$, or saturated tanh units whose derivative $1 - h^2$ is near 0) the product shrinks
# like gain$^k$: at gain 0.5 the gradient from 20 steps back is less than $10^{-9}$ of the local one, at gain 1 still
# $10^{-4}$, so the network cannot learn dependencies that far apart. Above 1 it can grow like gain$^k$
# instead; at gain 2 it stayed flat here, because the large states saturate tanh and its derivative
# cancels the growth.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The same product of Jacobians appears in a deep feed-forward network with $k$ layers, with one difference
# that makes it worse: an RNN uses the *same* matrix at every step, so its largest singular value is raised
# to the power $k$ instead of averaging over different layers. Orthogonal or identity initialisation of
# $W_{hh}$ keeps the gain near 1 at the start; gated cells (LSTM, GRU) change the structure of the product.
# </details>

# %% [markdown]
# **(2)** What does the LSTM's cell state $c_t$ change about the gradient through time?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# The cell state is updated additively, $c_t = f \odot c_{t-1} + i \odot g$, so $\partial c_t / \partial
# c_{t-1} = \operatorname{diag}(f)$: no weight matrix and no squashing nonlinearity on this path. When the
# forget gate is near 1 the gradient flows back through many steps almost unchanged (the "constant error
# carousel"), and the network *learns* when to keep or to erase a memory, instead of multiplying by
# $W_{hh}$ at every step.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# This is the same idea as a residual connection (chapter 07): an identity path added to a learned update.
# Initialising the forget gate's bias to a positive value (1 or 2) starts training with long memories. The
# GRU merges cell and hidden state and couples the gates ($h_t = (1 - z) h_{t-1} + z \tilde h$) but keeps
# the additive path.
# </details>

# %% [markdown]
# **(3)** Why do recurrent networks clip the gradient norm, and why does clipping not help against
# vanishing gradients?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# When the recurrent gain is above 1 the gradient can explode: one batch produces a gradient thousands of
# times larger than usual and a single step throws the weights far away (the loss surface of an RNN has
# steep cliffs). Clipping rescales the gradient to a maximum norm and keeps its direction, so such a step
# stays small. A vanishing gradient is tiny, not huge: clipping never enlarges it, so it does nothing
# there; that needs gated cells, skip paths or a better initialisation.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Clipping by norm (`nn.utils.clip_grad_norm_`) keeps the direction of the whole gradient; clipping each
# value separately (`clip_grad_value_`) changes the direction. Pascanu, Mikolov and Bengio (2013) analysed
# both problems and proposed norm clipping for the exploding one. A usual threshold is 1 to 5, chosen by
# watching the gradient norms during a run.
# </details>
