# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · The perceptron
#
# A single artificial neuron, the oldest learning machine of the field, and still the building block
# of every network in this course.
#
# ## Learning goals
#
# After this chapter you can
#
# - write a neuron as $y = \sigma(w^\top x + b)$ and a *layer* of neurons as $y = \sigma(Wx + b)$,
#   and explain why the dot product is a template match;
# - fold the bias into the weights by appending a constant input $1$;
# - implement Rosenblatt's learning rule in NumPy, and predict from Novikoff's theorem how many
#   mistakes it can make on separable data, $(R/\gamma)^2$;
# - see with your own eyes why a perceptron cannot learn XOR, which motivates hidden layers (chapter 02);
# - train ten perceptrons one-vs-rest on real handwritten digits, in NumPy and in PyTorch, and compare
#   with logistic regression trained by autograd.
#
# Lecture ideas covered: Rosenblatt's neuron $y=\sigma(Wx+b)$, the dot product as template matching,
# a layer as a matrix product, the worked example with $w=[-1,2,-1]$; plus what the lectures leave out:
# the learning rule, its convergence theorem, and XOR.
#
# *Runs in ~15 s on a laptop CPU.*

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse import data, plots
from dlcourse.train import accuracy

rng, device = dlcourse.setup(seed=0, threads=1)
SCALE = 1   # 1: the CPU-sized experiments whose claims are asserted below; 2+ (e.g. on a GPU): SCALE times more seeds
SEEDS = dlcourse.seeds(5 * SCALE)   # visiting orders of the repeated digits runs; single runs use SEEDS[0]
print("PyTorch runs on:", device)

# %% [markdown]
# ## Intuition
#
# A biological neuron collects signals on its dendrites and *fires* once their sum crosses a threshold;
# learning changes the strength of the synapses. The artificial neuron keeps only that skeleton (it does
# **not** work like the brain): it weighs its inputs $x \in \mathbb{R}^D$ with weights $w$, adds a bias
# $b$, and passes the sum through an activation $\sigma$. Rosenblatt used the *step* function:
#
# $$ y = \sigma(w^\top x + b), \qquad \sigma(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0. \end{cases} $$
#
# **History in two paragraphs.** McCulloch and Pitts (1943) showed that networks of such threshold units
# can compute any logical function, but their weights were set by hand. Frank Rosenblatt (1957 report at
# the Cornell Aeronautical Laboratory, 1958 paper) added what made it a *learning machine*: a rule that
# adjusts the weights from examples, and built it in hardware, the Mark I Perceptron.
#
# Minsky and Papert's book *Perceptrons* (1969) proved what a single layer cannot do: a perceptron can
# only separate classes by a hyperplane, so it cannot even compute XOR. Together with the lack of a
# training rule for several layers, this contributed to the first "AI winter" of neural networks, when
# funding and attention moved to symbolic AI. Interest came back in the connectionist revival of
# 1982-86: Hopfield's networks (1982), Boltzmann machines (1985) and the *Parallel Distributed
# Processing* volumes, in which Rumelhart, Hinton and Williams (1986) popularised backpropagation, the
# rule that makes multilayer networks trainable: chapters 02 and 03. (A lecture slide dates McCulloch and
# Pitts to 1942; their paper, *A logical calculus of the ideas immanent in nervous activity*, appeared in
# the *Bulletin of Mathematical Biophysics* in 1943, the date used here.)
#
# **The dot product is a template match.** $w^\top x = \lVert w\rVert\,\lVert x\rVert\cos\angle(w,x)$:
# for inputs of a fixed length, the response is largest when $x$ points the same way as $w$. The weight
# vector is the *pattern the neuron looks for*. The lecture's example uses $w = [-1, 2, -1]$, a
# "bump in the middle" detector:

# %%
w = np.array([-1.0, 2.0, -1.0])
for x in ([1, -2, 1], [-1, -1, 2], w.tolist()):
    print(f"x = {x!s:>16}   w.x = {w @ np.array(x, float):+.0f}")

# %% [markdown]
# The opposite pattern scores $-6$, an unrelated one $-3$, and the template itself the maximum $+6$.
# Let us check the claim "for fixed $\lVert x\rVert$, $w^\top x$ is largest when $x \propto w$" by brute
# force: 100 000 random inputs of the same length as $w$, none beating $x = w$ (Cauchy–Schwarz says none
# can).

