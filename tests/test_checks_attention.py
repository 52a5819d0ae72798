"""Chapter 12 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/12_transformers.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import attention as check

RIGHT = solution("12_transformers")


def softmax(s, axis=-1):
    w = np.exp(s - s.max(axis=axis, keepdims=True))
    return w / w.sum(axis=axis, keepdims=True)


# ---- Task 1: causal attention -------------------------------------------------------------------
def _attention(q, k, v, scale=None, future=None, fill=-np.inf, axis=-1):
    T, d_k = q.shape[-2], q.shape[-1]
    s = q @ np.swapaxes(k, -1, -2) / (np.sqrt(d_k) if scale is None else scale)
    forbidden = np.triu(np.ones((T, T), dtype=bool), 1) if future is None else future(T)
    s = np.where(forbidden, fill, s)
    w = softmax(s, axis)
    return w @ v, w


def attention_unscaled(q, k, v):
    return _attention(q, k, v, scale=1.0)


def attention_scaled_by_d(q, k, v):
    return _attention(q, k, v, scale=q.shape[-1])


def attention_mask_inverted(q, k, v):
    """Forbids the past instead of the future."""
    return _attention(q, k, v, future=lambda T: np.tril(np.ones((T, T), dtype=bool), -1))


def attention_mask_with_zero(q, k, v):
    """Forbidden scores set to 0: they still get weight after the softmax."""
    return _attention(q, k, v, fill=0.0)


def attention_mask_multiplied(q, k, v):
    """Scores multiplied by a 0/1 mask: the same mistake, written differently."""
    T = q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) * np.tril(np.ones((T, T)))
    w = softmax(s)
    return w @ v, w


def attention_softmax_over_queries(q, k, v):
    T = q.shape[-2]
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    s = np.where(np.triu(np.ones((T, T), dtype=bool), 1), -1e300, s)
    w = softmax(s, axis=-2)
    return w @ v, w


def attention_no_mask(q, k, v):
    return _attention(q, k, v, future=lambda T: np.zeros((T, T), dtype=bool))


def attention_mask_excludes_self(q, k, v):
    """Query t sees keys 0..t-1 only (NaN for t = 0)."""
    return _attention(q, k, v, future=lambda T: np.triu(np.ones((T, T), dtype=bool), 0))


def attention_weights_transposed(q, k, v):
    out, w = RIGHT.causal_attention(q, k, v)
    return out, np.swapaxes(w, -1, -2)


# ---- Task 2: heads ------------------------------------------------------------------------------
def split_without_transpose(x, num_heads):
    B, T, E = x.shape
    return x.reshape(B, num_heads, T, E // num_heads)


def split_interleaved(x, num_heads):
    """Head h gets features h, h + H, h + 2H, ...: every H-th feature instead of a block."""
    B, T, E = x.shape
    return x.reshape(B, T, E // num_heads, num_heads).transpose(0, 3, 1, 2)


def split_swapped_axes(x, num_heads):
    """Transposes to (B, H, D, T) and then reshapes that to (B, H, T, D): right shape, scrambled values."""
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(0, 2, 3, 1).reshape(B, num_heads, T, E // num_heads)


def merge_without_transpose(x):
    B, H, T, D = x.shape
    return x.reshape(B, T, H * D)


def merge_interleaved(x):
    B, H, T, D = x.shape
    return x.transpose(0, 2, 3, 1).reshape(B, T, H * D)


# ---- Task 3: multi-head attention ---------------------------------------------------------------
def _mha(x, W, b, Wo, bo, H, order=(0, 1, 2), heads=True, average=True, out_proj=True, bias=True):
    chunks = np.split(x @ W.T + (b if bias else 0), 3, axis=-1)
    q, k, v = (chunks[i] for i in order)
    if heads:
        out, w = RIGHT.causal_attention(*(RIGHT.split_heads(a, H) for a in (q, k, v)))
        out = RIGHT.merge_heads(out)
        w = w.mean(axis=1) if average else w
    else:
        out, w = RIGHT.causal_attention(q, k, v)
    return (out @ Wo.T + bo if out_proj else out), w


def mha_key_query_swapped(*a):
    return _mha(*a, order=(1, 0, 2))


def mha_single_head(*a):
    """Attention over all E features at once, scaled by sqrt(E)."""
    return _mha(*a, heads=False)


def mha_weights_per_head(*a):
    return _mha(*a, average=False)


def mha_no_out_proj(*a):
    return _mha(*a, out_proj=False)


def mha_no_in_bias(*a):
    return _mha(*a, bias=False)


def mha_untransposed_projection(x, W, b, Wo, bo, H):
    """x @ W[:E] style with (in, out) matrices: x @ Wq instead of x @ Wq.T."""
    E = x.shape[-1]
    q, k, v = (x @ W[i * E:(i + 1) * E] + b[i * E:(i + 1) * E] for i in range(3))
    out, w = RIGHT.causal_attention(*(RIGHT.split_heads(a, H) for a in (q, k, v)))
    return RIGHT.merge_heads(out) @ Wo.T + bo, w.mean(axis=1)


def mha_heads_interleaved(x, W, b, Wo, bo, H):
    q, k, v = np.split(x @ W.T + b, 3, axis=-1)
    out, w = RIGHT.causal_attention(*(split_interleaved(a, H) for a in (q, k, v)))
    return merge_interleaved(out) @ Wo.T + bo, w.mean(axis=1)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("causal_attention", attention_unscaled, "differs"),
    ("causal_attention", attention_scaled_by_d, "differs"),
    ("causal_attention", attention_mask_inverted, "differs"),
    ("causal_attention", attention_mask_with_zero, "differs"),
    ("causal_attention", attention_mask_multiplied, "differs"),
    ("causal_attention", attention_softmax_over_queries, "differs"),
    ("causal_attention", attention_no_mask, "differs"),
    ("causal_attention", attention_mask_excludes_self, "out "),
    ("causal_attention", attention_weights_transposed, "weights differs"),
    ("split_heads", split_without_transpose, "differs"),
    ("split_heads", split_interleaved, "differs"),
    ("split_heads", split_swapped_axes, "differs"),
    ("merge_heads", merge_without_transpose, "differs"),
    ("merge_heads", merge_interleaved, "differs"),
    ("multihead_attention", mha_key_query_swapped, "differs"),
    ("multihead_attention", mha_single_head, "differs"),
    ("multihead_attention", mha_weights_per_head, "weights has shape"),
    ("multihead_attention", mha_no_out_proj, "out differs"),
    ("multihead_attention", mha_no_in_bias, "differs"),
    ("multihead_attention", mha_untransposed_projection, "differs"),
    ("multihead_attention", mha_heads_interleaved, "differs"),
])


def test_the_mask_mistakes_leave_weight_on_the_future():
    """What the check catches for the 0-mask: nonzero weights above the diagonal (the solution has none)."""
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 2, 5, 4))
    assert np.all(np.triu(RIGHT.causal_attention(q, k, v)[1], 1) == 0)
    for wrong in (attention_mask_with_zero, attention_mask_multiplied, attention_no_mask):
        assert np.triu(wrong(q, k, v)[1], 1).max() > 0.01


def test_split_heads_matches_torch_multihead_attention_per_head():
    """The head layout of the solution is nn.MultiheadAttention's: its per-head weights (average=False)."""
    torch.manual_seed(0)
    B, T, E, H = 2, 5, 12, 3
    mha = nn.MultiheadAttention(E, H, batch_first=True).double()
    x = torch.randn(B, T, E, dtype=torch.float64)
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    _, per_head = mha(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)
    q, k, v = np.split(x.numpy() @ mha.in_proj_weight.detach().numpy().T + mha.in_proj_bias.detach().numpy(), 3, -1)
    ours = RIGHT.causal_attention(*(RIGHT.split_heads(a, H) for a in (q, k, v)))[1]
    np.testing.assert_allclose(ours, per_head.detach().numpy(), rtol=1e-9, atol=1e-12)
    theirs = split_interleaved(q, H)
    assert not np.allclose(RIGHT.causal_attention(theirs, split_interleaved(k, H), split_interleaved(v, H))[1],
                           per_head.detach().numpy())


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.causal_attention, attention_mask_with_zero, "causal_attention")
    assert "Test case" in message and "check.hint('causal_attention')" in message
    args = check.failing_case("causal_attention")
    assert np.abs(attention_mask_with_zero(*args)[1] - RIGHT.causal_attention(*args)[1]).max() > 0
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "np." not in text and "return" not in text          # nudges, no code



