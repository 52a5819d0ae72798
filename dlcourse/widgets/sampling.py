"""The temperature explorer of chapter 12: how the sampling temperature changes the text a character-level
language model writes, and the distribution of the next character it draws from.

:func:`temperature_view` is the plain computation (no widgets): the next-character distribution after a
prompt, divided by the temperature, and a sample continued from the prompt. :class:`TemperatureExplorer` is
the thin shell with one slider, "temperature". Any model with ``chars`` (its alphabet, a string) and
``next_logits(ids) -> (V,)`` works: :class:`TorchCharModel` wraps the chapter's GPT; without a model the
explorer uses a bigram count model of the same text (:func:`bigram_model`, built in well under a second).
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..validate import check_float, check_int
from . import Explorer

__all__ = ["pydoc_text", "BigramModel", "bigram_model", "TorchCharModel", "softmax_with_temperature",
           "sample_text", "SampleView", "temperature_view", "temperature_message", "TemperatureExplorer",
           "MAX_TEMPERATURE"]

#: the slider's upper end; 0 means greedy decoding (always the most likely character)
MAX_TEMPERATURE = 2.0


@lru_cache(maxsize=1)
def pydoc_text() -> tuple[str, str]:
    """(training text, validation text): the text of chapters 11 and 12 (``dlcourse.charlm.load_text``,
    Python's bundled reference topics); the last 10% is the validation part."""
    from ..charlm import load_text

    text = load_text()
    cut = int(0.9 * len(text))
    return text[:cut], text[cut:]


class BigramModel:
    """p(next | last character) from counts with add-one smoothing (``dlcourse.charlm.bigram_log_probs``).
    ``chars``: the alphabet (a string), by default the sorted characters of ``text``."""

    def __init__(self, text: str, chars: str | None = None):
        from ..charlm import bigram_log_probs, encode

        codes, alphabet = encode(text, None if chars is None else list(chars))
        self.chars = "".join(alphabet)
        self.log_probs = bigram_log_probs(codes, len(alphabet))          # (V, V) rows: last character

    def next_logits(self, ids) -> np.ndarray:
        """(V,) log-probabilities of the next character given the ids so far (only the last one counts)."""
        return self.log_probs[int(ids[-1])]


@lru_cache(maxsize=1)
def bigram_model() -> BigramModel:
    """The bigram model of the training text, over the alphabet of the whole text (cached)."""
    train, val = pydoc_text()
    return BigramModel(train, "".join(sorted(set(train + val))))


class TorchCharModel:
    """A PyTorch character model ``module(idx (1, T)) -> logits (1, T, V)`` seen through ``next_logits``."""

    def __init__(self, module, chars: str, block_size: int):
        self.module, self.chars, self.block_size = module, chars, check_int("block_size", block_size, 1)

    def next_logits(self, ids) -> np.ndarray:
        import torch

        self.module.eval()
        with torch.no_grad():
            idx = torch.as_tensor(np.asarray(ids[-self.block_size:]), dtype=torch.long)[None]
            return self.module(idx)[0, -1].double().numpy()


def softmax_with_temperature(logits, temperature: float) -> np.ndarray:
    """softmax(logits / temperature); temperature 0 puts all the mass on the largest logit."""
    logits = np.asarray(logits, np.float64)
    if temperature == 0:
        p = np.zeros_like(logits)
        p[logits.argmax()] = 1.0
        return p
    z = logits / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def sample_text(model, prompt: str, n_chars: int = 200, temperature: float = 1.0, seed: int = 0) -> str:
    """Continue ``prompt`` by ``n_chars`` characters drawn one at a time at ``temperature``."""
    temperature = check_float("temperature", temperature, 0.0)
    index = {c: i for i, c in enumerate(model.chars)}
    unknown = sorted(set(prompt) - set(index))
    if unknown or not prompt:
        raise ValueError(f"prompt must be a non-empty string of the model's characters, got unknown {unknown}")
    ids, g = [index[c] for c in prompt], np.random.default_rng(seed)
    for _ in range(check_int("n_chars", n_chars, 0)):
        ids.append(int(g.choice(len(model.chars), p=softmax_with_temperature(model.next_logits(ids), temperature))))
    return "".join(model.chars[i] for i in ids[len(prompt):])


@dataclass
class SampleView:
    """One state of the explorer: the temperature, the sampled continuation, the next-character distribution
    after the prompt (``top_chars``, ``top_probs``, the 12 most likely) and its entropy in bits."""

    temperature: float
    prompt: str
    text: str
    top_chars: list
    top_probs: np.ndarray
    entropy_bits: float


def temperature_view(model, temperature: float, prompt: str = "The ", n_chars: int = 150, seed: int = 0) -> SampleView:
    """The next-character distribution after ``prompt`` at ``temperature`` and a sample continuation."""
    temperature = check_float("temperature", temperature, 0.0)
    index = {c: i for i, c in enumerate(model.chars)}
    p = softmax_with_temperature(model.next_logits([index[c] for c in prompt]), temperature)
    top = np.argsort(p)[::-1][:12]
    entropy = max(0.0, float(-(p[p > 0] * np.log2(p[p > 0])).sum()))
    return SampleView(temperature, prompt, sample_text(model, prompt, n_chars, temperature, seed),
                      [model.chars[i] for i in top], p[top], entropy)


def temperature_message(view: SampleView) -> str:
    """A sentence about the current temperature (plain text, for the status line)."""
    if view.temperature == 0:
        what = "temperature 0 is greedy decoding: always the most likely character, so the text soon repeats itself."
    elif view.temperature < 0.7:
        what = "a low temperature sharpens the distribution: safe, common words, often repeated."
    elif view.temperature <= 1.2:
        what = "near temperature 1 the model samples from the distribution it learned."
    else:
        what = "a high temperature flattens the distribution: rare characters appear and words fall apart."
    return f"temperature {view.temperature:.2f}: next-character entropy {view.entropy_bits:.2f} bits; {what}"


class TemperatureExplorer(Explorer):
    """One slider, "temperature": the next-character distribution after the prompt and a sampled text.

    Args:
        model: an object with ``chars`` and ``next_logits(ids)`` (e.g. :class:`TorchCharModel` around a GPT);
            default: :func:`bigram_model`. :meth:`use_model` swaps it later.
        name: what the figure calls the model (default: "bigram model" or the model's class name).
        prompt, temperature, n_chars, seed: the prompt, the initial temperature, the sample's length and seed.
    """

    def __init__(self, model=None, prompt: str = "The ", temperature: float = 1.0, n_chars: int = 150, seed: int = 0,
                 name: str | None = None):
        import ipywidgets as W

        self.model = bigram_model() if model is None else model
        self.name = name or ("bigram model" if model is None else type(model).__name__)
        self.prompt, self.n_chars, self.seed = prompt, check_int("n_chars", n_chars, 0), check_int("seed", seed, 0)
        slider = W.FloatSlider(value=check_float("temperature", temperature, 0.0, MAX_TEMPERATURE), min=0.0,
                               max=MAX_TEMPERATURE, step=0.05, description="temperature", continuous_update=False)
        super().__init__({"temperature": slider}, figsize=(6.5, 2.6))
        self.text_box = W.HTML()
        self.widget.children = tuple(self.widget.children) + (self.text_box,)
        self.ax = self.fig.subplots()
        self.bars = self.ax.bar(range(12), np.zeros(12), color="C0")
        self.ax.set(ylim=(0, 1), ylabel="probability", xticks=range(12))
        self.fig.subplots_adjust(left=0.11, right=0.98, bottom=0.16, top=0.86)
        self.update()

    def use_model(self, model, name: str | None = None) -> None:
        """Sample from another model from now on (same prompt, temperature and seed) and redraw."""
        self.model, self.name = model, name or type(model).__name__
        self.update()

    def compute(self, temperature):
        return temperature_view(self.model, temperature, self.prompt, self.n_chars, self.seed)

    def alt_text(self, view: SampleView) -> str:
        return (f"Probabilities of the 12 most likely next characters after {view.prompt!r} from the {self.name} "
                f"at temperature {view.temperature:.2f}: the top one, {view.top_chars[0]!r}, has "
                f"{view.top_probs[0]:.2f}; entropy {view.entropy_bits:.2f} bits")

    def caption(self, view: SampleView) -> str:
        return f"{self.name} at temperature {view.temperature:.2f}: {view.prompt}{view.text}"

    def draw(self, view: SampleView) -> None:
        for bar, p in zip(self.bars, view.top_probs):
            bar.set_height(p)
        self.ax.set_xticks(range(len(view.top_chars)), [repr(c)[1:-1] or " " for c in view.top_chars])
        self.ax.set_title(f"{self.name}: next character after {view.prompt!r} at temperature {view.temperature:.2f}",
                          fontsize=10)
        self.status.value = html.escape(f"{self.name}, " + temperature_message(view))
        self.text_box.value = ("<pre style='white-space: pre-wrap'>" + html.escape(view.prompt)
                               + "<b>" + html.escape(view.text) + "</b></pre>")
