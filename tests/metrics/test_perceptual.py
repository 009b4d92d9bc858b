"""LPIPS wrapper (ldm_teach.metrics.perceptual): offline behaviour and input ranges.

The pretrained backbones are not available offline, so the numerical tests use an LPIPS
with a random backbone (``pretrained=False``), which reads no file and downloads nothing.
"""

import os

import lpips
import pytest
import torch
import torchvision

from ldm_teach.metrics import perceptual
from ldm_teach.metrics.perceptual import (
    LPIPSMetric,
    lpips_available,
    lpips_distance,
    lpips_weights_path,
)

_REAL_LOAD = torchvision.models._api.load_state_dict_from_url


def _block_downloads(mp: pytest.MonkeyPatch, hub_dir) -> None:
    """Point torch.hub at an empty folder and make any download attempt fail loudly."""
    mp.setattr(torch.hub, "get_dir", lambda: str(hub_dir))

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    mp.setattr(torch.hub, "load_state_dict_from_url", no_download)
    mp.setattr(torchvision.models._api, "load_state_dict_from_url", no_download)
    mp.setattr(perceptual, "_CACHE", {})


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    _block_downloads(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def offline_build(tmp_path_factory):
    """A random-backbone LPIPS, built with downloads blocked; and the hub folder used."""
    hub_dir = tmp_path_factory.mktemp("hub")
    with pytest.MonkeyPatch.context() as mp:
        _block_downloads(mp, hub_dir)
        torch.manual_seed(0)
        metric = LPIPSMetric("alex", pretrained=False)
    return metric, hub_dir


@pytest.fixture
def random_metric(offline_build):
    return offline_build[0]


@pytest.mark.parametrize(
    "net,weights",
    [
        ("alex", torchvision.models.AlexNet_Weights.IMAGENET1K_V1),
        ("vgg", torchvision.models.VGG16_Weights.IMAGENET1K_V1),
    ],
)
def test_weights_path_is_torchvision_cache_file(empty_hub, net, weights):
    expected = os.path.join(str(empty_hub), "checkpoints", os.path.basename(weights.url))
    assert lpips_weights_path(net) == expected
    assert not lpips_available(net)
    os.makedirs(os.path.dirname(expected))
    open(expected, "wb").close()  # availability is only a file check; nothing is loaded
    assert lpips_available(net)


def test_pinned_file_names():
    assert lpips_weights_path("alex").endswith("alexnet-owt-7be5be79.pth")
    assert lpips_weights_path("vgg").endswith("vgg16-397923af.pth")
    with pytest.raises(ValueError, match="net must be one of"):
        lpips_available("squeeze")


def test_missing_backbone_gives_clear_error(empty_hub):
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(RuntimeError, match="alexnet-owt-7be5be79.pth") as info:
        lpips_distance(x, x)
    message = str(info.value)
    assert str(empty_hub) in message and "IMAGENET1K_V1" in message
    with pytest.raises(RuntimeError, match="vgg16-397923af.pth"):
        LPIPSMetric("vgg")


def test_random_backbone_builds_offline(offline_build):
    metric, hub_dir = offline_build
    assert not any(p.requires_grad for p in metric.parameters())
    assert not metric.model.training
    assert list(hub_dir.iterdir()) == []  # nothing was written into the hub folder


def test_normalize_maps_unit_interval_to_symmetric(random_metric):
    torch.manual_seed(1)
    x01, y01 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    d01 = random_metric(x01, y01, normalize=True)
    d11 = random_metric(2 * x01 - 1, 2 * y01 - 1)
    assert d01.shape == (2,)
    assert torch.allclose(d01, d11, atol=1e-6)
    assert (d01 > 0).all()
    # same as the lpips package's own normalize flag
    ref = random_metric.model(x01, y01, normalize=True).flatten()
    assert torch.allclose(d01, ref, atol=1e-6)


def test_identical_images_have_zero_distance_and_gradients_reach_inputs(random_metric):
    torch.manual_seed(2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(random_metric(x, x.clone()), torch.zeros(2), atol=1e-6)
    y = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    random_metric(x, y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_grayscale_is_repeated_to_rgb(random_metric):
    torch.manual_seed(3)
    x, y = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    expected = random_metric(x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1))
    assert torch.allclose(random_metric(x, y), expected, atol=1e-6)


def test_input_checks(random_metric, empty_hub):
    with pytest.raises(ValueError, match="H and W >= 31"):
        random_metric(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="same shape"):
        random_metric(torch.zeros(1, 3, 32, 32), torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match="1 or 3"):
        random_metric(torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32))
    # range is checked before any model is built
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]"):
        lpips_distance(torch.full((1, 3, 32, 32), 255.0), torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="normalize=False"):
        lpips_distance(-torch.ones(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), normalize=True)


