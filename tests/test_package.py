"""dlcourse top level, plots and the training loop."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import dlcourse  # noqa: E402
from dlcourse import data, plots, train  # noqa: E402


def test_device_is_a_torch_device_and_can_be_forced(monkeypatch):
    assert isinstance(dlcourse.device(), torch.device)
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert dlcourse.device().type == "cpu"


def test_seed_everything_makes_numpy_and_torch_repeat():
    dlcourse.seed_everything(7)
    a = (np.random.rand(3), torch.rand(3))
    rng = dlcourse.seed_everything(7)
    b = (np.random.rand(3), torch.rand(3))
    assert np.array_equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert isinstance(rng, np.random.Generator)


@pytest.mark.parametrize("bad,error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_seed_everything_rejects_bad_seeds(bad, error):
    with pytest.raises(error, match="seed must be"):
        dlcourse.seed_everything(bad)


def test_decision_boundary_draws_regions_and_points():
    d = data.make_toy("blobs", n=90, seed=0)
    ax = plots.decision_boundary(lambda G: (G[:, 0] > 0).astype(int), d.X_train, d.y_train, resolution=30)
    assert len(ax.collections) >= 2
    plt.close("all")


def test_decision_boundary_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"X must have shape \(N, 2\), got \(5, 3\)"):
        plots.decision_boundary(lambda G: G[:, 0] > 0, np.zeros((5, 3)), np.zeros(5, int))
    with pytest.raises(TypeError, match="y must have a int or unsigned int or bool dtype"):
        plots.decision_boundary(lambda G: G[:, 0] > 0, np.zeros((5, 2)), np.zeros(5))


def test_loss_curves_and_image_grid():
    ax = plots.loss_curves({"train_loss": [3, 2, 1], "val_loss": [3, 2.5, 2]}, logy=True)
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="keys \\['acc'\\] not in history"):
        plots.loss_curves({"train_loss": [1]}, keys=["acc"])
    fig = plots.image_grid(data.load_digits().X_train[:12], labels=list(range(12)), ncols=6)
    assert len(fig.axes) == 12
    with pytest.raises(ValueError, match="flat but not square"):
        plots.image_grid(np.zeros((4, 10)))
    plt.close("all")


def test_fit_learns_and_returns_a_history():
    torch.manual_seed(0)
    d = data.make_toy("blobs", n=300, val_size=0.2, seed=0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    hist = train.fit(model, data.to_loader(d.X_train, d.y_train, batch_size=32), torch.nn.CrossEntropyLoss(),
                     torch.optim.Adam(model.parameters(), lr=0.05), epochs=15,
                     val_loader=data.to_loader(d.X_val, d.y_val, shuffle=False))
    assert len(hist.train_loss) == 15 and len(hist.val_loss) == 15
    assert hist.train_loss[-1] < hist.train_loss[0] / 2
    assert hist.metrics["val_acc"][-1] > 0.8
    assert set(hist.as_dict()) == {"train_loss", "val_loss", "train_acc", "val_acc"}
    res = train.evaluate(model, data.to_loader(d.X_test, d.y_test, shuffle=False), torch.nn.CrossEntropyLoss())
    assert res["acc"] > 0.8


def test_fit_reports_divergence():
    model = torch.nn.Linear(2, 1)
    X, y = torch.randn(64, 2) * 1e3, torch.randn(64, 1) * 1e3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=8)
    with pytest.raises(FloatingPointError, match="diverged in epoch"):
        train.fit(model, loader, torch.nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=10.0),
                  epochs=20, metrics={})


def test_progress_is_off_when_not_interactive(monkeypatch):
    monkeypatch.setenv("DLCOURSE_PROGRESS", "0")
    assert train.show_progress() is False
    monkeypatch.setenv("DLCOURSE_PROGRESS", "1")
    assert train.show_progress() is True


def test_best_time_is_the_minimum_and_validates():
    from dlcourse.timing import best_time

    calls = []
    assert best_time(lambda: calls.append(1), repeat=4) >= 0 and len(calls) == 4
    with pytest.raises(ValueError, match="repeat must be >= 1"):
        best_time(lambda: None, repeat=0)


def test_torch_training_step_times_and_table(capsys):
    from dlcourse.timing import print_timings, torch_training_step_times

    model = torch.nn.Linear(8, 3)
    times = torch_training_step_times(model, torch.randn(16, 8), torch.randint(0, 3, (16,)), repeat=2)
    assert times["PyTorch CPU"] > 0 and model.weight.grad is not None
    print_timings({"NumPy": 0.002, **times})
    out = capsys.readouterr().out
    assert "NumPy" in out and "PyTorch CPU" in out
    assert ("PyTorch GPU" in times) or "(no GPU here)" in out
