"""Checks for the exercises of chapter 14 (scaling up).

``saved_bytes`` is compared with a private count of the tensors autograd saves for backward
(``torch.autograd.graph.saved_tensors_hooks``, one count per storage address) on models where the same tensor
is saved twice (tanh's output is also the next layer's input; a layer used twice), with float32 and float64
tensors. ``average_gradients`` is compared with the gradient that ONE process computes on the union of the
workers' batches, with unequal batch sizes. ``checkpointed_mlp`` must give the output and every gradient of
the plain forward pass, and save no more bytes than ``checkpoint_sequential``. The outcome task fine-tunes
a network pretrained (here, once per process, in a few seconds) on a synthetic stroke-classification task.
"""
from __future__ import annotations

import copy
import functools

import numpy as np

from . import call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["saved_bytes", "average_gradients", "checkpointed_mlp", "finetune_outcome", "hint", "failing_case"]


def _torch():
    import torch

    return torch


# ---- saved_bytes --------------------------------------------------------------------------------
def _count_saved(fn, *inputs):
    torch = _torch()
    sizes: dict[int, int] = {}

    def pack(t):
        address = t.data_ptr()
        sizes[address] = max(sizes.get(address, 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*inputs)                                  # kept alive: no saved storage is freed and reused
    del out
    return int(sum(sizes.values()))


def _named(obj, text):
    """``obj`` with a one-line repr (so that failure messages stay short); still a full nn.Module."""
    obj.__class__ = type(type(obj).__name__, (type(obj),), {"__repr__": lambda self: text})
    return obj


class _Fn:
    """A plain function as a test case, printed as its formula."""

    def __init__(self, fn, text):
        self.fn, self.text = fn, text

    def __call__(self, *args):
        return self.fn(*args)

    def __repr__(self):
        return self.text


def _twice(width, dtype):
    """A layer applied twice (shared weights): its weight is saved twice, one storage."""
    torch = _torch()
    nn = torch.nn

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(width, width)

        def forward(self, x):
            return self.layer(torch.relu(self.layer(x)))
    return _named(Twice().to(dtype), f"Twice(one Linear {width}->{width} applied twice, ReLU between)")


def _saved_cases(rng):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(int(rng.integers(2**31)))
    f32, f64 = torch.float32, torch.float64
    x = lambda *shape, dtype=f32, grad=False: torch.randn(*shape, dtype=dtype).requires_grad_(grad)
    seq = lambda *m, text: _named(nn.Sequential(*m), text)
    return [
        (seq(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3), text="Sequential(Linear 8->16, ReLU, Linear 16->3)"),
         x(5, 8)),
        (seq(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 2),
             text="Sequential(Linear 6->12, Tanh, Linear 12->12, Tanh, Linear 12->2) float64").double(),
         x(7, 6, dtype=f64, grad=True)),
        (seq(nn.Linear(10, 20), nn.Sigmoid(), nn.Linear(20, 4), text="Sequential(Linear 10->20, Sigmoid, Linear 20->4)"),
         x(3, 10)),
        (_twice(9, f64), x(4, 9, dtype=f64)),
        (seq(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5),
             text="Sequential(Conv2d 2->4 3x3, BatchNorm2d, ReLU, Flatten, Linear 144->5)"), x(3, 2, 6, 6)),
        (_Fn(lambda a: (a * a).sum(), "lambda a: (a * a).sum()"), x(5, 4, grad=True)),      # a saved twice
        (_Fn(lambda a, b: (a @ b).tanh().sum(), "lambda a, b: (a @ b).tanh().sum()"),
         x(3, 4, dtype=f64, grad=True), x(4, 6, dtype=f64, grad=True)),
        (_Fn(lambda a: 2 * a + 1, "lambda a: 2 * a + 1"), x(4, 4)),        # nothing needs a gradient: 0 bytes
    ]


def saved_bytes(student, seed: int = 0) -> None:
    """Check ``saved_bytes(fn, *inputs)`` -> int: the bytes of the distinct tensors that autograd saves for
    backward while ``fn(*inputs)`` runs (counted with ``saved_tensors_hooks``, one per ``data_ptr``)."""
    cases = _saved_cases(np.random.default_rng(seed + 1))
    run_check("saved_bytes", student, _count_saved, cases, rtol=0, atol=0, arg_names=("fn", "input"),
              hints=("torch.autograd.graph.saved_tensors_hooks(pack, unpack) is a context manager: inside it, "
                     "every tensor an operation saves for backward passes through pack (which must give back "
                     "something unpack can turn back into the tensor: the tensor itself will do). Run fn "
                     "inside it and look at what arrives. Parameters count only when an operation saves them.",
                     "The same storage can arrive several times (tanh saves its output, and the next Linear "
                     "saves that same tensor as its input): keep a dict keyed by t.data_ptr(). The size in "
                     "bytes of a tensor is its number of elements times t.element_size(); the answer is an int."))


