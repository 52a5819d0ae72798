# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · Backpropagation
#
# How a network learns which way to move each of its weights: the chain rule, applied backwards
# through the computation, reusing every intermediate result.
#
# ## Learning goals
#
# After this chapter you can
#
# - differentiate a small expression by the chain rule, and build a scalar autograd engine (~100 lines)
#   that does it for any expression;
# - derive the backward pass of a linear layer, an activation and the common losses in matrix form,
#   with the shape of every term, and implement them as the layers of `dlcourse.numpy_nn`;
# - check gradients two ways: against central differences and against `torch.autograd`;
# - train an MLP on the digits with minibatch SGD in NumPy and get **the same loss curve** as PyTorch;
# - measure vanishing and exploding gradients, and fix them with ReLU and He initialization.
#
# Lecture ideas covered: the chain rule reusing results, "the gradient of a sum is the sum of the
# gradients", the minibatch update (mean gradient × learning rate), saturation of sigmoid/tanh and
# vanishing gradients, exploding gradients from bad initialization, gradient clipping, ReLU and He
# initialization; the Xavier and He formulas, which the lectures do not give, are derived here.
#
# *Runs in ~40 s on a laptop CPU.*

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse import data, train
from dlcourse.train import accuracy
# the activation functions and their derivatives, and the stable log-softmax, written in chapter 02:
from dlcourse.numpy_nn import (elu, elu_grad, gelu, gelu_grad, leaky_relu, leaky_relu_grad, log_softmax, relu,
                               relu_grad, sigmoid, sigmoid_grad, silu, silu_grad, softplus, softplus_grad, tanh,
                               tanh_grad)

rng, device = dlcourse.setup(seed=0, threads=1)
SCALE = 1   # 1: the CPU-sized experiments whose claims are asserted below; 2+ (with a GPU): SCALE x more seeds
SEEDS = dlcourse.seeds(3 * SCALE)   # every repeated experiment runs over these seeds
print("PyTorch runs on:", device)

# %% [markdown]
# ## Intuition
#
# Training means lowering a loss $\mathcal{L}(\theta)$ by stepping against its gradient,
# $\theta \leftarrow \theta - \eta\, \nabla_\theta \mathcal{L}$. A network is a long composition of simple
# functions, so its gradient is a long product of simple derivatives, by the **chain rule**: if
# $y = f(u)$ and $u = g(x)$ then $\frac{dy}{dx} = \frac{dy}{du}\frac{du}{dx}$.
#
# The lecture's toy: $y = k\,x$ at $x = 2.5$, so $\frac{dy}{dx} = k$. A gradient step on $x$ with rate
# $1$ moves $x$ by $-k$, which moves $y$ by $\Delta y = k \cdot (-k) = -k^2$: for $k=1$, $x$ drops by 1
# and $y$ by 1; for $k = 0.5$, by $0.5$ and $0.25$; for $k = 0.1$, $y$ drops by $0.01$, i.e.
# $\Delta y = -0.01$. (One slide prints "$0.01$" for that last step: the sign is lost; $y$ goes *down*.)
# Small gradients mean small steps: keep that in mind for the vanishing-gradient section.

# %%
for k in (1.0, 0.5, 0.1):
    x0 = 2.5
    x1 = x0 - 1.0 * k                      # gradient step: dy/dx = k
    print(f"k = {k:<4} x: {x0} -> {x1:<5}  y: {k * x0:.3f} -> {k * x1:.3f}   change {k * x1 - k * x0:+.3f} = -k^2")

# %% [markdown]
# **Backpropagation** organises the chain rule for a whole network: one *forward* pass computes and
# stores every intermediate value; one *backward* pass, from the loss to the inputs, multiplies local
# derivatives, reusing each intermediate gradient for everything below it. Its cost is a small multiple
# of the forward pass, whatever the number of parameters. This reverse mode of differentiation was
# published by Linnainmaa (1970, for any computation written as a graph of elementary operations) and
# proposed for training neural networks by Werbos (1974 thesis, applied in 1982); Rumelhart, Hinton &
# Williams (1986) showed that it makes hidden layers learn useful representations, which made it the
# standard way to train networks.
#
# ## NumPy reference
#
# ### The chain rule on a tiny expression
#
# Take $L = \tanh(a\,b + c)$ with $a=2$, $b=-3$, $c=10$. Name the intermediates: $d = ab$, $e = d + c$,
# $L = \tanh(e)$. Backwards: $\frac{\partial L}{\partial e} = 1 - \tanh^2(e)$;
# the sum passes it on unchanged, $\frac{\partial L}{\partial c} = \frac{\partial L}{\partial d} = \frac{\partial L}{\partial e}$;
# the product swaps its inputs, $\frac{\partial L}{\partial a} = \frac{\partial L}{\partial d}\, b$ and
# $\frac{\partial L}{\partial b} = \frac{\partial L}{\partial d}\, a$.

# %%
a, b, c = 2.0, -3.0, 10.0
d = a * b                  # forward, keeping every intermediate
e = d + c
L = np.tanh(e)
dL_de = 1 - np.tanh(e) ** 2    # backward, from the output down
dL_dc = dL_dd = dL_de
dL_da, dL_db = dL_dd * b, dL_dd * a
print(f"L = {L:.6f};  dL/da = {dL_da:.6f}, dL/db = {dL_db:.6f}, dL/dc = {dL_dc:.6f}")

# %% [markdown]
# ### A scalar autograd engine
#
# Doing that by hand does not scale. Following Karpathy's *micrograd*, each number becomes a `Value`
# that remembers its inputs and a small closure `_backward` that pushes its gradient to them. Then
# `backward()` sorts the graph topologically and calls the closures from the output down. Note the
# `+=`: a value used twice receives the **sum** of the gradients from both uses (the gradient of a sum
# is the sum of the gradients).

# %%
#| export autograd
import math


class Value:
    """A scalar that remembers how it was computed, for reverse-mode differentiation.

    Attributes:
        data: the number. grad: dL/d(this value), filled by ``backward()`` on the output L.
        label: an optional name for drawings.
    """

    def __init__(self, data, children=(), op="", label=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(children)
        self.op = op
        self.label = label

    def __repr__(self):
        return f"Value({self.label + '=' if self.label else ''}{self.data:.4g}, grad={self.grad:.4g})"

    @staticmethod
    def _wrap(other):
        return other if isinstance(other, Value) else Value(other)

    def _unary(self, value, local_grad, op):
        """The result of a function of one input, y = f(self): its closure passes f'(self) * dL/dy down."""
        out = Value(value, (self,), op)

        def _backward():
            self.grad += local_grad * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1 - t * t, "tanh")

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e, "exp")

    def log(self):
        return self._unary(math.log(self.data), 1 / self.data, "log")

    def relu(self):
        return self._unary(max(self.data, 0.0), float(self.data > 0), "relu")

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data)) if self.data >= 0 else math.exp(self.data) / (1 + math.exp(self.data))
        return self._unary(s, s * (1 - s), "sigmoid")


# %% [markdown]
# A function of one input, $y = f(a)$, always has the same backward pass: $a$ receives
# $f'(a)\cdot\partial L/\partial y$. `_unary` builds that once; each nonlinearity only supplies its value
# and its local derivative (for tanh, $1 - \tanh^2$, as in the hand computation above).
#
# Operations with two inputs pass the gradient to both: the sum unchanged, the product times the *other*
# input. A power $a^k$ (with a plain number $k$) has the local derivative $k\,a^{k-1}$. We add these
# methods to the class in a new cell with `add_to_class`.

