"""Datasets: documented shapes and dtypes, determinism, and clear errors on bad arguments."""
import numpy as np
import pytest
import torch

from dlcourse import data


def test_digits_shapes_and_dtypes():
    d = data.load_digits()
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert 0.0 <= d.X_train.min() and d.X_train.max() <= 1.0
    assert set(np.unique(d.y_train)) == set(range(10)) and d.n_classes == 10


def test_digits16_images_and_validation_split():
    d = data.load_digits(size=16, flatten=False, val_size=0.2)
    assert d.X_train.shape[1:] == (1, 16, 16) and d.X_val.shape[1:] == (1, 16, 16)
    assert len(d.X_train) + len(d.X_val) + len(d.X_test) == 1797
    assert d.X_val.dtype == np.float32


def test_split_is_deterministic_and_seed_dependent():
    a, b, c = data.load_digits(seed=3), data.load_digits(seed=3), data.load_digits(seed=4)
    assert np.array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)


def test_mnist1d_matches_the_published_sizes_and_leaves_global_rng_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    d = data.load_mnist1d()
    assert np.array_equal(np.random.get_state()[1], before)
    assert d.X_train.shape == (4000, 40) and d.X_test.shape == (1000, 40)
    assert d.X_train.dtype == np.float32 and d.y_test.dtype == np.int64
    shuffled = data.load_mnist1d(shuffle_seq=True)
    assert not np.allclose(shuffled.X_train, d.X_train)


@pytest.mark.parametrize("name", sorted(data.TOYS))
def test_toys(name):
    d = data.make_toy(name, n=200, seed=1)
    assert d.X_train.shape[1] == 2 and d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert len(d.X_train) + len(d.X_test) == 200
    assert d.n_classes == len(np.unique(np.concatenate([d.y_train, d.y_test])))


def test_linear_toy_is_separable_with_the_requested_margin():
    w, b = data.LINEAR_SEPARATOR
    d = data.make_toy("linear", n=300, margin=0.3, seed=0)
    dist = d.X_train @ w + b
    assert np.all(np.abs(dist) >= 0.3 - 1e-6)
    assert np.all((dist > 0) == (d.y_train == 1))


def test_to_loader_batches():
    d = data.load_digits()
    loader = data.to_loader(d.X_train, d.y_train, batch_size=100)
    x, y = next(iter(loader))
    assert x.shape == (100, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert sum(len(b[0]) for b in loader) == len(d.X_train)
    first = [next(iter(data.to_loader(d.X_train, d.y_train, seed=5)))[1] for _ in range(2)]
    assert torch.equal(first[0], first[1])


# ---- bad arguments: each error names the argument and what was expected --------------------
BAD_CALLS = [
    (lambda: data.make_toy("spiral"), ValueError, "unknown toy name 'spiral'; expected one of"),
    (lambda: data.make_toy("moons", n=-5), ValueError, "n must be >= 8, got -5"),
    (lambda: data.make_toy("moons", n=10.5), TypeError, "n must be an int"),
    (lambda: data.make_toy("moons", noise=-0.1), ValueError, "noise must be in"),
    (lambda: data.make_toy("moons", margin=0.2), ValueError, "margin is only defined for the 'linear' toy"),
    (lambda: data.load_digits(size=12), ValueError, "size must be 8 or 16, got 12"),
    (lambda: data.load_digits(test_size=1.5), ValueError, "test_size must be in (0.0, 1.0), got 1.5"),
    (lambda: data.load_digits(val_size=-0.1), ValueError, "val_size must be in [0.0, 1.0), got -0.1"),
    (lambda: data.load_digits(seed=-1), ValueError, "seed must be >= 0"),
    (lambda: data.load_mnist1d(val_size="a lot"), TypeError, "val_size must be a number"),
    (lambda: data.to_loader(np.zeros((10, 3)), np.zeros(9, int)), ValueError,
     "X and y must have the same length, got 10 and 9"),
    (lambda: data.to_loader(np.zeros(10), np.zeros(10, int)), ValueError, "X must have shape (N, ...)"),
    (lambda: data.to_loader(np.zeros((10, 2)), np.zeros(10, int), batch_size=0), ValueError,
     "batch_size must be >= 1, got 0"),
    (lambda: data.to_loader(np.array([["a", "b"]]), np.zeros(1, int)), TypeError, "X must have a"),
]


@pytest.mark.parametrize("call,error,message", BAD_CALLS, ids=[m[:40] for _, _, m in BAD_CALLS])
def test_bad_arguments_raise_clear_errors(call, error, message):
    with pytest.raises(error) as excinfo:
        call()
    assert message in str(excinfo.value)
