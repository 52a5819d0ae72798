"""Checks for the exercises of chapter 07 (residual networks).

The block checks compare the student's function with PyTorch's autograd (float64) on random inputs; the
parameter count is compared with the hand-written ResNets of chapter 07 (``dlcourse.resnet``, equal to
torchvision's), with basic and bottleneck blocks; the outcome task trains the student's deep network on
the 16x16 digits and measures its validation accuracy.
"""
from __future__ import annotations

import numpy as np

from . import check_outcome, CheckFailed, failing_case, hint, model_scores, run_check, trained_model

__all__ = ["residual_forward", "residual_backward", "resnet_num_parameters", "digits_resnet_outcome",
           "hint", "failing_case"]

DIGITS_TARGET = 0.95          # validation accuracy of the outcome task
DIGITS_MIN_DEPTH = 20         # 3x3 (or larger) convolutions + linear layers, as He et al. count depth


def _torch_residual(x, W1, b1, W2, b2, P, grad_out=None):
    """h = s(x) + relu(x W1^T + b1) W2^T + b2 with s(x) = x (P None) or x P^T; with grad_out also the grads."""
    import torch

    ts = [torch.tensor(a, requires_grad=True) for a in (x, W1, b1, W2, b2)]
    xt, W1t, b1t, W2t, b2t = ts
    Pt = None if P is None else torch.tensor(P, requires_grad=True)
    fx = torch.relu(xt @ W1t.T + b1t) @ W2t.T + b2t
    h = fx + (xt if Pt is None else xt @ Pt.T)
    if grad_out is None:
        return h.detach().numpy()
    h.backward(torch.tensor(grad_out))
    return tuple(t.grad.numpy() for t in ts + [Pt])


def _block_case(rng, projection: bool):
    N = int(rng.choice([1, int(rng.integers(2, 7))]))
    d_in, d_hidden = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    d_out = int(rng.integers(1, 7)) if projection else d_in
    if projection and d_out == d_in and rng.random() < 0.7:
        d_out = d_in + 1                                  # mostly a real change of width
    x, W1, b1 = rng.normal(size=(N, d_in)), rng.normal(size=(d_hidden, d_in)), rng.normal(size=d_hidden)
    W2, b2 = rng.normal(size=(d_out, d_hidden)), rng.normal(size=d_out)
    P = rng.normal(size=(d_out, d_in)) if projection else None
    return N, d_out, (x, W1, b1, W2, b2, P)


def residual_forward(student, seed: int = 0) -> None:
    """Check ``residual_forward(x, W1, b1, W2, b2, P) -> h`` (P None: identity shortcut)."""
    rng = np.random.default_rng(seed)
    cases = [_block_case(rng, projection=k % 2 == 1)[2] for k in range(20)]
    run_check("residual_forward", student, _torch_residual, cases, arg_names=("x", "W1", "b1", "W2", "b2", "P"),
              rtol=1e-9, atol=1e-12,
              hints=("The block is two things added: the branch F(x) (two linear layers with a ReLU between "
                     "them, nothing after the second) and the shortcut s(x). Which one does the failing case "
                     "get wrong? Compare your output with F(x) alone.",
                     "The shortcut is x itself only when P is None; otherwise it is the projection of x by P "
                     "(shape (N, D_out)), as a linear layer without bias. No ReLU after the sum in this task."))