# %% mystnb={"image": {"alt": "Response w.x of inputs with the same length as w, against their angle to w: a cosine falling from +6 at 0 degrees to -6 at 180; the best of 100 000 random inputs only reaches the maximum at x = w."}}
X_random = rng.normal(size=(100_000, 3))
X_random *= np.linalg.norm(w) / np.linalg.norm(X_random, axis=1, keepdims=True)   # (100000, 3), |x| = |w|
best_random = (X_random @ w).max()
angles = np.linspace(0, np.pi, 181)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(np.degrees(angles), np.linalg.norm(w) ** 2 * np.cos(angles))
ax.axhline(best_random, color="gray", ls="--", label=f"best of 100k random x: {best_random:.3f}")
ax.set(xlabel="angle between x and w (degrees)", ylabel="w.x", title="response for |x| = |w|")
ax.legend()
plt.show()
print(f"w.w = {w @ w:.3f}; best random input: {best_random:.3f}")

# %% [markdown]
# ## NumPy reference
#
# ### A layer of perceptrons is a matrix product
#
# Stack several neurons' weight vectors as the **rows** of a matrix $W \in \mathbb{R}^{C\times D}$:
# one row per output. The whole layer is then $y = \sigma(Wx + b)$ with $b \in \mathbb{R}^C$, and for a
# batch of $N$ inputs stored as the rows of $X \in \mathbb{R}^{N\times D}$ it is
# $Y = \sigma(XW^\top + b)$, the convention of `torch.nn.Linear`. The lecture's example:

# %%
#| export perceptron
import numpy as np


def step(z):
    """Heaviside step, Rosenblatt's activation: 1 where z > 0, else 0.

    Args:
        z: any array of pre-activations.
    Returns:
        int64 array of the same shape with values in {0, 1}.
    """
    return (np.asarray(z) > 0).astype(np.int64)


def perceptron_layer(X, W, b):
    """A layer of C perceptrons applied to a batch.

    Args:
        X: inputs, (N, D).
        W: weights, (C, D), one row per perceptron (as torch.nn.Linear.weight).
        b: biases, (C,).
    Returns:
        outputs in {0, 1}, (N, C).
    """
    return step(X @ W.T + b)


def add_bias(X):
    """Append a constant input 1 to every row, so that the bias becomes an ordinary weight.

    Args:
        X: (N, D).
    Returns:
        (N, D + 1), last column all ones.
    """
    X = np.asarray(X)
    return np.concatenate([X, np.ones((len(X), 1), dtype=X.dtype)], axis=1)


# %%
W = np.array([[-1, 2, -1], [1, -2, 1], [0, 1, 0]], dtype=float)   # (3, 3): three perceptrons
b = np.array([1.0, 1.0, -3.0])                                      # (3,)
x = np.array([-1.0, 2.0, -1.0])                                     # (3,)
print("Wx      =", W @ x)
print("Wx + b  =", W @ x + b)
print("step    =", perceptron_layer(x[None], W, b)[0])

# %% [markdown]
# $Wx = [6,-6,2]$, adding $b$ gives $[7,-5,-1]$ and the step leaves $[1,0,0]$: only the first
# perceptron, whose template equals $x$, fires; the third one's bias $-3$ raised its threshold above its
# response $2$.
#
# **The bias as an extra input.** With $\tilde x = [x, 1]$ and $\tilde w = [w, b]$ we have
# $\tilde w^\top \tilde x = w^\top x + b$, so from now on we append a column of ones (`add_bias`) and
# forget about $b$: every formula below is about $\tilde w$, written simply $w$.

# %%
Xb = add_bias(x[None])                              # (1, 4)
Wb = np.concatenate([W, b[:, None]], axis=1)        # (3, 4): bias as last column
print("with the bias folded in:", Xb @ Wb.T)

# %% [markdown]
# ### Rosenblatt's learning rule
#
# Take labels $y_i \in \{-1, +1\}$ and predict $\operatorname{sign}(w^\top x_i)$. The point is
# **misclassified** when $y_i\, w^\top x_i \le 0$ (a point exactly on the boundary counts as a mistake).
# Rosenblatt's rule visits the points one by one and, on a mistake, moves $w$ toward the point's side:
#
# $$ w \leftarrow w + \eta\, y_i\, x_i \qquad \text{if } y_i\, w^\top x_i \le 0 . $$
#
# Why it helps: after the update $y_i w_{\text{new}}^\top x_i = y_i w^\top x_i + \eta \lVert x_i\rVert^2$,
# the score of that point moved by $\eta\lVert x_i\rVert^2 > 0$ in the right direction. One *epoch* is one
# pass over the data; the algorithm stops after an epoch without mistakes.

# %%
#| export perceptron
def perceptron_update(w, x, y, lr=1.0):
    """One step of Rosenblatt's rule.

    Args:
        w: weights (D,) (bias folded in, see add_bias).
        x: one input (D,).
        y: its label, +1 or -1.
        lr: learning rate eta > 0.
    Returns:
        the new weights (D,); ``w`` itself is not modified.
    """
    if y * (w @ x) <= 0:          # misclassified, or exactly on the boundary
        return w + lr * y * x
    return w


