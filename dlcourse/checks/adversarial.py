"""Checks for the exercises of chapter 13 (saliency and adversarial examples).

The attacks are compared with private PyTorch references on small float64 models that contain dropout and
are handed over in training mode (an attack must evaluate the model in ``eval()`` mode), on inputs in [0, 1]
with pixels exactly at 0 and 1 (so that a missing clip shows). The occlusion map is compared with a private
NumPy reference on images whose size the stride does not divide (so that patches missing the border show)
and with overlapping patches (so that a wrong average shows). The outcome task trains the student's robust
digits CNN and measures its accuracy under the check's own PGD attack.
"""
from __future__ import annotations

import functools

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["fgsm", "pgd", "occlusion_map", "robust_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


# ---- the private references ---------------------------------------------------------------------
def _input_gradient_sign(model, x, y):
    torch = _torch()
    x = x.detach().clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


def _reference_fgsm(model, x, y, epsilon):
    model.eval()
    return (x + epsilon * _input_gradient_sign(model, x, y)).clamp(0, 1).detach()


def _reference_pgd(model, x, y, epsilon, alpha, steps):
    torch = _torch()
    model.eval()
    low, high = (x - epsilon).clamp(min=0), (x + epsilon).clamp(max=1)   # the L-inf ball around x, inside [0, 1]
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = torch.minimum(torch.maximum(x_adv + alpha * _input_gradient_sign(model, x_adv, y), low), high)
    return x_adv.detach()


# ---- the test models and inputs -----------------------------------------------------------------
def _model(rng, kind):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(int(rng.integers(2**31)))
    if kind == 0:
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.Tanh(), nn.Dropout(0.4), nn.Linear(24, 10))
    else:
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.Flatten(),
                              nn.Linear(4 * 64, 10))
    text = ("Sequential(Flatten, Linear 64->24, Tanh, Dropout 0.4, Linear 24->10)" if kind == 0 else
            "Sequential(Conv2d 1->4 3x3, ReLU, Dropout 0.3, Flatten, Linear 256->10)")
    model = model.double().train()                         # handed over in training mode, on purpose
    model.__class__ = type("Sequential", (nn.Sequential,), {"__repr__": lambda self: f"{text} float64, train mode"})
    return model


def _images(rng, B):
    torch = _torch()
    x = rng.uniform(0, 1, size=(B, 1, 8, 8))
    x[rng.uniform(size=x.shape) < 0.25] = 0.0              # digits have many black pixels ...
    x[rng.uniform(size=x.shape) < 0.1] = 1.0               # ... and some saturated ones
    return torch.from_numpy(x), torch.from_numpy(rng.integers(0, 10, size=B))


_MODE_HINT = ("Dropout is active in training mode: call model.eval() before computing the gradient, or the "
              "attack uses a different, random network.")


def fgsm(student, seed: int = 0) -> None:
    """Check ``fgsm(model, x, y, epsilon)`` (x: (B, 1, 8, 8) in [0, 1], y: (B,) labels) against a PyTorch
    reference: ``x + epsilon * sign(d loss / d x)`` with the mean cross-entropy of the model in eval mode,
    clipped to [0, 1]."""
    rng = np.random.default_rng(seed + 1)
    cases = []
    for i in range(8):
        x, y = _images(rng, int(rng.integers(1, 6)))
        cases.append((_model(rng, i % 2), x, y, float(rng.choice([0.05, 0.1, 0.3]))))
    run_check("fgsm", student, _reference_fgsm, cases, rtol=1e-9, atol=1e-12,
              arg_names=("model", "x", "y", "epsilon"),
              hints=("The attack moves every pixel by exactly epsilon, in the direction that INCREASES the "
                     "loss of the true label: only the sign of the loss gradient with respect to the input "
                     "image matters, not its size. The result must still be a valid image. " + _MODE_HINT,
                     "Make a copy of x that requires grad, compute the cross-entropy of the model's scores "
                     "against y, and take its gradient with respect to that copy (torch.autograd.grad), not "
                     "with respect to the weights. Step, then clamp to [0, 1], and return a detached tensor."))


