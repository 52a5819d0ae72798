"""Twin tests: every dlcourse.numpy_optim optimizer and learning-rate scheduler against its torch.optim twin,
step by step, on random parameters and gradients, with random hyper-parameters, in float64; plus the
signatures (same keyword names and defaults as PyTorch), the errors raised on bad arguments, and the helpers
(run_on_surface, train_classifier, lr_range_test, suggest_lr)."""
import inspect
import math
import warnings

import numpy as np
import pytest
import torch

from dlcourse import numpy_optim as O

N_CONFIGS = 12
N_STEPS = 60
TOL = dict(rtol=1e-10, atol=1e-12)
S = torch.optim.lr_scheduler


# ---- optimizers ----------------------------------------------------------------------------------
def _maybe(rng, value, p=0.5):
    return value if rng.random() < p else 0.0


def _optimizer_configs(name, rng):
    """Random hyper-parameters for optimizer ``name``, covering every option."""
    maximize = bool(rng.integers(0, 2))
    if name == "SGD":
        momentum = _maybe(rng, float(rng.uniform(0.1, 0.99)), 0.7)
        nesterov = bool(momentum > 0 and rng.integers(0, 2))
        dampening = 0.0 if nesterov else _maybe(rng, float(rng.uniform(0, 1)))
        return dict(lr=float(rng.uniform(1e-3, 0.5)), momentum=momentum, dampening=dampening,
                    weight_decay=_maybe(rng, float(rng.uniform(0, 0.1))), nesterov=nesterov, maximize=maximize)
    if name == "Adagrad":
        return dict(lr=float(rng.uniform(1e-3, 0.5)), lr_decay=_maybe(rng, float(rng.uniform(0, 0.1))),
                    weight_decay=_maybe(rng, float(rng.uniform(0, 0.1))),
                    initial_accumulator_value=_maybe(rng, float(rng.uniform(0, 1))),
                    eps=float(rng.choice([1e-10, 1e-6, 1e-3])), maximize=maximize)
    if name == "RMSprop":
        return dict(lr=float(rng.uniform(1e-4, 1e-2)), alpha=float(rng.uniform(0.5, 0.999)),
                    eps=float(rng.choice([1e-8, 1e-6, 1e-3])), weight_decay=_maybe(rng, float(rng.uniform(0, 0.1))),
                    momentum=_maybe(rng, float(rng.uniform(0.1, 0.95))), centered=bool(rng.integers(0, 2)),
                    maximize=maximize)
    if name == "Rprop":
        etaminus, etaplus = float(rng.uniform(0.1, 0.9)), float(rng.uniform(1.05, 2.0))
        step_min = float(rng.choice([0.0, 1e-6, 1e-3]))
        return dict(lr=float(rng.uniform(1e-4, 0.5)), etas=(etaminus, etaplus),
                    step_sizes=(step_min, float(rng.choice([step_min + 0.01, 1.0, 50.0]))), maximize=maximize)
    # Adam, AdamW
    return dict(lr=float(rng.uniform(1e-4, 0.1)), betas=(float(rng.uniform(0, 0.99)), float(rng.uniform(0.9, 0.9999))),
                eps=float(rng.choice([1e-8, 1e-6, 1e-3])),
                weight_decay=_maybe(rng, float(rng.uniform(0, 0.1)), 0.7 if name == "Adam" else 1.0),
                amsgrad=bool(rng.integers(0, 2)), maximize=maximize)


def _random_shapes(rng):
    shapes = {"0.weight": (int(rng.integers(1, 6)), int(rng.integers(1, 6))), "0.bias": (int(rng.integers(1, 6)),)}
    if rng.random() < 0.5:
        shapes["2.weight"] = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    return shapes