def train_perceptron(X, y, lr=1.0, max_epochs=100, seed=0, w0=None):
    """Rosenblatt's perceptron: repeat epochs (random order) until one has no mistake.

    Args:
        X: inputs (N, D), bias column included.
        y: labels (N,) in {-1, +1}.
        lr: learning rate.
        max_epochs: give up after this many epochs (non-separable data never converges).
        seed: seed of the visiting order.
        w0: initial weights (D,); zeros by default.
    Returns:
        w: final weights (D,).
        info: dict with ``updates`` (total number of updates), ``epochs``, ``converged`` (bool),
            ``mistakes`` (list: updates in each epoch) and ``trajectory`` ((updates + 1, D): w after
            each update, starting with w0).
    """
    X, y = np.asarray(X, float), np.asarray(y, float)
    order_rng = np.random.default_rng(seed)
    w = np.zeros(X.shape[1]) if w0 is None else np.array(w0, float)
    trajectory, mistakes = [w], []
    for _ in range(max_epochs):
        n_mistakes = 0
        for i in order_rng.permutation(len(X)):
            w_new = perceptron_update(w, X[i], y[i], lr)
            if w_new is not w:
                w, n_mistakes = w_new, n_mistakes + 1
                trajectory.append(w)
        mistakes.append(n_mistakes)
        if n_mistakes == 0:
            break
    info = {"updates": len(trajectory) - 1, "epochs": len(mistakes), "converged": mistakes[-1] == 0,
            "mistakes": mistakes, "trajectory": np.array(trajectory)}
    return w, info


def to_signed(y01):
    """Map labels {0, 1} to {-1, +1}."""
    return 2 * np.asarray(y01, dtype=np.int64) - 1


# %% [markdown]
# We train it on the course's linearly separable toy: 200 points in $[-2,2]^2$, labelled by the side
# of a fixed line, with no point closer than $0.1$ to that line. Below: the boundary after a few of the
# updates (circled: the points still misclassified at that moment).

# %% mystnb={"image": {"alt": "Four snapshots of the perceptron's boundary on the linear toy: at w = 0 every point is circled as misclassified, a few errors remain after the intermediate updates, and after the last update the line separates both classes with none wrong."}}
toy = data.make_toy("linear", n=200, test_size=0.25, seed=0)
X_toy, y_toy = add_bias(toy.X_train.astype(float)), to_signed(toy.y_train)   # (150, 3), (150,)
w_toy, info = train_perceptron(X_toy, y_toy, seed=SEEDS[0])
print(f"converged: {info['converged']} after {info['updates']} updates in {info['epochs']} epochs")


def predict_signed(w, X):
    """sign(Xw) as labels {0, 1} for plotting; X (N, 2) without bias column."""
    return (add_bias(X) @ w > 0).astype(int)


snapshots = np.unique(np.linspace(0, info["updates"], 4).astype(int))
fig, axes = plt.subplots(1, len(snapshots), figsize=(3.2 * len(snapshots), 3.2))
for ax, k in zip(axes, snapshots):
    w_k = info["trajectory"][k]
    wrong = y_toy * (X_toy @ w_k) <= 0
    plots.decision_boundary(lambda G, w_k=w_k: predict_signed(w_k, G), toy.X_train, toy.y_train, ax=ax,
                            resolution=120, highlight=wrong, title=f"after {k} updates: {wrong.sum()} wrong")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### How many mistakes? Novikoff's theorem
#
# Suppose some unit vector $w^\star$ separates the data with **margin** $\gamma$:
# $y_i\, w^{\star\top} x_i \ge \gamma > 0$ for all $i$, and let $R = \max_i \lVert x_i\rVert$.
# Starting from $w=0$, the perceptron makes at most
#
# $$ k \le \left(\frac{R}{\gamma}\right)^2 $$
#
# updates, whatever the order of the points and whatever $\eta$ (Novikoff 1962). Proof sketch: each
# update raises $w^\top w^\star$ by at least $\eta\gamma$, so after $k$ updates $w^\top w^\star \ge k\eta\gamma$;
# and since updates happen only on mistakes ($y_i w^\top x_i \le 0$), $\lVert w\rVert^2$ grows by at most
# $\eta^2R^2$ per update, so $\lVert w\rVert \le \sqrt{k}\,\eta R$. Cauchy–Schwarz,
# $k\eta\gamma \le w^\top w^\star \le \lVert w\rVert$, gives $k \le (R/\gamma)^2$.
#
# The **geometric margin** of a separator $w$ is $\gamma(w) = \min_i y_i\, w^\top x_i / \lVert w\rVert$;
# the bound holds for any separator, so we evaluate it with the line that generated the data.