# %%
#| export autograd
from dlcourse import add_to_class


@add_to_class(Value)
def __add__(self, other):
    other = Value._wrap(other)
    out = Value(self.data + other.data, (self, other), "+")

    def _backward():                           # d(a+b)/da = d(a+b)/db = 1
        self.grad += out.grad
        other.grad += out.grad
    out._backward = _backward
    return out


@add_to_class(Value)
def __mul__(self, other):
    other = Value._wrap(other)
    out = Value(self.data * other.data, (self, other), "*")

    def _backward():                           # d(ab)/da = b, d(ab)/db = a
        self.grad += other.data * out.grad
        other.grad += self.data * out.grad
    out._backward = _backward
    return out


@add_to_class(Value)
def __pow__(self, k):
    if not isinstance(k, (int, float)):
        raise TypeError(f"Value ** k needs a number k, got {type(k).__name__}")
    out = Value(self.data ** k, (self,), f"**{k}")

    def _backward():                           # d(a^k)/da = k a^(k-1)
        self.grad += k * self.data ** (k - 1) * out.grad
    out._backward = _backward
    return out


# %% [markdown]
# The rest of arithmetic is written with the operations we have, $-a = (-1)\,a$, $a - b = a + (-b)$ and
# $a / b = a\,b^{-1}$, so it needs no backward pass of its own. The `r`-versions let a plain number stand
# on the left, as in `2 * a`.

# %%
#| export autograd
@add_to_class(Value)
def __neg__(self):
    return self * -1


@add_to_class(Value)
def __sub__(self, other):
    return self + (-Value._wrap(other))


@add_to_class(Value)
def __truediv__(self, other):
    return self * Value._wrap(other) ** -1


@add_to_class(Value)
def __rsub__(self, other):
    return Value._wrap(other) - self


@add_to_class(Value)
def __rtruediv__(self, other):
    return Value._wrap(other) / self


Value.__radd__ = Value.__add__                 # 2 + a is a + 2
Value.__rmul__ = Value.__mul__


# %% [markdown]
# Finally `backward()`. A value's closure may run only once its own gradient is complete, that is after
# the closures of *every* value computed from it. A topological order (inputs before the values computed
# from them), walked in reverse, guarantees exactly that.

# %%
#| export autograd
@add_to_class(Value)
def topological_order(self):
    """Every value this one depends on, inputs before the values computed from them."""
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for child in v._prev:
                visit(child)
            order.append(v)
    visit(self)
    return order


@add_to_class(Value)
def backward(self):
    """Fill ``.grad`` of every value in the graph with d(self)/d(value)."""
    order = self.topological_order()
    for v in order:
        v.grad = 0.0
    self.grad = 1.0
    for v in reversed(order):
        v._backward()


# %% [markdown]
# To look at a graph, `draw_graph` places every value in a column by its distance from the inputs and
# draws an arrow from each input to the value computed from it (plain matplotlib; no need to read it).

