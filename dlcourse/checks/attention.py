"""Checks for the exercises of chapter 12 (attention and transformers).

Each check runs the student's NumPy function and a PyTorch reference
(``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, the head layout of
``torch.nn.MultiheadAttention``, and ``torch.nn.MultiheadAttention`` itself with the same weights, all in
float64) on random inputs and raises :class:`~dlcourse.checks.CheckFailed` at the first difference. The
cases include sequences of length 1, one head, value sizes that differ from the key size, and sizes chosen so
that a reshape without a transpose gives the right shape but the wrong values.
"""
from __future__ import annotations

import numpy as np

from . import check_outcome, CheckFailed, failing_case, hint, model_scores, run_check, trained_model

__all__ = ["causal_attention", "split_heads", "merge_heads", "multihead_attention", "reverse_outcome",
           "hint", "failing_case"]


def _torch():
    import torch

    return torch


# ---- causal_attention ---------------------------------------------------------------------------
def _reference_attention(q, k, v):
    torch = _torch()
    q_, k_, v_ = (torch.from_numpy(a) for a in (q, k, v))
    out = torch.nn.functional.scaled_dot_product_attention(q_, k_, v_, is_causal=True)
    T = q.shape[-2]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)                  # True above the diagonal
    scores = (q_ @ k_.transpose(-2, -1) / q.shape[-1] ** 0.5).masked_fill(future, float("-inf"))
    return out.numpy(), torch.softmax(scores, dim=-1).numpy()


