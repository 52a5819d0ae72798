"""dlcourse.lecun: LeCun's 1989 networks have the published sizes, and the parallel copies are independent."""
import pytest
import torch
import torch.nn.functional as F

from dlcourse.lecun import LECUN_NAMES, LeCunNet, ParallelLocal2d

# ESL table 11.1: links, free parameters
PUBLISHED = {"Net-1": (2570, 2570), "Net-2": (3214, 3214), "Net-3": (1226, 1226), "Net-4": (2266, 1132),
             "Net-5": (5194, 1060)}


@pytest.mark.parametrize("name", LECUN_NAMES)
def test_links_and_free_parameters_are_the_published_ones(name):
    net = LeCunNet(name)
    assert (net.links(), net.free_parameters()) == PUBLISHED[name]
    assert LeCunNet(name, S=3).free_parameters() == PUBLISHED[name][1]        # per copy


@pytest.mark.parametrize("name", LECUN_NAMES)
def test_forward_shape(name):
    net = LeCunNet(name, S=3, generator=torch.Generator().manual_seed(1))
    assert net(torch.randn(3, 5, 1, 16, 16)).shape == (3, 5, 10)


def test_same_generator_same_weights():
    a, b = (LeCunNet("Net-4", S=2, generator=torch.Generator().manual_seed(7)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_copy_equals_the_network_alone():
    """Copy 1 of Net-5 computes what plain convolutions with copy 1's weights compute."""
    net5 = LeCunNet("Net-5", S=3, generator=torch.Generator().manual_seed(1))
    x = torch.randn(3, 4, 1, 16, 16)
    h1, h2, out = net5.layers
    with torch.no_grad():
        ref = torch.tanh(F.conv2d(x[1], h1.weight[1], stride=2, padding=1) + h1.bias[1])
        ref = torch.tanh(F.conv2d(ref, h2.weight[1], stride=2, padding=2) + h2.bias[1])
        ref = ref.flatten(1) @ out.weight[1] + out.bias[1]
        assert torch.allclose(net5(x)[1], ref, atol=1e-5)


def test_locally_connected_with_tied_weights_is_a_convolution():
    g = torch.Generator().manual_seed(0)
    local = ParallelLocal2d(1, 2, 3, 8, 3, 2, 1, shared=False, generator=g)
    kernel = torch.randn(3, 2, 3, 3)                                          # (out_maps, in_maps, k, k)
    with torch.no_grad():                                                     # every unit the same kernel
        local.weight.copy_(kernel.permute(1, 2, 3, 0).reshape(1, 1, 18, 3).expand(1, 16, 18, 3))
        local.bias.zero_()
        x = torch.randn(1, 4, 2, 8, 8)
        assert torch.allclose(local(x)[0], F.conv2d(x[0], kernel, stride=2, padding=1), atol=1e-5)


def test_unknown_name():
    with pytest.raises(ValueError, match="Net-1"):
        LeCunNet("Net-6")