# %%
#| export autograd
def draw_graph(root, ax=None):
    """Draw the computational graph of ``root`` (a Value): inputs on the left, output on the right.

    Each box shows label, data and grad; the operation that produced a value is written above it.
    """
    import matplotlib.pyplot as plt

    order = root.topological_order()
    depth = {}
    for v in order:                                    # inputs have depth 0
        depth[id(v)] = 1 + max((depth[id(c)] for c in v._prev), default=-1)
    columns = {}
    for v in order:
        columns.setdefault(depth[id(v)], []).append(v)
    pos = {id(v): (d, -i + (len(col) - 1) / 2) for d, col in columns.items() for i, v in enumerate(col)}
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 * (max(columns) + 1), 1.1 * max(len(c) for c in columns.values()) + 1))
    for v in order:
        for child in v._prev:
            ax.annotate("", xy=pos[id(v)], xytext=pos[id(child)],
                        arrowprops=dict(arrowstyle="->", color="gray", shrinkA=28, shrinkB=28))
    for v in order:
        x, y = pos[id(v)]
        text = f"{v.label or ''}\n{v.data:.4g}\ngrad {v.grad:.4g}".strip()
        ax.text(x, y, text, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round", fc="#e8f0fe" if not v._prev else "#fff3e0", ec="gray"))
        if v.op:
            ax.text(x, y + 0.36, v.op, ha="center", fontsize=8, color="darkred")
    ax.set_xlim(-0.6, max(columns) + 0.6)
    ax.set_ylim(min(p[1] for p in pos.values()) - 0.6, max(p[1] for p in pos.values()) + 0.7)
    ax.axis("off")
    return ax


# %% [markdown]
# The same expression, now differentiated by the engine, and drawn (blue: inputs, orange: computed;
# each box shows the value and its gradient):

# %% mystnb={"image": {"alt": "Computation graph of L = tanh(a*b + c) with a = 2, b = -3, c = 10: input boxes a, b, c feed d = a*b = -6, then e = d + c = 4, then L = 0.9993; each box shows its value and its gradient, with grad 1 at L and small gradients at the inputs."}}
va, vb, vc = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
vd = va * vb
vd.label = "d"
ve = vd + vc
ve.label = "e"
vL = ve.tanh()
vL.label = "L"
vL.backward()
print(va, vb, vc, sep="\n")
draw_graph(vL)
plt.show()

# %% [markdown]
# ### Vectorized backprop: the layers of `dlcourse.numpy_nn`
#
# Scalars are far too slow for real networks: we differentiate whole matrices at once. Every layer
# has a `forward(x)` that remembers what it needs, and a `backward(grad_out)` that receives
# $G = \partial\mathcal{L}/\partial(\text{output})$, with the output's shape, stores the gradients of its
# parameters in `grads`, and returns $\partial\mathcal{L}/\partial(\text{input})$, with the input's shape.
# The names mirror `torch.nn` exactly (`Linear(in_features, out_features)`, parameters `"weight"` and
# `"bias"`), so that a NumPy layer can load a PyTorch layer's `state_dict` and be compared with it.
#
# **Linear layer.** Forward, for a batch $X \in \mathbb{R}^{N \times D_\text{in}}$:
# $Y = XW^\top + b$ with $W \in \mathbb{R}^{D_\text{out}\times D_\text{in}}$, $b\in\mathbb{R}^{D_\text{out}}$.
# Since $Y_{nj} = \sum_i X_{ni} W_{ji} + b_j$, the chain rule gives, with $G = \partial\mathcal{L}/\partial Y$
# of shape $(N, D_\text{out})$:
#
# $$ \frac{\partial\mathcal{L}}{\partial X} = G\,W \;\; (N\times D_\text{in}), \qquad
#    \frac{\partial\mathcal{L}}{\partial W} = G^\top X \;\; (D_\text{out}\times D_\text{in}), \qquad
#    \frac{\partial\mathcal{L}}{\partial b} = \textstyle\sum_n G_{n,:} \;\; (D_\text{out}). $$
#
# A useful sanity rule: every gradient has the shape of the thing it is the gradient of, and there is
# only one way to multiply the available matrices to get that shape. The sum over the batch in
# $\partial\mathcal{L}/\partial W$ and $\partial\mathcal{L}/\partial b$ is "the gradient of a sum is the
# sum of the gradients" again: the loss is a mean over examples.

# %%
#| export numpy_nn.core
from dlcourse.validate import check_input  # one line per layer: errors that name the argument


class Module:
    """Base class of the NumPy layers, mirroring ``torch.nn.Module``.

    A layer keeps its parameters in ``params`` (PyTorch's names, e.g. "weight", "bias"), fills
    ``grads`` (same names and shapes) in ``backward``, and remembers what its backward pass needs
    from the last ``forward``. ``layer(x)`` calls ``layer.forward(x)``. NumPy layers compute in the
    dtype of their parameters and input (float64 by default).
    """

    def __init__(self):
        self.params: dict = {}
        self.grads: dict = {}
        self.buffers: dict = {}
        self.training = True

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def train(self, mode: bool = True):
        """Set training mode (matters for dropout and batch norm); returns self."""
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def num_parameters(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""


# %% [markdown]
# A layer's `state_dict` maps PyTorch's names to copies of its arrays (parameters and buffers, such as
# batch norm's running statistics); `load_state_dict` takes arrays or tensors by the same names. This is
# how the twin checks below copy a PyTorch layer's weights into ours.

# %%
#| export numpy_nn.core
from dlcourse import add_to_class


@add_to_class(Module)
def state_dict(self) -> dict:
    """Copies of the parameters and buffers, by PyTorch name."""
    return {k: v.copy() for k, v in {**self.params, **self.buffers}.items()}


@add_to_class(Module)
def load_state_dict(self, state) -> None:
    """Load arrays or tensors, e.g. ``torch_layer.state_dict()``. Names and shapes must match;
    the arrays take the dtype of the values loaded (float64 tensors give float64 arrays).
    Create an optimizer *after* loading: loading replaces the parameter arrays."""
    own = {**self.params, **self.buffers}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise KeyError(f"{self!r}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
    for name, value in state.items():
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if value.shape != own[name].shape:
            raise ValueError(f"{self!r}.load_state_dict: {name!r} has shape {value.shape}, "
                             f"expected {own[name].shape}")
        (self.params if name in self.params else self.buffers)[name] = np.array(value)


# %% [markdown]
# The linear layer itself: its parameters are created like PyTorch's, its forward pass keeps the input
# for the backward pass, and the backward pass is the three formulas above, line by line. (`x` may have
# any number of leading axes; backward flattens them into one batch axis $N$.)

# %%
#| export numpy_nn.core
class Linear(Module):
    """y = x W^T + b, as ``torch.nn.Linear(in_features, out_features, bias=True)``.

    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,), initialised like
    PyTorch: uniform in [-1/sqrt(in_features), 1/sqrt(in_features)].
    Input (*, in_features) -> output (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float64, rng=None):
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            raise ValueError(f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}")
        self.in_features, self.out_features, self.has_bias = int(in_features), int(out_features), bias
        rng = np.random.default_rng(np.random.randint(2**31)) if rng is None else rng
        bound = 1 / np.sqrt(in_features)
        self.params["weight"] = rng.uniform(-bound, bound, size=(out_features, in_features)).astype(dtype)
        if bias:
            self.params["bias"] = rng.uniform(-bound, bound, size=out_features).astype(dtype)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}"

    def forward(self, x):
        x = check_input(self, x, self.in_features)
        self.x = x                                                  # (*, in) kept for backward
        y = x @ self.params["weight"].T                             # (*, out)
        return y + self.params["bias"] if self.has_bias else y

    def backward(self, grad_out):
        G = grad_out.reshape(-1, self.out_features)                 # (N, out), N = all leading axes
        X = self.x.reshape(-1, self.in_features)                    # (N, in)
        self.grads["weight"] = G.T @ X                              # (out, in)
        if self.has_bias:
            self.grads["bias"] = G.sum(axis=0)                      # (out,)
        return grad_out @ self.params["weight"]                     # (*, in)


# %% [markdown]
# **Activations.** An elementwise $Y = \sigma(X)$ has a diagonal Jacobian, so its backward pass is an
# elementwise product: $\partial\mathcal{L}/\partial X = G \odot \sigma'(X)$, same shape as $X$. The
# functions $\sigma$ and $\sigma'$ were written in chapter 02 (`sigmoid`, `sigmoid_grad`, ...); each
# layer only remembers its input. One class per activation, with PyTorch's names and arguments.

# %%
#| export numpy_nn.activations
class Activation(Module):
    """Elementwise activation layer: forward f(x), backward grad_out * f'(x); no parameters."""

    fn = staticmethod(lambda x: x)
    fn_grad = staticmethod(lambda x: np.ones_like(x))

    def kwargs(self) -> dict:
        return {}

    def extra_repr(self):
        return ", ".join(f"{k}={v}" for k, v in self.kwargs().items())

    def forward(self, x):
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{self!r} expects a numeric array, got dtype {x.dtype}")
        self.x = x
        return self.fn(x, **self.kwargs())

    def backward(self, grad_out):
        return grad_out * self.fn_grad(self.x, **self.kwargs())


class Sigmoid(Activation):
    fn, fn_grad = staticmethod(sigmoid), staticmethod(sigmoid_grad)


class Tanh(Activation):
    fn, fn_grad = staticmethod(tanh), staticmethod(tanh_grad)


class ReLU(Activation):
    fn, fn_grad = staticmethod(relu), staticmethod(relu_grad)


class GELU(Activation):
    fn, fn_grad = staticmethod(gelu), staticmethod(gelu_grad)


class SiLU(Activation):
    fn, fn_grad = staticmethod(silu), staticmethod(silu_grad)


# %% [markdown]
# Three activations take arguments, stored on the layer and handed to $\sigma$ and $\sigma'$ by `kwargs()`,
# with PyTorch's names and defaults:

# %%
#| export numpy_nn.activations
class LeakyReLU(Activation):
    fn, fn_grad = staticmethod(leaky_relu), staticmethod(leaky_relu_grad)

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def kwargs(self):
        return {"negative_slope": self.negative_slope}


class ELU(Activation):
    fn, fn_grad = staticmethod(elu), staticmethod(elu_grad)

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def kwargs(self):
        return {"alpha": self.alpha}


class Softplus(Activation):
    fn, fn_grad = staticmethod(softplus), staticmethod(softplus_grad)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def kwargs(self):
        return {"beta": self.beta, "threshold": self.threshold}


# %% [markdown]
# **Sequential.** A network is a list of layers: forward runs them in order, backward in reverse order,
# each layer's input gradient becoming the previous layer's output gradient. Parameters are collected
# under PyTorch's names, `"0.weight"`, `"0.bias"`, `"2.weight"`, ... The dictionaries `params` and
# `grads` hold the layers' own arrays, so an optimizer that updates `model.params[name]` in place
# updates the layer.

# %%
#| export numpy_nn.core
class Sequential(Module):
    """Layers applied in order, as ``torch.nn.Sequential(*layers)``."""

    def __init__(self, *layers):
        # No Module.__init__: params, grads and buffers are not dicts of their own here but properties
        # that collect the layers' dicts under PyTorch's names.
        bad = [type(l).__name__ for l in layers if not isinstance(l, Module)]
        if bad:
            raise TypeError(f"Sequential takes numpy_nn layers, got {bad}")
        self.layers = list(layers)
        self.training = True

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        return "Sequential(\n" + "\n".join(f"  ({i}): {l!r}" for i, l in enumerate(self.layers)) + "\n)"

    def _collect(self, attr):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in getattr(layer, attr).items()}

    @property
    def params(self):
        return self._collect("params")

    @property
    def grads(self):
        return self._collect("grads")

    @property
    def buffers(self):
        return self._collect("buffers")

    def train(self, mode: bool = True):
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out


# %% [markdown]
# Loading a `state_dict` into a `Sequential` hands each layer the entries under its prefix, without the
# prefix (`"2.weight"` becomes layer 2's `"weight"`):

# %%
#| export numpy_nn.core
@add_to_class(Sequential)
def load_state_dict(self, state) -> None:
    own = set(self.params) | set(self.buffers)
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise KeyError(f"Sequential.load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
    for i, layer in enumerate(self.layers):
        prefix = f"{i}."
        sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if sub:
            layer.load_state_dict(sub)


# %% [markdown]
# **Losses.** A loss maps (prediction, target) to a number and its backward returns
# $\partial\mathcal{L}/\partial(\text{prediction})$; `backward(grad_out=1.0)` scales it (the chain rule's
# last factor). All three use the mean over the batch, PyTorch's default.
#
# - **Mean squared error**, $\mathcal{L} = \frac{1}{M}\sum (\hat y - y)^2$ over all $M$ entries:
#   $\partial\mathcal{L}/\partial\hat y = \frac{2}{M}(\hat y - y)$.
# - **Softmax cross-entropy** on logits $Z \in \mathbb{R}^{N\times C}$ and integer labels: with
#   $P = \operatorname{softmax}(Z)$ row-wise and the (optionally smoothed) one-hot targets
#   $Q = (1-\varepsilon)\,\operatorname{onehot}(y) + \varepsilon/C$,
#   $\mathcal{L} = -\frac1N\sum_{n,c} Q_{nc}\log P_{nc}$ and, remarkably simply,
#   $\partial\mathcal{L}/\partial Z = \frac1N (P - Q)$. The log-probabilities come from chapter 02's
#   stable `log_softmax` (log-sum-exp), never from `log(softmax(z))`.
# - **Binary cross-entropy with logits** $z$ and targets $y\in[0,1]$:
#   $\ell = -[y\log\sigma(z) + (1-y)\log(1-\sigma(z))] = \max(z,0) - zy + \log(1+e^{-|z|})$ (stable form),
#   and $\partial\ell/\partial z = \sigma(z) - y$.

# %%
#| export numpy_nn.losses
class MSELoss:
    """Mean squared error, as ``torch.nn.MSELoss()``: forward(input, target) -> float."""

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        input, target = np.asarray(input), np.asarray(target)
        if input.shape != target.shape:
            raise ValueError(f"MSELoss: input shape {input.shape} and target shape {target.shape} differ")
        self.diff = input - target
        return float(np.mean(self.diff ** 2))

    def backward(self, grad_out=1.0):
        return grad_out * 2 * self.diff / self.diff.size


class CrossEntropyLoss:
    """Softmax cross-entropy on logits (N, C) and integer labels (N,), mean over the batch, as
    ``torch.nn.CrossEntropyLoss(label_smoothing=...)``."""

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        Z, y = np.asarray(input), np.asarray(target)
        if Z.ndim != 2:
            raise ValueError(f"CrossEntropyLoss expects logits of shape (N, C), got {Z.shape}")
        if y.shape != (Z.shape[0],) or y.dtype.kind not in "iu":
            raise ValueError(f"CrossEntropyLoss expects integer labels of shape ({Z.shape[0]},), "
                             f"got {y.dtype} array of shape {y.shape}")
        N, C = Z.shape
        if y.size and (y.min() < 0 or y.max() >= C):
            raise ValueError(f"CrossEntropyLoss: labels must be in [0, {C - 1}] for {C} classes, "
                             f"got values in [{y.min()}, {y.max()}]")
        eps = self.label_smoothing
        Q = np.full(Z.shape, eps / C, dtype=Z.dtype)                 # (N, C) smoothed one-hot targets
        Q[np.arange(N), y] += 1 - eps
        logP = log_softmax(Z, axis=1)                                # (N, C), stable
        self.P, self.Q = np.exp(logP), Q
        return float(-np.sum(Q * logP) / N)

    def backward(self, grad_out=1.0):
        return grad_out * (self.P - self.Q) / len(self.P)           # (N, C)


# %% [markdown]
# The binary cross-entropy keeps the logits and the targets; its backward pass is the one-line
# $\sigma(z) - y$, divided by the number of entries for the mean:

# %%
#| export numpy_nn.losses
class BCEWithLogitsLoss:
    """Binary cross-entropy on logits, mean over all entries, as ``torch.nn.BCEWithLogitsLoss()``."""

    def __call__(self, input, target):
        return self.forward(input, target)

    def forward(self, input, target):
        z, y = np.asarray(input), np.asarray(target)
        if z.shape != y.shape:
            raise ValueError(f"BCEWithLogitsLoss: input shape {z.shape} and target shape {y.shape} differ")
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"BCEWithLogitsLoss: targets must be in [0, 1], got values in [{y.min()}, {y.max()}]")
        self.z, self.y = z, y
        return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))

    def backward(self, grad_out=1.0):
        return grad_out * (sigmoid(self.z) - self.y) / self.z.size


