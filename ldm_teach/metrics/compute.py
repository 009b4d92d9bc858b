"""What a diffusion training step costs: FLOPs, wall time and activation memory.

Section 10.1.1 of the chapter argues that diffusion in pixel space is expensive because
every UNet layer runs at full resolution and self-attention grows as N^2 in the number of
pixels N = H W. These helpers measure that instead of asserting it:

- :func:`count_flops` counts floating-point operations with PyTorch's own
  ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs);
- :func:`time_training_step` times forward + backward + optimizer step;
- :func:`attention_matrix_bytes` and :func:`chapter_memory_estimate_gb` give the
  closed-form memory figures the chapter's estimate is built from.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from ldm_teach.argcheck import check_bool, check_int, is_int


def count_flops(fn: Callable[[], Tensor], backward: bool = True) -> int:
    """FLOPs of ``fn()`` (and of its backward pass if ``backward``), as counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions; 2 per MAC).

    Args:
        fn: a zero-argument callable returning a tensor (a loss, or any output; for the
            backward pass its sum is differentiated).
        backward: include the backward pass.
    Returns:
        The total FLOP count, an int.
    Raises:
        TypeError: if ``fn`` is not callable or does not return a tensor.
        ValueError: if ``backward`` and the output does not depend on anything that
            requires a gradient (``fn`` ran under ``torch.no_grad()``, or the model's
            parameters are frozen): pass ``backward=False`` to count the forward pass only.
    """
    backward = check_bool(backward, "backward")
    if not callable(fn):
        raise TypeError(f"fn must be a zero-argument callable, got {type(fn).__name__}")
    with FlopCounterMode(display=False) as counter:
        out = fn()
        if not isinstance(out, Tensor):
            raise TypeError(f"fn() must return a tensor, got {type(out).__name__}")
        if backward:
            if not out.requires_grad:
                raise ValueError(
                    "count_flops(backward=True): fn()'s output does not require a gradient "
                    "(fn ran under torch.no_grad(), or nothing in it is trainable), so there "
                    "is no backward pass to count; pass backward=False for the forward pass"
                )
            out.float().sum().backward()
    return int(counter.get_total_flops())


def time_training_step(
    model: nn.Module, make_loss: Callable[[nn.Module], Tensor], repeats: int = 3, warmup: int = 1
) -> float:
    """Median wall time in seconds of one training step (forward, backward, SGD step).

    Args:
        model: the network; its parameters get a plain SGD step (lr 0, so weights stay
            unchanged); its parameters, their gradients and its buffers (BatchNorm
            statistics) are restored afterwards, so the measurement has no side effect.
        make_loss: ``make_loss(model) -> scalar``.
        repeats: timed repetitions (the median is returned), >= 1.
        warmup: untimed repetitions first (allocator and kernel warm-up).
    Raises:
        ValueError: if ``repeats`` is not an int >= 1 or ``warmup`` an int >= 0, or the
            loss has no gradient.
    """
    if not (is_int(repeats) and is_int(warmup)) or repeats < 1 or warmup < 0:
        raise ValueError(
            f"repeats must be an int >= 1 and warmup an int >= 0, got {repeats!r}, {warmup!r}"
        )
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    # forward passes in train mode update buffers (BatchNorm running statistics): keep a
    # copy and put it back, so that timing leaves the model exactly as it was
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    # and the parameters and their gradients: a step with lr 0 still writes NaN into the
    # weights when a gradient is not finite, and zero_grad discards the caller's gradients
    params = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {
        name: None if p.grad is None else p.grad.detach().clone()
        for name, p in model.named_parameters()
    }
    times = []
    try:
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            loss = make_loss(model)
            if not isinstance(loss, Tensor) or not loss.requires_grad:
                raise ValueError(
                    "make_loss(model) must return a scalar tensor that depends on "
                    "the model's parameters (it has no gradient to time)"
                )
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
            for name, p in model.named_parameters():
                p.copy_(params[name])
                p.grad = grads[name]
    return statistics.median(times)


def attention_matrix_bytes(
    height: int, width: int, batch_size: int = 1, heads: int = 1, bytes_per_element: int = 4
) -> int:
    """Bytes of one self-attention weight matrix over an H x W grid: B * h * (H W)^2 * bytes.

    Raises:
        ValueError: naming the argument, unless every one is a positive int.
    """
    for arg, value in (
        ("height", height),
        ("width", width),
        ("batch_size", batch_size),
        ("heads", heads),
        ("bytes_per_element", bytes_per_element),
    ):
        check_int(value, arg, lo=1, expected="a positive integer")
    n = height * width
    return batch_size * heads * n * n * bytes_per_element


def chapter_memory_estimate_gb(
    height: int,
    width: int,
    channels: int = 3,
    batch_size: int = 1,
    max_channels: int = 2048,
    attention_downsample: int = 8,
) -> dict:
    """The chapter's back-of-the-envelope memory estimate (10.1.1), term by term, in GiB.

    Three float32 tensors: the input (B C H W), one feature map of ``max_channels`` at
    1/``attention_downsample`` resolution, and one attention matrix over that grid.
    Returns a dict with ``input_gb``, ``features_gb``, ``attention_gb`` and ``total_gb``.

    Raises:
        ValueError: naming the argument, if any is not a positive integer (``height`` and
            ``width`` at least ``attention_downsample``).
    """
    sizes = {
        "height": height,
        "width": width,
        "channels": channels,
        "batch_size": batch_size,
        "max_channels": max_channels,
        "attention_downsample": attention_downsample,
    }
    for arg, value in sizes.items():
        if not is_int(value) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    for arg in ("height", "width"):
        if sizes[arg] < attention_downsample:
            raise ValueError(
                f"{arg} must be at least attention_downsample="
                f"{attention_downsample}, got {sizes[arg]}"
            )
    gib = 1024**3
    h, w = height // attention_downsample, width // attention_downsample
    inp = batch_size * channels * height * width * 4
    feat = batch_size * max_channels * h * w * 4
    attn = attention_matrix_bytes(h, w, batch_size)
    return {
        "input_gb": inp / gib,
        "features_gb": feat / gib,
        "attention_gb": attn / gib,
        "total_gb": (inp + feat + attn) / gib,
    }
