"""Chapter 14 tools: the saved-tensor counter, checkpointing, the two-process DDP demo, the weights loader."""
import time

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from dlcourse.ddp_demo import train
from dlcourse.scaling import load_pretrained_resnet18, run_ddp_demo, saved_bytes, saved_tensors


def _mlp(width=32, depth=6):
    torch.manual_seed(0)
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())])


def test_counter_on_a_hand_case():
    x = torch.randn(8, 5, requires_grad=True)
    with saved_tensors() as kept:
        y = x.exp()                 # saves its output (8, 5)
        z = (y * 2).sum()           # multiplying by a number saves nothing
    assert kept.count == 1 and kept.nbytes == 8 * 5 * 4
    z.backward()
    with saved_tensors() as kept:
        (x.sin() * x.cos()).sum()   # sin and cos save x (one storage), the product saves both factors
    assert kept.count == 3 and kept.nbytes == 3 * 8 * 5 * 4


def test_counter_deduplicates_views_and_excludes_parameters():
    lin = nn.Linear(4, 3)
    x = torch.randn(10, 4)
    with saved_tensors(exclude=lin.parameters()) as kept:
        lin(x[:5]).sum()            # a view of x: counted as x's whole storage
    assert kept.count == 1 and kept.nbytes == 10 * 4 * 4


def test_mlp_saves_depth_plus_one_activations():
    net, x = _mlp(), torch.randn(64, 32)
    assert saved_bytes(lambda: net(x).sum(), exclude=net.parameters()) == 7 * 64 * 32 * 4


def test_checkpointing_lowers_saved_memory_and_keeps_gradients():
    net, x = _mlp(depth=16), torch.randn(64, 32)
    plain = saved_bytes(lambda: net(x).sum(), exclude=net.parameters())
    ck = saved_bytes(lambda: checkpoint_sequential(net, 4, x, use_reentrant=False).sum(), exclude=net.parameters())
    assert ck < 0.6 * plain
    g1 = torch.autograd.grad(net(x).square().sum(), list(net.parameters()))
    g2 = torch.autograd.grad(checkpoint_sequential(net, 4, x, use_reentrant=False).square().sum(),
                             list(net.parameters()))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g1, g2))


def test_single_process_reference_is_deterministic_and_trains():
    a, b = train(epochs=1), train(epochs=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="divisible"):
        train(world_size=3, global_batch=64)


def test_ddp_two_processes_equal_single_process(tmp_path):
    t0 = time.perf_counter()
    result = run_ddp_demo(tmp_path / "p.pt", nproc=2, epochs=2, batch=64)
    single = train(world_size=1, epochs=2, global_batch=64)
    assert result["world_size"] == 2 and result["rank_spread"] == 0
    assert max(float((result["state_dict"][k] - single[k]).abs().max()) for k in single) < 1e-6
    assert time.perf_counter() - t0 < 30 * 3    # ~10 s alone; generous on a loaded machine


def test_pretrained_loader_never_downloads(tmp_path, monkeypatch):
    import torch.hub

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    missing = tmp_path / "resnet18.pth"
    with pytest.raises(FileNotFoundError, match="resnet18.pth") as err:
        load_pretrained_resnet18(missing)
    assert "never downloads" in str(err.value) and "ResNet18_Weights" in str(err.value)


def test_pretrained_loader_reads_a_local_file(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    path = tmp_path / "r18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    model = load_pretrained_resnet18(path)
    assert torch.equal(model.fc.weight, torch.load(path)["fc.weight"])