# %% [markdown]
# ### Gradient checking with central differences
#
# Before trusting a backward pass, compare it with the definition of the derivative. The central
# difference $\frac{f(x + h) - f(x - h)}{2h}$ has error $O(h^2)$; with $h = 10^{-6}$ in float64 we can
# expect a **relative error** $\frac{\lVert g_\text{backprop} - g_\text{numeric}\rVert}{\lVert g_\text{backprop}\rVert + \lVert g_\text{numeric}\rVert}$
# around $10^{-9}$ or smaller; $10^{-4}$ or more means a bug (ReLU's kink can cause a rare exception
# when an input lies within $h$ of 0).

# %%
#| export gradcheck
import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Central-difference gradient of a scalar function.

    Args:
        f: function of no argument returning a float; it must read ``x`` (which is perturbed in place).
        x: float array, any shape.
        h: step.
    Returns:
        array of x's shape: (f(x + h e_i) - f(x - h e_i)) / (2h) for every entry i.
    """
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a, b):
    """|a - b| / (|a| + |b|) in the Euclidean norm (0 when both are 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0


# %% [markdown]
# A small network, $8 \to 5 \to 3$ with a tanh, and a cross-entropy loss on 4 examples: every parameter's
# backprop gradient against the numerical one.

# %%
net = Sequential(Linear(8, 5, rng=rng), Tanh(), Linear(5, 3, rng=rng))
X_small, y_small = rng.normal(size=(4, 8)), rng.integers(0, 3, size=4)
ce = CrossEntropyLoss()


def loss_small():
    return ce(net(X_small), y_small)


loss_small()
net.backward(ce.backward())
grad_errors = {name: relative_error(net.grads[name], numerical_gradient(loss_small, p)) for name, p in net.params.items()}
for name, err in grad_errors.items():
    print(f"{name:9s} relative error {err:.1e}")

# %% [markdown]
# ## Check against PyTorch
#
# The twin check: build the same layer in PyTorch, copy its weights into ours with `load_state_dict`,
# run both forward and backward on the same random input and upstream gradient, in float64, and
# compare the output, the input gradient and every parameter gradient (and every buffer: chapter 05's
# batch norm keeps running statistics). `dlcourse.parity` holds these functions. The test suite
# (`tests/test_numpy_nn.py`) does this for at least 25 random configurations per layer, batch size 1
# included; here one round per layer.

# %%
#| export parity
import numpy as np
import torch


def twin_errors(ours, theirs, x, grad_out=None, rng=None) -> dict:
    """Largest |difference| between a NumPy layer ``ours`` and its PyTorch twin ``theirs``, in float64.

    Copies the twin's weights into ours (``load_state_dict``), runs both forward on the same input ``x``
    and backward from the same upstream gradient ``grad_out`` (random, drawn from ``rng``, when not given),
    and compares the output, the input gradient, every parameter gradient and every buffer after the step
    (e.g. batch norm's running statistics), by PyTorch's names. Set both layers' mode (``train()`` or
    ``eval()``) before the call. Returns ``{"output": e, "grad_input": e, "grad_weight": e, ...}``.
    """
    theirs = theirs.double()
    ours.load_state_dict(theirs.state_dict())
    xt = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out_t = theirs(xt)
    out = ours(np.asarray(x, dtype=np.float64))
    if out.shape != tuple(out_t.shape):
        raise ValueError(f"{ours!r} returns shape {out.shape}, its twin {tuple(out_t.shape)}")
    if grad_out is None:
        grad_out = (np.random.default_rng(0) if rng is None else rng).normal(size=out.shape)
    theirs.zero_grad()
    out_t.backward(torch.as_tensor(grad_out, dtype=torch.float64))
    errors = {"output": np.abs(out - out_t.detach().numpy()).max(),
              "grad_input": np.abs(ours.backward(grad_out) - xt.grad.numpy()).max()}
    for name, p in theirs.named_parameters():
        if name not in ours.grads:
            raise KeyError(f"{ours!r} computed no gradient for {name!r} (it has {sorted(ours.grads)})")
        errors[f"grad_{name}"] = np.abs(ours.grads[name] - p.grad.numpy()).max()
    for name, b in theirs.named_buffers():
        errors[f"buffer_{name}"] = np.abs(ours.buffers[name] - b.numpy()).max()
    return errors


def loss_twin_errors(ours, theirs, z, y) -> dict:
    """The same for a loss: the value and the gradient with respect to the scores ``z``."""
    zt = torch.tensor(np.asarray(z, dtype=np.float64), requires_grad=True)
    value_t = theirs(zt, torch.as_tensor(y))
    value_t.backward()
    return {"output": abs(ours(z, y) - value_t.item()),
            "grad_input": np.abs(ours.backward() - zt.grad.numpy()).max()}


def assert_twins(ours, theirs, x, tol=1e-10, **kwargs) -> dict:
    """``twin_errors`` that raises AssertionError naming the first quantity off by more than ``tol``."""
    errors = twin_errors(ours, theirs, x, **kwargs)
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f"{ours!r} differs from its PyTorch twin: " + ", ".join(f"{k} by {v:.1e}" for k, v in bad.items())
    return errors

# %% [markdown]
# Every layer of this chapter against its twin, and every loss:

# %%
twins = [(Linear(7, 4), nn.Linear(7, 4)), (Sigmoid(), nn.Sigmoid()), (Tanh(), nn.Tanh()),
         (ReLU(), nn.ReLU()), (LeakyReLU(0.1), nn.LeakyReLU(0.1)), (ELU(0.7), nn.ELU(0.7)),
         (GELU(), nn.GELU()), (SiLU(), nn.SiLU()), (Softplus(2.0), nn.Softplus(2.0)),
         (Sequential(Linear(7, 5), ReLU(), Linear(5, 7)),
          nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 7)))]
