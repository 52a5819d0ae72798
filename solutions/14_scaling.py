# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 14 · Scaling up
#
# Four tasks from chapter 14 and two questions. Task 1 measures the memory that training really needs: the
# bytes of the tensors autograd saves for backward. Task 2 computes what data-parallel training's all-reduce
# must compute from the workers' gradients. Task 3 trades compute for memory with gradient checkpointing.
# Task 4 is an outcome task: fine-tune a pretrained network on 100 digits.
#
# Each **check** cell compares your function with a PyTorch reference on small random models and names the
# first thing that is wrong. `check.hint("name")` gives a nudge (call it again for a stronger one), and
# `check.failing_case("name")` returns the inputs of the case that failed, to run your function on.
# Replace every `raise NotImplementedError` with your code.

# %%
import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

import dlcourse
from dlcourse.checks import scaling as check

dlcourse.set_threads(1)      # small networks train faster on one thread than on several competing ones


# %% [markdown]
# ## Task 1 · What backward needs: the saved tensors
#
# A forward pass keeps, for each operation, the tensors its backward will need: a `Linear` layer keeps its
# input (for the weight gradient) and its weight (for the input gradient), `tanh` keeps its output, and so
# on. `torch.autograd.graph.saved_tensors_hooks(pack, unpack)` is a context manager that hands every such
# tensor to `pack(t)` as it is saved (`pack` returns what is stored, `unpack` turns it back into a tensor).
#
# `saved_bytes(fn, *inputs)` runs `fn(*inputs)` and returns the number of bytes of the **distinct** tensors
# saved: the same storage is often saved twice (tanh's output is the next layer's input), so count each
# `t.data_ptr()` once. Return an `int`.