def causal_attention(student, seed: int = 0) -> None:
    """Check ``causal_attention(q, k, v) -> (out, weights)`` (q, k: (..., T, d_k), v: (..., T, d_v)) against
    ``scaled_dot_product_attention(is_causal=True)``; the weights against the softmax of the masked scores."""
    rng = np.random.default_rng(seed + 1)
    cases = [(np.array([[[1.0], [0.0]]]), np.array([[[1.0], [1.0]]]), np.array([[[2.0], [4.0]]]))]   # by hand
    for i in range(16):
        lead = (int(rng.integers(1, 4)),) if i % 2 == 0 else (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
        T = 1 if i == 3 else int(rng.integers(2, 8))
        d_k, d_v = int(rng.integers(2, 17)), (int(rng.integers(1, 6)) if i % 3 == 1 else None)
        d_v = d_v or d_k
        scale = 2.0 if i % 4 == 0 else 1.0
        cases.append((rng.normal(scale=scale, size=(*lead, T, d_k)), rng.normal(size=(*lead, T, d_k)),
                      rng.normal(size=(*lead, T, d_v))))
    run_check("causal_attention", student, _reference_attention, cases, rtol=1e-9, atol=1e-12,
              arg_names=("q", "k", "v"), out_names=("out", "weights"),
              hints=("Scores compare every query with every key (a (T, T) matrix per leading index, rows = "
                     "queries), divided by the square root of the key size. Query t may look at keys 0..t only: "
                     "the scores of later keys must get exactly zero weight after the softmax.",
                     "Adding 0 to a forbidden score does not remove it: give it -inf (or a very negative "
                     "number) before the softmax. Each ROW of the weights, one query, must sum to 1, so the "
                     "softmax runs over the keys axis. Check the weights of query 0: all on key 0."))


# ---- split_heads / merge_heads ------------------------------------------------------------------
def _reference_split(x, num_heads):
    torch = _torch()
    B, T, E = x.shape
    return torch.from_numpy(x).view(B, T, num_heads, E // num_heads).transpose(1, 2).contiguous().numpy()


def _reference_merge(x):
    torch = _torch()
    B, H, T, D = x.shape
    return torch.from_numpy(x).transpose(1, 2).reshape(B, T, H * D).numpy()


def _head_sizes(rng, i):
    """(B, H, T, D) with T, H, D different from each other (so that a missing transpose shows), except for
    one head or one step now and then."""
    while True:
        B, H, T, D = int(rng.integers(1, 4)), int(rng.integers(2, 5)), int(rng.integers(2, 7)), int(rng.integers(1, 6))
        if i == 2:
            H = 1
        if i == 4:
            T = 1
        if len({H, T, D}) == 3 or i in (2, 4):
            return B, H, T, D


def split_heads(student, seed: int = 0) -> None:
    """Check ``split_heads(x, num_heads)`` (B, T, E) -> (B, H, T, E / H): head h gets the features
    ``h * E/H .. (h + 1) * E/H - 1`` of every position, as in ``torch.nn.MultiheadAttention``."""
    rng = np.random.default_rng(seed + 2)
    cases = [(np.arange(12.0).reshape(1, 3, 4), 2)]                              # by hand
    for i in range(14):
        B, H, T, D = _head_sizes(rng, i)
        cases.append((rng.normal(size=(B, T, H * D)), H))
    run_check("split_heads", student, _reference_split, cases, rtol=0, atol=0, arg_names=("x", "num_heads"),
              hints=("Head h works on one contiguous block of E / H features of every position. Run the first "
                     "test case (the numbers 0 to 11 as shape (1, 3, 4), with 2 heads) and look at which "
                     "numbers end up in head 0.",
                     "A reshape never moves numbers, it only regroups them in memory order: (B, T, E) can "
                     "become (B, T, H, E/H) directly, but the head axis must then move in front of the time "
                     "axis, which a reshape alone cannot do."))


def merge_heads(student, seed: int = 0) -> None:
    """Check ``merge_heads(x)`` (B, H, T, D) -> (B, T, H * D), the inverse of ``split_heads``."""
    rng = np.random.default_rng(seed + 3)
    cases = [(np.arange(12.0).reshape(1, 2, 3, 2),)]
    for i in range(14):
        cases.append((rng.normal(size=_head_sizes(rng, i)),))
    run_check("merge_heads", student, _reference_merge, cases, rtol=0, atol=0, arg_names=("x",),
              hints=("merge_heads undoes split_heads: merge_heads(split_heads(x, H)) must give x back. The "
                     "features of head 0 come first at every position, then those of head 1, and so on.",
                     "Bring the time axis back in front of the head axis first; only then may the last two "
                     "axes be joined into one by a reshape."))


# ---- multihead_attention ------------------------------------------------------------------------
def _reference_mha(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads):
    torch = _torch()
    E = x.shape[-1]
    mha = torch.nn.MultiheadAttention(E, num_heads, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(in_proj_weight))
        mha.in_proj_bias.copy_(torch.from_numpy(in_proj_bias))
        mha.out_proj.weight.copy_(torch.from_numpy(out_proj_weight))
        mha.out_proj.bias.copy_(torch.from_numpy(out_proj_bias))
        T = x.shape[1]
        xt = torch.from_numpy(x)
        out, weights = mha(xt, xt, xt, attn_mask=torch.ones(T, T, dtype=torch.bool).triu(1), need_weights=True,
                           average_attn_weights=True)
    return out.numpy(), weights.numpy()


def multihead_attention(student, seed: int = 0) -> None:
    """Check ``multihead_attention(x, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias, num_heads)
    -> (out, weights)``, causal self-attention on x (B, T, E), against ``torch.nn.MultiheadAttention``
    (batch_first=True, the same weights, a causal mask, weights averaged over the heads)."""
    rng = np.random.default_rng(seed + 4)
    cases = []
    for i in range(12):
        B, H, T, D = _head_sizes(rng, i)
        E = H * D
        s = 1 / np.sqrt(E)
        cases.append((rng.normal(size=(B, T, E)), rng.uniform(-2 * s, 2 * s, (3 * E, E)), rng.normal(scale=0.3, size=3 * E),
                      rng.uniform(-2 * s, 2 * s, (E, E)), rng.normal(scale=0.3, size=E), H))
    run_check("multihead_attention", student, _reference_mha, cases, rtol=1e-9, atol=1e-12,
              arg_names=("x", "in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias", "num_heads"),
              out_names=("out", "weights"),
              hints=("Four steps, with your functions: project x to queries, keys and values (in_proj_weight "
                     "stacks the three (E, E) matrices in that order, with one row per output feature), split "
                     "each into heads, attend causally in every head, merge the heads and apply the output "
                     "projection.",
                     "The weights PyTorch gives back are averaged over the heads: shape (B, T, T). Attention runs "
                     "inside each head, so its scores are scaled by the square root of the head size E / H, "
                     "not of E."))


# ---- the outcome task ---------------------------------------------------------------------------
REVERSE_VOCAB, REVERSE_LENGTH, REVERSE_TARGET = 10, 8, 0.95


def reverse_data(n: int, seed: int):
    """``n`` sequences of ``REVERSE_LENGTH`` random digits, (n, T) int64, and the same sequences reversed."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, REVERSE_VOCAB, size=(n, REVERSE_LENGTH)).astype(np.int64)
    return X, X[:, ::-1].copy()


def reverse_outcome(student, seed: int = 0) -> None:
    """Train the student's attention model with ``student(X, Y, seed)`` on 3000 sequences of
    :func:`reverse_data` (seed 0) and require its per-token accuracy on 500 validation sequences (seed 1)
    to reach the target."""
    torch = _torch()
    from ..train import accuracy

    name = "train_reverser"
    X, Y = reverse_data(3000, 0)
    X_val, Y_val = reverse_data(500, 1)
    hints = ("Output t must copy input T - 1 - t: a question about positions, not about the digits. Attention "
             "alone does not know where a token sits; add a learned position embedding (or a sinusoidal "
             "encoding) to the token embedding, then one transformer encoder layer and a Linear layer to "
             "10 scores at every position.",
             "No causal mask here: output 0 needs the last input. Width 64, 4 heads, dropout 0, Adam at a "
             "learning rate near 3e-3, minibatches of 64 and about eight epochs are enough.")
    model = trained_model(name, student, X, Y, seed)
    scores = model_scores(model, X_val)
    expected = (len(X_val), REVERSE_LENGTH, REVERSE_VOCAB)
    if tuple(scores.shape) != expected:
        raise CheckFailed(f"{name}: your model maps {tuple(X_val.shape)} digits to scores of shape "
                          f"{tuple(scores.shape)}; expected {expected}, one score per digit at every position.")
    acc = accuracy(scores.detach().cpu().numpy().reshape(-1, REVERSE_VOCAB), Y_val.reshape(-1))
    check_outcome(name, acc, REVERSE_TARGET, what="validation accuracy (per digit)", hints=hints)