twin_error = {type(ours).__name__: max(twin_errors(ours, theirs, rng.normal(size=(6, 7)), rng=rng).values())
              for ours, theirs in twins}                         # input (6, 7): batch of 6, 7 features
print({k: f"{v:.0e}" for k, v in twin_error.items()})

losses_twins = [(MSELoss(), nn.MSELoss(), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))),
                (CrossEntropyLoss(), nn.CrossEntropyLoss(), rng.normal(size=(5, 4)), rng.integers(0, 4, 5)),
                (CrossEntropyLoss(label_smoothing=0.1), nn.CrossEntropyLoss(label_smoothing=0.1),
                 rng.normal(size=(5, 4)), rng.integers(0, 4, 5)),
                (BCEWithLogitsLoss(), nn.BCEWithLogitsLoss(), rng.normal(size=(5, 2)) * 5, rng.random((5, 2)))]
for ours, theirs, z, y in losses_twins:
    name = f"{type(ours).__name__}{'(smoothing)' if getattr(ours, 'label_smoothing', 0) else ''}"
    twin_error[name] = max(loss_twin_errors(ours, theirs, z, y).values())
print("largest difference over all layers and losses:", f"{max(twin_error.values()):.1e}")

# %% [markdown]
# ## PyTorch version
#
# ### NumPy and PyTorch train identically
#
# The strongest check of all: train an MLP $64 \to 32 \to 10$ (ReLU) on the digits with minibatch SGD,
# once with our NumPy layers and once with `torch.nn`, from **the same initial weights** (copied), on
# **the same minibatches** in the same order, with the same learning rate, in float64. The update is
# the lecture's: the mean gradient over the minibatch times the learning rate,
# $\theta \leftarrow \theta - \eta\,\frac{1}{B}\sum_{n \in \text{batch}} \nabla_\theta \ell_n$ (the mean is
# inside the loss).

# %% mystnb={"image": {"alt": "Left: minibatch loss over 200 SGD steps of the NumPy MLP and of the PyTorch MLP from the same weights; the two curves lie on top of each other. Right: their absolute difference on a log scale stays at rounding level, around 1e-16."}}
digits = data.load_digits(val_size=0.2, seed=0)
X_tr, y_tr = digits.X_train.astype(np.float64), digits.y_train            # (1077, 64), (1077,)
torch.manual_seed(0)
torch_mlp = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).double()
numpy_mlp = Sequential(Linear(64, 32), ReLU(), Linear(32, 10))
numpy_mlp.load_state_dict(torch_mlp.state_dict())                       # same initial weights

lr, batch_size, n_steps = 0.1, 32, 200
batch_rng = np.random.default_rng(0)
batches = [batch_rng.choice(len(X_tr), batch_size, replace=False) for _ in range(n_steps)]   # same order for both

numpy_losses, ce = [], CrossEntropyLoss()
for idx in batches:
    loss = ce(numpy_mlp(X_tr[idx]), y_tr[idx])            # forward
    numpy_mlp.backward(ce.backward())                     # backward: fills numpy_mlp.grads
    for name, p in numpy_mlp.params.items():
        p -= lr * numpy_mlp.grads[name]                   # SGD step, in place
    numpy_losses.append(loss)

torch_losses, opt, tce = [], torch.optim.SGD(torch_mlp.parameters(), lr=lr), nn.CrossEntropyLoss()
for idx in batches:
    loss = tce(torch_mlp(torch.from_numpy(X_tr[idx])), torch.from_numpy(y_tr[idx]))
    opt.zero_grad()
    loss.backward()
    opt.step()
    torch_losses.append(loss.item())

curve_diff = np.abs(np.array(numpy_losses) - np.array(torch_losses))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(numpy_losses, label="NumPy", lw=3, alpha=0.6)
axes[0].plot(torch_losses, "k--", label="PyTorch", lw=1)
axes[0].set(xlabel="SGD step", ylabel="minibatch loss", title="the same training, twice")
axes[0].legend()
axes[1].semilogy(np.maximum(curve_diff, 1e-18))
axes[1].set(xlabel="SGD step", ylabel="|loss difference|", title=f"max difference {curve_diff.max():.1e}")
fig.tight_layout()
plt.show()

# %% [markdown]
# The curves coincide to rounding error: our layers and PyTorch compute the same function and the same
# gradients, step after step.
#
# ### The idiomatic PyTorch version
#
# In practice we let autograd do the backward pass and let `dlcourse.train.fit` run the loop (the one
# written out in chapter 01), on `device`. The learning rate (SGD with momentum 0.9) is chosen on the
# validation split (first seed); then one model per seed in `SEEDS` (three) is trained and evaluated once
# on the test set.