# %%
#| export perceptron
def geometric_margin(w, X, y):
    """Smallest signed distance of the points to the hyperplane w.x = 0.

    Args:
        w: weights (D,), not necessarily unit length.
        X: inputs (N, D) (bias column included).
        y: labels (N,) in {-1, +1}.
    Returns:
        min_i y_i w.x_i / |w| as a float: positive iff w separates the data.
    """
    return float(np.min(y * (X @ w)) / np.linalg.norm(w))


def novikoff_bound(X, y, w_star):
    """Novikoff's bound (R / gamma)^2 on the number of perceptron updates.

    Args:
        X: inputs (N, D); y: labels (N,) in {-1, +1}; w_star: a separating weight vector (D,).
    Returns:
        the bound as a float.
    Raises:
        ValueError: if w_star does not separate the data (margin <= 0).
    """
    gamma = geometric_margin(w_star, X, y)
    if gamma <= 0:
        raise ValueError(f"w_star does not separate the data: its margin is {gamma:.3g} <= 0")
    R = np.max(np.linalg.norm(X, axis=1))
    return float((R / gamma) ** 2)


# %%
w_line, b_line = data.LINEAR_SEPARATOR
w_star = np.append(w_line, b_line)                       # (3,) the generating line, bias folded in
print(f"margin of w*: {geometric_margin(w_star, X_toy, y_toy):.4f}   "
      f"R = {np.linalg.norm(X_toy, axis=1).max():.3f}   "
      f"bound (R/gamma)^2 = {novikoff_bound(X_toy, y_toy, w_star):.0f}   measured updates: {info['updates']}")

# %% [markdown]
# ### XOR: where a single perceptron must fail
#
# Four points, $(0,0)\mapsto 0$, $(1,1)\mapsto 0$, $(0,1)\mapsto 1$, $(1,0)\mapsto 1$. No line puts both
# 1s on one side and both 0s on the other: adding the two inequalities for the 1s,
# $w_1 + w_2 + 2b > 0$, and the two for the 0s, $w_1 + w_2 + 2b \le 0$, contradict each other. So
# any line gets at least one of the four wrong: accuracy $\le 75\%$, forever, and the rule never
# stops updating.

# %%
X_xor = add_bias(np.array([[0, 0], [1, 1], [0, 1], [1, 0]], float))   # (4, 3)
y_xor = np.array([-1, -1, 1, 1])
w_xor, info_xor = train_perceptron(X_xor, y_xor, max_epochs=1000, seed=SEEDS[0])
xor_accs = [accuracy(np.where(X_xor @ w_k > 0, 1, -1), y_xor) for w_k in info_xor["trajectory"]]
print(f"XOR: converged = {info_xor['converged']} after {info_xor['epochs']} epochs, "
      f"{info_xor['updates']} updates; best accuracy ever reached: {max(xor_accs):.2f}")

# %% [markdown]
# Chapter 02 fixes this with one hidden layer: two perceptrons computing OR and NAND, and a third
# computing their AND, do represent XOR. What was missing in 1969 was a way to *learn* such hidden units.
#
# ### Ten perceptrons on handwritten digits
#
# The digits (1797 real 8×8 images bundled with scikit-learn) have 10 classes. **One-vs-rest**: train one
# perceptron per class $c$ to answer "is it a $c$?", i.e. with targets $t_{ic} = +1$ if $y_i = c$ and $-1$
# otherwise, all ten at once as the rows of $W \in \mathbb{R}^{10 \times 65}$, and predict the class whose
# perceptron is most confident, $\hat y = \arg\max_c\, (W x)_c$. Each row follows Rosenblatt's rule
# independently; the code below updates all rows that made a mistake on the current input.
# With `batch_size > 1` it sums the updates of a whole minibatch computed with the same $W$, which is
# what makes it fast on big data; with `batch_size=1` it is exactly Rosenblatt's online rule.

# %%
#| export perceptron
def one_vs_rest_targets(y, n_classes):
    """Targets of C one-vs-rest perceptrons.

    Args:
        y: class labels (N,) in 0..C-1.
        n_classes: C.
    Returns:
        T (N, C) with T[i, c] = +1 if y[i] == c else -1.
    """
    return np.where(np.arange(n_classes) == np.asarray(y)[:, None], 1.0, -1.0)


