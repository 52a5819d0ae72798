"""Checks for the exercises of chapter 05 (regularization).

The three layer tasks extend what the chapter printed to new cases and are compared with PyTorch in
float64: channel dropout (``torch.nn.Dropout2d``'s rule, with the random numbers given), layer
normalization (``F.layer_norm`` and autograd) and batch norm folded into the linear layer before it
(``nn.Linear`` followed by ``nn.BatchNorm1d`` in eval mode). The outcome task trains the student's
regularized network on the chapter's 200 training digits and measures its validation cross-entropy.
"""
from __future__ import annotations

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["dropout2d_forward_backward", "layernorm_forward_backward", "fold_batchnorm", "regularized_outcome",
           "hint", "failing_case"]

#: the outcome task's target: validation cross-entropy of a network trained on the chapter's 200 digits
OUTCOME_TARGET = 0.22


# ---- Task 1: channel dropout ----------------------------------------------------------------------
def _torch_dropout2d(x, grad_out, p, u):
    """Channel dropout with the keep decisions u >= p (one per example and channel), through autograd."""
    import torch

    xt = torch.tensor(x, requires_grad=True)
    keep = torch.from_numpy(u >= p)[:, :, None, None]                       # (N, C, 1, 1)
    y = torch.where(keep, xt / (1 - p), torch.zeros_like(xt))
    y.backward(torch.tensor(grad_out))
    return y.detach().numpy(), xt.grad.numpy()


def dropout2d_forward_backward(student, seed: int = 0) -> None:
    """Check ``dropout2d_forward_backward(x, grad_out, p, u) -> (y, grad_x)`` for x of shape (N, C, H, W)
    and u of shape (N, C): a whole channel of an example is kept where u >= p."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(16):
        N, C, H, W = [(1, 3, 2, 2), (4, 5, 3, 3), (2, 1, 4, 3), (3, 4, 1, 5)][k % 4]
        p = [0.5, 0.2, 0.75, 0.0][(k // 4) % 4] if k < 14 else float(rng.uniform(0.05, 0.95))
        cases.append((rng.normal(size=(N, C, H, W)), rng.normal(size=(N, C, H, W)), p, rng.random((N, C))))
    run_check("dropout2d_forward_backward", student, _torch_dropout2d, cases,
              arg_names=("x", "grad_out", "p", "u"), out_names=("y", "grad_x"), rtol=1e-12, atol=1e-12,
              hints=("One random number per example and channel decides for the whole H x W map. Give the "
                     "(N, C) mask two trailing axes of length 1 so that it broadcasts over H and W.",
                     "Same rule as the chapter's Dropout: the survivors are scaled so that E[y] = x, and the "
                     "backward pass multiplies by exactly the mask and factor of the forward pass."))


# ---- Task 2: layer normalization ------------------------------------------------------------------
def _torch_layernorm(x, gamma, beta, grad_out, eps):
    import torch
    import torch.nn.functional as F

    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    y = F.layer_norm(xt, (x.shape[1],), gt, bt, eps=eps)
    y.backward(torch.tensor(grad_out))
    return y.detach().numpy(), xt.grad.numpy(), gt.grad.numpy(), bt.grad.numpy()


def layernorm_forward_backward(student, seed: int = 0) -> None:
    """Check ``layernorm_forward_backward(x, gamma, beta, grad_out, eps) -> (y, grad_x, grad_gamma,
    grad_beta)`` for x of shape (N, D), normalised over D."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(16):
        N, D = [(1, 4), (5, 3), (8, 6), (3, 7)][k % 4]                   # N != D except by design: (1, 4) has N=1
        x = rng.normal(loc=rng.normal(size=(N, 1)) * 3, scale=rng.uniform(0.3, 4, size=(N, 1)), size=(N, D))
        cases.append((x, rng.normal(size=D), rng.normal(size=D), rng.normal(size=(N, D)),
                      float([1e-5, 1e-3, 0.1][k % 3])))
    run_check("layernorm_forward_backward", student, _torch_layernorm, cases,
              arg_names=("x", "gamma", "beta", "grad_out", "eps"),
              out_names=("y", "grad_x", "grad_gamma", "grad_beta"), rtol=1e-8, atol=1e-10,
              hints=("Layer norm is batch norm with the roles of the axes exchanged: the mean and variance "
                     "belong to one example (a row), over its D features; gamma and beta still have one entry "
                     "per feature.",
                     "The backward pass is the chapter's batch-norm formula with every mean taken along the "
                     "feature axis instead of the batch axis (keep the dimensions so that it broadcasts); "
                     "grad_gamma and grad_beta still sum over the examples."))