def _run_twins(ours_cls, theirs_cls, kwargs, rng, steps=N_STEPS, schedule=None):
    """Step both optimizers on the same random gradients; compare parameters (and lr) after every step."""
    shapes = _random_shapes(rng)
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    ours, theirs = ours_cls(params, **kwargs), theirs_cls(list(tensors.values()), **kwargs)
    sched_o = sched_t = None
    if schedule is not None:
        sched_o, sched_t = schedule(ours, O), schedule(theirs, S)
    identity = {k: id(v) for k, v in params.items()}
    for step in range(steps):
        grads = {k: rng.normal(size=s) * float(rng.choice([1e-3, 1.0, 10.0])) for k, s in shapes.items()}
        ours.step(grads)
        for k, t in tensors.items():
            t.grad = torch.from_numpy(grads[k].copy())
        theirs.step()
        if schedule is not None:
            sched_o.step()
            sched_t.step()
            assert math.isclose(ours.lr, theirs.param_groups[0]["lr"], rel_tol=1e-10, abs_tol=1e-15), step
        for k, t in tensors.items():
            np.testing.assert_allclose(params[k], t.detach().numpy(), **TOL, err_msg=f"{k} at step {step}")
    assert {k: id(v) for k, v in params.items()} == identity, "parameters must be updated in place"


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Rprop"])
def test_optimizer_equals_torch_step_by_step(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    for _ in range(N_CONFIGS):
        _run_twins(getattr(O, name), getattr(torch.optim, name), _optimizer_configs(name, rng), rng)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {}), ("SGD", dict(momentum=0.9)), ("SGD", dict(momentum=0.9, nesterov=True)),
    ("SGD", dict(momentum=0.5, dampening=0.5, weight_decay=0.01)), ("Adagrad", {}), ("RMSprop", {}),
    ("RMSprop", dict(centered=True, momentum=0.9)), ("Adam", {}), ("Adam", dict(amsgrad=True, weight_decay=0.1)),
    ("AdamW", {}), ("AdamW", dict(amsgrad=True)), ("Rprop", {}),
    ("Rprop", dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.1)))])
def test_optimizer_defaults_equal_torch(name, kwargs):
    _run_twins(getattr(O, name), getattr(torch.optim, name), kwargs, np.random.default_rng(1))


