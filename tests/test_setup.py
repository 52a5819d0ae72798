"""The chapter skeleton's helpers: dlcourse.setup, seeds, set_threads, add_to_class, train.accuracy."""
import numpy as np
import pytest
import torch

import dlcourse
from dlcourse.train import accuracy


def test_setup_seeds_and_returns_rng_and_device(monkeypatch):
    monkeypatch.delenv("DLCOURSE_SEED_SHIFT", raising=False)
    rng, dev = dlcourse.setup(seed=3, threads=1)
    first = (rng.normal(), torch.rand(1).item(), np.random.rand())
    rng, dev = dlcourse.setup(seed=3, threads=1)
    assert first == (rng.normal(), torch.rand(1).item(), np.random.rand())
    assert isinstance(dev, torch.device) and torch.get_num_threads() == 1


def test_seed_shift_moves_every_seed(monkeypatch):
    monkeypatch.setenv("DLCOURSE_SEED_SHIFT", "1000")
    assert dlcourse.seeds(3) == [1000, 1001, 1002] and dlcourse.seeds(2, start=10) == [1010, 1011]
    shifted = dlcourse.setup(seed=0)[0].normal()
    monkeypatch.setenv("DLCOURSE_SEED_SHIFT", "0")
    assert dlcourse.setup(seed=0)[0].normal() != shifted
    monkeypatch.setenv("DLCOURSE_SEED_SHIFT", "many")
    with pytest.raises(ValueError, match="DLCOURSE_SEED_SHIFT"):
        dlcourse.seeds(2)


@pytest.mark.parametrize("call,error,message", [
    (lambda: dlcourse.seeds(0), ValueError, "n >= 1"),
    (lambda: dlcourse.setup(seed=1.5), TypeError, "seed must be an int"),
    (lambda: dlcourse.setup(seed=0, threads=0), ValueError, "threads must be a positive int"),
    (lambda: accuracy(np.zeros((3, 2)), np.zeros(4)), ValueError, "accuracy expects"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_accuracy_for_numpy_and_torch_scores_and_labels():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    y = np.array([0, 1, 1])
    assert accuracy(logits, y) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor(logits), torch.tensor(y)) == pytest.approx(2 / 3)
    assert accuracy(np.array([1, -1, 1]), np.array([1, 1, 1])) == pytest.approx(2 / 3)


def test_add_to_class_adds_a_method():
    class A:
        pass

    @dlcourse.add_to_class(A)
    def twice(self, x):
        return 2 * x

    assert A().twice(4) == 8 and twice is None