def residual_backward(student, seed: int = 0) -> None:
    """Check ``residual_backward(x, W1, b1, W2, b2, P, grad_out) -> (grad_x, dW1, db1, dW2, db2, dP)``."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(20):
        N, d_out, args = _block_case(rng, projection=True)
        cases.append(args + (rng.normal(size=(N, d_out)),))
    run_check("residual_backward", student, _torch_residual, cases,
              arg_names=("x", "W1", "b1", "W2", "b2", "P", "grad_out"),
              out_names=("grad_x", "grad_W1", "grad_b1", "grad_W2", "grad_b2", "grad_P"), rtol=1e-9, atol=1e-12,
              hints=("Every gradient has the shape of its variable. The upstream gradient goes into both "
                     "branches unchanged; backpropagate it through each branch separately, as in chapter 03 "
                     "for a linear layer and a ReLU.",
                     "x is used twice (by the first linear layer of F and by the shortcut), so grad_x is the sum "
                     "of the two paths' gradients. The shortcut is a linear layer without bias: its weight "
                     "gradient has P's shape (D_out, D_in)."))


def _reference_count(layers, widths, num_classes, in_channels, bottleneck=False):
    from ..resnet import Bottleneck as _Bottleneck
    from ..resnet import ResNet as _ResNet

    model = _ResNet(list(layers), tuple(widths), num_classes, in_channels, block=_Bottleneck if bottleneck else None)
    return int(sum(p.numel() for p in model.parameters()))


def resnet_num_parameters(student, seed: int = 0) -> None:
    """Check ``resnet_num_parameters(layers, widths, num_classes, in_channels, bottleneck) -> int``
    (torchvision's layout, basic or bottleneck blocks)."""
    rng = np.random.default_rng(seed)
    cases = [((2, 2, 2, 2), (64, 128, 256, 512), 1000, 3, False),   # ResNet-18 for ImageNet: 11,689,512
             ((3, 4, 6, 3), (64, 128, 256, 512), 1000, 3, True),    # ResNet-50: 25,557,032
             ((3, 4, 6, 3), (64, 128, 256, 512), 10, 3, False)]     # ResNet-34
    for k in range(12):
        stages = int(rng.integers(1, 5))
        layers = tuple(int(v) for v in rng.integers(1, 4, size=stages))
        widths = tuple(int(v) for v in np.sort(rng.integers(1, 17, size=stages)))
        cases.append((layers, widths, int(rng.integers(1, 12)), int(rng.integers(1, 4)), k % 2 == 1))
    run_check("resnet_num_parameters", student, _reference_count, cases,
              arg_names=("layers", "widths", "num_classes", "in_channels", "bottleneck"), rtol=0, atol=0,
              hints=("Count layer by layer, as torchvision builds the network: the stem, every block of every "
                     "stage, the projection shortcuts, the classifier. Convolutions here have no bias; a batch "
                     "norm layer has a learned weight and bias per channel (its running statistics are buffers, "
                     "not parameters).",
                     "A stage outputs expansion * widths[i] channels (expansion 1 for basic, 4 for bottleneck "
                     "blocks), and the next stage and the classifier take that many as input. A block gets a "
                     "projection whenever its stride is 2 or its input channels differ from its output "
                     "channels: with bottleneck blocks that includes the first block of stage 1."))


def _depth(model) -> int:
    """3x3 (or larger) convolutions plus linear layers: the depth He et al. quote (1x1 projections not counted;
    1x1 convolutions on the main path of a bottleneck are counted)."""
    import torch

    depth = 0
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear):
            depth += 1
        elif isinstance(m, torch.nn.Conv2d) and "downsample" not in name and "shortcut" not in name:
            depth += 1
    return depth


def digits_resnet_outcome(student, seed: int = 0) -> None:
    """Train with ``student(X_train, y_train, seed)`` on the 16x16 digits (chapter 07's split) and require a
    network at least ``DIGITS_MIN_DEPTH`` layers deep to reach ``DIGITS_TARGET`` validation accuracy."""
    import torch

    from .. import data
    from ..train import accuracy

    name = "train_digits_resnet"
    split = data.load_digits(size=16, flatten=False, val_size=0.2)
    hints = ("At this depth a plain stack of conv layers trains slowly (chapter 07's degradation experiment); "
             "shortcuts and batch norm make the difference. The chapter's recipe (SGD with momentum, a cosine "
             "schedule) is a good start.",
             "A CIFAR-style ResNet of depth 6n+2 with narrow stages (the chapter's cifar_resnet) fits the "
             "budget; keep the chapter's optimiser recipe and shorten the cosine schedule to your epoch count.")
    model = trained_model(name, student, split.X_train, split.y_train, seed)
    depth = _depth(model)
    if depth < DIGITS_MIN_DEPTH:
        raise CheckFailed(f"{name}: your network is {depth} layers deep (convolutions and linear layers, "
                          f"projections not counted); the task asks for at least {DIGITS_MIN_DEPTH}.")
    scores = model_scores(model, split.X_val)
    check_outcome(name, accuracy(scores, split.y_val), DIGITS_TARGET, what="validation accuracy", hints=hints)