TORCH_ONLY = {"foreach", "fused", "capturable", "differentiable", "decoupled_weight_decay"}


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Rprop"])
def test_optimizer_signature_matches_torch(name):
    ours = inspect.signature(getattr(O, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    expected = [k for k in theirs if k not in TORCH_ONLY]
    assert sorted(ours) == sorted(expected)
    positional = []                          # torch's positional arguments, up to its first torch-only one
    for k, p in theirs.items():
        if p.kind != p.POSITIONAL_OR_KEYWORD or k in TORCH_ONLY:
            break
        positional.append(k)
    assert [k for k, p in ours.items() if p.kind == p.POSITIONAL_OR_KEYWORD] == positional
    assert ours["maximize"].kind == inspect.Parameter.KEYWORD_ONLY
    for k in expected:
        if k != "params":
            assert ours[k].default == theirs[k].default, (name, k)


def test_optimizer_state_and_lr_attribute():
    params = {"w": np.ones(3)}
    opt = O.Adam(params, lr=0.01)
    assert opt.lr == 0.01 and isinstance(opt.lr, float)
    opt.step({"w": np.ones(3)})
    assert opt.t == 1 and set(opt.state["w"]) == {"exp_avg", "exp_avg_sq"}
    opt.lr = 0.0                                       # a scheduler would do this
    before = params["w"].copy()
    opt.step({"w": np.ones(3)})
    np.testing.assert_array_equal(params["w"], before)
    assert "Adam(" in repr(opt)


def test_optimizer_works_on_numpy_nn_model():
    from dlcourse import numpy_nn as nn

    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(4, 3, rng=rng), nn.ReLU(), nn.Linear(3, 2, rng=rng))
    opt = O.SGD(model.params, lr=0.1, momentum=0.9)
    before = {k: v.copy() for k, v in model.params.items()}
    loss = nn.CrossEntropyLoss()
    loss(model(rng.normal(size=(5, 4))), rng.integers(0, 2, 5))
    model.backward(loss.backward())
    opt.step(model.grads)
    assert all(not np.array_equal(before[k], v) for k, v in model.params.items())   # the model sees the update


# ---- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make,match", [
    (lambda p: O.SGD(p, lr=-0.1), "lr must be"),
    (lambda p: O.Adam(p, lr=-1e-3), "lr must be"),
    (lambda p: O.SGD(p, lr=0.1, momentum=-0.5), "momentum must be"),
    (lambda p: O.SGD(p, lr=0.1, weight_decay=-1), "weight_decay must be"),
    (lambda p: O.SGD(p, lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda p: O.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    (lambda p: O.Adam(p, betas=(0.9, 1.0)), r"betas\[1\] must be in \[0, 1\)"),
    (lambda p: O.Adam(p, betas=(-0.1, 0.999)), r"betas\[0\] must be"),
    (lambda p: O.AdamW(p, betas=(0.9,)), "betas must be a pair"),
    (lambda p: O.Adam(p, eps=-1e-8), "eps must be"),
    (lambda p: O.Adagrad(p, lr_decay=-1), "lr_decay must be"),
    (lambda p: O.Adagrad(p, initial_accumulator_value=-1), "initial_accumulator_value must be"),
    (lambda p: O.RMSprop(p, alpha=-0.5), "alpha must be"),
    (lambda p: O.RMSprop(p, momentum=-0.5), "momentum must be"),
    (lambda p: O.Rprop(p, etas=(1.2, 0.5)), "etas must be"),
    (lambda p: O.Rprop(p, etas=(0.5,)), "etas must be"),
    (lambda p: O.Rprop(p, step_sizes=(1.0, 1e-6)), "step_sizes must be"),
])
def test_bad_hyper_parameters_raise_value_error_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make({"w": np.zeros(2)})


def test_unknown_keyword_is_a_value_error_with_a_suggestion():
    with pytest.raises(ValueError, match=r"SGD got an unknown keyword argument 'momentun'; did you mean 'momentum'"):
        O.SGD({"w": np.zeros(2)}, lr=0.1, momentun=0.9)
    with pytest.raises(TypeError, match="unknown keyword argument 'foreach'"):   # also a TypeError, as Python's
        O.Adam({"w": np.zeros(2)}, foreach=True)
    with pytest.raises(ValueError, match="unknown keyword argument 'gama'; did you mean 'gamma'"):
        O.StepLR(O.SGD({"w": np.zeros(2)}, lr=0.1), step_size=3, gama=0.5)


@pytest.mark.parametrize("params,err,match", [
    ([np.zeros(2)], TypeError, "params must be a non-empty dict"),
    ({}, TypeError, "params must be a non-empty dict"),
    ({"w": np.zeros(2, dtype=int)}, TypeError, "parameter 'w' must be a float ndarray"),
    ({"w": [0.0, 1.0]}, TypeError, "parameter 'w' must be a float ndarray"),
])
def test_bad_params_raise(params, err, match):
    with pytest.raises(err, match=match):
        O.SGD(params, lr=0.1)


def test_bad_grads_raise():
    opt = O.SGD({"w": np.zeros(2), "b": np.zeros(1)}, lr=0.1)
    with pytest.raises(KeyError, match=r"missing \['b'\], unexpected \['c'\]"):
        opt.step({"w": np.zeros(2), "c": np.zeros(1)})
    with pytest.raises(ValueError, match=r"gradient 'w' has shape \(3,\)"):
        opt.step({"w": np.zeros(3), "b": np.zeros(1)})


# ---- schedulers ----------------------------------------------------------------------------------
def _quiet(fn):
    with warnings.catch_warnings():          # torch's SequentialLR warns spuriously at construction
        warnings.simplefilter("ignore", UserWarning)
        return fn()


def _scheduler_twins(make, opt_name="SGD", opt_kwargs=None, steps=N_STEPS, metrics=None, compare_momentum=False):
    """Build the same schedule on both sides; compare lr (and momentum) after construction and every step."""
    opt_kwargs = dict(lr=0.1, momentum=0.9) if opt_kwargs is None else opt_kwargs
    params = {"w": np.zeros(2)}
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    ours, theirs = getattr(O, opt_name)(params, **opt_kwargs), getattr(torch.optim, opt_name)([w], **opt_kwargs)
    sched_o, sched_t = make(ours, O), _quiet(lambda: make(theirs, S))

    def check(step):
        group = theirs.param_groups[0]
        assert math.isclose(ours.lr, group["lr"], rel_tol=1e-10, abs_tol=1e-15), (step, ours.lr, group["lr"])
        if compare_momentum:
            mine = ours.betas[0] if "betas" in group else ours.momentum
            torch_m = group["betas"][0] if "betas" in group else group["momentum"]
            assert math.isclose(mine, torch_m, rel_tol=1e-10, abs_tol=1e-15), (step, mine, torch_m)

    check("after construction")
    for step in range(steps):
        grad = np.ones(2)
        ours.step({"w": grad})
        w.grad = torch.ones(2, dtype=torch.float64)
        theirs.step()
        if metrics is None:
            sched_o.step()
            sched_t.step()
        else:
            sched_o.step(metrics[step])
            sched_t.step(metrics[step])
        check(step)
    np.testing.assert_allclose(params["w"], w.detach().numpy(), **TOL)
    assert sched_o.get_last_lr() == pytest.approx(sched_t.get_last_lr(), rel=1e-10)


def _rand_schedules(rng):
    """(name, make(optimizer, module)) for random configurations of every scheduler."""
    step_size, gamma = int(rng.integers(1, 15)), float(rng.uniform(0.1, 0.99))
    milestones = sorted(set(int(m) for m in rng.integers(1, N_STEPS, size=int(rng.integers(1, 4)))))
    T_max, eta_min = int(rng.integers(5, 80)), _maybe(rng, float(rng.uniform(0, 0.01)))
    start, end, total = float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.0, 1.0)), int(rng.integers(1, 40))
    t0 = float(rng.uniform(1, 50))
    warm = int(rng.integers(1, 20))
    second = warm + int(rng.integers(1, 20))
    return [
        ("StepLR", lambda o, M: M.StepLR(o, step_size, gamma)),
        ("MultiStepLR", lambda o, M: M.MultiStepLR(o, milestones, gamma)),
        ("ExponentialLR", lambda o, M: M.ExponentialLR(o, gamma)),
        ("CosineAnnealingLR", lambda o, M: M.CosineAnnealingLR(o, T_max, eta_min)),
        ("LinearLR", lambda o, M: M.LinearLR(o, start, end, total)),
        ("LambdaLR", lambda o, M: M.LambdaLR(o, lambda t: t0 / (t + t0))),
        ("SequentialLR warm-up + cosine", lambda o, M: M.SequentialLR(
            o, [M.LinearLR(o, start, total_iters=warm), M.CosineAnnealingLR(o, N_STEPS - warm, eta_min)], [warm])),
        ("SequentialLR of three", lambda o, M: M.SequentialLR(
            o, [M.ExponentialLR(o, gamma), M.StepLR(o, step_size, 0.5), M.LinearLR(o, start, end, total)],
            [warm, second])),
    ]