def one_vs_rest_epoch(W, X, y, lr=1.0, batch_size=1):
    """One epoch of the perceptron rule for C one-vs-rest perceptrons, in the given order.

    Args:
        W: weights (C, D), one row per class (bias column included).
        X: inputs (N, D); y: labels (N,) in 0..C-1.
        lr: learning rate.
        batch_size: 1 is Rosenblatt's online rule; B > 1 sums the updates of B points computed
            with the same W.
    Returns:
        the new weights (C, D); ``W`` itself is not modified.
    """
    W = np.array(W, dtype=float)
    for start in range(0, len(X), batch_size):
        Xb = X[start:start + batch_size]                      # (B, D)
        T = one_vs_rest_targets(y[start:start + batch_size], len(W))   # (B, C)
        wrong = T * (Xb @ W.T) <= 0                           # (B, C): which perceptron erred on which point
        W += lr * (wrong * T).T @ Xb                          # (C, D)
    return W


def predict_one_vs_rest(W, X):
    """Class of the most confident perceptron: argmax_c (X W^T)[:, c]; X (N, D) -> (N,) int64."""
    return np.argmax(X @ W.T, axis=1)


# %% [markdown]
# The digits are not linearly separable, so the rule never settles: the weights keep jumping and the
# accuracy after each epoch is noisy. We therefore choose the number of epochs (at most 30) on a
# **validation split** carved out of the training set, and only then look at the test set, once, for
# five different visiting orders (the seeds in `SEEDS`).

# %%
digits = data.load_digits(val_size=0.2, seed=0)
Xd_train, Xd_val, Xd_test = (add_bias(a.astype(float)) for a in (digits.X_train, digits.X_val, digits.X_test))
print(digits, "->", Xd_train.shape, "with the bias column")


def run_digits_perceptron(seed, max_epochs=30):
    """Train from W=0, keep the epoch with the best validation accuracy; return (W, curve)."""
    order_rng = np.random.default_rng(seed)
    W = np.zeros((10, Xd_train.shape[1]))
    best, curve = (-1.0, None, 0), []
    for epoch in range(1, max_epochs + 1):
        perm = order_rng.permutation(len(Xd_train))
        W = one_vs_rest_epoch(W, Xd_train[perm], digits.y_train[perm])
        val_acc = accuracy(predict_one_vs_rest(W, Xd_val), digits.y_val)
        curve.append(val_acc)
        if val_acc > best[0]:
            best = (val_acc, W, epoch)
    return best, curve


digit_runs = [run_digits_perceptron(seed) for seed in SEEDS]     # one run per visiting order, in SEEDS' order
test_accs = [accuracy(predict_one_vs_rest(W_best, Xd_test), digits.y_test) for (_, W_best, _), _ in digit_runs]
for seed, ((val_acc, _, epoch), _), test_acc in zip(SEEDS, digit_runs, test_accs):
    print(f"order seed {seed}: best validation epoch {epoch:2d} (val {val_acc:.3f}) -> test accuracy {test_acc:.3f}")

# %% mystnb={"image": {"alt": "Left: validation accuracy of one-vs-rest perceptrons on the digits over 30 epochs for five visiting orders, jumping up and down between about 0.82 and 0.96. Right: the ten learned weight rows shown as 8x8 red/blue templates."}}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1.3, 1]})
for seed, (_, curve) in zip(SEEDS, digit_runs):
    axes[0].plot(range(1, len(curve) + 1), curve, label=f"order seed {seed}")
axes[0].set(xlabel="epoch", ylabel="validation accuracy", title="one-vs-rest perceptrons: a noisy ride")
axes[0].legend(fontsize=7)
W_show = digit_runs[0][0][1]                  # the run of the first seed
axes[1].imshow(np.hstack([W_show[c, :64].reshape(8, 8) for c in range(10)]), cmap="RdBu_r")
axes[1].set(title="the ten learned templates (red: +, blue: -)", xticks=[], yticks=[])
fig.tight_layout()
plt.show()

# %% [markdown]
# Each row of $W$, drawn as an 8×8 image, is a class template: the perceptron for "0" rewards ink on a
# ring and penalises ink in the centre. The dot product as template match, learned.
#
# ## Check against PyTorch
#
# PyTorch is our oracle. Three checks, in float64:
#
# 1. the layer $\sigma(XW^\top + b)$ equals `torch.nn.Linear` followed by `torch.heaviside`;
# 2. one epoch of one-vs-rest perceptron training gives **the same weights** as a PyTorch
#    implementation of the same rule on the digits (same order);
# 3. `geometric_margin` equals the same formula computed with tensors, on random shapes.

# %%
torch_rng = torch.Generator().manual_seed(0)
for N, D, C in [(5, 3, 2), (17, 8, 4), (64, 65, 10)]:
    X_ = rng.normal(size=(N, D))
    linear = nn.Linear(D, C, dtype=torch.float64)
    ours = perceptron_layer(X_, linear.weight.detach().numpy(), linear.bias.detach().numpy())
    theirs = torch.heaviside(linear(torch.from_numpy(X_)), torch.tensor(0.0, dtype=torch.float64))
    assert np.array_equal(ours, theirs.detach().numpy()), (N, D, C)
