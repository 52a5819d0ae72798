"""Twin tests of chapter 12's attention: scaled_dot_product_attention (+ attention_backward) and
MultiheadAttention of dlcourse.numpy_nn against torch.nn.functional.scaled_dot_product_attention and
torch.nn.MultiheadAttention, forward and backward, in float64, on random configurations (self- and
cross-attention, batch_first both ways, unbatched inputs, batch size 1, causal, boolean, additive and padding
masks, bias off), weights copied with load_state_dict; plus the error messages."""
import zlib

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse import numpy_nn as nnp

N_CONFIGS = 25
TOL = 1e-11


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))       # the same configurations in every process


def _assert_small(errors, what):
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, f"{what}: " + ", ".join(f"{k} differs by {v:.1e}" for k, v in bad.items())


def test_sdpa_matches_torch():
    rng = _rng("sdpa")
    kinds = set()
    for config in range(N_CONFIGS):
        lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(0, 3))))   # (), (B,), (B, H)
        L, S, E, Ev = (int(n) for n in rng.integers(1, 8, size=4))
        kind = ["none", "bool", "float", "causal"][config % 4]
        if kind == "causal":
            S = L
        q, k, v = rng.normal(size=lead + (L, E)), rng.normal(size=lead + (S, E)), rng.normal(size=lead + (S, Ev))
        kw = {}
        if kind == "bool":
            mask = rng.random((L, S)) < 0.6
            mask[np.arange(L), rng.integers(0, S, L)] = True       # every query sees at least one key
            kw["attn_mask"] = mask
        elif kind == "float":
            kw["attn_mask"] = rng.normal(size=(L, S))
        elif kind == "causal":
            kw["is_causal"] = True
        kinds.add(kind)
        _assert_small(nnp.sdpa_twin_errors(q, k, v, rng=rng, **kw), f"config {config}: {lead}, L={L}, S={S}, {kind}")
    assert kinds == {"none", "bool", "float", "causal"}


def _mha_config(rng, config):
    H = int(rng.integers(1, 4))
    E = H * int(rng.integers(1, 5))
    N = 1 if config % 5 == 0 else int(rng.integers(2, 4))
    L, S = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    return dict(E=E, H=H, N=N, L=L, S=S, batch_first=bool(config % 2), bias=config % 3 != 1,
                self_attention=config % 4 == 0, unbatched=config % 7 == 3,
                mask=["none", "causal", "padding", "float", "both"][config % 5])


@pytest.mark.parametrize("config", range(N_CONFIGS))
def test_multihead_attention_matches_torch(config):
    rng = _rng(f"mha{config}")
    c = _mha_config(rng, config)
    E, H, N, L, S = c["E"], c["H"], c["N"], c["L"], c["S"]
    if c["self_attention"] or c["mask"] in ("causal", "both"):
        S = L
    shape = (lambda n: (n, E)) if c["unbatched"] else (lambda n: (N, n, E)) if c["batch_first"] else (lambda n: (n, N, E))
    x_q = rng.normal(size=shape(L))
    x_k = x_q if c["self_attention"] else rng.normal(size=shape(S))
    x_v = x_q if c["self_attention"] else rng.normal(size=shape(S))
    kpm = attn = None
    if c["mask"] in ("causal", "both"):
        attn = np.triu(np.ones((L, S), bool), 1)                  # True = blocked, as nn.MultiheadAttention
    if c["mask"] == "float":
        attn = rng.normal(size=(N * H, L, S)) if not c["unbatched"] else rng.normal(size=(L, S))
    if c["mask"] in ("padding", "both") and not c["unbatched"]:
        kpm = np.zeros((N, S), bool)
        kpm[:, 1:] = rng.random((N, S - 1)) < 0.4                 # key 0 is never padding
    ours = nnp.MultiheadAttention(E, H, bias=c["bias"], batch_first=c["batch_first"])
    theirs = nn.MultiheadAttention(E, H, bias=c["bias"], batch_first=c["batch_first"])
    assert sorted(ours.params) == sorted(theirs.state_dict())
    errors = nnp.attention_twin_errors(ours, theirs, x_q, x_k, x_v, key_padding_mask=kpm, attn_mask=attn, rng=rng)
    expected = {"output", "weights", "grad_query", "grad_key", "grad_value", "grad_in_proj_weight", "grad_out_proj.weight"}
    if c["bias"]:
        expected |= {"grad_in_proj_bias", "grad_out_proj.bias"}
    assert set(errors) == expected
    _assert_small(errors, f"config {config}: {c}")


def test_self_attention_gradient_is_the_sum_of_the_three():
    rng = _rng("self")
    x = rng.normal(size=(5, 2, 8))
    theirs = nn.MultiheadAttention(8, 2).double()
    ours = nnp.MultiheadAttention(8, 2)
    ours.load_state_dict(theirs.state_dict())
    xt = torch.tensor(x, requires_grad=True)
    out_t, _ = theirs(xt, xt, xt)
    g = rng.normal(size=out_t.shape)
    out_t.backward(torch.tensor(g))
    ours(x, x, x)
    assert np.abs(sum(ours.backward(g)) - xt.grad.numpy()).max() < TOL


def test_weights_sum_to_one_and_padding_gets_none():
    mha = nnp.MultiheadAttention(6, 3, batch_first=True, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(2, 4, 6))
    kpm = np.array([[False, False, True, True], [False, False, False, False]])
    _, w = mha(x, x, x, key_padding_mask=kpm)
    assert w.shape == (2, 4, 4)
    assert np.allclose(w.sum(-1), 1) and np.all(w[0, :, 2:] == 0)


def test_initialisation_like_torch():
    mha = nnp.MultiheadAttention(32, 4, rng=np.random.default_rng(0))
    bound = np.sqrt(6 / (32 + 96))
    assert mha.params["in_proj_weight"].shape == (96, 32) and np.abs(mha.params["in_proj_weight"]).max() <= bound
    assert np.all(mha.params["in_proj_bias"] == 0) and np.all(mha.params["out_proj.bias"] == 0)
    assert "bias" not in repr(nnp.MultiheadAttention(4, 2, bias=False).params)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="embed_dim"):
        nnp.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="num_heads"):
        nnp.MultiheadAttention(8, 0)
    mha = nnp.MultiheadAttention(8, 2)
    x = np.zeros((3, 2, 8))
    with pytest.raises(ValueError, match="query"):
        mha(np.zeros((3, 2, 7)), x, x)
    with pytest.raises(ValueError, match="value"):
        mha(x, x, np.zeros((4, 2, 8)))
    with pytest.raises(ValueError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="attn_mask"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="key"):
        nnp.scaled_dot_product_attention(np.zeros((3, 4)), np.zeros((3, 5)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="is_causal"):
        nnp.scaled_dot_product_attention(x, x, x, attn_mask=np.ones((2, 2), bool), is_causal=True)
