"""The latent explorer of chapter 09, driven as a student would: the sliders "z1" and "z2" moved by assigning
.value; each move must decode a new digit, change the figure and take at most a second."""
import numpy as np
import pytest

from dlcourse.widgets import figure_png
from dlcourse.widgets.latent import Z_RANGE, LatentExplorer, decode_latent, default_vae, latent_message


@pytest.fixture(scope="module")
def explorer():
    return LatentExplorer(z1=0.0, z2=0.0)


def test_initial_state_decodes_the_origin(explorer):
    view = explorer.result
    assert (view.z1, view.z2) == (0.0, 0.0) and view.image.shape == (8, 8)
    assert 0 <= view.image.min() and view.image.max() <= 1
    assert f"looks like a {view.digit}" in explorer.ax_img.get_title()
    assert "the classifier reads a" in explorer.status.value


def test_sliders_decode_a_new_digit_fast(explorer):
    assert [c.description for c in explorer.controls.values()] == ["z1", "z2"]
    times = []
    for name, value in [("z1", 1.5), ("z2", -1.5), ("z1", -2.0)]:
        before_png, before = figure_png(explorer.fig), explorer.result
        explorer.controls[name].value = value
        assert getattr(explorer.result, name) == value
        assert not np.array_equal(explorer.result.image, before.image)
        assert figure_png(explorer.fig) != before_png
        assert explorer.marker.get_xdata()[0] == explorer.result.z1
        times.append(explorer.last_update_cpu_seconds)
    assert sorted(times)[1] <= 1.0, times
    explorer.controls["z1"].value, explorer.controls["z2"].value = 0.0, 0.0


def test_codes_far_out_get_a_warning(explorer):
    explorer.controls["z1"].value, explorer.controls["z2"].value = Z_RANGE, Z_RANGE
    assert "rarely draws" in explorer.status.value
    explorer.controls["z1"].value, explorer.controls["z2"].value = 0.0, 0.0
    assert "rarely draws" not in explorer.status.value


def test_the_decoder_places_different_digits_in_different_places():
    vae = default_vae()
    digits = {decode_latent(vae, a, b).digit for a in (-2, 0, 2) for b in (-2, 0, 2)}
    assert len(digits) >= 4
    assert "code (+0.0, +0.0)" in latent_message(decode_latent(vae, 0.0, 0.0))
    with pytest.raises(TypeError):
        decode_latent(vae, "a", 0.0)
    with pytest.raises(ValueError, match="z1 must be in"):
        LatentExplorer(vae=vae, z1=5.0)