# ---- Task 4: the outcome task -------------------------------------------------------------------

class _Reverser(nn.Module):
    def __init__(self, positions=True):
        super().__init__()
        self.embed = nn.Embedding(10, 32)
        self.position = nn.Parameter(0.1 * torch.randn(8, 32)) if positions else None
        self.block = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, digits):
        h = self.embed(digits)
        return self.head(self.block(h + self.position if self.position is not None else h))


def _fit(model, X, Y, epochs):
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    for _ in range(epochs):
        for idx in torch.randperm(len(Xt)).split(64):
            loss = nn.functional.cross_entropy(model(Xt[idx]).flatten(0, 1), Yt[idx].flatten())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def untrained(X, Y, seed=0):
    torch.manual_seed(seed)
    return _Reverser()


def without_positions(X, Y, seed=0):
    """Trained, but without any positional information: attention sees a set, and reversal is impossible."""
    torch.manual_seed(seed)
    return _fit(_Reverser(positions=False), X, Y, epochs=3)


def flat_scores(X, Y, seed=0):
    class Flat(_Reverser):
        def forward(self, digits):
            return super().forward(digits).flatten(1)
    return Flat()


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (untrained, "the target is"),
                                           (without_positions, "the target is"), (flat_scores, "one score per digit"),
                                           (lambda X, Y, seed=0: None, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.reverse_outcome, wrong, message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.reverse_outcome(RIGHT.train_reverser, seed=seed)
    assert "reached validation accuracy" in capsys.readouterr().out