# %%
def make_mlp(hidden=64):
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train_mlp(lr, seed, epochs=30, X=digits.X_train, y=digits.y_train):
    torch.manual_seed(seed)
    model = make_mlp().to(device)
    loader = data.to_loader(X, y, batch_size=32, seed=seed, device=device)
    train.fit(model, loader, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9),
              epochs=epochs, metrics={})
    return model


def model_accuracy(model, X, y):
    """Evaluate ``model`` on X, then the course's ``accuracy`` of its scores."""
    with torch.no_grad():
        return accuracy(model(torch.as_tensor(X, device=device)), y)


val_acc_by_lr = {lr: model_accuracy(train_mlp(lr, seed=SEEDS[0]), digits.X_val, digits.y_val)
                 for lr in (0.003, 0.03, 0.3)}
best_mlp_lr = max(val_acc_by_lr, key=val_acc_by_lr.get)
mlp_test_accs = [model_accuracy(train_mlp(best_mlp_lr, seed=s), digits.X_test, digits.y_test) for s in SEEDS]
print("validation accuracy by learning rate:", {k: round(float(v), 3) for k, v in val_acc_by_lr.items()})
print(f"lr = {best_mlp_lr}: test accuracy over {len(SEEDS)} seeds:", [round(float(a), 3) for a in mlp_test_accs])

# %% [markdown]
# **Timing** of one forward + backward pass of an MLP $1024 \to 1024 \to 1024 \to 10$ on a batch of 512:
# our NumPy layers, PyTorch on the CPU, and the GPU when there is one.

# %% tags=["nbval-ignore-output"]
from dlcourse.timing import best_time, print_timings, torch_training_step_times

dlcourse.set_threads(os.cpu_count())                 # a timing table uses every core
X_big, y_big = rng.normal(size=(512, 1024)).astype(np.float32), rng.integers(0, 10, 512)
big_np = Sequential(Linear(1024, 1024, dtype=np.float32), ReLU(), Linear(1024, 1024, dtype=np.float32),
                        ReLU(), Linear(1024, 10, dtype=np.float32))
ce_big = CrossEntropyLoss()


def numpy_step():                                     # forward, loss, backward (dL/dz from the loss)
    ce_big(big_np(X_big), y_big)
    big_np.backward(ce_big.backward())


timing = {"NumPy": best_time(numpy_step)}

big_t = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
Xt_big, yt_big = torch.from_numpy(X_big), torch.from_numpy(y_big)
timing.update(torch_training_step_times(big_t, Xt_big, yt_big))
print_timings(timing)
dlcourse.set_threads(1)                               # back to one thread for the small models below

# %% [markdown]
# ## Experiments
#
# ### Vanishing and exploding gradients
#
# Backprop multiplies one factor per layer. The sigmoid's derivative is at most $\tfrac14$, and tanh's is
# almost 0 once it saturates: $\tanh'(10) = 1 - \tanh^2(10) \approx 8.2\cdot 10^{-9}$. Multiply a dozen
# such factors, and the first layers receive almost no gradient: they **vanish**. The weights multiply
# in too: if each layer scales signals by more than 1 they **explode**.
#
# The cure is to keep the variance of the signal (forward) and of the gradient (backward) the same in
# every layer. For a linear layer with $n_\text{in}$ inputs and weights of variance $\mathrm{Var}(W)$,
# $\mathrm{Var}(y) = n_\text{in}\mathrm{Var}(W)\mathrm{Var}(x)$, which gives
#
# - **Xavier/Glorot** (2010), for tanh/sigmoid-like units near 0:
#   $\mathrm{Var}(W) = \frac{2}{n_\text{in} + n_\text{out}}$ (a compromise between forward and backward);
# - **He/Kaiming** (2015), for ReLU, which zeroes half of its inputs: $\mathrm{Var}(W) = \frac{2}{n_\text{in}}$
#   (it "scales by fan-in").
#
# We measure the gradient norm of every layer of an MLP with 13 hidden layers of 64 units (14 linear layers) at initialization, on a batch of
# 256 digits, with our own NumPy layers.

# %%
print(f"tanh'(10) = {1 - np.tanh(10.0) ** 2:.2e}")

# %%
#| export numpy_nn.core
def init_weights(model, scheme, rng, std=None):
    """Re-initialise every Linear layer of ``model`` (biases to 0).

    scheme: "normal" (N(0, std^2)), "xavier" (N(0, 2/(n_in + n_out))) or "he" (N(0, 2/n_in)).
    """
    for layer in getattr(model, "layers", [model]):
        if isinstance(layer, Linear):
            n_out, n_in = layer.params["weight"].shape
            s = {"normal": std, "xavier": np.sqrt(2 / (n_in + n_out)), "he": np.sqrt(2 / n_in)}.get(scheme)
            if s is None:
                raise ValueError(f"unknown scheme {scheme!r} (expected 'normal', 'xavier' or 'he'), or std missing")
            layer.params["weight"] = rng.normal(0, s, size=(n_out, n_in))
            if layer.has_bias:
                layer.params["bias"] = np.zeros(n_out)
    return model


# %% mystnb={"image": {"alt": "Gradient norm per layer of a 13-layer net at initialization, log scale: for sigmoid with N(0, 0.01) it falls about twenty orders of magnitude toward the input, less with Xavier; tanh+Xavier and ReLU+He stay flat, ReLU with N(0, 1) flat but huge."}}
def deep_mlp(activation, depth=13, width=64):
    """Linear(64, width) + activation, then depth-1 more hidden layers, then Linear(width, 10)."""
    layers = [Linear(64, width), activation()]
    for _ in range(depth - 1):
        layers += [Linear(width, width), activation()]
    return Sequential(*layers, Linear(width, 10))


configs = {"sigmoid, N(0, 0.01)": (Sigmoid, "normal", 0.01), "sigmoid, Xavier": (Sigmoid, "xavier", None),
           "sigmoid, N(0, 1)": (Sigmoid, "normal", 1.0), "tanh, Xavier": (Tanh, "xavier", None),
           "ReLU, He": (ReLU, "he", None),
           "ReLU, N(0, 1)": (ReLU, "normal", 1.0)}
X_batch, y_batch = digits.X_train[:256].astype(np.float64), digits.y_train[:256]


def layer_gradient_norms(activation, scheme, std, seed):
    """Norm of dL/dW for every Linear layer (input side first), at initialization."""
    model = init_weights(deep_mlp(activation), scheme, np.random.default_rng(seed), std)
    loss_fn = CrossEntropyLoss()
    with np.errstate(over="ignore"):
        loss_fn(model(X_batch), y_batch)
        model.backward(loss_fn.backward())
    return np.array([np.linalg.norm(model.grads[n]) for n in model.grads if n.endswith("weight")])


grad_norms = {name: [layer_gradient_norms(*cfg, seed=s) for s in SEEDS] for name, cfg in configs.items()}
ratio = {name: [g[0] / g[-2] for g in runs] for name, runs in grad_norms.items()}   # first / last hidden layer

fig, ax = plt.subplots(figsize=(7, 4))
for name, runs in grad_norms.items():
    ax.semilogy(range(1, len(runs[0]) + 1), runs[0], "o-", label=name)
ax.set(xlabel="layer (1 = input side)", ylabel="|dL/dW| at initialization", title="gradient norm per layer, 13 hidden layers")
ax.legend(fontsize=8)
plt.show()
for name, r in ratio.items():
    print(f"{name:<20} first/last hidden layer gradient norm: " + ", ".join(f"{v:.1e}" for v in r))

