"""LeCun's 1989 networks Net-1 ... Net-5, built to the published sizes (chapter 06).

Hand-written (not generated): chapter 06 shows the idea of a locally connected layer in a few lines and
imports the machinery from here. Every layer holds ``S`` independent copies of itself (a leading "model"
axis), so that one batched operation trains many networks at once (many seeds, many learning rates);
since the loss is a sum over the copies, each copy gets exactly the gradient it would get alone.

Shapes: inputs are ``(S, B, maps, H, W)`` (copy, batch, channels, rows, columns), outputs of the last
layer ``(S, B, 10)``. Every unit has its own bias, also in the shared maps, as in LeCun (1989): only then do
the links and free parameters of ESL's table 11.1 come out (2570/2570, 3214/3214, 1226/1226, 2266/1132,
5194/1060).

- :class:`ParallelLinear`  S fully connected layers
- :class:`ParallelLocal2d` S locally connected layers, with (``shared=True``: a convolution) or without
  weight sharing
- :func:`lecun_layers`     the layers of Net-1 ... Net-5
- :class:`LeCunNet`        S copies of one network, tanh between the layers, with ``links()`` and
  ``free_parameters()``
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dlcourse.numpy_nn.conv import conv_output_size

__all__ = ["ParallelLinear", "ParallelLocal2d", "lecun_layers", "LeCunNet", "LECUN_NAMES"]

LECUN_NAMES = ("Net-1", "Net-2", "Net-3", "Net-4", "Net-5")


class ParallelLinear(nn.Module):
    """S independent fully connected layers: x (S, B, ...) -> (S, B, n_out), the trailing axes of x
    flattened to n_in. Initialised as ``nn.Linear``: uniform in +-1/sqrt(n_in), drawn from ``generator``."""

    def __init__(self, S: int, n_in: int, n_out: int, generator: torch.Generator):
        super().__init__()
        bound = 1 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(S, n_in, n_out).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.empty(S, 1, n_out).uniform_(-bound, bound, generator=generator))

    def forward(self, x):
        return torch.baddbmm(self.bias, x.flatten(2), self.weight)        # (S, B, n_out)

    def links(self) -> int:
        """Connections of one copy, biases included (= its parameters: nothing is shared)."""
        return self.weight[0].numel() + self.bias[0].numel()


class ParallelLocal2d(nn.Module):
    """S independent layers of (out_maps, size, size) units, each unit seeing a k x k window of all input
    maps (stride, zero padding).

    ``shared=True``: one kernel per output map, i.e. a convolution (weight (S, out_maps, in_maps, k, k));
    ``shared=False``: every unit has its own kernel, a locally connected layer (weight
    (S, size * size, in_maps * k * k, out_maps)). Every unit has its own bias (S, out_maps, size, size).
    x (S, B, in_maps, in_size, in_size) -> (S, B, out_maps, size, size), size = conv_output_size(in_size,
    k, stride, padding).
    """

    def __init__(self, S: int, in_maps: int, out_maps: int, in_size: int, k: int, stride: int, padding: int,
                 shared: bool, generator: torch.Generator):
        super().__init__()
        self.k, self.stride, self.padding, self.out_maps, self.shared = k, stride, padding, out_maps, shared
        self.size = conv_output_size(in_size, k, stride, padding)
        self.fan_in, n_units = in_maps * k * k, self.size ** 2
        bound = 1 / math.sqrt(self.fan_in)
        shape = (S, out_maps, in_maps, k, k) if shared else (S, n_units, self.fan_in, out_maps)
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(
            torch.empty(S, out_maps, self.size, self.size).uniform_(-bound, bound, generator=generator))

    def forward(self, x):
        S, B, C = x.shape[:3]
        if self.shared:        # the S models' maps side by side as channel groups: one grouped convolution
            y = F.conv2d(x.transpose(0, 1).reshape(B, S * C, *x.shape[3:]),
                         self.weight.reshape(S * self.out_maps, C, self.k, self.k),
                         stride=self.stride, padding=self.padding, groups=S)
            y = y.view(B, S, self.out_maps, self.size, self.size).transpose(0, 1)
        else:                  # every window with its own weights
            p = self.padding
            windows = F.pad(x, (p, p, p, p)).unfold(3, self.k, self.stride).unfold(4, self.k, self.stride)
            windows = windows.permute(0, 1, 3, 4, 2, 5, 6).reshape(S, B, self.size ** 2, self.fan_in, 1)
            y = (windows * self.weight[:, None]).sum(3)                     # (S, B, units, out_maps)
            y = y.permute(0, 1, 3, 2).reshape(S, B, self.out_maps, self.size, self.size)
        return y + self.bias[:, None]

    def links(self) -> int:
        """Connections of one copy: every unit its window and its bias (shared or not)."""
        return self.bias[0].numel() * (self.fan_in + 1)


def lecun_layers(name: str, S: int, generator: torch.Generator) -> list[nn.Module]:
    """The layers of LeCun's ``name`` ("Net-1" ... "Net-5"), S copies each, for 16x16 inputs.

    Net-1: 256 -> 10. Net-2: one fully connected hidden layer of 12 units. Net-3: two locally connected
    hidden layers (8x8 units on 3x3 windows, stride 2; 4x4 units on 5x5 windows of H1, stride 2, padding 2).
    Net-4: H1 two shared 8x8 maps. Net-5: H2 also shared, four 4x4 maps.
    """
    if name not in LECUN_NAMES:
        raise ValueError(f"unknown network {name!r}: expected one of {', '.join(LECUN_NAMES)}")
    g = generator
    H1_local, H1_shared = (1, 1, 16, 3, 2, 1, False), (1, 2, 16, 3, 2, 1, True)
    # All five are built, in this order, from the one generator, and one is returned: the initial weights
    # of a network are those the chapter's measurements were taken with (a generator yields a stream).
    nets = {"Net-1": [ParallelLinear(S, 256, 10, g)],
            "Net-2": [ParallelLinear(S, 256, 12, g), ParallelLinear(S, 12, 10, g)],
            "Net-3": [ParallelLocal2d(S, *H1_local, g), ParallelLocal2d(S, 1, 1, 8, 5, 2, 2, False, g),
                      ParallelLinear(S, 16, 10, g)],
            "Net-4": [ParallelLocal2d(S, *H1_shared, g), ParallelLocal2d(S, 2, 1, 8, 5, 2, 2, False, g),
                      ParallelLinear(S, 16, 10, g)],
            "Net-5": [ParallelLocal2d(S, *H1_shared, g), ParallelLocal2d(S, 2, 4, 8, 5, 2, 2, True, g),
                      ParallelLinear(S, 64, 10, g)]}
    return nets[name]


class LeCunNet(nn.Module):
    """S independent copies of one of LeCun's five networks, tanh between the layers:
    (S, B, 1, 16, 16) -> (S, B, 10). ``generator`` draws the initial weights (default: seed 0)."""

    def __init__(self, name: str, S: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        self.S = S
        self.layers = nn.ModuleList(lecun_layers(name, S, generator or torch.Generator().manual_seed(0)))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)

    def links(self) -> int:
        """Connections (multiply-adds, biases included) of one copy."""
        return sum(layer.links() for layer in self.layers)

    def free_parameters(self) -> int:
        """Distinct numbers to learn in one copy: a shared weight counts once."""
        return sum(p.numel() for p in self.parameters()) // self.S
