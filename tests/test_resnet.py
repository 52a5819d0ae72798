"""Chapter 07 exports: numpy_nn.Residual twin-tested against its PyTorch twin dlcourse.resnet.TorchResidual
(dlcourse.parity.twin_errors, through tests/twins.py), and dlcourse.resnet against torchvision."""
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from dlcourse import numpy_nn as nnp
from dlcourse.resnet import BasicBlock, Bottleneck, ResNet, TorchResidual, cifar_resnet, resnet18, resnet50
from twins import check_twin


ACTS = [(nnp.ReLU, nn.ReLU), (nnp.Tanh, nn.Tanh), (nnp.Sigmoid, nn.Sigmoid)]


def random_pair(rng):
    """A random residual block: 1-3 Linear layers with activations, identity or projection shortcut."""
    d_in = int(rng.integers(1, 8))
    n_linear = int(rng.integers(1, 4))
    projection = bool(rng.random() < 0.5)
    dims = [d_in] + [int(rng.integers(1, 8)) for _ in range(n_linear - 1)]
    dims.append(int(rng.integers(1, 8)) if projection else d_in)
    ours, theirs = [], []
    for k in range(n_linear):
        ours.append(nnp.Linear(dims[k], dims[k + 1], bias=bool(rng.random() < 0.8)))
        theirs.append(nn.Linear(dims[k], dims[k + 1], bias=ours[-1].has_bias))
        if k < n_linear - 1:
            a_np, a_t = ACTS[int(rng.integers(len(ACTS)))]
            ours.append(a_np())
            theirs.append(a_t())
    if projection:
        bias = bool(rng.random() < 0.5)
        return (nnp.Residual(*ours, shortcut=nnp.Linear(d_in, dims[-1], bias=bias)),
                TorchResidual(*theirs, shortcut=nn.Linear(d_in, dims[-1], bias=bias)).double(), d_in, dims[-1])
    return nnp.Residual(*ours), TorchResidual(*theirs).double(), d_in, dims[-1]