# %% [markdown]
# With sigmoid and small weights the first layer's gradient is some twenty orders of magnitude below the
# last one's: it will not learn. Xavier helps the sigmoid but not enough (its derivative is at most 1/4
# per layer); tanh with Xavier and ReLU with He keep all layers within a small factor.
#
# Sigmoid with $\mathcal{N}(0,1)$ weights loses only a factor of 10 to 20 over twelve layers. The
# sigmoid is steepest in the middle, so large weights do not help by avoiding flat regions (they push
# more units into them); they help by their **gain**: in the backward pass each layer multiplies the
# gradient by $W^\top$, whose entries have variance 1, so a vector of 64 entries grows by about
# $\sqrt{64} = 8$ in norm. That offsets the sigmoid's factor of at most $\tfrac14$ (smaller where units
# saturate), and the product per layer stays close to 1. Xavier's weights, of variance $2/128$, have a
# gain of about 1, so only the $\le\tfrac14$ remains.
#
# ReLU with $\mathcal{N}(0,1)$ weights has a first/last ratio of order 1, like He's, and yet it
# explodes. The ratio cannot see a **uniform** explosion: each layer multiplies the forward signal by
# about $\sqrt{64/2} \approx 5.7$ (ReLU zeroes half of the inputs) and the backward signal by about the
# same. Layer $l$'s weight gradient $G_l^\top H_{l-1}$ is the product of an input grown $l - 1$ times and
# a gradient grown $14 - l$ times (the net has 14 linear layers), so every layer carries the same factor
# $5.7^{13} \approx 10^{10}$, and a ratio of two layers cancels it. To see an explosion, measure the
# sizes themselves: the activations layer by layer, and the gradient norms compared with He's.

# %%
def forward_scale(scheme, std, seed):
    """Mean |activation| after each ReLU layer of the 13-layer net, at initialization."""
    model = init_weights(deep_mlp(ReLU), scheme, np.random.default_rng(seed), std)
    h, scales = X_batch, []
    for layer in model.layers:
        h = layer(h)
        if isinstance(layer, ReLU):
            scales.append(np.abs(h).mean())
    return np.array(scales)


explode = [forward_scale("normal", 1.0, s) for s in SEEDS]
stable = [forward_scale("he", None, s) for s in SEEDS]
growth = [np.median(sc[1:] / sc[:-1]) for sc in explode]             # factor per layer, N(0, 1)
grad_blowup = [np.min(n / h) for n, h in zip(grad_norms["ReLU, N(0, 1)"], grad_norms["ReLU, He"])]
print("mean |activation| after 13 ReLU layers: N(0,1) weights " + ", ".join(f"{sc[-1]:.1e}" for sc in explode)
      + "; He " + ", ".join(f"{sc[-1]:.2f}" for sc in stable))
print("N(0,1): median growth of the activations per layer " + ", ".join(f"{g:.1f}" for g in growth)
      + f" (sqrt(32) = {np.sqrt(32):.1f})")
print("N(0,1): |dL/dW| divided by He's, smallest over the 14 layers: " + ", ".join(f"{b:.0e}" for b in grad_blowup))

# %% [markdown]
# **Gradient clipping** is the standard guard against the occasional exploding step: if the gradient's
# norm exceeds $v$, rescale it, $g \leftarrow g\,v/\lVert g\rVert$. The step $\eta g$ is then at most
# $\eta v$ long, whatever happens. (Chapter 04 shows it rescuing a diverging run.)

# %%
#| export numpy_nn.core
def clip_grad_norm_(grads, max_norm):
    """Scale all gradients in place so that their joint norm is at most max_norm, as
    ``torch.nn.utils.clip_grad_norm_``; returns the norm before clipping."""
    total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    if total > max_norm:
        for g in grads.values():
            g *= max_norm / (total + 1e-6)
    return total


# %%
g_demo = {"w": rng.normal(size=(3, 4)) * 100, "b": rng.normal(size=4) * 100}
torch_demo = [torch.tensor(g_demo["w"]), torch.tensor(g_demo["b"])]
params_demo = [torch.zeros_like(t, requires_grad=True) for t in torch_demo]
for p, g in zip(params_demo, torch_demo):
    p.grad = g.clone()
norm_before = clip_grad_norm_(g_demo, max_norm=1.0)
torch.nn.utils.clip_grad_norm_(params_demo, max_norm=1.0)
clip_diff = max(np.abs(g_demo["w"] - params_demo[0].grad.numpy()).max(), np.abs(g_demo["b"] - params_demo[1].grad.numpy()).max())
clipped_norm = np.sqrt(sum(np.sum(g ** 2) for g in g_demo.values()))
print(f"norm before {norm_before:.1f}, after {clipped_norm:.6f}; max difference to torch {clip_diff:.1e}")

# %% [markdown]
# ### A deep sigmoid net fails to train where ReLU + He succeeds
#
# Now train the 13-layer nets with minibatch SGD (batch 64, 600 steps) in NumPy, the three seeds of `SEEDS` per
# learning rate. For ReLU + He we keep the learning rate with the best mean *validation* accuracy; for
# sigmoid with $\mathcal{N}(0, 0.01)$ weights we show every rate tried, because none works. Sigmoid with
# $\mathcal{N}(0,1)$ weights, whose gradients barely vanish (above), is trained at the middle rate, 0.1,
# untuned: it does learn, though more slowly than ReLU + He.

# %% mystnb={"image": {"alt": "Smoothed training loss of 13-layer nets over 600 SGD steps: sigmoid with N(0, 0.01) weights stays on the ln 10 guessing line at every learning rate, sigmoid with N(0, 1) weights slowly decreases, ReLU with He init falls fastest, near zero."}}
def train_deep(activation, scheme, std, lr, seed, steps=600, batch=64):
    """SGD on the 13-layer net; returns (minibatch losses, validation accuracy)."""
    model_rng = np.random.default_rng(seed)
    model = init_weights(deep_mlp(activation), scheme, model_rng, std)
    loss_fn, losses = CrossEntropyLoss(), []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            idx = model_rng.choice(len(X_tr), batch, replace=False)
            losses.append(loss_fn(model(X_tr[idx]), y_tr[idx]))
            model.backward(loss_fn.backward())
            for name, p in model.params.items():
                p -= lr * model.grads[name]
        val_acc = accuracy(model(digits.X_val.astype(np.float64)), digits.y_val)
    return losses, val_acc


deep_lrs = (0.03, 0.1, 0.3)
relu_by_lr = {lr: [train_deep(ReLU, "he", None, lr, seed=s) for s in SEEDS] for lr in deep_lrs[:2]}
sigmoid_by_lr = {lr: [train_deep(Sigmoid, "normal", 0.01, lr, seed=s) for s in SEEDS] for lr in deep_lrs}
sigmoid_large = {0.1: [train_deep(Sigmoid, "normal", 1.0, 0.1, seed=s) for s in SEEDS]}
relu_lr = max(relu_by_lr, key=lambda lr: np.mean([acc for _, acc in relu_by_lr[lr]]))

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, runs, color in [(f"ReLU, He (lr {relu_lr})", relu_by_lr[relu_lr], "C1"),
                           ("sigmoid, N(0, 0.01) (all lrs)", sum(sigmoid_by_lr.values(), []), "C0"),
                           ("sigmoid, N(0, 1) (lr 0.1)", sigmoid_large[0.1], "C2")]:
    for i, (losses, _) in enumerate(runs):
        ax.plot(np.convolve(losses, np.ones(25) / 25, mode="valid"), color=color, alpha=0.7, label=label if i == 0 else None)