def _fail_if_run(*args, **kwargs):
    raise AssertionError("the network ran before the input checks")


@pytest.mark.parametrize(
    "x, y, kwargs, match",
    [
        (
            torch.full((1, 3, 32, 32), 255.0),
            torch.zeros(1, 3, 32, 32),
            {},
            r"far outside \[-1, 1\]",
        ),
        (
            -torch.ones(1, 3, 32, 32),
            torch.zeros(1, 3, 32, 32),
            {"normalize": True},
            "normalize=False",
        ),
        (torch.full((1, 3, 32, 32), float("nan")), torch.zeros(1, 3, 32, 32), {}, "finite"),
        (torch.zeros(0, 3, 32, 32), torch.zeros(0, 3, 32, 32), {}, "at least one image"),
        (torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32, dtype=torch.float64), {}, "dtype"),
        (
            torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
            torch.zeros(1, 3, 32, 32),
            {},
            "x must be a floating-point",
        ),
    ],
)
def test_forward_checks_inputs_before_the_network_runs(
    random_metric, monkeypatch, x, y, kwargs, match
):
    monkeypatch.setattr(random_metric.model, "forward", _fail_if_run)
    with pytest.raises(ValueError, match=match):
        random_metric(x, y, **kwargs)


def test_unit_interval_images_without_normalize_warn(random_metric, recwarn):
    torch.manual_seed(5)
    x01, y01 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with pytest.warns(UserWarning, match="normalize=True"):
        random_metric(x01, y01)
    recwarn.clear()
    random_metric(x01, y01, normalize=True)
    random_metric(2 * x01 - 1, 2 * y01 - 1)
    # unclamped reconstructions may overshoot [-1, 1] a little (a perceptual loss)
    d = random_metric(2 * x01 - 1, (2.4 * y01 - 1.2).requires_grad_(True))
    assert d.shape == (2,) and torch.isfinite(d).all()
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.skipif(not lpips_available("alex"), reason="AlexNet ImageNet weights not cached")
def test_pretrained_lpips_when_weights_present():
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert lpips_distance(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert lpips_distance(x, -x).item() > 0.1


def test_pretrained_path_loads_cached_backbone_without_download(empty_hub, monkeypatch):
    """Put a (random) AlexNet weights file where torchvision caches it: the pretrained
    metric must then build offline, with that backbone and lpips's shipped linear layers."""
    torch.manual_seed(4)
    state = torchvision.models.alexnet().state_dict()
    # LPIPS uses only the conv features; the classifier's 58M weights are stored as
    # stride-0 views of one zero, so the file stays small
    state = {
        k: (v if k.startswith("features") else torch.zeros(1).expand(v.shape))
        for k, v in state.items()
    }
    path = lpips_weights_path("alex")
    os.makedirs(os.path.dirname(path))
    torch.save(state, path)
    assert os.path.getsize(path) < 20e6
    # the real torchvision loader, which reads a cached file and downloads only if absent
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _REAL_LOAD)
    metric = LPIPSMetric("alex")
    assert torch.equal(metric.model.net.slice1[0].weight, state["features.0.weight"])
    shipped = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
    shipped = torch.load(shipped, map_location="cpu", weights_only=True)
    assert torch.equal(metric.model.lin0.model[1].weight, shipped["lin0.model.1.weight"])
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert lpips_distance(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert lpips_distance(x, -x).item() > 0
