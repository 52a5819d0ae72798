"""Chapter 14 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/14_scaling.py, see checks_harness.py)."""
import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import scaling as check

RIGHT = solution("14_scaling")


# ---- Task 1: saved bytes ------------------------------------------------------------------------
def _saved(fn, *inputs):
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = fn(*inputs)
    del out
    return saved


def saved_with_duplicates(fn, *inputs):
    return sum(t.numel() * t.element_size() for t in _saved(fn, *inputs))


def saved_elements_not_bytes(fn, *inputs):
    return sum({t.data_ptr(): t.numel() for t in _saved(fn, *inputs)}.values())


def parameter_bytes(fn, *inputs):
    """What people often think memory is: the parameters."""
    return sum(p.numel() * p.element_size() for p in fn.parameters()) if isinstance(fn, nn.Module) else 0


def saved_without_parameters(fn, *inputs):
    """Leaves the weights out: only activations."""
    params = {p.data_ptr() for p in fn.parameters()} if isinstance(fn, nn.Module) else set()
    return sum({t.data_ptr(): t.numel() * t.element_size() for t in _saved(fn, *inputs)
                if t.data_ptr() not in params}.values())


def saved_as_float(fn, *inputs):
    return float(RIGHT.saved_bytes(fn, *inputs))


def saved_by_storage(fn, *inputs):
    """De-duplicated by storage and counting whole storages: also right on these cases."""
    return sum({t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in _saved(fn, *inputs)}.values())


# ---- Task 2: average_gradients ------------------------------------------------------------------
def plain_mean(grads_per_worker, batch_sizes):
    W = len(grads_per_worker)
    return [sum(g[j] for g in grads_per_worker) / W for j in range(len(grads_per_worker[0]))]


def plain_sum(grads_per_worker, batch_sizes):
    return [sum(g[j] for g in grads_per_worker) for j in range(len(grads_per_worker[0]))]


def weighted_sum_not_divided(grads_per_worker, batch_sizes):
    return [sum(n * g[j] for n, g in zip(batch_sizes, grads_per_worker)) for j in range(len(grads_per_worker[0]))]


def divided_by_batch_sizes(grads_per_worker, batch_sizes):
    """Weights the workers by 1/n_k: the opposite of what is needed."""
    total = sum(1 / n for n in batch_sizes)
    return [sum(g[j] / n for n, g in zip(batch_sizes, grads_per_worker)) / total
            for j in range(len(grads_per_worker[0]))]


def first_worker_only(grads_per_worker, batch_sizes):
    return list(grads_per_worker[0])


# ---- Task 3: checkpointing ----------------------------------------------------------------------
def no_checkpointing(layers, x, segments):
    return layers(x)


def one_segment(layers, x, segments):
    return checkpoint_sequential(layers, 1, x, use_reentrant=False)


def without_grad(layers, x, segments):
    with torch.no_grad():
        return layers(x)


def detached_segments(layers, x, segments):
    """Cuts the graph between segments: the early layers get no gradient."""
    h = x
    for i, layer in enumerate(layers):
        h = layer(h.detach() if i == len(layers) // 2 else h)
    return h


def checkpoint_every_module(layers, x, segments):
    """Checkpoints each module separately: the right function, but the many small checkpoints save more."""
    from torch.utils.checkpoint import checkpoint
    for layer in layers:
        x = checkpoint(layer, x, use_reentrant=False)
    return x


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("saved_bytes", saved_with_duplicates, "is "),
    ("saved_bytes", saved_elements_not_bytes, "is "),
    ("saved_bytes", parameter_bytes, "is "),
    ("saved_bytes", saved_without_parameters, "is "),
    ("saved_bytes", saved_as_float, "should be an int"),
    ("average_gradients", plain_mean, "differs"),
    ("average_gradients", plain_sum, "differs"),
    ("average_gradients", weighted_sum_not_divided, "differs"),
    ("average_gradients", divided_by_batch_sizes, "differs"),
    ("average_gradients", first_worker_only, "differs"),
    ("checkpointed_mlp", no_checkpointing, "as many as without checkpointing"),
    ("checkpointed_mlp", one_segment, "as many as without checkpointing"),
    ("checkpointed_mlp", without_grad, "raised RuntimeError"),
    ("checkpointed_mlp", detached_segments, "no gradient reached"),
    ("checkpointed_mlp", checkpoint_every_module, "without checkpointing"),
], extra_right=[("saved_bytes", saved_by_storage)])


def test_saved_bytes_cases_exercise_deduplication_and_both_dtypes():
    """On the check's cases, counting duplicates changes the answer somewhere, and 0 is a case."""
    cases = check._saved_cases(__import__("numpy").random.default_rng(1))
    counts = [RIGHT.saved_bytes(*c) for c in cases]
    assert 0 in counts
    assert sum(saved_with_duplicates(*c) != n for c, n in zip(cases, counts)) >= 3


def test_average_gradients_equals_two_process_style_training_on_uneven_batches():
    """The weighted mean of per-worker mean-loss gradients is the gradient of the mean over the union."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2).double()
    X, y = torch.randn(7, 3, dtype=torch.float64), torch.randint(0, 2, (7,))
    grad = lambda a, b: list(torch.autograd.grad(nn.functional.cross_entropy(model(X[a:b]), y[a:b]),
                                                 list(model.parameters())))
    ours = RIGHT.average_gradients([grad(0, 2), grad(2, 7)], [2, 5])
    for g, e in zip(ours, grad(0, 7)):
        torch.testing.assert_close(g, e, rtol=1e-12, atol=1e-14)


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.average_gradients, plain_mean, "average_gradients")
    assert "Test case" in message and "check.hint('average_gradients')" in message
    assert len(check.failing_case("average_gradients")) == 2
    assert_fails(check.checkpointed_mlp, no_checkpointing, "checkpointed_mlp")
    layers, x, segments = check.failing_case("checkpointed_mlp")
    assert isinstance(layers, nn.Sequential) and segments >= 2
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "return " not in text                        # nudges, no code


# ---- Task 4: the outcome task -------------------------------------------------------------------


def head_replaced_untrained(pretrained, X, y, seed=0):
    pretrained[-1] = nn.Linear(64, 10)
    return pretrained


def head_kept(pretrained, X, y, seed=0):
    """Trains the old 20-class head on the digits: the shapes are wrong."""
    return pretrained


def head_only_one_epoch(pretrained, X, y, seed=0):
    torch.manual_seed(seed)
    pretrained[-1] = nn.Linear(64, 10)
    optimizer = torch.optim.SGD(pretrained[-1].parameters(), lr=0.01)
    loss = nn.functional.cross_entropy(pretrained(torch.from_numpy(X)), torch.from_numpy(y))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return pretrained


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (head_replaced_untrained, "the target is"),
                                           (head_only_one_epoch, "the target is"), (head_kept, "ten class scores"),
                                           (lambda p, X, y, seed=0: None, "torch.nn.Module")])
def test_the_outcome_check_fails_below_the_target(wrong, message, one_thread):
    assert_fails(check.finetune_outcome, wrong, message)


def test_the_pretrained_network_is_cached_and_returned_as_a_fresh_copy(one_thread):
    a, b = check.pretrained_network(), check.pretrained_network()
    assert a is not b and torch.equal(a[0].weight, b[0].weight)
    a[-1] = nn.Linear(64, 10)
    assert check.pretrained_network()[-1].out_features == check.STROKE_CLASSES


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys, one_thread):
    check.finetune_outcome(RIGHT.fine_tune, seed=seed)
    assert "reached validation accuracy" in capsys.readouterr().out