@pytest.mark.parametrize("seed", range(30))
def test_residual_twin(seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    ours, theirs, d_in, d_out = random_pair(rng)
    assert list(ours.params) == [n for n, _ in theirs.named_parameters()]
    N = 1 if seed % 5 == 0 else int(rng.integers(2, 9))
    x, g = rng.normal(size=(N, d_in)), rng.normal(size=(N, d_out))
    assert ours(x).dtype == np.float64 and ours(x).shape == (N, d_out)
    check_twin(ours, theirs, x, f"residual block {seed}: {ours!r}", grad_out=g, rtol=1e-12, atol=1e-12)


def test_residual_zero_weights_is_exact_identity():
    rng = np.random.default_rng(0)
    block = nnp.Residual(nnp.Linear(5, 9, rng=rng), nnp.ReLU(), nnp.Linear(9, 5, rng=rng))
    for p in block.params.values():
        p[...] = 0
    x = rng.normal(size=(4, 5))
    assert np.array_equal(block(x), x)
    g = rng.normal(size=(4, 5))
    assert np.array_equal(block.backward(g), g)


def test_residual_errors_and_modes():
    with pytest.raises(ValueError, match="shortcut=Linear"):
        nnp.Residual(nnp.Linear(3, 4), nnp.ReLU())(np.ones((2, 3)))
    with pytest.raises(TypeError, match="shortcut"):
        nnp.Residual(nnp.ReLU(), shortcut=nn.Linear(3, 3))
    with pytest.raises(KeyError, match="missing"):
        nnp.Residual(nnp.Linear(3, 3), shortcut=nnp.Linear(3, 3)).load_state_dict({"0.weight": np.eye(3)})
    block = nnp.Residual(nnp.Dropout(0.5), shortcut=nnp.Dropout(0.5))
    block.eval()
    assert not block.training and not block.layers[0].training and not block.shortcut.training
    x = np.ones((3, 4))
    assert np.array_equal(block(x), 2 * x)                       # eval: dropout is the identity on both paths
    assert "shortcut" in repr(block)


def test_residual_inside_sequential_names_match_torch():
    torch.manual_seed(0)
    theirs = nn.Sequential(nn.Linear(4, 6), TorchResidual(nn.Linear(6, 6), nn.Tanh()), nn.Linear(6, 2)).double()
    ours = nnp.Sequential(nnp.Linear(4, 6), nnp.Residual(nnp.Linear(6, 6), nnp.Tanh()), nnp.Linear(6, 2))
    assert list(ours.params) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(1).normal(size=(3, 4))
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def _n(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("ours, theirs, n_params", [
    (lambda: resnet18(num_classes=10), lambda: torchvision.models.resnet18(weights=None, num_classes=10), 11_181_642),
    (lambda: ResNet([3, 4, 6, 3], (64, 128, 256, 512), 10),
     lambda: torchvision.models.resnet34(weights=None, num_classes=10), None),
    (resnet50, lambda: torchvision.models.resnet50(weights=None), 25_557_032),
    (lambda: ResNet([3, 8, 36, 3], (64, 128, 256, 512), 10, block=Bottleneck),
     lambda: torchvision.models.resnet152(weights=None, num_classes=10), None),
])
def test_resnet_equals_torchvision(ours, theirs, n_params):
    torch.manual_seed(0)
    a, b = ours(), theirs()
    assert _n(a) == _n(b)
    if n_params is not None:
        assert _n(a) == n_params
    assert list(a.state_dict()) == list(b.state_dict())
    assert [v.shape for v in a.state_dict().values()] == [v.shape for v in b.state_dict().values()]
    a.load_state_dict(b.state_dict())
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(a.eval()(x), b.eval()(x), rtol=0, atol=0)
    a.train(), b.train()
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)       # batch statistics too


def test_small_input_and_cifar_nets():
    m = resnet18(num_classes=10, in_channels=1, small_input=True)
    assert m(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    assert _n(m) == 11_181_642 - 7 * 7 * 3 * 64 + 3 * 3 * 1 * 64
    plain, res = cifar_resnet(32, residual=False), cifar_resnet(32)
    assert len(plain.blocks()) == len(res.blocks()) == 15
    assert all(b.downsample is None and not b.residual for b in plain.blocks())
    assert sum(b.downsample is not None for b in res.blocks()) == 2   # where stages 2 and 3 begin
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31                                          # 31 convs + fc = 32 weight layers
    assert plain(torch.randn(3, 1, 16, 16)).shape == (3, 10)
    no_bn = cifar_resnet(8, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())
    assert no_bn(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    for bad in (7, 10, 2):
        with pytest.raises(ValueError, match="6n\\+2"):
            cifar_resnet(bad)
    with pytest.raises(ValueError, match="block count"):
        ResNet([2, 2], (8, 16, 32))


def test_basic_block_zero_residual_branch_is_identity_before_relu():
    block = BasicBlock(4, 4).eval()
    for bn in (block.bn2,):
        nn.init.zeros_(bn.weight)                                    # zero-init of the last BN: F(x) = 0
    x = torch.rand(2, 4, 5, 5)                                       # non-negative, so relu(x) = x
    with torch.no_grad():
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)


def test_bottleneck_block_shapes_and_plain_variant():
    torch.manual_seed(0)
    down = nn.Sequential(nn.Conv2d(8, 16, 1, 2, bias=False), nn.BatchNorm2d(16))
    block = Bottleneck(8, 4, stride=2, downsample=down)
    assert block(torch.randn(2, 8, 6, 6)).shape == (2, 16, 3, 3)
    plain = ResNet([1, 1], (4, 8), 10, in_channels=1, small_input=True, residual=False, block=Bottleneck)
    assert not any("downsample" in k for k in plain.state_dict())
    assert plain(torch.randn(2, 1, 8, 8)).shape == (2, 10)