def pgd(student, seed: int = 0) -> None:
    """Check ``pgd(model, x, y, epsilon, alpha, steps)`` against a PyTorch reference: ``steps`` FGSM steps
    of size ``alpha`` from x itself (no random start), each followed by the projection onto the L-inf ball
    of radius ``epsilon`` around the ORIGINAL x and onto [0, 1]."""
    rng = np.random.default_rng(seed + 2)
    cases = []
    for i in range(8):
        x, y = _images(rng, int(rng.integers(1, 6)))
        epsilon = float(rng.choice([0.05, 0.1, 0.2]))
        steps = int(rng.integers(1, 4)) if i == 0 else int(rng.integers(4, 9))
        alpha = epsilon * (1.5 if i == 3 else float(rng.choice([0.4, 0.6])))     # one step larger than epsilon
        cases.append((_model(rng, i % 2), x, y, epsilon, alpha, steps))
    run_check("pgd", student, _reference_pgd, cases, rtol=1e-9, atol=1e-12,
              arg_names=("model", "x", "y", "epsilon", "alpha", "steps"),
              hints=("PGD repeats small FGSM steps of size alpha (the gradient sign taken at the CURRENT "
                     "adversarial image), but after every step it pulls the image back: no pixel may end up "
                     "more than epsilon away from the ORIGINAL image, nor outside [0, 1]. " + _MODE_HINT,
                     "Keep the original x untouched; the allowed range of every pixel is from max(x - epsilon, "
                     "0) to min(x + epsilon, 1), fixed for all steps. Clamp the iterate into it after each "
                     "step (torch.maximum / torch.minimum take tensors as bounds)."))


# ---- occlusion ----------------------------------------------------------------------------------
def _positions(size, patch, stride):
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)                        # one more patch flush with the border
    return starts


def _reference_occlusion(predict_fn, image, patch, stride, baseline):
    C, H, W = image.shape
    base = float(predict_fn(image[None])[0])
    total, count = np.zeros((H, W)), np.zeros((H, W))
    for top in _positions(H, patch, stride):
        for left in _positions(W, patch, stride):
            occluded = image.copy()
            occluded[:, top:top + patch, left:left + patch] = baseline
            total[top:top + patch, left:left + patch] += base - float(predict_fn(occluded[None])[0])
            count[top:top + patch, left:left + patch] += 1
    return total / count


def _softmax_probability(W, b, label):
    """A fixed 'network': softmax(W @ flat(image) + b), returning the probability of `label`, (N,)."""
    def predict_fn(images):
        images = np.asarray(images, dtype=np.float64)
        scores = images.reshape(len(images), -1) @ W.T + b
        scores = scores - scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return (p / p.sum(axis=1, keepdims=True))[:, label]
    return _Predict(predict_fn, f"<softmax classifier: probability of class {label}>")


class _Predict:
    """A predict_fn printed in one line."""

    def __init__(self, fn, text):
        self.fn, self.text = fn, text

    def __call__(self, images):
        return self.fn(images)

    def __repr__(self):
        return self.text


