"""The learning-rate explorer of chapter 04: what the learning rate, the optimizer, the schedule and the
batch size do to (a) a trajectory on a 2-D loss surface and (b) the training of a small MLP on the digits,
measured by really running :mod:`dlcourse.numpy_optim` for every setting a student picks.

:func:`surface_run` and :func:`mlp_run` are the experiments (plain code, no widgets; results of
:func:`mlp_run` are kept in memory, keyed by the settings, so that moving back to a setting is instant);
:func:`divergence_message` says how a run ended; :class:`LearningRateExplorer` is the thin shell that calls
them when a control changes and redraws one figure; :func:`lr_sweep_figure` draws the same experiment for a
few fixed learning rates (the static figure shown beside the widget in the book).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from ..validate import check_choice, check_float, check_int
from . import Explorer

__all__ = ["OPTIMIZERS", "SCHEDULES", "BATCH_SIZES", "SURFACES", "make_optimizer", "make_scheduler",
           "surface_run", "mlp_run", "divergence_message", "lr_sweep_figure", "LearningRateExplorer"]

#: optimizer name -> keyword arguments for dlcourse.numpy_optim (besides lr)
OPTIMIZERS = {"SGD": ("SGD", {}), "SGD + momentum": ("SGD", {"momentum": 0.9}),
              "RMSprop": ("RMSprop", {}), "Adam": ("Adam", {})}
SCHEDULES = ("constant", "step", "cosine", "warm-up + cosine", "one-cycle")
BATCH_SIZES = (32, 64, 128, 256)
#: surface name -> (function name in numpy_optim, start point, steps, xlim, ylim, contour levels)
SURFACES = {"bowl": ("quadratic_bowl", (-4.0, 2.5), 60, (-5, 5), (-4, 4), (0.05, 80, 14)),
            "Rosenbrock": ("rosenbrock", (-1.5, 2.0), 500, (-2, 2), (-1, 3), (0.05, 1000, 15))}
LR_MIN, LR_MAX = 1e-4, 10.0
EPOCHS = 30
MLP_BLOWUP, SURFACE_BLOWUP = 1.0, 10.0


def make_optimizer(name: str, params: dict, lr: float):
    """The numpy_optim optimizer called ``name`` (a key of OPTIMIZERS) on ``params``."""
    from .. import numpy_optim

    check_choice("optimizer", name, OPTIMIZERS)
    cls, kwargs = OPTIMIZERS[name]
    return getattr(numpy_optim, cls)(params, lr=lr, **kwargs)


def make_scheduler(name: str, optimizer, total_steps: int):
    """The schedule called ``name`` (one of SCHEDULES) over ``total_steps`` steps; None for 'constant'.

    step: x0.1 after 50% and 75% of the steps; cosine: to 0; warm-up + cosine: linear from 10% over the
    first 10% of the steps, then cosine; one-cycle: OneCycleLR with max_lr = lr (momentum not cycled).
    """
    from .. import numpy_optim as O

    check_choice("schedule", name, SCHEDULES)
    check_int("total_steps", total_steps, 2)
    if name == "constant":
        return None
    if name == "step":
        return O.MultiStepLR(optimizer, [total_steps // 2, 3 * total_steps // 4], gamma=0.1)
    if name == "cosine":
        return O.CosineAnnealingLR(optimizer, total_steps)
    if name == "warm-up + cosine":
        warm = max(1, total_steps // 10)
        return O.SequentialLR(optimizer, [O.LinearLR(optimizer, 0.1, total_iters=warm),
                                          O.CosineAnnealingLR(optimizer, total_steps - warm)], milestones=[warm])
    return O.OneCycleLR(optimizer, optimizer.lr, total_steps=total_steps, cycle_momentum=False)


def _check_settings(optimizer, lr, schedule):
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_float("lr", lr, 0.0, low_open=True)
    check_choice("schedule", schedule, SCHEDULES)


def surface_run(surface: str = "bowl", optimizer: str = "SGD", lr: float = 0.1, schedule: str = "constant") -> dict:
    """Run an optimizer on a 2-D test surface (``numpy_optim.run_on_surface``).

    Returns:
        its dict (``path``, ``values``, ``lrs``, ``diverged_at``) plus ``surface`` and ``steps``.
    """
    from .. import numpy_optim

    check_choice("surface", surface, SURFACES)
    _check_settings(optimizer, lr, schedule)
    fun_name, x0, steps, *_ = SURFACES[surface]
    run = numpy_optim.run_on_surface(getattr(numpy_optim, fun_name), np.array(x0),
                                     lambda p: make_optimizer(optimizer, p, lr), steps=steps,
                                     make_scheduler=lambda o: make_scheduler(schedule, o, steps),
                                     blowup=SURFACE_BLOWUP)
    return {**run, "surface": surface, "steps": steps}


@lru_cache(maxsize=1)
def _digits():
    """The digits as in chapter 04: 1077 training and 270 validation images (float32)."""
    from .. import data

    d = data.load_digits(val_size=0.2, seed=0)
    return d.X_train, d.y_train, d.X_val, d.y_val


@lru_cache(maxsize=512)
def _mlp_run_cached(optimizer, lr, schedule, batch_size, epochs, seed):
    from .. import numpy_nn as nn
    from .. import numpy_optim

    X, y, X_val, y_val = _digits()
    init_rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(64, 128, dtype=np.float32, rng=init_rng), nn.ReLU(),
                          nn.Linear(128, 10, dtype=np.float32, rng=init_rng))
    opt = make_optimizer(optimizer, model.params, lr)
    steps_per_epoch = -(-len(X) // batch_size)
    sched = make_scheduler(schedule, opt, epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    with threadpool_limits(limits=1, user_api="blas"):       # small matrices: one BLAS thread is fastest
        initial_val = loss_fn(model(X_val), y_val)
        hist = numpy_optim.train_classifier(model, X, y, opt, epochs, batch_size, scheduler=sched, X_val=X_val,
                                            y_val=y_val, seed=seed, blowup=MLP_BLOWUP)
        val_acc = float(np.mean(model(X_val).argmax(1) == y_val)) if hist["diverged_at"] is None else float("nan")
    hist = {k: (np.asarray(v, float) if isinstance(v, list) else v) for k, v in hist.items()}
    hist["step_lr"] = hist.pop("lr")
    hist["val_loss"] = np.concatenate([[initial_val], hist["val_loss"]])    # epoch 0 = before training
    return {**hist, "val_acc": val_acc, "optimizer": optimizer, "lr": lr, "schedule": schedule,
            "batch_size": batch_size, "epochs": epochs}


def mlp_run(optimizer: str = "SGD", lr: float = 0.1, schedule: str = "constant", batch_size: int = 32,
            epochs: int = EPOCHS, seed: int = 0) -> dict:
    """Train an MLP 64-128-10 (ReLU, float32) on 1077 digits with dlcourse.numpy_optim and measure it.

    Really trains (``numpy_optim.train_classifier``); results are cached in memory by their settings.
    A run stops, diverged, at a loss that is not finite or after an epoch whose mean training loss is
    above the loss before training (see ``train_classifier``).

    Returns:
        dict with ``step_loss`` and ``step_lr`` (the scheduled lr) per step, ``train_loss`` (per epoch),
        ``val_loss`` (epoch 0 = before training, then per epoch), ``val_acc`` (final; NaN if diverged),
        ``initial_loss``, ``steps_per_epoch``, ``diverged_at`` and the settings (``optimizer``, ``lr``,
        ``schedule``, ``batch_size``, ``epochs``). Treat it as read-only: it is shared with later calls.
    """
    _check_settings(optimizer, lr, schedule)
    check_int("batch_size", batch_size, 1)
    check_int("epochs", epochs, 1)
    check_int("seed", seed, 0)
    return _mlp_run_cached(optimizer, float(lr), schedule, int(batch_size), int(epochs), int(seed))


def divergence_message(run: dict) -> str:
    """'diverged at step k' for a run that diverged, else an empty string."""
    k = run.get("diverged_at")
    return "" if k is None else f"diverged at step {k}"


def _epoch_axis(run):
    return np.arange(len(run["step_loss"])) / run["steps_per_epoch"]


def lr_sweep_figure(lrs=(1e-3, 1e-2, 0.1, 1.0, 10.0), optimizer="SGD + momentum", schedule="constant",
                    batch_size=32, surface="bowl"):
    """The explorer's experiment for several learning rates at once, as a static matplotlib figure:
    trajectories on the surface (left) and validation-loss curves of the MLP (right)."""
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    _draw_contour(ax_s, surface)
    for i, lr in enumerate(lrs):
        color = f"C{i}"
        s_run = surface_run(surface, optimizer, lr, schedule)
        note = f" ({divergence_message(s_run)})" if s_run["diverged_at"] is not None else ""
        ax_s.plot(*s_run["path"].T, ".-", color=color, ms=2, lw=1, label=f"lr {lr:g}{note}")
        m_run = mlp_run(optimizer, lr, schedule, batch_size)
        if m_run["diverged_at"] is None:
            ax_m.plot(np.arange(len(m_run["val_loss"])), m_run["val_loss"], color=color,
                      label=f"lr {lr:g}: val acc {m_run['val_acc']:.2f}")
        else:
            x = _epoch_axis(m_run)
            ax_m.plot(x, m_run["step_loss"], color=color, lw=1, label=f"lr {lr:g}: {divergence_message(m_run)}")
            ax_m.plot(x[-1], min(m_run["step_loss"][-1], 1e3), "x", color=color, ms=10, mew=2)
    ax_s.set_title(f"{optimizer}, {schedule}: {surface}", fontsize=10)
    ax_s.legend(fontsize=7, loc="lower right")
    ax_m.set(yscale="log", xlabel="epoch", ylabel="validation loss (x: divergence)",
             title=f"MLP on the digits, batch {batch_size}")
    ax_m.set_ylim(top=min(ax_m.get_ylim()[1], 1e3))
    ax_m.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _draw_contour(ax, surface):
    from .. import numpy_optim

    fun_name, x0, _, xlim, ylim, (lo, hi, n) = SURFACES[surface]
    gx, gy = np.meshgrid(np.linspace(*xlim, 150), np.linspace(*ylim, 120))
    values = getattr(numpy_optim, fun_name)(np.stack([gx, gy], -1))[0]
    ax.contour(gx, gy, values, levels=np.geomspace(lo, hi, n), cmap="Greys", linewidths=0.6)
    ax.plot(*x0, "ko", ms=5)
    ax.set(xlim=xlim, ylim=ylim)


class LearningRateExplorer(Explorer):
    """Pick a learning rate (log slider, 1e-4 to 10), an optimizer, a schedule, a batch size and a surface;
    see (a) the optimizer's path on the 2-D surface and (b) the training and validation loss of an MLP
    64-128-10 trained for 30 epochs on the digits with exactly these settings. A run that diverges is drawn
    up to the step where it diverged, and labelled "diverged at step k".

    Args:
        lr, optimizer, schedule, batch_size, surface: initial values of the controls.
    """

    def __init__(self, lr: float = 0.1, optimizer: str = "SGD + momentum", schedule: str = "constant",
                 batch_size: int = 32, surface: str = "bowl"):
        import ipywidgets as W

        check_float("lr", lr, LR_MIN, LR_MAX)
        check_choice("batch_size", batch_size, BATCH_SIZES)
        controls = {
            "lr": W.FloatLogSlider(value=lr, base=10, min=np.log10(LR_MIN), max=np.log10(LR_MAX), step=0.25,
                                   description="lr", continuous_update=False, readout_format=".2g"),
            "optimizer": W.Dropdown(options=list(OPTIMIZERS), value=optimizer, description="optimizer"),
            "schedule": W.Dropdown(options=list(SCHEDULES), value=schedule, description="schedule"),
            "batch_size": W.Dropdown(options=list(BATCH_SIZES), value=batch_size, description="batch"),
            "surface": W.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        }
        for c in controls.values():
            c.layout.width = "230px"
        super().__init__(controls, figsize=(9.5, 3.6))
        self.widget.children = (W.VBox([W.HBox(list(controls.values())[:3]), W.HBox(list(controls.values())[3:])]),
                                *self.widget.children[1:])
        self.ax_surface, self.ax_mlp = self.fig.subplots(1, 2)
        self.fig.subplots_adjust(left=0.05, right=0.98, bottom=0.14, top=0.9, wspace=0.18)
        ax = self.ax_mlp                          # persistent artists: an update only changes their data
        (self._step_line,) = ax.plot([], [], color="C0", alpha=0.25, lw=0.8, label="minibatch loss")
        (self._train_line,) = ax.plot([], [], "C0-", label="training loss (epoch mean)")
        (self._val_line,) = ax.plot([], [], "C1-", label="validation loss")
        (self._mlp_end,) = ax.plot([], [], "x", color="red", ms=10, mew=2)
        self._start_line = ax.axhline(1.0, color="gray", ls=":", lw=1, label="loss before training")
        self._mlp_text = ax.text(0.5, 0.55, "", transform=ax.transAxes, ha="center", color="red", fontsize=10)
        ax.set(yscale="log", xlim=(0, EPOCHS), xlabel="epoch", ylabel="cross-entropy")
        ax.legend(fontsize=7, loc="lower left")
        self._contour_of = None
        self.update()

    # the experiment -------------------------------------------------------------------------
    def compute(self, lr, optimizer, schedule, batch_size, surface):
        return {"surface": surface_run(surface, optimizer, lr, schedule),
                "mlp": mlp_run(optimizer, lr, schedule, batch_size)}

    def messages(self, result=None) -> dict:
        """The verdict lines of the current result (or of ``result``): {'surface': ..., 'mlp': ...}."""
        result = self.result if result is None else result
        s, m = result["surface"], result["mlp"]
        surf = divergence_message(s) or f"F = {s['values'][-1]:.2g} after {len(s['values']) - 1} steps"
        mlp = divergence_message(m) or (f"val loss {m['val_loss'][-1]:.3f}, val acc {m['val_acc']:.3f} "
                                        f"after {m['epochs']} epochs")
        return {"surface": surf, "mlp": mlp}

    def alt_text(self, result) -> str:
        s, m = result["surface"], result["mlp"]
        msg = self.messages(result)
        return (f"{m['optimizer']} at learning rate {m['lr']:.3g}, {m['schedule']} schedule. Left: its path on the "
                f"{s['surface']} surface, {msg['surface']}. Right: MLP loss curves on the digits, batch "
                f"{m['batch_size']}: {msg['mlp']}")

    # the picture ----------------------------------------------------------------------------
    def draw(self, result) -> None:
        s, m = result["surface"], result["mlp"]
        msg = self.messages(result)
        ax = self.ax_surface
        if self._contour_of != s["surface"]:
            ax.clear()
            _draw_contour(ax, s["surface"])
            ax.set(xticks=[], yticks=[])
            (self._path_line,) = ax.plot([], [], ".-", color="C0", ms=3, lw=1)
            (self._path_end,) = ax.plot([], [], "x", color="red", ms=10, mew=2)
            self._contour_of = s["surface"]
        self._path_line.set_data(*s["path"].T)
        self._path_end.set_data(*(s["path"][-1:].T if s["diverged_at"] is not None else ([], [])))
        ax.set_title(f"{s['surface']}: {msg['surface']}", fontsize=9,
                     color="red" if s["diverged_at"] is not None else "k")

        ax, x, diverged = self.ax_mlp, _epoch_axis(m), m["diverged_at"] is not None
        self._step_line.set_data(x, m["step_loss"])
        self._step_line.set(marker="o" if diverged else "", alpha=1.0 if diverged else 0.25)
        self._start_line.set_ydata([m["initial_loss"]] * 2)
        self._mlp_text.set_text(f"{msg['mlp']}:\nminibatch loss {m['step_loss'][-1]:.3g} after "
                                f"{m['diverged_at']} step(s),\nloss before training {m['initial_loss']:.3g}"
                                if diverged else "")
        self._train_line.set_data(np.arange(1, len(m["train_loss"]) + 1), m["train_loss"])
        self._val_line.set_data(*((np.arange(len(m["val_loss"])), m["val_loss"]) if not diverged else ([], [])))
        self._mlp_end.set_data(*(([x[-1]], [min(m["step_loss"][-1], 1e6)]) if diverged else ([], [])))
        finite = m["step_loss"][np.isfinite(m["step_loss"])]
        low = max(min(finite.min(initial=1.0), m["val_loss"].min()) / 2, 1e-4)
        ax.set_ylim(low, min(max(finite.max(initial=3.0), 3.0) * 1.5, 1e6))
        title = f"MLP: {msg['mlp']}" + (f" (epoch {x[-1]:.2f})" if diverged else "")
        ax.set_title(title, fontsize=9, color="red" if diverged else "k")
        self.status.value = (f"{m['optimizer']}, lr {m['lr']:.3g}, {m['schedule']}, batch {m['batch_size']}: "
                             f"surface {msg['surface']}; MLP {msg['mlp']}.")
