# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 12 · Attention and transformers
#
# Four tasks from chapter 12 and three questions. The chapter builds attention inside whole layers and
# trains transformers with PyTorch. Here you write the core pieces in NumPy and build multi-head attention
# out of them: Task 1 causal scaled dot-product attention with its weights, Task 2 the reshaping that
# splits the features into heads and merges them back, Task 3 a full causal multi-head self-attention
# forward pass with PyTorch's weights. Task 4 is an outcome task: train your own small transformer to
# reverse sequences.
#
# Each **check** cell compares your function with PyTorch (`F.scaled_dot_product_attention`,
# `nn.MultiheadAttention` with the same weights, in float64) on random inputs and names the first thing
# that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with NumPy code (no PyTorch inside Tasks 1-3).
#
# Shapes: $B$ sequences of $T$ positions; queries and keys have $d_k$ features, values $d_v$; a model
# width $E$ split into $H$ heads of $E/H$ features each.

# %%
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse.checks import attention as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · Causal scaled dot-product attention
#
# $$ \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right) V,
#    \qquad M_{ts} = \begin{cases} 0 & s \le t \\ -\infty & s > t \end{cases} $$
#
# Query $t$ may attend to positions $0, \dots, t$ only: the **causal** mask $M$ of a language model, which
# must not see the future it predicts. `causal_attention(q, k, v)` takes `q`, `k` of shape
# $(\dots, T, d_k)$ and `v` of shape $(\dots, T, d_v)$ (any number of leading axes: batch, heads) and returns
# the output $(\dots, T, d_v)$ and the attention weights $(\dots, T, T)$ (row $t$: how query $t$ spreads
# its attention over the keys). The output must equal
# `F.scaled_dot_product_attention(q, k, v, is_causal=True)`, which does not return its weights.

# %%
def causal_attention(q, k, v):
    """q, k: (..., T, d_k); v: (..., T, d_v). Returns (out (..., T, d_v), weights (..., T, T))."""
    ### BEGIN SOLUTION
    T, d_k = q.shape[-2], q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)           # (..., T, T): rows = queries
    scores = np.where(np.triu(np.ones((T, T), dtype=bool), 1), -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)          # stable softmax over the keys
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ v, weights
    ### END SOLUTION


# %% tags=["check"]
check.causal_attention(causal_attention)

# %% [markdown]
# ## Use it: why divide by $\sqrt{d_k}$?
#
# For queries and keys with independent unit-variance entries, a dot product of $d_k$ terms has variance
# $d_k$. Look at how peaked the softmax of such scores becomes as $d_k$ grows, without and with the scaling:
# the largest weight of a row, averaged over rows, for 16 keys.

# %%
rng = np.random.default_rng(0)
for d_k in (4, 64, 1024):
    q, k = rng.normal(size=(200, d_k)), rng.normal(size=(16, d_k))
    for scale, name in ((1.0, "unscaled"), (np.sqrt(d_k), "scaled  ")):
        s = q @ k.T / scale
        w = np.exp(s - s.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        print(f"d_k={d_k:5d} {name}: score std {s.std():6.2f}, mean max weight {w.max(axis=1).mean():.2f}")

# %% [markdown]
# ## Task 2 · Splitting into heads and merging them back
#
# Multi-head attention runs $H$ attentions side by side, each on its own slice of $E/H$ features.
# `nn.MultiheadAttention` gives head $h$ the **contiguous** features $h\frac{E}{H}, \dots, (h+1)\frac{E}{H} - 1$
# of every position. `split_heads(x, num_heads)` turns $(B, T, E)$ into $(B, H, T, E/H)$, so that the
# attention of Task 1 runs on all heads at once (the head axis is one of its leading axes);
# `merge_heads(x)` turns $(B, H, T, D)$ back into $(B, T, H \cdot D)$, the exact inverse.

# %%
def split_heads(x, num_heads):
    """x: (B, T, E). Returns (B, H, T, E / H): head h holds features h*E/H .. (h+1)*E/H - 1."""
    ### BEGIN SOLUTION
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)
    ### END SOLUTION


def merge_heads(x):
    """x: (B, H, T, D). Returns (B, T, H * D), the inverse of split_heads."""
    ### BEGIN SOLUTION
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)
    ### END SOLUTION


# %% tags=["check"]
check.split_heads(split_heads)
check.merge_heads(merge_heads)

# %% [markdown]
# ## Task 3 · Causal multi-head self-attention, with PyTorch's weights
#
# `nn.MultiheadAttention(E, H, batch_first=True)` holds `in_proj_weight` $(3E, E)$ and `in_proj_bias`
# $(3E,)$: the query, key and value projections stacked in this order, one row per output feature (as in
# `nn.Linear`), and `out_proj.weight` $(E, E)$, `out_proj.bias` $(E,)$. Self-attention projects the same
# `x` $(B, T, E)$ three times, attends in each head (scaled by $\sqrt{E/H}$), merges the heads and applies
# the output projection. `multihead_attention(...)` returns that output $(B, T, E)$ and the attention
# weights averaged over the heads $(B, T, T)$: what `mha(x, x, x, attn_mask=causal, need_weights=True)`
# returns. Use your functions from Tasks 1 and 2.