def test_schedulers_equal_torch_step_by_step():
    rng = np.random.default_rng(0)
    for _ in range(N_CONFIGS):
        lr = float(rng.uniform(1e-3, 1.0))
        for name, make in _rand_schedules(rng):
            _scheduler_twins(make, opt_kwargs=dict(lr=lr, momentum=0.9))


def test_schedulers_drive_every_optimizer_like_torch():
    rng = np.random.default_rng(1)
    warmup_cosine = lambda o, M: M.SequentialLR(o, [M.LinearLR(o, 0.1, total_iters=10),  # noqa: E731
                                                    M.CosineAnnealingLR(o, N_STEPS - 10)], [10])
    for name in ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW"):
        _run_twins(getattr(O, name), getattr(torch.optim, name), _optimizer_configs(name, rng), rng,
                   schedule=lambda o, M: _quiet(lambda: warmup_cosine(o, M)))


@pytest.mark.parametrize("opt_name,opt_kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1)),
                                                 ("Adam", dict(lr=0.01)), ("RMSprop", dict(lr=0.01))])
def test_one_cycle_equals_torch_including_momentum(opt_name, opt_kwargs):
    rng = np.random.default_rng(2)
    for _ in range(6):
        total = int(rng.integers(N_STEPS, 2 * N_STEPS))
        kw = dict(max_lr=float(rng.uniform(0.01, 1.0)), pct_start=float(rng.uniform(0.1, 0.5)),
                  anneal_strategy=str(rng.choice(["cos", "linear"])), div_factor=float(rng.uniform(5, 50)),
                  final_div_factor=float(rng.choice([1e2, 1e4])), three_phase=bool(rng.integers(0, 2)),
                  base_momentum=float(rng.uniform(0.7, 0.85)), max_momentum=float(rng.uniform(0.86, 0.99)))
        _scheduler_twins(lambda o, M: M.OneCycleLR(o, total_steps=total, **kw), opt_name, opt_kwargs,
                         steps=total, compare_momentum=True)
    # epochs * steps_per_epoch, and cycle_momentum=False leaves the momentum alone
    _scheduler_twins(lambda o, M: M.OneCycleLR(o, 0.5, epochs=5, steps_per_epoch=12, cycle_momentum=False),
                     opt_name, opt_kwargs, steps=60, compare_momentum=True)