ax.axhline(np.log(10), color="gray", ls="--", label="ln 10: guessing")
ax.set(xlabel="SGD step", ylabel="training loss (smoothed)", title="13 hidden layers")
ax.legend()
plt.show()
for name, by_lr in [("ReLU, He", relu_by_lr), ("sigmoid, N(0,0.01)", sigmoid_by_lr),
                    ("sigmoid, N(0,1)", sigmoid_large)]:
    for lr, runs in by_lr.items():
        print(f"{name:<19} lr {lr:<5} final loss " + ", ".join(f"{np.mean(l[-50:]):.3f}" for l, _ in runs)
              + "   validation accuracy " + ", ".join(f"{acc:.3f}" for _, acc in runs))

# %% [markdown]
# ### Unsupervised pre-training, then and now
#
# Before ReLU and He initialization, deep nets like the sigmoid one above were trained in two stages.
# Hinton, Osindero & Teh (2006) trained a **deep belief net** one layer at a time, each layer a restricted
# Boltzmann machine (RBM) learning to model the features of the layer below without any label; Bengio et
# al. (2007) did the same with stacked autoencoders, each layer an encoder trained to reconstruct its
# input. The stack then initialised a supervised net, which backprop *fine-tuned*. Starting from
# weights that already describe the data, the deep net escaped the flat start that we measured above
# (Erhan et al., 2010, studied why it helps). Within a few years ReLU (Nair & Hinton, 2010; Glorot et
# al., 2011), careful initialization, larger labelled data sets and GPUs made training from random
# weights work (AlexNet, 2012), and pre-training for the sake of optimization disappeared.
#
# The idea came back for another reason: labels are scarce, unlabelled data is not. **Self-supervised**
# learning invents a supervised task from the data itself: predict masked words (BERT, 2018) or masked
# image patches, or, in **contrastive** learning (CPC, 2018; MoCo and SimCLR, 2020), pull together the
# representations of two augmented views of the same image and push apart those of different images.
# A network pre-trained this way on millions of unlabelled examples is then fine-tuned on a small
# labelled set, the same two stages as in 2006, with a new purpose: better features, not easier
# optimization. Chapter 09 (planned) will build autoencoders.
#
# ## Claims checked

# %%
# NBVAL_CHECK_OUTPUT
assert abs(vL.data - np.tanh(4.0)) < 1e-12 and abs(va.grad - dL_da) < 1e-12 and abs(vc.grad - dL_dc) < 1e-12
print("autograd engine: same gradients as the chain rule by hand")

assert max(grad_errors.values()) < 1e-7
print("backprop vs central differences: relative error < 1e-7 for every parameter")

assert max(twin_error.values()) < 1e-10
print(f"{len(twin_error)} NumPy layers and losses equal PyTorch (forward and all gradients) to 1e-10")

assert len(numpy_losses) >= 100 and curve_diff.max() < 1e-6
print(f"NumPy and PyTorch SGD: loss curves agree to 1e-6 at each of {len(numpy_losses)} steps")

assert min(mlp_test_accs) >= 0.95
print("one-hidden-layer MLP on the digits: test accuracy >= 0.95 on every seed")

assert abs((1 - np.tanh(10.0) ** 2) - 8.2e-9) < 0.1e-9
print("tanh'(10) is about 8.2e-9: saturation")

assert all(r < 1e-12 for r in ratio["sigmoid, N(0, 0.01)"])
assert all(r < 1e-4 for r in ratio["sigmoid, Xavier"])
assert all(r > 1e-3 for r in ratio["sigmoid, N(0, 1)"])
assert all(0.1 < r < 10 for r in ratio["ReLU, He"] + ratio["tanh, Xavier"])
print("vanishing gradients: first/last layer < 1e-12 (sigmoid, small init), < 1e-4 (sigmoid, Xavier), "
      "> 1e-3 (sigmoid, N(0, 1)); within 10x with tanh+Xavier and ReLU+He")

assert all(sc[-1] > 1e6 for sc in explode) and all(0.01 < sc[-1] < 10 for sc in stable)
assert all(4 < g < 8 for g in growth) and all(b > 1e6 for b in grad_blowup)
print("ReLU with N(0, 1) weights explodes the activations (about sqrt(32) per layer) and every layer's "
      "gradient (over 1e6 x He's) though its first/last ratio looks like He's; He keeps them of order 1")

assert clipped_norm <= 1.0 + 1e-9 and clip_diff < 1e-12
print("clipping caps the gradient norm at v, as torch.nn.utils.clip_grad_norm_")

assert all(abs(np.mean(l[-50:]) - np.log(10)) < 0.05 for runs in sigmoid_by_lr.values() for l, _ in runs)
assert all(np.mean(l[-50:]) < 0.2 and acc >= 0.9 for l, acc in relu_by_lr[relu_lr])
assert all(np.mean(l[-50:]) < 1.0 and acc >= 0.6 for l, acc in sigmoid_large[0.1])
assert np.mean([acc for _, acc in sigmoid_large[0.1]]) >= 0.75
print("13 layers: sigmoid + small init stays at loss ln 10 for every seed and learning rate; "
      "ReLU + He trains (loss < 0.2, validation accuracy >= 0.9 on every seed); "
      "sigmoid + N(0, 1) learns too (loss < 1 and validation accuracy >= 0.6 on every seed, >= 0.75 on average)")

# %% [markdown]
# ## Summary
#
# - Backpropagation is the chain rule organised backwards: one forward pass storing intermediates, one
#   backward pass multiplying local derivatives; a value used twice gets the sum of its gradients.
# - For a linear layer $Y = XW^\top + b$: $\partial_X = GW$, $\partial_W = G^\top X$, $\partial_b = \sum_n G$;
#   for an activation $\partial_X = G\odot\sigma'(X)$; for softmax cross-entropy $\partial_Z = (P - Q)/N$.
#   Every gradient has the shape of its variable.
# - Check gradients numerically (relative error ~$10^{-9}$ expected) and against a trusted framework:
#   our NumPy MLP trains *identically* to PyTorch.
# - Deep sigmoid nets with small weights have vanishing gradients and do not train; ReLU with He
#   initialization keeps the gradient of every layer of the same size. Too-large weights explode;
#   clipping bounds the step.
# - Frameworks do all this for you ("usually you don't" write backprop yourself): you now know what
#   they do. Layer-wise unsupervised pre-training (RBMs, autoencoders), the remedy for deep nets around
#   2006, is no longer needed for optimization with ReLU, good initialization and normalization; it
#   returned as self-supervised and contrastive pre-training, to learn features from unlabelled data.
#
# **Further reading.** Rumelhart, Hinton & Williams (1986), *Learning representations by
# back-propagating errors*; Glorot & Bengio (2010), *Understanding the difficulty of training deep
# feedforward neural networks*; He et al. (2015), *Delving deep into rectifiers*; Karpathy's micrograd;
# CS231n's notes on backpropagation. On the history: Griewank (2012), *Who invented the reverse mode of
# differentiation?* (Linnainmaa, Werbos); Hinton, Osindero & Teh (2006), *A fast learning algorithm for
# deep belief nets*; Chen et al. (2020), *A simple framework for contrastive learning of visual
# representations*.
#
# **Exercises:** [exercises/03_backprop](../exercises/03_backprop.ipynb): the backward pass of a bias-free
# linear + tanh block, a gradient check along random directions with a verdict, a two-layer network with
# L2 weight decay by hand, and training it with your own gradients to 95% validation accuracy.