# ---- average_gradients --------------------------------------------------------------------------
def _gradient(model, X, y):
    torch = _torch()
    loss = torch.nn.functional.cross_entropy(model(X), y)                  # the mean over this batch
    return [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def _ddp_cases(rng):
    """Per case: (grads_per_worker, batch_sizes) and the gradient of the mean loss over the union."""
    torch = _torch()
    nn = torch.nn
    cases, expected = [], []
    for i in range(8):
        workers = 1 if i == 0 else int(rng.integers(2, 5))
        sizes = [5] * workers if i == 1 else [int(s) for s in rng.integers(1, 9, size=workers)]
        torch.manual_seed(int(rng.integers(2**31)))
        model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
        X = torch.from_numpy(rng.normal(size=(sum(sizes), 4)))
        y = torch.from_numpy(rng.integers(0, 3, size=sum(sizes)))
        bounds = np.cumsum([0] + sizes)
        grads = [_gradient(model, X[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        cases.append((grads, sizes))
        expected.append(_gradient(model, X, y))                            # ONE process, the whole batch
    return cases, expected


def average_gradients(student, seed: int = 0) -> None:
    """Check ``average_gradients(grads_per_worker, batch_sizes)`` -> list of tensors against the gradient
    that a single process computes for the mean loss over the union of all the workers' batches."""
    cases, expected = _ddp_cases(np.random.default_rng(seed + 2))
    answers = iter(expected)
    run_check("average_gradients", student, lambda *args: next(answers), cases, rtol=1e-9, atol=1e-12,
              arg_names=("grads_per_worker", "batch_sizes"),
              hints=("Each worker's gradient is the gradient of the MEAN loss over its own batch. The goal is "
                     "the gradient of the mean loss over all the samples of all the workers, as if one process "
                     "had seen them all. Write that mean loss as a sum over samples and regroup it by worker.",
                     "A worker with twice as many samples must weigh twice as much: turn each worker's mean "
                     "back into a sum (multiply by its batch size), add the workers up, divide by the total "
                     "number of samples. Do it for each parameter, in the same order."))


# ---- checkpointed_mlp ---------------------------------------------------------------------------
def _mlp(rng, depth, width, dtype):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(int(rng.integers(2**31)))
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    kind = str(dtype).replace("torch.", "")
    return _named(nn.Sequential(*layers).to(dtype), f"Sequential({depth} x (Linear {width}->{width}, Tanh)) {kind}")


def _reference_checkpointed(layers, x, segments):
    from torch.utils.checkpoint import checkpoint_sequential

    return checkpoint_sequential(layers, segments, x, use_reentrant=False)


def _forward_and_backward(fn):
    """fn(layers, x, segments) -> (output, x.grad, [parameter grads]) after backward of a fixed random
    weighting of the output (the same for the student and the reference)."""
    torch = _torch()

    @functools.wraps(fn)
    def run(layers, x, segments):
        x = x.detach().clone().requires_grad_(True)
        out = fn(layers, x, segments)
        weights = torch.randn(tuple(out.shape), generator=torch.Generator().manual_seed(0), dtype=out.dtype)
        (out * weights).sum().backward()
        missing = [name for name, p in [("x", x), *layers.named_parameters()] if p.grad is None]
        if missing:
            raise RuntimeError(f"no gradient reached {', '.join(missing)}: the graph from x to the output is cut")
        return out.detach(), x.grad, [p.grad for p in layers.parameters()]
    return run


def checkpointed_mlp(student, seed: int = 0) -> None:
    """Check ``checkpointed_mlp(layers, x, segments)``: the output and every gradient (input and parameters)
    equal those of ``layers(x)``, and fewer bytes are saved for backward than without checkpointing (no more
    than ``checkpoint_sequential(layers, segments, x, use_reentrant=False)`` saves)."""
    torch = _torch()
    rng = np.random.default_rng(seed + 3)
    cases = []
    for i in range(6):
        depth = int(rng.integers(2, 7))
        segments = 1 if i == 0 else int(rng.integers(2, depth + 1))
        dtype = torch.float64 if i % 2 else torch.float32
        width = int(rng.integers(3, 9))
        cases.append((_mlp(rng, depth, width, dtype), torch.randn(int(rng.integers(1, 6)), width, dtype=dtype),
                      segments))
    hints = ("torch.utils.checkpoint.checkpoint_sequential runs an nn.Sequential in `segments` pieces and keeps "
             "only the input of each piece; backward recomputes the activations inside a piece. Pass "
             "use_reentrant=False. The result must be the same function of x, with the same gradients.",
             "Do not detach or wrap anything in torch.no_grad(): gradients must flow back to x and to every "
             "parameter. Use the number of segments you are given (with 1 segment nothing is checkpointed: "
             "the last segment always runs normally).")
    run_check("checkpointed_mlp", _forward_and_backward(student), _forward_and_backward(_reference_checkpointed),
              cases, rtol=1e-6, atol=1e-9, arg_names=("layers", "x", "segments"),
              out_names=("the output", "x.grad", "the parameter gradients"), hints=hints, quiet=True)
    layers = _mlp(rng, 12, 64, torch.float32)
    x = torch.randn(128, 64)
    for segments in (2, 4):
        plain = _count_saved(lambda z: layers(z), x)
        reference = _count_saved(lambda z: _reference_checkpointed(layers, z, segments), x)
        ours = _count_saved(lambda z: call_student("checkpointed_mlp", student, layers, z, segments), x)
        if ours > reference:
            from . import _FAILING
            _FAILING["checkpointed_mlp"] = (copy.deepcopy(layers), x.clone(), segments)
            raise CheckFailed(f"checkpointed_mlp: right output and gradients, but with {segments} segments of a "
                              f"12-layer MLP your forward saves {ours:,} bytes for backward, "
                              f"{'at least as many as' if ours >= plain else 'more than'} without checkpointing would "
                              f"({plain:,}); checkpoint_sequential saves {reference:,}."
                              f"\n  `check.hint('checkpointed_mlp')` gives a hint.")
    print(f"\u2714 checkpointed_mlp: correct on {len(cases)} random cases, and saves {ours:,} bytes instead of "
          f"{plain:,} with {segments} segments")


# ---- the outcome task: fine-tuning a pretrained network -----------------------------------------
STROKE_CLASSES, FINETUNE_PER_CLASS, FINETUNE_TARGET = 20, 10, 0.85


def strokes(n: int, seed: int):
    """``n`` synthetic 8x8 images (N, 1, 8, 8) float32 in [0, 1]: each of ``STROKE_CLASSES`` classes is a
    fixed figure of three straight strokes, drawn shifted by up to one pixel, with jitter and noise."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(12345).uniform(0, 7, size=(STROKE_CLASSES, 3, 2, 2))  # fixed figures
    y = rng.integers(0, STROKE_CLASSES, n)
    X = np.zeros((n, 1, 8, 8), np.float32)
    t = np.linspace(0, 1, 16)[:, None]
    shift = rng.integers(-1, 2, size=(n, 2))
    for i in range(n):
        for a, b in templates[y[i]]:
            r, c = np.clip(np.round(a + t * (b - a) + shift[i] + rng.normal(scale=0.3, size=2)), 0, 7).astype(int).T
            X[i, 0, r, c] = 1.0
    return np.clip(X + rng.normal(scale=0.05, size=X.shape), 0, 1).astype(np.float32), y.astype(np.int64)


@functools.cache
def _pretrained():
    torch = _torch()
    nn = torch.nn
    X, y = strokes(6000, 0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(),
                              nn.Linear(64, STROKE_CLASSES))
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        order = torch.Generator().manual_seed(0)
        for _ in range(4):
            for idx in torch.randperm(len(Xt), generator=order).split(32):
                loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return model.eval()


def pretrained_network():
    """A fresh copy of the CNN pretrained on :func:`strokes` (20 classes; trained once per process, ~4 s):
    ``nn.Sequential(conv 16, ReLU, conv 32, ReLU, max-pool, flatten, Linear 512->64, ReLU, Linear 64->20)``."""
    return copy.deepcopy(_pretrained())


@functools.cache
def finetune_data():
    """The small digits subset (10 per class, from the training part) and the validation digits:
    (X, y, X_val, y_val), images (N, 1, 8, 8) in [0, 1]."""
    from ..data import load_digits

    d = load_digits(flatten=False, val_size=0.2, seed=0)
    rng = np.random.default_rng(0)
    idx = np.concatenate([rng.choice(np.flatnonzero(d.y_train == c), FINETUNE_PER_CLASS, replace=False)
                          for c in range(10)])
    return d.X_train[idx], d.y_train[idx], d.X_val, d.y_val


def finetune_outcome(student, seed: int = 0) -> None:
    """Call ``student(pretrained_network(), X, y, seed)`` with the 100 digits of :func:`finetune_data` and
    require the returned model's accuracy on the validation digits to reach the target."""
    torch = _torch()
    from ..train import accuracy

    name = "fine_tune"
    X, y, X_val, y_val = finetune_data()
    hints = ("The pretrained network ends in a Linear layer with 20 outputs, one per stroke class: replace it "
             "by a new Linear layer with 10 outputs (its input size stays 64), then train on the 100 digits.",
             "The new head starts from random weights, the rest from useful ones: Adam at about 3e-3, "
             "minibatches of 32 and about 60 epochs over the 100 digits take about a second. Return "
             "the model in eval() mode.")
    model = call_student(name, student, pretrained_network(), X, y, seed)
    if not isinstance(model, torch.nn.Module):
        raise CheckFailed(f"{name} should return the fine-tuned torch.nn.Module, got {type(model).__name__}")
    model.eval()
    with torch.no_grad():
        scores = model(torch.as_tensor(X_val))
    if tuple(scores.shape) != (len(X_val), 10):
        raise CheckFailed(f"{name}: your model maps {tuple(X_val.shape)} digits to scores of shape "
                          f"{tuple(scores.shape)}; expected ({len(X_val)}, 10), ten class scores per digit.")
    check_outcome(name, accuracy(scores.numpy(), y_val), FINETUNE_TARGET, hints=hints)