@pytest.mark.parametrize("opt_name,opt_kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
def test_cyclic_equals_torch_including_momentum(opt_name, opt_kwargs):
    rng = np.random.default_rng(3)
    for mode in ("triangular", "triangular2", "exp_range"):
        for _ in range(3):
            up = int(rng.integers(1, 15))
            down = None if rng.random() < 0.5 else int(rng.integers(1, 15))
            kw = dict(base_lr=float(rng.uniform(1e-4, 1e-2)), max_lr=float(rng.uniform(0.02, 1.0)), step_size_up=up,
                      step_size_down=down, mode=mode, gamma=float(rng.uniform(0.9, 1.0)),
                      base_momentum=float(rng.uniform(0.7, 0.85)), max_momentum=float(rng.uniform(0.86, 0.99)))
            _scheduler_twins(lambda o, M: M.CyclicLR(o, **kw), opt_name, opt_kwargs, steps=80, compare_momentum=True)
    _scheduler_twins(lambda o, M: M.CyclicLR(o, 0.01, 0.1, 5, scale_fn=lambda x: 0.9 ** x, scale_mode="iterations",
                                             cycle_momentum=False), opt_name, opt_kwargs, compare_momentum=True)


def test_reduce_on_plateau_equals_torch():
    rng = np.random.default_rng(4)
    for _ in range(N_CONFIGS):
        noise = rng.random(N_STEPS) * float(rng.choice([1e-5, 0.01, 0.1]))
        trend = np.minimum.accumulate(np.r_[1.0, 1.0 - np.cumsum(rng.random(N_STEPS - 1) * 0.02)])
        mode = str(rng.choice(["min", "max"]))
        metrics = list((trend if mode == "min" else -trend) + noise)
        kw = dict(mode=mode, factor=float(rng.uniform(0.1, 0.9)), patience=int(rng.integers(0, 6)),
                  threshold=float(rng.choice([1e-4, 1e-2, 0.1])), threshold_mode=str(rng.choice(["rel", "abs"])),
                  cooldown=int(rng.integers(0, 4)), min_lr=_maybe(rng, 1e-3), eps=float(rng.choice([1e-8, 1e-3])))
        _scheduler_twins(lambda o, M: M.ReduceLROnPlateau(o, **kw), metrics=metrics)


SCHEDULERS = ["LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR",
              "OneCycleLR", "CyclicLR", "ReduceLROnPlateau"]


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_signature_matches_torch(name):
    ours = inspect.signature(getattr(O, name)).parameters
    theirs = {k: p for k, p in inspect.signature(getattr(S, name)).parameters.items() if k != "last_epoch"}
    assert list(ours) == list(theirs)
    for k, p in theirs.items():
        assert ours[k].default == p.default, (name, k)


def test_scheduler_errors():
    opt = O.SGD({"w": np.zeros(2)}, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="needs a numpy_optim optimizer"):
        O.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), 3)
    with pytest.raises(ValueError, match="step_size must be an int >= 1"):
        O.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max must be an int >= 1"):
        O.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="start_factor must be in"):
        O.LinearLR(opt, start_factor=0.0)
    with pytest.raises(ValueError, match="total_steps, or epochs and steps_per_epoch"):
        O.OneCycleLR(opt, 0.1)
    with pytest.raises(ValueError, match="pct_start must be"):
        O.OneCycleLR(opt, 0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy must be"):
        O.OneCycleLR(opt, 0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="mode must be"):
        O.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="cycle_momentum=True needs an optimizer with momentum"):
        O.CyclicLR(O.Adagrad({"w": np.zeros(2)}), 0.01, 0.1)
    with pytest.raises(ValueError, match="factor must be < 1"):
        O.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="threshold_mode must be"):
        O.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="one more scheduler than milestones"):
        O.SequentialLR(opt, [O.StepLR(opt, 3)], milestones=[5])
    other = O.SGD({"v": np.zeros(1)}, lr=0.1)
    with pytest.raises(ValueError, match="must use its optimizer"):
        O.SequentialLR(opt, [O.StepLR(opt, 3), O.StepLR(other, 3)], milestones=[5])