def occlusion_map(student, seed: int = 0) -> None:
    """Check ``occlusion_map(predict_fn, image, patch, stride, baseline)`` -> (H, W) against a NumPy
    reference: for every patch position (a grid of step ``stride``, plus one more row/column of patches
    flush with the bottom/right border when the stride does not reach it), the drop of
    ``predict_fn`` (probability of the true class) when the patch is set to ``baseline``; each pixel gets
    the average drop over the patches that cover it."""
    rng = np.random.default_rng(seed + 3)
    cases = []
    for i in range(10):
        C = 1 if i % 3 else 3
        H, W = int(rng.integers(6, 11)), int(rng.integers(6, 11))
        patch = int(rng.integers(2, 5))
        stride = patch if i == 0 else int(rng.integers(1, patch + 1))
        if i in (1, 2):
            stride = 2 if (H - patch) % 2 else 3                    # a stride that does not reach the border
            stride = min(stride, patch)
        image = rng.uniform(0, 1, size=(C, H, W))
        W_ = rng.normal(scale=0.5, size=(5, C * H * W))
        cases.append((_softmax_probability(W_, rng.normal(size=5), int(rng.integers(5))), image, patch, stride,
                      float(rng.choice([0.0, 0.5]))))
    run_check("occlusion_map", student, _reference_occlusion, cases, rtol=1e-9, atol=1e-12,
              arg_names=("predict_fn", "image", "patch", "stride", "baseline"),
              hints=("A pixel is important if hiding it LOWERS the probability of the true class: the map holds "
                     "p(original) - p(occluded), positive where the evidence was. Slide the patch over the "
                     "image; where the stride does not reach the bottom or right border, add one more patch "
                     "position flush with that border, so that every pixel is covered.",
                     "Patches overlap when the stride is smaller than the patch: keep two (H, W) arrays, the "
                     "sum of the drops of the patches covering each pixel and how many patches cover it, and "
                     "divide one by the other at the end. Copy the image before occluding it."))


# ---- the outcome task ---------------------------------------------------------------------------
ROBUST_EPSILON, ROBUST_ALPHA, ROBUST_STEPS, ROBUST_TARGET = 0.1, 0.025, 20, 0.75


@functools.cache
def robust_data():
    """The digits as (N, 1, 8, 8) images in [0, 1]: train (X, y) and validation (X_val, y_val)."""
    from ..data import load_digits

    d = load_digits(flatten=False, val_size=0.2, seed=0)
    return d.X_train, d.y_train, d.X_val, d.y_val


def robust_outcome(student, seed: int = 0) -> None:
    """Train the student's model with ``student(X, y, seed)`` on the digits' training part and require its
    accuracy on the validation digits attacked by PGD (epsilon 0.1, step 0.025, 20 steps, the reference
    attack of :func:`pgd`) to reach the target."""
    torch = _torch()
    from ..train import accuracy

    name = "train_robust"
    X, y, X_val, y_val = robust_data()
    hints = ("A normally trained CNN keeps high clean accuracy but loses much of it under attack. Adversarial "
             "training replaces (or joins) each minibatch with adversarial versions of it, made against the "
             "CURRENT model with your pgd at the same epsilon, so the model learns to resist exactly them.",
             "A few PGD steps per minibatch suffice (2 or 3 steps of size epsilon / 2); switch the model back "
             "to train() after the attack. A small CNN (16 and 32 channels), Adam at 2e-3, minibatches of 64 "
             "and about 20 epochs reach the target in well under 15 s.")
    model = call_student(name, student, X, y, seed)
    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"{name} should return the trained torch.nn.Module, got {type(model).__name__}")
    model.eval()
    parameter = next(model.parameters())
    xv = torch.as_tensor(X_val, device=parameter.device, dtype=parameter.dtype)
    yv = torch.as_tensor(y_val, device=parameter.device)
    with torch.no_grad():
        scores = model(xv)
    if tuple(scores.shape) != (len(X_val), 10):
        raise CheckFailed(f"{name}: your model maps {tuple(xv.shape)} images to {tuple(scores.shape)}; "
                          f"expected ({len(X_val)}, 10), ten class scores per image.")
    clean = accuracy(scores.detach().cpu().numpy(), y_val)
    attacked = _reference_pgd(model, xv, yv, ROBUST_EPSILON, ROBUST_ALPHA, ROBUST_STEPS)
    with torch.no_grad():
        robust = accuracy(model(attacked).cpu().numpy(), y_val)
    print(f"clean validation accuracy {clean:.3f}, under PGD (epsilon {ROBUST_EPSILON}) {robust:.3f}")
    check_outcome(name, robust, ROBUST_TARGET, what="validation accuracy under PGD", hints=hints)