print("layer: identical outputs on 3 random shapes")


def one_vs_rest_epoch_torch(W, X, y, lr=1.0, batch_size=1):
    """The same rule with tensors (on whatever device W, X and y live)."""
    W = W.clone()
    classes = torch.arange(len(W), device=W.device)
    for start in range(0, len(X), batch_size):
        Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
        T = torch.where(classes == yb[:, None], 1.0, -1.0).to(W.dtype)      # (B, C)
        wrong = (T * (Xb @ W.T) <= 0).to(W.dtype)                          # (B, C)
        W += lr * (wrong * T).T @ Xb
    return W


W0 = rng.normal(size=(10, 65)) * 0.01
W_np = one_vs_rest_epoch(W0, Xd_train, digits.y_train)
W_pt = one_vs_rest_epoch_torch(torch.from_numpy(W0), torch.from_numpy(Xd_train), torch.from_numpy(digits.y_train))
max_diff = np.abs(W_np - W_pt.numpy()).max()
assert max_diff < 1e-10, max_diff
print(f"one epoch on the digits: max |W_numpy - W_torch| = {max_diff:.1e}")

for N, D in [(7, 2), (50, 5), (300, 65)]:
    X_, w_ = rng.normal(size=(N, D)), rng.normal(size=D)
    y_ = np.where(X_ @ w_ > 0, 1, -1)
    Xt, wt, yt = map(torch.from_numpy, (X_, w_, y_))
    expected = ((yt * (Xt @ wt)).min() / torch.linalg.vector_norm(wt)).item()
    assert abs(geometric_margin(w_, X_, y_) - expected) < 1e-12
print("margin: equal on 3 random shapes")

# %% [markdown]
# ## PyTorch version
#
# The same multi-class perceptron with tensors on `device` (the GPU when there is one: no code change),
# then the modern way to train the same linear model: **logistic regression**, i.e. softmax +
# cross-entropy, with gradients from autograd and `torch.optim.SGD`. Instead of reacting only to
# mistakes, it nudges the weights on every example in proportion to how wrong the predicted
# probabilities are, and it converges on non-separable data.

# %%
def to_device(*arrays):
    return [torch.as_tensor(a).to(device) for a in arrays]


Xt_train, yt_train, Xt_test, yt_test = to_device(Xd_train, digits.y_train, Xd_test, digits.y_test)
best_epoch = digit_runs[0][0][2]
order_rng = np.random.default_rng(SEEDS[0])    # same visiting order as the first seed above
W_t = torch.zeros(10, 65, dtype=torch.float64, device=device)
for epoch in range(best_epoch):
    perm = torch.as_tensor(order_rng.permutation(len(Xd_train)), device=device)
    W_t = one_vs_rest_epoch_torch(W_t, Xt_train[perm], yt_train[perm])
perceptron_torch_acc = accuracy(Xt_test @ W_t.T, yt_test)                 # argmax of the (N, 10) scores
print(f"perceptron in PyTorch ({best_epoch} epochs): test accuracy {perceptron_torch_acc:.3f} "
      f"(NumPy: {test_accs[0]:.3f})")

# %% [markdown]
# Logistic regression: the model is `nn.Linear(64, 10)` (it has its own bias), the loss
# $\ell = -\log \operatorname{softmax}(Wx+b)_{y}$ (`nn.CrossEntropyLoss`). The loop below is the one every
# later chapter uses, written out once: forward, loss, `zero_grad`, `backward`, `step`. The learning rate is
# chosen on the validation split from {0.05, 0.5, 2}; the number of epochs is fixed at 60.

