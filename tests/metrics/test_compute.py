"""FLOPs, step time and memory estimates (ldm_teach.metrics.compute)."""

import pytest
import torch
from torch import nn

from ldm_teach.metrics.compute import (
    attention_matrix_bytes,
    chapter_memory_estimate_gb,
    count_flops,
    time_training_step,
)


@pytest.mark.parametrize("n,a,b", [(1, 3, 5), (7, 16, 4), (32, 64, 10)])
def test_linear_forward_flops_are_2nab(n, a, b):
    layer = nn.Linear(a, b)
    x = torch.randn(n, a)
    assert count_flops(lambda: layer(x), backward=False) == 2 * n * a * b


def test_linear_backward_adds_weight_and_input_gradients():
    n, a, b = 8, 6, 5
    layer = nn.Linear(a, b)
    x = torch.randn(n, a)
    # backward: dW = dy^T x (2nab); dx = dy W (another 2nab) only if x needs a gradient
    assert count_flops(lambda: layer(x)) == 4 * n * a * b
    x.requires_grad_(True)
    assert count_flops(lambda: layer(x)) == 6 * n * a * b


def test_conv_forward_flops():
    B, Cin, Cout, H, W, k = 2, 3, 4, 6, 5, 3
    conv = nn.Conv2d(Cin, Cout, k, padding=1)
    x = torch.randn(B, Cin, H, W)
    assert count_flops(lambda: conv(x), backward=False) == 2 * B * Cout * H * W * Cin * k * k


def test_attention_matrix_bytes_closed_form():
    assert attention_matrix_bytes(4, 8) == (32 * 32) * 4
    assert attention_matrix_bytes(4, 8, batch_size=2, heads=3, bytes_per_element=2) == (
        2 * 3 * 32 * 32 * 2
    )


def test_chapter_memory_estimate_1024():
    est = chapter_memory_estimate_gb(1024, 1024)
    gib = 2**30
    inp = 3 * 1024 * 1024 * 4  # input image, float32
    feat = 2048 * 128 * 128 * 4  # 2048 channels at 1024 / 8 = 128
    attn = (128 * 128) ** 2 * 4  # one attention matrix over the 128 x 128 grid
    assert est["input_gb"] == inp / gib == 0.01171875
    assert est["features_gb"] == feat / gib == 0.125
    assert est["attention_gb"] == attn / gib == 1.0
    assert est["total_gb"] == pytest.approx((inp + feat + attn) / gib, rel=1e-12)
    assert est["total_gb"] == pytest.approx(1.13671875, rel=1e-12)


def test_chapter_memory_estimate_scales_with_batch():
    one = chapter_memory_estimate_gb(256, 256)
    four = chapter_memory_estimate_gb(256, 256, batch_size=4)
    assert four["total_gb"] == pytest.approx(4 * one["total_gb"])


def test_time_training_step_positive_and_weights_unchanged():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(16, 4)
    calls = []

    def make_loss(m):
        calls.append(1)
        return m(x).pow(2).mean()

    seconds = time_training_step(model, make_loss, repeats=2, warmup=1)
    assert isinstance(seconds, float) and seconds > 0
    assert len(calls) == 3
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("repeats,warmup", [(0, 1), (1, -1)])
def test_time_training_step_bad_arguments(repeats, warmup):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="repeats"):
        time_training_step(model, lambda m: m(torch.ones(1, 2)).sum(), repeats, warmup)


def test_count_flops_refuses_a_backward_pass_that_does_not_exist():
    layer = nn.Linear(3, 2)
    x = torch.randn(4, 3)

    def under_no_grad():
        with torch.no_grad():
            return layer(x)

    with pytest.raises(ValueError, match="does not require a gradient.*backward=False"):
        count_flops(under_no_grad)
    assert count_flops(under_no_grad, backward=False) == 2 * 4 * 3 * 2
    with pytest.raises(TypeError, match="fn\\(\\) must return a tensor, got float"):
        count_flops(lambda: 1.0, backward=False)
    with pytest.raises(TypeError, match="zero-argument callable"):
        count_flops(layer(x))


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"attention_downsample": 0}, "attention_downsample"),
        ({"height": -8}, "height"),
        ({"width": 2.5}, "width"),
        ({"batch_size": True}, "batch_size"),
        ({"height": 4}, "height must be at least attention_downsample=8"),
    ],
)
def test_chapter_memory_estimate_names_a_bad_argument(kwargs, arg):
    # attention_downsample=0 used to raise ZeroDivisionError
    args = {"height": 256, "width": 256, **kwargs}
    with pytest.raises(ValueError, match=arg):
        chapter_memory_estimate_gb(**args)


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        ({"height": -1}, "height"),
        ({"width": 64.5}, "width"),
        ({"heads": -2}, "heads"),
        ({"height": 0}, "height"),
        ({"width": float("nan")}, "width"),
    ],
)
def test_attention_matrix_bytes_names_a_bad_argument(kwargs, arg):
    # found by the third bad-input pass: (-1, 64) gave 16384, heads=-2 a negative size
    args = {"height": 64, "width": 64, **kwargs}
    with pytest.raises(ValueError, match=f"{arg} must be a positive integer"):
        attention_matrix_bytes(**args)


def test_time_training_step_leaves_batchnorm_statistics_as_they_were():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(8, 1, 6, 6) + 3.0
    time_training_step(model, lambda m: m(x).pow(2).mean(), repeats=2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    with pytest.raises(ValueError, match="repeats"):
        time_training_step(model, lambda m: m(x).pow(2).mean(), repeats=2.5)
    with pytest.raises(ValueError, match="no gradient"):
        time_training_step(model, lambda m: torch.tensor(1.0), repeats=1)
