"""The temperature explorer of chapter 12, driven as a student would: the slider moved by assigning .value.
Each move must resample, change the distribution and the figure, and take at most a second; temperature 0
is greedy decoding; the default model (a bigram model of the text) builds in well under the e2e budget; a
PyTorch character model plugs in through TorchCharModel."""
import html
import time

import numpy as np
import pytest
import torch

from dlcourse.widgets import figure_png
from dlcourse.widgets.sampling import (MAX_TEMPERATURE, BigramModel, TemperatureExplorer, TorchCharModel,
                                       bigram_model, pydoc_text, sample_text, softmax_with_temperature,
                                       temperature_view)


@pytest.fixture(scope="module")
def explorer():
    t0 = time.process_time()
    e = TemperatureExplorer(temperature=1.0)
    assert time.process_time() - t0 < 5, "the default explorer must build fast (no training)"
    return e


def test_text_split_and_bigram():
    train, val = pydoc_text()
    assert 400_000 < len(train) + len(val) < 600_000 and abs(len(val) / (len(train) + len(val)) - 0.1) < 1e-3
    model = bigram_model()
    assert len(model.chars) == len(set(train + val))
    p = np.exp(model.log_probs)
    assert np.allclose(p.sum(1), 1)
    index = {c: i for i, c in enumerate(model.chars)}
    assert model.chars[int(model.next_logits([index["q"]]).argmax())] == "u"          # "q" is followed by "u"


def test_temperature_reshapes_the_distribution():
    logits = np.array([2.0, 1.0, 0.0, -1.0])
    p1 = softmax_with_temperature(logits, 1.0)
    assert np.allclose(p1, np.exp(logits) / np.exp(logits).sum())
    assert softmax_with_temperature(logits, 0.5)[0] > p1[0] > softmax_with_temperature(logits, 2.0)[0]
    assert np.array_equal(softmax_with_temperature(logits, 0), [1, 0, 0, 0])
    entropies = [temperature_view(bigram_model(), t, n_chars=5).entropy_bits for t in (0.0, 0.5, 1.0, 2.0)]
    assert entropies[0] == 0 and entropies == sorted(entropies)


def test_sampling_is_reproducible_and_validated():
    model = bigram_model()
    a, b = sample_text(model, "The ", 50, 1.0, seed=3), sample_text(model, "The ", 50, 1.0, seed=3)
    assert a == b and len(a) == 50 and a != sample_text(model, "The ", 50, 1.0, seed=4)
    assert len(set(sample_text(model, "The ", 30, 0.0))) <= 3                         # greedy: repeats itself
    with pytest.raises(ValueError, match="temperature"):
        sample_text(model, "The ", 5, -1.0)
    with pytest.raises(ValueError, match="prompt"):
        sample_text(model, "\x00", 5, 1.0)


def test_slider_resamples_changes_the_figure_and_is_fast(explorer):
    assert explorer.controls["temperature"].description == "temperature"
    assert explorer.controls["temperature"].max == MAX_TEMPERATURE and "bigram model" in explorer.ax.get_title()
    times = []
    for value in (0.3, 1.5, 0.0):
        before_png, before = figure_png(explorer.fig), explorer.result
        explorer.controls["temperature"].value = value
        view = explorer.result
        assert view is not before and view.temperature == value
        assert figure_png(explorer.fig) != before_png
        assert np.allclose([bar.get_height() for bar in explorer.bars], view.top_probs)
        assert f"{value:.2f}" in explorer.status.value and html.escape(view.text) in explorer.text_box.value
        times.append(explorer.last_update_cpu_seconds)
    assert sorted(times)[1] <= 1.0, times
    assert "greedy" in explorer.status.value
    explorer.controls["temperature"].value = 1.0


def test_a_torch_model_plugs_in():
    chars = bigram_model().chars
    V = len(chars)

    class Tiny(torch.nn.Module):                       # (1, T) -> (1, T, V): scores from the last id only
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(V, V)

        def forward(self, idx):
            return self.emb(idx)

    torch.manual_seed(0)
    model = TorchCharModel(Tiny(), chars, block_size=8)
    assert model.next_logits([1, 2, 3]).shape == (V,)
    e = TemperatureExplorer(model=model, temperature=0.8)
    e.controls["temperature"].value = 1.2
    assert e.result.temperature == 1.2 and len(e.result.text) == 150 and e.last_update_cpu_seconds <= 1.0
    e.use_model(bigram_model(), "bigram model")
    assert "bigram model" in e.ax.get_title() and e.result.temperature == 1.2
    assert e.result.entropy_bits != temperature_view(model, 1.2).entropy_bits
    assert isinstance(bigram_model(), BigramModel)