def test_one_cycle_raises_after_its_last_step_like_torch():
    opt = O.SGD({"w": np.zeros(1)}, lr=0.1, momentum=0.9)
    sched = O.OneCycleLR(opt, 0.1, total_steps=5)
    for _ in range(5):
        sched.step()
    with pytest.raises(ValueError, match="total_steps is 5"):
        sched.step()


# ---- helpers -------------------------------------------------------------------------------------
def test_surfaces_gradients_match_torch_autograd():
    rng = np.random.default_rng(5)
    for fun, torch_fun in [(O.quadratic_bowl, None), (O.rosenbrock, lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2)]:
        for _ in range(10):
            p = rng.normal(size=2)
            value, grad = fun(p)
            pt = torch.tensor(p, requires_grad=True)
            if torch_fun is None:
                a = math.radians(30.0)
                R = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64)
                out = 0.5 * pt @ (R @ torch.diag(torch.tensor([0.5, 10.0], dtype=torch.float64)) @ R.T) @ pt
            else:
                out = torch_fun(pt)
            out.backward()
            assert value == pytest.approx(out.item(), rel=1e-12)
            np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-12)
        grid = rng.normal(size=(4, 3, 2))                      # works on grids too
        values, grads = fun(grid)
        assert values.shape == (4, 3) and grads.shape == (4, 3, 2)


def test_run_on_surface_threshold_2_over_lambda_max():
    x0 = np.array([-4.0, 2.5])
    below = O.run_on_surface(O.quadratic_bowl, x0, lambda p: O.SGD(p, lr=0.199), steps=3000)
    above = O.run_on_surface(O.quadratic_bowl, x0, lambda p: O.SGD(p, lr=0.201), steps=3000)
    assert below["diverged_at"] is None and below["values"][-1] < 1e-8
    assert above["diverged_at"] is not None and above["values"][-1] > 10 * above["values"][0]
    assert len(above["path"]) == len(above["values"]) == above["diverged_at"] + 1
    assert len(below["lrs"]) == 3000 and len(below["path"]) == 3001


def test_first_divergence():
    assert O.first_divergence([2.0, 1.0, 0.5]) is None
    assert O.first_divergence([2.0, 1.0, 25.0, 1.0]) == 2
    assert O.first_divergence([2.0, np.nan], blowup=100) == 1
    assert O.first_divergence([2.0, 2.5, 3.5], blowup=1.5) == 2


def _digits(n=300):
    from dlcourse import data

    d = data.load_digits(val_size=0.2, seed=0)
    return d.X_train[:n].astype(np.float64), d.y_train[:n], d.X_val.astype(np.float64), d.y_val


def _mlp(seed=0):
    from dlcourse import numpy_nn as nn

    r = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(64, 32, rng=r), nn.ReLU(), nn.Linear(32, 10, rng=r))


def test_train_classifier_trains_and_records():
    X, y, Xv, yv = _digits()
    model = _mlp()
    opt = O.SGD(model.params, lr=0.1, momentum=0.9)
    hist = O.train_classifier(model, X, y, opt, epochs=3, batch_size=50, scheduler=O.CosineAnnealingLR(opt, 18),
                              X_val=Xv, y_val=yv)
    assert hist["diverged_at"] is None and hist["steps_per_epoch"] == 6
    assert len(hist["step_loss"]) == len(hist["lr"]) == len(hist["grad_norm"]) == 18
    assert len(hist["train_loss"]) == len(hist["val_loss"]) == 3
    assert hist["val_loss"][-1] < hist["initial_loss"] and hist["lr"][0] == 0.1 and hist["lr"][-1] < 0.01