# ---- Task 3: folding batch norm into the linear layer before it -------------------------------------
def _torch_fold(W, b, gamma, beta, running_mean, running_var, eps):
    import torch

    scale = torch.tensor(gamma) / torch.sqrt(torch.tensor(running_var) + eps)        # (out,)
    W_folded = torch.tensor(W) * scale[:, None]
    b_folded = (torch.tensor(b) - torch.tensor(running_mean)) * scale + torch.tensor(beta)
    return W_folded.numpy(), b_folded.numpy()


def _fold_cases(rng, n=14):
    cases = []
    for k in range(n):
        d_in, d_out = [(3, 5), (6, 2), (1, 4), (4, 1)][k % 4]
        cases.append((rng.normal(size=(d_out, d_in)), rng.normal(size=d_out), rng.normal(size=d_out),
                      rng.normal(size=d_out), rng.normal(size=d_out) * 2, rng.uniform(0.1, 5, size=d_out),
                      float([1e-5, 1e-3, 0.5][k % 3])))
    return cases


def _check_fold_agrees_with_torch(cases):
    """The reference itself: the folded layer equals nn.Linear + nn.BatchNorm1d in eval mode."""
    import torch

    for W, b, gamma, beta, mean, var, eps in cases[:3]:
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        bn = torch.nn.BatchNorm1d(W.shape[0], eps=eps).double().eval()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(W))
            lin.bias.copy_(torch.tensor(b))
            bn.weight.copy_(torch.tensor(gamma))
            bn.bias.copy_(torch.tensor(beta))
            bn.running_mean.copy_(torch.tensor(mean))
            bn.running_var.copy_(torch.tensor(var))
            x = torch.randn(5, W.shape[1], dtype=torch.float64)
            Wf, bf = _torch_fold(W, b, gamma, beta, mean, var, eps)
            assert torch.allclose(bn(lin(x)), x @ torch.tensor(Wf).T + torch.tensor(bf))


def fold_batchnorm(student, seed: int = 0) -> None:
    """Check ``fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps) -> (W_folded, b_folded)``:
    one linear layer equal to Linear(W, b) followed by BatchNorm1d in eval mode."""
    cases = _fold_cases(np.random.default_rng(seed))
    _check_fold_agrees_with_torch(cases)
    run_check("fold_batchnorm", student, _torch_fold, cases,
              arg_names=("W", "b", "gamma", "beta", "running_mean", "running_var", "eps"),
              out_names=("W_folded", "b_folded"), rtol=1e-10, atol=1e-12,
              hints=("In eval mode batch norm is a fixed affine map per output unit j: y_j = s_j * z_j + t_j. "
                     "Write s_j and t_j with the running statistics, then substitute z = x W^T + b.",
                     "Row j of W produces unit j, so s_j rescales row j (not column j); the bias collects "
                     "everything that does not multiply x. Return new arrays."))


# ---- Task 4: outcome ---------------------------------------------------------------------------------
def _chapter_split():
    """The chapter's 200 training digits and its 270 validation digits, (N, 64) float32."""
    from .. import data

    split = data.load_digits(val_size=0.2, seed=0)
    small = np.random.default_rng(0).permutation(len(split.X_train))[:200]
    return split.X_train[small], split.y_train[small], split.X_val, split.y_val


def regularized_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X, y, seed) -> predict`` on the chapter's 200 digits; ``predict(X)`` maps
    (N, 64) float32 images to (N, 10) scores. Its validation cross-entropy must reach the target."""
    name = "train_regularized"
    X, y, X_val, y_val = _chapter_split()
    hints = ("Plain training of a big network on 200 images ends near 0.28 here, far too confident. Use what "
             "the chapter measured to help most with so few images.",
             "A small CNN on the 8 x 8 pictures with random shifts of one pixel, drawn per image in every "
             "epoch, gets well below the target in about 60 epochs; evaluate in eval mode.")
    predict = call_student(name, student, X.copy(), y.copy(), seed)
    if not callable(predict):
        raise CheckFailed(f"{name} should return a function predict(X) -> scores, got {type(predict).__name__}")
    scores = predict(X_val.copy())
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(X_val), 10):
        raise CheckFailed(f"{name}: predict maps the {len(X_val)} validation images to scores of shape "
                          f"{scores.shape}, expected ({len(X_val)}, 10)")
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(len(y_val)), y_val].mean())
    check_outcome(name, loss, OUTCOME_TARGET, higher_is_better=False, what="validation cross-entropy", hints=hints)