# %%
def saved_bytes(fn, *inputs):
    """Bytes of the distinct tensors autograd saves for backward while fn(*inputs) runs (an int)."""
    ### BEGIN SOLUTION
    sizes = {}

    def pack(t):
        sizes[t.data_ptr()] = max(sizes.get(t.data_ptr(), 0), t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn(*inputs)                     # keep the output (and its graph) alive while counting
    del out
    return int(sum(sizes.values()))
    ### END SOLUTION


# %% tags=["check"]
check.saved_bytes(saved_bytes)

# %% [markdown]
# ## Use it: activations against parameters
#
# A stack of 16 `Linear(256, 256)` + `tanh` layers holds about 4 MiB of parameters. Compare it with what a
# training step saves, for growing batches (the count includes the weights that each `Linear` saves to
# compute the gradient of its input):

# %%
mlp = nn.Sequential(*[m for _ in range(16) for m in (nn.Linear(256, 256), nn.Tanh())])
params = sum(p.numel() * p.element_size() for p in mlp.parameters())
for batch in (1, 64, 1024, 4096):
    print(f"batch {batch:5d}: parameters {params / 2**20:5.2f} MiB, "
          f"saved for backward {saved_bytes(mlp, torch.randn(batch, 256)) / 2**20:6.2f} MiB")

# %% [markdown]
# ## Task 2 · What data parallelism's all-reduce computes
#
# In data-parallel training (`DistributedDataParallel`), each of $W$ workers computes the gradient $g_k$ of
# the **mean** loss over its own batch of $n_k$ samples; an all-reduce then gives every worker the same
# gradient, which must be the gradient of the mean loss over the union of all batches, as if one process
# had seen them all. `average_gradients(grads_per_worker, batch_sizes)` takes a list of $W$ lists of
# tensors (one tensor per parameter, the same order for every worker) and the list of the $n_k$, and
# returns that gradient as a list of tensors, one per parameter. The batch sizes may differ (the last
# batch of an epoch, or uneven shards).

# %%
def average_gradients(grads_per_worker, batch_sizes):
    """grads_per_worker[k][j]: gradient of worker k's mean loss w.r.t. parameter j. Returns a list over j."""
    ### BEGIN SOLUTION
    total = sum(batch_sizes)
    return [sum(n * grads[j] for n, grads in zip(batch_sizes, grads_per_worker)) / total
            for j in range(len(grads_per_worker[0]))]
    ### END SOLUTION


# %% tags=["check"]
check.average_gradients(average_gradients)

# %% [markdown]
# ## Task 3 · Gradient checkpointing
#
# `torch.utils.checkpoint.checkpoint_sequential(layers, segments, x, use_reentrant=False)` cuts an
# `nn.Sequential` into `segments` pieces, keeps only the input of each piece during the forward pass and
# recomputes the activations inside a piece during backward: less memory for more compute. (The last piece
# always runs normally, since its backward comes first.) `checkpointed_mlp(layers, x, segments)` returns the
# output of `layers` on `x` computed this way. The check compares the output and all gradients with the
# plain `layers(x)`, and measures the saved bytes with a count like yours.

# %%
def checkpointed_mlp(layers, x, segments):
    """layers: nn.Sequential, x: (B, D). Returns layers(x), computed with `segments` checkpointed segments."""
    ### BEGIN SOLUTION
    return checkpoint_sequential(layers, segments, x, use_reentrant=False)
    ### END SOLUTION


# %% tags=["check"]
check.checkpointed_mlp(checkpointed_mlp)

# %% [markdown]
# ## Use it: memory against segments
#
# The saved bytes of the 16-layer MLP at batch 1024 for a few numbers of segments (your `saved_bytes` and
# `checkpointed_mlp`); the output is the same every time.

# %%
x = torch.randn(1024, 256)
for segments in (1, 2, 4, 8, 16):
    saved = saved_bytes(lambda z: checkpointed_mlp(mlp, z, segments), x)
    print(f"{segments:2d} segments: saved for backward {saved / 2**20:6.2f} MiB")

# %% [markdown]
# ## Task 4 · Outcome: fine-tune a pretrained network
#
# `check.pretrained_network()` returns a small CNN pretrained on a synthetic task: 8x8 images of 20 figures,
# each made of three straight strokes. `fine_tune(pretrained, X, y, seed)` receives that network, 100
# training digits `X` $(100, 1, 8, 8)$ float32 in $[0, 1]$ (ten per class) and their labels `y`, and returns
# a model mapping $(B, 1, 8, 8)$ digits to $(B, 10)$ scores. The check measures its accuracy on the
# validation digits. **Target: 85%.** Keep it under about 10 seconds.

# %%
print(check.pretrained_network())


# %%
def fine_tune(pretrained, X, y, seed=0):
    """Adapt `pretrained` (20 stroke classes) to the 10 digits on X (100, 1, 8, 8), y (100,); return the model."""
    ### BEGIN SOLUTION
    torch.manual_seed(seed)
    model = pretrained
    model[-1] = nn.Linear(model[-1].in_features, 10)          # a new head: 10 digits instead of 20 figures
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    Xt, yt, order = torch.from_numpy(X), torch.from_numpy(y), torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(60):
        for idx in torch.randperm(len(Xt), generator=order).split(32):
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
    ### END SOLUTION


# %% tags=["check"]
check.finetune_outcome(fine_tune)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** Your "Use it" cells printed the parameters and the saved bytes of the same MLP. Why do activations,
# not parameters, dominate the memory of training, and what does checkpointing trade for it?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Parameters (and their gradients and optimiser state) have a fixed size, but backward needs the
# intermediate results of every layer for every sample of the batch: the saved bytes grow with batch size
# times depth times width (and, for images and sequences, with resolution and length). At batch 1 the MLP
# saved little more than its weights; at batch 4096 the saved tensors were over 15 times its parameter
# memory, and they keep growing linearly with the batch. Checkpointing keeps only the input of each segment
# and recomputes the activations inside it during backward, at the cost of about one extra forward pass:
# 4 segments cut the saved bytes by more than half. More segments are not always better: every segment keeps
# its input and the last one runs normally, so 16 segments saved more than 4.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# With $\sqrt{L}$ segments of an $L$-layer network, memory grows like $\sqrt{L}$ instead of $L$ (Chen et al.,
# 2016) for one extra forward pass (about a third more compute). Other tools against activation memory:
# smaller micro-batches with gradient accumulation, mixed precision (half the bytes per activation),
# activation offloading to CPU memory, and fused kernels that do not store intermediates (FlashAttention
# recomputes the attention matrix instead of saving it).
# </details>

# %% [markdown]
# **(2)** Data parallelism runs the same model on several GPUs, each with its own share of the batch. What
# does it speed up, and what does it not fix?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# It splits the batch: each worker does $1/W$ of the forward and backward work, so an epoch takes about
# $1/W$ of the time (minus the time of the all-reduce of the gradients). It does not reduce the memory per
# worker for the model: every worker holds all the parameters, gradients and optimiser state, so a model
# that does not fit on one GPU does not fit with data parallelism either. It also raises the global batch
# size, which may need a new learning rate, and it gives no speed-up for a single sample (latency).
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Models too large for one device need other parallelism: sharding the parameters, gradients and optimiser
# state across workers (ZeRO, PyTorch's FSDP), splitting each layer's matrices (tensor parallelism) or
# placing different layers on different devices (pipeline parallelism). Communication grows with the model
# size, not the batch, so small models on slow networks may not scale. And the equality with single-process
# training holds only when the loss is averaged over the union of the batches (your Task 2) and each sample
# is seen once per epoch (a distributed sampler).
# </details>