# %%
def train_logistic(X_train, y_train, epochs=60, lr=0.5, batch_size=64, seed=SEEDS[0]):
    """Softmax regression with autograd and SGD; X (N, 64) float32 tensors on `device`."""
    torch.manual_seed(seed)
    model = nn.Linear(X_train.shape[1], 10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        for idx in torch.randperm(len(X_train), generator=gen).split(batch_size):
            idx = idx.to(device)
            loss = loss_fn(model(X_train[idx]), y_train[idx])    # forward: (B, 10) logits -> scalar
            optimizer.zero_grad()
            loss.backward()                                     # autograd fills .grad
            optimizer.step()                                    # w <- w - lr * grad
        losses.append(loss.item())
    return model, losses


def evaluate(model, X, y):
    """Accuracy of a trained model on (X, y): the course's ``accuracy`` of its (N, 10) scores."""
    with torch.no_grad():
        return accuracy(model(X), y)


Xf_train, Xf_val, Xf_test = to_device(*(a.astype(np.float32) for a in (digits.X_train, digits.X_val, digits.X_test)))
yf_train, yf_val, yf_test = to_device(digits.y_train, digits.y_val, digits.y_test)
val_by_lr = {lr: evaluate(train_logistic(Xf_train, yf_train, lr=lr)[0], Xf_val, yf_val) for lr in (0.05, 0.5, 2.0)}
best_lr = max(val_by_lr, key=val_by_lr.get)
logreg, logreg_losses = train_logistic(Xf_train, yf_train, lr=best_lr)
logreg_acc = evaluate(logreg, Xf_test, yf_test)
print("validation accuracy by learning rate:", {k: round(v, 3) for k, v in val_by_lr.items()})
print(f"logistic regression (lr={best_lr}): test accuracy {logreg_acc:.3f}")

# %% [markdown]
# **Timing.** One epoch of the minibatch perceptron rule (batch 500) on a synthetic problem big
# enough to matter: $N = 50\,000$ inputs of dimension $D = 1\,024$, $C = 10$ classes. The NumPy and the
# PyTorch code are the two functions you saw above. We time them on one thread, like the rest of this
# chapter: with all cores, a timing on a shared machine mostly measures how the libraries' threads share
# the cores, not the libraries. On one thread both end up in the same kind of optimized
# matrix-multiplication code, and the table shows similar times (the last line prints the ratio). The GPU row is where PyTorch pays off (run this notebook on a machine with
# CUDA to fill it in, no code change needed).

# %% tags=["nbval-ignore-output"]
from dlcourse.timing import best_time  # min over repeated calls, in seconds

N_big, D_big = 50_000, 1_024
X_big = rng.normal(size=(N_big, D_big)).astype(np.float32)
y_big = rng.integers(0, 10, size=N_big)
W_big = np.zeros((10, D_big), np.float32)
rows = [("NumPy (CPU)", best_time(lambda: one_vs_rest_epoch(W_big, X_big, y_big, batch_size=500)))]
cpu = [torch.from_numpy(a) for a in (W_big, X_big, y_big)]
rows.append(("PyTorch CPU", best_time(lambda: one_vs_rest_epoch_torch(*cpu, batch_size=500))))
if device.type != "cpu":
    dev = [a.to(device) for a in cpu]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows.append((f"PyTorch {device.type}", best_time(lambda: (one_vs_rest_epoch_torch(*dev, batch_size=500), sync()))))
else:
    rows.append(("PyTorch GPU", float("nan")))
print(f"{'one epoch, N=50k, D=1024, 1 thread':<36}{'seconds':>10}")
for name, t in rows:
    print(f"{name:<36}{'(no GPU here)' if np.isnan(t) else f'{t:10.3f}'}")
print(f"NumPy / PyTorch CPU: {rows[0][1] / rows[1][1]:.2f}")

# %% [markdown]
# ## Experiments
#
# ### Step through the rule yourself
#
# Press **step** to perform the next update: the point that caused it is marked, the boundary moves,
# and the misclassified points are circled. **reset** starts again from $w = 0$. Try the learning rate
# slider: starting from $w=0$ it changes the *length* of $w$ but not its direction, so the sequence of
# boundaries is the same for every $\eta$. That is why Novikoff's bound does not depend on $\eta$.

# %% tags=["nbval-ignore-output", "remove-output"]
from dlcourse.widgets import PerceptronStepper

stepper = PerceptronStepper(toy.X_train, toy.y_train, lr=1.0, seed=SEEDS[0])
stepper.advance(3)     # start a few updates in, so that the first figure already shows a boundary
stepper

# %% [markdown]
# Without a running kernel, e.g. in the web version, the slider below swaps precomputed figures: the
# boundary after a given number of updates, up to convergence.

# %%
dlcourse.widgets.precomputed(stepper, {"updates": [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20]})

# %% [markdown]
# ### Is the learning rate really irrelevant?
#
# We measure it: from $w=0$, the number of updates for $\eta \in \{0.01, 1, 100\}$ on the same data and
# order.

# %%
updates_by_lr = {lr: train_perceptron(X_toy, y_toy, lr=lr, seed=SEEDS[0])[1]["updates"] for lr in (0.01, 1.0, 100.0)}
print("updates to convergence by learning rate:", updates_by_lr)

# %% [markdown]
# ### Updates versus the bound, for shrinking margins
#
# The bound predicts that halving the margin can quadruple the number of mistakes. We generate the toy
# with margins from $0.4$ down to $0.0125$ and ten visiting orders each.

# %% mystnb={"image": {"alt": "Log-log plot of perceptron updates until convergence against the Novikoff bound (R/gamma)^2 for shrinking margins: the measured mean stays orders of magnitude below the dashed bound line but grows as the margin shrinks."}}
margins = [0.4, 0.2, 0.1, 0.05, 0.025, 0.0125]
MARGIN_SEEDS = dlcourse.seeds(10 * SCALE)   # the visiting orders
bound_rows = []
for margin in margins:
    toy_m = data.make_toy("linear", n=200, margin=margin, seed=1)
    X_m, y_m = add_bias(toy_m.X_train.astype(float)), to_signed(toy_m.y_train)
    runs = [train_perceptron(X_m, y_m, seed=s, max_epochs=1000)[1] for s in MARGIN_SEEDS]
    bound_rows.append((margin, novikoff_bound(X_m, y_m, w_star), [r["updates"] for r in runs],
                       all(r["converged"] for r in runs)))

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.loglog([r[1] for r in bound_rows], [np.mean(r[2]) for r in bound_rows], "o-", label=f"measured (mean of {len(MARGIN_SEEDS)} orders)")
ax.loglog([r[1] for r in bound_rows], [r[1] for r in bound_rows], "k--", label="bound $(R/\\gamma)^2$")
ax.set(xlabel="$(R/\\gamma)^2$", ylabel="updates until convergence")
ax.legend()
plt.show()
for margin, bound, ups, conv in bound_rows:
    print(f"margin {margin:<7} bound {bound:9.0f}   updates min/mean/max {min(ups):4d} / {np.mean(ups):6.1f} / {max(ups):4d}   all converged: {conv}")

# %% [markdown]
# The measured counts stay far below the worst-case bound (it is a worst case over all orders and
# datasets with that margin), but they grow as the margin shrinks: small margins are hard.
#
# ## Claims checked
#
# What this chapter measured, asserted. The thresholds are not tuned on the test set: the digits
# threshold, 0.90, is below the lowest test accuracy of the five visiting orders (epochs chosen on
# validation), and the other claims are exact consequences of the theory.

# %%
# NBVAL_CHECK_OUTPUT
lecture_example = perceptron_layer(x[None], W, b)[0]
assert list(W @ x + b) == [7, -5, -1] and list(lecture_example) == [1, 0, 0]
print("lecture example: Wx+b = [7, -5, -1], step -> [1, 0, 0]")

assert best_random <= w @ w + 1e-9
print("template match: no random x of the same length beats x = w")

assert all(conv and max(ups) <= bound for _, bound, ups, conv in bound_rows)
print(f"separable data: converged on all {len(MARGIN_SEEDS) * len(margins)} runs, updates always within (R/gamma)^2")

assert len(set(updates_by_lr.values())) == 1
print("from w = 0 the learning rate does not change the number of updates")

assert not info_xor["converged"] and max(xor_accs) <= 0.75
print(f"XOR: not separated in {info_xor['epochs']} epochs, accuracy never above 0.75")

digits_floor = 0.90
assert min(test_accs) >= digits_floor
print(f"digits one-vs-rest perceptron: test accuracy >= {digits_floor} for all {len(test_accs)} orders")

assert abs(perceptron_torch_acc - test_accs[0]) < 1e-9
print("PyTorch perceptron = NumPy perceptron (same order, same accuracy)")

assert logreg_acc > np.mean(test_accs)
print("logistic regression beats the mean perceptron test accuracy")

# %% [markdown]
# ## Summary
#
# - A neuron computes $\sigma(w^\top x + b)$; a layer of them $\sigma(Wx + b)$, one row of $W$ per
#   output. The dot product measures how well $x$ matches the template $w$.
# - Rosenblatt's rule $w \leftarrow w + \eta y x$ on mistakes finds a separating hyperplane when one
#   exists, after at most $(R/\gamma)^2$ updates; from $w = 0$ the learning rate does not matter.
# - It cannot represent XOR: a single layer only draws hyperplanes. Hidden layers (chapter 02) and a
#   way to train them (backpropagation, chapter 03) are the way out.
# - On non-separable data such as the digits the rule never settles; picking the epoch on a validation
#   set helps, and logistic regression, trained by gradient descent on a smooth loss, does better.
#   (The *averaged perceptron*, which predicts with the mean of all weight vectors, is another fix.)
#
# **Further reading.** Rosenblatt (1958), *The perceptron: a probabilistic model for information storage
# and organization in the brain*; Novikoff (1962), *On convergence proofs for perceptrons*; Minsky &
# Papert (1969), *Perceptrons*; Goodfellow, Bengio & Courville (2016), *Deep Learning*, section 6.1
# (XOR).
#
# **Exercises:** [exercises/01_perceptron](../exercises/01_perceptron.ipynb): the perceptron's dual form
# (weights as counts of mistakes), the averaged perceptron, and a multiclass perceptron with a single
# weight matrix; then reach a stated validation accuracy on the digits with your own code, and answer the
# "Think" questions. Each task has a check that says what is wrong and gives a hint when you ask for one.