def test_train_classifier_detects_divergence_and_clipping_rescues():
    X, y, _, _ = _digits()
    model = _mlp()
    hist = O.train_classifier(model, X, y, O.SGD(model.params, lr=50.0), epochs=3, batch_size=50)
    k = hist["diverged_at"]
    assert k is not None and len(hist["step_loss"]) == k + 1
    assert not np.isfinite(hist["step_loss"][k]) or hist["step_loss"][k] > hist["initial_loss"]
    model = _mlp()
    hist = O.train_classifier(model, X, y, O.SGD(model.params, lr=0.5), epochs=2, batch_size=50, max_grad_norm=1e-3)
    assert max(hist["grad_norm"]) > 1e-3                    # recorded before clipping
    assert hist["diverged_at"] is None


def test_train_classifier_steps_reduce_on_plateau_per_epoch():
    X, y, Xv, yv = _digits(100)
    model = _mlp()
    opt = O.SGD(model.params, lr=1e-6)                      # no progress: the validation loss plateaus
    sched = O.ReduceLROnPlateau(opt, patience=0, threshold=0.1)
    O.train_classifier(model, X, y, opt, epochs=4, batch_size=50, scheduler=sched, X_val=Xv, y_val=yv)
    assert sched.last_epoch == 4 and opt.lr < 1e-7


def test_lr_range_test_and_suggestions():
    X, y, _, _ = _digits(600)
    model = _mlp()
    lrs, losses = O.lr_range_test(model, X, y, O.SGD(model.params, lr=0.1, momentum=0.9), lr_min=1e-4, lr_max=10.0,
                                  steps=100, batch_size=32)
    assert len(lrs) == len(losses) <= 100 and lrs[0] == pytest.approx(1e-4)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (10.0 / 1e-4) ** (1 / 99), rtol=1e-9)   # geometric growth
    sug = O.suggest_lr(lrs, losses)
    assert 1e-4 <= sug["steepest"] <= sug["minimum"] <= 10 and sug["decade_below"] == pytest.approx(sug["minimum"] / 10)
    assert O.smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])         # bias-corrected EMA


# ---- Rprop with zero and sign-flipping gradients, and the chapter's twin helpers -------------------------
def test_rprop_skips_after_a_sign_flip_and_handles_zero_gradients_like_torch():
    rng = np.random.default_rng(7)
    params = {"w": rng.normal(size=(3, 4))}
    t = torch.tensor(params["w"].copy(), requires_grad=True)
    ours, theirs = O.Rprop(params, lr=0.05, step_sizes=(1e-4, 0.2)), torch.optim.Rprop([t], lr=0.05,
                                                                                       step_sizes=(1e-4, 0.2))
    for step in range(80):
        g = np.sign(rng.normal(size=(3, 4))) * rng.uniform(0.1, 1, size=(3, 4)) + 0.3   # biased, flipping signs
        g[rng.random((3, 4)) < 0.2] = 0.0
        ours.step({"w": g})
        t.grad = torch.from_numpy(g.copy())
        theirs.step()
        np.testing.assert_allclose(params["w"], t.detach().numpy(), **TOL, err_msg=f"step {step}")


def test_twin_helpers_of_the_chapter():
    from dlcourse.numpy_optim.twins import optimizer_twin_error, schedule_curve

    assert optimizer_twin_error(O.Rprop, torch.optim.Rprop, dict(lr=0.05)) < 1e-12
    assert optimizer_twin_error(O.Adam, torch.optim.Adam, dict(lr=0.01)) < 1e-12
    ours, theirs = (schedule_curve(lambda o, M: M.CosineAnnealingLR(o, 20), M, steps=30) for M in (O, S))
    assert ours.shape == (31,) and np.allclose(ours, theirs, rtol=1e-12, atol=0)