# %%
def multihead_attention(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    """x: (B, T, E). Returns (out (B, T, E), weights (B, T, T) averaged over the heads), causal."""
    ### BEGIN SOLUTION
    q, k, v = np.split(x @ in_proj_weight.T + in_proj_bias, 3, axis=-1)       # 3 x (B, T, E)
    out, weights = causal_attention(*(split_heads(a, num_heads) for a in (q, k, v)))   # (B, H, T, E/H)
    return merge_heads(out) @ out_proj_weight.T + out_proj_bias, weights.mean(axis=1)
    ### END SOLUTION


# %% tags=["check"]
check.multihead_attention(multihead_attention)

# %% [markdown]
# ## Task 4 · Outcome: reverse a sequence
#
# Sequences of 8 random digits; the target is the same sequence reversed: output position $t$ must
# produce input digit $T - 1 - t$. Guessing gives 10%.
#
# `train_reverser(X, Y, seed)` receives 3000 training sequences `X` $(3000, 8)$ int64 and their reversals
# `Y`, and returns a trained `torch.nn.Module`, built around attention (`nn.MultiheadAttention`,
# `nn.TransformerEncoderLayer` or your own), that maps $(B, 8)$ int64 digits to scores $(B, 8, 10)$. The
# check measures the per-digit accuracy on 500 validation sequences your code never sees. **Target: 95%.**
# Keep the training under about 10 seconds.

# %%
def train_reverser(X, Y, seed=0):
    """Train an attention model on X, Y (N, 8) int64; return it (maps (B, 8) digits to (B, 8, 10) scores)."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)

    class Reverser(nn.Module):
        def __init__(self, vocab=10, length=8, width=64, heads=4):
            super().__init__()
            self.embed = nn.Embedding(vocab, width)
            self.position = nn.Parameter(0.1 * torch.randn(length, width))     # learned position embedding
            self.block = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True,
                                                    norm_first=True)
            self.head = nn.Linear(width, vocab)

        def forward(self, digits):                       # (B, T) -> (B, T, vocab)
            return self.head(self.block(self.embed(digits) + self.position[: digits.shape[1]]))

    model = Reverser()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    Xt, Yt, order = torch.from_numpy(X), torch.from_numpy(Y), torch.Generator().manual_seed(seed)
    for _ in range(8):
        for idx in torch.randperm(len(Xt), generator=order).split(64):
            loss = nn.functional.cross_entropy(model(Xt[idx]).flatten(0, 1), Yt[idx].flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
    ### END SOLUTION


# %% tags=["check"]
check.reverse_outcome(train_reverser)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Your "Use it" cell printed how peaked the attention weights become without the scaling. Why do
# transformers divide the scores by $\sqrt{d_k}$, and what would go wrong in training without it?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# A dot product of $d_k$ independent unit-variance terms has variance $d_k$, so its standard deviation
# grows like $\sqrt{d_k}$; dividing by $\sqrt{d_k}$ keeps the scores at unit scale whatever the head size.
# Without it, large heads give scores of size 30 or more, the softmax puts almost all weight on one key
# (the printed mean max weight approaches 1), and its gradient, which is proportional to
# $w(1 - w)$, all but vanishes: attention would stop learning early, one-hot from the start.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The scale is a convention for the *start* of training (unit-variance inputs at initialisation); a model
# could learn to shrink its projections, but it would first have to escape the saturated softmax. Dividing
# by $d_k$ instead would over-correct: the scores would shrink like $1/\sqrt{d_k}$ and attention would
# become nearly uniform for large heads. Some models instead normalise queries and keys (QK-norm) and learn
# the temperature.
# </details>

# %% [markdown]
# **(2)** Why does a transformer language model need a causal mask during training, although at generation
# time the future tokens do not exist yet anyway?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Training predicts every position of a sequence at once, in parallel: the target at position $t$ is the
# token at $t + 1$, which sits in the same input. Without the mask, position $t$ could attend to position
# $t + 1$ and copy its target: the training loss would drop to nearly zero while the model learns nothing
# it can use at generation time, where that token is not available. The mask makes each position's
# prediction depend only on the tokens before it, exactly the situation of generation.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The mask is what lets a transformer train on all $T$ next-token predictions of a sequence in one parallel
# pass ("teacher forcing"), where an RNN has to step through time. Encoders that read a whole input
# (BERT, the reverser of Task 4, a ViT) use no causal mask: there every position may see every other one.
# With the mask, the key/value tensors of earlier positions never change when a token is appended, which is
# why generation can cache them.
# </details>

# %% [markdown]
# **(3)** What do positional encodings add? Would your reverser of Task 4 work without them?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Attention compares contents only: without positions, permuting the input tokens permutes the outputs in
# the same way (self-attention is permutation-equivariant), so the model sees a *set*, not a sequence.
# Positional encodings add to each token a vector that depends on its position, so that queries and keys
# can ask "where" as well as "what". The reverser could not work without them: output $t$ must fetch the
# token at position $T - 1 - t$, a question about positions only. Without them the best it can do is guess
# from the digits it sees, whatever their order (the most frequent one, say): right about 30% of the time.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The sinusoidal encoding of the original transformer uses sines and cosines of geometrically spaced
# frequencies, so that a shift by $k$ positions is a fixed linear map of the encoding (relative positions
# are easy to express) and it extends to any length; learned position embeddings, as in the reverser, are
# as good up to the trained length but do not extrapolate. Newer models encode relative positions inside
# attention (rotary embeddings, ALiBi). A causal language model without any position encoding still gets
# some positional information from the mask itself (position $t$ averages over $t + 1$ tokens).
# </details>
