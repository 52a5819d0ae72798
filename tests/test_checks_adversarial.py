"""Chapter 13 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/13_saliency_adversarial.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import adversarial as check

RIGHT = solution("13_saliency_adversarial")


# ---- Task 1: FGSM -------------------------------------------------------------------------------
def _grad(model, x, y, reduction="mean", eval_mode=True):
    if eval_mode:
        model.eval()
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y, reduction=reduction), x)
    return g


def fgsm_sum_loss(model, x, y, epsilon):
    """The summed loss has the same gradient signs: a correct answer."""
    return (x + epsilon * _grad(model, x, y, "sum").sign()).clamp(0, 1)


def fgsm_gradient_not_sign(model, x, y, epsilon):
    return (x + epsilon * _grad(model, x, y)).clamp(0, 1)


def fgsm_toward_the_label(model, x, y, epsilon):
    """Minus sign: descends the loss, making the model MORE sure of the true label."""
    return (x - epsilon * _grad(model, x, y).sign()).clamp(0, 1)


def fgsm_no_clipping(model, x, y, epsilon):
    return x + epsilon * _grad(model, x, y).sign()


def fgsm_weight_gradient(model, x, y, epsilon):
    model.eval()
    loss = nn.functional.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, next(model.parameters()))
    return (x + epsilon * g.sign().mean()).clamp(0, 1)


def fgsm_train_mode(model, x, y, epsilon):
    return (x + epsilon * _grad(model, x, y, eval_mode=False).sign()).clamp(0, 1)


# ---- Task 2: PGD --------------------------------------------------------------------------------
def _pgd(model, x, y, epsilon, alpha, steps, around="original", clip=True):
    x_adv = x.clone()
    for _ in range(steps):
        step = x_adv + alpha * _grad(model, x_adv, y).sign()
        centre = x if around == "original" else x_adv
        if around is not None:
            step = torch.minimum(torch.maximum(step, centre - epsilon), centre + epsilon)
        x_adv = step.clamp(0, 1) if clip else step
    return x_adv


def pgd_around_current_iterate(model, x, y, epsilon, alpha, steps):
    return _pgd(model, x, y, epsilon, alpha, steps, around="current")


def pgd_no_projection(model, x, y, epsilon, alpha, steps):
    return _pgd(model, x, y, epsilon, alpha, steps, around=None)


def pgd_no_clipping(model, x, y, epsilon, alpha, steps):
    return _pgd(model, x, y, epsilon, alpha, steps, clip=False)


def pgd_one_step_of_epsilon(model, x, y, epsilon, alpha, steps):
    """FGSM instead of PGD."""
    return RIGHT.fgsm(model, x, y, epsilon)


def pgd_gradient_at_the_original(model, x, y, epsilon, alpha, steps):
    """Every step uses the gradient at x instead of at the current iterate."""
    s = _grad(model, x, y).sign()
    return torch.minimum(torch.maximum(x + min(steps * alpha, epsilon) * s, x - epsilon), x + epsilon).clamp(0, 1)


# ---- Task 3: occlusion --------------------------------------------------------------------------
def _occlusion(predict_fn, image, patch, stride, baseline, sign=1, border=True, average="count"):
    C, H, W = image.shape
    def starts(size):
        s = list(range(0, size - patch + 1, stride))
        return s + [size - patch] if border and s[-1] != size - patch else s
    base = predict_fn(image[None])[0]
    total, count = np.zeros((H, W)), np.zeros((H, W))
    n = 0
    for top in starts(H):
        for left in starts(W):
            occ = image.copy()
            occ[:, top:top + patch, left:left + patch] = baseline
            total[top:top + patch, left:left + patch] += sign * (base - predict_fn(occ[None])[0])
            count[top:top + patch, left:left + patch] += 1
            n += 1
    if average == "count":
        return total / np.maximum(count, 1)
    return total if average == "sum" else total / n


def occlusion_increase(*a):
    return _occlusion(*a, sign=-1)


def occlusion_misses_border(*a):
    return _occlusion(*a, border=False)


def occlusion_summed(*a):
    return _occlusion(*a, average="sum")


def occlusion_divided_by_all_patches(*a):
    return _occlusion(*a, average="all")


def occlusion_probability_not_drop(predict_fn, image, patch, stride, baseline):
    """The occluded probability itself instead of its drop."""
    base = predict_fn(image[None])[0]
    return base - _occlusion(predict_fn, image, patch, stride, baseline)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("fgsm", fgsm_gradient_not_sign, "differs"),
    ("fgsm", fgsm_toward_the_label, "differs"),
    ("fgsm", fgsm_no_clipping, "differs"),
    ("fgsm", fgsm_weight_gradient, "differs"),
    ("fgsm", fgsm_train_mode, "differs"),
    ("pgd", pgd_around_current_iterate, "differs"),
    ("pgd", pgd_no_projection, "differs"),
    ("pgd", pgd_no_clipping, "differs"),
    ("pgd", pgd_one_step_of_epsilon, "differs"),
    ("pgd", pgd_gradient_at_the_original, "differs"),
    ("occlusion_map", occlusion_increase, "differs"),
    ("occlusion_map", occlusion_misses_border, "differs"),
    ("occlusion_map", occlusion_summed, "differs"),
    ("occlusion_map", occlusion_divided_by_all_patches, "differs"),
    ("occlusion_map", occlusion_probability_not_drop, "differs"),
], extra_right=[("fgsm", fgsm_sum_loss)])


def test_pgd_stays_in_the_ball_and_beats_fgsm_on_the_check_models():
    """The solution's PGD respects both constraints; the check's cases include a step larger than epsilon."""
    rng = np.random.default_rng(0)
    model = check._model(rng, 1)
    x, y = check._images(rng, 16)
    x_adv = RIGHT.pgd(model, x, y, 0.1, 0.04, 6)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-12 and x_adv.min() >= 0 and x_adv.max() <= 1
    loss = lambda z: nn.functional.cross_entropy(model(z), y).item()
    assert loss(x_adv) >= loss(RIGHT.fgsm(model, x, y, 0.1)) - 1e-9


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.pgd, pgd_no_projection, "pgd")
    assert "Test case" in message and "check.hint('pgd')" in message
    assert len(check.failing_case("pgd")) == 6
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "return x" not in text                       # nudges, no code


# ---- Task 4: the outcome task -------------------------------------------------------------------


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 16, 64), nn.ReLU(), nn.Linear(64, 10))


def plain_training(X, y, seed=0):
    """A well-trained CNN (about 99% clean accuracy) without adversarial training."""
    torch.manual_seed(seed)
    model = _cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(20):
        for idx in torch.randperm(len(Xt)).split(64):
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def untrained(X, y, seed=0):
    torch.manual_seed(seed)
    return _cnn()


def flat_scores(X, y, seed=0):
    return nn.Sequential(_cnn(), nn.Flatten(0))


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (untrained, "the target is"),
                                           (plain_training, "the target is"), (flat_scores, "ten class scores"),
                                           (lambda X, y, seed=0: None, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.robust_outcome, wrong, message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.robust_outcome(RIGHT.train_robust, seed=seed)
    assert "reached validation accuracy under PGD" in capsys.readouterr().out
